//! The circuit breaker, the bound on verifications in flight, test keys, health and metrics.

use std::time::{Duration, Instant};

use siteverify::{
    BreakerState, ConfigError, Outage, Provider, Verifier, VerifierConfig, VerifyError,
};

use crate::support::*;

fn breaker_verifier(emulator: &Emulator, threshold: u32, cool_down: Duration) -> Verifier {
    Verifier::new(
        Provider::HCaptcha,
        config(emulator, Provider::HCaptcha).circuit_breaker(threshold, cool_down),
    )
    .unwrap()
}

#[tokio::test]
async fn the_breaker_opens_answers_at_once_probes_and_closes_again() {
    let emulator = emulator().await;
    let cool_down = Duration::from_millis(400);
    let verifier = breaker_verifier(&emulator, 3, cool_down);
    let failing = || {
        mint(
            &emulator,
            spec(Provider::HCaptcha).fault(FaultKind::Status { code: 503 }),
        )
    };

    for _ in 0..3 {
        assert_eq!(code(&verifier, &failing()).await, "provider_unavailable");
    }
    assert_eq!(verifier.health().breaker, BreakerState::Open);
    assert!(!verifier.health().is_ready());
    assert_eq!(emulator.requests().len(), 3);

    // Open: answered at once, nothing sent, even for a good token.
    let started = Instant::now();
    let good = mint(&emulator, spec(Provider::HCaptcha));
    let err = verify(&verifier, &good).await.unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::ProviderUnavailable(Outage::CircuitOpen { .. })
        ),
        "{err:?}"
    );
    assert!(err.retry_after().is_some_and(|d| d <= cool_down));
    assert!(err.is_provider_outage());
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(emulator.requests().len(), 3, "nothing reached the provider");

    // After the cool-down one probe goes through; the provider has recovered, so it closes.
    tokio::time::sleep(cool_down).await;
    verify(&verifier, &good).await.unwrap();
    assert_eq!(verifier.health().breaker, BreakerState::Closed);
    assert_eq!(emulator.requests().len(), 4);
    verify(&verifier, &mint(&emulator, spec(Provider::HCaptcha)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_probe_opens_the_breaker_again() {
    let emulator = emulator().await;
    let cool_down = Duration::from_millis(200);
    let verifier = breaker_verifier(&emulator, 1, cool_down);
    let failing = || {
        mint(
            &emulator,
            spec(Provider::HCaptcha).fault(FaultKind::Status { code: 502 }),
        )
    };
    assert_eq!(code(&verifier, &failing()).await, "provider_unavailable");
    tokio::time::sleep(cool_down).await;
    assert_eq!(code(&verifier, &failing()).await, "provider_unavailable");
    assert_eq!(verifier.health().breaker, BreakerState::Open);
    assert_eq!(emulator.requests().len(), 2);
}

#[tokio::test]
async fn what_a_client_can_provoke_never_opens_the_breaker() {
    let emulator = emulator().await;
    let verifier = breaker_verifier(&emulator, 2, Duration::from_secs(60));
    // Each kind three times in a row, against a threshold of two.
    for _ in 0..3 {
        assert_eq!(code(&verifier, "P1_forged").await, "invalid_token");
    }
    for fault in [
        FaultKind::Status { code: 429 },
        FaultKind::Status { code: 500 },
        FaultKind::MalformedJson,
        FaultKind::Oversized,
    ] {
        for _ in 0..3 {
            let token = mint(&emulator, spec(Provider::HCaptcha).fault(fault.clone()));
            assert_ne!(code(&verifier, &token).await, "ok");
        }
        assert_eq!(verifier.health().breaker, BreakerState::Closed, "{fault:?}");
    }
    // Whereas real outages in a row do.
    for _ in 0..2 {
        let token = mint(
            &emulator,
            spec(Provider::HCaptcha).fault(FaultKind::Status { code: 503 }),
        );
        assert_eq!(code(&verifier, &token).await, "provider_unavailable");
    }
    assert_eq!(verifier.health().breaker, BreakerState::Open);
}

#[tokio::test]
async fn a_wrong_verify_url_is_our_misconfiguration_not_an_outage() {
    let emulator = emulator().await;
    for provider in Provider::HOSTED {
        let e = emulated(provider);
        let wrong = format!("{}/no/such/path", emulator.base_url());
        let verifier = Verifier::new(
            provider,
            base_config(provider, e.default_secret()).verify_url(wrong),
        )
        .unwrap();
        let err = verify(&verifier, "0xabcdef").await.unwrap_err();
        assert_eq!(err.code(), "provider_misconfigured", "{provider}: {err:?}");
        assert!(!err.is_provider_outage());
    }
}

#[tokio::test]
async fn verifiers_of_one_endpoint_share_the_breaker() {
    let emulator = emulator().await;
    let signup = breaker_verifier(&emulator, 2, Duration::from_secs(60));
    let checkout = breaker_verifier(&emulator, 2, Duration::from_secs(60));
    for _ in 0..2 {
        let token = mint(
            &emulator,
            spec(Provider::HCaptcha).fault(FaultKind::Status { code: 503 }),
        );
        assert_eq!(code(&signup, &token).await, "provider_unavailable");
    }
    assert_eq!(checkout.health().breaker, BreakerState::Open);
}

#[tokio::test]
async fn past_the_in_flight_bound_a_verification_is_answered_at_once() {
    let emulator = emulator().await;
    let verifier = Verifier::new(
        Provider::Turnstile,
        config(&emulator, Provider::Turnstile).max_in_flight(1),
    )
    .unwrap();
    let slow = mint(
        &emulator,
        spec(Provider::Turnstile).fault(FaultKind::Delay { ms: 500 }),
    );
    let first = {
        let verifier = verifier.clone();
        tokio::spawn(async move { verify(&verifier, &slow).await })
    };
    // Wait until the first verification holds the only slot.
    while verifier.health().in_flight == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(verifier.health().max_in_flight, 1);
    let started = Instant::now();
    let second = verify(&verifier, &mint(&emulator, spec(Provider::Turnstile))).await;
    assert_eq!(
        second,
        Err(VerifyError::ProviderUnavailable(Outage::Overloaded))
    );
    assert!(started.elapsed() < Duration::from_millis(250));
    assert!(
        !second.unwrap_err().is_provider_outage(),
        "a flood can cause it: never fail open"
    );
    first.await.unwrap().unwrap();
    assert_eq!(verifier.health().in_flight, 0);
}

#[test]
fn test_keys_can_be_refused() {
    let test_secret = VerifierConfig::new("1x0000000000000000000000000000000AA");
    assert!(
        Verifier::turnstile(test_secret.clone()).is_ok(),
        "allowed unless denied"
    );
    assert_eq!(
        Verifier::turnstile(test_secret.deny_test_keys(true)).unwrap_err(),
        ConfigError::TestKey(Provider::Turnstile)
    );
    let test_site_key =
        VerifierConfig::new("real").site_key("10000000-ffff-ffff-ffff-000000000001");
    assert!(Verifier::hcaptcha(test_site_key.deny_test_keys(true)).is_err());
    assert!(Verifier::hcaptcha(VerifierConfig::new("real").deny_test_keys(true)).is_ok());
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_count_outcomes_and_record_latency() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let emulator = emulator().await;
            let verifier = verifier(&emulator, Provider::Turnstile);
            let token = mint(&emulator, spec(Provider::Turnstile));
            verify(&verifier, &token).await.unwrap();
            verify(&verifier, &token).await.unwrap_err();
            verify(&verifier, "").await.unwrap_err();
        });
    });
    let mut counts = std::collections::BTreeMap::new();
    let mut latencies = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let label = |name: &str| {
            key.labels()
                .find(|l| l.key() == name)
                .map(|l| l.value().to_owned())
        };
        match (key.name(), value) {
            ("captcha_verifications_total", DebugValue::Counter(n)) => {
                assert_eq!(label("provider").as_deref(), Some("turnstile"));
                counts.insert(label("outcome").unwrap(), n);
            }
            ("captcha_verification_duration_seconds", DebugValue::Histogram(values)) => {
                latencies += values.len();
            }
            _ => {}
        }
    }
    let expected: std::collections::BTreeMap<String, u64> = [
        ("expired_or_duplicate".to_owned(), 1),
        ("missing_token".to_owned(), 1),
        ("verified".to_owned(), 1),
    ]
    .into();
    assert_eq!(counts, expected);
    assert_eq!(latencies, 3);
}
