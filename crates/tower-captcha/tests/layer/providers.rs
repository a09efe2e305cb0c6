//! Every provider through the layer, per-route guards, and the verdict in the handler.

use axum::{Router, routing::post};
use tower_captcha::{CaptchaLayer, Policy, Provider, Verifier};

use crate::support::*;

#[tokio::test]
async fn every_provider_guards_a_form_post() {
    let emulator = emulator().await;
    for provider in Provider::HOSTED {
        let url =
            serve(Router::new().route("/", post(verdict_json).layer(layer(&emulator, provider))))
                .await;
        let token = mint(&emulator, TokenSpec::new(emulated(provider)));
        let response = client()
            .post(&url)
            .form(&[
                ("email", "a@b.c"),
                (provider.widget_field(), token.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{provider}");
        let verdict: serde_json::Value = response.json().await.unwrap();
        assert_eq!(verdict["provider"], provider.name());
        // The token was spent: the same form again is refused.
        let again = client()
            .post(&url)
            .form(&[(provider.widget_field(), token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 403, "{provider}");
    }
}

#[tokio::test]
async fn per_route_guards_apply_their_own_policies_side_by_side() {
    let emulator = emulator().await;
    let verifier =
        Verifier::new(Provider::Recaptcha, config(&emulator, Provider::Recaptcha)).unwrap();
    let signup = CaptchaLayer::new(verifier.clone())
        .policy(Policy::new().action("signup").min_score(0.5).unwrap())
        .unwrap();
    let checkout = CaptchaLayer::new(verifier)
        .policy(Policy::new().action("checkout").min_score(0.8).unwrap())
        .unwrap();
    let app = Router::new()
        .route("/signup", post(verdict_json).layer(signup))
        .route("/checkout", post(verdict_json).layer(checkout));
    let url = serve(app).await;

    let cases = [
        ("/signup", "signup", 0.6, (200, "ok")),
        ("/checkout", "checkout", 0.9, (200, "ok")),
        ("/checkout", "checkout", 0.6, (403, "score_below_threshold")),
        ("/signup", "checkout", 0.9, (403, "action_mismatch")),
        ("/checkout", "signup", 0.9, (403, "action_mismatch")),
        ("/signup", "signup", 0.4, (403, "score_below_threshold")),
    ];
    for (path, action, score, (status, reason)) in cases {
        let token = mint(
            &emulator,
            TokenSpec::new(Emulated::Recaptcha)
                .action(action)
                .score(score),
        );
        let response = client()
            .post(format!("{url}{path}"))
            .json(&serde_json::json!({ "g-recaptcha-response": token }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            outcome(response).await,
            (status, reason.to_owned()),
            "{path} {action} {score}"
        );
    }
}

#[tokio::test]
async fn a_policy_the_provider_cannot_satisfy_is_refused_when_the_layer_is_built() {
    let emulator = emulator().await;
    let err = turnstile(&emulator)
        .policy(Policy::new().min_score(0.5).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("score"), "{err}");
}

#[tokio::test]
async fn the_client_ip_from_a_trusted_proxy_header_is_forwarded() {
    let emulator = emulator().await;
    let verifier = Verifier::new(
        Provider::Turnstile,
        config(&emulator, Provider::Turnstile).forward_remote_ip(true),
    )
    .unwrap();
    let guard =
        CaptchaLayer::new(verifier).client_ip(tower_captcha::ClientIp::RightmostXForwardedFor);
    let url = serve(Router::new().route("/", post(echo).layer(guard))).await;
    let response = client()
        .post(&url)
        .header("x-forwarded-for", "6.6.6.6, 198.51.100.9")
        .header("cf-turnstile-response", turnstile_token(&emulator))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The client wrote 6.6.6.6 itself; the proxy appended the real address.
    assert_eq!(
        emulator.requests()[0].field("remoteip"),
        Some("198.51.100.9")
    );
}

#[tokio::test]
async fn the_peer_address_can_be_forwarded() {
    let emulator = emulator().await;
    let verifier = Verifier::new(
        Provider::HCaptcha,
        config(&emulator, Provider::HCaptcha).forward_remote_ip(true),
    )
    .unwrap();
    let guard = CaptchaLayer::new(verifier).client_ip(tower_captcha::ClientIp::PeerAddr);
    let url = serve(Router::new().route("/", post(echo).layer(guard))).await;
    let token = mint(&emulator, TokenSpec::new(Emulated::HCaptcha));
    let response = client()
        .post(&url)
        .form(&[("h-captcha-response", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(emulator.requests()[0].field("remoteip"), Some("127.0.0.1"));
}

#[tokio::test]
async fn a_layer_built_from_environment_variables_guards_a_route() {
    let emulator = emulator().await;
    let vars = [
        ("CAPTCHA_PROVIDER", "hcaptcha".to_owned()),
        (
            "CAPTCHA_SECRET",
            Emulated::HCaptcha.default_secret().to_owned(),
        ),
        (
            "CAPTCHA_SITEKEY",
            Emulated::HCaptcha.default_site_key().to_owned(),
        ),
        (
            "CAPTCHA_VERIFY_URL",
            emulator.verify_url(Emulated::HCaptcha),
        ),
        ("CAPTCHA_HOSTNAMES", "example.com".to_owned()),
    ];
    let config = tower_captcha::CaptchaConfig::from_vars("CAPTCHA", vars).unwrap();
    let guard = CaptchaLayer::from_config(&config).await.unwrap();
    let url = serve(Router::new().route("/", post(echo).layer(guard))).await;
    for (host, expected) in [
        ("example.com", (200, "ok")),
        ("evil.test", (403, "hostname_mismatch")),
    ] {
        let token = mint(&emulator, TokenSpec::new(Emulated::HCaptcha).hostname(host));
        let response = client()
            .post(&url)
            .form(&[("h-captcha-response", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            outcome(response).await,
            (expected.0, expected.1.to_owned()),
            "{host}"
        );
    }
    // The configured site key was sent to hCaptcha for binding.
    assert_eq!(
        emulator.requests()[0].field("sitekey"),
        Some(Emulated::HCaptcha.default_site_key())
    );
}

#[tokio::test]
async fn a_route_policy_keeps_the_configured_hostnames_and_site_key() {
    let emulator = emulator().await;
    let site_key = Emulated::HCaptcha.default_site_key();
    let verifier = Verifier::new(
        Provider::HCaptcha,
        config(&emulator, Provider::HCaptcha)
            .site_key(site_key)
            .policy(Policy::new().allow_hostname("example.com").unwrap()),
    )
    .unwrap();
    // The route only adds a maximum age.
    let guard = CaptchaLayer::new(verifier)
        .policy(Policy::new().max_age(std::time::Duration::from_secs(60)))
        .unwrap();
    let url = serve(Router::new().route("/", post(echo).layer(guard))).await;
    for (host, expected) in [
        ("evil.test", (403, "hostname_mismatch")),
        ("example.com", (200, "ok")),
    ] {
        let token = mint(&emulator, TokenSpec::new(Emulated::HCaptcha).hostname(host));
        let response = client()
            .post(&url)
            .form(&[("h-captcha-response", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            outcome(response).await,
            (expected.0, expected.1.to_owned()),
            "{host}"
        );
    }
    assert!(
        emulator
            .requests()
            .iter()
            .all(|r| r.field("sitekey") == Some(site_key))
    );
}
