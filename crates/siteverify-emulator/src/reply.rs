//! A provider's answer before it is put on the wire (where a fault may still mangle it).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Status and body of one answer; `body: None` is an empty body (ByeBot's failure signal).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Option<Value>,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            body: Some(body),
        }
    }

    pub(crate) fn ok(body: Value) -> Self {
        Reply::json(StatusCode::OK, body)
    }

    pub(crate) fn empty(status: StatusCode) -> Self {
        Reply { status, body: None }
    }

    /// The exact bytes this reply sends; deterministic, which the Turnstile idempotency replay
    /// relies on to answer byte-identically.
    pub(crate) fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            Some(value) => value.to_string().into_bytes(),
            None => Vec::new(),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let is_json = self.body.is_some();
        let mut response = (self.status, self.body_bytes()).into_response();
        let headers = response.headers_mut();
        if is_json {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        } else {
            headers.remove(header::CONTENT_TYPE);
        }
        response
    }
}
