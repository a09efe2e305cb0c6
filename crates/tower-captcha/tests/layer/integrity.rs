//! Nothing is lost: the handler behind the layer receives exactly the bytes the client sent.

use std::sync::OnceLock;

use axum::{Router, routing::post};
use bytes::Bytes;
use proptest::prelude::*;
use tokio::runtime::Runtime;

use crate::support::*;

const FIELD: &str = "cf-turnstile-response";

struct Fixture {
    runtime: Runtime,
    emulator: Emulator,
    url: String,
}

/// One emulator and one app for all cases: the property is about bodies, not set-up.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (emulator, url) = runtime.block_on(async {
            let emulator = emulator().await;
            let url = serve(Router::new().route("/", post(echo).layer(turnstile(&emulator)))).await;
            (emulator, url)
        });
        Fixture {
            runtime,
            emulator,
            url,
        }
    })
}

#[derive(Clone, Debug)]
enum Kind {
    Form,
    Json,
    Multipart,
}

/// A body of `kind` holding `fields` and the token at `position`.
fn build(
    kind: &Kind,
    fields: &[(String, String)],
    binary: &[u8],
    position: usize,
    token: &str,
) -> (String, Vec<u8>) {
    let mut all: Vec<(String, String)> = fields.to_vec();
    all.insert(
        position.min(all.len()),
        (FIELD.to_owned(), token.to_owned()),
    );
    match kind {
        Kind::Form => {
            let mut serializer = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &all {
                serializer.append_pair(k, v);
            }
            (
                "application/x-www-form-urlencoded".into(),
                serializer.finish().into_bytes(),
            )
        }
        Kind::Json => {
            let mut map = serde_json::Map::new();
            for (k, v) in &all {
                if k == FIELD || !map.contains_key(k) {
                    map.insert(k.clone(), serde_json::Value::String(v.clone()));
                }
            }
            map.insert(
                "nested".into(),
                serde_json::json!({ "list": [1, 2.5, null, true, fields.len()] }),
            );
            ("application/json".into(), serde_json::to_vec(&map).unwrap())
        }
        Kind::Multipart => {
            let boundary = "----proptest-boundary-7MA4YWxkTrZu0gW";
            let mut body = Vec::new();
            for (i, (k, v)) in all.iter().enumerate() {
                body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                if i % 3 == 2 && k != FIELD {
                    body.extend_from_slice(
                        format!("Content-Disposition: form-data; name=\"{k}\"; filename=\"f{i}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
                    );
                    body.extend_from_slice(binary);
                } else {
                    body.extend_from_slice(
                        format!("Content-Disposition: form-data; name=\"{k}\"\r\n\r\n").as_bytes(),
                    );
                    body.extend_from_slice(v.as_bytes());
                }
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            (format!("multipart/form-data; boundary={boundary}"), body)
        }
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Form), Just(Kind::Json), Just(Kind::Multipart)]
}

fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    // Names never equal the token field; values are any text, multibyte and symbols included.
    prop::collection::vec(("[a-z][a-z0-9_]{0,7}", "\\PC{0,40}"), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn the_handler_sees_exactly_the_sent_bytes(
        kind in kind(),
        fields in fields(),
        binary in prop::collection::vec(any::<u8>(), 0..3000),
        position in 0usize..9,
        chunked in any::<bool>(),
        chunk_size in 1usize..700,
    ) {
        let fixture = fixture();
        let token = mint(&fixture.emulator, TokenSpec::new(Emulated::Turnstile));
        let (content_type, body) = build(&kind, &fields, &binary, position, &token);
        let expected = fingerprint(&body);
        let length = body.len();
        let (status, seen, seen_length) = fixture.runtime.block_on(async {
            let request = client().post(&fixture.url).header("content-type", content_type);
            let request = if chunked {
                let chunks: Vec<Result<Bytes, std::io::Error>> =
                    body.chunks(chunk_size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
                request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
            } else {
                request.body(body)
            };
            let response = request.send().await.unwrap();
            let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), header("x-fingerprint"), header("x-seen-content-length"))
        });
        prop_assert_eq!(status, 200);
        prop_assert_eq!(seen, Some(expected));
        if chunked {
            prop_assert_eq!(seen_length, None);
        } else {
            prop_assert_eq!(seen_length, Some(length.to_string()));
        }
    }
}

/// A multipart body with the token field first, then a file.
fn token_first_upload(boundary: &str, token: &str, file: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(file.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{FIELD}\"\r\n\r\n{token}\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn an_8_mib_upload_with_the_token_first_streams_through_the_default_limit() {
    let emulator = emulator().await;
    let url = serve(Router::new().route("/", post(echo).layer(turnstile(&emulator)))).await;
    let file: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let boundary = "big-upload-boundary";
    for chunked in [false, true] {
        // Tokens are single use: each upload gets its own.
        let body = token_first_upload(boundary, &turnstile_token(&emulator), &file);
        let expected = fingerprint(&body);
        let request = client().post(&url).header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        );
        let request = if chunked {
            let chunks: Vec<Result<Bytes, std::io::Error>> = body
                .chunks(64 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
        } else {
            request.body(body)
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "chunked={chunked}");
        assert_eq!(response.headers()["x-fingerprint"], expected.as_str());
    }
}

/// In-memory bodies whose frames are all ready at once (as behind an HTTP/2 window or a
/// buffering proxy): the parser must still stop at the token instead of draining the body.
#[tokio::test]
async fn ready_frames_and_one_huge_frame_do_not_trip_the_limit() {
    use http_body_util::{BodyExt, StreamBody};
    use tower::ServiceExt;

    let emulator = emulator().await;
    let app = Router::new().route("/", post(echo).layer(turnstile(&emulator)));
    let boundary = "ready-frames";
    let file = vec![7u8; 1024 * 1024];
    for frame_size in [16 * 1024, 2 * 1024 * 1024] {
        let body = token_first_upload(boundary, &turnstile_token(&emulator), &file);
        let frames: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> = body
            .chunks(frame_size)
            .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let request = axum::http::Request::post("/")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(axum::body::Body::new(StreamBody::new(
                futures_util::stream::iter(frames),
            )))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200, "frames of {frame_size} bytes");
        let echoed = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(fingerprint(&echoed), fingerprint(&body));
    }
}
