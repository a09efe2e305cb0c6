//! Every place a token can be found, and which one wins.

use axum::{Router, routing::post};
use reqwest::multipart::{Form, Part};
use tower_captcha::TokenSources;

use crate::support::*;

const FIELD: &str = "cf-turnstile-response";

async fn app(emulator: &Emulator) -> String {
    serve(Router::new().route("/", post(echo).layer(turnstile(emulator)))).await
}

#[tokio::test]
async fn the_widget_field_is_found_in_a_header_a_form_multipart_and_json() {
    let emulator = emulator().await;
    let url = app(&emulator).await;
    let client = client();

    let header = client
        .post(&url)
        .header(FIELD, turnstile_token(&emulator))
        .body("payload");
    let form = client
        .post(&url)
        .form(&[("email", "a@b.c"), (FIELD, &turnstile_token(&emulator))]);
    let multipart = client.post(&url).multipart(
        Form::new()
            .text("email", "a@b.c")
            .text(FIELD, turnstile_token(&emulator))
            .part("file", Part::bytes(vec![1u8; 1000]).file_name("a.bin")),
    );
    let json = client
        .post(&url)
        .json(&serde_json::json!({ "email": "a@b.c", FIELD: turnstile_token(&emulator) }));
    for (name, request) in [
        ("header", header),
        ("form", form),
        ("multipart", multipart),
        ("json", json),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(
            response.headers()["x-verdict-provider"],
            "turnstile",
            "{name}"
        );
    }
    assert_eq!(emulator.requests().len(), 4);
}

#[tokio::test]
async fn configured_sources_replace_the_defaults() {
    let emulator = emulator().await;
    let sources = TokenSources::new()
        .header("x-captcha")
        .unwrap()
        .json_pointer("/captcha/token")
        .unwrap()
        .query_param("captcha")
        .form_field("token");
    let url =
        serve(Router::new().route("/", post(echo).layer(turnstile(&emulator).sources(sources))))
            .await;
    let client = client();

    let cases = [
        client
            .post(&url)
            .header("x-captcha", turnstile_token(&emulator)),
        client
            .post(&url)
            .json(&serde_json::json!({ "captcha": { "token": turnstile_token(&emulator) } })),
        client.post(format!("{url}/?captcha={}", turnstile_token(&emulator))),
        client
            .post(&url)
            .form(&[("token", turnstile_token(&emulator))]),
    ];
    for (i, request) in cases.into_iter().enumerate() {
        assert_eq!(
            outcome(request.send().await.unwrap()).await,
            (200, "ok".into()),
            "case {i}"
        );
    }
    // The default field name is no longer looked at.
    let response = client
        .post(&url)
        .header(FIELD, turnstile_token(&emulator))
        .send()
        .await
        .unwrap();
    assert_eq!(outcome(response).await, (400, "missing_token".into()));
}

#[tokio::test]
async fn query_parameters_are_off_by_default() {
    let emulator = emulator().await;
    let url = app(&emulator).await;
    let response = client()
        .post(format!("{url}/?{FIELD}={}", turnstile_token(&emulator)))
        .send()
        .await
        .unwrap();
    assert_eq!(outcome(response).await, (400, "missing_token".into()));
}

#[tokio::test]
async fn a_header_token_wins_and_the_body_is_not_read() {
    let emulator = emulator().await;
    let url = app(&emulator).await;
    let header_token = turnstile_token(&emulator);
    // The body is not even valid JSON: had the layer read it, this would be malformed_body.
    let body = "{ not json at all";
    let response = client()
        .post(&url)
        .header(FIELD, &header_token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-fingerprint"],
        fingerprint(body.as_bytes())
    );
    assert_eq!(
        emulator.requests()[0].field("response"),
        Some(header_token.as_str())
    );
}

#[tokio::test]
async fn a_field_given_twice_uses_its_first_value_everywhere() {
    let emulator = emulator().await;
    let url = app(&emulator).await;
    let client = client();
    for kind in ["form", "json", "multipart", "header"] {
        emulator.clear_requests();
        let (first, second) = (turnstile_token(&emulator), turnstile_token(&emulator));
        let request = match kind {
            "form" => client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("{FIELD}={first}&{FIELD}={second}")),
            "json" => client
                .post(&url)
                .header("content-type", "application/json")
                .body(format!(r#"{{"{FIELD}":"{first}","{FIELD}":"{second}"}}"#)),
            "multipart" => client.post(&url).multipart(
                Form::new()
                    .text(FIELD, first.clone())
                    .text(FIELD, second.clone()),
            ),
            _ => client
                .post(&url)
                .header(FIELD, &first)
                .header(FIELD, &second),
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{kind}");
        assert_eq!(
            emulator.requests()[0].field("response"),
            Some(first.as_str()),
            "{kind}"
        );
    }
}
