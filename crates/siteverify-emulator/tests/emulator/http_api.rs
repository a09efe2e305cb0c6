//! The control surface: `/tokens`, `/sites`, `/requests`, `/health`, and the handle itself.

use std::net::{Ipv4Addr, SocketAddr};

use serde_json::{Value, json};
use siteverify_emulator::{
    Emulator, Fault, FaultKind, MintError, Provider, RecordedRequest, TokenSpec,
};

use crate::{Answer, client, post_form, post_json, post_raw, start, verify, verify_default};

#[tokio::test]
async fn provider_constants() {
    let names: Vec<String> = Provider::ALL
        .iter()
        .map(|p| {
            serde_json::to_value(p)
                .expect("serialize")
                .as_str()
                .expect("name")
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "hcaptcha",
            "recaptcha",
            "turnstile",
            "procaptcha",
            "byebot",
            "friendlycaptcha",
            "recaptcha-enterprise"
        ]
    );
    for (p, name) in Provider::ALL.into_iter().zip(&names) {
        assert_eq!(p.default_site_key(), format!("emulator-{name}-site-key"));
        assert_eq!(p.default_secret(), format!("emulator-{name}-secret"));
        assert_eq!(name.parse::<Provider>(), Ok(p));
    }
    let secs: Vec<u64> = Provider::ALL
        .iter()
        .map(|p| p.token_lifetime().as_secs())
        .collect();
    assert_eq!(secs, [120, 120, 300, 120, 300, 300, 120]);
}

#[tokio::test]
async fn urls_and_health() {
    let emu = start().await;
    assert_eq!(
        emu.base_url(),
        format!("http://127.0.0.1:{}", emu.addr().port())
    );
    assert_ne!(emu.addr().port(), 0);
    assert_eq!(
        emu.verify_url(Provider::Recaptcha),
        format!("{}/recaptcha/api/siteverify", emu.base_url())
    );
    let health = client()
        .get(format!("{}/health", emu.base_url()))
        .send()
        .await
        .expect("get");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("text"), "ok");
}

#[tokio::test]
async fn unspecified_addresses_show_a_connectable_base_url() {
    let emu = Emulator::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .await
        .expect("bind");
    assert!(emu.base_url().starts_with("http://127.0.0.1:"));
    let health = client()
        .get(format!("{}/health", emu.base_url()))
        .send()
        .await
        .expect("get");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn tokens_can_be_minted_over_http() {
    let emu = start().await;
    let url = format!("{}/tokens", emu.base_url());
    let spec = json!({
        "provider": "turnstile",
        "hostname": "ci.example",
        "action": "login",
        "fault": { "kind": "delay", "ms": 10, "times": 1 }
    });
    let answer = post_json(&url, &spec).await;
    assert_eq!(answer.status, 200);
    let token = answer.json()["token"].as_str().expect("token").to_owned();
    let json = verify_default(&emu, Provider::Turnstile, &token)
        .await
        .json();
    assert_eq!(
        (json["success"].clone(), json["hostname"].clone()),
        (json!(true), json!("ci.example"))
    );

    // The serde form of TokenSpec is what the endpoint takes.
    let typed = TokenSpec::new(Provider::HCaptcha)
        .score(0.5)
        .fault(Fault::once(FaultKind::ErrorCodes {
            codes: vec!["x".into()],
        }));
    let typed_json = serde_json::to_value(&typed).expect("serialize");
    assert_eq!(
        typed_json,
        json!({
            "provider": "hcaptcha",
            "score": 0.5,
            "fault": { "kind": "error_codes", "codes": ["x"], "times": 1 }
        })
    );
    let answer = post_json(&url, &typed_json).await;
    assert_eq!(answer.status, 200);
    let spec: TokenSpec = serde_json::from_value(typed_json).expect("round trip");
    assert_eq!(spec, typed);

    for bad in [
        json!({ "provider": "hcaptcha", "site_key": "nobody" }),
        json!({ "provider": "nobody" }),
        json!({ "provider": "hcaptcha", "score": 1.5 }),
        json!({ "provider": "hcaptcha", "sitekey": "typo" }),
        json!({ "provider": "hcaptcha", "fault": { "kind": "status", "code": 42 } }),
        json!({ "provider": "hcaptcha", "fault": { "kind": "explode" } }),
    ] {
        let answer = post_json(&url, &bad).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert!(answer.json()["error"].is_string(), "{bad}");
    }
    let answer = post_raw(&url, "application/json", b"{").await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["error"].is_string());
}

#[tokio::test]
async fn mint_errors() {
    let emu = start().await;
    let error = emu
        .mint(TokenSpec::new(Provider::ByeBot).site_key("nobody"))
        .expect_err("unknown site key");
    assert_eq!(
        error,
        MintError::UnknownSiteKey {
            provider: Provider::ByeBot,
            site_key: "nobody".into()
        }
    );
    assert!(error.to_string().contains("nobody"));
    // A site key is registered per provider.
    let error =
        emu.mint(TokenSpec::new(Provider::ByeBot).site_key(Provider::HCaptcha.default_site_key()));
    assert!(matches!(error, Err(MintError::UnknownSiteKey { .. })));
    assert!(
        emu.mint(TokenSpec::new(Provider::Recaptcha).score(f64::NAN))
            .is_err()
    );
}

#[tokio::test]
async fn sites_can_be_registered_over_http_and_in_process() {
    let emu = start().await;
    let url = format!("{}/sites", emu.base_url());
    let answer = post_json(
        &url,
        &json!({ "provider": "recaptcha", "site_key": "ci-site", "secret": "ci-secret" }),
    )
    .await;
    assert_eq!(answer.status, 204);
    let token = emu
        .mint(TokenSpec::new(Provider::Recaptcha).site_key("ci-site"))
        .expect("mint");
    assert_eq!(
        verify(&emu, Provider::Recaptcha, "ci-secret", &token)
            .await
            .json()["success"],
        true
    );

    let bad = post_json(
        &url,
        &json!({ "provider": "recaptcha", "site_key": "", "secret": "x" }),
    )
    .await;
    assert_eq!(bad.status, 400);

    emu.register_site(Provider::ByeBot, "shop", "shop-key");
    let token = emu
        .mint(TokenSpec::new(Provider::ByeBot).site_key("shop"))
        .expect("mint");
    let answer = verify(&emu, Provider::ByeBot, "shop-key", &token).await;
    assert_eq!(answer.json()["sitekey"], "shop");
}

#[tokio::test]
async fn verify_calls_are_recorded_with_content_type_fields_and_headers() {
    let emu = start().await;
    let token = emu.mint(TokenSpec::new(Provider::HCaptcha)).expect("mint");
    let response = client()
        .post(emu.verify_url(Provider::HCaptcha))
        .header("x-trace", "abc")
        .form(&[
            ("secret", "emulator-hcaptcha-secret"),
            ("response", token.as_str()),
            ("remoteip", "10.0.0.1"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    post_json(
        &emu.verify_url(Provider::Procaptcha),
        &json!({ "secret": "s", "token": "0x00", "ip": null, "n": 5 }),
    )
    .await;
    post_raw(&emu.verify_url(Provider::ByeBot), "text/plain", b"hello").await;
    // /tokens and /health are not verify calls.
    client()
        .get(format!("{}/health", emu.base_url()))
        .send()
        .await
        .expect("health");

    let recorded = emu.requests();
    assert_eq!(recorded.len(), 3);
    let form = &recorded[0];
    assert_eq!(form.provider, Provider::HCaptcha);
    assert_eq!(form.path, "/hcaptcha/siteverify");
    assert_eq!(
        form.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(form.field("secret"), Some("emulator-hcaptcha-secret"));
    assert_eq!(form.field("response"), Some(token.as_str()));
    assert_eq!(form.field("remoteip"), Some("10.0.0.1"));
    assert_eq!(form.header("X-Trace"), Some("abc"));
    assert!(String::from_utf8_lossy(&form.body).contains("remoteip=10.0.0.1"));

    let json = &recorded[1];
    assert_eq!(json.provider, Provider::Procaptcha);
    assert_eq!(json.content_type.as_deref(), Some("application/json"));
    assert_eq!(json.field("token"), Some("0x00"));
    assert_eq!(json.field("ip"), Some("null"));
    assert_eq!(json.field("n"), Some("5"));

    let raw = &recorded[2];
    assert_eq!(raw.content_type.as_deref(), Some("text/plain"));
    assert!(raw.fields.is_empty());
    assert_eq!(raw.body, b"hello");

    // The same list over HTTP, then cleared over HTTP.
    let url = format!("{}/requests", emu.base_url());
    let listed = Answer::read(client().get(&url).send().await.expect("get")).await;
    let listed: Vec<RecordedRequest> = serde_json::from_slice(&listed.body).expect("records");
    assert_eq!(listed, recorded);
    let raw_json: Value = serde_json::from_slice(
        &Answer::read(client().get(&url).send().await.expect("get"))
            .await
            .body,
    )
    .expect("json");
    assert_eq!(raw_json[2]["body"], "hello");
    let cleared = client().delete(&url).send().await.expect("delete");
    assert_eq!(cleared.status(), 204);
    assert!(emu.requests().is_empty());

    post_form(&emu.verify_url(Provider::Recaptcha), &[("secret", "x")]).await;
    assert_eq!(emu.requests().len(), 1);
    emu.clear_requests();
    assert!(emu.requests().is_empty());
}

#[tokio::test]
async fn wrong_content_types_get_each_providers_bad_request() {
    let emu = start().await;
    for p in Provider::ALL {
        let answer = post_raw(&emu.verify_url(p), "text/plain", b"secret=x").await;
        match p {
            Provider::HCaptcha | Provider::Recaptcha | Provider::Turnstile => {
                assert_eq!(answer.status, 200, "{p}");
                assert_eq!(answer.json()["success"], false);
                assert_eq!(answer.codes(), ["bad-request"]);
            }
            Provider::Procaptcha => {
                assert_eq!(answer.status, 400);
                assert_eq!(answer.json()["error"]["code"], "BAD_REQUEST");
            }
            Provider::ByeBot => assert_eq!((answer.status, answer.body.len()), (400, 0)),
            Provider::FriendlyCaptcha => {
                assert_eq!(answer.status, 400);
                assert_eq!(answer.json()["error"]["error_code"], "bad_request");
            }
            Provider::RecaptchaEnterprise => {
                assert_eq!(answer.status, 400);
                assert_eq!(answer.json()["error"]["status"], "INVALID_ARGUMENT");
            }
        }
    }
    // No content type at all.
    let answer = Answer::read(
        client()
            .post(emu.verify_url(Provider::HCaptcha))
            .body("secret=x&response=y")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(answer.codes(), ["bad-request"]);
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let emu = start().await;
    let url = format!("{}/health", emu.base_url());
    emu.shutdown().await;
    assert!(client().get(&url).send().await.is_err());

    let emu = start().await;
    let url = format!("{}/health", emu.base_url());
    drop(emu);
    let mut stopped = false;
    for _ in 0..50 {
        if client().get(&url).send().await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(stopped, "dropping the handle stops the server");
}

#[test]
fn public_types_are_thread_safe() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Emulator>();
    assert_send_sync::<TokenSpec>();
    assert_send_sync::<RecordedRequest>();
    assert_send_sync::<MintError>();
}

#[tokio::test]
async fn the_record_is_a_ring_of_the_builders_limit() {
    let emulator = Emulator::builder()
        .record_limit(2)
        .site(Provider::HCaptcha, "built-key", "built-secret")
        .start()
        .await
        .expect("starts");
    let url = emulator.verify_url(Provider::HCaptcha);
    for token in ["a", "b", "c"] {
        post_form(&url, &[("secret", "built-secret"), ("response", token)]).await;
    }
    let seen: Vec<String> = emulator
        .requests()
        .iter()
        .map(|r| r.field("response").unwrap().to_owned())
        .collect();
    assert_eq!(seen, ["b", "c"]);
    let token = emulator
        .mint(TokenSpec::new(Provider::HCaptcha).site_key("built-key"))
        .expect("the built site is registered");
    let answer = verify(&emulator, Provider::HCaptcha, "built-secret", &token).await;
    assert_eq!(answer.json()["success"], true);

    let silent = Emulator::builder().record_limit(0).start().await.unwrap();
    post_form(&silent.verify_url(Provider::HCaptcha), &[("secret", "x")]).await;
    assert!(silent.requests().is_empty());
    assert_eq!(siteverify_emulator::DEFAULT_RECORD_LIMIT, 10_000);
}
