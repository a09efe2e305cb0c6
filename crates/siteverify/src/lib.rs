//! Server-side verification of CAPTCHA tokens for hCaptcha, Google reCAPTCHA v2/v3,
//! Cloudflare Turnstile, Prosopo Procaptcha, ByeBot, Friendly Captcha v2 and reCAPTCHA
//! Enterprise.
//!
//! A browser widget solves a challenge and hands your form a token; your server must ask the
//! provider whether the token is good before trusting the request. This crate does that call
//! for seven hosted providers behind one API, and applies the checks the providers leave to you: the
//! hostname the challenge was solved on, the expected action, a minimum score, the site key,
//! the age of the challenge.
//!
//! It depends on no web framework. For a Tower/Axum middleware that finds the token in the
//! request and does all of this for you, see the `tower-captcha` crate.
//!
//! # Example
//!
//! Verify a Turnstile token by hand. This example runs against the local emulator of the
//! `siteverify-emulator` crate, so it needs no account and no network; in production you leave
//! out `verify_url` and use your real secret.
//!
//! ```
//! use siteverify::{Policy, Verifier, VerifierConfig, VerifyOptions};
//! use siteverify_emulator::{Emulator, Provider as Emulated, TokenSpec};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::start().await?;
//! let token = emulator.mint(TokenSpec::new(Emulated::Turnstile).hostname("example.com").action("signup"))?;
//!
//! let verifier = Verifier::turnstile(
//!     VerifierConfig::new(Emulated::Turnstile.default_secret())
//!         .verify_url(emulator.verify_url(Emulated::Turnstile))
//!         .policy(Policy::new().allow_hostname("example.com")?.action("signup")),
//! )?;
//!
//! let verdict = verifier.verify(&token, &VerifyOptions::new()).await?;
//! assert_eq!(verdict.hostname.as_deref(), Some("example.com"));
//!
//! // Tokens are single use: the second redemption fails with a stable code.
//! let again = verifier.verify(&token, &VerifyOptions::new()).await.unwrap_err();
//! assert_eq!(again.code(), "expired_or_duplicate");
//! assert_eq!(again.http_status(), 403);
//! # Ok(())
//! # }
//! ```
//!
//! # What you get
//!
//! - [`Verifier`]: one client per provider configuration, cheap to clone. All verifiers share
//!   one pooled HTTP/1.1 client (hyper and rustls, the platform's certificate roots) unless
//!   you bring your own `reqwest::Client` (feature `reqwest`). An endpoint that the
//!   environment's `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` covers (and `NO_PROXY` does
//!   not exclude) is reached through that proxy: `http://` and `https://` proxies (a
//!   `CONNECT` tunnel for an https endpoint) and SOCKS (`socks4`, `socks4a`, `socks5`,
//!   `socks5h`), with the credentials the variable carries.
//! - [`Verdict`]: what the provider said about a good token, with the score normalised to a
//!   human likelihood (reCAPTCHA as is; hCaptcha and Procaptcha risk scores inverted).
//! - [`Policy`]: the route's rules, checked after the provider said yes.
//! - [`VerifyError`]: a stable [`code`](VerifyError::code), an HTTP
//!   [status](VerifyError::http_status), and a [class](VerifyError::class) that says whose
//!   fault it is.
//! - [`Verify`]: the trait to plug in your own provider or a fake in tests, and
//!   [`BoxVerifier`], its object-safe form, for a collection of verifiers of different types.
//! - [`AnyVerifier`]: a hosted [`Verifier`] or an ALTCHA verifier behind one type, for a
//!   provider chosen at run time.
//! - [`parse_answer`]: reads an answer you fetched yourself, as the verifier would.
//! - [`widget`]: what a page needs for each provider's widget (script, container, field) and
//!   the Content-Security-Policy it must allow.
//! - [`testing`]: verifiers that always pass or always fail, and (feature `emulator`) the
//!   local emulator as a one-line fixture, for your own tests.
//!
//! # Behaviour worth knowing
//!
//! - Tokens are checked locally first (empty, longer than the provider accepts, characters
//!   outside printable ASCII); such tokens never cost a network call. Nothing else about a
//!   token's format is guessed at.
//! - Only an HTTP 200 can be a pass, whatever the body says: a redirect or a 4xx is
//!   `provider_misconfigured` (a 4xx carrying a readable refusal is read as that refusal),
//!   429 and 5xx are `provider_unavailable`, and an answer that is not HTTP at all, is cut off
//!   after its head, or carries a score outside 0.0–1.0 is `provider_error`.
//! - A reported hostname must be a DNS name before any allowlist compares it, so a wildcard
//!   matches hostnames, not string suffixes.
//! - One deadline covers the whole verification, retries and reading the answer included
//!   (default 5 s, at most 10 s). Answers larger than 64 KiB are refused.
//! - Retries happen only where they cannot turn a good token into a spent one: when the
//!   connection was never established (any provider), and for Turnstile, whose idempotency key
//!   lets the same token be sent again after a timeout, a 5xx or `internal-error`. A 429 is
//!   never retried.
//! - A reCAPTCHA v3 answer (one with a score) must reach
//!   [`RECAPTCHA_V3_DEFAULT_MIN_SCORE`] unless the policy sets its own minimum: a v3 check
//!   that looks only at `success` lets every bot in.
//! - A policy that needs something the provider never reports (a score from Turnstile, an
//!   action from hCaptcha) is refused when the verifier is built, not at the first request.
//! - Secrets and tokens never appear in `Debug`, `Display`, logs or error messages.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `hcaptcha`, `recaptcha`, `turnstile`, `procaptcha`, `byebot` | on | each provider's [`Verifier`] constructor and protocol; at least one provider must be enabled |
//! | `altcha` | on | the self-hosted proof of work: the `altcha` module, its challenges, verifier and in-memory replay store |
//! | `redis` | off | the ALTCHA replay store in Redis (`altcha::RedisStore`), for several app instances |
//! | `metrics` | off | a counter of verifications by provider and outcome and a latency histogram, through the `metrics` facade |
//! | `aws-lc-rs` | on | rustls's cryptography from aws-lc-rs, as rustls's own default |
//! | `ring` | off | rustls's cryptography from ring instead: no C toolchain or cmake, for musl and cross builds (turn `default-features` off and name your providers). With both, aws-lc-rs is used; with neither, install a `rustls::crypto::CryptoProvider` before building a verifier, or building it fails saying so |
//! | `reqwest` | off | `VerifierConfig::http_client`: send with a `reqwest::Client` of your own (custom roots, a client certificate). Without it, reqwest is not compiled in |
//! | `emulator` | off | `testing::Emulated`: the local emulator of a hosted provider and a verifier pointed at it, a fixture for your tests ([`testing::AlwaysPass`] and [`testing::AlwaysFail`] need no feature) |
//!
//! On docs.rs every item gated by a feature says which.
//!
//! # When the provider misbehaves
//!
//! Each verify endpoint has a circuit breaker: after 5 provider failures in a row (timeouts,
//! connection failures, 502–504, `internal-error`; never an unreadable answer, a 429 or a
//! bad token, which a client can provoke) it answers at once with
//! `provider_unavailable` for 30 s, then lets one probe through; a good answer closes it. Each
//! verifier bounds its verifications in flight (128 by default) and answers past the bound at
//! once. Both are configurable; [`Verifier::health`] reports them for a readiness endpoint.

// On docs.rs, every item gated by a cargo feature shows the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
// With only some providers compiled in, parts of the shared plumbing (form bodies, unix
// timestamps, the provider-code table) have no caller; the full build, linted too, keeps the
// dead-code lint honest.
#![cfg_attr(
    not(all(
        feature = "hcaptcha",
        feature = "recaptcha",
        feature = "turnstile",
        feature = "procaptcha",
        feature = "byebot",
        feature = "friendlycaptcha",
        feature = "recaptcha-enterprise",
        feature = "altcha"
    )),
    allow(dead_code)
)]

#[cfg(not(any(
    feature = "hcaptcha",
    feature = "recaptcha",
    feature = "turnstile",
    feature = "procaptcha",
    feature = "byebot",
    feature = "friendlycaptcha",
    feature = "recaptcha-enterprise",
    feature = "altcha"
)))]
compile_error!(
    "siteverify needs at least one provider feature: hcaptcha, recaptcha, turnstile, procaptcha, byebot, friendlycaptcha, recaptcha-enterprise or altcha"
);

#[cfg(feature = "altcha")]
pub mod altcha;
mod answer;
mod any;
mod breaker;
mod config;
mod contract;
mod error;
mod in_flight;
mod policy;
mod protocol;
mod provider;
mod provider_codes;
mod recaptcha_version;
mod secret;
mod test_keys;
pub mod testing;
mod timestamp;
mod token;
mod transport;
mod verdict;
mod verifier;
mod verify;
pub mod widget;

pub use answer::parse_answer;
pub use any::AnyVerifier;
pub use breaker::BreakerState;
pub use config::{
    DEFAULT_BREAKER_COOL_DOWN, DEFAULT_BREAKER_THRESHOLD, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT, MAX_TIMEOUT, VerifierConfig,
};
pub use contract::FailureCode;
pub use error::{BadAnswer, ConfigError, ErrorClass, MalformedToken, Outage, VerifyError};
pub use policy::{HostnamePattern, Policy, PolicyError, RECAPTCHA_V3_DEFAULT_MIN_SCORE};
pub use provider::{
    FRIENDLY_CAPTCHA_EU_VERIFY_URL, FRIENDLY_CAPTCHA_GLOBAL_VERIFY_URL, Provider, UnknownProvider,
    recaptcha_enterprise_url,
};
pub use recaptcha_version::{RecaptchaVersion, UnknownRecaptchaVersion};
pub use secret::Secret;
pub use transport::MAX_ANSWER_BYTES;
pub use verdict::Verdict;
pub use verifier::{Health, Verifier};
pub use verify::{BoxVerifier, BoxVerifyFuture, Verify, VerifyOptions};
