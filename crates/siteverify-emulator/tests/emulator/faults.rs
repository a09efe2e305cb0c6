//! Fault injection, across providers.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use siteverify_emulator::{Emulator, Fault, FaultKind, MintError, Provider, TokenSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Answer, client, mint, start, verify_default};

fn succeeded(provider: Provider, answer: &Answer) -> bool {
    match provider {
        Provider::ByeBot => answer.status == 200,
        Provider::RecaptchaEnterprise => {
            answer.status == 200 && answer.json()["tokenProperties"]["valid"] == true
        }
        Provider::Procaptcha => answer.status == 200 && answer.json()["verified"] == true,
        _ => answer.status == 200 && answer.json()["success"] == true,
    }
}

/// The provider's answer to a token that was already used.
fn is_duplicate(provider: Provider, answer: &Answer) -> bool {
    match provider {
        Provider::HCaptcha => answer.codes() == ["already-seen-response"],
        Provider::Recaptcha | Provider::Turnstile => answer.codes() == ["timeout-or-duplicate"],
        Provider::Procaptcha => answer.json()["status"] == "already_used",
        Provider::ByeBot => answer.status == 400 && answer.body.is_empty(),
        Provider::FriendlyCaptcha => answer.json()["error"]["error_code"] == "response_duplicate",
        Provider::RecaptchaEnterprise => {
            answer.json()["tokenProperties"]["invalidReason"] == "DUPE"
        }
    }
}

fn faulty(emu: &Emulator, provider: Provider, fault: Fault) -> String {
    mint(emu, TokenSpec::new(provider).fault(fault))
}

#[tokio::test]
async fn delay_answers_late_without_blocking_others() {
    let emu = start().await;
    let p = Provider::Turnstile;
    let slow = faulty(&emu, p, Fault::always(FaultKind::Delay { ms: 300 }));
    let fast = mint(&emu, TokenSpec::new(p));
    let started = Instant::now();
    let slow_call = {
        let (url, slow) = (emu.verify_url(p), slow.clone());
        tokio::spawn(async move {
            let answer = crate::post_json(
                &url,
                &json!({ "secret": p.default_secret(), "response": slow }),
            )
            .await;
            (answer, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let fast_answer = verify_default(&emu, p, &fast).await;
    let fast_elapsed = started.elapsed();
    assert!(succeeded(p, &fast_answer));
    let (slow_answer, slow_elapsed) = slow_call.await.expect("join");
    assert!(succeeded(p, &slow_answer));
    assert!(
        slow_elapsed >= Duration::from_millis(300),
        "{slow_elapsed:?}"
    );
    assert!(
        fast_elapsed < Duration::from_millis(250),
        "{fast_elapsed:?}"
    );
    // The delayed call consumed the token.
    assert!(is_duplicate(p, &verify_default(&emu, p, &slow).await));
}

#[tokio::test]
async fn status_5xx_consumes_the_token_and_429_does_not() {
    let emu = start().await;
    for p in Provider::ALL {
        let token = faulty(&emu, p, Fault::once(FaultKind::Status { code: 503 }));
        let lost = verify_default(&emu, p, &token).await;
        assert_eq!(lost.status, 503, "{p}");
        assert!(
            lost.content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("text/plain"))
        );
        assert!(serde_json::from_slice::<Value>(&lost.body).is_err());
        assert!(
            is_duplicate(p, &verify_default(&emu, p, &token).await),
            "{p}: 503 consumed"
        );

        let token = faulty(&emu, p, Fault::once(FaultKind::Status { code: 429 }));
        let limited = verify_default(&emu, p, &token).await;
        assert_eq!(limited.status, 429, "{p}");
        assert!(
            succeeded(p, &verify_default(&emu, p, &token).await),
            "{p}: 429 did not consume"
        );
    }
    let token = faulty(
        &emu,
        Provider::HCaptcha,
        Fault::once(FaultKind::Status { code: 502 }),
    );
    assert_eq!(
        verify_default(&emu, Provider::HCaptcha, &token)
            .await
            .status,
        502
    );
}

#[tokio::test]
async fn internal_error_has_each_providers_shape_and_keeps_the_token() {
    let emu = start().await;
    for p in Provider::ALL {
        let token = faulty(&emu, p, Fault::once(FaultKind::InternalError));
        let answer = verify_default(&emu, p, &token).await;
        match p {
            Provider::HCaptcha | Provider::Recaptcha => {
                assert_eq!(answer.status, 200);
                assert_eq!(
                    answer.json(),
                    json!({ "success": false, "error-codes": ["internal-error"] })
                );
            }
            Provider::Turnstile => {
                assert_eq!(answer.status, 200);
                assert_eq!(answer.codes(), ["internal-error"]);
                assert_eq!(answer.json()["success"], false);
            }
            Provider::Procaptcha => {
                assert_eq!(answer.status, 500);
                assert_eq!(answer.json()["error"]["code"], "INTERNAL_ERROR");
            }
            Provider::ByeBot => {
                assert_eq!(answer.status, 500);
                assert!(answer.body.is_empty());
            }
            Provider::FriendlyCaptcha => {
                assert_eq!(answer.status, 500);
                assert_eq!(
                    answer.json()["error"]["error_code"],
                    "internal_server_error"
                );
            }
            Provider::RecaptchaEnterprise => {
                assert_eq!(answer.status, 500);
                assert_eq!(answer.json()["error"]["status"], "INTERNAL");
            }
        }
        assert!(succeeded(p, &verify_default(&emu, p, &token).await), "{p}");
    }
}

#[tokio::test]
async fn error_codes_are_reported_verbatim_and_keep_the_token() {
    let emu = start().await;
    let codes = vec![
        "missing-remoteip".to_owned(),
        "invalid-or-already-seen-response".to_owned(),
    ];
    for p in Provider::ALL {
        let token = faulty(
            &emu,
            p,
            Fault::once(FaultKind::ErrorCodes {
                codes: codes.clone(),
            }),
        );
        let answer = verify_default(&emu, p, &token).await;
        match p {
            Provider::HCaptcha | Provider::Recaptcha | Provider::Turnstile => {
                assert_eq!(answer.status, 200);
                assert_eq!(answer.json()["success"], false);
                assert_eq!(answer.codes(), codes);
            }
            Provider::Procaptcha => assert_eq!(
                answer.json(),
                json!({ "verified": false, "status": "missing-remoteip,invalid-or-already-seen-response" })
            ),
            Provider::ByeBot => assert_eq!((answer.status, answer.body.len()), (400, 0)),
            // One code per answer: the first.
            Provider::FriendlyCaptcha => {
                assert_eq!(answer.status, 200);
                assert_eq!(answer.json()["error"]["error_code"], "missing-remoteip");
            }
            // Not a Google API status: the invalid token's reason.
            Provider::RecaptchaEnterprise => {
                assert_eq!(answer.status, 200);
                assert_eq!(
                    answer.json()["tokenProperties"]["invalidReason"],
                    "missing-remoteip"
                );
            }
        }
        assert!(succeeded(p, &verify_default(&emu, p, &token).await), "{p}");
    }
}

#[tokio::test]
async fn malformed_json_is_truncated_and_consumes() {
    let emu = start().await;
    for p in Provider::ALL {
        let token = faulty(&emu, p, Fault::once(FaultKind::MalformedJson));
        let answer = verify_default(&emu, p, &token).await;
        assert_eq!(answer.status, 200, "{p}");
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
        assert!(answer.body.starts_with(b"{"));
        assert!(
            serde_json::from_slice::<Value>(&answer.body).is_err(),
            "{p}: {}",
            answer.text()
        );
        assert!(
            is_duplicate(p, &verify_default(&emu, p, &token).await),
            "{p}"
        );
    }
}

#[tokio::test]
async fn drop_connection_sends_nothing_but_records_and_consumes() {
    let emu = start().await;
    let p = Provider::HCaptcha;
    let token = faulty(&emu, p, Fault::first(2, FaultKind::DropConnection));

    // One shared client, so the dropped call reuses a pooled keep-alive connection, as a real
    // verification client's would; it must surface as an error, not as a silent retry.
    let shared = client();
    let warm_up = mint(&emu, TokenSpec::new(p));
    let warm = shared
        .post(emu.verify_url(p))
        .form(&[("secret", p.default_secret()), ("response", &warm_up)])
        .send()
        .await
        .expect("warm-up call");
    assert!(succeeded(p, &Answer::read(warm).await));
    let error = shared
        .post(emu.verify_url(p))
        .form(&[("secret", p.default_secret()), ("response", &token)])
        .send()
        .await
        .expect_err("the connection is dropped");
    assert!(error.is_request() || error.is_connect(), "{error:?}");
    let recorded = emu.requests();
    assert_eq!(
        recorded.len(),
        2,
        "warm-up and the dropped call, no silent retry"
    );
    assert_eq!(recorded[1].field("response"), Some(token.as_str()));
    emu.clear_requests();

    // A raw client sees the connection end without a single response byte.
    let body = format!("secret={}&response={token}", p.default_secret());
    let request = format!(
        "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
        p.verify_path(),
        emu.addr(),
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(emu.addr())
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection");
    assert!(
        read.is_err() || received.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&received)
    );

    let recorded = emu.requests();
    assert_eq!(recorded.len(), 1);
    assert!(
        recorded
            .iter()
            .all(|r| r.field("response") == Some(token.as_str()))
    );
    // The server survives and the first dropped call consumed the token.
    assert!(is_duplicate(p, &verify_default(&emu, p, &token).await));
}

#[tokio::test]
async fn oversized_answers_are_valid_json_over_100_kib() {
    let emu = start().await;
    for p in Provider::ALL {
        let token = faulty(&emu, p, Fault::once(FaultKind::Oversized));
        let answer = verify_default(&emu, p, &token).await;
        assert!(answer.body.len() > 100 * 1024, "{p}");
        assert!(succeeded(p, &answer), "{p}");
        assert!(
            answer.json()["padding"]
                .as_str()
                .is_some_and(|s| s.len() > 100 * 1024)
        );
        assert!(
            is_duplicate(p, &verify_default(&emu, p, &token).await),
            "{p}"
        );
    }
}

#[tokio::test]
async fn trickle_sends_headers_at_once_and_the_body_slowly() {
    let emu = start().await;
    let p = Provider::Recaptcha;
    let token = faulty(&emu, p, Fault::once(FaultKind::Trickle { interval_ms: 4 }));
    let started = Instant::now();
    let response = client()
        .post(emu.verify_url(p))
        .form(&[("secret", p.default_secret()), ("response", &token)])
        .send()
        .await
        .expect("headers");
    let headers_after = started.elapsed();
    assert_eq!(response.status(), 200);
    let length = response.content_length().expect("content-length");
    let answer = Answer::read(response).await;
    let body_after = started.elapsed();
    assert_eq!(answer.body.len() as u64, length);
    assert!(succeeded(p, &answer));
    let minimum = Duration::from_millis(4 * length);
    assert!(body_after >= minimum, "{body_after:?} < {minimum:?}");
    assert!(
        headers_after < body_after / 2,
        "headers {headers_after:?}, body {body_after:?}"
    );
    assert!(is_duplicate(p, &verify_default(&emu, p, &token).await));
}

#[tokio::test]
async fn times_limits_how_often_a_fault_hits() {
    let emu = start().await;
    let p = Provider::Turnstile;
    let token = faulty(&emu, p, Fault::first(2, FaultKind::InternalError));
    for _ in 0..2 {
        assert_eq!(
            verify_default(&emu, p, &token).await.codes(),
            ["internal-error"]
        );
    }
    assert!(succeeded(p, &verify_default(&emu, p, &token).await));

    let token = faulty(&emu, p, Fault::always(FaultKind::Status { code: 429 }));
    for _ in 0..3 {
        assert_eq!(verify_default(&emu, p, &token).await.status, 429);
    }
}

#[tokio::test]
async fn a_fault_hits_only_its_own_token() {
    let emu = start().await;
    let p = Provider::ByeBot;
    let _faulty = faulty(&emu, p, Fault::always(FaultKind::InternalError));
    let clean = mint(&emu, TokenSpec::new(p));
    assert!(succeeded(p, &verify_default(&emu, p, &clean).await));
}

#[test]
fn invalid_faults_are_rejected_at_mint_time() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let emu = start().await;
        for code in [99, 600, 1000] {
            let spec = TokenSpec::new(Provider::HCaptcha).fault(FaultKind::Status { code });
            assert!(
                matches!(emu.mint(spec), Err(MintError::InvalidSpec { .. })),
                "{code}"
            );
        }
    });
}

#[test]
fn which_faults_consume_the_token() {
    assert!(!FaultKind::Status { code: 429 }.consumes_token());
    assert!(!FaultKind::InternalError.consumes_token());
    assert!(!FaultKind::ErrorCodes { codes: vec![] }.consumes_token());
    assert!(FaultKind::Status { code: 503 }.consumes_token());
    assert!(FaultKind::DropConnection.consumes_token());
    assert!(FaultKind::Trickle { interval_ms: 1 }.consumes_token());
}

#[tokio::test]
async fn an_outage_takes_every_call_of_one_provider_down_until_it_ends() {
    let emu = start().await;
    let hcaptcha = mint(&emu, TokenSpec::new(Provider::HCaptcha));
    let turnstile = mint(&emu, TokenSpec::new(Provider::Turnstile));
    emu.start_outage(Provider::HCaptcha, FaultKind::Status { code: 503 })
        .expect("a valid outage");
    assert_eq!(
        verify_default(&emu, Provider::HCaptcha, &hcaptcha)
            .await
            .status,
        503
    );
    // Another provider is not affected.
    let answer = verify_default(&emu, Provider::Turnstile, &turnstile).await;
    assert!(succeeded(Provider::Turnstile, &answer));
    emu.end_outage(Provider::HCaptcha);
    let fresh = mint(&emu, TokenSpec::new(Provider::HCaptcha));
    assert!(succeeded(
        Provider::HCaptcha,
        &verify_default(&emu, Provider::HCaptcha, &fresh).await
    ));

    // The same over HTTP, for a demo in another process; a quota spent (429) spends no token.
    let url = format!("{}/outages/turnstile", emu.base_url());
    let put = |body: Value| client().put(&url).json(&body).send();
    assert_eq!(
        put(json!({"kind": "status", "code": 429}))
            .await
            .unwrap()
            .status(),
        204
    );
    let token = mint(&emu, TokenSpec::new(Provider::Turnstile));
    assert_eq!(
        verify_default(&emu, Provider::Turnstile, &token)
            .await
            .status,
        429
    );
    let ended = client().delete(&url).send().await.unwrap();
    assert_eq!(ended.status(), 204);
    assert!(succeeded(
        Provider::Turnstile,
        &verify_default(&emu, Provider::Turnstile, &token).await
    ));
    // Nonsense is refused, naming what is wrong.
    assert_eq!(
        put(json!({"kind": "status", "code": 99}))
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        put(json!({"kind": "sometimes"})).await.unwrap().status(),
        400
    );
    let unknown = client()
        .put(format!("{}/outages/nocaptcha", emu.base_url()))
        .json(&json!({"kind": "internal_error"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn an_outage_that_is_not_a_final_status_is_refused_in_code_too() {
    let emu = start().await;
    assert!(
        emu.start_outage(Provider::HCaptcha, FaultKind::Status { code: 99 })
            .is_err()
    );
    let token = mint(&emu, TokenSpec::new(Provider::HCaptcha));
    assert!(succeeded(
        Provider::HCaptcha,
        &verify_default(&emu, Provider::HCaptcha, &token).await
    ));
}
