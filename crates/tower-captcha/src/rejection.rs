use http::StatusCode;
use siteverify::{ErrorClass, VerifyError};

/// Why the layer refused a request. Put into the failure response's extensions (and, in
/// observe mode, into the request's, inside [`CaptchaOutcome`](crate::CaptchaOutcome)).
///
/// [`code`](Self::code) is the stable machine code of the failure contract and
/// [`status`](Self::status) its HTTP status. Messages never contain the token.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No configured source held a token.
    #[error("no CAPTCHA token in the request")]
    MissingToken,
    /// A source held something that cannot be a token (a JSON number or object, a header
    /// that is not visible ASCII).
    #[error("the CAPTCHA token is malformed: {0}")]
    MalformedToken(&'static str),
    /// The body could not be parsed to look for the token.
    #[error("the request body is malformed: {0}")]
    MalformedBody(&'static str),
    /// The body is larger than the layer reads to find the token.
    #[error("the request body exceeds the {limit} bytes read to find the CAPTCHA token")]
    BodyTooLarge {
        /// The layer's limit in bytes.
        limit: usize,
    },
    /// The provider or the policy refused the token.
    #[error(transparent)]
    Verification(#[from] VerifyError),
}

impl Rejection {
    /// The stable machine code, e.g. `missing_token` or `score_below_threshold`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MissingToken => "missing_token",
            Rejection::MalformedToken(_) => "malformed_token",
            Rejection::MalformedBody(_) => "malformed_body",
            Rejection::BodyTooLarge { .. } => "body_too_large",
            Rejection::Verification(e) => e.code(),
        }
    }

    /// The HTTP status of the failure contract.
    pub fn status(&self) -> StatusCode {
        let code = match self {
            Rejection::MissingToken
            | Rejection::MalformedToken(_)
            | Rejection::MalformedBody(_) => 400,
            Rejection::BodyTooLarge { .. } => 413,
            Rejection::Verification(e) => e.http_status(),
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Whose fault it is.
    pub fn class(&self) -> ErrorClass {
        match self {
            Rejection::Verification(e) => e.class(),
            _ => ErrorClass::User,
        }
    }

    /// The verification error, when the provider or the policy refused the token.
    pub fn verify_error(&self) -> Option<&VerifyError> {
        match self {
            Rejection::Verification(e) => Some(e),
            _ => None,
        }
    }
}
