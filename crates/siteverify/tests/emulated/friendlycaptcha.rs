//! Friendly Captcha v2: the API key in a header, the hostname from the page's origin, every
//! documented error code.

use siteverify::{
    ConfigError, FRIENDLY_CAPTCHA_EU_VERIFY_URL, FRIENDLY_CAPTCHA_GLOBAL_VERIFY_URL, Policy,
    Provider, Verifier, VerifierConfig,
};

use crate::support::*;

const FRC: Provider = Provider::FriendlyCaptcha;

#[tokio::test]
async fn a_valid_token_reports_the_origins_host_and_the_challenge_time() {
    let emulator = emulator().await;
    let verifier = Verifier::friendlycaptcha(
        config(&emulator, FRC).policy(Policy::new().allow_hostname("*.example.com").unwrap()),
    )
    .unwrap();
    let token = mint(
        &emulator,
        spec(FRC).hostname("shop.example.com").age_secs(4),
    );
    let verdict = verify(&verifier, &token).await.unwrap();
    assert_eq!(verdict.hostname.as_deref(), Some("shop.example.com"));
    let age = verdict.challenge_ts.unwrap().elapsed().unwrap();
    assert!(age.as_secs() >= 3 && age.as_secs() < 30, "{age:?}");
    assert_eq!(verdict.score, None);

    // The hostname policy works on the origin's host.
    let elsewhere = mint(&emulator, spec(FRC).hostname("evil.example"));
    assert_eq!(code(&verifier, &elsewhere).await, "hostname_mismatch");
    // An empty origin ("unknown") names no host, which no allowlist accepts.
    let unknown = mint(&emulator, spec(FRC).hostname(""));
    assert_eq!(code(&verifier, &unknown).await, "hostname_mismatch");
}

#[tokio::test]
async fn the_api_key_travels_in_the_header_only() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, FRC);
    verify(&verifier, &mint(&emulator, spec(FRC)))
        .await
        .unwrap();
    let request = &emulator.requests()[0];
    let secret = Emulated::FriendlyCaptcha.default_secret();
    assert_eq!(request.header("x-api-key"), Some(secret));
    assert_eq!(request.query, None);
    assert!(!request.path.contains(secret));
    assert!(!String::from_utf8_lossy(&request.body).contains(secret));
    assert!(request.field("secret").is_none() && request.field("api_key").is_none());
    assert!(!format!("{verifier:?}").contains(secret));
}

#[tokio::test]
async fn a_bound_site_key_is_sent_and_a_token_of_another_key_refused() {
    let emulator = emulator().await;
    let secret = Emulated::FriendlyCaptcha.default_secret();
    emulator.register_site(Emulated::FriendlyCaptcha, "second-site", secret);
    let site_key = Emulated::FriendlyCaptcha.default_site_key();
    let bound = Verifier::friendlycaptcha(config(&emulator, FRC).site_key(site_key)).unwrap();
    let verdict = verify(&bound, &mint(&emulator, spec(FRC))).await.unwrap();
    assert_eq!(verdict.site_key.as_deref(), Some(site_key));
    assert_eq!(emulator.requests()[0].field("sitekey"), Some(site_key));

    let other = mint(&emulator, spec(FRC).site_key("second-site"));
    assert_eq!(code(&bound, &other).await, "invalid_token");
    // A route that binds another key of ours sends that one.
    let route = Policy::new().site_key("second-site");
    let options = siteverify::VerifyOptions::new().with_policy(route);
    // (A token refused for its site key is not spent.)
    let verdict = bound.verify(&other, &options).await.unwrap();
    assert_eq!(verdict.site_key.as_deref(), Some("second-site"));

    // A site key that is not the account's is our misconfiguration.
    let foreign = Verifier::friendlycaptcha(config(&emulator, FRC).site_key("not-ours")).unwrap();
    let err = verify(&foreign, &mint(&emulator, spec(FRC)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider_misconfigured");
    assert_eq!(err.provider_codes(), ["sitekey_invalid"]);
}

#[tokio::test]
async fn the_emulators_own_answers_map_to_our_codes() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, FRC);
    let token = mint(&emulator, spec(FRC));
    verify(&verifier, &token).await.unwrap();
    let spent = verify(&verifier, &token).await.unwrap_err();
    assert_eq!(spent.code(), "expired_or_duplicate");
    assert_eq!(spent.provider_codes(), ["response_duplicate"]);
    let stale = mint(&emulator, spec(FRC).lifetime_secs(5).age_secs(6));
    let stale = verify(&verifier, &stale).await.unwrap_err();
    assert_eq!(stale.provider_codes(), ["response_timeout"]);
    let bogus = verify(&verifier, "bogus.token").await.unwrap_err();
    assert_eq!(bogus.code(), "invalid_token");
    assert_eq!(bogus.provider_codes(), ["response_invalid"]);

    let wrong = Verifier::friendlycaptcha(
        VerifierConfig::new("not-the-key")
            .verify_url(emulator.verify_url(Emulated::FriendlyCaptcha)),
    )
    .unwrap();
    let err = verify(&wrong, &mint(&emulator, spec(FRC)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider_misconfigured");
    assert_eq!(err.provider_codes(), ["auth_invalid"]);
}

#[tokio::test]
async fn every_documented_error_code_under_its_documented_status() {
    // The emulator answers each code with the status Friendly Captcha documents for it
    // (401, 400 or 200; 500 for internal_server_error).
    assert_error_codes(
        FRC,
        &[
            ("auth_required", "provider_misconfigured"),
            ("auth_invalid", "provider_misconfigured"),
            ("sitekey_invalid", "provider_misconfigured"),
            ("response_missing", "provider_misconfigured"),
            ("bad_request", "provider_misconfigured"),
            ("response_invalid", "invalid_token"),
            ("response_timeout", "expired_or_duplicate"),
            ("response_duplicate", "expired_or_duplicate"),
            ("internal_server_error", "provider_unavailable"),
            ("a_code_from_the_future", "invalid_token"),
        ],
    )
    .await;
}

#[tokio::test]
async fn tokens_over_16000_bytes_are_refused_locally() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, FRC);
    assert_eq!(
        code(&verifier, &"a".repeat(16_001)).await,
        "malformed_token"
    );
    assert!(emulator.requests().is_empty());
    // At the cap, it goes out (and is unknown).
    assert_eq!(code(&verifier, &"a".repeat(16_000)).await, "invalid_token");
}

#[test]
fn the_endpoints_and_an_api_key_that_cannot_be_a_header() {
    assert_eq!(
        FRC.default_verify_url(),
        Some("https://global.frcapi.com/api/v2/captcha/siteverify")
    );
    assert_eq!(
        FRIENDLY_CAPTCHA_GLOBAL_VERIFY_URL,
        FRC.default_verify_url().unwrap()
    );
    assert_eq!(
        FRIENDLY_CAPTCHA_EU_VERIFY_URL,
        "https://eu.frcapi.com/api/v2/captcha/siteverify"
    );
    assert!(
        Verifier::friendlycaptcha(
            VerifierConfig::new("key").verify_url(FRIENDLY_CAPTCHA_EU_VERIFY_URL)
        )
        .is_ok()
    );
    let err = Verifier::friendlycaptcha(VerifierConfig::new("line\nbreak")).unwrap_err();
    assert!(matches!(err, ConfigError::InvalidSetting { .. }), "{err:?}");
    assert!(!err.to_string().contains("line"));
    assert_eq!(FRC.widget_field(), "frc-captcha-response");
}
