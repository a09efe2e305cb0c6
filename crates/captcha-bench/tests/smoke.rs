//! The benchmark in smoke mode, so that `cargo test --workspace` keeps it from rotting: every
//! scenario must run, send requests and see no error. The figures themselves mean nothing.
//! The ALTCHA scenarios need `redis-server` and Node with npm (`.ci/run` installs them).

use std::{
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Far above the second or two a smoke run takes, even in a debug build on a busy machine.
const LIMIT: Duration = Duration::from_secs(180);

const SCENARIOS: [&str; 24] = [
    "plain",
    "layer-instant",
    "layer-emulator",
    "shared-client",
    "client-per-request",
    "form/plain-header",
    "form/plain-form",
    "form/layer-header",
    "form/layer-form",
    "upload/plain",
    "upload/layer",
    "in-flight",
    "in-flight/hand-written",
    "altcha/plain",
    "altcha/altcha-memory",
    "altcha/altcha-redis",
    "altcha/verify-ours",
    "altcha/verify-altcha-lib",
    "altcha/store-fill",
    "altcha/store-flood",
    "sets/layer-instant",
    "sets/set-three",
    "sets/failover-plain",
    "sets/failover-hinted",
];

/// Runs the benchmark with `args`, within [`LIMIT`]; gives what it printed.
fn run(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_captcha-bench"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the benchmark starts");
    // Read on a thread: a full pipe must not stall the child while we wait for it.
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            break status;
        }
        if started.elapsed() > LIMIT {
            child.kill().ok();
            child.wait().ok();
            panic!("{args:?} did not finish in {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = reader.join().expect("reader").expect("utf-8 output");
    assert!(status.success(), "{args:?} failed ({status}):\n{output}");
    output
}

#[test]
fn every_scenario_runs_without_errors() {
    let output = run(&["--smoke"]);

    for name in SCENARIOS {
        let prefix = format!("scenario {name} ");
        let line = output
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no scenario {name} in:\n{output}"));
        let field = |key: &str| -> u64 {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        };
        assert!(field("requests=") > 0, "{line}");
        assert_eq!(field("errors="), 0, "{line}");
    }
    assert!(output.contains("## Targets"), "the report is printed");
}

#[test]
fn the_altcha_table_runs_alone() {
    let output = run(&["altcha-load", "--duration", "0.5", "--concurrency", "4"]);
    for server in [
        "(a) no layer",
        "ALTCHA, memory store",
        "ALTCHA, Redis store",
    ] {
        let row = output
            .lines()
            .find(|l| l.starts_with(&format!("| {server}")))
            .unwrap_or_else(|| panic!("no row for {server} in:\n{output}"));
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let requests: f64 = cells[1].parse().expect("requests/s");
        assert!(requests > 0.0, "{row}");
        assert_eq!(cells.last(), Some(&"0"), "no errors: {row}");
    }
    for ratio in ["memory/no layer: ", "Redis/memory: "] {
        assert!(
            output.lines().any(|l| l.starts_with(ratio)),
            "{ratio} in:\n{output}"
        );
    }
}
