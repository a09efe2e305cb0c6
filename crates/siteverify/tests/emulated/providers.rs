//! What every provider must do the same way.

use std::net::{IpAddr, Ipv4Addr};

use siteverify::{Provider, Verifier, VerifyOptions};

use crate::support::*;

#[tokio::test]
async fn a_minted_token_passes_once() {
    let emulator = emulator().await;
    for provider in Provider::HOSTED {
        let verifier = verifier(&emulator, provider);
        let token = mint(&emulator, spec(provider));
        let verdict = verify(&verifier, &token)
            .await
            .unwrap_or_else(|e| panic!("{provider}: {e:?}"));
        assert_eq!(verdict.provider, provider);
        assert_eq!(
            code(&verifier, &token).await,
            spent_code(provider),
            "{provider} reuse"
        );
    }
}

#[tokio::test]
async fn an_expired_token_fails() {
    let emulator = emulator().await;
    for provider in Provider::HOSTED {
        let verifier = verifier(&emulator, provider);
        let token = mint(&emulator, spec(provider).lifetime_secs(10).age_secs(11));
        assert_eq!(
            code(&verifier, &token).await,
            spent_code(provider),
            "{provider}"
        );
    }
}

#[tokio::test]
async fn an_unknown_token_is_invalid() {
    let emulator = emulator().await;
    let unknown = [
        (Provider::HCaptcha, "P1_not-a-real-token"),
        (Provider::Recaptcha, "03AGdBq2-not-real"),
        (Provider::Turnstile, "0.not-real"),
        (Provider::Procaptcha, "0xdeadbeef"),
        (Provider::ByeBot, "not-real"),
        (Provider::FriendlyCaptcha, "not-real.frc"),
    ];
    for (provider, token) in unknown {
        let verifier = verifier(&emulator, provider);
        assert_eq!(code(&verifier, token).await, "invalid_token", "{provider}");
    }
}

#[tokio::test]
async fn a_wrong_secret_is_our_misconfiguration() {
    let emulator = emulator().await;
    for provider in Provider::HOSTED {
        let e = emulated(provider);
        let verifier = Verifier::new(
            provider,
            base_config(provider, "not-the-secret").verify_url(emulator.verify_url(e)),
        )
        .unwrap();
        let token = mint(&emulator, spec(provider));
        let err = verify(&verifier, &token).await.unwrap_err();
        assert_eq!(err.code(), "provider_misconfigured", "{provider}: {err:?}");
        assert_eq!(err.http_status(), 500);
    }
}

#[tokio::test]
async fn a_token_of_another_site_is_invalid() {
    let emulator = emulator().await;
    for provider in Provider::HOSTED {
        let e = emulated(provider);
        emulator.register_site(e, "other-site-key", "other-secret");
        let token = mint(&emulator, spec(provider).site_key("other-site-key"));
        let verifier = verifier(&emulator, provider);
        assert_eq!(code(&verifier, &token).await, "invalid_token", "{provider}");
    }
}

#[tokio::test]
async fn local_prechecks_never_reach_the_provider() {
    let emulator = emulator().await;
    for provider in Provider::HOSTED {
        let verifier = verifier(&emulator, provider);
        assert_eq!(code(&verifier, "").await, "missing_token");
        assert_eq!(code(&verifier, "bad\ntoken").await, "malformed_token");
        let long = "a".repeat(provider.max_token_len() + 1);
        assert_eq!(code(&verifier, &long).await, "malformed_token");
    }
    assert!(emulator.requests().is_empty(), "{:?}", emulator.requests());
}

#[tokio::test]
async fn the_wire_format_is_the_providers_own() {
    let emulator = emulator().await;
    let expected: [(Provider, &str, &str, &[&str]); 7] = [
        (
            Provider::HCaptcha,
            "/hcaptcha/siteverify",
            "application/x-www-form-urlencoded",
            &["response", "secret"],
        ),
        (
            Provider::Recaptcha,
            "/recaptcha/api/siteverify",
            "application/x-www-form-urlencoded",
            &["response", "secret"],
        ),
        (
            Provider::Turnstile,
            "/turnstile/v0/siteverify",
            "application/json",
            &["idempotency_key", "response", "secret"],
        ),
        (
            Provider::Procaptcha,
            "/procaptcha/siteverify",
            "application/json",
            &["secret", "token"],
        ),
        (
            Provider::ByeBot,
            "/byebot/validate_token",
            "application/json",
            &["api_key", "token"],
        ),
        (
            Provider::FriendlyCaptcha,
            "/api/v2/captcha/siteverify",
            "application/json",
            &["response"],
        ),
        (
            Provider::RecaptchaEnterprise,
            "/v1/projects/emulator-project/assessments",
            "application/json",
            &["event"],
        ),
    ];
    for (provider, path, content_type, fields) in expected {
        emulator.clear_requests();
        let verifier = verifier(&emulator, provider);
        let token = mint(&emulator, spec(provider));
        verify(&verifier, &token).await.unwrap();
        let requests = emulator.requests();
        assert_eq!(requests.len(), 1, "{provider}");
        let request = &requests[0];
        assert_eq!(request.path, path);
        assert_eq!(
            request.content_type.as_deref(),
            Some(content_type),
            "{provider}"
        );
        let names: Vec<&str> = request.fields.keys().map(String::as_str).collect();
        assert_eq!(names, fields, "{provider}");
        let secret = emulated(provider).default_secret();
        let token_field = match provider {
            Provider::HCaptcha
            | Provider::Recaptcha
            | Provider::Turnstile
            | Provider::FriendlyCaptcha => "response",
            _ => "token",
        };
        match provider {
            // The API key travels in a header, and only there.
            Provider::FriendlyCaptcha | Provider::RecaptchaEnterprise => {
                let header = if provider == Provider::FriendlyCaptcha {
                    "x-api-key"
                } else {
                    "x-goog-api-key"
                };
                assert_eq!(request.header(header), Some(secret), "{provider}");
                let body = String::from_utf8_lossy(&request.body);
                assert!(!body.contains(secret), "{provider}: the key is in the body");
            }
            Provider::ByeBot => assert_eq!(request.field("api_key"), Some(secret)),
            _ => assert_eq!(request.field("secret"), Some(secret)),
        }
        if provider == Provider::RecaptchaEnterprise {
            let event: serde_json::Value =
                serde_json::from_str(request.field("event").unwrap()).unwrap();
            assert_eq!(event["token"], token.as_str());
        } else {
            assert_eq!(request.field(token_field), Some(token.as_str()));
        }
        assert_eq!(request.query, None, "nothing goes in the query string");
    }
}

#[tokio::test]
async fn the_client_ip_is_sent_only_when_configured() {
    let emulator = emulator().await;
    let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    let options = VerifyOptions::new().with_remote_ip(ip);
    for provider in Provider::HOSTED {
        let ip_field = if provider == Provider::Procaptcha {
            "ip"
        } else {
            "remoteip"
        };
        for forward in [false, true] {
            emulator.clear_requests();
            let verifier = Verifier::new(
                provider,
                config(&emulator, provider).forward_remote_ip(forward),
            )
            .unwrap();
            let token = mint(&emulator, spec(provider));
            verifier.verify(&token, &options).await.unwrap();
            let request = &emulator.requests()[0];
            // ByeBot and Friendly Captcha document no IP field: they never get one.
            let sent = forward && !matches!(provider, Provider::ByeBot | Provider::FriendlyCaptcha);
            // reCAPTCHA Enterprise: the event's `userIpAddress`.
            let event: Option<serde_json::Value> = request
                .field("event")
                .map(|e| serde_json::from_str(e).unwrap());
            let got = match &event {
                Some(event) => event["userIpAddress"].as_str(),
                None => request.field(ip_field),
            };
            assert_eq!(
                got,
                sent.then_some("203.0.113.7"),
                "{provider} forward={forward}"
            );
        }
    }
}
