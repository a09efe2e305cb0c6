//! Procaptcha: the raw `0x…` token, the legacy JSON wrapper, test site keys, risk scores.

use siteverify::{Policy, Provider, Verifier, VerifierConfig};

use crate::support::*;

const PASS_SITE_KEY: &str = "5EARALUe4HXQwKo5KanZSGGKqJV4VTaytpezFwv8ZHbZewmh";
const FAIL_SITE_KEY: &str = "5ETtechmZkn3CUVeJX7Z511oiuiu742aHLm91D5ZZw4fqoAG";

#[tokio::test]
async fn the_legacy_json_wrapper_is_unpacked_to_the_raw_token() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, Provider::Procaptcha);
    let token = mint(&emulator, spec(Provider::Procaptcha));
    assert!(token.starts_with("0x"));
    let legacy = format!(r#"{{"token":"{token}","commitmentId":"abc"}}"#);
    verify(&verifier, &legacy).await.unwrap();
    assert_eq!(emulator.requests()[0].field("token"), Some(token.as_str()));
}

#[tokio::test]
async fn test_site_keys_pass_and_fail_as_documented() {
    let emulator = emulator().await;
    let verifier = Verifier::procaptcha(
        VerifierConfig::new("any-secret").verify_url(emulator.verify_url(Emulated::Procaptcha)),
    )
    .unwrap();
    let pass = mint(
        &emulator,
        spec(Provider::Procaptcha).site_key(PASS_SITE_KEY),
    );
    for _ in 0..2 {
        verify(&verifier, &pass).await.unwrap();
    }
    let fail = mint(
        &emulator,
        spec(Provider::Procaptcha).site_key(FAIL_SITE_KEY),
    );
    assert_eq!(code(&verifier, &fail).await, "invalid_token");
}

#[tokio::test]
async fn risk_scores_are_inverted_before_the_minimum_applies() {
    let emulator = emulator().await;
    let verifier = Verifier::procaptcha(
        config(&emulator, Provider::Procaptcha).policy(Policy::new().min_score(0.6).unwrap()),
    )
    .unwrap();
    let human = mint(&emulator, spec(Provider::Procaptcha).score(0.2));
    assert!(
        (verify(&verifier, &human)
            .await
            .unwrap()
            .human_score
            .unwrap()
            - 0.8)
            .abs()
            < 1e-9
    );
    let bot = mint(&emulator, spec(Provider::Procaptcha).score(0.7));
    assert_eq!(code(&verifier, &bot).await, "score_below_threshold");
    let free_tier = mint(&emulator, spec(Provider::Procaptcha));
    assert_eq!(code(&verifier, &free_tier).await, "score_missing");
}

#[tokio::test]
async fn a_refusal_keeps_the_status_as_its_code() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, Provider::Procaptcha);
    let token = mint(
        &emulator,
        spec(Provider::Procaptcha).fault(FaultKind::ErrorCodes {
            codes: vec!["CAPTCHA.INVALID".into()],
        }),
    );
    let err = verify(&verifier, &token).await.unwrap_err();
    assert_eq!(err.code(), "invalid_token");
    assert_eq!(err.provider_codes(), ["CAPTCHA.INVALID"]);
}
