// SPDX-License-Identifier: GPL-2.0
//! The store: the hash table (`table.rs`) composed with an eviction policy
//! (`policy/`) and the counters.
//!
//! It comes in two parts, made together by [`Store::new`]:
//! - [`Store`], shared by every CPU without a lock: lock-free gets (every
//!   policy), the per-CPU hit and miss counters, and which policy applies;
//! - [`Writer`], the one writer, whose methods take `&mut self`: the caller
//!   keeps it behind one lock (a spinlock in the module, a `Mutex` in the
//!   host tests), and that lock serializes every change to the table and the
//!   policy's order. An exact-LRU get goes through it after the lookup, to
//!   relink the item ([`Writer::relink`]).
//!
//! Plain `no_std` Rust with no dependency on the kernel crate; storage comes
//! from the caller through [`Alloc`] (`KVVec` in the module, `Vec` on the
//! host), all of it at load: no operation allocates.

use core::ops::DerefMut;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::abi::{self, KvUsageStat, KV_MAX_VAL, KV_STAT_RESERVED};
use crate::policy::{Links, Order, Policy, Relink, Visited};
use crate::table::{Bucket, Found, Slot, Table, NIL};

pub use crate::table::{Error, Key, ValueOut, MAX_BUCKETS, MAX_ITEMS};

/// Storage for the store's arrays, all allocated at load.
pub trait Alloc {
    type Vec<T>: DerefMut<Target = [T]>;
    /// `len` elements made by `f`, each written once; `None` when out of
    /// memory.
    fn vec<T>(len: usize, f: impl FnMut() -> T) -> Option<Self::Vec<T>>;
}

/// SIEVE's visited bits are the table's per-slot `referenced` bits.
impl<B, S> Visited for Table<B, S>
where
    B: core::ops::Deref<Target = [Bucket]>,
    S: core::ops::Deref<Target = [Slot]>,
{
    fn take(&self, i: u32) -> bool {
        self.take_referenced(i)
    }

    fn set(&self, i: u32) {
        self.set_referenced(i);
    }

    #[inline]
    fn hit(&self, found: &Found) -> bool {
        self.mark_hit(found)
    }
}

/// Storage that does not fit the limits or the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Bucket count is 0 or above `MAX_BUCKETS`.
    Buckets,
    /// Slot count is 0 or above `MAX_ITEMS`.
    MaxItems,
    /// The bucket array cannot be allocated.
    BucketsNoMemory,
    /// The slots (or what scales with them) cannot be allocated.
    ItemsNoMemory,
}

/// What a successful put did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// A new key went into a free slot.
    Inserted,
    /// The key existed; its value was replaced.
    Replaced,
    /// A new key went in after the policy's victim was evicted.
    Evicted,
}

/// When a put may happen. A refused put changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Insert or replace.
    Always,
    /// Only insert; `Error::Exists` if the key is there.
    IfAbsent,
    /// Only replace; `Error::NotFound` if the key is not there.
    IfPresent,
}

/// How [`Writer::relink`] finished a get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relinked {
    /// The value delivered by the lock-free lookup stands.
    Delivered,
    /// The get is a miss: the key was evicted since its lookup.
    Gone,
}

/// One CPU's counters, alone on its cache line.
#[repr(align(64))]
pub struct CpuCounters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CpuCounters {
    pub const fn new() -> Self {
        CpuCounters {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }
}

impl Default for CpuCounters {
    fn default() -> Self {
        Self::new()
    }
}

type StoreTable<A> = Table<<A as Alloc>::Vec<Bucket>, <A as Alloc>::Vec<Slot>>;

/// The shared part: lock-free gets and counters.
pub struct Store<A: Alloc> {
    table: StoreTable<A>,
    /// Indexed by the CPU number the caller passes (modulo the length): a
    /// get writes only its own CPU's line. Relaxed atomic adds, so a caller
    /// preempted and moved to another CPU between reading its number and
    /// adding still counts exactly once.
    counters: A::Vec<CpuCounters>,
    policy: Policy,
}

/// The writer's part: every change, behind the caller's one lock.
/// Invariants: `len` used slots, `bytes_used` their sizes; slots at or above
/// `fresh` were never used, the others are used or on the free list from
/// `free` (linked through the slots' `next`).
pub struct Writer<A: Alloc> {
    order: Order<A::Vec<Links>>,
    free: u32,
    fresh: u32,
    len: u32,
    bytes_used: u64,
    /// Evictions, successful puts and deletes happen under the writer lock,
    /// so their counters live here.
    evictions: u64,
    puts: u64,
    deletes: u64,
}

/// The `KV_STAT_HAS_*` bits of every field [`Store::usage`] fills.
const STAT_FILLED: u64 = abi::KV_STAT_HAS_BUCKET_COUNT
    | abi::KV_STAT_HAS_MAX_ITEMS
    | abi::KV_STAT_HAS_CURR_ITEMS
    | abi::KV_STAT_HAS_USE_LRU
    | abi::KV_STAT_HAS_HITS
    | abi::KV_STAT_HAS_MISSES
    | abi::KV_STAT_HAS_EVICTIONS
    | abi::KV_STAT_HAS_BYTES_USED
    | abi::KV_STAT_HAS_PUTS
    | abi::KV_STAT_HAS_DELETES;

impl<A: Alloc> Store<A> {
    /// A store of `buckets` buckets and capacity `max_items` with `policy`,
    /// counters for `cpus` CPUs, and the hash keyed by `seed` (draw it at
    /// random). Every slot is written once, here.
    pub fn new(
        buckets: u32,
        max_items: u32,
        policy: Policy,
        cpus: u32,
        seed: [u64; 2],
    ) -> Result<(Self, Writer<A>), ConfigError> {
        if !(1..=MAX_BUCKETS).contains(&buckets) {
            return Err(ConfigError::Buckets);
        }
        if !(1..=MAX_ITEMS).contains(&max_items) {
            return Err(ConfigError::MaxItems);
        }
        let heads = A::vec(buckets as usize, Bucket::new).ok_or(ConfigError::BucketsNoMemory)?;
        let slots = A::vec(max_items as usize, Slot::new).ok_or(ConfigError::ItemsNoMemory)?;
        let counters =
            A::vec(cpus.max(1) as usize, CpuCounters::new).ok_or(ConfigError::ItemsNoMemory)?;
        let links = A::vec(policy.links(max_items) as usize, Links::new)
            .ok_or(ConfigError::ItemsNoMemory)?;
        let store = Store {
            table: Table::new(heads, slots, seed),
            counters,
            policy,
        };
        let writer = Writer {
            order: Order::new(links),
            free: NIL,
            fresh: 0,
            len: 0,
            bytes_used: 0,
            evictions: 0,
            puts: 0,
            deletes: 0,
        };
        Ok((store, writer))
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    pub fn buckets(&self) -> u32 {
        self.table.bucket_count()
    }

    /// Checks `bytes` as a key and hashes it (no lock needed).
    pub fn key(&self, bytes: &[u8]) -> Result<Key, Error> {
        self.table.key(bytes)
    }

    /// Checks and hashes a key filled from userspace through
    /// [`Key::fill_uninit`], in place (no lock needed).
    pub fn seal(&self, key: &mut Key) -> Result<(), Error> {
        self.table.seal(key)
    }

    fn cpu(&self, cpu: u32) -> Option<&CpuCounters> {
        // One set per possible CPU; a number past them (never seen in the
        // module) shares the first set, which is as correct (atomics).
        self.counters
            .get(cpu as usize)
            .or_else(|| self.counters.first())
    }

    /// Counts a get that found nothing.
    pub fn count_miss(&self, cpu: u32) {
        if let Some(c) = self.cpu(cpu) {
            c.misses.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a get whose value reached the caller.
    pub fn count_hit(&self, cpu: u32) {
        if let Some(c) = self.cpu(cpu) {
            c.hits.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lock-free get, for every policy: copies the value of `key` into
    /// `out`. Counts a miss; a hit is counted by [`Store::hit`] once the
    /// caller has delivered the value. `wait` runs while the key's bucket
    /// has a write in progress ([`Table::read`]).
    #[inline(always)]
    pub fn get(
        &self,
        key: &Key,
        cpu: u32,
        out: &mut ValueOut,
        wait: impl Fn(),
    ) -> Result<Found, Error> {
        match self.table.read(key, out, wait) {
            Some(found) => Ok(found),
            None => {
                self.count_miss(cpu);
                Err(Error::NotFound)
            }
        }
    }

    /// Records a hit after the value reached the caller, without a lock:
    /// tells the policy ([`Policy::hit`]) and counts it. A [`Relink`] in
    /// the answer is exact LRU's, whose get is not done yet: pass it to
    /// [`Writer::relink`], under the writer lock, which decides the answer
    /// and counts it.
    #[inline]
    #[must_use = "exact LRU's hit is recorded by Writer::relink"]
    pub fn hit(&self, cpu: u32, found: &Found) -> Option<Relink> {
        let relink = self.policy.hit(&self.table, found);
        if relink.is_none() {
            self.count_hit(cpu);
        }
        relink
    }

    /// Sizes and counters as the stat ioctl reports them.
    pub fn usage(&self, writer: &Writer<A>) -> KvUsageStat {
        let (mut hits, mut misses) = (0u64, 0u64);
        for c in self.counters.iter() {
            // Counters of events: wrapping after 2^64 is harmless.
            hits = hits.wrapping_add(c.hits.load(Ordering::Relaxed));
            misses = misses.wrapping_add(c.misses.load(Ordering::Relaxed));
        }
        KvUsageStat {
            bucket_count: self.table.bucket_count(),
            max_items: self.table.capacity(),
            curr_items: writer.len,
            use_lru: self.policy as u32,
            hits,
            misses,
            evictions: writer.evictions,
            bytes_used: writer.bytes_used,
            filled: STAT_FILLED,
            puts: writer.puts,
            deletes: writer.deletes,
            reserved: [0; KV_STAT_RESERVED],
        }
    }
}

impl<A: Alloc> Writer<A> {
    /// Inserts `key` or replaces its value.
    pub fn put(&mut self, store: &Store<A>, key: &Key, value: &[u8]) -> Result<Put, Error> {
        self.put_if(store, key, value, Condition::Always)
    }

    /// A put under `cond`. A new key in a full store evicts the policy's
    /// victim, or fails with `Full` without a policy. A replace is a use of
    /// the item, as a hit is.
    pub fn put_if(
        &mut self,
        store: &Store<A>,
        key: &Key,
        value: &[u8],
        cond: Condition,
    ) -> Result<Put, Error> {
        if value.len() > KV_MAX_VAL {
            return Err(Error::BadValueLen);
        }
        let table = &store.table;
        if let Some((i, _)) = table.find(key) {
            if cond == Condition::IfAbsent {
                return Err(Error::Exists);
            }
            let (old, new) = table.replace(i, value).ok_or(Error::NotFound)?;
            self.bytes_used = self.bytes_used.saturating_sub(old).saturating_add(new);
            store.policy.used(&mut self.order, table, i);
            self.puts = self.puts.wrapping_add(1);
            return Ok(Put::Replaced);
        }
        if cond == Condition::IfPresent {
            return Err(Error::NotFound);
        }

        if self.free != NIL || self.fresh < table.capacity() {
            return self.insert(store, key, value).map(|()| Put::Inserted);
        }
        if store.policy == Policy::None {
            return Err(Error::Full);
        }
        // The victim's removal and the new item's insertion are two write
        // sections in two buckets; lock-free readers see them as one change
        // (`table.rs`, point 6). The victim is picked inside, after
        // `evict_begin`, so that a lock-free hit's mark is either seen by
        // the policy or finished under the lock (`Table::mark_hit`).
        table.evict_begin();
        let evicted = store
            .policy
            .victim(&mut self.order, table, self.len)
            .and_then(|victim| self.remove(store, victim, None))
            .ok_or(Error::Full)
            .and_then(|()| self.insert(store, key, value));
        table.evict_end();
        evicted?;
        // A counter of events: wrapping after 2^64 is harmless.
        self.evictions = self.evictions.wrapping_add(1);
        Ok(Put::Evicted)
    }

    /// Inserts `key` into a free slot (there is one).
    fn insert(&mut self, store: &Store<A>, key: &Key, value: &[u8]) -> Result<(), Error> {
        let table = &store.table;
        let i = if self.free != NIL {
            self.free
        } else {
            self.fresh
        };
        let (size, free_next) = table.insert(i, key, value).ok_or(Error::Full)?;
        if self.free == i {
            self.free = free_next;
        } else {
            self.fresh = self.fresh.saturating_add(1);
        }
        store.policy.inserted(&mut self.order, i);
        self.len = self.len.saturating_add(1);
        self.bytes_used = self.bytes_used.saturating_add(size);
        self.puts = self.puts.wrapping_add(1);
        Ok(())
    }

    /// Removes `key`.
    pub fn del(&mut self, store: &Store<A>, key: &Key) -> Result<(), Error> {
        let (i, prev) = store.table.find(key).ok_or(Error::NotFound)?;
        self.remove(store, i, Some(prev)).ok_or(Error::NotFound)?;
        self.deletes = self.deletes.wrapping_add(1);
        Ok(())
    }

    /// Unlinks used slot `i` (its chain predecessor when known) and frees it.
    fn remove(&mut self, store: &Store<A>, i: u32, prev: Option<u32>) -> Option<()> {
        let size = match prev {
            Some(prev) => store.table.remove(i, prev, self.free)?,
            None => store.table.remove_slot(i, self.free)?,
        };
        self.free = i;
        store.policy.removed(&mut self.order, i);
        self.len = self.len.saturating_sub(1);
        self.bytes_used = self.bytes_used.saturating_sub(size);
        Some(())
    }

    /// Finishes a get of `key` whose lookup `found` delivered `value` and
    /// whose hit the policy could not record without the lock (`relink`,
    /// from [`Store::hit`]), under the writer lock, and counts its hit or
    /// miss on `cpu`'s counters. The get takes effect where the answer holds
    /// (`policy/mod.rs`), so that its use of the item and the value it
    /// delivered agree with one order of all operations:
    /// - the key's bucket is unchanged since the lookup, or the item is
    ///   still there with that value: the get takes effect now, a use of the
    ///   item ([`Relinked::Delivered`]);
    /// - the item is still there with another value: a put replaced it since,
    ///   itself a use; the get takes effect at its lookup, and its use is
    ///   the replace's ([`Relinked::Delivered`]);
    /// - the item is gone (a del, or an eviction) and no eviction began since
    ///   the lookup: no eviction could have decided on the missing use, and
    ///   the get takes effect at its lookup ([`Relinked::Delivered`]);
    /// - otherwise an eviction may have removed the item for want of this
    ///   use: the get takes effect after that eviction, a miss
    ///   ([`Relinked::Gone`]).
    ///
    /// No answer is delivered twice: the value already delivered stands, or
    /// the get fails.
    pub fn relink(
        &mut self,
        store: &Store<A>,
        key: &Key,
        relink: Relink,
        cpu: u32,
        value: &[u8],
    ) -> Relinked {
        let table = &store.table;
        let Relink(found) = relink;
        let present = table.find(key).is_some_and(|(i, _)| i == found.slot)
            && table.generation(found.slot) == Some(found.generation);
        let answer = if table.unchanged_since(key, found.seq)
            || (present && table.value_is(found.slot, value))
        {
            store.policy.used(&mut self.order, table, found.slot);
            Relinked::Delivered
        } else if present || !table.evicted_since(&found) {
            Relinked::Delivered
        } else {
            Relinked::Gone
        };
        match answer {
            Relinked::Delivered => store.count_hit(cpu),
            Relinked::Gone => store.count_miss(cpu),
        }
        answer
    }

    /// Removes every item. Evictions are not counted; the hit, miss and
    /// eviction counters keep their values.
    pub fn clear(&mut self, store: &Store<A>) {
        store.table.clear();
        self.order.clear();
        self.free = NIL;
        self.fresh = 0;
        self.len = 0;
        self.bytes_used = 0;
    }

    /// Calls `f(key, value)` for the first `limit` items of bucket
    /// `bucket` (below [`Store::buckets`]); the number of items in the
    /// bucket, counted up to `limit + 1`: the walk stops there, so it takes
    /// a bounded time whatever the chain's length. Counts no use and no hit.
    /// Consistent because it runs under the writer lock, which also means
    /// `f` runs under it: in the module that is a spinlock, so `f` must not
    /// sleep.
    pub fn dump_bucket(
        &self,
        store: &Store<A>,
        bucket: u32,
        limit: u32,
        f: impl FnMut(&[u8], &[u8]),
    ) -> Result<u32, Error> {
        store.table.for_each_in_bucket(bucket, limit, f)
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
impl<A: Alloc> Store<A> {
    pub(crate) fn table_bucket(&self, key: &Key) -> usize {
        self.table.bucket_index_for_test(key)
    }

    pub(crate) fn slot_key(&self, i: u32) -> std::vec::Vec<u8> {
        self.table.slot_key(i)
    }

    pub(crate) fn referenced(&self, i: u32) -> bool {
        self.table.referenced_for_test(i)
    }
}

#[cfg(test)]
impl<A: Alloc> Writer<A> {
    /// The policy's slots oldest first and SIEVE's hand (`NIL` for the
    /// oldest, and under exact LRU); `None` without a policy.
    pub(crate) fn policy_order(&self, store: &Store<A>) -> (Option<std::vec::Vec<u32>>, u32) {
        match store.policy {
            Policy::None => (None, NIL),
            Policy::Lru | Policy::Sieve => {
                let (order, hand) = self.order.for_test();
                (Some(order), hand)
            }
        }
    }
}
