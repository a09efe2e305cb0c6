//! The work `CaptchaLayer` adds to a request, measured through the public API: an in-process
//! verifier that answers at once, so that only the layer is timed (finding the token, reading
//! and replaying the body, the verdict in the extensions), next to the same inner service
//! without the layer.

use std::{convert::Infallible, hint::black_box};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, StreamBody};
use siteverify::VerifyOptions;
use tower::{Layer, ServiceExt, service_fn};
use tower_captcha::{CaptchaLayer, Provider, Verdict, Verify, VerifyError};

const FIELD: &str = "g-recaptcha-response";
const TOKEN: &str = "03AFcWeA6bench-token-0123456789abcdefghijklmnopqrstuvwxyz";
/// What a socket read hands hyper at a time; a body in one piece would hide the streaming.
const CHUNK: usize = 16 * 1024;

/// Says yes at once, so that the provider round trip is out of the measurement.
struct Instant(Verdict);

impl Verify for Instant {
    async fn verify(&self, _: &str, _: &VerifyOptions) -> Result<Verdict, VerifyError> {
        Ok(self.0.clone())
    }

    fn provider(&self) -> Option<Provider> {
        Some(Provider::Recaptcha)
    }
}

type Chunked =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// A request body as a server receives it: zero-copy slices of one buffer, in `CHUNK`s.
fn chunked(bytes: &Bytes) -> Chunked {
    let frames: Vec<_> = (0..bytes.len())
        .step_by(CHUNK)
        .map(|at| Ok(Frame::data(bytes.slice(at..bytes.len().min(at + CHUNK)))))
        .collect();
    StreamBody::new(futures_util::stream::iter(frames))
}

/// One benchmark case: a content type (none for the header case) and a body.
struct Case {
    name: &'static str,
    content_type: Option<String>,
    body: Bytes,
    body_limit: usize,
}

impl Case {
    fn request(&self) -> Request<Chunked> {
        let builder = Request::builder().method(Method::POST).uri("/submit");
        let builder = match &self.content_type {
            Some(content_type) => builder.header(header::CONTENT_TYPE, content_type),
            None => builder.header(FIELD, TOKEN),
        };
        builder
            .header(header::CONTENT_LENGTH, self.body.len())
            .body(chunked(&self.body))
            .expect("a valid request")
    }
}

/// `field=value` pairs padded with a `message` field to `size` bytes, the token first.
fn urlencoded(size: usize) -> Bytes {
    let head = format!("{FIELD}={TOKEN}&email=ada%40example.com&message=");
    let mut body = head.into_bytes();
    body.resize(size, b'x');
    body.into()
}

fn json(size: usize) -> Bytes {
    let head = format!(r#"{{"{FIELD}":"{TOKEN}","email":"ada@example.com","message":""#);
    let mut body = head.into_bytes();
    body.resize(size - 2, b'x');
    body.extend_from_slice(b"\"}");
    body.into()
}

/// A form with the token and a file of about `size` bytes, the token first or last.
fn multipart(size: usize, token_first: bool) -> Bytes {
    let token = format!(
        "--b0undary\r\ncontent-disposition: form-data; name=\"{FIELD}\"\r\n\r\n{TOKEN}\r\n"
    );
    let mut file = b"--b0undary\r\ncontent-disposition: form-data; name=\"avatar\"; filename=\"a.bin\"\r\ncontent-type: application/octet-stream\r\n\r\n".to_vec();
    file.resize(size, b'x');
    file.extend_from_slice(b"\r\n");
    let mut body = Vec::with_capacity(size + 512);
    if token_first {
        body.extend_from_slice(token.as_bytes());
        body.extend_from_slice(&file);
    } else {
        body.extend_from_slice(&file);
        body.extend_from_slice(token.as_bytes());
    }
    body.extend_from_slice(b"--b0undary--\r\n");
    body.into()
}

fn cases() -> Vec<Case> {
    const FORM: &str = "application/x-www-form-urlencoded";
    const MULTIPART: &str = "multipart/form-data; boundary=b0undary";
    let default = tower_captcha::DEFAULT_BODY_LIMIT;
    let case = |name, content_type: Option<&str>, body, body_limit| Case {
        name,
        content_type: content_type.map(str::to_owned),
        body,
        body_limit,
    };
    vec![
        case("header", None, Bytes::new(), default),
        case("form_1k", Some(FORM), urlencoded(1024), default),
        case("form_16k", Some(FORM), urlencoded(16 * 1024), default),
        case(
            "json_16k",
            Some("application/json"),
            json(16 * 1024),
            default,
        ),
        case(
            "multipart_1m_token_first",
            Some(MULTIPART),
            multipart(1 << 20, true),
            default,
        ),
        // The token after the file: the whole megabyte is read and held to find it.
        case(
            "multipart_1m_token_last",
            Some(MULTIPART),
            multipart(1 << 20, false),
            2 << 20,
        ),
    ]
}

/// A trivial handler that still reads its body, as a real one would: the bytes the layer
/// buffered are replayed to it and the rest streams through.
async fn handler<B: Body>(request: Request<B>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let mut body = std::pin::pin!(request.into_body());
    let mut read = 0;
    while let Some(Ok(frame)) = body.frame().await {
        read += frame.data_ref().map_or(0, bytes::Buf::remaining);
    }
    black_box(read);
    Ok(Response::new(Empty::new()))
}

fn layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let verdict = Verdict::new(Provider::Recaptcha).with_hostname("example.com");
    let baseline = service_fn(handler::<Chunked>);

    let mut group = c.benchmark_group("layer");
    for case in cases() {
        let guarded = CaptchaLayer::new(Instant(verdict.clone()))
            .body_limit(case.body_limit)
            .layer(service_fn(handler));
        // A rejected request would time the failure path instead.
        let status = runtime
            .block_on(guarded.clone().oneshot(case.request()))
            .map(|r| r.status());
        assert_eq!(status.ok(), Some(StatusCode::OK), "{}", case.name);

        group.bench_function(format!("{}/with_layer", case.name), |b| {
            b.iter_batched(
                || case.request(),
                |request| runtime.block_on(guarded.clone().oneshot(request)),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("{}/without_layer", case.name), |b| {
            b.iter_batched(
                || case.request(),
                |request| runtime.block_on(baseline.oneshot(request)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// The ALTCHA layer as the load benchmark's server has it (`CaptchaLayer::altcha`, the memory
/// store, the payload in the `altcha` header): the layer and the whole local verification,
/// next to the same handler without the layer. Each payload passes once, so every iteration
/// gets a fresh one, solved outside the timing.
fn altcha(c: &mut Criterion) {
    use siteverify::altcha::{AltchaConfig, ChallengeKind, MemoryStore, solve};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let config = AltchaConfig::new("captcha-bench-altcha-hmac-key-0123456789abcdef")
        // The difficulty costs the solver only: verification is one hash whatever it is.
        .kind(ChallengeKind::Classic { max_number: 20 })
        .lifetime(std::time::Duration::from_secs(600))
        // Room for every payload criterion sends: a full store would time the refusal.
        .store(MemoryStore::new(50_000_000));
    let guard = CaptchaLayer::altcha(config).expect("a valid configuration");
    let verifier = guard.verifier().clone();
    let guarded = guard.layer(service_fn(handler));
    let baseline = service_fn(handler::<Empty<Bytes>>);
    let request = || {
        let payload = solve(&verifier.challenge()).expect("a solvable challenge");
        Request::builder()
            .method(Method::POST)
            .uri("/submit")
            .header("altcha", payload)
            .header(header::CONTENT_LENGTH, 0)
            .body(Empty::<Bytes>::new())
            .expect("a valid request")
    };
    let status = runtime
        .block_on(guarded.clone().oneshot(request()))
        .map(|r| r.status());
    assert_eq!(status.ok(), Some(StatusCode::OK), "altcha");

    let mut group = c.benchmark_group("layer");
    group.bench_function("altcha_header/with_layer", |b| {
        b.iter_batched(
            request,
            |request| runtime.block_on(guarded.clone().oneshot(request)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("altcha_header/without_layer", |b| {
        b.iter_batched(
            request,
            |request| runtime.block_on(baseline.oneshot(request)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, layer, altcha);
criterion_main!(benches);
