//! The `CONNECT` handshake with an HTTP proxy, keeping the proxy's answer.
//!
//! hyper-util has one, but its error keeps only "407" or "unsuccessful": a proxy whose rules
//! refuse the provider's host (403) would then look like a provider that is down, and
//! fail-open would let every bot through for as long as the rule stands. Here a refusal says
//! its status, so the verifier can tell our misconfiguration from an outage.

use std::{error::Error as StdError, fmt, future::poll_fn, io, pin::Pin};

use http::{HeaderValue, Uri};
use hyper::rt::{Read, ReadBuf, Write};

use super::{BoxError, USER_AGENT};

/// The longest answer head we read from a proxy.
const MAX_HEAD: usize = 8 * 1024;

/// Why a proxy did not open the tunnel, when that is something to fix rather than wait out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyRefusal {
    /// 407, or a SOCKS proxy refusing the credentials (or asking for some when the
    /// variable has none).
    Credentials,
    /// Any other 3xx or 4xx to the `CONNECT` but 408 and 429: a rule of the proxy's, or a
    /// proxy that does not tunnel.
    Status(u16),
    /// A SOCKS proxy's rules do not allow the connection.
    Denied,
    /// What came back is not an HTTP answer, or the SOCKS proxy cannot take the address.
    Unusable,
}

impl ProxyRefusal {
    /// The code in `VerifyError::provider_codes`.
    pub(crate) fn code(self) -> String {
        match self {
            Self::Credentials => "proxy-auth".to_owned(),
            Self::Status(status) => format!("proxy-http-{status}"),
            Self::Denied => "proxy-denied".to_owned(),
            Self::Unusable => "proxy-unusable".to_owned(),
        }
    }
}

impl fmt::Display for ProxyRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Credentials => f.write_str("the proxy refused its credentials"),
            Self::Status(status) => write!(f, "the proxy refused the tunnel with HTTP {status}"),
            Self::Denied => f.write_str("the proxy's rules refused the connection"),
            Self::Unusable => f.write_str("the proxy's answer could not be used"),
        }
    }
}

impl StdError for ProxyRefusal {}

/// A proxy that could not open the tunnel for now (a 5xx: it cannot reach the provider; 408,
/// 429): an outage like any connect failure.
#[derive(Debug)]
struct ProxyUnavailable(u16);

impl fmt::Display for ProxyUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the proxy could not open the tunnel: HTTP {}", self.0)
    }
}

impl StdError for ProxyUnavailable {}

/// Asks the proxy on `conn` for a tunnel to `dst` and returns the connection once it is
/// open (`2xx`).
pub(crate) async fn open<T: Read + Write + Unpin>(
    mut conn: T,
    dst: &Uri,
    authorization: Option<&HeaderValue>,
) -> Result<T, BoxError> {
    let host = dst.host().ok_or("the endpoint has no host")?;
    let port = super::hop::endpoint_port(dst);
    let mut request = format!(
        "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {USER_AGENT}\r\n"
    )
    .into_bytes();
    if let Some(value) = authorization {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(value.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    write_all(&mut conn, &request).await?;

    let mut head = vec![0; MAX_HEAD];
    let mut filled = 0;
    loop {
        let read = read(&mut conn, &mut head[filled..]).await?;
        if read == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        filled += read;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut answer = httparse::Response::new(&mut headers);
        match answer.parse(&head[..filled]) {
            Ok(httparse::Status::Complete(_)) => {
                return judge(answer.code.unwrap_or_default()).map(|()| conn);
            }
            Ok(httparse::Status::Partial) if filled < head.len() => {}
            _ => return Err(Box::new(ProxyRefusal::Unusable)),
        }
    }
}

/// What the proxy's status to a `CONNECT` means.
fn judge(status: u16) -> Result<(), BoxError> {
    match status {
        200..=299 => Ok(()),
        407 => Err(Box::new(ProxyRefusal::Credentials)),
        408 | 429 | 500..=599 => Err(Box::new(ProxyUnavailable(status))),
        _ => Err(Box::new(ProxyRefusal::Status(status))),
    }
}

async fn write_all<T: Write + Unpin>(conn: &mut T, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = poll_fn(|cx| Pin::new(&mut *conn).poll_write(cx, bytes)).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[written..];
    }
    poll_fn(|cx| Pin::new(&mut *conn).poll_flush(cx)).await
}

async fn read<T: Read + Unpin>(conn: &mut T, into: &mut [u8]) -> io::Result<usize> {
    let mut buf = ReadBuf::new(into);
    poll_fn(|cx| Pin::new(&mut *conn).poll_read(cx, buf.unfilled())).await?;
    Ok(buf.filled().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_ours_to_fix_unless_the_proxy_cannot_reach_the_provider() {
        let outcome = |status| match judge(status) {
            Ok(()) => "open".to_owned(),
            Err(e) => match e.downcast_ref::<ProxyRefusal>() {
                Some(refusal) => refusal.code(),
                None => "outage".to_owned(),
            },
        };
        assert_eq!(outcome(200), "open");
        assert_eq!(outcome(407), "proxy-auth");
        assert_eq!(outcome(403), "proxy-http-403");
        assert_eq!(outcome(405), "proxy-http-405");
        assert_eq!(outcome(301), "proxy-http-301");
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(outcome(status), "outage", "{status}");
        }
    }
}
