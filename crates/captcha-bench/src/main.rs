//! `captcha-bench`: the load benchmark of the workspace.
//!
//! One run drives five axum servers, each a child process of this binary, with the same
//! in-process load generator: no layer, the layer with an instant verifier, the layer against
//! the emulator, and two hand-written handlers (one shared `reqwest::Client`, a client per
//! verification). A second table drives the self-hosted ALTCHA provider with its memory and
//! its Redis store against no layer; then come ALTCHA's verification rate against altcha-lib
//! on Node and its memory store filled and flooded. Then it checks latency and memory
//! targets and writes `BENCHMARKS.md`.

mod altcha;
mod children;
mod load;
mod procfs;
mod report;
mod requests;
mod servers;
mod sets;
mod suite;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use servers::Mode;
use suite::Settings;

/// Errors of a benchmark run: reported and turned into a failing exit status, never handled.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "\
captcha-bench: the load benchmark of tower-captcha.

USAGE:
    captcha-bench [--duration SECS] [--concurrency N] [--smoke] [--output PATH]
    captcha-bench altcha-load [--duration SECS] [--concurrency N]
        (the ALTCHA load table alone, printed, nothing written)
    captcha-bench serve MODE [--port N] [--emulator URL] [--redis URL]
        (a child; MODE: plain, layer-instant, layer-emulator, shared-client,
        client-per-request, altcha-memory, altcha-redis, set-three, set-failover)
    captcha-bench emulator [--port N]                        (a child)
    captcha-bench store-memory --capacity N                  (a child: fills and floods
        an ALTCHA memory store, prints its RSS as JSON)

OPTIONS:
    --duration SECS    load per server (default 10)
    --concurrency N    connections (default 64)
    --smoke            everything tiny (concurrency 4), writes no report unless --output
    --output PATH      where to write the report (default: BENCHMARKS.md at the workspace root)";

#[derive(Debug)]
enum Command {
    Bench {
        settings: Settings,
        output: Option<PathBuf>,
    },
    Serve {
        mode: Mode,
        port: u16,
        emulator: Option<String>,
        redis: Option<String>,
    },
    StoreMemory {
        capacity: usize,
    },
    Emulator {
        port: u16,
    },
    AltchaLoad {
        settings: Settings,
    },
    Help,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    let subcommand = args.next_if(|a| !a.starts_with('-'));
    let mode = match subcommand.as_deref() {
        Some("serve") => {
            let name = args.next().ok_or("serve needs a MODE")?;
            Some(Mode::parse(&name).ok_or_else(|| format!("unknown mode {name:?}"))?)
        }
        _ => None,
    };
    let (mut duration, mut concurrency, mut smoke) = (None, None, false);
    let (mut output, mut port, mut emulator) = (None, 0, None);
    let (mut redis, mut capacity) = (None, None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--smoke" => smoke = true,
            "--duration" => {
                let v = value()?;
                let secs: f64 = v
                    .trim_end_matches('s')
                    .parse()
                    .map_err(|_| format!("invalid duration {v:?}"))?;
                duration = Some(
                    Duration::try_from_secs_f64(secs)
                        .map_err(|_| format!("invalid duration {v:?}"))?,
                );
            }
            "--concurrency" => {
                let v = value()?;
                concurrency = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or(format!("invalid concurrency {v:?}"))?,
                );
            }
            "--output" => output = Some(PathBuf::from(value()?)),
            "--port" => {
                let v = value()?;
                port = v.parse().map_err(|_| format!("invalid port {v:?}"))?;
            }
            "--emulator" => emulator = Some(value()?),
            "--redis" => redis = Some(value()?),
            "--capacity" => {
                let v = value()?;
                capacity = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or(format!("invalid capacity {v:?}"))?,
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(match (subcommand.as_deref(), mode) {
        (Some("serve"), Some(mode)) => Command::Serve {
            mode,
            port,
            emulator,
            redis,
        },
        (Some("store-memory"), _) => Command::StoreMemory {
            capacity: capacity.ok_or("store-memory needs --capacity N")?,
        },
        (Some("emulator"), _) => Command::Emulator { port },
        (Some("altcha-load"), _) => Command::AltchaLoad {
            settings: Settings::full(
                duration.unwrap_or(Duration::from_secs(10)),
                concurrency.unwrap_or(64),
            ),
        },
        (Some(other), _) => return Err(format!("unknown subcommand {other:?}")),
        (None, _) => {
            let settings = if smoke {
                Settings::smoke(duration, concurrency)
            } else {
                Settings::full(
                    duration.unwrap_or(Duration::from_secs(10)),
                    concurrency.unwrap_or(64),
                )
            };
            let output = output.or_else(|| {
                (!smoke).then(|| {
                    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../BENCHMARKS.md"))
                })
            });
            Command::Bench { settings, output }
        }
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Serve {
            mode,
            port,
            emulator,
            redis,
        } => servers::serve(mode, port, emulator.as_deref(), redis.as_deref()).await,
        Command::StoreMemory { capacity } => altcha::store_memory(capacity).await,
        Command::Emulator { port } => servers::emulator(port).await,
        Command::AltchaLoad { settings } => suite::print_altcha_load(settings).await,
        Command::Bench { settings, output } => return bench(settings, output).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(settings: Settings, output: Option<PathBuf>) -> ExitCode {
    // Generous, but finite: a stuck child fails the run instead of hanging it (the children
    // die with their handles).
    let budget = if settings.smoke {
        Duration::from_secs(120)
    } else {
        // The two load tables (eight servers), plus a minute or two for the pools of solved
        // ALTCHA payloads and the verification rates.
        (settings.load.duration + settings.load.warmup) * 16 + Duration::from_secs(300)
    };
    let results = match tokio::time::timeout(budget, suite::run(settings)).await {
        Ok(Ok(results)) => results,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        Err(_) => {
            eprintln!("error: the benchmark did not finish in {budget:?}");
            return ExitCode::FAILURE;
        }
    };
    let markdown = report::markdown(&results);
    println!("{markdown}");
    print!("{}", report::scenario_lines(&results));
    if let Some(path) = output {
        // The analysis below the figures is written by people; a new run keeps it.
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        let markdown = report::with_analysis(&markdown, &kept);
        if let Err(e) = std::fs::write(&path, &markdown) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", path.display());
    }
    let failed = report::scenarios(&results)
        .iter()
        .any(|(_, outcome)| outcome.requests == 0 || outcome.errors > 0);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn parses_arguments() {
        let Ok(Command::Bench { settings, output }) =
            parse(&["--duration", "2.5", "--concurrency", "8"])
        else {
            panic!("a bench run");
        };
        assert_eq!(settings.load.duration, Duration::from_millis(2500));
        assert_eq!(settings.load.concurrency, 8);
        assert!(output.is_some(), "a full run writes the report");
        let Ok(Command::Bench { settings, output }) = parse(&["--smoke"]) else {
            panic!("a smoke run");
        };
        assert!(settings.smoke && output.is_none());
        assert!(matches!(
            parse(&["serve", "layer-emulator", "--port", "7", "--emulator", "http://x"]),
            Ok(Command::Serve { mode: Mode::LayerEmulator, port: 7, emulator: Some(url), redis: None }) if url == "http://x"
        ));
        assert!(matches!(
            parse(&["serve", "altcha-redis", "--redis", "redis://r/"]),
            Ok(Command::Serve { mode: Mode::AltchaRedis, redis: Some(url), .. }) if url == "redis://r/"
        ));
        assert!(matches!(
            parse(&["store-memory", "--capacity", "10"]),
            Ok(Command::StoreMemory { capacity: 10 })
        ));
        assert!(parse(&["store-memory"]).is_err());
        assert!(matches!(
            parse(&["altcha-load", "--duration", "3"]),
            Ok(Command::AltchaLoad { settings }) if settings.load.duration == Duration::from_secs(3)
        ));
        assert!(matches!(
            parse(&["emulator"]),
            Ok(Command::Emulator { port: 0 })
        ));
        assert!(parse(&["serve", "nope"]).is_err());
        assert!(parse(&["--duration", "x"]).is_err());
        assert!(parse(&["--concurrency", "0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
