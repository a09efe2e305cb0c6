//! The `siteverify-emulator` binary as another project's CI runs it: a child process on a
//! free port, configured by flags and the environment, stopped with SIGTERM.

mod walkthrough;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_siteverify-emulator");

/// The variables of the binary, removed from every child so the runner's own cannot leak in.
const VARS: [&str; 4] = [
    "SITEVERIFY_EMULATOR_HOST",
    "SITEVERIFY_EMULATOR_PORT",
    "SITEVERIFY_EMULATOR_SITES",
    "SITEVERIFY_EMULATOR_RECORD_LIMIT",
];

fn command() -> Command {
    let mut command = Command::new(BIN);
    for var in VARS {
        command.env_remove(var);
    }
    command
}

/// A running binary; killed if the test ends without stopping it.
pub(crate) struct Running {
    child: Child,
    pub(crate) base_url: String,
}

impl Running {
    /// Starts the binary with `args` and `env`, and waits for its "listening on" line.
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut command = command();
        command
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        stdout.read_line(&mut first).expect("the first line");
        // Keep reading, so that the binary never writes to a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let base_url = first
            .trim()
            .strip_prefix("siteverify-emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Running { child, base_url }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`) and waits at most `within` for the exit.
    fn signal_and_wait(&mut self, signal: &str, within: Duration) -> (ExitStatus, Duration) {
        let sent = Instant::now();
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("`kill` runs");
        assert!(status.success(), "kill -{signal}: {status}");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, sent.elapsed());
            }
            assert!(
                sent.elapsed() < within,
                "still running {within:?} after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn stop(mut self) {
        let (status, _) = self.signal_and_wait("TERM", Duration::from_secs(5));
        assert!(status.success(), "{status}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

fn get_json(url: &str) -> Value {
    let response = client().get(url).send().expect("GET");
    assert_eq!(response.status(), 200, "{url}");
    response.json().expect("JSON")
}

fn mint(base: &str, spec: &Value) -> (u16, Value) {
    let response = client()
        .post(format!("{base}/tokens"))
        .json(spec)
        .send()
        .expect("POST /tokens");
    (response.status().as_u16(), response.json().expect("JSON"))
}

fn verify_hcaptcha(base: &str, secret: &str, token: &str) -> Value {
    client()
        .post(format!("{base}/hcaptcha/siteverify"))
        .form(&[("secret", secret), ("response", token)])
        .send()
        .expect("verify")
        .json()
        .expect("JSON")
}

#[test]
fn help_and_version() {
    for flag in ["--help", "-h"] {
        let output = command().arg(flag).output().expect("runs");
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).unwrap();
        for needle in [
            "USAGE:",
            "--host",
            "--port",
            "--site",
            "--record-limit",
            "--version",
            "SITEVERIFY_EMULATOR_HOST",
            "SITEVERIFY_EMULATOR_PORT",
            "SITEVERIFY_EMULATOR_SITES",
            "SITEVERIFY_EMULATOR_RECORD_LIMIT",
            "SIGTERM",
        ] {
            assert!(text.contains(needle), "--help lacks {needle:?}:\n{text}");
        }
    }
    for flag in ["--version", "-V"] {
        let output = command().arg(flag).output().expect("runs");
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            format!("siteverify-emulator {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
    let output = command().arg("--bogus").output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown argument"));
    let output = command()
        .env("SITEVERIFY_EMULATOR_SITES", "hcaptcha-only")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SITEVERIFY_EMULATOR_SITES"));
}

#[test]
fn the_index_lists_every_endpoint_and_each_answers() {
    let running = Running::start(&["--port", "0"], &[]);
    let base = &running.base_url;
    let index = get_json(&format!("{base}/"));
    assert_eq!(index["name"], "siteverify-emulator");
    assert_eq!(index["version"], env!("CARGO_PKG_VERSION"));
    let listed: Vec<(String, String)> = index["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("GET", "/"),
        ("GET", "/health"),
        ("POST", "/hcaptcha/siteverify"),
        ("POST", "/recaptcha/api/siteverify"),
        ("POST", "/turnstile/v0/siteverify"),
        ("POST", "/procaptcha/siteverify"),
        ("POST", "/byebot/validate_token"),
        ("POST", "/api/v2/captcha/siteverify"),
        ("POST", "/v1/projects/{project}/assessments"),
        ("POST", "/tokens"),
        ("OPTIONS", "/tokens"),
        ("POST", "/sites"),
        ("GET", "/requests"),
        ("DELETE", "/requests"),
        ("PUT", "/outages/{provider}"),
        ("DELETE", "/outages/{provider}"),
        ("GET", "/widget.js"),
        ("GET", "/enterprise.js"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(listed, expected);
    // Every listed route is served (a 404 or 405 would mean the index lies).
    for (method, path) in &listed {
        let path = path
            .replace("{project}", "emulator-project")
            .replace("{provider}", "hcaptcha");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let status = client()
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .expect("request")
            .status();
        assert!(
            status != 404 && status != 405,
            "{method} {path} answered {status}"
        );
    }
    let providers = index["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 7);
    assert_eq!(providers[0]["provider"], "hcaptcha");
    assert_eq!(providers[0]["verify_path"], "/hcaptcha/siteverify");
    assert_eq!(index["record"], json!({"limit": 10_000, "dropped": 0}));
    running.stop();
}

#[test]
fn flags_win_over_the_environment() {
    // The environment alone: host, sites, record limit.
    let running = Running::start(
        &[],
        &[
            ("SITEVERIFY_EMULATOR_HOST", "127.0.0.1"),
            ("SITEVERIFY_EMULATOR_PORT", "0"),
            (
                "SITEVERIFY_EMULATOR_SITES",
                "hcaptcha:env-key:env-secret,turnstile:env-t:env-ts",
            ),
            ("SITEVERIFY_EMULATOR_RECORD_LIMIT", "42"),
        ],
    );
    let base = running.base_url.clone();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let index = get_json(&format!("{base}/"));
    assert_eq!(index["record"]["limit"], 42);
    let (status, minted) = mint(
        &base,
        &json!({"provider": "hcaptcha", "site_key": "env-key"}),
    );
    assert_eq!(status, 200, "{minted}");
    let answer = verify_hcaptcha(&base, "env-secret", minted["token"].as_str().unwrap());
    assert_eq!(answer["success"], true, "{answer}");
    running.stop();

    // Flags over the same environment: a port the environment would refuse is never read,
    // and `--site` replaces the environment's sites.
    let running = Running::start(
        &[
            "--port",
            "0",
            "--site",
            "hcaptcha:flag-key:flag-secret",
            "--record-limit",
            "3",
        ],
        &[
            ("SITEVERIFY_EMULATOR_PORT", "not-a-port"),
            ("SITEVERIFY_EMULATOR_SITES", "hcaptcha:env-key:env-secret"),
            ("SITEVERIFY_EMULATOR_RECORD_LIMIT", "42"),
        ],
    );
    let base = running.base_url.clone();
    assert_eq!(get_json(&format!("{base}/"))["record"]["limit"], 3);
    let (status, _) = mint(
        &base,
        &json!({"provider": "hcaptcha", "site_key": "flag-key"}),
    );
    assert_eq!(status, 200);
    let (status, refused) = mint(
        &base,
        &json!({"provider": "hcaptcha", "site_key": "env-key"}),
    );
    assert_eq!(status, 400, "{refused}");
    running.stop();
}

#[test]
fn the_record_is_a_bounded_ring_over_http() {
    let running = Running::start(&["--port=0", "--record-limit=3"], &[]);
    let base = running.base_url.clone();
    for i in 0..5 {
        verify_hcaptcha(&base, "emulator-hcaptcha-secret", &format!("token-{i}"));
    }
    let records = get_json(&format!("{base}/requests"));
    let tokens: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fields"]["response"].as_str().unwrap())
        .collect();
    assert_eq!(
        tokens,
        ["token-2", "token-3", "token-4"],
        "oldest dropped first"
    );
    assert_eq!(
        get_json(&format!("{base}/"))["record"],
        json!({"limit": 3, "dropped": 2})
    );
    let status = client()
        .delete(format!("{base}/requests"))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 204);
    assert_eq!(get_json(&format!("{base}/requests")), json!([]));
    assert_eq!(get_json(&format!("{base}/"))["record"]["dropped"], 0);
    running.stop();
}

#[test]
fn sigterm_and_sigint_stop_it_at_once_with_status_zero() {
    for signal in ["TERM", "INT"] {
        let mut running = Running::start(&["--port", "0"], &[]);
        let base = running.base_url.clone();
        // A verify call that trickles its answer for a long time must not hold up the stop.
        let (_, minted) = mint(
            &base,
            &json!({"provider": "hcaptcha", "fault": {"kind": "trickle", "interval_ms": 1000}}),
        );
        let token = minted["token"].as_str().unwrap().to_owned();
        let slow = std::thread::spawn(move || {
            let _ = client()
                .post(format!("{base}/hcaptcha/siteverify"))
                .form(&[("secret", "emulator-hcaptcha-secret"), ("response", &token)])
                .send()
                .and_then(|r| r.text());
        });
        std::thread::sleep(Duration::from_millis(200));
        let (status, took) = running.signal_and_wait(signal, Duration::from_secs(3));
        assert!(status.success(), "SIG{signal}: {status}");
        assert!(took < Duration::from_secs(2), "SIG{signal} took {took:?}");
        slow.join().unwrap();
    }
}
