//! Tower/Axum middleware that demands a solved CAPTCHA on chosen routes.
//!
//! Put a [`CaptchaLayer`] on a signup, login, checkout or contact route. For every request it
//! finds the token the widget left (a header, an urlencoded or multipart form field, or a JSON
//! property), verifies it with the provider (hCaptcha, reCAPTCHA v2/v3, Turnstile,
//! Procaptcha, ByeBot, Friendly Captcha, reCAPTCHA Enterprise), applies the route's [`Policy`], and then either answers with a stable
//! failure response or hands the request on, byte for byte, with the [`Verdict`] in its
//! extensions for the [`Verified<Verdict>`](Verified) extractor.
//!
//! # A signup form
//!
//! This runs as it is: it verifies against the local emulator of the `siteverify-emulator`
//! crate. In production, leave out `verify_url` and use your secret (or build the layer with
//! [`CaptchaLayer::from_config`] and [`CaptchaConfig::from_env`]).
//!
//! ```
//! use axum::{Form, Router, routing::post};
//! use serde::Deserialize;
//! use tower_captcha::{CaptchaLayer, Policy, Verdict, Verified, VerifierConfig};
//! # use siteverify_emulator::{Emulator, Provider as Emulated, TokenSpec};
//!
//! #[derive(Deserialize)]
//! struct Signup {
//!     email: String,
//! }
//!
//! // Only humans get here; the body is intact, so `Form` still sees every field.
//! async fn signup(Verified(verdict): Verified<Verdict>, Form(form): Form<Signup>) -> String {
//!     format!("welcome {}, solved on {:?}", form.email, verdict.hostname)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let emulator = Emulator::start().await?;
//! # let verify_url = emulator.verify_url(Emulated::Turnstile);
//! # let secret = Emulated::Turnstile.default_secret();
//! let guard = CaptchaLayer::turnstile(
//!     VerifierConfig::new(secret)
//!         .verify_url(verify_url) // the emulator; omit in production
//!         .policy(Policy::new().allow_hostname("example.com")?.action("signup")),
//! )?;
//! let app = Router::new().route("/signup", post(signup).layer(guard));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}/signup", listener.local_addr()?);
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! // What the browser sends once the widget is solved.
//! # let token = emulator.mint(TokenSpec::new(Emulated::Turnstile).hostname("example.com").action("signup"))?;
//! let client = reqwest::Client::new();
//! let form = [("email", "ada@example.com"), ("cf-turnstile-response", token.as_str())];
//! let response = client.post(&url).form(&form).send().await?;
//! assert_eq!(response.text().await?, "welcome ada@example.com, solved on Some(\"example.com\")");
//!
//! // Tokens are single use; failures follow the stable contract.
//! let replay = client.post(&url).form(&form).send().await?;
//! assert_eq!(replay.status(), 403);
//! assert_eq!(replay.text().await?, r#"{"error":"captcha_failed","reason":"expired_or_duplicate"}"#);
//! # Ok(())
//! # }
//! ```
//!
//! # Where the token is looked for
//!
//! By default the provider's widget field name (`cf-turnstile-response`, `h-captcha-response`,
//! `g-recaptcha-response`, `procaptcha-response`, `byebot-token`) as a header, an urlencoded
//! field, a multipart field and a top-level JSON property. Headers come first and read no
//! body. A body is read only when its content type matches a source, and only up to
//! [`DEFAULT_BODY_LIMIT`] (64 KiB, configurable): a larger urlencoded or JSON body is refused
//! with 413 (before reading, when `Content-Length` says so). Multipart is parsed
//! incrementally and reading stops at the token field, so an upload whose token comes first
//! streams through whatever its size and at whatever pace. Reading for the token is bounded
//! in time too: a body that has not delivered its token within
//! [`DEFAULT_BODY_READ_TIMEOUT`] (10 s, [`CaptchaLayer::body_read_timeout`]) is refused with
//! 408. After any refusal the unread rest of the body is drained in the background, within
//! [`DEFAULT_REFUSAL_DRAIN_LIMIT`] and [`DEFAULT_REFUSAL_DRAIN_TIMEOUT`]
//! ([`CaptchaLayer::refusal_drain`]), so that a client that sends its whole body before it
//! reads gets the refusal rather than a connection reset. See [`TokenSources`] for headers,
//! JSON pointers and query parameters of your own. When a field appears twice, its first
//! value is used.
//!
//! # What passes without a token
//!
//! GET, HEAD and OPTIONS (a CORS preflight must never be blocked), anything a
//! [`skip_if`](CaptchaLayer::skip_if) predicate lets through, and requests that already carry a
//! [`Verdict`] (a second, nested layer does not verify again).
//!
//! # Failures
//!
//! | reason | status |
//! |---|---|
//! | `missing_token`, `malformed_token`, `malformed_body` | 400 |
//! | `body_too_large` | 413 |
//! | `body_timeout` (the body did not bring its token within the read timeout) | 408 |
//! | `invalid_token`, `expired_or_duplicate`, `hostname_mismatch`, `action_mismatch`, `cdata_mismatch`, `sitekey_mismatch`, `score_missing`, `score_below_threshold`, `challenge_too_old` | 403 |
//! | `provider_misconfigured` | 500 |
//! | `provider_error` | 502 |
//! | `provider_unavailable` | 503 |
//!
//! The body is `{"error":"captcha_failed","reason":"<code>"}`; the score is never in it.
//! [`hide_reason`](CaptchaLayer::hide_reason) says `"failed"` instead, and
//! [`on_failure`](CaptchaLayer::on_failure) takes your own response (an HTML page, a redirect
//! back to the form). The [`Rejection`] is in the failure response's extensions either way.
//! In [observe mode](CaptchaLayer::observe) nothing is refused: the handler reads a
//! [`CaptchaOutcome`] and decides.
//!
//! # Testing your routes
//!
//! [`siteverify::testing`] has verifiers that always pass with the verdict you give and
//! always fail with the code you give, so a route's handling of both is a unit test with no
//! network (and, with siteverify's `emulator` feature, the local emulator as a one-line
//! fixture when the HTTP exchange itself should be tested):
//!
//! ```
//! use axum::{Router, body::Body, http::Request, routing::post};
//! use tower::ServiceExt;
//! use tower_captcha::siteverify::{BoxVerifier, FailureCode, testing::{AlwaysFail, AlwaysPass}};
//! use tower_captcha::{CaptchaLayer, Provider, Verdict};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Your app, built around whichever verifier it is given.
//! let signup = |verifier: BoxVerifier| {
//!     let guard = CaptchaLayer::new(verifier);
//!     Router::new().route("/signup", post(|| async { "welcome" }).layer(guard))
//! };
//! let request = || {
//!     Request::post("/signup").header("cf-turnstile-response", "any token").body(Body::empty())
//! };
//!
//! let human = AlwaysPass::new(Verdict::new(Provider::Turnstile));
//! let answer = signup(BoxVerifier::new(human.clone())).oneshot(request()?).await?;
//! assert_eq!(answer.status(), 200);
//! assert_eq!(human.calls(), 1);
//!
//! let down = AlwaysFail::with_code(Provider::Turnstile, FailureCode::ProviderUnavailable).unwrap();
//! let answer = signup(BoxVerifier::new(down)).oneshot(request()?).await?;
//! assert_eq!(answer.status(), 503);
//! # Ok(())
//! # }
//! ```
//!
//! # Several providers on one route
//!
//! A [`ProviderSet`] holds several verifiers (hosted ones, ALTCHA, your own), each chosen by
//! the field its widget writes the token in; [`CaptchaLayer::set`] puts it on a route. When
//! the token's provider cannot answer, the 503 names the widget to fall back to
//! (`"fallback":{"provider":"altcha","challenge_url":"/altcha/challenge"}`), and while a
//! member's circuit breaker is open [`ProviderSet::recommended`] names the next one; side by
//! side, two providers are accepted during a migration. See [`ProviderSet`].
//!
//! # Observability
//!
//! One `captcha` tracing span per guarded request, with the provider (for a set, the member
//! that verified, or `set` when no member's token was found), the outcome code and the latency (and, nested, the `siteverify` span of the provider call). Tokens and secrets
//! are never recorded.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `axum` | on | the [`Verified`] and [`CaptchaOutcome`] extractors, the ALTCHA challenge route, the peer address from axum's `ConnectInfo` |
//! | `hcaptcha`, `recaptcha`, `turnstile`, `procaptcha`, `byebot` | on | each provider's `CaptchaLayer` constructor (siteverify's features of the same names) |
//! | `altcha` | on | [`CaptchaLayer::altcha`] and the [`altcha`] challenge service |
//! | `redis` | off | the ALTCHA replay store in Redis, read from `CAPTCHA_REDIS_URL` |
//! | `aws-lc-rs` | on | rustls's cryptography from aws-lc-rs for the calls to hosted providers |
//! | `ring` | off | the same from ring: no C toolchain or cmake, for musl and cross builds (with `default-features = false`) |
//! | `reqwest` | off | `VerifierConfig::http_client`, to send with a `reqwest::Client` of your own |
//! | `metrics` | off | siteverify's metrics, and the layer's own counters of refusals that never reached a provider and of fail-open passes |
//!
//! On docs.rs every item gated by a feature says which.

// On docs.rs, every item gated by a cargo feature shows the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod extract;
mod failure;
pub mod middleware;
mod outcome;
mod rejection;
mod set;
mod skip;
mod sources;
#[cfg(feature = "axum")]
mod verified;

#[cfg(feature = "altcha")]
pub mod altcha;
pub mod client_ip;
mod config;

pub use client_ip::{ClientIp, ClientIpSource};
#[cfg(feature = "altcha")]
pub use config::AltchaSettings;
pub use config::{BuildError, CaptchaConfig, EnvError, VerifierSettings};
pub use failure::{FailureHandler, JsonFailure};
pub use middleware::{
    CaptchaBody, CaptchaLayer, CaptchaService, DEFAULT_BODY_LIMIT, DEFAULT_BODY_READ_TIMEOUT,
    DEFAULT_REFUSAL_DRAIN_LIMIT, DEFAULT_REFUSAL_DRAIN_TIMEOUT,
};
pub use outcome::CaptchaOutcome;
pub use rejection::Rejection;
pub use set::{Member, MemberHealth, ProviderSet, SetError, SetMode, WidgetHint};
pub use siteverify::{
    self, Policy, Provider, Verdict, Verifier, VerifierConfig, Verify, VerifyError,
};
pub use skip::SkipPredicate;
pub use sources::{InvalidSource, JsonPath, TokenSource, TokenSources};
#[cfg(feature = "axum")]
pub use verified::{NotVerified, Verified};
