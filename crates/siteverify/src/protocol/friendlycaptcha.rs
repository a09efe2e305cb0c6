//! Friendly Captcha v2: JSON `response` and, when a site key is bound, `sitekey`; the API key
//! in the `X-API-Key` header, never in the body or the URL. The answer is
//! `{"success": true, "data": {…}}` or `{"success": false, "error": {"error_code", …}}`, with
//! HTTP 200 for the token's faults and 400/401 for ours.

use std::time::SystemTime;

use http::HeaderName;
use serde::{Deserialize, Serialize};

use super::{Call, Codec, parse_json, refusal_of_status};
use crate::{
    Outage, Provider, Verdict, VerifyError, timestamp,
    transport::{WireAnswer, WireBody},
};

pub(super) static CODEC: Codec = Codec {
    encode,
    decode,
    idempotent: false,
};

const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

fn encode(call: &Call<'_>) -> WireBody {
    // Friendly Captcha documents no client-IP field, so none is sent.
    #[derive(Serialize)]
    struct Request<'a> {
        response: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        sitekey: Option<&'a str>,
    }
    WireBody::json(&Request {
        response: call.token,
        sitekey: call.site_key,
    })
    .with_secret_header(API_KEY_HEADER, call.secret)
}

#[derive(Deserialize)]
struct Answer {
    success: bool,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    challenge: Option<Challenge>,
}

#[derive(Deserialize)]
struct Challenge {
    #[serde(default, deserialize_with = "timestamp::deserialize_rfc3339_opt")]
    timestamp: Option<SystemTime>,
    #[serde(default)]
    origin: Option<String>,
}

/// `detail` is left unread: it is prose for humans, and may one day quote what we sent.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<String>,
}

/// Codes that say our request or configuration is wrong. Friendly Captcha answers them with
/// 400 or 401. `response_missing` is among them: we never send an empty token (the local
/// pre-check refuses it first), so a provider that misses it got a request we built wrong.
const CONFIGURATION: &[&str] = &[
    "auth_required",
    "auth_invalid",
    "sitekey_invalid",
    "response_missing",
    "bad_request",
];

/// Turns Friendly Captcha's error code (none: an empty list) into an error.
fn classify(codes: Vec<String>) -> VerifyError {
    let has = |set: &[&str]| codes.iter().any(|c| set.contains(&c.as_str()));
    if has(CONFIGURATION) {
        VerifyError::ProviderMisconfigured {
            provider_codes: codes,
        }
    } else if has(&["internal_server_error"]) {
        VerifyError::ProviderUnavailable(Outage::InternalError)
    } else if has(&["response_timeout", "response_duplicate"]) {
        VerifyError::ExpiredOrDuplicate {
            provider_codes: codes,
        }
    } else {
        // `response_invalid`, and codes added later: the token's fault, kept verbatim.
        VerifyError::InvalidToken {
            provider_codes: codes,
        }
    }
}

fn codes_of(answer: Answer) -> Vec<String> {
    answer
        .error
        .and_then(|e| e.error_code)
        .filter(|c| !c.is_empty())
        .into_iter()
        .collect()
}

fn decode(call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    if answer.status != 200 {
        // A documented refusal (400, 401) names its code; only ours or the token's fault is
        // read from it, never an outage, which only the status may claim. Anything else is
        // decided by the status alone.
        if matches!(answer.status, 400..=499 if !matches!(answer.status, 404 | 405 | 429))
            && let Ok(parsed) = parse_json::<Answer>(answer)
            && !parsed.success
        {
            let refusal = classify(codes_of(parsed));
            if refusal.class() != crate::ErrorClass::Provider {
                return Err(refusal);
            }
        }
        return Err(refusal_of_status(answer));
    }
    let parsed: Answer = parse_json(answer)?;
    if !parsed.success {
        return Err(classify(codes_of(parsed)));
    }
    let challenge = parsed.data.and_then(|d| d.challenge);
    let mut verdict = Verdict::new(Provider::FriendlyCaptcha);
    if let Some(challenge) = challenge {
        verdict.challenge_ts = challenge.timestamp;
        verdict.hostname = challenge.origin.as_deref().and_then(host_of_origin);
    }
    // Friendly Captcha refused a token of another site key, so the verdict names the key it
    // was bound to, as hCaptcha's does.
    verdict.site_key = call.site_key.map(str::to_owned);
    Ok(verdict)
}

/// The host of a page origin (`https://shop.example.com:8443` → `shop.example.com`). The
/// origin "can be empty if unknown", and one of Friendly Captcha's pages shows it without a
/// scheme (`example.com`): both are read. Whatever is left is judged by the hostname policy,
/// which only matches DNS names.
fn host_of_origin(origin: &str) -> Option<String> {
    let rest = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    (!host.is_empty()).then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_read_from_every_form_of_origin() {
        for (origin, host) in [
            ("https://example.com", Some("example.com")),
            ("https://shop.example.com:8443", Some("shop.example.com")),
            ("http://localhost:3000/", Some("localhost")),
            ("example.com", Some("example.com")),
            ("https://[::1]:8080", Some("::1")),
            ("", None),
            ("https://", None),
            (
                "https://user@evil.example/x.example.com",
                Some("evil.example"),
            ),
        ] {
            assert_eq!(host_of_origin(origin).as_deref(), host, "{origin}");
        }
    }

    #[test]
    fn every_documented_code_has_a_class() {
        for (raw, expected) in [
            ("auth_required", "provider_misconfigured"),
            ("auth_invalid", "provider_misconfigured"),
            ("sitekey_invalid", "provider_misconfigured"),
            ("response_missing", "provider_misconfigured"),
            ("bad_request", "provider_misconfigured"),
            ("response_invalid", "invalid_token"),
            ("response_timeout", "expired_or_duplicate"),
            ("response_duplicate", "expired_or_duplicate"),
            ("internal_server_error", "provider_unavailable"),
            ("brand_new_code", "invalid_token"),
        ] {
            assert_eq!(classify(vec![raw.to_owned()]).code(), expected, "{raw}");
        }
        assert_eq!(classify(Vec::new()).code(), "invalid_token");
    }
}
