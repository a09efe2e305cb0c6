//! The ALTCHA part of [`CaptchaConfig`](super::CaptchaConfig): the self-hosted proof of work
//! has no verify endpoint, timeouts or hostnames, but a key to rotate, a difficulty, a
//! challenge lifetime and a replay store.
//!
//! The environment and a configuration file give the same values in their own syntax; both
//! hand them to [`AltchaParts::build`], the one place their rules live.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, de::IgnoredAny};
use siteverify::{
    Policy, Secret,
    altcha::{AltchaConfig, ChallengeKind, V2Algorithm},
};

/// The ALTCHA configuration of a [`CaptchaConfig`](super::CaptchaConfig): the verifier's
/// settings, and where its replay store is.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AltchaSettings {
    /// Key, previous key, challenge kind and lifetime, policy. Its store is the default
    /// in-memory one unless [`redis_url`](Self::redis_url) replaces it on
    /// [`connect`](super::CaptchaConfig::connect).
    pub config: AltchaConfig,
    /// The Redis server that holds spent challenges for every app instance, as
    /// `redis://[user:password@]host:port[/db]`; `None` keeps them in this process's memory.
    /// A [`Secret`]: the URL may carry a password.
    pub redis_url: Option<Secret>,
}

impl AltchaSettings {
    /// These settings, with the replay store in memory.
    pub fn new(config: AltchaConfig) -> Self {
        Self {
            config,
            redis_url: None,
        }
    }

    /// Spent challenges in the Redis server at `url` (needs the `redis` feature).
    pub fn redis_url(mut self, url: impl Into<Secret>) -> Self {
        self.redis_url = Some(url.into());
        self
    }
}

// The suffixes of the environment variables; a configuration file's keys are the same in
// lowercase.
pub(super) const REDIS_URL: &str = "REDIS_URL";
pub(super) const MAX_NUMBER: &str = "ALTCHA_MAX_NUMBER";
pub(super) const LIFETIME_SECS: &str = "ALTCHA_LIFETIME_SECS";
pub(super) const V2_ALGORITHM: &str = "ALTCHA_V2_ALGORITHM";
pub(super) const V2_COST: &str = "ALTCHA_V2_COST";
pub(super) const V2_PREFIX_DIGITS: &str = "ALTCHA_V2_PREFIX_DIGITS";
pub(super) const PREVIOUS_SECRET: &str = "PREVIOUS_SECRET";
pub(super) const PREVIOUS_SECRET_UNTIL: &str = "PREVIOUS_SECRET_UNTIL";

/// The settings only ALTCHA has.
pub(super) const SUFFIXES: [&str; 8] = [
    REDIS_URL,
    MAX_NUMBER,
    LIFETIME_SECS,
    V2_ALGORITHM,
    V2_COST,
    V2_PREFIX_DIGITS,
    PREVIOUS_SECRET,
    PREVIOUS_SECRET_UNTIL,
];

/// The v2 derivations, by the names ALTCHA gives them.
const V2_ALGORITHMS: [V2Algorithm; 6] = [
    V2Algorithm::Sha256,
    V2Algorithm::Sha384,
    V2Algorithm::Sha512,
    V2Algorithm::Pbkdf2Sha256,
    V2Algorithm::Pbkdf2Sha384,
    V2Algorithm::Pbkdf2Sha512,
];

/// A setting that cannot be used: the suffix at fault, what it needs (another suffix), and
/// why. The environment and the file each name the setting their way.
#[derive(Debug)]
pub(super) struct Fault {
    pub(super) suffix: &'static str,
    pub(super) needs: Option<&'static str>,
    pub(super) reason: String,
}

fn invalid(suffix: &'static str, reason: impl Into<String>) -> Fault {
    Fault {
        suffix,
        needs: None,
        reason: reason.into(),
    }
}

/// ALTCHA's settings as given, typed but not yet checked against each other.
#[derive(Default, Deserialize)]
pub(super) struct AltchaParts {
    #[serde(default)]
    pub(super) redis_url: Option<Secret>,
    #[serde(default, rename = "altcha_max_number")]
    pub(super) max_number: Option<u64>,
    #[serde(default, rename = "altcha_lifetime_secs")]
    pub(super) lifetime_secs: Option<u64>,
    #[serde(default, rename = "altcha_v2_algorithm")]
    pub(super) v2_algorithm: Option<String>,
    #[serde(default, rename = "altcha_v2_cost")]
    pub(super) v2_cost: Option<u64>,
    #[serde(default, rename = "altcha_v2_prefix_digits")]
    pub(super) v2_prefix_digits: Option<u64>,
    #[serde(default)]
    pub(super) previous_secret: Option<Secret>,
    #[serde(default)]
    pub(super) previous_secret_until: Option<String>,
}

impl AltchaParts {
    /// Reads the environment's text values; `get` gives a suffix's trimmed value, if set.
    pub(super) fn from_text(
        get: &mut dyn FnMut(&'static str) -> Option<String>,
    ) -> Result<Self, Fault> {
        let number = |suffix: &'static str, text: Option<String>| {
            text.map(|text| {
                text.parse::<u64>()
                    .map_err(|_| invalid(suffix, "not a whole number"))
            })
            .transpose()
        };
        Ok(Self {
            redis_url: get(REDIS_URL).map(Secret::new),
            max_number: number(MAX_NUMBER, get(MAX_NUMBER))?,
            lifetime_secs: number(LIFETIME_SECS, get(LIFETIME_SECS))?,
            v2_algorithm: get(V2_ALGORITHM),
            v2_cost: number(V2_COST, get(V2_COST))?,
            v2_prefix_digits: number(V2_PREFIX_DIGITS, get(V2_PREFIX_DIGITS))?,
            previous_secret: get(PREVIOUS_SECRET).map(Secret::new),
            previous_secret_until: get(PREVIOUS_SECRET_UNTIL),
        })
    }

    /// The settings, or the first one that cannot be used. Ranges are checked here, not left
    /// to [`AltchaVerifier::new`](siteverify::altcha::AltchaVerifier::new), so that the
    /// error names the setting.
    pub(super) fn build(self, secret: Secret, policy: Policy) -> Result<AltchaSettings, Fault> {
        if !cfg!(feature = "redis") && self.redis_url.is_some() {
            return Err(invalid(
                REDIS_URL,
                "needs tower-captcha's `redis` feature, which this build lacks",
            ));
        }
        let mut config = AltchaConfig::new(secret).policy(policy);
        if let Some(secs) = self.lifetime_secs {
            if !(1..=86_400).contains(&secs) {
                return Err(invalid(LIFETIME_SECS, "must be between 1 and 86400 seconds"));
            }
            config = config.lifetime(Duration::from_secs(secs));
        }
        config = config.kind(self.kind()?);
        match (self.previous_secret, self.previous_secret_until) {
            (Some(previous), Some(until)) => {
                let until = time::OffsetDateTime::parse(
                    &until,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|_| {
                    invalid(
                        PREVIOUS_SECRET_UNTIL,
                        "not an RFC 3339 time such as 2026-05-01T12:00:00Z",
                    )
                })?;
                config = config.previous_key(previous, SystemTime::from(until));
            }
            (Some(_), None) => {
                return Err(Fault {
                    suffix: PREVIOUS_SECRET,
                    needs: Some(PREVIOUS_SECRET_UNTIL),
                    reason: "a retired key is accepted for a grace period only: say when it ends \
                             (at least one challenge lifetime after the switch)"
                        .to_owned(),
                });
            }
            (None, Some(_)) => {
                return Err(Fault {
                    suffix: PREVIOUS_SECRET_UNTIL,
                    needs: Some(PREVIOUS_SECRET),
                    reason: "it is the end of the previous key's grace period".to_owned(),
                });
            }
            (None, None) => {}
        }
        Ok(AltchaSettings {
            config,
            redis_url: self.redis_url,
        })
    }

    /// Classic unless a v2 algorithm is named; v2 then needs its cost and prefix, since no
    /// default difficulty suits both a plain hash and PBKDF2.
    fn kind(&self) -> Result<ChallengeKind, Fault> {
        let Some(name) = &self.v2_algorithm else {
            for (suffix, set) in [
                (V2_COST, self.v2_cost.is_some()),
                (V2_PREFIX_DIGITS, self.v2_prefix_digits.is_some()),
            ] {
                if set {
                    return Err(Fault {
                        suffix,
                        needs: Some(V2_ALGORITHM),
                        reason: "it sets the difficulty of v2 challenges, which only a v2 \
                                 algorithm turns on"
                            .to_owned(),
                    });
                }
            }
            let max_number = self
                .max_number
                .unwrap_or(siteverify::altcha::DEFAULT_MAX_NUMBER);
            if max_number == 0 {
                return Err(invalid(MAX_NUMBER, "must be at least 1"));
            }
            return Ok(ChallengeKind::Classic { max_number });
        };
        if self.max_number.is_some() {
            return Err(invalid(
                MAX_NUMBER,
                "is the difficulty of classic challenges; v2 ones (ALTCHA_V2_ALGORITHM is set) \
                 take ALTCHA_V2_COST and ALTCHA_V2_PREFIX_DIGITS",
            ));
        }
        let algorithm = V2_ALGORITHMS
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<&str> = V2_ALGORITHMS.iter().map(|a| a.name()).collect();
                invalid(V2_ALGORITHM, format!("expected one of {}", names.join(", ")))
            })?;
        let needed = |suffix: &'static str, value: Option<u64>| {
            value.ok_or(Fault {
                suffix: V2_ALGORITHM,
                needs: Some(suffix),
                reason: "v2 challenges have no default difficulty: set the cost (hash rounds or \
                         PBKDF2 iterations) and the key prefix length in hex digits"
                    .to_owned(),
            })
        };
        let cost = needed(V2_COST, self.v2_cost)?;
        let cost = u32::try_from(cost)
            .ok()
            .filter(|cost| *cost >= 1)
            .ok_or_else(|| invalid(V2_COST, "must be between 1 and 4294967295"))?;
        let digits = needed(V2_PREFIX_DIGITS, self.v2_prefix_digits)?;
        let prefix_digits = u8::try_from(digits)
            .ok()
            .filter(|digits| (1..=16).contains(digits))
            .ok_or_else(|| invalid(V2_PREFIX_DIGITS, "must be between 1 and 16"))?;
        Ok(ChallengeKind::V2 {
            algorithm,
            cost,
            prefix_digits,
        })
    }
}

/// A configuration file's ALTCHA keys: the secret, the policy (action, maximum age) and
/// [`AltchaParts`]; anything else is a mistake, named.
#[derive(Deserialize)]
pub(super) struct AltchaFile {
    pub(super) secret: Secret,
    #[serde(flatten)]
    pub(super) parts: AltchaParts,
    #[serde(flatten)]
    pub(super) policy: Policy,
    /// What none of the above knows: `flatten` would drop it silently.
    #[serde(flatten)]
    pub(super) unknown: BTreeMap<String, IgnoredAny>,
}
