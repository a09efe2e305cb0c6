//! The answer shape hCaptcha, reCAPTCHA and Turnstile share (`success`, `challenge_ts`,
//! `hostname`, `error-codes`, …). Unknown fields are ignored; a known field of the wrong type
//! makes the answer unreadable.

use std::time::SystemTime;

use serde::Deserialize;

use super::{Call, parse_json, read_score, refusal_of_status};
use crate::{Provider, Verdict, VerifyError, provider_codes, timestamp, transport::WireAnswer};

#[derive(Deserialize)]
struct Answer {
    success: bool,
    #[serde(default, deserialize_with = "timestamp::deserialize_rfc3339_opt")]
    challenge_ts: Option<SystemTime>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    apk_package_name: Option<String>,
    #[serde(default, rename = "error-codes")]
    error_codes: Option<Vec<String>>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    cdata: Option<String>,
}

/// Reads the answer. Only an HTTP 200 can be a pass. These providers document no status for
/// failures, so a 4xx (other than a wrong URL's 404 or 405) whose body is a readable refusal
/// is read like one: a bad token stays the client's fault even when the provider chose to
/// answer 400. Every other status is decided by it alone (see [`refusal_of_status`]).
pub(super) fn decode(
    provider: Provider,
    call: &Call<'_>,
    answer: &WireAnswer,
) -> Result<Verdict, VerifyError> {
    let refusal_with_body =
        matches!(answer.status, 400..=499 if !matches!(answer.status, 404 | 405 | 429));
    if answer.status != 200 {
        if refusal_with_body
            && let Ok(parsed) = parse_json::<Answer>(answer)
            && !parsed.success
        {
            // Only the token's fault or ours is read from such a body: an outage code
            // (`internal-error`) under a 4xx must not become something fail-open covers.
            let refusal =
                provider_codes::classify(parsed.error_codes.unwrap_or_default(), call.context());
            if refusal.class() != crate::ErrorClass::Provider {
                return Err(refusal);
            }
        }
        return Err(refusal_of_status(answer));
    }
    let parsed: Answer = parse_json(answer)?;
    let codes = parsed.error_codes.unwrap_or_default();
    if !parsed.success {
        return Err(provider_codes::classify(codes, call.context()));
    }
    let mut verdict = Verdict::new(provider);
    verdict.hostname = non_empty(parsed.hostname);
    verdict.apk_package_name = non_empty(parsed.apk_package_name);
    verdict.action = non_empty(parsed.action);
    verdict.cdata = non_empty(parsed.cdata);
    verdict.challenge_ts = parsed.challenge_ts;
    verdict.error_codes = codes;
    if let Some(score) = parsed.score {
        verdict = verdict.with_score(read_score(score)?);
    }
    Ok(verdict)
}

/// Empty strings mean "not set" in these answers (Turnstile sends `"action": ""`).
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}
