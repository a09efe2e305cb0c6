//! Google reCAPTCHA v2/v3: form-urlencoded `secret`, `response`, `remoteip?`; answers JSON.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::{Endpoint, siteverify_failure};
use crate::clock::{Precision, rfc3339};
use crate::input::{Format, Input};
use crate::provider::Provider;
use crate::reply::Reply;
use crate::state::{Redeemed, Registry};

pub(super) const TEST_SITE_KEY: &str = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI";
pub(super) const TEST_SECRET: &str = "6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe";
const TEST_HOSTNAME: &str = "testkey.google.com";

pub(super) struct Recaptcha;

fn failure(code: &str) -> Reply {
    Reply::ok(siteverify_failure(&[code]))
}

/// The v2 shape; `score` and `action` (v3) only when the token carries them.
fn success(
    challenged_at: SystemTime,
    hostname: &str,
    score: Option<f64>,
    action: Option<&str>,
) -> Reply {
    let mut body = json!({
        "success": true,
        "challenge_ts": rfc3339(challenged_at, Precision::Seconds),
        "hostname": hostname,
    });
    if let Value::Object(members) = &mut body {
        if let Some(score) = score {
            members.insert("score".to_owned(), json!(score));
        }
        if let Some(action) = action {
            members.insert("action".to_owned(), json!(action));
        }
    }
    Reply::ok(body)
}

impl Endpoint for Recaptcha {
    fn accepts(&self, format: Format) -> bool {
        format == Format::Form
    }

    fn verify(&self, registry: &mut Registry, input: &Input) -> Reply {
        let (Ok(secret), Ok(response)) = (input.text("secret"), input.text("response")) else {
            return self.bad_request();
        };
        let Some(secret) = secret else {
            return failure("missing-input-secret");
        };
        let Some(response) = response else {
            return failure("missing-input-response");
        };
        if secret == TEST_SECRET {
            return success(SystemTime::now(), TEST_HOSTNAME, None, None);
        }
        if !registry.secret_known(Provider::Recaptcha, secret) {
            return failure("invalid-input-secret");
        }
        match registry.redeem(Provider::Recaptcha, secret, response, None) {
            Redeemed::Valid(token) => success(
                token.challenged_at,
                &token.hostname,
                token.score,
                token.action.as_deref(),
            ),
            Redeemed::Unknown | Redeemed::WrongSite => failure("invalid-input-response"),
            Redeemed::Expired | Redeemed::AlreadyUsed => failure("timeout-or-duplicate"),
        }
    }
}
