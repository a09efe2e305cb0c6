//! Procaptcha endpoint.

use serde_json::json;
use siteverify_emulator::{Provider, TokenSpec};

use crate::{mint, post_json, post_raw, start, verify, verify_default};

const P: Provider = Provider::Procaptcha;
const PASS_SITE_KEY: &str = "5EARALUe4HXQwKo5KanZSGGKqJV4VTaytpezFwv8ZHbZewmh";
const FAIL_SITE_KEY: &str = "5ETtechmZkn3CUVeJX7Z511oiuiu742aHLm91D5ZZw4fqoAG";

/// A token in the emulator's format: `0x` + hex(site key + ':' + 16 bytes).
fn forge(site_key: &str) -> String {
    let mut bytes = site_key.as_bytes().to_vec();
    bytes.push(b':');
    bytes.extend([7u8; 16]);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("0x{hex}")
}

/// Decodes the site key the token embeds.
fn embedded_site_key(token: &str) -> String {
    let hex = token.strip_prefix("0x").expect("0x prefix");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    String::from_utf8(bytes[..bytes.len() - 17].to_vec()).expect("utf-8")
}

#[tokio::test]
async fn success_shape_and_score() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P));
    assert!(token.starts_with("0x"));
    assert!(
        token[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(embedded_site_key(&token), P.default_site_key());
    let answer = verify_default(&emu, P, &token).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({ "verified": true, "status": "ok" }));

    let scored = mint(&emu, TokenSpec::new(P).score(0.3));
    assert_eq!(
        verify_default(&emu, P, &scored).await.json(),
        json!({ "verified": true, "status": "ok", "score": 0.3 })
    );
}

#[tokio::test]
async fn token_failures_are_http_200_verified_false() {
    let emu = start().await;
    emu.register_site(P, "other-site", "other-secret");
    let token = mint(&emu, TokenSpec::new(P));
    let other = verify(&emu, P, "other-secret", &token).await;
    assert_eq!(other.status, 200);
    assert_eq!(
        other.json(),
        json!({ "verified": false, "status": "site_key_mismatch" })
    );
    assert_eq!(
        verify_default(&emu, P, &token).await.json()["verified"],
        true
    );
    let used = verify_default(&emu, P, &token).await;
    assert_eq!(used.status, 200);
    assert_eq!(
        used.json(),
        json!({ "verified": false, "status": "already_used" })
    );

    let old = mint(&emu, TokenSpec::new(P).age_secs(121));
    assert_eq!(
        verify_default(&emu, P, &old).await.json(),
        json!({ "verified": false, "status": "expired" })
    );
    let forged = forge(P.default_site_key());
    assert_eq!(
        verify_default(&emu, P, &forged).await.json(),
        json!({ "verified": false, "status": "invalid" })
    );
    let garbage = verify_default(&emu, P, "not-a-token").await;
    assert_eq!(
        (garbage.status, garbage.json()["status"].clone()),
        (200, json!("invalid"))
    );
}

#[tokio::test]
async fn request_errors_are_json_errors() {
    let emu = start().await;
    let url = emu.verify_url(P);
    let token = mint(&emu, TokenSpec::new(P));
    let cases = [
        (
            post_json(&url, &json!({ "token": token })).await,
            400,
            "MISSING_SECRET",
        ),
        (
            post_json(&url, &json!({ "secret": P.default_secret() })).await,
            400,
            "MISSING_TOKEN",
        ),
        (
            post_raw(&url, "application/json", b"nope").await,
            400,
            "BAD_REQUEST",
        ),
        (
            post_raw(
                &url,
                "application/x-www-form-urlencoded",
                b"secret=a&token=b",
            )
            .await,
            400,
            "BAD_REQUEST",
        ),
        (
            verify(&emu, P, "unknown-secret", &token).await,
            403,
            "INVALID_SECRET",
        ),
        (
            verify_default(&emu, P, &forge("unregistered-site")).await,
            400,
            "UNKNOWN_SITE_KEY",
        ),
    ];
    for (answer, status, code) in cases {
        assert_eq!(answer.status, status, "{code}");
        let json = answer.json();
        assert_eq!(json["error"]["code"], code);
        assert!(json["error"]["message"].is_string());
    }
    assert_eq!(
        verify_default(&emu, P, &token).await.json()["verified"],
        true
    );
}

#[tokio::test]
async fn old_widget_json_wrapped_tokens_are_accepted() {
    let emu = start().await;
    let url = emu.verify_url(P);
    let text = mint(&emu, TokenSpec::new(P));
    let wrapped = json!({ "token": text, "provider": "x" }).to_string();
    let answer = post_json(
        &url,
        &json!({ "secret": P.default_secret(), "token": wrapped }),
    )
    .await;
    assert_eq!(answer.json()["verified"], true);

    let object = mint(&emu, TokenSpec::new(P));
    let answer = post_json(
        &url,
        &json!({ "secret": P.default_secret(), "token": { "token": object } }),
    )
    .await;
    assert_eq!(answer.json()["verified"], true);
}

#[tokio::test]
async fn test_site_keys_behave_as_documented() {
    let emu = start().await;
    let pass = mint(&emu, TokenSpec::new(P).site_key(PASS_SITE_KEY));
    assert_eq!(embedded_site_key(&pass), PASS_SITE_KEY);
    for token in [pass.clone(), pass, forge(PASS_SITE_KEY)] {
        for secret in ["any-secret", P.default_secret()] {
            let answer = verify(&emu, P, secret, &token).await;
            assert_eq!(answer.status, 200);
            assert_eq!(answer.json()["verified"], true);
        }
    }
    let fail = mint(&emu, TokenSpec::new(P).site_key(FAIL_SITE_KEY));
    assert_eq!(embedded_site_key(&fail), FAIL_SITE_KEY);
    for token in [fail, forge(FAIL_SITE_KEY)] {
        let answer = verify(&emu, P, "any-secret", &token).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["verified"], false);
    }
    // Any non-empty secret, but a secret is still required.
    let no_secret = post_json(
        &emu.verify_url(P),
        &json!({ "token": forge(PASS_SITE_KEY) }),
    )
    .await;
    assert_eq!(no_secret.status, 400);
}
