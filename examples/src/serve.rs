//! Serving the demo: hyper's HTTP/1 server, with the two timeouts `axum::serve` cannot set.
//!
//! A client that sends its request one byte at a time holds a connection, a task and their
//! buffers for as long as the server lets it; a few hundred such clients exhaust a server
//! that lets them take for ever. The header-read timeout bounds the request head, the
//! request timeout everything after it up to the response head (the body, the CAPTCHA
//! check, the handler).

use std::{convert::Infallible, future::Future, io, pin::pin, time::Duration};

use axum::{
    Router,
    extract::ConnectInfo,
    http::{Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a client may take over one request. The defaults add up to 30 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From the start of a request (or of waiting for the next one on a kept-alive
    /// connection) to the end of its head; past it the connection is closed. 10 s.
    pub header_read: Duration,
    /// From the end of the head to the response head: the body, the CAPTCHA check and the
    /// handler. Past it the client gets `408 Request Timeout` and the connection is closed.
    /// 20 s, which an upload of [`MAX_AVATAR_BYTES`](crate::MAX_AVATAR_BYTES) (8 MiB) needs about
    /// 3.4 Mbit/s to meet; a larger limit would lock out slow uplinks.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(20),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish (each bounded by `timeouts`) and returns. Handlers see the peer address as axum's
/// `ConnectInfo<SocketAddr>`, which the CAPTCHA layer's `ClientIp::PeerAddr` reads.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, a connection reset before it was accepted:
                    // the listener itself is fine, and spinning on it would not help.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let app = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let call = tokio::time::timeout(timeouts.request, router.clone().oneshot(request));
            async move {
                Ok::<_, Infallible>(match call.await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_elapsed) => request_timeout(),
                })
            }
        });
        let connection = http.serve_connection(TokioIo::new(stream), app);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Header timeouts and clients that go away: theirs, not ours.
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Every request is bounded by the timeouts; a response body a client reads slowly is
    // not, so the wait is too.
    let _ =
        tokio::time::timeout(timeouts.header_read + timeouts.request, graceful.shutdown()).await;
    Ok(())
}

fn request_timeout() -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        // The rest of the body is still on its way; the connection cannot carry another
        // request.
        [(header::CONNECTION, "close")],
        "The request took too long to arrive.\n",
    )
        .into_response()
}
