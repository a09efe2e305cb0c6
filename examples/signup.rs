//! The signup demo: `cargo run --example signup`, then open the printed URL.
//!
//! With no configuration it verifies against the built-in emulator (no account, no network).
//! For a real provider set `CAPTCHA_PROVIDER`, `CAPTCHA_SECRET` and `CAPTCHA_SITEKEY` (and
//! optionally `CAPTCHA_VERIFY_URL`, `CAPTCHA_HOSTNAMES`, …). `PORT` picks the port (3000).

use signup_demo::{Demo, Error};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_captcha=debug,siteverify=debug")),
        )
        .init();
    let demo = Demo::from_env().await?;
    let port: u16 = match std::env::var("PORT") {
        Ok(port) if !port.is_empty() => port.parse().map_err(|_| "PORT must be a port number")?,
        _ => 3000,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let url = format!("http://{}/", listener.local_addr()?);
    println!("signup demo ({}) listening on {url}", demo.widget.provider);
    tracing::info!(%url, "open the signup form in a browser");
    axum::serve(listener, demo.router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
