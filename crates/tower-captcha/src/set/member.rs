use siteverify::{BoxVerifier, Policy, Provider, Verify};

use super::WidgetHint;
use crate::TokenSources;

/// One verifier of a [`ProviderSet`](crate::ProviderSet), with what the set needs to know
/// about it: where its token is, its own policy, and how a page shows its widget.
///
/// ```
/// use siteverify::{Policy, Verifier, VerifierConfig};
/// use tower_captcha::Member;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let recaptcha = Member::new(Verifier::recaptcha(VerifierConfig::new("secret"))?)
///     .policy(Policy::new().min_score(0.7)?)
///     .site_key("6Lc-public-site-key");
/// # let _ = recaptcha;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Member {
    pub(crate) verifier: BoxVerifier,
    pub(crate) sources: TokenSources,
    pub(crate) policy: Option<Policy>,
    pub(crate) hint: Option<WidgetHint>,
}

impl Member {
    /// A member verifying with `verifier`: any [`Verify`], boxed. Its token is looked for
    /// under its provider's widget field (see [`TokenSources::for_provider`]); a verifier
    /// that names no provider needs [`sources`](Self::sources) of its own, or the set
    /// refuses it (it would read every widget's field).
    pub fn new(verifier: impl Verify) -> Self {
        let verifier = BoxVerifier::new(verifier);
        let provider = verifier.provider();
        let hint = provider.map(|provider| {
            let hint = WidgetHint::new(provider);
            let bound = verifier.policy().and_then(Policy::expected_site_key);
            match verifier.site_key().or(bound) {
                Some(site_key) => hint.with_site_key(site_key),
                None => hint,
            }
        });
        Self {
            sources: TokenSources::for_provider(provider),
            verifier,
            policy: None,
            hint,
        }
    }

    /// This member's policy on this set's route, laid over the set's policy, which is laid
    /// over the verifier's own: a reCAPTCHA score floor next to a Turnstile action.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Where this member's token is, replacing its provider's widget field.
    pub fn sources(mut self, sources: TokenSources) -> Self {
        self.sources = sources;
        self
    }

    /// The site key a page renders this member's widget with, for the set's
    /// [`recommended`](crate::ProviderSet::recommended) widget and the failure body's
    /// `fallback`. By default the verifier's ([`Verify::site_key`]), or the one its policy
    /// binds.
    pub fn site_key(mut self, site_key: impl Into<String>) -> Self {
        if let Some(hint) = self.hint.take() {
            self.hint = Some(hint.with_site_key(site_key));
        }
        self
    }

    /// Where this member's widget fetches its challenge (an ALTCHA member's challenge route),
    /// for the same hints.
    pub fn challenge_url(mut self, url: impl Into<String>) -> Self {
        if let Some(hint) = self.hint.take() {
            self.hint = Some(hint.with_challenge_url(url));
        }
        self
    }

    /// The provider of its verifier.
    pub fn provider(&self) -> Option<Provider> {
        self.verifier.provider()
    }
}
