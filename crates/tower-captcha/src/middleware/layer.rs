use std::{fmt, sync::Arc, time::Duration};

use http::Method;
#[cfg(any(
    feature = "hcaptcha",
    feature = "recaptcha",
    feature = "turnstile",
    feature = "procaptcha",
    feature = "byebot",
    feature = "friendlycaptcha",
    feature = "recaptcha-enterprise"
))]
use siteverify::VerifierConfig;
#[cfg(feature = "altcha")]
use siteverify::altcha::{AltchaConfig, AltchaVerifier};
use siteverify::{AnyVerifier, ConfigError, Policy, Verifier, Verify};
use tower_layer::Layer;

use super::{body::DrainBounds, service::CaptchaService};
use crate::{
    ClientIp, ClientIpSource, FailureHandler, JsonFailure, ProviderSet, SetError, SkipPredicate,
    TokenSources,
};

/// How much of a body the layer reads to find the token, by default: 64 KiB, far more than a
/// signup form, far less than an upload. Multipart bodies may be larger: the layer reads them
/// frame by frame as they arrive and stops once it has read this many bytes, so the token
/// field must come early. Browsers send fields in page order: put the widget before any file
/// input, or send the token in a header from script.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// How long the layer waits for a body to find the token in, by default: 10 s, counted from
/// the moment it starts reading. A form or a JSON request is a few kilobytes, which any
/// client with a working link sends in well under a second; a client that trickles its body
/// must not hold a connection and a request task for ever. Past it the request is refused
/// with 408 `body_timeout`. See [`CaptchaLayer::body_read_timeout`].
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How many bytes of a refused request's unread body the layer still reads, by default:
/// 8 MiB. Enough for the forms and JSON requests a client posts in one go before it reads
/// the answer; an upload larger than that is cut off. See [`CaptchaLayer::refusal_drain`].
pub const DEFAULT_REFUSAL_DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// How long the layer keeps reading a refused request's unread body, by default: 5 s. See
/// [`CaptchaLayer::refusal_drain`].
pub const DEFAULT_REFUSAL_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Layer`] that demands a solved CAPTCHA before the wrapped service sees a request.
///
/// Put it on the routes it guards, with `MethodRouter::layer` or `Router::route_layer`
/// (`Router::layer` would also answer unknown paths with `missing_token` instead of 404). A
/// `CorsLayer` belongs outside it, so that failure responses carry CORS headers too.
///
/// Cheap to clone. Built for one provider with [`CaptchaLayer::turnstile`] and friends (or
/// for any [`Verify`] with [`CaptchaLayer::new`]), then tuned with the builder methods. Give
/// each route its own layer for its own policy.
///
/// ```
/// use axum::{Router, routing::post};
/// use siteverify::{Policy, VerifierConfig};
/// use tower_captcha::{CaptchaLayer, Verified, Verdict};
///
/// async fn signup(Verified(verdict): Verified<Verdict>) -> String {
///     format!("welcome, human from {:?}", verdict.hostname)
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = CaptchaLayer::recaptcha(VerifierConfig::new("my-secret"))?
///     .policy(Policy::new().action("signup").min_score(0.5)?)?;
/// let app: Router = Router::new().route("/signup", post(signup).layer(guard));
/// # Ok(())
/// # }
/// ```
pub struct CaptchaLayer<V = Verifier, F = JsonFailure> {
    verifier: Arc<V>,
    failure: Arc<F>,
    settings: Settings,
}

/// Everything but the verifier and the failure handler.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) provider: Option<siteverify::Provider>,
    pub(crate) sources: TokenSources,
    pub(crate) body_limit: usize,
    pub(crate) body_read_timeout: Duration,
    pub(crate) drain: DrainBounds,
    pub(crate) skip_methods: Vec<Method>,
    pub(crate) skip_if: Option<Arc<dyn SkipPredicate>>,
    pub(crate) client_ip: Arc<dyn ClientIpSource>,
    /// The route's policy laid over the verifier's, when [`CaptchaLayer::policy`] gave one;
    /// `None` leaves the verifier's own to apply. Not a copy of the verifier's: an `Arc`
    /// cloned for every request is an atomic count that the cores of a busy server pass
    /// between them.
    pub(crate) policy: Option<Arc<Policy>>,
    pub(crate) observe: bool,
    pub(crate) fail_open: bool,
}

impl<V: Verify> CaptchaLayer<V, JsonFailure> {
    /// A layer around any verifier: one of this crate's, your own provider, or an in-process
    /// fake for tests. Tokens are looked for under the provider's widget field name (all five
    /// known names when the verifier names no provider); failures get the JSON contract.
    pub fn new(verifier: V) -> Self {
        let provider = verifier.provider();
        let settings = Settings::defaults(provider, TokenSources::for_provider(provider));
        Self {
            verifier: Arc::new(verifier),
            failure: Arc::new(JsonFailure::new()),
            settings,
        }
    }
}

impl CaptchaLayer<ProviderSet, JsonFailure> {
    /// A layer verifying with a [`ProviderSet`]: each request's token goes to the member
    /// whose widget field holds it, and a member that cannot answer is refused with a
    /// `fallback` naming another (see the set's docs). Every other setting of the layer
    /// applies to all members. [`fail_open`](Self::fail_open) lets a request through
    /// degraded only when the member its token belongs to is down and no other member can
    /// answer: while one can, the answer is the 503 that names it, since the client chose
    /// the member by the field it sent.
    ///
    /// ```
    /// use axum::{Router, routing::post};
    /// use siteverify::{Policy, Verifier, VerifierConfig, altcha::{AltchaConfig, AltchaVerifier}};
    /// use tower_captcha::{CaptchaLayer, Member, ProviderSet, Verified, Verdict, altcha};
    ///
    /// async fn signup(Verified(verdict): Verified<Verdict>) -> String {
    ///     format!("welcome, verified by {}", verdict.provider.name())
    /// }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let altcha = AltchaVerifier::new(AltchaConfig::new("an HMAC key of at least 32 bytes!!"))?;
    /// let set = ProviderSet::failover([
    ///     Member::new(Verifier::turnstile(VerifierConfig::new("turnstile-secret"))?)
    ///         .site_key("0x4AAAAAAA-public")
    ///         .policy(Policy::new().allow_hostname("example.com")?.action("signup")),
    ///     Member::new(altcha.clone()).challenge_url("/altcha/challenge"),
    /// ])?;
    /// let app: Router = Router::new()
    ///     .route("/signup", post(signup).layer(CaptchaLayer::set(set)))
    ///     .route("/altcha/challenge", altcha::challenge_route(altcha, Some("signup")));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set(set: ProviderSet) -> Self {
        Self {
            verifier: Arc::new(set),
            failure: Arc::new(JsonFailure::new()),
            settings: Settings::defaults(None, TokenSources::new()),
        }
    }
}

impl<F> CaptchaLayer<ProviderSet, F> {
    /// This route's policy for every member of the set, under each member's own (see
    /// [`ProviderSet::policy`]), replacing the set's own route policy as a second call of
    /// `policy` replaces the first. Fails when a member's provider never reports something
    /// its resolved policy needs.
    pub fn policy(mut self, policy: Policy) -> Result<Self, SetError> {
        self.verifier = Arc::new(ProviderSet::clone(&self.verifier).policy(policy)?);
        Ok(self)
    }
}

impl Settings {
    fn defaults(provider: Option<siteverify::Provider>, sources: TokenSources) -> Self {
        Self {
            provider,
            sources,
            body_limit: DEFAULT_BODY_LIMIT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            drain: DrainBounds {
                bytes: DEFAULT_REFUSAL_DRAIN_LIMIT,
                time: DEFAULT_REFUSAL_DRAIN_TIMEOUT,
            },
            skip_methods: vec![Method::GET, Method::HEAD, Method::OPTIONS],
            skip_if: None,
            client_ip: Arc::new(ClientIp::Off),
            policy: None,
            observe: false,
            fail_open: false,
        }
    }
}

impl<V: Verify, F> CaptchaLayer<V, F> {
    /// Where to look for the token, replacing the defaults. (The members of a
    /// [`ProviderSet`] each have their own: [`Member::sources`](crate::Member::sources).)
    pub fn sources(mut self, sources: TokenSources) -> Self {
        self.settings.sources = sources;
        self
    }

    /// This route's policy, laid over the verifier's (see [`Policy::layered_over`]): what it
    /// sets wins, what it leaves unset (the configured hostname allowlist, the site-key
    /// binding, …) still applies. Fails when the provider never reports something the policy
    /// needs (a score from Turnstile, say), which would reject every request.
    pub fn policy(mut self, policy: Policy) -> Result<Self, ConfigError> {
        let layered = match self.verifier.policy() {
            Some(base) => policy.layered_over(base),
            None => policy,
        };
        self.verifier.validate_policy(&layered)?;
        self.settings.policy = Some(Arc::new(layered));
        Ok(self)
    }
}

impl CaptchaLayer<AnyVerifier, JsonFailure> {
    /// A layer for the provider a [`CaptchaConfig`](crate::CaptchaConfig) names, as read from
    /// the environment or a configuration file, with its fail-open setting and client-IP
    /// source. Hosted or ALTCHA, the verifier is an [`AnyVerifier`], built by
    /// [`CaptchaConfig::connect`](crate::CaptchaConfig::connect): async because an ALTCHA
    /// replay store in Redis is connected to here, so that a Redis that cannot be reached
    /// stops the app at start. [`verifier`](CaptchaLayer::verifier) hands it back, for the
    /// challenge route.
    pub async fn from_config(config: &crate::CaptchaConfig) -> Result<Self, crate::BuildError> {
        Ok(Self::new(config.connect().await?)
            .fail_open(config.fail_open)
            .client_ip(config.client_ip))
    }
}

#[cfg(feature = "altcha")]
impl CaptchaLayer<AltchaVerifier, JsonFailure> {
    /// A layer verifying ALTCHA solutions (the widget's `altcha` field), locally: no third
    /// party. Serve the challenges with [`altcha::challenge_route`](crate::altcha) or
    /// [`ChallengeService`](crate::altcha::ChallengeService), from a clone of the same
    /// verifier ([`verifier`](CaptchaLayer::verifier)).
    ///
    /// A replay store that fails refuses the submission with 503 `provider_unavailable`,
    /// even with [`fail_open`](CaptchaLayer::fail_open): a replay cannot be told from a
    /// first use without it.
    pub fn altcha(config: AltchaConfig) -> Result<Self, ConfigError> {
        AltchaVerifier::new(config).map(Self::new)
    }
}

impl CaptchaLayer<Verifier, JsonFailure> {
    /// A layer verifying with hCaptcha.
    #[cfg(feature = "hcaptcha")]
    pub fn hcaptcha(config: VerifierConfig) -> Result<Self, ConfigError> {
        Verifier::hcaptcha(config).map(Self::new)
    }

    /// A layer verifying with reCAPTCHA v2 or v3.
    #[cfg(feature = "recaptcha")]
    pub fn recaptcha(config: VerifierConfig) -> Result<Self, ConfigError> {
        Verifier::recaptcha(config).map(Self::new)
    }

    /// A layer verifying with Cloudflare Turnstile.
    #[cfg(feature = "turnstile")]
    pub fn turnstile(config: VerifierConfig) -> Result<Self, ConfigError> {
        Verifier::turnstile(config).map(Self::new)
    }

    /// A layer verifying with Prosopo Procaptcha.
    #[cfg(feature = "procaptcha")]
    pub fn procaptcha(config: VerifierConfig) -> Result<Self, ConfigError> {
        Verifier::procaptcha(config).map(Self::new)
    }

    /// A layer verifying with ByeBot.
    #[cfg(feature = "byebot")]
    pub fn byebot(config: VerifierConfig) -> Result<Self, ConfigError> {
        Verifier::byebot(config).map(Self::new)
    }

    /// A layer verifying with reCAPTCHA Enterprise (createAssessment; the secret is the API
    /// key, and the site key and the project are required).
    #[cfg(feature = "recaptcha-enterprise")]
    pub fn recaptcha_enterprise(config: VerifierConfig) -> Result<Self, ConfigError> {
        Verifier::recaptcha_enterprise(config).map(Self::new)
    }

    /// A layer verifying with Friendly Captcha v2 (the secret is the API key).
    #[cfg(feature = "friendlycaptcha")]
    pub fn friendlycaptcha(config: VerifierConfig) -> Result<Self, ConfigError> {
        Verifier::friendlycaptcha(config).map(Self::new)
    }
}

impl<V> CaptchaLayer<V, JsonFailure> {
    /// Answers failures with `"reason":"failed"` whatever the reason, telling bots nothing.
    pub fn hide_reason(mut self) -> Self {
        self.failure = Arc::new(JsonFailure::new().hide_reason(true));
        self
    }
}

impl<V, F> CaptchaLayer<V, F> {
    /// The verifier, shared by every service this layer makes.
    pub fn verifier(&self) -> &V {
        &self.verifier
    }

    /// How many body bytes the layer reads to find the token (default [`DEFAULT_BODY_LIMIT`]).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.settings.body_limit = bytes;
        self
    }

    /// How long the layer waits for the body while it looks for the token (default
    /// [`DEFAULT_BODY_READ_TIMEOUT`]), counted from the moment it starts reading: the whole of
    /// an urlencoded or JSON body, a multipart body up to the end of the token field. Past it
    /// the request is refused with 408 `body_timeout`
    /// ([`Rejection::BodyTimeout`](crate::Rejection::BodyTimeout)).
    ///
    /// The deadline ends with the token: the rest of a multipart upload whose token came
    /// first streams to your handler at whatever pace the client sends it, so bound that in
    /// the server if you need to. Headers, the provider's answer (the verifier has its own
    /// deadline) and requests whose token is in a header are not counted. It needs Tokio's
    /// timer, as the provider clients do; a duration too long to represent (`Duration::MAX`)
    /// means no deadline.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.settings.body_read_timeout = timeout;
        self
    }

    /// How much of a refused request's unread body the layer still reads before the
    /// connection may close: at most `max_bytes` (default [`DEFAULT_REFUSAL_DRAIN_LIMIT`])
    /// for at most `max_time` (default [`DEFAULT_REFUSAL_DRAIN_TIMEOUT`]).
    ///
    /// An HTTP/1 connection closed with unread bytes in it is reset, and a client that sends
    /// its whole body before it reads the answer (Python's `http.client`, browsers posting a
    /// form) then sees a reset instead of the 413, 400 or 403. So after every refusal the
    /// rest of the body is read and thrown away in the background, while the failure
    /// response goes out, and the connection stays usable. Past either bound it is dropped
    /// and the connection closes, which is how a client sending gigabytes, or trickling
    /// them, is cut off. A body declared longer than `max_bytes` is not read at all; nor is
    /// one whose client waits for `100 Continue`, nor an HTTP/2 one (a stream reset is clean
    /// there). `max_bytes` of 0 turns draining off.
    pub fn refusal_drain(mut self, max_bytes: usize, max_time: Duration) -> Self {
        self.settings.drain = DrainBounds {
            bytes: max_bytes,
            time: max_time,
        };
        self
    }

    /// The methods that pass without a CAPTCHA, replacing the default GET, HEAD and OPTIONS.
    /// Keep OPTIONS in the list: a CORS preflight carries no token and must never be blocked.
    pub fn skip_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.settings.skip_methods = methods.into_iter().collect();
        self
    }

    /// Lets more requests through unverified.
    pub fn skip_if(mut self, predicate: impl SkipPredicate) -> Self {
        self.settings.skip_if = Some(Arc::new(predicate));
        self
    }

    /// Where the client's IP comes from, to forward it to the provider (default: off). It is
    /// only sent when the verifier is configured to forward it.
    pub fn client_ip(mut self, source: impl ClientIpSource) -> Self {
        self.settings.client_ip = Arc::new(source);
        self
    }

    /// Observe mode: never refuses. The handler gets a [`CaptchaOutcome`](crate::CaptchaOutcome)
    /// in the request extensions, verified or rejected, and decides. On a
    /// [`ProviderSet`]'s route, a rejection that would have named a fallback leaves that
    /// [`WidgetHint`](crate::WidgetHint) in the extensions too.
    pub fn observe(mut self) -> Self {
        self.settings.observe = true;
        self
    }

    /// Fail open: while the provider is down (timeouts, connection failures, 502–504,
    /// `internal-error`, the open circuit breaker), let requests through with a
    /// [`Verdict`](siteverify::Verdict) whose `degraded` is `true`, and log a warning.
    ///
    /// Off by default (fail closed: 503 `provider_unavailable`). It never applies to a 429 or
    /// to the verifier's own in-flight bound, which an attacker can provoke by flooding you;
    /// nor to a 500 or an unreadable answer (not HTTP, cut off, malformed), which a crafted
    /// token or a wrong verify URL may cause; nor to a bad token, nor to your
    /// misconfiguration. It needs a verifier that names its
    /// provider (all of this crate's do); with another it stays closed.
    pub fn fail_open(mut self, open: bool) -> Self {
        self.settings.fail_open = open;
        self
    }

    /// Answers failures with `handler` instead of the JSON contract.
    pub fn on_failure<F2: FailureHandler>(self, handler: F2) -> CaptchaLayer<V, F2> {
        CaptchaLayer {
            verifier: self.verifier,
            failure: Arc::new(handler),
            settings: self.settings,
        }
    }
}

impl<S, V, F> Layer<S> for CaptchaLayer<V, F> {
    type Service = CaptchaService<S, V, F>;

    fn layer(&self, inner: S) -> Self::Service {
        CaptchaService::new(
            inner,
            self.verifier.clone(),
            self.failure.clone(),
            self.settings.clone(),
        )
    }
}

impl<V, F> Clone for CaptchaLayer<V, F> {
    fn clone(&self) -> Self {
        Self {
            verifier: self.verifier.clone(),
            failure: self.failure.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<V: fmt::Debug, F> fmt::Debug for CaptchaLayer<V, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptchaLayer")
            .field("verifier", &self.verifier)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("sources", &self.sources)
            .field("body_limit", &self.body_limit)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("drain", &self.drain)
            .field("skip_methods", &self.skip_methods)
            .field("skip_if", &self.skip_if.is_some())
            .field("policy", &self.policy)
            .field("observe", &self.observe)
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}
