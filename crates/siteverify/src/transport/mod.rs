//! One HTTP exchange with a verify endpoint: send, read a capped answer, classify transport
//! failures. Retries and the overall deadline live in the verifier.
//!
//! Two clients can carry the exchange. By default it is hyper's pooled HTTP/1.1 client with
//! rustls ([`direct`]), straight to the endpoint or through the environment's proxy
//! ([`hop`]): a verification is a small POST on a hot path, and reqwest's conveniences
//! (redirects, retries, decompression, cookies) are ones we turn off anyway, while its layers
//! cost about a third of a verification's CPU. With the `reqwest` feature, a client the user
//! passes in carries it instead ([`via_reqwest`]).

mod direct;
mod hop;
mod tunnel;
#[cfg(feature = "reqwest")]
mod via_reqwest;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use hyper_util::client::proxy::matcher::Matcher;
use percent_encoding::percent_decode_str;
use serde::Serialize;
use tokio::time::Instant;
use url::Url;

use crate::{BadAnswer, ConfigError, Outage, VerifyError};

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
    #[cfg(feature = "reqwest")]
    Redirected,
    /// The TLS layer refused the endpoint (see [`is_tls_refusal`]).
    TlsRefused,
    /// The proxy the environment names refused the connection for a reason of ours to fix.
    ProxyRefused(tunnel::ProxyRefusal),
    /// The answer exceeded [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// The HTTP client refused the request (a URL it cannot send to, a redirect an injected
    /// client would not follow): ours to fix.
    #[cfg(feature = "reqwest")]
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
            #[cfg(feature = "reqwest")]
            TransportFailure::Redirected => VerifyError::ProviderMisconfigured {
                provider_codes: vec!["http-redirect".to_owned()],
            },
            TransportFailure::ProxyRefused(refusal) => VerifyError::ProviderMisconfigured {
                provider_codes: vec![refusal.code()],
            },
            TransportFailure::TlsRefused => VerifyError::ProviderMisconfigured {
                provider_codes: vec!["tls".to_owned()],
            },
            TransportFailure::TooLarge => VerifyError::ProviderError(BadAnswer::TooLarge {
                limit: MAX_ANSWER_BYTES,
            }),
            #[cfg(feature = "reqwest")]
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
    /// hyper and rustls, straight to the endpoint or through the environment's proxy.
    Direct {
        client: direct::Client,
        target: Box<Target>,
    },
    /// A reqwest client the user passed in.
    #[cfg(feature = "reqwest")]
    Reqwest { client: reqwest::Client, url: Url },
}

/// Where the direct client sends: the endpoint without the URL's credentials, which travel
/// as headers instead (marked sensitive, so no `Debug` of a request shows them).
#[derive(Clone)]
pub(crate) struct Target {
    uri: Uri,
    /// `Authorization: Basic …` from the verify URL's user and password.
    authorization: Option<HeaderValue>,
    /// `Proxy-Authorization` of a proxy that takes the request itself (a plain `http`
    /// endpoint); a tunnel's is sent with its `CONNECT` instead.
    proxy_authorization: Option<HeaderValue>,
    /// Whether the client goes through a proxy.
    proxied: bool,
}

impl Transport {
    /// The transport of a verifier of `url`: the process's shared direct client (one per
    /// connect timeout), or one of its own through the proxy that `proxies` name for the
    /// endpoint.
    pub(crate) fn for_endpoint(
        url: &Url,
        connect_timeout: Duration,
        proxies: &Matcher,
    ) -> Result<Self, ConfigError> {
        let mut target = Box::new(Target::of(url)?);
        let Some(intercept) = proxies.intercept(&target.uri) else {
            return Ok(Self::Direct {
                client: direct::client(connect_timeout)?,
                target,
            });
        };
        let authorization = intercept.basic_auth().cloned().map(sensitive);
        let (client, proxy) = direct::proxied(
            connect_timeout,
            intercept.uri().clone(),
            authorization.clone(),
            intercept
                .raw_auth()
                .map(|(user, password)| (user.to_owned(), password.to_owned())),
        )?;
        target.proxied = true;
        if proxy.forwards(&target.uri) {
            target.proxy_authorization = authorization;
        }
        Ok(Self::Direct { client, target })
    }

    /// The transport of a verifier of `url` that sends with the user's `client`.
    #[cfg(feature = "reqwest")]
    pub(crate) fn injected(client: reqwest::Client, url: &Url) -> Self {
        Self::Reqwest {
            client,
            url: url.clone(),
        }
    }

    /// Which client carries the exchange, for logs and tests.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Direct { target, .. } if target.proxied => "proxy",
            Self::Direct { .. } => "direct",
            #[cfg(feature = "reqwest")]
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
            Self::Direct { client, target } => {
                direct::exchange(client, target, body, deadline).await
            }
            #[cfg(feature = "reqwest")]
            Self::Reqwest { client, url } => {
                via_reqwest::exchange(client, url, body, deadline).await
            }
        }
    }
}

impl Target {
    /// `url` as the direct client sends to it: its credentials (percent-decoded, as curl and
    /// reqwest read them) taken out into an `Authorization` header.
    fn of(url: &Url) -> Result<Self, ConfigError> {
        let invalid = |_| ConfigError::InvalidVerifyUrl("not a URI the HTTP client takes".into());
        let (uri, authorization) = if url.username().is_empty() && url.password().is_none() {
            (Uri::try_from(url.as_str()).map_err(invalid)?, None)
        } else {
            // The bytes themselves, as curl sends them, UTF-8 or not.
            let mut credentials: Vec<u8> = percent_decode_str(url.username()).collect();
            credentials.push(b':');
            credentials.extend(percent_decode_str(url.password().unwrap_or_default()));
            let mut bare = url.clone();
            // An http(s) URL always has a host, so its credentials can be taken out.
            let _ = bare.set_username("");
            let _ = bare.set_password(None);
            let authorization =
                HeaderValue::try_from(format!("Basic {}", BASE64.encode(credentials))).map_err(
                    |_| ConfigError::InvalidVerifyUrl("credentials that are no header".into()),
                )?;
            let uri = Uri::try_from(bare.as_str()).map_err(invalid)?;
            (uri, Some(sensitive(authorization)))
        };
        Ok(Self {
            uri,
            authorization,
            proxy_authorization: None,
            proxied: false,
        })
    }
}

fn sensitive(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}

/// A connection's error, as hyper-util's connectors give it.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The proxy settings of the environment, as curl and reqwest read them.
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

    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    fn target(text: &str, proxies: &Matcher) -> (&'static str, Target) {
        let transport =
            Transport::for_endpoint(&url(text), crate::DEFAULT_CONNECT_TIMEOUT, proxies).unwrap();
        let name = transport.name();
        #[allow(irrefutable_let_patterns)]
        let Transport::Direct { target, .. } = transport else {
            unreachable!("only a passed-in client is not direct")
        };
        (name, *target)
    }

    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    #[test]
    fn the_environment_s_proxies_pick_the_route_as_curl_does() {
        let (name, plain) = target("https://api.hcaptcha.com/siteverify", &no_proxies());
        assert_eq!(
            (name, plain.uri.to_string().as_str()),
            ("direct", "https://api.hcaptcha.com/siteverify")
        );
        assert!(plain.authorization.is_none() && plain.proxy_authorization.is_none());

        let proxies = Matcher::builder()
            .https("http://proxy.internal:3128")
            .no("localhost, .corp.example")
            .build();
        assert_eq!(
            target("https://www.google.com/recaptcha/api/siteverify", &proxies).0,
            "proxy"
        );
        assert_eq!(
            target("https://captcha.corp.example/verify", &proxies).0,
            "direct"
        );
        // An https proxy does not cover plain http endpoints, as in reqwest and curl.
        assert_eq!(target("http://verify.example/x", &proxies).0, "direct");
        for scheme in ["socks5h", "socks5", "socks4a", "socks4", "https"] {
            let everything = Matcher::builder()
                .all(format!("{scheme}://proxy.internal:1080"))
                .build();
            assert_eq!(
                target("http://verify.example/x", &everything).0,
                "proxy",
                "{scheme}"
            );
        }
    }

    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    #[test]
    fn a_proxy_s_credentials_go_with_the_request_only_when_it_takes_the_request_itself() {
        let proxies = Matcher::builder()
            .all("http://ops:s3cret@proxy.internal:3128")
            .build();
        // A plain http endpoint: the request goes to the proxy, its credentials with it.
        let (_, forwarded) = target("http://verify.example/x", &proxies);
        let credentials = forwarded.proxy_authorization.unwrap();
        assert_eq!(credentials, "Basic b3BzOnMzY3JldA==");
        assert!(credentials.is_sensitive());
        // An https endpoint: a tunnel, whose CONNECT carries them; the request must not, or
        // the endpoint would see them.
        let (_, tunnelled) = target("https://verify.example/x", &proxies);
        assert!(tunnelled.proxy_authorization.is_none());
    }

    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    #[test]
    fn the_url_s_credentials_become_a_sensitive_authorization_header() {
        let (_, both) = target("https://gate:kee%40per@verify.example/x?y=1", &no_proxies());
        assert_eq!(both.uri, "https://verify.example/x?y=1");
        let credentials = both.authorization.unwrap();
        // base64("gate:kee@per"): percent-decoded, as curl sends it.
        assert_eq!(credentials, "Basic Z2F0ZTprZWVAcGVy");
        assert!(credentials.is_sensitive());
        let (_, user_only) = target("https://user@verify.example/x", &no_proxies());
        assert_eq!(user_only.authorization.unwrap(), "Basic dXNlcjo=");
        // Bytes that are not UTF-8 are sent as they are, not replaced.
        let (_, raw) = target("https://%FF:x@verify.example/x", &no_proxies());
        assert_eq!(raw.authorization.unwrap(), "Basic /zp4");
    }

    /// Built with neither crypto feature (`.ci/run` does): the error says what to do.
    #[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
    #[test]
    fn without_a_crypto_provider_building_says_which_feature_to_enable() {
        let endpoint = url("https://api.hcaptcha.com/siteverify");
        let Err(ConfigError::HttpClient(why)) =
            Transport::for_endpoint(&endpoint, crate::DEFAULT_CONNECT_TIMEOUT, &no_proxies())
        else {
            panic!("built without a crypto provider")
        };
        assert!(why.contains("`aws-lc-rs` or `ring` feature"), "{why}");
    }

    #[cfg(feature = "reqwest")]
    #[test]
    fn a_passed_in_client_carries_the_exchange() {
        let passed = Transport::injected(
            reqwest::Client::new(),
            &url("https://api.hcaptcha.com/siteverify"),
        );
        assert_eq!(passed.name(), "reqwest");
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
