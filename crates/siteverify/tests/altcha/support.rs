use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use siteverify::{
    Policy, Verdict, VerifyError, VerifyOptions,
    altcha::{AltchaConfig, AltchaVerifier, ChallengeKind, V2Algorithm},
};

/// The HMAC key both implementations sign with.
pub(crate) const KEY: &str = "interop-test-hmac-key-0123456789abcdef";

/// A verifier that demands the action `signup`, as the demo's signup routes do.
pub(crate) fn config() -> AltchaConfig {
    AltchaConfig::new(KEY).policy(Policy::new().action("signup"))
}

pub(crate) fn verifier(config: AltchaConfig) -> AltchaVerifier {
    AltchaVerifier::new(config).expect("valid ALTCHA configuration")
}

/// Kinds cheap enough to solve many times in a debug build.
pub(crate) fn classic() -> ChallengeKind {
    ChallengeKind::Classic { max_number: 2_000 }
}

pub(crate) fn v2_sha() -> ChallengeKind {
    ChallengeKind::V2 {
        algorithm: V2Algorithm::Sha256,
        cost: 1,
        prefix_digits: 2,
    }
}

pub(crate) fn v2_pbkdf2() -> ChallengeKind {
    ChallengeKind::V2 {
        algorithm: V2Algorithm::Pbkdf2Sha256,
        cost: 100,
        prefix_digits: 1,
    }
}

pub(crate) async fn verify(
    verifier: &AltchaVerifier,
    payload: &str,
) -> Result<Verdict, VerifyError> {
    verifier.verify(payload, &VerifyOptions::new()).await
}

pub(crate) async fn code(verifier: &AltchaVerifier, payload: &str) -> &'static str {
    match verify(verifier, payload).await {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// A fresh challenge for `signup`, solved by our solver.
pub(crate) fn solved(verifier: &AltchaVerifier) -> String {
    siteverify::altcha::solve(&verifier.challenge_for(Some("signup"))).expect("solvable")
}

pub(crate) fn decode(payload: &str) -> Value {
    let json = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .expect("base64 payload");
    serde_json::from_slice(&json).expect("JSON payload")
}

pub(crate) fn encode(payload: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(payload.to_string())
}

/// Long enough for anything these tests do; short enough to keep stores small.
pub(crate) const LIFETIME: Duration = Duration::from_secs(120);
