use std::{
    collections::VecDeque,
    future::poll_fn,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

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
}

impl<B> Buffered<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    pub(crate) fn new(body: B) -> Self {
        Self {
            chunks: VecDeque::new(),
            len: 0,
            trailers: None,
            failure: None,
            rest: Some(Box::pin(body)),
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

    /// Whether the whole body has been read.
    pub(crate) fn is_complete(&self) -> bool {
        self.rest.is_none()
    }

    /// Pulls one frame from the rest of the body into the buffer.
    pub(crate) fn poll_pull(&mut self, cx: &mut Context<'_>) -> Poll<Result<Pulled, BoxError>> {
        let Some(body) = self.rest.as_mut() else {
            return Poll::Ready(Ok(Pulled::End));
        };
        let pulled = match std::task::ready!(poll_to_bytes(body.as_mut(), cx)) {
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
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

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
        let mut buffered = Buffered::new(stream(&[b"ab", b"", b"cd", b"ef"]));
        buffered.pull().await.unwrap();
        buffered.pull().await.unwrap();
        assert_eq!(buffered.len(), 2);
        let all = buffered.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"abcdef");
    }

    #[tokio::test]
    async fn the_same_allocation_reaches_the_inner_service() {
        let original = Bytes::from(vec![7u8; 4096]);
        let mut buffered = Buffered::new(Full::new(original.clone()));
        buffered.read_to_end(1 << 20).await.unwrap();
        let mut body = buffered.into_body();
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(frame.as_ptr(), original.as_ptr(), "no copy");
    }

    #[tokio::test]
    async fn reading_stops_past_the_limit() {
        let mut buffered = Buffered::new(stream(&[b"12345", b"67890", b"x"]));
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
        let mut buffered = Buffered::new(StreamBody::new(futures_util::stream::iter(frames)));
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
        let mut buffered = Buffered::new(StreamBody::new(futures_util::stream::iter(frames)));
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
        let mut buffered = Buffered::new(limited);
        assert!(matches!(
            buffered.read_to_end(100).await,
            Err(ReadError::Body(BodyFailure::OverOuterLimit, _))
        ));
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
