//! The requests the load generator sends.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::Full;

use crate::{
    load::MakeRequest,
    servers::{ALTCHA_FIELD, FIELD, PATH},
};

/// Any token passes with the test secret; this one has the shape of a real reCAPTCHA token.
pub(crate) const TOKEN: &str = "03AFcWeA6-captcha-bench-0123456789abcdefghijklmnopqrstuvwxyz";
const BOUNDARY: &str = "captcha-bench-b0undary";

fn post(path: &str) -> http::request::Builder {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, "localhost")
}

fn with_body(builder: http::request::Builder, body: Bytes) -> Request<Full<Bytes>> {
    builder
        .header(header::CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .expect("a valid request")
}

/// The token in a header, no body.
pub(crate) fn header_token() -> MakeRequest {
    header_token_of(TOKEN)
}

pub(crate) fn header_token_of(token: &str) -> MakeRequest {
    let token = token.to_owned();
    Arc::new(move || with_body(post(PATH).header(FIELD, &token), Bytes::new()))
}

/// Each request the next of `payloads` in the `altcha` header: each passes once. A pool
/// that runs dry sends an empty token, which an ALTCHA server refuses, so the run counts
/// errors instead of measuring replays.
pub(crate) fn altcha_pool(payloads: Vec<String>) -> MakeRequest {
    let payloads: Vec<Bytes> = payloads.into_iter().map(Bytes::from).collect();
    let next = AtomicUsize::new(0);
    let warned = AtomicBool::new(false);
    Arc::new(move || {
        let payload = match payloads.get(next.fetch_add(1, Ordering::Relaxed)) {
            Some(payload) => payload.clone(),
            None => {
                if !warned.swap(true, Ordering::Relaxed) {
                    eprintln!("warning: a pool of ALTCHA payloads ran dry");
                }
                Bytes::new()
            }
        };
        let value =
            http::HeaderValue::from_maybe_shared(payload).expect("base64 is a header value");
        with_body(post(PATH).header(ALTCHA_FIELD, value), Bytes::new())
    })
}

/// An urlencoded form of exactly `size` bytes, the token first and a message filling the rest.
pub(crate) fn form_token(size: usize) -> MakeRequest {
    let mut body = format!("{FIELD}={TOKEN}&email=ada%40example.com&message=").into_bytes();
    body.resize(size, b'x');
    let body = Bytes::from(body);
    Arc::new(move || {
        let builder = post(PATH).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        with_body(builder, body.clone())
    })
}

/// A multipart upload: the token field, then a file of `size` bytes.
pub(crate) fn upload(size: usize) -> MakeRequest {
    let mut body = format!(
        "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{FIELD}\"\r\n\r\n{TOKEN}\r\n\
         --{BOUNDARY}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"upload.bin\"\r\n\
         content-type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.resize(body.len() + size, b'x');
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let body = Bytes::from(body);
    Arc::new(move || {
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        with_body(
            post(PATH).header(header::CONTENT_TYPE, content_type),
            body.clone(),
        )
    })
}

/// `POST /tokens` to the emulator: a reCAPTCHA token whose verification answers `delay_ms`
/// late.
pub(crate) fn mint_delayed(delay_ms: u64) -> Request<Full<Bytes>> {
    let spec = serde_json::json!({
        "provider": "recaptcha",
        "fault": { "kind": "delay", "ms": delay_ms },
    });
    let builder = post("/tokens").header(header::CONTENT_TYPE, "application/json");
    with_body(builder, Bytes::from(spec.to_string()))
}
