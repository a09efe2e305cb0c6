//! Answers no provider should give, from a stand-in written here byte by byte, independent
//! of the emulator: a status that is not 200 around a passing body, something that is not
//! HTTP at all, a connection cut after the head, a redirect followed by an injected client.

use std::{sync::Arc, time::Duration};

use crate::support::{Client, base_config, clients};
use siteverify::{BreakerState, Provider, Verifier, VerifierConfig, VerifyOptions};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// A body every provider would read as a pass: `success` for the siteverify family and
/// ByeBot, `verified` for Procaptcha.
const PASSING: &str = r#"{"success":true,"verified":true,"status":"ok","hostname":"example.com","sitekey":"k","challenge_ts":"2026-01-01T00:00:00Z","tokenProperties":{"valid":true,"hostname":"example.com"},"riskAnalysis":{"score":0.9}}"#;

/// A server that reads each request whole and answers with `answer(path)`'s raw bytes, then
/// closes the connection.
async fn raw_server(answer: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Head, then as many body bytes as it declares.
                let head_end = loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let _ = stream.write_all(&answer(&path)).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    base
}

fn http(status: u16, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} Whatever\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn verifier_at(
    provider: Provider,
    url: &str,
    config: impl Fn(VerifierConfig) -> VerifierConfig,
) -> Verifier {
    Verifier::new(
        provider,
        config(
            base_config(provider, "secret")
                .verify_url(url)
                .timeout(Duration::from_secs(3)),
        ),
    )
    .unwrap()
}

async fn outcome(verifier: &Verifier) -> Result<(), siteverify::VerifyError> {
    verifier
        .verify("a-token-0x00", &VerifyOptions::new())
        .await
        .map(|_| ())
}

#[tokio::test]
async fn only_an_http_200_is_ever_a_pass() {
    let cases: &[(u16, &str)] = &[
        (200, "ok"),
        (201, "provider_error"),
        (202, "provider_error"),
        (301, "provider_misconfigured"),
        (302, "provider_misconfigured"),
        (307, "provider_misconfigured"),
        (308, "provider_misconfigured"),
        (401, "provider_misconfigured"),
        (403, "provider_misconfigured"),
        (404, "provider_misconfigured"),
        (405, "provider_misconfigured"),
        (410, "provider_misconfigured"),
        (418, "provider_misconfigured"),
        (422, "provider_misconfigured"),
        (429, "provider_unavailable"),
        (500, "provider_unavailable"),
        (503, "provider_unavailable"),
    ];
    for provider in Provider::HOSTED {
        for &(status, expected) in cases {
            let url = raw_server(move |_| {
                http(status, "location: https://elsewhere.example/\r\n", PASSING)
            })
            .await;
            for client in clients() {
                let verifier =
                    verifier_at(provider, &format!("{url}/siteverify"), |c| client.carry(c));
                let got = outcome(&verifier).await.map_err(|e| e.code());
                let expected = if expected == "ok" {
                    Ok(())
                } else {
                    Err(expected)
                };
                // An injected client that follows the redirect fails somewhere else; it must
                // still never pass.
                if client != Client::Ours && (300..400).contains(&status) {
                    assert!(
                        got.is_err(),
                        "{provider} {status} passed through an injected client"
                    );
                } else {
                    assert_eq!(got, expected, "{provider} HTTP {status}, via {client:?}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_400_with_a_readable_refusal_is_still_the_tokens_fault() {
    // These providers document no failure status; one that answers a bad token with 400 must
    // not turn every bot into a 500 and an error log.
    for (provider, body, expected) in [
        (
            Provider::HCaptcha,
            r#"{"success":false,"error-codes":["invalid-input-response"]}"#,
            "invalid_token",
        ),
        (
            Provider::Turnstile,
            r#"{"success":false,"error-codes":["timeout-or-duplicate"]}"#,
            "expired_or_duplicate",
        ),
        (
            Provider::Recaptcha,
            r#"{"success":false,"error-codes":["invalid-input-secret"]}"#,
            "provider_misconfigured",
        ),
        (
            Provider::Recaptcha,
            "<html>bad request</html>",
            "provider_misconfigured",
        ),
    ] {
        let url = raw_server(move |_| http(400, "", body)).await;
        let verifier = verifier_at(provider, &url, |c| c);
        assert_eq!(
            outcome(&verifier).await.unwrap_err().code(),
            expected,
            "{provider} {body}"
        );
    }
}

#[cfg(feature = "reqwest")]
#[tokio::test]
async fn an_injected_client_that_follows_a_redirect_is_refused() {
    // The redirect target answers a pass; a client that follows redirects would bring it back.
    let url = raw_server(|path| {
        if path.starts_with("/moved") {
            http(200, "", PASSING)
        } else {
            http(302, "location: /moved\r\n", "")
        }
    })
    .await;
    for provider in Provider::HOSTED {
        let following = reqwest::Client::builder().no_proxy().build().unwrap();
        let verifier = verifier_at(provider, &format!("{url}/siteverify"), |c| {
            c.http_client(following.clone())
        });
        let err = outcome(&verifier).await.unwrap_err();
        assert_eq!(err.code(), "provider_misconfigured", "{provider}: {err}");
        assert_eq!(err.provider_codes(), ["http-redirect"]);
    }
}

/// Banners and heads that are not HTTP.
const NOT_HTTP: &[&[u8]] = &[
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"220 mail.example ESMTP ready\r\n",
    b"+OK POP3 ready\r\n",
    b"HTTP/1.1 abc OK\r\n\r\n",
    b"HTTP/9.9 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"\x15\x03\x01\x00\x02\x02\x46",
];

#[tokio::test]
async fn an_answer_that_is_not_http_is_unreadable_not_an_outage() {
    for client in clients() {
        for &banner in NOT_HTTP {
            let url = raw_server(move |_| banner.to_vec()).await;
            let verifier = verifier_at(Provider::Turnstile, &url, |c| {
                let c = c.circuit_breaker(2, Duration::from_secs(30));
                client.carry(c)
            });
            for _ in 0..4 {
                let err = outcome(&verifier).await.unwrap_err();
                let text = String::from_utf8_lossy(banner);
                assert_eq!(
                    err.code(),
                    "provider_error",
                    "{text:?} via {client:?}: {err}"
                );
                assert!(
                    !err.is_provider_outage(),
                    "{text:?}: fail-open must never cover it"
                );
            }
            assert_eq!(
                verifier.health().breaker,
                BreakerState::Closed,
                "the breaker counts no unreadable answer"
            );
        }
    }
}

#[tokio::test]
async fn a_cut_after_the_head_is_unreadable_and_a_cut_before_it_is_a_lost_connection() {
    for client in clients() {
        let with = |c: VerifierConfig| client.carry(c);
        let after_head = raw_server(|_| {
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{\"success\":tr".to_vec()
        })
        .await;
        let err = outcome(&verifier_at(Provider::HCaptcha, &after_head, with))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "provider_error", "via {client:?}: {err}");
        assert!(!err.is_provider_outage());

        let in_head = raw_server(|_| b"HTTP/1.1 200 OK\r\ncontent-ty".to_vec()).await;
        let err = outcome(&verifier_at(Provider::HCaptcha, &in_head, with))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "provider_unavailable", "via {client:?}: {err}");
        assert!(
            err.is_provider_outage(),
            "no answer arrived: the provider may be down"
        );
    }
}

/// A server that answers each connection with `bytes` and then holds it open, silent.
async fn stalling_server(bytes: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(bytes).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(stream);
            });
        }
    });
    base
}

#[tokio::test]
async fn a_body_that_stalls_after_the_head_is_unreadable_not_an_outage() {
    // The same bytes as a cut after the head, but the connection stays open and silent: the
    // deadline ends it. The provider took the call; what it sent is an answer cut short.
    let url = stalling_server(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{\"succ",
    )
    .await;
    for client in clients() {
        let verifier = verifier_at(Provider::Turnstile, &url, |c| {
            let c = c.timeout(Duration::from_millis(500));
            client.carry(c)
        });
        let err = outcome(&verifier).await.unwrap_err();
        assert_eq!(err.code(), "provider_error", "via {client:?}: {err}");
        assert!(!err.is_provider_outage());
    }
    // Silent before the head: a timeout, which may be an outage.
    let silent = stalling_server(b"").await;
    let verifier = verifier_at(Provider::Turnstile, &silent, |c| {
        c.timeout(Duration::from_millis(500))
    });
    let err = outcome(&verifier).await.unwrap_err();
    assert_eq!(err.code(), "provider_unavailable", "{err}");
    assert!(err.is_provider_outage());
}

#[tokio::test]
async fn an_https_url_on_a_plain_http_port_is_misconfigured_not_an_outage() {
    // The TLS layer refuses what answers (an HTTP response to a ClientHello), as it would a
    // certificate that does not verify: ours to fix, never retried or failed open.
    // Answers whatever arrives first, the ClientHello here, as a plain HTTP server would.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(&http(400, "", "plain HTTP here")).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    for client in clients() {
        let verifier = verifier_at(Provider::HCaptcha, &https, |c| {
            let c = c.circuit_breaker(1, Duration::from_secs(30));
            client.carry(c)
        });
        for _ in 0..2 {
            let err = outcome(&verifier).await.unwrap_err();
            assert_eq!(
                err.code(),
                "provider_misconfigured",
                "via {client:?}: {err}"
            );
            assert_eq!(err.provider_codes(), ["tls"]);
            assert!(!err.is_provider_outage());
        }
        assert_eq!(verifier.health().breaker, BreakerState::Closed);
    }
}
