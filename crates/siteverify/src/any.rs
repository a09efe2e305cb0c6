//! One verifier type for every provider, hosted or self-hosted.

#[cfg(feature = "altcha")]
use crate::altcha::AltchaVerifier;
use std::time::SystemTime;

use crate::{
    ConfigError, Health, Policy, Provider, Verdict, Verifier, Verify, VerifyError, VerifyOptions,
};

/// A verifier of any provider this crate speaks: a hosted one's [`Verifier`] or, with the
/// `altcha` feature, an `AltchaVerifier`.
///
/// For code that picks the provider at run time (from configuration) and still needs one
/// type: a middleware layer, a field of your app state. Cheap to clone, like both kinds.
///
/// ```
/// use siteverify::{AnyVerifier, Provider, Verifier, VerifierConfig};
///
/// # fn main() -> Result<(), siteverify::ConfigError> {
/// let hosted: AnyVerifier = Verifier::turnstile(VerifierConfig::new("my-secret"))?.into();
/// assert_eq!(hosted.provider(), Provider::Turnstile);
/// assert!(hosted.as_hosted().is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyVerifier {
    /// A provider with a verify endpoint of its own.
    Hosted(Verifier),
    /// ALTCHA, verified here.
    #[cfg(feature = "altcha")]
    Altcha(AltchaVerifier),
}

impl AnyVerifier {
    /// The provider.
    pub fn provider(&self) -> Provider {
        match self {
            AnyVerifier::Hosted(verifier) => verifier.provider(),
            #[cfg(feature = "altcha")]
            AnyVerifier::Altcha(_) => Provider::Altcha,
        }
    }

    /// The policy every verification applies.
    pub fn policy(&self) -> &Policy {
        match self {
            AnyVerifier::Hosted(verifier) => verifier.policy(),
            #[cfg(feature = "altcha")]
            AnyVerifier::Altcha(verifier) => verifier.policy(),
        }
    }

    /// The hosted verifier, if it is one.
    pub fn as_hosted(&self) -> Option<&Verifier> {
        match self {
            AnyVerifier::Hosted(verifier) => Some(verifier),
            #[cfg(feature = "altcha")]
            AnyVerifier::Altcha(_) => None,
        }
    }

    /// The ALTCHA verifier, if it is one: what a challenge route issues challenges with.
    #[cfg(feature = "altcha")]
    pub fn as_altcha(&self) -> Option<&AltchaVerifier> {
        match self {
            AnyVerifier::Altcha(verifier) => Some(verifier),
            AnyVerifier::Hosted(_) => None,
        }
    }

    /// Verifies `token` with whichever verifier this is.
    pub async fn verify(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Result<Verdict, VerifyError> {
        match self {
            AnyVerifier::Hosted(verifier) => verifier.verify(token, options).await,
            #[cfg(feature = "altcha")]
            AnyVerifier::Altcha(verifier) => verifier.verify(token, options).await,
        }
    }
}

impl From<Verifier> for AnyVerifier {
    fn from(verifier: Verifier) -> Self {
        AnyVerifier::Hosted(verifier)
    }
}

#[cfg(feature = "altcha")]
impl From<AltchaVerifier> for AnyVerifier {
    fn from(verifier: AltchaVerifier) -> Self {
        AnyVerifier::Altcha(verifier)
    }
}

impl Verify for AnyVerifier {
    fn verify(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> impl Future<Output = Result<Verdict, VerifyError>> + Send {
        AnyVerifier::verify(self, token, options)
    }

    fn verify_now(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Option<Result<Verdict, VerifyError>> {
        match self {
            AnyVerifier::Hosted(verifier) => Verify::verify_now(verifier, token, options),
            #[cfg(feature = "altcha")]
            AnyVerifier::Altcha(verifier) => Verify::verify_now(verifier, token, options),
        }
    }

    fn answers_at_once(&self) -> bool {
        match self {
            AnyVerifier::Hosted(verifier) => Verify::answers_at_once(verifier),
            #[cfg(feature = "altcha")]
            AnyVerifier::Altcha(verifier) => Verify::answers_at_once(verifier),
        }
    }

    fn provider(&self) -> Option<Provider> {
        Some(AnyVerifier::provider(self))
    }

    fn policy(&self) -> Option<&Policy> {
        Some(AnyVerifier::policy(self))
    }

    // Each kind's own rules (a reCAPTCHA version's, say), not the trait's defaults.
    fn validate_policy(&self, policy: &Policy) -> Result<(), ConfigError> {
        match self {
            AnyVerifier::Hosted(verifier) => Verify::validate_policy(verifier, policy),
            #[cfg(feature = "altcha")]
            AnyVerifier::Altcha(verifier) => Verify::validate_policy(verifier, policy),
        }
    }

    fn check_verdict(
        &self,
        verdict: &Verdict,
        policy: Option<&Policy>,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        match self {
            AnyVerifier::Hosted(verifier) => Verify::check_verdict(verifier, verdict, policy, now),
            #[cfg(feature = "altcha")]
            AnyVerifier::Altcha(verifier) => Verify::check_verdict(verifier, verdict, policy, now),
        }
    }

    fn health(&self) -> Option<Health> {
        match self {
            AnyVerifier::Hosted(verifier) => Some(verifier.health()),
            #[cfg(feature = "altcha")]
            AnyVerifier::Altcha(verifier) => Verify::health(verifier),
        }
    }

    fn site_key(&self) -> Option<&str> {
        self.as_hosted().and_then(Verifier::site_key)
    }

    fn is_ready(&self) -> bool {
        match self {
            AnyVerifier::Hosted(verifier) => Verify::is_ready(verifier),
            #[cfg(feature = "altcha")]
            AnyVerifier::Altcha(verifier) => Verify::is_ready(verifier),
        }
    }
}

#[cfg(all(test, feature = "recaptcha"))]
mod tests {
    use super::*;
    use crate::{RecaptchaVersion, VerifierConfig};

    #[test]
    fn each_kind_keeps_its_own_rules() {
        let v2: AnyVerifier = Verifier::recaptcha(
            VerifierConfig::new("secret").recaptcha_version(RecaptchaVersion::V2),
        )
        .unwrap()
        .into();
        let score = Policy::new().min_score(0.5).unwrap();
        assert!(
            v2.validate_policy(&score).is_err(),
            "a v2 key reports no score"
        );
        let v3: AnyVerifier = Verifier::recaptcha(
            VerifierConfig::new("secret").recaptcha_version(RecaptchaVersion::V3),
        )
        .unwrap()
        .into();
        let checkbox = Verdict::new(Provider::Recaptcha);
        assert_eq!(
            v3.check_verdict(&checkbox, None, SystemTime::now()),
            Err(VerifyError::ScoreMissing)
        );
    }
}
