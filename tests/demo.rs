//! The signup demo, exactly as `cargo run --example signup` serves it, over real HTTP.

use sha2::{Digest, Sha256};
use signup_demo::Demo;
use siteverify::Provider;
use siteverify_emulator::{Emulator, Provider as Emulated, TokenSpec};

struct Running {
    url: String,
    _demo_emulator: Option<Emulator>,
}

async fn start(demo: Demo) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let Demo {
        router, emulator, ..
    } = demo;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Running {
        url,
        _demo_emulator: emulator,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A token as the emulated reCAPTCHA widget mints it on the demo page.
fn token(demo: &Demo, action: &str, score: f64) -> String {
    demo.emulator
        .as_ref()
        .unwrap()
        .mint(
            TokenSpec::new(Emulated::Recaptcha)
                .hostname("127.0.0.1")
                .action(action)
                .score(score),
        )
        .unwrap()
}

#[tokio::test]
async fn the_page_renders_the_widget_of_the_emulator() {
    let demo = Demo::emulated(Provider::Recaptcha).await.unwrap();
    let script = demo.widget.script.clone();
    let running = start(demo).await;
    let page = client()
        .get(&running.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"class="captcha g-recaptcha" data-sitekey="emulator-recaptcha-site-key""#),
        "{page}"
    );
    assert!(
        page.contains(&format!(r#"<script src="{script}""#)),
        "{page}"
    );
    assert!(script.ends_with("/widget.js"));
}

#[tokio::test]
async fn the_form_route_greets_humans_and_explains_failures() {
    let demo = Demo::emulated(Provider::Recaptcha).await.unwrap();
    let good = token(&demo, "signup", 0.9);
    let bot = token(&demo, "signup", 0.1);
    let running = start(demo).await;
    let url = format!("{}/signup", running.url);
    let client = client();

    let welcome = client
        .post(&url)
        .form(&[
            ("email", "<ada>@example.com"),
            ("password", "pw"),
            ("g-recaptcha-response", &good),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(welcome.status(), 200);
    let page = welcome.text().await.unwrap();
    assert!(page.contains("Welcome, &lt;ada&gt;@example.com!"), "{page}");

    for (token, status, code) in [
        (Some(bot), 403, "score_below_threshold"),
        (None, 400, "missing_token"),
        (Some(good), 403, "expired_or_duplicate"),
    ] {
        let mut form = vec![("email", "a@b.c".to_owned())];
        form.extend(token.map(|t| ("g-recaptcha-response", t)));
        let response = client.post(&url).form(&form).send().await.unwrap();
        assert_eq!(response.status(), status, "{code}");
        let page = response.text().await.unwrap();
        assert!(page.contains(&format!(r#"data-code="{code}""#)), "{page}");
        assert!(page.contains(r#"<a id="back" href="/">"#), "{page}");
    }
}

#[tokio::test]
async fn the_json_route_echoes_the_email_and_the_verdict() {
    let demo = Demo::emulated(Provider::Recaptcha).await.unwrap();
    let good = token(&demo, "signup", 0.9);
    let running = start(demo).await;
    let url = format!("{}/api/signup", running.url);
    let body = serde_json::json!({ "email": "Ada@Example.COM ", "g-recaptcha-response": good });
    let response = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["email"], "Ada@Example.COM ");
    assert_eq!(answer["verdict"]["provider"], "recaptcha");
    assert_eq!(answer["verdict"]["action"], "signup");
    let refused = client()
        .post(&url)
        .json(&serde_json::json!({ "email": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.text().await.unwrap(),
        r#"{"error":"captcha_failed","reason":"missing_token"}"#
    );
}

#[tokio::test]
async fn a_multi_mib_avatar_streams_through() {
    let demo = Demo::emulated(Provider::Recaptcha).await.unwrap();
    let good = token(&demo, "signup", 0.9);
    let running = start(demo).await;
    let file: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let expected: String = Sha256::digest(&file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let form = reqwest::multipart::Form::new()
        .text("g-recaptcha-response", good)
        .part(
            "file",
            reqwest::multipart::Part::bytes(file.clone()).file_name("me.png"),
        );
    let response = client()
        .post(format!("{}/avatar", running.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        serde_json::json!({ "ok": true, "bytes": file.len(), "sha256": expected })
    );
}

#[tokio::test]
async fn checkout_is_guarded_by_a_stricter_policy() {
    let demo = Demo::emulated(Provider::Recaptcha).await.unwrap();
    let cases = [
        (token(&demo, "checkout", 0.9), 200, "ok"),
        (token(&demo, "checkout", 0.6), 403, "score_below_threshold"),
        (token(&demo, "signup", 0.9), 403, "action_mismatch"),
    ];
    let running = start(demo).await;
    for (token, status, reason) in cases {
        let body = serde_json::json!({ "email": "a@b.c", "g-recaptcha-response": token });
        let response = client()
            .post(format!("{}/checkout", running.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{reason}");
        if status != 200 {
            assert!(response.text().await.unwrap().contains(reason));
        }
    }
}

#[tokio::test]
async fn environment_variables_alone_switch_to_a_real_provider() {
    // A "real" hCaptcha whose verify URL points at an emulator: the same binary, configured
    // only through the variables an operator would set.
    let upstream = Emulator::start().await.unwrap();
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
            upstream.verify_url(Emulated::HCaptcha),
        ),
    ];
    let config = tower_captcha_config(vars);
    let demo = Demo::real(&config, None).unwrap();
    assert!(demo.emulator.is_none());
    assert_eq!(demo.widget.script, "https://js.hcaptcha.com/1/api.js");
    let running = start(demo).await;
    let page = client()
        .get(&running.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"class="captcha h-captcha""#), "{page}");

    let token = upstream.mint(TokenSpec::new(Emulated::HCaptcha)).unwrap();
    let response = client()
        .post(format!("{}/signup", running.url))
        .form(&[("email", "a@b.c"), ("h-captcha-response", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.requests().len(), 1);

    // Without a site key the page cannot show a widget: a clear error, not a broken page.
    let vars_without_key = [
        ("CAPTCHA_PROVIDER", "turnstile".to_owned()),
        ("CAPTCHA_SECRET", "s".to_owned()),
    ];
    let err = Demo::real(&tower_captcha_config(vars_without_key), None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("CAPTCHA_SITEKEY"), "{err}");
}

fn tower_captcha_config<I: IntoIterator<Item = (&'static str, String)>>(
    vars: I,
) -> tower_captcha::CaptchaConfig {
    tower_captcha::CaptchaConfig::from_vars("CAPTCHA", vars).unwrap()
}

#[tokio::test]
async fn captcha_fail_open_lets_signups_through_while_the_provider_is_down() {
    // The provider's endpoint refuses connections: it is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let vars = |fail_open: &str| {
        [
            ("CAPTCHA_PROVIDER", "turnstile".to_owned()),
            ("CAPTCHA_SECRET", "s".to_owned()),
            ("CAPTCHA_SITEKEY", "k".to_owned()),
            (
                "CAPTCHA_VERIFY_URL",
                format!("http://127.0.0.1:{port}/siteverify"),
            ),
            ("CAPTCHA_TIMEOUT_MS", "300".to_owned()),
            ("CAPTCHA_FAIL_OPEN", fail_open.to_owned()),
        ]
    };
    for (fail_open, status) in [("false", 503), ("true", 200)] {
        let demo = Demo::real(&tower_captcha_config(vars(fail_open)), None).unwrap();
        let running = start(demo).await;
        let body = serde_json::json!({ "email": "a@b.c", "cf-turnstile-response": "0.some-token" });
        let response = client()
            .post(format!("{}/api/signup", running.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "CAPTCHA_FAIL_OPEN={fail_open}");
        if status == 200 {
            let answer: serde_json::Value = response.json().await.unwrap();
            assert_eq!(answer["verdict"]["degraded"], true);
        }
    }
}
