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

/// One endpoint's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    inner: Mutex<Inner>,
    threshold: u32,
    cool_down: Duration,
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
        let now = Instant::now();
        match inner.state {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } if now < until => Admission::Refused {
                retry_after: until - now,
            },
            State::Open { .. } | State::HalfOpen { probing: false } => {
                inner.state = State::HalfOpen { probing: true };
                Admission::Probe(ProbeGuard {
                    breaker: self,
                    reported: false,
                })
            }
            State::HalfOpen { probing: true } => Admission::Refused {
                // The probe answers within one verification deadline at most.
                retry_after: Duration::from_secs(1),
            },
        }
    }

    /// Reports a verification that was allowed. `failed` is `true` for a provider outage.
    pub(crate) fn record(&self, failed: bool) {
        let mut inner = self.lock();
        if inner.recent.len() == RECENT {
            inner.recent.pop_front();
        }
        inner.recent.push_back(failed);
        inner.state = match (&inner.state, failed) {
            (State::Closed { failures }, true) if failures + 1 >= self.threshold => State::Open {
                until: Instant::now() + self.cool_down,
            },
            (State::Closed { failures }, true) => State::Closed {
                failures: failures + 1,
            },
            (State::HalfOpen { .. }, true) => State::Open {
                until: Instant::now() + self.cool_down,
            },
            (State::Open { until }, true) => State::Open { until: *until },
            (State::Open { until }, false) => State::Open { until: *until },
            (_, false) => State::Closed { failures: 0 },
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
    pub(crate) fn record(mut self, failed: bool) {
        self.reported = true;
        self.breaker.record(failed);
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
            breaker.record(true);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record(true);
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
        probe.record(false);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(matches!(breaker.admit(), Admission::Allowed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_and_a_dropped_probe_frees_its_slot() {
        let breaker = Breaker::new(1, Duration::from_secs(5));
        breaker.record(true);
        tokio::time::advance(Duration::from_secs(5)).await;
        let Admission::Probe(probe) = breaker.admit() else {
            panic!("a probe")
        };
        probe.record(true);
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
        breaker.record(true);
        breaker.record(true);
        breaker.record(false);
        breaker.record(true);
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
