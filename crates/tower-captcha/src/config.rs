#[cfg(feature = "altcha")]
mod altcha;

use std::{collections::HashMap, env::VarError, time::Duration};

use serde::{Deserialize, de};
#[cfg(feature = "altcha")]
use siteverify::altcha::{AltchaVerifier, StoreError};
use siteverify::{
    AnyVerifier, ConfigError, MAX_TIMEOUT, Policy, Provider, RecaptchaVersion, Verifier,
    VerifierConfig,
};

#[cfg(feature = "altcha")]
pub use self::altcha::AltchaSettings;
use crate::ClientIp;

/// One provider's configuration, for twelve-factor deployments (environment) and config files
/// (serde).
///
/// # From the environment
///
/// [`from_env`](Self::from_env) reads these variables, each name being the prefix, an `_`, and
/// the suffix (`CAPTCHA` and `CAPTCHA_` both give `CAPTCHA_PROVIDER`):
///
/// | suffix | value |
/// |---|---|
/// | `PROVIDER` | required: `hcaptcha`, `recaptcha`, `turnstile`, `procaptcha`, `byebot`, `friendlycaptcha`, `recaptcha-enterprise` or `altcha` (any case) |
/// | `SECRET` | required: the provider secret (ByeBot, Friendly Captcha, reCAPTCHA Enterprise: the API key; ALTCHA: the HMAC key challenges are signed with, 32 random bytes or more) |
/// | `SITEKEY` | the widget's site key (required by reCAPTCHA Enterprise: each assessment names it) |
/// | `PROJECT` | reCAPTCHA Enterprise only: the Google Cloud project id or number; required unless `VERIFY_URL` is the assessments URL with the project in it |
/// | `VERIFY_URL` | full `http(s)://` URL of the verify endpoint, instead of the provider's (Friendly Captcha's EU endpoint: [`FRIENDLY_CAPTCHA_EU_VERIFY_URL`](siteverify::FRIENDLY_CAPTCHA_EU_VERIFY_URL); reCAPTCHA Enterprise: the assessments URL, project included) |
/// | `HOSTNAMES` | comma-separated allowed hostnames, `*.example.com` for every subdomain |
/// | `ACTION` | the expected action (reCAPTCHA v3, Turnstile) |
/// | `MIN_SCORE` | the minimum human likelihood, `0.0`–`1.0` |
/// | `MAX_AGE_SECS` | the oldest challenge accepted, in seconds |
/// | `TIMEOUT_MS` | deadline of a whole verification, 1–10000 ms (default 5000) |
/// | `CONNECT_TIMEOUT_MS` | time allowed to connect, 1–10000 ms (default 2000) |
/// | `FORWARD_IP` | send the client's IP address to the provider: `true`/`false`, `1`/`0`, `yes`/`no`; needs `CLIENT_IP` |
/// | `CLIENT_IP` | where that address comes from, a [`ClientIp`] name: `peer_addr`, `rightmost_x_forwarded_for`, `rightmost_forwarded`, `x_real_ip`, `cf_connecting_ip`, `true_client_ip`, `fly_client_ip`, `cloudfront_viewer_address` (or `off`) |
/// | `RECAPTCHA_VERSION` | reCAPTCHA only: `2` (the checkbox: no score, no action) or `3` (default: every answer must carry a score); see [`RecaptchaVersion`] |
/// | `FAIL_OPEN` | let requests through, marked degraded, while the provider is down (same values) |
/// | `DENY_TEST_KEYS` | refuse to start with a provider's documented test key (same values) |
///
/// ALTCHA (`PROVIDER=altcha`) is verified here, so it reads `SECRET`, `ACTION` and
/// `MAX_AGE_SECS` from the list above and these instead of the rest:
///
/// | suffix | value |
/// |---|---|
/// | `REDIS_URL` | `redis://[user:password@]host:port[/db]`: spent challenges are kept in Redis, shared by every app instance (needs the `redis` feature); unset, in this process's memory |
/// | `ALTCHA_STORE_CAPACITY` | the in-memory store's size in live challenges, 1–100000000 (default 250000, 23 to 64 bytes each): when full, new solutions are refused with 503 rather than a live one forgotten; not with `REDIS_URL` |
/// | `ALTCHA_MAX_NUMBER` | difficulty of classic challenges: the largest secret number (default 100000, about 50,000 hashes on average) |
/// | `ALTCHA_LIFETIME_SECS` | how long a challenge can be solved and submitted, 1–86400 s (default 300) |
/// | `ALTCHA_V2_ALGORITHM` | issue v2 challenges instead of classic ones, with this key derivation: `SHA-256`, `SHA-384`, `SHA-512`, `PBKDF2/SHA-256`, `PBKDF2/SHA-384`, `PBKDF2/SHA-512`; needs the two below |
/// | `ALTCHA_V2_COST` | v2: hash rounds or PBKDF2 iterations per attempt, 1–10000 (the most a verification derives) |
/// | `ALTCHA_V2_PREFIX_DIGITS` | v2: how many hex digits of `0` the derived key must start with, 1–16 (each one makes the search 16 times longer) |
/// | `PREVIOUS_SECRET` | key rotation: the key used before `SECRET`, still accepted until `PREVIOUS_SECRET_UNTIL` |
/// | `PREVIOUS_SECRET_UNTIL` | when the previous key stops being accepted, RFC 3339 (`2026-05-01T12:00:00Z`); at least one challenge lifetime after the switch |
///
/// A hosted provider's setting with ALTCHA (`VERIFY_URL`, `HOSTNAMES`, `SITEKEY`,
/// `MIN_SCORE`, the timeouts, IP forwarding, `RECAPTCHA_VERSION`, `DENY_TEST_KEYS`, and
/// `FAIL_OPEN=true`, since a replay store that is down always fails closed) is refused,
/// naming the variable, and so is an ALTCHA setting with a hosted provider. A Redis URL is
/// connected to by [`connect`](Self::connect), which is async; so is
/// [`CaptchaLayer::from_config`](crate::CaptchaLayer::from_config).
///
/// Forwarding with no address source, and a source with forwarding off, are refused
/// ([`EnvError::Needs`]): either would silently send nothing. `RECAPTCHA_VERSION` with another
/// provider is refused too.
///
/// Surrounding white space is ignored (a secret mounted from a file often ends in a newline),
/// and a variable that is empty counts as unset. Other variables with the prefix are left
/// alone, as other parts of the application may share it.
///
/// ```
/// use tower_captcha::CaptchaConfig;
///
/// let config = CaptchaConfig::from_vars(
///     "CAPTCHA",
///     [
///         ("CAPTCHA_PROVIDER", "turnstile"),
///         ("CAPTCHA_SECRET", "my-secret"),
///         ("CAPTCHA_HOSTNAMES", "example.com, *.example.com"),
///     ],
/// )?;
/// let verifier = config.build_verifier()?;
/// assert_eq!(verifier.provider(), siteverify::Provider::Turnstile);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # From a configuration file
///
/// The provider sits beside the fields of [`VerifierConfig`], policy included, with the same
/// rules as the environment: `client_ip` (a [`ClientIp`] name) is required when
/// `forward_remote_ip` is true, and `recaptcha_version` (`2` or `3`, as a number or a string;
/// default 3) is for reCAPTCHA only. A misspelt key is refused rather than silently ignored:
///
/// ```
/// let config: tower_captcha::CaptchaConfig = serde_json::from_str(r#"{
///     "provider": "turnstile",
///     "secret": "my-secret",
///     "hostnames": ["example.com"],
///     "action": "signup",
///     "timeout_ms": 3000,
///     "forward_remote_ip": true,
///     "client_ip": "rightmost_x_forwarded_for"
/// }"#)?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "ConfigFile")]
#[non_exhaustive]
pub struct CaptchaConfig {
    /// The provider that verifies the tokens.
    pub provider: Provider,
    /// Let requests through (with a degraded verdict) when the provider is down, instead of
    /// answering 503. Off by default; see [`CaptchaLayer::fail_open`](crate::CaptchaLayer::fail_open).
    pub fail_open: bool,
    /// Where the client's address comes from, for
    /// [`forward_remote_ip`](VerifierConfig::forward_remote_ip); see
    /// [`CaptchaLayer::client_ip`](crate::CaptchaLayer::client_ip). [`ClientIp::Off`] by
    /// default.
    pub client_ip: ClientIp,
    /// Secret, endpoint, timeouts and the default policy of a hosted provider, or ALTCHA's
    /// settings.
    pub verifier: VerifierSettings,
}

/// What the verifier of a [`CaptchaConfig`] is built from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum VerifierSettings {
    /// A hosted provider's: secret, endpoint, timeouts, policy.
    Hosted(VerifierConfig),
    /// ALTCHA's: key, difficulty, lifetime, policy, replay store.
    #[cfg(feature = "altcha")]
    Altcha(AltchaSettings),
}

/// A verifier could not be built from a [`CaptchaConfig`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The ALTCHA replay store cannot be reached (Redis down, a bad URL). The URL is never
    /// quoted: it may carry a password.
    #[cfg(feature = "altcha")]
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A configuration variable is missing or invalid.
///
/// The message names the full variable and never repeats a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A required variable is unset or empty.
    #[error("{var} is not set")]
    Missing {
        /// The full variable name, e.g. `CAPTCHA_SECRET`.
        var: String,
    },
    /// A variable's value cannot be used.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The full variable name, e.g. `CAPTCHA_MIN_SCORE`.
        var: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A variable does nothing without another one, which is unset or off.
    #[error("{var} needs {needs}: {reason}")]
    Needs {
        /// The full name of the variable that is set, e.g. `CAPTCHA_FORWARD_IP`.
        var: String,
        /// What it needs, e.g. `CAPTCHA_CLIENT_IP`.
        needs: String,
        /// Why, and what to set.
        reason: String,
    },
}

impl EnvError {
    /// The full name of the variable at fault.
    pub fn var(&self) -> &str {
        match self {
            EnvError::Missing { var }
            | EnvError::Invalid { var, .. }
            | EnvError::Needs { var, .. } => var,
        }
    }

    fn invalid(var: &str, reason: impl Into<String>) -> Self {
        EnvError::Invalid {
            var: var.to_owned(),
            reason: reason.into(),
        }
    }
}

const PROVIDER: &str = "PROVIDER";
const SECRET: &str = "SECRET";
const SITEKEY: &str = "SITEKEY";
const VERIFY_URL: &str = "VERIFY_URL";
const HOSTNAMES: &str = "HOSTNAMES";
const ACTION: &str = "ACTION";
const MIN_SCORE: &str = "MIN_SCORE";
const MAX_AGE_SECS: &str = "MAX_AGE_SECS";
const TIMEOUT_MS: &str = "TIMEOUT_MS";
const CONNECT_TIMEOUT_MS: &str = "CONNECT_TIMEOUT_MS";
const FORWARD_IP: &str = "FORWARD_IP";
const FAIL_OPEN: &str = "FAIL_OPEN";
const DENY_TEST_KEYS: &str = "DENY_TEST_KEYS";
const CLIENT_IP: &str = "CLIENT_IP";
const RECAPTCHA_VERSION: &str = "RECAPTCHA_VERSION";
const PROJECT: &str = "PROJECT";

const SUFFIXES: [&str; 16] = [
    PROVIDER,
    SECRET,
    SITEKEY,
    VERIFY_URL,
    HOSTNAMES,
    ACTION,
    MIN_SCORE,
    MAX_AGE_SECS,
    TIMEOUT_MS,
    CONNECT_TIMEOUT_MS,
    FORWARD_IP,
    FAIL_OPEN,
    DENY_TEST_KEYS,
    CLIENT_IP,
    RECAPTCHA_VERSION,
    PROJECT,
];

/// The settings only hosted providers have: with ALTCHA each is refused, as it would do
/// nothing.
const HOSTED_ONLY: [&str; 11] = [
    SITEKEY,
    VERIFY_URL,
    HOSTNAMES,
    MIN_SCORE,
    TIMEOUT_MS,
    CONNECT_TIMEOUT_MS,
    FORWARD_IP,
    CLIENT_IP,
    RECAPTCHA_VERSION,
    DENY_TEST_KEYS,
    PROJECT,
];

/// Every suffix this crate reads.
fn all_suffixes() -> impl Iterator<Item = &'static str> {
    #[cfg(feature = "altcha")]
    let altcha = altcha::SUFFIXES.as_slice();
    #[cfg(not(feature = "altcha"))]
    let altcha: &[&str] = &[];
    SUFFIXES.iter().chain(altcha).copied()
}

/// Why `suffix`, set to `value`, does not apply to `provider`, if it does not: a setting that
/// would silently do nothing is refused.
fn out_of_scope(provider: Provider, suffix: &str, value: &str) -> Option<String> {
    if suffix == PROJECT && provider.is_hosted() && provider != Provider::RecaptchaEnterprise {
        return Some(format!(
            "applies to recaptcha-enterprise only, the provider is {provider}"
        ));
    }
    if provider.is_hosted() {
        #[cfg(feature = "altcha")]
        if altcha::SUFFIXES.contains(&suffix) {
            return Some(format!(
                "applies to altcha only, the provider is {provider}"
            ));
        }
        return None;
    }
    if HOSTED_ONLY.contains(&suffix) {
        return Some(format!(
            "applies to hosted providers only; {provider} is verified here"
        ));
    }
    if suffix == FAIL_OPEN && parse_bool("", value) == Ok(true) {
        return Some(format!(
            "{provider} has no provider to be down, and a replay store that is down always \
             fails closed: a replay cannot be told from a first use without it"
        ));
    }
    None
}

impl CaptchaConfig {
    /// A configuration for the hosted `provider`.
    pub fn new(provider: Provider, verifier: VerifierConfig) -> Self {
        Self {
            provider,
            verifier: VerifierSettings::Hosted(verifier),
            fail_open: false,
            client_ip: ClientIp::Off,
        }
    }

    /// A configuration for ALTCHA.
    #[cfg(feature = "altcha")]
    pub fn altcha(settings: AltchaSettings) -> Self {
        Self {
            provider: Provider::Altcha,
            verifier: VerifierSettings::Altcha(settings),
            fail_open: false,
            client_ip: ClientIp::Off,
        }
    }

    /// Reads the configuration from the process environment; see the [type docs](Self) for
    /// the variables.
    pub fn from_env(prefix: &str) -> Result<Self, EnvError> {
        Self::parse(prefix, &mut |var| env_value(var, std::env::var(var)))
    }

    /// Reads the configuration from these name–value pairs, as [`from_env`](Self::from_env)
    /// reads the environment. When a name occurs twice, the last value wins.
    pub fn from_vars<I, K, V>(prefix: &str, vars: I) -> Result<Self, EnvError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let known: Vec<String> = all_suffixes().map(|s| var_name(prefix, s)).collect();
        // Only our own variables are kept: the caller may well pass the whole environment.
        let mut values = HashMap::new();
        for (name, value) in vars {
            if let Some(var) = known.iter().find(|known| *known == name.as_ref()) {
                values.insert(var.clone(), value.into());
            }
        }
        Self::parse(prefix, &mut |var| Ok(values.remove(var)))
    }

    /// Builds the verifier of a hosted provider. Fails when the provider's feature is off,
    /// the URL or a timeout is invalid, or the policy asks for something the provider never
    /// reports (a minimum score with Turnstile, say), which would reject every token; and
    /// with ALTCHA ([`ConfigError::NotHosted`]), whose replay store may need connecting: use
    /// [`connect`](Self::connect).
    pub fn build_verifier(&self) -> Result<Verifier, ConfigError> {
        match &self.verifier {
            VerifierSettings::Hosted(config) => Verifier::new(self.provider, config.clone()),
            #[cfg(feature = "altcha")]
            VerifierSettings::Altcha(_) => Err(ConfigError::NotHosted(self.provider)),
        }
    }

    /// Builds the verifier of any provider: what [`build_verifier`](Self::build_verifier)
    /// builds for a hosted one; for ALTCHA an [`AltchaVerifier`], its replay store connected
    /// to Redis when a URL is configured (the settings are checked first, so a bad one costs
    /// no connection). Async for that connection only; a Redis that cannot be reached fails
    /// here, at start, rather than at the first signup.
    pub async fn connect(&self) -> Result<AnyVerifier, BuildError> {
        match &self.verifier {
            VerifierSettings::Hosted(config) => {
                Ok(Verifier::new(self.provider, config.clone())?.into())
            }
            #[cfg(feature = "altcha")]
            VerifierSettings::Altcha(settings) => {
                let verifier = AltchaVerifier::new(settings.config.clone())?;
                let Some(url) = &settings.redis_url else {
                    return Ok(verifier.into());
                };
                #[cfg(feature = "redis")]
                {
                    drop(verifier);
                    let store = siteverify::altcha::RedisStore::connect(url.expose()).await?;
                    let config = settings.config.clone().store(store);
                    Ok(AltchaVerifier::new(config)?.into())
                }
                #[cfg(not(feature = "redis"))]
                {
                    let _ = (url, verifier);
                    Err(ConfigError::InvalidSetting {
                        setting: "Redis URL",
                        reason: "needs tower-captcha's `redis` feature",
                    }
                    .into())
                }
            }
        }
    }

    fn parse(
        prefix: &str,
        lookup: &mut dyn FnMut(&str) -> Result<Option<String>, EnvError>,
    ) -> Result<Self, EnvError> {
        // Each variable is looked up once, here: which ones are set decides what is refused
        // before any is read for its value.
        let mut set = HashMap::new();
        for suffix in all_suffixes() {
            let var = var_name(prefix, suffix);
            let value = lookup(&var)?
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty());
            set.insert(suffix, (var, value));
        }
        let get = |suffix: &str| -> Result<(String, Option<String>), EnvError> {
            Ok(set
                .get(suffix)
                .cloned()
                .unwrap_or_else(|| (var_name(prefix, suffix), None)))
        };

        let provider = match get(PROVIDER)? {
            (var, None) => return Err(EnvError::Missing { var }),
            (var, Some(name)) => name
                .parse::<Provider>()
                .map_err(|unknown| EnvError::invalid(&var, unknown.to_string()))?,
        };
        let secret = match get(SECRET)? {
            (var, None) => return Err(EnvError::Missing { var }),
            (_, Some(secret)) => secret,
        };
        for suffix in all_suffixes() {
            if let (var, Some(value)) = get(suffix)?
                && let Some(reason) = out_of_scope(provider, suffix, &value)
            {
                return Err(EnvError::Invalid { var, reason });
            }
        }

        let mut policy = Policy::new();
        if let (var, Some(list)) = get(HOSTNAMES)? {
            let mut count = 0;
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                count += 1;
                // The pattern is not quoted: the message should never carry a value.
                policy = policy.allow_hostname(entry).map_err(|_| {
                    EnvError::invalid(
                        &var,
                        format!(
                            "hostname #{count} is neither a hostname nor `*.` followed by a domain"
                        ),
                    )
                })?;
            }
            // Set but naming no host is a mistake, and ignoring it would drop the hostname
            // check without a word.
            if count == 0 {
                return Err(EnvError::invalid(&var, "lists no hostname"));
            }
        }
        if let (_, Some(action)) = get(ACTION)? {
            policy = policy.action(action);
        }
        if let (var, Some(text)) = get(MIN_SCORE)? {
            let minimum: f64 = text
                .parse()
                .map_err(|_| EnvError::invalid(&var, "not a number"))?;
            policy = policy
                .min_score(minimum)
                .map_err(|e| EnvError::invalid(&var, e.to_string()))?;
        }
        if let (var, Some(text)) = get(MAX_AGE_SECS)? {
            let secs: u64 = text
                .parse()
                .map_err(|_| EnvError::invalid(&var, "not a whole number of seconds"))?;
            // Zero would refuse every token: no challenge is solved in no time.
            if secs == 0 {
                return Err(EnvError::invalid(&var, "must be at least 1 second"));
            }
            policy = policy.max_age(Duration::from_secs(secs));
        }
        #[cfg(feature = "altcha")]
        if provider == Provider::Altcha {
            let fault_var = |fault: altcha::Fault| match fault.needs {
                Some(needs) => EnvError::Needs {
                    var: var_name(prefix, fault.suffix),
                    needs: var_name(prefix, needs),
                    reason: fault.reason,
                },
                None => EnvError::invalid(&var_name(prefix, fault.suffix), fault.reason),
            };
            let parts = altcha::AltchaParts::from_text(&mut |suffix| {
                set.get(suffix).and_then(|(_, value)| value.clone())
            })
            .map_err(fault_var)?;
            let settings = parts
                .build(siteverify::Secret::new(secret), policy)
                .map_err(fault_var)?;
            return Ok(Self::altcha(settings));
        }

        let mut config = VerifierConfig::new(secret).policy(policy);
        if let (_, Some(site_key)) = get(SITEKEY)? {
            config = config.site_key(site_key);
        }
        if let (_, Some(project)) = get(PROJECT)? {
            config = config.project(project);
        }
        if let (var, Some(url)) = get(VERIFY_URL)? {
            // Only the scheme is checked here, to name the variable; the verifier parses the
            // whole URL. The URL is never quoted, as it may carry credentials.
            let scheme = url.split_once("://").map(|(scheme, _)| scheme);
            if !scheme
                .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
            {
                return Err(EnvError::invalid(
                    &var,
                    "must be an absolute http:// or https:// URL",
                ));
            }
            config = config.verify_url(url);
        }
        if let (var, Some(text)) = get(TIMEOUT_MS)? {
            config = config.timeout(parse_timeout(&var, &text)?);
        }
        if let (var, Some(text)) = get(CONNECT_TIMEOUT_MS)? {
            config = config.connect_timeout(parse_timeout(&var, &text)?);
        }
        let (forward_var, forward) = get(FORWARD_IP)?;
        let forward = match forward {
            Some(text) => parse_bool(&forward_var, &text)?,
            None => false,
        };
        config = config.forward_remote_ip(forward);
        let (client_ip_var, client_ip) = get(CLIENT_IP)?;
        let client_ip = match client_ip {
            Some(text) => parse_client_ip(&client_ip_var, &text)?,
            None => ClientIp::Off,
        };
        if let Some(gap) = IpForwardingGap::find(forward, client_ip) {
            let (var, needs) = match gap {
                IpForwardingGap::NoSource => (forward_var, client_ip_var),
                IpForwardingGap::NotForwarding => (client_ip_var, format!("{forward_var}=true")),
            };
            return Err(EnvError::Needs {
                var,
                needs,
                reason: gap.reason().to_owned(),
            });
        }
        let (version_var, version) = get(RECAPTCHA_VERSION)?;
        let version = match version {
            Some(text) => Some(
                text.parse::<RecaptchaVersion>()
                    .map_err(|e| EnvError::invalid(&version_var, e.to_string()))?,
            ),
            None => None,
        };
        config = with_recaptcha_version(config, provider, version)
            .map_err(|reason| EnvError::invalid(&version_var, reason))?;
        if let (var, Some(text)) = get(DENY_TEST_KEYS)? {
            config = config.deny_test_keys(parse_bool(&var, &text)?);
        }
        let mut parsed = Self::new(provider, config);
        parsed.client_ip = client_ip;
        if let (var, Some(text)) = get(FAIL_OPEN)? {
            parsed.fail_open = parse_bool(&var, &text)?;
        }
        Ok(parsed)
    }
}

/// The serde form: the layer's settings, and the verifier's fields beside them. The fields
/// that the rules below read are taken here; the rest is kept to be read as the provider's
/// settings once the provider is known.
#[derive(Deserialize)]
struct ConfigFile {
    provider: Provider,
    #[serde(default)]
    fail_open: bool,
    #[serde(default)]
    client_ip: ClientIp,
    #[serde(default)]
    forward_remote_ip: bool,
    #[serde(default)]
    recaptcha_version: Option<RecaptchaVersion>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// A configuration file's keys that only hosted providers read (besides those [`ConfigFile`]
/// takes itself).
#[cfg(feature = "altcha")]
const HOSTED_ONLY_KEYS: [&str; 11] = [
    "site_key",
    "verify_url",
    "hostnames",
    "min_score",
    "timeout_ms",
    "connect_timeout_ms",
    "max_in_flight",
    "breaker_threshold",
    "breaker_cool_down_ms",
    "deny_test_keys",
    "project",
];

impl TryFrom<ConfigFile> for CaptchaConfig {
    type Error = String;

    fn try_from(file: ConfigFile) -> Result<Self, Self::Error> {
        #[cfg(feature = "altcha")]
        if file.provider == Provider::Altcha {
            return altcha_from_file(file);
        }
        #[cfg(feature = "altcha")]
        for suffix in altcha::SUFFIXES {
            let key = suffix.to_ascii_lowercase();
            if file.rest.contains_key(&key) {
                return Err(format!(
                    "`{key}` applies to altcha only, the provider is {}",
                    file.provider
                ));
            }
        }
        let verifier = VerifierConfig::deserialize(serde_json::Value::Object(file.rest))
            .map_err(|e| e.to_string())?;
        if let Some(gap) = IpForwardingGap::find(file.forward_remote_ip, file.client_ip) {
            let (key, needs) = match gap {
                IpForwardingGap::NoSource => ("forward_remote_ip", "client_ip"),
                IpForwardingGap::NotForwarding => ("client_ip", "forward_remote_ip: true"),
            };
            return Err(format!("`{key}` needs `{needs}`: {}", gap.reason()));
        }
        let verifier = verifier.forward_remote_ip(file.forward_remote_ip);
        let verifier = with_recaptcha_version(verifier, file.provider, file.recaptcha_version)
            .map_err(|reason| format!("`recaptcha_version` is invalid: {reason}"))?;
        let mut config = CaptchaConfig::new(file.provider, verifier);
        config.fail_open = file.fail_open;
        config.client_ip = file.client_ip;
        Ok(config)
    }
}

/// A configuration file for ALTCHA: the same rules as the environment, keys in lowercase.
#[cfg(feature = "altcha")]
fn altcha_from_file(file: ConfigFile) -> Result<CaptchaConfig, String> {
    let hosted_only = [
        ("client_ip", file.client_ip != ClientIp::Off),
        ("forward_remote_ip", file.forward_remote_ip),
        ("recaptcha_version", file.recaptcha_version.is_some()),
    ];
    let set_hosted = hosted_only
        .iter()
        .find(|(_, set)| *set)
        .map(|(key, _)| *key)
        .or_else(|| {
            HOSTED_ONLY_KEYS
                .into_iter()
                .find(|key| file.rest.contains_key(*key))
        });
    if let Some(key) = set_hosted {
        return Err(format!(
            "`{key}` applies to hosted providers only; altcha is verified here"
        ));
    }
    if let Some(reason) = out_of_scope(
        Provider::Altcha,
        FAIL_OPEN,
        if file.fail_open { "true" } else { "false" },
    ) {
        return Err(format!("`fail_open` is invalid: {reason}"));
    }
    let parsed = altcha::AltchaFile::deserialize(serde_json::Value::Object(file.rest))
        .map_err(|e| e.to_string())?;
    if let Some(key) = parsed.unknown.keys().next() {
        return Err(format!("unknown setting `{key}`"));
    }
    let settings = parsed
        .parts
        .build(parsed.secret, parsed.policy)
        .map_err(|fault| {
            let key = fault.suffix.to_ascii_lowercase();
            match fault.needs {
                Some(needs) => format!(
                    "`{key}` needs `{}`: {}",
                    needs.to_ascii_lowercase(),
                    fault.reason
                ),
                None => format!("`{key}` is invalid: {}", fault.reason),
            }
        })?;
    Ok(CaptchaConfig::altcha(settings))
}

/// Forwarding with no source sends no address, and a source with forwarding off is never
/// read: each is a setting that silently does nothing, so both are refused.
#[derive(Clone, Copy)]
enum IpForwardingGap {
    NoSource,
    NotForwarding,
}

impl IpForwardingGap {
    fn find(forward: bool, source: ClientIp) -> Option<Self> {
        match (forward, source == ClientIp::Off) {
            (true, true) => Some(Self::NoSource),
            (false, false) => Some(Self::NotForwarding),
            _ => None,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Self::NoSource => {
                "say where the client's address comes from: `peer_addr` when clients connect \
                 straight to this server, `rightmost_x_forwarded_for` behind one proxy of yours, \
                 or another `tower_captcha::ClientIp` name"
            }
            Self::NotForwarding => "the address is only read to be sent to the provider",
        }
    }
}

/// The reCAPTCHA version the verifier expects: the one given, else 3 (a v3 key is what Google
/// hands out by default, and a v3 check that demands no score would accept every bot).
fn with_recaptcha_version(
    config: VerifierConfig,
    provider: Provider,
    version: Option<RecaptchaVersion>,
) -> Result<VerifierConfig, String> {
    match (provider, version) {
        (Provider::Recaptcha, version) => {
            Ok(config.recaptcha_version(version.unwrap_or(RecaptchaVersion::V3)))
        }
        (_, None) => Ok(config),
        (other, Some(_)) => Err(format!(
            "only reCAPTCHA has versions, the provider is {other}"
        )),
    }
}

/// A [`ClientIp`] by its serde name, so that a file and the environment spell it alike.
fn parse_client_ip(var: &str, text: &str) -> Result<ClientIp, EnvError> {
    let name = text.to_ascii_lowercase();
    ClientIp::deserialize(de::value::StrDeserializer::<de::value::Error>::new(&name))
        .map_err(|e| EnvError::invalid(var, e.to_string()))
}

/// `CAPTCHA` + `SECRET` → `CAPTCHA_SECRET`; a prefix that already ends in `_` (or is empty)
/// gets no second one.
fn var_name(prefix: &str, suffix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('_') {
        format!("{prefix}{suffix}")
    } else {
        format!("{prefix}_{suffix}")
    }
}

fn env_value(var: &str, value: Result<String, VarError>) -> Result<Option<String>, EnvError> {
    match value {
        Ok(value) => Ok(Some(value)),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => Err(EnvError::invalid(var, "not valid Unicode")),
    }
}

/// Checked here rather than left to the verifier so that the error names the variable.
fn parse_timeout(var: &str, text: &str) -> Result<Duration, EnvError> {
    let max = MAX_TIMEOUT.as_millis();
    let out_of_range = || EnvError::invalid(var, format!("must be between 1 and {max} ms"));
    let ms: u64 = text.parse().map_err(|_| out_of_range())?;
    if ms == 0 || u128::from(ms) > max {
        return Err(out_of_range());
    }
    Ok(Duration::from_millis(ms))
}

fn parse_bool(var: &str, text: &str) -> Result<bool, EnvError> {
    let is = |word: &str| text.eq_ignore_ascii_case(word);
    if is("true") || is("1") || is("yes") {
        Ok(true)
    } else if is("false") || is("0") || is("no") {
        Ok(false)
    } else {
        Err(EnvError::invalid(
            var,
            "expected true, false, 1, 0, yes or no",
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use siteverify::VerifyOptions;
    use siteverify_emulator::{Emulator, Provider as Emulated, TokenSpec};

    use super::*;

    const SECRET_VALUE: &str = "sk-live-DO-NOT-LEAK-7f3a";

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CAPTCHA_PROVIDER", "recaptcha"),
            ("CAPTCHA_SECRET", SECRET_VALUE),
        ]
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = base();
        vars.extend_from_slice(extra);
        vars
    }

    fn error_for(extra: &[(&'static str, &'static str)]) -> EnvError {
        CaptchaConfig::from_vars("CAPTCHA", with(extra)).unwrap_err()
    }

    fn assert_invalid(var: &'static str, value: &'static str) {
        let err = error_for(&[(var, value)]);
        assert!(
            matches!(err, EnvError::Invalid { .. }),
            "{var}={value}: {err:?}"
        );
        assert_eq!(err.var(), var);
        let text = err.to_string();
        assert!(text.starts_with(&format!("{var} is invalid: ")), "{text}");
        assert!(!text.contains(SECRET_VALUE), "{text}");
    }

    #[test]
    fn fail_open_and_deny_test_keys_are_read() {
        let mut vars = base();
        vars.push(("CAPTCHA_FAIL_OPEN", "yes"));
        vars.push(("CAPTCHA_DENY_TEST_KEYS", "true"));
        let config = CaptchaConfig::from_vars("CAPTCHA", vars).unwrap();
        assert!(config.fail_open);
        assert!(format!("{:?}", config.verifier).contains("deny_test_keys: true"));
        assert!(
            !CaptchaConfig::from_vars("CAPTCHA", base())
                .unwrap()
                .fail_open
        );
        let mut bad = base();
        bad.push(("CAPTCHA_FAIL_OPEN", "sometimes"));
        let err = CaptchaConfig::from_vars("CAPTCHA", bad).unwrap_err();
        assert_eq!(err.var(), "CAPTCHA_FAIL_OPEN");
        let file: CaptchaConfig =
            serde_json::from_str(r#"{"provider":"hcaptcha","secret":"s","fail_open":true}"#)
                .unwrap();
        assert!(file.fail_open);
    }

    #[test]
    fn every_variable_is_parsed() {
        let config = CaptchaConfig::from_vars(
            "CAPTCHA",
            with(&[
                ("CAPTCHA_SITEKEY", "site-key"),
                (
                    "CAPTCHA_VERIFY_URL",
                    "http://127.0.0.1:9/recaptcha/api/siteverify",
                ),
                ("CAPTCHA_HOSTNAMES", " example.com, ,*.example.org,"),
                ("CAPTCHA_ACTION", "signup"),
                ("CAPTCHA_MIN_SCORE", "0.7"),
                ("CAPTCHA_MAX_AGE_SECS", "120"),
                ("CAPTCHA_TIMEOUT_MS", "3000"),
                ("CAPTCHA_CONNECT_TIMEOUT_MS", "250"),
                ("CAPTCHA_FORWARD_IP", "Yes"),
                ("CAPTCHA_CLIENT_IP", "Rightmost_X_Forwarded_For"),
                ("CAPTCHA_RECAPTCHA_VERSION", "v3"),
            ]),
        )
        .unwrap();
        let mut expected = CaptchaConfig::new(
            Provider::Recaptcha,
            VerifierConfig::new(SECRET_VALUE)
                .site_key("site-key")
                .verify_url("http://127.0.0.1:9/recaptcha/api/siteverify")
                .timeout(Duration::from_millis(3000))
                .connect_timeout(Duration::from_millis(250))
                .forward_remote_ip(true)
                .recaptcha_version(RecaptchaVersion::V3)
                .policy(
                    Policy::new()
                        .allow_hostname("example.com")
                        .unwrap()
                        .allow_hostname("*.example.org")
                        .unwrap()
                        .action("signup")
                        .min_score(0.7)
                        .unwrap()
                        .max_age(Duration::from_secs(120)),
                ),
        );
        expected.client_ip = ClientIp::RightmostXForwardedFor;
        // VerifierConfig has no accessors nor PartialEq; its Debug shows every field but the
        // secret and the URL, which the emulator test below covers.
        assert_eq!(format!("{config:?}"), format!("{expected:?}"));
        let verifier = config.build_verifier().unwrap();
        assert_eq!(verifier.site_key(), Some("site-key"));
        assert_eq!(verifier.policy().minimum_score(), Some(0.7));
        assert_eq!(verifier.recaptcha_version(), Some(RecaptchaVersion::V3));
    }

    #[tokio::test]
    async fn friendly_captcha_from_the_environment_verifies_against_the_emulator() {
        let emulator = siteverify_emulator::Emulator::start().await.unwrap();
        let e = siteverify_emulator::Provider::FriendlyCaptcha;
        let url = emulator.verify_url(e);
        let config = CaptchaConfig::from_vars(
            "CAPTCHA",
            [
                ("CAPTCHA_PROVIDER", "friendlycaptcha"),
                ("CAPTCHA_SECRET", e.default_secret()),
                ("CAPTCHA_SITEKEY", e.default_site_key()),
                ("CAPTCHA_VERIFY_URL", url.as_str()),
                ("CAPTCHA_HOSTNAMES", "example.com"),
            ],
        )
        .unwrap();
        assert_eq!(config.provider, Provider::FriendlyCaptcha);
        let verifier = config.build_verifier().unwrap();
        let good = emulator
            .mint(siteverify_emulator::TokenSpec::new(e).hostname("example.com"))
            .unwrap();
        let options = siteverify::VerifyOptions::new();
        let verdict = verifier.verify(&good, &options).await.unwrap();
        assert_eq!(verdict.site_key.as_deref(), Some(e.default_site_key()));
        let elsewhere = emulator
            .mint(siteverify_emulator::TokenSpec::new(e).hostname("evil.example"))
            .unwrap();
        let err = verifier.verify(&elsewhere, &options).await.unwrap_err();
        assert_eq!(err.code(), "hostname_mismatch");
        // What Friendly Captcha never reports is refused at start, naming the variable.
        for (var, value) in [
            ("CAPTCHA_MIN_SCORE", "0.5"),
            ("CAPTCHA_ACTION", "signup"),
            ("CAPTCHA_RECAPTCHA_VERSION", "3"),
        ] {
            let result = CaptchaConfig::from_vars(
                "CAPTCHA",
                [
                    ("CAPTCHA_PROVIDER", "friendlycaptcha"),
                    ("CAPTCHA_SECRET", "key"),
                    (var, value),
                ],
            )
            .and_then(|c| {
                c.build_verifier()
                    .map(|_| ())
                    .map_err(|e| EnvError::invalid(var, e.to_string()))
            });
            assert!(result.is_err(), "{var}");
        }
    }

    #[tokio::test]
    async fn recaptcha_enterprise_from_the_environment_verifies_against_the_emulator() {
        let emulator = siteverify_emulator::Emulator::start().await.unwrap();
        let e = siteverify_emulator::Provider::RecaptchaEnterprise;
        let url = emulator.verify_url(e);
        let vars = |extra: &[(&'static str, &str)]| {
            let mut vars = vec![
                ("CAPTCHA_PROVIDER", "recaptcha-enterprise".to_owned()),
                ("CAPTCHA_SECRET", e.default_secret().to_owned()),
                ("CAPTCHA_SITEKEY", e.default_site_key().to_owned()),
            ];
            vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
            vars
        };
        // The verify URL names the project: CAPTCHA_PROJECT is not needed.
        let config = CaptchaConfig::from_vars(
            "CAPTCHA",
            vars(&[
                ("CAPTCHA_VERIFY_URL", url.as_str()),
                ("CAPTCHA_HOSTNAMES", "example.com"),
                ("CAPTCHA_ACTION", "signup"),
                ("CAPTCHA_MIN_SCORE", "0.6"),
            ]),
        )
        .unwrap();
        assert_eq!(config.provider, Provider::RecaptchaEnterprise);
        let verifier = config.build_verifier().unwrap();
        let spec = siteverify_emulator::TokenSpec::new(e)
            .hostname("example.com")
            .action("signup");
        let options = siteverify::VerifyOptions::new();
        let good = emulator.mint(spec.clone().score(0.7)).unwrap();
        verifier.verify(&good, &options).await.unwrap();
        let low = emulator.mint(spec.score(0.5)).unwrap();
        let err = verifier.verify(&low, &options).await.unwrap_err();
        assert_eq!(err.code(), "score_below_threshold");

        // CAPTCHA_PROJECT builds Google's URL.
        let config =
            CaptchaConfig::from_vars("CAPTCHA", vars(&[("CAPTCHA_PROJECT", "my-project-1")]))
                .unwrap();
        assert!(config.build_verifier().is_ok());
        // Neither a project nor a URL, no site key, a project that is not one: refused.
        let config = CaptchaConfig::from_vars("CAPTCHA", vars(&[])).unwrap();
        assert!(matches!(
            config.build_verifier(),
            Err(ConfigError::MissingSetting { .. })
        ));
        let config =
            CaptchaConfig::from_vars("CAPTCHA", vars(&[("CAPTCHA_PROJECT", "../../evil")]))
                .unwrap();
        assert!(config.build_verifier().is_err());
        // CAPTCHA_PROJECT with another provider does nothing, so it is refused, by name.
        let err = CaptchaConfig::from_vars(
            "CAPTCHA",
            [
                ("CAPTCHA_PROVIDER", "recaptcha"),
                ("CAPTCHA_SECRET", "s"),
                ("CAPTCHA_PROJECT", "my-project-1"),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("CAPTCHA_PROJECT"), "{err}");
        // And in a configuration file.
        let file: CaptchaConfig = serde_json::from_str(
            r#"{"provider":"recaptcha-enterprise","secret":"k","site_key":"s","project":"my-project-1"}"#,
        )
        .unwrap();
        assert!(file.build_verifier().is_ok());
    }

    /// What the environment gives when it sets nothing optional: reCAPTCHA v3, as documented.
    fn recaptcha_defaults() -> CaptchaConfig {
        CaptchaConfig::new(
            Provider::Recaptcha,
            VerifierConfig::new(SECRET_VALUE).recaptcha_version(RecaptchaVersion::V3),
        )
    }

    #[test]
    fn only_provider_and_secret_are_required() {
        let config = CaptchaConfig::from_vars("CAPTCHA", base()).unwrap();
        let expected = recaptcha_defaults();
        assert_eq!(format!("{config:?}"), format!("{expected:?}"));
    }

    #[tokio::test]
    async fn secret_url_and_ip_forwarding_reach_the_provider() {
        let emulator = Emulator::start().await.unwrap();
        let url = emulator.verify_url(Emulated::Turnstile);
        let config = CaptchaConfig::from_vars(
            "APP_CAPTCHA_",
            [
                ("APP_CAPTCHA_PROVIDER", "TURNSTILE"),
                ("APP_CAPTCHA_SECRET", Emulated::Turnstile.default_secret()),
                ("APP_CAPTCHA_VERIFY_URL", url.as_str()),
                ("APP_CAPTCHA_HOSTNAMES", "example.com"),
                ("APP_CAPTCHA_ACTION", "signup"),
                ("APP_CAPTCHA_FORWARD_IP", "true"),
                ("APP_CAPTCHA_CLIENT_IP", "peer_addr"),
            ],
        )
        .unwrap();
        let verifier = config.build_verifier().unwrap();
        let token = emulator
            .mint(
                TokenSpec::new(Emulated::Turnstile)
                    .hostname("example.com")
                    .action("signup"),
            )
            .unwrap();
        let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
        let verdict = verifier
            .verify(&token, &VerifyOptions::new().with_remote_ip(ip))
            .await
            .unwrap();
        assert_eq!(verdict.hostname.as_deref(), Some("example.com"));
        let requests = emulator.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(
            requests[0].field("secret"),
            Some(Emulated::Turnstile.default_secret())
        );
        assert_eq!(requests[0].field("remoteip"), Some("203.0.113.7"));
        emulator.shutdown().await;
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_invalid("CAPTCHA_PROVIDER", "recaptha");
        assert_invalid("CAPTCHA_MIN_SCORE", "abc");
        assert_invalid("CAPTCHA_MIN_SCORE", "1.5");
        assert_invalid("CAPTCHA_MIN_SCORE", "NaN");
        assert_invalid("CAPTCHA_HOSTNAMES", "a b");
        assert_invalid("CAPTCHA_HOSTNAMES", "example.com,a b");
        assert_invalid("CAPTCHA_HOSTNAMES", " , ");
        assert_invalid("CAPTCHA_MAX_AGE_SECS", "-1");
        assert_invalid("CAPTCHA_MAX_AGE_SECS", "0");
        assert_invalid("CAPTCHA_TIMEOUT_MS", "0");
        assert_invalid("CAPTCHA_TIMEOUT_MS", "10001");
        assert_invalid("CAPTCHA_CONNECT_TIMEOUT_MS", "2s");
        assert_invalid("CAPTCHA_FORWARD_IP", "maybe");
        assert_invalid("CAPTCHA_CLIENT_IP", "leftmost_x_forwarded_for");
        assert_invalid("CAPTCHA_RECAPTCHA_VERSION", "4");
        assert_invalid("CAPTCHA_RECAPTCHA_VERSION", "three");
        assert_invalid("CAPTCHA_RECAPTCHA_VERSION", "3.0");
        assert_invalid("CAPTCHA_VERIFY_URL", "ftp://example.com/x");
        assert_invalid("CAPTCHA_VERIFY_URL", "example.com/siteverify");
    }

    #[test]
    fn values_are_not_quoted_in_errors() {
        let err = error_for(&[("CAPTCHA_HOSTNAMES", "example.com, bad host")]);
        assert_eq!(
            err.to_string(),
            "CAPTCHA_HOSTNAMES is invalid: hostname #2 is neither a hostname nor `*.` followed by a domain"
        );
        let err = error_for(&[("CAPTCHA_VERIFY_URL", "gopher://user:pw@proxy")]);
        assert!(!err.to_string().contains("pw"), "{err}");
        // The provider name is the one value worth echoing: it is short and never secret.
        let err = error_for(&[("CAPTCHA_PROVIDER", "recaptha")]);
        assert!(err.to_string().contains("recaptha"), "{err}");
    }

    #[test]
    fn provider_and_secret_are_required() {
        let missing = |vars: &[(&str, &str)]| {
            CaptchaConfig::from_vars("CAPTCHA", vars.iter().copied()).unwrap_err()
        };
        let err = missing(&[("CAPTCHA_SECRET", "s")]);
        assert_eq!(
            err,
            EnvError::Missing {
                var: "CAPTCHA_PROVIDER".into()
            }
        );
        let err = missing(&[("CAPTCHA_PROVIDER", "hcaptcha")]);
        assert_eq!(err.to_string(), "CAPTCHA_SECRET is not set");
        assert_eq!(err.var(), "CAPTCHA_SECRET");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let err = CaptchaConfig::from_vars(
            "CAPTCHA",
            [("CAPTCHA_PROVIDER", "hcaptcha"), ("CAPTCHA_SECRET", "")],
        )
        .unwrap_err();
        assert!(matches!(err, EnvError::Missing { .. }), "{err:?}");
        let err = CaptchaConfig::from_vars(
            "CAPTCHA",
            [("CAPTCHA_PROVIDER", "  "), ("CAPTCHA_SECRET", "s")],
        )
        .unwrap_err();
        assert!(matches!(err, EnvError::Missing { .. }), "{err:?}");
        let blank = [
            "CAPTCHA_SITEKEY",
            "CAPTCHA_VERIFY_URL",
            "CAPTCHA_HOSTNAMES",
            "CAPTCHA_ACTION",
            "CAPTCHA_MIN_SCORE",
            "CAPTCHA_MAX_AGE_SECS",
            "CAPTCHA_TIMEOUT_MS",
            "CAPTCHA_CONNECT_TIMEOUT_MS",
            "CAPTCHA_FORWARD_IP",
            "CAPTCHA_CLIENT_IP",
            "CAPTCHA_RECAPTCHA_VERSION",
            "CAPTCHA_FAIL_OPEN",
            "CAPTCHA_DENY_TEST_KEYS",
        ]
        .map(|var| (var, ""));
        let config = CaptchaConfig::from_vars("CAPTCHA", with(&blank)).unwrap();
        let expected = recaptcha_defaults();
        assert_eq!(format!("{config:?}"), format!("{expected:?}"));
    }

    #[test]
    fn the_prefix_gets_one_underscore() {
        for prefix in ["MY_CAPTCHA", "MY_CAPTCHA_"] {
            let config = CaptchaConfig::from_vars(
                prefix,
                [
                    ("MY_CAPTCHA_PROVIDER", "hcaptcha"),
                    ("MY_CAPTCHA_SECRET", "s"),
                    ("MY_CAPTCHA_SITEKEY", "k"),
                    // Not ours: wrong prefix, doubled underscore, unknown suffix.
                    ("CAPTCHA_MIN_SCORE", "abc"),
                    ("MY_CAPTCHA__ACTION", "x"),
                    ("MY_CAPTCHA_WIDGET_THEME", "dark"),
                ],
            )
            .unwrap();
            assert_eq!(config.provider, Provider::HCaptcha, "{prefix}");
            assert_eq!(config.build_verifier().unwrap().site_key(), Some("k"));
        }
        assert_eq!(var_name("", "SECRET"), "SECRET");
    }

    #[test]
    fn the_last_of_repeated_names_wins() {
        let config =
            CaptchaConfig::from_vars("CAPTCHA", with(&[("CAPTCHA_PROVIDER", "hcaptcha")])).unwrap();
        assert_eq!(config.provider, Provider::HCaptcha);
    }

    #[test]
    fn owned_strings_are_accepted() {
        let vars: Vec<(String, String)> = base()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert!(CaptchaConfig::from_vars("CAPTCHA", vars).is_ok());
    }

    #[test]
    fn not_unicode_is_invalid() {
        assert_eq!(env_value("X_SECRET", Err(VarError::NotPresent)), Ok(None));
        assert_eq!(env_value("X_SECRET", Ok("v".into())), Ok(Some("v".into())));
        #[cfg(unix)]
        {
            use std::{ffi::OsString, os::unix::ffi::OsStringExt};
            let raw = OsString::from_vec(b"secret\xff".to_vec());
            let err = env_value("X_SECRET", Err(VarError::NotUnicode(raw))).unwrap_err();
            assert_eq!(err.to_string(), "X_SECRET is invalid: not valid Unicode");
        }
    }

    #[test]
    fn from_env_reads_the_process_environment() {
        // A prefix nobody sets, so the test needs no set_var (unsafe, and racy between tests).
        let err = CaptchaConfig::from_env("TOWER_CAPTCHA_TEST_UNSET_9F2C").unwrap_err();
        assert_eq!(
            err,
            EnvError::Missing {
                var: "TOWER_CAPTCHA_TEST_UNSET_9F2C_PROVIDER".into()
            }
        );
    }

    #[test]
    fn the_secret_never_shows() {
        let config = CaptchaConfig::from_vars("CAPTCHA", base()).unwrap();
        assert!(!format!("{config:?}").contains(SECRET_VALUE));
        assert!(!format!("{config:#?}").contains(SECRET_VALUE));
        let bad = [
            ("CAPTCHA_PROVIDER", "nope"),
            ("CAPTCHA_MIN_SCORE", "2"),
            ("CAPTCHA_TIMEOUT_MS", "x"),
            ("CAPTCHA_HOSTNAMES", "a b"),
        ];
        for pair in bad {
            let err = error_for(&[pair]);
            assert!(!err.to_string().contains(SECRET_VALUE), "{err}");
            assert!(!format!("{err:?}").contains(SECRET_VALUE), "{err:?}");
        }
        let config = CaptchaConfig::from_vars(
            "CAPTCHA",
            with(&[
                ("CAPTCHA_MIN_SCORE", "0.5"),
                ("CAPTCHA_PROVIDER", "turnstile"),
            ]),
        )
        .unwrap();
        let err = config.build_verifier().unwrap_err();
        assert!(!err.to_string().contains(SECRET_VALUE), "{err}");
        assert!(!format!("{err:?}").contains(SECRET_VALUE), "{err:?}");
    }

    #[test]
    fn deserialises_from_a_config_file() {
        let config: CaptchaConfig = serde_json::from_str(
            r#"{"provider":"turnstile","secret":"s","hostnames":["example.com"],"action":"signup","timeout_ms":3000}"#,
        )
        .unwrap();
        let expected = CaptchaConfig::new(
            Provider::Turnstile,
            VerifierConfig::new("s")
                .timeout(Duration::from_millis(3000))
                .policy(
                    Policy::new()
                        .allow_hostname("example.com")
                        .unwrap()
                        .action("signup"),
                ),
        );
        assert_eq!(format!("{config:?}"), format!("{expected:?}"));
        assert!(config.build_verifier().is_ok());
    }

    #[test]
    fn a_misspelt_key_is_refused_through_the_flatten() {
        let err = serde_json::from_str::<CaptchaConfig>(
            r#"{"provider":"recaptcha","secret":"s","min_scor":0.5}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("min_scor"), "{err}");
        for bad in [
            r#"{"secret":"s"}"#,
            r#"{"provider":"recaptcha"}"#,
            r#"{"provider":"recaptha","secret":"s"}"#,
            r#"{"provider":"recaptcha","secret":"s","min_score":1.5}"#,
            r#"{"provider":"recaptcha","secret":"s","hostnames":["a b"]}"#,
            r#"{"provider":"recaptcha","secret":"s","provder":"x"}"#,
        ] {
            assert!(serde_json::from_str::<CaptchaConfig>(bad).is_err(), "{bad}");
        }
        let ok: CaptchaConfig = serde_json::from_str(
            r#"{"provider":"recaptcha","secret":"s","min_score":1,"max_age_secs":60}"#,
        )
        .unwrap();
        assert_eq!(
            ok.build_verifier().unwrap().policy().minimum_score(),
            Some(1.0)
        );
    }

    #[test]
    fn a_policy_the_provider_cannot_satisfy_fails_to_build() {
        let config = CaptchaConfig::from_vars(
            "CAPTCHA",
            [
                ("CAPTCHA_PROVIDER", "turnstile"),
                ("CAPTCHA_SECRET", "s"),
                ("CAPTCHA_MIN_SCORE", "0.5"),
            ],
        )
        .unwrap();
        let err = config.build_verifier().unwrap_err();
        assert!(
            matches!(err, ConfigError::UnsupportedCheck { .. }),
            "{err:?}"
        );
    }

    use crate::client_ip::NAMES as CLIENT_IP_NAMES;

    #[test]
    fn the_client_ip_source_is_read_by_its_serde_name() {
        for (name, source) in CLIENT_IP_NAMES {
            let forward = if source == ClientIp::Off {
                "false"
            } else {
                "true"
            };
            let vars = with(&[("CAPTCHA_CLIENT_IP", name), ("CAPTCHA_FORWARD_IP", forward)]);
            let config = CaptchaConfig::from_vars("CAPTCHA", vars).unwrap();
            assert_eq!(config.client_ip, source, "{name}");
            let upper = name.to_ascii_uppercase();
            let vars = [
                ("CAPTCHA_PROVIDER", "hcaptcha"),
                ("CAPTCHA_SECRET", "s"),
                ("CAPTCHA_CLIENT_IP", upper.as_str()),
                ("CAPTCHA_FORWARD_IP", forward),
            ];
            let config = CaptchaConfig::from_vars("CAPTCHA", vars).unwrap();
            assert_eq!(config.client_ip, source, "{upper}");

            let file = format!(
                r#"{{"provider":"hcaptcha","secret":"s","client_ip":"{name}","forward_remote_ip":{forward}}}"#
            );
            let config: CaptchaConfig = serde_json::from_str(&file).unwrap();
            assert_eq!(config.client_ip, source, "{file}");
        }
        assert_eq!(
            CaptchaConfig::from_vars("CAPTCHA", base())
                .unwrap()
                .client_ip,
            ClientIp::Off
        );
        let err = error_for(&[("CAPTCHA_CLIENT_IP", "peer"), ("CAPTCHA_FORWARD_IP", "1")]);
        assert!(
            err.to_string().contains("peer_addr"),
            "the names are listed: {err}"
        );
    }

    #[test]
    fn forwarding_without_a_source_is_refused() {
        for unset in [None, Some("off"), Some("")] {
            let mut vars = with(&[("CAPTCHA_FORWARD_IP", "true")]);
            vars.extend(unset.map(|v| ("CAPTCHA_CLIENT_IP", v)));
            let err = CaptchaConfig::from_vars("CAPTCHA", vars).unwrap_err();
            assert_eq!(err.var(), "CAPTCHA_FORWARD_IP", "{err:?}");
            let text = err.to_string();
            assert!(
                text.starts_with("CAPTCHA_FORWARD_IP needs CAPTCHA_CLIENT_IP: "),
                "{text}"
            );
            assert!(text.contains("peer_addr"), "{text}");
        }
        // The other half: a source with forwarding off would never be read.
        let err = error_for(&[("CAPTCHA_CLIENT_IP", "peer_addr")]);
        assert_eq!(
            err,
            EnvError::Needs {
                var: "CAPTCHA_CLIENT_IP".into(),
                needs: "CAPTCHA_FORWARD_IP=true".into(),
                reason: "the address is only read to be sent to the provider".into(),
            }
        );
        let err = error_for(&[
            ("CAPTCHA_CLIENT_IP", "peer_addr"),
            ("CAPTCHA_FORWARD_IP", "no"),
        ]);
        assert_eq!(err.var(), "CAPTCHA_CLIENT_IP");

        // A configuration file obeys the same rule.
        for file in [
            r#"{"provider":"hcaptcha","secret":"s","forward_remote_ip":true}"#,
            r#"{"provider":"hcaptcha","secret":"s","forward_remote_ip":true,"client_ip":"off"}"#,
        ] {
            let err = serde_json::from_str::<CaptchaConfig>(file).unwrap_err();
            assert!(
                err.to_string()
                    .contains("`forward_remote_ip` needs `client_ip`"),
                "{err}"
            );
        }
        let err = serde_json::from_str::<CaptchaConfig>(
            r#"{"provider":"hcaptcha","secret":"s","client_ip":"x_real_ip"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`client_ip` needs"), "{err}");
        let err = serde_json::from_str::<CaptchaConfig>(
            r#"{"provider":"hcaptcha","secret":"s","forward_remote_ip":true,"client_ip":"leftmost"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("leftmost"), "{err}");
    }

    /// `from_config` over real HTTP: the source the configuration names is where the address
    /// that reaches the provider comes from.
    #[tokio::test]
    async fn from_config_forwards_the_address_its_source_names() {
        use std::net::SocketAddr;

        use axum::{Router, routing::post};

        let emulator = Emulator::start().await.unwrap();
        let url = emulator.verify_url(Emulated::HCaptcha);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        for (source, header, expected) in [
            ("peer_addr", None, "127.0.0.1"),
            (
                "rightmost_x_forwarded_for",
                Some("6.6.6.6, 203.0.113.9"),
                "203.0.113.9",
            ),
        ] {
            let config = CaptchaConfig::from_vars(
                "CAPTCHA",
                [
                    ("CAPTCHA_PROVIDER", "hcaptcha"),
                    ("CAPTCHA_SECRET", Emulated::HCaptcha.default_secret()),
                    ("CAPTCHA_VERIFY_URL", url.as_str()),
                    ("CAPTCHA_FORWARD_IP", "true"),
                    ("CAPTCHA_CLIENT_IP", source),
                ],
            )
            .unwrap();
            let layer = crate::CaptchaLayer::from_config(&config).await.unwrap();
            let app = Router::new().route("/", post(|| async { "ok" }).layer(layer));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
            });

            emulator.clear_requests();
            let token = emulator.mint(TokenSpec::new(Emulated::HCaptcha)).unwrap();
            let mut request = client
                .post(format!("http://{addr}/"))
                .header("h-captcha-response", token);
            if let Some(header) = header {
                request = request.header("x-forwarded-for", header);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{source}");
            let requests = emulator.requests();
            assert_eq!(requests.len(), 1, "{source}");
            assert_eq!(requests[0].field("remoteip"), Some(expected), "{source}");
            server.abort();
        }
        emulator.shutdown().await;
    }

    #[test]
    fn the_recaptcha_version_is_read_and_defaults_to_3() {
        let version = |vars: Vec<(&'static str, &'static str)>| {
            CaptchaConfig::from_vars("CAPTCHA", vars)
                .unwrap()
                .build_verifier()
                .unwrap()
                .recaptcha_version()
        };
        assert_eq!(version(base()), Some(RecaptchaVersion::V3));
        for (text, expected) in [
            ("2", RecaptchaVersion::V2),
            (" 3 ", RecaptchaVersion::V3),
            ("3", RecaptchaVersion::V3),
        ] {
            let vars = with(&[("CAPTCHA_RECAPTCHA_VERSION", text)]);
            assert_eq!(version(vars), Some(expected), "{text:?}");
        }
        let from_file = |json: &str| {
            serde_json::from_str::<CaptchaConfig>(json)
                .map(|c| c.build_verifier().unwrap().recaptcha_version())
        };
        let file = |version: &str| {
            format!(r#"{{"provider":"recaptcha","secret":"s","recaptcha_version":{version}}}"#)
        };
        for (value, expected) in [
            ("2", RecaptchaVersion::V2),
            (r#""2""#, RecaptchaVersion::V2),
            ("3", RecaptchaVersion::V3),
            (r#""3""#, RecaptchaVersion::V3),
        ] {
            assert_eq!(from_file(&file(value)).unwrap(), Some(expected), "{value}");
        }
        assert_eq!(
            from_file(r#"{"provider":"recaptcha","secret":"s"}"#).unwrap(),
            Some(RecaptchaVersion::V3)
        );
        for bad in ["4", r#""two""#, "2.5", "-3", "true"] {
            let err = from_file(&file(bad)).unwrap_err();
            assert!(err.to_string().contains("2 or 3"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_recaptcha_version_for_another_provider_is_refused() {
        let err = CaptchaConfig::from_vars(
            "CAPTCHA",
            [
                ("CAPTCHA_PROVIDER", "turnstile"),
                ("CAPTCHA_SECRET", "s"),
                ("CAPTCHA_RECAPTCHA_VERSION", "2"),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "CAPTCHA_RECAPTCHA_VERSION is invalid: only reCAPTCHA has versions, the provider is turnstile"
        );
        let err = serde_json::from_str::<CaptchaConfig>(
            r#"{"provider":"hcaptcha","secret":"s","recaptcha_version":3}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("only reCAPTCHA"), "{err}");
        let other = CaptchaConfig::from_vars(
            "CAPTCHA",
            [("CAPTCHA_PROVIDER", "turnstile"), ("CAPTCHA_SECRET", "s")],
        )
        .unwrap();
        assert_eq!(other.build_verifier().unwrap().recaptcha_version(), None);
    }

    /// The setting is not a label: with version 3 a checkbox answer (no score) is refused,
    /// with version 2 it passes.
    #[tokio::test]
    async fn the_recaptcha_version_decides_whether_a_checkbox_answer_passes() {
        let emulator = Emulator::start().await.unwrap();
        let url = emulator.verify_url(Emulated::Recaptcha);
        for (version, passes) in [("2", true), ("3", false)] {
            let config = CaptchaConfig::from_vars(
                "CAPTCHA",
                [
                    ("CAPTCHA_PROVIDER", "recaptcha"),
                    ("CAPTCHA_SECRET", Emulated::Recaptcha.default_secret()),
                    ("CAPTCHA_VERIFY_URL", url.as_str()),
                    ("CAPTCHA_RECAPTCHA_VERSION", version),
                ],
            )
            .unwrap();
            let verifier = config.build_verifier().unwrap();
            let checkbox = emulator.mint(TokenSpec::new(Emulated::Recaptcha)).unwrap();
            let outcome = verifier.verify(&checkbox, &VerifyOptions::new()).await;
            match (passes, outcome) {
                (true, Ok(verdict)) => assert_eq!(verdict.score, None),
                (false, Err(siteverify::VerifyError::ScoreMissing)) => {}
                (_, other) => panic!("version {version}: {other:?}"),
            }
        }
        emulator.shutdown().await;
    }
}
