// SPDX-License-Identifier: GPL-2.0
//! The hash table of kv.ko: buckets, chains and preallocated slots, with a
//! lock-free reader. Eviction policies live elsewhere (`policy/`); this file
//! knows nothing about them beyond one per-slot bit they may use.
//!
//! Plain `no_std` Rust without the kernel crate: the module compiles it in,
//! and the host crate `kv_module` tests it, threads included.
//!
//! # Layout
//!
//! Every slot is allocated at load and freed only at unload (as in a
//! preallocated BPF hash map, `kernel/bpf/hashtab.c`). A bucket is a sequence
//! counter and the head of a singly linked chain of slot indices (`NIL` ends
//! it). Key and value live in the slot as arrays of `AtomicU64` words, so that
//! a reader racing with a writer performs only atomic accesses: in Rust a
//! plain-memory data race is undefined behaviour even if its result is
//! thrown away. On x86 and arm64 a relaxed atomic load or store is an ordinary
//! `mov`/`ldr`, so this costs nothing.
//!
//! # Why a lock-free reader never sees a torn or freed item
//!
//! Writers are serialized by the caller (one lock around the `Writer` in
//! `store.rs`). Readers take no lock and write nothing shared.
//!
//! 1. *No freed memory.* Slots are never freed while the table exists, and
//!    every index a reader follows is bounds-checked (`get`), so a reader can
//!    at worst look at a slot that was removed or reused meanwhile.
//! 2. *Every change is inside a write section.* Each store to a slot that is
//!    in bucket B's chain, or that takes it out of B (unlinking it, reusing it,
//!    linking it into the free list), and each store to B's head, happens
//!    between `write_begin(B)` and `write_end(B)`: `seq` odd during it. A slot
//!    that is being filled for bucket C is changed inside C's section, after
//!    the section of the bucket it was last removed from has ended (the writer
//!    lock orders the two).
//! 3. *Readers validate.* A reader loads B's `seq` (Acquire; odd: a write is in
//!    progress, retry), walks the chain and copies key words and value words
//!    with Relaxed loads, then issues an Acquire fence and loads `seq` again.
//!    If any relaxed load returned a value stored by a writer section that
//!    began after the first `seq` load, that store is preceded in the writer by
//!    `write_begin`'s `seq` increment and Release fence; the reader's Acquire
//!    fence then synchronizes with that Release fence, so the second load sees
//!    an odd or larger `seq` and the reader retries. A reader whose two loads
//!    agree therefore saw no store of any section that overlapped it: a state
//!    of the bucket between two sections, i.e. a real one. This is the
//!    seqlock recipe of H. Boehm, "Can seqlocks get along with programming
//!    language memory models?" (MSPC 2012), and the kernel's `seqcount_t`.
//!    For the slot reused in bucket C (point 2): the store the reader saw is
//!    after C's `write_begin`, which is after B's `write_begin` that unlinked
//!    the slot, so B's counter has moved too.
//! 4. *Walks terminate.* A chain seen mid-change can contain a cycle (a slot
//!    moved to another chain, or into the free list); a walk stops after
//!    `slots.len()` steps and then retries, because a consistent chain is
//!    never longer than that.
//! 5. *Bounded garbage.* A torn `lens` word is clamped to the arrays, so a
//!    copy made from a torn state stays in bounds; it is discarded by step 3.
//! 6. *Evictions are one change.* A put that evicts removes the victim from
//!    its bucket and inserts the new item into another: two sections. A
//!    reader that saw the first and not the second could answer a miss for
//!    both keys, which no order of whole operations explains. So the table
//!    also counts evictions in `evictions`, odd while one runs
//!    (`evict_begin`, `evict_end`, around both sections), and a reader
//!    validates it as it validates `seq` (step 3, the same fences): a read
//!    that overlapped any part of an eviction retries, and one that did not
//!    saw the table before it or after it. The count also tells a lock-free
//!    hit whether an eviction may have decided on its item before the hit's
//!    referenced bit was set (`mark_hit`: a SeqCst store in `evict_begin`
//!    before the policy reads any bit, and a SeqCst load after the mark, so
//!    at least one of the two sees the other). A mark is a compare-exchange
//!    against the slot's `visit` word as the lookup saw it, and each read of
//!    the bit by the policy advances that word's stamp: a mark comes before
//!    the read (which counts it) or fails, never between two reads of one
//!    eviction.
//!
//! `seq` is a u32: a reader is fooled only if exactly 2^32 sections of its
//! bucket run during one of its reads, as with the kernel's `seqcount_t`.
//! Write sections are short and run under the writer lock. Where that lock
//! keeps preemption off, a reader that finds `seq` odd spins only briefly;
//! where it does not (PREEMPT_RT, whose spinlocks sleep), the writer can be
//! preempted inside a section, so the reader's `wait` takes and drops the
//! writer lock instead, which runs the writer first (priority inheritance),
//! as the kernel's `seqcount_spinlock_t` does on RT.
//!
//! # Hash
//!
//! A keyed multiply-fold hash over 8-byte words (the structure of wyhash,
//! which Go's runtime uses for its maps with a per-process seed; the kernel's
//! BPF hash maps likewise use jhash with a random `hashrnd`). Two 64-bit
//! secrets drawn at load enter every step, so a caller who cannot read the
//! secrets cannot compute which bucket a key lands in and cannot flood one.
//! One multiply per 16 bytes of key keeps it a small share of a get, where a
//! cryptographic keyed hash such as SipHash would dominate the lookup.

use core::mem::MaybeUninit;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use crate::abi::{KV_MAX_KEY, KV_MAX_VAL};

/// Largest bucket count the module accepts.
pub const MAX_BUCKETS: u32 = 1 << 20;
/// Largest capacity the module accepts.
pub const MAX_ITEMS: u32 = 1 << 20;
/// The "no slot" link.
pub const NIL: u32 = u32::MAX;

const WORD: usize = 8;
/// Key and value sizes in 8-byte words.
pub const KEY_WORDS: usize = KV_MAX_KEY / WORD;
pub const VALUE_WORDS: usize = KV_MAX_VAL / WORD;

/// Why an operation failed. A failed operation changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The key is not in the store (get, del, put with `IfPresent`).
    NotFound,
    /// The key is in the store (put with `IfAbsent`).
    Exists,
    /// The store is full and its policy evicts nothing.
    Full,
    /// The key is empty or longer than `KV_MAX_KEY`.
    BadKeyLen,
    /// The value is longer than `KV_MAX_VAL`.
    BadValueLen,
    /// A bucket number at or above the bucket count.
    BadBucket,
    /// The item's version is not the one a versioned put expected.
    VersionChanged,
    /// An increment's item does not hold the decimal text of an `i64`.
    NotANumber,
    /// An increment's result is outside `i64`.
    Overflow,
}

/// A key checked and packed into words, with its hash under one table's seed.
/// Only the words the key's length covers are ever read, and bytes past the
/// length in the last of them are zero, so words compare whole.
///
/// Laid out so that `struct kv_key` as userspace sends it (`len`, then 64
/// bytes) can be copied straight in ([`Key::fill_uninit`]), the bytes
/// landing 8-aligned as the words; [`Table::seal`] then checks, pads and
/// hashes it in place. No copy of the key is made after the one from
/// userspace.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct Key {
    /// Puts `words` at an 8-byte boundary right after `len`; never read,
    /// so never written either.
    _pad: MaybeUninit<u32>,
    /// In bytes; 1..=KV_MAX_KEY once sealed.
    len: u32,
    words: [u64; KEY_WORDS],
    hash: u64,
}

impl Key {
    /// An empty key.
    pub const fn new() -> Self {
        Key {
            _pad: MaybeUninit::uninit(),
            len: 0,
            words: [0; KEY_WORDS],
            hash: 0,
        }
    }

    /// Makes a key in `slot` from `struct kv_key` as `fill` writes it into
    /// the array it is given (a copy from userspace), without zeroing the
    /// key first; the caller then calls [`Table::seal`].
    ///
    /// # Safety
    ///
    /// `fill` returns `Ok` only once it has written every byte of the array.
    #[inline(always)]
    pub unsafe fn fill_uninit<E>(
        slot: &mut MaybeUninit<Key>,
        fill: impl FnOnce(&mut MaybeUninit<[u8; 4 + KV_MAX_KEY]>) -> Result<(), E>,
    ) -> Result<&mut Key, E> {
        let p = slot.as_mut_ptr();
        // SAFETY: `p` is valid and aligned for a `Key`; writing a field
        // through a raw place needs no initialised value.
        unsafe {
            core::ptr::addr_of_mut!((*p).hash).write(0);
        }
        let at = core::mem::offset_of!(Key, len);
        // SAFETY: `repr(C)` puts `len` at offset 4 and `words` right after
        // it at offset 8 (8-aligned), so the 68 bytes from `len` are exactly
        // `len` and `words`, inside `*slot`, which the array (alignment 1)
        // borrows mutably; a `MaybeUninit` array has no validity
        // requirement. The pointer is derived from the whole `slot`.
        let abi = unsafe { &mut *p.cast::<u8>().add(at).cast() };
        fill(abi)?;
        // SAFETY: `hash` is written above, `len` and `words` by `fill` (the
        // caller's contract), integers are valid for any bytes, and `_pad`
        // is a `MaybeUninit`, so the whole `Key` is initialised.
        Ok(unsafe { slot.assume_init_mut() })
    }

    /// The key's length in bytes (1..=KV_MAX_KEY).
    fn len(&self) -> usize {
        self.len as usize
    }

    #[cfg(test)]
    pub(crate) fn hash_for_test(&self) -> u64 {
        self.hash
    }

    fn used_words(&self) -> &[u64] {
        // At most KEY_WORDS, which the compiler then knows: no second check.
        let n = self.len().div_ceil(WORD).min(KEY_WORDS);
        self.words.get(..n).unwrap_or(&self.words)
    }
}

impl Default for Key {
    fn default() -> Self {
        Self::new()
    }
}

// The byte/word conversions take fixed-size chunks off the front of a slice
// (`split_first_chunk`): no index arithmetic, so no overflow check and no
// bounds check to panic, and no iterator adapter that objtool cannot follow
// in a module built -Os. (`as_chunks` would say it shorter, but Debian 13's
// rustc 1.85 predates it.)

/// Calls `f(n, word)` for each little-endian 8-byte word of `bytes`, the
/// last one zero-padded.
#[inline(always)]
fn for_each_word(bytes: &[u8], mut f: impl FnMut(usize, u64)) {
    let mut rest = bytes;
    let mut n = 0usize;
    while let Some((chunk, tail)) = rest.split_first_chunk::<WORD>() {
        f(n, u64::from_le_bytes(*chunk));
        n = n.wrapping_add(1);
        rest = tail;
    }
    if !rest.is_empty() {
        let mut last = [0u8; WORD];
        if let Some(head) = last.get_mut(..rest.len()) {
            head.copy_from_slice(rest);
        }
        f(n, u64::from_le_bytes(last));
    }
}

/// The words of `words` that hold `len` bytes, loaded.
fn covering(words: &[AtomicU64], len: usize) -> impl Iterator<Item = u64> + '_ {
    words
        .iter()
        .take(len.div_ceil(WORD))
        .map(|w| w.load(Ordering::Relaxed))
}

/// Stores `words` little-endian into the start of `out`, as many as fit.
#[inline(always)]
fn unpack<const N: usize>(words: impl Iterator<Item = u64>, out: &mut [u8; N]) {
    let mut rest: &mut [u8] = out;
    for word in words {
        let Some((chunk, tail)) = rest.split_first_chunk_mut::<WORD>() else {
            break;
        };
        *chunk = word.to_le_bytes();
        rest = tail;
    }
}

/// One item's storage. Everything is atomic because lock-free readers may
/// load any field while the writer changes it (see the file header).
/// `repr(C)` keeps what a lookup reads first (hash, link, lengths, the
/// start of the key) together at the front, in one cache line.
#[repr(C)]
pub struct Slot {
    hash: AtomicU64,
    /// Next slot in the bucket chain, or in the free list.
    next: AtomicU32,
    /// Key length in bits 0..8, value length in bits 8..24.
    lens: AtomicU32,
    /// When the item expires, in nanoseconds of the caller's monotonic
    /// clock; 0: never. Read by every hit, so next to the lengths.
    expires: AtomicU64,
    /// The item's version (never 0 on a used slot): the writer gives a
    /// new one whenever the value or the expiry changes.
    version: AtomicU64,
    key: [AtomicU64; KEY_WORDS],
    value: [AtomicU64; VALUE_WORDS],
    /// The policy's "referenced" bit (like `ref` in the kernel's
    /// `bpf_lru_node`) in bit 0; in bits 1..32 a stamp that each read of
    /// the bit by the policy advances; in bits 32..64 the slot's generation,
    /// which each insert into the slot advances. A lock-free hit sets the
    /// bit only while the whole word is the one its lookup saw
    /// ([`Table::mark_hit`]), so a mark meant for an item never lands on a
    /// later item in its slot, nor after an eviction has read the bit (which
    /// would then count a hit it did not see). The policy reads and clears
    /// the bit under the writer lock. No data depends on it.
    visit: AtomicU64,
}

impl Slot {
    /// An unused slot (all zero), to fill the storage with at load.
    pub const fn new() -> Self {
        Slot {
            hash: AtomicU64::new(0),
            next: AtomicU32::new(NIL),
            lens: AtomicU32::new(0),
            expires: AtomicU64::new(0),
            version: AtomicU64::new(0),
            key: [const { AtomicU64::new(0) }; KEY_WORDS],
            value: [const { AtomicU64::new(0) }; VALUE_WORDS],
            visit: AtomicU64::new(0),
        }
    }

    fn lens(&self) -> (usize, usize) {
        let lens = self.lens.load(Ordering::Relaxed);
        // Clamped, so that lengths read in a torn state still index in bounds.
        let key_len = ((lens & 0xff) as usize).min(KV_MAX_KEY);
        let value_len = ((lens >> 8) as usize).min(KV_MAX_VAL);
        (key_len, value_len)
    }

    /// Whether the slot holds `key`: if so, its value's length (clamped,
    /// so that lengths read in a torn state still index in bounds).
    #[inline(always)]
    fn holds(&self, key: &Key) -> Option<usize> {
        if self.hash.load(Ordering::Relaxed) != key.hash {
            return None;
        }
        let lens = self.lens.load(Ordering::Relaxed);
        let same = (lens & 0xff) as usize == key.len()
            && self
                .key
                .iter()
                .zip(key.used_words())
                .all(|(a, b)| a.load(Ordering::Relaxed) == *b);
        same.then_some(((lens >> 8) as usize).min(KV_MAX_VAL))
    }

    fn key_is(&self, key: &Key) -> bool {
        self.holds(key).is_some()
    }

    /// Copies the words of the value's first `len` bytes into the start of
    /// `out`: exactly `len.div_ceil(8)` words.
    #[inline(always)]
    fn copy_value(&self, len: usize, out: &mut [MaybeUninit<u64>; VALUE_WORDS]) {
        for (o, w) in out.iter_mut().zip(&self.value).take(len.div_ceil(WORD)) {
            // Little-endian in memory, as the bytes were packed.
            o.write(w.load(Ordering::Relaxed).to_le());
        }
    }

    /// Calls `f` with the key and value (used under the writer lock only).
    fn with_item<R>(&self, f: impl FnOnce(&[u8], &[u8]) -> R) -> R {
        let (key_len, value_len) = self.lens();
        let mut key = [0u8; KV_MAX_KEY];
        unpack(covering(&self.key, key_len), &mut key);
        let mut value = [0u8; KV_MAX_VAL];
        unpack(covering(&self.value, value_len), &mut value);
        f(
            key.get(..key_len).unwrap_or(&[]),
            value.get(..value_len).unwrap_or(&[]),
        )
    }

    /// Stores the value (writer only, inside a write section). Only the words
    /// the value covers are written; the last one is zero-padded, so no byte
    /// of an earlier value is ever copied out.
    fn set_value(&self, value: &[u8]) {
        for_each_word(value, |n, word| {
            if let Some(w) = self.value.get(n) {
                w.store(word, Ordering::Relaxed);
            }
        });
        let (key_len, _) = self.lens();
        self.set_lens(key_len, value.len());
    }

    fn set_lens(&self, key_len: usize, value_len: usize) {
        // key_len <= 64 and value_len <= 256, checked by the callers.
        self.lens.store(
            (key_len as u32) | ((value_len as u32) << 8),
            Ordering::Relaxed,
        );
    }

    /// Bytes the item accounts for in `bytes_used`.
    fn size(&self) -> u64 {
        let (k, v) = self.lens();
        (k + v) as u64
    }
}

impl Default for Slot {
    fn default() -> Self {
        Self::new()
    }
}

/// A value found by a get, laid out for the caller: from `len` on, this is
/// `struct kv_value` (`len`, then the bytes), so one copy of
/// [`ValueOut::bytes`] answers the get. Only the value's own words are ever
/// written: nothing is zeroed, and no byte past the value leaves the kernel.
#[repr(C, align(8))]
pub struct ValueOut {
    /// Puts `words` at an 8-byte boundary right after `len`.
    _pad: u32,
    len: u32,
    /// Invariant: the first `len.div_ceil(8)` words are initialised.
    words: [MaybeUninit<u64>; VALUE_WORDS],
}

impl ValueOut {
    pub const fn new() -> Self {
        ValueOut {
            _pad: 0,
            len: 0,
            words: [MaybeUninit::uninit(); VALUE_WORDS],
        }
    }

    /// The value's length in bytes (at most `KV_MAX_VAL`).
    pub fn value_len(&self) -> usize {
        self.len as usize
    }

    /// `len` (4 bytes, native endian) followed by the value's `len` bytes.
    pub fn bytes(&self) -> &[u8] {
        // `len` is at most KV_MAX_VAL (set only by `fill`), so this is at
        // most the size of `len` plus `words`.
        let n = 4 + self.value_len().min(KV_MAX_VAL);
        let at = core::mem::offset_of!(ValueOut, len);
        // SAFETY: `repr(C)` puts `words` right after `len` (4 + 4 bytes, and
        // `words` needs 8-byte alignment, which offset 8 has), so the `n`
        // bytes from `len` lie inside `self`. They are initialised: `len`
        // is, and by the invariant so are the first `len.div_ceil(8)` words,
        // which cover the value's `len` bytes. The borrow of `self` keeps
        // them alive and unchanged for the slice's lifetime, and the pointer
        // is derived from `self` as a whole.
        unsafe { core::slice::from_raw_parts(core::ptr::from_ref(self).cast::<u8>().add(at), n) }
    }

    /// Fills in the value's first `len` (at most `KV_MAX_VAL`) bytes from
    /// slot `slot` (a consistent copy is the caller's business).
    #[inline(always)]
    fn fill(&mut self, slot: &Slot, len: usize) {
        slot.copy_value(len, &mut self.words);
        // The words are written, and `len` fits: at most KV_MAX_VAL.
        self.len = len.min(KV_MAX_VAL) as u32;
    }

    /// The value's bytes.
    pub fn value(&self) -> &[u8] {
        self.bytes().get(4..).unwrap_or(&[])
    }
}

impl Default for ValueOut {
    fn default() -> Self {
        Self::new()
    }
}

/// One hash bucket.
pub struct Bucket {
    /// Sequence counter: odd while a writer changes this bucket's chain.
    seq: AtomicU32,
    /// First slot of the chain, or `NIL`.
    head: AtomicU32,
}

impl Bucket {
    pub const fn new() -> Self {
        Bucket {
            seq: AtomicU32::new(0),
            head: AtomicU32::new(NIL),
        }
    }
}

impl Default for Bucket {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a lookup found its key: the slot, the value's length, the item's
/// expiry and version, and what the lookup was validated against: the
/// bucket's sequence count (a writer that sees the same even count knows
/// the bucket has not changed since), the table's eviction count, and the
/// slot's `visit` word (generation, stamp and referenced bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub slot: u32,
    pub len: usize,
    /// Nanoseconds of the monotonic clock; 0: never expires.
    pub expires: u64,
    pub version: u64,
    pub seq: u32,
    pub evictions: u32,
    pub visit: u64,
}

impl Found {
    /// The generation of the slot the lookup found the item in.
    pub fn generation(&self) -> u32 {
        (self.visit >> 32) as u32
    }
}

/// Where the writer found a key ([`Table::find`]): what changing or
/// removing the item needs, without walking its chain or indexing the
/// arrays again.
#[derive(Clone, Copy)]
pub struct Located<'a> {
    /// The item's slot.
    pub i: u32,
    /// Its expiry (0: never).
    pub expires: u64,
    slot: &'a Slot,
    /// Its predecessor in the chain, `None` for the head.
    prev: Option<&'a Slot>,
    bucket: &'a Bucket,
}

impl Located<'_> {
    /// The item's version (writer only, so consistent).
    pub(crate) fn version(&self) -> u64 {
        self.slot.version.load(Ordering::Relaxed)
    }

    /// Calls `f` with the item's value (writer only, so consistent).
    pub(crate) fn with_value<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.slot.with_item(|_, value| f(value))
    }
}

/// How a lock-free hit was recorded ([`Table::mark_hit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    /// No eviction began since the lookup: every eviction to come sees the
    /// item as referenced, and none before could have removed it for want
    /// of the hit.
    Recorded,
    /// An eviction began since the lookup. `marked`: the hit set the bit,
    /// before any eviction read it (so every eviction that read it counted
    /// the hit); otherwise the hit is not recorded.
    Raced { marked: bool },
}

/// Whether an item whose expiry is `expires` (0: never) has expired at
/// `now`: a deadline is the first instant the item is gone.
#[inline(always)]
pub fn is_expired(expires: u64, now: u64) -> bool {
    expires != 0 && expires <= now
}

/// The hash table over caller-provided storage (`KVVec` in the kernel, `Vec`
/// on the host). Invariants, kept by the writer methods:
/// - `buckets.len()` in 1..=MAX_BUCKETS, `slots.len()` in 1..=MAX_ITEMS, so
///   every index fits below `NIL`;
/// - every used slot is on exactly one chain, the one its hash selects;
/// - a used slot has key length 1..=KV_MAX_KEY and value length <= KV_MAX_VAL.
pub struct Table<B, S> {
    buckets: B,
    slots: S,
    seed: [u64; 2],
    /// Sequence count of evictions: odd while one is in progress (header,
    /// point 6).
    evictions: AtomicU32,
}

/// The multiply-fold step: the 128-bit product's halves xored.
fn mix(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl<B, S> Table<B, S>
where
    B: core::ops::Deref<Target = [Bucket]>,
    S: core::ops::Deref<Target = [Slot]>,
{
    /// A table over fresh storage (every bucket and slot as `new()` made it).
    /// `seed` keys the hash: draw it at random.
    pub fn new(buckets: B, slots: S, seed: [u64; 2]) -> Self {
        Table {
            buckets,
            slots,
            seed,
            evictions: AtomicU32::new(0),
        }
    }

    pub fn bucket_count(&self) -> u32 {
        // At most MAX_BUCKETS (checked by the store before building a table).
        self.buckets.len() as u32
    }

    pub fn capacity(&self) -> u32 {
        self.slots.len() as u32
    }

    /// Checks `bytes` as a key and hashes it.
    pub fn key(&self, bytes: &[u8]) -> Result<Key, Error> {
        if bytes.is_empty() || bytes.len() > KV_MAX_KEY {
            return Err(Error::BadKeyLen);
        }
        let mut key = Key::new();
        for_each_word(bytes, |n, word| {
            if let Some(w) = key.words.get_mut(n) {
                *w = word;
            }
        });
        key.len = bytes.len() as u32; // 1..=64
        key.hash = self.hash(&key);
        Ok(key)
    }

    /// Checks a key filled by [`Key::fill_uninit`], zeroes its bytes past
    /// `len` in its last word (the caller's bytes there are anything) and
    /// hashes it.
    pub fn seal(&self, key: &mut Key) -> Result<(), Error> {
        let len = key.len();
        if len == 0 || len > KV_MAX_KEY {
            return Err(Error::BadKeyLen);
        }
        // The bytes arrived in memory order: little-endian words.
        #[cfg(target_endian = "big")]
        for w in key.words.iter_mut() {
            *w = u64::from_le(*w);
        }
        // The last used word keeps its low `len % 8` bytes (all 8 if 0).
        // Words after it are never read (`used_words`, `hash`).
        let rest = len % WORD;
        if rest != 0 {
            if let Some(w) = key.words.get_mut(len / WORD) {
                *w &= (1u64 << (rest * 8)) - 1;
            }
        }
        key.hash = self.hash(key);
        Ok(())
    }

    fn hash(&self, key: &Key) -> u64 {
        let [s0, s1] = self.seed;
        let mut h = s0 ^ u64::from(key.len);
        // Pairs of words; an odd last word pairs with zero (the length,
        // hashed above, tells "a" from "a\0").
        let mut rest = key.used_words();
        while let Some(([a, b], tail)) = rest.split_first_chunk::<2>() {
            h = mix(a ^ s1, b ^ h);
            rest = tail;
        }
        if let [a] = rest {
            h = mix(a ^ s1, h);
        }
        mix(h ^ s1, s0 ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn bucket_index(&self, hash: u64) -> usize {
        // (high 32 bits of the hash) * len / 2^32: below len, no division.
        // The product is below 2^32 * MAX_BUCKETS = 2^52: it cannot wrap,
        // and `wrapping_mul` leaves no overflow panic in the code.
        (((hash >> 32).wrapping_mul(self.buckets.len() as u64)) >> 32) as usize
    }

    /// The hash's bucket; always `Some` (bucket_index is below the length).
    fn bucket(&self, hash: u64) -> Option<&Bucket> {
        self.buckets.get(self.bucket_index(hash))
    }

    pub(crate) fn slot(&self, i: u32) -> Option<&Slot> {
        self.slots.get(i as usize)
    }

    /// Lock-free lookup: copies the value of `key` into `out`. See the file
    /// header for why the copy is never torn. A discarded attempt may have
    /// written words of `out` past the final value; they are never read
    /// (`ValueOut::bytes` ends at the value).
    ///
    /// `wait` runs each time the bucket has a write in progress, before the
    /// next attempt: a spin hint where the writer cannot be preempted inside
    /// its section, or taking and dropping the writer's lock where it can
    /// (PREEMPT_RT), so that the reader waits for the writer instead of
    /// spinning against it.
    #[inline(always)]
    pub fn read(&self, key: &Key, out: &mut ValueOut, wait: impl Fn()) -> Option<Found> {
        let bucket = self.bucket(key.hash)?;
        loop {
            // Acquire: pairs with the Release store of `write_end`, so a
            // reader that sees an even count sees that section's stores.
            let seq = bucket.seq.load(Ordering::Acquire);
            // Acquire: pairs with `evict_end`'s Release store, as above.
            let evictions = self.evictions.load(Ordering::Acquire);
            if (seq | evictions) & 1 == 1 {
                wait();
                continue;
            }
            // Both counts in one word: one register stays live across the
            // walk instead of two.
            let seen = u64::from(seq) | u64::from(evictions) << 32;
            let found = self.walk(bucket, key, out);
            // Acquire fence: pairs with `write_begin`'s Release fence (header,
            // point 3), so the loads below see any section whose stores the
            // walk saw, and the eviction it belongs to (point 6).
            fence(Ordering::Acquire);
            let now = u64::from(bucket.seq.load(Ordering::Relaxed))
                | u64::from(self.evictions.load(Ordering::Relaxed)) << 32;
            if now == seen {
                // A walk that ran out of steps in a stable bucket would mean a
                // cycle in a consistent chain, which the writer never makes.
                return found.unwrap_or(None).map(|found| Found {
                    // The low and high halves of `seen`.
                    seq: seen as u32,
                    evictions: (seen >> 32) as u32,
                    ..found
                });
            }
        }
    }

    /// One walk of the chain: `Some(result)` (the slot holding `key`, its
    /// value's length, copied into `out`, its expiry and version, and the
    /// slot's `visit` word), or `None` when it ran out of steps (a cycle seen
    /// mid-change). All of it is read inside the validated section, like the
    /// value.
    #[inline(always)]
    fn walk(&self, bucket: &Bucket, key: &Key, out: &mut ValueOut) -> Option<Option<Found>> {
        let mut i = bucket.head.load(Ordering::Relaxed);
        // A consistent chain has at most `slots.len()` slots.
        let mut steps = self.slots.len();
        loop {
            let slot = self.slot(i)?; // NIL (or garbage): the end
            if let Some(len) = slot.holds(key) {
                out.fill(slot, len);
                let expires = slot.expires.load(Ordering::Relaxed);
                let version = slot.version.load(Ordering::Relaxed);
                let visit = slot.visit.load(Ordering::Relaxed);
                // `read` fills in what it validated against.
                return Some(Some(Found {
                    slot: i,
                    len,
                    expires,
                    version,
                    seq: 0,
                    evictions: 0,
                    visit,
                }));
            }
            i = slot.next.load(Ordering::Relaxed);
            if i == NIL {
                return Some(None);
            }
            steps = steps.checked_sub(1)?;
        }
    }

    /// Marks the item a lock-free lookup `found` as referenced after its
    /// hit, writing only if the bit is not yet set (so a hot item's cache
    /// line is written once per pass of the policy) and only if the slot's
    /// `visit` word is still the one the lookup saw: the same item (its
    /// generation) whose bit no eviction has read since (its stamp). So an
    /// eviction that reads the bit either sees the mark, and the hit comes
    /// before it, or makes the mark fail; it never reads a bit twice and
    /// sees the hit only the second time. Answers [`Hit::Recorded`] if no
    /// eviction has begun since the lookup (point 6 of the header);
    /// otherwise the caller finishes the hit under the writer lock.
    #[inline]
    pub fn mark_hit(&self, found: &Found) -> Hit {
        let mut marked = false;
        if let Some(slot) = self.slot(found.slot) {
            let unmarked = found.visit & !1;
            if slot.visit.load(Ordering::Relaxed) == unmarked {
                // SeqCst, with the SeqCst load below and `evict_begin`'s
                // SeqCst store before the hand reads any bit: either this
                // mark is seen by that eviction, or the load below sees the
                // eviction's count move. Pairs with `take_referenced`'s
                // SeqCst read-modify-write of the same word.
                marked = slot
                    .visit
                    .compare_exchange(unmarked, unmarked | 1, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok();
            }
        }
        if self.evictions.load(Ordering::SeqCst) == found.evictions {
            Hit::Recorded
        } else {
            Hit::Raced { marked }
        }
    }

    // --- writer side: called only by `store::Writer`, under its lock -------

    fn write_begin(&self, bucket: &Bucket) {
        let seq = bucket.seq.load(Ordering::Relaxed);
        bucket.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Release fence: the section's stores come after it; a reader whose
        // Acquire fence follows a load of one of them sees the odd count.
        fence(Ordering::Release);
    }

    fn write_end(&self, bucket: &Bucket) {
        let seq = bucket.seq.load(Ordering::Relaxed);
        // Release: the section's stores are visible to a reader that loads
        // this even count with Acquire.
        bucket.seq.store(seq.wrapping_add(1), Ordering::Release);
    }

    /// Begins an eviction: a put that removes one item and inserts another,
    /// two write sections in two buckets that readers must see as one
    /// change (header, point 6). Ends with [`Table::evict_end`].
    pub(crate) fn evict_begin(&self) {
        let n = self.evictions.load(Ordering::Relaxed);
        // SeqCst: pairs with `mark_hit` (see there) before the policy reads
        // any referenced bit to pick the victim.
        self.evictions.store(n.wrapping_add(1), Ordering::SeqCst);
        // Release fence: the eviction's stores come after it, as in
        // `write_begin`.
        fence(Ordering::Release);
    }

    pub(crate) fn evict_end(&self) {
        let n = self.evictions.load(Ordering::Relaxed);
        // Release: pairs with the readers' Acquire load, as `write_end`.
        self.evictions.store(n.wrapping_add(1), Ordering::Release);
    }

    /// Slot `i`'s generation (advanced by each insert into it).
    pub(crate) fn generation(&self, i: u32) -> Option<u32> {
        self.slot(i)
            .map(|slot| (slot.visit.load(Ordering::Relaxed) >> 32) as u32)
    }

    /// Whether used slot `i`'s value is `value`. Writer only.
    pub(crate) fn value_is(&self, i: u32, value: &[u8]) -> bool {
        self.slot(i)
            .is_some_and(|slot| slot.with_item(|_, v| v == value))
    }

    /// Whether an eviction has begun since a lookup `found`. Writer only.
    pub(crate) fn evicted_since(&self, found: &Found) -> bool {
        self.evictions.load(Ordering::Relaxed) != found.evictions
    }

    /// Whether `key`'s bucket still has the sequence count `seq` that a
    /// lock-free lookup validated ([`Found::seq`]): then no write section
    /// has touched the bucket since, and what the lookup saw is still there.
    /// Writer only (no section is in progress).
    pub(crate) fn unchanged_since(&self, key: &Key, seq: u32) -> bool {
        self.bucket(key.hash)
            .is_some_and(|bucket| bucket.seq.load(Ordering::Relaxed) == seq)
    }

    /// The slot holding `key`, its predecessor in the chain, its bucket and
    /// its expiry. Writer only: the chain cannot change under it.
    pub(crate) fn find(&self, key: &Key) -> Option<Located<'_>> {
        let bucket = self.bucket(key.hash)?;
        let mut prev = None;
        let mut i = bucket.head.load(Ordering::Relaxed);
        while let Some(slot) = self.slot(i) {
            if slot.key_is(key) {
                return Some(Located {
                    i,
                    expires: slot.expires.load(Ordering::Relaxed),
                    slot,
                    prev,
                    bucket,
                });
            }
            prev = Some(slot);
            i = slot.next.load(Ordering::Relaxed);
        }
        None
    }

    /// Where used slot `i` is (an eviction or an expiry names the slot, not
    /// the key): one walk of its chain for its predecessor; `None` if `i` is
    /// on no chain. Writer only.
    pub(crate) fn locate(&self, i: u32) -> Option<Located<'_>> {
        let slot = self.slot(i)?;
        let bucket = self.bucket(slot.hash.load(Ordering::Relaxed))?;
        let mut prev = None;
        let mut j = bucket.head.load(Ordering::Relaxed);
        while j != i {
            let at = self.slot(j)?; // NIL: the end, `i` not found
            prev = Some(at);
            j = at.next.load(Ordering::Relaxed);
        }
        Some(Located {
            i,
            expires: slot.expires.load(Ordering::Relaxed),
            slot,
            prev,
            bucket,
        })
    }

    /// Replaces the value, expiry and version of the item `found`; the
    /// change in bytes held.
    pub(crate) fn replace(
        &self,
        found: &Located<'_>,
        value: &[u8],
        expires: u64,
        version: u64,
    ) -> (u64, u64) {
        let Located { slot, bucket, .. } = *found;
        let old = slot.size();
        self.write_begin(bucket);
        slot.set_value(value);
        slot.expires.store(expires, Ordering::Relaxed);
        slot.version.store(version, Ordering::Relaxed);
        self.write_end(bucket);
        (old, slot.size())
    }

    /// Sets the expiry and version of the item `found`, keeping its value.
    pub(crate) fn set_expiry(&self, found: &Located<'_>, expires: u64, version: u64) {
        let Located { slot, bucket, .. } = *found;
        self.write_begin(bucket);
        slot.expires.store(expires, Ordering::Relaxed);
        slot.version.store(version, Ordering::Relaxed);
        self.write_end(bucket);
    }

    /// Fills unused slot `i` with the item and links it at the head of its
    /// chain; `free_next` receives the slot's old `next` (its free-list
    /// successor). The item's size.
    pub(crate) fn insert(
        &self,
        i: u32,
        key: &Key,
        value: &[u8],
        expires: u64,
        version: u64,
    ) -> Option<(u64, u32)> {
        let slot = self.slot(i)?;
        let bucket = self.bucket(key.hash)?;
        let free_next = slot.next.load(Ordering::Relaxed);
        self.write_begin(bucket);
        slot.hash.store(key.hash, Ordering::Relaxed);
        for (word, k) in slot.key.iter().zip(key.used_words()) {
            word.store(*k, Ordering::Relaxed);
        }
        slot.set_lens(key.len(), 0);
        slot.set_value(value);
        slot.expires.store(expires, Ordering::Relaxed);
        slot.version.store(version, Ordering::Relaxed);
        // A new item: the next generation, not referenced.
        let generation = (slot.visit.load(Ordering::Relaxed) >> 32).wrapping_add(1);
        slot.visit.store(generation << 32, Ordering::Relaxed);
        slot.next
            .store(bucket.head.load(Ordering::Relaxed), Ordering::Relaxed);
        bucket.head.store(i, Ordering::Relaxed);
        self.write_end(bucket);
        Some((slot.size(), free_next))
    }

    /// Unlinks the item `found` from its chain and links its slot to `free`
    /// as the free list's new head. Its size.
    pub(crate) fn remove(&self, found: &Located<'_>, free: u32) -> u64 {
        let Located {
            slot, prev, bucket, ..
        } = *found;
        let next = slot.next.load(Ordering::Relaxed);
        self.write_begin(bucket);
        match prev {
            None => bucket.head.store(next, Ordering::Relaxed),
            Some(p) => p.next.store(next, Ordering::Relaxed),
        }
        // Inside the section: a reader still in this slot follows it into
        // the free list and then fails validation.
        slot.next.store(free, Ordering::Relaxed);
        self.write_end(bucket);
        slot.size()
    }

    /// Empties every chain; the slots' contents stay until reused.
    pub(crate) fn clear(&self) {
        for bucket in self.buckets.iter() {
            if bucket.head.load(Ordering::Relaxed) != NIL {
                self.write_begin(bucket);
                bucket.head.store(NIL, Ordering::Relaxed);
                self.write_end(bucket);
            }
        }
    }

    /// Calls `f` with the first `limit` items of bucket `b` whose expiry
    /// `keep` accepts; their number, or `limit + 1` if the bucket holds more.
    /// Writer only, so consistent.
    pub(crate) fn for_each_in_bucket(
        &self,
        b: u32,
        limit: u32,
        keep: impl Fn(u64) -> bool,
        mut f: impl FnMut(&[u8], &[u8]),
    ) -> Result<u32, Error> {
        let bucket = self.buckets.get(b as usize).ok_or(Error::BadBucket)?;
        let mut count = 0u32;
        let mut i = bucket.head.load(Ordering::Relaxed);
        while let Some(slot) = self.slot(i) {
            if !keep(slot.expires.load(Ordering::Relaxed)) {
                i = slot.next.load(Ordering::Relaxed);
                continue;
            }
            if count == limit {
                // One more than the limit: the caller learns the bucket is
                // longer without a walk to its end.
                return Ok(count.saturating_add(1));
            }
            slot.with_item(&mut f);
            count = count.saturating_add(1);
            i = slot.next.load(Ordering::Relaxed);
        }
        Ok(count)
    }

    /// Sets slot `i`'s referenced bit (policy, writer only).
    pub(crate) fn set_referenced(&self, i: u32) {
        if let Some(s) = self.slot(i) {
            s.visit.fetch_or(1, Ordering::Relaxed);
        }
    }

    /// Reads and clears slot `i`'s referenced bit and advances its stamp,
    /// so that a hit whose lookup came before this read can no longer mark
    /// it (`mark_hit`). Policy, writer only.
    pub(crate) fn take_referenced(&self, i: u32) -> bool {
        let Some(slot) = self.slot(i) else {
            return false;
        };
        // SeqCst: pairs with `mark_hit`'s compare-exchange (one of the two
        // read-modify-writes of the word comes first) and, like it, orders
        // after `evict_begin`'s SeqCst store.
        let old = slot
            .visit
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |w| {
                // Generation kept; stamp + 1 (wrapping inside bits 1..32); bit 0 clear.
                let low = (w as u32 & !1).wrapping_add(2);
                Some((w & !0xffff_ffff) | u64::from(low))
            });
        // The closure always answers `Some`: `Err` cannot happen.
        let (Ok(w) | Err(w)) = old;
        w & 1 == 1
    }

    #[cfg(test)]
    pub(crate) fn bucket_index_for_test(&self, key: &Key) -> usize {
        self.bucket_index(key.hash)
    }

    #[cfg(test)]
    pub(crate) fn referenced_for_test(&self, i: u32) -> bool {
        self.slot(i)
            .is_some_and(|s| s.visit.load(Ordering::Relaxed) & 1 == 1)
    }

    #[cfg(test)]
    pub(crate) fn slot_key(&self, i: u32) -> std::vec::Vec<u8> {
        self.slot(i)
            .map(|s| s.with_item(|k, _| k.to_vec()))
            .unwrap_or_default()
    }
}
