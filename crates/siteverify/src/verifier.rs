use std::{
    fmt,
    future::Future,
    sync::Arc,
    time::{Duration, SystemTime},
};

use tokio::time::Instant;
use tracing::{Instrument, field::Empty};
use url::Url;

use serde::Serialize;

use crate::{
    BreakerState, ConfigError, ErrorClass, MAX_TIMEOUT, Outage, Policy, Provider, RecaptchaVersion,
    Secret, Verdict, VerifierConfig, VerifyError, VerifyOptions,
    breaker::{Admission, Breaker, Outcome},
    in_flight::InFlight,
    protocol::{self, Call, Codec},
    test_keys, token,
    transport::{self, Transport},
    verify::{Verify, check_over},
};

/// Attempts per verification at most, the first included.
const MAX_ATTEMPTS: u32 = 3;
/// Pause before the first retry; doubled before each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// A client for one provider with one configuration.
///
/// Cheap to clone (an `Arc` inside); share one per provider configuration. Every verifier in
/// the process uses one pooled HTTP client, unless the environment's proxy variables cover
/// its endpoint (a client of its own through that proxy) or it was given a reqwest client
/// (feature `reqwest`, `VerifierConfig::http_client`).
///
/// ```no_run
/// use siteverify::{Policy, Verifier, VerifierConfig, VerifyOptions};
///
/// # async fn handler(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::turnstile(
///     VerifierConfig::new(std::env::var("TURNSTILE_SECRET")?)
///         .policy(Policy::new().allow_hostname("example.com")?.action("signup")),
/// )?;
/// let verdict = verifier.verify(token, &VerifyOptions::new()).await?;
/// println!("solved on {:?}", verdict.hostname);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Provider,
    codec: &'static Codec,
    secret: Secret,
    site_key: Option<String>,
    forward_remote_ip: bool,
    timeout: Duration,
    policy: Policy,
    transport: Transport,
    breaker: Arc<Breaker>,
    in_flight: InFlight,
    /// Our secret or site key is a provider's test key.
    test_keys: bool,
    /// Our secret is a provider's test secret.
    test_secret: bool,
    recaptcha_version: Option<RecaptchaVersion>,
}

/// A snapshot of a verifier's health, for a readiness endpoint. Serialises to JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// The provider.
    pub provider: Provider,
    /// The circuit breaker of its verify endpoint.
    pub breaker: BreakerState,
    /// The share of provider failures among the endpoint's last 100 verifications.
    pub recent_failure_rate: f64,
    /// Verifications in flight on this verifier now.
    pub in_flight: usize,
    /// The bound on them.
    pub max_in_flight: usize,
}

impl Health {
    /// Whether the provider is usable: the breaker is not open.
    pub fn is_ready(&self) -> bool {
        self.breaker != BreakerState::Open
    }
}

impl Verifier {
    /// A verifier for `provider`. Fails when the provider's feature is off, the secret is
    /// empty, the URL or a timeout is invalid, or the policy needs something the provider
    /// never reports (which would reject every token).
    pub fn new(provider: Provider, config: VerifierConfig) -> Result<Self, ConfigError> {
        if !provider.is_hosted() {
            return Err(ConfigError::NotHosted(provider));
        }
        let codec = protocol::codec(provider).ok_or(ConfigError::ProviderDisabled(provider))?;
        if config.secret.is_empty() {
            return Err(ConfigError::EmptySecret(provider));
        }
        if provider.secret_in_header()
            && transport::secret_header_value(config.secret.expose()).is_none()
        {
            return Err(ConfigError::InvalidSetting {
                setting: "API key",
                reason: "must be visible ASCII: it is sent as an HTTP header",
            });
        }
        let url = parse_verify_url(&verify_url(provider, &config)?)?;
        if provider == Provider::RecaptchaEnterprise && config.site_key.is_none() {
            // Every assessment names the site key the token was made with.
            return Err(ConfigError::MissingSetting {
                provider,
                setting: "site key",
            });
        }
        if config.recaptcha_version.is_some() && provider != Provider::Recaptcha {
            return Err(ConfigError::SettingNotForProvider {
                provider,
                setting: "reCAPTCHA version",
                applies_to: Provider::Recaptcha,
            });
        }
        check_timeout("connect timeout", config.connect_timeout)?;
        check_timeout("timeout", config.timeout)?;
        let test_keys =
            test_keys::is_test_key(provider, config.secret.expose(), config.site_key.as_deref());
        let test_secret = test_keys::is_test_secret(config.secret.expose());
        if test_keys {
            if config.deny_test_keys {
                return Err(ConfigError::TestKey(provider));
            }
            if !cfg!(debug_assertions) {
                tracing::warn!(
                    provider = provider.name(),
                    "A {provider} TEST KEY is configured: it accepts every token, bots included. \
                     Never use test keys in production."
                );
            }
        }

        let mut policy = config.policy;
        if policy.expected_site_key().is_none()
            && provider.binds_site_key()
            && let Some(site_key) = &config.site_key
        {
            policy = policy.site_key(site_key.clone());
        }
        validate(provider, config.recaptcha_version, &policy)?;

        let transport = match config.http_client {
            #[cfg(feature = "reqwest")]
            Some(client) => Transport::injected(client, &url),
            _ => Transport::for_endpoint(
                &url,
                config.connect_timeout,
                &transport::environment_proxies(),
            )?,
        };
        // Which client carries the exchange depends on the environment's proxy settings.
        tracing::debug!(
            provider = provider.name(),
            transport = transport.name(),
            "captcha verifier ready"
        );
        let breaker = Breaker::for_endpoint(
            url.as_str(),
            config.breaker_threshold,
            config.breaker_cool_down,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                provider,
                codec,
                secret: config.secret,
                site_key: config.site_key,
                forward_remote_ip: config.forward_remote_ip,
                timeout: config.timeout,
                policy,
                transport,
                breaker,
                in_flight: InFlight::new(config.max_in_flight),
                test_keys,
                test_secret,
                recaptcha_version: config.recaptcha_version,
            }),
        })
    }

    /// An hCaptcha verifier.
    #[cfg(feature = "hcaptcha")]
    pub fn hcaptcha(config: VerifierConfig) -> Result<Self, ConfigError> {
        Self::new(Provider::HCaptcha, config)
    }

    /// A reCAPTCHA (v2 or v3) verifier.
    #[cfg(feature = "recaptcha")]
    pub fn recaptcha(config: VerifierConfig) -> Result<Self, ConfigError> {
        Self::new(Provider::Recaptcha, config)
    }

    /// A Cloudflare Turnstile verifier.
    #[cfg(feature = "turnstile")]
    pub fn turnstile(config: VerifierConfig) -> Result<Self, ConfigError> {
        Self::new(Provider::Turnstile, config)
    }

    /// A Prosopo Procaptcha verifier.
    #[cfg(feature = "procaptcha")]
    pub fn procaptcha(config: VerifierConfig) -> Result<Self, ConfigError> {
        Self::new(Provider::Procaptcha, config)
    }

    /// A ByeBot verifier.
    #[cfg(feature = "byebot")]
    pub fn byebot(config: VerifierConfig) -> Result<Self, ConfigError> {
        Self::new(Provider::ByeBot, config)
    }

    /// A reCAPTCHA Enterprise verifier (createAssessment). The secret is the API key; the
    /// site key and the project ([`VerifierConfig::project`], or a verify URL naming it) are
    /// required.
    #[cfg(feature = "recaptcha-enterprise")]
    pub fn recaptcha_enterprise(config: VerifierConfig) -> Result<Self, ConfigError> {
        Self::new(Provider::RecaptchaEnterprise, config)
    }

    /// A Friendly Captcha (v2) verifier. The secret is the API key; the global endpoint is
    /// the default, [`FRIENDLY_CAPTCHA_EU_VERIFY_URL`](crate::FRIENDLY_CAPTCHA_EU_VERIFY_URL)
    /// the EU one.
    #[cfg(feature = "friendlycaptcha")]
    pub fn friendlycaptcha(config: VerifierConfig) -> Result<Self, ConfigError> {
        Self::new(Provider::FriendlyCaptcha, config)
    }

    /// The provider.
    pub fn provider(&self) -> Provider {
        self.inner.provider
    }

    /// The configured public site key, for rendering the widget.
    pub fn site_key(&self) -> Option<&str> {
        self.inner.site_key.as_deref()
    }

    /// The reCAPTCHA version configured with
    /// [`VerifierConfig::recaptcha_version`], if any.
    pub fn recaptcha_version(&self) -> Option<RecaptchaVersion> {
        self.inner.recaptcha_version
    }

    /// The policy applied when a call brings none.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// A snapshot of the verifier's health: breaker state, recent failure rate, verifications
    /// in flight.
    pub fn health(&self) -> Health {
        let inner = &*self.inner;
        Health {
            provider: inner.provider,
            breaker: inner.breaker.state(),
            recent_failure_rate: inner.breaker.recent_failure_rate(),
            in_flight: inner.in_flight.current(),
            max_in_flight: inner.in_flight.max(),
        }
    }

    /// Verifies `token` with the provider and applies the policy.
    ///
    /// Never takes longer than the configured timeout. Answers at once with
    /// `provider_unavailable` when the endpoint's circuit breaker is open or too many
    /// verifications are in flight. Emits one `siteverify` tracing span with the provider, the
    /// outcome code, the attempts, the breaker state and the latency (and, with the `metrics`
    /// feature, the counter `captcha_verifications_total{provider, outcome}` and the histogram
    /// `captcha_verification_duration_seconds{provider}`); the token and the secret are never
    /// recorded.
    pub async fn verify(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Result<Verdict, VerifyError> {
        let span = tracing::info_span!(
            "siteverify",
            provider = self.inner.provider.name(),
            outcome = Empty,
            attempts = Empty,
            breaker = Empty,
            latency_ms = Empty,
        );
        let started = Instant::now();
        let (result, attempts) = self
            .verify_unlogged(token, options)
            .instrument(span.clone())
            .await;
        let elapsed = started.elapsed();
        let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let outcome = result.as_ref().err().map_or("verified", VerifyError::code);
        span.record("outcome", outcome);
        span.record("attempts", attempts);
        // Reading the breaker takes its lock: only for a span someone listens to.
        if !span.is_disabled() {
            span.record("breaker", self.inner.breaker.state().name());
        }
        span.record("latency_ms", latency_ms);
        #[cfg(feature = "metrics")]
        {
            let provider = self.inner.provider.name();
            metrics::counter!("captcha_verifications_total", "provider" => provider, "outcome" => outcome)
                .increment(1);
            metrics::histogram!("captcha_verification_duration_seconds", "provider" => provider)
                .record(elapsed.as_secs_f64());
        }
        span.in_scope(|| match &result {
            Ok(_) => tracing::debug!(outcome, "captcha verified"),
            Err(e) => match e.class() {
                ErrorClass::User => tracing::debug!(outcome, error = %e, "captcha rejected"),
                ErrorClass::Configuration => tracing::error!(
                    outcome,
                    error = %e,
                    provider_codes = ?e.provider_codes(),
                    "captcha provider rejected our configuration"
                ),
                _ => tracing::warn!(outcome, error = %e, "captcha provider failed"),
            },
        });
        result
    }

    async fn verify_unlogged(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> (Result<Verdict, VerifyError>, u32) {
        let inner = &*self.inner;
        let token = match token::precheck(inner.provider, token) {
            Ok(token) => token,
            Err(e) => return (Err(e), 0),
        };
        static NONE: Policy = Policy::new();
        let route = options.policy.as_deref().unwrap_or(&NONE);
        #[cfg(feature = "turnstile")]
        let idempotency_key = inner
            .codec
            .idempotent
            .then(|| uuid::Uuid::new_v4().to_string());
        #[cfg(not(feature = "turnstile"))]
        let idempotency_key: Option<String> = None;
        let call = Call {
            token: &token,
            secret: &inner.secret,
            remote_ip: options.remote_ip.filter(|_| inner.forward_remote_ip),
            site_key: route
                .site_key_over(&inner.policy)
                .filter(|_| inner.provider.sends_site_key()),
            idempotency_key: idempotency_key.as_deref(),
            expected_action: route.action_over(&inner.policy),
            test_keys: inner.test_keys,
            test_secret: inner.test_secret,
        };
        let admission = inner.breaker.admit();
        if let Admission::Refused { retry_after } = admission {
            return (
                Err(VerifyError::ProviderUnavailable(Outage::CircuitOpen {
                    retry_after,
                })),
                0,
            );
        }
        let Some(_slot) = inner.in_flight.try_enter() else {
            return (Err(VerifyError::ProviderUnavailable(Outage::Overloaded)), 0);
        };
        let (verdict, attempts) = self.exchange(&call).await;
        let outcome = match &verdict {
            Err(e) if e.is_provider_outage() => Outcome::Failure,
            Err(VerifyError::ProviderUnavailable(_) | VerifyError::ProviderError(_)) => {
                Outcome::Neutral
            }
            _ => Outcome::Success,
        };
        match admission {
            Admission::Probe(probe) => probe.record(outcome),
            _ => inner.breaker.record(outcome),
        }
        let result = verdict.and_then(|verdict| {
            self.check_verdict(&verdict, Some(route), SystemTime::now())?;
            Ok(verdict)
        });
        (result, attempts)
    }

    /// Sends the call, retrying where that is safe, all within the deadline.
    async fn exchange(&self, call: &Call<'_>) -> (Result<Verdict, VerifyError>, u32) {
        let inner = &*self.inner;
        let codec = inner.codec;
        let body = (codec.encode)(call);
        let deadline = Instant::now() + inner.timeout;
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt == MAX_ATTEMPTS;
            let now = Instant::now();
            // An attempt that may be retried after a timeout gets two thirds of the time left:
            // enough for a slow but healthy provider, and still room for a retry.
            let attempt_deadline = if codec.idempotent && !last {
                now + deadline.saturating_duration_since(now).mul_f64(2.0 / 3.0)
            } else {
                deadline
            };
            let outcome = match inner.transport.exchange(&body, attempt_deadline).await {
                Ok(answer) => (codec.decode)(call, &answer),
                Err(failure) => Err(failure.into()),
            };
            let retry = match &outcome {
                Err(e) => !last && retryable(codec, e),
                Ok(_) => false,
            };
            if !retry || Instant::now() + backoff >= deadline {
                return (outcome, attempt);
            }
            tracing::debug!(attempt, error = %outcome.as_ref().err().map(ToString::to_string).unwrap_or_default(), "retrying captcha verification");
            // Jitter, so that many verifications failing together do not retry in lockstep.
            tokio::time::sleep(backoff.mul_f64(0.5 + fastrand::f64() / 2.0)).await;
            backoff *= 2;
        }
    }
}

/// A retry is safe when the request never left (connect failure) or when the provider
/// deduplicates it (Turnstile's idempotency key). A 429 is never retried: hammering a provider
/// that asks us to slow down only makes it worse.
fn retryable(codec: &Codec, error: &VerifyError) -> bool {
    match error {
        VerifyError::ProviderUnavailable(Outage::Connect) => true,
        VerifyError::ProviderUnavailable(
            Outage::Timeout | Outage::ConnectionLost | Outage::Status(_) | Outage::InternalError,
        ) => codec.idempotent,
        _ => false,
    }
}

/// What a policy needs that this provider, of this reCAPTCHA version, never reports: a v2
/// key's answers carry neither a score nor an action.
fn validate(
    provider: Provider,
    version: Option<RecaptchaVersion>,
    policy: &Policy,
) -> Result<(), ConfigError> {
    policy.validate_for(provider)?;
    if version == Some(RecaptchaVersion::V2) {
        let unsupported = |check, what| ConfigError::UnsupportedCheck {
            provider,
            check,
            what,
        };
        if policy.minimum_score().is_some() {
            return Err(unsupported("minimum score", "a score for a v2 site key"));
        }
        if policy.expected_action().is_some() {
            return Err(unsupported(
                "expected action",
                "an action for a v2 site key",
            ));
        }
    }
    Ok(())
}

/// The configured verify URL, else the provider's: for reCAPTCHA Enterprise the
/// createAssessment URL of the configured project.
fn verify_url(provider: Provider, config: &VerifierConfig) -> Result<String, ConfigError> {
    if let Some(project) = &config.project {
        if provider != Provider::RecaptchaEnterprise {
            return Err(ConfigError::SettingNotForProvider {
                provider,
                setting: "Google Cloud project",
                applies_to: Provider::RecaptchaEnterprise,
            });
        }
        if !crate::provider::is_project(project) {
            return Err(ConfigError::InvalidSetting {
                setting: "Google Cloud project",
                reason: "is neither a project id (6-30 lowercase letters, digits and hyphens, \
                         starting with a letter) nor a project number",
            });
        }
    }
    if let Some(url) = &config.verify_url {
        return Ok(url.clone());
    }
    match (provider, &config.project) {
        (Provider::RecaptchaEnterprise, Some(project)) => {
            Ok(crate::recaptcha_enterprise_url(project))
        }
        (Provider::RecaptchaEnterprise, None) => Err(ConfigError::MissingSetting {
            provider,
            setting: "Google Cloud project (or a verify URL that names it)",
        }),
        _ => Ok(provider.default_verify_url().unwrap_or_default().to_owned()),
    }
}

fn parse_verify_url(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|e| ConfigError::InvalidVerifyUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::InvalidVerifyUrl(
            "the scheme must be http or https".to_owned(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::InvalidVerifyUrl(
            "the URL has no host".to_owned(),
        ));
    }
    Ok(url)
}

fn check_timeout(name: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() || value > MAX_TIMEOUT {
        return Err(ConfigError::InvalidTimeout { name });
    }
    Ok(())
}

impl Verify for Verifier {
    fn verify(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> impl Future<Output = Result<Verdict, VerifyError>> + Send {
        Verifier::verify(self, token, options)
    }

    fn provider(&self) -> Option<Provider> {
        Some(self.inner.provider)
    }

    fn policy(&self) -> Option<&Policy> {
        Some(&self.inner.policy)
    }

    fn validate_policy(&self, policy: &Policy) -> Result<(), ConfigError> {
        validate(self.inner.provider, self.inner.recaptcha_version, policy)
    }

    fn health(&self) -> Option<Health> {
        Some(Verifier::health(self))
    }

    // One look at the breaker, not the whole snapshot (its failure rate counts 100 entries).
    fn is_ready(&self) -> bool {
        self.inner.breaker.state() != BreakerState::Open
    }

    fn site_key(&self) -> Option<&str> {
        Verifier::site_key(self)
    }

    /// The policy, and the reCAPTCHA version's rule: with [`RecaptchaVersion::V3`] an answer
    /// without a score fails, whichever layer verified it.
    fn check_verdict(
        &self,
        verdict: &Verdict,
        policy: Option<&Policy>,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let inner = &*self.inner;
        if inner.recaptcha_version == Some(RecaptchaVersion::V3) && verdict.score.is_none() {
            // Only a v2 key (or Google's v2 test key) answers without a score: a client
            // cannot make our v3 secret do so, so this is ours to fix, and said loudly.
            tracing::warn!(
                "reCAPTCHA answered without a score, as it does for v2 site keys, but this \
                 verifier is configured for v3: use a v3 site key, or set the reCAPTCHA \
                 version to 2 (VerifierConfig::recaptcha_version, CAPTCHA_RECAPTCHA_VERSION=2)"
            );
            return Err(VerifyError::ScoreMissing);
        }
        check_over(policy, &inner.policy, verdict, now)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("provider", &self.inner.provider)
            .field("site_key", &self.inner.site_key)
            .field("secret", &self.inner.secret)
            .field("forward_remote_ip", &self.inner.forward_remote_ip)
            .field("timeout", &self.inner.timeout)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> VerifierConfig {
        VerifierConfig::new("secret")
    }

    #[test]
    fn construction_validates_the_configuration() {
        assert_eq!(
            Verifier::new(Provider::HCaptcha, VerifierConfig::new("")).unwrap_err(),
            ConfigError::EmptySecret(Provider::HCaptcha)
        );
        for url in ["not a url", "ftp://x/y", "file:///etc/passwd", "/relative"] {
            let err = Verifier::new(Provider::Turnstile, config().verify_url(url)).unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidVerifyUrl(_)),
                "{url}: {err:?}"
            );
        }
        for t in [Duration::ZERO, Duration::from_secs(11)] {
            assert!(Verifier::new(Provider::Recaptcha, config().timeout(t)).is_err());
            assert!(Verifier::new(Provider::Recaptcha, config().connect_timeout(t)).is_err());
        }
        let score = Policy::new().min_score(0.5).unwrap();
        assert!(matches!(
            Verifier::new(Provider::Turnstile, config().policy(score)).unwrap_err(),
            ConfigError::UnsupportedCheck { .. }
        ));
    }

    #[test]
    fn the_url_never_appears_in_the_error() {
        let err = Verifier::new(
            Provider::HCaptcha,
            config().verify_url("ftp://user:hunter2@x/"),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn the_site_key_binds_only_where_the_provider_can() {
        let bound = Verifier::new(Provider::HCaptcha, config().site_key("k")).unwrap();
        assert_eq!(bound.policy().expected_site_key(), Some("k"));
        let byebot = Verifier::new(Provider::ByeBot, config().site_key("k")).unwrap();
        assert_eq!(byebot.policy().expected_site_key(), Some("k"));
        let turnstile = Verifier::new(Provider::Turnstile, config().site_key("k")).unwrap();
        assert_eq!(turnstile.policy().expected_site_key(), None);
        assert_eq!(turnstile.site_key(), Some("k"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let verifier = Verifier::new(Provider::HCaptcha, VerifierConfig::new("hunter2")).unwrap();
        assert!(!format!("{verifier:?}").contains("hunter2"));
    }
}
