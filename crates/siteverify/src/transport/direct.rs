//! The default exchange: hyper's pooled HTTP/1.1 client over rustls, with the platform's
//! certificate verifier, as reqwest sets them up, straight to the endpoint or through the
//! environment's proxy ([`super::hop`]).
//!
//! hyper's read buffer keeps its default (8 KiB, growing): its exact-size setting would also
//! cap an answer's head at that size, and a provider adding headers must not break us.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{self, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use rustls::crypto::CryptoProvider;

use tokio::time::Instant;

use super::{
    CappedBody, Target, TransportFailure, USER_AGENT, WireAnswer, WireBody, answer_head,
    body_before, causes, head_before,
    hop::{Hop, Proxy, UnsupportedProxy},
    is_not_http, is_tls_refusal,
    tunnel::ProxyRefusal,
};
use crate::{ConfigError, DEFAULT_CONNECT_TIMEOUT};

/// The pooled client; a clone shares the pool.
pub(crate) type Client = legacy::Client<HttpsConnector<Hop>, Full<Bytes>>;

/// Idle connections to a provider are kept this long, so that a quiet minute does not cost a
/// TLS handshake.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// TCP keep-alive probes, as reqwest sends them: a connection silently dropped by a NAT or
/// firewall is found before a verification is sent on it.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// Our client with this connect timeout, straight to each endpoint: the process's shared one
/// for the default.
///
/// A client holds a connection pool, and one pool per process is what lets verifications
/// reuse warm TLS connections. A build that failed is not kept: an application may install a
/// crypto provider after a first attempt.
pub(super) fn client(connect_timeout: Duration) -> Result<Client, ConfigError> {
    static SHARED: OnceLock<Client> = OnceLock::new();
    let built = || -> Result<Client, ConfigError> {
        let tls = tls_config().map_err(ConfigError::HttpClient)?;
        Ok(build(Hop::straight(tcp(connect_timeout)), tls))
    };
    if connect_timeout != DEFAULT_CONNECT_TIMEOUT {
        return built();
    }
    if let Some(client) = SHARED.get() {
        return Ok(client.clone());
    }
    let client = built()?;
    // Of two first builds at once, one is kept and both callers get it.
    Ok(SHARED.get_or_init(|| client).clone())
}

/// A client of its own that reaches every endpoint through the proxy at `uri` (with the
/// environment's credentials for it). Proxies are rare and each verifier of one keeps its
/// own pool.
pub(super) fn proxied(
    connect_timeout: Duration,
    uri: Uri,
    authorization: Option<HeaderValue>,
    credentials: Option<(String, String)>,
) -> Result<(Client, Arc<Proxy>), ConfigError> {
    let tls = tls_config().map_err(ConfigError::HttpClient)?;
    let to_proxy = || {
        HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_only()
            .enable_http1()
            .wrap_connector(tcp(connect_timeout))
    };
    let proxy = Proxy::new(uri, authorization, credentials, to_proxy).map_err(
        |UnsupportedProxy(scheme)| {
            ConfigError::HttpClient(format!(
                "the environment's proxy for the verify URL has the scheme `{scheme}`; \
                 http, https, socks4, socks4a, socks5 and socks5h are supported"
            ))
        },
    )?;
    let proxy = Arc::new(proxy);
    let client = build(Hop::through(tcp(connect_timeout), proxy.clone()), tls);
    Ok((client, proxy))
}

/// rustls with the platform's certificate verifier, as reqwest sets it up.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    let crypto = crypto_provider()?;
    let verifier = rustls_platform_verifier::Verifier::new(crypto.clone())
        .map_err(|e| format!("the platform's certificate verifier: {e}"))?;
    Ok(rustls::ClientConfig::builder_with_provider(crypto)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// A crypto provider the application installed wins; else the one our features name
/// (aws-lc-rs before ring, as rustls itself picks).
fn crypto_provider() -> Result<Arc<CryptoProvider>, String> {
    if let Some(installed) = CryptoProvider::get_default() {
        return Ok(installed.clone());
    }
    #[cfg(feature = "aws-lc-rs")]
    return Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    return Ok(Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
    Err(
        "no TLS crypto provider: enable siteverify's `aws-lc-rs` or `ring` feature, \
         or install one with `rustls::crypto::CryptoProvider::install_default`"
            .to_owned(),
    )
}

fn tcp(connect_timeout: Duration) -> HttpConnector {
    let mut tcp = HttpConnector::new();
    // The TLS connector on top of it takes https URLs.
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(connect_timeout));
    // A request is written at once; waiting for more to fill a packet only adds latency.
    tcp.set_nodelay(true);
    tcp.set_keepalive(Some(TCP_KEEPALIVE));
    tcp
}

fn build(hop: Hop, tls: rustls::ClientConfig) -> Client {
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        // The emulator and a local stand-in speak plain HTTP; the URL's scheme decides.
        .https_or_http()
        .enable_http1()
        .wrap_connector(hop);
    legacy::Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector)
}

pub(super) async fn exchange(
    client: &Client,
    target: &Target,
    body: &WireBody,
    deadline: Instant,
) -> Result<WireAnswer, TransportFailure> {
    let mut request = Request::new(Full::new(body.bytes.clone()));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = target.uri.clone();
    let headers = request.headers_mut();
    if let Some(credentials) = &target.authorization {
        headers.insert(header::AUTHORIZATION, credentials.clone());
    }
    if let Some(credentials) = &target.proxy_authorization {
        headers.insert(header::PROXY_AUTHORIZATION, credentials.clone());
    }
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(header::CONTENT_TYPE, body.content_type.clone());
    headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    for (name, value) in body.headers() {
        headers.insert(name.clone(), value.clone());
    }

    let response = head_before(deadline, async {
        client.request(request).await.map_err(classify)
    })
    .await?;
    let (head, mut answer) = response.into_parts();
    let (status, retry_after) = answer_head(head.status, &head.headers)?;
    let body = body_before(deadline, async {
        let mut collected = CappedBody::default();
        while let Some(frame) = answer.frame().await {
            // The provider took the call and began to answer: a cut now leaves an answer we
            // cannot read, not a provider that is down.
            let frame = frame.map_err(|_| TransportFailure::Truncated)?;
            if let Some(data) = frame.data_ref() {
                collected.push(data)?;
            }
        }
        Ok(collected.0)
    })
    .await?;
    Ok(WireAnswer {
        status,
        body,
        retry_after,
    })
}

/// Only a connect error (TCP or TLS) proves that no byte of the request left this machine;
/// hyper itself resends a request that a pooled connection closed before taking. A head that
/// does not parse is something other than the provider answering.
fn classify(error: legacy::Error) -> TransportFailure {
    if is_tls_refusal(&error) {
        TransportFailure::TlsRefused
    } else if let Some(refusal) = causes(&error).find_map(|c| c.downcast_ref::<ProxyRefusal>()) {
        TransportFailure::ProxyRefused(*refusal)
    } else if error.is_connect() {
        TransportFailure::Connect
    } else if is_not_http(&error) {
        TransportFailure::NotHttp
    } else {
        TransportFailure::ConnectionLost
    }
}
