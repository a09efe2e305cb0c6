//! The replay store: ALTCHA's protocol has no notion of a spent challenge, so the server keeps
//! one, and this is where.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    fmt,
    future::Future,
    pin::Pin,
    sync::Mutex,
    time::{Duration, SystemTime},
};

/// Identifies one challenge in a store: a hash of its signature, so that nothing an attacker
/// chose is used as a key and every entry has the same small size.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChallengeId(pub(crate) [u8; 32]);

impl ChallengeId {
    /// The id as lowercase hex, as the Redis store names its keys.
    pub fn to_hex(&self) -> String {
        super::crypto::hex(&self.0)
    }
}

impl fmt::Debug for ChallengeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell entries apart in a log.
        write!(f, "ChallengeId({}…)", &self.to_hex()[..12])
    }
}

/// What [`ReplayStore::spend`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spend {
    /// The challenge was not in the store and now is: this submission may pass.
    First,
    /// The challenge was already spent: a replay.
    Again,
}

/// A replay store could not answer. Verification then fails closed (`provider_unavailable`);
/// fail-open never covers it, since a client can provoke both.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store is full of challenges that have not expired. It refuses to record more
    /// rather than forget a live one, which would let that one be replayed.
    #[error("the replay store is full ({capacity} live challenges)")]
    Full {
        /// The store's capacity.
        capacity: usize,
    },
    /// The store cannot be reached (a Redis that is down, a timeout).
    #[error("the replay store is unavailable: {0}")]
    Unavailable(String),
}

/// A boxed future, for a trait that must stay object-safe.
pub type StoreFuture<'a> = Pin<Box<dyn Future<Output = Result<Spend, StoreError>> + Send + 'a>>;

/// Where spent challenges are remembered: [`MemoryStore`] for one process, `RedisStore`
/// (feature `redis`) for several app instances behind a load balancer, or your own.
///
/// The one operation is an atomic set-if-absent: [`spend`](Self::spend) records the
/// challenge for `ttl` unless it is already there, and says which. Two concurrent calls with
/// one id must not both see [`Spend::First`]. An entry must live at least `ttl`; a store may
/// not forget a live entry to make room (answer [`StoreError::Full`] instead).
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `id` for `ttl` if it is absent.
    fn spend<'a>(&'a self, id: &'a ChallengeId, ttl: Duration) -> StoreFuture<'a>;
}

/// The default store: in this process's memory, bounded, and never evicting a live entry.
///
/// Each entry costs about 100 bytes. When `capacity` live challenges are held, new ones are
/// refused with [`StoreError::Full`] (and so every ALTCHA verification answers 503) until
/// some expire: a flood of fresh challenges can make the form unavailable, never replayable.
/// Size it above the number of challenges your site sees solved within one challenge
/// lifetime, and put the challenge route behind your own rate limit.
pub struct MemoryStore {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Each live id with its expiry. Wall-clock time, as the challenges' own expiry is: a
    /// clock stepped back keeps entries longer (never shorter than their challenges), and one
    /// stepped forward expires both together.
    live: HashMap<ChallengeId, SystemTime>,
    /// The same entries by expiry, soonest first, so that expired ones are dropped in order.
    by_expiry: BinaryHeap<Reverse<(SystemTime, ChallengeId)>>,
}

/// Default capacity of a [`MemoryStore`]: 250,000 live challenges, about 30 MiB when full.
pub const DEFAULT_MEMORY_STORE_CAPACITY: usize = 250_000;

impl MemoryStore {
    /// A store for at most `capacity` live challenges.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    /// How many challenges are held now (expired ones included until the next write).
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether no challenge is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than refusing every verification would.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn spend_now(
        &self,
        id: &ChallengeId,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<Spend, StoreError> {
        let mut state = self.lock();
        let State { live, by_expiry } = &mut *state;
        while let Some(Reverse((expiry, _))) = by_expiry.peek()
            && *expiry <= now
        {
            let Some(Reverse((expiry, expired))) = by_expiry.pop() else {
                break;
            };
            if live.get(&expired) == Some(&expiry) {
                live.remove(&expired);
            }
        }
        if live.get(id).is_some_and(|expiry| *expiry > now) {
            return Ok(Spend::Again);
        }
        if live.len() >= self.capacity {
            return Err(StoreError::Full {
                capacity: self.capacity,
            });
        }
        // A ttl too far to represent is remembered for as long as can be.
        let expiry = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        live.insert(*id, expiry);
        by_expiry.push(Reverse((expiry, *id)));
        Ok(Spend::First)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_MEMORY_STORE_CAPACITY)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl ReplayStore for MemoryStore {
    fn spend<'a>(&'a self, id: &'a ChallengeId, ttl: Duration) -> StoreFuture<'a> {
        let result = self.spend_now(id, ttl, SystemTime::now());
        Box::pin(std::future::ready(result))
    }
}

impl<S: ReplayStore> ReplayStore for std::sync::Arc<S> {
    fn spend<'a>(&'a self, id: &'a ChallengeId, ttl: Duration) -> StoreFuture<'a> {
        (**self).spend(id, ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ChallengeId {
        ChallengeId([n; 32])
    }

    #[test]
    fn a_challenge_is_spent_once_until_it_expires() {
        let store = MemoryStore::new(10);
        let t0 = SystemTime::now();
        let ttl = Duration::from_secs(60);
        assert_eq!(store.spend_now(&id(1), ttl, t0), Ok(Spend::First));
        assert_eq!(store.spend_now(&id(1), ttl, t0), Ok(Spend::Again));
        assert_eq!(store.spend_now(&id(2), ttl, t0), Ok(Spend::First));
        let later = t0 + Duration::from_secs(61);
        assert_eq!(store.spend_now(&id(3), ttl, later), Ok(Spend::First));
        assert_eq!(store.len(), 1, "the expired entries were dropped");
    }

    #[test]
    fn a_full_store_refuses_instead_of_forgetting_a_live_entry() {
        let store = MemoryStore::new(2);
        let t0 = SystemTime::now();
        let ttl = Duration::from_secs(60);
        store.spend_now(&id(1), ttl, t0).unwrap();
        store.spend_now(&id(2), ttl, t0).unwrap();
        assert_eq!(
            store.spend_now(&id(3), ttl, t0),
            Err(StoreError::Full { capacity: 2 })
        );
        assert_eq!(
            store.spend_now(&id(1), ttl, t0),
            Ok(Spend::Again),
            "still held"
        );
        // Once one expires there is room again.
        let t1 = t0 + Duration::from_secs(61);
        assert_eq!(store.spend_now(&id(3), ttl, t1), Ok(Spend::First));
    }

    #[test]
    fn a_clock_stepped_back_keeps_entries_longer_never_shorter() {
        let store = MemoryStore::new(10);
        let t0 = SystemTime::now();
        store
            .spend_now(&id(1), Duration::from_secs(60), t0)
            .unwrap();
        let stepped_back = t0 - Duration::from_secs(3600);
        assert_eq!(
            store.spend_now(&id(1), Duration::from_secs(60), stepped_back),
            Ok(Spend::Again)
        );
    }

    #[test]
    fn concurrent_spends_of_one_id_give_one_first() {
        let store = std::sync::Arc::new(MemoryStore::new(1000));
        let firsts: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    let store = store.clone();
                    scope.spawn(move || {
                        (0..100)
                            .filter(|_| {
                                store.spend_now(&id(9), Duration::from_secs(60), SystemTime::now())
                                    == Ok(Spend::First)
                            })
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(firsts, 1);
    }
}
