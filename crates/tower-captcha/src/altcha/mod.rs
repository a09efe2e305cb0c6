//! ALTCHA's challenge endpoint: the self-hosted proof of work needs a route that hands the
//! widget its challenge.
//!
//! The widget (`<altcha-widget challengeurl="/altcha/challenge" name="altcha">`) fetches a
//! challenge from its `challengeurl`, solves it in the browser and writes the solution into
//! the form field `altcha`, which [`CaptchaLayer::altcha`](crate::CaptchaLayer::altcha)
//! verifies. [`ChallengeService`] is that endpoint as a tower service: `GET` (and `HEAD`)
//! answer a fresh signed challenge as JSON with `Cache-Control: no-store` (a challenge
//! served twice from a cache would be solved once and refused the second time); any other
//! method is 405. [`challenge_route`] (feature `axum`) mounts it on an axum router.
//!
//! Each challenge is signed for an action (`signup`, `checkout`), and the route guarding the
//! form demands it, so a challenge fetched for one form cannot be spent on another. Issuing
//! costs a random salt and an HMAC, no storage: nothing is remembered until a solution is
//! verified.
//!
//! # Rate limiting
//!
//! Solving is the client's work, issuing is yours, and it is cheap; still, every challenge a
//! bot fetches is one it can solve offline and spend later. The endpoint does not limit
//! itself, so that you put the limit you use elsewhere in front of it: it is a plain
//! [`Service`](tower::Service), always ready, cheap to clone, so any tower layer wraps it (a
//! per-IP limiter such as `tower_governor`, your proxy's limit), on the route with
//! `MethodRouter::layer`. tower's own `RateLimit` keeps its count in the service, and axum
//! clones a route's service for every request: put it behind a `Buffer`, which shares one,
//! and a `LoadShed`, which refuses instead of queueing, with axum's `HandleErrorLayer`
//! answering the refusal (429, say).
//!
//! # Example
//!
//! A signup form guarded by ALTCHA, its challenge route beside it. What the widget does in
//! the browser (find the number, post the payload) is done here by a few hidden lines.
//!
//! ```
//! use axum::{Router, routing::post};
//! use siteverify::altcha::AltchaConfig;
//! use tower_captcha::{CaptchaLayer, Policy, altcha::challenge_route};
//!
//! # /// The classic proof of work, as the widget does it.
//! # fn solve(challenge: &serde_json::Value) -> String {
//! #     use base64::Engine;
//! #     use sha2::{Digest, Sha256};
//! #     let (salt, target) = (challenge["salt"].as_str().unwrap(), challenge["challenge"].as_str().unwrap());
//! #     let number = (0..=challenge["maxnumber"].as_u64().unwrap())
//! #         .find(|n| {
//! #             let hash = Sha256::digest(format!("{salt}{n}"));
//! #             hash.iter().map(|b| format!("{b:02x}")).collect::<String>() == target
//! #         })
//! #         .unwrap();
//! #     let payload = serde_json::json!({
//! #         "algorithm": challenge["algorithm"], "challenge": target, "number": number,
//! #         "salt": salt, "signature": challenge["signature"], "took": 1,
//! #     });
//! #     base64::engine::general_purpose::STANDARD.encode(payload.to_string())
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = CaptchaLayer::altcha(
//!     AltchaConfig::new("3f9c2d7e1a8b4c6d0e5f7a9b2c4d6e8f").policy(Policy::new().action("signup")),
//! )?;
//! let app = Router::new()
//!     // Challenges signed for `signup`; put your rate limit on this route.
//!     .route("/altcha/challenge", challenge_route(guard.verifier().clone(), Some("signup")))
//!     .route("/signup", post(|| async { "welcome" }).layer(guard));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let base = format!("http://{}", listener.local_addr()?);
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! let client = reqwest::Client::new();
//! let challenge = client.get(format!("{base}/altcha/challenge")).send().await?;
//! assert_eq!(challenge.headers()["cache-control"], "no-store");
//! let challenge: serde_json::Value = challenge.json().await?;
//! let altcha = solve(&challenge); // the browser's part
//! let response = client.post(format!("{base}/signup")).form(&[("altcha", &altcha)]).send().await?;
//! assert_eq!(response.text().await?, "welcome");
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "axum")]
mod route;
mod service;

#[cfg(feature = "axum")]
pub use route::challenge_route;
pub use service::ChallengeService;
