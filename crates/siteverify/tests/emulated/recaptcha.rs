//! reCAPTCHA: v2 and v3 answers, the test keys, every documented code.

use siteverify::{Policy, Provider, RECAPTCHA_V3_DEFAULT_MIN_SCORE, Verifier, VerifierConfig};

use crate::support::*;

const TEST_SECRET: &str = "6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe";

#[tokio::test]
async fn the_test_secret_passes_any_token_on_testkey_google_com() {
    let emulator = emulator().await;
    let verifier = Verifier::recaptcha(
        VerifierConfig::new(TEST_SECRET)
            .verify_url(emulator.verify_url(Emulated::Recaptcha))
            .policy(Policy::new().allow_hostname("testkey.google.com").unwrap()),
    )
    .unwrap();
    for token in ["anything", "anything", "03AGdBq25-other"] {
        let verdict = verify(&verifier, token).await.unwrap();
        assert_eq!(verdict.hostname.as_deref(), Some("testkey.google.com"));
        assert_eq!(verdict.score, None, "v2 shape");
    }
}

#[tokio::test]
async fn v3_scores_and_actions_are_checked() {
    let emulator = emulator().await;
    let signup = Verifier::recaptcha(
        config(&emulator, Provider::Recaptcha)
            .policy(Policy::new().action("signup").min_score(0.7).unwrap()),
    )
    .unwrap();
    let good = mint(
        &emulator,
        spec(Provider::Recaptcha).action("signup").score(0.9),
    );
    let verdict = verify(&signup, &good).await.unwrap();
    assert_eq!(verdict.action.as_deref(), Some("signup"));
    assert_eq!(verdict.human_score, Some(0.9));

    let low = mint(
        &emulator,
        spec(Provider::Recaptcha).action("signup").score(0.6),
    );
    assert_eq!(code(&signup, &low).await, "score_below_threshold");
    let wrong_action = mint(
        &emulator,
        spec(Provider::Recaptcha).action("login").score(0.9),
    );
    assert_eq!(code(&signup, &wrong_action).await, "action_mismatch");
    let no_score = mint(&emulator, spec(Provider::Recaptcha).action("signup"));
    assert_eq!(code(&signup, &no_score).await, "score_missing");
}

#[tokio::test]
async fn a_v3_answer_without_a_configured_minimum_gets_the_default() {
    let emulator = emulator().await;
    let lax = verifier(&emulator, Provider::Recaptcha);
    let bot = mint(
        &emulator,
        spec(Provider::Recaptcha).score(RECAPTCHA_V3_DEFAULT_MIN_SCORE - 0.2),
    );
    assert_eq!(code(&lax, &bot).await, "score_below_threshold");
    let human = mint(
        &emulator,
        spec(Provider::Recaptcha).score(RECAPTCHA_V3_DEFAULT_MIN_SCORE),
    );
    assert_eq!(code(&lax, &human).await, "ok");
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
    ];
    assert_error_codes(Provider::Recaptcha, &table).await;
}

#[tokio::test]
async fn the_configured_version_decides_what_an_answer_must_carry() {
    use siteverify::{ConfigError, RecaptchaVersion};
    let emulator = emulator().await;
    let with = |version| {
        Verifier::recaptcha(config(&emulator, Provider::Recaptcha).recaptcha_version(version))
            .unwrap()
    };
    let (v2, v3) = (with(RecaptchaVersion::V2), with(RecaptchaVersion::V3));
    assert_eq!(v3.recaptcha_version(), Some(RecaptchaVersion::V3));
    // A checkbox answer (no score, no action): what a v2 key gives. The refusal says which
    // setting to change.
    let checkbox = || mint(&emulator, spec(Provider::Recaptcha));
    let logs = Captured::default();
    {
        let _guard = tracing::subscriber::set_default(logs.subscriber());
        assert_eq!(code(&v3, &checkbox()).await, "score_missing");
    }
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("CAPTCHA_RECAPTCHA_VERSION=2"),
        "{text}"
    );
    assert!(verify(&v2, &checkbox()).await.is_ok());
    // A v3 answer passes both, and the default minimum still applies to it on v2.
    let scored = |score| {
        mint(
            &emulator,
            spec(Provider::Recaptcha).action("a").score(score),
        )
    };
    assert!(verify(&v3, &scored(0.9)).await.is_ok());
    assert!(verify(&v2, &scored(0.9)).await.is_ok());
    assert_eq!(code(&v2, &scored(0.1)).await, "score_below_threshold");
    assert_eq!(code(&v3, &scored(0.1)).await, "score_below_threshold");

    // A v2 key never reports a score or an action: a policy that demands one would refuse
    // every user, so it is refused when built, the verifier's and a route's alike.
    for policy in [
        Policy::new().min_score(0.3).unwrap(),
        Policy::new().action("signup"),
    ] {
        let err = Verifier::recaptcha(
            config(&emulator, Provider::Recaptcha)
                .recaptcha_version(RecaptchaVersion::V2)
                .policy(policy.clone()),
        )
        .unwrap_err();
        assert!(
            matches!(err, ConfigError::UnsupportedCheck { .. }),
            "{err:?}"
        );
        assert!(siteverify::Verify::validate_policy(&v2, &policy).is_err());
        assert!(siteverify::Verify::validate_policy(&v3, &policy).is_ok());
    }

    let err = Verifier::turnstile(
        config(&emulator, Provider::Turnstile).recaptcha_version(RecaptchaVersion::V3),
    )
    .unwrap_err();
    assert!(
        matches!(err, ConfigError::SettingNotForProvider { .. }),
        "{err:?}"
    );
}
