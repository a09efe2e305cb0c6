//! A circuit breaker per verify endpoint: after a run of provider failures it stops sending
//! for a cool-down, answering at once, then lets one probe through.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak},
    time::Duration,
};

use serde::Serialize;
use tokio::time::Instant;

/// How many recent verifications the failure rate looks at.
const RECENT: usize = 100;

/// The breaker's state, as [`Health`](crate::Health) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakerState {
    /// Verifications go to the provider.
    Closed,
    /// The provider failed too often: verifications are answered at once until the cool-down
    /// ends.
    Open,
    /// The cool-down ended and one probe is with the provider.
    HalfOpen,
}

impl BreakerState {
    /// The lowercase name, as in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// `true` for a provider failure, most recent last.
    recent: VecDeque<bool>,
}

impl Inner {
    fn remember(&mut self, outcome: Outcome) {
        if outcome == Outcome::Neutral {
            return;
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(outcome == Outcome::Failure);
    }
}

/// One endpoint's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    inner: Mutex<Inner>,
    threshold: u32,
    cool_down: Duration,
}

/// How a verification that was let through went, for the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The provider answered (whatever it said of the token).
    Success,
    /// The provider is down ([`VerifyError::is_provider_outage`](crate::VerifyError::is_provider_outage)).
    Failure,
    /// Says nothing either way: a 429, a 500 or an unreadable answer (which a crafted token
    /// could provoke).
    Neutral,
}

/// Whether a verification may go to the provider.
#[derive(Debug)]
pub(crate) enum Admission<'a> {
    /// Yes. Report how it went with [`Breaker::record`].
    Allowed,
    /// Yes, as the probe after a cool-down; the guard frees the probe slot if the
    /// verification is dropped before it reports.
    Probe(ProbeGuard<'a>),
    /// No: the breaker is open.
    Refused { retry_after: Duration },
}

impl Breaker {
    /// The breaker shared by every verifier of `url`: the provider's health does not depend on
    /// which of our routes asks. The first verifier of an endpoint sets its thresholds.
    pub(crate) fn for_endpoint(url: &str, threshold: u32, cool_down: Duration) -> Arc<Breaker> {
        static REGISTRY: OnceLock<Mutex<HashMap<String, Weak<Breaker>>>> = OnceLock::new();
        let mut registry = REGISTRY
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        registry.retain(|_, breaker| breaker.strong_count() > 0);
        if let Some(existing) = registry.get(url).and_then(Weak::upgrade) {
            return existing;
        }
        let breaker = Arc::new(Breaker::new(threshold, cool_down));
        registry.insert(url.to_owned(), Arc::downgrade(&breaker));
        breaker
    }

    pub(crate) fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: State::Closed { failures: 0 },
                recent: VecDeque::with_capacity(RECENT),
            }),
            threshold: threshold.max(1),
            cool_down,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent across a panic elsewhere: every update is one assignment.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks to send a verification now.
    pub(crate) fn admit(&self) -> Admission<'_> {
        let mut inner = self.lock();
        match inner.state {
            State::Closed { .. } => return Admission::Allowed,
            // The clock is read only here, not on every verification.
            State::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Admission::Refused {
                        retry_after: until - now,
                    };
                }
            }
            State::HalfOpen { probing: false } => {}
            State::HalfOpen { probing: true } => {
                return Admission::Refused {
                    // The probe answers within one verification deadline at most.
                    retry_after: Duration::from_secs(1),
                };
            }
        }
        inner.state = State::HalfOpen { probing: true };
        Admission::Probe(ProbeGuard {
            breaker: self,
            reported: false,
        })
    }

    /// Reports a verification let through while the breaker was closed. Results that arrive
    /// once it has opened (verifications sent before) change nothing: only the probe decides.
    pub(crate) fn record(&self, outcome: Outcome) {
        let mut inner = self.lock();
        inner.remember(outcome);
        if let State::Closed { failures } = inner.state {
            inner.state = match outcome {
                Outcome::Failure if failures + 1 >= self.threshold => State::Open {
                    until: Instant::now() + self.cool_down,
                },
                Outcome::Failure => State::Closed {
                    failures: failures + 1,
                },
                Outcome::Success => State::Closed { failures: 0 },
                Outcome::Neutral => State::Closed { failures },
            };
        }
    }

    /// Reports the probe: a good answer closes the breaker, a failure opens it again, and a
    /// neutral one frees the probe slot for the next request.
    fn record_probe(&self, outcome: Outcome) {
        let mut inner = self.lock();
        inner.remember(outcome);
        inner.state = match outcome {
            Outcome::Success => State::Closed { failures: 0 },
            Outcome::Failure => State::Open {
                until: Instant::now() + self.cool_down,
            },
            Outcome::Neutral => State::HalfOpen { probing: false },
        };
    }

    /// The state now.
    pub(crate) fn state(&self) -> BreakerState {
        match self.lock().state {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if Instant::now() < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// The share of provider failures among the recent verifications (0.0 with none).
    pub(crate) fn recent_failure_rate(&self) -> f64 {
        let inner = self.lock();
        if inner.recent.is_empty() {
            return 0.0;
        }
        inner.recent.iter().filter(|f| **f).count() as f64 / inner.recent.len() as f64
    }
}

/// Holds the probe slot; frees it if the probe is dropped before it reports (a cancelled
/// request), so that the breaker does not stay half-open with nobody probing.
#[derive(Debug)]
pub(crate) struct ProbeGuard<'a> {
    breaker: &'a Breaker,
    reported: bool,
}

impl ProbeGuard<'_> {
    /// Reports the probe's outcome.
    pub(crate) fn record(mut self, outcome: Outcome) {
        self.reported = true;
        self.breaker.record_probe(outcome);
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if !self.reported {
            let mut inner = self.breaker.lock();
            if let State::HalfOpen { probing: true } = inner.state {
                inner.state = State::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_probes_and_closes() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert!(matches!(breaker.admit(), Admission::Allowed));
            breaker.record(Outcome::Failure);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record(Outcome::Failure);
        assert_eq!(breaker.state(), BreakerState::Open);
        let Admission::Refused { retry_after } = breaker.admit() else {
            panic!("open")
        };
        assert!(retry_after <= Duration::from_secs(10));

        tokio::time::advance(Duration::from_secs(10)).await;
        let Admission::Probe(probe) = breaker.admit() else {
            panic!("a probe")
        };
        assert!(
            matches!(breaker.admit(), Admission::Refused { .. }),
            "one probe at a time"
        );
        probe.record(Outcome::Success);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(matches!(breaker.admit(), Admission::Allowed));
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_probe_moves_a_breaker_that_has_opened() {
        let breaker = Breaker::new(1, Duration::from_secs(10));
        breaker.record(Outcome::Failure);
        tokio::time::advance(Duration::from_secs(10)).await;
        let Admission::Probe(probe) = breaker.admit() else {
            panic!("a probe")
        };
        // Verifications sent before the breaker opened come back late, either way.
        breaker.record(Outcome::Failure);
        breaker.record(Outcome::Success);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        probe.record(Outcome::Success);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_neutral_probe_frees_the_slot_without_closing() {
        let breaker = Breaker::new(1, Duration::from_secs(10));
        breaker.record(Outcome::Failure);
        tokio::time::advance(Duration::from_secs(10)).await;
        let Admission::Probe(probe) = breaker.admit() else {
            panic!("a probe")
        };
        probe.record(Outcome::Neutral);
        assert!(matches!(breaker.admit(), Admission::Probe(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_and_a_dropped_probe_frees_its_slot() {
        let breaker = Breaker::new(1, Duration::from_secs(5));
        breaker.record(Outcome::Failure);
        tokio::time::advance(Duration::from_secs(5)).await;
        let Admission::Probe(probe) = breaker.admit() else {
            panic!("a probe")
        };
        probe.record(Outcome::Failure);
        assert_eq!(breaker.state(), BreakerState::Open);

        tokio::time::advance(Duration::from_secs(5)).await;
        let Admission::Probe(probe) = breaker.admit() else {
            panic!("a probe")
        };
        drop(probe);
        assert!(
            matches!(breaker.admit(), Admission::Probe(_)),
            "the slot is free again"
        );
    }

    #[test]
    fn successes_reset_the_run_and_the_rate_counts_recent_outcomes() {
        let breaker = Breaker::new(3, Duration::from_secs(1));
        breaker.record(Outcome::Failure);
        breaker.record(Outcome::Failure);
        breaker.record(Outcome::Success);
        breaker.record(Outcome::Failure);
        assert_eq!(
            breaker.state(),
            BreakerState::Closed,
            "the run was broken by a success"
        );
        assert_eq!(breaker.recent_failure_rate(), 0.75);
    }

    #[test]
    fn verifiers_of_one_endpoint_share_a_breaker() {
        let a = Breaker::for_endpoint("http://shared.test/verify", 5, Duration::from_secs(1));
        let b = Breaker::for_endpoint("http://shared.test/verify", 9, Duration::from_secs(9));
        let c = Breaker::for_endpoint("http://other.test/verify", 5, Duration::from_secs(1));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
