//! Finding the token in a request without losing a byte of it.

mod form;
mod json;
mod multipart;

use std::{borrow::Cow, time::Duration};

use http::{HeaderMap, header, request::Parts};
use http_body::Body;
use siteverify::MalformedToken;

use crate::{
    Rejection, TokenSource, TokenSources,
    middleware::body::{BodyFailure, BoxError, Buffered, CaptchaBody, ReadError, content_length},
};

/// The kinds of body the layer can look into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyKind {
    Form,
    Multipart,
    Json,
}

/// How much of a body is read to find the token, and for how long.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadBounds {
    /// Bytes.
    pub(crate) limit: usize,
    /// Time, from the moment reading starts until the token is found.
    pub(crate) timeout: Duration,
}

/// A token, and which of the sources held it. A header's token is borrowed from the request,
/// which outlives the verification: a copy of it would be an allocation per request for
/// nothing; a token from the query or a body is decoded, so owned.
#[derive(Debug, PartialEq)]
pub(crate) struct Found<'p> {
    pub(crate) token: Cow<'p, str>,
    /// Its index in the sources, in their order.
    pub(crate) source: usize,
}

/// `preferred` for [`find_token`] when every source ranks alike: the first header wins at
/// once, a multipart body is read to its first token.
pub(crate) const EVERY_SOURCE: usize = usize::MAX;

/// Looks for the token: headers and query first, then the body if its type is one a source
/// reads. Whatever happens, the body comes back whole, ready for the inner service.
///
/// The first `preferred` sources outrank the others whatever their kind: a token in one of
/// them wins over a header of the rest, and a multipart body is read on past a token of the
/// rest (within the limits) in case one of them follows. With every source preferred
/// ([`EVERY_SOURCE`]), the first header wins at once and a multipart body is read only to its
/// first token.
pub(crate) async fn find_token<'p, B>(
    parts: &'p Parts,
    body: B,
    sources: &TokenSources,
    preferred: usize,
    bounds: ReadBounds,
) -> (Result<Found<'p>, Rejection>, CaptchaBody<B>)
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    // A header of the rest is kept in hand while the body is searched for a preferred token.
    let in_hand = match without_body(parts, sources).map(|found| decides(found, preferred)) {
        Some(Ok(decided)) => return (decided, CaptchaBody::untouched(body)),
        Some(Err(in_hand)) => Some(in_hand),
        None => None,
    };
    let or_in_hand =
        |searched: Result<Found<'p>, Rejection>, in_hand: Option<Found<'p>>| match searched {
            Ok(found) if found.source < preferred => Ok(found),
            other => in_hand.map_or(other, Ok),
        };
    let no_body_token = |in_hand: Option<Found<'p>>| in_hand.ok_or(Rejection::MissingToken);
    if !sources.iter().any(TokenSource::reads_body) {
        return (no_body_token(in_hand), CaptchaBody::untouched(body));
    }
    let Some(kind) = body_kind(&parts.headers) else {
        return (no_body_token(in_hand), CaptchaBody::untouched(body));
    };
    let wanted = |source: &TokenSource| {
        matches!(
            (kind, source),
            (BodyKind::Form, TokenSource::FormField(_))
                | (BodyKind::Multipart, TokenSource::MultipartField(_))
                | (BodyKind::Json, TokenSource::Json(_))
        )
    };
    if !sources.iter().any(wanted) {
        return (no_body_token(in_hand), CaptchaBody::untouched(body));
    }
    if kind == BodyKind::Multipart {
        let (found, body) = multipart::find(&parts.headers, body, sources, preferred, bounds).await;
        return (or_in_hand(found, in_hand), body);
    }
    let ReadBounds { limit, timeout } = bounds;

    // Urlencoded and JSON bodies must be read whole; refuse a declared length over the limit
    // before reading a byte of it.
    if content_length(&parts.headers).is_some_and(|len| len > limit as u64) {
        let refused = Err(Rejection::BodyTooLarge { limit });
        return (or_in_hand(refused, in_hand), CaptchaBody::untouched(body));
    }
    let mut buffered = Buffered::new(body, timeout);
    if let Err(e) = buffered.read_to_end(limit).await {
        let refused = Err(read_rejection(e, bounds));
        return (or_in_hand(refused, in_hand), buffered.into_body());
    }
    let found = {
        let bytes = buffered.contiguous();
        match kind {
            BodyKind::Form => form::find(&bytes, sources),
            _ => json::find(&bytes, sources),
        }
    };
    (or_in_hand(found, in_hand), buffered.into_body())
}

fn read_rejection(error: ReadError, bounds: ReadBounds) -> Rejection {
    match error {
        ReadError::TooLarge | ReadError::Body(BodyFailure::OverOuterLimit, _) => {
            Rejection::BodyTooLarge {
                limit: bounds.limit,
            }
        }
        ReadError::TimedOut => Rejection::BodyTimeout {
            after: bounds.timeout,
        },
        ReadError::Body(BodyFailure::Broken, e) => {
            // The client's stream failed (an aborted upload, bad chunking): worth a debug line,
            // and the message of a body error never holds the body itself.
            tracing::debug!(error = %e, "request body failed while looking for the captcha token");
            Rejection::MalformedBody("the request body could not be read")
        }
    }
}

/// What [`find_token`] decides without the body: a token of the headers or the query that
/// no token in the body could outrank (one of the first `preferred` sources), or a header
/// that cannot be a token. `None` when the body must be searched, or holds the only chance
/// of a token.
pub(crate) fn decided_without_body<'p>(
    parts: &'p Parts,
    sources: &TokenSources,
    preferred: usize,
) -> Option<Result<Found<'p>, Rejection>> {
    decides(without_body(parts, sources)?, preferred).ok()
}

/// A header or query token `found` with the first `preferred` sources outranking the rest:
/// `Ok` when it decides alone, `Err` with the token to keep in hand while the body is
/// searched for a preferred one.
fn decides(
    found: Result<Found<'_>, Rejection>,
    preferred: usize,
) -> Result<Result<Found<'_>, Rejection>, Found<'_>> {
    match found {
        Ok(found) if found.source >= preferred => Err(found),
        decided => Ok(decided),
    }
}

/// Header and query sources, in order. `None` when none of them holds a token.
fn without_body<'p>(
    parts: &'p Parts,
    sources: &TokenSources,
) -> Option<Result<Found<'p>, Rejection>> {
    for (index, source) in sources.iter().enumerate() {
        let found = |token| Found {
            token,
            source: index,
        };
        match source {
            TokenSource::Header(name) => {
                // The first line wins when a header is repeated.
                let Some(value) = parts.headers.get(name) else {
                    continue;
                };
                if value.is_empty() {
                    continue;
                }
                return Some(match value.to_str() {
                    Ok(token) => Ok(found(Cow::Borrowed(token))),
                    Err(_) => Err(Rejection::MalformedToken(MalformedToken::NonAscii)),
                });
            }
            TokenSource::QueryParam(name) => {
                let query = parts.uri.query().unwrap_or_default().as_bytes();
                if let Some(token) = form::first(query, name) {
                    return Some(Ok(found(Cow::Owned(token))));
                }
            }
            _ => {}
        }
    }
    None
}

/// The body kind from `content-type`, by its essence (type/subtype, case-insensitive).
fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Some(BodyKind::Form),
        "multipart/form-data" => Some(BodyKind::Multipart),
        "application/json" => Some(BodyKind::Json),
        other if other.starts_with("application/") && other.ends_with("+json") => {
            Some(BodyKind::Json)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(content_type: &str) -> Option<BodyKind> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        body_kind(&headers)
    }

    #[test]
    fn content_types_are_matched_by_essence() {
        assert_eq!(
            kind("application/x-www-form-urlencoded"),
            Some(BodyKind::Form)
        );
        assert_eq!(
            kind("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
            Some(BodyKind::Form)
        );
        assert_eq!(
            kind("multipart/form-data; boundary=x"),
            Some(BodyKind::Multipart)
        );
        assert_eq!(kind("application/json"), Some(BodyKind::Json));
        assert_eq!(kind("application/vnd.api+json"), Some(BodyKind::Json));
        assert_eq!(kind("text/plain"), None);
        assert_eq!(kind("application/jsonx"), None);
        assert_eq!(body_kind(&HeaderMap::new()), None);
    }
}
