//! A connection's first hop: straight to the endpoint, or through the proxy the environment
//! names for it (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, read as curl and
//! reqwest read them).
//!
//! Through an `http://` or `https://` proxy an `https` endpoint is reached by a `CONNECT`
//! tunnel ([`super::tunnel`]; TLS to the endpoint inside it, so the proxy never sees the
//! secret), and a plain `http` endpoint by sending the request itself to the proxy in
//! absolute form. Through a SOCKS proxy (`socks4`, `socks4a`, `socks5`, `socks5h`; the `a`
//! and `h` forms let the proxy resolve the name) either scheme goes through the proxy's own
//! handshake, hyper-util's. This module picks the way and gives the pool one stream type.

use std::{
    error::Error as StdError,
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderValue, Uri, uri::Scheme};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::{
    client::legacy::connect::{
        Connected, Connection, HttpConnector,
        proxy::{SocksV4, SocksV5},
    },
    rt::TokioIo,
};
use tokio::net::TcpStream;
use tower_service::Service;

use super::{
    BoxError,
    tunnel::{self, ProxyRefusal},
};

/// The connector under the TLS layer: TCP to the endpoint, or to and through a proxy.
#[derive(Clone)]
pub(crate) struct Hop {
    tcp: HttpConnector,
    via: Option<Arc<Proxy>>,
}

impl Hop {
    /// Straight to each endpoint.
    pub(crate) fn straight(tcp: HttpConnector) -> Self {
        Self { tcp, via: None }
    }

    /// Through `proxy`.
    pub(crate) fn through(tcp: HttpConnector, proxy: Arc<Proxy>) -> Self {
        Self {
            tcp,
            via: Some(proxy),
        }
    }
}

/// A proxy and what it takes to pass through it.
pub(crate) struct Proxy {
    uri: Uri,
    kind: Kind,
}

enum Kind {
    /// `http://`: plain TCP to the proxy.
    Http {
        authorization: Option<HeaderValue>,
    },
    /// `https://`: TLS to the proxy itself (the endpoint's TLS then runs inside it).
    Https {
        tls: HttpsConnector<HttpConnector>,
        authorization: Option<HeaderValue>,
    },
    Socks4 {
        remote_dns: bool,
    },
    Socks5 {
        remote_dns: bool,
        credentials: Option<(String, String)>,
    },
}

/// A proxy scheme we cannot speak.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UnsupportedProxy(pub(crate) String);

impl Proxy {
    /// The proxy at `uri` with the environment's credentials for it: `authorization` (a
    /// `Proxy-Authorization` value) for HTTP proxies, `credentials` for SOCKS 5. `tls`
    /// builds the TLS connector an `https://` proxy is reached with.
    pub(crate) fn new(
        uri: Uri,
        authorization: Option<HeaderValue>,
        credentials: Option<(String, String)>,
        tls: impl FnOnce() -> HttpsConnector<HttpConnector>,
    ) -> Result<Self, UnsupportedProxy> {
        let scheme = uri.scheme_str().unwrap_or_default().to_owned();
        // A SOCKS proxy named without a port listens on 1080, as curl and reqwest take it.
        let uri = match uri.port() {
            None if scheme.starts_with("socks") => {
                with_port(uri, 1080).map_err(|_| UnsupportedProxy(scheme.clone()))?
            }
            _ => uri,
        };
        let kind = match scheme.as_str() {
            "http" => Kind::Http { authorization },
            "https" => Kind::Https {
                tls: tls(),
                authorization,
            },
            "socks4" => Kind::Socks4 { remote_dns: false },
            "socks4a" => Kind::Socks4 { remote_dns: true },
            "socks5" => Kind::Socks5 {
                remote_dns: false,
                credentials,
            },
            "socks5h" => Kind::Socks5 {
                remote_dns: true,
                credentials,
            },
            _ => return Err(UnsupportedProxy(scheme)),
        };
        Ok(Self { uri, kind })
    }

    /// Whether a plain `http` request to `dst` is sent to this proxy in absolute form (and
    /// so carries the `Proxy-Authorization` header itself), rather than through a tunnel.
    pub(crate) fn forwards(&self, dst: &Uri) -> bool {
        dst.scheme() != Some(&Scheme::HTTPS)
            && matches!(self.kind, Kind::Http { .. } | Kind::Https { .. })
    }

    async fn connect(&self, mut tcp: HttpConnector, dst: Uri) -> Result<HopStream, BoxError> {
        let forward = self.forwards(&dst);
        let io = match &self.kind {
            Kind::Http { authorization } => {
                let conn = tcp.call(self.uri.clone()).await?;
                Io::Tcp(tunnel_unless(forward, conn, &dst, authorization).await?)
            }
            Kind::Https { tls, authorization } => {
                let conn = tls.clone().call(self.uri.clone()).await?;
                Io::Tls(Box::new(
                    tunnel_unless(forward, conn, &dst, authorization).await?,
                ))
            }
            Kind::Socks4 { remote_dns } => {
                let dst = socks_destination(dst, *remote_dns, true).await?;
                let mut socks = SocksV4::new(self.uri.clone(), tcp).local_dns(false);
                Io::Tcp(socks.call(dst).await.map_err(socks_error)?)
            }
            Kind::Socks5 {
                remote_dns,
                credentials,
            } => {
                let dst = socks_destination(dst, *remote_dns, false).await?;
                let mut socks = SocksV5::new(self.uri.clone(), tcp).local_dns(false);
                if let Some((user, password)) = credentials {
                    socks = socks.with_auth(user.clone(), password.clone());
                }
                Io::Tcp(socks.call(dst).await.map_err(socks_error)?)
            }
        };
        Ok(HopStream { io, forward })
    }
}

/// A connection to an HTTP proxy as it is for a request sent to the proxy itself
/// (`forward`), else with a tunnel to `dst` opened through it.
async fn tunnel_unless<T: Read + Write + Unpin>(
    forward: bool,
    conn: T,
    dst: &Uri,
    authorization: &Option<HeaderValue>,
) -> Result<T, BoxError> {
    if forward {
        return Ok(conn);
    }
    tunnel::open(conn, dst, authorization.as_ref()).await
}

/// What to ask a SOCKS proxy for: `dst` with its port spelled out, and, unless the proxy
/// resolves names (`socks4a`, `socks5h`), the address we resolved, asynchronously: the SOCKS
/// connectors would resolve it themselves with a blocking call on the runtime's thread,
/// which no deadline can interrupt. SOCKS 4 takes IPv4 addresses only.
async fn socks_destination(dst: Uri, remote_dns: bool, v4_only: bool) -> Result<Uri, BoxError> {
    let port = endpoint_port(&dst);
    let dst = with_port(dst, port)?;
    let host = dst.host().ok_or("the endpoint has no host")?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if remote_dns || bare.parse::<std::net::IpAddr>().is_ok() {
        return Ok(dst);
    }
    let address = tokio::net::lookup_host((bare, port))
        .await?
        .find(|address| !v4_only || address.is_ipv4())
        .ok_or("the endpoint's name has no address this proxy can take")?;
    let mut parts = dst.into_parts();
    parts.authority = Some(address.to_string().parse()?);
    Ok(Uri::from_parts(parts)?)
}

/// hyper-util's SOCKS error, with what is ours to fix told apart from an outage. Its types
/// are not exported, so they are known by their messages (pinned by the tests).
fn socks_error(error: impl StdError + Send + Sync + 'static) -> BoxError {
    let message = error.to_string();
    let refusal = if [
        "credentials not accepted",
        "server does not support user/pass authentication",
        "server implements authentication incorrectly",
    ]
    .iter()
    .any(|m| message.ends_with(m))
    {
        Some(ProxyRefusal::Credentials)
    } else if message.ends_with("connection not allowed") {
        Some(ProxyRefusal::Denied)
    } else if message.ends_with("IPV6 is not supported")
        || message.ends_with("address type not supported")
        || message.ends_with("command not supported")
        || message.ends_with("failed parsing server response")
    {
        Some(ProxyRefusal::Unusable)
    } else {
        None
    };
    match refusal {
        Some(refusal) => Box::new(refusal),
        None => Box::new(error),
    }
}

/// `uri` with its port spelled out, `default` when it has none.
fn with_port(uri: Uri, default: u16) -> Result<Uri, BoxError> {
    if uri.port().is_some() {
        return Ok(uri);
    }
    let host = uri.host().ok_or("no host")?;
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(format!("{host}:{default}").parse()?);
    Ok(Uri::from_parts(parts)?)
}

/// The endpoint's port: the SOCKS connectors take a missing port for 443, which is wrong
/// for a plain `http` endpoint.
pub(super) fn endpoint_port(dst: &Uri) -> u16 {
    dst.port_u16()
        .unwrap_or(if dst.scheme() == Some(&Scheme::HTTPS) {
            443
        } else {
            80
        })
}

impl Service<Uri> for Hop {
    type Response = HopStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HopStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The TCP connector is always ready; each call clones it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        match self.via.clone() {
            None => Box::pin(async move {
                Ok(HopStream {
                    io: Io::Tcp(tcp.call(dst).await?),
                    forward: false,
                })
            }),
            Some(proxy) => Box::pin(async move { proxy.connect(tcp, dst).await }),
        }
    }
}

enum Io {
    Tcp(TokioIo<TcpStream>),
    /// Boxed: a TLS session is large, and rare here (an `https://` proxy).
    Tls(Box<MaybeHttpsStream<TokioIo<TcpStream>>>),
}

/// A connection to the endpoint, or (`forward`) to a proxy that takes requests in absolute
/// form: hyper's pool learns which from [`Connection::connected`].
pub(crate) struct HopStream {
    io: Io,
    forward: bool,
}

impl Connection for HopStream {
    fn connected(&self) -> Connected {
        let connected = match &self.io {
            Io::Tcp(io) => io.connected(),
            Io::Tls(io) => io.connected(),
        };
        connected.proxy(self.forward)
    }
}

/// Both kinds of stream, by reference to the one inside.
macro_rules! each_io {
    ($self:ident, $io:ident => $body:expr) => {
        match &mut $self.get_mut().io {
            Io::Tcp($io) => {
                let $io = Pin::new($io);
                $body
            }
            Io::Tls($io) => {
                let $io = Pin::new($io.as_mut());
                $body
            }
        }
    };
}

impl Read for HopStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        each_io!(self, io => io.poll_read(cx, buf))
    }
}

impl Write for HopStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_io!(self, io => io.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_io!(self, io => io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_io!(self, io => io.poll_shutdown(cx))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Tcp(io) => io.is_write_vectored(),
            Io::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_io!(self, io => io.poll_write_vectored(cx, bufs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks_gets_the_port_of_the_endpoint_s_scheme() {
        let port = |text: &str| {
            let uri: Uri = text.parse().unwrap();
            let port = endpoint_port(&uri);
            with_port(uri, port).unwrap().to_string()
        };
        assert_eq!(
            port("http://verify.example/x?y=1"),
            "http://verify.example:80/x?y=1"
        );
        assert_eq!(
            port("https://verify.example/x"),
            "https://verify.example:443/x"
        );
        assert_eq!(
            port("http://verify.example:8080/x"),
            "http://verify.example:8080/x"
        );
        assert_eq!(port("http://[::1]/x"), "http://[::1]:80/x");
    }

    #[test]
    fn a_socks_proxy_without_a_port_is_on_1080() {
        let proxy = |text: &str| {
            let tls = || unreachable!("no TLS for a SOCKS proxy");
            Proxy::new(text.parse().unwrap(), None, None, tls)
                .unwrap()
                .uri
                .to_string()
        };
        assert_eq!(
            proxy("socks5h://proxy.internal"),
            "socks5h://proxy.internal:1080/"
        );
        assert_eq!(
            proxy("socks4://proxy.internal:9050"),
            "socks4://proxy.internal:9050/"
        );
    }
}
