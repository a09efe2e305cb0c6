//! `siteverify-emulator`: runs the CAPTCHA verify-endpoint emulator until Ctrl-C or SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use siteverify_emulator::{DEFAULT_RECORD_LIMIT, Emulator, Provider};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
siteverify-emulator: a local emulator of the hCaptcha, reCAPTCHA, Turnstile, Procaptcha,
ByeBot, Friendly Captcha and reCAPTCHA Enterprise verify endpoints, for tests and CI.

USAGE:
    siteverify-emulator [OPTIONS]

OPTIONS:
    --host ADDR          address to listen on (default 127.0.0.1)
    --port N             port to listen on (default 8787; 0 picks a free one)
    --site P:KEY:SECRET  register a site of provider P at start (repeatable)
    --record-limit N     remember at most the last N verify calls (default 10000)
    -h, --help           print this help
    -V, --version        print the version

ENVIRONMENT (a flag wins over its variable):
    SITEVERIFY_EMULATOR_HOST          as --host
    SITEVERIFY_EMULATOR_PORT          as --port
    SITEVERIFY_EMULATOR_SITES         comma-separated P:KEY:SECRET, as --site (ignored
                                      when any --site is given)
    SITEVERIFY_EMULATOR_RECORD_LIMIT  as --record-limit
    RUST_LOG                          log filter (default: info)

Providers P: hcaptcha, recaptcha, turnstile, procaptcha, byebot, friendlycaptcha,
recaptcha-enterprise. GET / lists the endpoints; GET /health answers ok once listening.
Ctrl-C or SIGTERM stops the server at once (exit status 0).";

/// What to run, from the flags and the environment.
#[derive(Debug, PartialEq)]
struct Config {
    addr: SocketAddr,
    sites: Vec<(Provider, String, String)>,
    record_limit: usize,
}

#[derive(Debug, PartialEq)]
enum Command {
    Run(Config),
    Help,
    Version,
}

fn parse_host(value: &str) -> Result<IpAddr, String> {
    value
        .parse()
        .map_err(|_| format!("invalid host address {value:?}"))
}

fn parse_port(value: &str) -> Result<u16, String> {
    value.parse().map_err(|_| format!("invalid port {value:?}"))
}

fn parse_limit(value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("invalid record limit {value:?}"))
}

/// `provider:site_key:secret`; the secret may itself hold colons.
fn parse_site(value: &str) -> Result<(Provider, String, String), String> {
    let mut parts = value.splitn(3, ':');
    let (Some(provider), Some(site_key), Some(secret)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "invalid site {value:?}: expected provider:site_key:secret"
        ));
    };
    let provider: Provider = provider
        .trim()
        .parse()
        .map_err(|e| format!("invalid site {value:?}: {e}"))?;
    let (site_key, secret) = (site_key.trim(), secret.trim());
    if site_key.is_empty() || secret.is_empty() {
        return Err(format!(
            "invalid site {value:?}: site key and secret must not be empty"
        ));
    }
    Ok((provider, site_key.to_owned(), secret.to_owned()))
}

fn parse_sites(value: &str) -> Result<Vec<(Provider, String, String)>, String> {
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(parse_site)
        .collect()
}

/// Flags first, then the environment (`env` looks a variable up), then the defaults.
fn parse_args(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let (mut host, mut port, mut limit) = (None, None, None);
    let mut sites: Option<Vec<_>> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--port 1` and `--port=1`.
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--port" | "--host" | "--site" | "--record-limit" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))?;
                match name.as_str() {
                    "--port" => port = Some(parse_port(&value)?),
                    "--host" => host = Some(parse_host(&value)?),
                    "--site" => sites.get_or_insert_with(Vec::new).push(parse_site(&value)?),
                    _ => limit = Some(parse_limit(&value)?),
                }
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let from_env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let host = match host {
        Some(host) => host,
        None => from_env("SITEVERIFY_EMULATOR_HOST")
            .map(|v| parse_host(v.trim()))
            .transpose()
            .map_err(|e| format!("SITEVERIFY_EMULATOR_HOST: {e}"))?
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    };
    let port = match port {
        Some(port) => port,
        None => from_env("SITEVERIFY_EMULATOR_PORT")
            .map(|v| parse_port(v.trim()))
            .transpose()
            .map_err(|e| format!("SITEVERIFY_EMULATOR_PORT: {e}"))?
            .unwrap_or(8787),
    };
    let record_limit = match limit {
        Some(limit) => limit,
        None => from_env("SITEVERIFY_EMULATOR_RECORD_LIMIT")
            .map(|v| parse_limit(v.trim()))
            .transpose()
            .map_err(|e| format!("SITEVERIFY_EMULATOR_RECORD_LIMIT: {e}"))?
            .unwrap_or(DEFAULT_RECORD_LIMIT),
    };
    let sites = match sites {
        Some(sites) => sites,
        None => from_env("SITEVERIFY_EMULATOR_SITES")
            .map(|v| parse_sites(&v))
            .transpose()
            .map_err(|e| format!("SITEVERIFY_EMULATOR_SITES: {e}"))?
            .unwrap_or_default(),
    };
    Ok(Command::Run(Config {
        addr: SocketAddr::new(host, port),
        sites,
        record_limit,
    }))
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM: what `docker stop` and CI runners send.
async fn stop_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("siteverify-emulator {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let mut builder = Emulator::builder().record_limit(config.record_limit);
    for (provider, site_key, secret) in &config.sites {
        builder = builder.site(*provider, site_key.as_str(), secret.as_str());
    }
    let addr = config.addr;
    let emulator = match builder.bind(addr).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The first line is the contract for scripts that start it on port 0.
    println!("siteverify-emulator listening on {}", emulator.base_url());
    for provider in Provider::ALL {
        println!(
            "  {:<20}  {}  site key {}  secret {}",
            provider.as_str(),
            emulator.verify_url(provider),
            provider.default_site_key(),
            provider.default_secret()
        );
    }
    for (provider, site_key, _) in &config.sites {
        println!("  site registered: {} {site_key}", provider.as_str());
    }
    println!("  mint tokens: POST {}/tokens", emulator.base_url());
    println!("  every endpoint: GET {}/", emulator.base_url());
    tracing::info!(addr = %emulator.addr(), record_limit = config.record_limit, "ready");

    stop_signal().await;
    tracing::info!("shutting down");
    // At once: in-flight answers get a moment, but a slow or trickling one (a fault a test
    // asked for) must not hold up a container's stop.
    if tokio::time::timeout(Duration::from_millis(500), emulator.shutdown())
        .await
        .is_err()
    {
        tracing::info!("in-flight answers cut short");
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_env(args: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse_args(args.iter().map(|a| (*a).to_owned()), move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_env(args, &[])
    }

    fn run(addr: &str, sites: Vec<(Provider, String, String)>, record_limit: usize) -> Command {
        Command::Run(Config {
            addr: addr.parse().unwrap(),
            sites,
            record_limit,
        })
    }

    fn site(p: Provider, k: &str, s: &str) -> (Provider, String, String) {
        (p, k.to_owned(), s.to_owned())
    }

    #[test]
    fn parses_arguments() {
        assert_eq!(
            parse(&[]),
            Ok(run("127.0.0.1:8787", vec![], DEFAULT_RECORD_LIMIT))
        );
        assert_eq!(
            parse(&["--port", "9000", "--host=0.0.0.0", "--record-limit=5"]),
            Ok(run("0.0.0.0:9000", vec![], 5))
        );
        assert_eq!(parse(&["--port=1", "--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-V"]), Ok(Command::Version));
        assert_eq!(parse(&["--version"]), Ok(Command::Version));
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "x"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
        assert!(parse(&["--record-limit", "-1"]).is_err());
    }

    #[test]
    fn parses_sites() {
        assert_eq!(
            parse(&[
                "--site",
                "hcaptcha:k:s:with:colons",
                "--site=turnstile:k2:s2"
            ]),
            Ok(run(
                "127.0.0.1:8787",
                vec![
                    site(Provider::HCaptcha, "k", "s:with:colons"),
                    site(Provider::Turnstile, "k2", "s2")
                ],
                DEFAULT_RECORD_LIMIT
            ))
        );
        assert!(parse(&["--site", "hcaptcha:k"]).is_err());
        assert!(parse(&["--site", "nope:k:s"]).is_err());
        assert!(parse(&["--site", "hcaptcha::s"]).is_err());
    }

    #[test]
    fn flags_win_over_the_environment() {
        let env = [
            ("SITEVERIFY_EMULATOR_HOST", "0.0.0.0"),
            ("SITEVERIFY_EMULATOR_PORT", "9100"),
            ("SITEVERIFY_EMULATOR_RECORD_LIMIT", "7"),
            (
                "SITEVERIFY_EMULATOR_SITES",
                "recaptcha:rk:rs, friendlycaptcha:fk:fs,",
            ),
        ];
        assert_eq!(
            parse_env(&[], &env),
            Ok(run(
                "0.0.0.0:9100",
                vec![
                    site(Provider::Recaptcha, "rk", "rs"),
                    site(Provider::FriendlyCaptcha, "fk", "fs")
                ],
                7
            ))
        );
        assert_eq!(
            parse_env(
                &[
                    "--port",
                    "1",
                    "--host",
                    "::1",
                    "--record-limit",
                    "2",
                    "--site",
                    "byebot:b:c"
                ],
                &env
            ),
            Ok(run("[::1]:1", vec![site(Provider::ByeBot, "b", "c")], 2))
        );
        let err = parse_env(&[], &[("SITEVERIFY_EMULATOR_PORT", "high")]).unwrap_err();
        assert!(err.contains("SITEVERIFY_EMULATOR_PORT"), "{err}");
        // An empty variable is as good as unset.
        assert_eq!(
            parse_env(&[], &[("SITEVERIFY_EMULATOR_PORT", "")]),
            Ok(run("127.0.0.1:8787", vec![], DEFAULT_RECORD_LIMIT))
        );
    }
}
