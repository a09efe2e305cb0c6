//! The child processes: the five servers under test, the ALTCHA servers, and the emulator. Each runs alone in its
//! own process so that its memory can be read from `/proc`, and exits when its parent does.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use http_body_util::BodyExt;
use serde::Deserialize;
use siteverify_emulator::{Emulator, Provider as Emulated};
use tokio::{io::AsyncReadExt, net::TcpListener};
use tower_captcha::{
    CaptchaLayer, Provider, Verdict, Verifier, VerifierConfig, Verify, VerifyError,
    siteverify::{
        ConfigError, VerifyOptions,
        altcha::{AltchaConfig, ChallengeKind, MemoryStore, RedisStore},
    },
};

use crate::BoxError;

/// The reCAPTCHA test secret: the emulator accepts any token with it, every time, so the load
/// generator needs no minted tokens.
pub(crate) const TEST_SECRET: &str = "6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe";
/// Where every server expects the token, and the reCAPTCHA widget's field name.
pub(crate) const FIELD: &str = "g-recaptcha-response";
/// The one route every server has.
pub(crate) const PATH: &str = "/submit";

/// The servers under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// (a) The route with no layer.
    Plain,
    /// (b) The layer with an in-process verifier that answers at once.
    LayerInstant,
    /// (c) The layer verifying against the emulator.
    LayerEmulator,
    /// (d) A careful hand-written handler with one shared `reqwest::Client`.
    SharedClient,
    /// (e) A handler that builds a `reqwest::Client` per verification.
    ClientPerRequest,
    /// The layer with the self-hosted ALTCHA verifier, spent challenges in memory.
    AltchaMemory,
    /// The same, spent challenges in a Redis (`--redis URL`).
    AltchaRedis,
    /// A provider set of three in-process verifiers, the token the last one's.
    SetThree,
    /// A provider set whose first member's endpoint (`--emulator URL`) is down, breaker open
    /// after one call: every request is answered with the fallback hint.
    SetFailover,
}

impl Mode {
    pub(crate) const ALL: [Mode; 5] = [
        Mode::Plain,
        Mode::LayerInstant,
        Mode::LayerEmulator,
        Mode::SharedClient,
        Mode::ClientPerRequest,
    ];

    /// The ALTCHA table: its own baseline (a), then the two stores, driven with fresh
    /// solved payloads round by round.
    pub(crate) const ALTCHA: [Mode; 3] = [Mode::Plain, Mode::AltchaMemory, Mode::AltchaRedis];

    /// The provider-set table: the layer with one in-process verifier (b), then a set of three.
    pub(crate) const SETS: [Mode; 2] = [Mode::LayerInstant, Mode::SetThree];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::LayerInstant => "layer-instant",
            Mode::LayerEmulator => "layer-emulator",
            Mode::SharedClient => "shared-client",
            Mode::ClientPerRequest => "client-per-request",
            Mode::AltchaMemory => "altcha-memory",
            Mode::AltchaRedis => "altcha-redis",
            Mode::SetThree => "set-three",
            Mode::SetFailover => "set-failover",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Mode> {
        Mode::ALL
            .into_iter()
            .chain(Mode::ALTCHA)
            .chain([Mode::SetThree, Mode::SetFailover])
            .find(|m| m.name() == name)
    }

    pub(crate) fn needs_emulator(self) -> bool {
        matches!(
            self,
            Mode::LayerEmulator | Mode::SharedClient | Mode::ClientPerRequest
        )
    }
}

/// The verifier of the layer-emulator server, built in this one place so that settings such
/// as a bound on verifications in flight are added once, for the load run and the in-flight
/// check alike.
fn emulator_verifier(verify_url: &str) -> Result<Verifier, ConfigError> {
    // The in-flight check sends 1,000 verifications at once; the default bound (128) would
    // answer most of them at once with provider_unavailable, which is not what it measures.
    Verifier::recaptcha(
        VerifierConfig::new(TEST_SECRET)
            .verify_url(verify_url)
            .max_in_flight(4096),
    )
}

/// The HMAC key of the ALTCHA servers, shared with the load generator, which issues and
/// solves the challenges itself so that the servers' work is verification only.
pub(crate) const ALTCHA_KEY: &str = "captcha-bench-altcha-hmac-key-0123456789abcdef";
/// Where the ALTCHA servers expect the payload: the widget's field name.
pub(crate) const ALTCHA_FIELD: &str = "altcha";
/// The memory store's capacity in the ALTCHA server: every payload of a full run stays live
/// (a spent challenge is kept for its lifetime plus a minute of clock skew), and a full
/// store would answer 503, which is not what the load table measures.
const ALTCHA_LOAD_CAPACITY: usize = 8_000_000;

/// The ALTCHA configuration every side uses: classic SHA-256 challenges, with a tiny
/// difficulty since the load generator pre-solves one per request (the difficulty costs the
/// client, never the server: verification is one hash whatever `max_number`), and a
/// lifetime long enough for a pool solved before a round to stay valid through it.
pub(crate) fn altcha_config(max_number: u64) -> AltchaConfig {
    AltchaConfig::new(ALTCHA_KEY)
        .kind(ChallengeKind::Classic { max_number })
        .lifetime(Duration::from_secs(600))
}

/// Says yes at once: what is left of (b)'s latency is the layer's own work. Through
/// `verify` only, as a hosted provider answers (no `verify_now`): (b) measures the path every
/// hosted provider's request takes, and stays the baseline the provider sets (which decide
/// through it too) are compared with.
pub(crate) struct Instant(pub(crate) Verdict);

impl Verify for Instant {
    async fn verify(&self, _: &str, _: &VerifyOptions) -> Result<Verdict, VerifyError> {
        Ok(self.0.clone())
    }

    fn provider(&self) -> Option<Provider> {
        Some(self.0.provider)
    }
}

/// What the hand-written handlers share.
struct Direct {
    client: reqwest::Client,
    url: String,
}

async fn app(mode: Mode, emulator: Option<&str>, redis: Option<&str>) -> Result<Router, BoxError> {
    let verify_url = || -> Result<String, BoxError> {
        let base = emulator.ok_or("this server needs --emulator URL")?;
        Ok(format!("{base}{}", Emulated::Recaptcha.verify_path()))
    };
    let router = Router::new();
    Ok(match mode {
        Mode::Plain => router.route(PATH, post(submit)),
        Mode::LayerInstant => {
            let verdict = Verdict::new(Provider::Recaptcha).with_hostname("localhost");
            router.route(
                PATH,
                post(submit).layer(CaptchaLayer::new(Instant(verdict))),
            )
        }
        Mode::LayerEmulator => {
            let layer = CaptchaLayer::new(emulator_verifier(&verify_url()?)?);
            router.route(PATH, post(submit).layer(layer))
        }
        Mode::SharedClient | Mode::ClientPerRequest => {
            // The careful way: explicit timeouts, since reqwest has none by default.
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(5))
                .build()?;
            let direct = Arc::new(Direct {
                client,
                url: verify_url()?,
            });
            let handler = if mode == Mode::SharedClient {
                post(shared_client)
            } else {
                post(client_per_request)
            };
            router.route(PATH, handler.with_state(direct))
        }
        Mode::AltchaMemory => {
            let config = altcha_config(crate::altcha::MAX_NUMBER)
                .store(MemoryStore::new(ALTCHA_LOAD_CAPACITY));
            router.route(PATH, post(submit).layer(CaptchaLayer::altcha(config)?))
        }
        Mode::AltchaRedis => {
            let url = redis.ok_or("this server needs --redis URL")?;
            let config =
                altcha_config(crate::altcha::MAX_NUMBER).store(RedisStore::connect(url).await?);
            router.route(PATH, post(submit).layer(CaptchaLayer::altcha(config)?))
        }
        Mode::SetThree | Mode::SetFailover => {
            let layer = crate::sets::layer(mode, emulator)?;
            router.route(PATH, post(submit).layer(layer))
        }
    })
}

/// Every server's handler: reads the whole body as it streams, as a real one would.
pub(crate) async fn submit(request: Request) -> Response {
    drain(request.into_body()).await
}

async fn drain(mut body: Body) -> Response {
    let mut read = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => read += frame.data_ref().map_or(0, bytes::Bytes::len),
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        }
    }
    read.to_string().into_response()
}

async fn shared_client(
    State(direct): State<Arc<Direct>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    verified_by_hand(&direct.client, &direct.url, &headers, body).await
}

async fn client_per_request(
    State(direct): State<Arc<Direct>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    verified_by_hand(&reqwest::Client::new(), &direct.url, &headers, body).await
}

#[derive(Deserialize)]
struct Answer {
    success: bool,
}

/// What a user writes without the layer: read the header, post the form, read `success`.
async fn verified_by_hand(
    client: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let Some(token) = headers.get(FIELD).and_then(|v| v.to_str().ok()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let answer = async {
        client
            .post(url)
            .form(&[("secret", TEST_SECRET), ("response", token)])
            .send()
            .await?
            .error_for_status()?
            .json::<Answer>()
            .await
    };
    match answer.await {
        Ok(Answer { success: true }) => drain(body).await,
        Ok(_) => StatusCode::FORBIDDEN.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// `captcha-bench serve MODE`: serves until the parent goes away.
pub(crate) async fn serve(
    mode: Mode,
    port: u16,
    emulator: Option<&str>,
    redis: Option<&str>,
) -> Result<(), BoxError> {
    let app = app(mode, emulator, redis).await?;
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    announce(listener.local_addr()?);
    tokio::select! {
        served = axum::serve(listener, app) => served?,
        () = parent_gone() => {}
    }
    Ok(())
}

/// `captcha-bench emulator`: the emulator until the parent goes away.
pub(crate) async fn emulator(port: u16) -> Result<(), BoxError> {
    let emulator = Emulator::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    announce(emulator.addr());
    // The emulator records every call for tests to inspect; under load that is a leak.
    let forget = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            emulator.clear_requests();
        }
    };
    tokio::select! {
        () = forget => {}
        () = parent_gone() => {}
    }
    Ok(())
}

/// The first line a child prints: the parent waits for it, so no port is ever guessed.
fn announce(addr: SocketAddr) {
    println!("listening {addr}");
}

/// Resolves when stdin closes, which it does when the parent exits, however it dies: no child
/// outlives a killed benchmark.
async fn parent_gone() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while let Ok(1..) = stdin.read(&mut buf).await {}
}
