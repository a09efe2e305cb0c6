//! reCAPTCHA Enterprise (createAssessment): the key in a header, the project in the path, the
//! pass bit in `tokenProperties.valid`, Google API errors, the quota.

use siteverify::{
    ConfigError, Outage, Policy, Provider, Verifier, VerifierConfig, VerifyError, VerifyOptions,
    recaptcha_enterprise_url,
};

use crate::support::*;

const RE: Provider = Provider::RecaptchaEnterprise;

fn event_of(request: &siteverify_emulator::RecordedRequest) -> serde_json::Value {
    serde_json::from_str(request.field("event").expect("an event")).expect("JSON")
}

#[tokio::test]
async fn an_assessment_names_token_site_key_and_action_and_the_key_rides_in_a_header() {
    let emulator = emulator().await;
    let verifier = Verifier::recaptcha_enterprise(
        config(&emulator, RE).policy(
            Policy::new()
                .action("signup")
                .allow_hostname("example.com")
                .unwrap(),
        ),
    )
    .unwrap();
    let token = mint(
        &emulator,
        spec(RE).hostname("example.com").action("signup").score(0.7),
    );
    let verdict = verify(&verifier, &token).await.unwrap();
    assert_eq!(verdict.provider, RE);
    assert_eq!(verdict.hostname.as_deref(), Some("example.com"));
    assert_eq!(verdict.action.as_deref(), Some("signup"));
    assert_eq!(verdict.score, Some(0.7));
    assert_eq!(verdict.human_score, Some(0.7), "a human likelihood, as v3");
    assert_eq!(
        verdict.site_key.as_deref(),
        Some(Emulated::RecaptchaEnterprise.default_site_key())
    );
    assert!(verdict.challenge_ts.is_some());

    let request = &emulator.requests()[0];
    let key = Emulated::RecaptchaEnterprise.default_secret();
    assert_eq!(request.header("x-goog-api-key"), Some(key));
    assert_eq!(request.query, None, "never ?key=");
    assert!(!String::from_utf8_lossy(&request.body).contains(key));
    assert_eq!(
        event_of(request),
        serde_json::json!({
            "token": token,
            "siteKey": Emulated::RecaptchaEnterprise.default_site_key(),
            "expectedAction": "signup",
        })
    );
    assert!(!format!("{verifier:?}").contains(key));
}

#[tokio::test]
async fn scores_reasons_and_actions_are_checked_by_us() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, RE);
    // Without a configured minimum, the v3 default of 0.5 applies: the score is the point.
    let bot = mint(&emulator, spec(RE).score(0.2));
    let err = verify(&verifier, &bot).await.unwrap_err();
    assert_eq!(err.code(), "score_below_threshold");
    let strict = Verifier::recaptcha_enterprise(
        config(&emulator, RE).policy(Policy::new().min_score(0.8).unwrap()),
    )
    .unwrap();
    assert_eq!(
        code(&strict, &mint(&emulator, spec(RE).score(0.7))).await,
        "score_below_threshold"
    );
    let lenient = Verifier::recaptcha_enterprise(
        config(&emulator, RE).policy(Policy::new().min_score(0.0).unwrap()),
    )
    .unwrap();
    let verdict = verify(&lenient, &mint(&emulator, spec(RE).score(0.2)))
        .await
        .unwrap();
    assert_eq!(verdict.risk_reasons, ["AUTOMATION"]);
    // Google does not fail the call for another action; we do.
    let signup = Verifier::recaptcha_enterprise(
        config(&emulator, RE).policy(Policy::new().action("signup")),
    )
    .unwrap();
    let login = mint(&emulator, spec(RE).action("login"));
    assert_eq!(code(&signup, &login).await, "action_mismatch");
    // A route's action is the one sent as expectedAction.
    let route = VerifyOptions::new().with_policy(Policy::new().action("checkout"));
    emulator.clear_requests();
    let checkout = mint(&emulator, spec(RE).action("checkout"));
    signup.verify(&checkout, &route).await.unwrap();
    assert_eq!(
        event_of(&emulator.requests()[0])["expectedAction"],
        "checkout"
    );
}

#[tokio::test]
async fn every_invalid_reason_and_api_error_has_a_code() {
    assert_error_codes(
        RE,
        &[
            ("MALFORMED", "invalid_token"),
            ("EXPIRED", "expired_or_duplicate"),
            ("DUPE", "expired_or_duplicate"),
            ("SITE_MISMATCH", "invalid_token"),
            ("MISSING", "missing_token"),
            ("BROWSER_ERROR", "invalid_token"),
            ("UNEXPECTED_ACTION", "invalid_token"),
            ("UNKNOWN_INVALID_REASON", "invalid_token"),
            ("A_REASON_FROM_THE_FUTURE", "invalid_token"),
            ("INVALID_ARGUMENT", "provider_misconfigured"),
            ("UNAUTHENTICATED", "provider_misconfigured"),
            ("PERMISSION_DENIED", "provider_misconfigured"),
            ("NOT_FOUND", "provider_misconfigured"),
            ("RESOURCE_EXHAUSTED", "provider_unavailable"),
            ("INTERNAL", "provider_unavailable"),
            ("UNAVAILABLE", "provider_unavailable"),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_emulators_own_answers_map_to_our_codes() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, RE);
    let token = mint(&emulator, spec(RE));
    verify(&verifier, &token).await.unwrap();
    let dupe = verify(&verifier, &token).await.unwrap_err();
    assert_eq!(
        (dupe.code(), dupe.provider_codes()),
        ("expired_or_duplicate", &["DUPE".to_owned()][..])
    );
    let stale = mint(&emulator, spec(RE).lifetime_secs(5).age_secs(6));
    assert_eq!(
        verify(&verifier, &stale)
            .await
            .unwrap_err()
            .provider_codes(),
        ["EXPIRED"]
    );
    assert_eq!(
        verify(&verifier, "03Anever")
            .await
            .unwrap_err()
            .provider_codes(),
        ["MALFORMED"]
    );
    let secret = Emulated::RecaptchaEnterprise.default_secret();
    emulator.register_site(Emulated::RecaptchaEnterprise, "other-key", secret);
    let other = mint(&emulator, spec(RE).site_key("other-key"));
    assert_eq!(
        verify(&verifier, &other)
            .await
            .unwrap_err()
            .provider_codes(),
        ["SITE_MISMATCH"]
    );

    // Ours to fix: a wrong key (400 INVALID_ARGUMENT), another project (403
    // PERMISSION_DENIED), a site key of no project of ours (403).
    let url = emulator.verify_url(Emulated::RecaptchaEnterprise);
    let misconfigured = [
        base_config(RE, "AIza-wrong").verify_url(&url),
        base_config(RE, secret).verify_url(url.replace("emulator-project", "someone-elses")),
        VerifierConfig::new(secret)
            .site_key("not-ours")
            .verify_url(&url),
    ];
    for (config, status) in misconfigured.into_iter().zip([
        "INVALID_ARGUMENT",
        "PERMISSION_DENIED",
        "PERMISSION_DENIED",
    ]) {
        let verifier = Verifier::recaptcha_enterprise(config).unwrap();
        let err = verify(&verifier, &mint(&emulator, spec(RE)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "provider_misconfigured", "{status}");
        assert!(err.provider_codes().contains(&status.to_owned()), "{err:?}");
    }
}

#[tokio::test]
async fn an_exhausted_quota_is_an_outage_to_route_around_never_to_fail_open_on() {
    let emulator = emulator().await;
    let verifier = verifier(&emulator, RE);
    let token = mint(
        &emulator,
        spec(RE).fault(Fault::once(FaultKind::ErrorCodes {
            codes: vec!["RESOURCE_EXHAUSTED".to_owned()],
        })),
    );
    let err = verify(&verifier, &token).await.unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::ProviderUnavailable(Outage::QuotaExhausted { .. })
        ),
        "{err:?}"
    );
    assert!(err.is_out_of_quota());
    assert!(!err.is_provider_outage(), "never fail-open");
    assert_eq!(err.http_status(), 503);
    assert_eq!(emulator.requests().len(), 1, "never retried");
    // Google refused before looking at the token: it is still good.
    assert_eq!(code(&verifier, &token).await, "ok");
}

#[test]
fn the_project_site_key_and_url_are_checked_when_the_verifier_is_built() {
    assert_eq!(
        recaptcha_enterprise_url("my-project-1"),
        "https://recaptchaenterprise.googleapis.com/v1/projects/my-project-1/assessments"
    );
    let ok = VerifierConfig::new("AIza-key").site_key("6Lc-key");
    assert!(Verifier::recaptcha_enterprise(ok.clone().project("my-project-1")).is_ok());
    assert!(Verifier::recaptcha_enterprise(ok.clone().project("123456789012")).is_ok());
    assert!(
        Verifier::recaptcha_enterprise(
            ok.clone()
                .verify_url("http://127.0.0.1:9/v1/projects/p/assessments")
        )
        .is_ok()
    );
    let missing = |c: VerifierConfig| {
        matches!(
            Verifier::recaptcha_enterprise(c),
            Err(ConfigError::MissingSetting { .. })
        )
    };
    assert!(missing(ok.clone()), "no project, no URL");
    assert!(
        missing(VerifierConfig::new("AIza-key").project("my-project-1")),
        "no site key"
    );
    for bad in ["My-Project", "p", "a/../../x", "proj?key=x", "project-"] {
        let err = Verifier::recaptcha_enterprise(ok.clone().project(bad)).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidSetting { .. }),
            "{bad}: {err:?}"
        );
    }
    let elsewhere =
        Verifier::turnstile(VerifierConfig::new("s").project("my-project-1")).unwrap_err();
    assert!(matches!(
        elsewhere,
        ConfigError::SettingNotForProvider { .. }
    ));
    assert_eq!(RE.widget_field(), "g-recaptcha-response");
    assert_eq!(RE.name(), "recaptcha-enterprise");
    assert_eq!("Recaptcha-Enterprise".parse::<Provider>(), Ok(RE));
}
