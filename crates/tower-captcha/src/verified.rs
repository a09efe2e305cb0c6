//! Axum extractors for what the layer decided.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use siteverify::Verdict;

use crate::{CaptchaOutcome, FailureHandler, JsonFailure, Rejection};

/// Extracts what the layer put into the request: `Verified<Verdict>` in a handler behind a
/// [`CaptchaLayer`](crate::CaptchaLayer) gets the provider's verdict.
///
/// `Option<Verified<Verdict>>` works where the layer may be absent or in observe mode. Behind
/// a layer in observe mode, a refused request makes `Verified<Verdict>` answer with the
/// refusal's status and the failure contract; with no layer at all it answers 500 and says
/// the layer is missing: a routing mistake, not the client's.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified<T = Verdict>(pub T);

impl<S> FromRequestParts<S> for Verified<Verdict>
where
    S: Send + Sync,
{
    type Rejection = NotVerified;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(verdict) = parts.extensions.get::<Verdict>() {
            return Ok(Verified(verdict.clone()));
        }
        match parts.extensions.get::<CaptchaOutcome>() {
            Some(CaptchaOutcome::Rejected(rejection)) => {
                Err(NotVerified::Refused(rejection.clone()))
            }
            _ => Err(NotVerified::MissingLayer),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for Verified<Verdict>
where
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Verdict>().cloned().map(Verified))
    }
}

impl<S> FromRequestParts<S> for CaptchaOutcome
where
    S: Send + Sync,
{
    type Rejection = NotVerified;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(verdict) = parts.extensions.get::<Verdict>() {
            return Ok(CaptchaOutcome::Verified(verdict.clone()));
        }
        parts
            .extensions
            .get::<CaptchaOutcome>()
            .cloned()
            .ok_or(NotVerified::MissingLayer)
    }
}

/// Why [`Verified<Verdict>`](Verified) or [`CaptchaOutcome`] could not be extracted.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NotVerified {
    /// No CAPTCHA layer ran for this request.
    #[error(
        "no CAPTCHA verdict on this request: the route is not behind a CaptchaLayer \
         (extract Option<Verified<Verdict>> where the layer is optional)"
    )]
    MissingLayer,
    /// A layer in observe mode refused the request.
    #[error("the CAPTCHA was refused: {0}")]
    Refused(Rejection),
}

impl IntoResponse for NotVerified {
    fn into_response(self) -> Response {
        match self {
            NotVerified::MissingLayer => {
                tracing::error!("{self}");
                (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
            }
            NotVerified::Refused(rejection) => JsonFailure::new()
                .failure_response(&rejection)
                .map(axum::body::Body::new),
        }
    }
}
