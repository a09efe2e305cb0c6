//! A JSON API that takes the token from a header: `cargo run --example json_api`.
//!
//! Mobile apps and single-page apps often send the token in a header rather than in the body.
//! The layer reads headers first and never touches the JSON body, which the handler gets as
//! sent. Runs against the built-in emulator and exits after two requests.

use axum::{Json, Router, routing::post};
use serde_json::{Value, json};
use siteverify::{Provider, Verifier, VerifierConfig};
use siteverify_emulator::{Emulator, Provider as Emulated, TokenSpec};
use tower_captcha::{CaptchaLayer, TokenSources, Verdict, Verified};

async fn create_comment(
    Verified(verdict): Verified<Verdict>,
    Json(comment): Json<Value>,
) -> Json<Value> {
    Json(json!({ "stored": comment, "solved_on": verdict.hostname }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let emulator = Emulator::start().await?;
    let verifier = Verifier::new(
        Provider::Turnstile,
        VerifierConfig::new(Emulated::Turnstile.default_secret())
            .verify_url(emulator.verify_url(Emulated::Turnstile)),
    )?;
    let guard = CaptchaLayer::new(verifier).sources(TokenSources::new().header("x-captcha-token")?);
    let app = Router::new().route("/api/comments", post(create_comment).layer(guard));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/api/comments", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    let token = emulator.mint(TokenSpec::new(Emulated::Turnstile))?;
    let ok = client
        .post(&url)
        .header("x-captcha-token", token)
        .json(&json!({ "text": "first!" }))
        .send()
        .await?;
    println!("with a token:    {} {}", ok.status(), ok.text().await?);
    let refused = client
        .post(&url)
        .json(&json!({ "text": "spam" }))
        .send()
        .await?;
    println!(
        "without a token: {} {}",
        refused.status(),
        refused.text().await?
    );
    Ok(())
}
