//! The failure contract: every stable code, with its HTTP status and whose fault it is.
//!
//! [`VerifyError`](crate::VerifyError) and the middleware's rejection both name a
//! [`FailureCode`] and read status and class from here, so the table exists once.

use std::fmt;

use crate::ErrorClass;

/// A stable machine code of the failure contract, with its HTTP status and class.
///
/// The codes of a failed request, whoever found the failure: this crate (the token, the
/// provider, the policy) or a middleware in front of it (the request body). The snake_case
/// [`as_str`](Self::as_str) form is what failure responses carry and what metrics label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureCode {
    /// `missing_token`: no token, or an empty one.
    MissingToken,
    /// `malformed_token`: something that cannot be a token.
    MalformedToken,
    /// `malformed_body`: the request body could not be parsed to look for the token.
    MalformedBody,
    /// `body_too_large`: the body is larger than what is read to find the token.
    BodyTooLarge,
    /// `body_timeout`: the body did not arrive within the read deadline.
    BodyTimeout,
    /// `invalid_token`: the provider did not accept the token.
    InvalidToken,
    /// `expired_or_duplicate`: the token expired or was already redeemed.
    ExpiredOrDuplicate,
    /// `hostname_mismatch`: solved on a hostname the policy does not allow.
    HostnameMismatch,
    /// `action_mismatch`: not the action the policy expects.
    ActionMismatch,
    /// `cdata_mismatch`: not the customer data the policy expects.
    CdataMismatch,
    /// `sitekey_mismatch`: solved for another site key.
    SitekeyMismatch,
    /// `score_missing`: a minimum score is required and the provider sent none.
    ScoreMissing,
    /// `score_below_threshold`: the score is below the policy's minimum.
    ScoreBelowThreshold,
    /// `challenge_too_old`: the challenge is older than the policy allows.
    ChallengeTooOld,
    /// `provider_misconfigured`: the provider says our configuration is wrong.
    ProviderMisconfigured,
    /// `provider_error`: the provider's answer cannot be read.
    ProviderError,
    /// `provider_unavailable`: the provider cannot be reached or is failing.
    ProviderUnavailable,
}

impl FailureCode {
    /// Every code, in the order of the contract table.
    pub const ALL: [FailureCode; 17] = [
        FailureCode::MissingToken,
        FailureCode::MalformedToken,
        FailureCode::MalformedBody,
        FailureCode::BodyTooLarge,
        FailureCode::BodyTimeout,
        FailureCode::InvalidToken,
        FailureCode::ExpiredOrDuplicate,
        FailureCode::HostnameMismatch,
        FailureCode::ActionMismatch,
        FailureCode::CdataMismatch,
        FailureCode::SitekeyMismatch,
        FailureCode::ScoreMissing,
        FailureCode::ScoreBelowThreshold,
        FailureCode::ChallengeTooOld,
        FailureCode::ProviderMisconfigured,
        FailureCode::ProviderError,
        FailureCode::ProviderUnavailable,
    ];

    /// The contract table: code, status, class.
    const fn entry(self) -> (&'static str, u16, ErrorClass) {
        use ErrorClass::{Configuration, Provider, User};
        match self {
            FailureCode::MissingToken => ("missing_token", 400, User),
            FailureCode::MalformedToken => ("malformed_token", 400, User),
            FailureCode::MalformedBody => ("malformed_body", 400, User),
            FailureCode::BodyTooLarge => ("body_too_large", 413, User),
            FailureCode::BodyTimeout => ("body_timeout", 408, User),
            FailureCode::InvalidToken => ("invalid_token", 403, User),
            FailureCode::ExpiredOrDuplicate => ("expired_or_duplicate", 403, User),
            FailureCode::HostnameMismatch => ("hostname_mismatch", 403, User),
            FailureCode::ActionMismatch => ("action_mismatch", 403, User),
            FailureCode::CdataMismatch => ("cdata_mismatch", 403, User),
            FailureCode::SitekeyMismatch => ("sitekey_mismatch", 403, User),
            FailureCode::ScoreMissing => ("score_missing", 403, User),
            FailureCode::ScoreBelowThreshold => ("score_below_threshold", 403, User),
            FailureCode::ChallengeTooOld => ("challenge_too_old", 403, User),
            FailureCode::ProviderMisconfigured => ("provider_misconfigured", 500, Configuration),
            FailureCode::ProviderError => ("provider_error", 502, Provider),
            FailureCode::ProviderUnavailable => ("provider_unavailable", 503, Provider),
        }
    }

    /// The snake_case code, e.g. `invalid_token`.
    pub const fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// The HTTP status of the contract: 400 for a missing or malformed token or body, 408 for
    /// a body that did not arrive in time, 413 for one too large, 403 for a token that fails
    /// verification or policy, 500 for our misconfiguration, 502 for an unreadable answer, 503
    /// for an unavailable provider.
    pub const fn http_status(self) -> u16 {
        self.entry().1
    }

    /// Whose fault it is.
    pub const fn class(self) -> ErrorClass {
        self.entry().2
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_classed_by_status() {
        let mut seen = HashSet::new();
        for code in FailureCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{text}"
            );
            assert_eq!(code.to_string(), text);
            let expected_class = match code.http_status() {
                400..=499 => ErrorClass::User,
                500 => ErrorClass::Configuration,
                _ => ErrorClass::Provider,
            };
            assert_eq!(code.class(), expected_class, "{text}");
        }
    }
}
