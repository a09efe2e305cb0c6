//! hCaptcha: form-urlencoded `secret`, `response`, `remoteip?`, `sitekey?`; answers JSON.

use std::net::IpAddr;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::{Endpoint, siteverify_failure};
use crate::clock::{Precision, rfc3339};
use crate::input::{Format, Input};
use crate::provider::Provider;
use crate::reply::Reply;
use crate::state::{Redeemed, Registry};

pub(super) const TEST_SECRET: &str = "0x0000000000000000000000000000000000000000";

pub(super) struct TestKey {
    pub(super) site_key: &'static str,
    pub(super) token: &'static str,
    /// Enterprise risk score the key reports: low for "safe user", high for "bot detected".
    score: Option<f64>,
}

pub(super) const TEST_KEYS: [TestKey; 3] = [
    TestKey {
        site_key: "10000000-ffff-ffff-ffff-000000000001",
        token: "10000000-aaaa-bbbb-cccc-000000000001",
        score: None,
    },
    TestKey {
        site_key: "20000000-ffff-ffff-ffff-000000000002",
        token: "20000000-aaaa-bbbb-cccc-000000000002",
        score: Some(0.1),
    },
    TestKey {
        site_key: "30000000-ffff-ffff-ffff-000000000003",
        token: "30000000-aaaa-bbbb-cccc-000000000003",
        score: Some(0.95),
    },
];

const TEST_HOSTNAME: &str = "dummy-key-pass";

pub(super) struct HCaptcha;

fn failure(code: &str) -> Reply {
    Reply::ok(siteverify_failure(&[code]))
}

fn success(challenged_at: SystemTime, hostname: &str, score: Option<f64>) -> Reply {
    let mut body = json!({
        "success": true,
        "challenge_ts": rfc3339(challenged_at, Precision::Micros),
        "hostname": hostname,
        "credit": false,
    });
    if let (Some(score), Value::Object(members)) = (score, &mut body) {
        members.insert("score".to_owned(), json!(score));
        members.insert("score_reason".to_owned(), json!([]));
    }
    Reply::ok(body)
}

impl Endpoint for HCaptcha {
    fn accepts(&self, format: Format) -> bool {
        format == Format::Form
    }

    fn verify(&self, registry: &mut Registry, input: &Input) -> Reply {
        let (Ok(secret), Ok(response), Ok(remoteip), Ok(sitekey)) = (
            input.text("secret"),
            input.text("response"),
            input.text("remoteip"),
            input.text("sitekey"),
        ) else {
            return self.bad_request();
        };
        let Some(secret) = secret else {
            return failure("missing-input-secret");
        };
        let Some(response) = response else {
            return failure("missing-input-response");
        };
        if remoteip.is_some_and(|ip| ip.parse::<IpAddr>().is_err()) {
            return failure("invalid-remoteip");
        }
        let test_key = TEST_KEYS.iter().find(|k| k.token == response);

        if secret == TEST_SECRET {
            if sitekey.is_some_and(|k| !registry.owns(Provider::HCaptcha, secret, k)) {
                return failure("sitekey-secret-mismatch");
            }
            return match test_key {
                Some(key) => success(SystemTime::now(), TEST_HOSTNAME, key.score),
                None => failure("invalid-input-response"),
            };
        }
        if !registry.secret_known(Provider::HCaptcha, secret) {
            return failure("invalid-input-secret");
        }
        let test_site_key = sitekey.is_some_and(|k| TEST_KEYS.iter().any(|t| t.site_key == k));
        if test_key.is_some() || test_site_key {
            return failure("not-using-dummy-passcode");
        }
        if sitekey.is_some_and(|k| !registry.owns(Provider::HCaptcha, secret, k)) {
            return failure("sitekey-secret-mismatch");
        }
        match registry.redeem(Provider::HCaptcha, secret, response, sitekey) {
            Redeemed::Valid(token) => success(token.challenged_at, &token.hostname, token.score),
            Redeemed::Unknown | Redeemed::WrongSite => failure("invalid-input-response"),
            Redeemed::Expired => failure("expired-input-response"),
            Redeemed::AlreadyUsed => failure("already-seen-response"),
        }
    }
}
