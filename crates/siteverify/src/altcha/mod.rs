//! ALTCHA: a self-hosted proof of work, compatible with the `altcha` widget and `altcha-lib`.
//!
//! No third party is asked anything. The server issues a signed challenge (the widget fetches
//! it from your challenge route), the browser solves it, and the server checks the solution
//! and remembers that the challenge is spent. Both of ALTCHA's protocols are spoken:
//!
//! - the classic one (v1, the default): find `number` with `SHA-256(salt + number)` equal to
//!   the challenge; parameters such as `expires` and `action` ride, signed, in the salt;
//! - v2: derive keys (`SHA-256`, `SHA-384`, `SHA-512`, or `PBKDF2/` with one of them) from
//!   `nonce ‖ counter` until one starts with the key prefix; parameters are signed as
//!   canonical JSON, and `data.action` carries the action.
//!
//! Verification decodes the payload (anything malformed is `malformed_token`), checks the
//! expiry, the signature (constant time; the current key, then a previous one during its
//! grace period), the solution, the route's [`Policy`] (the action the challenge was issued
//! for), and only then records the challenge in the [`ReplayStore`]: one atomic
//! set-if-absent whose lifetime is what the challenge has left. A forged submission cannot
//! burn a real user's challenge, and two submissions of one payload cannot both pass. A store
//! that cannot answer fails closed (`provider_unavailable`, never covered by fail-open).
//!
//! ```
//! use siteverify::{Policy, VerifyOptions, altcha::{AltchaConfig, AltchaVerifier}};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = "7d3f0c9a1b2e4d5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3"; // 24 random bytes, hex
//! let verifier = AltchaVerifier::new(AltchaConfig::new(key).policy(Policy::new().action("signup")))?;
//! // What `GET /altcha/challenge` answers; the widget solves it in the browser.
//! let challenge = verifier.challenge();
//! # let payload = siteverify::altcha::solve(&challenge).unwrap();
//! let verdict = verifier.verify(&payload, &VerifyOptions::new()).await?;
//! assert_eq!(verdict.action.as_deref(), Some("signup"));
//! // A challenge verifies once.
//! let replay = verifier.verify(&payload, &VerifyOptions::new()).await.unwrap_err();
//! assert_eq!(replay.code(), "expired_or_duplicate");
//! # Ok(())
//! # }
//! ```

mod crypto;
#[cfg(feature = "redis")]
mod redis_store;
mod store;
mod v1;
mod v2;

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{
    DecodeSliceError, Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::Instrument;

#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
pub use store::{
    ChallengeId, DEFAULT_MEMORY_STORE_CAPACITY, MemoryStore, ReplayStore, Spend, StoreError,
    StoreFuture,
};

use crate::{
    ConfigError, MalformedToken, Outage, Policy, Provider, Secret, Verdict, Verify, VerifyError,
    VerifyOptions, token,
};
use crypto::{MacKey, Sha};
use v2::Derivation;

/// How long a challenge stays solvable by default: five minutes, time enough to fill in a
/// form, short enough that a farm of solved challenges goes stale.
pub const DEFAULT_CHALLENGE_LIFETIME: Duration = Duration::from_secs(300);
/// The classic protocol's default difficulty: the secret number lies in `0..=100_000`, about
/// 50,000 SHA-256 hashes on average, around a tenth of a second on a phone.
pub const DEFAULT_MAX_NUMBER: u64 = 100_000;
/// The shortest HMAC key accepted: a key short enough to guess lets anyone sign challenges
/// with known answers, and one issued challenge is enough to test guesses offline.
pub const MIN_KEY_BYTES: usize = 32;
/// The highest v2 cost accepted, issued or verified: each submission, forged ones included,
/// costs one derivation at this cost before it can be refused.
pub const MAX_V2_COST: u32 = 10_000;
/// How far two app instances' clocks may disagree; a spent challenge is remembered this
/// much longer than it lives.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// How challenges are issued.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeKind {
    /// ALTCHA's classic protocol: `SHA-256(salt + number)` for a number up to `max_number`.
    Classic {
        /// The largest secret number; the solver tries half of them on average.
        max_number: u64,
    },
    /// ALTCHA's v2 protocol.
    V2 {
        /// The key derivation.
        algorithm: V2Algorithm,
        /// Its cost: rounds of the hash, or PBKDF2 iterations.
        cost: u32,
        /// Hex digits the derived key must start with (all `0`): each digit makes the
        /// search 16 times longer.
        prefix_digits: u8,
    },
}

/// The key derivations of ALTCHA v2 this crate issues and verifies. (`SCRYPT` and
/// `ARGON2ID` challenges are refused as `invalid_token`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum V2Algorithm {
    /// `SHA-256`.
    Sha256,
    /// `SHA-384`.
    Sha384,
    /// `SHA-512`.
    Sha512,
    /// `PBKDF2/SHA-256`.
    Pbkdf2Sha256,
    /// `PBKDF2/SHA-384`.
    Pbkdf2Sha384,
    /// `PBKDF2/SHA-512`.
    Pbkdf2Sha512,
}

impl V2Algorithm {
    fn derivation(self) -> Derivation {
        match self {
            V2Algorithm::Sha256 => Derivation::Sha(Sha::Sha256),
            V2Algorithm::Sha384 => Derivation::Sha(Sha::Sha384),
            V2Algorithm::Sha512 => Derivation::Sha(Sha::Sha512),
            V2Algorithm::Pbkdf2Sha256 => Derivation::Pbkdf2(Sha::Sha256),
            V2Algorithm::Pbkdf2Sha384 => Derivation::Pbkdf2(Sha::Sha384),
            V2Algorithm::Pbkdf2Sha512 => Derivation::Pbkdf2(Sha::Sha512),
        }
    }

    /// The name ALTCHA gives it, e.g. `PBKDF2/SHA-256`.
    pub fn name(self) -> &'static str {
        self.derivation().name()
    }
}

/// The configuration of an [`AltchaVerifier`].
#[derive(Clone)]
pub struct AltchaConfig {
    key: Secret,
    previous_key: Option<(Secret, SystemTime)>,
    kind: ChallengeKind,
    lifetime: Duration,
    store: Arc<dyn ReplayStore>,
    policy: Policy,
}

impl AltchaConfig {
    /// Challenges signed with `key` (HMAC-SHA-256; at least [`MIN_KEY_BYTES`] long, random), of the
    /// classic kind, living [`DEFAULT_CHALLENGE_LIFETIME`], spent in a [`MemoryStore`].
    pub fn new(key: impl Into<Secret>) -> Self {
        Self {
            key: key.into(),
            previous_key: None,
            kind: ChallengeKind::Classic {
                max_number: DEFAULT_MAX_NUMBER,
            },
            lifetime: DEFAULT_CHALLENGE_LIFETIME,
            store: Arc::new(MemoryStore::default()),
            policy: Policy::new(),
        }
    }

    /// Key rotation: solutions of challenges signed with `key` are still accepted until
    /// `until` (set it at least one challenge lifetime after the switch). New challenges are
    /// always signed with the current key.
    pub fn previous_key(mut self, key: impl Into<Secret>, until: SystemTime) -> Self {
        self.previous_key = Some((key.into(), until));
        self
    }

    /// The kind and difficulty of the challenges issued.
    pub fn kind(mut self, kind: ChallengeKind) -> Self {
        self.kind = kind;
        self
    }

    /// How long an issued challenge can be solved and submitted.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Where spent challenges are remembered: a [`MemoryStore`] by default; `RedisStore`
    /// (feature `redis`) for several app instances.
    pub fn store(mut self, store: impl ReplayStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// The checks every verification applies (an expected action; hostnames and scores do
    /// not exist here). Its action is also the one [`AltchaVerifier::challenge`] signs in.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
}

impl fmt::Debug for AltchaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AltchaConfig")
            .field("key", &self.key)
            .field(
                "previous_key",
                &self.previous_key.as_ref().map(|(k, until)| (k, until)),
            )
            .field("kind", &self.kind)
            .field("lifetime", &self.lifetime)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A challenge, serialised as the widget's `challengeurl` expects it. It deserialises from
/// that JSON too, so that a test can [`solve`] what a challenge route served.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Challenge(Value);

impl Challenge {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        self.0.to_string()
    }

    /// The JSON value.
    pub fn as_json(&self) -> &Value {
        &self.0
    }

    /// A challenge as a challenge route served it, to [`solve`] in a test. Nothing is
    /// checked here: verification checks everything.
    pub fn from_json(value: Value) -> Self {
        Self(value)
    }
}

/// Issues ALTCHA challenges and verifies their solutions, remembering spent ones.
///
/// Cheap to clone. Implements [`Verify`], so `tower-captcha`'s layer takes it like any other
/// verifier; the token is the widget's `altcha` field.
#[derive(Clone)]
pub struct AltchaVerifier {
    inner: Arc<Inner>,
}

/// The configuration, and its keys made ready for verifying once rather than per call.
struct Inner {
    config: AltchaConfig,
    key: MacKey,
    previous_key: Option<(MacKey, SystemTime)>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are in the configuration's output, redacted.
        self.config.fmt(f)
    }
}

impl AltchaVerifier {
    /// A verifier. Fails when the key is empty, the lifetime is zero or over a day, the
    /// difficulty is zero, or the policy asks for something ALTCHA never reports (a
    /// hostname, a score, a site key).
    pub fn new(config: AltchaConfig) -> Result<Self, ConfigError> {
        let provider = Provider::Altcha;
        if !provider.is_enabled() {
            return Err(ConfigError::ProviderDisabled(provider));
        }
        if config.key.is_empty() {
            return Err(ConfigError::EmptySecret(provider));
        }
        let too_short = |key: &Secret| key.expose().len() < MIN_KEY_BYTES;
        if too_short(&config.key)
            || config
                .previous_key
                .as_ref()
                .is_some_and(|(k, _)| too_short(k))
        {
            return Err(ConfigError::InvalidSetting {
                setting: "ALTCHA key",
                reason: "must be at least 32 bytes (use 32 random bytes, hex or base64 encoded)",
            });
        }
        if config.lifetime.is_zero() || config.lifetime > Duration::from_secs(86_400) {
            return Err(ConfigError::InvalidSetting {
                setting: "challenge lifetime",
                reason: "must be between 1 s and one day",
            });
        }
        match config.kind {
            ChallengeKind::Classic { max_number: 0 } => {
                return Err(ConfigError::InvalidSetting {
                    setting: "max number",
                    reason: "must be at least 1",
                });
            }
            ChallengeKind::V2 { cost, .. } if !(1..=MAX_V2_COST).contains(&cost) => {
                return Err(ConfigError::InvalidSetting {
                    setting: "cost",
                    reason: "must be between 1 and 10000",
                });
            }
            ChallengeKind::V2 { prefix_digits, .. } if !(1..=16).contains(&prefix_digits) => {
                return Err(ConfigError::InvalidSetting {
                    setting: "key prefix",
                    reason: "must be 1 to 16 hex digits",
                });
            }
            _ => {}
        }
        config.policy.validate_for(provider)?;
        let key = MacKey::new(config.key.expose().as_bytes());
        let previous_key = config
            .previous_key
            .as_ref()
            .map(|(key, until)| (MacKey::new(key.expose().as_bytes()), *until));
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                key,
                previous_key,
            }),
        })
    }

    /// The policy every verification applies.
    pub fn policy(&self) -> &Policy {
        &self.inner.config.policy
    }

    /// A fresh challenge for the policy's expected action (none when the policy expects
    /// none).
    pub fn challenge(&self) -> Challenge {
        self.challenge_for(self.inner.config.policy.expected_action())
    }

    /// A fresh challenge bound to `action`, which a route's policy can then demand.
    pub fn challenge_for(&self, action: Option<&str>) -> Challenge {
        let config = &self.inner.config;
        let now = SystemTime::now();
        let expires = now + config.lifetime;
        let issued = unix_seconds(now).to_string();
        let key = &self.inner.key;
        let value = match &config.kind {
            ChallengeKind::Classic { max_number } => {
                let mut params = Vec::with_capacity(2);
                if let Some(action) = action {
                    params.push(("action", action));
                }
                params.push(("issued", issued.as_str()));
                serde_json::to_value(v1::issue(key, *max_number, &params, expires))
            }
            ChallengeKind::V2 {
                algorithm,
                cost,
                prefix_digits,
            } => {
                let mut data = Map::new();
                if let Some(action) = action {
                    data.insert("action".into(), action.into());
                }
                data.insert("issued".into(), unix_seconds(now).into());
                let prefix = "0".repeat(usize::from(*prefix_digits));
                serde_json::to_value(v2::issue(
                    key,
                    Sha::Sha256,
                    v2::Issue {
                        derivation: algorithm.derivation(),
                        cost: *cost,
                        key_prefix: &prefix,
                        data,
                        expires,
                    },
                ))
            }
        };
        // Our own structs of strings and integers always serialise.
        Challenge(value.unwrap_or_default())
    }

    /// Verifies a solved challenge (the widget's `altcha` value) and applies the policy (the
    /// options' one laid over the verifier's), then spends the challenge.
    pub async fn verify(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Result<Verdict, VerifyError> {
        let span = verify_span();
        let checked = match span.in_scope(|| self.read(token, options)) {
            Ok(Read::V1(passed)) => Ok(passed),
            Ok(Read::V2(payload)) => {
                self.check_v2(payload, options)
                    .instrument(span.clone())
                    .await
            }
            Err(e) => Err(e),
        };
        let result = match checked {
            Ok(passed) => self.spend(passed).await,
            Err(e) => Err(e),
        };
        report(&span, result)
    }

    /// [`verify`](Self::verify) answered at once: `Some` when nothing needs waiting for (a
    /// classic payload, or one that is malformed, with a store that
    /// [answers at once](ReplayStore::answers_at_once), as the memory store does), and then
    /// it is the verification itself, the challenge spent; `None`, having done nothing the
    /// caller must know of, for a v2 payload (its derivation runs on the blocking pool) or a
    /// store that waits (Redis).
    ///
    /// Its span (`siteverify`, with the outcome) is made once the answer is known, so that a
    /// payload sent on to [`verify`](Self::verify) leaves no empty one behind.
    pub fn verify_now(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Option<Result<Verdict, VerifyError>> {
        if !Verify::answers_at_once(self) {
            return None;
        }
        let store = &self.inner.config.store;
        let result = match self.read(token, options) {
            Ok(Read::V1(passed)) => {
                let spent = store.spend_at(&passed.id, passed.ttl, passed.now)?;
                spent_as(passed.verdict, spent)
            }
            Ok(Read::V2(_)) => return None,
            Err(e) => Err(e),
        };
        Some(report(&verify_span(), result))
    }

    /// Records a checked challenge in the store, which decides whether it passes. A store
    /// that answers at once is asked so, with no future made.
    async fn spend(&self, passed: Passed) -> Result<Verdict, VerifyError> {
        let Passed {
            verdict,
            id,
            ttl,
            now,
        } = passed;
        let store = &self.inner.config.store;
        let spent = match store.spend_at(&id, ttl, now) {
            Some(spent) => spent,
            None => store.spend(&id, ttl).await,
        };
        spent_as(verdict, spent)
    }

    /// Everything but the store for a classic payload, which is one hash and one HMAC, checked
    /// here and now; a v2 payload is only read, its derivation is left to
    /// [`check_v2`](Self::check_v2).
    ///
    /// Not async, so that the decoded payload can live on the stack: nothing of it is kept in
    /// a future.
    fn read(&self, token: &str, options: &VerifyOptions) -> Result<Read, VerifyError> {
        let token = token::precheck(Provider::Altcha, token)?;
        // Most payloads fit here; a longer one (a v2 payload with much data, say) goes to the
        // heap.
        let mut stack = [0u8; 1024];
        let heap;
        let json: &[u8] = match BASE64.decode_slice(token.as_bytes(), &mut stack) {
            Ok(len) => &stack[..len],
            Err(DecodeSliceError::OutputSliceTooSmall) => {
                heap = BASE64.decode(token.as_bytes()).map_err(|_| malformed())?;
                &heap
            }
            Err(DecodeSliceError::DecodeError(_)) => return Err(malformed()),
        };
        // UTF-8 checked once for the whole document, rather than string by string as the
        // payload's fields borrow from it; JSON that is not UTF-8 is no payload either way.
        let json = std::str::from_utf8(json).map_err(|_| malformed())?;
        // Straight into the payload types, no JSON tree in between: the shapes cannot be
        // mistaken for each other (v1's `challenge` is a string, v2's an object), so whichever
        // reads the document is the protocol.
        if let Ok(payload) = serde_json::from_str::<v1::Payload<'_>>(json) {
            return self
                .finish(options, |keys, now| v1::check(payload, keys, now))
                .map(Read::V1);
        }
        serde_json::from_str(json)
            .map(Read::V2)
            .map_err(|_| malformed())
    }

    /// Everything but the store for a v2 payload. Its solution is re-derived at the
    /// challenge's cost (up to [`MAX_V2_COST`] rounds, a few milliseconds): that runs on
    /// tokio's blocking pool, so that a burst of submissions cannot stall the tasks around it.
    async fn check_v2(
        &self,
        payload: v2::Payload,
        options: &VerifyOptions,
    ) -> Result<Passed, VerifyError> {
        let (this, options) = (self.clone(), options.clone());
        tokio::task::spawn_blocking(move || {
            this.finish(&options, |keys, now| {
                v2::check(payload, keys, Sha::Sha256, now)
            })
        })
        .await
        .unwrap_or_else(|_| Err(invalid("altcha-check-failed")))
    }

    /// `check_payload` against the keys valid now, then what every protocol shares: the
    /// expiry's bound, the verdict and the policy.
    fn finish(
        &self,
        options: &VerifyOptions,
        check_payload: impl FnOnce(&[&MacKey], SystemTime) -> Result<Checked, VerifyError>,
    ) -> Result<Passed, VerifyError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let now = SystemTime::now();
        let checked = match &inner.previous_key {
            Some((previous, until)) if now <= *until => check_payload(&[&inner.key, previous], now),
            _ => check_payload(&[&inner.key], now),
        }?;
        // A challenge that lives longer than ours do was not issued here; remembering it
        // would pin a store entry for as long as its issuer chose.
        if checked.expires > now + config.lifetime + CLOCK_SKEW {
            return Err(invalid("altcha-expiry-too-far"));
        }
        let mut verdict = Verdict::new(Provider::Altcha);
        verdict.action = checked.action;
        verdict.challenge_ts = checked.issued;
        verdict.solve_time = checked.solve_time;
        Verify::check_verdict(self, &verdict, options.policy.as_deref(), now)?;
        let ttl = checked.expires.duration_since(now).unwrap_or_default() + CLOCK_SKEW;
        Ok(Passed {
            verdict,
            id: checked.id,
            ttl,
            now,
        })
    }
}

/// A payload as [`AltchaVerifier::read`] leaves it.
#[expect(
    clippy::large_enum_variant,
    reason = "returned once and matched at once; the large variant is the common one, which a box would cost an allocation"
)]
enum Read {
    /// A classic payload, checked.
    V1(Passed),
    /// A v2 payload, its solution not checked yet.
    V2(v2::Payload),
}

/// A challenge whose solution and policy checked out, ready for the store: the verdict it
/// earns if it was not spent, the store's id of it and for how long it must be remembered,
/// from `now`, the time it was checked at.
struct Passed {
    verdict: Verdict,
    id: ChallengeId,
    ttl: Duration,
    now: SystemTime,
}

/// The span of one verification, its outcome recorded by [`report`].
fn verify_span() -> tracing::Span {
    tracing::info_span!(
        "siteverify",
        provider = Provider::Altcha.name(),
        outcome = tracing::field::Empty,
    )
}

/// What the store said of a checked challenge, as the verification's answer.
fn spent_as(verdict: Verdict, spent: Result<Spend, StoreError>) -> Result<Verdict, VerifyError> {
    match spent {
        Ok(Spend::First) => Ok(verdict),
        Ok(Spend::Again) => Err(VerifyError::ExpiredOrDuplicate {
            provider_codes: vec!["altcha-replayed".to_owned()],
        }),
        Err(StoreError::Full { .. }) => {
            Err(VerifyError::ProviderUnavailable(Outage::ReplayStoreFull))
        }
        Err(StoreError::Unavailable(_)) => {
            Err(VerifyError::ProviderUnavailable(Outage::ReplayStoreDown))
        }
    }
}

/// Records a verification's outcome in its span, its metrics and its log line, and gives
/// it back.
fn report(
    span: &tracing::Span,
    result: Result<Verdict, VerifyError>,
) -> Result<Verdict, VerifyError> {
    let outcome = result.as_ref().err().map_or("verified", VerifyError::code);
    span.record("outcome", outcome);
    #[cfg(feature = "metrics")]
    metrics::counter!("captcha_verifications_total", "provider" => "altcha", "outcome" => outcome)
        .increment(1);
    span.in_scope(|| match &result {
        Ok(_) => tracing::debug!(outcome, "captcha verified"),
        Err(VerifyError::ProviderUnavailable(outage)) => tracing::warn!(
            outcome,
            error = %outage,
            "the ALTCHA replay store cannot record the challenge: refusing it"
        ),
        Err(e) => tracing::debug!(outcome, error = %e, "captcha rejected"),
    });
    result
}

impl fmt::Debug for AltchaVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AltchaVerifier").field(&self.inner).finish()
    }
}

impl Verify for AltchaVerifier {
    fn verify(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> impl Future<Output = Result<Verdict, VerifyError>> + Send {
        AltchaVerifier::verify(self, token, options)
    }

    fn verify_now(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Option<Result<Verdict, VerifyError>> {
        AltchaVerifier::verify_now(self, token, options)
    }

    fn answers_at_once(&self) -> bool {
        self.inner.config.store.answers_at_once()
    }

    fn provider(&self) -> Option<Provider> {
        Some(Provider::Altcha)
    }

    fn policy(&self) -> Option<&Policy> {
        Some(&self.inner.config.policy)
    }
}

/// What a checked solution tells.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) id: ChallengeId,
    pub(crate) expires: SystemTime,
    pub(crate) action: Option<String>,
    pub(crate) issued: Option<SystemTime>,
    pub(crate) solve_time: Option<Duration>,
}

impl Checked {
    /// The store's id of a challenge: a hash of its protocol and signature, which no two
    /// challenges share: `SHA-256("altcha-v{version}:{signature}")`, the signature in
    /// lowercase hex. Every store, Redis's included, has named challenges so, and must go on
    /// doing so: instances of older and newer code sharing one store agree during a deploy.
    pub(crate) fn id_of(version: u8, signature: &[u8]) -> ChallengeId {
        debug_assert!(version < 10, "one digit");
        let digest = Sha::Sha256.digest(&[b"altcha-v", &[b'0' + version], b":", signature]);
        let mut id = [0u8; 32];
        id.copy_from_slice(&digest);
        ChallengeId(id)
    }
}

/// How the widget's value is encoded: base64 (padded or not) of a JSON object of either
/// protocol.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn malformed() -> VerifyError {
    VerifyError::MalformedToken(MalformedToken::NotAPayload)
}

fn invalid(code: &str) -> VerifyError {
    VerifyError::InvalidToken {
        provider_codes: vec![code.to_owned()],
    }
}

fn expired() -> VerifyError {
    VerifyError::ExpiredOrDuplicate {
        provider_codes: vec!["altcha-expired".to_owned()],
    }
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn unix_time(seconds: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Whole unix seconds written as ASCII digits (no sign, no fraction).
fn parse_unix_seconds(text: &str) -> Option<SystemTime> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().and_then(unix_time)
}

/// Solves a challenge as the widget would and returns the `altcha` value to submit: for
/// tests, examples and load generators. It does the whole proof of work.
pub fn solve(challenge: &Challenge) -> Option<String> {
    let value = challenge.as_json();
    let payload = if let Some(parameters) = value.get("parameters") {
        let derivation = Derivation::from_name(parameters.get("algorithm")?.as_str()?)?;
        let nonce = crypto::unhex(parameters.get("nonce")?.as_str()?)?;
        let salt = crypto::unhex(parameters.get("salt")?.as_str()?)?;
        let prefix = parameters.get("keyPrefix")?.as_str()?;
        let cost = u32::try_from(parameters.get("cost")?.as_u64()?).ok()?;
        let key_length = usize::try_from(parameters.get("keyLength")?.as_u64()?).ok()?;
        let (counter, key) = (0u32..=u32::MAX).find_map(|counter| {
            let mut password = nonce.clone();
            password.extend_from_slice(&counter.to_be_bytes());
            let key = crypto::hex(&derivation.derive(&salt, &password, cost, key_length));
            key.starts_with(prefix).then_some((counter, key))
        })?;
        serde_json::json!({
            "challenge": value,
            "solution": {"counter": counter, "derivedKey": key, "time": 1},
        })
    } else {
        let salt = value.get("salt")?.as_str()?;
        let target = value.get("challenge")?.as_str()?;
        let max = value.get("maxnumber")?.as_u64()?;
        let sha = Sha::from_name(value.get("algorithm")?.as_str()?)?;
        let number = (0..=max).find(|n| {
            crypto::hex(&sha.digest(&[salt.as_bytes(), n.to_string().as_bytes()])) == target
        })?;
        serde_json::json!({
            "algorithm": value.get("algorithm")?,
            "challenge": target,
            "number": number,
            "salt": salt,
            "signature": value.get("signature")?,
            "took": 1,
        })
    };
    Some(base64::engine::general_purpose::STANDARD.encode(payload.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn short_keys_and_costly_settings_are_refused_at_build() {
        let err = AltchaVerifier::new(AltchaConfig::new("short")).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidSetting { .. }), "{err:?}");
        let err =
            AltchaVerifier::new(AltchaConfig::new(KEY).previous_key("old", SystemTime::now()))
                .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidSetting { .. }), "{err:?}");
        let costly = ChallengeKind::V2 {
            algorithm: V2Algorithm::Pbkdf2Sha256,
            cost: MAX_V2_COST + 1,
            prefix_digits: 2,
        };
        assert!(AltchaVerifier::new(AltchaConfig::new(KEY).kind(costly)).is_err());
        let hostnames = Policy::new().allow_hostname("example.com").unwrap();
        assert!(AltchaVerifier::new(AltchaConfig::new(KEY).policy(hostnames)).is_err());
        assert!(AltchaVerifier::new(AltchaConfig::new(KEY)).is_ok());
    }

    #[test]
    fn ids_are_named_as_they_always_were() {
        // A store (Redis's, shared by instances of older and newer code) must see one
        // challenge under one name.
        let signature = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        for version in [1, 2] {
            let old = Sha::Sha256.digest(&[format!("altcha-v{version}:{signature}").as_bytes()]);
            assert_eq!(Checked::id_of(version, signature.as_bytes()).0[..], old[..]);
        }
    }

    #[tokio::test]
    async fn a_challenge_that_outlives_ours_is_refused() {
        // Issued with a lifetime of a day, verified where challenges live five minutes: not
        // ours, and it would pin a store entry for a day.
        let long = AltchaVerifier::new(
            AltchaConfig::new(KEY)
                .lifetime(Duration::from_secs(86_400))
                .kind(ChallengeKind::Classic { max_number: 100 }),
        )
        .unwrap();
        let ours = AltchaVerifier::new(AltchaConfig::new(KEY)).unwrap();
        let payload = solve(&long.challenge()).unwrap();
        let err = ours
            .verify(&payload, &VerifyOptions::new())
            .await
            .unwrap_err();
        assert_eq!(err.provider_codes(), ["altcha-expiry-too-far"]);
        assert!(long.verify(&payload, &VerifyOptions::new()).await.is_ok());
    }

    #[tokio::test]
    async fn the_previous_key_is_accepted_until_its_time_and_new_challenges_take_the_current_one() {
        let old_key = "fedcba9876543210fedcba9876543210";
        let v2 = ChallengeKind::V2 {
            algorithm: V2Algorithm::Sha256,
            cost: 1,
            prefix_digits: 1,
        };
        for kind in [ChallengeKind::Classic { max_number: 100 }, v2] {
            let with =
                |config: AltchaConfig| AltchaVerifier::new(config.kind(kind.clone())).unwrap();
            let old = with(AltchaConfig::new(old_key));
            let current_only = with(AltchaConfig::new(KEY));
            let rotated = |until| with(AltchaConfig::new(KEY).previous_key(old_key, until));
            let in_grace = rotated(SystemTime::now() + Duration::from_secs(60));
            let past_grace = rotated(SystemTime::now() - Duration::from_secs(1));
            let verify = |verifier: &AltchaVerifier, payload: &str| {
                let (verifier, payload) = (verifier.clone(), payload.to_owned());
                async move { verifier.verify(&payload, &VerifyOptions::new()).await }
            };
            let payload = solve(&old.challenge()).unwrap();
            let err = verify(&past_grace, &payload).await.unwrap_err();
            assert_eq!(err.provider_codes(), ["altcha-bad-signature"], "{kind:?}");
            assert!(verify(&in_grace, &payload).await.is_ok(), "{kind:?}");
            // What the rotated verifier issues is signed with the current key, never the old.
            let fresh = solve(&in_grace.challenge()).unwrap();
            let err = verify(&old, &fresh).await.unwrap_err();
            assert_eq!(err.provider_codes(), ["altcha-bad-signature"], "{kind:?}");
            assert!(verify(&current_only, &fresh).await.is_ok(), "{kind:?}");
        }
    }
}
