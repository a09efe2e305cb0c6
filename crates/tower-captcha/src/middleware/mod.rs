//! The middleware: [`CaptchaLayer`] wraps a service in a [`CaptchaService`].
//!
//! For each request: safe methods, requests the skip predicate lets through, and requests
//! that already carry a [`Verdict`](siteverify::Verdict) (nested layers) pass untouched.
//! Otherwise the token is looked for (headers first, then the body if its content type
//! matches a source), checked locally, verified with the provider, and held against the
//! policy. A pass hands the request on with its byte-identical body and the verdict in its
//! extensions; a failure is answered by the failure handler, with the
//! [`Rejection`](crate::Rejection) in the response's extensions.
//!
//! # Bounds on what a client can make the layer do
//!
//! A body is read to find the token only up to [`body_limit`](CaptchaLayer::body_limit)
//! bytes ([`DEFAULT_BODY_LIMIT`]) and for at most
//! [`body_read_timeout`](CaptchaLayer::body_read_timeout) ([`DEFAULT_BODY_READ_TIMEOUT`]),
//! counted from the moment the layer starts reading until the token is found; past them the
//! request is refused with 413 `body_too_large` or 408 `body_timeout`. What follows the token
//! in a multipart upload is not the layer's to bound: it streams to the inner service.
//!
//! When the layer refuses a request whose body it has not read to the end, it still reads
//! the rest and throws it away, in the background while the failure response goes out, up to
//! [`refusal_drain`](CaptchaLayer::refusal_drain)'s bounds ([`DEFAULT_REFUSAL_DRAIN_LIMIT`],
//! [`DEFAULT_REFUSAL_DRAIN_TIMEOUT`]). Without that, hyper closes the HTTP/1 connection with
//! the unread bytes still in it, the kernel answers the client with a reset, and a client
//! that sends its whole body before it reads (Python's `http.client`, browsers posting
//! forms) reports a broken connection instead of the 413. Past the bounds the body is
//! dropped and the connection closes. So a trickling client is cut off at most
//! `body_read_timeout` plus the drain's time bound after the layer starts reading.

pub(crate) mod body;
mod future;
mod guard;
mod layer;
mod service;

pub use body::{BoxError, CaptchaBody};
pub use future::ResponseFuture;
pub use layer::{
    CaptchaLayer, DEFAULT_BODY_LIMIT, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_REFUSAL_DRAIN_LIMIT,
    DEFAULT_REFUSAL_DRAIN_TIMEOUT,
};
pub use service::CaptchaService;
