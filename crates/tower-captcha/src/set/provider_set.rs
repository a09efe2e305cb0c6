use std::{
    borrow::Cow,
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Serialize;
use siteverify::{
    BoxVerifier, ConfigError, ErrorClass, FailureCode, Health, Policy, Provider, Verdict, Verify,
    VerifyError, VerifyOptions,
};

use super::{Member, WidgetHint};
use crate::{TokenSource, TokenSources};

/// How a set treats its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetMode {
    /// Members in order of preference: the first is the one pages should show, the others
    /// are fallbacks. A token of a member that cannot answer is refused with 503
    /// `provider_unavailable` and a `fallback` naming the first other member, in order, that
    /// can; [`ProviderSet::recommended`] skips members that cannot answer. Every member that
    /// names a provider must say how a page shows its widget (a site key, an ALTCHA
    /// challenge URL).
    Failover,
    /// Members accepted side by side, none preferred: each page renders its own widget. The
    /// way to move from one provider to another without a flag day. No `fallback` in failure
    /// bodies (a page being moved off a provider should not be sent back to it) and no
    /// recommendation.
    SideBySide,
}

/// Several verifiers on one route, each chosen by the field its widget writes the token in.
///
/// Build it with [`ProviderSet::failover`] or [`ProviderSet::side_by_side`], put it on a
/// route with [`CaptchaLayer::set`](crate::CaptchaLayer::set). Cheap to clone; clones share
/// their members (and so their circuit breakers).
///
/// # Which member verifies a request
///
/// The member whose token sources hold the token. A token is only ever sent to that one
/// member: tokens are single use, and every try costs quota. When a request carries the
/// tokens of several members (a page that left the first widget's field in the form when it
/// swapped in the fallback), one rule picks one: the members that can answer come first, in
/// the set's order, then those that cannot (a circuit breaker open, or `provider_unavailable`
/// in the last 30 s or the provider's `Retry-After`, up to 10 minutes: a 429 never opens a
/// breaker). A token of the first group wins over any of the second, wherever each is;
/// within a group, header sources are read before body sources (as for one verifier) and the
/// member first in order wins among sources of one kind, except in a multipart body, where
/// the token field that comes first in the body wins. Two members of one provider, or two
/// that read the same place, are refused when the set is built.
///
/// # When a member cannot answer
///
/// Its token is refused with 503 `provider_unavailable`; in [`SetMode::Failover`] the
/// failure body names the first other member, in order, that can answer (and no
/// `Retry-After`: the page should switch now). [`CaptchaLayer::fail_open`](crate::CaptchaLayer::fail_open)
/// lets the request through degraded only when no other member can answer.
///
/// # Policies
///
/// Each member's policy ([`Member::policy`]) is laid over the set's
/// ([`policy`](Self::policy)), which is laid over the member verifier's own: the set's
/// maximum token age for all, a score floor for the reCAPTCHA member alone. Each member's
/// result is checked against what its provider reports when the set is built, so the set's
/// policy can hold only what every member reports (ALTCHA reports no hostname: an allowlist
/// goes on the hosted members).
#[derive(Clone)]
pub struct ProviderSet {
    inner: Arc<Inner>,
}

struct Inner {
    mode: SetMode,
    seats: Vec<Seat>,
    route: Option<Policy>,
    /// Every member's sources, in the set's order, and the member each belongs to.
    routing: Routing,
}

/// A member in its place.
pub(crate) struct Seat {
    pub(crate) verifier: BoxVerifier,
    pub(crate) provider: Option<Provider>,
    own: Option<Policy>,
    sources: TokenSources,
    /// The member's policy over the set's over the verifier's, when either adds anything.
    pub(crate) policy: Option<Arc<Policy>>,
    site_key: Option<String>,
    challenge_url: Option<String>,
    hint: Option<WidgetHint>,
    /// Until when the member is taken for unable to answer, after it last answered
    /// `provider_unavailable`. The breaker alone would miss what never opens it: a 429 (a
    /// quota spent for the month), a 500, too many verifications in flight, a replay store
    /// that is down.
    unavailable_until: Stamp,
}

/// An instant in the future, or none, read on every request without a lock and written only
/// when it changes: the nanoseconds from `epoch` (0: none).
struct Stamp {
    epoch: Instant,
    nanos: AtomicU64,
}

impl Stamp {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            nanos: AtomicU64::new(0),
        }
    }

    fn is_future(&self) -> bool {
        match self.nanos.load(Ordering::Relaxed) {
            0 => false,
            nanos => self.epoch.elapsed() < Duration::from_nanos(nanos),
        }
    }

    fn set(&self, until: Option<Instant>) {
        let nanos = until.map_or(0, |until| {
            let nanos = until.saturating_duration_since(self.epoch).as_nanos();
            u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
        });
        // Most requests clear a stamp that is not there: they only read the shared line.
        if self.nanos.load(Ordering::Relaxed) != nanos {
            self.nanos.store(nanos, Ordering::Relaxed);
        }
    }
}

/// How long a member that answered `provider_unavailable` is passed over, at least (longer
/// when the provider's `Retry-After` says so): long enough not to send every page to it,
/// short enough to find it back.
const UNAVAILABLE_FOR: Duration = Duration::from_secs(30);
/// The longest a provider's own `Retry-After` keeps a member passed over.
const UNAVAILABLE_AT_MOST: Duration = Duration::from_secs(600);

impl Seat {
    /// Whether the member can answer: its breaker is not open (a verifier that keeps no
    /// health counts as closed) and it has not answered `provider_unavailable` lately.
    fn is_ready(&self) -> bool {
        self.verifier.is_ready() && !self.lately_unavailable()
    }

    fn lately_unavailable(&self) -> bool {
        self.unavailable_until.is_future()
    }

    /// Records how the member answered: `provider_unavailable` passes it over for a while
    /// (the provider's `Retry-After`, within bounds), any answer the provider gave clears
    /// that. Routing and hints read it; fail-open never does.
    pub(crate) fn record(&self, outcome: &Result<Verdict, VerifyError>) {
        let until = match outcome {
            Err(error) if error.failure_code() == FailureCode::ProviderUnavailable => {
                // Never shorter than the default: a page lives longer than a second, and
                // hints that flap would send its user back and forth.
                // A quota said to be spent does not come back within seconds.
                let wait = if error.is_out_of_quota() {
                    UNAVAILABLE_AT_MOST
                } else {
                    error
                        .retry_after()
                        .unwrap_or(UNAVAILABLE_FOR)
                        .clamp(UNAVAILABLE_FOR, UNAVAILABLE_AT_MOST)
                };
                Some(Instant::now() + wait)
            }
            // Our own refusals and the provider's answers alike show that it can answer;
            // a configuration fault or an unreadable answer says nothing either way.
            Ok(_) => None,
            Err(error) if error.class() == ErrorClass::User => None,
            Err(_) => return,
        };
        self.unavailable_until.set(until);
    }
}

/// Token sources in one order, with the seat each belongs to.
#[derive(Clone)]
pub(crate) struct Routing {
    pub(crate) sources: TokenSources,
    pub(crate) owners: Vec<usize>,
    /// How many of the sources, from the first, belong to members that can answer: they
    /// outrank the rest whatever their kind.
    pub(crate) preferred: usize,
}

/// A provider set could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    /// A set needs at least one member.
    #[error("a provider set needs at least one member")]
    Empty,
    /// Two members would read their token from the same place, so a token there could not
    /// be told apart. A member whose verifier names no provider reads every widget's field
    /// unless given [`sources`](Member::sources) of its own.
    #[error("members {first} and {second} of the set both read the token from {place:?}")]
    SharedSource {
        /// The earlier member's position, from 0.
        first: usize,
        /// The later member's position.
        second: usize,
        /// The place both read.
        place: TokenSource,
    },
    /// Two members speak for one provider: its widget writes one field, and a verdict,
    /// a hint or a metric could not tell them apart.
    #[error("members {first} and {second} of the set are both {provider}")]
    SameProvider {
        /// The earlier member's position, from 0.
        first: usize,
        /// The later member's position.
        second: usize,
        /// The provider.
        provider: Provider,
    },
    /// A member's policy, laid over the set's and its verifier's, asks for something its
    /// provider never reports.
    #[error("member {member} of the set: {error}")]
    Policy {
        /// The member's position, from 0.
        member: usize,
        /// Why.
        error: ConfigError,
    },
    /// What a page needs to show a member's widget is missing or contradicts its policy
    /// (a failover set offers every member that names a provider as a fallback).
    #[error("member {member} of the set: {reason}")]
    Widget {
        /// The member's position, from 0.
        member: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// One member's state, for a readiness endpoint. Serialises to JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MemberHealth {
    /// The member's provider (`None` for a verifier that names none).
    #[serde(serialize_with = "provider_name")]
    pub provider: Option<Provider>,
    /// Whether it can answer now: its circuit breaker is not open (a verifier that keeps no
    /// health counts as ready).
    pub ready: bool,
    /// Its verifier's health, when it keeps one.
    pub health: Option<Health>,
}

fn provider_name<S: serde::Serializer>(
    provider: &Option<Provider>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match provider {
        Some(provider) => s.serialize_str(provider.name()),
        None => s.serialize_none(),
    }
}

impl ProviderSet {
    /// Members in order of preference, the first the one pages show ([`SetMode::Failover`]).
    pub fn failover(members: impl IntoIterator<Item = Member>) -> Result<Self, SetError> {
        Self::build(SetMode::Failover, members.into_iter().collect(), None)
    }

    /// Members accepted side by side, none preferred ([`SetMode::SideBySide`]).
    pub fn side_by_side(members: impl IntoIterator<Item = Member>) -> Result<Self, SetError> {
        Self::build(SetMode::SideBySide, members.into_iter().collect(), None)
    }

    /// The route's policy for every member, under each member's own (see the type's docs).
    pub fn policy(self, policy: Policy) -> Result<Self, SetError> {
        let members = self
            .inner
            .seats
            .iter()
            .map(|seat| Member {
                verifier: seat.verifier.clone(),
                sources: seat.sources.clone(),
                policy: seat.own.clone(),
                site_key: seat.site_key.clone(),
                challenge_url: seat.challenge_url.clone(),
            })
            .collect();
        Self::build(self.inner.mode, members, Some(policy))
    }

    fn build(mode: SetMode, members: Vec<Member>, route: Option<Policy>) -> Result<Self, SetError> {
        if members.is_empty() {
            return Err(SetError::Empty);
        }
        let mut seats: Vec<Seat> = Vec::with_capacity(members.len());
        for (position, member) in members.into_iter().enumerate() {
            let provider = member.verifier.provider();
            if let Some(provider) = provider
                && let Some(first) = seats.iter().position(|s| s.provider == Some(provider))
            {
                return Err(SetError::SameProvider {
                    first,
                    second: position,
                    provider,
                });
            }
            for source in member.sources.iter() {
                if let Some(first) = seats
                    .iter()
                    .position(|s| s.sources.iter().any(|o| o.same_place(source)))
                {
                    return Err(SetError::SharedSource {
                        first,
                        second: position,
                        place: source.clone(),
                    });
                }
            }
            let policy = resolve(&member, route.as_ref()).map_err(|error| SetError::Policy {
                member: position,
                error,
            })?;
            let hint = hint(mode, &member, policy.as_ref()).map_err(|reason| SetError::Widget {
                member: position,
                reason,
            })?;
            seats.push(Seat {
                provider,
                verifier: member.verifier,
                own: member.policy,
                sources: member.sources,
                policy: policy.map(Arc::new),
                site_key: member.site_key,
                challenge_url: member.challenge_url,
                hint,
                unavailable_until: Stamp::new(),
            });
        }
        let order: Vec<usize> = (0..seats.len()).collect();
        let routing = routing(&seats, &order, seats.len());
        Ok(Self {
            inner: Arc::new(Inner {
                mode,
                seats,
                route,
                routing,
            }),
        })
    }

    /// How this set treats its members.
    pub fn mode(&self) -> SetMode {
        self.inner.mode
    }

    /// The members' providers, in the set's order (`None` for a verifier that names none).
    pub fn providers(&self) -> impl Iterator<Item = Option<Provider>> + '_ {
        self.inner.seats.iter().map(|seat| seat.provider)
    }

    /// The widget a page should show now: the first member, in order, that can answer (its
    /// circuit breaker is not open, and it has not answered `provider_unavailable` in the
    /// last while: a 429, say), or the first member when none can. `None` in
    /// [`SetMode::SideBySide`], and for a member whose verifier names no provider.
    pub fn recommended(&self) -> Option<&WidgetHint> {
        if self.inner.mode == SetMode::SideBySide {
            return None;
        }
        let seats = &self.inner.seats;
        let seat = seats
            .iter()
            .find(|seat| seat.is_ready())
            .unwrap_or(&seats[0]);
        seat.hint.as_ref()
    }

    /// The provider of [`recommended`](Self::recommended).
    pub fn recommended_provider(&self) -> Option<Provider> {
        self.recommended().map(|hint| hint.provider)
    }

    /// Each member's state, in the set's order. `ready` is what the set routes by: the
    /// breaker, and a recent `provider_unavailable` (a 429 never opens the breaker).
    pub fn health(&self) -> Vec<MemberHealth> {
        self.inner
            .seats
            .iter()
            .map(|seat| MemberHealth {
                provider: seat.provider,
                ready: seat.is_ready(),
                health: seat.verifier.health(),
            })
            .collect()
    }

    /// Verifies by hand a token that `provider`'s widget produced, with that member's policy
    /// on this set (a policy in `options` is laid over it). A provider that is not a member
    /// is your misconfiguration: `provider_misconfigured`.
    pub async fn verify(
        &self,
        provider: Provider,
        token: &str,
        options: &VerifyOptions,
    ) -> Result<Verdict, VerifyError> {
        let Some(seat) = self
            .inner
            .seats
            .iter()
            .find(|s| s.provider == Some(provider))
        else {
            tracing::warn!(
                provider = provider.name(),
                "a token for a provider that is not a member of this set"
            );
            return Err(VerifyError::ProviderMisconfigured {
                provider_codes: vec![],
            });
        };
        let mut options = options.clone();
        options.policy = match (options.policy.take(), &seat.policy) {
            (Some(call), Some(seat)) => Some(Arc::new(call.layered_over(seat))),
            (call, seat) => call.or_else(|| seat.clone()),
        };
        let outcome = seat.verifier.verify(token, &options).await;
        seat.record(&outcome);
        outcome
    }

    pub(crate) fn seats(&self) -> &[Seat] {
        &self.inner.seats
    }

    /// The sources in the order a request's token is looked for now: the set's order, with
    /// members that cannot answer moved after the others.
    pub(crate) fn routing(&self) -> Cow<'_, Routing> {
        let seats = &self.inner.seats;
        // The common case, with nothing allocated.
        if seats.iter().all(Seat::is_ready) {
            return Cow::Borrowed(&self.inner.routing);
        }
        let ready: Vec<bool> = seats.iter().map(Seat::is_ready).collect();
        let order: Vec<usize> = (0..seats.len())
            .filter(|i| ready[*i])
            .chain((0..seats.len()).filter(|i| !ready[*i]))
            .collect();
        let ready_members = ready.iter().filter(|r| **r).count();
        Cow::Owned(routing(seats, &order, ready_members))
    }

    /// The widget to offer instead of member `failed`'s when it cannot answer: the first
    /// other member, in order, that can and that a page can show.
    pub(crate) fn fallback_for(&self, failed: usize) -> Option<&WidgetHint> {
        if self.inner.mode == SetMode::SideBySide {
            return None;
        }
        self.inner
            .seats
            .iter()
            .enumerate()
            .filter(|(i, seat)| *i != failed && seat.hint.is_some() && seat.is_ready())
            .find_map(|(_, seat)| seat.hint.as_ref())
    }
}

/// The sources of the members in `order`, of which the first `ready` can answer.
fn routing(seats: &[Seat], order: &[usize], ready: usize) -> Routing {
    let mut sources = TokenSources::new();
    let mut owners = Vec::new();
    let mut preferred = 0;
    for (place, &seat) in order.iter().enumerate() {
        for source in seats[seat].sources.iter() {
            sources = sources.with(source.clone());
            owners.push(seat);
        }
        if place < ready {
            preferred = owners.len();
        }
    }
    Routing {
        sources,
        owners,
        preferred,
    }
}

/// What a page needs to show the member's widget: its provider, the site key (an explicit
/// one, else the one the policy binds, else the verifier's), the action the policy demands,
/// and for ALTCHA the challenge URL. A failover set needs it whole for every member that
/// names a provider.
fn hint(
    mode: SetMode,
    member: &Member,
    policy: Option<&Policy>,
) -> Result<Option<WidgetHint>, &'static str> {
    let Some(provider) = member.verifier.provider() else {
        if member.site_key.is_some() || member.challenge_url.is_some() {
            return Err(
                "a verifier that names no provider has no widget to give a site key or challenge URL to",
            );
        }
        return Ok(None);
    };
    let policy = policy.or(member.verifier.policy());
    let bound = policy.and_then(Policy::expected_site_key);
    if let (Some(explicit), Some(bound)) = (&member.site_key, bound)
        && explicit != bound
    {
        return Err("its site key is not the one its policy binds: every token would be refused");
    }
    if let (Some(explicit), Some(configured)) = (&member.site_key, member.verifier.site_key())
        && explicit != configured
    {
        return Err("its site key is not the one its verifier is configured with");
    }
    let site_key = member
        .site_key
        .as_deref()
        .or(bound)
        .or(member.verifier.site_key());
    let mut hint = WidgetHint::new(provider);
    if provider.is_hosted() {
        if member.challenge_url.is_some() {
            return Err("a challenge URL is for ALTCHA; a hosted provider's widget has a site key");
        }
        match site_key {
            Some(site_key) => hint = hint.with_site_key(site_key),
            None if mode == SetMode::Failover => {
                return Err(
                    "a page cannot show its widget without a site key: set one (Member::site_key, or the verifier's)",
                );
            }
            None => {}
        }
        if let Some(action) = policy.and_then(Policy::expected_action) {
            hint = hint.with_action(action);
        }
    } else {
        if member.site_key.is_some() {
            return Err("ALTCHA has no site key; its widget needs the challenge URL");
        }
        match &member.challenge_url {
            Some(url) => hint = hint.with_challenge_url(url),
            None if mode == SetMode::Failover => {
                return Err(
                    "a page cannot show the ALTCHA widget without its challenge URL: set Member::challenge_url",
                );
            }
            None => {}
        }
    }
    Ok(Some(hint))
}

/// The member's policy over the route's over the verifier's; `None` when neither adds one.
fn resolve(member: &Member, route: Option<&Policy>) -> Result<Option<Policy>, ConfigError> {
    if member.policy.is_none() && route.is_none() {
        return Ok(None);
    }
    let base = member.verifier.policy().cloned().unwrap_or_default();
    let over_route = match route {
        Some(route) => route.layered_over(&base),
        None => base,
    };
    let resolved = match &member.policy {
        Some(own) => own.layered_over(&over_route),
        None => over_route,
    };
    member.verifier.validate_policy(&resolved)?;
    Ok(Some(resolved))
}

impl fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSet")
            .field("mode", &self.inner.mode)
            .field("members", &self.inner.seats)
            .field("policy", &self.inner.route)
            .finish()
    }
}

impl fmt::Debug for Seat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("verifier", &self.verifier)
            .field("sources", &self.sources)
            .field("policy", &self.policy)
            .field("hint", &self.hint)
            .finish()
    }
}
