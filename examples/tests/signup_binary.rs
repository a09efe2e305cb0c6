//! The built `signup` example as a user runs it: its words on a bad setting, its exit status,
//! and serving until Ctrl-C.
//!
//! Cargo builds a package's examples before running its tests (`cargo test -p
//! tower-captcha-examples`, `cargo test --workspace`), but gives tests no path to them
//! (`CARGO_BIN_EXE_*` is for binaries only): the example sits beside `deps/`, where this
//! test runs from.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn signup_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<this test> → target/<profile>/examples/signup
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile
        .join("examples")
        .join(format!("signup{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run this through `cargo test`, which builds the examples",
        binary.display()
    );
    binary
}

/// The demo with only these variables (and a quiet log), as a child process.
fn demo(vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(signup_binary());
    command
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(vars.iter().copied());
    command
}

#[test]
fn a_bad_setting_stops_the_demo_with_a_sentence_and_status_1() {
    const SECRET: &str = "sk-live-never-print-me";
    for (vars, expected) in [
        (
            &[("CAPTCHA_PROVIDER", "hcaptcha")][..],
            "error: CAPTCHA_SECRET is not set",
        ),
        (
            &[("DEMO_EMULATE", "hcaptha")][..],
            "error: DEMO_EMULATE is invalid: unknown CAPTCHA provider `hcaptha` (expected hcaptcha, recaptcha, turnstile, procaptcha, byebot, friendlycaptcha, recaptcha-enterprise or altcha)",
        ),
        (
            &[("DEMO_EMULATE", "byebot"), ("CAPTCHA_FORWARD_IP", "true")][..],
            "error: CAPTCHA_FORWARD_IP needs CAPTCHA_CLIENT_IP: ",
        ),
        (
            &[
                ("CAPTCHA_PROVIDER", "recaptcha"),
                ("CAPTCHA_SECRET", SECRET),
                ("CAPTCHA_MIN_SCORE", "high"),
            ][..],
            "error: CAPTCHA_MIN_SCORE is invalid: not a number",
        ),
        (
            &[("DEMO_EMULATE", "procaptcha"), ("PORT", "http")][..],
            "error: PORT is invalid: not a port number",
        ),
    ] {
        let output = demo(vars).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{vars:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.starts_with(expected), "{vars:?}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "one line, no Debug dump: {stderr}"
        );
        assert!(!stderr.contains(SECRET), "{stderr}");
    }
}

#[tokio::test]
async fn the_demo_serves_and_stops_on_ctrl_c() {
    // Procaptcha and ByeBot were the providers whose demo did not start, and `altcha`, the
    // one value of DEMO_EMULATE with nothing to emulate, once failed as unknown.
    for provider in ["procaptcha", "byebot", "altcha"] {
        let mut child = demo(&[("DEMO_EMULATE", provider), ("PORT", "0")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let url = tokio::task::spawn_blocking(move || {
            stdout.lines().map_while(Result::ok).find_map(|line| {
                line.split_once(" listening on ")
                    .map(|(_, url)| url.to_owned())
            })
        })
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{provider}: the demo never said where it listens"));

        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let page = client.get(&url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(
            page.text()
                .await
                .unwrap()
                .contains(&format!("Protected by {provider}"))
        );

        // The shell's own `kill`: no dependency for one signal, and no procps needed.
        let interrupted = Command::new("sh")
            .args(["-c", &format!("kill -INT {}", child.id())])
            .status()
            .unwrap();
        assert!(interrupted.success());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{provider}: still running 10 s after Ctrl-C"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{provider}: {status}");
    }
}
