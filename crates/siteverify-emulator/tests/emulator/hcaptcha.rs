//! hCaptcha endpoint.

use serde_json::json;
use siteverify_emulator::{FaultKind, MintError, Provider, TokenSpec};

use crate::{assert_timestamp, mint, post_form, post_json, start, verify, verify_default};

const P: Provider = Provider::HCaptcha;
const TEST_SECRET: &str = "0x0000000000000000000000000000000000000000";

#[tokio::test]
async fn success_has_the_documented_shape() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P).hostname("example.org"));
    assert!(token.starts_with("P1_"));
    let answer = verify_default(&emu, P, &token).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    let json = answer.json();
    assert_eq!(json["success"], true);
    assert_eq!(json["hostname"], "example.org");
    assert_eq!(json["credit"], false);
    assert_timestamp(json["challenge_ts"].as_str().expect("ts"), 6);
    assert!(json.get("score").is_none() && json.get("score_reason").is_none());
    assert!(json.get("error-codes").is_none());
}

#[tokio::test]
async fn default_hostname_and_enterprise_score() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P).score(0.7));
    let json = verify_default(&emu, P, &token).await.json();
    assert_eq!(json["hostname"], "localhost");
    assert_eq!(json["score"], 0.7);
    assert_eq!(json["score_reason"], json!([]));
}

#[tokio::test]
async fn a_token_is_single_use() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P));
    assert_eq!(
        verify_default(&emu, P, &token).await.json()["success"],
        true
    );
    let again = verify_default(&emu, P, &token).await;
    assert_eq!(again.json()["success"], false);
    assert_eq!(again.codes(), ["already-seen-response"]);
}

#[tokio::test]
async fn an_old_token_is_expired() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P).age_secs(121));
    assert_eq!(
        verify_default(&emu, P, &token).await.codes(),
        ["expired-input-response"]
    );
    let token = mint(&emu, TokenSpec::new(P).age_secs(100));
    assert_eq!(
        verify_default(&emu, P, &token).await.json()["success"],
        true
    );
    let token = mint(&emu, TokenSpec::new(P).age_secs(30).lifetime_secs(20));
    assert_eq!(
        verify_default(&emu, P, &token).await.codes(),
        ["expired-input-response"]
    );
}

#[tokio::test]
async fn secrets_and_missing_inputs() {
    let emu = start().await;
    emu.register_site(P, "other-site", "other-secret");
    let token = mint(&emu, TokenSpec::new(P));
    let url = emu.verify_url(P);
    assert_eq!(
        verify(&emu, P, "nope", &token).await.codes(),
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
        post_form(&url, &[("secret", P.default_secret()), ("response", "")])
            .await
            .codes(),
        ["missing-input-response"]
    );
    assert_eq!(
        verify_default(&emu, P, "P1_unknown").await.codes(),
        ["invalid-input-response"]
    );
    // None of the failures above consumed the token.
    assert_eq!(
        verify_default(&emu, P, &token).await.json()["success"],
        true
    );
}

#[tokio::test]
async fn a_token_of_another_provider_is_invalid() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(Provider::Recaptcha));
    assert_eq!(
        verify_default(&emu, P, &token).await.codes(),
        ["invalid-input-response"]
    );
}

#[tokio::test]
async fn sitekey_binds_the_token() {
    let emu = start().await;
    let secret = P.default_secret();
    emu.register_site(P, "second-site", secret);
    emu.register_site(P, "foreign-site", "foreign-secret");
    let url = emu.verify_url(P);
    let token = mint(&emu, TokenSpec::new(P));
    let call = |sitekey: &'static str, token: String| {
        let url = url.clone();
        async move {
            post_form(
                &url,
                &[
                    ("secret", secret),
                    ("response", &token),
                    ("sitekey", sitekey),
                ],
            )
            .await
        }
    };
    assert_eq!(
        call("foreign-site", token.clone()).await.codes(),
        ["sitekey-secret-mismatch"]
    );
    assert_eq!(
        call("second-site", token.clone()).await.codes(),
        ["invalid-input-response"]
    );
    let ok = call("emulator-hcaptcha-site-key", token.clone()).await;
    assert_eq!(ok.json()["success"], true);
}

#[tokio::test]
async fn remoteip_must_be_an_ip_address() {
    let emu = start().await;
    let url = emu.verify_url(P);
    let token = mint(&emu, TokenSpec::new(P));
    let bad = post_form(
        &url,
        &[
            ("secret", P.default_secret()),
            ("response", &token),
            ("remoteip", "not-an-ip"),
        ],
    )
    .await;
    assert_eq!(bad.codes(), ["invalid-remoteip"]);
    let good = post_form(
        &url,
        &[
            ("secret", P.default_secret()),
            ("response", &token),
            ("remoteip", "2001:db8::1"),
        ],
    )
    .await;
    assert_eq!(good.json()["success"], true);
}

#[tokio::test]
async fn test_keys_behave_as_documented() {
    let emu = start().await;
    let keys = [
        (
            "10000000-ffff-ffff-ffff-000000000001",
            "10000000-aaaa-bbbb-cccc-000000000001",
            None,
        ),
        (
            "20000000-ffff-ffff-ffff-000000000002",
            "20000000-aaaa-bbbb-cccc-000000000002",
            Some(0.1),
        ),
        (
            "30000000-ffff-ffff-ffff-000000000003",
            "30000000-aaaa-bbbb-cccc-000000000003",
            Some(0.95),
        ),
    ];
    for (site_key, token, score) in keys {
        assert_eq!(mint(&emu, TokenSpec::new(P).site_key(site_key)), token);
        for _ in 0..2 {
            let json = verify(&emu, P, TEST_SECRET, token).await.json();
            assert_eq!(json["success"], true, "{token}");
            assert_eq!(json["hostname"], "dummy-key-pass");
            assert_timestamp(json["challenge_ts"].as_str().expect("ts"), 6);
            match score {
                Some(score) => assert_eq!(json["score"], score),
                None => assert!(json.get("score").is_none()),
            }
        }
        assert_eq!(
            verify_default(&emu, P, token).await.codes(),
            ["not-using-dummy-passcode"]
        );
    }
    let real = mint(&emu, TokenSpec::new(P));
    assert_eq!(
        verify(&emu, P, TEST_SECRET, &real).await.codes(),
        ["invalid-input-response"]
    );
    let test_sitekey = post_form(
        &emu.verify_url(P),
        &[
            ("secret", P.default_secret()),
            ("response", &real),
            ("sitekey", "10000000-ffff-ffff-ffff-000000000001"),
        ],
    )
    .await;
    assert_eq!(test_sitekey.codes(), ["not-using-dummy-passcode"]);
    let wrong_site = post_form(
        &emu.verify_url(P),
        &[
            ("secret", TEST_SECRET),
            ("response", "10000000-aaaa-bbbb-cccc-000000000001"),
            ("sitekey", P.default_site_key()),
        ],
    )
    .await;
    assert_eq!(wrong_site.codes(), ["sitekey-secret-mismatch"]);
    // The real token was never redeemed by the failures above.
    assert_eq!(verify_default(&emu, P, &real).await.json()["success"], true);
}

#[tokio::test]
async fn a_fixed_test_token_takes_no_fault() {
    let emu = start().await;
    let spec = TokenSpec::new(P)
        .site_key("10000000-ffff-ffff-ffff-000000000001")
        .fault(FaultKind::InternalError);
    assert!(matches!(emu.mint(spec), Err(MintError::InvalidSpec { .. })));
}

#[tokio::test]
async fn a_json_body_is_a_bad_request() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P));
    let answer = post_json(
        &emu.verify_url(P),
        &json!({ "secret": P.default_secret(), "response": token }),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["success"], false);
    assert_eq!(answer.codes(), ["bad-request"]);
}
