//! ALTCHA through the layer: solutions verified locally, spent once, the challenge route's
//! JSON solvable as the widget solves it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::multipart::Form;
use serde_json::{Value, json};
use siteverify::altcha::{
    AltchaConfig, AltchaVerifier, ChallengeId, ChallengeKind, MemoryStore, ReplayStore, StoreError,
    StoreFuture, V2Algorithm,
};
use tower_captcha::{CaptchaLayer, Policy, altcha::challenge_route};

use crate::support::*;

const KEY: &str = "layer-test-hmac-key-0123456789abcdef";
const FIELD: &str = "altcha";

fn config() -> AltchaConfig {
    AltchaConfig::new(KEY).policy(Policy::new().action("signup"))
}

/// `/signup` guarded by `guard` (answering with the verdict as JSON), and its challenge
/// route, signed for `signup`.
async fn app(guard: CaptchaLayer<AltchaVerifier>) -> String {
    let verifier = guard.verifier().clone();
    serve(
        Router::new()
            .route("/signup", post(verdict_json).layer(guard))
            .route(
                "/altcha/challenge",
                challenge_route(verifier, Some("signup")),
            ),
    )
    .await
}

/// The status and failure code of `altcha` posted in a form to `url`.
async fn form_outcome(url: &str, altcha: &str) -> (u16, String) {
    outcome(
        client()
            .post(url)
            .form(&[(FIELD, altcha)])
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn solved(verifier: &AltchaVerifier, action: &str) -> String {
    siteverify::altcha::solve(&verifier.challenge_for(Some(action))).expect("solvable")
}

/// The classic proof of work on the JSON the challenge route served, as the widget does it:
/// a solver of our own rather than the crate's, so the wire format is what is tested.
fn solve_json(challenge: &Value) -> String {
    use sha2::{Digest, Sha256};
    let salt = challenge["salt"].as_str().unwrap();
    let target = challenge["challenge"].as_str().unwrap();
    let number = (0..=challenge["maxnumber"].as_u64().unwrap())
        .find(|n| {
            let hash = Sha256::digest(format!("{salt}{n}"));
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>() == target
        })
        .expect("the number is in range");
    let payload = json!({
        "algorithm": challenge["algorithm"], "challenge": target, "number": number,
        "salt": salt, "signature": challenge["signature"], "took": 42,
    });
    STANDARD.encode(payload.to_string())
}

/// Both protocols, cheap enough to solve many times in a debug build.
fn kinds() -> [(&'static str, ChallengeKind); 2] {
    [
        ("classic", ChallengeKind::Classic { max_number: 2_000 }),
        (
            "v2",
            ChallengeKind::V2 {
                algorithm: V2Algorithm::Sha256,
                cost: 1,
                prefix_digits: 2,
            },
        ),
    ]
}

#[tokio::test]
async fn a_solution_is_found_in_a_header_a_form_multipart_and_json_and_its_verdict_passed_on() {
    for (kind_name, kind) in kinds() {
        every_place_passes(kind_name, config().kind(kind)).await;
    }
}

async fn every_place_passes(kind: &str, config: AltchaConfig) {
    let guard = CaptchaLayer::altcha(config).unwrap();
    let verifier = guard.verifier().clone();
    let url = format!("{}/signup", app(guard).await);
    let client = client();
    let requests = [
        (
            "header",
            client.post(&url).header(FIELD, solved(&verifier, "signup")),
        ),
        (
            "form",
            client
                .post(&url)
                .form(&[("email", "a@b.c"), (FIELD, &solved(&verifier, "signup"))]),
        ),
        (
            "multipart",
            client.post(&url).multipart(
                Form::new()
                    .text("email", "a@b.c")
                    .text(FIELD, solved(&verifier, "signup")),
            ),
        ),
        (
            "json",
            client
                .post(&url)
                .json(&json!({ "email": "a@b.c", FIELD: solved(&verifier, "signup") })),
        ),
    ];
    for (place, request) in requests {
        let name = format!("{kind} in a {place}");
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let verdict: Value = response.json().await.unwrap();
        assert_eq!(verdict["provider"], "altcha", "{name}: {verdict}");
        assert_eq!(verdict["action"], "signup", "{name}: {verdict}");
        assert_eq!(
            verdict["solve_time_ms"].as_f64(),
            Some(1.0),
            "{name}: {verdict}"
        );
        // The signed `issued` time, within the last minute.
        let issued = verdict["challenge_ts"].as_str().expect("a challenge time");
        let issued =
            time::OffsetDateTime::parse(issued, &time::format_description::well_known::Rfc3339)
                .unwrap();
        let age = time::OffsetDateTime::now_utc() - issued;
        assert!(age.whole_seconds().abs() < 60, "{name}: {issued}");
    }
}

#[tokio::test]
async fn a_solution_verifies_once() {
    let guard = CaptchaLayer::altcha(config()).unwrap();
    let altcha = solved(guard.verifier(), "signup");
    let url = format!("{}/signup", app(guard).await);
    let send = || client().post(&url).form(&[(FIELD, altcha.as_str())]).send();
    assert_eq!(outcome(send().await.unwrap()).await, (200, "ok".into()));
    assert_eq!(
        outcome(send().await.unwrap()).await,
        (403, "expired_or_duplicate".into())
    );
}

#[tokio::test]
async fn forged_unsolved_and_garbage_payloads_are_refused_and_burn_nothing() {
    let guard = CaptchaLayer::altcha(config()).unwrap();
    let good = solved(guard.verifier(), "signup");
    let mut payload: Value = serde_json::from_slice(&STANDARD.decode(&good).unwrap()).unwrap();
    let url = format!("{}/signup", app(guard).await);
    let send = |altcha: String| {
        let url = url.clone();
        async move {
            outcome(
                client()
                    .post(&url)
                    .form(&[(FIELD, altcha)])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };

    // The right challenge with a wrong number: not solved.
    let number = payload["number"].as_u64().unwrap();
    payload["number"] = json!(number + 1);
    let unsolved = STANDARD.encode(payload.to_string());
    assert_eq!(send(unsolved).await, (403, "invalid_token".into()));
    // A signature of our own making.
    payload["number"] = json!(number);
    payload["signature"] = json!("00".repeat(32));
    let forged = STANDARD.encode(payload.to_string());
    assert_eq!(send(forged).await, (403, "invalid_token".into()));
    for garbage in [
        "not base64!",
        &STANDARD.encode("not json"),
        &STANDARD.encode("[1,2]"),
    ] {
        assert_eq!(
            send(garbage.to_owned()).await,
            (400, "malformed_token".into()),
            "{garbage}"
        );
    }
    // None of them spent the real user's challenge.
    assert_eq!(send(good).await, (200, "ok".into()));
}

#[tokio::test]
async fn a_challenge_for_another_action_is_refused() {
    for (name, kind) in kinds() {
        let guard = CaptchaLayer::altcha(config().kind(kind)).unwrap();
        let checkout = solved(guard.verifier(), "checkout");
        let unsigned = siteverify::altcha::solve(&guard.verifier().challenge_for(None)).unwrap();
        let url = format!("{}/signup", app(guard).await);
        for (what, altcha) in [("checkout", checkout), ("no action", unsigned)] {
            assert_eq!(
                form_outcome(&url, &altcha).await,
                (403, "action_mismatch".into()),
                "{name}, {what}"
            );
        }
    }
}

/// A replay store that cannot be reached, as a Redis that is down.
struct DownStore(Arc<AtomicUsize>);

impl ReplayStore for DownStore {
    fn spend<'a>(&'a self, _id: &'a ChallengeId, _ttl: Duration) -> StoreFuture<'a> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(StoreError::Unavailable("connection refused".into())) })
    }
}

#[tokio::test]
async fn a_store_that_fails_refuses_with_503_even_when_failing_open() {
    for fail_open in [false, true] {
        let calls = Arc::new(AtomicUsize::new(0));
        let guard = CaptchaLayer::altcha(config().store(DownStore(calls.clone())))
            .unwrap()
            .fail_open(fail_open);
        let altcha = solved(guard.verifier(), "signup");
        let url = format!("{}/signup", app(guard).await);
        assert_eq!(
            form_outcome(&url, &altcha).await,
            (503, "provider_unavailable".into()),
            "fail_open({fail_open})"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the store was asked");
    }
}

#[tokio::test]
async fn a_thousand_concurrent_submissions_of_one_payload_pass_once() {
    let store = Arc::new(MemoryStore::default());
    let guard = CaptchaLayer::altcha(config().store(store.clone())).unwrap();
    let altcha = solved(guard.verifier(), "signup");
    let url = format!("{}/signup", app(guard).await);
    // One pooled client, at most 64 connections: the submissions race in the layer, not in
    // the kernel's accept queue.
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (client, url, altcha, limit) =
                (client.clone(), url.clone(), altcha.clone(), limit.clone());
            tokio::spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                let response = client
                    .post(&url)
                    .form(&[(FIELD, altcha)])
                    .send()
                    .await
                    .unwrap();
                outcome(response).await
            })
        })
        .collect();
    let mut passes = 0;
    for task in tasks {
        match task.await.unwrap() {
            (200, _) => passes += 1,
            (403, reason) => assert_eq!(reason, "expired_or_duplicate"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(passes, 1);
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn the_challenge_route_serves_json_that_solves_and_verifies_through_the_layer() {
    let guard = CaptchaLayer::altcha(config()).unwrap();
    let base = app(guard).await;
    let client = client();
    let response = client
        .get(format!("{base}/altcha/challenge"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let challenge: Value = response.json().await.unwrap();
    for key in ["algorithm", "challenge", "maxnumber", "salt", "signature"] {
        assert!(challenge.get(key).is_some(), "{key}: {challenge}");
    }
    assert!(
        challenge["salt"]
            .as_str()
            .unwrap()
            .contains("action=signup"),
        "signed for signup: {challenge}"
    );
    let altcha = solve_json(&challenge);
    let response = client
        .post(format!("{base}/signup"))
        .form(&[(FIELD, altcha.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let verdict: Value = response.json().await.unwrap();
    assert_eq!(verdict["action"], "signup");
    assert_eq!(verdict["solve_time_ms"].as_f64(), Some(42.0));

    // Each fetch is a new challenge.
    let again: Value = client
        .get(format!("{base}/altcha/challenge"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(again["salt"], challenge["salt"]);
}

#[tokio::test]
async fn the_challenge_route_answers_head_and_refuses_other_methods() {
    let base = app(CaptchaLayer::altcha(config()).unwrap()).await;
    let url = format!("{base}/altcha/challenge");
    let client = client();
    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "application/json");
    assert_eq!(head.headers()["cache-control"], "no-store");
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = client.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "GET, HEAD", "{method}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{method}");
    }
}

/// A solution in a header is decided in the service's call (the memory store answers at
/// once): every answer is the one the same payload gets in a form, the store is the same one,
/// and the handler gets the body byte for byte.
#[tokio::test]
async fn a_header_solution_gets_the_answers_a_form_one_gets() {
    let guard = CaptchaLayer::altcha(config()).unwrap();
    let verifier = guard.verifier().clone();
    let url = serve(Router::new().route("/", post(echo).layer(guard))).await;
    let header = |altcha: String, body: Vec<u8>| {
        client()
            .post(&url)
            .header(FIELD, altcha)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let form = |altcha: String| client().post(&url).form(&[(FIELD, altcha)]).send();

    let upload: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let good = solved(&verifier, "signup");
    let response = header(good.clone(), upload.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-verdict-provider"], "altcha");
    assert_eq!(response.bytes().await.unwrap(), upload);
    // Spent in the one store, whichever way it comes back.
    for again in [
        header(good.clone(), Vec::new()).await,
        form(good.clone()).await,
    ] {
        assert_eq!(
            outcome(again.unwrap()).await,
            (403, "expired_or_duplicate".into())
        );
    }
    let spent_by_form = solved(&verifier, "signup");
    assert_eq!(
        outcome(form(spent_by_form.clone()).await.unwrap()).await,
        (200, "ok".into())
    );
    assert_eq!(
        outcome(header(spent_by_form, Vec::new()).await.unwrap()).await,
        (403, "expired_or_duplicate".into())
    );

    let mut unsolved: Value =
        serde_json::from_slice(&STANDARD.decode(solved(&verifier, "signup")).unwrap()).unwrap();
    unsolved["number"] = json!(unsolved["number"].as_u64().unwrap() + 1);
    let cases = [
        ("unsolved", STANDARD.encode(unsolved.to_string())),
        ("garbage", "not base64!".to_owned()),
        ("another action", solved(&verifier, "checkout")),
    ];
    for (name, payload) in cases {
        let by_header = outcome(header(payload.clone(), Vec::new()).await.unwrap()).await;
        let by_form = outcome(form(payload).await.unwrap()).await;
        assert_eq!(by_header, by_form, "{name}");
        assert_ne!(by_header.0, 200, "{name}");
    }
}

/// An outer ALTCHA layer's verdict is rechecked by the inner one, not spent again: the
/// route passes, and a stricter inner policy refuses.
#[tokio::test]
async fn an_outer_altcha_layers_verdict_is_rechecked_at_once_not_spent_again() {
    let outer = CaptchaLayer::altcha(config()).unwrap();
    let verifier = outer.verifier().clone();
    let strict = CaptchaLayer::altcha(config())
        .unwrap()
        .policy(Policy::new().action("checkout"))
        .unwrap();
    let url = serve(
        Router::new()
            .route(
                "/signup",
                post(verdict_json).layer(CaptchaLayer::altcha(config()).unwrap()),
            )
            .route("/checkout", post(verdict_json).layer(strict))
            .layer(outer),
    )
    .await;
    let send = |path: &str, altcha: String| {
        client()
            .post(format!("{url}{path}"))
            .header(FIELD, altcha)
            .send()
    };
    let signup = send("/signup", solved(&verifier, "signup")).await.unwrap();
    assert_eq!(outcome(signup).await, (200, "ok".into()));
    let checkout = send("/checkout", solved(&verifier, "signup"))
        .await
        .unwrap();
    assert_eq!(outcome(checkout).await, (403, "action_mismatch".into()));
}

/// A full memory store refuses new challenges at once with 503, and fail-open does not
/// wave them through.
#[tokio::test]
async fn a_full_store_refuses_at_once_even_when_failing_open() {
    let guard = CaptchaLayer::altcha(config().store(MemoryStore::new(1)))
        .unwrap()
        .fail_open(true);
    let verifier = guard.verifier().clone();
    let url = format!("{}/signup", app(guard).await);
    let send = |altcha: String| client().post(&url).header(FIELD, altcha).send();
    let first = send(solved(&verifier, "signup")).await.unwrap();
    assert_eq!(outcome(first).await, (200, "ok".into()));
    let second = send(solved(&verifier, "signup")).await.unwrap();
    assert_eq!(outcome(second).await, (503, "provider_unavailable".into()));
}

/// One count per verification decided at once, by the verifier, and none by the layer.
#[cfg(feature = "metrics")]
#[test]
fn a_header_solution_is_counted_once() {
    let counters = counters_of(|| async {
        let guard = CaptchaLayer::altcha(config()).unwrap();
        let payload = solved(guard.verifier(), "signup");
        let url = format!("{}/signup", app(guard).await);
        for altcha in [payload.as_str(), payload.as_str(), "not base64!"] {
            client()
                .post(&url)
                .header(FIELD, altcha)
                .send()
                .await
                .unwrap();
        }
    });
    let mut seen: Vec<(String, String, u64)> = counters
        .iter()
        .map(|c| (c.name.clone(), c.label("outcome").to_owned(), c.value))
        .collect();
    seen.sort();
    let expected = [
        ("captcha_verifications_total", "expired_or_duplicate", 1),
        ("captcha_verifications_total", "malformed_token", 1),
        ("captcha_verifications_total", "verified", 1),
    ]
    .map(|(name, outcome, value)| (name.to_owned(), outcome.to_owned(), value));
    assert_eq!(seen, expected);
}

/// The challenge endpoint is a plain tower service: served by hyper alone, no axum, it hands
/// out challenges that the verifier then takes.
#[tokio::test]
async fn the_challenge_service_serves_over_plain_hyper_without_axum() {
    use hyper_util::{rt::TokioIo, service::TowerToHyperService};
    use tower_captcha::altcha::ChallengeService;

    let verifier = AltchaVerifier::new(config()).unwrap();
    let service = ChallengeService::new(verifier.clone()).action("signup");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let client = client();
    let response = client
        .get(format!("http://{addr}/any/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["content-type"], "application/json");
    let challenge: Value = response.json().await.unwrap();
    let verdict = siteverify::Verify::verify(
        &verifier,
        &solve_json(&challenge),
        &siteverify::VerifyOptions::new(),
    )
    .await
    .unwrap();
    assert_eq!(verdict.action.as_deref(), Some("signup"));
    let post = client.post(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
}

/// The endpoint does not limit itself; the user's own limit goes on the route. axum clones a
/// route's service for every request, so a limit that counts in the service (tower's
/// `RateLimit`) is shared through a `Buffer`, and `LoadShed` turns "over the limit" into an
/// error that the user's handler answers, 429 here.
#[tokio::test]
async fn the_challenge_route_takes_a_rate_limit_of_the_user_s_own() {
    use axum::{error_handling::HandleErrorLayer, http::StatusCode};
    use tower::ServiceBuilder;

    let verifier = AltchaVerifier::new(config()).unwrap();
    let limited = challenge_route(verifier, Some("signup")).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                StatusCode::TOO_MANY_REQUESTS
            }))
            .buffer(16)
            .load_shed()
            .rate_limit(2, Duration::from_secs(60)),
    );
    let base = serve(Router::new().route("/altcha/challenge", limited)).await;
    let client = client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client
            .get(format!("{base}/altcha/challenge"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
}
