//! Runs the scripts of tests/node on Node.js, installing the committed lockfile's packages
//! first. Shared by the test binaries that cross-check against reference libraries.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde_json::Value;

/// The packages the scripts import; each must be installed before any script runs.
const PACKAGES: [&str; 2] = ["altcha-lib", "@friendlycaptcha/server-sdk"];

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Runs `script` (in tests/node) with `input` as JSON on stdin; returns its JSON stdout.
pub(crate) fn node(script: &str, input: &Value) -> Value {
    let dir = node_dir();
    install(&dir);
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node` (Node.js 20 or later is needed): {e}"));
    let input = serde_json::to_vec(input).expect("input serialises");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(&input)
        .expect("write to node");
    let output = child.wait_with_output().expect("node runs");
    assert!(
        output.status.success(),
        "{script} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn installed(dir: &Path) -> bool {
    PACKAGES.iter().all(|p| {
        dir.join("node_modules")
            .join(p)
            .join("package.json")
            .is_file()
    })
}

/// Installs the committed lockfile's packages once, so that `cargo test --workspace` on a
/// fresh machine needs nothing but Node and npm. A failed install fails the test loudly: a
/// skipped cross-check would pass without checking.
fn install(dir: &Path) {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if installed(dir) {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `npm ci` in {} (npm is needed): {e}",
                dir.display()
            )
        });
    assert!(
        status.success() && installed(dir),
        "`npm ci` in {} failed ({status}): {PACKAGES:?} are not all installed",
        dir.display()
    );
}
