//! The challenge endpoint as a tower service.

use std::{
    convert::Infallible,
    future::{Ready, ready},
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use siteverify::altcha::AltchaVerifier;
use tower::Service;

/// Answers `GET` and `HEAD` with a fresh ALTCHA challenge, the JSON the widget's
/// `challengeurl` expects; any other method with 405. See the [module docs](super).
///
/// Every answer carries `Cache-Control: no-store`: a cached challenge would be handed to
/// several visitors, and only the first to submit it would pass. The request itself is not
/// read (no query, no body), so nothing a client sends changes what is signed.
#[derive(Clone, Debug)]
pub struct ChallengeService {
    verifier: AltchaVerifier,
    /// `None`: the action the verifier's policy expects.
    action: Option<Arc<str>>,
}

impl ChallengeService {
    /// Challenges for the action the verifier's policy expects (none if it expects none).
    pub fn new(verifier: AltchaVerifier) -> Self {
        Self {
            verifier,
            action: None,
        }
    }

    /// Challenges signed for `action` instead, which the guarded route's policy then
    /// demands (`CaptchaLayer::policy(Policy::new().action(…))`).
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into().into());
        self
    }

    fn respond(&self, method: &Method) -> Response<Full<Bytes>> {
        let (status, content_type, body) = if method == Method::GET || method == Method::HEAD {
            let challenge = match &self.action {
                Some(action) => self.verifier.challenge_for(Some(action)),
                None => self.verifier.challenge(),
            };
            // HEAD gets the headers only, as HTTP wants; issuing is cheap enough not to care
            // that this one is thrown away.
            let body = if method == Method::GET {
                Bytes::from(challenge.to_json())
            } else {
                Bytes::new()
            };
            (StatusCode::OK, "application/json", body)
        } else {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                Bytes::from_static(b"only GET and HEAD fetch a challenge\n"),
            )
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        response
    }
}

impl<B> Service<Request<B>> for ChallengeService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    /// Always ready: issuing needs no resource that could run out.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(request.method())))
    }
}
