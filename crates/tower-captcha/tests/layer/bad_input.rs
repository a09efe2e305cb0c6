//! Bad requests get a clear code and a stable status, never a panic, a hang or a bare 500.

use std::time::Duration;

use axum::{Router, routing::post};
use futures_util::stream;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::*;

const FIELD: &str = "cf-turnstile-response";

async fn app(emulator: &Emulator) -> String {
    serve(Router::new().route("/", post(echo).layer(turnstile(emulator).body_limit(1024)))).await
}

async fn send(
    url: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let mut request = client().post(url).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    outcome(request.send().await.unwrap()).await
}

#[tokio::test]
async fn bodies_the_layer_cannot_use() {
    let emulator = emulator().await;
    let url = app(&emulator).await;
    let token = turnstile_token(&emulator);
    let json = Some("application/json");
    let form = Some("application/x-www-form-urlencoded");
    /// What the request is, its content type, its body, and the expected status and reason.
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, (u16, &'a str));
    let cases: Vec<Case<'_>> = vec![
        ("no content type", None, format!("{FIELD}={token}").into_bytes(), (400, "missing_token")),
        ("a wrong content type", Some("text/plain"), format!("{FIELD}={token}").into_bytes(), (400, "missing_token")),
        ("malformed JSON", json, b"{\"cf-turnstile-response\": ".to_vec(), (400, "malformed_body")),
        ("a JSON array", json, format!(r#"["{token}"]"#).into_bytes(), (400, "malformed_body")),
        ("a JSON scalar", json, b"\"just a string\"".to_vec(), (400, "malformed_body")),
        ("the token as a JSON number", json, format!(r#"{{"{FIELD}": 12345}}"#).into_bytes(), (400, "malformed_token")),
        ("the token as a JSON object", json, format!(r#"{{"{FIELD}": {{"t": "x"}}}}"#).into_bytes(), (400, "malformed_token")),
        ("invalid UTF-8 in the token field", form, format!("{FIELD}=%FF%FE").into_bytes(), (400, "malformed_token")),
        ("multipart without a boundary", Some("multipart/form-data"), b"--x\r\n".to_vec(), (400, "malformed_body")),
        (
            "truncated multipart",
            Some("multipart/form-data; boundary=XyZ"),
            b"--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.c\r\n--XyZ\r\nContent-Disp".to_vec(),
            (400, "malformed_body"),
        ),
    ];
    for (name, content_type, body, expected) in cases {
        let got = send(&url, content_type, body).await;
        assert_eq!(got, (expected.0, expected.1.to_owned()), "{name}");
    }
    assert!(
        emulator.requests().is_empty(),
        "none of these reached the provider"
    );
}

#[tokio::test]
async fn a_token_longer_than_the_provider_accepts_never_reaches_it() {
    let emulator = emulator().await;
    let url = serve(Router::new().route("/", post(echo).layer(turnstile(&emulator)))).await;
    let long = "a".repeat(2049);
    let got = send(
        &url,
        Some("application/x-www-form-urlencoded"),
        format!("{FIELD}={long}"),
    )
    .await;
    assert_eq!(got, (400, "malformed_token".into()));
    let response = client()
        .post(&url)
        .header(FIELD, "bad\u{7f}token")
        .send()
        .await;
    // A DEL byte is not allowed in a header value: the client refuses to send it at all.
    assert!(response.is_err() || response.unwrap().status() == 400);
    assert!(emulator.requests().is_empty());
}

#[tokio::test]
async fn invalid_utf8_elsewhere_in_a_form_is_not_our_business() {
    let emulator = emulator().await;
    let url = app(&emulator).await;
    let body = format!(
        "name=%FF%FE&{FIELD}={}&bio=\u{e9}",
        turnstile_token(&emulator)
    )
    .into_bytes();
    let response = client()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-fingerprint"], fingerprint(&body));
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_and_without_content_length() {
    let emulator = emulator().await;
    let url = app(&emulator).await;
    let big = format!(
        "{FIELD}={}&pad={}",
        turnstile_token(&emulator),
        "x".repeat(2000)
    );
    let declared = send(&url, Some("application/x-www-form-urlencoded"), big.clone()).await;
    assert_eq!(declared, (413, "body_too_large".into()));
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(256)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    let chunked = send(
        &url,
        Some("application/x-www-form-urlencoded"),
        reqwest::Body::wrap_stream(stream::iter(chunks)),
    )
    .await;
    assert_eq!(chunked, (413, "body_too_large".into()));
    let json = send(
        &url,
        Some("application/json"),
        format!(r#"{{"pad":"{}"}}"#, "x".repeat(2000)),
    )
    .await;
    assert_eq!(json, (413, "body_too_large".into()));
}

#[tokio::test]
async fn a_multipart_token_beyond_the_limit_is_refused() {
    let emulator = emulator().await;
    let url = app(&emulator).await;
    let boundary = "token-last";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&[b'x'; 64 * 1024]);
    body.extend_from_slice(
        format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"{FIELD}\"\r\n\r\n{}\r\n--{boundary}--\r\n", turnstile_token(&emulator))
            .as_bytes(),
    );
    // Small chunks, so that the server sees the body arrive piece by piece: the layer stops
    // pulling once it has read its 1 KiB limit without finding the token.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(512).map(|c| Ok(c.to_vec())).collect();
    let response = client()
        .post(&url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(outcome(response).await, (413, "body_too_large".into()));
}

#[tokio::test]
async fn a_client_that_stops_mid_body_gets_a_400_not_a_hang() {
    let emulator = emulator().await;
    let url = app(&emulator).await;
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{{\"{FIELD}\": \"0.abc"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // The client gives up: no more bytes will come.
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers instead of waiting forever")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("malformed_body"), "{answer}");
}

#[tokio::test]
async fn a_non_ascii_header_token_is_malformed() {
    let emulator = emulator().await;
    let url = app(&emulator).await;
    let value = reqwest::header::HeaderValue::from_bytes(b"0.t\xe9st").unwrap();
    let response = client()
        .post(&url)
        .header(FIELD, value)
        .send()
        .await
        .unwrap();
    assert_eq!(outcome(response).await, (400, "malformed_token".into()));
}

#[tokio::test]
async fn in_observe_mode_an_aborted_upload_never_looks_complete_to_the_handler() {
    async fn read(request: axum::extract::Request) -> String {
        match axum::body::to_bytes(request.into_body(), usize::MAX).await {
            Ok(bytes) => format!("complete body of {} bytes", bytes.len()),
            Err(_) => "the body failed".to_owned(),
        }
    }
    let emulator = emulator().await;
    let url =
        serve(Router::new().route("/", post(read).layer(turnstile(&emulator).observe()))).await;
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\namount=10"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains("the body failed"), "{answer}");
}
