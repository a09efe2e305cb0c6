//! A connection's first hop: straight to the endpoint, or through the proxy the environment
//! names for it (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, read as curl and
//! reqwest read them).
//!
//! Through an `http://` or `https://` proxy an `https` endpoint is reached by a `CONNECT`
//! tunnel (TLS to the endpoint inside it, so the proxy never sees the secret), and a plain
//! `http` endpoint by sending the request itself to the proxy in absolute form. Through a
//! SOCKS proxy (`socks4`, `socks4a`, `socks5`, `socks5h`; the `a` and `h` forms let the
//! proxy resolve the name) either scheme goes through the proxy's own handshake. The
//! connectors are hyper-util's; this module only picks one and gives the pool one stream type.

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
        proxy::{SocksV4, SocksV5, Tunnel},
    },
    rt::TokioIo,
};
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn StdError + Send + Sync>;

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

/// The proxy refused our credentials (`407` to the `CONNECT`): ours to fix, not an outage
/// to wait out or fail open on.
#[derive(Debug)]
pub(crate) struct ProxyAuthRefused;

impl std::fmt::Display for ProxyAuthRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the proxy refused its credentials (407)")
    }
}

impl StdError for ProxyAuthRefused {}

/// hyper-util's tunnel error, with a refused authorisation told apart. Its type is not
/// exported, so it is known by its message (pinned by the tests of a 407).
fn tunnel_error(error: impl StdError + Send + Sync + 'static) -> BoxError {
    if error.to_string().ends_with("proxy authorization required") {
        Box::new(ProxyAuthRefused)
    } else {
        Box::new(error)
    }
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
        let kind = match uri.scheme_str().unwrap_or_default() {
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
            other => return Err(UnsupportedProxy(other.to_owned())),
        };
        Ok(Self { uri, kind })
    }

    /// Whether a plain `http` request to `dst` is sent to this proxy in absolute form (and
    /// so carries the `Proxy-Authorization` header itself), rather than through a tunnel.
    pub(crate) fn forwards(&self, dst: &Uri) -> bool {
        dst.scheme() != Some(&Scheme::HTTPS)
            && matches!(self.kind, Kind::Http { .. } | Kind::Https { .. })
    }

    async fn connect(&self, tcp: HttpConnector, dst: Uri) -> Result<HopStream, BoxError> {
        let forward = self.forwards(&dst);
        let io = match &self.kind {
            Kind::Http { authorization } if !forward => Io::Tcp(
                with_auth(Tunnel::new(self.uri.clone(), tcp), authorization)
                    .call(dst)
                    .await
                    .map_err(tunnel_error)?,
            ),
            Kind::Http { .. } => Io::Tcp(tcp.clone().call(self.uri.clone()).await?),
            Kind::Https { tls, authorization } if !forward => Io::Tls(Box::new(
                with_auth(Tunnel::new(self.uri.clone(), tls.clone()), authorization)
                    .call(dst)
                    .await
                    .map_err(tunnel_error)?,
            )),
            Kind::Https { tls, .. } => Io::Tls(Box::new(tls.clone().call(self.uri.clone()).await?)),
            Kind::Socks4 { remote_dns } => Io::Tcp(
                SocksV4::new(self.uri.clone(), tcp)
                    .local_dns(!remote_dns)
                    .call(with_port(dst)?)
                    .await?,
            ),
            Kind::Socks5 {
                remote_dns,
                credentials,
            } => {
                let mut socks = SocksV5::new(self.uri.clone(), tcp).local_dns(!remote_dns);
                if let Some((user, password)) = credentials {
                    socks = socks.with_auth(user.clone(), password.clone());
                }
                Io::Tcp(socks.call(with_port(dst)?).await?)
            }
        };
        Ok(HopStream { io, forward })
    }
}

fn with_auth<C>(tunnel: Tunnel<C>, authorization: &Option<HeaderValue>) -> Tunnel<C> {
    match authorization {
        Some(value) => tunnel.with_auth(value.clone()),
        None => tunnel,
    }
}

/// `dst` with its port spelled out: the SOCKS connectors take a missing port for 443,
/// which is wrong for a plain `http` endpoint.
fn with_port(dst: Uri) -> Result<Uri, BoxError> {
    if dst.port().is_some() {
        return Ok(dst);
    }
    let port = if dst.scheme() == Some(&Scheme::HTTPS) {
        443
    } else {
        80
    };
    let host = dst.host().ok_or("the endpoint has no host")?;
    let mut parts = dst.clone().into_parts();
    parts.authority = Some(format!("{host}:{port}").parse()?);
    Ok(Uri::from_parts(parts)?)
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
        let port = |text: &str| with_port(text.parse().unwrap()).unwrap().to_string();
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
    }
}
