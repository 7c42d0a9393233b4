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
//! from the caller through [`Alloc`] (`KVVec` and vmalloc'ed chunks in the
//! module, `Vec` and the global allocator on the host). So does the time: every
//! operation that may meet an expiring item takes the monotonic clock from
//! its caller ([`Clock`], read only when an item with an expiry is met or
//! made), so the host tests drive time.
//!
//! # Expiry and versions
//!
//! An item may carry a deadline (`ttl_ms` from the put that made it). An
//! expired item is gone for every operation: a get misses, and a writer
//! operation that meets it removes it first (counted in `expired`), then
//! goes on as if the key were absent. The writer also keeps every deadline in
//! an index (`expiry.rs`), from which [`Writer::reclaim_expired`] removes expired
//! items in bounded steps without any operation touching them, and a put
//! into a full store takes an expired item's room before it evicts a live one.
//!
//! Every item carries a version, never 0, from one counter of the writer
//! that only grows: a put, an increment or a touch gives the item a new one,
//! so a version is never handed out twice while the store exists.

use core::cell::Cell;
use core::ops::DerefMut;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::abi::{self, KvMapHeader, KvUsageStat, KV_MAX_VAL, KV_STAT_RESERVED};
use crate::expiry::{Deadlines, Entries, Entry};
use crate::pages::Pages;
use crate::policy::{Links, Order, Policy, Relink, Visited};
use crate::table::{
    after_mark_read, detached, is_expired, Bucket, Found, Hit, Located, Table, BLOCK_SHIFT,
    BLOCK_SLOTS, CHUNK_ALIGN, DEADLINE_WORDS, HEADER_WORDS, MAX_BLOCKS, NIL,
};

pub use crate::table::{Error, Key, ValueOut, MAX_BUCKETS, MAX_ITEMS};

/// The store's memory, from the environment that also takes its
/// [`Events`]: arrays allocated at load, and chunks for the items' records
/// as they arrive.
///
/// # Safety
///
/// The lock-free readers rely on it: [`Alloc::chunk`] answers `None` or
/// `bytes` bytes, zeroed, aligned to `CHUNK_ALIGN`, valid for reads and
/// writes from any thread until passed to [`Alloc::free_chunk`].
pub unsafe trait Alloc: Events {
    /// An array; its `Default` is empty and allocates nothing.
    type Vec<T>: DerefMut<Target = [T]> + Default;
    /// Whether [`Alloc::chunk`] may be called under the caller's writer
    /// lock. If not (a spinlock: the module), a writer operation that needs
    /// a chunk answers [`Error::NeedChunk`] having changed nothing, and the
    /// caller allocates without the lock and hands the chunk over
    /// ([`Writer::add_chunk`]).
    const CHUNKS_UNDER_LOCK: bool;
    /// `len` elements made by `f`, each written once; `None` when out of
    /// memory.
    fn vec<T>(len: usize, f: impl FnMut() -> T) -> Option<Self::Vec<T>>;
    /// A chunk of `bytes` (a multiple of `CHUNK_ALIGN`), or `None` when out
    /// of memory.
    fn chunk(bytes: usize) -> Option<NonNull<u8>>;
    /// Frees a chunk.
    ///
    /// # Safety
    ///
    /// `chunk` came from [`Alloc::chunk`] with `bytes`, is not freed yet,
    /// and nothing reads or writes it any more: no block of a store points
    /// to it, and every lock-free read that began while one did has ended.
    unsafe fn free_chunk(chunk: NonNull<u8>, bytes: usize);
}

/// The longest record: header, the longest key and value, and a deadline
/// entry.
pub const MAX_STRIDE: usize =
    HEADER_WORDS + crate::table::KEY_WORDS + crate::table::VALUE_WORDS + DEADLINE_WORDS;

/// Why an expired item left the store, for [`Events::expired`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    /// 0: the background reclaim ([`Writer::reclaim_expired`]).
    Reclaim = 0,
    /// 1: a writer operation met it.
    Access = 1,
    /// 2: a new key in the full store took its room.
    Room = 2,
}

/// Where the store reports its rare events: the tracepoints in the module,
/// nothing by default. Each is called under the writer lock, once per
/// event, after the counter that counts it has moved, with slot numbers
/// and counts, never a key or a value. The hot paths (a get, a put into
/// free room, a replace) report nothing.
pub trait Events {
    /// Slot `slot`'s item was evicted under `policy` for a new key; `items`
    /// are in the store after the new key went in. One per `evictions`.
    fn evicted(_slot: u32, _policy: Policy, _items: u32) {}
    /// Slot `slot`'s item expired and was removed, for `cause`; `items` are
    /// left. One per `expired`.
    fn expired(_slot: u32, _cause: Expired, _items: u32) {}
    /// A new key was refused for want of room (`Error::Full` from a store
    /// without eviction); `items` of `max_items` are in the store.
    fn put_refused(_items: u32, _max_items: u32) {}
}

/// The monotonic clock in nanoseconds as one operation sees it: read at the
/// first [`Clock::now`] and the same for the rest of the operation, and not
/// at all by an operation that meets no expiring item.
pub struct Clock<F: Fn() -> u64> {
    read: F,
    now: Cell<Option<u64>>,
}

impl<F: Fn() -> u64> Clock<F> {
    pub fn new(read: F) -> Self {
        Clock {
            read,
            now: Cell::new(None),
        }
    }

    pub fn now(&self) -> u64 {
        match self.now.get() {
            Some(now) => now,
            None => {
                let now = (self.read)();
                self.now.set(Some(now));
                now
            }
        }
    }

    /// The expiry of an item put now with `ttl_ms` (0: none): `ttl_ms`
    /// from now, rounded down to a step of a power of two nanoseconds, at
    /// most 1/[`DEADLINE_SLACK`] of the TTL. So the deadline is early by
    /// less than 1/1024 of the TTL (a lease's holder budgets more than
    /// that for clock drift), never late, and puts that renew an item within
    /// one step give it the same deadline, which the deadline index then
    /// leaves where it is (the kernel's timer wheel trades a bounded
    /// imprecision for not moving timers in the same way). Saturates: a TTL
    /// too long for the clock expires at its end.
    pub fn expiry(&self, ttl_ms: u64) -> Expiry {
        if ttl_ms == 0 {
            return Expiry::NEVER;
        }
        let ttl_ns = ttl_ms.saturating_mul(NANOS_PER_MS);
        // ttl_ns >= 10^6, so the slack is at least 976 ns: a step of 2^9 to
        // 2^53 ns.
        let step = (ttl_ns / DEADLINE_SLACK)
            .checked_ilog2()
            .map_or(1, |bits| 1u64 << bits);
        // The step is below the TTL, so the deadline stays after now.
        let at = match self.now().checked_add(ttl_ns) {
            Some(at) => at & !(step - 1),
            None => u64::MAX,
        };
        Expiry { at, ttl_ms }
    }

    fn expired(&self, expires: u64) -> bool {
        expires != 0 && is_expired(expires, self.now())
    }
}

const NANOS_PER_MS: u64 = 1_000_000;

/// A deadline may be early by less than 1/`DEADLINE_SLACK` of its TTL.
pub const DEADLINE_SLACK: u64 = 1024;

/// An item's deadline (0: never) and the TTL it came from, which tells the
/// deadline index (`expiry.rs`) where to keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    pub at: u64,
    pub ttl_ms: u64,
}

impl Expiry {
    pub const NEVER: Expiry = Expiry { at: 0, ttl_ms: 0 };

    /// The deadline an item has and keeps.
    fn kept(at: u64) -> Self {
        Expiry { at, ttl_ms: 0 }
    }
}

/// The milliseconds an item with deadline `expires` has left at `now`,
/// rounded up (so a fresh item shows its whole TTL), or -1 for no deadline.
pub fn ms_left(expires: u64, now: u64) -> i64 {
    if expires == 0 {
        return -1;
    }
    let ms = expires.saturating_sub(now).div_ceil(NANOS_PER_MS);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The deadline index's entries are the last words of an expiring item's
/// record: `place` and `prev`; `next`; `at`. `at` is the item's deadline,
/// which lock-free readers read too: the table writes it inside the item's
/// write section (`Slot::set_lens`), before the index is told
/// ([`Deadlines::set`] with the deadline the slot had), so `put` leaves it
/// alone. No reader reads the other words.
impl<B, D, P> Entries for Table<B, D, P>
where
    B: core::ops::Deref<Target = [Bucket]>,
    D: core::ops::Deref<Target = [AtomicPtr<u8>]>,
    P: core::ops::Deref<Target = [AtomicU64]>,
{
    fn get(&self, slot: u32) -> Option<Entry> {
        self.slot(slot)?;
        let Some([place_prev, next, at]) = self.entry_words(slot).and_then(|w| w.first_chunk())
        else {
            return Some(Entry::new());
        };
        let pp = place_prev.load(Ordering::Relaxed);
        Some(Entry {
            at: at.load(Ordering::Relaxed),
            place: pp as u32,
            prev: (pp >> 32) as u32,
            next: next.load(Ordering::Relaxed) as u32,
        })
    }

    fn put(&self, slot: u32, e: Entry) {
        if let Some([place_prev, next, _]) = self.entry_words(slot).and_then(|w| w.first_chunk()) {
            place_prev.store(
                u64::from(e.place) | u64::from(e.prev) << 32,
                Ordering::Relaxed,
            );
            next.store(u64::from(e.next), Ordering::Relaxed);
        }
    }
}

/// SIEVE's visited bits: the table's per-slot `referenced` bits, which
/// gets in the kernel set, and the mark words that gets through a mapping
/// set.
impl<A: Alloc> Visited for Store<A> {
    fn take(&self, i: u32) -> bool {
        // Both read and cleared, whichever was set.
        self.table.take_referenced(i) | self.take_mark(i)
    }

    fn set(&self, i: u32) {
        self.table.set_referenced(i);
    }

    #[inline]
    fn hit(&self, found: &Found) -> Hit {
        self.table.mark_hit(found)
    }
}

impl<A: Alloc> Store<A> {
    /// Slot `i`'s mark word, if the store has marks.
    fn mark(&self, i: u32) -> Option<&AtomicU64> {
        self.marks.as_ref()?.get(i as usize)
    }

    /// Reads and clears slot `i`'s mark, the mapped readers' copy of its
    /// `visit` word (`Table::take_referenced` for theirs): the word becomes
    /// the slot's generation as the kernel knows it (its `visit` word), its
    /// stamp advanced, unmarked, so that a mapped hit whose walk came
    /// before this read can no longer mark it (`mapped.rs`, `finish`).
    /// Counts the mark only if the word it replaced carried that same
    /// generation: whoever writes the marks' mapping can mark or unmark a
    /// slot's item, as a get may, but nothing else it writes is trusted.
    ///
    /// SeqCst: after `evict_begin`'s SeqCst store of the published
    /// eviction count, and in one total order with a mapped reader's
    /// SeqCst compare-exchange of the word and its SeqCst load of that
    /// count: either this read sees the mark, or the reader's
    /// compare-exchange fails (the stamp moved) and its load sees the
    /// count move.
    fn take_mark(&self, i: u32) -> bool {
        let (Some(word), Some(generation)) = (self.mark(i), self.table.generation(i)) else {
            return false;
        };
        let own = u64::from(generation) << 32;
        let old = word.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |w| {
            Some(after_mark_read(own, w))
        });
        // The closure always answers `Some`: `Err` cannot happen.
        let (Ok(w) | Err(w)) = old;
        w & 1 == 1 && w & !u64::from(u32::MAX) == own
    }

    /// What a mapping shows at page offset `marks_pgoff`: the visited
    /// marks' pages, if the store has marks.
    pub fn marks_region(&self) -> Option<(NonNull<u8>, usize)> {
        self.marks.as_ref().map(|m| (m.base(), m.bytes()))
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
    /// What scales with the capacity cannot be allocated.
    ItemsNoMemory,
}

/// When a put may happen, and with which expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PutArgs {
    pub cond: Condition,
    /// Expiry in milliseconds from now; 0: never.
    pub ttl_ms: u64,
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

/// The buckets and the public block table in pages of their own, which a
/// mapping shows; the directory, which holds kernel addresses, in an array.
type StoreTable<A> = Table<Pages<Bucket, A>, <A as Alloc>::Vec<AtomicPtr<u8>>, Pages<AtomicU64, A>>;

/// The shared part: lock-free gets and counters.
pub struct Store<A: Alloc> {
    table: StoreTable<A>,
    /// The first page of a mapping of the store.
    map_header: Pages<KvMapHeader, A>,
    /// SIEVE's mark words as readers of a mapping set them, one per slot
    /// (slot `i`: word `i`), each a copy of the slot's `visit` word for
    /// mapped readers (generation, stamp, mark); the policy reads and
    /// clears them with the table's referenced bits (`Visited`). `None`
    /// without SIEVE.
    marks: Option<Pages<AtomicU64, A>>,
    /// Indexed by the CPU number the caller passes (modulo the length): a
    /// get writes only its own CPU's line. Relaxed atomic adds, so a caller
    /// preempted and moved to another CPU between reading its number and
    /// adding still counts exactly once.
    counters: A::Vec<CpuCounters>,
    policy: Policy,
    /// Bytes of every array above and in the writer, fixed at load.
    memory: u64,
}

/// One size class: the slots of records of one stride.
#[derive(Clone, Copy)]
struct Class {
    /// Head of its free list (linked through the slots' `next`).
    free: u32,
    /// The next never-used slot of its newest block, `NIL` if none.
    fresh: u32,
}

impl Class {
    const EMPTY: Class = Class {
        free: NIL,
        fresh: NIL,
    };
}

/// The writer's part: every change, behind the caller's one lock.
/// Invariants: `len` used slots (at most `max_items`), `bytes_used` their
/// sizes; blocks below `blocks` are attached, the others detached; each
/// attached block belongs to the class of its stride, and each of its slots
/// is used, on its class's free list, or at or after the class's `fresh`
/// (never used) in the class's newest block.
pub struct Writer<A: Alloc> {
    /// The policy's order, over links for every slot of the attached
    /// blocks (none without a policy).
    order: Order<A::Vec<Links>>,
    classes: [Class; MAX_STRIDE + 1],
    blocks: u32,
    /// Bytes of the attached chunks.
    chunk_bytes: u64,
    /// Bytes of the policy's links.
    links_bytes: u64,
    max_items: u32,
    len: u32,
    bytes_used: u64,
    /// Evictions, successful puts and deletes happen under the writer lock,
    /// so their counters live here.
    evictions: u64,
    puts: u64,
    deletes: u64,
    expired: u64,
    deadlines: Deadlines<A::Vec<u32>>,
    /// The last version handed out (0: none yet).
    version: u64,
}

impl<A: Alloc> Drop for Store<A> {
    fn drop(&mut self) {
        let table = &self.table;
        table.detach_all(|chunk, stride| {
            // SAFETY: `chunk` was attached by `Writer::add_chunk`, which
            // takes only chunks from `A::chunk` of this size, and detached
            // just now; the store is being dropped, so nothing reads it.
            unsafe { A::free_chunk(chunk, table.chunk_bytes(stride)) };
        });
    }
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
    | abi::KV_STAT_HAS_DELETES
    | abi::KV_STAT_HAS_EXPIRED
    | abi::KV_STAT_HAS_MEMORY;

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
        let heads =
            Pages::new(buckets as usize, Bucket::new).ok_or(ConfigError::BucketsNoMemory)?;
        let blocks = Self::blocks_for(max_items);
        let dir = A::vec(blocks as usize, detached).ok_or(ConfigError::ItemsNoMemory)?;
        // The block table's entries, then the published eviction count
        // (`Table::published_evictions`).
        let public = Pages::new(blocks as usize + 1, || AtomicU64::new(0))
            .ok_or(ConfigError::ItemsNoMemory)?;
        // SIEVE's mark words that readers of a mapping set: a word per
        // slot of every block, reserved at load (8 bytes a slot).
        let marks = match policy {
            Policy::Sieve => Some(
                Pages::new(blocks as usize * BLOCK_SLOTS, || AtomicU64::new(0))
                    .ok_or(ConfigError::ItemsNoMemory)?,
            ),
            Policy::None | Policy::Lru => None,
        };
        // The mapping at offset 0: the header page, the block table, the
        // buckets (`map_regions`); the blocks after it, then the marks.
        let header_bytes = core::mem::size_of::<KvMapHeader>().next_multiple_of(CHUNK_ALIGN);
        let buckets_at = header_bytes + public.bytes();
        let map_bytes = buckets_at + heads.bytes();
        let block_pgoff = (map_bytes / CHUNK_ALIGN) as u64;
        let map_header = Pages::new(1, || KvMapHeader {
            magic: abi::KV_MAP_MAGIC,
            version: abi::KV_MAP_VERSION,
            policy: policy as u32,
            bucket_count: buckets,
            blocks,
            block_slots: BLOCK_SLOTS as u32,
            header_words: HEADER_WORDS as u32,
            seed,
            block_table: header_bytes as u64,
            buckets: buckets_at as u64,
            map_bytes: map_bytes as u64,
            block_pgoff,
            evictions: (header_bytes + blocks as usize * 8) as u64,
            marks_pgoff: block_pgoff + u64::from(blocks) * abi::KV_MAP_BLOCK_PAGES,
            marks_bytes: marks.as_ref().map_or(0, |m| m.bytes() as u64),
        })
        .ok_or(ConfigError::ItemsNoMemory)?;
        let counters =
            A::vec(cpus.max(1) as usize, CpuCounters::new).ok_or(ConfigError::ItemsNoMemory)?;
        // The policy's links grow with the blocks (`Writer::grow`).
        let links = A::vec(0, Links::new).ok_or(ConfigError::ItemsNoMemory)?;
        let memory = [
            heads.bytes(),
            core::mem::size_of_val(&*dir),
            public.bytes(),
            marks.as_ref().map_or(0, |m| m.bytes()),
            map_header.bytes(),
            core::mem::size_of_val(&*counters),
        ]
        .iter()
        .fold(0u64, |sum, &bytes| sum.saturating_add(bytes as u64));
        let store = Store {
            table: Table::new(heads, dir, public, seed),
            map_header,
            marks,
            counters,
            policy,
            memory,
        };
        let writer = Writer {
            order: Order::new(links),
            classes: [Class::EMPTY; MAX_STRIDE + 1],
            blocks: 0,
            chunk_bytes: 0,
            links_bytes: 0,
            max_items,
            len: 0,
            bytes_used: 0,
            evictions: 0,
            puts: 0,
            deletes: 0,
            expired: 0,
            // The heap grows with the deadlines the queues do not take.
            deadlines: Deadlines::new(A::Vec::default()),
            version: 0,
        };
        Ok((store, writer))
    }

    /// Blocks of the directory for `max_items`: twice what the items fill
    /// when packed, so that classes that hold freed slots leave room for
    /// others, and a partly used block for each class.
    fn blocks_for(max_items: u32) -> u32 {
        let full = max_items.div_ceil(BLOCK_SLOTS as u32);
        full.saturating_mul(2)
            .saturating_add(MAX_STRIDE as u32)
            .min(MAX_BLOCKS)
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    pub fn buckets(&self) -> u32 {
        self.table.bucket_count()
    }

    /// Blocks the directory holds: at most one chunk each.
    pub fn blocks(&self) -> u32 {
        self.table.blocks()
    }

    /// What a mapping of the store shows at page offset 0, in order: the
    /// header page, the public block table, the buckets; each as the
    /// address and bytes (a multiple of a page) of pages of its own.
    pub fn map_regions(&self) -> [(NonNull<u8>, usize); 3] {
        fn region<T, A: Alloc>(pages: &Pages<T, A>) -> (NonNull<u8>, usize) {
            (pages.base(), pages.bytes())
        }
        [
            region(&self.map_header),
            region(self.table.public_storage()),
            region(self.table.bucket_storage()),
        ]
    }

    /// The mapping's header.
    pub fn map_header(&self) -> Option<&KvMapHeader> {
        // One element, made in `new`.
        self.map_header.first()
    }

    /// Block `b`'s chunk and its bytes, if attached: what a mapping shows
    /// at page offset `block_pgoff + b * KV_MAP_BLOCK_PAGES`. The caller
    /// keeps any clear from running while it uses the address.
    pub fn block_chunk(&self, b: u32) -> Option<(NonNull<u8>, usize)> {
        self.table
            .block_chunk(b)
            .map(|(chunk, stride)| (chunk, self.table.chunk_bytes(stride)))
    }

    /// Bytes of a chunk for class `stride` ([`Error::NeedChunk`]).
    pub fn chunk_bytes(&self, stride: usize) -> usize {
        self.table.chunk_bytes(stride)
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
    /// `out`. Counts a miss (an expired item is one); a hit is counted by
    /// [`Store::hit`] once the caller has delivered the value. `wait` runs
    /// while the key's bucket has a write in progress ([`Table::read`]);
    /// `now` reads the clock, only for an item that has an expiry.
    #[inline(always)]
    pub fn get(
        &self,
        key: &Key,
        cpu: u32,
        out: &mut ValueOut,
        wait: impl Fn(),
        now: impl FnOnce() -> u64,
    ) -> Result<Found, Error> {
        self.get_on(key, || cpu, out, wait, now)
    }

    /// [`Store::get`] that asks `cpu` for the CPU only to count a miss.
    #[inline(always)]
    pub fn get_on(
        &self,
        key: &Key,
        cpu: impl FnOnce() -> u32,
        out: &mut ValueOut,
        wait: impl Fn(),
        now: impl FnOnce() -> u64,
    ) -> Result<Found, Error> {
        match self.table.read(key, out, wait) {
            Some(found) if found.expires == 0 || !is_expired(found.expires, now()) => Ok(found),
            _ => {
                self.count_miss(cpu());
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
        let relink = self.policy.hit(self, found);
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
            max_items: writer.max_items,
            curr_items: writer.len,
            use_lru: self.policy as u32,
            hits,
            misses,
            evictions: writer.evictions,
            bytes_used: writer.bytes_used,
            filled: STAT_FILLED,
            puts: writer.puts,
            deletes: writer.deletes,
            expired: writer.expired,
            memory: self
                .memory
                .saturating_add(writer.chunk_bytes)
                .saturating_add(writer.links_bytes)
                .saturating_add(writer.deadlines.heap_bytes() as u64),
            reserved: [0; KV_STAT_RESERVED],
        }
    }
}

impl<A: Alloc> Writer<A> {
    /// Inserts `key` or replaces its value; the item never expires.
    pub fn put<F: Fn() -> u64>(
        &mut self,
        store: &Store<A>,
        key: &Key,
        value: &[u8],
        clock: &Clock<F>,
    ) -> Result<Put, Error> {
        let args = PutArgs {
            cond: Condition::Always,
            ttl_ms: 0,
        };
        self.put_if(store, key, value, args, clock)
    }

    /// A put under `args.cond`, the item expiring `args.ttl_ms` from now (0:
    /// never, whatever it had). A new key in a full store takes an expired
    /// item's room, else evicts the policy's victim, else fails with `Full`.
    /// A replace is a use of the item, as a hit is.
    pub fn put_if<F: Fn() -> u64>(
        &mut self,
        store: &Store<A>,
        key: &Key,
        value: &[u8],
        args: PutArgs,
        clock: &Clock<F>,
    ) -> Result<Put, Error> {
        if value.len() > KV_MAX_VAL {
            return Err(Error::BadValueLen);
        }
        let expires = clock.expiry(args.ttl_ms);
        if let Some(found) = self.find_live(store, key, clock) {
            if args.cond == Condition::IfAbsent {
                return Err(Error::Exists);
            }
            self.replace(store, key, found, value, expires)?;
            return Ok(Put::Replaced);
        }
        if args.cond == Condition::IfPresent {
            return Err(Error::NotFound);
        }
        self.insert(store, key, value, expires, clock)
    }

    /// Replaces the value of `key` only if its item's version is still
    /// `version` (`VersionChanged` otherwise, `NotFound` if absent). The
    /// item keeps its expiry.
    pub fn put_version<F: Fn() -> u64>(
        &mut self,
        store: &Store<A>,
        key: &Key,
        value: &[u8],
        version: u64,
        clock: &Clock<F>,
    ) -> Result<Put, Error> {
        if value.len() > KV_MAX_VAL {
            return Err(Error::BadValueLen);
        }
        let found = self.find_live(store, key, clock).ok_or(Error::NotFound)?;
        let (expires, current) = store
            .table
            .expiry_and_version(found.i)
            .ok_or(Error::NotFound)?;
        if current != version {
            return Err(Error::VersionChanged);
        }
        self.replace(store, key, found, value, Expiry::kept(expires))?;
        Ok(Put::Replaced)
    }

    /// Adds `delta` to the value of `key` read as the decimal text of an
    /// `i64`, stores the sum back as such text and answers it. An absent key
    /// is created with the value `delta`, expiring `ttl_ms` from now (0:
    /// never); a present one keeps its expiry. `NotANumber` and `Overflow`
    /// change nothing.
    pub fn incr<F: Fn() -> u64>(
        &mut self,
        store: &Store<A>,
        key: &Key,
        delta: i64,
        ttl_ms: u64,
        clock: &Clock<F>,
    ) -> Result<i64, Error> {
        let Some(found) = self.find_live(store, key, clock) else {
            let text = Decimal::new(delta);
            self.insert(store, key, text.bytes(), clock.expiry(ttl_ms), clock)?;
            return Ok(delta);
        };
        let table = &store.table;
        let old = table
            .with_value(found.i, parse_decimal)
            .ok_or(Error::NotFound)?
            .ok_or(Error::NotANumber)?;
        let new = old.checked_add(delta).ok_or(Error::Overflow)?;
        let (expires, _) = table.expiry_and_version(found.i).ok_or(Error::NotFound)?;
        self.replace(
            store,
            key,
            found,
            Decimal::new(new).bytes(),
            Expiry::kept(expires),
        )?;
        Ok(new)
    }

    /// Sets the expiry of a present `key` to `ttl_ms` from now (0: never),
    /// keeping its value.
    pub fn touch<F: Fn() -> u64>(
        &mut self,
        store: &Store<A>,
        key: &Key,
        ttl_ms: u64,
        clock: &Clock<F>,
    ) -> Result<(), Error> {
        let found = self.find_live(store, key, clock).ok_or(Error::NotFound)?;
        let i = found.i;
        let expires = clock.expiry(ttl_ms);
        self.deadline_room(expires)?;
        let table = &store.table;
        if (found.expires == 0) != (expires.at == 0) {
            // The record gains or loses its deadline entry: the item moves
            // to the class of its new size, value and all.
            let mut value = [0u8; KV_MAX_VAL];
            let len = table
                .with_value(i, |v| {
                    let len = v.len().min(KV_MAX_VAL);
                    if let (Some(to), Some(from)) = (value.get_mut(..len), v.get(..len)) {
                        to.copy_from_slice(from);
                    }
                    len
                })
                .ok_or(Error::NotFound)?;
            let value = value.get(..len).unwrap_or(&[]);
            let stride = table.stride(key.len(), len, expires.at);
            self.room(store, stride)?;
            let version = self.next_version();
            return self.move_item(store, key, found, stride, value, expires, version);
        }
        let version = self.next_version();
        table
            .set_expiry(i, expires.at, version)
            .ok_or(Error::NotFound)?;
        self.deadlines
            .set(table, i, found.expires, expires.at, expires.ttl_ms);
        Ok(())
    }

    /// The milliseconds `key` has left (rounded up), or -1 if it never
    /// expires.
    pub fn ttl<F: Fn() -> u64>(
        &mut self,
        store: &Store<A>,
        key: &Key,
        clock: &Clock<F>,
    ) -> Result<i64, Error> {
        let found = self.find_live(store, key, clock).ok_or(Error::NotFound)?;
        if found.expires == 0 {
            return Ok(-1);
        }
        Ok(ms_left(found.expires, clock.now()))
    }

    /// Removes `key`.
    pub fn del<F: Fn() -> u64>(
        &mut self,
        store: &Store<A>,
        key: &Key,
        clock: &Clock<F>,
    ) -> Result<(), Error> {
        let found = self.find_live(store, key, clock).ok_or(Error::NotFound)?;
        self.remove(store, found).ok_or(Error::NotFound)?;
        self.deletes = self.deletes.wrapping_add(1);
        Ok(())
    }

    /// Removes up to `limit` items that have expired by `now`, earliest
    /// first; how many, and whether more have expired.
    pub fn reclaim_expired(&mut self, store: &Store<A>, now: u64, limit: u32) -> (u32, bool) {
        let mut done = 0u32;
        while let Some(first) = self.deadlines.earliest(&store.table) {
            if !is_expired(first.at, now) {
                return (done, false);
            }
            if done == limit {
                return (done, true);
            }
            if self.remove_slot(store, first.slot).is_none() {
                // Never: a slot with a deadline is used. Stop rather than
                // meet the same deadline again.
                self.deadlines.remove(&store.table, first.slot);
                return (done, false);
            }
            self.expired = self.expired.wrapping_add(1);
            A::expired(first.slot, Expired::Reclaim, self.len);
            done = done.saturating_add(1);
        }
        (done, false)
    }

    /// The earliest deadline of any item, if one has a deadline.
    pub fn next_deadline(&self, store: &Store<A>) -> Option<u64> {
        self.deadlines.earliest(&store.table).map(|d| d.at)
    }

    /// The slot of `key` and its chain predecessor, if it holds a live
    /// item. An expired item met here is removed first (counted as
    /// expired), so the caller sees it absent.
    #[inline(always)]
    fn find_live<'s, F: Fn() -> u64>(
        &mut self,
        store: &'s Store<A>,
        key: &Key,
        clock: &Clock<F>,
    ) -> Option<Located<'s>> {
        let found = store.table.find(key)?;
        if clock.expired(found.expires) {
            if self.remove(store, found).is_some() {
                self.expired = self.expired.wrapping_add(1);
                A::expired(found.i, Expired::Access, self.len);
            }
            return None;
        }
        Some(found)
    }

    /// The next version: never 0, never one handed out before.
    fn next_version(&mut self) -> u64 {
        // 2^64 versions are not reached, so this never wraps in practice;
        // if it did, 0 would still be skipped.
        self.version = self.version.wrapping_add(1).max(1);
        self.version
    }

    /// Replaces the value and expiry of `key`'s item, in used slot `i`
    /// after `prev` in its chain: a use of the item. In place if the new
    /// record has the same size, else in a slot of the new size's class.
    fn replace(
        &mut self,
        store: &Store<A>,
        key: &Key,
        found: Located<'_>,
        value: &[u8],
        expires: Expiry,
    ) -> Result<(), Error> {
        self.deadline_room(expires)?;
        let table = &store.table;
        let stride = table.stride(key.len(), value.len(), expires.at);
        // A record of the same size whose item gains or loses its deadline
        // entry holds its value in other words: it moves too.
        if found.stride != stride || (found.expires == 0) != (expires.at == 0) {
            self.room(store, stride)?;
            let version = self.next_version();
            return self.move_item(store, key, found, stride, value, expires, version);
        }
        let i = found.i;
        let version = self.next_version();
        let (old, new) = table.replace(&found, value, expires.at, version);
        // Same stride and a deadline entry exactly if it had one.
        if expires.at != 0 {
            self.deadlines
                .set(table, i, found.expires, expires.at, expires.ttl_ms);
        }
        self.bytes_used = self.bytes_used.saturating_sub(old).saturating_add(new);
        store.policy.used(&mut self.order, store, i);
        self.puts = self.puts.wrapping_add(1);
        Ok(())
    }

    /// Moves `key`'s item from used slot `i` (after `prev` in its chain) to
    /// a slot of class `stride` (which has room) with `value`, `expires` and
    /// `version`: one change for readers (`Table::move_item`). The item
    /// keeps its place in the policy's order, and the move is a use of it,
    /// as a replace in place is.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn move_item(
        &mut self,
        store: &Store<A>,
        key: &Key,
        found: Located<'_>,
        stride: usize,
        value: &[u8],
        expires: Expiry,
        version: u64,
    ) -> Result<(), Error> {
        let table = &store.table;
        let Located {
            i,
            stride: old_stride,
            ..
        } = found;
        let old_free = self.classes.get(old_stride).ok_or(Error::NotFound)?.free;
        let j = self.free_slot(stride).ok_or(Error::Full)?;
        if found.expires != 0 {
            self.deadlines.remove(table, i);
        }
        let (old, new, free_next) = table
            .move_item(
                &found,
                j,
                old_free,
                key,
                value,
                expires.at,
                version,
                // As for an insert: `j`'s item is new to the marks.
                store.mark(j),
            )
            .ok_or(Error::NotFound)?;
        // `j` leaves its class's room first: within one class, `i` then
        // heads the list `j` left.
        self.took(stride, j, free_next);
        if let Some(class) = self.classes.get_mut(old_stride) {
            class.free = i;
        }
        if expires.at != 0 {
            self.deadlines.set(table, j, 0, expires.at, expires.ttl_ms);
        }
        store.policy.moved(&mut self.order, store, i, j);
        store.policy.used(&mut self.order, store, j);
        self.bytes_used = self.bytes_used.saturating_sub(old).saturating_add(new);
        self.puts = self.puts.wrapping_add(1);
        Ok(())
    }

    /// The slot class `stride` would give next, if it has one.
    fn free_slot(&self, stride: usize) -> Option<u32> {
        let class = self.classes.get(stride)?;
        let i = if class.free != NIL {
            class.free
        } else {
            class.fresh
        };
        (i != NIL).then_some(i)
    }

    /// Class `stride` gave slot `i` (from [`Writer::free_slot`]), whose
    /// `next` was `free_next`.
    fn took(&mut self, stride: usize, i: u32, free_next: u32) {
        let Some(class) = self.classes.get_mut(stride) else {
            return;
        };
        if class.free == i {
            class.free = free_next;
        } else {
            // The next fresh slot, until the block's end.
            let next = i.wrapping_add(1);
            class.fresh = if next as usize & (BLOCK_SLOTS - 1) == 0 {
                NIL
            } else {
                next
            };
        }
    }

    /// Makes sure class `stride` has a slot to give: a free or fresh one, or
    /// a new block attached here when the environment allocates under the
    /// writer's lock. `NeedChunk` asks the caller for a chunk; `Full`: the
    /// directory has no block left; `NoMemory`. Changes nothing but the
    /// class's room.
    #[inline]
    fn room(&mut self, store: &Store<A>, stride: usize) -> Result<(), Error> {
        if self.free_slot(stride).is_some() {
            return Ok(());
        }
        self.grow(store, stride)
    }

    #[inline(never)]
    fn grow(&mut self, store: &Store<A>, stride: usize) -> Result<(), Error> {
        if stride > MAX_STRIDE {
            return Err(Error::BadValueLen);
        }
        let blocks = store.table.blocks();
        if self.blocks >= blocks {
            return Err(Error::Full);
        }
        let slots = (self.blocks as usize).saturating_add(1) << BLOCK_SHIFT;
        if store.policy != Policy::None && self.order.capacity() < slots {
            // Twice the links, up to the directory's slots: a copy of the
            // array per doubling.
            let len = slots
                .max(self.order.capacity().saturating_mul(2))
                .min((blocks as usize) << BLOCK_SHIFT);
            if !A::CHUNKS_UNDER_LOCK {
                // At most MAX_BLOCKS * BLOCK_SLOTS: fits.
                return Err(Error::NeedLinks(len as u32));
            }
            let more = A::vec(len, Links::new).ok_or(Error::NoMemory)?;
            drop(self.add_links(more));
        }
        if !A::CHUNKS_UNDER_LOCK {
            // At most MAX_STRIDE.
            return Err(Error::NeedChunk(stride as u32));
        }
        let table = &store.table;
        let chunk = A::chunk(table.chunk_bytes(stride)).ok_or(Error::NoMemory)?;
        if let Some(chunk) = self.add_chunk(store, stride, chunk) {
            // SAFETY: Just allocated for `stride` and never attached.
            unsafe { A::free_chunk(chunk, table.chunk_bytes(stride)) };
        }
        Ok(())
    }

    /// Makes sure the deadline index can take one more deadline if
    /// `expires` is one: `NeedHeap` asks the caller for heap places when the
    /// environment does not allocate under the writer's lock; `NoMemory`.
    /// Changes nothing but the heap's places. Inline: a put pays a compare
    /// or two unless the heap must grow.
    #[inline(always)]
    fn deadline_room(&mut self, expires: Expiry) -> Result<(), Error> {
        if expires.at == 0 {
            return Ok(());
        }
        match self.deadlines.heap_wants(self.max_items as usize) {
            None => Ok(()),
            Some(places) => self.grow_heap(places),
        }
    }

    #[inline(never)]
    fn grow_heap(&mut self, places: usize) -> Result<(), Error> {
        if !A::CHUNKS_UNDER_LOCK {
            // At most max_items: fits.
            return Err(Error::NeedHeap(places as u32));
        }
        let more = A::vec(places, || NIL).ok_or(Error::NoMemory)?;
        drop(self.add_heap(more));
        Ok(())
    }

    /// Takes `more` heap places (from [`Alloc::vec`], asked by
    /// [`Error::NeedHeap`]) for the deadline index if they are more than
    /// its own; answers the array it does not keep, for the caller to free
    /// without the writer's lock.
    pub fn add_heap(&mut self, more: A::Vec<u32>) -> A::Vec<u32> {
        self.deadlines.grow_heap(more)
    }

    /// Takes `more` links (from [`Alloc::vec`] with `Links::new`, asked by
    /// [`Error::NeedLinks`]) for the policy if they cover more slots than
    /// its own, copying its own into them; answers the array it does not
    /// keep, for the caller to free without the writer's lock.
    pub fn add_links(&mut self, more: A::Vec<Links>) -> A::Vec<Links> {
        if more.len() <= self.order.capacity() {
            return more;
        }
        self.links_bytes = core::mem::size_of_val(&*more) as u64;
        self.order.grow(more)
    }

    /// Takes `chunk` (from [`Alloc::chunk`] with [`chunk_bytes`]`(stride)`)
    /// as a new block of class `stride` if that class still has no room and
    /// the directory has a block left; otherwise gives it back, for the
    /// caller to free without the writer's lock.
    pub fn add_chunk(
        &mut self,
        store: &Store<A>,
        stride: usize,
        chunk: NonNull<u8>,
    ) -> Option<NonNull<u8>> {
        if stride > MAX_STRIDE || self.free_slot(stride).is_some() {
            return Some(chunk);
        }
        let b = self.blocks;
        // The policy's links must cover the block's slots first (a clear
        // since the caller asked takes them away): without, the caller's
        // next try asks for links (`NeedLinks`) before a chunk again.
        let slots = (b as usize).saturating_add(1) << BLOCK_SHIFT;
        if store.policy != Policy::None && self.order.capacity() < slots {
            return Some(chunk);
        }
        if store.table.attach(b, chunk, stride).is_none() {
            return Some(chunk);
        }
        self.blocks = b.saturating_add(1);
        let bytes = store.table.chunk_bytes(stride) as u64;
        self.chunk_bytes = self.chunk_bytes.saturating_add(bytes);
        if let Some(class) = self.classes.get_mut(stride) {
            class.fresh = b << BLOCK_SHIFT;
        }
        None
    }

    /// Puts a key known to be absent, making room if the store is full: an
    /// expired item's first, else the policy's victim's.
    fn insert<F: Fn() -> u64>(
        &mut self,
        store: &Store<A>,
        key: &Key,
        value: &[u8],
        expires: Expiry,
        clock: &Clock<F>,
    ) -> Result<Put, Error> {
        let table = &store.table;
        let stride = table.stride(key.len(), value.len(), expires.at);
        // Room in the item's class first: whatever happens next, a put that
        // cannot have it changes nothing.
        self.room(store, stride)?;
        self.deadline_room(expires)?;
        if self.len < self.max_items {
            return self
                .fill_free_slot(store, key, value, expires, stride)
                .map(|()| Put::Inserted);
        }
        let expired = self
            .deadlines
            .earliest(table)
            .filter(|first| clock.expired(first.at));
        if let Some(first) = expired {
            // An expired item is gone for readers already: its removal and
            // the insert need not look like one change.
            self.remove_slot(store, first.slot).ok_or(Error::Full)?;
            self.expired = self.expired.wrapping_add(1);
            A::expired(first.slot, Expired::Room, self.len);
            return self
                .fill_free_slot(store, key, value, expires, stride)
                .map(|()| Put::Inserted);
        }
        if store.policy == Policy::None {
            A::put_refused(self.len, self.max_items);
            return Err(Error::Full);
        }
        // The victim's removal and the new item's insertion are two write
        // sections in two buckets; lock-free readers see them as one change
        // (`table.rs`, point 6). The victim is picked inside, after
        // `evict_begin`, so that a lock-free hit's mark is either seen by
        // the policy or finished under the lock (`Table::mark_hit`).
        table.evict_begin();
        let victim = store.policy.victim(&mut self.order, store, self.len);
        let evicted = victim
            .and_then(|victim| self.remove_slot(store, victim))
            .ok_or(Error::Full)
            .and_then(|()| self.fill_free_slot(store, key, value, expires, stride));
        table.evict_end();
        evicted?;
        // A counter of events: wrapping after 2^64 is harmless.
        self.evictions = self.evictions.wrapping_add(1);
        if let Some(victim) = victim {
            A::evicted(victim, store.policy, self.len);
        }
        Ok(Put::Evicted)
    }

    /// Inserts `key` into a slot of class `stride` (which has room).
    fn fill_free_slot(
        &mut self,
        store: &Store<A>,
        key: &Key,
        value: &[u8],
        expires: Expiry,
        stride: usize,
    ) -> Result<(), Error> {
        let table = &store.table;
        let i = self.free_slot(stride).ok_or(Error::Full)?;
        let version = self.next_version();
        let (size, free_next) = table
            // The item's mark word starts unmarked with its generation, in
            // the section that makes it visible: a mark a reader then sets
            // on it counts.
            .insert(i, key, value, expires.at, version, store.mark(i))
            .ok_or(Error::Full)?;
        self.took(stride, i, free_next);
        if expires.at != 0 {
            self.deadlines.set(table, i, 0, expires.at, expires.ttl_ms);
        }
        store.policy.inserted(&mut self.order, i);
        self.len = self.len.saturating_add(1);
        self.bytes_used = self.bytes_used.saturating_add(size);
        self.puts = self.puts.wrapping_add(1);
        Ok(())
    }

    /// Unlinks used slot `i` (the policy's victim, or an expired item) and
    /// frees it.
    fn remove_slot(&mut self, store: &Store<A>, i: u32) -> Option<()> {
        let found = store.table.locate(i)?;
        self.remove(store, found)
    }

    /// Unlinks the item `found` and frees its slot.
    fn remove(&mut self, store: &Store<A>, found: Located<'_>) -> Option<()> {
        let table = &store.table;
        let Located { i, stride, .. } = found;
        // The deadline first: its entry is in the record, which the table
        // zeroes as it frees it.
        if found.expires != 0 {
            self.deadlines.remove(table, i);
        }
        let class = self.classes.get_mut(stride)?;
        let size = table.remove(&found, class.free);
        class.free = i;
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
    /// A SIEVE hit whose mark landed ([`Relink`]'s `marked`) is already
    /// done: every eviction that read the bit since saw it, so the get takes
    /// effect at its lookup ([`Relinked::Delivered`]).
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
        let Relink { found, marked } = relink;
        let answer = if marked {
            Relinked::Delivered
        } else if table.unchanged_since(key, found.seq) {
            store.policy.used(&mut self.order, store, found.slot);
            Relinked::Delivered
        } else {
            // The bucket changed: whether the item is still there takes a
            // walk of its chain.
            // The same item is the key's with the lookup's generation, in
            // whatever slot: a put that changed its size moved it.
            let now = table
                .find(key)
                .map(|f| f.i)
                .filter(|&i| table.generation(i) == Some(found.generation()));
            let present = now.is_some();
            if let Some(i) = now.filter(|&i| table.value_is(i, value)) {
                store.policy.used(&mut self.order, store, i);
                Relinked::Delivered
            } else if present || !table.evicted_since(&found) {
                Relinked::Delivered
            } else {
                Relinked::Gone
            }
        };
        match answer {
            Relinked::Delivered => store.count_hit(cpu),
            Relinked::Gone => store.count_miss(cpu),
        }
        answer
    }

    /// Removes every item and detaches every block, calling `retire` with
    /// each chunk and its bytes: the caller frees them once every lock-free
    /// read that may still be inside has ended ([`Alloc::free_chunk`]).
    /// Answers the policy's links and the deadline heap's places, which no
    /// reader touches, for the caller to free (without the writer's lock).
    /// Evictions are not counted; the hit, miss and eviction counters keep
    /// their values.
    pub fn clear(
        &mut self,
        store: &Store<A>,
        mut retire: impl FnMut(NonNull<u8>, usize),
    ) -> (A::Vec<Links>, A::Vec<u32>) {
        store.table.clear();
        store
            .table
            .detach_all(|chunk, stride| retire(chunk, store.table.chunk_bytes(stride)));
        self.order.clear();
        let links = self.order.take_links();
        self.links_bytes = 0;
        self.classes = [Class::EMPTY; MAX_STRIDE + 1];
        self.blocks = 0;
        self.chunk_bytes = 0;
        self.len = 0;
        self.bytes_used = 0;
        let heap = self.deadlines.clear();
        (links, heap)
    }

    /// Calls `f(key, value)` for the first `limit` live items of bucket
    /// `bucket` (below [`Store::buckets`]); the number of live items in the
    /// bucket, counted up to `limit + 1`: the walk stops there, so it takes
    /// a bounded time whatever the chain's length. Expired items are
    /// skipped. Counts no use and no hit. Consistent because it runs under
    /// the writer lock, which also means `f` runs under it: in the module
    /// that is a spinlock, so `f` must not sleep.
    pub fn dump_bucket<F: Fn() -> u64>(
        &self,
        store: &Store<A>,
        bucket: u32,
        limit: u32,
        clock: &Clock<F>,
        f: impl FnMut(&[u8], &[u8]),
    ) -> Result<u32, Error> {
        store
            .table
            .for_each_in_bucket(bucket, limit, |expires| !clock.expired(expires), f)
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Reads an item's value as an increment does: an optional minus sign and
/// 1 to 19 decimal digits making an `i64`; `None` for anything else.
pub fn parse_decimal(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    // 19 digits stay below 10^19 < 2^64: no overflow in u64.
    let mut magnitude = 0u64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
    }
    if negative {
        // i64::MIN's magnitude is i64::MAX + 1.
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// The decimal text of an `i64`, in a buffer of its own (no allocation).
pub struct Decimal {
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    pub fn new(n: i64) -> Self {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        let mut magnitude = n.unsigned_abs();
        loop {
            start = start.saturating_sub(1);
            if let Some(b) = buf.get_mut(start) {
                // A digit: below 10.
                *b = b'0' + (magnitude % 10) as u8;
            }
            magnitude /= 10;
            if magnitude == 0 {
                break;
            }
        }
        if n < 0 {
            start = start.saturating_sub(1);
            if let Some(b) = buf.get_mut(start) {
                *b = b'-';
            }
        }
        Decimal { buf, start }
    }

    pub fn bytes(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
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

    pub(crate) fn table_for_test(&self) -> &StoreTable<A> {
        &self.table
    }

    /// The slot holding `key`, found by the writer's walk (no mark set).
    pub(crate) fn slot_for_test(&self, key: &Key) -> Option<u32> {
        self.table.find(key).map(|f| f.i)
    }

    /// Slot `i`'s generation, as its `visit` word holds it.
    pub(crate) fn generation_for_test(&self, i: u32) -> Option<u32> {
        self.table.generation(i)
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
