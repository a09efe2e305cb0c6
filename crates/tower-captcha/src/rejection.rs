use std::time::Duration;

use http::StatusCode;
use siteverify::{ErrorClass, FailureCode, MalformedToken, VerifyError};

/// Why the layer refused a request. Put into the failure response's extensions (and, in
/// observe mode, into the request's, inside [`CaptchaOutcome`](crate::CaptchaOutcome)).
///
/// [`code`](Self::code) is the stable machine code of the failure contract and
/// [`status`](Self::status) its HTTP status, both read from siteverify's one contract table
/// ([`FailureCode`]). Each code has one variant, whoever found the failure: a token that is
/// missing is [`Rejection::MissingToken`] whether no source held one or the verifier's
/// pre-check found it blank, so one `match` arm sees every case. Build a rejection from a
/// [`VerifyError`] with `From`, which keeps to that rule. Messages never contain the token.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No configured source held a token, or the token was empty.
    #[error("no CAPTCHA token in the request")]
    MissingToken,
    /// A source held something that cannot be a token (a JSON number, a header that is not
    /// visible ASCII, a token too long for the provider).
    #[error("the CAPTCHA token is malformed: {0}")]
    MalformedToken(MalformedToken),
    /// The body could not be parsed to look for the token.
    #[error("the request body is malformed: {0}")]
    MalformedBody(&'static str),
    /// The body is larger than the layer reads to find the token.
    #[error("the request body exceeds the {limit} bytes read to find the CAPTCHA token")]
    BodyTooLarge {
        /// The layer's limit in bytes.
        limit: usize,
    },
    /// The body did not arrive within the layer's read deadline (a client sending it slowly,
    /// or not at all).
    #[error("the request body did not arrive within {after:?}")]
    BodyTimeout {
        /// The layer's deadline.
        after: Duration,
    },
    /// The provider or the policy refused the token. Never holds
    /// [`VerifyError::MissingToken`] or [`VerifyError::MalformedToken`] when built with
    /// `From`: those are [`Rejection::MissingToken`] and [`Rejection::MalformedToken`].
    #[error(transparent)]
    Verification(VerifyError),
}

impl From<VerifyError> for Rejection {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::MissingToken => Rejection::MissingToken,
            VerifyError::MalformedToken(reason) => Rejection::MalformedToken(reason),
            other => Rejection::Verification(other),
        }
    }
}

impl Rejection {
    /// The entry of the failure contract.
    pub fn failure_code(&self) -> FailureCode {
        match self {
            Rejection::MissingToken => FailureCode::MissingToken,
            Rejection::MalformedToken(_) => FailureCode::MalformedToken,
            Rejection::MalformedBody(_) => FailureCode::MalformedBody,
            Rejection::BodyTooLarge { .. } => FailureCode::BodyTooLarge,
            Rejection::BodyTimeout { .. } => FailureCode::BodyTimeout,
            Rejection::Verification(e) => e.failure_code(),
        }
    }

    /// The stable machine code, e.g. `missing_token` or `score_below_threshold`.
    pub fn code(&self) -> &'static str {
        self.failure_code().as_str()
    }

    /// The HTTP status of the failure contract.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.failure_code().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Whose fault it is.
    pub fn class(&self) -> ErrorClass {
        self.failure_code().class()
    }

    /// The verification error, when the provider or the policy refused the token.
    pub fn verify_error(&self) -> Option<&VerifyError> {
        match self {
            Rejection::Verification(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_has_one_value_whoever_found_it() {
        assert_eq!(
            Rejection::from(VerifyError::MissingToken),
            Rejection::MissingToken
        );
        assert_eq!(
            Rejection::from(VerifyError::MalformedToken(MalformedToken::Whitespace)),
            Rejection::MalformedToken(MalformedToken::Whitespace)
        );
        let spent = VerifyError::ExpiredOrDuplicate {
            provider_codes: vec![],
        };
        assert_eq!(
            Rejection::from(spent.clone()),
            Rejection::Verification(spent)
        );
    }

    #[test]
    fn status_and_class_come_from_the_one_table() {
        let cases = [
            Rejection::MissingToken,
            Rejection::MalformedToken(MalformedToken::NotAString),
            Rejection::MalformedBody("x"),
            Rejection::BodyTooLarge { limit: 1 },
            Rejection::BodyTimeout {
                after: Duration::from_secs(1),
            },
            Rejection::from(VerifyError::ScoreMissing),
            Rejection::from(VerifyError::ProviderMisconfigured {
                provider_codes: vec![],
            }),
        ];
        for rejection in cases {
            let code = rejection.failure_code();
            assert_eq!(rejection.code(), code.as_str());
            assert_eq!(rejection.status().as_u16(), code.http_status());
            assert_eq!(rejection.class(), code.class());
        }
        let timeout = Rejection::BodyTimeout {
            after: Duration::from_secs(10),
        };
        assert_eq!(
            (timeout.code(), timeout.status().as_u16()),
            ("body_timeout", 408)
        );
    }
}
