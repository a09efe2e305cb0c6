//! Friendly Captcha v2: JSON or form `response`, `sitekey?`; the API key in the `X-API-Key`
//! header. Answers `{"success":true,"data":{…}}` or `{"success":false,"error":{…}}` with the
//! status each error code documents.

use axum::http::StatusCode;
use serde_json::json;

use super::Endpoint;
use crate::clock::{Precision, rfc3339};
use crate::input::{Format, Input};
use crate::provider::Provider;
use crate::reply::Reply;
use crate::state::{Redeemed, Registry};

pub(super) struct FriendlyCaptcha;

/// The documented maximum size of `response`: "16KB", read as 16,000 bytes.
const MAX_RESPONSE_LEN: usize = 16_000;

/// The HTTP status Friendly Captcha documents for each error code; codes it does not document
/// (a test's own) are answered with 200, as the token's faults are.
fn status_of(code: &str) -> StatusCode {
    match code {
        "auth_required" | "auth_invalid" => StatusCode::UNAUTHORIZED,
        "sitekey_invalid" | "response_missing" | "bad_request" => StatusCode::BAD_REQUEST,
        "internal_server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::OK,
    }
}

fn error(code: &str, detail: &str) -> Reply {
    Reply::json(
        status_of(code),
        json!({ "success": false, "error": { "error_code": code, "detail": detail } }),
    )
}

/// The page's origin as the browser reports it: the minted hostname over https; an empty
/// hostname gives the empty origin Friendly Captcha sends when it does not know it.
fn origin(hostname: &str) -> String {
    if hostname.is_empty() {
        String::new()
    } else {
        format!("https://{hostname}")
    }
}

impl Endpoint for FriendlyCaptcha {
    fn accepts(&self, _format: Format) -> bool {
        true
    }

    fn failure(&self, codes: &[&str]) -> Reply {
        error(codes.first().copied().unwrap_or("response_invalid"), "")
    }

    fn bad_request(&self) -> Reply {
        error("bad_request", "the body must be a JSON object or a form")
    }

    fn internal_error(&self) -> Reply {
        error("internal_server_error", "")
    }

    fn verify(&self, registry: &mut Registry, input: &Input) -> Reply {
        let Some(api_key) = input.header("x-api-key") else {
            return error("auth_required", "the X-API-Key header is missing");
        };
        if !registry.secret_known(Provider::FriendlyCaptcha, api_key) {
            return error("auth_invalid", "unknown API key");
        }
        let (Ok(response), Ok(sitekey)) = (input.text("response"), input.text("sitekey")) else {
            return self.bad_request();
        };
        let Some(response) = response else {
            return error("response_missing", "the response parameter is missing");
        };
        if response.len() > MAX_RESPONSE_LEN {
            return error("bad_request", "the response is larger than 16KB");
        }
        if let Some(sitekey) = sitekey
            && !registry.owns(Provider::FriendlyCaptcha, api_key, sitekey)
        {
            return error(
                "sitekey_invalid",
                "the sitekey is not one of this account's",
            );
        }
        match registry.redeem(Provider::FriendlyCaptcha, api_key, response, sitekey) {
            Redeemed::Valid(token) => Reply::ok(json!({
                "success": true,
                "data": {
                    "event_id": format!("ev_{}", uuid::Uuid::new_v4().simple()),
                    "challenge": {
                        "timestamp": rfc3339(token.challenged_at, Precision::Seconds),
                        "origin": origin(&token.hostname),
                    },
                    "risk_intelligence": null,
                },
            })),
            Redeemed::Unknown | Redeemed::WrongSite => error("response_invalid", ""),
            Redeemed::Expired => error("response_timeout", ""),
            Redeemed::AlreadyUsed => error("response_duplicate", ""),
        }
    }
}
