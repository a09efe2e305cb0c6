//! The signup demo in a real browser: headless Chromium, driven through chromedriver.
//!
//! Run with `cargo test -p tower-captcha-e2e --features browser --test browser`; it needs
//! Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). `CHROMEDRIVER` and
//! `CHROMIUM` override their paths. A screenshot of the form is written to
//! `target/browser/signup-form.png`.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use signup_demo::Demo;
use siteverify::Provider;
use tokio::process::{Child, Command};

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let binary =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            std::path::Path::new(&binary).exists(),
            "{binary} not found: install Debian's chromium-driver (and chromium), or set CHROMEDRIVER"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
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
            r#"return document.querySelector(".g-recaptcha").getAttribute("data-emulator-state");"#,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_up_a_bot_and_a_hurried_user_do_not() {
    let demo = Demo::emulated(Provider::Recaptcha).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let Demo {
        router, emulator, ..
    } = demo;
    let _emulator = emulator;
    tokio::spawn(async move { axum::serve(listener, router).await });

    let driver = Driver::start().await;
    let profile =
        std::env::temp_dir().join(format!("tower-captcha-chromium-{}", std::process::id()));
    let client = browser(&driver, &profile).await;

    // A person: fills the form, ticks "I am human", submits, and is welcomed.
    client.goto(&url).await.unwrap();
    let human = widget_button(&client, "human").await;
    fill_form(&client, "ada@example.com").await;
    human.click().await.unwrap();
    wait_for_state(&client, "solved").await;
    let shot = client.screenshot().await.unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("signup-form.png"), shot).unwrap();
    client
        .find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let welcome = client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Id("welcome"))
        .await
        .expect("the welcome page");
    assert_eq!(welcome.text().await.unwrap(), "Welcome, ada@example.com!");

    // A bot: its token is refused and the page says why, with a way back.
    client.goto(&url).await.unwrap();
    let bot = widget_button(&client, "bot").await;
    fill_form(&client, "bot@example.com").await;
    bot.click().await.unwrap();
    wait_for_state(&client, "bot").await;
    client
        .find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(reason_code(&client).await, "invalid_token");
    client
        .find(Locator::Id("back"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    widget_button(&client, "human").await;

    // Someone who submits without solving it.
    fill_form(&client, "hurry@example.com").await;
    client
        .find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(reason_code(&client).await, "missing_token");

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(profile);
}
