//! The two clients a verifier can send with: hyper directly (the default) and a reqwest
//! client (passed in, or ours for a proxied endpoint or a URL with credentials). Whichever
//! carries it, a verification must send the same request and fail the same way.

use std::{process::Command, sync::mpsc, time::Duration};

use siteverify::{Outage, Provider, Verifier, VerifierConfig, VerifyError};

use crate::support::*;

/// A configuration sent by the default client, and the same one by a reqwest client.
fn both(config: VerifierConfig) -> [(&'static str, VerifierConfig); 2] {
    let passed_in = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    [
        ("direct", config.clone()),
        ("reqwest", config.http_client(passed_in)),
    ]
}

#[tokio::test]
async fn both_clients_send_the_same_request() {
    let emulator = emulator().await;
    let mut sent = Vec::new();
    for (via, config) in both(config(&emulator, Provider::HCaptcha)) {
        emulator.clear_requests();
        let verifier = Verifier::hcaptcha(config).unwrap();
        let token = mint(&emulator, spec(Provider::HCaptcha));
        assert!(verify(&verifier, &token).await.is_ok(), "{via}");
        let [request] = <[_; 1]>::try_from(emulator.requests()).unwrap();
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/x-www-form-urlencoded"),
            "{via}"
        );
        assert_eq!(request.header("accept"), Some("application/json"), "{via}");
        assert_eq!(
            request.header("content-length"),
            Some(request.body.len().to_string().as_str()),
            "{via}"
        );
        assert_eq!(
            request.header("host"),
            Some(emulator.addr().to_string().as_str()),
            "{via}"
        );
        assert_eq!(request.field("response"), Some(token.as_str()), "{via}");
        sent.push(request);
    }
    // Our own client names itself; a passed-in one keeps its own name.
    let user_agent = concat!("siteverify/", env!("CARGO_PKG_VERSION"));
    assert_eq!(sent[0].header("user-agent"), Some(user_agent));
    assert_eq!(sent[1].header("user-agent"), None);
    assert_eq!(sent[0].path, sent[1].path);
    assert_eq!(
        sent[0].fields.keys().collect::<Vec<_>>(),
        sent[1].fields.keys().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn both_clients_turn_each_failure_into_the_same_error() {
    let emulator = emulator().await;
    let cases = [
        (
            FaultKind::Status { code: 503 },
            VerifyError::ProviderUnavailable(Outage::Status(503)),
        ),
        (
            FaultKind::Status { code: 429 },
            VerifyError::ProviderUnavailable(Outage::RateLimited { retry_after: None }),
        ),
        (
            FaultKind::DropConnection,
            VerifyError::ProviderUnavailable(Outage::ConnectionLost),
        ),
        (
            FaultKind::Delay { ms: 3_000 },
            VerifyError::ProviderUnavailable(Outage::Timeout),
        ),
        (
            FaultKind::Trickle { interval_ms: 100 },
            VerifyError::ProviderError(siteverify::BadAnswer::Truncated),
        ),
    ];
    for (via, config) in both(config(&emulator, Provider::HCaptcha).timeout(SHORT)) {
        let verifier = Verifier::hcaptcha(config).unwrap();
        for (fault, expected) in &cases {
            let token = mint(&emulator, spec(Provider::HCaptcha).fault(fault.clone()));
            let got = verify(&verifier, &token).await;
            // The rate limiter's answer may carry a Retry-After; its kind is what matters.
            match (&got, expected) {
                (
                    Err(VerifyError::ProviderUnavailable(Outage::RateLimited { .. })),
                    VerifyError::ProviderUnavailable(Outage::RateLimited { .. }),
                ) => {}
                _ => assert_eq!(got.as_ref(), Err(expected), "{via} {fault:?}"),
            }
        }
        for fault in [FaultKind::MalformedJson, FaultKind::Oversized] {
            let token = mint(&emulator, spec(Provider::HCaptcha).fault(fault.clone()));
            let err = verify(&verifier, &token).await.unwrap_err();
            assert_eq!(err.code(), "provider_error", "{via} {fault:?}: {err:?}");
        }
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_failure_on_both_clients() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = VerifierConfig::new("s")
        .verify_url(format!("http://127.0.0.1:{port}/verify"))
        .timeout(SHORT);
    for (via, config) in both(config) {
        let verifier = Verifier::hcaptcha(config).unwrap();
        assert_eq!(
            verify(&verifier, "0xabc").await,
            Err(VerifyError::ProviderUnavailable(Outage::Connect)),
            "{via}"
        );
    }
}

/// An https endpoint gets TLS from both clients, with the endpoint's name for SNI: a listener
/// that reads the first record and hangs up sees a ClientHello, and the verification is a
/// connect failure (nothing of the request was sent), so it may be retried.
#[tokio::test]
async fn https_endpoints_get_tls_from_both_clients() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (hello, mut hellos) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            hello.send(first_record(stream).await).unwrap();
        }
    });
    let config = VerifierConfig::new("s")
        .verify_url(format!("https://localhost:{port}/verify"))
        .timeout(SHORT);
    for (via, config) in both(config) {
        let verifier = Verifier::hcaptcha(config).unwrap();
        assert_eq!(
            verify(&verifier, "0xabc").await,
            Err(VerifyError::ProviderUnavailable(Outage::Connect)),
            "{via}"
        );
        let record = hellos.recv().await.unwrap();
        // A TLS handshake record whose first message is a ClientHello (type 1).
        assert_eq!(record.get(..1), Some(&[0x16][..]), "{via}");
        assert_eq!(record.get(5), Some(&1), "{via}");
        assert!(
            record.windows(9).any(|w| w == b"localhost"),
            "{via}: no SNI for localhost"
        );
        // The retries of a connect failure, if any.
        while hellos.try_recv().is_ok() {}
    }
    server.abort();
}

/// Reads one TLS record (its 5-byte header gives its length), or what came before EOF.
async fn first_record(mut stream: tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut record = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let wanted = match record.get(3..5) {
            Some(len) => 5 + usize::from(u16::from_be_bytes([len[0], len[1]])),
            None => 5,
        };
        if record.len() >= wanted {
            return record;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return record,
            Ok(n) => record.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn credentials_in_the_verify_url_travel_as_basic_authentication() {
    let emulator = emulator().await;
    let url = emulator
        .verify_url(Emulated::HCaptcha)
        .replacen("http://", "http://gate:keeper@", 1);
    let verifier = Verifier::hcaptcha(
        VerifierConfig::new(Emulated::HCaptcha.default_secret()).verify_url(url),
    )
    .unwrap();
    let token = mint(&emulator, spec(Provider::HCaptcha));
    assert!(verify(&verifier, &token).await.is_ok());
    let [request] = <[_; 1]>::try_from(emulator.requests()).unwrap();
    // base64("gate:keeper")
    assert_eq!(
        request.header("authorization"),
        Some("Basic Z2F0ZTprZWVwZXI=")
    );
}

/// Set in the child process of [`an_endpoint_the_environment_proxies_is_reached_through_the_proxy`].
const CHILD_TOKEN: &str = "SITEVERIFY_TEST_PROXIED_TOKEN";

/// Proxy variables are process-wide, so the verification runs in a child process of this test
/// binary with `HTTP_PROXY` pointing at the emulator. The verify URL's host does not exist: only
/// a request sent through the proxy can be answered.
#[test]
fn an_endpoint_the_environment_proxies_is_reached_through_the_proxy() {
    if let Ok(token) = std::env::var(CHILD_TOKEN) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let verifier = Verifier::hcaptcha(
            VerifierConfig::new(Emulated::HCaptcha.default_secret()).verify_url(format!(
                "http://captcha.invalid{}",
                Emulated::HCaptcha.verify_path()
            )),
        )
        .unwrap();
        runtime.block_on(async {
            verify(&verifier, &token).await.unwrap();
        });
        return;
    }

    let (started, emulator_ready) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let emulator = emulator().await;
            let token = mint(&emulator, spec(Provider::HCaptcha));
            started.send((emulator.base_url(), token)).unwrap();
            stopped.await.ok();
            emulator.requests()
        })
    });
    let (proxy, token) = emulator_ready
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    let name = "transports::an_endpoint_the_environment_proxies_is_reached_through_the_proxy";
    let status = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1"])
        .env(CHILD_TOKEN, token)
        .env("HTTP_PROXY", &proxy)
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("REQUEST_METHOD")
        .status()
        .unwrap();
    stop.send(()).unwrap();
    let requests = server.join().unwrap();
    assert!(
        status.success(),
        "the child's verification failed: {status}"
    );
    let [request] = <[_; 1]>::try_from(requests).unwrap();
    assert_eq!(request.header("host"), Some("captcha.invalid"));
}
