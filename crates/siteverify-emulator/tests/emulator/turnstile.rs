//! Turnstile endpoint.

use serde_json::json;
use siteverify_emulator::{Fault, FaultKind, Provider, TokenSpec};

use crate::{
    assert_timestamp, mint, post_form, post_json, post_raw, start, verify, verify_default,
};

const P: Provider = Provider::Turnstile;
const DUMMY: &str = "XXXX.DUMMY.TOKEN.XXXX";
const PASS_SECRET: &str = "1x0000000000000000000000000000000AA";
const FAIL_SECRET: &str = "2x0000000000000000000000000000000AA";
const SPENT_SECRET: &str = "3x0000000000000000000000000000000AA";

#[tokio::test]
async fn success_shape_over_json() {
    let emu = start().await;
    let token = mint(
        &emu,
        TokenSpec::new(P)
            .hostname("app.example")
            .action("signup")
            .cdata("user-42"),
    );
    assert!(token.starts_with("0.") && token.len() < 2048);
    let answer = verify_default(&emu, P, &token).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    let json = answer.json();
    assert_eq!(json["success"], true);
    assert_eq!(json["hostname"], "app.example");
    assert_eq!(json["action"], "signup");
    assert_eq!(json["cdata"], "user-42");
    assert_eq!(json["error-codes"], json!([]));
    assert_eq!(json["metadata"], json!({}));
    assert_timestamp(json["challenge_ts"].as_str().expect("ts"), 3);
}

#[tokio::test]
async fn form_bodies_work_too_and_action_defaults_to_empty() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P));
    let answer = post_form(
        &emu.verify_url(P),
        &[
            ("secret", P.default_secret()),
            ("response", &token),
            ("remoteip", "whatever"),
        ],
    )
    .await;
    let json = answer.json();
    assert_eq!(json["success"], true);
    assert_eq!(json["action"], "");
    assert_eq!(json["cdata"], "");
}

#[tokio::test]
async fn failures_carry_codes_and_messages() {
    let emu = start().await;
    let token = mint(&emu, TokenSpec::new(P));
    assert_eq!(
        verify_default(&emu, P, &token).await.json()["success"],
        true
    );
    let again = verify_default(&emu, P, &token).await.json();
    assert_eq!(
        again,
        json!({ "success": false, "error-codes": ["timeout-or-duplicate"], "messages": [] })
    );
    let old = mint(&emu, TokenSpec::new(P).age_secs(301));
    assert_eq!(
        verify_default(&emu, P, &old).await.codes(),
        ["timeout-or-duplicate"]
    );
}

#[tokio::test]
async fn secrets_missing_inputs_and_long_tokens() {
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
        post_json(&url, &json!({ "response": token })).await.codes(),
        ["missing-input-secret"]
    );
    assert_eq!(
        post_json(
            &url,
            &json!({ "secret": P.default_secret(), "response": "" })
        )
        .await
        .codes(),
        ["missing-input-response"]
    );
    let long = format!("0.{}", "a".repeat(2047));
    assert_eq!(
        verify_default(&emu, P, &long).await.codes(),
        ["invalid-input-response"]
    );
    assert_eq!(
        verify_default(&emu, P, &token).await.json()["success"],
        true
    );
}

#[tokio::test]
async fn test_secrets_behave_as_documented() {
    let emu = start().await;
    for site_key in [
        "1x00000000000000000000AA",
        "2x00000000000000000000AB",
        "3x00000000000000000000FF",
    ] {
        assert_eq!(mint(&emu, TokenSpec::new(P).site_key(site_key)), DUMMY);
    }
    for _ in 0..2 {
        let json = verify(&emu, P, PASS_SECRET, DUMMY).await.json();
        assert_eq!(json["success"], true);
        assert_eq!(json["hostname"], "example.com");
        assert_eq!(json["action"], "");
        assert_eq!(json["cdata"], "");
        assert_timestamp(json["challenge_ts"].as_str().expect("ts"), 3);
    }
    let real = mint(&emu, TokenSpec::new(P));
    assert_eq!(
        verify(&emu, P, PASS_SECRET, &real).await.codes(),
        ["invalid-input-response"]
    );
    for token in [DUMMY, real.as_str()] {
        assert_eq!(
            verify(&emu, P, FAIL_SECRET, token).await.codes(),
            ["invalid-input-response"]
        );
        assert_eq!(
            verify(&emu, P, SPENT_SECRET, token).await.codes(),
            ["timeout-or-duplicate"]
        );
    }
    assert_eq!(
        verify_default(&emu, P, DUMMY).await.codes(),
        ["invalid-input-response"]
    );
    // Test secrets never touched the real token.
    assert_eq!(verify_default(&emu, P, &real).await.json()["success"], true);
}

async fn verify_with_key(
    emu: &siteverify_emulator::Emulator,
    token: &str,
    key: &str,
) -> crate::Answer {
    post_json(
        &emu.verify_url(P),
        &json!({ "secret": P.default_secret(), "response": token, "idempotency_key": key }),
    )
    .await
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer() {
    let emu = start().await;
    let key = uuid::Uuid::new_v4().to_string();
    let token = mint(&emu, TokenSpec::new(P).action("pay"));
    let first = verify_with_key(&emu, &token, &key).await;
    assert_eq!(first.json()["success"], true);
    let replay = verify_with_key(&emu, &token, &key).await;
    assert_eq!(replay.status, first.status);
    assert_eq!(replay.body, first.body, "byte-identical replay");
    // Without the key the token is spent.
    assert_eq!(
        verify_default(&emu, P, &token).await.codes(),
        ["timeout-or-duplicate"]
    );

    let other = mint(&emu, TokenSpec::new(P));
    assert_eq!(
        verify_with_key(&emu, &other, &key).await.codes(),
        ["invalid-idempotency-key"]
    );
    assert_eq!(
        verify_with_key(&emu, &other, "not-a-uuid").await.codes(),
        ["invalid-idempotency-key"]
    );
    assert_eq!(
        verify_default(&emu, P, &other).await.json()["success"],
        true
    );
}

#[tokio::test]
async fn idempotency_makes_a_retry_after_a_lost_answer_safe() {
    let emu = start().await;
    let key = uuid::Uuid::new_v4().to_string();
    let token = mint(
        &emu,
        TokenSpec::new(P)
            .hostname("retry.example")
            .fault(Fault::once(FaultKind::Status { code: 503 })),
    );
    let lost = verify_with_key(&emu, &token, &key).await;
    assert_eq!(lost.status, 503);
    let retry = verify_with_key(&emu, &token, &key).await;
    assert_eq!(retry.status, 200);
    let json = retry.json();
    assert_eq!(json["success"], true);
    assert_eq!(json["hostname"], "retry.example");
    // A retry without the key fails: the 503 call did consume the token.
    assert_eq!(
        verify_default(&emu, P, &token).await.codes(),
        ["timeout-or-duplicate"]
    );
}

#[tokio::test]
async fn bad_bodies_are_bad_requests() {
    let emu = start().await;
    let url = emu.verify_url(P);
    for (content_type, body) in [
        ("text/plain", &b"secret=a&response=b"[..]),
        ("application/json", &b"{\"secret\":"[..]),
        ("application/json", &b"[\"secret\"]"[..]),
        (
            "application/json",
            &b"{\"secret\":1,\"response\":\"x\"}"[..],
        ),
    ] {
        let answer = post_raw(&url, content_type, body).await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.json(),
            json!({ "success": false, "error-codes": ["bad-request"], "messages": [] }),
            "{content_type} {body:?}"
        );
    }
}
