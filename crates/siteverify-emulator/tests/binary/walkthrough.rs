//! Runs the curl walk-through of the repository's `docs/EMULATOR.md`, block by block as one
//! script, against the built binary: the documented commands stay true.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{BIN, VARS};

fn doc() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/EMULATOR.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `sh` blocks of the section `## Walk-through with curl`, in order.
fn walkthrough_blocks(doc: &str) -> Vec<String> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Walk-through with curl"))
        .expect("a walk-through section");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn the_documented_curl_walkthrough_runs() {
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "curl is needed by this test (.ci/run installs it)"
    );
    let blocks = walkthrough_blocks(&doc());
    assert_eq!(blocks.len(), 5, "start, mint, verify, faults, record");
    let script = blocks.concat();
    let bin_dir = Path::new(BIN).parent().expect("the binary's folder");
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut command = Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", &script])
        .env("PATH", path)
        // Proxies of the runner must not catch loopback calls.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    for var in VARS {
        command.env_remove(var);
    }
    // The documented start uses the default port unless SITEVERIFY_EMULATOR_PORT says
    // otherwise; tests never bind a fixed port.
    command.env("SITEVERIFY_EMULATOR_PORT", free_port().to_string());
    let output = command.output().expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the walk-through failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let expected = [
        "\"path\":\"/\"\n\"path\":\"/health\"",
        "{\"action\":\"login\",",
        "\"hostname\":\"example.org\",",
        "\"success\":true}",
        "{\"error-codes\":[\"timeout-or-duplicate\"],\"messages\":[],\"success\":false}",
        "\n503\n",
        "{\"error-codes\":[\"internal-error\"],\"success\":false}",
        "\"path\":\"/turnstile/v0/siteverify\"\n\"path\":\"/turnstile/v0/siteverify\"\n\"path\":\"/hcaptcha/siteverify\"\n\"path\":\"/recaptcha/api/siteverify\"",
    ];
    let mut from = 0;
    for needle in expected {
        let at = stdout[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in order in:\n{stdout}"));
        from += at;
    }
}
