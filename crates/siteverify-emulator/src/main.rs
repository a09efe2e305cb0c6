//! `siteverify-emulator`: runs the CAPTCHA verify-endpoint emulator until Ctrl-C.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use siteverify_emulator::{Emulator, Provider};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
siteverify-emulator: a local emulator of the hCaptcha, reCAPTCHA, Turnstile, Procaptcha,
ByeBot, Friendly Captcha and reCAPTCHA Enterprise verify endpoints, for tests and demos.

USAGE:
    siteverify-emulator [--port N] [--host ADDR]

OPTIONS:
    --port N       port to listen on (default 8787; 0 picks a free one)
    --host ADDR    address to listen on (default 127.0.0.1)
    -h, --help     print this help

Logging follows RUST_LOG (default: info). Ctrl-C stops the server.";

#[derive(Debug, PartialEq)]
enum Command {
    Run(SocketAddr),
    Help,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut port: u16 = 8787;
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
            "--port" | "--host" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))?;
                if name == "--port" {
                    port = value
                        .parse()
                        .map_err(|_| format!("invalid port {value:?}"))?;
                } else {
                    host = value
                        .parse()
                        .map_err(|_| format!("invalid host address {value:?}"))?;
                }
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Run(SocketAddr::new(host, port)))
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(addr)) => addr,
        Ok(Command::Help) => {
            println!("{USAGE}");
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
        .init();

    let emulator = match Emulator::bind(addr).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("siteverify-emulator listening on {}", emulator.base_url());
    for provider in Provider::ALL {
        println!(
            "  {:<10}  {}  site key {}  secret {}",
            provider.as_str(),
            emulator.verify_url(provider),
            provider.default_site_key(),
            provider.default_secret()
        );
    }
    println!("  mint tokens: POST {}/tokens", emulator.base_url());
    tracing::info!(addr = %emulator.addr(), "ready");

    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!("cannot listen for Ctrl-C: {e}");
    }
    tracing::info!("shutting down");
    emulator.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn parses_arguments() {
        assert_eq!(
            parse(&[]),
            Ok(Command::Run("127.0.0.1:8787".parse().unwrap()))
        );
        assert_eq!(
            parse(&["--port", "9000", "--host=0.0.0.0"]),
            Ok(Command::Run("0.0.0.0:9000".parse().unwrap()))
        );
        assert_eq!(parse(&["--port=1", "--help"]), Ok(Command::Help));
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "x"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
    }
}
