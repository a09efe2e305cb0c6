//! Provider misbehaviour on demand: what a fault is, and how it mangles an answer on the wire.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::reply::Reply;
use crate::spec::MintError;

/// A misbehaviour attached to one minted token.
///
/// In JSON the kind is flattened into the fault: `{"kind":"delay","ms":300,"times":1}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// What goes wrong.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// The fault hits the first `times` verify calls naming the token; `None` = every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl Fault {
    /// A fault that hits every verify call of the token.
    pub fn always(kind: FaultKind) -> Self {
        Fault { kind, times: None }
    }

    /// A fault that hits only the first verify call of the token (a transient outage).
    pub fn once(kind: FaultKind) -> Self {
        Fault::first(1, kind)
    }

    /// A fault that hits the first `times` verify calls of the token.
    pub fn first(times: u32, kind: FaultKind) -> Self {
        Fault {
            kind,
            times: Some(times),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), MintError> {
        if let FaultKind::Status { code } = self.kind
            && !(200..=599).contains(&code)
        {
            return Err(MintError::invalid(format!(
                "fault status {code} is not a final HTTP status (200..=599)"
            )));
        }
        Ok(())
    }
}

impl From<FaultKind> for Fault {
    fn from(kind: FaultKind) -> Self {
        Fault::always(kind)
    }
}

/// The ways the emulated provider can misbehave.
///
/// "Process" means the verification runs normally first: the token is consumed and, for
/// Turnstile, the answer is stored under its idempotency key. Only `Status { code: 429 }`,
/// `InternalError` and `ErrorCodes` leave the token untouched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Process, wait `ms` milliseconds (without blocking other requests), then answer normally.
    Delay {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// Answer `code` with a short `text/plain` body. 429 answers WITHOUT processing (a rate
    /// limiter rejects before the provider looks at the token); any other code processes first
    /// (the answer is lost after the provider consumed the token).
    Status {
        /// The HTTP status, 200..=599.
        code: u16,
    },
    /// Do not process; answer the provider's internal-error shape: hCaptcha, reCAPTCHA and
    /// Turnstile HTTP 200 `{"success":false,"error-codes":["internal-error"]}`, Procaptcha
    /// HTTP 500 JSON error, ByeBot HTTP 500 with an empty body.
    InternalError,
    /// Do not process; answer the provider's failure shape carrying exactly these codes
    /// (Procaptcha: `status` is the codes joined with `,`; ByeBot has no codes: 400, empty body).
    ErrorCodes {
        /// The error codes to report.
        codes: Vec<String>,
    },
    /// Process, then answer 200 `application/json` with the answer truncated mid-way.
    MalformedJson,
    /// Process, then close the TCP connection without sending a single byte.
    DropConnection,
    /// Process, then send the normal answer with an extra `"padding"` string member that
    /// makes the body larger than 100 KiB. The JSON stays valid.
    Oversized,
    /// Process, then send status and headers at once and the body one byte every
    /// `interval_ms` milliseconds.
    Trickle {
        /// Milliseconds between two body bytes.
        interval_ms: u64,
    },
}

impl FaultKind {
    /// Whether the provider processes (and so consumes) the token before misbehaving.
    pub fn consumes_token(&self) -> bool {
        !matches!(
            self,
            FaultKind::Status { code: 429 }
                | FaultKind::InternalError
                | FaultKind::ErrorCodes { .. }
        )
    }
}

/// Size of the padding of [`FaultKind::Oversized`]: comfortably above the 100 KiB mark.
const PADDING_LEN: usize = 110 * 1024;

/// The answer of a fault that skips processing (`429`); the provider-shaped ones
/// (`InternalError`, `ErrorCodes`) are built by each provider.
pub(crate) fn too_many_requests() -> Response {
    let mut response = (StatusCode::TOO_MANY_REQUESTS, "429 Too Many Requests\n").into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Puts a processed reply on the wire, mangled by the fault if there is one.
pub(crate) async fn deliver(reply: Reply, fault: Option<FaultKind>) -> Response {
    let Some(kind) = fault else {
        return reply.into_response();
    };
    match kind {
        FaultKind::Delay { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            reply.into_response()
        }
        FaultKind::Status { code } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let text = format!(
                "{} {}\n",
                status.as_str(),
                status.canonical_reason().unwrap_or("Upstream Error")
            );
            (status, text).into_response()
        }
        FaultKind::MalformedJson => {
            let full = match reply.body {
                Some(_) => reply.body_bytes(),
                None => br#"{"success":true}"#.to_vec(),
            };
            // Cutting a serialized object anywhere before its last byte leaves it unclosed,
            // so the result can never parse.
            let truncated = full[..full.len() / 2].to_vec();
            json_response(StatusCode::OK, truncated)
        }
        FaultKind::DropConnection => {
            // Unwinding out of the handler ends the connection task and drops the socket
            // before hyper wrote anything. `resume_unwind` skips the panic hook, so nothing is
            // printed, and tokio contains the unwind in the connection task.
            std::panic::resume_unwind(Box::new("siteverify-emulator: DropConnection fault"))
        }
        FaultKind::Oversized => {
            let padding = Value::String("x".repeat(PADDING_LEN));
            let body = match reply.body {
                Some(Value::Object(mut members)) => {
                    members.insert("padding".to_owned(), padding);
                    Value::Object(members)
                }
                _ => serde_json::json!({ "padding": padding }),
            };
            Reply::json(reply.status, body).into_response()
        }
        FaultKind::Trickle { interval_ms } => trickle(reply, Duration::from_millis(interval_ms)),
        // Handled before processing; reaching here would mean the caller skipped that step,
        // so answer normally rather than misbehave twice.
        FaultKind::InternalError | FaultKind::ErrorCodes { .. } => reply.into_response(),
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn trickle(reply: Reply, interval: Duration) -> Response {
    let is_json = reply.body.is_some();
    let bytes = reply.body_bytes();
    let len = bytes.len();
    let stream = futures_util::stream::unfold((bytes, 0usize), move |(bytes, next)| async move {
        let byte = *bytes.get(next)?;
        // Sleeping before every byte lets hyper flush status and headers on their own first.
        tokio::time::sleep(interval).await;
        Some((
            Ok::<_, std::io::Error>(Bytes::copy_from_slice(&[byte])),
            (bytes, next + 1),
        ))
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if is_json {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    response
}
