//! ByeBot: the status is the verdict; site-key binding is ours to enforce.

use siteverify::{Provider, Verifier};

use crate::support::*;

#[tokio::test]
async fn a_valid_token_reports_site_key_time_and_interactivity() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, Provider::ByeBot);
    let token = mint(
        &emulator,
        spec(Provider::ByeBot).interactive(true).age_secs(3),
    );
    let verdict = verify(&verifier, &token).await.unwrap();
    assert_eq!(
        verdict.site_key.as_deref(),
        Some(Emulated::ByeBot.default_site_key())
    );
    assert_eq!(verdict.interactive, Some(true));
    let age = verdict.challenge_ts.unwrap().elapsed().unwrap();
    assert!(age.as_secs() >= 2 && age.as_secs() < 30, "{age:?}");
}

#[tokio::test]
async fn a_400_with_an_empty_body_is_an_invalid_token() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, Provider::ByeBot);
    let token = mint(&emulator, spec(Provider::ByeBot));
    verify(&verifier, &token).await.unwrap();
    let err = verify(&verifier, &token).await.unwrap_err();
    assert_eq!(err.code(), "invalid_token");
    assert_eq!(err.provider_codes(), ["http-400"]);
}

#[tokio::test]
async fn the_site_key_binding_is_checked_against_the_answer() {
    let emulator = emulator().await;
    let secret = Emulated::ByeBot.default_secret();
    emulator.register_site(Emulated::ByeBot, "second-site", secret);
    let bound = Verifier::byebot(
        config(&emulator, Provider::ByeBot).site_key(Emulated::ByeBot.default_site_key()),
    )
    .unwrap();
    assert_eq!(
        code(&bound, &mint(&emulator, spec(Provider::ByeBot))).await,
        "ok"
    );
    let other = mint(&emulator, spec(Provider::ByeBot).site_key("second-site"));
    assert_eq!(code(&bound, &other).await, "sitekey_mismatch");
    // Nothing is sent for the binding: ByeBot has no such field.
    assert!(
        emulator
            .requests()
            .iter()
            .all(|r| r.field("sitekey").is_none())
    );
}
