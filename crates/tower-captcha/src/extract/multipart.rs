//! `multipart/form-data`: parsed incrementally, stopping as soon as the token field is complete,
//! so an upload whose token comes first is never buffered whole.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, header};
use http_body::Body;
use siteverify::MalformedToken;

use super::{Found, ReadBounds};
use crate::{
    Rejection, TokenSource, TokenSources,
    middleware::body::{BodyFailure, BoxError, Buffered, CaptchaBody, Pulled},
};

/// Pulls through the body until a multipart token field is complete. The read deadline
/// ends there too: what follows the token streams to the inner service at the client's pace.
pub(super) async fn find<B>(
    headers: &HeaderMap,
    body: B,
    sources: &TokenSources,
    preferred: usize,
    bounds: ReadBounds,
) -> (Result<Found<'static>, Rejection>, CaptchaBody<B>)
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok());
    let Some(boundary) = boundary else {
        return (
            Err(Rejection::MalformedBody(
                "the multipart body has no boundary",
            )),
            CaptchaBody::untouched(body),
        );
    };
    let (names, at): (Vec<&str>, Vec<usize>) = sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            TokenSource::MultipartField(name) => Some((name.as_str(), i)),
            _ => None,
        })
        .unzip();

    let ReadBounds { limit, timeout } = bounds;
    let mut buffered = Buffered::new(body, timeout);
    let mut over_limit = false;
    let found = {
        // The parser borrows the buffer through the tee; every chunk it pulls stays in the
        // buffer, so the inner service gets it back, and what the parser never pulled is
        // still unread in the body.
        let tee = Tee {
            buffered: &mut buffered,
            limit,
            over_limit: &mut over_limit,
            yielded: false,
        };
        let mut multipart = multer::Multipart::new(tee, boundary);
        // The names of the preferred sources come first, in the sources' order.
        let best = at.iter().filter(|source| **source < preferred).count();
        scan(&mut multipart, &names, best)
            .await
            .map(|(token, name)| Found {
                token: token.into(),
                source: at[name],
            })
    };
    let found = match found {
        Err(_) if buffered.timed_out() => Err(Rejection::BodyTimeout { after: timeout }),
        Err(_) if over_limit || buffered.failure() == Some(BodyFailure::OverOuterLimit) => {
            Err(Rejection::BodyTooLarge { limit })
        }
        other => other,
    };
    (found, buffered.into_body())
}

/// Reads fields until one of `names` has a non-empty value: that value and the index of its
/// name. The first such field in the body wins, whatever the order of the sources: waiting
/// for a later, higher-ranked one would mean reading on past a token we already have.
/// Except that the names from `best` on are second choices: past a token of theirs, reading
/// goes on for one of the first `best` names, and the second choice is the answer only when
/// none comes (the body ends, or cannot be read further).
async fn scan(
    multipart: &mut multer::Multipart<'_>,
    names: &[&str],
    best: usize,
) -> Result<(String, usize), Rejection> {
    let mut second_choice = None;
    let settled = |found: Result<(String, usize), Rejection>,
                   second_choice: Option<(String, usize)>| {
        match (found, second_choice) {
            (Ok(found), _) => Ok(found),
            (Err(_), Some(second)) => Ok(second),
            (Err(e), None) => Err(e),
        }
    };
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return settled(Err(Rejection::MissingToken), second_choice),
            Err(e) => return settled(Err(multer_rejection(&e)), second_choice),
        };
        let Some(name) = field
            .name()
            .and_then(|n| names.iter().position(|wanted| *wanted == n))
        else {
            // Not ours: `next_field` skips the rest of it.
            continue;
        };
        if name >= best && second_choice.is_some() {
            continue;
        }
        let mut value = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => value.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return settled(Err(multer_rejection(&e)), second_choice),
            }
        }
        if value.is_empty() {
            continue;
        }
        let Ok(token) = String::from_utf8(value) else {
            return settled(
                Err(Rejection::MalformedToken(MalformedToken::NonAscii)),
                second_choice,
            );
        };
        if name < best {
            return Ok((token, name));
        }
        second_choice = Some((token, name));
    }
}

fn multer_rejection(error: &multer::Error) -> Rejection {
    match error {
        multer::Error::StreamReadFailed(_) => {
            Rejection::MalformedBody("the request body could not be read")
        }
        _ => Rejection::MalformedBody("the multipart body is malformed"),
    }
}

/// The body as a stream for multer, keeping what passes through and enforcing the limit.
///
/// multer pulls from its stream until the stream is pending, and only then parses. Left to
/// itself it would drain every frame that is ready (an in-memory body, a fast HTTP/2 window)
/// before looking for the token, and a token at the very start of a large upload would trip
/// the limit. So the tee hands over one frame at a time, pretending to be pending after each
/// (and waking itself at once), and counts the limit in bytes pulled before each frame.
/// Past the limit it pulls no more and reports the end of the stream: multer still parses
/// what it holds (a token in the first bytes of one huge frame is found), and only a token
/// that is not there becomes `body_too_large`.
struct Tee<'a, B> {
    buffered: &'a mut Buffered<B>,
    limit: usize,
    over_limit: &'a mut bool,
    yielded: bool,
}

impl<B> Stream for Tee<'_, B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if std::mem::take(&mut this.yielded) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.buffered.len() >= this.limit {
            *this.over_limit = true;
            return Poll::Ready(None);
        }
        loop {
            match std::task::ready!(this.buffered.poll_pull(cx)) {
                Ok(Pulled::Data(data)) => {
                    this.yielded = true;
                    return Poll::Ready(Some(Ok(data)));
                }
                Ok(Pulled::Trailers) => continue,
                Ok(Pulled::End) => return Poll::Ready(None),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}
