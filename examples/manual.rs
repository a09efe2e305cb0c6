//! Manual verification with `siteverify` alone, in a handler: `cargo run --example manual`.
//!
//! For when a middleware does not fit: the token arrives in a field of your own, or you want
//! to decide per request what a failure means. Runs against the built-in emulator and exits.

use std::sync::Arc;

use axum::{Form, Router, extract::State, http::StatusCode, routing::post};
use serde::Deserialize;
use siteverify::{ErrorClass, Policy, Verifier, VerifierConfig, VerifyOptions};
use siteverify_emulator::{Emulator, Provider as Emulated, TokenSpec};

#[derive(Deserialize)]
struct Contact {
    message: String,
    captcha: String,
}

async fn contact(
    State(verifier): State<Arc<Verifier>>,
    Form(form): Form<Contact>,
) -> (StatusCode, String) {
    match verifier.verify(&form.captcha, &VerifyOptions::new()).await {
        Ok(verdict) => (
            StatusCode::OK,
            format!(
                "message of {} bytes accepted (score {:?})",
                form.message.len(),
                verdict.human_score
            ),
        ),
        // Whose fault it is decides what to say.
        Err(e) => match e.class() {
            ErrorClass::User => (
                StatusCode::FORBIDDEN,
                format!("please solve the CAPTCHA again ({})", e.code()),
            ),
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                "try again in a minute".to_owned(),
            ),
        },
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let emulator = Emulator::start().await?;
    let verifier = Verifier::recaptcha(
        VerifierConfig::new(Emulated::Recaptcha.default_secret())
            .verify_url(emulator.verify_url(Emulated::Recaptcha))
            .policy(Policy::new().action("contact").min_score(0.5)?),
    )?;
    let app = Router::new()
        .route("/contact", post(contact))
        .with_state(Arc::new(verifier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/contact", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    for score in [0.9, 0.1] {
        let token = emulator.mint(
            TokenSpec::new(Emulated::Recaptcha)
                .action("contact")
                .score(score),
        )?;
        let response = client
            .post(&url)
            .form(&[("message", "hello"), ("captcha", token.as_str())])
            .send()
            .await?;
        println!(
            "score {score}: {} {}",
            response.status(),
            response.text().await?
        );
    }
    Ok(())
}
