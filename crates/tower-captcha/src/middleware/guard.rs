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

    /// [`judge`](Self::judge) done at once, when the token is in a header or the query (or
    /// another layer's verdict stands) and the verifier answers without waiting; `None`
    /// sends the request to `judge`, nothing having been decided.
    fn judge_now(&self, settings: &Settings, parts: &Parts) -> Option<Judgement>;
}

impl Judgement {
    /// The judgement of the verifier of `provider`, with no fallback to offer.
    fn of(provider: Option<Provider>, outcome: Result<Verdict, Rejection>) -> Self {
        Self {
            outcome,
            provider,
            label: provider.map_or("custom", Provider::name),
            fallback: None,
        }
    }
}

impl<V: Verify> Guard for V {
    fn judge_now(&self, settings: &Settings, parts: &Parts) -> Option<Judgement> {
        let provider = settings.provider;
        if let Some(outcome) = earlier_outcome(self, parts, settings) {
            return Some(Judgement::of(provider, outcome));
        }
        let outcome = match extract::without_body(parts, &settings.sources)? {
            Ok(found) => self
                .verify_now(
                    &found.token,
                    &options(parts, settings, settings.policy.clone()),
                )?
                .map_err(Rejection::from),
            Err(rejection) => Err(rejection),
        };
        Some(Judgement::of(provider, outcome))
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
        let outcome = match found {
            Ok(found) => verify(self, &found.token, parts, settings, settings.policy.clone())
                .await
                .map_err(Rejection::from),
            Err(rejection) => Err(rejection),
        };
        (Judgement::of(provider, outcome), body)
    }
}

impl Guard for ProviderSet {
    /// A set always reads the body, since a token there may outrank one in a header: it
    /// decides at once only on another layer's verdict.
    fn judge_now(&self, settings: &Settings, parts: &Parts) -> Option<Judgement> {
        let (seat, verdict) = earlier_seat(self.seats(), parts, settings)?;
        Some(Judgement::of(
            seat.provider,
            recheck(verdict, &seat.verifier, seat.policy.as_deref()),
        ))
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
        if let Some((seat, verdict)) = earlier_seat(seats, parts, settings) {
            let outcome = recheck(verdict, &seat.verifier, seat.policy.as_deref());
            return (
                Judgement::of(seat.provider, outcome),
                CaptchaBody::untouched(body),
            );
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
            Err(rejection) => {
                let judgement = Judgement {
                    outcome: Err(rejection),
                    provider: None,
                    // No token, so no member: the set's own name in logs and metrics.
                    label: "set",
                    fallback: None,
                };
                return (judgement, body);
            }
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
        // Before the fallback is chosen: a member that just failed is not offered back.
        seat.record(&verified);
        let outcome = verified.map_err(Rejection::from);
        let fallback = match &outcome {
            Err(rejection) if rejection.failure_code() == FailureCode::ProviderUnavailable => {
                self.fallback_for(chosen).cloned()
            }
            _ => None,
        };
        let judgement = Judgement {
            fallback,
            ..Judgement::of(seat.provider, outcome)
        };
        (judgement, body)
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

/// For a provider set: another layer's verdict, and the member whose provider gave it.
fn earlier_seat<'s, 'p>(
    seats: &'s [Seat],
    parts: &'p Parts,
    settings: &Settings,
) -> Option<(&'s Seat, &'p Verdict)> {
    let verdict = earlier_verdict(parts, settings)?;
    let seat = seats
        .iter()
        .find(|s| s.provider == Some(verdict.provider))?;
    Some((seat, verdict))
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
