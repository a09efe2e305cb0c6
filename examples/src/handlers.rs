//! The guarded routes: by the time a handler runs, the layer has verified the token.

use axum::{
    Form, Json,
    extract::Multipart,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower_captcha::{Verdict, Verified};

use crate::pages;

#[derive(Deserialize)]
pub(crate) struct SignupForm {
    email: String,
}

/// `POST /signup`: the HTML form.
pub(crate) async fn signup(
    Verified(_): Verified<Verdict>,
    Form(form): Form<SignupForm>,
) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_SECURITY_POLICY,
            pages::plain_content_security_policy(),
        )],
        Html(pages::welcome_page(&form.email)),
    )
}

/// `POST /api/signup`: JSON in, JSON out, the email echoed as received.
pub(crate) async fn api_signup(
    Verified(verdict): Verified<Verdict>,
    Json(body): Json<Value>,
) -> Json<Value> {
    Json(
        json!({ "ok": true, "email": body.get("email").cloned().unwrap_or(Value::Null), "verdict": verdict }),
    )
}

/// `POST /checkout`: the same shape, behind a stricter guard.
pub(crate) async fn checkout(verdict: Verified<Verdict>, body: Json<Value>) -> Json<Value> {
    api_signup(verdict, body).await
}

/// `POST /avatar`: the file is hashed as it streams in, never held whole.
pub(crate) async fn avatar(Verified(_): Verified<Verdict>, mut multipart: Multipart) -> Response {
    let mut hasher = Sha256::new();
    let mut bytes: u64 = 0;
    let mut seen_file = false;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return (e.status(), e.body_text()).into_response(),
        };
        if field.name() != Some("file") {
            continue;
        }
        seen_file = true;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    bytes += chunk.len() as u64;
                    hasher.update(&chunk);
                }
                Ok(None) => break,
                Err(e) => return (e.status(), e.body_text()).into_response(),
            }
        }
    }
    if !seen_file {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "ok": false, "error": "no file part" })),
        )
            .into_response();
    }
    let digest = hasher.finalize();
    let sha256: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Json(json!({ "ok": true, "bytes": bytes, "sha256": sha256 })).into_response()
}
