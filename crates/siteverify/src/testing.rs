//! Ready verifiers for your own test suites.
//!
//! [`AlwaysPass`] and [`AlwaysFail`] answer every token at once, without a network, and
//! count their calls: for unit tests of a handler, a route or a layer stack, where what is
//! tested is your code's reaction to a verdict or a refusal. With the `emulator` feature,
//! `Emulated` starts the local emulator of a hosted provider and a [`Verifier`](crate::Verifier) pointed at
//! it in one line, for tests that should go through the real HTTP exchange.
//!
//! ```
//! use siteverify::testing::{AlwaysFail, AlwaysPass};
//! use siteverify::{FailureCode, Provider, Verdict, Verify, VerifyOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let human = AlwaysPass::new(Verdict::new(Provider::Turnstile).with_hostname("example.com"));
//! let verdict = human.verify("any token", &VerifyOptions::new()).await.unwrap();
//! assert_eq!(verdict.hostname.as_deref(), Some("example.com"));
//! assert_eq!(human.calls(), 1);
//!
//! let bot = AlwaysFail::with_code(Provider::Turnstile, FailureCode::ScoreBelowThreshold).unwrap();
//! let refused = bot.verify("any token", &VerifyOptions::new()).await.unwrap_err();
//! assert_eq!(refused.code(), "score_below_threshold");
//! # }
//! ```

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use crate::{
    FailureCode, MalformedToken, Outage, Provider, Verdict, Verify, VerifyError, VerifyOptions,
};

/// Passes every token with one verdict, whatever the policy: what your code does with a
/// verdict is what is tested. Cheap to clone; clones share the call count.
#[derive(Clone, Debug)]
pub struct AlwaysPass {
    verdict: Verdict,
    calls: Arc<AtomicUsize>,
}

impl AlwaysPass {
    /// Passes with `verdict`; its provider is the verifier's (where a layer looks for the
    /// token, under that provider's widget field).
    pub fn new(verdict: Verdict) -> Self {
        Self {
            verdict,
            calls: Arc::default(),
        }
    }

    /// How many tokens it was asked about.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Verify for AlwaysPass {
    async fn verify(&self, _: &str, _: &VerifyOptions) -> Result<Verdict, VerifyError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(self.verdict.clone())
    }

    fn provider(&self) -> Option<Provider> {
        Some(self.verdict.provider)
    }
}

/// Refuses every token with one error. Cheap to clone; clones share the call count.
#[derive(Clone, Debug)]
pub struct AlwaysFail {
    provider: Provider,
    error: VerifyError,
    calls: Arc<AtomicUsize>,
}

impl AlwaysFail {
    /// Refuses with `error`, speaking for `provider`.
    pub fn new(provider: Provider, error: VerifyError) -> Self {
        Self {
            provider,
            error,
            calls: Arc::default(),
        }
    }

    /// Refuses with a typical error of the contract's `code` (`provider_unavailable` as a
    /// timeout, `score_below_threshold` as 0.1 under 0.5, …). `None` for the codes no
    /// verifier gives, which only a middleware finds: `malformed_body`, `body_too_large`,
    /// `body_timeout`.
    pub fn with_code(provider: Provider, code: FailureCode) -> Option<Self> {
        let none = Vec::new;
        let error = match code {
            FailureCode::MissingToken => VerifyError::MissingToken,
            FailureCode::MalformedToken => VerifyError::MalformedToken(MalformedToken::Whitespace),
            FailureCode::MalformedBody | FailureCode::BodyTooLarge | FailureCode::BodyTimeout => {
                return None;
            }
            FailureCode::InvalidToken => VerifyError::InvalidToken {
                provider_codes: none(),
            },
            FailureCode::ExpiredOrDuplicate => VerifyError::ExpiredOrDuplicate {
                provider_codes: none(),
            },
            FailureCode::HostnameMismatch => VerifyError::HostnameMismatch {
                hostname: Some("elsewhere.example".to_owned()),
            },
            FailureCode::ActionMismatch => VerifyError::ActionMismatch {
                expected: "signup".to_owned(),
                actual: Some("login".to_owned()),
            },
            FailureCode::CdataMismatch => VerifyError::CdataMismatch,
            FailureCode::SitekeyMismatch => VerifyError::SitekeyMismatch {
                expected: "your-site-key".to_owned(),
                actual: Some("another-site-key".to_owned()),
            },
            FailureCode::ScoreMissing => VerifyError::ScoreMissing,
            FailureCode::ScoreBelowThreshold => VerifyError::ScoreBelowThreshold {
                score: 0.1,
                minimum: 0.5,
            },
            FailureCode::ChallengeTooOld => VerifyError::ChallengeTooOld {
                age: Some(std::time::Duration::from_secs(600)),
                max_age: std::time::Duration::from_secs(300),
            },
            FailureCode::ProviderMisconfigured => VerifyError::ProviderMisconfigured {
                provider_codes: none(),
            },
            FailureCode::ProviderError => VerifyError::ProviderError(crate::BadAnswer::NotHttp),
            FailureCode::ProviderUnavailable => VerifyError::ProviderUnavailable(Outage::Timeout),
        };
        Some(Self::new(provider, error))
    }

    /// How many tokens it was asked about.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Verify for AlwaysFail {
    async fn verify(&self, _: &str, _: &VerifyOptions) -> Result<Verdict, VerifyError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Err(self.error.clone())
    }

    fn provider(&self) -> Option<Provider> {
        Some(self.provider)
    }
}

#[cfg(feature = "emulator")]
pub use emulated::{Emulated, EmulatedError};

#[cfg(feature = "emulator")]
mod emulated {
    use siteverify_emulator::{Emulator, MintError, TokenSpec};

    use crate::{ConfigError, Provider, Verifier, VerifierConfig};

    /// The local emulator of a hosted provider, started on a free port, with a [`Verifier`]
    /// pointed at it: a test fixture in one line, no account, no network.
    ///
    /// ```
    /// use siteverify::{Provider, VerifyOptions, testing::Emulated};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let hcaptcha = Emulated::start(Provider::HCaptcha).await?;
    /// let token = hcaptcha.token()?;
    /// let verdict = hcaptcha.verifier.verify(&token, &VerifyOptions::new()).await?;
    /// assert_eq!(verdict.provider, Provider::HCaptcha);
    /// // Single use, as the real one.
    /// assert!(hcaptcha.verifier.verify(&token, &VerifyOptions::new()).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    #[derive(Debug)]
    #[non_exhaustive]
    pub struct Emulated {
        /// The emulator; it stops when this is dropped. Mint tokens with any property (a
        /// hostname, a score, a fault of the provider) and read what the verifier sent.
        pub emulator: Emulator,
        /// A verifier for the provider, with the emulator's default secret and site key,
        /// pointed at its verify endpoint.
        pub verifier: Verifier,
        provider: siteverify_emulator::Provider,
    }

    /// The fixture could not start.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum EmulatedError {
        /// The emulator could not listen.
        #[error("the emulator could not start: {0}")]
        Start(#[from] std::io::Error),
        /// The provider is not one the emulator speaks for (ALTCHA is verified here, with
        /// no endpoint to emulate), or the verifier's configuration was refused.
        #[error(transparent)]
        Config(#[from] ConfigError),
    }

    impl Emulated {
        /// Starts the emulator and builds the verifier for `provider`. Needs a Tokio
        /// runtime.
        pub async fn start(provider: Provider) -> Result<Self, EmulatedError> {
            let emulated: siteverify_emulator::Provider = provider
                .name()
                .parse()
                .map_err(|_| ConfigError::NotHosted(provider))?;
            let emulator = Emulator::start().await?;
            let mut config = VerifierConfig::new(emulated.default_secret())
                .site_key(emulated.default_site_key())
                .verify_url(emulator.verify_url(emulated));
            if emulated == siteverify_emulator::Provider::RecaptchaEnterprise {
                config = config.project("emulator-project");
            }
            let verifier = Verifier::new(provider, config)?;
            Ok(Self {
                emulator,
                verifier,
                provider: emulated,
            })
        }

        /// A spec for a token of this provider and site, to refine (hostname, action,
        /// score, a fault) and [`mint`](Self::mint).
        pub fn spec(&self) -> TokenSpec {
            TokenSpec::new(self.provider)
        }

        /// Mints a token as `spec` says.
        pub fn mint(&self, spec: TokenSpec) -> Result<String, MintError> {
            self.emulator.mint(spec)
        }

        /// A token that passes the verifier's policy as configured here (none).
        pub fn token(&self) -> Result<String, MintError> {
            self.mint(self.spec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_code_a_verifier_gives_can_be_had_and_is_given() {
        for code in FailureCode::ALL {
            let Some(fail) = AlwaysFail::with_code(Provider::HCaptcha, code) else {
                assert!(matches!(
                    code,
                    FailureCode::MalformedBody
                        | FailureCode::BodyTooLarge
                        | FailureCode::BodyTimeout
                ));
                continue;
            };
            let error = fail.verify("t", &VerifyOptions::new()).await.unwrap_err();
            assert_eq!(error.failure_code(), code);
            assert_eq!(fail.calls(), 1);
            assert_eq!(fail.provider(), Some(Provider::HCaptcha));
        }
    }

    #[tokio::test]
    async fn clones_count_together() {
        let pass = AlwaysPass::new(Verdict::new(Provider::Turnstile));
        let clone = pass.clone();
        clone.verify("a", &VerifyOptions::new()).await.unwrap();
        pass.verify("b", &VerifyOptions::new()).await.unwrap();
        assert_eq!(pass.calls(), 2);
        assert_eq!(Verify::provider(&pass), Some(Provider::Turnstile));
    }
}
