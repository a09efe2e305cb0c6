use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::Response;
use http_body_util::Either;
use pin_project_lite::pin_project;

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// The response future of [`CaptchaService`](super::CaptchaService).
    ///
    /// Requests that need no CAPTCHA, and those passed at once (a token in a header that
    /// the verifier answers without waiting, as ALTCHA's memory store lets it), poll the
    /// inner future directly, with no allocation. The others read a body or wait on the
    /// provider; their future is boxed, a cost lost in the network round trip it waits for.
    pub struct ResponseFuture<F, ResBody, FailBody, E> {
        #[pin]
        state: State<F, ResBody, FailBody, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, ResBody, FailBody, E> {
        // Skipped: the inner service's own future.
        Passthrough { #[pin] inner: F },
        // Guarded: find, verify, then call the inner service or answer the failure.
        Guarded { future: BoxFuture<Result<Response<Either<ResBody, FailBody>>, E>> },
    }
}

impl<F, ResBody, FailBody, E> ResponseFuture<F, ResBody, FailBody, E> {
    pub(crate) fn passthrough(inner: F) -> Self {
        Self {
            state: State::Passthrough { inner },
        }
    }

    pub(crate) fn guarded(
        future: BoxFuture<Result<Response<Either<ResBody, FailBody>>, E>>,
    ) -> Self {
        Self {
            state: State::Guarded { future },
        }
    }
}

impl<F, ResBody, FailBody, E> Future for ResponseFuture<F, ResBody, FailBody, E>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<Either<ResBody, FailBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Passthrough { inner } => inner
                .poll(cx)
                .map(|result| result.map(|response| response.map(Either::Left))),
            StateProj::Guarded { future } => future.as_mut().poll(cx),
        }
    }
}
