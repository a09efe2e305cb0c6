//! ByeBot endpoint.

use serde_json::json;
use siteverify_emulator::{Provider, TokenSpec};

use crate::{mint, now_unix, post_form, post_json, start, verify, verify_default};

const P: Provider = Provider::ByeBot;

#[tokio::test]
async fn success_shape() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P).interactive(true).age_secs(60));
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let answer = verify_default(&emu, P, &token).await;
    assert_eq!(answer.status, 200);
    let json = answer.json();
    assert_eq!(json["success"], true);
    assert_eq!(json["sitekey"], P.default_site_key());
    assert_eq!(json["interactive_solved"], true);
    assert!(json["solve_time_ms"].is_u64());
    let challenged_at = json["challenged_at"].as_u64().expect("unix seconds");
    assert!(
        now_unix().abs_diff(challenged_at + 60) <= 2,
        "back-dated by age_secs"
    );

    let plain = mint(&emu, TokenSpec::new(P));
    assert_eq!(
        verify_default(&emu, P, &plain).await.json()["interactive_solved"],
        false
    );
}

#[tokio::test]
async fn invalid_used_and_expired_tokens_are_400_without_body() {
    let emu = start().await;
    emu.register_site(P, "other-site", "other-key");
    let token = mint(&emu, TokenSpec::new(P));
    let old = mint(&emu, TokenSpec::new(P).age_secs(301));
    let wrong_site = verify(&emu, P, "other-key", &token).await;
    assert_eq!((wrong_site.status, wrong_site.body.len()), (400, 0));
    assert_eq!(verify_default(&emu, P, &token).await.status, 200);
    for token in [token.as_str(), old.as_str(), "unknown"] {
        let answer = verify_default(&emu, P, token).await;
        assert_eq!(answer.status, 400);
        assert!(answer.body.is_empty());
    }
}

#[tokio::test]
async fn api_key_and_request_errors() {
    let emu = start().await;
    let url = emu.verify_url(P);
    let token = mint(&emu, TokenSpec::new(P));
    let cases = [
        (post_json(&url, &json!({ "token": token })).await, 401),
        (verify(&emu, P, "unknown-key", &token).await, 401),
        (
            post_json(&url, &json!({ "api_key": P.default_secret() })).await,
            400,
        ),
        (
            post_form(&url, &[("api_key", P.default_secret()), ("token", &token)]).await,
            400,
        ),
    ];
    for (answer, status) in cases {
        assert_eq!(answer.status, status);
        assert!(answer.body.is_empty());
    }
    assert_eq!(verify_default(&emu, P, &token).await.status, 200);
}
