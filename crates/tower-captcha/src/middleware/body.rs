use std::{
    collections::VecDeque,
    future::{Future, poll_fn},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Buf, Bytes};
use futures_util::FutureExt;
use http::{HeaderMap, Version, header, request::Parts};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

/// The error type of [`CaptchaBody`]: the inner body's error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// The request body the inner service receives: byte for byte what the client sent.
    ///
    /// When the layer read part of the body to find the token, those chunks (the very `Bytes`
    /// the server handed us, not copies) come first, then the unread rest of the stream, then
    /// the trailers. A body the layer did not touch is passed through as it is.
    pub struct CaptchaBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Untouched { #[pin] body: B },
        Replayed {
            chunks: VecDeque<Bytes>,
            trailers: Option<HeaderMap>,
            // The client's stream failed while the layer read it. The failure is replayed
            // after the buffered bytes, so that the inner service never mistakes a cut-off
            // body (a prefix of a form is still a valid form) for a complete one.
            failed: bool,
            // Boxed so the partly read body can be moved into the rebuilt request: only
            // requests whose body was read pay for the allocation.
            rest: Option<Pin<Box<B>>>,
        },
    }
}

impl<B> CaptchaBody<B> {
    /// A body handed on without being read.
    pub(crate) fn untouched(body: B) -> Self {
        Self {
            kind: Kind::Untouched { body },
        }
    }
}

impl<B> Body for CaptchaBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Untouched { body } => poll_to_bytes(body, cx),
            KindProj::Replayed {
                chunks,
                trailers,
                failed,
                rest,
            } => {
                if let Some(chunk) = chunks.pop_front() {
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
                }
                if std::mem::take(failed) {
                    return Poll::Ready(Some(Err("the request body failed before its end".into())));
                }
                match rest {
                    Some(body) => match poll_to_bytes(body.as_mut(), cx) {
                        Poll::Ready(None) => {
                            *rest = None;
                            Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
                        }
                        other => other,
                    },
                    None => Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t)))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Untouched { body } => body.is_end_stream(),
            Kind::Replayed {
                chunks,
                trailers,
                failed,
                rest,
            } => {
                chunks.is_empty()
                    && !failed
                    && trailers.is_none()
                    && rest.as_ref().is_none_or(|b| b.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Untouched { body } => body.size_hint(),
            Kind::Replayed {
                chunks,
                rest,
                failed,
                ..
            } => {
                let buffered: u64 = chunks.iter().map(|c| c.len() as u64).sum();
                if *failed {
                    // How much would have come is unknown.
                    let mut hint = SizeHint::new();
                    hint.set_lower(buffered);
                    return hint;
                }
                let rest = rest
                    .as_ref()
                    .map(|b| b.size_hint())
                    .unwrap_or_else(|| SizeHint::with_exact(0));
                let mut hint = SizeHint::new();
                hint.set_lower(buffered + rest.lower());
                if let Some(upper) = rest.upper() {
                    hint.set_upper(buffered + upper);
                }
                hint
            }
        }
    }
}

/// Polls a body and turns its data into `Bytes`; for bodies whose data already is `Bytes`
/// (hyper, axum) `copy_to_bytes` hands the same allocation on.
fn poll_to_bytes<B>(
    body: Pin<&mut B>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    body.poll_frame(cx).map(|frame| {
        frame.map(|result| {
            result
                .map(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))
                .map_err(Into::into)
        })
    })
}

/// A body being read by the layer: what has been pulled so far, and the rest.
pub(crate) struct Buffered<B> {
    chunks: VecDeque<Bytes>,
    len: usize,
    trailers: Option<HeaderMap>,
    failure: Option<BodyFailure>,
    rest: Option<Pin<Box<B>>>,
    deadline: Deadline,
}

/// The bound on the time spent reading, counted from the moment reading starts.
///
/// The timer is armed only when the body first makes the layer wait: a body that is already
/// there (an in-memory request, a small form that came in one packet) costs no timer, and
/// needs no runtime with timers enabled.
struct Deadline {
    // `None` when the bound is too far away to represent: no deadline.
    at: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
    passed: bool,
}

impl Deadline {
    fn new(after: Duration) -> Self {
        Self {
            at: Instant::now().checked_add(after),
            sleep: None,
            passed: false,
        }
    }

    /// Whether the deadline has passed; called when the body is pending, so that the task is
    /// woken when it does.
    fn poll_passed(&mut self, cx: &mut Context<'_>) -> bool {
        if self.passed {
            return true;
        }
        let Some(at) = self.at else {
            return false;
        };
        // Outside a Tokio runtime there is no timer to arm (and creating one would panic):
        // the bound then does not apply.
        if self.sleep.is_none() && tokio::runtime::Handle::try_current().is_ok() {
            self.sleep = Some(Box::pin(tokio::time::sleep_until(at)));
        }
        if let Some(sleep) = self.sleep.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            self.passed = true;
        }
        self.passed
    }
}

/// The error a pull returns once the read deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct TimedOut;

impl<B> Buffered<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    /// Starts reading `body`, giving up on the rest once `timeout` has passed.
    pub(crate) fn new(body: B, timeout: Duration) -> Self {
        Self {
            chunks: VecDeque::new(),
            len: 0,
            trailers: None,
            failure: None,
            rest: Some(Box::pin(body)),
            deadline: Deadline::new(timeout),
        }
    }

    /// Bytes pulled so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How the client's stream failed, if it did.
    pub(crate) fn failure(&self) -> Option<BodyFailure> {
        self.failure
    }

    /// Whether the read deadline passed while the layer waited for the body.
    pub(crate) fn timed_out(&self) -> bool {
        self.deadline.passed
    }

    /// Whether the whole body has been read.
    pub(crate) fn is_complete(&self) -> bool {
        self.rest.is_none()
    }

    /// Pulls one frame from the rest of the body into the buffer.
    ///
    /// Once the read deadline has passed while the body kept the layer waiting, every pull
    /// fails. The rest of the body stays unread and is handed on: the client is slow, its
    /// body is not broken.
    pub(crate) fn poll_pull(&mut self, cx: &mut Context<'_>) -> Poll<Result<Pulled, BoxError>> {
        let Some(body) = self.rest.as_mut() else {
            return Poll::Ready(Ok(Pulled::End));
        };
        // The body is polled before the deadline: what has already arrived is taken even
        // late, and the byte limit bounds how long that can go on.
        let polled = match poll_to_bytes(body.as_mut(), cx) {
            Poll::Ready(polled) => polled,
            Poll::Pending if self.deadline.poll_passed(cx) => {
                return Poll::Ready(Err(Box::new(TimedOut)));
            }
            Poll::Pending => return Poll::Pending,
        };
        let pulled = match polled {
            None => {
                self.rest = None;
                Pulled::End
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    self.len += data.len();
                    if !data.is_empty() {
                        // A reference-counted handle, not a copy: the same bytes go on.
                        self.chunks.push_back(data.clone());
                    }
                    Pulled::Data(data)
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        self.trailers
                            .get_or_insert_with(HeaderMap::new)
                            .extend(trailers);
                    }
                    Pulled::Trailers
                }
            },
            Some(Err(e)) => {
                self.rest = None;
                self.failure = Some(if e.is::<http_body_util::LengthLimitError>() {
                    BodyFailure::OverOuterLimit
                } else {
                    BodyFailure::Broken
                });
                return Poll::Ready(Err(e));
            }
        };
        Poll::Ready(Ok(pulled))
    }

    /// Pulls one frame; see [`poll_pull`](Self::poll_pull).
    pub(crate) async fn pull(&mut self) -> Result<Pulled, BoxError> {
        poll_fn(|cx| self.poll_pull(cx)).await
    }

    /// Reads the whole body, refusing to go past `limit` bytes.
    pub(crate) async fn read_to_end(&mut self, limit: usize) -> Result<(), ReadError> {
        while !self.is_complete() {
            if let Err(e) = self.pull().await {
                if self.timed_out() {
                    return Err(ReadError::TimedOut);
                }
                return Err(ReadError::Body(
                    self.failure.unwrap_or(BodyFailure::Broken),
                    e,
                ));
            }
            if self.len > limit {
                return Err(ReadError::TooLarge);
            }
        }
        Ok(())
    }

    /// The bytes read so far as one slice: borrowed when they arrived in one chunk (the usual
    /// case for small forms), copied together otherwise. The copy is only for parsing; the
    /// inner service still gets the original chunks.
    pub(crate) fn contiguous(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.chunks.len() {
            0 => std::borrow::Cow::Borrowed(&[]),
            1 => std::borrow::Cow::Borrowed(&self.chunks[0]),
            _ => {
                let mut all = Vec::with_capacity(self.len);
                for chunk in &self.chunks {
                    all.extend_from_slice(chunk);
                }
                std::borrow::Cow::Owned(all)
            }
        }
    }

    /// The body to hand on: what was read, then the rest.
    pub(crate) fn into_body(self) -> CaptchaBody<B> {
        CaptchaBody {
            kind: Kind::Replayed {
                chunks: self.chunks,
                trailers: self.trailers,
                failed: self.failure.is_some(),
                rest: self.rest,
            },
        }
    }
}

/// What one pull brought.
#[derive(Debug)]
pub(crate) enum Pulled {
    /// A data chunk (also kept in the buffer).
    Data(Bytes),
    /// The trailers (kept for the inner service).
    Trailers,
    /// The end of the body.
    End,
}

/// How a client's stream failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// A body limit outside this layer (axum's `DefaultBodyLimit`, tower-http's
    /// `RequestBodyLimitLayer`) cut it off.
    OverOuterLimit,
    /// It broke: an aborted upload, bad chunked encoding.
    Broken,
}

/// Why a body could not be read for the token.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// More than the limit.
    TooLarge,
    /// The client's stream failed.
    Body(BodyFailure, BoxError),
    /// The body did not arrive within the read deadline.
    TimedOut,
}

/// How much of a refused request's unread body the layer still reads, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DrainBounds {
    pub(crate) bytes: usize,
    pub(crate) time: Duration,
}

/// The declared `Content-Length`, when it is one number.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl<B> CaptchaBody<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Reads and throws away the unread rest of a refused request's body, within `bounds`,
    /// while the failure response goes out.
    ///
    /// Why: an HTTP/1 server that closes a connection with unread bytes in the socket makes
    /// the kernel answer with a reset, and a client that sends its whole body before it reads
    /// (Python's `http.client`, browsers posting forms) then fails on its write and never
    /// sees the 413. Read to its end, the body leaves the connection clean: the client reads
    /// the refusal, and the connection can even be kept alive.
    ///
    /// The rest is read now as far as it is already there (no task, no timer: the common case
    /// of a small body), then, if more is to come, in a task of its own, for at most
    /// `bounds.time` and `bounds.bytes`; past either it is dropped and the connection closes,
    /// as it would have without draining. A declared length over the byte bound is not
    /// drained at all: that client is going to be cut off anyway, and the sooner the better.
    /// Not drained either: HTTP/2 and later (a stream reset is clean there), a body the
    /// client has not started to send because it waits for `100 Continue` (draining it would
    /// invite it), and a body that failed.
    pub(crate) fn drain_after_refusal(self, parts: &Parts, bounds: DrainBounds) {
        if bounds.bytes == 0 || bounds.time.is_zero() {
            return;
        }
        if !matches!(parts.version, Version::HTTP_10 | Version::HTTP_11) {
            return;
        }
        let (read, rest) = match self.kind {
            Kind::Untouched { body } => {
                if body.is_end_stream() || expects_continue(&parts.headers) {
                    return;
                }
                (0, Box::pin(body))
            }
            Kind::Replayed {
                chunks,
                failed: false,
                rest: Some(rest),
                ..
            } => {
                if rest.is_end_stream() {
                    return;
                }
                (chunks.iter().map(|c| c.len() as u64).sum(), rest)
            }
            Kind::Replayed { .. } => return,
        };
        let unread = content_length(&parts.headers).map(|declared| declared.saturating_sub(read));
        if unread.is_some_and(|unread| unread > bounds.bytes as u64) {
            tracing::debug!(
                "not draining a refused request's body: it is declared longer than the drain bound"
            );
            return;
        }
        let mut drain = Drain {
            rest,
            left: bounds.bytes,
        };
        if (&mut drain).now_or_never().is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if tokio::time::timeout(bounds.time, drain).await.is_err() {
                tracing::debug!("stopped draining a refused request's body at the time bound");
            }
        });
    }
}

/// Whether the client waits for `100 Continue` before it sends the body.
fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads a body to its end, throwing it away, and stops past `left` bytes.
struct Drain<B> {
    rest: Pin<Box<B>>,
    left: usize,
}

impl<B: Body> Future for Drain<B> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match std::task::ready!(this.rest.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let len = frame.data_ref().map_or(0, Buf::remaining);
                    match this.left.checked_sub(len) {
                        Some(left) => this.left = left,
                        None => {
                            tracing::debug!(
                                "stopped draining a refused request's body at the byte bound"
                            );
                            return Poll::Ready(());
                        }
                    }
                }
                Some(Err(_)) | None => return Poll::Ready(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    fn stream(
        chunks: &[&'static [u8]],
    ) -> impl Body<Data = Bytes, Error = std::convert::Infallible> {
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_partly_read_body_replays_every_byte_in_order() {
        let mut buffered = Buffered::new(stream(&[b"ab", b"", b"cd", b"ef"]), LONG);
        buffered.pull().await.unwrap();
        buffered.pull().await.unwrap();
        assert_eq!(buffered.len(), 2);
        let all = buffered.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"abcdef");
    }

    #[tokio::test]
    async fn the_same_allocation_reaches_the_inner_service() {
        let original = Bytes::from(vec![7u8; 4096]);
        let mut buffered = Buffered::new(Full::new(original.clone()), LONG);
        buffered.read_to_end(1 << 20).await.unwrap();
        let mut body = buffered.into_body();
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(frame.as_ptr(), original.as_ptr(), "no copy");
    }

    #[tokio::test]
    async fn reading_stops_past_the_limit() {
        let mut buffered = Buffered::new(stream(&[b"12345", b"67890", b"x"]), LONG);
        assert!(matches!(
            buffered.read_to_end(8).await,
            Err(ReadError::TooLarge)
        ));
        assert!(buffered.read_to_end(100).await.is_ok());
        assert_eq!(
            buffered.into_body().collect().await.unwrap().to_bytes(),
            "1234567890x"
        );
    }

    #[tokio::test]
    async fn trailers_survive_a_full_read() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(b"data"))),
            Ok(Frame::trailers(trailers.clone())),
        ];
        let mut buffered = Buffered::new(StreamBody::new(futures_util::stream::iter(frames)), LONG);
        buffered.read_to_end(100).await.unwrap();
        let collected = buffered.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers(), Some(&trailers));
        assert_eq!(collected.to_bytes(), "data");
    }

    #[tokio::test]
    async fn a_failed_stream_is_replayed_as_a_failure_not_a_short_body() {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = vec![
            Ok(Frame::data(Bytes::from_static(b"amount=10"))),
            Err("connection reset".into()),
        ];
        let mut buffered = Buffered::new(StreamBody::new(futures_util::stream::iter(frames)), LONG);
        assert!(matches!(
            buffered.read_to_end(100).await,
            Err(ReadError::Body(BodyFailure::Broken, _))
        ));
        let mut body = buffered.into_body();
        assert!(!body.is_end_stream());
        assert_eq!(body.size_hint().exact(), None);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "amount=10");
        assert!(
            body.frame().await.unwrap().is_err(),
            "the failure, not the end"
        );
        assert!(body.collect().await.is_ok(), "then the end");
    }

    #[tokio::test]
    async fn an_outer_length_limit_is_recognised() {
        let limited = http_body_util::Limited::new(Full::new(Bytes::from_static(b"0123456789")), 4);
        let mut buffered = Buffered::new(limited, LONG);
        assert!(matches!(
            buffered.read_to_end(100).await,
            Err(ReadError::Body(BodyFailure::OverOuterLimit, _))
        ));
    }

    #[tokio::test]
    async fn a_stalled_body_times_out_and_keeps_what_it_sent() {
        let frames = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(Frame::data(
            Bytes::from_static(b"amount="),
        ))])
        .chain(futures_util::stream::pending());
        let mut buffered = Buffered::new(StreamBody::new(frames), Duration::from_millis(50));
        let read = tokio::time::timeout(Duration::from_secs(10), buffered.read_to_end(100)).await;
        assert!(matches!(read, Ok(Err(ReadError::TimedOut))), "{read:?}");
        assert!(buffered.timed_out());
        assert_eq!(buffered.failure(), None, "slow is not broken");
        let mut body = buffered.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "amount=");
        assert!(!body.is_end_stream(), "the rest is still to come");
    }

    #[test]
    fn a_body_that_is_already_there_needs_no_timer_and_no_runtime() {
        // Outside any runtime: arming a timer here would panic.
        let mut buffered = Buffered::new(Full::new(Bytes::from_static(b"a=1")), Duration::ZERO);
        let read = buffered.read_to_end(100).now_or_never();
        assert!(matches!(read, Some(Ok(()))));
        let parts = http::Request::post("/").body(()).unwrap().into_parts().0;
        let bounds = DrainBounds {
            bytes: 1024,
            time: Duration::from_secs(1),
        };
        CaptchaBody::untouched(Full::new(Bytes::from_static(b"refused")))
            .drain_after_refusal(&parts, bounds);
    }

    #[test]
    fn size_hint_counts_the_buffered_bytes() {
        let body = CaptchaBody::<Full<Bytes>> {
            kind: Kind::Replayed {
                chunks: VecDeque::from([Bytes::from_static(b"abc")]),
                trailers: None,
                failed: false,
                rest: Some(Box::pin(Full::new(Bytes::from_static(b"defg")))),
            },
        };
        assert_eq!(body.size_hint().exact(), Some(7));
        assert!(!body.is_end_stream());
    }
}
