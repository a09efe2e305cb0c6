//! reCAPTCHA Enterprise, createAssessment: JSON `{"event": {"token", "siteKey",
//! "expectedAction"?, "userIpAddress"?, "userAgent"?}}` to
//! `/v1/projects/{project}/assessments`, the API key in `X-Goog-Api-Key` (or, as Google also
//! allows, `?key=`). A bad token still gets HTTP 200: `tokenProperties.valid` is the verdict.
//! Failures of the call are Google API errors.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Endpoint;
use crate::clock::{Precision, rfc3339};
use crate::input::{Format, Input};
use crate::provider::Provider;
use crate::reply::Reply;
use crate::state::{Redeemed, Registry};

/// The only Google Cloud project the emulator knows; the assessments of any other answer
/// 403 `PERMISSION_DENIED`.
pub const ENTERPRISE_PROJECT: &str = "emulator-project";

/// The score of a token minted without one: a person's.
const DEFAULT_SCORE: f64 = 0.9;

pub(super) struct RecaptchaEnterprise;

/// The Google API status names the emulator answers as errors, with their HTTP status.
const API_STATUSES: [(&str, StatusCode); 7] = [
    ("INVALID_ARGUMENT", StatusCode::BAD_REQUEST),
    ("UNAUTHENTICATED", StatusCode::UNAUTHORIZED),
    ("PERMISSION_DENIED", StatusCode::FORBIDDEN),
    ("NOT_FOUND", StatusCode::NOT_FOUND),
    ("RESOURCE_EXHAUSTED", StatusCode::TOO_MANY_REQUESTS),
    ("INTERNAL", StatusCode::INTERNAL_SERVER_ERROR),
    ("UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
];

fn api_error(status: &str, message: &str) -> Reply {
    let code = API_STATUSES
        .iter()
        .find(|(name, _)| *name == status)
        .map_or(StatusCode::BAD_REQUEST, |(_, code)| *code);
    Reply::json(
        code,
        json!({ "error": { "code": code.as_u16(), "message": message, "status": status } }),
    )
}

/// An assessment of a token that is not valid, for `reason`.
fn invalid(event: &Value, reason: &str) -> Reply {
    Reply::ok(json!({
        "name": assessment_name(),
        "event": event,
        "riskAnalysis": {},
        "tokenProperties": { "valid": false, "invalidReason": reason },
    }))
}

fn assessment_name() -> String {
    format!(
        "projects/{ENTERPRISE_PROJECT}/assessments/{}",
        uuid::Uuid::new_v4().simple()
    )
}

/// The event as Google echoes it: what was sent, without the token.
fn echoed(event: &serde_json::Map<String, Value>) -> Value {
    let mut echoed = event.clone();
    echoed.remove("token");
    Value::Object(echoed)
}

fn text<'a>(event: &'a serde_json::Map<String, Value>, name: &str) -> Result<Option<&'a str>, ()> {
    match event.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(()),
    }
}

impl Endpoint for RecaptchaEnterprise {
    fn accepts(&self, format: Format) -> bool {
        format == Format::Json
    }

    fn token(&self, input: &Input) -> Option<String> {
        match input.fields.get("event")?.get("token")? {
            Value::String(token) if !token.is_empty() => Some(token.clone()),
            _ => None,
        }
    }

    /// A code that is a Google API status is answered as that error; any other code as the
    /// `invalidReason` of an invalid token (HTTP 200).
    fn failure(&self, codes: &[&str]) -> Reply {
        let code = codes.first().copied().unwrap_or("MALFORMED");
        if API_STATUSES.iter().any(|(name, _)| *name == code) {
            api_error(code, "an error the test asked for")
        } else {
            invalid(&json!({}), code)
        }
    }

    fn bad_request(&self) -> Reply {
        api_error("INVALID_ARGUMENT", "Invalid JSON payload received.")
    }

    fn internal_error(&self) -> Reply {
        api_error("INTERNAL", "Internal error encountered.")
    }

    fn verify(&self, registry: &mut Registry, input: &Input) -> Reply {
        let project = input
            .path
            .strip_prefix("/v1/projects/")
            .and_then(|rest| rest.strip_suffix("/assessments"))
            .unwrap_or_default();
        let api_key = input
            .header("x-goog-api-key")
            .map(str::to_owned)
            .or_else(|| input.query_param("key"));
        let Some(api_key) = api_key else {
            return api_error(
                "UNAUTHENTICATED",
                "Method doesn't allow unregistered callers (callers without established identity).",
            );
        };
        if !registry.secret_known(Provider::RecaptchaEnterprise, &api_key) {
            return api_error(
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
            );
        }
        if project != ENTERPRISE_PROJECT {
            return api_error(
                "PERMISSION_DENIED",
                "Permission denied for the project, or it does not exist.",
            );
        }
        let Some(Value::Object(event)) = input.fields.get("event") else {
            return api_error("INVALID_ARGUMENT", "Request contains an invalid argument.");
        };
        let (Ok(token), Ok(site_key), Ok(_), Ok(_), Ok(_)) = (
            text(event, "token"),
            text(event, "siteKey"),
            text(event, "expectedAction"),
            text(event, "userIpAddress"),
            text(event, "userAgent"),
        ) else {
            return api_error("INVALID_ARGUMENT", "Request contains an invalid argument.");
        };
        let Some(site_key) = site_key else {
            return api_error("INVALID_ARGUMENT", "The site key is required.");
        };
        if !registry.owns(Provider::RecaptchaEnterprise, &api_key, site_key) {
            return api_error(
                "PERMISSION_DENIED",
                "The site key does not belong to this project.",
            );
        }
        let event_echo = echoed(event);
        let Some(token) = token else {
            return invalid(&event_echo, "MISSING");
        };
        match registry.redeem(
            Provider::RecaptchaEnterprise,
            &api_key,
            token,
            Some(site_key),
        ) {
            Redeemed::Valid(minted) => {
                let score = minted.score.unwrap_or(DEFAULT_SCORE);
                // A low score comes with Google's usual reason for one.
                let reasons: &[&str] = if score < 0.5 { &["AUTOMATION"] } else { &[] };
                Reply::ok(json!({
                    "name": assessment_name(),
                    "event": event_echo,
                    "riskAnalysis": { "score": score, "reasons": reasons },
                    "tokenProperties": {
                        "valid": true,
                        "invalidReason": "INVALID_REASON_UNSPECIFIED",
                        "hostname": minted.hostname,
                        "action": minted.action.as_deref().unwrap_or(""),
                        "createTime": rfc3339(minted.challenged_at, Precision::Millis),
                    },
                }))
            }
            Redeemed::Unknown => invalid(&event_echo, "MALFORMED"),
            Redeemed::WrongSite => invalid(&event_echo, "SITE_MISMATCH"),
            Redeemed::Expired => invalid(&event_echo, "EXPIRED"),
            Redeemed::AlreadyUsed => invalid(&event_echo, "DUPE"),
        }
    }
}
