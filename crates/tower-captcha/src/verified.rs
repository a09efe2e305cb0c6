//! Axum extractors for what the layer decided.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use siteverify::Verdict;

use crate::CaptchaOutcome;

/// Extracts what the layer put into the request: `Verified<Verdict>` in a handler behind a
/// [`CaptchaLayer`](crate::CaptchaLayer) gets the provider's verdict.
///
/// `Option<Verified<Verdict>>` works on routes where the layer may be absent or in observe
/// mode. Without the layer, `Verified<Verdict>` fails with a 500 that says the layer is
/// missing: a routing mistake, not the client's.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified<T = Verdict>(pub T);

impl<S, T> FromRequestParts<S> for Verified<T>
where
    S: Send + Sync,
    T: Clone + Send + Sync + 'static,
{
    type Rejection = MissingCaptchaLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<T>()
            .cloned()
            .map(Verified)
            .ok_or(MissingCaptchaLayer)
    }
}

impl<S, T> OptionalFromRequestParts<S> for Verified<T>
where
    S: Send + Sync,
    T: Clone + Send + Sync + 'static,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<T>().cloned().map(Verified))
    }
}

impl<S> FromRequestParts<S> for CaptchaOutcome
where
    S: Send + Sync,
{
    type Rejection = MissingCaptchaLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CaptchaOutcome>()
            .cloned()
            .ok_or(MissingCaptchaLayer)
    }
}

/// The extractor found nothing the layer puts into a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "no CAPTCHA verdict on this request: the route is not behind a CaptchaLayer \
     (or the layer is in observe mode; extract Option<Verified<Verdict>> or CaptchaOutcome there)"
)]
pub struct MissingCaptchaLayer;

impl IntoResponse for MissingCaptchaLayer {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}
