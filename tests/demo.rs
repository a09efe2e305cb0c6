//! The signup demo, exactly as `cargo run --example signup` serves it (through
//! [`signup_demo::serve`]), over real HTTP, for every provider.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use signup_demo::{Demo, Timeouts, Widget};
use siteverify::{Provider, RecaptchaVersion};
use siteverify_emulator::{Emulator, Provider as Emulated, TokenSpec};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinHandle,
};

/// A demo served on a free loopback port; stopped when dropped.
struct Running {
    url: String,
    addr: SocketAddr,
    widget: Widget,
    fallback: Option<Widget>,
    providers: tower_captcha::ProviderSet,
    emulator: Option<Emulator>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start(demo: Demo) -> Running {
    start_with(demo, Timeouts::default()).await
}

async fn start_with(demo: Demo, timeouts: Timeouts) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let Demo {
        router,
        widget,
        fallback,
        providers,
        emulator,
    } = demo;
    let server = tokio::spawn(signup_demo::serve(
        listener,
        router,
        timeouts,
        std::future::pending(),
    ));
    Running {
        url: format!("http://{addr}"),
        addr,
        widget,
        fallback,
        providers,
        emulator,
        server,
    }
}

impl Running {
    fn emulator(&self) -> &Emulator {
        self.emulator.as_ref().expect("an emulated demo")
    }

    /// What the emulated widget on the page mints for a person solving it on 127.0.0.1.
    fn human(&self, action: &str) -> String {
        self.scored(action, 0.9)
    }

    /// The same with this v3 score (ignored by the providers that report none).
    fn scored(&self, action: &str, score: f64) -> String {
        mint(self.emulator(), &self.widget, action, score)
    }

    fn field(&self) -> &'static str {
        self.widget.provider.widget_field()
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client()
            .post(format!("{}{path}", self.url))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        client()
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn page(&self) -> String {
        client()
            .get(&self.url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// A token from `emulator` as the widget `widget` mints it: the page's hostname, and what the
/// provider reports: Turnstile the action, reCAPTCHA v3 the action and a score, the v2
/// checkbox neither.
fn mint(emulator: &Emulator, widget: &Widget, action: &str, score: f64) -> String {
    let emulated: Emulated = widget.provider.name().parse().unwrap();
    let spec = TokenSpec::new(emulated)
        .site_key(&widget.site_key)
        .hostname("127.0.0.1");
    let spec = match widget.provider {
        Provider::Recaptcha if widget.is_recaptcha_v3() => spec.action(action).score(score),
        Provider::RecaptchaEnterprise => spec.action(action).score(score),
        Provider::Turnstile => spec.action(action),
        _ => spec,
    };
    emulator.mint(spec).unwrap()
}

/// A token the emulator never minted, as the widget's "Simulate a bot" writes it.
fn bot_token(provider: Provider) -> &'static str {
    if provider == Provider::Procaptcha {
        "0x0123456789abcdef0123456789abcdef"
    } else {
        "bot-0123456789abcdef0123456789abcdef"
    }
}

/// What a second use of a token is refused as. ByeBot answers every bad token with the same
/// bare 400, and Prosopo documents no `status` values, so for those two a replay is not
/// told from an invalid token.
fn replay_code(provider: Provider) -> &'static str {
    if matches!(provider, Provider::ByeBot | Provider::Procaptcha) {
        "invalid_token"
    } else {
        "expired_or_duplicate"
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn code_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, text)
}

fn container_class(provider: Provider) -> &'static str {
    match provider {
        Provider::HCaptcha => "h-captcha",
        Provider::Recaptcha | Provider::RecaptchaEnterprise => "g-recaptcha",
        Provider::Turnstile => "cf-turnstile",
        Provider::Procaptcha => "procaptcha",
        Provider::FriendlyCaptcha => "frc-captcha",
        _ => "byebot-captcha",
    }
}

#[tokio::test]
async fn every_demo_emulate_value_starts_and_serves_a_working_page() {
    for (value, provider) in [
        (None, Provider::Recaptcha),
        (Some(""), Provider::Recaptcha),
        (Some("hcaptcha"), Provider::HCaptcha),
        (Some("recaptcha"), Provider::Recaptcha),
        (Some("turnstile"), Provider::Turnstile),
        (Some("procaptcha"), Provider::Procaptcha),
        (Some("byebot"), Provider::ByeBot),
        (Some(" ByeBot "), Provider::ByeBot),
        (Some("friendlycaptcha"), Provider::FriendlyCaptcha),
        (Some("FriendlyCaptcha"), Provider::FriendlyCaptcha),
        (Some("recaptcha-enterprise"), Provider::RecaptchaEnterprise),
        // `altcha` has a test of its own (no emulator): demo_emulate_altcha_runs_altcha_….
    ] {
        let vars: Vec<(&str, &str)> = value.map(|v| ("DEMO_EMULATE", v)).into_iter().collect();
        let demo = match Demo::from_vars(vars).await {
            Ok(demo) => demo,
            Err(e) => panic!("DEMO_EMULATE={value:?}: {e}"),
        };
        assert_eq!(demo.widget.provider, provider, "{value:?}");
        let running = start(demo).await;
        let base = running.emulator().base_url();
        let page = running.page().await;
        if provider == Provider::Recaptcha {
            // The default version is 3: no checkbox, a token fetched for the action on submit.
            let script =
                format!(r#"<script src="{base}/widget.js?render=emulator-recaptcha-site-key""#);
            assert!(page.contains(&script), "{page}");
            assert!(page.contains("grecaptcha"), "{page}");
            assert!(page.contains(".execute(field.dataset.sitekey"), "{page}");
            assert!(page.contains(r#"<input type="hidden" name="g-recaptcha-response" data-sitekey="emulator-recaptcha-site-key" data-action="signup">"#), "{page}");
            assert!(!page.contains("g-recaptcha\""), "no checkbox: {page}");
        } else {
            let container = format!(
                r#"<div class="captcha {}" data-sitekey="emulator-{}-site-key""#,
                container_class(provider),
                provider.name()
            );
            assert!(page.contains(&container), "{page}");
            // reCAPTCHA Enterprise: the stand-in under the name of Google's script.
            let script = match provider {
                Provider::RecaptchaEnterprise => "enterprise.js",
                _ => "widget.js",
            };
            assert!(
                page.contains(&format!(r#"<script src="{base}/{script}""#)),
                "{page}"
            );
            // Only Turnstile and reCAPTCHA Enterprise report the action the page sets.
            assert_eq!(
                page.contains(r#"data-action="signup""#),
                matches!(
                    provider,
                    Provider::Turnstile | Provider::RecaptchaEnterprise
                ),
                "{page}"
            );
        }
        let token = running.human("signup");
        let response = running
            .post_form("/signup", &[("email", "a@b.c"), (running.field(), &token)])
            .await;
        assert_eq!(response.status(), 200, "DEMO_EMULATE={value:?}");
    }

    let err = Demo::from_vars([("DEMO_EMULATE", "recaptha")])
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "DEMO_EMULATE is invalid: unknown CAPTCHA provider `recaptha` (expected hcaptcha, recaptcha, turnstile, procaptcha, byebot, friendlycaptcha, recaptcha-enterprise or altcha)"
    );
}

#[tokio::test]
async fn the_form_route_greets_humans_and_explains_failures_for_every_provider() {
    for provider in Provider::HOSTED {
        let running = start(Demo::emulated(provider).await.unwrap()).await;
        let field = running.field();
        let good = running.human("signup");
        let welcome = running
            .post_form(
                "/signup",
                &[
                    ("email", "<ada>@example.com"),
                    ("password", "pw"),
                    (field, &good),
                ],
            )
            .await;
        assert_eq!(welcome.status(), 200, "{provider}");
        let page = welcome.text().await.unwrap();
        assert!(page.contains("Welcome, &lt;ada&gt;@example.com!"), "{page}");

        let mut cases = vec![
            (Some(bot_token(provider).to_owned()), 403, "invalid_token"),
            (None, 400, "missing_token"),
            (Some(good), 403, replay_code(provider)),
        ];
        if provider == Provider::Recaptcha {
            cases.push((
                Some(running.scored("signup", 0.1)),
                403,
                "score_below_threshold",
            ));
        }
        for (token, status, code) in cases {
            let mut form = vec![("email", "a@b.c")];
            form.extend(token.as_deref().map(|t| (field, t)));
            let response = running.post_form("/signup", &form).await;
            assert_eq!(response.status(), status, "{provider}: {code}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains(&format!(r#"data-code="{code}""#)),
                "{provider}: {page}"
            );
            assert!(page.contains(r#"<a id="back" href="/">"#), "{page}");
        }
    }
}

#[tokio::test]
async fn the_json_route_echoes_the_email_and_the_verdict_for_every_provider() {
    for provider in Provider::HOSTED {
        let running = start(Demo::emulated(provider).await.unwrap()).await;
        let good = running.human("signup");
        let body = serde_json::json!({ "email": "Ada@Example.COM ", running.field(): good });
        let response = running.post_json("/api/signup", body).await;
        assert_eq!(response.status(), 200, "{provider}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["ok"], true);
        assert_eq!(answer["email"], "Ada@Example.COM ");
        assert_eq!(answer["verdict"]["provider"], provider.name());
        if matches!(provider, Provider::Recaptcha | Provider::Turnstile) {
            assert_eq!(answer["verdict"]["action"], "signup", "{provider}");
        }
        let refused = running
            .post_json("/api/signup", serde_json::json!({ "email": "x" }))
            .await;
        assert_eq!(
            code_of(refused).await,
            (
                400,
                r#"{"error":"captcha_failed","reason":"missing_token"}"#.to_owned()
            ),
            "{provider}"
        );
    }
}

#[tokio::test]
async fn a_multi_mib_avatar_streams_through_for_every_provider() {
    let file: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let expected: String = Sha256::digest(&file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for provider in Provider::HOSTED {
        let running = start(Demo::emulated(provider).await.unwrap()).await;
        let form = reqwest::multipart::Form::new()
            .text(running.field(), running.human("signup"))
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
        assert_eq!(response.status(), 200, "{provider}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            answer,
            serde_json::json!({ "ok": true, "bytes": file.len(), "sha256": expected }),
            "{provider}"
        );
    }
}

#[tokio::test]
async fn checkout_is_guarded_by_a_stricter_policy_for_every_provider() {
    for provider in Provider::HOSTED {
        let running = start(Demo::emulated(provider).await.unwrap()).await;
        let mut cases = vec![(running.human("checkout"), 200, "ok")];
        match provider {
            Provider::Recaptcha => {
                cases.push((
                    running.scored("checkout", 0.6),
                    403,
                    "score_below_threshold",
                ));
                cases.push((running.human("signup"), 403, "action_mismatch"));
            }
            Provider::Turnstile => cases.push((running.human("signup"), 403, "action_mismatch")),
            _ => cases.push((bot_token(provider).to_owned(), 403, "invalid_token")),
        }
        for (token, status, reason) in cases {
            let body = serde_json::json!({ "email": "a@b.c", running.field(): token });
            let (got, text) = code_of(running.post_json("/checkout", body).await).await;
            assert_eq!(got, status, "{provider}: {reason}: {text}");
            if status != 200 {
                assert!(text.contains(reason), "{provider}: {text}");
            }
        }
    }
}

/// The variables of a "real" `provider` whose verify URL points at `upstream`, with the
/// emulator's default keys, as an operator sets them.
fn real_vars(upstream: &Emulator, provider: Provider) -> Vec<(&'static str, String)> {
    let emulated = emulated(provider);
    vec![
        ("CAPTCHA_PROVIDER", provider.name().to_owned()),
        ("CAPTCHA_SECRET", emulated.default_secret().to_owned()),
        ("CAPTCHA_SITEKEY", emulated.default_site_key().to_owned()),
        ("CAPTCHA_VERIFY_URL", upstream.verify_url(emulated)),
    ]
}

/// A "real" reCAPTCHA whose verify URL points at `upstream`, configured by `extra` as an
/// operator would.
async fn real_recaptcha(upstream: &Emulator, extra: &[(&str, &str)]) -> Running {
    let mut vars = real_vars(upstream, Provider::Recaptcha);
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let demo = match Demo::from_vars(vars).await {
        Ok(demo) => demo,
        Err(e) => panic!("{extra:?}: {e}"),
    };
    assert!(demo.emulator.is_none());
    start(demo).await
}

async fn signup_status(running: &Running, path: &str, token: &str) -> (u16, String) {
    let body = serde_json::json!({ "email": "a@b.c", running.field(): token });
    code_of(running.post_json(path, body).await).await
}

#[tokio::test]
async fn configured_values_are_what_the_routes_demand() {
    let upstream = Emulator::start().await.unwrap();
    let token = |running: &Running, action: &str, score: f64| {
        mint(&upstream, &running.widget, action, score)
    };

    // Nothing configured: the demo's own defaults, 0.5 for signup and 0.8 for checkout.
    let defaults = real_recaptcha(&upstream, &[]).await;
    for (path, action, score, status) in [
        ("/api/signup", "signup", 0.5, 200),
        ("/api/signup", "signup", 0.4, 403),
        ("/checkout", "checkout", 0.8, 200),
        ("/checkout", "checkout", 0.7, 403),
    ] {
        let got = signup_status(&defaults, path, &token(&defaults, action, score)).await;
        assert_eq!(got.0, status, "{path} {score}: {}", got.1);
    }

    // CAPTCHA_MIN_SCORE=0.3 is what both routes demand, below their defaults.
    let lenient = real_recaptcha(&upstream, &[("CAPTCHA_MIN_SCORE", "0.3")]).await;
    for (path, action, score, status) in [
        ("/api/signup", "signup", 0.4, 200),
        ("/api/signup", "signup", 0.2, 403),
        ("/checkout", "checkout", 0.4, 200),
        ("/checkout", "checkout", 0.29, 403),
    ] {
        let got = signup_status(&lenient, path, &token(&lenient, action, score)).await;
        assert_eq!(got.0, status, "{path} {score}: {}", got.1);
    }
    let form = lenient
        .post_form(
            "/signup",
            &[
                ("email", "a@b.c"),
                ("g-recaptcha-response", &token(&lenient, "signup", 0.35)),
            ],
        )
        .await;
    assert_eq!(form.status(), 200, "the HTML form route too");

    // CAPTCHA_ACTION=login on every route, and on the page, which must ask for it.
    let login = real_recaptcha(&upstream, &[("CAPTCHA_ACTION", "login")]).await;
    assert_eq!(login.widget.action.as_deref(), Some("login"));
    assert!(login.page().await.contains(r#"data-action="login""#));
    for (path, action, status) in [
        ("/api/signup", "login", 200),
        ("/api/signup", "signup", 403),
        ("/checkout", "login", 200),
        ("/checkout", "checkout", 403),
    ] {
        let got = signup_status(&login, path, &token(&login, action, 0.9)).await;
        assert_eq!(got.0, status, "{path} {action}: {}", got.1);
        if status == 403 {
            assert!(got.1.contains("action_mismatch"), "{}", got.1);
        }
    }

    // CAPTCHA_HOSTNAMES and CAPTCHA_MAX_AGE_SECS apply to the demo's routes as given.
    let strict = real_recaptcha(
        &upstream,
        &[
            ("CAPTCHA_HOSTNAMES", "shop.example"),
            ("CAPTCHA_MAX_AGE_SECS", "60"),
        ],
    )
    .await;
    let elsewhere = token(&strict, "signup", 0.9);
    let got = signup_status(&strict, "/api/signup", &elsewhere).await;
    assert!(got.1.contains("hostname_mismatch"), "{}", got.1);
    let spec = TokenSpec::new(Emulated::Recaptcha)
        .hostname("shop.example")
        .action("signup")
        .score(0.9);
    let fresh = upstream.mint(spec.clone()).unwrap();
    assert_eq!(signup_status(&strict, "/api/signup", &fresh).await.0, 200);
    let old = upstream.mint(spec.age_secs(90)).unwrap();
    let got = signup_status(&strict, "/api/signup", &old).await;
    assert!(got.1.contains("challenge_too_old"), "{}", got.1);
}

#[tokio::test]
async fn recaptcha_v2_shows_the_checkbox_and_demands_only_what_is_configured() {
    let v2 = [
        ("DEMO_EMULATE", "recaptcha"),
        ("CAPTCHA_RECAPTCHA_VERSION", "2"),
    ];
    let running = start(Demo::from_vars(v2).await.unwrap()).await;
    assert_eq!(running.widget.recaptcha_version, Some(RecaptchaVersion::V2));
    let page = running.page().await;
    let base = running.emulator().base_url();
    assert!(
        page.contains(&format!(r#"<script src="{base}/widget.js" async defer>"#)),
        "{page}"
    );
    assert!(
        page.contains(
            r#"<div class="captcha g-recaptcha" data-sitekey="emulator-recaptcha-site-key"></div>"#
        ),
        "a checkbox, asked for no action: {page}"
    );
    assert!(!page.contains("execute("), "{page}");
    for path in ["/api/signup", "/checkout"] {
        // What the checkbox mints: no score, no action.
        let checkbox = running.human("signup");
        let got = signup_status(&running, path, &checkbox).await;
        assert_eq!(got.0, 200, "{path}: {}", got.1);
        let verdict: serde_json::Value = serde_json::from_str(&got.1).unwrap();
        assert_eq!(verdict["verdict"]["score"], serde_json::Value::Null);
    }

    // A v2 key never reports a score or an action: asking for one would refuse every user,
    // so the demo refuses to start, saying why.
    for (var, value, what) in [
        ("CAPTCHA_MIN_SCORE", "0.5", "score"),
        ("CAPTCHA_ACTION", "signup", "action"),
    ] {
        let vars = [v2[0], v2[1], (var, value)];
        let err = Demo::from_vars(vars).await.err().unwrap().to_string();
        assert!(
            err.contains("v2 site key") && err.contains(what),
            "{var}: {err}"
        );
    }
}

#[tokio::test]
async fn recaptcha_v3_refuses_a_checkbox_answer_and_loads_the_v3_script() {
    let running = start(Demo::emulated(Provider::Recaptcha).await.unwrap()).await;
    assert_eq!(running.widget.recaptcha_version, Some(RecaptchaVersion::V3));
    // A v2 answer (no score) on the v3 routes: the setting to change is logged by siteverify.
    let checkbox = running
        .emulator()
        .mint(TokenSpec::new(Emulated::Recaptcha).hostname("127.0.0.1"))
        .unwrap();
    let got = signup_status(&running, "/api/signup", &checkbox).await;
    assert_eq!(
        got,
        (
            403,
            r#"{"error":"captcha_failed","reason":"score_missing"}"#.to_owned()
        )
    );

    // With real keys the page loads Google's script, v3 with the site key.
    let upstream = Emulator::start().await.unwrap();
    for (version, script) in [
        (
            None,
            "https://www.google.com/recaptcha/api.js?render=emulator-recaptcha-site-key",
        ),
        (
            Some("3"),
            "https://www.google.com/recaptcha/api.js?render=emulator-recaptcha-site-key",
        ),
        (Some("2"), "https://www.google.com/recaptcha/api.js"),
    ] {
        let extra: Vec<(&str, &str)> = version
            .map(|v| ("CAPTCHA_RECAPTCHA_VERSION", v))
            .into_iter()
            .collect();
        let running = real_recaptcha(&upstream, &extra).await;
        assert_eq!(running.widget.script, script, "{version:?}");
        assert!(
            running
                .page()
                .await
                .contains(&format!(r#"<script src="{script}""#))
        );
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
        // Ignored without CAPTCHA_PROVIDER's say-so: a real provider is configured.
        ("DEMO_EMULATE", "turnstile".to_owned()),
    ];
    let demo = Demo::from_vars(vars.clone()).await.unwrap();
    assert!(demo.emulator.is_none());
    assert_eq!(demo.widget.provider, Provider::HCaptcha);
    assert_eq!(demo.widget.script, "https://js.hcaptcha.com/1/api.js");
    let running = start(demo).await;
    assert!(
        running
            .page()
            .await
            .contains(r#"class="captcha h-captcha""#)
    );

    let token = upstream.mint(TokenSpec::new(Emulated::HCaptcha)).unwrap();
    let response = running
        .post_form(
            "/signup",
            &[("email", "a@b.c"), ("h-captcha-response", &token)],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.requests().len(), 1);

    // CAPTCHA_WIDGET_SCRIPT replaces the provider's script.
    let mut with_script = vars.to_vec();
    with_script.push((
        "CAPTCHA_WIDGET_SCRIPT",
        "https://cdn.example/hcaptcha.js".to_owned(),
    ));
    let running = start(Demo::from_vars(with_script).await.unwrap()).await;
    assert!(
        running
            .page()
            .await
            .contains(r#"<script src="https://cdn.example/hcaptcha.js""#)
    );

    // Without a site key the page cannot show a widget: a clear error, not a broken page.
    let err = Demo::from_vars([("CAPTCHA_PROVIDER", "turnstile"), ("CAPTCHA_SECRET", "s")])
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("CAPTCHA_SITEKEY"), "{err}");
    let err = Demo::from_vars([("CAPTCHA_PROVIDER", "hcaptcha")])
        .await
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "CAPTCHA_SECRET is not set");

    // CAPTCHA_DENY_TEST_KEYS: the documented hCaptcha test keys are refused at start.
    let test_keys = |deny: &str| {
        [
            ("CAPTCHA_PROVIDER", "hcaptcha".to_owned()),
            (
                "CAPTCHA_SECRET",
                "0x0000000000000000000000000000000000000000".to_owned(),
            ),
            (
                "CAPTCHA_SITEKEY",
                "10000000-ffff-ffff-ffff-000000000001".to_owned(),
            ),
            ("CAPTCHA_DENY_TEST_KEYS", deny.to_owned()),
        ]
    };
    assert!(Demo::from_vars(test_keys("false")).await.is_ok());
    let err = Demo::from_vars(test_keys("true")).await.err().unwrap();
    assert!(err.to_string().contains("test key"), "{err}");
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
            ("CAPTCHA_CONNECT_TIMEOUT_MS", "200".to_owned()),
            ("CAPTCHA_FAIL_OPEN", fail_open.to_owned()),
        ]
    };
    for (fail_open, status) in [("false", 503), ("true", 200)] {
        let running = start(Demo::from_vars(vars(fail_open)).await.unwrap()).await;
        let body = serde_json::json!({ "email": "a@b.c", "cf-turnstile-response": "0.some-token" });
        let response = running.post_json("/api/signup", body).await;
        assert_eq!(response.status(), status, "CAPTCHA_FAIL_OPEN={fail_open}");
        if status == 200 {
            let answer: serde_json::Value = response.json().await.unwrap();
            assert_eq!(answer["verdict"]["degraded"], true);
        }
    }
}

#[tokio::test]
async fn captcha_forward_ip_sends_the_peer_address_to_the_provider() {
    let forward = [
        ("CAPTCHA_FORWARD_IP", "true"),
        ("CAPTCHA_CLIENT_IP", "peer_addr"),
    ];
    // Emulated, for a provider of each request shape (form `remoteip`, JSON `ip`).
    for (provider, field) in [
        (Provider::HCaptcha, "remoteip"),
        (Provider::Turnstile, "remoteip"),
        (Provider::Procaptcha, "ip"),
    ] {
        for forwarded in [true, false] {
            let mut vars = vec![("DEMO_EMULATE", provider.name())];
            if forwarded {
                vars.extend(forward);
            }
            let running = start(Demo::from_vars(vars).await.unwrap()).await;
            let token = running.human("signup");
            let got = signup_status(&running, "/api/signup", &token).await;
            assert_eq!(got.0, 200, "{provider}: {}", got.1);
            let requests = running.emulator().requests();
            assert_eq!(requests.len(), 1);
            let sent = requests[0].field(field);
            let expected = forwarded.then_some("127.0.0.1");
            assert_eq!(sent, expected, "{provider}, forwarding {forwarded}");
        }
    }

    // And with a real provider's configuration.
    let upstream = Emulator::start().await.unwrap();
    let running = real_recaptcha(&upstream, &forward).await;
    let token = mint(&upstream, &running.widget, "signup", 0.9);
    assert_eq!(signup_status(&running, "/api/signup", &token).await.0, 200);
    assert_eq!(upstream.requests()[0].field("remoteip"), Some("127.0.0.1"));

    // Forwarding with no source would forward nothing: the demo does not start.
    let err = Demo::from_vars([("DEMO_EMULATE", "hcaptcha"), ("CAPTCHA_FORWARD_IP", "true")])
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("CAPTCHA_FORWARD_IP needs CAPTCHA_CLIENT_IP: "),
        "{err}"
    );
}

/// Quick enough for a test, and far from the defaults so that a pass is theirs.
const QUICK: Timeouts = Timeouts {
    header_read: Duration::from_secs(1),
    request: Duration::from_secs(1),
};

/// Sends `head` at once, then `trickle` one byte every 250 ms; returns what the server
/// answered and how long it kept the connection open.
async fn trickle(addr: SocketAddr, head: &str, trickle: &'static [u8]) -> (String, Duration) {
    let started = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        for byte in trickle {
            tokio::time::sleep(Duration::from_millis(250)).await;
            // The server closing is what the test waits for.
            if write.write_all(&[*byte]).await.is_err() {
                break;
            }
        }
        // Never close our side: a client that stops sending is the slowest of all.
        std::future::pending::<()>().await;
    });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    assert!(
        closed.is_ok(),
        "the server kept the connection open for 10 s"
    );
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    let running = start_with(Demo::emulated(Provider::HCaptcha).await.unwrap(), QUICK).await;
    let endless: &[u8] = &[b'a'; 200]; // 50 s of header bytes at this rate
    for (head, what) in [
        (
            "POST /signup HTTP/1.1\r\nhost: x\r\nx-slow: ",
            "a header trickled",
        ),
        ("", "a connection that sends nothing"),
    ] {
        let (answer, open_for) = trickle(running.addr, head, endless).await;
        assert!(
            open_for >= Duration::from_millis(900) && open_for < Duration::from_secs(4),
            "{what}: open for {open_for:?}"
        );
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{what}: {answer}"
        );
    }
    // The defaults cut such a client off within 30 s, head and body together.
    let defaults = Timeouts::default();
    assert!(defaults.header_read + defaults.request <= Duration::from_secs(30));
}

#[tokio::test]
async fn a_client_that_trickles_its_body_is_answered_408() {
    let running = start_with(Demo::emulated(Provider::HCaptcha).await.unwrap(), QUICK).await;
    let head = "POST /signup HTTP/1.1\r\nhost: x\r\n\
                content-type: application/x-www-form-urlencoded\r\ncontent-length: 200\r\n\r\n";
    let (answer, open_for) = trickle(running.addr, head, &[b'a'; 200]).await;
    assert!(
        open_for >= Duration::from_millis(900) && open_for < Duration::from_secs(4),
        "open for {open_for:?}"
    );
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // Nothing was sent to the provider: the token never arrived.
    assert!(running.emulator().requests().is_empty());
}

/// The ALTCHA demo: `CAPTCHA_PROVIDER=altcha` and a key, nothing else, no emulator.
async fn altcha_demo(extra: &[(&str, &str)]) -> Running {
    let mut vars = vec![
        ("CAPTCHA_PROVIDER", "altcha"),
        ("CAPTCHA_SECRET", "demo-test-hmac-key-0123456789abcdef"),
    ];
    vars.extend_from_slice(extra);
    let demo = Demo::from_vars(vars).await.unwrap();
    assert!(demo.emulator.is_none(), "no emulator");
    start(demo).await
}

impl Running {
    /// A challenge from the demo's route at `path`, solved as the widget solves it: the
    /// classic proof of work on the JSON served, by a solver of the test's own.
    async fn altcha(&self, path: &str) -> String {
        use base64::Engine;
        let response = client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let challenge: serde_json::Value = response.json().await.unwrap();
        let salt = challenge["salt"].as_str().unwrap();
        let target = challenge["challenge"].as_str().unwrap();
        let number = (0..=challenge["maxnumber"].as_u64().unwrap())
            .find(|n| {
                let hash = Sha256::digest(format!("{salt}{n}"));
                hash.iter().map(|b| format!("{b:02x}")).collect::<String>() == target
            })
            .unwrap();
        let payload = serde_json::json!({
            "algorithm": challenge["algorithm"], "challenge": target, "number": number,
            "salt": salt, "signature": challenge["signature"], "took": 7,
        });
        base64::engine::general_purpose::STANDARD.encode(payload.to_string())
    }
}

#[tokio::test]
async fn altcha_needs_no_account_and_no_emulator_and_guards_every_route() {
    let running = altcha_demo(&[]).await;
    assert_eq!(running.widget.provider, Provider::Altcha);
    let page = running.page().await;
    assert!(
        page.contains(
            r#"<altcha-widget challengeurl="/altcha/challenge" challenge="/altcha/challenge" name="altcha"></altcha-widget>"#
        ),
        "{page}"
    );
    assert!(
        page.contains(r#"<script src="/altcha/widget.js" async defer></script>"#),
        "{page}"
    );
    let form_at = page.find("<form").unwrap();
    let widget_at = page.find("<altcha-widget").unwrap();
    let form_end = page.find("</form>").unwrap();
    assert!(
        form_at < widget_at && widget_at < form_end,
        "inside the form: {page}"
    );

    // The widget script is the emulator crate's, served from the demo's own origin.
    let script = client()
        .get(format!("{}/altcha/widget.js", running.url))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(
        script.text().await.unwrap(),
        siteverify_emulator::WIDGET_SCRIPT
    );

    // The form: welcomed once, refused on replay.
    let altcha = running.altcha("/altcha/challenge").await;
    let form = [("email", "ada@example.com"), ("altcha", altcha.as_str())];
    let response = running.post_form("/signup", &form).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Welcome, ada@example.com!")
    );
    let replay = running.post_form("/signup", &form).await;
    assert_eq!(replay.status(), 403);
    assert!(
        replay
            .text()
            .await
            .unwrap()
            .contains(r#"data-code="expired_or_duplicate""#)
    );

    // JSON, with the verdict.
    let altcha = running.altcha("/altcha/challenge").await;
    let response = running
        .post_json(
            "/api/signup",
            serde_json::json!({ "email": "a@b.c", "altcha": altcha }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["verdict"]["provider"], "altcha", "{answer}");
    assert_eq!(answer["verdict"]["action"], "signup", "{answer}");
    assert_eq!(
        answer["verdict"]["solve_time_ms"].as_f64(),
        Some(7.0),
        "{answer}"
    );
    let replay = running
        .post_json(
            "/api/signup",
            serde_json::json!({ "email": "a@b.c", "altcha": altcha }),
        )
        .await;
    assert_eq!(
        code_of(replay).await,
        (
            403,
            r#"{"error":"captcha_failed","reason":"expired_or_duplicate"}"#.to_owned()
        )
    );

    // Multipart, the solution before the file.
    let form = reqwest::multipart::Form::new()
        .text("altcha", running.altcha("/altcha/challenge").await)
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![7u8; 100_000]).file_name("me.png"),
        );
    let response = client()
        .post(format!("{}/avatar", running.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["bytes"], 100_000);

    // Without a solution, nothing passes.
    let response = running
        .post_json("/api/signup", serde_json::json!({}))
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn demo_emulate_altcha_runs_altcha_itself_with_a_key_of_its_own() {
    // The error for an unknown DEMO_EMULATE value lists `altcha`, so it must start: with no
    // emulator (nothing to stand in for) and a key made for this run.
    let start_altcha = |vars: Vec<(&'static str, &'static str)>| async move {
        let demo = Demo::from_vars(vars).await.unwrap();
        assert_eq!(demo.widget.provider, Provider::Altcha);
        assert!(demo.emulator.is_none(), "no emulator for ALTCHA");
        start(demo).await
    };
    let first = start_altcha(vec![("DEMO_EMULATE", " ALTCHA ")]).await;
    let page = first.page().await;
    assert!(
        page.contains(r#"<altcha-widget challengeurl="/altcha/challenge""#),
        "{page}"
    );
    assert!(
        page.contains(r#"<script src="/altcha/widget.js""#),
        "{page}"
    );
    let solved = first.altcha("/altcha/challenge").await;
    let form = [("email", "ada@example.com"), ("altcha", solved.as_str())];
    let response = first.post_form("/signup", &form).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        first.post_form("/signup", &form).await.status(),
        403,
        "replay"
    );

    // Another run makes another key: what the first issued is not its.
    let second = start_altcha(vec![("DEMO_EMULATE", "altcha")]).await;
    let elsewhere = first.altcha("/altcha/challenge").await;
    let response = second
        .post_json(
            "/api/signup",
            serde_json::json!({ "email": "a@b.c", "altcha": elsewhere }),
        )
        .await;
    assert_eq!(
        code_of(response).await,
        (
            403,
            r#"{"error":"captcha_failed","reason":"invalid_token"}"#.to_owned()
        )
    );

    // What an emulated demo fills in itself and ALTCHA has no use for, left in the shell, is
    // dropped as an emulated hosted demo overwrites it, not refused.
    let leftovers = start_altcha(vec![
        ("DEMO_EMULATE", "altcha"),
        ("CAPTCHA_SITEKEY", "left-over"),
        ("CAPTCHA_VERIFY_URL", "https://example.com/siteverify"),
    ])
    .await;
    let solved = leftovers.altcha("/altcha/challenge").await;
    let response = leftovers
        .post_form(
            "/signup",
            &[("email", "a@b.c"), ("altcha", solved.as_str())],
        )
        .await;
    assert_eq!(response.status(), 200);

    // CAPTCHA_SECRET, when set, is the key: two runs given one verify each other's.
    const KEY: &str = "demo-emulate-altcha-key-0123456789abcdef";
    let third = start_altcha(vec![("DEMO_EMULATE", "altcha"), ("CAPTCHA_SECRET", KEY)]).await;
    let fourth = start_altcha(vec![("DEMO_EMULATE", "altcha"), ("CAPTCHA_SECRET", KEY)]).await;
    let shared = third.altcha("/altcha/challenge").await;
    let response = fourth
        .post_json(
            "/api/signup",
            serde_json::json!({ "email": "a@b.c", "altcha": shared }),
        )
        .await;
    assert_eq!(response.status(), 200);

    // A fallback that is the first provider again is refused as that, before its missing
    // secret is asked for.
    let real = ("CAPTCHA_SECRET", "demo-emulate-altcha-key-0123456789abcdef");
    for vars in [
        vec![
            ("DEMO_EMULATE", "altcha"),
            ("CAPTCHA_FALLBACK_PROVIDER", "altcha"),
        ],
        vec![
            ("DEMO_EMULATE", "turnstile"),
            ("CAPTCHA_FALLBACK_PROVIDER", "turnstile"),
        ],
        vec![
            ("CAPTCHA_PROVIDER", "altcha"),
            real,
            ("CAPTCHA_FALLBACK_PROVIDER", "altcha"),
        ],
    ] {
        let first = format!("{vars:?}");
        let err = Demo::from_vars(vars).await.err().unwrap().to_string();
        assert!(
            err.contains("CAPTCHA_FALLBACK_PROVIDER") && err.contains("another provider"),
            "{first}: {err}"
        );
    }

    // A hosted fallback is emulated, and so the emulator starts for it alone: its token,
    // minted by that emulator, signs up too.
    let demo = Demo::from_vars([
        ("DEMO_EMULATE", "altcha"),
        ("CAPTCHA_FALLBACK_PROVIDER", "turnstile"),
    ])
    .await
    .unwrap();
    assert_eq!(demo.widget.provider, Provider::Altcha);
    let fallback = demo.fallback.clone().expect("a fallback widget");
    assert_eq!(fallback.provider, Provider::Turnstile);
    let with_fallback = start(demo).await;
    let token = mint(with_fallback.emulator(), &fallback, "signup", 0.9);
    let response = with_fallback
        .post_form(
            "/signup",
            &[
                ("email", "a@b.c"),
                (fallback.provider.widget_field(), &token),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let solved = with_fallback.altcha("/altcha/challenge").await;
    let response = with_fallback
        .post_form(
            "/signup",
            &[("email", "a@b.c"), ("altcha", solved.as_str())],
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn altcha_checkout_takes_its_own_challenges_and_refuses_signup_ones() {
    let running = altcha_demo(&[]).await;
    let body = |altcha: String| serde_json::json!({ "email": "a@b.c", "altcha": altcha });
    let checkout = running.altcha("/altcha/challenge/checkout").await;
    let response = running.post_json("/checkout", body(checkout.clone())).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["verdict"]["action"], "checkout");
    for (path, challenge) in [
        ("/checkout", "/altcha/challenge"),
        ("/api/signup", "/altcha/challenge/checkout"),
    ] {
        let altcha = running.altcha(challenge).await;
        assert_eq!(
            code_of(running.post_json(path, body(altcha)).await).await,
            (
                403,
                r#"{"error":"captcha_failed","reason":"action_mismatch"}"#.to_owned()
            ),
            "{challenge} on {path}"
        );
    }
    // The form and the upload, every route that signs up, refuse a checkout challenge too.
    let altcha = running.altcha("/altcha/challenge/checkout").await;
    let form = running
        .post_form(
            "/signup",
            &[("email", "a@b.c"), ("altcha", altcha.as_str())],
        )
        .await;
    assert_eq!(form.status(), 403);
    assert!(
        form.text()
            .await
            .unwrap()
            .contains(r#"data-code="action_mismatch""#)
    );
    let upload = reqwest::multipart::Form::new()
        .text("altcha", running.altcha("/altcha/challenge/checkout").await)
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![7u8; 1_000]).file_name("me.png"),
        );
    let response = client()
        .post(format!("{}/avatar", running.url))
        .multipart(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code_of(response).await,
        (
            403,
            r#"{"error":"captcha_failed","reason":"action_mismatch"}"#.to_owned()
        )
    );
}

#[tokio::test]
async fn altcha_challenge_routes_are_never_cached_and_answer_only_get_and_head() {
    let running = altcha_demo(&[]).await;
    for path in ["/altcha/challenge", "/altcha/challenge/checkout"] {
        let url = format!("{}{path}", running.url);
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let response = client().request(method.clone(), &url).send().await.unwrap();
            assert_eq!(response.status(), 200, "{method} {path}");
            assert_eq!(response.headers()["content-type"], "application/json");
            assert_eq!(response.headers()["cache-control"], "no-store");
        }
        let response = client().post(&url).send().await.unwrap();
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(response.headers()["allow"], "GET, HEAD");
    }
}

#[tokio::test]
async fn altcha_settings_reach_the_demo() {
    // CAPTCHA_WIDGET_SCRIPT: the `altcha` widget from npm, an ES module.
    let running = altcha_demo(&[
        ("CAPTCHA_WIDGET_SCRIPT", "/vendor/altcha.min.js"),
        ("CAPTCHA_ALTCHA_MAX_NUMBER", "2000"),
        ("CAPTCHA_ALTCHA_LIFETIME_SECS", "90"),
    ])
    .await;
    let page = running.page().await;
    assert!(
        page.contains(r#"<script src="/vendor/altcha.min.js" type="module" async defer></script>"#),
        "{page}"
    );
    let challenge: serde_json::Value = client()
        .get(format!("{}/altcha/challenge", running.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(challenge["maxnumber"], 2000);
    let salt = challenge["salt"].as_str().unwrap();
    let expires: u64 = salt
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!((85..=95).contains(&(expires - now)), "{salt}");

    // CAPTCHA_ACTION: every route and both challenge routes use it.
    let login = altcha_demo(&[("CAPTCHA_ACTION", "login")]).await;
    let altcha = login.altcha("/altcha/challenge/checkout").await;
    let response = login
        .post_json("/checkout", serde_json::json!({ "altcha": altcha }))
        .await;
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["verdict"]["action"], "login");

    // A hosted provider's setting stops the demo at start, naming it.
    let err = Demo::from_vars([
        ("CAPTCHA_PROVIDER", "altcha"),
        ("CAPTCHA_SECRET", "k"),
        ("CAPTCHA_SITEKEY", "k"),
    ])
    .await
    .err()
    .unwrap();
    assert!(
        err.to_string().starts_with("CAPTCHA_SITEKEY is invalid"),
        "{err}"
    );
    // CAPTCHA_REDIS_URL: a Redis nobody runs stops the demo at start.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let err = Demo::from_vars([
        ("CAPTCHA_PROVIDER", "altcha"),
        ("CAPTCHA_SECRET", "demo-test-hmac-key-0123456789abcdef"),
        ("CAPTCHA_REDIS_URL", url.as_str()),
    ])
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("replay store"), "{err}");
}

/// Every `CAPTCHA_*` variable the README and the docs name is set by some test: a
/// documented setting that nothing runs is how the demo came to ignore `CAPTCHA_MIN_SCORE`.
#[test]
fn every_documented_variable_is_set_by_a_test() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    let config = read("crates/tower-captcha/src/config.rs");
    let (config_docs, config_tests) = config.split_once("#[cfg(test)]").unwrap();
    let altcha = read("crates/tower-captcha/src/config/altcha.rs");
    let (_, altcha_tests) = altcha.split_once("#[cfg(test)]").unwrap();

    let mut documented = std::collections::BTreeSet::new();
    for text in [
        read("README.md"),
        read("examples/src/lib.rs"),
        read("examples/signup.rs"),
    ] {
        documented.extend(variables_in(&text));
    }
    // The type docs' table names suffixes: | `MIN_SCORE` | … |
    for line in config_docs.lines() {
        let suffix = line
            .strip_prefix("/// | `")
            .and_then(|rest| rest.split('`').next())
            .filter(|suffix| suffix.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        if let Some(suffix) = suffix {
            documented.insert(format!("CAPTCHA_{suffix}"));
        }
    }
    assert!(documented.len() >= 16, "{documented:?}");

    let tests = [
        read("tests/demo.rs"),
        read("tests/browser.rs"),
        read("examples/tests/signup_binary.rs"),
        config_tests.to_owned(),
        altcha_tests.to_owned(),
    ]
    .concat();
    let untested: Vec<_> = documented
        .iter()
        .filter(|var| !tests.contains(&format!("\"{var}\"")))
        .collect();
    assert!(
        untested.is_empty(),
        "documented but set by no test: {untested:?}"
    );
}

/// `CAPTCHA_` names as whole words (not the end of `RECAPTCHA_SECRET`).
fn variables_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("CAPTCHA_") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.ends_with('_') {
            found.push(name);
        }
    }
    found
}

// The real redis-server of siteverify's own store tests, shared rather than written twice.
#[allow(
    dead_code,
    reason = "siteverify's tests use all of it; this file only some"
)]
#[path = "../crates/siteverify/tests/altcha/redis_server.rs"]
mod redis_server;

#[tokio::test]
async fn two_demo_instances_share_one_redis_and_refuse_everything_when_it_is_gone() {
    let mut redis = redis_server::RedisServer::start();
    let url = redis.url();
    let vars = [
        ("CAPTCHA_REDIS_URL", url.as_str()),
        ("CAPTCHA_ALTCHA_MAX_NUMBER", "1000"),
    ];
    // Two app instances behind one load balancer, one Redis.
    let (first, second) = (altcha_demo(&vars).await, altcha_demo(&vars).await);
    let signup = |running: &Running, altcha: &str| {
        let request = client()
            .post(format!("{}/api/signup", running.url))
            .json(&serde_json::json!({ "email": "a@b.c", "altcha": altcha }));
        async move { outcome_of(request.send().await.unwrap()).await }
    };
    let altcha = first.altcha("/altcha/challenge").await;
    assert_eq!(signup(&first, &altcha).await, (200, "ok".to_owned()));
    assert_eq!(
        signup(&second, &altcha).await,
        (403, "expired_or_duplicate".to_owned()),
        "the other instance took it"
    );
    // Redis goes away: nothing passes, and the answer says the provider is unavailable.
    let fresh = second.altcha("/altcha/challenge").await;
    redis.stop();
    assert_eq!(
        signup(&second, &fresh).await,
        (503, "provider_unavailable".to_owned())
    );
}

/// The status and the failure reason (or "ok") of a JSON answer.
async fn outcome_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let reason = match status {
        200 => "ok".to_owned(),
        _ => body["reason"].as_str().unwrap_or_default().to_owned(),
    };
    (status, reason)
}

const FALLBACK_KEY: &str = "demo-fallback-hmac-key-0123456789abcdef";

fn emulated(provider: Provider) -> Emulated {
    provider.name().parse().unwrap()
}

/// The emulated `first` provider with ALTCHA as its fallback.
async fn with_altcha_fallback(first: &str) -> Running {
    let demo = Demo::from_vars([
        ("DEMO_EMULATE", first),
        ("CAPTCHA_FALLBACK_PROVIDER", "altcha"),
        ("CAPTCHA_FALLBACK_SECRET", FALLBACK_KEY),
    ])
    .await
    .unwrap();
    start(demo).await
}

#[tokio::test]
async fn captcha_fallback_provider_takes_over_every_route_while_the_first_is_down() {
    for first in Provider::HOSTED {
        let running = with_altcha_fallback(first.name()).await;
        let fallback = running.fallback.clone().expect("a fallback");
        assert_eq!(fallback.provider, Provider::Altcha, "{first}");
        // Up: the first provider's widget, and its tokens pass.
        let page = running.page().await;
        assert!(page.contains(container_class(first)), "{first}: {page}");
        let human = running.human("signup");
        let response = running
            .post_json("/api/signup", serde_json::json!({ running.field(): human }))
            .await;
        assert_eq!(response.status(), 200, "{first}");

        // Down (a 503 on every call): the JSON route names the fallback, with the challenge
        // route the page needs; the form route serves the form again with the fallback widget.
        running
            .emulator()
            .start_outage(
                emulated(first),
                siteverify_emulator::FaultKind::Status { code: 503 },
            )
            .expect("a valid outage");
        let response = running
            .post_json(
                "/api/signup",
                serde_json::json!({ running.field(): running.human("signup") }),
            )
            .await;
        assert_eq!(response.status(), 503, "{first}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "captcha_failed", "reason": "provider_unavailable",
                "fallback": {"provider": "altcha", "challenge_url": "/altcha/challenge"},
            }),
            "{first}"
        );
        let token = running.human("signup");
        let form = running
            .post_form("/signup", &[("email", "a@b.c"), (running.field(), &token)])
            .await;
        assert_eq!(form.status(), 503, "{first}");
        let form = form.text().await.unwrap();
        assert!(
            form.contains(r#"data-fallback="altcha""#),
            "{first}: {form}"
        );
        assert!(form.contains("<altcha-widget"), "{first}: {form}");
        // The demo's breaker opened (5 failures, or the first 429)… not yet after two:
        // the fallback's token gets through now whatever the breaker says.
        let solved = running.altcha(signup_demo::ALTCHA_CHALLENGE_PATH).await;
        let welcome = running
            .post_form("/signup", &[("email", "a@b.c"), ("altcha", &solved)])
            .await;
        assert_eq!(welcome.status(), 200, "{first}");
        assert!(welcome.text().await.unwrap().contains("Welcome"));
        // Checkout falls back to its own challenges.
        let response = running
            .post_json(
                "/checkout",
                serde_json::json!({ running.field(): running.human("checkout") }),
            )
            .await;
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body["fallback"]["challenge_url"], "/altcha/challenge/checkout",
            "{first}"
        );
        // Once the breaker is open, new visitors get the fallback widget first.
        for _ in 0..5 {
            running
                .post_json(
                    "/api/signup",
                    serde_json::json!({ running.field(): running.human("signup") }),
                )
                .await;
        }
        assert_eq!(
            running.providers.recommended_provider(),
            Some(Provider::Altcha),
            "{first}"
        );
        assert!(running.page().await.contains("<altcha-widget"), "{first}");
    }
}

#[tokio::test]
async fn a_hosted_fallback_with_a_secret_of_its_own_shows_its_own_widget() {
    // Verified by the real provider, so its page must load the real script: the emulator's
    // stand-in would mint tokens that provider refuses.
    let demo = Demo::from_vars([
        ("DEMO_EMULATE", "recaptcha"),
        ("CAPTCHA_FALLBACK_PROVIDER", "hcaptcha"),
        (
            "CAPTCHA_FALLBACK_SECRET",
            "0x0000000000000000000000000000000000000000",
        ),
        (
            "CAPTCHA_FALLBACK_SITEKEY",
            "10000000-ffff-ffff-ffff-000000000001",
        ),
    ])
    .await
    .unwrap();
    let fallback = demo.fallback.clone().unwrap();
    assert_eq!(fallback.provider, Provider::HCaptcha);
    assert_eq!(
        fallback.script,
        siteverify::widget::Widget::of(Provider::HCaptcha).script
    );
    assert_eq!(fallback.site_key, "10000000-ffff-ffff-ffff-000000000001");
    // Emulated, it is the emulator's stand-in.
    let demo = Demo::from_vars([
        ("DEMO_EMULATE", "recaptcha"),
        ("CAPTCHA_FALLBACK_PROVIDER", "hcaptcha"),
    ])
    .await
    .unwrap();
    let base = demo.emulator.as_ref().unwrap().base_url();
    assert!(
        demo.fallback.unwrap().script.starts_with(&base),
        "the emulator's widget"
    );
}

#[tokio::test]
async fn a_hosted_fallback_is_emulated_too_and_its_site_key_reaches_the_page() {
    let demo = Demo::from_vars([
        ("DEMO_EMULATE", "recaptcha"),
        ("CAPTCHA_FALLBACK_PROVIDER", "hcaptcha"),
    ])
    .await
    .unwrap();
    let running = start(demo).await;
    let fallback = running.fallback.clone().unwrap();
    assert_eq!(fallback.provider, Provider::HCaptcha);
    running
        .emulator()
        .start_outage(
            Emulated::Recaptcha,
            siteverify_emulator::FaultKind::Status { code: 429 },
        )
        .expect("a valid outage");
    let response = running
        .post_json(
            "/api/signup",
            serde_json::json!({ running.field(): running.human("signup") }),
        )
        .await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["fallback"],
        serde_json::json!({"provider": "hcaptcha", "site_key": Emulated::HCaptcha.default_site_key()})
    );
    let token = mint(running.emulator(), &fallback, "signup", 0.9);
    let response = running
        .post_json(
            "/api/signup",
            serde_json::json!({ "h-captcha-response": token }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["verdict"]["provider"], "hcaptcha");
}

#[tokio::test]
async fn real_providers_take_a_fallback_from_the_environment_and_bad_ones_are_refused() {
    let upstream = Emulator::start().await.unwrap();
    let real = |extra: &[(&'static str, String)]| {
        let mut vars = real_vars(&upstream, Provider::Turnstile);
        vars.extend_from_slice(extra);
        vars
    };
    let hcaptcha = [
        ("CAPTCHA_FALLBACK_PROVIDER", "hcaptcha".to_owned()),
        (
            "CAPTCHA_FALLBACK_SECRET",
            Emulated::HCaptcha.default_secret().to_owned(),
        ),
        ("CAPTCHA_FALLBACK_SITEKEY", "fallback-site-key".to_owned()),
        (
            "CAPTCHA_FALLBACK_VERIFY_URL",
            upstream.verify_url(Emulated::HCaptcha),
        ),
        (
            "CAPTCHA_FALLBACK_WIDGET_SCRIPT",
            "https://cdn.example/hcaptcha.js".to_owned(),
        ),
    ];
    let demo = Demo::from_vars(real(&hcaptcha)).await.unwrap();
    let fallback = demo.fallback.clone().unwrap();
    assert_eq!(
        (
            fallback.provider,
            fallback.site_key.as_str(),
            fallback.script.as_str()
        ),
        (
            Provider::HCaptcha,
            "fallback-site-key",
            "https://cdn.example/hcaptcha.js"
        )
    );
    // Every way of getting it wrong says which variable.
    let refused = async |extra: &[(&'static str, String)]| {
        Demo::from_vars(real(extra))
            .await
            .err()
            .expect("refused")
            .to_string()
    };
    let no_secret = refused(&[("CAPTCHA_FALLBACK_PROVIDER", "hcaptcha".to_owned())]).await;
    assert!(no_secret.contains("CAPTCHA_FALLBACK_SECRET"), "{no_secret}");
    let no_site_key = refused(&[
        ("CAPTCHA_FALLBACK_PROVIDER", "hcaptcha".to_owned()),
        ("CAPTCHA_FALLBACK_SECRET", "s".to_owned()),
    ])
    .await;
    assert!(
        no_site_key.contains("CAPTCHA_FALLBACK_SITEKEY"),
        "{no_site_key}"
    );
    let same = refused(&[
        ("CAPTCHA_FALLBACK_PROVIDER", "turnstile".to_owned()),
        ("CAPTCHA_FALLBACK_SECRET", "s".to_owned()),
        ("CAPTCHA_FALLBACK_SITEKEY", "k".to_owned()),
    ])
    .await;
    assert!(same.contains("CAPTCHA_FALLBACK_PROVIDER"), "{same}");
    let fail_open = refused(&[
        ("CAPTCHA_FALLBACK_PROVIDER", "hcaptcha".to_owned()),
        ("CAPTCHA_FALLBACK_SECRET", "s".to_owned()),
        ("CAPTCHA_FALLBACK_SITEKEY", "k".to_owned()),
        ("CAPTCHA_FALLBACK_FAIL_OPEN", "true".to_owned()),
    ])
    .await;
    assert!(
        fail_open.contains("CAPTCHA_FALLBACK_FAIL_OPEN"),
        "{fail_open}"
    );
    let client_ip = refused(&[
        ("CAPTCHA_FALLBACK_PROVIDER", "hcaptcha".to_owned()),
        ("CAPTCHA_FALLBACK_SECRET", "s".to_owned()),
        ("CAPTCHA_FALLBACK_SITEKEY", "k".to_owned()),
        ("CAPTCHA_FALLBACK_CLIENT_IP", "peer_addr".to_owned()),
        ("CAPTCHA_FALLBACK_FORWARD_IP", "true".to_owned()),
    ])
    .await;
    assert!(
        client_ip.contains("CAPTCHA_FALLBACK_CLIENT_IP"),
        "{client_ip}"
    );
}

/// The page's Content-Security-Policy, built from siteverify's widget facts: it allows what
/// the page loads (the widget script's origin, the emulator the stand-in mints at, the
/// page's own inline script and style by their hashes) and nothing else.
#[tokio::test]
async fn every_page_carries_a_content_security_policy_that_allows_exactly_its_widget() {
    use base64::Engine;
    let csp_of = async |running: &Running| {
        let response = client().get(&running.url).send().await.unwrap();
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        (csp, response.text().await.unwrap())
    };
    let inline = |page: &str, tag: &str| {
        let open = format!("<{tag}>");
        let start = page.find(&open).map(|at| at + open.len())?;
        let end = page[start..].find(&format!("</{tag}>"))? + start;
        let digest = Sha256::digest(&page.as_bytes()[start..end]);
        Some(format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ))
    };
    for provider in Provider::HOSTED {
        let running = start(Demo::emulated(provider).await.unwrap()).await;
        let (csp, _) = csp_of(&running).await;
        let origin = running.emulator().base_url();
        let directive = |name: &str| {
            csp.split(';')
                .map(str::trim)
                .find(|d| d.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{provider}: no {name} in {csp}"))
                .to_owned()
        };
        assert!(
            directive("script-src").contains(&origin),
            "{provider}: {csp}"
        );
        assert!(
            directive("connect-src").contains(&origin),
            "{provider}: {csp}"
        );
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
        assert!(csp.contains("object-src 'none'"), "{csp}");
        assert!(
            !directive("script-src").contains("'unsafe-inline'"),
            "{csp}"
        );
    }
    // A real provider: its documented sources, and the page's inline style and (v3) script
    // by the hashes of what the page really holds.
    let upstream = Emulator::start().await.unwrap();
    let running = real_recaptcha(&upstream, &[]).await;
    let (csp, page) = csp_of(&running).await;
    assert!(csp.contains("https://www.gstatic.com/recaptcha/"), "{csp}");
    assert!(
        csp.contains("frame-src 'self' https://www.google.com/recaptcha/"),
        "{csp}"
    );
    assert!(csp.contains(&inline(&page, "style").unwrap()), "{csp}");
    assert!(
        csp.contains(&inline(&page, "script").unwrap()),
        "the v3 script: {csp}"
    );
    assert!(!csp.contains("'unsafe-inline'"), "{csp}");
    // The pages with no widget.
    let failure = running.post_form("/signup", &[("email", "a@b.c")]).await;
    let csp = failure.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains(&inline(&failure.text().await.unwrap(), "style").unwrap()));
}
