//! reCAPTCHA Enterprise, createAssessment: JSON `{"event": {"token", "siteKey",
//! "expectedAction"?, "userIpAddress"?}}` to `…/v1/projects/{project}/assessments`, the API
//! key in the `X-Goog-Api-Key` header (never `?key=`, which would put it in the URL). The
//! call succeeds for bad tokens too: the pass bit is `tokenProperties.valid`. Failures of the
//! call itself are Google API errors, `{"error": {"code", "message", "status"}}`.

use std::{net::IpAddr, time::SystemTime};

use http::HeaderName;
use serde::{Deserialize, Serialize};

use super::{Call, Codec, parse_json, read_score, refusal_of_status};
use crate::{
    Outage, Provider, Verdict, VerifyError, timestamp,
    transport::{WireAnswer, WireBody},
};

pub(super) static CODEC: Codec = Codec {
    encode,
    decode,
    idempotent: false,
};

const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-goog-api-key");

fn encode(call: &Call<'_>) -> WireBody {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Event<'a> {
        token: &'a str,
        site_key: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        expected_action: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_ip_address: Option<IpAddr>,
    }
    #[derive(Serialize)]
    struct Request<'a> {
        event: Event<'a>,
    }
    WireBody::json(&Request {
        event: Event {
            token: call.token,
            // The verifier refuses to be built without a site key.
            site_key: call.site_key.unwrap_or_default(),
            expected_action: call.expected_action,
            user_ip_address: call.remote_ip,
        },
    })
    .with_secret_header(API_KEY_HEADER, call.secret)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Assessment {
    token_properties: TokenProperties,
    #[serde(default)]
    risk_analysis: Option<RiskAnalysis>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenProperties {
    valid: bool,
    #[serde(default)]
    invalid_reason: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    android_package_name: Option<String>,
    #[serde(default)]
    ios_bundle_id: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default, deserialize_with = "timestamp::deserialize_rfc3339_opt")]
    create_time: Option<SystemTime>,
}

#[derive(Deserialize)]
struct RiskAnalysis {
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    reasons: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ApiError {
    error: ApiErrorBody,
}

/// `message` is left unread: prose, which may repeat parts of our request.
#[derive(Deserialize)]
struct ApiErrorBody {
    #[serde(default)]
    status: Option<String>,
}

/// What an invalid token's `invalidReason` becomes.
fn invalid(reason: Option<String>) -> VerifyError {
    let reason = reason.filter(|r| !r.is_empty());
    let codes = || reason.clone().into_iter().collect::<Vec<_>>();
    match reason.as_deref() {
        Some("EXPIRED" | "DUPE") => VerifyError::ExpiredOrDuplicate {
            provider_codes: codes(),
        },
        // Present in the v1beta1 enum (v1 dropped it): a token made with another site key, as
        // a client can send at will, so the token's fault.
        Some("SITE_MISMATCH") => VerifyError::InvalidToken {
            provider_codes: codes(),
        },
        // The page's action was not the expected one (keys with policy-based challenges).
        Some("UNEXPECTED_ACTION") => VerifyError::InvalidToken {
            provider_codes: codes(),
        },
        // We never send an empty token (the pre-check refuses it first).
        Some("MISSING") => VerifyError::MissingToken,
        // MALFORMED, BROWSER_ERROR ("could easily be simulated by an attacker"),
        // UNKNOWN_INVALID_REASON, INVALID_REASON_UNSPECIFIED, and reasons added later.
        _ => VerifyError::InvalidToken {
            provider_codes: codes(),
        },
    }
}

/// A Google API error: what its status says, and the status code as a provider code.
fn api_error(answer: &WireAnswer) -> VerifyError {
    let status = serde_json::from_slice::<ApiError>(&answer.body)
        .ok()
        .and_then(|e| e.error.status)
        .filter(|s| !s.is_empty());
    let codes = || {
        let mut codes = vec![format!("http-{}", answer.status)];
        codes.extend(status.clone());
        codes
    };
    match (answer.status, status.as_deref()) {
        // The project's quota (or the key's rate limit) is used up: an outage to route
        // around, never one to fail open on, never retried.
        (429, Some("RESOURCE_EXHAUSTED")) => {
            VerifyError::ProviderUnavailable(Outage::QuotaExhausted {
                retry_after: answer.retry_after,
            })
        }
        // Our request (INVALID_ARGUMENT: a bad API key, a site key of no project, a field),
        // our key (UNAUTHENTICATED) or our project (PERMISSION_DENIED, NOT_FOUND): ours to fix.
        (400 | 401 | 403 | 404, _) => VerifyError::ProviderMisconfigured {
            provider_codes: codes(),
        },
        _ => refusal_of_status(answer),
    }
}

fn decode(call: &Call<'_>, answer: &WireAnswer) -> Result<Verdict, VerifyError> {
    if answer.status != 200 {
        return Err(api_error(answer));
    }
    let assessment: Assessment = parse_json(answer)?;
    let token = assessment.token_properties;
    if !token.valid {
        return Err(invalid(token.invalid_reason));
    }
    let mut verdict = Verdict::new(Provider::RecaptchaEnterprise);
    let non_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
    verdict.hostname = non_empty(token.hostname);
    verdict.apk_package_name = non_empty(token.android_package_name);
    verdict.ios_bundle_id = non_empty(token.ios_bundle_id);
    verdict.action = non_empty(token.action);
    verdict.challenge_ts = token.create_time;
    // Google checked the token against the site key we named.
    verdict.site_key = call.site_key.map(str::to_owned);
    if let Some(risk) = assessment.risk_analysis {
        verdict.risk_reasons = risk.reasons.unwrap_or_default();
        if let Some(score) = risk.score {
            verdict = verdict.with_score(read_score(score)?);
        }
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn call(secret: &Secret) -> Call<'_> {
        Call {
            token: "03Atoken",
            secret,
            remote_ip: Some("203.0.113.7".parse().unwrap()),
            site_key: Some("site"),
            idempotency_key: None,
            expected_action: Some("signup"),
            test_keys: false,
            test_secret: false,
        }
    }

    fn answer(status: u16, body: &str) -> WireAnswer {
        WireAnswer {
            status,
            body: body.as_bytes().to_vec(),
            retry_after: None,
        }
    }

    #[test]
    fn the_event_names_token_site_key_action_and_address_and_the_key_is_a_header() {
        let secret = Secret::new("AIza-key");
        let body = encode(&call(&secret));
        assert_eq!(
            body.text(),
            (
                "application/json",
                r#"{"event":{"token":"03Atoken","siteKey":"site","expectedAction":"signup","userIpAddress":"203.0.113.7"}}"#
            )
        );
        let headers: Vec<_> = body.headers().collect();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].0, "x-goog-api-key");
        assert!(headers[0].1.is_sensitive());
    }

    #[test]
    fn every_invalid_reason_has_a_code() {
        for (reason, code) in [
            ("MALFORMED", "invalid_token"),
            ("EXPIRED", "expired_or_duplicate"),
            ("DUPE", "expired_or_duplicate"),
            ("SITE_MISMATCH", "invalid_token"),
            ("MISSING", "missing_token"),
            ("BROWSER_ERROR", "invalid_token"),
            ("UNEXPECTED_ACTION", "invalid_token"),
            ("UNKNOWN_INVALID_REASON", "invalid_token"),
            ("INVALID_REASON_UNSPECIFIED", "invalid_token"),
            ("A_REASON_FROM_THE_FUTURE", "invalid_token"),
        ] {
            let secret = Secret::new("k");
            let body =
                format!(r#"{{"tokenProperties":{{"valid":false,"invalidReason":"{reason}"}}}}"#);
            let err = decode(&call(&secret), &answer(200, &body)).unwrap_err();
            assert_eq!(err.code(), code, "{reason}");
        }
    }

    #[test]
    fn google_api_errors_are_ours_or_an_outage_to_route_around() {
        let secret = Secret::new("k");
        let error = |code: u16, status: &str| {
            let body =
                format!(r#"{{"error":{{"code":{code},"message":"m","status":"{status}"}}}}"#);
            decode(&call(&secret), &answer(code, &body)).unwrap_err()
        };
        for (code, status) in [
            (400, "INVALID_ARGUMENT"),
            (401, "UNAUTHENTICATED"),
            (403, "PERMISSION_DENIED"),
            (404, "NOT_FOUND"),
        ] {
            let err = error(code, status);
            assert_eq!(err.code(), "provider_misconfigured", "{status}");
            assert_eq!(
                err.provider_codes(),
                [format!("http-{code}"), status.to_owned()]
            );
        }
        let quota = error(429, "RESOURCE_EXHAUSTED");
        assert!(
            quota.is_out_of_quota() && !quota.is_provider_outage(),
            "{quota:?}"
        );
        assert_eq!(quota.code(), "provider_unavailable");
        let bare_429 = decode(&call(&secret), &answer(429, "")).unwrap_err();
        assert!(!bare_429.is_out_of_quota());
        assert_eq!(error(503, "UNAVAILABLE").code(), "provider_unavailable");
        assert!(error(503, "UNAVAILABLE").is_provider_outage());
    }

    #[test]
    fn a_valid_assessment_fills_the_verdict() {
        let secret = Secret::new("k");
        let body = r#"{"name":"projects/p/assessments/1","event":{},
            "riskAnalysis":{"score":0.3,"reasons":["AUTOMATION"]},
            "tokenProperties":{"valid":true,"invalidReason":"INVALID_REASON_UNSPECIFIED",
              "hostname":"example.com","androidPackageName":"","iosBundleId":"com.example.app",
              "action":"signup","createTime":"2026-05-06T07:08:09.123Z"}}"#;
        let verdict = decode(&call(&secret), &answer(200, body)).unwrap();
        assert_eq!(verdict.hostname.as_deref(), Some("example.com"));
        assert_eq!(verdict.apk_package_name, None);
        assert_eq!(verdict.ios_bundle_id.as_deref(), Some("com.example.app"));
        assert_eq!(verdict.action.as_deref(), Some("signup"));
        assert_eq!(verdict.human_score, Some(0.3));
        assert_eq!(verdict.risk_reasons, ["AUTOMATION"]);
        assert_eq!(verdict.site_key.as_deref(), Some("site"));
        assert!(verdict.challenge_ts.is_some());
        let out_of_range = body.replace("0.3", "1.5");
        assert_eq!(
            decode(&call(&secret), &answer(200, &out_of_range))
                .unwrap_err()
                .code(),
            "provider_error"
        );
        // No tokenProperties: not an assessment.
        assert_eq!(
            decode(&call(&secret), &answer(200, "{}"))
                .unwrap_err()
                .code(),
            "provider_error"
        );
    }
}
