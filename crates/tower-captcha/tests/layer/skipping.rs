//! Requests that pass without a CAPTCHA.

use axum::{Router, http::Method, routing::any};
use tower_captcha::{Verdict, Verified};

use crate::support::*;

const FIELD: &str = "cf-turnstile-response";

#[tokio::test]
async fn safe_methods_and_cors_preflights_pass_untouched() {
    let emulator = emulator().await;
    let url = serve(Router::new().route("/", any(echo).layer(turnstile(&emulator)))).await;
    let client = client();
    for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
        let response = client
            .request(method.clone(), &url)
            .header("origin", "https://example.com")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method}");
        assert!(response.headers().get("x-verdict-provider").is_none());
    }
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let response = client.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{method}");
    }
    assert!(emulator.requests().is_empty());
}

#[tokio::test]
async fn the_skipped_methods_and_a_predicate_are_configurable() {
    let emulator = emulator().await;
    let guard = turnstile(&emulator)
        .skip_methods([Method::OPTIONS])
        .skip_if(|parts: &axum::http::request::Parts| parts.headers.contains_key("x-internal-job"));
    let url = serve(Router::new().route("/", any(echo).layer(guard))).await;
    let client = client();
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        400,
        "GET is guarded now"
    );
    assert_eq!(
        client
            .request(Method::OPTIONS, &url)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let job = client
        .post(&url)
        .header("x-internal-job", "1")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), 200);
}

#[tokio::test]
async fn nested_layers_verify_once() {
    let emulator = emulator().await;
    async fn handler(Verified(verdict): Verified<Verdict>) -> String {
        verdict.provider.to_string()
    }
    let app = Router::new()
        .route("/", any(handler).layer(turnstile(&emulator)))
        .layer(turnstile(&emulator));
    let url = serve(app).await;
    let response = client()
        .post(&url)
        .header(FIELD, turnstile_token(&emulator))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        emulator.requests().len(),
        1,
        "the inner layer saw the verdict and skipped"
    );
}

#[tokio::test]
async fn a_stricter_inner_layer_still_applies_its_policy_to_a_verified_request() {
    let emulator = emulator().await;
    let lenient = layer(&emulator, tower_captcha::Provider::Recaptcha)
        .policy(tower_captcha::Policy::new().min_score(0.3).unwrap())
        .unwrap();
    let strict = layer(&emulator, tower_captcha::Provider::Recaptcha)
        .policy(
            tower_captcha::Policy::new()
                .action("checkout")
                .min_score(0.9)
                .unwrap(),
        )
        .unwrap();
    let app = Router::new()
        .route("/checkout", any(echo).layer(strict))
        .route("/comment", any(echo))
        .layer(lenient);
    let url = serve(app).await;
    let cases = [
        ("/comment", "login", 0.4, 200),
        ("/checkout", "login", 0.4, 403),
        ("/checkout", "checkout", 0.5, 403),
        ("/checkout", "checkout", 0.95, 200),
    ];
    for (path, action, score, status) in cases {
        let token = mint(
            &emulator,
            TokenSpec::new(Emulated::Recaptcha)
                .action(action)
                .score(score),
        );
        let response = client()
            .post(format!("{url}{path}"))
            .form(&[("g-recaptcha-response", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path} {action} {score}");
    }
    // Each request was verified with the provider once, by the outer layer.
    assert_eq!(emulator.requests().len(), cases.len());
}
