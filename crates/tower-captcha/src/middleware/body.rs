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
                rest,
            } => {
                if let Some(chunk) = chunks.pop_front() {
                    return Poll::Ready(Some(Ok(Frame::data(chunk))));
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
                rest,
            } => {
                chunks.is_empty()
                    && trailers.is_none()
                    && rest.as_ref().is_none_or(|b| b.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Untouched { body } => body.size_hint(),
            Kind::Replayed { chunks, rest, .. } => {
                let buffered: u64 = chunks.iter().map(|c| c.len() as u64).sum();
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
            rest: Some(Box::pin(body)),
        }
    }

    /// Bytes pulled so far.
    pub(crate) fn len(&self) -> usize {
        self.len
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
            self.pull().await.map_err(ReadError::Body)?;
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

/// Why a body could not be read for the token.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// More than the limit.
    TooLarge,
    /// The client's stream failed (aborted upload, bad chunked encoding).
    Body(BoxError),
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

    #[test]
    fn size_hint_counts_the_buffered_bytes() {
        let body = CaptchaBody::<Full<Bytes>> {
            kind: Kind::Replayed {
                chunks: VecDeque::from([Bytes::from_static(b"abc")]),
                trailers: None,
                rest: Some(Box::pin(Full::new(Bytes::from_static(b"defg")))),
            },
        };
        assert_eq!(body.size_hint().exact(), Some(7));
        assert!(!body.is_end_stream());
    }
}
