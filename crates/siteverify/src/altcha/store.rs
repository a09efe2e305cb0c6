//! The replay store: ALTCHA's protocol has no notion of a spent challenge, so the server keeps
//! one, and this is where.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, hash_map::Entry},
    fmt,
    future::Future,
    hash::{Hash, Hasher},
    pin::Pin,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Identifies one challenge in a store: a hash of its signature, so that nothing an attacker
/// chose is used as a key and every entry has the same small size.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChallengeId(pub(crate) [u8; 32]);

/// Half of the id is hashed, which is as good as all of it: ids are SHA-256 outputs, two
/// that share 16 bytes will not be found, and the map's hasher is keyed, so an id's bucket
/// cannot be predicted from the (public) id. The memory store keys its entries by that half
/// (its `Key`); equality of ids still compares every byte.
impl Hash for ChallengeId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Key::of(self).hash(state);
    }
}

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

    /// [`spend`](Self::spend) answered at once, for a store that never waits (one in this
    /// process's memory), with `now` as the time the `ttl` counts from: the verifier has just
    /// read the clock. `None`, the default, sends the verifier to `spend`.
    ///
    /// Every verification goes through the store, so for such a store this saves what `spend`
    /// costs on top of the work: a boxed future, its poll through a vtable, and a clock read.
    /// The promises are `spend`'s.
    fn spend_at(
        &self,
        id: &ChallengeId,
        ttl: Duration,
        now: SystemTime,
    ) -> Option<Result<Spend, StoreError>> {
        let _ = (id, ttl, now);
        None
    }
}

/// The default store: in this process's memory, bounded, and never evicting a live entry.
///
/// Each entry costs about 90 bytes. When `capacity` live challenges are held, new ones are
/// refused with [`StoreError::Full`] (and so every ALTCHA verification answers 503) until
/// some expire: a flood of fresh challenges can make the form unavailable, never replayable.
/// Size it above the number of challenges your site sees solved within one challenge
/// lifetime, and put the challenge route behind your own rate limit.
///
/// The entries are split over [`SHARDS`](Self::SHARDS) maps by id, each behind its own lock,
/// so that concurrent verifications rarely wait for each other and each map stays a fraction
/// of the whole; the capacity is one count over all of them.
pub struct MemoryStore {
    capacity: usize,
    /// Entries held over every shard (expired ones included until their shard drops them):
    /// a slot is taken here before an entry is inserted, so it never exceeds `capacity`.
    held: AtomicUsize,
    shards: Box<[Mutex<State>]>,
}

#[derive(Default)]
struct State {
    /// Each live id with its expiry. Wall-clock time, as the challenges' own expiry is: a
    /// clock stepped back keeps entries longer (never shorter than their challenges), and one
    /// stepped forward expires both together.
    live: HashMap<Key, Seconds>,
    /// The same entries by expiry, soonest first, so that expired ones are dropped in order.
    by_expiry: BinaryHeap<Reverse<(Seconds, Key)>>,
}

/// What an entry is found by: the id's first 16 bytes. Two SHA-256 outputs that share them
/// will not be found, nor made (that is a 128-bit collision), and were they, the second would
/// be taken for a replay of the first: a refusal, never a pass. An entry of the map and of
/// the heap is 24 bytes instead of 48; a store that grows to hundreds of thousands of
/// entries is that much less memory for every spend to reach into, and to evict the rest of
/// the request's work from the caches with.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key(u128);

impl Key {
    fn of(id: &ChallengeId) -> Self {
        let mut half = [0u8; 16];
        half.copy_from_slice(&id.0[..16]);
        Key(u128::from_le_bytes(half))
    }
}

/// Wall-clock time in whole seconds since the Unix epoch (negative before it): half the size
/// of a `SystemTime`. An expiry is rounded up and the time it is compared with down, so an
/// entry may be kept up to a second longer than it lives, never shorter.
type Seconds = i64;

fn seconds(at: SystemTime, round_up: bool) -> Seconds {
    let (whole, fraction, sign) = match at.duration_since(UNIX_EPOCH) {
        Ok(after) => (after.as_secs(), after.subsec_nanos() > 0, 1),
        Err(before) => (
            before.duration().as_secs(),
            before.duration().subsec_nanos() > 0,
            -1,
        ),
    };
    let whole = sign * i64::try_from(whole).unwrap_or(i64::MAX);
    // Up after the epoch adds the fraction's second, down before it takes one away.
    match (fraction, round_up, sign) {
        (true, true, 1) => whole.saturating_add(1),
        (true, false, -1) => whole.saturating_sub(1),
        _ => whole,
    }
}

impl State {
    /// Drops the entries expired at `now`; gives how many.
    fn purge(&mut self, now: Seconds) -> usize {
        let mut dropped = 0;
        while let Some(Reverse((expiry, _))) = self.by_expiry.peek()
            && *expiry <= now
        {
            let Some(Reverse((expiry, expired))) = self.by_expiry.pop() else {
                break;
            };
            // An id spent again after it expired has a newer expiry: this is its old one.
            if let Entry::Occupied(entry) = self.live.entry(expired)
                && *entry.get() == expiry
            {
                entry.remove();
                dropped += 1;
            }
        }
        dropped
    }
}

/// Default capacity of a [`MemoryStore`]: 250,000 live challenges, about 22 MiB when full.
pub const DEFAULT_MEMORY_STORE_CAPACITY: usize = 250_000;

impl MemoryStore {
    /// How many maps the entries are split over: a few per core of a large machine, few
    /// enough that an empty store stays small.
    pub const SHARDS: usize = 16;

    /// A store for at most `capacity` live challenges.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            held: AtomicUsize::new(0),
            shards: (0..Self::SHARDS)
                .map(|_| Mutex::new(State::default()))
                .collect(),
        }
    }

    /// How many challenges are held now (expired ones included until their shard's next
    /// write).
    pub fn len(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Whether no challenge is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than refusing every verification would.
        self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The shard of an id: its last byte (the hash of the maps uses its first half).
    fn shard_of(id: &ChallengeId) -> usize {
        usize::from(id.0[31]) % Self::SHARDS
    }

    /// Drops the expired entries of a locked shard from the count too.
    fn purge(&self, state: &mut State, now: Seconds) {
        let dropped = state.purge(now);
        if dropped > 0 {
            self.held.fetch_sub(dropped, Ordering::Relaxed);
        }
    }

    fn spend_now(
        &self,
        id: &ChallengeId,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<Spend, StoreError> {
        // A ttl too far to represent is remembered for as long as can be.
        let expiry = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        let (expiry, now) = (seconds(expiry, true), seconds(now, false));
        match self.try_spend(id, expiry, now) {
            Err(StoreError::Full { .. }) => {
                // Full, perhaps of entries other shards have not dropped yet (a shard drops
                // its expired ones when it is written to): drop them all, then try once more.
                // One shard locked at a time, this one's lock released: no order to deadlock.
                for shard in 0..Self::SHARDS {
                    let mut state = self.lock(shard);
                    self.purge(&mut state, now);
                }
                self.try_spend(id, expiry, now)
            }
            other => other,
        }
    }

    /// The atomic set-if-absent: the check and the insert under the id's shard lock, so two
    /// spends of one id cannot both find it absent.
    fn try_spend(
        &self,
        id: &ChallengeId,
        expiry: Seconds,
        now: Seconds,
    ) -> Result<Spend, StoreError> {
        let mut state = self.lock(Self::shard_of(id));
        self.purge(&mut state, now);
        let key = Key::of(id);
        let State { live, by_expiry } = &mut *state;
        match live.entry(key) {
            Entry::Occupied(held) if *held.get() > now => return Ok(Spend::Again),
            // Expired but still here: the purge above leaves none (every entry's expiry is in
            // the heap), but should one be, it is spent anew: its slot is counted already,
            // and its old expiry in the heap will be skipped.
            Entry::Occupied(mut held) => {
                held.insert(expiry);
            }
            Entry::Vacant(vacant) => {
                // Relaxed: the count is one atomic variable, each change a read-modify-write,
                // so no two spends can take the last slot; it orders nothing else.
                let reserved = self
                    .held
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < self.capacity).then_some(n + 1)
                    });
                if reserved.is_err() {
                    return Err(StoreError::Full {
                        capacity: self.capacity,
                    });
                }
                vacant.insert(expiry);
            }
        }
        by_expiry.push(Reverse((expiry, key)));
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

    fn spend_at(
        &self,
        id: &ChallengeId,
        ttl: Duration,
        now: SystemTime,
    ) -> Option<Result<Spend, StoreError>> {
        Some(self.spend_now(id, ttl, now))
    }
}

impl<S: ReplayStore> ReplayStore for std::sync::Arc<S> {
    fn spend<'a>(&'a self, id: &'a ChallengeId, ttl: Duration) -> StoreFuture<'a> {
        (**self).spend(id, ttl)
    }

    fn spend_at(
        &self,
        id: &ChallengeId,
        ttl: Duration,
        now: SystemTime,
    ) -> Option<Result<Spend, StoreError>> {
        (**self).spend_at(id, ttl, now)
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
        // Each shard drops its expired entries when it is written to.
        assert_eq!(store.spend_now(&id(1), ttl, later), Ok(Spend::First));
        assert_eq!(store.spend_now(&id(2), ttl, later), Ok(Spend::First));
        assert_eq!(store.len(), 3, "the expired entries were dropped");
    }

    #[test]
    fn an_entry_lives_at_least_its_ttl_to_the_nanosecond() {
        let store = MemoryStore::new(10);
        // Fractions of a second on both sides, after the epoch and before it.
        for (n, t0) in [
            UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999),
            UNIX_EPOCH + Duration::new(1_700_000_100, 1),
            UNIX_EPOCH - Duration::new(5_000, 500_000_000),
        ]
        .into_iter()
        .enumerate()
        {
            let fresh = id(n as u8);
            let ttl = Duration::new(10, 250_000_000);
            assert_eq!(store.spend_now(&fresh, ttl, t0), Ok(Spend::First));
            let last_moment = t0 + ttl - Duration::from_nanos(1);
            assert_eq!(store.spend_now(&fresh, ttl, last_moment), Ok(Spend::Again));
            // Gone within a second after it expired.
            let after = t0 + ttl + Duration::from_secs(1);
            assert_eq!(store.spend_now(&fresh, ttl, after), Ok(Spend::First));
        }
        assert_eq!(seconds(UNIX_EPOCH + Duration::new(7, 1), true), 8);
        assert_eq!(seconds(UNIX_EPOCH + Duration::new(7, 1), false), 7);
        assert_eq!(seconds(UNIX_EPOCH + Duration::new(7, 0), true), 7);
        assert_eq!(seconds(UNIX_EPOCH - Duration::new(7, 1), true), -7);
        assert_eq!(seconds(UNIX_EPOCH - Duration::new(7, 1), false), -8);
    }

    #[test]
    fn ids_are_told_apart_by_their_first_sixteen_bytes() {
        let store = MemoryStore::new(10);
        let t0 = SystemTime::now();
        let ttl = Duration::from_secs(60);
        let mut a = [7u8; 32];
        assert_eq!(store.spend_now(&ChallengeId(a), ttl, t0), Ok(Spend::First));
        a[15] ^= 1;
        assert_eq!(store.spend_now(&ChallengeId(a), ttl, t0), Ok(Spend::First));
        // Beyond them, a 128-bit collision of SHA-256 outputs: taken for a replay, never
        // for a fresh challenge.
        a[16] ^= 1;
        assert_eq!(store.spend_now(&ChallengeId(a), ttl, t0), Ok(Spend::Again));
    }

    #[tokio::test]
    async fn the_memory_store_answers_at_once_with_the_promises_of_spend() {
        // A store behind an `Arc` too: the verifier's configuration may hold one.
        let store = std::sync::Arc::new(MemoryStore::new(1));
        let t0 = SystemTime::now();
        let ttl = Duration::from_secs(60);
        assert_eq!(store.spend_at(&id(1), ttl, t0), Some(Ok(Spend::First)));
        assert_eq!(store.spend(&id(1), ttl).await, Ok(Spend::Again));
        assert_eq!(store.spend_at(&id(1), ttl, t0), Some(Ok(Spend::Again)));
        assert_eq!(
            store.spend_at(&id(2), ttl, t0),
            Some(Err(StoreError::Full { capacity: 1 }))
        );
    }

    /// Distinct ids, one in each shard in turn.
    fn spread(n: usize) -> impl Iterator<Item = ChallengeId> {
        (0..n).map(|i| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            id[31] = (i % MemoryStore::SHARDS) as u8;
            ChallengeId(id)
        })
    }

    #[test]
    fn the_capacity_bounds_all_shards_together() {
        let store = MemoryStore::new(5);
        let t0 = SystemTime::now();
        let ttl = Duration::from_secs(60);
        let results: Vec<_> = spread(100)
            .map(|id| store.spend_now(&id, ttl, t0))
            .collect();
        let firsts = results.iter().filter(|r| **r == Ok(Spend::First)).count();
        assert_eq!(firsts, 5);
        assert!(
            results[5..]
                .iter()
                .all(|r| *r == Err(StoreError::Full { capacity: 5 }))
        );
        assert_eq!(store.len(), 5);
        // Concurrently too: never more than the capacity, however the spends interleave.
        let store = MemoryStore::new(100);
        let ids: Vec<ChallengeId> = spread(2000).collect();
        let firsts: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(250)
                .map(|chunk| {
                    let store = &store;
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .filter(|id| store.spend_now(id, ttl, t0) == Ok(Spend::First))
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(firsts, 100);
        assert_eq!(store.len(), 100);
    }

    #[test]
    fn a_full_store_drops_what_expired_in_other_shards_before_refusing() {
        let store = MemoryStore::new(2);
        let t0 = SystemTime::now();
        let mut ids = spread(3);
        let (short, long, fresh) = (
            ids.next().unwrap(),
            ids.next().unwrap(),
            ids.next().unwrap(),
        );
        store
            .spend_now(&short, Duration::from_secs(10), t0)
            .unwrap();
        store.spend_now(&long, Duration::from_secs(60), t0).unwrap();
        // `short` expired in a shard nobody wrote to since; the store is not full of live
        // entries, so `fresh` (a third shard) is taken, and `long` is still held.
        let later = t0 + Duration::from_secs(11);
        assert_eq!(
            store.spend_now(&fresh, Duration::from_secs(60), later),
            Ok(Spend::First)
        );
        assert_eq!(
            store.spend_now(&long, Duration::from_secs(60), later),
            Ok(Spend::Again)
        );
        assert_eq!(store.len(), 2);
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
        // Many ids at once, over every shard: each passes exactly once.
        let ids: Vec<ChallengeId> = spread(64).collect();
        let firsts: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (store, ids) = (&store, &ids);
                    scope.spawn(move || {
                        ids.iter()
                            .filter(|id| {
                                store.spend_now(id, Duration::from_secs(60), SystemTime::now())
                                    == Ok(Spend::First)
                            })
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(firsts, 64);
    }
}
