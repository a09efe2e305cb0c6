//! Turnstile: test secrets, the dummy token, action and cdata, idempotent retries, codes.

use siteverify::{Policy, Provider, Verifier, VerifierConfig};

use crate::support::*;

const DUMMY: &str = "XXXX.DUMMY.TOKEN.XXXX";

fn with_secret(emulator: &Emulator, secret: &str) -> Verifier {
    Verifier::turnstile(
        VerifierConfig::new(secret).verify_url(emulator.verify_url(Emulated::Turnstile)),
    )
    .unwrap()
}

#[tokio::test]
async fn the_test_secrets_behave_as_documented() {
    let emulator = emulator().await;
    let pass = with_secret(&emulator, "1x0000000000000000000000000000000AA");
    let fail = with_secret(&emulator, "2x0000000000000000000000000000000AA");
    let spent = with_secret(&emulator, "3x0000000000000000000000000000000AA");
    for _ in 0..2 {
        let verdict = verify(&pass, DUMMY).await.unwrap();
        assert_eq!(verdict.hostname.as_deref(), Some("example.com"));
        assert_eq!(
            verify(&fail, DUMMY).await.unwrap_err().provider_codes(),
            ["invalid-input-response"]
        );
        assert_eq!(code(&spent, DUMMY).await, "expired_or_duplicate");
    }
    // Test secrets accept only the dummy token, production secrets never do.
    assert_eq!(code(&pass, "0.real-looking-token").await, "invalid_token");
    assert_eq!(
        code(&verifier(&emulator, Provider::Turnstile), DUMMY).await,
        "invalid_token"
    );
}

#[tokio::test]
async fn action_and_cdata_are_checked() {
    let emulator = emulator().await;
    let verifier = Verifier::turnstile(
        config(&emulator, Provider::Turnstile)
            .policy(Policy::new().action("login").cdata("session-42")),
    )
    .unwrap();
    let good = mint(
        &emulator,
        spec(Provider::Turnstile)
            .action("login")
            .cdata("session-42"),
    );
    let verdict = verify(&verifier, &good).await.unwrap();
    assert_eq!(verdict.cdata.as_deref(), Some("session-42"));
    let other_cdata = mint(
        &emulator,
        spec(Provider::Turnstile)
            .action("login")
            .cdata("session-43"),
    );
    assert_eq!(code(&verifier, &other_cdata).await, "cdata_mismatch");
    let no_action = mint(&emulator, spec(Provider::Turnstile).cdata("session-42"));
    assert_eq!(code(&verifier, &no_action).await, "action_mismatch");
}

#[tokio::test]
async fn every_documented_error_code_maps_to_its_class() {
    let table = [
        ("missing-input-secret", "provider_misconfigured"),
        ("invalid-input-secret", "provider_misconfigured"),
        ("missing-input-response", "missing_token"),
        ("invalid-input-response", "invalid_token"),
        ("bad-request", "provider_misconfigured"),
        ("timeout-or-duplicate", "expired_or_duplicate"),
        ("invalid-widget-id", "provider_misconfigured"),
        ("invalid-parsed-secret", "provider_misconfigured"),
        ("invalid-idempotency-key", "provider_misconfigured"),
    ];
    assert_error_codes(Provider::Turnstile, &table).await;
}

#[tokio::test]
async fn a_lost_answer_is_retried_with_the_same_idempotency_key() {
    for fault in [
        FaultKind::Status { code: 503 },
        FaultKind::Status { code: 500 },
        FaultKind::DropConnection,
        FaultKind::InternalError,
    ] {
        let emulator = emulator().await;
        let verifier = verifier(&emulator, Provider::Turnstile);
        // The provider consumed the token (except for internal-error) but the answer was lost.
        let token = mint(
            &emulator,
            spec(Provider::Turnstile).fault(Fault::once(fault.clone())),
        );
        let verdict = verify(&verifier, &token).await;
        assert!(verdict.is_ok(), "{fault:?}: {verdict:?}");
        let requests = emulator.requests();
        assert_eq!(requests.len(), 2, "{fault:?}");
        let key = requests[0].field("idempotency_key").unwrap();
        assert_eq!(requests[1].field("idempotency_key"), Some(key));
        assert_eq!(key.len(), 36, "a UUID");
    }
}

#[tokio::test]
async fn each_verification_has_its_own_idempotency_key() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, Provider::Turnstile);
    for _ in 0..2 {
        verify(&verifier, &mint(&emulator, spec(Provider::Turnstile)))
            .await
            .unwrap();
    }
    let requests = emulator.requests();
    assert_ne!(
        requests[0].field("idempotency_key"),
        requests[1].field("idempotency_key")
    );
}

#[tokio::test]
async fn a_slow_first_attempt_is_retried_within_the_deadline() {
    let emulator = emulator().await;
    let verifier =
        Verifier::turnstile(config(&emulator, Provider::Turnstile).timeout(SHORT * 2)).unwrap();
    // The first attempt gets half the deadline; the provider answers after the whole deadline.
    let token = mint(
        &emulator,
        spec(Provider::Turnstile).fault(Fault::once(FaultKind::Delay { ms: 5_000 })),
    );
    let started = std::time::Instant::now();
    verify(&verifier, &token).await.unwrap();
    assert!(
        started.elapsed() < SHORT * 2 + SHORT,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(emulator.requests().len(), 2);
}
