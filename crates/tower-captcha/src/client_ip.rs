//! Which IP address of the client is forwarded to the provider.
//!
//! Providers take the client's address as an optional extra signal (`remoteip`). Sending the
//! wrong one is worse than sending none: every request would look as if it came from your
//! load balancer, or from whatever address a bot chose to claim. Pick the source that matches
//! how requests reach your server:
//!
//! | deployment | source |
//! |---|---|
//! | clients connect straight to this server | [`ClientIp::PeerAddr`] |
//! | one reverse proxy you run (nginx, HAProxy, a cloud load balancer) appends to `X-Forwarded-For` | [`ClientIp::RightmostXForwardedFor`] |
//! | one proxy you run appends to the RFC 7239 `Forwarded` header | [`ClientIp::RightmostForwarded`] |
//! | nginx sets `X-Real-IP` | [`ClientIp::XRealIp`] |
//! | Cloudflare | [`ClientIp::CfConnectingIp`] |
//! | Akamai, or Cloudflare Enterprise | [`ClientIp::TrueClientIp`] |
//! | Fly.io | [`ClientIp::FlyClientIp`] |
//! | AWS CloudFront | [`ClientIp::CloudFrontViewerAddress`] |
//! | anything else | a closure, see [`ClientIpSource`] |
//!
//! A header source is only sound when every request passes through the proxy that sets the
//! header: if clients can also reach this server directly, they can send the header
//! themselves. Use [`ClientIp::PeerAddr`] then, or firewall the server.
//!
//! # Never the left-most `X-Forwarded-For` entry
//!
//! Each proxy appends the address it received the request from, so the list reads
//! `client-supplied…, what-your-proxy-saw`. Everything to the left of the entries your own
//! proxies added was written by the client, who can put any address there:
//! `X-Forwarded-For: 6.6.6.6, 10.0.0.1` is a client that claimed `6.6.6.6`, seen by your proxy
//! as `10.0.0.1`. Hence only the right-most entry, the one your own proxy appended, is used.
//! Behind two proxies (a CDN in front of your load balancer) the right-most entry is the CDN;
//! use the CDN's own header, or a closure that skips your known proxies.
//!
//! Unparseable or absent headers, and headers that must occur once but occur several times
//! (a sign of a misconfigured proxy chain), give no address at all rather than a guess.

use std::net::IpAddr;

use http::{HeaderMap, request::Parts};

/// Where the client's IP address comes from. Never the raw left-most `X-Forwarded-For`: a
/// client writes that itself.
///
/// [`ClientIp`] covers the common deployments; any
/// `Fn(&http::request::Parts) -> Option<IpAddr>` closure is a source too:
///
/// ```
/// use std::net::IpAddr;
/// use tower_captcha::ClientIpSource;
///
/// // Our own header, set by an edge proxy that strips it from incoming requests.
/// let source = |parts: &http::request::Parts| -> Option<IpAddr> {
///     parts.headers.get("x-edge-client")?.to_str().ok()?.parse().ok()
/// };
/// let (parts, ()) = http::Request::builder()
///     .header("x-edge-client", "198.51.100.4")
///     .body(())?
///     .into_parts();
/// assert_eq!(source.client_ip(&parts), Some("198.51.100.4".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ClientIpSource: Send + Sync + 'static {
    /// The client's address, or `None` when it is unknown or cannot be trusted.
    fn client_ip(&self, parts: &Parts) -> Option<IpAddr>;
}

impl<F> ClientIpSource for F
where
    F: Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
{
    fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        self(parts)
    }
}

/// The built-in client address sources; see the [module docs](self) for which one fits.
///
/// In a configuration file they are written in snake case: `"off"`, `"peer_addr"`,
/// `"rightmost_x_forwarded_for"`, `"rightmost_forwarded"`, `"x_real_ip"`, `"cf_connecting_ip"`,
/// `"true_client_ip"`, `"fly_client_ip"`, `"cloudfront_viewer_address"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientIp {
    /// Forward no address.
    #[default]
    Off,
    /// The TCP peer: axum's `ConnectInfo<SocketAddr>` (or `MockConnectInfo<SocketAddr>`) in the
    /// request extensions, present when the app is served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`. Without it, or without the `axum`
    /// feature, no address.
    PeerAddr,
    /// The right-most entry of the last `X-Forwarded-For` header: the one your own proxy
    /// appended.
    RightmostXForwardedFor,
    /// The `for=` of the right-most element of the last RFC 7239 `Forwarded` header.
    RightmostForwarded,
    /// `X-Real-IP`, as set by nginx.
    XRealIp,
    /// `CF-Connecting-IP`, set by Cloudflare.
    CfConnectingIp,
    /// `True-Client-IP`, set by Akamai and Cloudflare Enterprise.
    TrueClientIp,
    /// `Fly-Client-IP`, set by Fly.io.
    FlyClientIp,
    /// `CloudFront-Viewer-Address`, set by AWS CloudFront (the port is dropped).
    #[serde(rename = "cloudfront_viewer_address")]
    CloudFrontViewerAddress,
}

impl ClientIpSource for ClientIp {
    fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        let from_header = |extract: fn(&HeaderMap) -> Result<IpAddr, client_ip::Error>| {
            // The error carries the header value, which the client controls: drop it rather
            // than let it near a log line.
            extract(&parts.headers).ok()
        };
        match self {
            ClientIp::Off => None,
            ClientIp::PeerAddr => peer_addr(parts),
            ClientIp::RightmostXForwardedFor => from_header(client_ip::rightmost_x_forwarded_for),
            ClientIp::RightmostForwarded => from_header(client_ip::rightmost_forwarded),
            ClientIp::XRealIp => from_header(client_ip::x_real_ip),
            ClientIp::CfConnectingIp => from_header(client_ip::cf_connecting_ip),
            ClientIp::TrueClientIp => from_header(client_ip::true_client_ip),
            ClientIp::FlyClientIp => from_header(client_ip::fly_client_ip),
            ClientIp::CloudFrontViewerAddress => from_header(client_ip::cloudfront_viewer_address),
        }
    }
}

#[cfg(feature = "axum")]
fn peer_addr(parts: &Parts) -> Option<IpAddr> {
    use std::net::SocketAddr;

    use axum::extract::{ConnectInfo, connect_info::MockConnectInfo};

    // The same fallback as axum's own `ConnectInfo` extractor, so tests that use
    // `MockConnectInfo` see the address their handlers see.
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .or_else(|| {
            parts
                .extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(addr)| addr.ip())
        })
}

#[cfg(not(feature = "axum"))]
fn peer_addr(_parts: &Parts) -> Option<IpAddr> {
    None
}

/// Every [`ClientIp`] by the name the docs give it, for the tests of each place that reads
/// the names.
#[cfg(test)]
pub(crate) const NAMES: [(&str, ClientIp); 9] = [
    ("off", ClientIp::Off),
    ("peer_addr", ClientIp::PeerAddr),
    (
        "rightmost_x_forwarded_for",
        ClientIp::RightmostXForwardedFor,
    ),
    ("rightmost_forwarded", ClientIp::RightmostForwarded),
    ("x_real_ip", ClientIp::XRealIp),
    ("cf_connecting_ip", ClientIp::CfConnectingIp),
    ("true_client_ip", ClientIp::TrueClientIp),
    ("fly_client_ip", ClientIp::FlyClientIp),
    (
        "cloudfront_viewer_address",
        ClientIp::CloudFrontViewerAddress,
    ),
];

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn parts(headers: &[(&str, &[u8])]) -> Parts {
        let mut builder = http::Request::builder();
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn off_forwards_nothing() {
        let p = parts(&[("x-forwarded-for", b"1.2.3.4"), ("x-real-ip", b"1.2.3.4")]);
        assert_eq!(ClientIp::Off.client_ip(&p), None);
        assert_eq!(ClientIp::default(), ClientIp::Off);
    }

    #[test]
    fn rightmost_x_forwarded_for_ignores_what_the_client_wrote() {
        let source = ClientIp::RightmostXForwardedFor;
        // The client spoofed 6.6.6.6; our proxy appended the address it saw.
        let p = parts(&[("x-forwarded-for", b"6.6.6.6, 10.0.0.1")]);
        assert_eq!(source.client_ip(&p), ip("10.0.0.1"));
        // A proxy that adds a header line of its own instead of appending.
        let p = parts(&[
            ("x-forwarded-for", b"6.6.6.6"),
            ("x-forwarded-for", b"7.7.7.7, 2001:db8::1"),
        ]);
        assert_eq!(source.client_ip(&p), ip("2001:db8::1"));
        assert_eq!(
            source.client_ip(&parts(&[("x-forwarded-for", b" 1.2.3.4 ")])),
            ip("1.2.3.4")
        );
        for bad in [
            &b"1.2.3.4, not-an-ip"[..],
            b"1.2.3.4,",
            b"",
            b"1.2.3.4:80",
            b"\xff",
        ] {
            assert_eq!(
                source.client_ip(&parts(&[("x-forwarded-for", bad)])),
                None,
                "{bad:?}"
            );
        }
        assert_eq!(source.client_ip(&parts(&[])), None);
    }

    #[test]
    fn rightmost_forwarded_takes_the_last_for() {
        let source = ClientIp::RightmostForwarded;
        let p = parts(&[(
            "forwarded",
            b"for=6.6.6.6;proto=https, for=192.0.2.60;by=203.0.113.43",
        )]);
        assert_eq!(source.client_ip(&p), ip("192.0.2.60"));
        let p = parts(&[("forwarded", b"for=\"[2001:db8:cafe::17]:4711\"")]);
        assert_eq!(source.client_ip(&p), ip("2001:db8:cafe::17"));
        let p = parts(&[
            ("forwarded", b"for=6.6.6.6"),
            ("forwarded", b"for=192.0.2.1"),
        ]);
        assert_eq!(source.client_ip(&p), ip("192.0.2.1"));
        for bad in [
            &b"for=unknown"[..],
            b"for=_hidden",
            b"proto=https",
            b"for=192.0.2.60, proto=http",
            b"garbage;;;==",
        ] {
            assert_eq!(
                source.client_ip(&parts(&[("forwarded", bad)])),
                None,
                "{bad:?}"
            );
        }
        assert_eq!(
            source.client_ip(&parts(&[("x-forwarded-for", b"1.2.3.4")])),
            None
        );
    }

    #[test]
    fn single_value_headers() {
        let cases = [
            (ClientIp::XRealIp, "x-real-ip"),
            (ClientIp::CfConnectingIp, "cf-connecting-ip"),
            (ClientIp::TrueClientIp, "true-client-ip"),
            (ClientIp::FlyClientIp, "fly-client-ip"),
        ];
        for (source, header) in cases {
            assert_eq!(
                source.client_ip(&parts(&[(header, b"198.51.100.9")])),
                ip("198.51.100.9"),
                "{header}"
            );
            assert_eq!(
                source.client_ip(&parts(&[(header, b"2001:db8::9")])),
                ip("2001:db8::9"),
                "{header}"
            );
            assert_eq!(
                source.client_ip(&parts(&[(header, b"nope")])),
                None,
                "{header}"
            );
            assert_eq!(
                source.client_ip(&parts(&[(header, b"1.2.3.4, 5.6.7.8")])),
                None,
                "{header}"
            );
            // Twice means a proxy chain that lets the client's copy through: trust neither.
            let twice = parts(&[(header, b"1.2.3.4"), (header, b"5.6.7.8")]);
            assert_eq!(source.client_ip(&twice), None, "{header}");
            // Each source reads its own header only.
            assert_eq!(
                source.client_ip(&parts(&[("x-forwarded-for", b"1.2.3.4")])),
                None
            );
        }
    }

    #[test]
    fn cloudfront_viewer_address_drops_the_port() {
        let source = ClientIp::CloudFrontViewerAddress;
        let header = "cloudfront-viewer-address";
        assert_eq!(
            source.client_ip(&parts(&[(header, b"198.51.100.10:46532")])),
            ip("198.51.100.10")
        );
        assert_eq!(
            source.client_ip(&parts(&[(header, b"2001:db8:85a3::8a2e:370:7334:46532")])),
            ip("2001:db8:85a3::8a2e:370:7334")
        );
        assert_eq!(
            source.client_ip(&parts(&[(header, b"198.51.100.10")])),
            None
        );
        assert_eq!(source.client_ip(&parts(&[(header, b"garbage:1")])), None);
    }

    #[cfg(feature = "axum")]
    #[test]
    fn peer_addr_reads_axum_connect_info() {
        use std::net::{Ipv6Addr, SocketAddr};

        use axum::extract::{ConnectInfo, connect_info::MockConnectInfo};

        let mut p = parts(&[("x-forwarded-for", b"6.6.6.6")]);
        assert_eq!(ClientIp::PeerAddr.client_ip(&p), None);
        let peer = SocketAddr::from((Ipv6Addr::LOCALHOST, 50_000));
        p.extensions.insert(MockConnectInfo(SocketAddr::from((
            Ipv4Addr::new(192, 0, 2, 1),
            1,
        ))));
        assert_eq!(ClientIp::PeerAddr.client_ip(&p), ip("192.0.2.1"));
        p.extensions.insert(ConnectInfo(peer));
        assert_eq!(
            ClientIp::PeerAddr.client_ip(&p),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
    }

    #[cfg(not(feature = "axum"))]
    #[test]
    fn peer_addr_is_unknown_without_axum() {
        assert_eq!(ClientIp::PeerAddr.client_ip(&parts(&[])), None);
    }

    #[test]
    fn a_closure_is_a_source() {
        let fixed = |_: &Parts| Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
        assert_eq!(fixed.client_ip(&parts(&[])), ip("192.0.2.7"));
        // Usable behind a trait object, as the middleware stores it.
        let boxed: Box<dyn ClientIpSource> = Box::new(|p: &Parts| ClientIp::XRealIp.client_ip(p));
        assert_eq!(
            boxed.client_ip(&parts(&[("x-real-ip", b"192.0.2.8")])),
            ip("192.0.2.8")
        );
    }

    #[test]
    fn serde_names() {
        let cases = NAMES;
        for (name, expected) in cases {
            let parsed: ClientIp = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(parsed, expected);
        }
        assert!(serde_json::from_str::<ClientIp>("\"leftmost_x_forwarded_for\"").is_err());
        assert!(serde_json::from_str::<ClientIp>("\"RightmostXForwardedFor\"").is_err());
    }
}
