//! The HTTP server: routes, handlers and the [`Emulator`] handle.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{self, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::fault::{self, FaultKind};
use crate::input::Input;
use crate::provider::Provider;
use crate::providers;
use crate::record::RecordedRequest;
use crate::spec::{MintError, TokenSpec};
use crate::state::State;
use crate::widget;

/// Largest verify or `/tokens` body read; real verify bodies are a few KiB at most.
const MAX_BODY: usize = 1024 * 1024;

/// How many verify calls an emulator remembers unless told otherwise
/// ([`EmulatorBuilder::record_limit`]); older calls are dropped first.
pub const DEFAULT_RECORD_LIMIT: usize = 10_000;

/// Every route the emulator serves, as `GET /` lists them: method, path, what it does.
const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("GET", "/", "this index"),
    ("GET", "/health", "200 ok once the server listens"),
    ("POST", "/hcaptcha/siteverify", "hCaptcha siteverify"),
    ("POST", "/recaptcha/api/siteverify", "reCAPTCHA siteverify"),
    ("POST", "/turnstile/v0/siteverify", "Turnstile siteverify"),
    ("POST", "/procaptcha/siteverify", "Procaptcha verify"),
    ("POST", "/byebot/validate_token", "ByeBot validate_token"),
    (
        "POST",
        "/api/v2/captcha/siteverify",
        "Friendly Captcha v2 siteverify",
    ),
    (
        "POST",
        "/v1/projects/{project}/assessments",
        "reCAPTCHA Enterprise createAssessment",
    ),
    ("POST", "/tokens", "mint a token from a JSON token spec"),
    ("OPTIONS", "/tokens", "CORS preflight for the widget script"),
    (
        "POST",
        "/sites",
        "register a site: provider, site_key, secret",
    ),
    (
        "GET",
        "/requests",
        "the recorded verify calls, oldest first",
    ),
    ("DELETE", "/requests", "forget the recorded verify calls"),
    (
        "PUT",
        "/outages/{provider}",
        "every verify call of the provider suffers a fault",
    ),
    ("DELETE", "/outages/{provider}", "end the provider's outage"),
    ("GET", "/widget.js", "the stand-in widget script"),
    (
        "GET",
        "/enterprise.js",
        "the widget script as reCAPTCHA Enterprise's",
    ),
];

/// Options of an emulator before it starts: [`Emulator::builder`].
#[derive(Clone, Debug)]
pub struct EmulatorBuilder {
    record_limit: usize,
    sites: Vec<(Provider, String, String)>,
}

impl EmulatorBuilder {
    /// Remember at most `limit` verify calls ([`DEFAULT_RECORD_LIMIT`] by default); past
    /// it the oldest call is dropped for each new one. `0` records nothing.
    pub fn record_limit(mut self, limit: usize) -> Self {
        self.record_limit = limit;
        self
    }

    /// Registers a site at start, as [`Emulator::register_site`] does afterwards.
    pub fn site(
        mut self,
        provider: Provider,
        site_key: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.sites.push((provider, site_key.into(), secret.into()));
        self
    }

    /// Starts the emulator on `127.0.0.1` and a free port.
    pub async fn start(self) -> io::Result<Emulator> {
        self.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts the emulator on `addr` (port 0 picks a free port). Must be called inside a
    /// tokio runtime, which then runs the server.
    pub async fn bind(self, addr: SocketAddr) -> io::Result<Emulator> {
        let state = State::new(self.record_limit);
        {
            let mut registry = state.lock();
            for (provider, site_key, secret) in &self.sites {
                registry.register_site(*provider, site_key, secret);
            }
        }
        Emulator::serve(addr, Arc::new(state)).await
    }
}

/// A running emulator. Dropping it stops the server (in-flight answers still complete);
/// [`shutdown`](Self::shutdown) also waits for that.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Emulator {
    /// Starts an emulator on `127.0.0.1` and a free port.
    pub async fn start() -> io::Result<Emulator> {
        Emulator::builder().start().await
    }

    /// Starts an emulator on `addr` (port 0 picks a free port). Must be called inside a tokio
    /// runtime, which then runs the server.
    pub async fn bind(addr: SocketAddr) -> io::Result<Emulator> {
        Emulator::builder().bind(addr).await
    }

    /// An emulator with options: how many verify calls it records, sites registered at start.
    ///
    /// ```
    /// use siteverify_emulator::{Emulator, Provider};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let emulator = Emulator::builder()
    ///     .record_limit(100)
    ///     .site(Provider::HCaptcha, "my-site-key", "my-secret")
    ///     .start()
    ///     .await?;
    /// # emulator.shutdown().await;
    /// # Ok::<_, std::io::Error>(())
    /// # })?;
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            record_limit: DEFAULT_RECORD_LIMIT,
            sites: Vec::new(),
        }
    }

    async fn serve(addr: SocketAddr, state: Arc<State>) -> io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = router(Arc::clone(&state));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // A dropped sender stops the server as well as an explicit signal.
                    stopped.await.ok();
                })
                .await
        });
        tracing::debug!(%addr, "siteverify emulator listening");
        Ok(Emulator {
            addr,
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT` without a trailing slash. An unspecified listen address
    /// (`0.0.0.0`, `::`) is shown as the loopback address, which is connectable.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The full URL of a provider's emulated verify endpoint.
    pub fn verify_url(&self, provider: Provider) -> String {
        format!("{}{}", self.base_url(), provider.verify_path())
    }

    /// Registers a site: tokens minted for `site_key` verify with `secret`. Registering a
    /// known site key again moves it to the new secret.
    pub fn register_site(&self, provider: Provider, site_key: &str, secret: &str) {
        self.state.lock().register_site(provider, site_key, secret);
    }

    /// Mints a token, exactly as `POST /tokens` does.
    pub fn mint(&self, spec: TokenSpec) -> Result<String, MintError> {
        self.state.lock().mint(&spec)
    }

    /// The verify calls received so far, oldest first: at most the last
    /// [`record_limit`](EmulatorBuilder::record_limit) of them.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().records()
    }

    /// Forgets the recorded verify calls.
    pub fn clear_requests(&self) {
        self.state.lock().clear_records();
    }

    /// Takes `provider` down: every verify call suffers `fault` (a 503, a dropped connection,
    /// a 429 for a spent quota…), whatever its token, until [`end_outage`](Self::end_outage).
    /// Each call suffers it as a token with that fault would (see [`FaultKind`]: a 5xx
    /// processes the call first, a 429 does not). As `PUT /outages/{provider}` does, and
    /// refused as it is: a status that is not a final HTTP status.
    pub fn start_outage(&self, provider: Provider, fault: FaultKind) -> Result<(), MintError> {
        fault::Fault::always(fault.clone()).validate()?;
        self.state.lock().set_outage(provider, Some(fault));
        Ok(())
    }

    /// Ends `provider`'s outage; its tokens' own faults apply again.
    pub fn end_outage(&self, provider: Provider) {
        self.state.lock().set_outage(provider, None);
    }

    /// Stops accepting connections and waits until the in-flight ones are answered.
    pub async fn shutdown(mut self) {
        if let Some(signal) = self.shutdown.take() {
            signal.send(()).ok();
        }
        if let Some(task) = self.task.take() {
            // The serve loop itself never fails after binding; a join error could only be a
            // cancelled runtime, and there is nothing left to stop then.
            task.await.ok();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(signal) = self.shutdown.take() {
            signal.send(()).ok();
        }
    }
}

fn router(state: Arc<State>) -> Router {
    let mut router = Router::new();
    for provider in Provider::ALL {
        // reCAPTCHA Enterprise answers for any project in its path, refusing all but ours.
        let path = match provider {
            Provider::RecaptchaEnterprise => "/v1/projects/{project}/assessments",
            _ => provider.verify_path(),
        };
        router = router.route(
            path,
            post(
                move |extract::State(state): extract::State<Arc<State>>, request: Request| {
                    verify(state, provider, request)
                },
            ),
        );
    }
    router
        .route("/tokens", post(mint).options(widget::tokens_preflight))
        .route("/widget.js", get(widget::script))
        // The same script as reCAPTCHA Enterprise's `enterprise.js`.
        .route("/enterprise.js", get(widget::script))
        .route("/sites", post(register_site))
        .route("/requests", get(list_requests).delete(clear_requests))
        .route(
            "/outages/{provider}",
            axum::routing::put(start_outage).delete(end_outage),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/", get(index))
        .with_state(state)
}

async fn verify(state: Arc<State>, provider: Provider, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let input = body
        .as_ref()
        .ok()
        .and_then(|b| Input::parse(content_type.as_deref(), b))
        .map(|input| {
            input
                .with_headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                .with_url(parts.uri.path(), parts.uri.query())
        });
    let record = RecordedRequest {
        provider,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        content_type,
        fields: input
            .as_ref()
            .map(Input::recorded_fields)
            .unwrap_or_default(),
        body: body.as_ref().map(|b| b.to_vec()).unwrap_or_default(),
        headers,
    };

    let endpoint = providers::endpoint(provider);
    let (reply, fault) = {
        let mut registry = state.lock();
        registry.record(record);
        let Some(input) = input.filter(|i| endpoint.accepts(i.format)) else {
            tracing::debug!(%provider, "verify call with a bad body");
            return endpoint.bad_request().into_response();
        };
        let token = endpoint.token(&input);
        let fault = registry.fault_of(provider, token.as_deref());
        match &fault {
            Some(FaultKind::Status { code: 429 }) => return fault::too_many_requests(),
            Some(FaultKind::InternalError) => return endpoint.internal_error().into_response(),
            Some(FaultKind::ErrorCodes { codes }) => {
                return endpoint.error_codes(codes).into_response();
            }
            _ => {}
        }
        (endpoint.verify(&mut registry, &input), fault)
    };
    // Tokens and secrets stay out of the log, as everywhere in this workspace.
    tracing::debug!(%provider, status = %reply.status, fault = ?fault, "verify call answered");
    fault::deliver(reply, fault).await
}

fn json_error(status: StatusCode, message: impl ToString) -> Response {
    (status, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

/// `POST /tokens`. The widget script calls it from the page's origin, so every answer, errors
/// included, carries the CORS header: the script shows the error text.
async fn mint(extract::State(state): extract::State<Arc<State>>, body: Bytes) -> Response {
    let mut response = mint_response(&state, &body);
    widget::allow_any_origin(&mut response);
    response
}

fn mint_response(state: &State, body: &[u8]) -> Response {
    let spec: TokenSpec = match serde_json::from_slice(body) {
        Ok(spec) => spec,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, format!("bad token spec: {e}")),
    };
    match state.lock().mint(&spec) {
        Ok(token) => axum::Json(json!({ "token": token })).into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, e),
    }
}

/// The body of `POST /sites`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteSpec {
    provider: Provider,
    site_key: String,
    secret: String,
}

async fn register_site(extract::State(state): extract::State<Arc<State>>, body: Bytes) -> Response {
    let site: SiteSpec = match serde_json::from_slice(&body) {
        Ok(site) => site,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, format!("bad site: {e}")),
    };
    if site.site_key.is_empty() || site.secret.is_empty() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "site_key and secret must not be empty",
        );
    }
    state
        .lock()
        .register_site(site.provider, &site.site_key, &site.secret);
    StatusCode::NO_CONTENT.into_response()
}

async fn list_requests(extract::State(state): extract::State<Arc<State>>) -> Response {
    axum::Json(state.lock().records()).into_response()
}

/// `PUT /outages/{provider}` with a [`FaultKind`] as JSON (`{"kind":"status","code":503}`).
async fn start_outage(
    extract::State(state): extract::State<Arc<State>>,
    extract::Path(provider): extract::Path<String>,
    body: Bytes,
) -> Response {
    let provider: Provider = match provider.parse() {
        Ok(provider) => provider,
        Err(e) => return json_error(StatusCode::NOT_FOUND, e),
    };
    let fault: FaultKind = match serde_json::from_slice(&body) {
        Ok(fault) => fault,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, format!("bad fault: {e}")),
    };
    if let Err(e) = fault::Fault::always(fault.clone()).validate() {
        return json_error(StatusCode::BAD_REQUEST, e);
    }
    state.lock().set_outage(provider, Some(fault));
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /outages/{provider}`.
async fn end_outage(
    extract::State(state): extract::State<Arc<State>>,
    extract::Path(provider): extract::Path<String>,
) -> Response {
    match provider.parse::<Provider>() {
        Ok(provider) => {
            state.lock().set_outage(provider, None);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => json_error(StatusCode::NOT_FOUND, e),
    }
}

/// `GET /`: what a person or a script needs to find its way: the endpoints, each provider's
/// verify path and default site, and the record's bound.
async fn index(extract::State(state): extract::State<Arc<State>>) -> Response {
    let (limit, dropped) = state.lock().record_bounds();
    let endpoints: Vec<_> = ENDPOINTS
        .iter()
        .map(|(method, path, about)| json!({ "method": method, "path": path, "about": about }))
        .collect();
    let providers: Vec<_> = Provider::ALL
        .iter()
        .map(|p| {
            json!({
                "provider": p.as_str(),
                "verify_path": p.verify_path(),
                "site_key": p.default_site_key(),
                "secret": p.default_secret(),
            })
        })
        .collect();
    axum::Json(json!({
        "name": "siteverify-emulator",
        "version": env!("CARGO_PKG_VERSION"),
        "endpoints": endpoints,
        "providers": providers,
        "record": { "limit": limit, "dropped": dropped },
    }))
    .into_response()
}

async fn clear_requests(extract::State(state): extract::State<Arc<State>>) -> StatusCode {
    state.lock().clear_records();
    StatusCode::NO_CONTENT
}
