use std::{
    hash::{DefaultHasher, Hasher},
    net::SocketAddr,
};

use axum::{
    Json, Router,
    body::Body,
    extract::Request,
    http::{HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
pub(crate) use siteverify_emulator::{Emulator, FaultKind, Provider as Emulated, TokenSpec};
use tower_captcha::{CaptchaLayer, Provider, Verdict, Verified, VerifierConfig};

pub(crate) fn emulated(provider: Provider) -> Emulated {
    provider
        .name()
        .parse()
        .expect("the emulator knows every provider")
}

pub(crate) async fn emulator() -> Emulator {
    Emulator::start().await.expect("emulator starts")
}

pub(crate) fn config(emulator: &Emulator, provider: Provider) -> VerifierConfig {
    let e = emulated(provider);
    let config = VerifierConfig::new(e.default_secret()).verify_url(emulator.verify_url(e));
    match provider {
        // Every assessment names the site key.
        Provider::RecaptchaEnterprise => config.site_key(e.default_site_key()),
        _ => config,
    }
}

pub(crate) fn layer(emulator: &Emulator, provider: Provider) -> CaptchaLayer {
    let config = config(emulator, provider);
    let verifier = tower_captcha::Verifier::new(provider, config).expect("valid config");
    CaptchaLayer::new(verifier)
}

pub(crate) fn turnstile(emulator: &Emulator) -> CaptchaLayer {
    layer(emulator, Provider::Turnstile)
}

pub(crate) fn mint(emulator: &Emulator, spec: TokenSpec) -> String {
    emulator.mint(spec).expect("token minted")
}

pub(crate) fn turnstile_token(emulator: &Emulator) -> String {
    mint(emulator, TokenSpec::new(Emulated::Turnstile))
}

/// Serves `app` on 127.0.0.1:0 with connect info, and returns its base URL.
pub(crate) async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .ok();
    });
    format!("http://{addr}")
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A fingerprint of bytes, to compare what was sent with what a handler received.
pub(crate) fn fingerprint(bytes: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    format!("{}:{:016x}", bytes.len(), hasher.finish())
}

/// A handler that answers with what it received: the body's fingerprint in a header, the
/// body itself, the content-length header it saw, and the verdict's hostname.
pub(crate) async fn echo(verdict: Option<Verified<Verdict>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-fingerprint",
        HeaderValue::from_str(&fingerprint(&bytes)).unwrap(),
    );
    if let Some(length) = parts.headers.get("content-length") {
        headers.insert("x-seen-content-length", length.clone());
    }
    if let Some(Verified(verdict)) = verdict {
        headers.insert(
            "x-verdict-provider",
            HeaderValue::from_static(verdict.provider.name()),
        );
        if let Some(host) = verdict.hostname {
            headers.insert("x-verdict-hostname", HeaderValue::from_str(&host).unwrap());
        }
    }
    (headers, Body::from(bytes)).into_response()
}

/// A handler that answers with the verdict as JSON.
pub(crate) async fn verdict_json(Verified(verdict): Verified<Verdict>) -> Json<Verdict> {
    Json(verdict)
}

/// The `reason` of a failure body, or "ok" for a 2xx.
pub(crate) async fn outcome(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    if response.status().is_success() {
        return (status, "ok".to_owned());
    }
    let text = response.text().await.unwrap();
    let reason = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_owned))
        .unwrap_or(text);
    (status, reason)
}

/// A counter a scenario left: its name, its labels, its value.
#[cfg(feature = "metrics")]
pub(crate) struct Counter {
    pub(crate) name: String,
    pub(crate) labels: std::collections::BTreeMap<String, String>,
    pub(crate) value: u64,
}

#[cfg(feature = "metrics")]
impl Counter {
    /// The label's value, or "" when the counter has no such label.
    pub(crate) fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// Runs `scenario` on a current-thread runtime with a recorder of its own (so that other
/// tests' metrics stay out), and gives the counters it left.
#[cfg(feature = "metrics")]
pub(crate) fn counters_of<F: Future<Output = ()>>(scenario: impl FnOnce() -> F) -> Vec<Counter> {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(scenario());
    });
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let DebugValue::Counter(value) = value else {
                return None;
            };
            let key = key.key();
            Some(Counter {
                name: key.name().to_owned(),
                labels: key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect(),
                value,
            })
        })
        .collect()
}
