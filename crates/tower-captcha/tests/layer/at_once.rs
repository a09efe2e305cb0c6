//! Decisions taken at once: a token in a header (or the query) that the verifier answers
//! without waiting, decided in the service's `call` with no boxed future. The answers, the
//! bytes the handler gets and the observe mode are those of the other path.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{Router, routing::post};
use siteverify::{Outage, Provider, Verdict, Verify, VerifyError, VerifyOptions};
use tower_captcha::{CaptchaLayer, CaptchaOutcome, Member, Policy, ProviderSet, TokenSources};

use crate::support::*;

/// Passes the token "human", counting how it was asked: at once, or through `verify`.
#[derive(Clone, Default)]
struct AtOnce {
    now: Arc<AtomicUsize>,
    later: Arc<AtomicUsize>,
}

/// "human" passes (for the action `signup`), "down" finds the provider down, anything else
/// is refused.
fn answer(token: &str) -> Result<Verdict, VerifyError> {
    match token {
        "human" => {
            let mut verdict = Verdict::new(Provider::Turnstile).with_hostname("mine.example");
            verdict.action = Some("signup".to_owned());
            Ok(verdict)
        }
        "down" => Err(VerifyError::ProviderUnavailable(Outage::Connect)),
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

    fn answers_at_once(&self) -> bool {
        true
    }

    fn provider(&self) -> Option<Provider> {
        Some(Provider::Turnstile)
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
    assert_eq!(response.headers()["x-verdict-provider"], "turnstile");
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
        ("human", "passed turnstile"),
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

#[tokio::test]
async fn a_header_token_outranks_one_in_the_body_on_this_path_too() {
    let verifier = AtOnce::default();
    let layer = CaptchaLayer::new(verifier.clone()).sources(sources());
    let url = serve(Router::new().route("/", post(echo).layer(layer))).await;
    for (header, form, expected) in [
        ("robot", "human", (403, "invalid_token")),
        ("human", "robot", (200, "ok")),
    ] {
        let response = client()
            .post(&url)
            .header("x-captcha", header)
            .form(&[("captcha", form)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            outcome(response).await,
            (expected.0, expected.1.to_owned()),
            "header {header}, form {form}"
        );
    }
    assert_eq!(counts(&verifier), (2, 0), "the body was never needed");
}

#[tokio::test]
async fn an_outer_layers_verdict_is_rechecked_at_once_by_the_inner_one() {
    let verifier = AtOnce::default();
    let layer = || CaptchaLayer::new(verifier.clone()).sources(sources());
    let strict = layer().policy(Policy::new().action("checkout")).unwrap();
    let url = serve(
        Router::new()
            .route("/signup", post(echo).layer(layer()))
            .route("/checkout", post(echo).layer(strict))
            .layer(layer()),
    )
    .await;
    let send = |path: &str| {
        client()
            .post(format!("{url}{path}"))
            .header("x-captcha", "human")
            .send()
    };
    assert_eq!(
        outcome(send("/signup").await.unwrap()).await,
        (200, "ok".into())
    );
    assert_eq!(
        counts(&verifier),
        (1, 0),
        "the inner layer verified nothing"
    );
    assert_eq!(
        outcome(send("/checkout").await.unwrap()).await,
        (403, "action_mismatch".into())
    );
    assert_eq!(counts(&verifier), (2, 0));
}

#[tokio::test]
async fn an_outage_answered_at_once_fails_open_only_when_told_to() {
    for (fail_open, expected) in [(false, (503, "provider_unavailable")), (true, (200, "ok"))] {
        let verifier = AtOnce::default();
        let layer = CaptchaLayer::new(verifier.clone())
            .sources(sources())
            .fail_open(fail_open);
        let url = serve(Router::new().route("/", post(echo).layer(layer))).await;
        let response = client()
            .post(&url)
            .header("x-captcha", "down")
            .send()
            .await
            .unwrap();
        if fail_open {
            assert_eq!(response.headers()["x-verdict-provider"], "turnstile");
        }
        assert_eq!(
            outcome(response).await,
            (expected.0, expected.1.to_owned()),
            "fail_open({fail_open})"
        );
        assert_eq!(counts(&verifier), (1, 0));
    }
}

#[cfg(feature = "altcha")]
#[tokio::test]
async fn a_member_of_a_set_that_answers_at_once_is_asked_so() {
    let verifier = AtOnce::default();
    let altcha = siteverify::altcha::AltchaVerifier::new(siteverify::altcha::AltchaConfig::new(
        "set-at-once-hmac-key-0123456789abcdef",
    ))
    .unwrap();
    let set = ProviderSet::failover([
        Member::new(verifier.clone())
            .sources(sources())
            .site_key("at-once-site-key"),
        Member::new(altcha.clone()).challenge_url("/altcha/challenge"),
    ])
    .unwrap();
    let url = serve(Router::new().route("/", post(echo).layer(CaptchaLayer::set(set)))).await;
    let header = |name: &'static str, value: String| client().post(&url).header(name, value).send();
    assert_eq!(
        outcome(header("x-captcha", "human".into()).await.unwrap()).await,
        (200, "ok".into())
    );
    assert_eq!(
        outcome(header("x-captcha", "robot".into()).await.unwrap()).await,
        (403, "invalid_token".into())
    );
    assert_eq!(counts(&verifier), (2, 0));
    // The other member's token, at once too (its memory store answers so), spent once.
    let payload = siteverify::altcha::solve(&altcha.challenge()).unwrap();
    let once = outcome(header("altcha", payload.clone()).await.unwrap()).await;
    let twice = outcome(header("altcha", payload).await.unwrap()).await;
    assert_eq!(
        (once, twice),
        ((200, "ok".into()), (403, "expired_or_duplicate".into()))
    );
    // With no token, the set's own answer; in the body, through `verify`.
    assert_eq!(
        outcome(client().post(&url).send().await.unwrap()).await,
        (400, "missing_token".into())
    );
    assert_eq!(counts(&verifier), (2, 0));
}
