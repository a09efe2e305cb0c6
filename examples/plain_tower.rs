//! The layer on a plain `tower` service served by `hyper`, no axum: `cargo run --example plain_tower`.
//!
//! `CaptchaLayer` is an ordinary `tower::Layer`: it wraps any `Service<http::Request<B>>`. The
//! inner service receives a `CaptchaBody` (the original bytes, replayed) and reads the verdict
//! from the request extensions. Runs against the built-in emulator and exits.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use siteverify::{Provider, Verdict, Verifier, VerifierConfig};
use siteverify_emulator::{Emulator, Provider as Emulated, TokenSpec};
use tower::{ServiceBuilder, service_fn};
use tower_captcha::{CaptchaBody, CaptchaLayer};

async fn hello(
    request: Request<CaptchaBody<hyper::body::Incoming>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let provider = request
        .extensions()
        .get::<Verdict>()
        .map(|v| v.provider.to_string());
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = format!("verified by {provider:?}; body was {} bytes", body.len());
    Ok(Response::new(Full::new(Bytes::from(text))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let emulator = Emulator::start().await?;
    let verifier = Verifier::new(
        Provider::HCaptcha,
        VerifierConfig::new(Emulated::HCaptcha.default_secret())
            .verify_url(emulator.verify_url(Emulated::HCaptcha)),
    )?;
    let service = ServiceBuilder::new()
        .layer(CaptchaLayer::new(verifier))
        .service(service_fn(hello));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let client = reqwest::Client::new();
    let token = emulator.mint(TokenSpec::new(Emulated::HCaptcha))?;
    let ok = client
        .post(&url)
        .form(&[("h-captcha-response", token.as_str()), ("note", "hi")])
        .send()
        .await?;
    println!("with a token:    {} {}", ok.status(), ok.text().await?);
    let refused = client.post(&url).form(&[("note", "hi")]).send().await?;
    println!(
        "without a token: {} {}",
        refused.status(),
        refused.text().await?
    );
    Ok(())
}
