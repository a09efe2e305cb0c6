//! The bound on verifications in flight on one verifier.
//!
//! A verification past the bound is refused at once, never queued, so the bound needs no wait
//! list: one atomic counter, with no lock taken on the way in or out (a semaphore's release
//! locks its wait list, once per verification, on every core that verifies).

use std::sync::atomic::{AtomicUsize, Ordering};

/// At most `max` holders of a [`Slot`] at once.
#[derive(Debug)]
pub(crate) struct InFlight {
    current: AtomicUsize,
    max: usize,
}

/// One verification in flight; leaving it (dropping the slot) frees its place.
#[derive(Debug)]
pub(crate) struct Slot<'a>(&'a InFlight);

impl InFlight {
    /// A bound of `max` (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Self {
            current: AtomicUsize::new(0),
            max: max.max(1),
        }
    }

    /// A place, or `None` when `max` verifications are in flight already.
    pub(crate) fn try_enter(&self) -> Option<Slot<'_>> {
        // Taken first and given back when over: one atomic operation in the common case. A
        // verification refused in the instant another one overshoots is refused rightly, as
        // the bound was reached.
        if self.current.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.current.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(self))
    }

    /// Verifications in flight now.
    pub(crate) fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed).min(self.max)
    }

    /// The bound.
    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_bound_and_frees_on_drop() {
        let bound = InFlight::new(2);
        let first = bound.try_enter().expect("first");
        let second = bound.try_enter().expect("second");
        assert!(bound.try_enter().is_none(), "a third is refused");
        assert_eq!(bound.current(), 2);
        drop(first);
        assert_eq!(bound.current(), 1);
        let third = bound.try_enter().expect("a freed place is reused");
        drop((second, third));
        assert_eq!(bound.current(), 0);
    }

    #[test]
    fn zero_means_one() {
        let bound = InFlight::new(0);
        assert_eq!(bound.max(), 1);
        let _only = bound.try_enter().expect("one");
        assert!(bound.try_enter().is_none());
    }

    #[test]
    fn never_admits_more_than_the_bound_across_threads() {
        let bound = InFlight::new(3);
        let admitted = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        if let Some(_slot) = bound.try_enter() {
                            let now = admitted.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            admitted.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 3, "{peak:?}");
        assert_eq!(bound.current(), 0);
    }
}
