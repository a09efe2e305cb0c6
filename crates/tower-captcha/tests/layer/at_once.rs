//! Decisions taken at once: a token in a header (or the query) that the verifier answers
//! without waiting, decided in the service's `call` with no boxed future. The answers, the
//! bytes the handler gets and the observe mode are those of the other path.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{Router, routing::post};
use siteverify::{Provider, Verdict, Verify, VerifyError, VerifyOptions};
use tower_captcha::{CaptchaLayer, CaptchaOutcome, TokenSources};

use crate::support::*;

/// Passes the token "human", counting how it was asked: at once, or through `verify`.
#[derive(Clone, Default)]
struct AtOnce {
    now: Arc<AtomicUsize>,
    later: Arc<AtomicUsize>,
}

fn answer(token: &str) -> Result<Verdict, VerifyError> {
    match token {
        "human" => Ok(Verdict::new(Provider::ByeBot).with_hostname("mine.example")),
        _ => Err(VerifyError::InvalidToken {
            provider_codes: vec![],
        }),
    }
}

impl Verify for AtOnce {
    async fn verify(&self, token: &str, _: &VerifyOptions) -> Result<Verdict, VerifyError> {
        self.later.fetch_add(1, Ordering::SeqCst);
        answer(token)
    }

    fn verify_now(&self, token: &str, _: &VerifyOptions) -> Option<Result<Verdict, VerifyError>> {
        self.now.fetch_add(1, Ordering::SeqCst);
        Some(answer(token))
    }
}

fn sources() -> TokenSources {
    TokenSources::new()
        .header("x-captcha")
        .unwrap()
        .query_param("captcha")
        .form_field("captcha")
}

fn counts(verifier: &AtOnce) -> (usize, usize) {
    (
        verifier.now.load(Ordering::SeqCst),
        verifier.later.load(Ordering::SeqCst),
    )
}

#[tokio::test]
async fn a_header_or_query_token_is_answered_at_once_and_a_body_token_through_verify() {
    let verifier = AtOnce::default();
    let layer = CaptchaLayer::new(verifier.clone()).sources(sources());
    let url = serve(Router::new().route("/", post(echo).layer(layer))).await;
    let client = client();
    let upload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();

    let response = client
        .post(&url)
        .header("x-captcha", "human")
        .header("content-type", "application/octet-stream")
        .body(upload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-verdict-provider"], "byebot");
    assert_eq!(response.headers()["x-verdict-hostname"], "mine.example");
    assert_eq!(
        response.headers()["x-fingerprint"],
        fingerprint(&upload).as_str()
    );
    assert_eq!(response.bytes().await.unwrap(), upload);
    assert_eq!(counts(&verifier), (1, 0));

    let refused = client
        .post(&url)
        .header("x-captcha", "robot")
        .body(upload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(outcome(refused).await, (403, "invalid_token".into()));
    assert_eq!(counts(&verifier), (2, 0));

    let query = client
        .post(format!("{url}?captcha=human"))
        .send()
        .await
        .unwrap();
    assert_eq!(outcome(query).await, (200, "ok".into()));
    assert_eq!(counts(&verifier), (3, 0));

    // In the body, the token is only found by reading it: that path asks `verify`, and the
    // verifier is not asked at once first.
    let form = client
        .post(&url)
        .form(&[("captcha", "human"), ("email", "a@b.c")])
        .send()
        .await
        .unwrap();
    assert_eq!(outcome(form).await, (200, "ok".into()));
    assert_eq!(counts(&verifier), (3, 1));

    let missing = client.post(&url).send().await.unwrap();
    assert_eq!(outcome(missing).await, (400, "missing_token".into()));
    assert_eq!(counts(&verifier), (3, 1), "no token, no verification");
}

#[tokio::test]
async fn a_refusal_at_once_in_observe_mode_reaches_the_handler() {
    let verifier = AtOnce::default();
    let layer = CaptchaLayer::new(verifier.clone())
        .sources(sources())
        .observe();
    let handler = |outcome: CaptchaOutcome| async move {
        match outcome {
            CaptchaOutcome::Verified(verdict) => format!("passed {}", verdict.provider.name()),
            CaptchaOutcome::Rejected(rejection) => format!("rejected {}", rejection.code()),
            other => format!("{other:?}"),
        }
    };
    let url = serve(Router::new().route("/", post(handler).layer(layer))).await;
    for (token, expected) in [
        ("human", "passed byebot"),
        ("robot", "rejected invalid_token"),
    ] {
        let response = client()
            .post(&url)
            .header("x-captcha", token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{token}");
        assert_eq!(response.text().await.unwrap(), expected);
    }
    assert_eq!(counts(&verifier), (2, 0));
}
