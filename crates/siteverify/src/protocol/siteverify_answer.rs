//! The answer shape hCaptcha, reCAPTCHA and Turnstile share (`success`, `challenge_ts`,
//! `hostname`, `error-codes`, …). Unknown fields are ignored; a known field of the wrong type
//! makes the answer unreadable.

use std::time::SystemTime;

use serde::Deserialize;

use super::{Call, outage, parse_json, unusable};
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

/// Reads the answer. The HTTP status is not documented for these providers, so it is the body
/// that decides, except that 429 and 5xx are outages and need no body.
pub(super) fn decode(
    provider: Provider,
    call: &Call<'_>,
    answer: &WireAnswer,
) -> Result<Verdict, VerifyError> {
    if let Some(outage) = outage(answer) {
        return Err(outage);
    }
    let parsed: Answer = parse_json(answer).map_err(|e| unusable(answer.status, e))?;
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
        verdict = verdict.with_score(score);
    }
    Ok(verdict)
}

/// Empty strings mean "not set" in these answers (Turnstile sends `"action": ""`).
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}
