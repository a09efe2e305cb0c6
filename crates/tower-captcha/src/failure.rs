use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::Full;

use crate::{Rejection, WidgetHint};

/// Builds the response for a refused request.
///
/// Implemented for closures `Fn(&Rejection) -> http::Response<B>`, so an HTML page or a
/// redirect back to the form is one line:
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use axum::response::{IntoResponse, Redirect};
/// use tower_captcha::Rejection;
///
/// let back_to_form = |rejection: &Rejection| {
///     Redirect::to(&format!("/signup?captcha={}", rejection.code())).into_response()
/// };
/// # let _ = back_to_form;
/// # }
/// ```
pub trait FailureHandler: Send + Sync + 'static {
    /// The response body.
    type Body;

    /// The response for `rejection`. The layer adds the rejection to its extensions.
    fn failure_response(&self, rejection: &Rejection) -> Response<Self::Body>;

    /// The response for `rejection` (always `provider_unavailable`) on a route guarded by a
    /// [`ProviderSet`](crate::ProviderSet) that has another member to offer: `fallback` is
    /// the widget the page should show instead. By default the same as
    /// [`failure_response`](Self::failure_response); the layer adds `fallback` to the
    /// response's extensions either way.
    fn fallback_response(
        &self,
        rejection: &Rejection,
        fallback: &WidgetHint,
    ) -> Response<Self::Body> {
        let _ = fallback;
        self.failure_response(rejection)
    }
}

impl<F, B> FailureHandler for F
where
    F: Fn(&Rejection) -> Response<B> + Send + Sync + 'static,
{
    type Body = B;

    fn failure_response(&self, rejection: &Rejection) -> Response<B> {
        self(rejection)
    }
}

/// The default failure response, the stable contract:
/// `{"error":"captcha_failed","reason":"<code>"}` with the rejection's status and
/// `content-type: application/json`. The score is never in it.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonFailure {
    hide_reason: bool,
}

impl JsonFailure {
    /// The contract with the reason.
    pub fn new() -> Self {
        Self::default()
    }

    /// Says `"reason":"failed"` whatever the reason, for sites that prefer to tell bots
    /// nothing. The status still follows the rejection, and the rejection is still in the
    /// response's extensions for your own logging.
    pub fn hide_reason(mut self, hide: bool) -> Self {
        self.hide_reason = hide;
        self
    }
}

impl FailureHandler for JsonFailure {
    type Body = Full<Bytes>;

    fn failure_response(&self, rejection: &Rejection) -> Response<Full<Bytes>> {
        self.response(rejection, None)
    }

    /// The contract with one more member, `"fallback"`, the widget to show instead:
    /// `{"error":"captcha_failed","reason":"provider_unavailable","fallback":{"provider":"altcha","challenge_url":"/altcha/challenge"}}`.
    /// It is there with [`hide_reason`](Self::hide_reason) too: it tells a bot no more than
    /// that the provider is down, and without it honest users would be refused until the
    /// provider is back.
    fn fallback_response(
        &self,
        rejection: &Rejection,
        fallback: &WidgetHint,
    ) -> Response<Full<Bytes>> {
        self.response(rejection, Some(fallback))
    }
}

impl JsonFailure {
    fn response(
        &self,
        rejection: &Rejection,
        fallback: Option<&WidgetHint>,
    ) -> Response<Full<Bytes>> {
        let reason = if self.hide_reason {
            "failed"
        } else {
            rejection.code()
        };
        // The codes are fixed snake_case words, so no JSON escaping is needed; the fallback's
        // site key and URL are configuration, escaped by serde.
        let body = match fallback.map(serde_json::to_string) {
            Some(Ok(fallback)) => {
                format!(r#"{{"error":"captcha_failed","reason":"{reason}","fallback":{fallback}}}"#)
            }
            _ => format!(r#"{{"error":"captcha_failed","reason":"{reason}"}}"#),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = rejection.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // A provider that asked us to wait, or an open circuit breaker: tell the client when
        // trying again can help (whole seconds, rounded up).
        // Capped: a provider asking for an hour should not make our form say so.
        // Not with a fallback: the page should switch widgets now, not wait.
        if let Some(wait) = rejection
            .verify_error()
            .and_then(|e| e.retry_after())
            .filter(|_| fallback.is_none())
        {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.clamp(1, 60)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use siteverify::VerifyError;

    use super::*;

    async fn body(response: Response<Full<Bytes>>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_contract_body_and_status() {
        let rejection = Rejection::Verification(VerifyError::ScoreBelowThreshold {
            score: 0.123,
            minimum: 0.5,
        });
        let response = JsonFailure::new().failure_response(&rejection);
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let text = body(response).await;
        assert_eq!(
            text,
            r#"{"error":"captcha_failed","reason":"score_below_threshold"}"#
        );
        assert!(!text.contains("0.123"));
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["reason"], "score_below_threshold");
    }

    #[tokio::test]
    async fn the_reason_can_be_hidden() {
        let response = JsonFailure::new()
            .hide_reason(true)
            .failure_response(&Rejection::BodyTooLarge { limit: 10 });
        assert_eq!(response.status(), 413);
        assert_eq!(
            body(response).await,
            r#"{"error":"captcha_failed","reason":"failed"}"#
        );
    }

    #[test]
    fn an_open_breaker_says_when_to_retry() {
        let rejection = Rejection::Verification(VerifyError::ProviderUnavailable(
            siteverify::Outage::CircuitOpen {
                retry_after: std::time::Duration::from_millis(2500),
            },
        ));
        let response = JsonFailure::new().failure_response(&rejection);
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let plain = JsonFailure::new().failure_response(&Rejection::MissingToken);
        assert!(plain.headers().get(header::RETRY_AFTER).is_none());
    }
}
