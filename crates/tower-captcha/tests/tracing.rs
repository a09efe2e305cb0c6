//! The layer's tracing span, in a process of its own: tracing caches per call site whether
//! anyone listens, and tests on other threads without a subscriber would race this one.

use std::{
    io,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Router, routing::post};
use siteverify_emulator::{Emulator, Provider as Emulated, TokenSpec};
use tower_captcha::{CaptchaLayer, Member, Provider, ProviderSet, Verifier, VerifierConfig};

const FIELD: &str = "cf-turnstile-response";
#[cfg(feature = "altcha")]
const ALTCHA_KEY: &str = "tracing-test-hmac-key-0123456789abcdef";

async fn echo(body: String) -> String {
    body
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[test]
fn one_span_per_verification_with_provider_outcome_and_latency_and_never_the_token() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // A current-thread runtime, so that every event is recorded by this thread's subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tokens = runtime.block_on(async {
        let emulator = Emulator::start().await.unwrap();
        let config = VerifierConfig::new(Emulated::Turnstile.default_secret())
            .verify_url(emulator.verify_url(Emulated::Turnstile));
        let guard = CaptchaLayer::new(Verifier::new(Provider::Turnstile, config).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(
            axum::serve(listener, Router::new().route("/", post(echo).layer(guard))).into_future(),
        );
        let url = format!("http://{addr}/");
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let good = emulator.mint(TokenSpec::new(Emulated::Turnstile)).unwrap();
        client.post(&url).header(FIELD, &good).send().await.unwrap();
        client.post(&url).header(FIELD, &good).send().await.unwrap();
        client.post(&url).send().await.unwrap();

        // A set: the span names the member whose token it was, or `set` when there was none.
        let member = |provider: Provider, emulated: Emulated| {
            let config = VerifierConfig::new(emulated.default_secret())
                .site_key(emulated.default_site_key())
                .verify_url(emulator.verify_url(emulated));
            Member::new(Verifier::new(provider, config).unwrap())
        };
        let set = ProviderSet::failover([
            member(Provider::Turnstile, Emulated::Turnstile),
            member(Provider::HCaptcha, Emulated::HCaptcha),
        ])
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(
            axum::serve(
                listener,
                Router::new().route("/", post(echo).layer(CaptchaLayer::set(set))),
            )
            .into_future(),
        );
        let url = format!("http://{addr}/");
        let hcaptcha = emulator.mint(TokenSpec::new(Emulated::HCaptcha)).unwrap();
        client
            .post(&url)
            .header("h-captcha-response", &hcaptcha)
            .send()
            .await
            .unwrap();
        client.post(&url).send().await.unwrap();
        let mut tokens = vec![good, hcaptcha];

        // ALTCHA with its memory store, the solution in a header: decided in the service's
        // call, in the same span, with the same fields.
        #[cfg(feature = "altcha")]
        {
            use siteverify::altcha::{AltchaConfig, AltchaVerifier};
            let guard = CaptchaLayer::altcha(AltchaConfig::new(ALTCHA_KEY)).unwrap();
            let solved = |verifier: &AltchaVerifier| {
                siteverify::altcha::solve(&verifier.challenge()).unwrap()
            };
            let payload = solved(guard.verifier());
            let guard_verifier = &guard.verifier().clone();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr: SocketAddr = listener.local_addr().unwrap();
            tokio::spawn(
                axum::serve(listener, Router::new().route("/", post(echo).layer(guard)))
                    .into_future(),
            );
            let url = format!("http://{addr}/");
            for altcha in [payload.as_str(), payload.as_str(), "bm90IGEgcGF5bG9hZA"] {
                client
                    .post(&url)
                    .header("altcha", altcha)
                    .send()
                    .await
                    .unwrap();
            }
            tokens.push(payload);
            // In a body (the future's path): a classic solution in JSON, a v2 one in a form.
            let v2 = CaptchaLayer::altcha(AltchaConfig::new(ALTCHA_KEY).kind(
                siteverify::altcha::ChallengeKind::V2 {
                    algorithm: siteverify::altcha::V2Algorithm::Sha256,
                    cost: 1,
                    prefix_digits: 1,
                },
            ))
            .unwrap();
            let (classic, v2_payload) = (solved(guard_verifier), solved(v2.verifier()));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr: SocketAddr = listener.local_addr().unwrap();
            tokio::spawn(
                axum::serve(listener, Router::new().route("/", post(echo).layer(v2))).into_future(),
            );
            client
                .post(&url)
                .json(&serde_json::json!({ "altcha": classic }))
                .send()
                .await
                .unwrap();
            client
                .post(format!("http://{addr}/"))
                .form(&[("altcha", v2_payload.as_str())])
                .send()
                .await
                .unwrap();
            tokens.extend([classic, v2_payload]);
        }
        tokens
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let closes: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("tower_captcha::middleware::service: close"))
        .collect();
    let altcha = if cfg!(feature = "altcha") { 5 } else { 0 };
    assert_eq!(closes.len(), 5 + altcha, "{logs}");
    assert!(
        closes[0].contains("provider=\"turnstile\"") || closes[0].contains("provider=turnstile"),
        "{logs}"
    );
    assert!(
        closes
            .iter()
            .any(|l| l.contains("outcome=\"verified\"") || l.contains("outcome=verified")),
        "{logs}"
    );
    assert!(
        closes.iter().any(|l| l.contains("expired_or_duplicate")),
        "{logs}"
    );
    assert!(closes.iter().any(|l| l.contains("missing_token")), "{logs}");
    assert!(closes.iter().all(|l| l.contains("latency_ms=")), "{logs}");
    let provider = |line: &str, name: &str| {
        line.contains(&format!("provider=\"{name}\""))
            || line.contains(&format!("provider={name} "))
    };
    assert!(
        provider(closes[3], "hcaptcha") && closes[3].contains("verified"),
        "{logs}"
    );
    assert!(
        provider(closes[4], "set") && closes[4].contains("missing_token"),
        "{logs}"
    );
    if altcha > 0 {
        assert!(closes[5..].iter().all(|l| provider(l, "altcha")), "{logs}");
        let outcomes: Vec<bool> = [
            "verified",
            "expired_or_duplicate",
            "malformed_token",
            "verified",
            "verified",
        ]
        .iter()
        .zip(&closes[5..])
        .map(|(outcome, line)| line.contains(outcome))
        .collect();
        assert_eq!(outcomes, [true; 5], "{logs}");
        // The verifier's own span, inside the layer's, with the same outcomes.
        let verifier_closes = logs
            .lines()
            .filter(|l| l.contains("siteverify{provider=\"altcha\"") && l.contains("close"))
            .count();
        assert_eq!(verifier_closes, 5, "{logs}");
        assert!(!logs.contains(ALTCHA_KEY), "HMAC key leaked: {logs}");
    }
    for token in tokens {
        assert!(!logs.contains(&token), "token leaked: {logs}");
        // Nor any part of an ALTCHA payload: its signature, its challenge, its salt.
        #[cfg(feature = "altcha")]
        if let Some(payload) = altcha_fields(&token) {
            for field in payload {
                assert!(!logs.contains(&field), "{field} leaked: {logs}");
            }
        }
    }
    assert!(
        !logs.contains(Emulated::Turnstile.default_secret()),
        "secret leaked: {logs}"
    );
}

/// The long string fields of an ALTCHA payload (classic or v2), if `token` is one.
#[cfg(feature = "altcha")]
fn altcha_fields(token: &str) -> Option<Vec<String>> {
    use base64::Engine;
    let json = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let payload: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let mut fields = Vec::new();
    let mut collect = |value: &serde_json::Value| {
        if let Some(text) = value.as_str().filter(|t| t.len() >= 16) {
            fields.push(text.to_owned());
        }
    };
    for name in ["challenge", "salt", "signature"] {
        collect(&payload[name]);
    }
    collect(&payload["challenge"]["signature"]);
    collect(&payload["solution"]["derivedKey"]);
    if let Some(parameters) = payload["challenge"]["parameters"].as_object() {
        parameters.values().for_each(&mut collect);
    }
    assert!(!fields.is_empty(), "an ALTCHA payload has long fields");
    Some(fields)
}
