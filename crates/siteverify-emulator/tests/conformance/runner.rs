//! Runs the scripts of tests/node (on Node.js) and tests/python (in a virtual environment),
//! installing their pinned packages first when they are missing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

fn tests_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

/// One install at a time per test binary.
static INSTALL: Mutex<()> = Mutex::new(());

fn run_json(mut command: Command, what: &str, input: &Value) -> Value {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Loopback calls must not go through a proxy of the runner (`request` honours them).
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(&serde_json::to_vec(input).expect("input serialises"))
        .expect("write the input");
    let output = child.wait_with_output().expect("the script runs");
    assert!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON on stdout ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Runs `script` of tests/node with `input` on stdin; its JSON stdout.
pub(crate) fn node(script: &str, input: &Value) -> Value {
    let dir = tests_dir("node");
    {
        let _one = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
        let installed = |dir: &Path| {
            dir.join("node_modules/google-recaptcha/package.json")
                .is_file()
        };
        if !installed(&dir) {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run `npm ci` in {} (npm is needed): {e}",
                        dir.display()
                    )
                });
            assert!(
                status.success() && installed(&dir),
                "`npm ci` in {} failed ({status}): google-recaptcha is not installed",
                dir.display()
            );
        }
    }
    let mut command = Command::new("node");
    command.arg(script).current_dir(&dir);
    run_json(
        command,
        &format!("node {script} (Node.js 20 or later is needed)"),
        input,
    )
}

/// Runs `script` of tests/python in its virtual environment with `input` on stdin.
pub(crate) fn python(script: &str, input: &Value) -> Value {
    let dir = tests_dir("python");
    let python = dir.join(".venv/bin/python");
    {
        let _one = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
        let installed = || {
            Command::new(&python)
                .args(["-c", "import django, hcaptcha.fields, turnstile.fields"])
                .env("DJANGO_SETTINGS_MODULE", "")
                .output()
                .is_ok_and(|o| {
                    // Importing the fields needs settings: an ImproperlyConfigured error
                    // means the packages are there.
                    o.status.success()
                        || String::from_utf8_lossy(&o.stderr).contains("ImproperlyConfigured")
                })
        };
        if !installed() {
            let status = Command::new("python3")
                .args(["-m", "venv", ".venv"])
                .current_dir(&dir)
                .status()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run `python3 -m venv` (python3 and its venv module are needed): {e}"
                    )
                });
            assert!(
                status.success(),
                "`python3 -m venv .venv` in {} failed ({status})",
                dir.display()
            );
            let status = Command::new(dir.join(".venv/bin/pip"))
                .args([
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "-r",
                    "requirements.txt",
                ])
                .current_dir(&dir)
                .status()
                .unwrap_or_else(|e| panic!("cannot run pip in {}: {e}", dir.display()));
            assert!(
                status.success() && installed(),
                "`pip install -r requirements.txt` in {} failed ({status}): the Django clients are not installed",
                dir.display()
            );
        }
    }
    let mut command = Command::new(&python);
    command.arg(script).current_dir(&dir);
    run_json(command, &format!("python {script}"), input)
}
