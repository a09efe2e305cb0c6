//! Friendly Captcha v2: the API key in `X-API-Key`, each error code under its documented
//! status, the page's origin in the answer.

use serde_json::json;
use siteverify_emulator::{Provider, TokenSpec};

use crate::{mint, post_form, post_json, post_json_keyed, start};

const P: Provider = Provider::FriendlyCaptcha;

#[tokio::test]
async fn answers_as_friendly_captcha_documents() {
    let emu = start().await;
    let url = emu.verify_url(P);
    assert!(url.ends_with("/api/v2/captcha/siteverify"), "{url}");
    let key = P.default_secret();
    let token = mint(&emu, TokenSpec::new(P).hostname("example.com"));

    let ok = post_json_keyed(&url, key, &json!({ "response": token })).await;
    assert_eq!(ok.status, 200);
    let body = ok.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["challenge"]["origin"], "https://example.com");
    assert!(
        body["data"]["event_id"]
            .as_str()
            .unwrap()
            .starts_with("ev_")
    );
    assert!(
        body["data"]["challenge"]["timestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(body["data"]["risk_intelligence"], serde_json::Value::Null);

    let code = |answer: &crate::Answer| {
        (
            answer.status,
            answer.json()["error"]["error_code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let again = post_json_keyed(&url, key, &json!({ "response": token })).await;
    assert_eq!(code(&again), (200, "response_duplicate".to_owned()));
    let no_key = post_json(&url, &json!({ "response": token })).await;
    assert_eq!(code(&no_key), (401, "auth_required".to_owned()));
    let bad_key = post_json_keyed(&url, "nope", &json!({ "response": token })).await;
    assert_eq!(code(&bad_key), (401, "auth_invalid".to_owned()));
    let missing = post_json_keyed(&url, key, &json!({ "sitekey": P.default_site_key() })).await;
    assert_eq!(code(&missing), (400, "response_missing".to_owned()));
    let fresh = mint(&emu, TokenSpec::new(P));
    let foreign = post_json_keyed(&url, key, &json!({ "response": fresh, "sitekey": "x" })).await;
    assert_eq!(code(&foreign), (400, "sitekey_invalid".to_owned()));
    let unknown = post_json_keyed(&url, key, &json!({ "response": "never-minted" })).await;
    assert_eq!(code(&unknown), (200, "response_invalid".to_owned()));
    let stale = mint(&emu, TokenSpec::new(P).lifetime_secs(1).age_secs(2));
    let stale = post_json_keyed(&url, key, &json!({ "response": stale })).await;
    assert_eq!(code(&stale), (200, "response_timeout".to_owned()));
    let wrong_type = post_json_keyed(&url, key, &json!({ "response": 5 })).await;
    assert_eq!(code(&wrong_type), (400, "bad_request".to_owned()));
    // A form body works too (the key still in the header); without it, no key at all.
    let form = post_form(&url, &[("response", fresh.as_str())]).await;
    assert_eq!(code(&form), (401, "auth_required".to_owned()));
}

#[tokio::test]
async fn an_empty_hostname_is_an_empty_origin() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P).hostname(""));
    let answer = post_json_keyed(
        &emu.verify_url(P),
        P.default_secret(),
        &json!({ "response": token }),
    )
    .await;
    assert_eq!(answer.json()["data"]["challenge"]["origin"], "");
}
