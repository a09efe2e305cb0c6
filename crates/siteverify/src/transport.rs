//! One HTTP exchange with a verify endpoint: send, read a capped answer, classify transport
//! failures. Retries and the overall deadline live in the verifier.

use std::{sync::OnceLock, time::Duration};

use bytes::Bytes;
use reqwest::{
    Client, Url,
    header::{self, HeaderValue},
};
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
}

impl WireBody {
    /// An `application/x-www-form-urlencoded` body of `fields`, in their order.
    pub(crate) fn form<'a>(fields: impl IntoIterator<Item = (&'static str, &'a str)>) -> Self {
        let mut encoded = form_urlencoded::Serializer::new(String::with_capacity(256));
        encoded.extend_pairs(fields);
        Self {
            content_type: HeaderValue::from_static("application/x-www-form-urlencoded"),
            bytes: Bytes::from(encoded.finish()),
        }
    }

    /// An `application/json` body.
    pub(crate) fn json(value: &impl Serialize) -> Self {
        // Serialising string fields into a vector cannot fail.
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        Self {
            content_type: HeaderValue::from_static("application/json"),
            bytes: Bytes::from(bytes),
        }
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> (&str, &str) {
        (
            self.content_type.to_str().unwrap_or_default(),
            std::str::from_utf8(&self.bytes).unwrap_or_default(),
        )
    }
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
    /// The connection broke after the request may have been sent.
    ConnectionLost,
    /// The answer exceeded [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// The HTTP client refused the request (a bad URL, too many redirects of an injected
    /// client): ours to fix.
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
            TransportFailure::TooLarge => VerifyError::ProviderError(BadAnswer::TooLarge {
                limit: MAX_ANSWER_BYTES,
            }),
            TransportFailure::Client => VerifyError::ProviderMisconfigured {
                provider_codes: vec!["http-client".to_owned()],
            },
        }
    }
}

/// The client every verifier shares unless told otherwise: one connection pool for the whole
/// process, so that verifications reuse warm TLS connections instead of paying a handshake each.
pub(crate) fn shared_client() -> Result<Client, ConfigError> {
    static SHARED: OnceLock<Result<Client, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| build_client(DEFAULT_CONNECT_TIMEOUT).map_err(|e| e.to_string()))
        .clone()
        .map_err(ConfigError::HttpClient)
}

/// A client with our connect timeout. Redirects are not followed: a verify endpoint that
/// redirects is misconfigured, and following it would resend the secret to another place.
/// reqwest's own retries are off: the verifier decides what may be sent twice (a token is
/// single use), and leaving them on costs a copy of every request's headers kept in case.
pub(crate) fn build_client(connect_timeout: Duration) -> Result<Client, reqwest::Error> {
    Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .user_agent(concat!("siteverify/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
}

/// Sends `body` to `url` and reads the answer, all before `deadline`.
pub(crate) async fn exchange(
    client: &Client,
    url: &Url,
    body: &WireBody,
    deadline: Instant,
) -> Result<WireAnswer, TransportFailure> {
    match tokio::time::timeout_at(deadline, exchange_inner(client, url, body)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(TransportFailure::Timeout),
    }
}

async fn exchange_inner(
    client: &Client,
    url: &Url,
    body: &WireBody,
) -> Result<WireAnswer, TransportFailure> {
    let mut response = client
        .post(url.clone())
        .header(header::ACCEPT, HeaderValue::from_static("application/json"))
        .header(header::CONTENT_TYPE, body.content_type.clone())
        .body(body.bytes.clone())
        .send()
        .await
        .map_err(classify)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    if response
        .content_length()
        .is_some_and(|len| len > MAX_ANSWER_BYTES as u64)
    {
        return Err(TransportFailure::TooLarge);
    }
    let mut collected = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if collected.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(TransportFailure::TooLarge);
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(WireAnswer {
        status,
        body: collected,
        retry_after,
    })
}

/// Maps a reqwest error to what it means for a retry. Only a connect error proves that no
/// byte of the request left this machine.
fn classify(error: reqwest::Error) -> TransportFailure {
    if error.is_builder() || error.is_redirect() {
        TransportFailure::Client
    } else if error.is_connect() {
        TransportFailure::Connect
    } else if error.is_timeout() {
        TransportFailure::Timeout
    } else {
        TransportFailure::ConnectionLost
    }
}

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
}
