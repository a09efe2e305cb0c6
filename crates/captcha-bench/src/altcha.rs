//! The ALTCHA side of the benchmark that is not a load run: solved payloads for the load
//! generator, the verification rate against altcha-lib on Node, and the memory store's
//! growth when filled and flooded (a child process, so that its RSS is the store's alone).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use tokio::process::Command;
use tower_captcha::siteverify::{
    Outage, VerifyError, VerifyOptions,
    altcha::{AltchaVerifier, MemoryStore, solve},
};

use crate::{
    BoxError,
    load::Outcome,
    procfs::{self, Memory},
    servers::{ALTCHA_KEY, altcha_config},
};

/// The difficulty of every payload the benchmark solves: tiny, since the load generator
/// solves one per request, and verification costs one hash whatever the difficulty.
pub(crate) const MAX_NUMBER: u64 = 20;
/// The memory store filled and flooded: the default capacity, as configured out of the box.
pub(crate) const STORE_CAPACITY: usize =
    tower_captcha::siteverify::altcha::DEFAULT_MEMORY_STORE_CAPACITY;

/// `count` fresh solved payloads (the widget's `altcha` value), each of its own challenge,
/// solved on every core: the servers are idle meanwhile.
pub(crate) fn solved(count: usize) -> Result<Vec<String>, BoxError> {
    let verifier = AltchaVerifier::new(altcha_config(MAX_NUMBER))?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per_thread = count.div_ceil(threads);
    let chunks: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let verifier = &verifier;
                let n = per_thread.min(count.saturating_sub(i * per_thread));
                scope.spawn(move || {
                    (0..n)
                        .filter_map(|_| solve(&verifier.challenge()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let payloads: Vec<String> = chunks.into_iter().flatten().collect();
    if payloads.len() != count {
        return Err(format!("solved {} of {count} challenges", payloads.len()).into());
    }
    Ok(payloads)
}

/// Verifications per second on one core: ours and altcha-lib's, of the same payloads.
#[derive(Debug, Default)]
pub(crate) struct VerifyRates {
    /// `AltchaVerifier::verify` (memory store included) on a current-thread runtime.
    pub(crate) ours: Outcome,
    /// altcha-lib's `verifySolution` (classic, `altcha-lib/v1`) in a Node loop.
    pub(crate) node: Outcome,
    /// Node's CPU time (user and system, all its threads) over the timed loop, over its wall
    /// time: above 1 would mean the comparison is not one core against one.
    pub(crate) node_cores: f64,
    pub(crate) node_version: String,
}

impl VerifyRates {
    pub(crate) fn ratio(&self) -> f64 {
        self.ours.per_second() / self.node.per_second().max(f64::EPSILON)
    }
}

#[derive(Serialize)]
struct NodeInput<'a> {
    key: &'a str,
    warmup: &'a [String],
    timed: &'a [String],
}

#[derive(Deserialize)]
struct NodeOutput {
    verified: u64,
    failed: u64,
    seconds: f64,
    cpu_seconds: f64,
}

/// The same `count` payloads verified once each by us and by altcha-lib, after `warmup`
/// others each (Node's JIT and our caches warm; none counted).
pub(crate) async fn verify_rates(warmup: usize, count: usize) -> Result<VerifyRates, BoxError> {
    let payloads = tokio::task::block_in_place(|| solved(warmup + count))?;
    let (warm, timed) = payloads.split_at(warmup);
    let ours = {
        let (warm, timed) = (warm.to_vec(), timed.to_vec());
        // A thread of its own with a current-thread runtime: one core, nothing else on it.
        std::thread::spawn(move || ours_single_threaded(&warm, &timed))
            .join()
            .map_err(|_| "the verification thread panicked")??
    };
    let (node, node_cores, node_version) = node_single(warm, timed).await?;
    Ok(VerifyRates {
        ours,
        node,
        node_cores,
        node_version,
    })
}

fn ours_single_threaded(warm: &[String], timed: &[String]) -> Result<Outcome, BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Sized for all of them: a full store would refuse, which is not what this measures.
    let store = MemoryStore::new(2 * (warm.len() + timed.len()));
    let verifier = AltchaVerifier::new(altcha_config(MAX_NUMBER).store(store))?;
    let options = VerifyOptions::default();
    Ok(runtime.block_on(async {
        let mut outcome = Outcome::default();
        for payload in warm {
            outcome.record(
                verifier
                    .verify(payload, &options)
                    .await
                    .map(drop)
                    .map_err(Into::into),
            );
        }
        outcome.requests = 0;
        let began = Instant::now();
        for payload in timed {
            outcome.record(
                verifier
                    .verify(payload, &options)
                    .await
                    .map(drop)
                    .map_err(Into::into),
            );
        }
        outcome.window = began.elapsed();
        outcome
    }))
}

/// Where `npm ci` installs altcha-lib for the siteverify cross-checks; reused here.
fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../siteverify/tests/node")
}

/// Installs the lockfile's packages when they are missing, as the cross-checks do.
async fn install_altcha_lib(dir: &Path) -> Result<(), BoxError> {
    if dir.join("node_modules/altcha-lib/package.json").is_file() {
        return Ok(());
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .await
        .map_err(|e| {
            format!(
                "cannot run `npm ci` in {} (npm is needed): {e}",
                dir.display()
            )
        })?;
    if !status.success() {
        return Err(format!("`npm ci` in {} failed ({status})", dir.display()).into());
    }
    Ok(())
}

async fn node_single(
    warm: &[String],
    timed: &[String],
) -> Result<(Outcome, f64, String), BoxError> {
    let dir = node_dir();
    install_altcha_lib(&dir).await?;
    let input = serde_json::to_vec(&NodeInput {
        key: ALTCHA_KEY,
        warmup: warm,
        timed,
    })?;
    // A file, not stdin: the script reads it whole before its clock starts either way, and a
    // file keeps the pipe's buffering out of the question.
    let file =
        std::env::temp_dir().join(format!("captcha-bench-altcha-{}.json", std::process::id()));
    std::fs::write(&file, input)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node/verify.mjs");
    let output = Command::new("node")
        .arg(&script)
        .arg(&file)
        .arg(dir.join("node_modules"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .await;
    std::fs::remove_file(&file).ok();
    let output = output.map_err(|e| format!("cannot run node (Node.js is needed): {e}"))?;
    if !output.status.success() {
        return Err(format!("{} failed ({})", script.display(), output.status).into());
    }
    let answer: NodeOutput = serde_json::from_slice(&output.stdout)?;
    let version = Command::new("node")
        .arg("--version")
        .output()
        .await
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let window = Duration::try_from_secs_f64(answer.seconds).unwrap_or_default();
    let mut outcome = Outcome {
        requests: answer.verified,
        window,
        ..Outcome::default()
    };
    for _ in 0..answer.failed {
        outcome.record(Err("altcha-lib refused a payload".into()));
    }
    Ok((
        outcome,
        answer.cpu_seconds / answer.seconds.max(f64::EPSILON),
        version,
    ))
}

/// What `captcha-bench store-memory` measured, printed by the child as one JSON line.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StoreFill {
    pub(crate) capacity: usize,
    /// RSS with every payload solved and the store empty.
    pub(crate) empty_kib: u64,
    /// After `capacity` fresh challenges were spent.
    pub(crate) filled_kib: u64,
    /// After as many more were refused.
    pub(crate) flooded_kib: u64,
    /// Of the first `capacity`: verified, and anything else.
    pub(crate) passed: u64,
    pub(crate) not_passed: u64,
    /// Of the flood: refused as full, and anything else (a pass would be a bug).
    pub(crate) full: u64,
    pub(crate) not_full: u64,
    pub(crate) len: usize,
}

impl StoreFill {
    /// RSS growth per live challenge, in bytes.
    pub(crate) fn bytes_per_entry(&self) -> f64 {
        self.filled_kib.saturating_sub(self.empty_kib) as f64 * 1024.0 / self.capacity.max(1) as f64
    }

    /// RSS growth over the flood, in KiB (negative: shrank).
    pub(crate) fn flood_growth_kib(&self) -> i64 {
        self.flooded_kib as i64 - self.filled_kib as i64
    }

    /// The fill and the flood as outcomes, for the scenario lines.
    pub(crate) fn outcomes(&self) -> (Outcome, Outcome) {
        let outcome = |ok, bad| {
            let mut o = Outcome {
                requests: ok,
                ..Outcome::default()
            };
            for _ in 0..bad {
                o.record(Err("unexpected verdict".into()));
            }
            o
        };
        (
            outcome(self.passed, self.not_passed),
            outcome(self.full, self.not_full),
        )
    }
}

/// `captcha-bench store-memory --capacity N`: fills a memory store of capacity `N` with `N`
/// fresh challenges through the verifier, then floods it with `N` more, reading RSS between.
pub(crate) async fn store_memory(capacity: usize) -> Result<(), BoxError> {
    let store = Arc::new(MemoryStore::new(capacity));
    let verifier = AltchaVerifier::new(altcha_config(MAX_NUMBER).store(store.clone()))?;
    let payloads = tokio::task::block_in_place(|| solved(2 * capacity))?;
    let (fill, flood) = payloads.split_at(capacity);
    let options = VerifyOptions::default();
    let pid = std::process::id();
    let rss = || procfs::memory(pid).map(|m: Memory| m.rss_kib);
    // One verification first: whatever it initialises once is not the store's growth.
    let mut report = StoreFill {
        capacity,
        ..StoreFill::default()
    };
    let warm = solved(1)?;
    let warm_store = AltchaVerifier::new(altcha_config(MAX_NUMBER).store(MemoryStore::new(1)))?;
    warm_store.verify(&warm[0], &options).await?;
    report.empty_kib = rss()?;
    for payload in fill {
        match verifier.verify(payload, &options).await {
            Ok(_) => report.passed += 1,
            Err(_) => report.not_passed += 1,
        }
    }
    report.filled_kib = rss()?;
    for payload in flood {
        match verifier.verify(payload, &options).await {
            Err(VerifyError::ProviderUnavailable(Outage::ReplayStoreFull)) => report.full += 1,
            _ => report.not_full += 1,
        }
    }
    report.flooded_kib = rss()?;
    report.len = store.len();
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
