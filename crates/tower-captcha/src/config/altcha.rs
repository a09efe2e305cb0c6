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
    altcha::{AltchaConfig, ChallengeKind, MAX_V2_COST, V2Algorithm},
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
pub(super) const STORE_CAPACITY: &str = "ALTCHA_STORE_CAPACITY";

/// The largest in-memory store the environment can ask for: 100 million live challenges,
/// some 18 GB; a typo past it is refused rather than reserved.
const MAX_STORE_CAPACITY: u64 = 100_000_000;

/// The settings only ALTCHA has.
pub(super) const SUFFIXES: [&str; 9] = [
    REDIS_URL,
    STORE_CAPACITY,
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
    #[serde(default, rename = "altcha_store_capacity")]
    pub(super) store_capacity: Option<u64>,
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
            store_capacity: number(STORE_CAPACITY, get(STORE_CAPACITY))?,
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
        if let Some(capacity) = self.store_capacity {
            if self.redis_url.is_some() {
                return Err(invalid(
                    STORE_CAPACITY,
                    "is the size of the in-memory store; with REDIS_URL, Redis holds the \
                     spent challenges (bound it with Redis's own maxmemory)",
                ));
            }
            if !(1..=MAX_STORE_CAPACITY).contains(&capacity) {
                return Err(invalid(
                    STORE_CAPACITY,
                    format!("must be between 1 and {MAX_STORE_CAPACITY} live challenges"),
                ));
            }
            let capacity = usize::try_from(capacity)
                .map_err(|_| invalid(STORE_CAPACITY, "too large for this machine"))?;
            config = config.store(siteverify::altcha::MemoryStore::new(capacity));
        }
        if let Some(secs) = self.lifetime_secs {
            if !(1..=86_400).contains(&secs) {
                return Err(invalid(
                    LIFETIME_SECS,
                    "must be between 1 and 86400 seconds",
                ));
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
                invalid(
                    V2_ALGORITHM,
                    format!("expected one of {}", names.join(", ")),
                )
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
        // The verifier's own bound, named here so that the error names the variable.
        let cost = u32::try_from(cost)
            .ok()
            .filter(|cost| (1..=MAX_V2_COST).contains(cost))
            .ok_or_else(|| invalid(V2_COST, format!("must be between 1 and {MAX_V2_COST}")))?;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use siteverify::{
        Provider, VerifyOptions,
        altcha::{AltchaConfig, AltchaVerifier, ChallengeKind, V2Algorithm},
    };

    use crate::{CaptchaConfig, EnvError, VerifierSettings, config::BuildError};

    const KEY: &str = "altcha-hmac-DO-NOT-LEAK-51c2-0123456789abcdef";
    const OLD_KEY: &str = "altcha-old-hmac-DO-NOT-LEAK-0d9e-0123456789abcdef";

    fn vars(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = vec![("CAPTCHA_PROVIDER", "altcha"), ("CAPTCHA_SECRET", KEY)];
        vars.extend_from_slice(extra);
        vars
    }

    fn parse(extra: &[(&'static str, &'static str)]) -> Result<CaptchaConfig, EnvError> {
        CaptchaConfig::from_vars("CAPTCHA", vars(extra))
    }

    fn settings(config: &CaptchaConfig) -> &super::AltchaSettings {
        match &config.verifier {
            VerifierSettings::Altcha(settings) => settings,
            other => panic!("not altcha: {other:?}"),
        }
    }

    async fn verifier(config: &CaptchaConfig) -> AltchaVerifier {
        config
            .connect()
            .await
            .unwrap()
            .as_altcha()
            .expect("an ALTCHA verifier")
            .clone()
    }

    /// The configured verifier accepts what a verifier signing with `key` issued.
    async fn accepts_key_of(verifier: &AltchaVerifier, key: &str) -> bool {
        // A short lifetime: a challenge living longer than the verifier's is not its own.
        let issuer =
            AltchaVerifier::new(AltchaConfig::new(key).lifetime(Duration::from_secs(30))).unwrap();
        let challenge = issuer.challenge_for(verifier.policy().expected_action());
        let altcha = siteverify::altcha::solve(&challenge).unwrap();
        verifier
            .verify(&altcha, &VerifyOptions::new())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn provider_and_secret_make_an_altcha_verifier_with_a_memory_store() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.provider, Provider::Altcha);
        assert!(settings(&config).redis_url.is_none());
        let verifier = verifier(&config).await;
        let challenge = verifier.challenge();
        assert!(challenge.as_json().get("maxnumber").is_some(), "classic");
        let altcha = siteverify::altcha::solve(&challenge).unwrap();
        assert!(
            verifier
                .verify(&altcha, &VerifyOptions::new())
                .await
                .is_ok()
        );
        assert!(accepts_key_of(&verifier, KEY).await);
        assert!(!accepts_key_of(&verifier, "another key, just as long as the real one").await);
        // The sync, hosted-only builder says why it cannot.
        let err = config.build_verifier().unwrap_err();
        assert_eq!(err, siteverify::ConfigError::NotHosted(Provider::Altcha));
    }

    #[tokio::test]
    async fn action_and_max_age_are_the_policy() {
        let config =
            parse(&[("CAPTCHA_ACTION", "signup"), ("CAPTCHA_MAX_AGE_SECS", "30")]).unwrap();
        let verifier = verifier(&config).await;
        assert_eq!(verifier.policy().expected_action(), Some("signup"));
        let wrong = siteverify::altcha::solve(&verifier.challenge_for(Some("login"))).unwrap();
        let err = verifier
            .verify(&wrong, &VerifyOptions::new())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "action_mismatch");
    }

    #[test]
    fn difficulty_and_lifetime_are_read() {
        let config = parse(&[
            ("CAPTCHA_ALTCHA_MAX_NUMBER", "1000"),
            ("CAPTCHA_ALTCHA_LIFETIME_SECS", "60"),
        ])
        .unwrap();
        let expected = AltchaConfig::new(KEY)
            .kind(ChallengeKind::Classic { max_number: 1000 })
            .lifetime(Duration::from_secs(60));
        assert_eq!(
            format!("{:?}", settings(&config).config),
            format!("{expected:?}")
        );
        let verifier = AltchaVerifier::new(settings(&config).config.clone()).unwrap();
        assert_eq!(verifier.challenge().as_json()["maxnumber"], 1000);
        for (var, value) in [
            ("CAPTCHA_ALTCHA_MAX_NUMBER", "0"),
            ("CAPTCHA_ALTCHA_MAX_NUMBER", "many"),
            ("CAPTCHA_ALTCHA_LIFETIME_SECS", "0"),
            ("CAPTCHA_ALTCHA_LIFETIME_SECS", "86401"),
            ("CAPTCHA_ALTCHA_LIFETIME_SECS", "5m"),
        ] {
            let err = parse(&[(var, value)]).unwrap_err();
            assert_eq!(err.var(), var, "{value}: {err}");
        }
    }

    #[tokio::test]
    async fn the_memory_store_holds_as_many_challenges_as_configured_and_refuses_more() {
        let config = parse(&[("CAPTCHA_ALTCHA_STORE_CAPACITY", "2")]).unwrap();
        let verifier = verifier(&config).await;
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            let altcha = siteverify::altcha::solve(&verifier.challenge()).unwrap();
            let outcome = verifier.verify(&altcha, &VerifyOptions::new()).await;
            outcomes.push(outcome.map(|_| "ok").unwrap_or_else(|e| e.code()));
        }
        assert_eq!(
            outcomes,
            ["ok", "ok", "provider_unavailable"],
            "full, never evicting"
        );
        for value in ["0", "100000001", "lots"] {
            let err = parse(&[("CAPTCHA_ALTCHA_STORE_CAPACITY", value)]).unwrap_err();
            assert_eq!(err.var(), "CAPTCHA_ALTCHA_STORE_CAPACITY", "{value}");
        }
        if cfg!(feature = "redis") {
            let err = parse(&[
                ("CAPTCHA_ALTCHA_STORE_CAPACITY", "10"),
                ("CAPTCHA_REDIS_URL", "redis://127.0.0.1:1/"),
            ])
            .unwrap_err();
            assert_eq!(err.var(), "CAPTCHA_ALTCHA_STORE_CAPACITY", "{err}");
        }
    }

    #[test]
    fn v2_is_chosen_by_its_algorithm_with_cost_and_prefix() {
        let config = parse(&[
            ("CAPTCHA_ALTCHA_V2_ALGORITHM", "pbkdf2/sha-256"),
            ("CAPTCHA_ALTCHA_V2_COST", "10"),
            ("CAPTCHA_ALTCHA_V2_PREFIX_DIGITS", "2"),
        ])
        .unwrap();
        let expected = AltchaConfig::new(KEY).kind(ChallengeKind::V2 {
            algorithm: V2Algorithm::Pbkdf2Sha256,
            cost: 10,
            prefix_digits: 2,
        });
        assert_eq!(
            format!("{:?}", settings(&config).config),
            format!("{expected:?}")
        );
        let verifier = AltchaVerifier::new(settings(&config).config.clone()).unwrap();
        let challenge = verifier.challenge();
        let parameters = &challenge.as_json()["parameters"];
        assert_eq!(parameters["algorithm"], "PBKDF2/SHA-256");
        assert_eq!(parameters["cost"], 10);
        assert_eq!(parameters["keyPrefix"], "00");

        let v2 = |extra: &[(&'static str, &'static str)]| {
            let mut all = vec![
                ("CAPTCHA_ALTCHA_V2_ALGORITHM", "SHA-256"),
                ("CAPTCHA_ALTCHA_V2_COST", "1"),
                ("CAPTCHA_ALTCHA_V2_PREFIX_DIGITS", "3"),
            ];
            all.extend_from_slice(extra);
            parse(&all)
        };
        assert!(v2(&[]).is_ok());
        // The most the verifier derives is accepted, and builds a verifier.
        let most = v2(&[("CAPTCHA_ALTCHA_V2_COST", "10000")]).unwrap();
        let most = AltchaVerifier::new(settings(&most).config.clone()).unwrap();
        assert_eq!(most.challenge().as_json()["parameters"]["cost"], 10_000);
        let err = v2(&[("CAPTCHA_ALTCHA_V2_COST", "10001")]).unwrap_err();
        assert!(err.to_string().contains("between 1 and 10000"), "{err}");
        for (var, value, at_fault) in [
            (
                "CAPTCHA_ALTCHA_V2_ALGORITHM",
                "SCRYPT",
                "CAPTCHA_ALTCHA_V2_ALGORITHM",
            ),
            ("CAPTCHA_ALTCHA_V2_COST", "0", "CAPTCHA_ALTCHA_V2_COST"),
            // Above what the verifier derives: refused here, by name, not later at connect.
            ("CAPTCHA_ALTCHA_V2_COST", "10001", "CAPTCHA_ALTCHA_V2_COST"),
            (
                "CAPTCHA_ALTCHA_V2_COST",
                "4294967296",
                "CAPTCHA_ALTCHA_V2_COST",
            ),
            (
                "CAPTCHA_ALTCHA_V2_PREFIX_DIGITS",
                "17",
                "CAPTCHA_ALTCHA_V2_PREFIX_DIGITS",
            ),
            (
                "CAPTCHA_ALTCHA_V2_PREFIX_DIGITS",
                "0",
                "CAPTCHA_ALTCHA_V2_PREFIX_DIGITS",
            ),
            // Classic's difficulty with v2 challenges would do nothing.
            (
                "CAPTCHA_ALTCHA_MAX_NUMBER",
                "10",
                "CAPTCHA_ALTCHA_MAX_NUMBER",
            ),
        ] {
            let err = v2(&[(var, value)]).unwrap_err();
            assert_eq!(err.var(), at_fault, "{var}={value}: {err}");
        }
        let err = parse(&[("CAPTCHA_ALTCHA_V2_ALGORITHM", "SCRYPT")]).unwrap_err();
        assert!(
            err.to_string().contains("PBKDF2/SHA-512"),
            "the names are listed: {err}"
        );
        // No default difficulty for v2, and no v2 difficulty without v2.
        let err = parse(&[
            ("CAPTCHA_ALTCHA_V2_ALGORITHM", "SHA-256"),
            ("CAPTCHA_ALTCHA_V2_PREFIX_DIGITS", "3"),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("CAPTCHA_ALTCHA_V2_ALGORITHM needs CAPTCHA_ALTCHA_V2_COST: "),
            "{err}"
        );
        for var in ["CAPTCHA_ALTCHA_V2_COST", "CAPTCHA_ALTCHA_V2_PREFIX_DIGITS"] {
            let err = parse(&[(var, "2")]).unwrap_err();
            assert!(
                matches!(&err, EnvError::Needs { var: v, needs, .. } if v == var && needs == "CAPTCHA_ALTCHA_V2_ALGORITHM"),
                "{err:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_previous_secret_is_accepted_until_its_end() {
        let config = parse(&[
            ("CAPTCHA_PREVIOUS_SECRET", OLD_KEY),
            ("CAPTCHA_PREVIOUS_SECRET_UNTIL", "2999-01-01T00:00:00Z"),
        ])
        .unwrap();
        let rotated = verifier(&config).await;
        assert!(accepts_key_of(&rotated, OLD_KEY).await);
        assert!(accepts_key_of(&rotated, KEY).await);
        let ended = parse(&[
            ("CAPTCHA_PREVIOUS_SECRET", OLD_KEY),
            ("CAPTCHA_PREVIOUS_SECRET_UNTIL", "2001-01-01T00:00:00+02:00"),
        ])
        .unwrap();
        assert!(!accepts_key_of(&verifier(&ended).await, OLD_KEY).await);

        let err = parse(&[("CAPTCHA_PREVIOUS_SECRET", OLD_KEY)]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("CAPTCHA_PREVIOUS_SECRET needs CAPTCHA_PREVIOUS_SECRET_UNTIL: "),
            "{err}"
        );
        assert!(!err.to_string().contains(OLD_KEY));
        let err = parse(&[("CAPTCHA_PREVIOUS_SECRET_UNTIL", "2999-01-01T00:00:00Z")]).unwrap_err();
        assert_eq!(err.var(), "CAPTCHA_PREVIOUS_SECRET_UNTIL");
        let err = parse(&[
            ("CAPTCHA_PREVIOUS_SECRET", OLD_KEY),
            ("CAPTCHA_PREVIOUS_SECRET_UNTIL", "tomorrow"),
        ])
        .unwrap_err();
        assert_eq!(err.var(), "CAPTCHA_PREVIOUS_SECRET_UNTIL");
    }

    #[tokio::test]
    async fn a_redis_url_is_connected_to_and_an_unreachable_one_fails_at_start() {
        // A port nothing listens on: the listener is dropped before the connection.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("redis://:pw-DO-NOT-LEAK@127.0.0.1:{port}/0");
        let config = CaptchaConfig::from_vars(
            "CAPTCHA",
            [
                ("CAPTCHA_PROVIDER", "altcha"),
                ("CAPTCHA_SECRET", KEY),
                ("CAPTCHA_REDIS_URL", url.as_str()),
            ],
        );
        if cfg!(feature = "redis") {
            let config = config.unwrap();
            assert!(settings(&config).redis_url.is_some());
            assert!(!format!("{config:?}").contains("DO-NOT-LEAK"));
            let err = config.connect().await.unwrap_err();
            assert!(matches!(err, BuildError::Store(_)), "{err:?}");
            assert!(!err.to_string().contains("DO-NOT-LEAK"), "{err}");
        } else {
            let err = config.unwrap_err();
            assert_eq!(err.var(), "CAPTCHA_REDIS_URL");
            assert!(err.to_string().contains("`redis` feature"), "{err}");
            assert!(!err.to_string().contains("DO-NOT-LEAK"), "{err}");
        }
    }

    #[test]
    fn hosted_settings_are_refused_with_altcha_and_altcha_settings_with_hosted() {
        for (var, value) in [
            ("CAPTCHA_VERIFY_URL", "http://127.0.0.1:9/x"),
            ("CAPTCHA_HOSTNAMES", "example.com"),
            ("CAPTCHA_SITEKEY", "k"),
            ("CAPTCHA_MIN_SCORE", "0.5"),
            ("CAPTCHA_TIMEOUT_MS", "100"),
            ("CAPTCHA_CONNECT_TIMEOUT_MS", "100"),
            ("CAPTCHA_FORWARD_IP", "true"),
            ("CAPTCHA_CLIENT_IP", "peer_addr"),
            ("CAPTCHA_RECAPTCHA_VERSION", "3"),
            ("CAPTCHA_DENY_TEST_KEYS", "true"),
            ("CAPTCHA_FAIL_OPEN", "true"),
        ] {
            let err = parse(&[(var, value)]).unwrap_err();
            assert_eq!(err.var(), var, "{err}");
            assert!(!err.to_string().contains(KEY), "{err}");
        }
        assert!(parse(&[("CAPTCHA_FAIL_OPEN", "false")]).is_ok());
        for var in super::SUFFIXES.map(|suffix| format!("CAPTCHA_{suffix}")) {
            let err = CaptchaConfig::from_vars(
                "CAPTCHA",
                [
                    ("CAPTCHA_PROVIDER", "turnstile"),
                    ("CAPTCHA_SECRET", "s"),
                    (var.as_str(), "1"),
                ],
            )
            .unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{var} is invalid: applies to altcha only, the provider is turnstile")
            );
        }
    }

    #[test]
    fn secrets_never_show() {
        let config = parse(&[
            ("CAPTCHA_PREVIOUS_SECRET", OLD_KEY),
            ("CAPTCHA_PREVIOUS_SECRET_UNTIL", "2999-01-01T00:00:00Z"),
        ])
        .unwrap();
        for text in [format!("{config:?}"), format!("{config:#?}")] {
            assert!(!text.contains(KEY) && !text.contains(OLD_KEY), "{text}");
        }
        let file = format!(
            r#"{{"provider":"altcha","secret":"{KEY}","previous_secret":"{OLD_KEY}","altcha_lifetime_secs":0,"previous_secret_until":"2999-01-01T00:00:00Z"}}"#
        );
        let err = serde_json::from_str::<CaptchaConfig>(&file).unwrap_err();
        assert!(
            !err.to_string().contains(KEY) && !err.to_string().contains(OLD_KEY),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_configuration_file_says_the_same() {
        let config: CaptchaConfig = serde_json::from_str(&format!(
            r#"{{
                "provider": "altcha",
                "secret": "{KEY}",
                "action": "signup",
                "altcha_v2_algorithm": "SHA-256",
                "altcha_v2_cost": 2,
                "altcha_v2_prefix_digits": 2,
                "altcha_lifetime_secs": 120,
                "previous_secret": "{OLD_KEY}",
                "previous_secret_until": "2999-01-01T00:00:00Z"
            }}"#
        ))
        .unwrap();
        let env = parse(&[
            ("CAPTCHA_ACTION", "signup"),
            ("CAPTCHA_ALTCHA_V2_ALGORITHM", "SHA-256"),
            ("CAPTCHA_ALTCHA_V2_COST", "2"),
            ("CAPTCHA_ALTCHA_V2_PREFIX_DIGITS", "2"),
            ("CAPTCHA_ALTCHA_LIFETIME_SECS", "120"),
            ("CAPTCHA_PREVIOUS_SECRET", OLD_KEY),
            ("CAPTCHA_PREVIOUS_SECRET_UNTIL", "2999-01-01T00:00:00Z"),
        ])
        .unwrap();
        assert_eq!(format!("{config:?}"), format!("{env:?}"));
        assert!(accepts_key_of(&verifier(&config).await, OLD_KEY).await);

        let classic: CaptchaConfig = serde_json::from_str(
            r#"{"provider":"altcha","secret":"0123456789abcdef0123456789abcdef","altcha_max_number":500,"redis_url":null}"#,
        )
        .unwrap();
        assert_eq!(
            verifier_of(&classic).challenge().as_json()["maxnumber"],
            500
        );
        for (file, expected) in [
            (
                r#"{"provider":"altcha","secret":"s","verify_url":"http://x/"}"#,
                "`verify_url` applies to hosted providers only",
            ),
            (
                r#"{"provider":"altcha","secret":"s","hostnames":["a.b"]}"#,
                "`hostnames` applies to hosted providers only",
            ),
            (
                r#"{"provider":"altcha","secret":"s","client_ip":"peer_addr","forward_remote_ip":true}"#,
                "`client_ip` applies to hosted providers only",
            ),
            (
                r#"{"provider":"altcha","secret":"s","fail_open":true}"#,
                "`fail_open` is invalid",
            ),
            (
                r#"{"provider":"altcha","secret":"s","altcha_max_numbr":5}"#,
                "unknown setting `altcha_max_numbr`",
            ),
            (
                r#"{"provider":"altcha","secret":"s","altcha_v2_cost":5}"#,
                "`altcha_v2_cost` needs `altcha_v2_algorithm`",
            ),
            (
                r#"{"provider":"altcha","secret":"s","previous_secret":"x"}"#,
                "`previous_secret` needs `previous_secret_until`",
            ),
            (
                r#"{"provider":"altcha","secret":"s","altcha_lifetime_secs":0}"#,
                "`altcha_lifetime_secs` is invalid",
            ),
            (
                r#"{"provider":"turnstile","secret":"s","altcha_max_number":5}"#,
                "`altcha_max_number` applies to altcha only",
            ),
            (r#"{"provider":"altcha"}"#, "secret"),
        ] {
            let err = serde_json::from_str::<CaptchaConfig>(file).unwrap_err();
            assert!(err.to_string().contains(expected), "{file}: {err}");
        }
    }

    fn verifier_of(config: &CaptchaConfig) -> AltchaVerifier {
        AltchaVerifier::new(settings(config).config.clone()).unwrap()
    }
}
