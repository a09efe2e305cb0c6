//! The signup demo in a real browser: headless Chromium, driven through chromedriver.
//!
//! Run with `cargo test -p tower-captcha-e2e --features browser --test browser`; it needs
//! Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). `CHROMEDRIVER` and
//! `CHROMIUM` override their paths. One chromedriver, a fresh browser per provider (and both
//! reCAPTCHA versions); a screenshot of each form is written to
//! `target/browser/signup-<provider>.png`.
//!
//! ALTCHA runs twice: with the emulator's widget script (the demo's offline default, served by
//! the demo at `/altcha/widget.js`) and with the real `altcha` widget from npm (`npm ci` in
//! tests/node), which this test serves itself on a free port and hands to the demo through
//! `CAPTCHA_WIDGET_SCRIPT`.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use signup_demo::{Demo, Timeouts};
use tokio::process::{Child, Command};

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// chromedriver on a port that was free a moment ago. Another test's server may take
    /// that port in between (every test binds port 0 in parallel), chromedriver then cannot
    /// listen and exits, and whatever holds the port answers our probe: so the driver counts
    /// as started only once it is alive and its own `/status` says it is ready, else it is
    /// started again on another port.
    async fn start() -> Driver {
        let binary =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            std::path::Path::new(&binary).exists(),
            "{binary} not found: install Debian's chromium-driver (and chromium), or set CHROMEDRIVER"
        );
        for _attempt in 0..5 {
            if let Some(driver) = Self::try_start(&binary).await {
                return driver;
            }
        }
        panic!("chromedriver did not start on any of 5 free ports");
    }

    async fn try_start(binary: &str) -> Option<Driver> {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let status = reqwest::Client::builder().no_proxy().build().unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if child.try_wait().ok().flatten().is_some() {
                return None;
            }
            let ready = match status.get(format!("{url}/status")).send().await {
                Ok(answer) => answer
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|body| body["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready && child.try_wait().ok().flatten().is_none() {
                return Some(Driver { child, url });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.start_kill();
        None
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Serves `router` as the demo binary does, on a free port: its URL, and the server task.
async fn serve_demo(
    router: axum::Router,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(signup_demo::serve(
        listener,
        router,
        Timeouts::default(),
        std::future::pending(),
    ));
    (url, server)
}

/// A fresh browser profile for one run: no state carries over from the last one.
fn profile(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tower-captcha-chromium-{}-{name}",
        std::process::id()
    ))
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    // Headless, no sandbox (CI runs as root), and none of Chromium's own network chatter:
    // these machines reach no outside host.
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--window-size=900,900".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium, "args": args }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

async fn fill_form(client: &Client, email: &str) {
    client
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse")
        .await
        .unwrap();
}

/// Waits until the widget script (served by the emulator, another origin) has rendered.
async fn widget_button(client: &Client, which: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(&format!(r#"[data-emulator="{which}"]"#)))
        .await
        .expect("the widget renders")
}

async fn container_state(client: &Client) -> String {
    let state = client
        .execute(
            r#"return document.querySelector(".captcha").getAttribute("data-emulator-state");"#,
            vec![],
        )
        .await
        .unwrap();
    state.as_str().unwrap_or_default().to_owned()
}

async fn wait_for_state(client: &Client, wanted: &str) {
    let started = Instant::now();
    while container_state(client).await != wanted {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "widget never reached {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn reason_code(client: &Client) -> String {
    let reason = client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Id("reason"))
        .await
        .expect("the failure page");
    reason.attr("data-code").await.unwrap().unwrap_or_default()
}

async fn submit(client: &Client) {
    client
        .find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn welcomed(client: &Client, email: &str) {
    let welcome = client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Id("welcome"))
        .await
        .expect("the welcome page");
    assert_eq!(welcome.text().await.unwrap(), format!("Welcome, {email}!"));
}

fn screenshot(name: &str, png: Vec<u8>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("signup-{name}.png")), png).unwrap();
}

/// A checkbox widget (hCaptcha, reCAPTCHA v2, Turnstile, Procaptcha, ByeBot, Friendly Captcha, reCAPTCHA Enterprise): a person ticks
/// it and is welcomed, a bot's token is refused with a way back, and a hurried user who
/// ticks nothing is told to.
async fn checkbox_flow(client: &Client, url: &str, name: &str) {
    client.goto(url).await.unwrap();
    let human = widget_button(client, "human").await;
    fill_form(client, "ada@example.com").await;
    human.click().await.unwrap();
    wait_for_state(client, "solved").await;
    screenshot(name, client.screenshot().await.unwrap());
    submit(client).await;
    welcomed(client, "ada@example.com").await;

    client.goto(url).await.unwrap();
    let bot = widget_button(client, "bot").await;
    fill_form(client, "bot@example.com").await;
    bot.click().await.unwrap();
    wait_for_state(client, "bot").await;
    submit(client).await;
    assert_eq!(reason_code(client).await, "invalid_token", "{name}");
    client
        .find(Locator::Id("back"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    widget_button(client, "human").await;

    fill_form(client, "hurry@example.com").await;
    submit(client).await;
    assert_eq!(reason_code(client).await, "missing_token", "{name}");
}

/// reCAPTCHA v3: nothing to tick. Submitting runs `grecaptcha.execute`; a person's score
/// passes, and a bot's (the emulator's documented `siteverifyEmulator.v3Score` hook) is
/// refused for its score.
async fn v3_flow(client: &Client, url: &str) {
    client.goto(url).await.unwrap();
    fill_form(client, "ada@example.com").await;
    screenshot("recaptcha-v3", client.screenshot().await.unwrap());
    submit(client).await;
    welcomed(client, "ada@example.com").await;

    client.goto(url).await.unwrap();
    client
        .execute("window.siteverifyEmulator = { v3Score: 0.1 };", vec![])
        .await
        .unwrap();
    fill_form(client, "bot@example.com").await;
    submit(client).await;
    assert_eq!(reason_code(client).await, "score_below_threshold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_provider_a_person_signs_up_and_a_bot_does_not() {
    let driver = Driver::start().await;
    for (name, vars) in [
        ("hcaptcha", &[("DEMO_EMULATE", "hcaptcha")][..]),
        (
            "recaptcha-v2",
            &[
                ("DEMO_EMULATE", "recaptcha"),
                ("CAPTCHA_RECAPTCHA_VERSION", "2"),
            ][..],
        ),
        ("recaptcha-v3", &[("DEMO_EMULATE", "recaptcha")][..]),
        ("turnstile", &[("DEMO_EMULATE", "turnstile")][..]),
        ("procaptcha", &[("DEMO_EMULATE", "procaptcha")][..]),
        ("byebot", &[("DEMO_EMULATE", "byebot")][..]),
        (
            "friendlycaptcha",
            &[("DEMO_EMULATE", "friendlycaptcha")][..],
        ),
    ] {
        let demo = Demo::from_vars(vars.iter().copied()).await.unwrap();
        let v3 = demo.widget.is_recaptcha_v3();
        assert_eq!(v3, name == "recaptcha-v3");
        let Demo {
            router, emulator, ..
        } = demo;
        let (url, server) = serve_demo(router).await;

        // A fresh browser per provider: no state carries over from the last one.
        let profile = profile(name);
        let client = browser(&driver, &profile).await;
        if v3 {
            v3_flow(&client, &url).await;
        } else {
            checkbox_flow(&client, &url, name).await;
        }
        client.close().await.unwrap();
        let _ = std::fs::remove_dir_all(profile);
        server.abort();
        drop(emulator);
    }
}

/// The real `altcha` widget 2.x (tests/node, from npm), served over HTTP on a free port as a
/// site would serve it from its own static files or a CDN.
async fn serve_real_altcha_widget() -> (String, tokio::task::JoinHandle<()>) {
    serve_widget_file("node_modules/altcha/dist/altcha.js").await
}

/// The ES module build at `path` under tests/node, which the demo loads with `type="module"`.
async fn serve_widget_file(path: &str) -> (String, tokio::task::JoinHandle<()>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node");
    let file = dir.join(path);
    // A missing install must fail: a skipped real-widget run would pass without checking.
    let script = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "the altcha widget is not installed ({e}): run `npm ci` in {}",
            dir.display()
        )
    });
    let app = axum::Router::new().route(
        "/altcha.js",
        axum::routing::get(move || {
            let script = script.clone();
            // A module script from another origin is fetched in CORS mode: a CDN's answer.
            async move {
                (
                    [
                        ("content-type", "text/javascript; charset=utf-8"),
                        ("access-control-allow-origin", "*"),
                    ],
                    script,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/altcha.js", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, server)
}

/// The value the widget put in the form's `altcha` field, once it has one.
async fn altcha_payload(client: &Client) -> String {
    let started = Instant::now();
    loop {
        let value = client
            .execute(
                r#"const f = document.querySelector('form input[name="altcha"]');
                   return f ? f.value : "";"#,
                vec![],
            )
            .await
            .unwrap();
        let value = value.as_str().unwrap_or_default();
        if !value.is_empty() {
            return value.to_owned();
        }
        // A guard against a hang (a widget that never solves), generous for a loaded machine.
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the widget never filled the altcha field"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Puts `payload` in the form's `altcha` field (whatever widget is there) and submits the
/// form as a script replaying a recorded submission would: past the widget's own checks.
async fn submit_payload(client: &Client, payload: &str) {
    client
        .execute(
            r#"const form = document.querySelector('form');
               form.querySelectorAll('input[name="altcha"]').forEach((e) => e.remove());
               const field = document.createElement('input');
               field.type = 'hidden'; field.name = 'altcha'; field.value = arguments[0];
               form.appendChild(field);
               // form.submit may be shadowed by a control named `submit`.
               HTMLFormElement.prototype.submit.call(form);"#,
            vec![json!(payload)],
        )
        .await
        .unwrap();
}

/// Ticks the real widget's checkbox as a person does, by its label: altcha 2.x shows the
/// checkbox itself, 3.x draws over it (a click on the box lands on its drawing). Ticking it
/// fetches the challenge and solves it.
async fn tick_real_altcha(client: &Client) {
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(r#"altcha-widget input[type="checkbox"]"#))
        .await
        .expect("the altcha widget renders");
    client
        .find(Locator::Css("altcha-widget label[for]"))
        .await
        .expect("the checkbox has a label")
        .click()
        .await
        .unwrap();
}

/// ALTCHA: the widget fetches a challenge from the demo, solves it, the form submits and the
/// user is welcomed; the same payload submitted again is refused as spent.
async fn altcha_flow(client: &Client, url: &str, name: &str, real_widget: bool) {
    client.goto(url).await.unwrap();
    fill_form(client, "ada@example.com").await;
    if real_widget {
        tick_real_altcha(client).await;
    } else {
        widget_button(client, "human").await.click().await.unwrap();
    }
    let payload = altcha_payload(client).await;
    if !real_widget {
        let state = client
            .execute(
                r#"return document.querySelector("altcha-widget").getAttribute("data-emulator-state");"#,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(state, json!("solved"));
    }
    screenshot(name, client.screenshot().await.unwrap());
    submit(client).await;
    welcomed(client, "ada@example.com").await;

    // The recorded payload, replayed: the challenge is spent.
    client.goto(url).await.unwrap();
    fill_form(client, "replay@example.com").await;
    submit_payload(client, &payload).await;
    assert_eq!(reason_code(client).await, "expired_or_duplicate", "{name}");

    if !real_widget {
        // The emulator's bot skips the work; the server notices.
        client.goto(url).await.unwrap();
        fill_form(client, "bot@example.com").await;
        widget_button(client, "bot").await.click().await.unwrap();
        let bot = altcha_payload(client).await;
        assert_ne!(bot, payload);
        submit(client).await;
        assert_eq!(reason_code(client).await, "invalid_token", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_altcha_a_person_signs_up_and_a_replay_is_refused() {
    let driver = Driver::start().await;
    let (real_script, script_server) = serve_real_altcha_widget().await;
    // altcha 3.x, what `npm install altcha` gives today: it solves v2 challenges only.
    let (real_script_3, script_server_3) =
        serve_widget_file("node_modules/altcha3/dist/main/altcha.js").await;
    let secret = ("CAPTCHA_SECRET", "browser-test-altcha-hmac-key-0123456789");
    for (name, vars) in [
        (
            "altcha-emulator",
            vec![("CAPTCHA_PROVIDER", "altcha"), secret],
        ),
        (
            "altcha-widget",
            vec![
                ("CAPTCHA_PROVIDER", "altcha"),
                secret,
                ("CAPTCHA_WIDGET_SCRIPT", real_script.as_str()),
            ],
        ),
        (
            "altcha-widget-3",
            vec![
                ("CAPTCHA_PROVIDER", "altcha"),
                secret,
                ("CAPTCHA_WIDGET_SCRIPT", real_script_3.as_str()),
                ("CAPTCHA_ALTCHA_V2_ALGORITHM", "SHA-256"),
                ("CAPTCHA_ALTCHA_V2_COST", "1"),
                ("CAPTCHA_ALTCHA_V2_PREFIX_DIGITS", "3"),
            ],
        ),
    ] {
        let demo = Demo::from_vars(vars.iter().copied()).await.unwrap();
        let Demo { router, .. } = demo;
        let (url, server) = serve_demo(router).await;
        let profile = profile(name);
        let client = browser(&driver, &profile).await;
        altcha_flow(&client, &url, name, name.starts_with("altcha-widget")).await;
        client.close().await.unwrap();
        let _ = std::fs::remove_dir_all(profile);
        server.abort();
    }
    script_server.abort();
    script_server_3.abort();
}

/// Failover as a person lives it: the page shows the first provider's widget, the provider
/// goes down while they fill in the form, the submission comes back with the fallback's
/// widget (ALTCHA: the emulator's stand-in, then the real widget from npm), and they get
/// through with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_first_provider_goes_down_the_fallback_widget_gets_the_person_through() {
    let driver = Driver::start().await;
    let (real_script, script_server) = serve_real_altcha_widget().await;
    let key = (
        "CAPTCHA_FALLBACK_SECRET",
        "browser-test-fallback-hmac-key-0123456789",
    );
    for (name, real_widget) in [("failover-emulator", false), ("failover-widget", true)] {
        let mut vars = vec![
            ("DEMO_EMULATE", "turnstile"),
            ("CAPTCHA_FALLBACK_PROVIDER", "altcha"),
            key,
        ];
        if real_widget {
            vars.push(("CAPTCHA_FALLBACK_WIDGET_SCRIPT", real_script.as_str()));
        }
        let demo = Demo::from_vars(vars.iter().copied()).await.unwrap();
        let Demo {
            router, emulator, ..
        } = demo;
        let emulator = emulator.expect("the emulated first provider");
        let (url, server) = serve_demo(router).await;
        let profile = profile(name);
        let client = browser(&driver, &profile).await;

        client.goto(&url).await.unwrap();
        let human = widget_button(&client, "human").await;
        fill_form(&client, "ada@example.com").await;
        human.click().await.unwrap();
        wait_for_state(&client, "solved").await;
        // Turnstile goes down before the form is sent.
        emulator
            .start_outage(
                siteverify_emulator::Provider::Turnstile,
                siteverify_emulator::FaultKind::Status { code: 503 },
            )
            .expect("a valid outage");
        submit(&client).await;
        let notice = client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Id("notice"))
            .await
            .expect("the form comes back with the fallback");
        assert_eq!(
            notice.attr("data-fallback").await.unwrap().as_deref(),
            Some("altcha"),
            "{name}"
        );
        fill_form(&client, "ada@example.com").await;
        if real_widget {
            tick_real_altcha(&client).await;
        } else {
            widget_button(&client, "human").await.click().await.unwrap();
        }
        altcha_payload(&client).await;
        screenshot(name, client.screenshot().await.unwrap());
        submit(&client).await;
        welcomed(&client, "ada@example.com").await;

        client.close().await.unwrap();
        let _ = std::fs::remove_dir_all(profile);
        server.abort();
        drop(emulator);
    }
    script_server.abort();
}

/// The page's Content-Security-Policy is enforced (the flows above pass under it): a policy
/// that leaves out the widget script's origin keeps the widget from ever rendering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_without_the_widget_s_origin_keeps_the_widget_out() {
    let driver = Driver::start().await;
    let demo = Demo::from_vars([("DEMO_EMULATE", "turnstile")])
        .await
        .unwrap();
    let origin = demo.emulator.as_ref().unwrap().base_url();
    let policy = demo.widget.content_security_policy();
    assert!(policy.contains(&origin), "{policy}");
    let crippled = policy.replace(&format!(" {origin}"), "");
    let Demo {
        router, emulator, ..
    } = demo;
    let router = router.layer(axum::middleware::map_response(
        move |mut response: axum::response::Response| {
            let crippled = crippled.clone();
            async move {
                if response.headers().contains_key("content-security-policy") {
                    response
                        .headers_mut()
                        .insert("content-security-policy", crippled.parse().unwrap());
                }
                response
            }
        },
    ));
    let (url, server) = serve_demo(router).await;
    let profile = profile("csp");
    let client = browser(&driver, &profile).await;
    client.goto(&url).await.unwrap();
    // An async script delays the load event until it ran or failed: once the document is
    // complete, an allowed stand-in would have rendered its buttons.
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Id("email"))
        .await
        .expect("the page itself loads");
    let started = Instant::now();
    while client
        .execute("return document.readyState;", vec![])
        .await
        .unwrap()
        != json!("complete")
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the page never completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let buttons = client
        .find_all(Locator::Css("[data-emulator]"))
        .await
        .unwrap();
    assert!(buttons.is_empty(), "the blocked widget rendered");
    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
    server.abort();
    drop(emulator);
}

/// Chrome DevTools' CPU throttling through chromedriver's `goog/cdp/execute`: the page's
/// scripts run `rate` times slower, as Lighthouse models a mid-range phone (4x).
#[derive(Debug)]
struct CpuThrottling(f64);

impl fantoccini::wd::WebDriverCompatibleCommand for CpuThrottling {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": "Emulation.setCPUThrottlingRate", "params": {"rate": self.0}});
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Not a check but a measurement, run by hand for BENCHMARKS.md (`--ignored --nocapture`):
/// how long a person waits for ALTCHA at the default difficulty, with the real widget and
/// with the emulator's, on this machine's CPU and throttled 4x and 6x as a phone. Each
/// solution must still sign up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for BENCHMARKS.md, run by hand"]
async fn altcha_solve_times_at_the_default_difficulty() {
    const SOLVES: usize = 12;
    let driver = Driver::start().await;
    let (real_script, script_server) = serve_real_altcha_widget().await;
    let secret = ("CAPTCHA_SECRET", "browser-bench-altcha-hmac-key-0123456789");
    println!(
        "max_number {} (on average {} hashes)",
        siteverify::altcha::DEFAULT_MAX_NUMBER,
        siteverify::altcha::DEFAULT_MAX_NUMBER / 2
    );
    for (name, script) in [
        ("altcha 2.x widget", Some(real_script.as_str())),
        ("emulator widget", None),
    ] {
        let mut vars = vec![("CAPTCHA_PROVIDER", "altcha"), secret];
        if let Some(script) = script {
            vars.push(("CAPTCHA_WIDGET_SCRIPT", script));
        }
        let Demo { router, .. } = Demo::from_vars(vars.iter().copied()).await.unwrap();
        let (url, server) = serve_demo(router).await;
        for rate in [1.0, 4.0, 6.0] {
            let profile = profile(&format!("bench-{rate}"));
            let client = browser(&driver, &profile).await;
            let (mut took, mut per_hash) = (Vec::new(), Vec::new());
            for i in 0..SOLVES {
                client.goto(&url).await.unwrap();
                client.issue_cmd(CpuThrottling(rate)).await.unwrap();
                fill_form(&client, "ada@example.com").await;
                if script.is_some() {
                    tick_real_altcha(&client).await;
                } else {
                    widget_button(&client, "human").await.click().await.unwrap();
                }
                let payload = altcha_payload(&client).await;
                let solved: serde_json::Value = serde_json::from_slice(
                    &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &payload)
                        .unwrap(),
                )
                .unwrap();
                let (ms, number) = (
                    solved["took"].as_f64().unwrap(),
                    solved["number"].as_f64().unwrap(),
                );
                // The first is a warm-up (workers started, scripts compiled).
                if i > 0 {
                    took.push(ms);
                    per_hash.push(ms * 1000.0 / (number + 1.0));
                }
                submit(&client).await;
                welcomed(&client, "ada@example.com").await;
            }
            took.sort_by(f64::total_cmp);
            per_hash.sort_by(f64::total_cmp);
            let median = |v: &[f64]| v[v.len() / 2];
            println!(
                "{name}, CPU {rate}x slower: took median {:.0} ms, max {:.0} ms; {:.2} µs per hash (median), so {:.0} ms for the worst case of {} hashes",
                median(&took),
                took[took.len() - 1],
                median(&per_hash),
                median(&per_hash) * siteverify::altcha::DEFAULT_MAX_NUMBER as f64 / 1000.0,
                siteverify::altcha::DEFAULT_MAX_NUMBER
            );
            client.close().await.unwrap();
            let _ = std::fs::remove_dir_all(profile);
        }
        server.abort();
    }
    script_server.abort();
}
