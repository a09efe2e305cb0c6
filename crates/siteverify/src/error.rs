use std::{fmt, time::Duration};

use crate::{FailureCode, PolicyError, Provider};

/// Whose fault a failed verification is. It decides the status code, the log level and whether
/// a retry can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The client's: no token, a bad, expired or reused token, or a policy mismatch.
    /// Answered with a 4xx; logged at debug level.
    User,
    /// Ours: a wrong secret, a site key that does not belong to the secret, a request the
    /// provider could not parse. Answered with a 500; logged as an error; never retried.
    Configuration,
    /// The provider's: timeouts, connection failures, 5xx, 429, `internal-error`, an answer we
    /// cannot read. Answered with a 502/503; logged as a warning.
    Provider,
}

/// Why a token could not be verified.
///
/// [`code`](Self::code) gives the stable snake_case code of the failure contract, and
/// [`class`](Self::class) whose fault it is. Neither the `Display` text nor the `Debug` output
/// ever contains the token or the secret; the score is kept in the fields for the server's own
/// use but left out of the `Display` text, which may end up in a response.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No token was supplied, or it was empty.
    #[error("no CAPTCHA token was supplied")]
    MissingToken,
    /// The token cannot be a real one (too long, control or non-ASCII characters); it was
    /// rejected without asking the provider.
    #[error("the CAPTCHA token is malformed: {0}")]
    MalformedToken(MalformedToken),
    /// The provider did not accept the token.
    #[error("the CAPTCHA token was rejected by the provider")]
    InvalidToken {
        /// The provider's own error codes, as it sent them (unknown codes land here too).
        provider_codes: Vec<String>,
    },
    /// The token has expired or was already redeemed.
    #[error("the CAPTCHA token has expired or was already used")]
    ExpiredOrDuplicate {
        /// The provider's own error codes.
        provider_codes: Vec<String>,
    },
    /// The challenge was solved on a hostname the policy does not allow.
    #[error("the CAPTCHA was solved on a hostname that is not allowed")]
    HostnameMismatch {
        /// The hostname the provider reported, if any.
        hostname: Option<String>,
    },
    /// The challenge's action is not the one the policy expects.
    #[error("the CAPTCHA action does not match the expected action")]
    ActionMismatch {
        /// The action the policy expects.
        expected: String,
        /// The action the provider reported, if any.
        actual: Option<String>,
    },
    /// The challenge's customer data (`cdata`) is not the one the policy expects.
    #[error("the CAPTCHA customer data does not match")]
    CdataMismatch,
    /// The token was solved for another site key.
    #[error("the CAPTCHA was solved for another site key")]
    SitekeyMismatch {
        /// The site key the policy expects.
        expected: String,
        /// The site key the provider reported, if any.
        actual: Option<String>,
    },
    /// The policy sets a minimum score but the provider sent none.
    #[error("the provider returned no score, but a minimum score is required")]
    ScoreMissing,
    /// The normalised human-likelihood score is below the policy's minimum.
    #[error("the CAPTCHA score is below the required minimum")]
    ScoreBelowThreshold {
        /// The normalised score (0.0 bot – 1.0 human).
        score: f64,
        /// The policy's minimum.
        minimum: f64,
    },
    /// The challenge is older than the policy allows, or the provider gave no time for it.
    #[error("the CAPTCHA challenge is too old")]
    ChallengeTooOld {
        /// How old the challenge was; `None` when the provider reported no usable time.
        age: Option<Duration>,
        /// The policy's maximum.
        max_age: Duration,
    },
    /// The provider says our own configuration is wrong (secret, site key, request format).
    #[error("the CAPTCHA provider rejected our configuration")]
    ProviderMisconfigured {
        /// The provider's own error codes, or a description of the HTTP answer.
        provider_codes: Vec<String>,
    },
    /// The provider answered something we cannot read.
    #[error("the CAPTCHA provider sent an unusable answer: {0}")]
    ProviderError(BadAnswer),
    /// The provider could not be reached or is failing.
    #[error("the CAPTCHA provider is unavailable: {0}")]
    ProviderUnavailable(Outage),
}

impl VerifyError {
    /// The entry of the failure contract this error falls under.
    pub fn failure_code(&self) -> FailureCode {
        match self {
            VerifyError::MissingToken => FailureCode::MissingToken,
            VerifyError::MalformedToken(_) => FailureCode::MalformedToken,
            VerifyError::InvalidToken { .. } => FailureCode::InvalidToken,
            VerifyError::ExpiredOrDuplicate { .. } => FailureCode::ExpiredOrDuplicate,
            VerifyError::HostnameMismatch { .. } => FailureCode::HostnameMismatch,
            VerifyError::ActionMismatch { .. } => FailureCode::ActionMismatch,
            VerifyError::CdataMismatch => FailureCode::CdataMismatch,
            VerifyError::SitekeyMismatch { .. } => FailureCode::SitekeyMismatch,
            VerifyError::ScoreMissing => FailureCode::ScoreMissing,
            VerifyError::ScoreBelowThreshold { .. } => FailureCode::ScoreBelowThreshold,
            VerifyError::ChallengeTooOld { .. } => FailureCode::ChallengeTooOld,
            VerifyError::ProviderMisconfigured { .. } => FailureCode::ProviderMisconfigured,
            VerifyError::ProviderError(_) => FailureCode::ProviderError,
            VerifyError::ProviderUnavailable(_) => FailureCode::ProviderUnavailable,
        }
    }

    /// The stable machine code of the failure contract, e.g. `invalid_token`.
    pub fn code(&self) -> &'static str {
        self.failure_code().as_str()
    }

    /// Whose fault it is.
    pub fn class(&self) -> ErrorClass {
        self.failure_code().class()
    }

    /// The HTTP status of the failure contract (see [`FailureCode::http_status`]).
    pub fn http_status(&self) -> u16 {
        self.failure_code().http_status()
    }

    /// Whether this is the provider being down, on evidence a client cannot produce with the
    /// token it sends: no connection, a timeout, a connection lost mid-answer, a gateway error
    /// (502, 503, 504), `internal-error`, and the open circuit breaker those cause. These are
    /// what the circuit breaker counts and what a fail-open layer may let through.
    ///
    /// Not a 500 or an unreadable answer (a crafted token might provoke either, and a wrong
    /// verify URL gives one), not a 429 and not our own in-flight bound (a flood provokes
    /// those), not a bad token, not our misconfiguration.
    pub fn is_provider_outage(&self) -> bool {
        match self {
            VerifyError::ProviderUnavailable(outage) => matches!(
                outage,
                Outage::Timeout
                    | Outage::Connect
                    | Outage::ConnectionLost
                    | Outage::InternalError
                    | Outage::CircuitOpen { .. }
                    | Outage::Status(502..=504)
            ),
            _ => false,
        }
    }

    /// How long the client should wait before trying again, when known (a provider's
    /// `Retry-After`, an open circuit breaker).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            VerifyError::ProviderUnavailable(
                Outage::RateLimited { retry_after } | Outage::QuotaExhausted { retry_after },
            ) => *retry_after,
            VerifyError::ProviderUnavailable(Outage::CircuitOpen { retry_after }) => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// Whether the provider says its quota is used up ([`Outage::QuotaExhausted`]): an outage
    /// to route around (another provider, a fallback), never one to fail open on.
    pub fn is_out_of_quota(&self) -> bool {
        matches!(
            self,
            VerifyError::ProviderUnavailable(Outage::QuotaExhausted { .. })
        )
    }

    /// The provider's raw error codes, where the provider sent any.
    pub fn provider_codes(&self) -> &[String] {
        match self {
            VerifyError::InvalidToken { provider_codes }
            | VerifyError::ExpiredOrDuplicate { provider_codes }
            | VerifyError::ProviderMisconfigured { provider_codes } => provider_codes,
            _ => &[],
        }
    }
}

/// Why a token was refused before any network call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedToken {
    /// Longer than the provider accepts.
    TooLong {
        /// The token's length in bytes.
        len: usize,
        /// The provider's maximum.
        max: usize,
    },
    /// Contains a control character (newline, NUL, …).
    ControlCharacter,
    /// Contains white space; no provider issues such tokens.
    Whitespace,
    /// Contains a character outside ASCII; no provider issues such tokens.
    NonAscii,
    /// Not a string where the token was looked for (a JSON number, object or array).
    NotAString,
    /// Not the payload the widget writes (ALTCHA: base64 of a JSON object of the protocol's
    /// shape, every field of its type).
    NotAPayload,
}

impl fmt::Display for MalformedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedToken::TooLong { len, max } => {
                write!(f, "{len} bytes long, the provider accepts at most {max}")
            }
            MalformedToken::ControlCharacter => f.write_str("contains a control character"),
            MalformedToken::Whitespace => f.write_str("contains white space"),
            MalformedToken::NonAscii => f.write_str("contains a non-ASCII character"),
            MalformedToken::NotAString => f.write_str("is not a string"),
            MalformedToken::NotAPayload => f.write_str("is not a widget payload"),
        }
    }
}

/// What was wrong with a provider answer we could not use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadAnswer {
    /// The body is not JSON, or not the JSON shape the provider documents.
    Unparseable {
        /// HTTP status of the answer.
        status: u16,
        /// Where and what, from the JSON parser (never the body itself).
        detail: String,
    },
    /// The body exceeded the size cap.
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// An HTTP status the provider does not document for this call.
    UnexpectedStatus(u16),
    /// A score outside 0.0–1.0, the range every provider documents.
    ScoreOutOfRange,
    /// What came back is not an HTTP response (a banner of another protocol, a malformed
    /// status line or header): the verify URL points at something that is not the provider.
    NotHttp,
    /// The head of the answer arrived, then the connection broke before the body was
    /// complete. The provider took the call (the token is likely spent), so this is an
    /// answer we cannot read, not an outage.
    Truncated,
}

impl fmt::Display for BadAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadAnswer::Unparseable { status, detail } => {
                write!(f, "HTTP {status} with an unreadable body ({detail})")
            }
            BadAnswer::TooLarge { limit } => write!(f, "the answer exceeds {limit} bytes"),
            BadAnswer::UnexpectedStatus(status) => write!(f, "unexpected HTTP status {status}"),
            BadAnswer::ScoreOutOfRange => f.write_str("a score outside 0.0-1.0"),
            BadAnswer::NotHttp => f.write_str("not an HTTP response"),
            BadAnswer::Truncated => f.write_str("the connection broke in the middle of the answer"),
        }
    }
}

/// Why the provider was unavailable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outage {
    /// The total deadline ran out.
    Timeout,
    /// No connection could be made (refused, DNS, TLS handshake).
    Connect,
    /// The connection broke before any answer arrived (after the request may have been sent).
    /// A connection that breaks after the answer's head is [`BadAnswer::Truncated`].
    ConnectionLost,
    /// The provider answered with a server error.
    Status(u16),
    /// The provider answered 429 Too Many Requests. Kept apart because an attacker can
    /// provoke it by flooding us, so it must never be treated as a harmless outage.
    RateLimited {
        /// The provider's `Retry-After`, when it sent one in seconds.
        retry_after: Option<Duration>,
    },
    /// The provider's quota is used up (reCAPTCHA Enterprise: HTTP 429 `RESOURCE_EXHAUSTED`).
    /// Not a fail-open trigger (a flood spends a quota too), but the sign for a provider set
    /// to move to its next member: [`VerifyError::is_out_of_quota`].
    QuotaExhausted {
        /// The provider's `Retry-After`, when it sent one in seconds.
        retry_after: Option<Duration>,
    },
    /// The provider answered with its `internal-error` code.
    InternalError,
    /// The circuit breaker is open after a run of provider failures: nothing was sent.
    CircuitOpen {
        /// When the breaker lets a probe through.
        retry_after: Duration,
    },
    /// Too many verifications in flight on this verifier: nothing was sent. Like a 429, a
    /// flood of requests can cause it, so it is never treated as a harmless outage.
    Overloaded,
    /// The ALTCHA replay store is full of live challenges and refuses to record another
    /// rather than forget one. A flood of solved challenges can cause it: never fail-open.
    ReplayStoreFull,
    /// The ALTCHA replay store cannot be reached. Without it a replay cannot be told from a
    /// first use: never fail-open.
    ReplayStoreDown,
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outage::Timeout => f.write_str("timed out"),
            Outage::Connect => f.write_str("could not connect"),
            Outage::ConnectionLost => f.write_str("connection lost before the answer"),
            Outage::Status(status) => write!(f, "HTTP {status}"),
            Outage::RateLimited { .. } => f.write_str("rate limited (HTTP 429)"),
            Outage::QuotaExhausted { .. } => f.write_str("out of quota (HTTP 429)"),
            Outage::InternalError => f.write_str("internal-error"),
            Outage::CircuitOpen { .. } => f.write_str("circuit breaker open"),
            Outage::Overloaded => f.write_str("too many verifications in flight"),
            Outage::ReplayStoreFull => f.write_str("the replay store is full"),
            Outage::ReplayStoreDown => f.write_str("the replay store is unreachable"),
        }
    }
}

/// A verifier could not be built from its configuration.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The provider's cargo feature is disabled in this build.
    #[error("provider `{0}` is not compiled in: enable the `{0}` feature of siteverify")]
    ProviderDisabled(Provider),
    /// A [`Verifier`](crate::Verifier) calls a hosted provider's verify endpoint; this one is
    /// verified here (ALTCHA: `altcha::AltchaVerifier`).
    #[error("{0} has no verify endpoint: it is verified locally, by its own verifier")]
    NotHosted(Provider),
    /// The secret is empty.
    #[error("the {0} secret is empty")]
    EmptySecret(Provider),
    /// The verify URL is not an absolute http(s) URL. The URL itself is not repeated, as it may
    /// carry credentials.
    #[error("the verify URL is invalid: {0}")]
    InvalidVerifyUrl(String),
    /// A timeout is zero or above the 10 s ceiling.
    #[error("the {name} must be between 1 ms and 10 s")]
    InvalidTimeout {
        /// Which timeout.
        name: &'static str,
    },
    /// The policy asks for a check this provider can never satisfy (e.g. a minimum score with
    /// Turnstile, which reports none): every request would be rejected.
    #[error("{provider} never reports {what}, so the policy's {check} would reject every token")]
    UnsupportedCheck {
        /// The provider.
        provider: Provider,
        /// The policy setting.
        check: &'static str,
        /// What the provider does not report.
        what: &'static str,
    },
    /// A setting is made for one provider and this verifier is another's (a reCAPTCHA
    /// version on a Turnstile verifier, say): it would be silently ignored.
    #[error("the {setting} setting applies to {applies_to} only, not to {provider}")]
    SettingNotForProvider {
        /// The provider of the verifier.
        provider: Provider,
        /// The setting.
        setting: &'static str,
        /// The provider it is for.
        applies_to: Provider,
    },
    /// A setting the provider cannot do without is not set (reCAPTCHA Enterprise: the site
    /// key, which each assessment names, and the project, unless the verify URL names it).
    #[error("{provider} needs the {setting}")]
    MissingSetting {
        /// The provider.
        provider: Provider,
        /// The missing setting.
        setting: &'static str,
    },
    /// A setting is out of its range.
    #[error("the {setting} {reason}")]
    InvalidSetting {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The policy itself is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A provider's documented test key or secret is configured and test keys are refused
    /// ([`VerifierConfig::deny_test_keys`](crate::VerifierConfig::deny_test_keys)).
    #[error("a {0} test key or test secret is configured: test keys accept every token")]
    TestKey(Provider),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_statuses_and_classes_follow_the_failure_contract() {
        let cases: Vec<(VerifyError, &str, u16, ErrorClass)> = vec![
            (
                VerifyError::MissingToken,
                "missing_token",
                400,
                ErrorClass::User,
            ),
            (
                VerifyError::MalformedToken(MalformedToken::ControlCharacter),
                "malformed_token",
                400,
                ErrorClass::User,
            ),
            (
                VerifyError::InvalidToken {
                    provider_codes: vec![],
                },
                "invalid_token",
                403,
                ErrorClass::User,
            ),
            (
                VerifyError::ExpiredOrDuplicate {
                    provider_codes: vec![],
                },
                "expired_or_duplicate",
                403,
                ErrorClass::User,
            ),
            (
                VerifyError::HostnameMismatch { hostname: None },
                "hostname_mismatch",
                403,
                ErrorClass::User,
            ),
            (
                VerifyError::ActionMismatch {
                    expected: "a".into(),
                    actual: None,
                },
                "action_mismatch",
                403,
                ErrorClass::User,
            ),
            (
                VerifyError::CdataMismatch,
                "cdata_mismatch",
                403,
                ErrorClass::User,
            ),
            (
                VerifyError::SitekeyMismatch {
                    expected: "k".into(),
                    actual: None,
                },
                "sitekey_mismatch",
                403,
                ErrorClass::User,
            ),
            (
                VerifyError::ScoreMissing,
                "score_missing",
                403,
                ErrorClass::User,
            ),
            (
                VerifyError::ScoreBelowThreshold {
                    score: 0.1,
                    minimum: 0.5,
                },
                "score_below_threshold",
                403,
                ErrorClass::User,
            ),
            (
                VerifyError::ChallengeTooOld {
                    age: None,
                    max_age: Duration::from_secs(1),
                },
                "challenge_too_old",
                403,
                ErrorClass::User,
            ),
            (
                VerifyError::ProviderMisconfigured {
                    provider_codes: vec![],
                },
                "provider_misconfigured",
                500,
                ErrorClass::Configuration,
            ),
            (
                VerifyError::ProviderError(BadAnswer::UnexpectedStatus(418)),
                "provider_error",
                502,
                ErrorClass::Provider,
            ),
            (
                VerifyError::ProviderUnavailable(Outage::Timeout),
                "provider_unavailable",
                503,
                ErrorClass::Provider,
            ),
        ];
        for (err, code, status, class) in cases {
            assert_eq!(err.code(), code);
            assert_eq!(err.http_status(), status, "{code}");
            assert_eq!(err.class(), class, "{code}");
        }
    }

    #[test]
    fn only_provider_failures_are_outages() {
        let outage = |o| VerifyError::ProviderUnavailable(o);
        assert!(outage(Outage::Timeout).is_provider_outage());
        assert!(outage(Outage::Status(503)).is_provider_outage());
        assert!(
            outage(Outage::CircuitOpen {
                retry_after: Duration::from_secs(1)
            })
            .is_provider_outage()
        );
        assert!(
            !VerifyError::ProviderError(BadAnswer::TooLarge { limit: 1 }).is_provider_outage(),
            "an unreadable answer may come from a wrong URL or a crafted token"
        );
        assert!(
            !outage(Outage::Status(500)).is_provider_outage(),
            "a crafted token may cause it"
        );
        assert!(outage(Outage::Status(502)).is_provider_outage());
        assert!(outage(Outage::Connect).is_provider_outage());
        assert!(!outage(Outage::RateLimited { retry_after: None }).is_provider_outage());
        let quota = outage(Outage::QuotaExhausted {
            retry_after: Some(Duration::from_secs(60)),
        });
        assert!(!quota.is_provider_outage(), "a flood spends a quota too");
        assert!(quota.is_out_of_quota());
        assert_eq!(quota.retry_after(), Some(Duration::from_secs(60)));
        assert_eq!(quota.code(), "provider_unavailable");
        assert!(!outage(Outage::RateLimited { retry_after: None }).is_out_of_quota());
        assert!(!outage(Outage::Overloaded).is_provider_outage());
        assert!(
            !VerifyError::ProviderMisconfigured {
                provider_codes: vec![]
            }
            .is_provider_outage()
        );
        assert!(
            !VerifyError::InvalidToken {
                provider_codes: vec![]
            }
            .is_provider_outage()
        );
        assert_eq!(
            outage(Outage::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            })
            .retry_after(),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn the_score_stays_out_of_the_message() {
        let err = VerifyError::ScoreBelowThreshold {
            score: 0.123,
            minimum: 0.456,
        };
        let text = err.to_string();
        assert!(!text.contains("0.123") && !text.contains("0.456"), "{text}");
    }
}
