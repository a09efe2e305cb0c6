use std::{
    fmt,
    str::FromStr,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};

use crate::{ConfigError, Provider, Verdict, VerifyError};

/// The minimum human-likelihood score applied to a reCAPTCHA v3 answer when the policy sets
/// none. Google suggests 0.5 as a starting point; a v3 integration that checks only `success`
/// accepts every bot, so we refuse to do that silently. Set `min_score(0.0)` to opt out.
pub const RECAPTCHA_V3_DEFAULT_MIN_SCORE: f64 = 0.5;

/// What a verified token must also satisfy: the route's rules on top of the provider's
/// `success`.
///
/// An empty policy checks nothing beyond the provider's answer (but see
/// [`RECAPTCHA_V3_DEFAULT_MIN_SCORE`]). Set once per verifier, and overridable per call with
/// [`VerifyOptions::policy`](crate::VerifyOptions::policy).
///
/// ```
/// use std::time::Duration;
/// use siteverify::Policy;
///
/// let policy = Policy::new()
///     .allow_hostname("example.com")?
///     .allow_hostname("*.example.com")?
///     .action("signup")
///     .min_score(0.5)?
///     .max_age(Duration::from_secs(120));
/// # Ok::<(), siteverify::PolicyError>(())
/// ```
///
/// In a configuration file (serde), the same reads:
/// `{"hostnames": ["example.com", "*.example.com"], "action": "signup", "min_score": 0.5,
/// "max_age_secs": 120}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PolicySpec", into = "PolicySpec")]
pub struct Policy {
    hostnames: Vec<HostnamePattern>,
    apk_packages: Vec<String>,
    action: Option<String>,
    cdata: Option<String>,
    min_score: Option<f64>,
    site_key: Option<String>,
    max_age: Option<Duration>,
}

impl Policy {
    /// A policy that checks nothing beyond the provider's answer.
    pub const fn new() -> Self {
        Self {
            hostnames: Vec::new(),
            apk_packages: Vec::new(),
            action: None,
            cdata: None,
            min_score: None,
            site_key: None,
            max_age: None,
        }
    }

    /// Allows a hostname: an exact name (`example.com`) or a wildcard for every subdomain at
    /// any depth (`*.example.com`, which does not match `example.com` itself). Matching ignores
    /// ASCII case and a trailing dot. Once any hostname is allowed, a verdict with another
    /// hostname, or with none (hCaptcha's `not-provided`, an Android app), fails with
    /// `hostname_mismatch`.
    pub fn allow_hostname(mut self, pattern: &str) -> Result<Self, PolicyError> {
        self.hostnames.push(pattern.parse()?);
        Ok(self)
    }

    /// Allows an Android app by its package name (reCAPTCHA on Android reports
    /// `apk_package_name` instead of a hostname), compared exactly. Hostnames and packages form
    /// one allowlist: a verdict passes when its hostname or its package is in it.
    pub fn allow_apk_package(mut self, package: impl Into<String>) -> Self {
        self.apk_packages.push(package.into());
        self
    }

    /// Requires this action (reCAPTCHA v3, Turnstile), compared ignoring ASCII case as
    /// Google's own library does.
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Requires this customer data (Turnstile `cdata`), compared exactly.
    pub fn cdata(mut self, cdata: impl Into<String>) -> Self {
        self.cdata = Some(cdata.into());
        self
    }

    /// Requires a human-likelihood score of at least `minimum` (0.0–1.0, the normalised
    /// [`Verdict::human_score`]). A verdict without a score then fails with `score_missing`.
    pub fn min_score(mut self, minimum: f64) -> Result<Self, PolicyError> {
        if !(0.0..=1.0).contains(&minimum) {
            return Err(PolicyError::ScoreOutOfRange);
        }
        self.min_score = Some(minimum);
        Ok(self)
    }

    /// Requires the token to have been solved for this site key. hCaptcha enforces it itself
    /// (we send it as `sitekey`); for ByeBot we compare the site key it returns.
    pub fn site_key(mut self, site_key: impl Into<String>) -> Self {
        self.site_key = Some(site_key.into());
        self
    }

    /// Rejects challenges older than `max_age` (`challenge_too_old`). A verdict without a
    /// challenge time then fails too.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The allowed hostname patterns.
    pub fn hostnames(&self) -> &[HostnamePattern] {
        &self.hostnames
    }

    /// The allowed Android packages.
    pub fn apk_packages(&self) -> &[String] {
        &self.apk_packages
    }

    /// The expected action.
    pub fn expected_action(&self) -> Option<&str> {
        self.action.as_deref()
    }

    /// The expected customer data.
    pub fn expected_cdata(&self) -> Option<&str> {
        self.cdata.as_deref()
    }

    /// The minimum human-likelihood score.
    pub fn minimum_score(&self) -> Option<f64> {
        self.min_score
    }

    /// The expected site key.
    pub fn expected_site_key(&self) -> Option<&str> {
        self.site_key.as_deref()
    }

    /// The maximum challenge age.
    pub fn maximum_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// Checks that `provider` reports everything this policy needs, so that a configuration
    /// that would reject every token fails at start-up instead. [`Verifier::new`] calls it;
    /// call it yourself for a policy you pass per call.
    ///
    /// [`Verifier::new`]: crate::Verifier::new
    pub fn validate_for(&self, provider: Provider) -> Result<(), ConfigError> {
        let unsupported = |check, what| ConfigError::UnsupportedCheck {
            provider,
            check,
            what,
        };
        if !self.hostnames.is_empty() && !provider.reports_hostname() {
            return Err(unsupported("hostname allowlist", "a hostname"));
        }
        if !self.apk_packages.is_empty()
            && !matches!(
                provider,
                Provider::Recaptcha | Provider::RecaptchaEnterprise
            )
        {
            return Err(unsupported(
                "Android package allowlist",
                "an Android package",
            ));
        }
        if self.action.is_some() && !provider.reports_action() {
            return Err(unsupported("expected action", "an action"));
        }
        if self.cdata.is_some() && !provider.reports_cdata() {
            return Err(unsupported("expected cdata", "customer data"));
        }
        if self.min_score.is_some() && !provider.reports_score() {
            return Err(unsupported("minimum score", "a score"));
        }
        if self.site_key.is_some() && !provider.binds_site_key() {
            return Err(unsupported("site key binding", "the site key"));
        }
        if self.max_age.is_some() && !provider.reports_challenge_time() {
            return Err(unsupported("maximum age", "the challenge time"));
        }
        Ok(())
    }

    /// Applies the policy to a verdict the provider accepted.
    pub fn check(&self, verdict: &Verdict, now: SystemTime) -> Result<(), VerifyError> {
        self.check_over(&EMPTY, verdict, now)
    }

    /// This policy laid over `base`: every check this policy leaves unset (no allowlist, no
    /// action, …) comes from `base`. A route's policy is layered over its verifier's this way,
    /// so that adding an action to a route cannot switch off the configured hostname
    /// allowlist or site-key binding. The hostnames and Android packages are one allowlist,
    /// so a policy that sets either replaces both of `base`'s.
    ///
    /// `route.layered_over(&base).check(v, now)` and `route.check_over(&base, v, now)` always
    /// agree: both go through one resolution.
    pub fn layered_over(&self, base: &Policy) -> Policy {
        Resolved::of(self, base).to_policy()
    }

    /// The site key to bind tokens to, this policy's or else `base`'s.
    pub(crate) fn site_key_over<'a>(&'a self, base: &'a Policy) -> Option<&'a str> {
        Resolved::of(self, base).site_key
    }

    /// The expected action of this policy laid over `base`.
    pub(crate) fn action_over<'a>(&'a self, base: &'a Policy) -> Option<&'a str> {
        Resolved::of(self, base).action
    }

    /// [`check`](Self::check) of [`layered_over`](Self::layered_over)`(base)`, without
    /// building the layered policy.
    pub fn check_over(
        &self,
        base: &Policy,
        verdict: &Verdict,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        Resolved::of(self, base).check(verdict, now)
    }
}

/// A route's policy over a base, resolved: the one rule of what a route setting replaces,
/// read by every way of applying a policy.
struct Resolved<'a> {
    hostnames: &'a [HostnamePattern],
    apk_packages: &'a [String],
    action: Option<&'a str>,
    cdata: Option<&'a str>,
    min_score: Option<f64>,
    site_key: Option<&'a str>,
    max_age: Option<Duration>,
}

impl<'a> Resolved<'a> {
    fn of(route: &'a Policy, base: &'a Policy) -> Self {
        // The hostname and package allowlists are one: a route that sets either replaces both.
        let allowlist = if route.hostnames.is_empty() && route.apk_packages.is_empty() {
            base
        } else {
            route
        };
        Self {
            hostnames: &allowlist.hostnames,
            apk_packages: &allowlist.apk_packages,
            action: route.action.as_deref().or(base.action.as_deref()),
            cdata: route.cdata.as_deref().or(base.cdata.as_deref()),
            min_score: route.min_score.or(base.min_score),
            site_key: route.site_key.as_deref().or(base.site_key.as_deref()),
            max_age: route.max_age.or(base.max_age),
        }
    }

    fn to_policy(&self) -> Policy {
        Policy {
            hostnames: self.hostnames.to_vec(),
            apk_packages: self.apk_packages.to_vec(),
            action: self.action.map(str::to_owned),
            cdata: self.cdata.map(str::to_owned),
            min_score: self.min_score,
            site_key: self.site_key.map(str::to_owned),
            max_age: self.max_age,
        }
    }

    fn check(&self, verdict: &Verdict, now: SystemTime) -> Result<(), VerifyError> {
        if let Some(expected) = self.site_key {
            // The verdict must name the expected key: ByeBot reports it, hCaptcha's verdict
            // carries the key it was bound to, and a verdict that names none (an unbound
            // verification, a provider that cannot bind) proves nothing.
            if verdict.site_key.as_deref() != Some(expected) {
                return Err(VerifyError::SitekeyMismatch {
                    expected: expected.to_owned(),
                    actual: verdict.site_key.clone(),
                });
            }
        }
        if !self.hostnames.is_empty() || !self.apk_packages.is_empty() {
            let host_allowed = verdict
                .hostname
                .as_deref()
                .is_some_and(|host| self.hostnames.iter().any(|p| p.matches(host)));
            // The package allowlist holds app identifiers: an Android package, or (reCAPTCHA
            // Enterprise) an iOS bundle id.
            let app_allowed = [&verdict.apk_package_name, &verdict.ios_bundle_id]
                .into_iter()
                .flatten()
                .any(|app| self.apk_packages.contains(app));
            if !host_allowed && !app_allowed {
                return Err(VerifyError::HostnameMismatch {
                    hostname: verdict.hostname.clone(),
                });
            }
        }
        if let Some(expected) = self.action
            && !verdict
                .action
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(expected))
        {
            return Err(VerifyError::ActionMismatch {
                expected: expected.to_owned(),
                actual: verdict.action.clone(),
            });
        }
        if let Some(expected) = self.cdata
            && verdict.cdata.as_deref() != Some(expected)
        {
            return Err(VerifyError::CdataMismatch);
        }
        if let Some(max_age) = self.max_age {
            // A challenge time slightly in the future is clock skew between us and the
            // provider, counted as age zero; further ahead it is not a time we can trust.
            let age = verdict
                .challenge_ts
                .and_then(|at| match now.duration_since(at) {
                    Ok(age) => Some(age),
                    Err(ahead) if ahead.duration() <= MAX_CLOCK_SKEW => Some(Duration::ZERO),
                    Err(_) => None,
                });
            if age.is_none_or(|age| age > max_age) {
                return Err(VerifyError::ChallengeTooOld { age, max_age });
            }
        }
        // reCAPTCHA Enterprise scores every answer on the same scale: the same default.
        let minimum = self.min_score.or((matches!(
            verdict.provider,
            Provider::Recaptcha | Provider::RecaptchaEnterprise
        ) && verdict.score.is_some())
        .then_some(RECAPTCHA_V3_DEFAULT_MIN_SCORE));
        if let Some(minimum) = minimum {
            match verdict.human_score {
                None => return Err(VerifyError::ScoreMissing),
                // A score above 1.0 (or NaN) is no likelihood at all, so it passes no minimum:
                // only a score within [minimum, 1.0] does.
                Some(score) if !(minimum..=1.0).contains(&score) => {
                    return Err(VerifyError::ScoreBelowThreshold { score, minimum });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// How far ahead of our clock a provider's challenge time may be and still count as now.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The policy that checks nothing, for layering over.
static EMPTY: Policy = Policy::new();

impl Default for Policy {
    fn default() -> Self {
        Self::new()
    }
}

/// An allowed hostname: exact, or `*.` followed by a domain for all its subdomains.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostnamePattern {
    /// Lowercase, without trailing dot; for a wildcard, the domain after `*.` with a leading
    /// dot kept, so that matching is a plain suffix test that cannot match `badexample.com`.
    name: String,
    wildcard: bool,
}

impl HostnamePattern {
    /// Whether `hostname` is allowed by this pattern (ASCII case and one trailing dot
    /// ignored).
    ///
    /// The reported name must first be a DNS name: labels of letters, digits and inner
    /// hyphens, one optional trailing dot, internationalised names in their punycode
    /// (`xn--`) form, as browsers report them. Anything else (`evil.com/.example.com`,
    /// `..example.com`, `evil.com@x.example.com`, names with spaces or NUL) matches no
    /// pattern: a wildcard matches hostnames, not string suffixes.
    pub fn matches(&self, hostname: &str) -> bool {
        let Some(host) = dns_name(hostname) else {
            return false;
        };
        if self.wildcard {
            host.len() > self.name.len()
                && host
                    .get(host.len() - self.name.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(&self.name))
        } else {
            host.eq_ignore_ascii_case(&self.name)
        }
    }
}

/// `name` without its one optional trailing dot, if it is a DNS hostname: 1–253 characters
/// of labels of 1–63 letters, digits and hyphens, no label starting or ending with a hyphen.
/// The one rule for reported hostnames and for patterns alike.
fn dns_name(name: &str) -> Option<&str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    ((1..=253).contains(&name.len()) && name.split('.').all(valid_label)).then_some(name)
}

impl FromStr for HostnamePattern {
    type Err = PolicyError;

    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        let invalid = || PolicyError::InvalidHostname(pattern.to_owned());
        let lower = pattern.trim().to_ascii_lowercase();
        let (wildcard, domain) = match lower.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, lower.as_str()),
        };
        let domain = dns_name(domain).ok_or_else(invalid)?;
        // `*.com` would allow every site under a top-level domain.
        if wildcard && !domain.contains('.') {
            return Err(invalid());
        }
        Ok(Self {
            name: if wildcard {
                format!(".{domain}")
            } else {
                domain.to_owned()
            },
            wildcard,
        })
    }
}

impl fmt::Display for HostnamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            write!(f, "*{}", self.name)
        } else {
            f.write_str(&self.name)
        }
    }
}

impl fmt::Debug for HostnamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostnamePattern({self})")
    }
}

/// A policy setting is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not a hostname nor `*.` followed by a domain.
    #[error("invalid hostname pattern `{0}`: expected `example.com` or `*.example.com`")]
    InvalidHostname(String),
    /// The minimum score is not within 0.0–1.0.
    #[error("the minimum score must be between 0.0 and 1.0")]
    ScoreOutOfRange,
    /// A maximum age of zero, which would refuse every token.
    #[error("a maximum challenge age of 0 would refuse every token")]
    ZeroMaxAge,
}

/// The serde form of a policy, validated on the way in.
#[derive(Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PolicySpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hostnames: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    apk_packages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cdata: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    site_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age_secs: Option<u64>,
}

impl TryFrom<PolicySpec> for Policy {
    type Error = PolicyError;

    fn try_from(spec: PolicySpec) -> Result<Self, Self::Error> {
        let mut policy = Policy {
            action: spec.action,
            cdata: spec.cdata,
            site_key: spec.site_key,
            max_age: match spec.max_age_secs {
                Some(0) => return Err(PolicyError::ZeroMaxAge),
                secs => secs.map(Duration::from_secs),
            },
            hostnames: Vec::new(),
            apk_packages: spec.apk_packages,
            min_score: None,
        };
        for host in &spec.hostnames {
            policy = policy.allow_hostname(host)?;
        }
        if let Some(minimum) = spec.min_score {
            policy = policy.min_score(minimum)?;
        }
        Ok(policy)
    }
}

impl From<Policy> for PolicySpec {
    fn from(policy: Policy) -> Self {
        PolicySpec {
            hostnames: policy.hostnames.iter().map(ToString::to_string).collect(),
            apk_packages: policy.apk_packages,
            action: policy.action,
            cdata: policy.cdata,
            min_score: policy.min_score,
            site_key: policy.site_key,
            max_age_secs: policy.max_age.map(|d| d.as_secs()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn hostname_patterns_match_exactly_or_by_subdomain() {
        let exact: HostnamePattern = "Example.COM.".parse().unwrap();
        assert!(exact.matches("example.com"));
        assert!(exact.matches("EXAMPLE.com."));
        assert!(!exact.matches("www.example.com"));
        assert!(!exact.matches("example.com.evil.net"));

        let wild: HostnamePattern = "*.example.com".parse().unwrap();
        assert!(wild.matches("www.example.com"));
        assert!(wild.matches("a.b.EXAMPLE.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("badexample.com"));
        assert!(!wild.matches(".example.com.evil"));
        assert_eq!(wild.to_string(), "*.example.com");
        assert!(wild.matches("www.example.com."), "one trailing dot");
        assert!(wild.matches("xn--bcher-kva.example.com"), "IDN as punycode");

        for bad in [
            "",
            "*",
            "*.",
            "exa mple.com",
            "ex*ample.com",
            "a.*.com",
            "example.com:443",
            "a..b",
            "http://x",
            "under_score.example.com",
            "-lead.example.com",
            "trail-.example.com",
            "*.example.com..",
            "bücher.example",
        ] {
            assert!(
                bad.parse::<HostnamePattern>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn a_wildcard_matches_hostnames_not_suffixes() {
        let wild: HostnamePattern = "*.example.com".parse().unwrap();
        let exact: HostnamePattern = "example.com".parse().unwrap();
        let long_label = format!("{}.example.com", "a".repeat(64));
        let long_name = format!("{}example.com", "abcdefghi.".repeat(25));
        for reported in [
            "evil.com/.example.com",
            "..example.com",
            ".example.com",
            "evil.com@x.example.com",
            "evil.com:443.example.com",
            "a b.example.com",
            "a\0.example.com",
            "a\tb.example.com",
            "x.example.com..",
            "x..example.com",
            "-x.example.com",
            "x-.example.com",
            "x_y.example.com",
            "bücher.example.com",
            "[::1].example.com",
            long_label.as_str(),
            long_name.as_str(),
            "",
            ".",
        ] {
            assert!(!wild.matches(reported), "{reported:?} passed *.example.com");
        }
        for reported in [
            "example.com\0",
            "example.com ",
            " example.com",
            "example.com..",
        ] {
            assert!(!exact.matches(reported), "{reported:?} passed example.com");
        }
        let policy = Policy::new().allow_hostname("*.example.com").unwrap();
        let spliced = Verdict::new(Provider::Turnstile).with_hostname("evil.com/.example.com");
        assert_eq!(
            policy.check(&spliced, at(0)).unwrap_err().code(),
            "hostname_mismatch"
        );
    }

    #[test]
    fn empty_policy_accepts_any_verdict_without_a_score() {
        let verdict = Verdict::new(Provider::Turnstile).with_hostname("anything");
        assert_eq!(Policy::new().check(&verdict, at(0)), Ok(()));
    }

    #[test]
    fn each_check_fails_and_passes() {
        let verdict = Verdict::new(Provider::Recaptcha)
            .with_hostname("www.example.com")
            .with_action("Signup")
            .with_score(0.7)
            .with_challenge_ts(at(1_000));
        let now = at(1_060);
        let ok = |p: Policy| p.check(&verdict, now);

        assert_eq!(
            ok(Policy::new().allow_hostname("*.example.com").unwrap()),
            Ok(())
        );
        assert_eq!(
            ok(Policy::new().allow_hostname("example.com").unwrap())
                .unwrap_err()
                .code(),
            "hostname_mismatch"
        );
        assert_eq!(ok(Policy::new().action("signup")), Ok(()));
        assert_eq!(
            ok(Policy::new().action("login")).unwrap_err().code(),
            "action_mismatch"
        );
        assert_eq!(ok(Policy::new().min_score(0.7).unwrap()), Ok(()));
        assert_eq!(
            ok(Policy::new().min_score(0.71).unwrap())
                .unwrap_err()
                .code(),
            "score_below_threshold"
        );
        assert_eq!(ok(Policy::new().max_age(Duration::from_secs(60))), Ok(()));
        assert_eq!(
            ok(Policy::new().max_age(Duration::from_secs(59))).unwrap_err(),
            VerifyError::ChallengeTooOld {
                age: Some(Duration::from_secs(60)),
                max_age: Duration::from_secs(59)
            }
        );
        // Clock skew: a challenge a little "from the future" is not old...
        let skewed = Policy::new().max_age(Duration::from_secs(1));
        assert_eq!(skewed.check(&verdict, at(999)), Ok(()));
        // ...but one far ahead of our clock is no time to trust.
        assert_eq!(
            skewed.check(&verdict, at(900)).unwrap_err().code(),
            "challenge_too_old"
        );
    }

    #[test]
    fn missing_facts_fail_closed() {
        let bare = Verdict::new(Provider::HCaptcha);
        let now = at(10);
        assert_eq!(
            Policy::new().min_score(0.1).unwrap().check(&bare, now),
            Err(VerifyError::ScoreMissing)
        );
        assert_eq!(
            Policy::new()
                .allow_hostname("a.com")
                .unwrap()
                .check(&bare, now)
                .unwrap_err()
                .code(),
            "hostname_mismatch"
        );
        assert_eq!(
            Policy::new()
                .max_age(Duration::from_secs(5))
                .check(&bare, now)
                .unwrap_err()
                .code(),
            "challenge_too_old"
        );
        let turnstile = Verdict::new(Provider::Turnstile);
        assert_eq!(
            Policy::new()
                .action("x")
                .check(&turnstile, now)
                .unwrap_err()
                .code(),
            "action_mismatch"
        );
        assert_eq!(
            Policy::new().cdata("x").check(&turnstile, now),
            Err(VerifyError::CdataMismatch)
        );
        let byebot = Verdict::new(Provider::ByeBot);
        assert_eq!(
            Policy::new()
                .site_key("k")
                .check(&byebot, now)
                .unwrap_err()
                .code(),
            "sitekey_mismatch"
        );
    }

    #[test]
    fn site_key_binding_compares_the_reported_key() {
        let verdict = Verdict::new(Provider::ByeBot).with_site_key("site-a");
        let now = at(0);
        assert_eq!(
            Policy::new().site_key("site-a").check(&verdict, now),
            Ok(())
        );
        assert_eq!(
            Policy::new().site_key("site-b").check(&verdict, now),
            Err(VerifyError::SitekeyMismatch {
                expected: "site-b".into(),
                actual: Some("site-a".into())
            })
        );
    }

    #[test]
    fn a_bound_site_key_needs_a_verdict_that_names_it() {
        // An unbound hCaptcha verdict (an outer layer sent no sitekey) proves nothing.
        let unbound = Verdict::new(Provider::HCaptcha);
        assert_eq!(
            Policy::new()
                .site_key("hard-key")
                .check(&unbound, at(0))
                .unwrap_err()
                .code(),
            "sitekey_mismatch"
        );
        let bound = Verdict::new(Provider::HCaptcha).with_site_key("hard-key");
        assert_eq!(
            Policy::new().site_key("hard-key").check(&bound, at(0)),
            Ok(())
        );
    }

    #[test]
    fn android_apps_are_allowed_by_package() {
        let android = Verdict {
            apk_package_name: Some("com.example.app".into()),
            ..Verdict::new(Provider::Recaptcha)
        };
        let web_only = Policy::new().allow_hostname("example.com").unwrap();
        assert_eq!(
            web_only.check(&android, at(0)).unwrap_err().code(),
            "hostname_mismatch"
        );
        let both = web_only.clone().allow_apk_package("com.example.app");
        assert_eq!(both.check(&android, at(0)), Ok(()));
        assert_eq!(
            both.check(
                &Verdict::new(Provider::Recaptcha).with_hostname("example.com"),
                at(0)
            ),
            Ok(())
        );
        let other_app = Verdict {
            apk_package_name: Some("com.evil.app".into()),
            ..Verdict::new(Provider::Recaptcha)
        };
        assert_eq!(
            both.check(&other_app, at(0)).unwrap_err().code(),
            "hostname_mismatch"
        );
        assert!(
            Policy::new()
                .allow_apk_package("x")
                .validate_for(Provider::Turnstile)
                .is_err()
        );
    }

    #[test]
    fn risk_scores_are_compared_after_normalisation() {
        // hCaptcha 0.9 risk = 0.1 human.
        let bot = Verdict::new(Provider::HCaptcha).with_score(0.9);
        let policy = Policy::new().min_score(0.5).unwrap();
        assert_eq!(
            policy.check(&bot, at(0)).unwrap_err().code(),
            "score_below_threshold"
        );
        let human = Verdict::new(Provider::Procaptcha).with_score(0.1);
        assert_eq!(policy.check(&human, at(0)), Ok(()));
    }

    #[test]
    fn recaptcha_v3_gets_a_default_threshold_unless_one_is_set() {
        let low = Verdict::new(Provider::Recaptcha).with_score(0.3);
        assert_eq!(
            Policy::new().check(&low, at(0)).unwrap_err().code(),
            "score_below_threshold"
        );
        assert_eq!(
            Policy::new().min_score(0.0).unwrap().check(&low, at(0)),
            Ok(())
        );
        // v2 answers carry no score and need none.
        assert_eq!(
            Policy::new().check(&Verdict::new(Provider::Recaptcha), at(0)),
            Ok(())
        );
    }

    #[test]
    fn a_route_policy_inherits_what_it_leaves_unset() {
        let base = Policy::new()
            .allow_hostname("example.com")
            .unwrap()
            .site_key("site-a")
            .min_score(0.3)
            .unwrap();
        let route = Policy::new().action("checkout").min_score(0.9).unwrap();
        let layered = route.layered_over(&base);
        assert_eq!(layered.hostnames(), base.hostnames());
        assert_eq!(layered.expected_site_key(), Some("site-a"));
        assert_eq!(layered.minimum_score(), Some(0.9));
        assert_eq!(layered.expected_action(), Some("checkout"));

        let evil = Verdict::new(Provider::Recaptcha)
            .with_hostname("evil.test")
            .with_site_key("site-a")
            .with_action("checkout")
            .with_score(0.95);
        assert_eq!(
            route.check(&evil, at(0)),
            Ok(()),
            "alone, the route checks no hostname"
        );
        assert_eq!(
            route.check_over(&base, &evil, at(0)).unwrap_err().code(),
            "hostname_mismatch"
        );
        assert_eq!(
            layered.check(&evil, at(0)).unwrap_err().code(),
            "hostname_mismatch"
        );
        let good = evil.clone().with_hostname("example.com");
        assert_eq!(route.check_over(&base, &good, at(0)), Ok(()));
        let meek = good.with_score(0.5);
        assert_eq!(
            route.check_over(&base, &meek, at(0)).unwrap_err().code(),
            "score_below_threshold"
        );
    }

    #[test]
    fn a_route_allowlist_replaces_the_base_one_in_every_way_of_applying_it() {
        // The case found from outside: the base allows a hostname, the route an Android app,
        // the verdict comes from that hostname. One allowlist, so the route's replaces it.
        let base = Policy::new().allow_hostname("example.com").unwrap();
        let route = Policy::new().allow_apk_package("com.example.app");
        let web = Verdict::new(Provider::Recaptcha).with_hostname("example.com");
        let layered = route.layered_over(&base);
        assert!(layered.hostnames().is_empty());
        assert_eq!(layered.apk_packages(), ["com.example.app"]);
        assert_eq!(
            layered.check(&web, at(0)),
            route.check_over(&base, &web, at(0))
        );
        assert_eq!(
            route.check_over(&base, &web, at(0)).unwrap_err().code(),
            "hostname_mismatch"
        );
    }

    #[test]
    fn scores_outside_the_range_pass_no_minimum() {
        let policy = Policy::new().min_score(0.5).unwrap();
        for raw in [1.5, f64::NAN, f64::INFINITY] {
            let verdict = Verdict::new(Provider::Recaptcha).with_score(raw);
            assert_eq!(
                policy.check(&verdict, at(0)).unwrap_err().code(),
                "score_below_threshold",
                "{raw}"
            );
            assert!(
                Policy::new().check(&verdict, at(0)).is_err(),
                "the v3 default minimum refuses {raw} too"
            );
        }
        let risk = Verdict::new(Provider::HCaptcha).with_score(-0.5);
        assert!(policy.check(&risk, at(0)).is_err(), "a risk of -0.5");
    }

    mod layering {
        use proptest::prelude::*;

        use super::*;

        fn policy() -> impl Strategy<Value = Policy> {
            (
                proptest::sample::subsequence(
                    vec!["example.com", "*.example.com", "other.test"],
                    0..=3,
                ),
                proptest::option::of(Just("com.example.app")),
                proptest::option::of(prop_oneof![Just("signup"), Just("login")]),
                proptest::option::of(Just("cd")),
                proptest::option::of(prop_oneof![Just(0.3), Just(0.8)]),
                proptest::option::of(Just("site-a")),
                proptest::option::of(prop_oneof![Just(30u64), Just(300)]),
            )
                .prop_map(|(hosts, apk, action, cdata, min, key, age)| {
                    let mut p = Policy::new();
                    for h in hosts {
                        p = p.allow_hostname(h).unwrap();
                    }
                    if let Some(apk) = apk {
                        p = p.allow_apk_package(apk);
                    }
                    if let Some(a) = action {
                        p = p.action(a);
                    }
                    if let Some(c) = cdata {
                        p = p.cdata(c);
                    }
                    if let Some(m) = min {
                        p = p.min_score(m).unwrap();
                    }
                    if let Some(k) = key {
                        p = p.site_key(k);
                    }
                    if let Some(a) = age {
                        p = p.max_age(Duration::from_secs(a));
                    }
                    p
                })
        }

        fn verdict() -> impl Strategy<Value = Verdict> {
            (
                prop_oneof![
                    Just(Provider::Recaptcha),
                    Just(Provider::Turnstile),
                    Just(Provider::HCaptcha)
                ],
                proptest::option::of(prop_oneof![
                    Just("example.com"),
                    Just("www.example.com"),
                    Just("other.test"),
                    Just("evil.test")
                ]),
                proptest::option::of(prop_oneof![Just("com.example.app"), Just("com.evil")]),
                proptest::option::of(prop_oneof![Just("signup"), Just("LOGIN")]),
                proptest::option::of(Just("cd")),
                proptest::option::of(prop_oneof![Just(0.1), Just(0.5), Just(0.9)]),
                proptest::option::of(Just("site-a")),
                proptest::option::of(prop_oneof![Just(10u64), Just(100), Just(1000)]),
            )
                .prop_map(|(provider, host, apk, action, cdata, score, key, age)| {
                    let mut v = Verdict::new(provider);
                    v.hostname = host.map(str::to_owned);
                    v.apk_package_name = apk.map(str::to_owned);
                    v.action = action.map(str::to_owned);
                    v.cdata = cdata.map(str::to_owned);
                    if let Some(s) = score {
                        v = v.with_score(s);
                    }
                    v.site_key = key.map(str::to_owned);
                    v.challenge_ts = age.map(|a| at(10_000 - a));
                    v
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Every public way of applying a route policy over a base agrees, and laying the
            /// result over the base again changes nothing (the layer lays a route over the
            /// verifier's policy once, and the verifier lays it again).
            #[test]
            fn every_way_of_layering_agrees(route in policy(), base in policy(), v in verdict()) {
                let now = at(10_000);
                let layered = route.layered_over(&base);
                let direct = route.check_over(&base, &v, now);
                prop_assert_eq!(&layered.check(&v, now), &direct);
                prop_assert_eq!(&layered.check_over(&base, &v, now), &direct);
                prop_assert_eq!(&layered.layered_over(&base), &layered);
                prop_assert_eq!(&route.check_over(&Policy::new(), &v, now), &route.check(&v, now));
            }
        }
    }

    #[test]
    fn min_score_is_validated() {
        assert_eq!(
            Policy::new().min_score(1.5).unwrap_err(),
            PolicyError::ScoreOutOfRange
        );
        assert_eq!(
            Policy::new().min_score(f64::NAN).unwrap_err(),
            PolicyError::ScoreOutOfRange
        );
        assert!(Policy::new().min_score(-0.1).is_err());
    }

    #[test]
    fn unsupported_checks_are_refused_per_provider() {
        let score = Policy::new().min_score(0.5).unwrap();
        assert!(score.validate_for(Provider::Turnstile).is_err());
        assert!(score.validate_for(Provider::ByeBot).is_err());
        assert!(score.validate_for(Provider::Recaptcha).is_ok());
        assert!(
            Policy::new()
                .action("a")
                .validate_for(Provider::HCaptcha)
                .is_err()
        );
        assert!(
            Policy::new()
                .cdata("a")
                .validate_for(Provider::Recaptcha)
                .is_err()
        );
        assert!(
            Policy::new()
                .site_key("k")
                .validate_for(Provider::Turnstile)
                .is_err()
        );
        assert!(
            Policy::new()
                .site_key("k")
                .validate_for(Provider::HCaptcha)
                .is_ok()
        );
        let age = Policy::new().max_age(Duration::from_secs(1));
        assert!(age.validate_for(Provider::Procaptcha).is_err());
        assert!(age.validate_for(Provider::ByeBot).is_ok());
        let err = score
            .validate_for(Provider::Turnstile)
            .unwrap_err()
            .to_string();
        assert!(err.contains("turnstile") && err.contains("score"), "{err}");
    }

    #[test]
    fn serde_round_trip_validates() {
        let policy: Policy = serde_json::from_str(
            r#"{"hostnames":["example.com","*.example.org"],"action":"signup","min_score":0.5,"max_age_secs":120}"#,
        )
        .unwrap();
        assert_eq!(policy.hostnames().len(), 2);
        assert_eq!(policy.maximum_age(), Some(Duration::from_secs(120)));
        let back: Policy = serde_json::from_value(serde_json::to_value(&policy).unwrap()).unwrap();
        assert_eq!(back, policy);
        assert!(serde_json::from_str::<Policy>(r#"{"min_score": 2}"#).is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"hostnames": ["a b"]}"#).is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"hostname": ["typo.com"]}"#).is_err());
        assert_eq!(
            serde_json::from_str::<Policy>(r#"{"max_age_secs": 0}"#)
                .unwrap_err()
                .to_string(),
            "a maximum challenge age of 0 would refuse every token"
        );
    }
}
