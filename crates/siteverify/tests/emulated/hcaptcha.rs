//! hCaptcha: test keys, Enterprise risk scores, `sitekey` binding, every documented code.

use siteverify::{Policy, Provider, Verifier, VerifierConfig};

use crate::support::*;

const TEST_SECRET: &str = "0x0000000000000000000000000000000000000000";
const PASS_TOKEN: &str = "10000000-aaaa-bbbb-cccc-000000000001";
const SAFE_TOKEN: &str = "20000000-aaaa-bbbb-cccc-000000000002";
const BOT_TOKEN: &str = "30000000-aaaa-bbbb-cccc-000000000003";

fn test_key_verifier(emulator: &Emulator, policy: Policy) -> Verifier {
    Verifier::hcaptcha(
        VerifierConfig::new(TEST_SECRET)
            .verify_url(emulator.verify_url(Emulated::HCaptcha))
            .policy(policy),
    )
    .unwrap()
}

#[tokio::test]
async fn test_keys_pass_every_time_and_enterprise_scores_are_risk_scores() {
    let emulator = emulator().await;
    let verifier = test_key_verifier(&emulator, Policy::new());
    for _ in 0..2 {
        let verdict = verify(&verifier, PASS_TOKEN).await.unwrap();
        assert_eq!(verdict.score, None);
    }
    let safe = verify(&verifier, SAFE_TOKEN).await.unwrap();
    let bot = verify(&verifier, BOT_TOKEN).await.unwrap();
    assert!(safe.human_score.unwrap() > 0.5, "{safe:?}");
    assert!(bot.human_score.unwrap() < 0.5, "{bot:?}");

    let strict = test_key_verifier(&emulator, Policy::new().min_score(0.5).unwrap());
    assert_eq!(code(&strict, SAFE_TOKEN).await, "ok");
    assert_eq!(code(&strict, BOT_TOKEN).await, "score_below_threshold");
    // The always-pass key reports no score, so a minimum cannot be met.
    assert_eq!(code(&strict, PASS_TOKEN).await, "score_missing");
}

#[tokio::test]
async fn a_public_test_token_with_our_real_secret_is_the_clients_doing() {
    // Anyone can post hCaptcha's documented test token; with our real secret hCaptcha says
    // `not-using-dummy-passcode`. That must not raise our 500s and error logs.
    let emulator = emulator().await;
    let verifier = verifier(&emulator, Provider::HCaptcha);
    let err = verify(&verifier, PASS_TOKEN).await.unwrap_err();
    assert_eq!(err.code(), "invalid_token");
    assert_eq!(err.provider_codes(), ["not-using-dummy-passcode"]);
}

#[tokio::test]
async fn a_test_key_of_ours_with_the_wrong_partner_is_misconfiguration() {
    let emulator = emulator().await;
    let verifier = Verifier::hcaptcha(
        config(&emulator, Provider::HCaptcha).site_key("10000000-ffff-ffff-ffff-000000000001"),
    )
    .unwrap();
    let err = verify(&verifier, PASS_TOKEN).await.unwrap_err();
    assert_eq!(err.code(), "provider_misconfigured");
}

#[tokio::test]
async fn the_site_key_is_sent_only_when_configured_and_binds_the_token() {
    let emulator = emulator().await;
    let site_key = Emulated::HCaptcha.default_site_key();

    let unbound = verifier(&emulator, Provider::HCaptcha);
    verify(&unbound, &mint(&emulator, spec(Provider::HCaptcha)))
        .await
        .unwrap();
    assert_eq!(emulator.requests()[0].field("sitekey"), None);

    emulator.clear_requests();
    let bound =
        Verifier::hcaptcha(config(&emulator, Provider::HCaptcha).site_key(site_key)).unwrap();
    let verdict = verify(&bound, &mint(&emulator, spec(Provider::HCaptcha)))
        .await
        .unwrap();
    assert_eq!(emulator.requests()[0].field("sitekey"), Some(site_key));
    assert_eq!(verdict.site_key.as_deref(), Some(site_key));

    // A token solved on another (say, easier) site key of the same account is refused.
    emulator.register_site(
        Emulated::HCaptcha,
        "easier-site-key",
        Emulated::HCaptcha.default_secret(),
    );
    let other = mint(
        &emulator,
        spec(Provider::HCaptcha).site_key("easier-site-key"),
    );
    assert_eq!(code(&bound, &other).await, "invalid_token");
    assert_eq!(code(&unbound, &other).await, "ok");

    // A site key that is not the secret's is our configuration's fault.
    let foreign =
        Verifier::hcaptcha(config(&emulator, Provider::HCaptcha).site_key("not-ours")).unwrap();
    let err = verify(&foreign, &mint(&emulator, spec(Provider::HCaptcha)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider_misconfigured");
    assert_eq!(err.provider_codes(), ["sitekey-secret-mismatch"]);
}

#[tokio::test]
async fn spent_and_expired_tokens_keep_their_codes() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, Provider::HCaptcha);
    let token = mint(&emulator, spec(Provider::HCaptcha));
    verify(&verifier, &token).await.unwrap();
    assert_eq!(
        verify(&verifier, &token)
            .await
            .unwrap_err()
            .provider_codes(),
        ["already-seen-response"]
    );
    let stale = mint(&emulator, spec(Provider::HCaptcha).age_secs(121));
    assert_eq!(
        verify(&verifier, &stale)
            .await
            .unwrap_err()
            .provider_codes(),
        ["expired-input-response"]
    );
}

#[tokio::test]
async fn every_documented_error_code_maps_to_its_class() {
    let table = [
        ("missing-input-secret", "provider_misconfigured"),
        ("invalid-input-secret", "provider_misconfigured"),
        ("missing-input-response", "missing_token"),
        ("invalid-input-response", "invalid_token"),
        ("expired-input-response", "expired_or_duplicate"),
        ("already-seen-response", "expired_or_duplicate"),
        ("bad-request", "provider_misconfigured"),
        ("missing-remoteip", "provider_misconfigured"),
        ("invalid-remoteip", "provider_misconfigured"),
        // With real keys and no `sitekey` sent, these are about the token the client sent.
        ("not-using-dummy-passcode", "invalid_token"),
        ("sitekey-secret-mismatch", "invalid_token"),
        ("invalid-or-already-seen-response", "expired_or_duplicate"),
        ("not-using-dummy-secret", "invalid_token"),
        ("some-future-code", "invalid_token"),
    ];
    assert_error_codes(Provider::HCaptcha, &table).await;
}
