//! Cloudflare Turnstile: JSON or form `secret`, `response`, `remoteip?`, `idempotency_key?`;
//! answers JSON.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::{Endpoint, siteverify_failure};
use crate::clock::{Precision, rfc3339};
use crate::input::{Format, Input};
use crate::provider::Provider;
use crate::reply::Reply;
use crate::state::{Redeemed, Registry};

/// Test site keys: always passes, always fails, forces an interactive challenge. All of them
/// emit [`DUMMY_TOKEN`].
pub(super) const TEST_SITE_KEYS: [&str; 3] = [
    "1x00000000000000000000AA",
    "2x00000000000000000000AB",
    "3x00000000000000000000FF",
];
pub(super) const TEST_SECRET_PASS: &str = "1x0000000000000000000000000000000AA";
const TEST_SECRET_FAIL: &str = "2x0000000000000000000000000000000AA";
const TEST_SECRET_SPENT: &str = "3x0000000000000000000000000000000AA";
pub(super) const DUMMY_TOKEN: &str = "XXXX.DUMMY.TOKEN.XXXX";
const DUMMY_HOSTNAME: &str = "example.com";
const MAX_TOKEN_LEN: usize = 2048;

pub(super) struct Turnstile;

fn failure<S: AsRef<str>>(codes: &[S]) -> Reply {
    let mut body = siteverify_failure(codes);
    if let Value::Object(members) = &mut body {
        members.insert("messages".to_owned(), json!([]));
    }
    Reply::ok(body)
}

fn success(challenged_at: SystemTime, hostname: &str, action: &str, cdata: &str) -> Reply {
    Reply::ok(json!({
        "success": true,
        "challenge_ts": rfc3339(challenged_at, Precision::Millis),
        "hostname": hostname,
        "error-codes": [],
        "action": action,
        "cdata": cdata,
        "metadata": {},
    }))
}

/// Cloudflare asks for a UUID; we accept its canonical hyphenated form only.
fn is_uuid(key: &str) -> bool {
    key.len() == 36 && uuid::Uuid::try_parse(key).is_ok()
}

fn check_token(registry: &mut Registry, secret: &str, response: &str) -> Reply {
    if response.len() > MAX_TOKEN_LEN || response == DUMMY_TOKEN {
        return failure(&["invalid-input-response"]);
    }
    match registry.redeem(Provider::Turnstile, secret, response, None) {
        Redeemed::Valid(token) => success(
            token.challenged_at,
            &token.hostname,
            token.action.as_deref().unwrap_or(""),
            token.cdata.as_deref().unwrap_or(""),
        ),
        Redeemed::Unknown | Redeemed::WrongSite => failure(&["invalid-input-response"]),
        Redeemed::Expired | Redeemed::AlreadyUsed => failure(&["timeout-or-duplicate"]),
    }
}

impl Endpoint for Turnstile {
    fn accepts(&self, _format: Format) -> bool {
        true
    }

    fn failure(&self, codes: &[&str]) -> Reply {
        failure(codes)
    }

    fn verify(&self, registry: &mut Registry, input: &Input) -> Reply {
        let (Ok(secret), Ok(response), Ok(idempotency_key)) = (
            input.text("secret"),
            input.text("response"),
            input.text("idempotency_key"),
        ) else {
            return self.bad_request();
        };
        let Some(secret) = secret else {
            return failure(&["missing-input-secret"]);
        };
        let Some(response) = response else {
            return failure(&["missing-input-response"]);
        };
        match secret {
            TEST_SECRET_PASS if response == DUMMY_TOKEN => {
                return success(SystemTime::now(), DUMMY_HOSTNAME, "", "");
            }
            TEST_SECRET_PASS | TEST_SECRET_FAIL => return failure(&["invalid-input-response"]),
            TEST_SECRET_SPENT => return failure(&["timeout-or-duplicate"]),
            _ => {}
        }
        if !registry.secret_known(Provider::Turnstile, secret) {
            return failure(&["invalid-input-secret"]);
        }
        let Some(key) = idempotency_key else {
            return check_token(registry, secret, response);
        };
        if !is_uuid(key) {
            return failure(&["invalid-idempotency-key"]);
        }
        if let Some((token, reply)) = registry.idempotent_answer(key) {
            // Replaying the first answer is what makes a retry of a consumed token safe.
            return if token == response {
                reply.clone()
            } else {
                failure(&["invalid-idempotency-key"])
            };
        }
        let reply = check_token(registry, secret, response);
        registry.remember_answer(key, response, &reply);
        reply
    }
}
