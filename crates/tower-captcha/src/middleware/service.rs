use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use http::{Request, Response, request::Parts};
use http_body::Body;
use http_body_util::Either;
use siteverify::{ErrorClass, Verdict, Verify};
use tower::Service;
use tracing::{Instrument, field::Empty};

use super::{
    body::{BoxError, CaptchaBody},
    future::ResponseFuture,
    guard::{Guard, Judgement},
    layer::Settings,
};
use crate::{CaptchaOutcome, FailureHandler, ProviderSet, Rejection, WidgetHint};

/// The service [`CaptchaLayer`](super::CaptchaLayer) wraps around yours.
pub struct CaptchaService<S, V, F> {
    inner: S,
    shared: Arc<Shared<V, F>>,
}

struct Shared<V, F> {
    verifier: Arc<V>,
    failure: Arc<F>,
    settings: Settings,
}

impl<S, V, F> CaptchaService<S, V, F> {
    pub(crate) fn new(inner: S, verifier: Arc<V>, failure: Arc<F>, settings: Settings) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                verifier,
                failure,
                settings,
            }),
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, V, F> Clone for CaptchaService<S, V, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S, V, F> std::fmt::Debug for CaptchaService<S, V, F>
where
    S: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptchaService")
            .field("inner", &self.inner)
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

/// One Service impl per kind of guard, both the same: the trait that unites them is private
/// to this crate, and a public impl cannot be bounded by it.
macro_rules! service_impl {
    ($($generic:ident: $bound:path,)? => $guard:ty) => {
        impl<S, $($generic,)? F, B, ResBody> Service<Request<B>> for CaptchaService<S, $guard, F>
        where
            S: Service<Request<CaptchaBody<B>>, Response = Response<ResBody>>
                + Clone
                + Send
                + 'static,
            S::Future: Send + 'static,
            B: Body + Send + 'static,
            B::Data: Send,
            B::Error: Into<BoxError>,
            ResBody: 'static,
            $($generic: $bound,)?
            F: FailureHandler,
            F::Body: 'static,
        {
            type Response = Response<Either<ResBody, F::Body>>;
            type Error = S::Error;
            type Future = ResponseFuture<S::Future, ResBody, F::Body, S::Error>;

            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                self.inner.poll_ready(cx)
            }

            fn call(&mut self, request: Request<B>) -> Self::Future {
                self.guarded_call(request)
            }
        }
    };
}

service_impl!(V: Verify, => V);
service_impl!(=> ProviderSet);

impl<S, G, F> CaptchaService<S, G, F> {
    fn pass<B, ResBody>(
        &mut self,
        request: Request<B>,
    ) -> ResponseFuture<S::Future, ResBody, F::Body, S::Error>
    where
        S: Service<Request<CaptchaBody<B>>, Response = Response<ResBody>>,
        F: FailureHandler,
    {
        ResponseFuture::passthrough(self.inner.call(request.map(CaptchaBody::untouched)))
    }

    fn guarded_call<B, ResBody>(
        &mut self,
        request: Request<B>,
    ) -> ResponseFuture<S::Future, ResBody, F::Body, S::Error>
    where
        S: Service<Request<CaptchaBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
        ResBody: 'static,
        G: Guard,
        F: FailureHandler,
        F::Body: 'static,
    {
        let settings = &self.shared.settings;
        if settings.skip_methods.contains(request.method()) {
            return self.pass(request);
        }
        let request = match &settings.skip_if {
            Some(predicate) => {
                let (parts, body) = request.into_parts();
                let skip = predicate.skip(&parts);
                let request = Request::from_parts(parts, body);
                if skip {
                    return self.pass(request);
                }
                request
            }
            None => request,
        };
        let (mut parts, body) = request.into_parts();
        let shared = &*self.shared;
        let span = decision_span();
        // The latency is only ever a field of the span: with no subscriber taking it, the two
        // clock reads would be for nothing.
        let started = (!span.is_disabled()).then(Instant::now);
        // Decided here and now when nothing needs waiting for: no future is boxed, and the
        // inner service's own future is the response's.
        if let Some(judgement) =
            span.in_scope(|| shared.verifier.judge_now(&shared.settings, &parts))
        {
            let body = CaptchaBody::untouched(body);
            return match conclude(shared, &mut parts, judgement, &span, started) {
                Ok(()) => {
                    ResponseFuture::passthrough(self.inner.call(Request::from_parts(parts, body)))
                }
                Err(refusal) => {
                    body.drain_after_refusal(&parts, shared.settings.drain);
                    // Not called, the readied inner service would keep what it reserved for
                    // this request (a concurrency permit, say) until the next one: it is
                    // dropped, as the other path drops it, and a fresh clone takes its place.
                    let clone = self.inner.clone();
                    drop(std::mem::replace(&mut self.inner, clone));
                    // The response is made when the future is polled, as on the other
                    // path: a failure body need not be `Send`, and the future must be.
                    let shared = self.shared.clone();
                    ResponseFuture::guarded(Box::pin(async move {
                        Ok(refusal.respond(&*shared.failure).map(Either::Right))
                    }))
                }
            };
        }
        // The inner service that was driven to readiness is the one that must be called; a
        // fresh clone takes its place here.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let decision = Decision { span, started };
        ResponseFuture::guarded(Box::pin(guard(
            self.shared.clone(),
            inner,
            parts,
            body,
            decision,
        )))
    }
}

/// The span a decision is taken in, and when it started (only when the span is recorded).
struct Decision {
    span: tracing::Span,
    started: Option<Instant>,
}

/// The span of one request's decision, its fields recorded by [`conclude`].
fn decision_span() -> tracing::Span {
    tracing::info_span!(
        "captcha",
        provider = Empty,
        outcome = Empty,
        latency_ms = Empty,
    )
}

/// Finds and verifies the token, then calls `inner` or answers the failure.
///
/// A plain function returning an `async move` block rather than an `async fn`, and the
/// decision in a function of its own: the future is boxed and moved for every guarded
/// request, and this shape keeps it small (an `async fn` stores its arguments twice, and the
/// decision's locals would stay in the state while the inner service runs).
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would store its arguments twice in the future"
)]
fn guard<S, G, F, B, ResBody>(
    shared: Arc<Shared<G, F>>,
    mut inner: S,
    mut parts: Parts,
    body: B,
    decision: Decision,
) -> impl Future<Output = Result<Response<Either<ResBody, F::Body>>, S::Error>>
where
    S: Service<Request<CaptchaBody<B>>, Response = Response<ResBody>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    G: Guard,
    F: FailureHandler,
{
    async move {
        // The decision is taken apart before the next await: a failure body need not be
        // `Send`, and nothing of the decision stays in the state while the inner service runs.
        let body = match decide(&shared, &mut parts, body, decision).await {
            Ok(body) => body,
            Err(failure) => return Ok(failure.map(Either::Right)),
        };
        let response = inner.call(Request::from_parts(parts, body)).await?;
        Ok(response.map(Either::Left))
    }
}

/// Judges the request, then concludes (see [`conclude`]), the body drained after a refusal.
async fn decide<G, F, B>(
    shared: &Shared<G, F>,
    parts: &mut Parts,
    body: B,
    decision: Decision,
) -> Result<CaptchaBody<B>, Response<F::Body>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    G: Guard,
    F: FailureHandler,
{
    let Decision { span, started } = decision;
    let settings = &shared.settings;
    let (judgement, body) = shared
        .verifier
        .judge(settings, parts, body)
        .instrument(span.clone())
        .await;
    match conclude(shared, parts, judgement, &span, started) {
        Ok(()) => Ok(body),
        Err(refusal) => {
            // Dropped unread, the body would make hyper close the connection with bytes in
            // it, and a client still sending would get a reset instead of this answer.
            body.drain_after_refusal(parts, settings.drain);
            Err(refusal.respond(&*shared.failure))
        }
    }
}

/// What a judgement comes to: fail-open, the span's fields and the metrics, then the
/// verdict (or, in observe mode, the refusal) put into the request's extensions, or the
/// refusal to answer.
#[expect(
    clippy::result_large_err,
    reason = "returned once and matched at once; boxed, every refusal would cost an allocation more"
)]
fn conclude<G, F>(
    shared: &Shared<G, F>,
    parts: &mut Parts,
    judgement: Judgement,
    span: &tracing::Span,
    started: Option<Instant>,
) -> Result<(), Refusal> {
    let settings = &shared.settings;
    let Judgement {
        outcome,
        provider,
        label,
        fallback,
        asked,
    } = judgement;
    #[cfg(not(feature = "metrics"))]
    let _ = asked;
    span.record("provider", label);

    // Fail open only for the provider being down, never for what a client can provoke.
    let outcome = match outcome {
        // Not while another member of a set can verify: the client chose the field, and so
        // the member; the fallback is the answer.
        Err(rejection)
            if settings.fail_open
                && fallback.is_none()
                && rejection
                    .verify_error()
                    .is_some_and(siteverify::VerifyError::is_provider_outage) =>
        {
            match provider {
                Some(provider) => {
                    span.in_scope(|| {
                        tracing::warn!(
                            error = %rejection,
                            "captcha provider down: letting the request through, degraded (fail open)"
                        )
                    });
                    #[cfg(feature = "metrics")]
                    metrics::counter!("captcha_fail_open_total", "provider" => provider.name())
                        .increment(1);
                    Ok(Verdict::degraded(provider))
                }
                None => Err(rejection),
            }
        }
        other => other,
    };
    let code = match &outcome {
        Ok(verdict) if verdict.degraded => "degraded",
        Ok(_) => "verified",
        Err(rejection) => rejection.code(),
    };
    // A verifier that was asked counted its answer; what it was not asked is counted here.
    #[cfg(feature = "metrics")]
    if !asked && outcome.is_err() {
        metrics::counter!(
            "captcha_verifications_total",
            "provider" => label,
            "outcome" => code
        )
        .increment(1);
    }
    span.record("outcome", code);
    if let Some(started) = started {
        span.record(
            "latency_ms",
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        );
    }
    if let Err(rejection) = &outcome
        && rejection.class() == ErrorClass::User
    {
        span.in_scope(|| tracing::debug!(outcome = code, "captcha refused"));
    }

    match outcome {
        // The verdict alone: the `CaptchaOutcome` extractor reads a pass from it, so a
        // second copy in the extensions would cost every request an allocation for nothing.
        Ok(verdict) => {
            parts.extensions.insert(verdict);
        }
        Err(rejection) if settings.observe => {
            // What a refusal would have offered instead, for the handler that decides.
            if let Some(fallback) = fallback {
                parts.extensions.insert(fallback);
            }
            parts.extensions.insert(CaptchaOutcome::Rejected(rejection));
        }
        Err(rejection) => {
            return Err(Refusal {
                rejection,
                fallback,
            });
        }
    }
    Ok(())
}

/// A request refused: why, and the widget to offer instead, if any.
struct Refusal {
    rejection: Rejection,
    fallback: Option<WidgetHint>,
}

impl Refusal {
    /// The failure handler's response, the rejection and the fallback in its extensions.
    fn respond<F: FailureHandler>(self, failure: &F) -> Response<F::Body> {
        let Refusal {
            rejection,
            fallback,
        } = self;
        let mut response = match fallback {
            Some(fallback) => {
                let mut response = failure.fallback_response(&rejection, &fallback);
                response.extensions_mut().insert(fallback);
                response
            }
            None => failure.failure_response(&rejection),
        };
        response.extensions_mut().insert(rejection);
        response
    }
}

#[cfg(test)]
mod tests {
    use std::{
        convert::Infallible,
        marker::PhantomData,
        pin::Pin,
        rc::Rc,
        task::{Context, Poll},
    };

    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body::{Body, Frame};
    use http_body_util::Empty;
    use siteverify::{Provider, Verdict, Verify, VerifyError, VerifyOptions};
    use tower::{Layer, Service, ServiceExt};

    use crate::{CaptchaLayer, Rejection, TokenSources, middleware::body::CaptchaBody};

    /// Passes "human" and refuses anything else at once; "later" it leaves to `verify`.
    struct AtOnce;

    fn answer(token: &str) -> Result<Verdict, VerifyError> {
        match token {
            "human" | "later" => Ok(Verdict::new(Provider::ByeBot)),
            _ => Err(VerifyError::InvalidToken {
                provider_codes: vec![],
            }),
        }
    }

    impl Verify for AtOnce {
        async fn verify(&self, token: &str, _: &VerifyOptions) -> Result<Verdict, VerifyError> {
            answer(token)
        }

        fn verify_now(
            &self,
            token: &str,
            _: &VerifyOptions,
        ) -> Option<Result<Verdict, VerifyError>> {
            (token != "later").then(|| answer(token))
        }

        fn answers_at_once(&self) -> bool {
            true
        }
    }

    /// Panics when called without having been made ready first, as tower's contract allows
    /// a service to; a clone starts unready.
    struct Strict {
        ready: bool,
    }

    impl Clone for Strict {
        fn clone(&self) -> Self {
            Strict { ready: false }
        }
    }

    impl<B> Service<Request<B>> for Strict {
        type Response = Response<Empty<Bytes>>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            self.ready = true;
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<B>) -> Self::Future {
            assert!(self.ready, "called without poll_ready");
            self.ready = false;
            std::future::ready(Ok(Response::new(Empty::new())))
        }
    }

    fn request(token: &str) -> Request<Empty<Bytes>> {
        Request::post("/")
            .header("x-captcha", token)
            .body(Empty::new())
            .unwrap()
    }

    fn sources() -> TokenSources {
        TokenSources::new().header("x-captcha").unwrap()
    }

    #[tokio::test]
    async fn the_service_made_ready_is_the_one_called_on_either_path() {
        let mut service = CaptchaLayer::new(AtOnce)
            .sources(sources())
            .layer(Strict { ready: false });
        // Passed at once, refused at once, passed through `verify`, passed at once again.
        for (token, status) in [
            ("human", StatusCode::OK),
            ("robot", StatusCode::FORBIDDEN),
            ("later", StatusCode::OK),
            ("human", StatusCode::OK),
        ] {
            let response = ServiceExt::<Request<Empty<Bytes>>>::ready(&mut service)
                .await
                .unwrap()
                .call(request(token))
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{token}");
        }
    }

    #[tokio::test]
    async fn a_refusal_at_once_gives_back_what_the_inner_service_reserved() {
        let inner = tower::limit::ConcurrencyLimitLayer::new(1).layer(Strict { ready: false });
        let mut first = CaptchaLayer::new(AtOnce).sources(sources()).layer(inner);
        let mut second = first.clone();
        let refused = ServiceExt::<Request<Empty<Bytes>>>::ready(&mut first)
            .await
            .unwrap()
            .call(request("robot"))
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        // The one permit is free again for another connection's service.
        let ready = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            ServiceExt::<Request<Empty<Bytes>>>::ready(&mut second),
        )
        .await
        .expect("the permit was given back");
        let passed = ready.unwrap().call(request("human")).await.unwrap();
        assert_eq!(passed.status(), StatusCode::OK);
    }

    /// A failure body that cannot leave its thread.
    struct Local(PhantomData<Rc<()>>);

    impl Body for Local {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(None)
        }
    }

    fn assert_send<T: Send>(_: &T) {}

    #[tokio::test]
    async fn a_failure_body_need_not_be_send_for_a_refusal_at_once() {
        let layer = CaptchaLayer::new(AtOnce)
            .sources(sources())
            .on_failure(|_: &Rejection| {
                let mut response = Response::new(Local(PhantomData));
                *response.status_mut() = StatusCode::IM_A_TEAPOT;
                response
            });
        let mut service = layer.layer(tower::service_fn(
            |_: Request<CaptchaBody<Empty<Bytes>>>| async {
                Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
            },
        ));
        let future = service.ready().await.unwrap().call(request("robot"));
        assert_send(&future);
        assert_eq!(future.await.unwrap().status(), StatusCode::IM_A_TEAPOT);
    }
}
