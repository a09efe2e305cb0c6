//! The signup demo: `cargo run --example signup`, then open the printed URL.
//!
//! With no configuration it verifies against the built-in emulator (no account, no network);
//! `DEMO_EMULATE` picks the emulated provider (`altcha`: the self-hosted one, no emulator).
//! For a real provider set `CAPTCHA_PROVIDER`, `CAPTCHA_SECRET` and `CAPTCHA_SITEKEY` (and
//! optionally `CAPTCHA_VERIFY_URL`, `CAPTCHA_HOSTNAMES`, …). `PORT` picks the port (3000; 0
//! for any free one). A setting it cannot use stops it at start with `error: <what is wrong>`
//! and exit status 1.

use std::process::ExitCode;

use signup_demo::{Demo, Error, Timeouts, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_captcha=debug,siteverify=debug")),
        )
        .init();
    // Returning the error from main would print its Debug form, which names Rust types
    // rather than the setting at fault.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let demo = Demo::from_env().await?;
    let port: u16 = match std::env::var("PORT") {
        Ok(port) if !port.trim().is_empty() => port
            .trim()
            .parse()
            .map_err(|_| "PORT is invalid: not a port number")?,
        _ => 3000,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let url = format!("http://{}/", listener.local_addr()?);
    println!("signup demo ({}) listening on {url}", demo.widget.provider);
    tracing::info!(%url, "open the signup form in a browser");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, demo.router, Timeouts::default(), shutdown).await?;
    Ok(())
}
