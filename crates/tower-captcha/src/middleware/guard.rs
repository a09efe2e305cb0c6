//! What a layer decides with: one verifier, or a provider set. The rest of the decision
//! (fail-open, metrics, the failure response) is the same for both and lives in the service.

use std::{sync::Arc, time::SystemTime};

use http::request::Parts;
use http_body::Body;
use siteverify::{FailureCode, Policy, Provider, Verdict, Verify, VerifyError, VerifyOptions};

use super::{
    body::{BoxError, CaptchaBody},
    layer::Settings,
};
use crate::{ProviderSet, Rejection, WidgetHint, extract, set::Seat};

/// What a guard found out about a request.
pub(crate) struct Judgement {
    pub(crate) outcome: Result<Verdict, Rejection>,
    /// The provider of the verifier that judged.
    pub(crate) provider: Option<Provider>,
    /// The name of that verifier in logs and metrics.
    pub(crate) label: &'static str,
    /// The widget to show instead, when the provider could not answer. With one, the layer
    /// never fails open: another member can verify.
    pub(crate) fallback: Option<WidgetHint>,
    /// Whether the verifier was asked, and so counted the verification itself; what was
    /// decided without it (no token, a body that could not be read, another layer's verdict
    /// rechecked) is the layer's to count.
    pub(crate) asked: bool,
}

/// Finds the token and verifies it with the verifier it belongs to.
pub(crate) trait Guard: Send + Sync + 'static {
    fn judge<B>(
        &self,
        settings: &Settings,
        parts: &mut Parts,
        body: B,
    ) -> impl Future<Output = (Judgement, CaptchaBody<B>)> + Send
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>;

    /// [`judge`](Self::judge) done at once: on another layer's verdict, or on a token in a
    /// header or the query that nothing in the body could outrank, when its verifier
    /// answers without waiting ([`Verify::verify_now`]). `None` sends the request to
    /// `judge`, nothing having been decided or spent.
    fn judge_now(&self, settings: &Settings, parts: &Parts) -> Option<Judgement>;
}

impl Judgement {
    /// A judgement on behalf of the verifier of `provider` that did not ask it, with no
    /// fallback to offer.
    fn of(provider: Option<Provider>, outcome: Result<Verdict, Rejection>) -> Self {
        Self {
            outcome,
            provider,
            label: provider.map_or("custom", Provider::name),
            fallback: None,
            asked: false,
        }
    }

    /// The answer of the verifier of `provider`, with no fallback to offer.
    fn answered(provider: Option<Provider>, answer: Result<Verdict, VerifyError>) -> Self {
        Self {
            asked: true,
            ..Self::of(provider, answer.map_err(Rejection::from))
        }
    }
}

impl<V: Verify> Guard for V {
    fn judge_now(&self, settings: &Settings, parts: &Parts) -> Option<Judgement> {
        let provider = settings.provider;
        if let Some(outcome) = earlier_outcome(self, parts, settings) {
            return Some(Judgement::of(provider, outcome));
        }
        if !self.answers_at_once() {
            return None;
        }
        let decided =
            extract::decided_without_body(parts, &settings.sources, extract::EVERY_SOURCE)?;
        Some(match decided {
            Ok(found) => {
                let options = options(parts, settings, settings.policy.clone());
                Judgement::answered(provider, self.verify_now(&found.token, &options)?)
            }
            Err(rejection) => Judgement::of(provider, Err(rejection)),
        })
    }

    async fn judge<B>(
        &self,
        settings: &Settings,
        parts: &mut Parts,
        body: B,
    ) -> (Judgement, CaptchaBody<B>)
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let provider = settings.provider;
        if let Some(outcome) = earlier_outcome(self, parts, settings) {
            return (
                Judgement::of(provider, outcome),
                CaptchaBody::untouched(body),
            );
        }
        let (found, body) = extract::find_token(
            parts,
            body,
            &settings.sources,
            extract::EVERY_SOURCE,
            bounds(settings),
        )
        .await;
        let judgement = match found {
            Ok(found) => Judgement::answered(
                provider,
                verify(self, &found.token, parts, settings, settings.policy.clone()).await,
            ),
            Err(rejection) => Judgement::of(provider, Err(rejection)),
        };
        (judgement, body)
    }
}

impl Guard for ProviderSet {
    fn judge_now(&self, settings: &Settings, parts: &Parts) -> Option<Judgement> {
        let seats = self.seats();
        if let Some(judgement) = earlier_judgement(seats, parts, settings) {
            return Some(judgement);
        }
        if !seats.iter().any(|seat| seat.verifier.answers_at_once()) {
            return None;
        }
        let routing = self.routing();
        let found = match extract::decided_without_body(parts, &routing.sources, routing.preferred)?
        {
            Ok(found) => found,
            Err(rejection) => return Some(no_member(rejection)),
        };
        let chosen = routing.owners[found.source];
        let seat = &seats[chosen];
        if !seat.verifier.answers_at_once() {
            return None;
        }
        let options = options(parts, settings, seat.policy.clone());
        let verified = seat.verifier.verify_now(&found.token, &options)?;
        Some(self.judged(chosen, verified))
    }

    async fn judge<B>(
        &self,
        settings: &Settings,
        parts: &mut Parts,
        body: B,
    ) -> (Judgement, CaptchaBody<B>)
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let seats = self.seats();
        if let Some(judgement) = earlier_judgement(seats, parts, settings) {
            return (judgement, CaptchaBody::untouched(body));
        }
        let routing = self.routing();
        let (found, body) = extract::find_token(
            parts,
            body,
            &routing.sources,
            routing.preferred,
            bounds(settings),
        )
        .await;
        let found = match found {
            Ok(found) => found,
            Err(rejection) => return (no_member(rejection), body),
        };
        let chosen = routing.owners[found.source];
        let seat = &seats[chosen];
        let verified = verify(
            &seat.verifier,
            &found.token,
            parts,
            settings,
            seat.policy.clone(),
        )
        .await;
        (self.judged(chosen, verified), body)
    }
}

impl ProviderSet {
    /// The judgement of member `chosen`, which answered `verified`: recorded in its health,
    /// with the widget to fall back to if it could not answer.
    fn judged(&self, chosen: usize, verified: Result<Verdict, VerifyError>) -> Judgement {
        let seat = &self.seats()[chosen];
        // Before the fallback is chosen: a member that just failed is not offered back.
        seat.record(&verified);
        let judgement = Judgement::answered(seat.provider, verified);
        let fallback = match &judgement.outcome {
            Err(rejection) if rejection.failure_code() == FailureCode::ProviderUnavailable => {
                self.fallback_for(chosen).cloned()
            }
            _ => None,
        };
        Judgement {
            fallback,
            ..judgement
        }
    }
}

/// A set's judgement when no member's token was found.
fn no_member(rejection: Rejection) -> Judgement {
    Judgement {
        outcome: Err(rejection),
        provider: None,
        // No token, so no member: the set's own name in logs and metrics.
        label: "set",
        fallback: None,
        asked: false,
    }
}

/// A verdict another layer put on this request (an app-wide guard around this route's,
/// say), if this layer may build on it. Its token is spent, so the verdict is checked
/// against this layer's own, possibly stricter, policy instead of asking the provider again.
/// A degraded verdict (an outer fail-open layer let the request through unverified) carries
/// no facts: a fail-open layer passes it on as it is, a fail-closed one verifies the token
/// itself (it was never accepted by the provider, so it is not spent).
fn earlier_verdict<'p>(parts: &'p Parts, settings: &Settings) -> Option<&'p Verdict> {
    parts
        .extensions
        .get::<Verdict>()
        .filter(|verdict| !verdict.degraded || settings.fail_open)
}

/// For a single verifier: another layer's verdict, checked against this layer's policy, if
/// it is one this verifier can vouch for. One that names no provider cannot: it verifies the
/// token itself.
fn earlier_outcome<V: Verify>(
    verifier: &V,
    parts: &Parts,
    settings: &Settings,
) -> Option<Result<Verdict, Rejection>> {
    let verdict =
        earlier_verdict(parts, settings).filter(|v| settings.provider == Some(v.provider))?;
    Some(recheck(verdict, verifier, settings.policy.as_deref()))
}

/// For a provider set: another layer's verdict, rechecked by the member whose provider gave
/// it, as that member's judgement.
fn earlier_judgement(seats: &[Seat], parts: &Parts, settings: &Settings) -> Option<Judgement> {
    let verdict = earlier_verdict(parts, settings)?;
    let seat = seats
        .iter()
        .find(|s| s.provider == Some(verdict.provider))?;
    let outcome = recheck(verdict, &seat.verifier, seat.policy.as_deref());
    Some(Judgement::of(seat.provider, outcome))
}

/// `verdict`, checked by `verifier` with every rule it applies to its own answers.
fn recheck<V: Verify>(
    verdict: &Verdict,
    verifier: &V,
    policy: Option<&Policy>,
) -> Result<Verdict, Rejection> {
    if !verdict.degraded {
        verifier.check_verdict(verdict, policy, SystemTime::now())?;
    }
    Ok(verdict.clone())
}

fn bounds(settings: &Settings) -> extract::ReadBounds {
    extract::ReadBounds {
        limit: settings.body_limit,
        timeout: settings.body_read_timeout,
    }
}

async fn verify<V: Verify>(
    verifier: &V,
    token: &str,
    parts: &Parts,
    settings: &Settings,
    policy: Option<Arc<Policy>>,
) -> Result<Verdict, VerifyError> {
    verifier
        .verify(token, &options(parts, settings, policy))
        .await
}

/// The options of a verification of `parts`' token under `policy`.
fn options(parts: &Parts, settings: &Settings, policy: Option<Arc<Policy>>) -> VerifyOptions {
    let mut options = VerifyOptions::new();
    options.remote_ip = settings.client_ip.client_ip(parts);
    // Already layered over the verifier's policy when the layer was built; the verifier
    // layers it again, which changes nothing.
    options.policy = policy;
    options
}
