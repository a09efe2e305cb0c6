//! One HTTP exchange with a verify endpoint: send, read a capped answer, classify transport
//! failures. Retries and the overall deadline live in the verifier.
//!
//! Two clients can carry the exchange. By default it is hyper's pooled HTTP/1.1 client with
//! rustls ([`direct`]): a verification is a small POST on a hot path, and reqwest's
//! conveniences (redirects, retries, decompression, cookies) are ones we turn off anyway, while
//! its layers cost about a third of a verification's CPU. reqwest ([`via_reqwest`]) carries it
//! when the user passes a client, when the environment routes the endpoint through a proxy,
//! and when the URL carries credentials: there it already does what users expect.

mod direct;
mod via_reqwest;

use std::{sync::OnceLock, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};

use hyper_util::client::proxy::matcher::Matcher;
use reqwest::Url;
use serde::Serialize;
use tokio::time::Instant;

use crate::{BadAnswer, ConfigError, DEFAULT_CONNECT_TIMEOUT, Outage, VerifyError};

/// The largest provider answer we read. Real answers are a few hundred bytes; a bigger one is
/// broken or hostile, and reading it would let a bad endpoint use our memory.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A request body in the provider's format, encoded once per verification: every attempt
/// sends the same bytes (a clone of them is a reference count, not a copy).
pub(crate) struct WireBody {
    content_type: HeaderValue,
    bytes: Bytes,
    /// Headers of the provider's protocol (an API key), sent on every attempt.
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl WireBody {
    /// An `application/x-www-form-urlencoded` body of `fields`, in their order.
    pub(crate) fn form<'a>(fields: impl IntoIterator<Item = (&'static str, &'a str)>) -> Self {
        let mut encoded = form_urlencoded::Serializer::new(String::with_capacity(256));
        encoded.extend_pairs(fields);
        Self {
            content_type: HeaderValue::from_static("application/x-www-form-urlencoded"),
            bytes: Bytes::from(encoded.finish()),
            headers: Vec::new(),
        }
    }

    /// An `application/json` body.
    pub(crate) fn json(value: &impl Serialize) -> Self {
        // Serialising string fields into a vector cannot fail.
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        Self {
            content_type: HeaderValue::from_static("application/json"),
            bytes: Bytes::from(bytes),
            headers: Vec::new(),
        }
    }

    /// Adds a header carrying `secret` (an API key): marked sensitive, so that hyper's and
    /// reqwest's own `Debug` output never shows it. [`secret_header_value`] is checked when
    /// the verifier is built, so a secret that cannot be a header value never gets here;
    /// were it to, the header would go empty and the provider refuse it as unauthenticated.
    pub(crate) fn with_secret_header(mut self, name: HeaderName, secret: &crate::Secret) -> Self {
        let value =
            secret_header_value(secret.expose()).unwrap_or_else(|| HeaderValue::from_static(""));
        self.headers.push((name, value));
        self
    }

    /// The protocol's own headers.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.headers.iter().map(|(name, value)| (name, value))
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> (&str, &str) {
        (
            self.content_type.to_str().unwrap_or_default(),
            std::str::from_utf8(&self.bytes).unwrap_or_default(),
        )
    }
}

/// `secret` as a sensitive header value, or `None` when it cannot be one (a control
/// character, a character outside visible ASCII and space).
pub(crate) fn secret_header_value(secret: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(secret)
        .ok()
        .filter(|_| secret.bytes().all(|b| b == b' ' || b.is_ascii_graphic()))?;
    value.set_sensitive(true);
    Some(value)
}

/// A complete answer, read within the cap.
pub(crate) struct WireAnswer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) retry_after: Option<Duration>,
}

/// Why one exchange failed before a complete answer was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportFailure {
    /// The attempt's deadline ran out.
    Timeout,
    /// No connection: nothing of the request reached the provider.
    Connect,
    /// The connection broke after the request may have been sent, before an answer's head
    /// was complete: from here, a provider that went down mid-call.
    ConnectionLost,
    /// What came back is not HTTP: the head did not parse.
    NotHttp,
    /// The head arrived, then the connection broke before the body was complete.
    Truncated,
    /// An injected client followed a redirect: the answer is not the verify URL's.
    Redirected,
    /// The TLS layer refused the endpoint (see [`is_tls_refusal`]).
    TlsRefused,
    /// The answer exceeded [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// The HTTP client refused the request (a URL it cannot send to, a redirect an injected
    /// client would not follow): ours to fix.
    Client,
}

impl From<TransportFailure> for VerifyError {
    fn from(failure: TransportFailure) -> Self {
        match failure {
            TransportFailure::Timeout => VerifyError::ProviderUnavailable(Outage::Timeout),
            TransportFailure::Connect => VerifyError::ProviderUnavailable(Outage::Connect),
            TransportFailure::ConnectionLost => {
                VerifyError::ProviderUnavailable(Outage::ConnectionLost)
            }
            TransportFailure::NotHttp => VerifyError::ProviderError(BadAnswer::NotHttp),
            TransportFailure::Truncated => VerifyError::ProviderError(BadAnswer::Truncated),
            TransportFailure::Redirected => VerifyError::ProviderMisconfigured {
                provider_codes: vec!["http-redirect".to_owned()],
            },
            TransportFailure::TlsRefused => VerifyError::ProviderMisconfigured {
                provider_codes: vec!["tls".to_owned()],
            },
            TransportFailure::TooLarge => VerifyError::ProviderError(BadAnswer::TooLarge {
                limit: MAX_ANSWER_BYTES,
            }),
            TransportFailure::Client => VerifyError::ProviderMisconfigured {
                provider_codes: vec!["http-client".to_owned()],
            },
        }
    }
}

/// How a verifier reaches its endpoint: a client and the endpoint's address in the form that
/// client takes.
#[derive(Clone)]
pub(crate) enum Transport {
    /// hyper and rustls, straight to the endpoint.
    Direct { client: direct::Client, uri: Uri },
    /// A reqwest client: the user's, or ours where reqwest does what we would not redo.
    Reqwest { client: reqwest::Client, url: Url },
}

impl Transport {
    /// The transport of a verifier of `url`: `injected` when the user passed a client; else
    /// the process's shared direct client (one per connect timeout), unless `proxies` route
    /// the endpoint through a proxy or the URL carries credentials, which reqwest handles.
    pub(crate) fn for_endpoint(
        url: &Url,
        connect_timeout: Duration,
        injected: Option<reqwest::Client>,
        proxies: &Matcher,
    ) -> Result<Self, ConfigError> {
        if let Some(client) = injected {
            return Ok(Self::reqwest(client, url));
        }
        match direct_uri(url, proxies) {
            Some(uri) => Ok(Self::Direct {
                client: direct::client(connect_timeout)?,
                uri,
            }),
            None => Ok(Self::reqwest(via_reqwest::client(connect_timeout)?, url)),
        }
    }

    fn reqwest(client: reqwest::Client, url: &Url) -> Self {
        Self::Reqwest {
            client,
            url: url.clone(),
        }
    }

    /// Which client carries the exchange, for logs and tests.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Direct { .. } => "direct",
            Self::Reqwest { .. } => "reqwest",
        }
    }

    /// Sends `body` and reads the answer, all before `deadline`. A deadline missed before
    /// the answer's head is a timeout (the provider may be down); once the head has arrived
    /// the provider took the call, and a body that stalls is an answer cut short, exactly as
    /// one whose connection breaks.
    pub(crate) async fn exchange(
        &self,
        body: &WireBody,
        deadline: Instant,
    ) -> Result<WireAnswer, TransportFailure> {
        match self {
            Self::Direct { client, uri } => direct::exchange(client, uri, body, deadline).await,
            Self::Reqwest { client, url } => {
                via_reqwest::exchange(client, url, body, deadline).await
            }
        }
    }
}

/// The endpoint's address for the direct client, or `None` where reqwest must carry the
/// exchange: the environment's proxy settings (`HTTPS_PROXY`, `NO_PROXY`, …, read as reqwest
/// reads them) cover the endpoint, or the URL has credentials (reqwest sends them as basic
/// authentication).
fn direct_uri(url: &Url, proxies: &Matcher) -> Option<Uri> {
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let uri = Uri::try_from(url.as_str()).ok()?;
    proxies.intercept(&uri).is_none().then_some(uri)
}

/// The process's shared client for the default connect timeout, built once into `shared`;
/// a client of its own for any other. A client holds a connection pool, and one pool per
/// process is what lets verifications reuse warm TLS connections.
fn shared_or_built<C: Clone>(
    shared: &'static OnceLock<Result<C, String>>,
    connect_timeout: Duration,
    build: impl Fn(Duration) -> Result<C, String>,
) -> Result<C, ConfigError> {
    let built = if connect_timeout == DEFAULT_CONNECT_TIMEOUT {
        shared.get_or_init(|| build(connect_timeout)).clone()
    } else {
        build(connect_timeout)
    };
    built.map_err(ConfigError::HttpClient)
}

/// The proxy settings of the environment, as reqwest reads them.
pub(crate) fn environment_proxies() -> Matcher {
    Matcher::from_env()
}

/// The status line and headers of an answer, read before its body: its status, how long the
/// provider asks us to wait, and whether a declared length is already over the cap.
fn answer_head(
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<(u16, Option<Duration>), TransportFailure> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_ANSWER_BYTES as u64) {
        return Err(TransportFailure::TooLarge);
    }
    let retry_after = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Ok((status.as_u16(), retry_after))
}

/// Collects an answer's body chunk by chunk, refusing to hold more than the cap.
#[derive(Default)]
struct CappedBody(Vec<u8>);

impl CappedBody {
    fn push(&mut self, chunk: &[u8]) -> Result<(), TransportFailure> {
        if self.0.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(TransportFailure::TooLarge);
        }
        self.0.extend_from_slice(chunk);
        Ok(())
    }
}

/// The head of the answer, awaited until `deadline`.
async fn head_before<T>(
    deadline: Instant,
    head: impl Future<Output = Result<T, TransportFailure>>,
) -> Result<T, TransportFailure> {
    tokio::time::timeout_at(deadline, head)
        .await
        .unwrap_or(Err(TransportFailure::Timeout))
}

/// The body of the answer, read until `deadline`; past it the answer is cut short.
async fn body_before(
    deadline: Instant,
    body: impl Future<Output = Result<Vec<u8>, TransportFailure>>,
) -> Result<Vec<u8>, TransportFailure> {
    tokio::time::timeout_at(deadline, body)
        .await
        .unwrap_or(Err(TransportFailure::Truncated))
}

/// Whether the TLS layer refused the endpoint: a certificate that does not verify (a wrong
/// host in the verify URL, a TLS-intercepting proxy, someone on the path), or a peer that
/// does not speak TLS (an `https` URL on a plain-HTTP port). That is no outage to wait out
/// or fail open on; it is ours to fix.
fn is_tls_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    causes(error).any(|cause| cause.is::<rustls::Error>())
}

/// An error and its causes. An `io::Error`'s `source` skips the error it wraps (connectors
/// wrap rustls's error in one, or two), so its inner error is followed instead.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |error| {
        match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        }
    })
}

/// Whether an HTTP client's error says the answer's head did not parse as HTTP (a banner of
/// another protocol, a malformed status line or header), looking through the error's causes
/// for hyper's own error, which both clients wrap.
fn is_not_http(error: &(dyn std::error::Error + 'static)) -> bool {
    causes(error).any(|cause| {
        cause
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_parse)
    })
}

/// Our `User-Agent`.
const USER_AGENT: &str = concat!("siteverify/", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_escape_every_reserved_character() {
        let body = WireBody::form([("secret", "a+b&c=d"), ("response", "x/y z%")]);
        assert_eq!(
            body.text(),
            (
                "application/x-www-form-urlencoded",
                "secret=a%2Bb%26c%3Dd&response=x%2Fy+z%25"
            )
        );
    }

    #[test]
    fn json_bodies_are_serialised_once() {
        let body = WireBody::json(&serde_json::json!({ "secret": "s\"q", "token": "t" }));
        assert_eq!(
            body.text(),
            ("application/json", r#"{"secret":"s\"q","token":"t"}"#)
        );
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn no_proxies() -> Matcher {
        Matcher::builder().build()
    }

    #[test]
    fn endpoints_go_direct_unless_reqwest_must_carry_them() {
        let direct = |text: &str, proxies: &Matcher| direct_uri(&url(text), proxies);
        let uri = direct("https://api.hcaptcha.com/siteverify", &no_proxies()).unwrap();
        assert_eq!(uri, "https://api.hcaptcha.com/siteverify");
        assert_eq!(
            direct("http://127.0.0.1:8080/x?y=1", &no_proxies()).unwrap(),
            "http://127.0.0.1:8080/x?y=1"
        );
        // Credentials travel as basic authentication, which reqwest adds.
        assert_eq!(
            direct("https://user:pw@verify.example/x", &no_proxies()),
            None
        );
        assert_eq!(direct("https://user@verify.example/x", &no_proxies()), None);

        let proxies = Matcher::builder()
            .https("http://proxy.internal:3128")
            .no("localhost, .corp.example")
            .build();
        assert_eq!(
            direct("https://www.google.com/recaptcha/api/siteverify", &proxies),
            None
        );
        assert!(direct("https://captcha.corp.example/verify", &proxies).is_some());
        // An https proxy does not cover plain http endpoints, as in reqwest and curl.
        assert!(direct("http://verify.example/x", &proxies).is_some());
        let everything = Matcher::builder().all("http://proxy.internal:3128").build();
        assert_eq!(direct("http://verify.example/x", &everything), None);
    }

    #[test]
    fn a_passed_in_client_always_carries_the_exchange() {
        let endpoint = url("https://api.hcaptcha.com/siteverify");
        let timeout = crate::DEFAULT_CONNECT_TIMEOUT;
        let ours = Transport::for_endpoint(&endpoint, timeout, None, &no_proxies()).unwrap();
        assert_eq!(ours.name(), "direct");
        let passed = Transport::for_endpoint(
            &endpoint,
            timeout,
            Some(reqwest::Client::new()),
            &no_proxies(),
        )
        .unwrap();
        assert_eq!(passed.name(), "reqwest");
        let proxies = Matcher::builder().all("http://proxy.internal:3128").build();
        let proxied = Transport::for_endpoint(&endpoint, timeout, None, &proxies).unwrap();
        assert_eq!(proxied.name(), "reqwest");
    }

    #[test]
    fn an_answer_head_declaring_more_than_the_cap_is_refused_before_its_body() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(
            answer_head(StatusCode::TOO_MANY_REQUESTS, &headers),
            Ok((429, Some(Duration::from_secs(7))))
        );
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(MAX_ANSWER_BYTES as u64),
        );
        assert!(answer_head(StatusCode::OK, &headers).is_ok());
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(MAX_ANSWER_BYTES as u64 + 1),
        );
        assert_eq!(
            answer_head(StatusCode::OK, &headers),
            Err(TransportFailure::TooLarge)
        );
    }

    #[test]
    fn a_body_may_fill_the_cap_but_not_pass_it() {
        let mut body = CappedBody::default();
        body.push(&[b'x'; MAX_ANSWER_BYTES - 1]).unwrap();
        body.push(b"y").unwrap();
        assert_eq!(body.0.len(), MAX_ANSWER_BYTES);
        assert_eq!(body.push(b"z"), Err(TransportFailure::TooLarge));
    }
}
