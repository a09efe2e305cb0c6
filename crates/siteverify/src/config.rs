use std::{collections::BTreeMap, fmt, time::Duration};

use serde::{Deserialize, de::IgnoredAny};

use crate::{Policy, RecaptchaVersion, Secret};

/// Default time allowed to open a connection to the provider.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default deadline for a whole verification: connecting, sending, reading the answer and any
/// retries.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// No timeout may exceed this: a signup form that hangs longer than that has failed anyway.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on verifications in flight per verifier: plenty for a small site (a
/// verification takes tens of milliseconds), and a cap on what a flood can pile up.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 128;
/// Default run of consecutive provider failures that opens the circuit breaker.
pub const DEFAULT_BREAKER_THRESHOLD: u32 = 5;
/// Default time the circuit breaker stays open before it lets a probe through.
pub const DEFAULT_BREAKER_COOL_DOWN: Duration = Duration::from_secs(30);

/// The HTTP client a user can pass in: reqwest's with the `reqwest` feature, none without.
#[cfg(feature = "reqwest")]
pub(crate) type HttpClient = reqwest::Client;
#[cfg(not(feature = "reqwest"))]
pub(crate) type HttpClient = std::convert::Infallible;

/// How to talk to one provider: secret, endpoint, timeouts, and the default policy.
///
/// Build it in code:
///
/// ```
/// use std::time::Duration;
/// use siteverify::{Policy, VerifierConfig};
///
/// let config = VerifierConfig::new("my-secret")
///     .site_key("10000000-ffff-ffff-ffff-000000000001")
///     .timeout(Duration::from_secs(3))
///     .policy(Policy::new().allow_hostname("example.com")?);
/// # Ok::<(), siteverify::PolicyError>(())
/// ```
///
/// or read it with serde from a configuration file; durations are in milliseconds and the
/// policy's fields sit beside the others:
///
/// ```
/// let config: siteverify::VerifierConfig = serde_json::from_str(r#"{
///     "secret": "my-secret",
///     "verify_url": "http://127.0.0.1:8787/turnstile/v0/siteverify",
///     "timeout_ms": 3000,
///     "hostnames": ["example.com"],
///     "action": "signup"
/// }"#)?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Deserialize)]
#[serde(try_from = "ConfigSpec")]
pub struct VerifierConfig {
    pub(crate) secret: Secret,
    pub(crate) site_key: Option<String>,
    pub(crate) verify_url: Option<String>,
    pub(crate) forward_remote_ip: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) policy: Policy,
    pub(crate) http_client: Option<HttpClient>,
    pub(crate) max_in_flight: usize,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_cool_down: Duration,
    pub(crate) deny_test_keys: bool,
    pub(crate) recaptcha_version: Option<RecaptchaVersion>,
    pub(crate) project: Option<String>,
}

impl VerifierConfig {
    /// A configuration with the provider's public endpoint, default timeouts, no IP
    /// forwarding and an empty policy.
    pub fn new(secret: impl Into<Secret>) -> Self {
        Self {
            secret: secret.into(),
            site_key: None,
            verify_url: None,
            forward_remote_ip: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            policy: Policy::new(),
            http_client: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            breaker_threshold: DEFAULT_BREAKER_THRESHOLD,
            breaker_cool_down: DEFAULT_BREAKER_COOL_DOWN,
            deny_test_keys: false,
            recaptcha_version: None,
            project: None,
        }
    }

    /// The Google Cloud project (id or number) of a reCAPTCHA Enterprise key: the verify URL
    /// is then `https://recaptchaenterprise.googleapis.com/v1/projects/{project}/assessments`
    /// (a [`verify_url`](Self::verify_url), which names the project itself, wins). Building
    /// another provider's verifier with it fails.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The public site key of the widget. For hCaptcha and ByeBot it also binds tokens to this
    /// key (unless the policy names another); for the other providers it is only kept for
    /// rendering the widget, as they cannot bind a token to a key.
    pub fn site_key(mut self, site_key: impl Into<String>) -> Self {
        self.site_key = Some(site_key.into());
        self
    }

    /// The full URL of the verify endpoint, instead of the provider's public one: a regional
    /// host, `www.recaptcha.net`, a proxy, or the local emulator.
    pub fn verify_url(mut self, url: impl Into<String>) -> Self {
        self.verify_url = Some(url.into());
        self
    }

    /// Whether to send the client's IP address to the provider (`remoteip`, Procaptcha `ip`).
    /// Off by default: the address is personal data, and the providers treat it as optional.
    /// ByeBot takes no address, so this has no effect there.
    pub fn forward_remote_ip(mut self, forward: bool) -> Self {
        self.forward_remote_ip = forward;
        self
    }

    /// Time allowed to open a connection (default 2 s, at most 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Deadline for the whole verification, retries and reading the answer included
    /// (default 5 s, at most 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The policy every verification applies unless a call brings its own.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// At most this many verifications in flight on this verifier (default
    /// [`DEFAULT_MAX_IN_FLIGHT`]); past it a verification fails at once with
    /// `provider_unavailable` instead of queueing without end.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    /// The circuit breaker of the verify endpoint: after `threshold` provider failures in a
    /// row it answers at once for `cool_down`, then lets one probe through (defaults
    /// [`DEFAULT_BREAKER_THRESHOLD`], [`DEFAULT_BREAKER_COOL_DOWN`]). Verifiers of the same
    /// endpoint share one breaker, set up by the first of them.
    pub fn circuit_breaker(mut self, threshold: u32, cool_down: Duration) -> Self {
        self.breaker_threshold = threshold;
        self.breaker_cool_down = cool_down;
        self
    }

    /// Refuses to build a verifier with a provider's documented test key or test secret,
    /// which accept every token. Without it such a key only logs a warning in release builds.
    pub fn deny_test_keys(mut self, deny: bool) -> Self {
        self.deny_test_keys = deny;
        self
    }

    /// The reCAPTCHA version of the site key (reCAPTCHA verifiers only; building another
    /// provider's verifier with it fails). Unset, both kinds of answer are accepted and a
    /// scored (v3) answer must still reach the minimum score. With
    /// [`RecaptchaVersion::V3`], an answer without a score (what a v2 key gives) fails with
    /// `score_missing`, and a warning says which setting to change; with
    /// [`RecaptchaVersion::V2`], nothing more is demanded than the policy asks.
    pub fn recaptcha_version(mut self, version: RecaptchaVersion) -> Self {
        self.recaptcha_version = Some(version);
        self
    }

    /// Sends with this reqwest client instead of the shared default one (for custom roots, a
    /// client certificate, a proxy the environment does not name, …). Its own timeouts stay
    /// in force beside ours; [`connect_timeout`](Self::connect_timeout) does not apply to it.
    /// A client that follows a redirect (reqwest's default does) gets
    /// `provider_misconfigured`: the answer is not the verify URL's.
    ///
    /// Without it, verifications go over hyper's pooled HTTP/1.1 client with rustls and the
    /// platform's certificate verifier, set up as reqwest sets itself up but without its
    /// per-request layers (a third of a verification's CPU). It goes through the proxy the
    /// environment's variables name for the endpoint (`HTTPS_PROXY`, `HTTP_PROXY`,
    /// `ALL_PROXY`, `NO_PROXY`, read as curl and reqwest read them; `http`, `https` and SOCKS
    /// proxies) and sends a verify URL's credentials as basic authentication.
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }
}

impl fmt::Debug for VerifierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierConfig")
            .field("secret", &self.secret)
            .field("site_key", &self.site_key)
            .field("verify_url", &self.verify_url.as_ref().map(|_| "[custom]"))
            .field("forward_remote_ip", &self.forward_remote_ip)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("policy", &self.policy)
            .field(
                "http_client",
                &self.http_client.as_ref().map(|_| "[custom]"),
            )
            .field("max_in_flight", &self.max_in_flight)
            .field("breaker_threshold", &self.breaker_threshold)
            .field("breaker_cool_down", &self.breaker_cool_down)
            .field("deny_test_keys", &self.deny_test_keys)
            .field("recaptcha_version", &self.recaptcha_version)
            .field("project", &self.project)
            .finish()
    }
}

/// The serde form: flat, durations in milliseconds, policy fields inline.
#[derive(Deserialize)]
struct ConfigSpec {
    secret: Secret,
    #[serde(default)]
    site_key: Option<String>,
    #[serde(default)]
    verify_url: Option<String>,
    #[serde(default)]
    forward_remote_ip: bool,
    #[serde(default)]
    connect_timeout_ms: Option<u64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    max_in_flight: Option<usize>,
    #[serde(default)]
    breaker_threshold: Option<u32>,
    #[serde(default)]
    breaker_cool_down_ms: Option<u64>,
    #[serde(default)]
    deny_test_keys: bool,
    #[serde(default)]
    recaptcha_version: Option<RecaptchaVersion>,
    #[serde(default)]
    project: Option<String>,
    #[serde(flatten)]
    policy: Policy,
    /// What neither we nor the policy know: serde's `flatten` would drop it silently, and a
    /// misspelt `min_score` that is ignored is a security hole, so it is refused.
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

impl TryFrom<ConfigSpec> for VerifierConfig {
    type Error = String;

    fn try_from(spec: ConfigSpec) -> Result<Self, Self::Error> {
        if let Some(name) = spec.unknown.keys().next() {
            return Err(format!("unknown field `{name}`"));
        }
        let mut config = VerifierConfig::new(spec.secret)
            .forward_remote_ip(spec.forward_remote_ip)
            .policy(spec.policy);
        config.site_key = spec.site_key;
        config.verify_url = spec.verify_url;
        if let Some(ms) = spec.connect_timeout_ms {
            config.connect_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = spec.timeout_ms {
            config.timeout = Duration::from_millis(ms);
        }
        if let Some(max) = spec.max_in_flight {
            config.max_in_flight = max;
        }
        if let Some(threshold) = spec.breaker_threshold {
            config.breaker_threshold = threshold;
        }
        if let Some(ms) = spec.breaker_cool_down_ms {
            config.breaker_cool_down = Duration::from_millis(ms);
        }
        config.deny_test_keys = spec.deny_test_keys;
        config.recaptcha_version = spec.recaptcha_version;
        config.project = spec.project;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret_and_the_url() {
        let config = VerifierConfig::new("s3cr3t-value").verify_url("https://user:pw@proxy/x");
        let text = format!("{config:?}");
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(!text.contains("pw@"), "{text}");
    }

    #[test]
    fn deserialises_flat_with_policy_inline() {
        let config: VerifierConfig = serde_json::from_str(
            r#"{"secret":"s","site_key":"k","timeout_ms":1500,"connect_timeout_ms":200,
                "forward_remote_ip":true,"hostnames":["example.com"],"min_score":0.5}"#,
        )
        .unwrap();
        assert_eq!(config.secret.expose(), "s");
        assert_eq!(config.site_key.as_deref(), Some("k"));
        assert_eq!(config.timeout, Duration::from_millis(1500));
        assert_eq!(config.connect_timeout, Duration::from_millis(200));
        assert!(config.forward_remote_ip);
        assert_eq!(config.policy.minimum_score(), Some(0.5));
        assert_eq!(config.policy.hostnames().len(), 1);
        assert_eq!(config.recaptcha_version, None);
        let v2: VerifierConfig =
            serde_json::from_str(r#"{"secret":"s","recaptcha_version":2}"#).unwrap();
        assert_eq!(v2.recaptcha_version, Some(RecaptchaVersion::V2));
    }

    #[test]
    fn typos_and_bad_values_are_refused() {
        let typo = serde_json::from_str::<VerifierConfig>(r#"{"secret":"s","min_scor":0.5}"#);
        assert!(typo.unwrap_err().to_string().contains("min_scor"));
        assert!(serde_json::from_str::<VerifierConfig>(r#"{"secret":"s","min_score":7}"#).is_err());
        assert!(serde_json::from_str::<VerifierConfig>(r#"{"site_key":"k"}"#).is_err());
    }
}
