//! The widget script and the CORS surface it needs: `/widget.js`, `POST /tokens` from a page
//! on another origin, and no CORS anywhere else.

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, CONTENT_TYPE, ORIGIN,
};
use reqwest::{Method, Response};
use serde_json::json;
use siteverify_emulator::{Provider, TokenSpec};

use crate::{Answer, client, mint, start, verify_default};

/// The origin of the demo page, which is never the emulator's.
const PAGE_ORIGIN: &str = "http://shop.example:3000";

fn header(response: &Response, name: impl reqwest::header::AsHeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
}

#[tokio::test]
async fn widget_js_is_served_with_the_dom_contract() {
    let emulator = start().await;
    let response = client()
        .get(format!("{}/widget.js", emulator.base_url()))
        .header(ORIGIN, PAGE_ORIGIN)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, CONTENT_TYPE).as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("*")
    );
    let script = response.text().await.expect("body");
    for (selector, field) in [
        (".h-captcha", "h-captcha-response"),
        (".g-recaptcha", "g-recaptcha-response"),
        (".cf-turnstile", "cf-turnstile-response"),
        (".procaptcha", "procaptcha-response"),
        (".byebot-captcha", "byebot-token"),
        (".frc-captcha", "frc-captcha-response"),
    ] {
        assert!(script.contains(&format!("'{selector}'")), "{selector}");
        assert!(script.contains(&format!("'{field}'")), "{field}");
    }
    // The texts and attributes the browser tests select on.
    for needle in [
        "'I am human'",
        "'Simulate a bot'",
        "'Verified'",
        "'Bot token set'",
        "'data-emulator'",
        "'data-emulator-state'",
        "'solved'",
        "document.currentScript",
        "/tokens",
        // reCAPTCHA v3: the script URL's render=<site key>, and the bot hook of the docs.
        "params.get('render')",
        "window.siteverifyEmulator",
        "v3Score",
    ] {
        assert!(script.contains(needle), "{needle}");
    }
}

/// The same script stands in for reCAPTCHA Enterprise's `enterprise.js`, and knows by that
/// name to mint Enterprise tokens and add `grecaptcha.enterprise`.
#[tokio::test]
async fn enterprise_js_is_the_same_script_in_enterprise_mode() {
    let emulator = start().await;
    let get = |path: &'static str| {
        let url = format!("{}{path}", emulator.base_url());
        async move { client().get(url).send().await.expect("request") }
    };
    let enterprise = get("/enterprise.js").await;
    assert_eq!(enterprise.status(), 200);
    assert_eq!(
        header(&enterprise, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("*")
    );
    let script = enterprise.text().await.expect("body");
    assert_eq!(script, get("/widget.js").await.text().await.expect("body"));
    for needle in [
        "enterprise\\.js",
        "'recaptcha-enterprise'",
        ".enterprise = api(p)",
    ] {
        assert!(script.contains(needle), "{needle}");
    }
}

/// The ALTCHA mode's page contract. Its solver is run for real elsewhere: on Node against
/// siteverify's verifier (`siteverify/tests/altcha/widget.rs`, every challenge kind we issue)
/// and in Chromium by the browser test.
#[tokio::test]
async fn widget_js_has_the_altcha_contract() {
    let emulator = start().await;
    let script = client()
        .get(format!("{}/widget.js", emulator.base_url()))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    for needle in [
        // The real widget's element and attributes (2.x `challengeurl`, 3.x `challenge`),
        // and our own container for pages that prefer a div.
        "'altcha-widget, [data-altcha]'",
        "getAttribute('challengeurl')",
        "getAttribute('challenge')",
        "getAttribute('name') || d.name || 'altcha'",
        "getAttribute('auto') === 'onload'",
        // Same origin only, never the emulator: the page's own server issues and verifies.
        "url.origin !== location.origin",
        // Both protocols, solved with the browser's crypto.
        "crypto.subtle.digest",
        "crypto.subtle.deriveBits",
        "'PBKDF2'",
        "setUint32(nonce.length, counter, false)",
        "btoa(JSON.stringify(payload))",
        // The real widget's event.
        "new CustomEvent('verified'",
    ] {
        assert!(script.contains(needle), "{needle}");
    }
}

#[tokio::test]
async fn tokens_answers_the_cors_preflight() {
    let emulator = start().await;
    let response = client()
        .request(Method::OPTIONS, format!("{}/tokens", emulator.base_url()))
        .header(ORIGIN, PAGE_ORIGIN)
        .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 204);
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("*")
    );
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_METHODS).as_deref(),
        Some("POST, OPTIONS")
    );
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_HEADERS).as_deref(),
        Some("content-type")
    );
    assert_eq!(
        header(&response, "access-control-allow-private-network"),
        None
    );

    // Chromium's Private Network Access preflight, for a public page calling loopback.
    let response = client()
        .request(Method::OPTIONS, format!("{}/tokens", emulator.base_url()))
        .header(ORIGIN, "https://demo.example")
        .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header("access-control-request-private-network", "true")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 204);
    assert_eq!(
        header(&response, "access-control-allow-private-network").as_deref(),
        Some("true")
    );
}

/// POSTs `body` to `/tokens` as the script's `fetch` does.
async fn mint_like_the_script(base_url: &str, body: &str) -> Response {
    client()
        .post(format!("{base_url}/tokens"))
        .header(ORIGIN, PAGE_ORIGIN)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn tokens_minted_as_the_script_does_verify() {
    let emulator = start().await;

    // The exact JSON the script sends for
    // <div class="cf-turnstile" data-sitekey="emulator-turnstile-site-key" data-action="login"
    //      data-cdata="cart-42">, on a page served from shop.example.
    let response = mint_like_the_script(
        &emulator.base_url(),
        r#"{"provider":"turnstile","site_key":"emulator-turnstile-site-key","hostname":"shop.example","action":"login","cdata":"cart-42"}"#,
    )
    .await;
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("*")
    );
    let answer = Answer::read(response).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let token = answer.json()["token"].as_str().expect("token").to_owned();
    let verdict = verify_default(&emulator, Provider::Turnstile, &token)
        .await
        .json();
    assert_eq!(verdict["success"], true, "{verdict}");
    assert_eq!(verdict["hostname"], "shop.example");
    assert_eq!(verdict["action"], "login");
    assert_eq!(verdict["cdata"], "cart-42");

    // reCAPTCHA v3: grecaptcha.execute sends the action and a score (a person's, or the
    // page's `siteverifyEmulator.v3Score`), and the answer reports both.
    for score in [0.9, 0.1] {
        let body = json!({
            "provider": "recaptcha",
            "site_key": "emulator-recaptcha-site-key",
            "hostname": "shop.example",
            "action": "submit",
            "score": score,
        });
        let answer =
            Answer::read(mint_like_the_script(&emulator.base_url(), &body.to_string()).await).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        let token = answer.json()["token"].as_str().expect("token").to_owned();
        let verdict = verify_default(&emulator, Provider::Recaptcha, &token)
            .await
            .json();
        assert_eq!(verdict["success"], true, "{verdict}");
        assert_eq!(verdict["hostname"], "shop.example");
        assert_eq!(verdict["action"], "submit");
        assert_eq!(verdict["score"], score);
    }

    // The reCAPTCHA checkbox is v2: what it sends, and so what the answer reports, has
    // neither score nor action, even on a container with a data-action.
    let answer = Answer::read(
        mint_like_the_script(
            &emulator.base_url(),
            r#"{"provider":"recaptcha","site_key":"emulator-recaptcha-site-key","hostname":"shop.example"}"#,
        )
        .await,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let token = answer.json()["token"].as_str().expect("token").to_owned();
    let verdict = verify_default(&emulator, Provider::Recaptcha, &token)
        .await
        .json();
    assert_eq!(verdict["success"], true, "{verdict}");
    assert_eq!(verdict["hostname"], "shop.example");
    assert!(verdict.get("score").is_none(), "{verdict}");
    assert!(verdict.get("action").is_none(), "{verdict}");

    // The other providers, with only the members the script always sends.
    for provider in [Provider::HCaptcha, Provider::Procaptcha, Provider::ByeBot] {
        let body = json!({
            "provider": provider,
            "site_key": provider.default_site_key(),
            "hostname": "shop.example",
        });
        let answer =
            Answer::read(mint_like_the_script(&emulator.base_url(), &body.to_string()).await).await;
        assert_eq!(answer.status, 200, "{provider}: {}", answer.text());
        let token = answer.json()["token"].as_str().expect("token").to_owned();
        let verify = verify_default(&emulator, provider, &token).await;
        assert_eq!(verify.status, 200, "{provider}: {}", verify.text());
        let verdict = verify.json();
        assert!(
            verdict["success"] == true || verdict["verified"] == true,
            "{provider}: {verdict}"
        );
    }
}

#[tokio::test]
async fn mint_errors_are_readable_by_the_page() {
    let emulator = start().await;
    // A page whose site key was never registered with the emulator: the script shows this text.
    let response = mint_like_the_script(
        &emulator.base_url(),
        r#"{"provider":"hcaptcha","site_key":"not-registered","hostname":"shop.example"}"#,
    )
    .await;
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("*")
    );
    let answer = Answer::read(response).await;
    assert_eq!(answer.status, 400);
    let error = answer.json()["error"].as_str().expect("error").to_owned();
    assert!(error.contains("not-registered"), "{error}");
}

#[tokio::test]
async fn bot_tokens_fail_as_invalid() {
    let emulator = start().await;
    // The shapes the "Simulate a bot" button writes.
    let bot = "bot-0123456789abcdef0123456789abcdef";
    for (provider, token, code) in [
        (Provider::HCaptcha, bot, "invalid-input-response"),
        (Provider::Recaptcha, bot, "invalid-input-response"),
        (Provider::Turnstile, bot, "invalid-input-response"),
    ] {
        let answer = verify_default(&emulator, provider, token).await;
        assert_eq!(answer.codes(), [code], "{provider}: {}", answer.text());
    }
    let procaptcha = verify_default(
        &emulator,
        Provider::Procaptcha,
        "0x0123456789abcdef0123456789abcdef",
    )
    .await;
    assert_eq!(procaptcha.status, 200);
    assert_eq!(procaptcha.json()["status"], "invalid");
    let byebot = verify_default(&emulator, Provider::ByeBot, bot).await;
    assert_eq!(byebot.status, 400);
}

#[tokio::test]
async fn only_the_widget_surface_gets_cors_headers() {
    let emulator = start().await;
    let token = mint(&emulator, TokenSpec::new(Provider::Turnstile));
    for provider in Provider::ALL {
        let url = emulator.verify_url(provider);
        let response = client()
            .post(&url)
            .header(ORIGIN, PAGE_ORIGIN)
            .header(CONTENT_TYPE, "application/json")
            .body(json!({ "secret": "s", "response": token, "token": token }).to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(
            header(&response, ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{url}"
        );

        let preflight = client()
            .request(Method::OPTIONS, &url)
            .header(ORIGIN, PAGE_ORIGIN)
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .send()
            .await
            .expect("request");
        assert_eq!(preflight.status(), 405, "{url}");
        assert_eq!(
            header(&preflight, ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{url}"
        );
        assert_eq!(
            header(&preflight, ACCESS_CONTROL_ALLOW_METHODS),
            None,
            "{url}"
        );
    }
    for path in ["/requests", "/health"] {
        let response = client()
            .get(format!("{}{path}", emulator.base_url()))
            .header(ORIGIN, PAGE_ORIGIN)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{path}"
        );
    }
}
