use siteverify::{BoxVerifier, Policy, Provider, Verify};

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
    pub(crate) site_key: Option<String>,
    pub(crate) challenge_url: Option<String>,
}

impl Member {
    /// A member verifying with `verifier`: any [`Verify`], boxed. Its token is looked for
    /// under its provider's widget field (see [`TokenSources::for_provider`]); a verifier
    /// that names no provider needs [`sources`](Self::sources) of its own, or the set
    /// refuses it (it would read every widget's field).
    pub fn new(verifier: impl Verify) -> Self {
        let verifier = BoxVerifier::new(verifier);
        Self {
            sources: TokenSources::for_provider(verifier.provider()),
            verifier,
            policy: None,
            site_key: None,
            challenge_url: None,
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
    /// `fallback`. By default the one the member's resolved policy binds, else the
    /// verifier's ([`Verify::site_key`]); one that contradicts either is refused when the set
    /// is built. A member whose verifier names no provider has no
    /// widget to show, and the set refuses a site key for it.
    pub fn site_key(mut self, site_key: impl Into<String>) -> Self {
        self.site_key = Some(site_key.into());
        self
    }

    /// Where this member's widget fetches its challenge (an ALTCHA member's challenge route),
    /// for the same hints. A failover set needs it for an ALTCHA member.
    pub fn challenge_url(mut self, url: impl Into<String>) -> Self {
        self.challenge_url = Some(url.into());
        self
    }

    /// The provider of its verifier.
    pub fn provider(&self) -> Option<Provider> {
        self.verifier.provider()
    }
}
