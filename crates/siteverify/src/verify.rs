//! The one seam every verifier goes through: [`Verify`], its per-call [`VerifyOptions`], and
//! [`BoxVerifier`], the object-safe form that lets one collection hold verifiers of
//! different types.

use std::{fmt, future::Future, net::IpAddr, pin::Pin, sync::Arc, time::SystemTime};

use crate::{ConfigError, Health, Policy, Provider, Verdict, VerifyError};

/// Anything that can verify a token: the provider clients of this crate, or your own (a
/// provider this crate does not know, an in-process fake for tests).
///
/// ```
/// use siteverify::{Provider, Verdict, Verify, VerifyError, VerifyOptions};
///
/// /// Accepts the token "human" and nothing else.
/// struct Fake;
///
/// impl Verify for Fake {
///     async fn verify(&self, token: &str, _: &VerifyOptions) -> Result<Verdict, VerifyError> {
///         match token {
///             "human" => Ok(Verdict::new(Provider::Turnstile).with_hostname("localhost")),
///             _ => Err(VerifyError::InvalidToken { provider_codes: vec![] }),
///         }
///     }
/// }
/// ```
pub trait Verify: Send + Sync + 'static {
    /// Verifies `token` and applies the policy (the options' one, or the verifier's own).
    fn verify(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> impl Future<Output = Result<Verdict, VerifyError>> + Send;

    /// [`verify`](Self::verify) answered at once, for a verifier that can answer this token
    /// without waiting on anything (ALTCHA's classic protocol with an in-memory replay
    /// store): `Some` is the verification itself, with every promise of `verify` (the token
    /// is spent, the policy applied); `None`, the default, sends the caller to `verify`,
    /// having done nothing.
    ///
    /// Middleware asks it first, of a verifier that [`answers_at_once`](Self::answers_at_once):
    /// an answer now needs no future, and so no allocation and no copy of the request's state
    /// into one.
    fn verify_now(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Option<Result<Verdict, VerifyError>> {
        let _ = (token, options);
        None
    }

    /// Whether [`verify_now`](Self::verify_now) may answer: middleware asks it only of a
    /// verifier that says so, and so prepares no call for one that never does. `false` by
    /// default; a verifier that answers `verify_now` says `true` here.
    fn answers_at_once(&self) -> bool {
        false
    }

    /// The provider this verifier speaks for, if it is one of this crate's. Middleware uses it
    /// to look for the token under the provider's widget field name; `None` (the default)
    /// means "any of the known names".
    fn provider(&self) -> Option<Provider> {
        None
    }

    /// The policy this verifier applies when a call brings none, and under any a call
    /// brings. Middleware uses it to check a request another layer already verified.
    fn policy(&self) -> Option<&Policy> {
        None
    }

    /// Refuses a policy this verifier could never satisfy (a score from a provider that
    /// reports none), so that a route that would reject every token fails when it is built.
    /// By default [`Policy::validate_for`] of the provider, when the verifier names one.
    fn validate_policy(&self, policy: &Policy) -> Result<(), ConfigError> {
        self.provider()
            .map_or(Ok(()), |provider| policy.validate_for(provider))
    }

    /// Checks a verdict this verifier's provider gave (here, or in another layer) against
    /// `policy` laid over the verifier's own, with every rule the verifier applies to its own
    /// answers. Middleware uses it for a request another layer already verified.
    fn check_verdict(
        &self,
        verdict: &Verdict,
        policy: Option<&Policy>,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        static NONE: Policy = Policy::new();
        check_over(policy, self.policy().unwrap_or(&NONE), verdict, now)
    }

    /// A snapshot of the verifier's health (its circuit breaker, verifications in flight),
    /// when it keeps one; `None` (the default) for a verifier that cannot tell. A provider
    /// set reads it to send pages to a provider that can answer.
    fn health(&self) -> Option<Health> {
        None
    }

    /// Whether the verifier can take a verification now: its circuit breaker is not open.
    /// By default what [`health`](Self::health) says (a verifier that keeps none is ready);
    /// a provider set asks it of every member on every request, so a verifier with a
    /// cheaper answer gives it here.
    fn is_ready(&self) -> bool {
        self.health().is_none_or(|health| health.is_ready())
    }

    /// The public site key of the widget whose tokens this verifier takes, when it is
    /// configured with one: what a page renders the widget with. `None` by default.
    fn site_key(&self) -> Option<&str> {
        None
    }
}

/// `policy` (none: nothing more) laid over `base`, applied to `verdict`.
pub(crate) fn check_over(
    policy: Option<&Policy>,
    base: &Policy,
    verdict: &Verdict,
    now: SystemTime,
) -> Result<(), VerifyError> {
    static NONE: Policy = Policy::new();
    policy.unwrap_or(&NONE).check_over(base, verdict, now)
}

impl<V: Verify> Verify for Arc<V> {
    fn verify(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> impl Future<Output = Result<Verdict, VerifyError>> + Send {
        (**self).verify(token, options)
    }

    fn verify_now(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Option<Result<Verdict, VerifyError>> {
        (**self).verify_now(token, options)
    }

    fn answers_at_once(&self) -> bool {
        (**self).answers_at_once()
    }

    fn provider(&self) -> Option<Provider> {
        (**self).provider()
    }

    fn policy(&self) -> Option<&Policy> {
        (**self).policy()
    }

    fn validate_policy(&self, policy: &Policy) -> Result<(), ConfigError> {
        (**self).validate_policy(policy)
    }

    fn check_verdict(
        &self,
        verdict: &Verdict,
        policy: Option<&Policy>,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        (**self).check_verdict(verdict, policy, now)
    }

    fn health(&self) -> Option<Health> {
        (**self).health()
    }

    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }

    fn site_key(&self) -> Option<&str> {
        (**self).site_key()
    }
}

/// Per-call settings of a verification.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The client's IP address; sent to the provider only when the verifier is configured to
    /// [forward it](crate::VerifierConfig::forward_remote_ip).
    pub remote_ip: Option<IpAddr>,
    /// A policy for this call, laid over the verifier's own (see
    /// [`Policy::layered_over`]): what it sets wins, what it leaves unset (the hostname
    /// allowlist, the site-key binding, …) still comes from the verifier. Shared, so that a
    /// route's policy is not copied for every request.
    pub policy: Option<Arc<Policy>>,
}

impl VerifyOptions {
    /// No client IP, the verifier's own policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the client's IP address.
    pub fn with_remote_ip(mut self, ip: IpAddr) -> Self {
        self.remote_ip = Some(ip);
        self
    }

    /// Sets a policy for this call.
    pub fn with_policy(mut self, policy: impl Into<Arc<Policy>>) -> Self {
        self.policy = Some(policy.into());
        self
    }
}

/// The future a [`BoxVerifier`] returns.
pub type BoxVerifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Verdict, VerifyError>> + Send + 'a>>;

/// [`Verify`] with a boxed future: the object-safe form, which `dyn` can name.
trait ErasedVerify: Send + Sync + 'static {
    fn verify<'a>(&'a self, token: &'a str, options: &'a VerifyOptions) -> BoxVerifyFuture<'a>;
    fn verify_now(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Option<Result<Verdict, VerifyError>>;
    fn answers_at_once(&self) -> bool;
    fn provider(&self) -> Option<Provider>;
    fn policy(&self) -> Option<&Policy>;
    fn validate_policy(&self, policy: &Policy) -> Result<(), ConfigError>;
    fn check_verdict(
        &self,
        verdict: &Verdict,
        policy: Option<&Policy>,
        now: SystemTime,
    ) -> Result<(), VerifyError>;
    fn health(&self) -> Option<Health>;
    fn is_ready(&self) -> bool;
    fn site_key(&self) -> Option<&str>;
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// A verifier that is not `Debug` prints its type's name, never its fields.
struct Named<V>(V);

impl<V: Verify> ErasedVerify for Named<V> {
    fn verify<'a>(&'a self, token: &'a str, options: &'a VerifyOptions) -> BoxVerifyFuture<'a> {
        Box::pin(self.0.verify(token, options))
    }
    fn verify_now(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Option<Result<Verdict, VerifyError>> {
        self.0.verify_now(token, options)
    }
    fn answers_at_once(&self) -> bool {
        self.0.answers_at_once()
    }
    fn provider(&self) -> Option<Provider> {
        self.0.provider()
    }
    fn policy(&self) -> Option<&Policy> {
        self.0.policy()
    }
    fn validate_policy(&self, policy: &Policy) -> Result<(), ConfigError> {
        self.0.validate_policy(policy)
    }
    fn check_verdict(
        &self,
        verdict: &Verdict,
        policy: Option<&Policy>,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        self.0.check_verdict(verdict, policy, now)
    }
    fn health(&self) -> Option<Health> {
        self.0.health()
    }
    fn is_ready(&self) -> bool {
        self.0.is_ready()
    }
    fn site_key(&self) -> Option<&str> {
        self.0.site_key()
    }
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BoxVerifier({})", std::any::type_name::<V>())
    }
}

/// Any [`Verify`] behind one type: what a collection of verifiers of different types holds
/// (a hosted [`Verifier`](crate::Verifier), an ALTCHA verifier and your own provider side by
/// side, as a provider set does).
///
/// Cheap to clone (an `Arc` inside). Its futures are boxed, one allocation per verification,
/// which the verification's own work dwarfs. Its `Debug` names the wrapped type and nothing
/// else, so no secret can reach a log through it.
///
/// ```
/// use siteverify::{BoxVerifier, Provider, Verifier, VerifierConfig, Verify};
///
/// # fn main() -> Result<(), siteverify::ConfigError> {
/// let verifiers: Vec<BoxVerifier> = vec![
///     BoxVerifier::new(Verifier::turnstile(VerifierConfig::new("turnstile-secret"))?),
///     BoxVerifier::new(Verifier::hcaptcha(VerifierConfig::new("hcaptcha-secret"))?),
/// ];
/// assert_eq!(verifiers[1].provider(), Some(Provider::HCaptcha));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BoxVerifier(Arc<dyn ErasedVerify>);

impl BoxVerifier {
    /// Boxes `verifier`.
    pub fn new(verifier: impl Verify) -> Self {
        Self(Arc::new(Named(verifier)))
    }
}

impl fmt::Debug for BoxVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug(f)
    }
}

impl Verify for BoxVerifier {
    // An async fn, not the boxed future itself: that one has a single lifetime, the shortest
    // of the three borrows, which the trait's signature cannot name.
    async fn verify(&self, token: &str, options: &VerifyOptions) -> Result<Verdict, VerifyError> {
        self.0.verify(token, options).await
    }

    fn verify_now(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Option<Result<Verdict, VerifyError>> {
        self.0.verify_now(token, options)
    }

    fn answers_at_once(&self) -> bool {
        self.0.answers_at_once()
    }

    fn provider(&self) -> Option<Provider> {
        self.0.provider()
    }

    fn policy(&self) -> Option<&Policy> {
        self.0.policy()
    }

    fn validate_policy(&self, policy: &Policy) -> Result<(), ConfigError> {
        self.0.validate_policy(policy)
    }

    fn check_verdict(
        &self,
        verdict: &Verdict,
        policy: Option<&Policy>,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        self.0.check_verdict(verdict, policy, now)
    }

    fn health(&self) -> Option<Health> {
        self.0.health()
    }

    fn is_ready(&self) -> bool {
        self.0.is_ready()
    }

    fn site_key(&self) -> Option<&str> {
        self.0.site_key()
    }
}
