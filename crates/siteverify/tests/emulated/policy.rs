//! Policy checks end to end, and the per-call override.

use std::time::Duration;

use siteverify::{Policy, Provider, Verifier, VerifyOptions};

use crate::support::*;

#[tokio::test]
async fn the_hostname_allowlist_passes_and_fails() {
    let emulator = emulator().await;
    let policy = Policy::new()
        .allow_hostname("example.com")
        .unwrap()
        .allow_hostname("*.example.org")
        .unwrap();
    for provider in [Provider::HCaptcha, Provider::Recaptcha, Provider::Turnstile] {
        let verifier =
            Verifier::new(provider, config(&emulator, provider).policy(policy.clone())).unwrap();
        for (host, expected) in [
            ("EXAMPLE.com", "ok"),
            ("shop.example.org", "ok"),
            ("example.org", "hostname_mismatch"),
            ("evil-example.com", "hostname_mismatch"),
        ] {
            let token = mint(&emulator, spec(provider).hostname(host));
            assert_eq!(code(&verifier, &token).await, expected, "{provider} {host}");
        }
    }
}

#[tokio::test]
async fn old_challenges_are_refused() {
    let emulator = emulator().await;
    for provider in [
        Provider::HCaptcha,
        Provider::Recaptcha,
        Provider::Turnstile,
        Provider::ByeBot,
    ] {
        let verifier = Verifier::new(
            provider,
            config(&emulator, provider).policy(Policy::new().max_age(Duration::from_secs(60))),
        )
        .unwrap();
        let fresh = mint(&emulator, spec(provider).age_secs(5));
        assert_eq!(code(&verifier, &fresh).await, "ok", "{provider}");
        // Still redeemable at the provider, but older than this route allows.
        let old = mint(&emulator, spec(provider).age_secs(90));
        assert_eq!(
            code(&verifier, &old).await,
            "challenge_too_old",
            "{provider}"
        );
    }
}

#[tokio::test]
async fn a_call_can_bring_its_own_policy() {
    let emulator = emulator().await;
    let verifier = Verifier::turnstile(
        config(&emulator, Provider::Turnstile).policy(Policy::new().action("signup")),
    )
    .unwrap();
    let checkout = mint(&emulator, spec(Provider::Turnstile).action("checkout"));
    let options = VerifyOptions::new().with_policy(Policy::new().action("checkout"));
    verifier.verify(&checkout, &options).await.unwrap();
    let another = mint(&emulator, spec(Provider::Turnstile).action("checkout"));
    assert_eq!(code(&verifier, &another).await, "action_mismatch");
}
