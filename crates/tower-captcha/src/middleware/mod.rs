//! The middleware: [`CaptchaLayer`] wraps a service in a [`CaptchaService`].
//!
//! For each request: safe methods, requests the skip predicate lets through, and requests
//! that already carry a [`Verdict`](siteverify::Verdict) (nested layers) pass untouched.
//! Otherwise the token is looked for (headers first, then the body if its content type
//! matches a source), checked locally, verified with the provider, and held against the
//! policy. A pass hands the request on with its byte-identical body and the verdict in its
//! extensions; a failure is answered by the failure handler, with the
//! [`Rejection`](crate::Rejection) in the response's extensions.

pub(crate) mod body;
mod future;
mod layer;
mod service;

pub use body::{BoxError, CaptchaBody};
pub use future::ResponseFuture;
pub use layer::{
    CaptchaLayer, DEFAULT_BODY_LIMIT, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_REFUSAL_DRAIN_LIMIT,
    DEFAULT_REFUSAL_DRAIN_TIMEOUT,
};
pub use service::CaptchaService;
