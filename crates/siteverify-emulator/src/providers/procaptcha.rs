//! Prosopo Procaptcha: JSON `secret`, `token`, `ip?`, `email?`; the verdict is HTTP 200 with
//! `verified: true`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Endpoint;
use crate::input::{Format, Input};
use crate::provider::Provider;
use crate::reply::Reply;
use crate::state::{Redeemed, Registry};
use crate::token;

const TEST_SITE_KEY_PASS: &str = "5EARALUe4HXQwKo5KanZSGGKqJV4VTaytpezFwv8ZHbZewmh";
const TEST_SITE_KEY_FAIL: &str = "5ETtechmZkn3CUVeJX7Z511oiuiu742aHLm91D5ZZw4fqoAG";
pub(super) const TEST_SITE_KEYS: [&str; 2] = [TEST_SITE_KEY_PASS, TEST_SITE_KEY_FAIL];

pub(super) struct Procaptcha;

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({ "error": { "message": message, "code": code } }),
    )
}

fn verdict(verified: bool, status: &str) -> Reply {
    Reply::ok(json!({ "verified": verified, "status": status }))
}

/// Reads the `token` member: the raw `0x…` string, or (old widgets) a JSON object with a
/// string `token`, given either as JSON text or as a nested object. `Err` for any other shape.
fn token_field(input: &Input) -> Result<Option<String>, ()> {
    let wrapped = |value: &Value| match value.get("token") {
        Some(Value::String(inner)) if !inner.is_empty() => Some(inner.clone()),
        _ => None,
    };
    match input.fields.get("token") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) if raw.is_empty() => Ok(None),
        Some(Value::String(raw)) => {
            let old = serde_json::from_str::<Value>(raw)
                .ok()
                .filter(Value::is_object)
                .and_then(|v| wrapped(&v));
            Ok(Some(old.unwrap_or_else(|| raw.clone())))
        }
        Some(object @ Value::Object(_)) => wrapped(object).map(Some).ok_or(()),
        Some(_) => Err(()),
    }
}

impl Endpoint for Procaptcha {
    fn accepts(&self, format: Format) -> bool {
        format == Format::Json
    }

    fn token(&self, input: &Input) -> Option<String> {
        token_field(input).ok().flatten()
    }

    fn bad_request(&self) -> Reply {
        error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the body must be a JSON object",
        )
    }

    fn internal_error(&self) -> Reply {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal server error",
        )
    }

    fn error_codes(&self, codes: &[String]) -> Reply {
        let status = if codes.is_empty() {
            "invalid".to_owned()
        } else {
            codes.join(",")
        };
        verdict(false, &status)
    }

    fn verify(&self, registry: &mut Registry, input: &Input) -> Reply {
        let (Ok(secret), Ok(token)) = (input.text("secret"), token_field(input)) else {
            return self.bad_request();
        };
        let Some(secret) = secret else {
            return error(
                StatusCode::BAD_REQUEST,
                "MISSING_SECRET",
                "secret is required",
            );
        };
        let Some(token) = token else {
            return error(
                StatusCode::BAD_REQUEST,
                "MISSING_TOKEN",
                "token is required",
            );
        };
        let embedded = token::procaptcha_site_key(&token);
        match embedded.as_deref() {
            Some(TEST_SITE_KEY_PASS) => return verdict(true, "ok"),
            Some(TEST_SITE_KEY_FAIL) => return verdict(false, "invalid"),
            _ => {}
        }
        if !registry.secret_known(Provider::Procaptcha, secret) {
            return error(StatusCode::FORBIDDEN, "INVALID_SECRET", "unknown secret");
        }
        if let Some(site_key) = &embedded
            && !registry.site_registered(Provider::Procaptcha, site_key)
        {
            return error(
                StatusCode::BAD_REQUEST,
                "UNKNOWN_SITE_KEY",
                "the token's site key is not registered",
            );
        }
        match registry.redeem(Provider::Procaptcha, secret, &token, None) {
            Redeemed::Valid(minted) => {
                let mut body = json!({ "verified": true, "status": "ok" });
                if let (Some(score), Value::Object(members)) = (minted.score, &mut body) {
                    members.insert("score".to_owned(), json!(score));
                }
                Reply::ok(body)
            }
            Redeemed::Unknown => verdict(false, "invalid"),
            Redeemed::WrongSite => verdict(false, "site_key_mismatch"),
            Redeemed::Expired => verdict(false, "expired"),
            Redeemed::AlreadyUsed => verdict(false, "already_used"),
        }
    }
}
