//! Provider sets through the layer: each token to its own member and to no other, the rule
//! for a request carrying several, failover hints when a member cannot answer, per-member
//! policy, migration side by side, and the set's health.

use std::{
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, routing::post};
use serde_json::Value;
use siteverify::{
    BreakerState, Verdict, VerifyError, VerifyOptions,
    altcha::{AltchaConfig, AltchaVerifier},
};
use tower_captcha::{
    CaptchaLayer, Member, Policy, Provider, ProviderSet, SetError, SetMode, TokenSource,
    TokenSources, Verifier, Verify, WidgetHint,
};

use crate::support::*;

const ALTCHA_KEY: &str = "provider-set-test-hmac-key-0123456789";
const TURNSTILE: &str = "cf-turnstile-response";
const HCAPTCHA: &str = "h-captcha-response";

fn altcha() -> AltchaVerifier {
    AltchaVerifier::new(AltchaConfig::new(ALTCHA_KEY)).unwrap()
}

/// An ALTCHA member, with the challenge route a page fetches from.
fn altcha_member(verifier: &AltchaVerifier) -> Member {
    Member::new(verifier.clone()).challenge_url("/altcha/challenge")
}

fn altcha_token(verifier: &AltchaVerifier) -> String {
    siteverify::altcha::solve(&verifier.challenge_for(None)).unwrap()
}

/// A hosted member on the emulator, or on `verify_url` (a dead port, say), whose breaker
/// opens after one outage.
fn hosted(emulator: &Emulator, provider: Provider, verify_url: Option<String>) -> Verifier {
    let mut config = config(emulator, provider)
        .site_key(emulated(provider).default_site_key())
        .timeout(Duration::from_millis(500))
        .circuit_breaker(1, Duration::from_secs(60));
    if let Some(url) = verify_url {
        config = config.verify_url(url);
    }
    Verifier::new(provider, config).unwrap()
}

/// A URL on which nothing listens: connection refused, an outage.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/siteverify", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// A provider that hangs up on every connection before answering (an outage), and counts
/// the connections.
fn hanging_up() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/siteverify", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, connections)
}

async fn app(layer: CaptchaLayer<ProviderSet>) -> String {
    serve(Router::new().route("/signup", post(echo).layer(layer))).await
}

/// Posts `fields` as a form: status, the verdict's provider (or the reason), the JSON body.
async fn post_form(url: &str, fields: &[(&str, &str)]) -> (u16, String, Value) {
    let response = client()
        .post(format!("{url}/signup"))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let provider = response
        .headers()
        .get("x-verdict-provider")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let json: Value = serde_json::from_str(&text).unwrap_or_default();
    let said = provider.unwrap_or_else(|| json["reason"].as_str().unwrap_or(&text).to_owned());
    (status, said, json)
}

fn verify_calls(emulator: &Emulator, provider: Emulated) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.provider == provider)
        .count()
}

#[tokio::test]
async fn each_token_goes_to_its_own_member_and_the_verdict_names_it() {
    let emulator = emulator().await;
    let altcha = altcha();
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::Turnstile, None)),
        Member::new(hosted(&emulator, Provider::HCaptcha, None)),
        altcha_member(&altcha),
    ])
    .unwrap();
    let url = app(CaptchaLayer::set(set)).await;

    let turnstile = turnstile_token(&emulator);
    assert_eq!(
        post_form(&url, &[(TURNSTILE, &turnstile)]).await.1,
        "turnstile"
    );
    let hcaptcha = mint(&emulator, TokenSpec::new(Emulated::HCaptcha));
    assert_eq!(
        post_form(&url, &[(HCAPTCHA, &hcaptcha)]).await.1,
        "hcaptcha"
    );
    let solution = altcha_token(&altcha);
    assert_eq!(post_form(&url, &[("altcha", &solution)]).await.1, "altcha");
    // As a header and as JSON too: each member's widget field, everywhere.
    let response = client()
        .post(format!("{url}/signup"))
        .header(
            HCAPTCHA,
            mint(&emulator, TokenSpec::new(Emulated::HCaptcha)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-verdict-provider"], "hcaptcha");
    let response = client()
        .post(format!("{url}/signup"))
        .json(&serde_json::json!({ TURNSTILE: turnstile_token(&emulator) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-verdict-provider"], "turnstile");

    // One verify call per provider token, each to its own provider: never a token tried
    // with another member's secret.
    assert_eq!(verify_calls(&emulator, Emulated::Turnstile), 2);
    assert_eq!(verify_calls(&emulator, Emulated::HCaptcha), 2);
    for request in emulator.requests() {
        let token = request
            .fields
            .get("response")
            .expect("every call names its token");
        let minted_for = if token.starts_with("0.") {
            Emulated::Turnstile
        } else {
            Emulated::HCaptcha
        };
        assert_eq!(request.provider, minted_for);
    }
    // No token at all: the set's missing_token.
    assert_eq!(
        post_form(&url, &[("email", "a@example.com")]).await.1,
        "missing_token"
    );
}

#[tokio::test]
async fn of_several_tokens_the_first_member_s_is_verified_and_the_other_left_unspent() {
    let emulator = emulator().await;
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::Turnstile, None)),
        Member::new(hosted(&emulator, Provider::HCaptcha, None)),
    ])
    .unwrap();
    let url = app(CaptchaLayer::set(set)).await;
    let turnstile = turnstile_token(&emulator);
    let hcaptcha = mint(&emulator, TokenSpec::new(Emulated::HCaptcha));
    // Whatever the order in the form.
    let (status, provider, _) =
        post_form(&url, &[(HCAPTCHA, &hcaptcha), (TURNSTILE, &turnstile)]).await;
    assert_eq!((status, provider.as_str()), (200, "turnstile"));
    assert_eq!(verify_calls(&emulator, Emulated::HCaptcha), 0);
    // The hCaptcha token was never sent anywhere, so it is still good.
    assert_eq!(
        post_form(&url, &[(HCAPTCHA, &hcaptcha)]).await.1,
        "hcaptcha"
    );
    // A header outranks a body field, as for one verifier.
    let response = client()
        .post(format!("{url}/signup"))
        .header(
            HCAPTCHA,
            mint(&emulator, TokenSpec::new(Emulated::HCaptcha)),
        )
        .form(&[(TURNSTILE, turnstile_token(&emulator))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-verdict-provider"], "hcaptcha");
}

#[tokio::test]
async fn a_member_that_cannot_answer_is_refused_with_the_fallback_to_show() {
    let emulator = emulator().await;
    let altcha = altcha();
    let (turnstile_url, connections) = hanging_up();
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::Turnstile, Some(turnstile_url))),
        altcha_member(&altcha),
    ])
    .unwrap();
    assert_eq!(set.recommended_provider(), Some(Provider::Turnstile));
    let url = app(CaptchaLayer::set(set.clone())).await;

    let (status, reason, body) = post_form(&url, &[(TURNSTILE, "0.stale-or-not")]).await;
    assert_eq!((status, reason.as_str()), (503, "provider_unavailable"));
    assert_eq!(
        body,
        serde_json::json!({
            "error": "captcha_failed",
            "reason": "provider_unavailable",
            "fallback": {"provider": "altcha", "challenge_url": "/altcha/challenge"}
        })
    );
    // The breaker is open now: pages are sent to ALTCHA first, and a form still carrying
    // the dead member's field next to the fallback's token is verified by the fallback,
    // with no call to the dead provider.
    assert_eq!(
        set.health()[0].health.as_ref().unwrap().breaker,
        BreakerState::Open
    );
    assert!(!set.health()[0].ready && set.health()[1].ready);
    assert_eq!(set.recommended_provider(), Some(Provider::Altcha));
    let called = connections.load(Ordering::SeqCst);
    assert!(called >= 1);
    let (status, provider, _) = post_form(
        &url,
        &[
            (TURNSTILE, "0.stale-or-not"),
            ("altcha", &altcha_token(&altcha)),
        ],
    )
    .await;
    assert_eq!((status, provider.as_str()), (200, "altcha"));
    // The dead member's token alone still gets the hint.
    let (status, _, body) = post_form(&url, &[(TURNSTILE, "0.again")]).await;
    assert_eq!(status, 503);
    assert_eq!(body["fallback"]["provider"], "altcha");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        called,
        "no call to the dead provider while its breaker is open"
    );
    // A token refused on its merits names no fallback: the provider answered.
    let (status, reason, body) = post_form(&url, &[("altcha", "bm90IGEgcGF5bG9hZA==")]).await;
    assert_eq!((status, reason.as_str()), (400, "malformed_token"));
    assert!(body.get("fallback").is_none());
}

#[tokio::test]
async fn quota_and_5xx_are_failovers_too_and_the_hint_survives_a_hidden_reason() {
    let emulator = emulator().await;
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::Recaptcha, None)),
        Member::new(hosted(&emulator, Provider::HCaptcha, None)),
    ])
    .unwrap();
    let url = app(CaptchaLayer::set(set).hide_reason()).await;
    for code in [429, 503] {
        let token = mint(
            &emulator,
            TokenSpec::new(Emulated::Recaptcha).fault(FaultKind::Status { code }),
        );
        let (status, reason, body) = post_form(&url, &[("g-recaptcha-response", &token)]).await;
        assert_eq!((status, reason.as_str()), (503, "failed"), "{code}");
        assert_eq!(
            body["fallback"],
            serde_json::json!({"provider": "hcaptcha", "site_key": Emulated::HCaptcha.default_site_key()}),
            "{code}"
        );
    }
    // The member's breaker opened on the 503 (a 429 never opens it); now the fallback
    // has no fallback of its own to offer, since the only other member is down.
    let down = mint(
        &emulator,
        TokenSpec::new(Emulated::HCaptcha).fault(FaultKind::Status { code: 502 }),
    );
    let (status, _, body) = post_form(&url, &[(HCAPTCHA, &down)]).await;
    assert_eq!(status, 503);
    assert!(body.get("fallback").is_none(), "{body}");
}

#[tokio::test]
async fn the_fallback_skips_members_that_are_down_too() {
    let emulator = emulator().await;
    let altcha = altcha();
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::Turnstile, Some(dead_url()))),
        Member::new(hosted(&emulator, Provider::HCaptcha, Some(dead_url()))),
        altcha_member(&altcha),
    ])
    .unwrap();
    let url = app(CaptchaLayer::set(set.clone())).await;
    // hCaptcha's breaker opens first; then Turnstile's fallback skips it.
    let (_, _, body) = post_form(&url, &[(HCAPTCHA, "P1_x")]).await;
    assert_eq!(body["fallback"]["provider"], "turnstile");
    let (_, _, body) = post_form(&url, &[(TURNSTILE, "0.x")]).await;
    assert_eq!(body["fallback"]["provider"], "altcha");
    assert_eq!(set.recommended_provider(), Some(Provider::Altcha));
    let health = serde_json::to_value(set.health()).unwrap();
    assert_eq!(health[0]["provider"], "turnstile");
    assert_eq!(health[0]["ready"], false);
    assert_eq!(health[2]["provider"], "altcha");
    assert_eq!(health[2]["ready"], true);
}

#[tokio::test]
async fn side_by_side_accepts_either_and_sends_nobody_back() {
    let emulator = emulator().await;
    let altcha = altcha();
    let set = ProviderSet::side_by_side([
        Member::new(hosted(&emulator, Provider::Recaptcha, Some(dead_url()))),
        altcha_member(&altcha),
    ])
    .unwrap();
    assert_eq!(set.mode(), SetMode::SideBySide);
    assert_eq!(set.recommended(), None);
    let url = app(CaptchaLayer::set(set)).await;
    let (status, provider, _) = post_form(&url, &[("altcha", &altcha_token(&altcha))]).await;
    assert_eq!((status, provider.as_str()), (200, "altcha"));
    let (status, _, body) = post_form(&url, &[("g-recaptcha-response", "03Ax")]).await;
    assert_eq!(status, 503);
    assert!(body.get("fallback").is_none(), "{body}");
}

#[tokio::test]
async fn each_member_has_its_policy_under_the_route_s() {
    let emulator = emulator().await;
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::Turnstile, None))
            .policy(Policy::new().action("signup")),
        Member::new(hosted(&emulator, Provider::Recaptcha, None))
            .policy(Policy::new().min_score(0.7).unwrap()),
    ])
    .unwrap()
    .policy(Policy::new().allow_hostname("example.com").unwrap())
    .unwrap();
    let url = app(CaptchaLayer::set(set)).await;
    let turnstile = |action: &str, host: &str| {
        mint(
            &emulator,
            TokenSpec::new(Emulated::Turnstile)
                .action(action)
                .hostname(host),
        )
    };
    let recaptcha = |score: f64, host: &str| {
        mint(
            &emulator,
            TokenSpec::new(Emulated::Recaptcha)
                .score(score)
                .action("any")
                .hostname(host),
        )
    };
    let cases = [
        (TURNSTILE, turnstile("signup", "example.com"), "turnstile"),
        (
            TURNSTILE,
            turnstile("login", "example.com"),
            "action_mismatch",
        ),
        (
            TURNSTILE,
            turnstile("signup", "evil.test"),
            "hostname_mismatch",
        ),
        // The Turnstile member's action is not the reCAPTCHA member's business.
        (
            "g-recaptcha-response",
            recaptcha(0.9, "example.com"),
            "recaptcha",
        ),
        (
            "g-recaptcha-response",
            recaptcha(0.5, "example.com"),
            "score_below_threshold",
        ),
        (
            "g-recaptcha-response",
            recaptcha(0.9, "evil.test"),
            "hostname_mismatch",
        ),
    ];
    for (field, token, expected) in cases {
        assert_eq!(
            post_form(&url, &[(field, &token)]).await.1,
            expected,
            "{field}"
        );
    }
}

#[tokio::test]
async fn a_set_that_could_not_work_is_refused_when_built() {
    let emulator = emulator().await;
    let turnstile = || Member::new(hosted(&emulator, Provider::Turnstile, None));
    assert_eq!(ProviderSet::failover([]).unwrap_err(), SetError::Empty);
    // Two members of one provider: its widget writes one field, and a verdict could not
    // tell them apart.
    assert!(matches!(
        ProviderSet::failover([turnstile(), turnstile()]).unwrap_err(),
        SetError::SameProvider {
            first: 0,
            second: 1,
            provider: Provider::Turnstile
        }
    ));
    // Two members on one place, however it is named: a token there could not be told apart.
    let custom = |sources: TokenSources| Member::new(Fake).sources(sources);
    assert!(matches!(
        ProviderSet::failover([
            custom(TokenSources::new().json_property("captcha/token")),
            custom(TokenSources::new().json_pointer("/captcha~1token").unwrap()),
        ])
        .unwrap_err(),
        SetError::SharedSource {
            first: 0,
            second: 1,
            ..
        }
    ));
    // What a page needs to show each widget: refused when missing or contradicting.
    let no_site_key =
        Verifier::new(Provider::HCaptcha, config(&emulator, Provider::HCaptcha)).unwrap();
    assert!(matches!(
        ProviderSet::failover([turnstile(), Member::new(no_site_key)]).unwrap_err(),
        SetError::Widget { member: 1, .. }
    ));
    assert!(matches!(
        ProviderSet::failover([turnstile(), Member::new(altcha())]).unwrap_err(),
        SetError::Widget { member: 1, .. }
    ));
    assert!(matches!(
        ProviderSet::failover([turnstile().site_key("another-key")]).unwrap_err(),
        SetError::Widget { member: 0, .. }
    ));
    assert!(matches!(
        ProviderSet::failover([Member::new(Fake).site_key("k")]).unwrap_err(),
        SetError::Widget { member: 0, .. }
    ));
    // Side by side, no hint is ever offered, so none is needed.
    assert!(ProviderSet::side_by_side([Member::new(altcha()), turnstile()]).is_ok());
    // A verifier that names no provider reads every widget's field unless told otherwise.
    assert!(matches!(
        ProviderSet::failover([turnstile(), Member::new(Fake)]).unwrap_err(),
        SetError::SharedSource {
            first: 0,
            second: 1,
            ..
        }
    ));
    // A score from Turnstile, which reports none, whether asked by the member or the route.
    let scored = Policy::new().min_score(0.5).unwrap();
    assert!(matches!(
        ProviderSet::failover([turnstile().policy(scored.clone())]).unwrap_err(),
        SetError::Policy { member: 0, .. }
    ));
    let set = ProviderSet::failover([altcha_member(&altcha()), turnstile()]).unwrap();
    assert!(matches!(
        set.policy(scored).unwrap_err(),
        SetError::Policy { member: 0, .. }
    ));
}

/// Your own provider: passes the token "human", under `x-my-captcha`.
struct Fake;

impl Verify for Fake {
    async fn verify(&self, token: &str, _: &VerifyOptions) -> Result<Verdict, VerifyError> {
        match token {
            "human" => Ok(Verdict::new(Provider::ByeBot).with_hostname("mine.example")),
            _ => Err(VerifyError::InvalidToken {
                provider_codes: vec![],
            }),
        }
    }
}

#[tokio::test]
async fn your_own_verifier_sits_next_to_the_hosted_ones() {
    let emulator = emulator().await;
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::Turnstile, None)),
        Member::new(Fake).sources(TokenSources::new().header("x-my-captcha").unwrap()),
    ])
    .unwrap();
    assert_eq!(
        set.providers().collect::<Vec<_>>(),
        [Some(Provider::Turnstile), None]
    );
    let url = app(CaptchaLayer::set(set.clone())).await;
    let response = client()
        .post(format!("{url}/signup"))
        .header("x-my-captcha", "human")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-verdict-hostname"], "mine.example");
    // It is never offered as a fallback: a page could not render it.
    assert_eq!(set.recommended_provider(), Some(Provider::Turnstile));
    let hint =
        WidgetHint::new(Provider::Turnstile).with_site_key(Emulated::Turnstile.default_site_key());
    assert_eq!(set.recommended(), Some(&hint));
    let _ = TokenSource::Header("x".parse().unwrap());
}

#[tokio::test]
async fn a_set_verifies_by_hand_with_the_member_s_policy() {
    let emulator = emulator().await;
    let set = ProviderSet::failover([Member::new(hosted(&emulator, Provider::Turnstile, None))
        .policy(Policy::new().action("signup"))])
    .unwrap();
    let good = mint(
        &emulator,
        TokenSpec::new(Emulated::Turnstile).action("signup"),
    );
    let verdict = set
        .verify(Provider::Turnstile, &good, &VerifyOptions::new())
        .await
        .unwrap();
    assert_eq!(verdict.provider, Provider::Turnstile);
    let wrong = mint(
        &emulator,
        TokenSpec::new(Emulated::Turnstile).action("login"),
    );
    assert_eq!(
        set.verify(Provider::Turnstile, &wrong, &VerifyOptions::new())
            .await
            .unwrap_err()
            .code(),
        "action_mismatch"
    );
    assert_eq!(
        set.verify(Provider::HCaptcha, &good, &VerifyOptions::new())
            .await
            .unwrap_err()
            .code(),
        "provider_misconfigured"
    );
}

#[tokio::test]
async fn fail_open_never_opens_while_another_member_can_verify() {
    let emulator = emulator().await;
    let post_hcaptcha = async |url: &str| {
        let response = client()
            .post(format!("{url}/signup"))
            .form(&[(HCAPTCHA, "P1_x")])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    };
    // The client picks the member by the field it sends: were a dead member's field enough
    // to be let through, a fail-open set would be open whenever any one member is down.
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::HCaptcha, Some(dead_url()))),
        altcha_member(&altcha()),
    ])
    .unwrap();
    let url = serve(Router::new().route(
        "/signup",
        post(verdict_json).layer(CaptchaLayer::set(set).fail_open(true)),
    ))
    .await;
    let (status, body) = post_hcaptcha(&url).await;
    assert_eq!(status, 503);
    assert_eq!(body["fallback"]["provider"], "altcha");

    // When no other member can answer, fail-open is what it always was.
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::HCaptcha, Some(dead_url()))),
        Member::new(hosted(&emulator, Provider::Turnstile, Some(dead_url()))),
    ])
    .unwrap();
    let url = serve(Router::new().route(
        "/signup",
        post(verdict_json).layer(CaptchaLayer::set(set.clone()).fail_open(true)),
    ))
    .await;
    let turnstile = client()
        .post(format!("{url}/signup"))
        .form(&[(TURNSTILE, "0.x")])
        .send()
        .await
        .unwrap();
    // Turnstile down: hCaptcha is not known to be down yet, so it is the fallback.
    assert_eq!(turnstile.status(), 503);
    let (status, verdict) = post_hcaptcha(&url).await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["degraded"], true);
    assert_eq!(verdict["provider"], "hcaptcha");
}

#[tokio::test]
async fn an_inner_set_builds_on_an_outer_layer_s_verdict_with_the_member_s_policy() {
    let emulator = emulator().await;
    let outer = CaptchaLayer::new(hosted(&emulator, Provider::Turnstile, None));
    let inner = CaptchaLayer::set(
        ProviderSet::failover([
            Member::new(hosted(&emulator, Provider::Turnstile, None))
                .policy(Policy::new().action("checkout")),
            altcha_member(&altcha()),
        ])
        .unwrap(),
    );
    let url = serve(
        Router::new()
            .route("/signup", post(echo).layer(inner))
            .layer(outer),
    )
    .await;
    let checkout = mint(
        &emulator,
        TokenSpec::new(Emulated::Turnstile).action("checkout"),
    );
    assert_eq!(
        post_form(&url, &[(TURNSTILE, &checkout)]).await.1,
        "turnstile"
    );
    let signup = mint(
        &emulator,
        TokenSpec::new(Emulated::Turnstile).action("signup"),
    );
    assert_eq!(
        post_form(&url, &[(TURNSTILE, &signup)]).await.1,
        "action_mismatch"
    );
    // One verify call per request: the inner set checked the outer verdict.
    assert_eq!(verify_calls(&emulator, Emulated::Turnstile), 2);
}

/// A migration is watched in the metrics: every verification is counted under the provider
/// that made it, and what never reached a member under `set`.
#[cfg(feature = "metrics")]
#[test]
fn the_metrics_name_the_member_that_verified() {
    use std::collections::BTreeMap;

    let counters = counters_of(|| async {
        let emulator = emulator().await;
        let altcha = altcha();
        let set = ProviderSet::side_by_side([
            Member::new(hosted(&emulator, Provider::Recaptcha, None)),
            altcha_member(&altcha),
        ])
        .unwrap();
        let url = app(CaptchaLayer::set(set)).await;
        let recaptcha = mint(&emulator, TokenSpec::new(Emulated::Recaptcha).score(0.9));
        post_form(&url, &[("g-recaptcha-response", &recaptcha)]).await;
        post_form(&url, &[("altcha", &altcha_token(&altcha))]).await;
        post_form(&url, &[("altcha", &altcha_token(&altcha))]).await;
        post_form(&url, &[("email", "no token")]).await;
    });
    let seen: BTreeMap<String, u64> = counters
        .iter()
        .filter(|c| c.name == "captcha_verifications_total")
        .map(|c| {
            (
                format!("{}/{}", c.label("provider"), c.label("outcome")),
                c.value,
            )
        })
        .collect();
    let expected: BTreeMap<String, u64> = [
        ("altcha/verified".to_owned(), 2),
        ("recaptcha/verified".to_owned(), 1),
        ("set/missing_token".to_owned(), 1),
    ]
    .into();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn observe_mode_hands_the_fallback_to_the_handler() {
    use axum::extract::Request;
    use tower_captcha::CaptchaOutcome;

    async fn decide(request: Request) -> String {
        let refused = matches!(
            request.extensions().get::<CaptchaOutcome>(),
            Some(CaptchaOutcome::Rejected(_))
        );
        let hint = request.extensions().get::<WidgetHint>();
        format!(
            "refused={refused}/{}",
            hint.map_or("none", |h| h.provider.name())
        )
    }
    let emulator = emulator().await;
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::Turnstile, Some(dead_url()))),
        altcha_member(&altcha()),
    ])
    .unwrap();
    let url = serve(Router::new().route(
        "/signup",
        post(decide).layer(CaptchaLayer::set(set).observe()),
    ))
    .await;
    let answer = client()
        .post(format!("{url}/signup"))
        .form(&[(TURNSTILE, "0.x")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "refused=true/altcha");
}

#[tokio::test]
async fn no_secret_in_the_debug_of_a_set_or_its_members() {
    let secret = "set-debug-secret-0123456789";
    let verifier = || {
        Verifier::new(
            Provider::Turnstile,
            tower_captcha::VerifierConfig::new(secret).site_key("public-key"),
        )
        .unwrap()
    };
    let member = Member::new(verifier());
    let set = ProviderSet::failover([Member::new(verifier()), altcha_member(&altcha())]).unwrap();
    let layer = CaptchaLayer::set(set.clone());
    for shown in [
        format!("{member:?}"),
        format!("{set:?}"),
        format!("{layer:?}"),
        format!("{:?}", siteverify::BoxVerifier::new(verifier())),
        serde_json::to_string(&set.health()).unwrap(),
    ] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains(ALTCHA_KEY), "{shown}");
    }
    assert!(
        format!("{set:?}").contains("public-key"),
        "the hint is public"
    );
}

/// A quota spent for the month (429) never opens a breaker, so the set remembers it itself:
/// pages are sent to the fallback, a form still carrying the dead member's token, in any
/// place, is verified by the fallback, and a page is never sent back and forth between two
/// members that cannot answer.
#[tokio::test]
async fn a_member_out_of_quota_is_passed_over_wherever_its_stale_token_is() {
    let emulator = emulator().await;
    let altcha = altcha();
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::Recaptcha, None))
            .policy(Policy::new().action("signup").min_score(0.5).unwrap()),
        altcha_member(&altcha),
    ])
    .unwrap();
    assert_eq!(
        set.recommended(),
        Some(
            &WidgetHint::new(Provider::Recaptcha)
                .with_site_key(Emulated::Recaptcha.default_site_key())
                .with_action("signup")
        ),
        "the page needs the action too"
    );
    let url = app(CaptchaLayer::set(set.clone())).await;
    let spent = mint(
        &emulator,
        TokenSpec::new(Emulated::Recaptcha)
            .action("signup")
            .fault(FaultKind::Status { code: 429 }),
    );
    let response = client()
        .post(format!("{url}/signup"))
        .form(&[("g-recaptcha-response", spent.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(
        response.headers().get("retry-after").is_none(),
        "switch widgets now, do not wait"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["fallback"]["provider"], "altcha");
    let health = &set.health()[0];
    assert_eq!(
        health.health.as_ref().unwrap().breaker,
        BreakerState::Closed
    );
    assert!(!health.ready, "out of quota, though the breaker is closed");
    assert_eq!(set.recommended_provider(), Some(Provider::Altcha));
    let calls = verify_calls(&emulator, Emulated::Recaptcha);

    // The stale token in a form field, next to the fallback's.
    let (status, provider, _) = post_form(
        &url,
        &[
            ("g-recaptcha-response", &spent),
            ("altcha", &altcha_token(&altcha)),
        ],
    )
    .await;
    assert_eq!((status, provider.as_str()), (200, "altcha"));
    // In a header, which a body field of a member that can answer still outranks.
    let response = client()
        .post(format!("{url}/signup"))
        .header("g-recaptcha-response", &spent)
        .form(&[("altcha", altcha_token(&altcha))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-verdict-provider"], "altcha");
    // In a multipart body, before the fallback's field.
    let form = reqwest::multipart::Form::new()
        .text("g-recaptcha-response", spent.clone())
        .text("email", "a@example.com")
        .text("altcha", altcha_token(&altcha));
    let response = client()
        .post(format!("{url}/signup"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-verdict-provider"], "altcha");
    assert_eq!(
        verify_calls(&emulator, Emulated::Recaptcha),
        calls,
        "the stale token was never sent"
    );
    // Alone, the stale token still goes to its member, which may be back.
    let (status, _, body) = post_form(&url, &[("g-recaptcha-response", &spent)]).await;
    assert_eq!(
        (status, &body["fallback"]["provider"]),
        (503, &Value::from("altcha"))
    );
}

/// A replay store that is down makes ALTCHA unable to answer: with both members down, each
/// one's token is refused with no fallback, rather than one sending the page to the other.
#[tokio::test]
async fn two_members_that_cannot_answer_never_send_a_page_to_each_other() {
    use siteverify::altcha::{ChallengeId, ReplayStore, StoreError, StoreFuture};

    struct Down;
    impl ReplayStore for Down {
        fn spend<'a>(&'a self, _: &'a ChallengeId, _: Duration) -> StoreFuture<'a> {
            Box::pin(async { Err(StoreError::Unavailable("down".into())) })
        }
    }
    let emulator = emulator().await;
    let down = AltchaVerifier::new(AltchaConfig::new(ALTCHA_KEY).store(Down)).unwrap();
    let set = ProviderSet::failover([
        Member::new(hosted(&emulator, Provider::Recaptcha, None)),
        altcha_member(&down),
    ])
    .unwrap();
    let url = app(CaptchaLayer::set(set)).await;
    let (status, reason, body) = post_form(&url, &[("altcha", &altcha_token(&down))]).await;
    assert_eq!((status, reason.as_str()), (503, "provider_unavailable"));
    assert_eq!(
        body["fallback"]["provider"], "recaptcha",
        "reCAPTCHA can answer"
    );
    let spent = mint(
        &emulator,
        TokenSpec::new(Emulated::Recaptcha).fault(FaultKind::Status { code: 429 }),
    );
    let (status, _, body) = post_form(&url, &[("g-recaptcha-response", &spent)]).await;
    assert_eq!(status, 503);
    assert!(body.get("fallback").is_none(), "ALTCHA is down too: {body}");
}
