//! The replay store: ALTCHA's protocol has no notion of a spent challenge, so the server keeps
//! one, and this is where.

use std::{
    fmt,
    future::Future,
    hash::{BuildHasher, Hash, Hasher, RandomState},
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

/// The id's first 12 bytes are hashed, which is as good as all of it: ids are SHA-256
/// outputs, two that share 12 bytes will not be found, and a map's hasher is keyed, so an
/// id's bucket cannot be predicted from the (public) id. The memory store keys its entries
/// by those bytes (its `Key`); equality of ids still compares every byte.
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

    /// Whether [`spend_at`](Self::spend_at) always answers. A verifier asked to answer
    /// without waiting ([`Verify::verify_now`](crate::Verify::verify_now)) asks this before it
    /// does any work, rather than check a payload only to find it must wait for the store.
    /// `false` by default.
    fn answers_at_once(&self) -> bool {
        false
    }
}

/// The default store: in this process's memory, bounded, and never evicting a live entry.
///
/// Each entry is 16 bytes in a table kept between a quarter and seven tenths full, so a live
/// challenge costs 23 to 64 bytes (and a store in use at least 16 KiB, its tables' first
/// size). When `capacity` challenges are held, new ones are refused with
/// [`StoreError::Full`] (and so every ALTCHA verification answers 503) until some expire: a
/// flood of fresh challenges can make the form unavailable, never replayable. Size it above
/// the number of challenges your site sees solved within one challenge lifetime, and put the
/// challenge route behind your own rate limit.
///
/// The entries are split over [`SHARDS`](Self::SHARDS) tables by a keyed hash of the id,
/// each behind its own lock, so that concurrent verifications rarely wait for each other and
/// each table stays a fraction of the whole; the capacity is one count over all of them. A
/// table is resized only by a spend into it, so memory stays at its peak until spends come
/// again.
///
/// Expiry is wall-clock time, as the challenges' own is: a clock stepped forward expires
/// entries and challenges together, and should it step back past them, those challenges
/// would verify again, here as with any store that forgets what expired.
pub struct MemoryStore {
    capacity: usize,
    /// Entries held over every shard (expired ones included until their shard drops them):
    /// a slot is taken here before an entry is inserted, so it never exceeds `capacity`.
    held: AtomicUsize,
    /// Where an entry's shard and table position come from: keyed, so that the (public) ids
    /// cannot be picked to pile up in one shard or one stretch of a table.
    hasher: RandomState,
    /// The second the entries' stamps count from: `2^31` seconds before the store was made,
    /// so that 32 bits reach 68 years either side of it.
    base: Seconds,
    shards: Box<[Mutex<Table>]>,
}

/// One shard: an open-addressing table of entries, probed linearly from an entry's home.
///
/// An entry is the id's first 12 bytes and its expiry, packed in 16 bytes, four to a cache
/// line, with nothing beside it: one spend reads one line or two, and a store of hundreds of
/// thousands of entries takes as little as it can of the caches the rest of the request's
/// work needs.
///
/// Expired entries are not dropped one by one, which would need them kept in order of
/// expiry too: a spend that probes over one takes its slot, and a table whose slots run short
/// is rebuilt without them, as it would be rebuilt to grow. `earliest` says when there can be any, so that a store full
/// of live challenges refuses at once instead of looking for them.
#[derive(Default)]
struct Table {
    /// A power of two long, or empty before the first entry. An empty slot is 0: no entry
    /// has expiry 0 (see [`MemoryStore::stamp`]).
    slots: Box<[u128]>,
    /// Slots not empty, expired entries included.
    occupied: usize,
    /// No entry expires before this stamp.
    earliest: u32,
}

/// What an entry is found by: the id's first 12 bytes. Two SHA-256 outputs that share them
/// will not be found among the entries a store holds (with a million live entries, one pair
/// in 2^57), and were they, the second would be taken for a replay of the first: a refusal,
/// never a pass.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key(u128);

impl Key {
    fn of(id: &ChallengeId) -> Self {
        let mut part = [0u8; 16];
        part[..12].copy_from_slice(&id.0[..12]);
        Key(u128::from_le_bytes(part))
    }

    fn entry(self, expiry: u32) -> u128 {
        self.0 << 32 | u128::from(expiry)
    }

    fn in_entry(entry: u128) -> Self {
        Key(entry >> 32)
    }
}

/// The expiry stamp of an entry (its low 32 bits).
fn expiry_of(entry: u128) -> u32 {
    entry as u32
}

/// Wall-clock time in whole seconds since the Unix epoch (negative before it). An expiry is
/// rounded up and the time it is compared with down, so an entry may be kept up to a second
/// longer than it lives, never shorter.
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

/// A table is rebuilt before it is more than seven tenths full, which keeps the probes short
/// (under two cache lines on average for a miss), and rebuilt at least twice as big as its
/// live entries, so that rebuilding costs a constant per spend.
const MAX_LOAD: (usize, usize) = (7, 10);
const FIRST_SLOTS: usize = 64;

impl Table {
    /// The atomic set-if-absent of one shard, the lock held. `take_slot` is asked before an
    /// entry takes a slot that was empty, and may refuse it (`None`). Gives, beside what was
    /// found, how many expired entries a rebuild on the way dropped: their slots are free.
    fn spend(
        &mut self,
        hasher: &RandomState,
        (key, hash): (Key, u64),
        expiry: u32,
        now: u32,
        take_slot: impl FnOnce() -> bool,
    ) -> Option<(Spend, usize)> {
        if self.slots.is_empty() {
            self.rebuild(hasher, 0, now);
        }
        let mut at = self.home(hash);
        let mut expired = None;
        loop {
            let entry = self.slots[at];
            if entry == 0 {
                break;
            }
            let held = expiry_of(entry);
            if Key::in_entry(entry) == key {
                if held > now {
                    return Some((Spend::Again, 0));
                }
                // Spent before, expired since: spent anew, in its own slot.
                expired = Some(at);
                break;
            }
            if held <= now && expired.is_none() {
                expired = Some(at);
            }
            at = self.next(at);
        }
        // Not found: an expired entry on the way gives up its slot, which is counted already.
        if let Some(slot) = expired {
            self.slots[slot] = key.entry(expiry);
            self.earliest = self.earliest.min(expiry);
            return Some((Spend::First, 0));
        }
        if !take_slot() {
            return None;
        }
        let mut dropped = 0;
        if (self.occupied + 1) * MAX_LOAD.1 > self.slots.len() * MAX_LOAD.0 {
            dropped = self.rebuild(hasher, 1, now);
            at = self.vacant(hash);
        }
        // After any rebuild, which sets `earliest` from the entries it kept.
        self.slots[at] = key.entry(expiry);
        self.earliest = self.earliest.min(expiry);
        self.occupied += 1;
        Some((Spend::First, dropped))
    }

    /// How many entries are live at `now`.
    fn live(&self, now: u32) -> usize {
        self.slots
            .iter()
            .filter(|&&entry| expiry_of(entry) > now)
            .count()
    }

    /// Moves the entries live at `now` into a new table with room for `more`: at least twice
    /// as many slots as they will be, a power of two, never below the first size, so that it
    /// is at most half full when rebuilt. Gives how many expired entries were dropped.
    fn rebuild(&mut self, hasher: &RandomState, more: usize, now: u32) -> usize {
        let slots = (2 * (self.live(now) + more))
            .next_power_of_two()
            .max(FIRST_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![0; slots].into_boxed_slice());
        let before = self.occupied;
        self.occupied = 0;
        self.earliest = u32::MAX;
        for entry in old.iter().copied().filter(|&e| expiry_of(e) > now) {
            let at = self.vacant(hasher.hash_one(Key::in_entry(entry)));
            self.slots[at] = entry;
            self.occupied += 1;
            self.earliest = self.earliest.min(expiry_of(entry));
        }
        before - self.occupied
    }

    /// Where the probe of a key of this hash starts: the hash's low bits (its high ones chose
    /// the shard).
    fn home(&self, hash: u64) -> usize {
        // Truncation on a 32-bit target is intended: a table is shorter than 2^32 there.
        hash as usize & (self.slots.len() - 1)
    }

    fn next(&self, at: usize) -> usize {
        (at + 1) & (self.slots.len() - 1)
    }

    /// The first empty slot from the home of a key of this hash.
    fn vacant(&self, hash: u64) -> usize {
        let mut at = self.home(hash);
        while self.slots[at] != 0 {
            at = self.next(at);
        }
        at
    }

    /// Drops the entries expired at `now`, if there can be any; gives how many.
    fn purge(&mut self, hasher: &RandomState, now: u32) -> usize {
        if now < self.earliest || self.slots.is_empty() {
            return 0;
        }
        self.rebuild(hasher, 0, now)
    }
}

/// Default capacity of a [`MemoryStore`]: 250,000 live challenges, about 8 MiB when full.
pub const DEFAULT_MEMORY_STORE_CAPACITY: usize = 250_000;

impl MemoryStore {
    /// How many tables the entries are split over: a few per core of a large machine, few
    /// enough that an empty store stays small.
    pub const SHARDS: usize = 16;

    /// A store for at most `capacity` live challenges.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            held: AtomicUsize::new(0),
            hasher: RandomState::new(),
            base: seconds(SystemTime::now(), false).saturating_sub(1 << 31),
            shards: (0..Self::SHARDS)
                .map(|_| Mutex::new(Table::default()))
                .collect(),
        }
    }

    /// How many challenges are held now (expired ones included until their shard drops
    /// them).
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

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock cannot leave a table inconsistent in a way that
        // matters more than refusing every verification would.
        self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The shard of a key of this (keyed) hash: its top bits, the table's home taking the
    /// low ones. Not a byte of the id, which is public: an attacker keeping only the
    /// challenges whose ids share it could pile every entry into one table, and every
    /// rebuild would be of the whole store.
    fn shard_of(hash: u64) -> usize {
        const _: () = assert!(MemoryStore::SHARDS.is_power_of_two());
        (hash >> (64 - Self::SHARDS.trailing_zeros())) as usize
    }

    /// `at` as a stamp: seconds from the store's base, within 32 bits, at least `floor`. Times
    /// beyond either end are held at it, which keeps an entry longer, never shorter: a time
    /// at the bottom (a clock 68 years back) expires nothing, and the top is for expiries
    /// only, `now` stopping a second short of it, so an expiry there never passes.
    fn stamp(&self, at: SystemTime, round_up: bool, floor: u32) -> u32 {
        let since = seconds(at, round_up).saturating_sub(self.base);
        u32::try_from(since.max(0)).unwrap_or(u32::MAX).max(floor)
    }

    /// The stamp of the time an expiry is compared with.
    fn now_stamp(&self, now: SystemTime) -> u32 {
        self.stamp(now, false, 0).min(u32::MAX - 1)
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
            .map_or(u32::MAX, |at| self.stamp(at, true, 1));
        let now = self.now_stamp(now);
        match self.try_spend(id, expiry, now) {
            Err(StoreError::Full { .. }) => {
                // Full, perhaps of entries other shards have not dropped yet (a shard drops
                // its expired ones when it runs short of slots): drop them all, then try
                // once more. One shard locked at a time, this one's lock released: no order
                // to deadlock. A shard with nothing expired is passed over at once.
                for shard in 0..Self::SHARDS {
                    let dropped = self.lock(shard).purge(&self.hasher, now);
                    self.release(dropped);
                }
                self.try_spend(id, expiry, now)
            }
            other => other,
        }
    }

    fn release(&self, slots: usize) {
        if slots > 0 {
            self.held.fetch_sub(slots, Ordering::Relaxed);
        }
    }

    /// The atomic set-if-absent: the check and the insert under the id's shard lock, so two
    /// spends of one id cannot both find it absent.
    fn try_spend(&self, id: &ChallengeId, expiry: u32, now: u32) -> Result<Spend, StoreError> {
        let key = Key::of(id);
        let hash = self.hasher.hash_one(key);
        let mut table = self.lock(Self::shard_of(hash));
        let take_slot = || {
            // Relaxed: the count is one atomic variable, each change a read-modify-write, so
            // no two spends can take the last slot; it orders nothing else.
            self.held
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < self.capacity).then_some(n + 1)
                })
                .is_ok()
        };
        let spent = table.spend(&self.hasher, (key, hash), expiry, now, take_slot);
        drop(table);
        let (spend, dropped) = spent.ok_or(StoreError::Full {
            capacity: self.capacity,
        })?;
        self.release(dropped);
        Ok(spend)
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

    fn answers_at_once(&self) -> bool {
        true
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

    fn answers_at_once(&self) -> bool {
        (**self).answers_at_once()
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
    fn ids_are_told_apart_by_their_first_twelve_bytes() {
        let store = MemoryStore::new(10);
        let t0 = SystemTime::now();
        let ttl = Duration::from_secs(60);
        let mut a = [7u8; 32];
        assert_eq!(store.spend_now(&ChallengeId(a), ttl, t0), Ok(Spend::First));
        for byte in [0, 11] {
            a[byte] ^= 1;
            assert_eq!(store.spend_now(&ChallengeId(a), ttl, t0), Ok(Spend::First));
        }
        // Beyond them, a 96-bit collision of SHA-256 outputs: taken for a replay, never for
        // a fresh challenge.
        a[12] ^= 1;
        assert_eq!(store.spend_now(&ChallengeId(a), ttl, t0), Ok(Spend::Again));
    }

    /// Ids as SHA-256 gives them: every byte random.
    fn random_ids(n: usize, seed: u64) -> Vec<ChallengeId> {
        (0..n as u64)
            .map(|i| {
                let digest = crate::altcha::crypto::Sha::Sha256
                    .digest(&[&seed.to_le_bytes(), &i.to_le_bytes()]);
                let mut id = [0u8; 32];
                id.copy_from_slice(&digest);
                ChallengeId(id)
            })
            .collect()
    }

    #[test]
    fn a_growing_table_keeps_every_entry_and_finds_every_replay() {
        // Thousands of entries per shard: each table rebuilt to grow several times, entries
        // wrapping around its end; each one still found, as itself only.
        let store = MemoryStore::new(100_000);
        let t0 = SystemTime::now();
        let ttl = Duration::from_secs(60);
        let ids = random_ids(50_000, 1);
        assert!(
            ids.iter()
                .all(|id| store.spend_now(id, ttl, t0) == Ok(Spend::First))
        );
        assert_eq!(store.len(), 50_000);
        assert!(
            ids.iter()
                .all(|id| store.spend_now(id, ttl, t0) == Ok(Spend::Again))
        );
        let others = random_ids(1000, 2);
        assert!(
            others
                .iter()
                .all(|id| store.spend_now(id, ttl, t0) == Ok(Spend::First))
        );
        assert_eq!(store.len(), 51_000);
        // Each table at most seven tenths full, at least a third (but the smallest).
        for shard in 0..MemoryStore::SHARDS {
            let table = store.lock(shard);
            let (occupied, slots) = (table.occupied, table.slots.len());
            assert!(occupied * 10 <= slots * 7, "{occupied} of {slots}");
            assert!(
                occupied * 3 >= slots || slots == FIRST_SLOTS,
                "{occupied} of {slots}"
            );
        }
    }

    #[test]
    fn expired_entries_give_up_their_slots_and_never_hide_live_ones() {
        // Waves of entries with lifetimes of 1 to 4 seconds, spent over 40 seconds, checked
        // against a plain map of what must still be held.
        let store = MemoryStore::new(1_000_000);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ids = random_ids(40 * 500, 3);
        let mut model: std::collections::HashMap<usize, SystemTime> = Default::default();
        for (i, id) in ids.iter().enumerate() {
            let now = t0 + Duration::from_millis(i as u64 * 2);
            let ttl = Duration::from_secs(1 + (i % 4) as u64);
            assert_eq!(store.spend_now(id, ttl, now), Ok(Spend::First), "{i}");
            model.insert(i, now + ttl);
            // An earlier one, live or not, is told as the model tells it.
            let j = (i * 7919) % (i + 1);
            let expected = if model[&j] > now {
                Spend::Again
            } else if model[&j] + Duration::from_secs(1) <= now {
                Spend::First
            } else {
                // Within a second after its end: kept or not, as the stamps round.
                continue;
            };
            assert_eq!(
                store.spend_now(&ids[j], ttl, now),
                Ok(expected),
                "{j} at {i}"
            );
            if expected == Spend::First {
                model.insert(j, now + ttl);
            }
        }
        // Expired entries are held only until their table runs short of slots: a table is
        // rebuilt at most 7/10 full, at most four times as big as its live entries then, so
        // about three times the live ones (the smallest tables aside), where keeping every
        // entry would hold all 20,000.
        let end = t0 + Duration::from_millis(ids.len() as u64 * 2);
        let live = model.values().filter(|&&expiry| expiry > end).count();
        let bound = 3 * live + MemoryStore::SHARDS * FIRST_SLOTS;
        assert!(store.len() <= bound, "{} held, {live} live", store.len());
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

    /// Distinct ids for `store`, one in each of its shards in turn.
    fn spread(store: &MemoryStore, n: usize) -> impl Iterator<Item = ChallengeId> {
        let mut candidates = (0u64..).map(|i| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.to_le_bytes());
            ChallengeId(id)
        });
        let shard = |id: &ChallengeId| MemoryStore::shard_of(store.hasher.hash_one(Key::of(id)));
        (0..n).map(move |i| {
            let wanted = i % MemoryStore::SHARDS;
            candidates
                .find(|id| shard(id) == wanted)
                .expect("an id in every shard")
        })
    }

    #[test]
    fn the_capacity_bounds_all_shards_together() {
        let store = MemoryStore::new(5);
        let t0 = SystemTime::now();
        let ttl = Duration::from_secs(60);
        let results: Vec<_> = spread(&store, 100)
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
        let ids: Vec<ChallengeId> = spread(&store, 2000).collect();
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
        let mut ids = spread(&store, 3);
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
    fn a_clock_far_beyond_the_stamps_still_refuses_replays() {
        // 70 years after the store was made, past the top of its 32-bit stamps: every
        // expiry is held there, and `now` a second short of it.
        let store = MemoryStore::new(10);
        let far = SystemTime::now() + Duration::from_secs(70 * 365 * 86_400);
        let ttl = Duration::from_secs(360);
        assert_eq!(store.spend_now(&id(1), ttl, far), Ok(Spend::First));
        assert_eq!(store.spend_now(&id(1), ttl, far), Ok(Spend::Again));
        let farther = far + Duration::from_secs(86_400);
        assert_eq!(store.spend_now(&id(1), ttl, farther), Ok(Spend::Again));
    }

    /// Ids in `shard` of `store`.
    fn in_shard(store: &MemoryStore, shard: usize) -> impl Iterator<Item = ChallengeId> {
        random_ids(100_000, 4)
            .into_iter()
            .filter(move |id| MemoryStore::shard_of(store.hasher.hash_one(Key::of(id))) == shard)
    }

    #[test]
    fn the_entry_that_makes_a_table_grow_is_dropped_when_it_expires() {
        // The 45th entry of a table of 64 slots rebuilds it; that entry expiring first must
        // free its slot for a store at capacity, as any other would.
        let store = MemoryStore::new(45);
        let t0 = SystemTime::now();
        let mut ids = in_shard(&store, 0);
        for id in ids.by_ref().take(44) {
            assert_eq!(
                store.spend_now(&id, Duration::from_secs(600), t0),
                Ok(Spend::First)
            );
        }
        let short = ids.next().unwrap();
        assert_eq!(
            store.spend_now(&short, Duration::from_secs(61), t0),
            Ok(Spend::First)
        );
        let fresh = in_shard(&store, 1).next().unwrap();
        let later = t0 + Duration::from_secs(120);
        assert_eq!(
            store.spend_now(&fresh, Duration::from_secs(60), later),
            Ok(Spend::First)
        );
    }

    #[test]
    fn ids_sharing_their_last_bytes_still_spread_over_every_shard() {
        // The shard is the keyed hash's: no byte of the (public) id picks it.
        let store = MemoryStore::new(10_000);
        let mut used = [false; MemoryStore::SHARDS];
        for mut id in random_ids(1600, 5) {
            id.0[12..].fill(0xab);
            used[MemoryStore::shard_of(store.hasher.hash_one(Key::of(&id)))] = true;
        }
        assert!(used.iter().all(|&u| u), "{used:?}");
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
        let ids: Vec<ChallengeId> = spread(&store, 64).collect();
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
