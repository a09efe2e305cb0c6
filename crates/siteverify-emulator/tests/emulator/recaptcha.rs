//! reCAPTCHA endpoint.

use siteverify_emulator::{Provider, TokenSpec};

use crate::{assert_timestamp, mint, post_form, post_raw, start, verify, verify_default};

const P: Provider = Provider::Recaptcha;
const TEST_SITE_KEY: &str = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI";
const TEST_SECRET: &str = "6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe";

#[tokio::test]
async fn v2_success_shape() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P).hostname("shop.example"));
    assert!(token.starts_with("03A"));
    let answer = verify_default(&emu, P, &token).await;
    assert_eq!(answer.status, 200);
    let json = answer.json();
    assert_eq!(json["success"], true);
    assert_eq!(json["hostname"], "shop.example");
    assert_timestamp(json["challenge_ts"].as_str().expect("ts"), 0);
    for absent in ["score", "action", "error-codes"] {
        assert!(json.get(absent).is_none(), "{absent}");
    }
}

#[tokio::test]
async fn v3_success_carries_score_and_action() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P).score(0.9).action("login"));
    let json = verify_default(&emu, P, &token).await.json();
    assert_eq!(json["success"], true);
    assert_eq!(json["score"], 0.9);
    assert_eq!(json["action"], "login");
}

#[tokio::test]
async fn used_and_expired_tokens_are_timeout_or_duplicate() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P));
    assert_eq!(
        verify_default(&emu, P, &token).await.json()["success"],
        true
    );
    assert_eq!(
        verify_default(&emu, P, &token).await.codes(),
        ["timeout-or-duplicate"]
    );
    let old = mint(&emu, TokenSpec::new(P).age_secs(121));
    assert_eq!(
        verify_default(&emu, P, &old).await.codes(),
        ["timeout-or-duplicate"]
    );
}

#[tokio::test]
async fn wrong_secret_and_missing_inputs() {
    let emu = start().await;
    emu.register_site(P, "other-site", "other-secret");
    let token = mint(&emu, TokenSpec::new(P));
    let url = emu.verify_url(P);
    assert_eq!(
        verify(&emu, P, "wrong", &token).await.codes(),
        ["invalid-input-secret"]
    );
    assert_eq!(
        verify(&emu, P, "other-secret", &token).await.codes(),
        ["invalid-input-response"]
    );
    assert_eq!(
        post_form(&url, &[("response", &token)]).await.codes(),
        ["missing-input-secret"]
    );
    assert_eq!(
        post_form(&url, &[("secret", P.default_secret())])
            .await
            .codes(),
        ["missing-input-response"]
    );
    assert_eq!(
        verify_default(&emu, P, "03Aforged").await.codes(),
        ["invalid-input-response"]
    );
}

#[tokio::test]
async fn the_test_secret_passes_every_token_every_time() {
    let emu = start().await;
    let minted = mint(&emu, TokenSpec::new(P).site_key(TEST_SITE_KEY).score(0.1));
    for token in ["anything", "anything", minted.as_str(), minted.as_str()] {
        let json = verify(&emu, P, TEST_SECRET, token).await.json();
        assert_eq!(json["success"], true);
        assert_eq!(json["hostname"], "testkey.google.com");
        assert!(json.get("score").is_none(), "v2 shape");
        assert_timestamp(json["challenge_ts"].as_str().expect("ts"), 0);
    }
    let empty = post_form(
        &emu.verify_url(P),
        &[("secret", TEST_SECRET), ("response", "")],
    )
    .await;
    assert_eq!(empty.codes(), ["missing-input-response"]);
}

#[tokio::test]
async fn an_unknown_content_type_is_a_bad_request() {
    let emu = start().await;
    let answer = post_raw(&emu.verify_url(P), "text/plain", b"secret=s&response=r").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["success"], false);
    assert_eq!(answer.codes(), ["bad-request"]);
}
