//! What handlers and clients see: the extractor, observe mode, failure responses, tracing.

use axum::{
    Router,
    http::StatusCode,
    middleware::map_response,
    response::{Html, IntoResponse, Response},
    routing::post,
};
use tower_captcha::{CaptchaOutcome, Rejection, Verdict, Verified};

use crate::support::*;

const FIELD: &str = "cf-turnstile-response";

#[tokio::test]
async fn the_verdict_reaches_the_handler() {
    let emulator = emulator().await;
    let url = serve(Router::new().route("/", post(verdict_json).layer(turnstile(&emulator)))).await;
    let token = mint(
        &emulator,
        TokenSpec::new(Emulated::Turnstile)
            .hostname("shop.example")
            .action("buy"),
    );
    let response = client()
        .post(&url)
        .header(FIELD, token)
        .send()
        .await
        .unwrap();
    let verdict: serde_json::Value = response.json().await.unwrap();
    assert_eq!(verdict["hostname"], "shop.example");
    assert_eq!(verdict["action"], "buy");
}

#[tokio::test]
async fn without_the_layer_the_extractor_says_the_layer_is_missing() {
    async fn optional(verdict: Option<Verified<Verdict>>) -> String {
        format!("present={}", verdict.is_some())
    }
    let url = serve(
        Router::new()
            .route("/required", post(verdict_json))
            .route("/optional", post(optional)),
    )
    .await;
    let response = client()
        .post(format!("{url}/required"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("not behind a CaptchaLayer")
    );
    let response = client()
        .post(format!("{url}/optional"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "present=false");
}

#[tokio::test]
async fn observe_mode_lets_the_handler_decide() {
    async fn decide(outcome: CaptchaOutcome, verdict: Option<Verified<Verdict>>) -> Response {
        match outcome {
            CaptchaOutcome::Verified(v) => {
                assert_eq!(Some(&v), verdict.as_ref().map(|Verified(v)| v));
                "welcome".into_response()
            }
            CaptchaOutcome::Rejected(r) => {
                assert!(verdict.is_none());
                (
                    StatusCode::ACCEPTED,
                    format!("second factor needed: {}", r.code()),
                )
                    .into_response()
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
    let emulator = emulator().await;
    let url =
        serve(Router::new().route("/", post(decide).layer(turnstile(&emulator).observe()))).await;
    let ok = client()
        .post(&url)
        .header(FIELD, turnstile_token(&emulator))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.text().await.unwrap(), "welcome");
    let missing = client().post(&url).send().await.unwrap();
    assert_eq!(missing.status(), 202);
    assert_eq!(
        missing.text().await.unwrap(),
        "second factor needed: missing_token"
    );
    let bad = client()
        .post(&url)
        .header(FIELD, "0.forged")
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.text().await.unwrap(),
        "second factor needed: invalid_token"
    );
}

#[tokio::test]
async fn a_custom_failure_handler_renders_html_and_the_rejection_rides_along() {
    let emulator = emulator().await;
    let guard = turnstile(&emulator).on_failure(|rejection: &Rejection| {
        let page = format!(
            "<p>Please try again ({})</p><a href=\"/\">back</a>",
            rejection.code()
        );
        (StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response()
    });
    // An outer middleware that can only see the rejection through the response extensions.
    let expose = map_response(|mut response: Response| async move {
        if let Some(rejection) = response.extensions().get::<Rejection>().cloned() {
            response
                .headers_mut()
                .insert("x-rejection", rejection.code().parse().unwrap());
        }
        response
    });
    let app = Router::new()
        .route("/", post(echo).layer(guard))
        .layer(expose);
    let url = serve(app).await;
    let response = client()
        .post(&url)
        .header(FIELD, "0.forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(response.headers()["x-rejection"], "invalid_token");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Please try again (invalid_token)")
    );
}

#[tokio::test]
async fn the_default_failure_body_is_the_contract_and_can_hide_the_reason() {
    let emulator = emulator().await;
    let app = Router::new()
        .route("/open", post(echo).layer(turnstile(&emulator)))
        .route(
            "/quiet",
            post(echo).layer(turnstile(&emulator).hide_reason()),
        );
    let url = serve(app).await;
    let open = client().post(format!("{url}/open")).send().await.unwrap();
    assert_eq!(open.status(), 400);
    assert_eq!(open.headers()["content-type"], "application/json");
    assert_eq!(
        open.text().await.unwrap(),
        r#"{"error":"captcha_failed","reason":"missing_token"}"#
    );
    let quiet = client().post(format!("{url}/quiet")).send().await.unwrap();
    assert_eq!(quiet.status(), 400);
    assert_eq!(
        quiet.text().await.unwrap(),
        r#"{"error":"captcha_failed","reason":"failed"}"#
    );
}

#[tokio::test]
async fn the_score_never_reaches_the_failure_body() {
    let emulator = emulator().await;
    let guard = layer(&emulator, tower_captcha::Provider::Recaptcha)
        .policy(tower_captcha::Policy::new().min_score(0.9).unwrap())
        .unwrap();
    let url = serve(Router::new().route("/", post(echo).layer(guard))).await;
    let token = mint(&emulator, TokenSpec::new(Emulated::Recaptcha).score(0.123));
    let response = client()
        .post(&url)
        .form(&[("g-recaptcha-response", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("score_below_threshold") && !text.contains("0.123"),
        "{text}"
    );
}

#[tokio::test]
async fn observe_mode_sees_one_value_per_cause_whoever_found_it() {
    // A `match` on the rejection must see a missing or malformed token in one arm, whether
    // extraction found it (no source held one, a JSON number) or the verifier's pre-check
    // did (a blank header, a token over the provider's length cap).
    async fn arm(outcome: CaptchaOutcome) -> String {
        match outcome {
            CaptchaOutcome::Rejected(Rejection::MissingToken) => "missing".into(),
            CaptchaOutcome::Rejected(Rejection::MalformedToken(_)) => "malformed".into(),
            CaptchaOutcome::Rejected(other) => format!("other: {other:?}"),
            _ => "verified".into(),
        }
    }
    let emulator = emulator().await;
    let url =
        serve(Router::new().route("/", post(arm).layer(turnstile(&emulator).observe()))).await;
    let send = |request: reqwest::RequestBuilder| async move {
        request.send().await.unwrap().text().await.unwrap()
    };
    let c = client();
    assert_eq!(send(c.post(&url)).await, "missing", "no source held one");
    assert_eq!(
        send(c.post(&url).header(FIELD, "   ")).await,
        "missing",
        "blank, found by the pre-check"
    );
    assert_eq!(
        send(c.post(&url).json(&serde_json::json!({ FIELD: 5 }))).await,
        "malformed",
        "a JSON number, found by extraction"
    );
    assert_eq!(
        send(
            c.post(&url)
                .header(FIELD, "0.".to_owned() + &"a".repeat(4096))
        )
        .await,
        "malformed",
        "over Turnstile's cap, found by the pre-check"
    );
    assert!(emulator.requests().is_empty(), "none of them was sent");
}
