use std::{borrow::Cow, fmt, sync::Arc};

use serde::Serialize;
use siteverify::{
    BoxVerifier, ConfigError, Health, Policy, Provider, Verdict, Verify, VerifyError, VerifyOptions,
};

use super::{Member, WidgetHint};
use crate::{TokenSource, TokenSources};

/// How a set treats its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetMode {
    /// Members in order of preference: the first is the one pages should show, the others
    /// are fallbacks. A token of a member that cannot answer is refused with 503
    /// `provider_unavailable` and a `fallback` naming the next member that can, and
    /// [`ProviderSet::recommended`] skips members whose circuit breaker is open.
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
/// swapped in the fallback), one rule picks one: header sources are read before body
/// sources (as for one verifier), and among sources of one kind, the member first in the
/// set's order wins, except that members whose circuit breaker is open come after every
/// member that can answer. In a multipart body, the token field that comes first in the body
/// wins (the layer stops reading there).
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
    hint: Option<WidgetHint>,
}

impl Seat {
    fn is_ready(&self) -> bool {
        self.verifier
            .health()
            .is_none_or(|health| health.is_ready())
    }
}

/// Token sources in one order, with the seat each belongs to.
#[derive(Clone)]
pub(crate) struct Routing {
    pub(crate) sources: TokenSources,
    pub(crate) owners: Vec<usize>,
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
    /// A member's policy, laid over the set's and its verifier's, asks for something its
    /// provider never reports.
    #[error("member {member} of the set: {error}")]
    Policy {
        /// The member's position, from 0.
        member: usize,
        /// Why.
        error: ConfigError,
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
                hint: seat.hint.clone(),
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
            for source in member.sources.iter() {
                if let Some(first) = seats
                    .iter()
                    .position(|s| s.sources.iter().any(|o| o == source))
                {
                    return Err(SetError::SharedSource {
                        first,
                        second: position,
                        place: source.clone(),
                    });
                }
            }
            let policy = resolve(&member, route.as_ref())
                .map_err(|error| SetError::Policy {
                    member: position,
                    error,
                })?
                .map(Arc::new);
            seats.push(Seat {
                provider: member.verifier.provider(),
                verifier: member.verifier,
                own: member.policy,
                sources: member.sources,
                policy,
                hint: member.hint,
            });
        }
        let order: Vec<usize> = (0..seats.len()).collect();
        let routing = routing(&seats, &order);
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
    /// circuit breaker is not open), or the first member when none can. `None` in
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

    /// Each member's state, in the set's order.
    pub fn health(&self) -> Vec<MemberHealth> {
        self.inner
            .seats
            .iter()
            .map(|seat| {
                let health = seat.verifier.health();
                MemberHealth {
                    provider: seat.provider,
                    ready: health.as_ref().is_none_or(Health::is_ready),
                    health,
                }
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
        seat.verifier.verify(token, &options).await
    }

    pub(crate) fn seats(&self) -> &[Seat] {
        &self.inner.seats
    }

    /// The sources in the order a request's token is looked for now: the set's order, with
    /// members that cannot answer moved after the others.
    pub(crate) fn routing(&self) -> Cow<'_, Routing> {
        let seats = &self.inner.seats;
        let ready: Vec<bool> = seats.iter().map(Seat::is_ready).collect();
        if ready.iter().all(|r| *r) {
            return Cow::Borrowed(&self.inner.routing);
        }
        let order: Vec<usize> = (0..seats.len())
            .filter(|i| ready[*i])
            .chain((0..seats.len()).filter(|i| !ready[*i]))
            .collect();
        Cow::Owned(routing(seats, &order))
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

fn routing(seats: &[Seat], order: &[usize]) -> Routing {
    let mut sources = TokenSources::new();
    let mut owners = Vec::new();
    for &seat in order {
        for source in seats[seat].sources.iter() {
            sources = sources.with(source.clone());
            owners.push(seat);
        }
    }
    Routing { sources, owners }
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
