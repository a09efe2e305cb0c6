//! Tower/Axum middleware that demands a solved CAPTCHA on chosen routes.

mod extract;
mod failure;
pub mod middleware;
mod outcome;
mod rejection;
mod skip;
mod sources;
#[cfg(feature = "axum")]
mod verified;

pub mod client_ip;
mod config;

pub use client_ip::{ClientIp, ClientIpSource};
pub use config::{CaptchaConfig, EnvError};
pub use failure::{FailureHandler, JsonFailure};
pub use middleware::{CaptchaBody, CaptchaLayer, CaptchaService, DEFAULT_BODY_LIMIT};
pub use outcome::CaptchaOutcome;
pub use rejection::Rejection;
pub use siteverify::{
    self, Policy, Provider, Verdict, Verifier, VerifierConfig, Verify, VerifyError,
};
pub use skip::SkipPredicate;
pub use sources::{InvalidSource, JsonPath, TokenSource, TokenSources};
#[cfg(feature = "axum")]
pub use verified::{MissingCaptchaLayer, Verified};
