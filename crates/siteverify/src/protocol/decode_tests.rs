//! The answer shapes of docs/PROVIDERS.md, decoded without any network.

use std::time::{Duration, UNIX_EPOCH};

use super::{Call, codec};
use crate::{BadAnswer, Outage, Provider, Secret, Verdict, VerifyError, transport::WireAnswer};

fn decode(provider: Provider, status: u16, body: &str) -> Result<Verdict, VerifyError> {
    decode_with_site_key(provider, status, body, None)
}

fn decode_with_site_key(
    provider: Provider,
    status: u16,
    body: &str,
    site_key: Option<&str>,
) -> Result<Verdict, VerifyError> {
    let secret = Secret::new("s");
    let call = Call {
        token: "t",
        secret: &secret,
        remote_ip: None,
        site_key,
        idempotency_key: None,
        expected_action: None,
        test_keys: false,
        test_secret: false,
    };
    let answer = WireAnswer {
        status,
        body: body.as_bytes().to_vec(),
        retry_after: Some(Duration::from_secs(7)),
    };
    (codec(provider).unwrap().decode)(&call, &answer)
}

fn code(result: Result<Verdict, VerifyError>) -> &'static str {
    result.map(|_| "ok").unwrap_or_else(|e| e.code())
}

#[test]
fn hcaptcha_success_with_enterprise_score_and_unknown_fields() {
    let verdict = decode_with_site_key(
        Provider::HCaptcha,
        200,
        r#"{"success":true,"challenge_ts":"2026-01-02T03:04:05.000000Z","hostname":"example.com",
            "credit":false,"score":0.9,"score_reason":["a"],"brand_new_field":{"x":1}}"#,
        Some("site"),
    )
    .unwrap();
    assert_eq!(verdict.hostname.as_deref(), Some("example.com"));
    assert_eq!(verdict.score, Some(0.9));
    assert!(
        (verdict.human_score.unwrap() - 0.1).abs() < 1e-9,
        "risk score inverted"
    );
    assert_eq!(verdict.site_key.as_deref(), Some("site"));
    assert_eq!(
        verdict.challenge_ts,
        Some(UNIX_EPOCH + Duration::from_secs(1_767_323_045))
    );
}

#[test]
fn hcaptcha_minimal_success_and_not_provided_hostname() {
    let verdict = decode(
        Provider::HCaptcha,
        200,
        r#"{"success":true,"hostname":"not-provided"}"#,
    )
    .unwrap();
    assert_eq!(verdict.hostname.as_deref(), Some("not-provided"));
    assert_eq!(verdict.challenge_ts, None);
    assert_eq!(verdict.score, None);
}

#[test]
fn hcaptcha_failures_decide_on_the_body_whatever_the_status() {
    for status in [200, 400, 403] {
        assert_eq!(
            code(decode(
                Provider::HCaptcha,
                status,
                r#"{"success":false,"error-codes":["already-seen-response"]}"#
            )),
            "expired_or_duplicate"
        );
    }
    assert_eq!(
        code(decode(
            Provider::HCaptcha,
            200,
            r#"{"success":false,"error-codes":["invalid-input-secret"]}"#
        )),
        "provider_misconfigured"
    );
    assert_eq!(
        code(decode(Provider::HCaptcha, 200, r#"{"success":false}"#)),
        "invalid_token"
    );
}

#[test]
fn recaptcha_v3_and_android_shapes() {
    let v3 = decode(
        Provider::Recaptcha,
        200,
        r#"{"success":true,"challenge_ts":"2026-01-02T03:04:05Z","hostname":"example.com","score":0.7,"action":"signup"}"#,
    )
    .unwrap();
    assert_eq!(v3.score, Some(0.7));
    assert_eq!(v3.human_score, Some(0.7));
    assert_eq!(v3.action.as_deref(), Some("signup"));

    let android = decode(
        Provider::Recaptcha,
        200,
        r#"{"success":true,"challenge_ts":"2026-01-02T03:04:05Z","apk_package_name":"com.example.app"}"#,
    )
    .unwrap();
    assert_eq!(android.hostname, None);
    assert_eq!(android.apk_package_name.as_deref(), Some("com.example.app"));

    assert_eq!(
        code(decode(
            Provider::Recaptcha,
            200,
            r#"{"success":false,"error-codes":["timeout-or-duplicate"]}"#
        )),
        "expired_or_duplicate"
    );
}

#[test]
fn turnstile_success_with_empty_action_cdata_and_metadata() {
    let verdict = decode(
        Provider::Turnstile,
        200,
        r#"{"success":true,"challenge_ts":"2026-01-02T03:04:05.123Z","hostname":"example.com",
            "error-codes":[],"action":"","cdata":"","metadata":{"ephemeral_id":"x"},"messages":[]}"#,
    )
    .unwrap();
    assert_eq!(verdict.action, None, "empty strings mean unset");
    assert_eq!(verdict.cdata, None);
    assert_eq!(
        verdict.challenge_ts,
        Some(UNIX_EPOCH + Duration::from_millis(1_767_323_045_123))
    );
    let with_cdata = decode(
        Provider::Turnstile,
        200,
        r#"{"success":true,"hostname":"h","action":"login","cdata":"session-1"}"#,
    )
    .unwrap();
    assert_eq!(with_cdata.cdata.as_deref(), Some("session-1"));
    assert_eq!(
        decode(
            Provider::Turnstile,
            200,
            r#"{"success":false,"error-codes":["internal-error"]}"#
        ),
        Err(VerifyError::ProviderUnavailable(Outage::InternalError))
    );
}

#[test]
fn procaptcha_needs_http_200_and_verified_true() {
    let verdict = decode(
        Provider::Procaptcha,
        200,
        r#"{"verified":true,"status":"ok","score":0.2}"#,
    )
    .unwrap();
    assert_eq!(verdict.score, Some(0.2));
    assert!((verdict.human_score.unwrap() - 0.8).abs() < 1e-9);

    let refused = decode(
        Provider::Procaptcha,
        200,
        r#"{"verified":false,"status":"expired"}"#,
    )
    .unwrap_err();
    assert_eq!(refused.code(), "invalid_token");
    assert_eq!(refused.provider_codes(), ["expired"]);

    // `verified: true` under another status is still not a pass.
    assert_eq!(
        code(decode(Provider::Procaptcha, 201, r#"{"verified":true}"#)),
        "provider_error"
    );
    let bad = decode(
        Provider::Procaptcha,
        400,
        r#"{"error":{"message":"unknown site key","code":"SITE_KEY"}}"#,
    )
    .unwrap_err();
    assert_eq!(bad.code(), "invalid_token");
    assert_eq!(bad.provider_codes(), ["http-400", "SITE_KEY"]);
    assert_eq!(
        code(decode(Provider::Procaptcha, 403, "")),
        "provider_misconfigured"
    );
    assert_eq!(
        code(decode(Provider::Procaptcha, 500, "boom")),
        "provider_unavailable"
    );
    assert_eq!(
        code(decode(Provider::Procaptcha, 200, r#"{"status":"ok"}"#)),
        "provider_error"
    );
}

#[test]
fn byebot_status_is_the_verdict() {
    let verdict = decode(
        Provider::ByeBot,
        200,
        r#"{"success":true,"sitekey":"site","challenged_at":1767323045,"solve_time_ms":812,"interactive_solved":true}"#,
    )
    .unwrap();
    assert_eq!(verdict.site_key.as_deref(), Some("site"));
    assert_eq!(verdict.interactive, Some(true));
    assert_eq!(
        verdict.challenge_ts,
        Some(UNIX_EPOCH + Duration::from_secs(1_767_323_045))
    );
    assert_eq!(code(decode(Provider::ByeBot, 400, "")), "invalid_token");
    assert_eq!(
        code(decode(Provider::ByeBot, 401, "")),
        "provider_misconfigured"
    );
    assert_eq!(
        code(decode(Provider::ByeBot, 502, "")),
        "provider_unavailable"
    );
    assert_eq!(
        code(decode(Provider::ByeBot, 302, "")),
        "provider_misconfigured"
    );
    assert_eq!(code(decode(Provider::ByeBot, 200, "")), "provider_error");
}

#[test]
fn redirects_and_unknown_4xx_are_a_wrong_url_not_an_outage() {
    for provider in Provider::HOSTED {
        for status in [301, 302, 307, 404, 405] {
            let err = decode(provider, status, "<html>Not Found</html>").unwrap_err();
            assert_eq!(err.code(), "provider_misconfigured", "{provider} {status}");
            assert_eq!(err.provider_codes(), [format!("http-{status}")]);
        }
        // A 2xx we cannot read is the provider's fault.
        assert_eq!(
            code(decode(provider, 200, "<html>")),
            "provider_error",
            "{provider}"
        );
    }
}

#[test]
fn rate_limits_and_server_errors_are_outages_for_everyone() {
    for provider in Provider::HOSTED {
        assert_eq!(
            decode(provider, 429, ""),
            Err(VerifyError::ProviderUnavailable(Outage::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            })),
            "{provider}"
        );
        for status in [500, 502, 503] {
            assert_eq!(
                decode(provider, status, "<html>bad gateway</html>"),
                Err(VerifyError::ProviderUnavailable(Outage::Status(status))),
                "{provider}"
            );
        }
    }
}

#[test]
fn garbage_and_wrong_types_are_provider_errors_without_the_body() {
    for provider in [Provider::HCaptcha, Provider::Recaptcha, Provider::Turnstile] {
        for body in [
            "<html>hello</html>",
            "",
            r#"{"success":tru"#,
            r#"{"success":"yes"}"#,
            r#"{"success":true,"hostname":5}"#,
            r#"{"success":true,"error-codes":"x"}"#,
            r#"[true]"#,
            r#"{"hostname":"missing-success"}"#,
        ] {
            let err = decode(provider, 200, body).unwrap_err();
            assert_eq!(err.code(), "provider_error", "{provider} {body}");
            assert!(matches!(
                err,
                VerifyError::ProviderError(BadAnswer::Unparseable { status: 200, .. })
            ));
            if body.len() > 3 {
                assert!(!err.to_string().contains(body), "{err}");
            }
        }
    }
}

#[test]
fn null_error_codes_are_tolerated() {
    assert!(
        decode(
            Provider::Recaptcha,
            200,
            r#"{"success":true,"error-codes":null}"#
        )
        .is_ok()
    );
}

#[test]
fn challenge_times_are_read_in_place_whatever_their_form() {
    let at = |body: &str| decode(Provider::Recaptcha, 200, body).map(|v| v.challenge_ts);
    let base = Some(UNIX_EPOCH + Duration::from_secs(1_767_323_045));
    assert_eq!(
        at(r#"{"success":true,"challenge_ts":"2026-01-02T03:04:05Z"}"#).unwrap(),
        base
    );
    // An escaped character cannot be borrowed from the answer; it is still a time.
    assert_eq!(
        at(r#"{"success":true,"challenge_ts":"\u0032026-01-02T03:04:05Z"}"#).unwrap(),
        base
    );
    assert_eq!(at(r#"{"success":true,"challenge_ts":null}"#).unwrap(), None);
    assert_eq!(
        at(r#"{"success":true,"challenge_ts":"yesterday"}"#).unwrap(),
        None,
        "unreadable text is no time: a maximum age then fails closed"
    );
    let wrong = at(r#"{"success":true,"challenge_ts":1767323045}"#).unwrap_err();
    assert_eq!(wrong.code(), "provider_error");
    assert!(wrong.to_string().contains("expected a string"), "{wrong}");
}

#[test]
fn shape_errors_name_the_problem_but_quote_nothing() {
    let err = decode(
        Provider::Turnstile,
        200,
        r#"{"success":"quoted-value-xyz"}"#,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("quoted-value-xyz"), "{text}");
    assert!(text.contains("expected a boolean"), "{text}");
    let missing = decode(Provider::Turnstile, 200, r#"{"hostname":"h"}"#)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("missing field `success`"), "{missing}");
}

#[test]
fn scores_outside_the_documented_range_are_unreadable_not_clamped() {
    for (provider, body) in [
        (
            Provider::Recaptcha,
            r#"{"success":true,"score":1.5,"action":"a"}"#,
        ),
        (
            Provider::Recaptcha,
            r#"{"success":true,"score":-0.1,"action":"a"}"#,
        ),
        (
            Provider::Recaptcha,
            r#"{"success":true,"score":1e999,"action":"a"}"#,
        ),
        (Provider::HCaptcha, r#"{"success":true,"score":-0.5}"#),
        (Provider::HCaptcha, r#"{"success":true,"score":1.0000001}"#),
        (Provider::Procaptcha, r#"{"verified":true,"score":2}"#),
        (Provider::Procaptcha, r#"{"verified":true,"score":-1}"#),
    ] {
        assert_eq!(
            code(decode(provider, 200, body)),
            "provider_error",
            "{provider} {body}"
        );
    }
    for (provider, body) in [
        (
            Provider::Recaptcha,
            r#"{"success":true,"score":0.0,"action":"a"}"#,
        ),
        (
            Provider::Recaptcha,
            r#"{"success":true,"score":1.0,"action":"a"}"#,
        ),
        (Provider::HCaptcha, r#"{"success":true,"score":0}"#),
        (Provider::Procaptcha, r#"{"verified":true,"score":1}"#),
    ] {
        assert_eq!(code(decode(provider, 200, body)), "ok", "{provider} {body}");
    }
}

#[test]
fn a_status_that_is_not_200_never_passes_whatever_the_body() {
    let passing = r#"{"success":true,"verified":true,"hostname":"h","sitekey":"k",
        "tokenProperties":{"valid":true,"hostname":"h"},"riskAnalysis":{"score":0.9}}"#;
    for provider in Provider::HOSTED {
        for status in [
            100, 201, 204, 206, 299, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 409,
            418, 429, 451, 500, 502, 503, 504, 599, 600, 999,
        ] {
            assert_ne!(
                code(decode(provider, status, passing)),
                "ok",
                "{provider} {status}"
            );
        }
        assert_eq!(code(decode(provider, 200, passing)), "ok", "{provider}");
    }
}

#[test]
fn an_outage_code_under_a_4xx_is_not_an_outage() {
    let body = r#"{"success":false,"error-codes":["internal-error"]}"#;
    for provider in [Provider::HCaptcha, Provider::Recaptcha, Provider::Turnstile] {
        for status in [400, 403, 409, 422] {
            let err = decode(provider, status, body).unwrap_err();
            assert_eq!(err.code(), "provider_misconfigured", "{provider} {status}");
            assert!(!err.is_provider_outage());
        }
        assert_eq!(
            code(decode(provider, 200, body)),
            "provider_unavailable",
            "{provider}"
        );
    }
}
