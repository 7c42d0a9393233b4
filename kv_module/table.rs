// SPDX-License-Identifier: GPL-2.0
//! The hash table of kv.ko: buckets, chains and records in chunks, with a
//! lock-free reader. Eviction policies live elsewhere (`policy/`); this file
//! knows nothing about them beyond one per-slot bit they may use.
//!
//! Plain `no_std` Rust without the kernel crate: the module compiles it in,
//! and the host crate `kv_module` tests it, threads included.
//!
//! # Layout
//!
//! A bucket is a sequence counter and the head of a singly linked chain of
//! slot numbers (`NIL` ends it). Slot `i` is record `i % BLOCK_SLOTS` of
//! block `i / BLOCK_SLOTS`; a block is a chunk of `BLOCK_SLOTS` records of
//! one stride (in words), so the records of one block are all the same size
//! and an item lives in a block whose stride is exactly its record's: a
//! 32-byte header, its key's words, its value's words, and the writer's
//! deadline entry for it if it expires (a flag in the header says so), whose
//! last word is the item's deadline, which readers read too. Items of each
//! size share the blocks of their size class; the writer attaches a chunk
//! to a class when the class runs out of room, and detaches them all only
//! at a clear. The directory maps each block to its chunk's address with the
//! stride in the address's low bits (chunks are page-aligned); a block with
//! no chunk maps to a static sentinel record with stride 0. Links are slot
//! numbers, never addresses, so the records hold no kernel pointers.
//!
//! Key and value live in the record as `AtomicU64` words, so that a reader
//! racing with a writer performs only atomic accesses: in Rust a
//! plain-memory data race is undefined behaviour even if its result is
//! thrown away. On x86 and arm64 a relaxed atomic load or store is an ordinary
//! `mov`/`ldr`, so this costs nothing.
//!
//! # Why a lock-free reader never sees a torn or freed item
//!
//! Writers are serialized by the caller (one lock around the `Writer` in
//! `store.rs`). Readers take no lock and write nothing shared.
//!
//! 1. *No freed memory.* Every slot number a reader follows is resolved
//!    through the directory ([`Table::slot`]): a number past it is the end
//!    of the chain, a detached block is the sentinel, an attached block is a
//!    live chunk and the record lies inside it (place below `BLOCK_SLOTS`,
//!    the stride from the same entry). So a reader can at worst look at a
//!    record that was removed, reused or moved meanwhile. A chunk stops
//!    being reachable only at a clear, which points its block at the
//!    sentinel and frees the chunk only after a grace period of the caller's
//!    (RCU Tasks in the module: every task has switched voluntarily, run in
//!    user mode or idled since the detach): a lock-free read never sleeps and
//!    carries no record across a wait, so every read that may have resolved
//!    a slot into the chunk has ended by then.
//! 2. *Every change is inside a write section.* Each store to a slot that is
//!    in bucket B's chain, or that takes it out of B (unlinking it, reusing it,
//!    linking it into the free list), and each store to B's head, happens
//!    between `write_begin(B)` and `write_end(B)`: `seq` odd during it. A slot
//!    that is being filled for bucket C is changed inside C's section, after
//!    the section of the bucket it was last removed from has ended (the writer
//!    lock orders the two). The deadline word at the end of an expiring
//!    item's record is written with the header, inside the section; the
//!    rest of the deadline entry is the writer's own, and no reader loads
//!    it.
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
//!    moved to another chain, or into the free list); a walk stops after as
//!    many steps as the directory has slot numbers and then retries, because
//!    a consistent chain is never longer than that.
//! 5. *Bounded garbage.* A torn `lens` word is clamped to the record's
//!    words (`Slot::split`, `copy_value`), so a copy made from a torn state
//!    stays inside the record; it is discarded by step 3. A record that a
//!    replace moved to another class ([`Table::move_item`]) is filled and
//!    linked in one write section of its bucket, like an insert.
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
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::abi::{KV_MAX_KEY, KV_MAX_VAL};

/// Largest bucket count the module accepts.
pub const MAX_BUCKETS: u32 = 1 << 20;
/// Largest capacity the module accepts.
pub const MAX_ITEMS: u32 = 1 << 20;
/// The "no slot" link.
pub const NIL: u32 = u32::MAX;

/// Bytes of a word: keys, values and records are counted in 8-byte words.
pub const WORD: usize = 8;

/// [`Header`]'s `lens`: key length in bits 0..7 (at most 64), this bit for
/// an item that expires, whose deadline is then the last word of its
/// record's deadline entry, and value length in bits 8..24.
pub const EXPIRES: u32 = 1 << 7;
/// The key length's bits of `lens`.
pub const KEY_LEN: u32 = EXPIRES - 1;

/// The value length a `lens` word holds, clamped so that one read in a torn
/// state still indexes in bounds.
#[inline(always)]
pub fn value_len(lens: u32) -> usize {
    ((lens >> 8) as usize).min(KV_MAX_VAL)
}

/// A block is `BLOCK_SLOTS` consecutive slot numbers whose records share one
/// chunk and one stride: slot `i` is record `i % BLOCK_SLOTS` of block
/// `i / BLOCK_SLOTS`. 512 records of `w` words take `w` pages exactly.
pub const BLOCK_SHIFT: u32 = 9;
pub const BLOCK_SLOTS: usize = 1 << BLOCK_SHIFT;
/// Alignment of every chunk (a page), which frees the low bits of a
/// directory entry for the stride.
pub const CHUNK_ALIGN: usize = 4096;
/// Largest directory: slot numbers stay far below `NIL`.
pub const MAX_BLOCKS: u32 = 1 << 13;
/// Words of an item's deadline-index entry (`expiry.rs`) at the end of the
/// record of an item that expires.
pub const DEADLINE_WORDS: usize = 3;
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
    /// The item needs a slot of a class without room, and chunks cannot be
    /// allocated under the writer's lock: the caller allocates a chunk of
    /// [`chunk_bytes`](crate::store::chunk_bytes) for this stride without
    /// the lock, hands it over (`Writer::add_chunk`) and tries again.
    /// Nothing has changed.
    NeedChunk(u32),
    /// The policy's links must grow to this many slots first, and cannot
    /// be allocated under the writer's lock: the caller allocates them
    /// without the lock, hands them over (`Writer::add_links`) and tries
    /// again. Nothing has changed.
    NeedLinks(u32),
    /// The deadline index's heap must grow to this many places first (the
    /// operation gives an item a deadline, and the heap has no place free),
    /// and cannot be allocated under the writer's lock: the caller
    /// allocates them without the lock, hands them over
    /// (`Writer::add_heap`) and tries again. Nothing has changed.
    NeedHeap(u32),
    /// Memory could not be allocated. Nothing has changed.
    NoMemory,
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

    /// `bytes` checked as a key (1..=KV_MAX_KEY bytes), packed into
    /// little-endian words and hashed under `seed` ([`key_hash`]); `None`
    /// for a bad length. The one packing of the table's keys and of a
    /// mapped reader's.
    #[inline(always)]
    pub fn pack(bytes: &[u8], seed: [u64; 2]) -> Option<Key> {
        if bytes.is_empty() || bytes.len() > KV_MAX_KEY {
            return None;
        }
        let mut key = Key::new();
        let (whole, last) = key_words(bytes);
        let words = whole.iter().map(|w| u64::from_le_bytes(*w)).chain(last);
        for (w, word) in key.words.iter_mut().zip(words) {
            *w = word;
        }
        key.len = bytes.len() as u32; // 1..=64
        key.hash = key_hash(seed, &key);
        Some(key)
    }

    /// The key's hash under the seed it was packed or sealed with.
    #[inline(always)]
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The key's length in bytes (1..=KV_MAX_KEY).
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The words the key's length covers (the last zero-padded).
    #[inline(always)]
    pub(crate) fn used_words(&self) -> &[u64] {
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

/// The fixed front of every item's record. Everything is atomic because
/// lock-free readers may load any field while the writer changes it (see
/// the file header). `repr(C)` keeps what a lookup reads first (hash, link,
/// lengths) together at the front, followed in the record by the key's
/// words, so that a short item's lookup touches one cache line.
#[repr(C)]
pub struct Header {
    hash: AtomicU64,
    /// Next slot in the bucket chain, or in its class's free list.
    next: AtomicU32,
    /// Key length, value length, and [`EXPIRES`] if the item expires: its
    /// deadline (nanoseconds of the caller's monotonic clock) is then the
    /// last word of the deadline entry at the record's end, which the table
    /// writes inside the write section, as it does the header. An item that
    /// never expires has neither the entry nor a word for it.
    lens: AtomicU32,
    /// The item's version (never 0 on a used slot): the writer gives a
    /// new one whenever the value or the expiry changes.
    version: AtomicU64,
    /// The policy's "referenced" bit (like `ref` in the kernel's
    /// `bpf_lru_node`) in bit 0; in bits 1..32 a stamp that each read of
    /// the bit by the policy advances; in bits 32..64 the item's generation,
    /// a number the writer gives each insert (the low half of its version),
    /// so that it differs from the generation of the slot's earlier items.
    /// A lock-free hit sets the bit only while the whole word is the one its
    /// lookup saw ([`Table::mark_hit`]), so a mark meant for an item never
    /// lands on a later item in its slot, nor after an eviction has read the
    /// bit (which would then count a hit it did not see). The policy reads
    /// and clears the bit under the writer lock. No data depends on it.
    visit: AtomicU64,
}

/// Words of [`Header`].
pub const HEADER_WORDS: usize = core::mem::size_of::<Header>() / WORD;
// A mapping shows records as this layout (`mapped.rs`, `docs/mapping.md`):
// hash, `next` and `lens` in one word (`next` first), version, visit.
const _: () = assert!(HEADER_WORDS == 4);
const _: () = assert!(core::mem::offset_of!(Header, next) == 8);
const _: () = assert!(core::mem::offset_of!(Header, lens) == 12);
const _: () = assert!(core::mem::offset_of!(Header, version) == 16);
/// Bytes of a block's headers, which come first in its chunk; the words of
/// its records follow them, at the block's stride less a header.
const HEADERS_BYTES: usize = BLOCK_SLOTS * HEADER_WORDS * WORD;

/// The block every detached directory entry points to, with the stride of
/// a bare header: `BLOCK_SLOTS` empty records whose `next` is `NIL`, so a
/// reader that follows a stale link into a detached block reads a harmless
/// empty record, and ends its walk. Page-aligned, as the directory's
/// entries need. Never written: no writer method reaches a slot of a
/// detached block, and a lock-free mark lands only on a `visit` word equal
/// to its lookup's with the referenced bit clear, where these have it set.
#[repr(C, align(4096))]
struct Sentinel([Header; BLOCK_SLOTS]);

static SENTINEL: Sentinel = Sentinel(
    [const {
        Header {
            hash: AtomicU64::new(0),
            next: AtomicU32::new(NIL),
            lens: AtomicU32::new(0),
            version: AtomicU64::new(0),
            visit: AtomicU64::new(u64::MAX),
        }
    }; BLOCK_SLOTS],
);

/// A slot's record as the table reads it: the header, and the words after
/// it (the key's words, then the value's, then whatever the writer keeps
/// for the item: its deadline-index entry if it expires).
#[derive(Clone, Copy)]
pub struct Slot<'a> {
    head: &'a Header,
    words: &'a [AtomicU64],
}

impl core::ops::Deref for Slot<'_> {
    type Target = Header;

    fn deref(&self) -> &Header {
        self.head
    }
}

impl<'a> Slot<'a> {
    /// Key and value lengths, clamped so that lengths read in a torn state
    /// still index in bounds.
    #[inline(always)]
    fn lens(&self) -> (usize, usize) {
        let lens = self.lens.load(Ordering::Relaxed);
        let key_len = ((lens & KEY_LEN) as usize).min(KV_MAX_KEY);
        (key_len, value_len(lens))
    }

    /// The deadline of an item whose `lens` word is `lens` (0: never): the
    /// record's last word if `lens` has [`EXPIRES`]. A torn `lens` reads
    /// some word of the record: garbage the caller's validation discards.
    #[inline(always)]
    fn expires(&self, lens: u32) -> u64 {
        if lens & EXPIRES == 0 {
            return 0;
        }
        self.words.last().map_or(0, |w| w.load(Ordering::Relaxed))
    }

    /// The item's deadline (0: never).
    #[inline(always)]
    fn deadline(&self) -> u64 {
        self.expires(self.lens.load(Ordering::Relaxed))
    }

    /// The words of a key of `key_len` bytes, and those after them.
    #[inline(always)]
    fn split(&self, key_len: usize) -> (&'a [AtomicU64], &'a [AtomicU64]) {
        // A torn length can point past the record: then both are cut short.
        self.words
            .split_at_checked(key_len.div_ceil(WORD))
            .unwrap_or((self.words, &[]))
    }

    /// Whether the slot holds `key`: if so, its `lens` word (decoded with
    /// [`value_len`] and [`Slot::expires`]).
    #[inline(always)]
    fn holds(&self, key: &Key) -> Option<u32> {
        if self.hash.load(Ordering::Relaxed) != key.hash {
            return None;
        }
        let lens = self.lens.load(Ordering::Relaxed);
        if (lens & KEY_LEN) as usize != key.len() {
            return None;
        }
        let used = key.used_words();
        // A record shorter than the key (a torn read) holds only a prefix of
        // it: not a match. Both slices have the key's length: one check.
        let stored = self.words.get(..used.len())?;
        let same = stored
            .iter()
            .zip(used)
            .all(|(a, b)| a.load(Ordering::Relaxed) == *b);
        same.then_some(lens)
    }

    #[inline(always)]
    fn key_is(&self, key: &Key) -> bool {
        self.holds(key).is_some()
    }

    /// Copies the words of the value's first `len` bytes, which follow the
    /// words of `key` (the key the slot holds), into the start of `out`:
    /// `len.div_ceil(8)` words, or none if the record is shorter (a torn
    /// read, which the caller discards: in a consistent state a record
    /// always has room for its key and value).
    #[inline(always)]
    fn copy_value(&self, key: &Key, len: usize, out: &mut [MaybeUninit<u64>; VALUE_WORDS]) {
        let from = key.used_words().len();
        // At most VALUE_WORDS: `len` is clamped to KV_MAX_VAL.
        let n = len.div_ceil(WORD).min(VALUE_WORDS);
        // One check for the record's end (a torn read can find it short),
        // then a counted copy the compiler unrolls.
        let (Some(value), Some(out)) = (self.words.get(from..from + n), out.get_mut(..n)) else {
            return;
        };
        for (o, w) in out.iter_mut().zip(value) {
            // Little-endian in memory, as the bytes were packed.
            o.write(w.load(Ordering::Relaxed).to_le());
        }
    }

    /// Calls `f` with the key and value (used under the writer lock only).
    fn with_item<R>(&self, f: impl FnOnce(&[u8], &[u8]) -> R) -> R {
        let (key_len, value_len) = self.lens();
        let (key_words, value_words) = self.split(key_len);
        let mut key = [0u8; KV_MAX_KEY];
        unpack(covering(key_words, key_len), &mut key);
        let mut value = [0u8; KV_MAX_VAL];
        unpack(covering(value_words, value_len), &mut value);
        f(
            key.get(..key_len).unwrap_or(&[]),
            value.get(..value_len).unwrap_or(&[]),
        )
    }

    /// Stores the value (writer only, inside a write section) after the key
    /// of `key_len` bytes. Only the words the value covers are written; the
    /// last one is zero-padded, so no byte of an earlier value is ever
    /// copied out. The record has room for it (the writer picked its class).
    #[inline(always)]
    fn set_value(&self, key_len: usize, value: &[u8]) {
        let from = key_len.div_ceil(WORD);
        let to = from.wrapping_add(value.len().div_ceil(WORD));
        // One check for the record's end, then a counted loop over the whole
        // words (no `chunks_exact`: objtool cannot follow its panic path in
        // a module built -Os) and the zero-padded last one.
        if let Some(dst) = self.words.get(from..to) {
            let whole = value.len() / WORD;
            for (w, k) in dst.iter().zip(0..whole) {
                // SAFETY: `k < whole = value.len() / 8`, so the 8 bytes from
                // `8 * k` lie inside `value` (and `8 * k` does not wrap);
                // `read_unaligned` needs no alignment.
                let word = unsafe {
                    value
                        .as_ptr()
                        .add(k.wrapping_mul(WORD))
                        .cast::<[u8; WORD]>()
                        .read_unaligned()
                };
                w.store(u64::from_le_bytes(word), Ordering::Relaxed);
            }
            let rest = value.get(whole.wrapping_mul(WORD)..).unwrap_or(&[]);
            if !rest.is_empty() {
                let mut last = [0u8; WORD];
                if let Some(head) = last.get_mut(..rest.len()) {
                    head.copy_from_slice(rest);
                }
                if let Some(w) = dst.get(whole) {
                    w.store(u64::from_le_bytes(last), Ordering::Relaxed);
                }
            }
        }
    }

    /// Stores the lengths and the deadline (writer only, inside a write
    /// section): an item that expires has [`EXPIRES`] and its deadline in
    /// the entry at the record's end, which its class has room for.
    #[inline(always)]
    fn set_lens(&self, key_len: usize, value_len: usize, expires: u64) {
        // key_len <= 64 and value_len <= 256, checked by the callers.
        let mut lens = (key_len as u32) | ((value_len as u32) << 8);
        if expires != 0 {
            lens |= EXPIRES;
            if let Some(at) = self.words.last() {
                at.store(expires, Ordering::Relaxed);
            }
        }
        self.lens.store(lens, Ordering::Relaxed);
    }

    /// Zeroes what the record held of its item (writer only, inside the
    /// write section that took it out of its chain): its hash, lengths,
    /// key, value and deadline entry, so that no byte of a removed item
    /// stays in memory a reader may map (`docs/mapping.md`). `next`
    /// (the free list's link) and `visit` (the slot's generation) stay.
    fn scrub(&self) {
        self.hash.store(0, Ordering::Relaxed);
        self.lens.store(0, Ordering::Relaxed);
        self.version.store(0, Ordering::Relaxed);
        for word in self.words {
            word.store(0, Ordering::Relaxed);
        }
    }

    /// Bytes the item accounts for in `bytes_used`.
    #[inline(always)]
    fn size(&self) -> u64 {
        let (k, v) = self.lens();
        (k + v) as u64
    }

    /// The record's last `n` words, where the writer keeps what it tracks
    /// for the item (the deadline entry).
    pub(crate) fn tail(&self, n: usize) -> &'a [AtomicU64] {
        let from = self.words.len().saturating_sub(n);
        self.words.get(from..).unwrap_or(&[])
    }

    /// Words of the record after the header.
    pub(crate) fn capacity(&self) -> usize {
        self.words.len()
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
    fn fill(&mut self, slot: &Slot<'_>, key: &Key, len: usize) {
        slot.copy_value(key, len, &mut self.words);
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

/// One hash bucket. `repr(C)`: mapped into readers as two 32-bit words
/// (`docs/mapping.md`).
#[repr(C)]
pub struct Bucket {
    /// Sequence counter: odd while a writer changes this bucket's chain.
    pub(crate) seq: AtomicU32,
    /// First slot of the chain, or `NIL`.
    pub(crate) head: AtomicU32,
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

/// Where the writer found a key ([`Table::find`]): what the writer's
/// change to it needs, resolved once.
#[derive(Clone, Copy)]
pub struct Located<'a> {
    /// The item's slot.
    pub i: u32,
    /// Its record's stride in words: its size class.
    pub stride: usize,
    /// Its expiry (0: never).
    pub expires: u64,
    slot: Slot<'a>,
    /// The header before it in its chain (`None`: the bucket's head).
    prev_slot: Option<&'a Header>,
    bucket: &'a Bucket,
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
/// - `buckets.len()` in 1..=MAX_BUCKETS, `dir.len()` in 1..=MAX_BLOCKS, so
///   every slot number fits below `NIL`;
/// - every entry of `dir` is the sentinel's (stride 0) or a chunk's, made
///   by [`Table::attach`];
/// - every used slot is on exactly one chain, the one its hash selects;
/// - a used slot has key length 1..=KV_MAX_KEY and value length <= KV_MAX_VAL,
///   and its record has room for both and, if it expires, for its
///   deadline entry ([`DEADLINE_WORDS`]).
pub struct Table<B, D, P> {
    buckets: B,
    /// The block directory: entry `b` is the base of block `b`'s chunk with
    /// the block's record stride in words in its low bits (below
    /// [`CHUNK_ALIGN`], which aligns every chunk), or the sentinel's address
    /// with stride 0.
    dir: D,
    /// What a mapping of the store shows of the directory, one entry per
    /// block: the block's stride in bits 0..32 (0: detached) and in bits
    /// 32..64 a generation that changes at each attach and detach, so that
    /// a reader that mapped a block's chunk can tell it is still the one
    /// (`docs/mapping.md`). No kernel pointer. Then, if there is a word
    /// after the entries, `evictions` as the mapping shows it, in its low
    /// half ([`Table::published_evictions`]).
    public: P,
    seed: [u64; 2],
    /// Sequence count of evictions: odd while one is in progress (header,
    /// point 6).
    evictions: AtomicU32,
}

/// A 64-bit word seen as two 32-bit atomics, the one at the lower address
/// first: how a reader of a mapping loads a record header's `next` and
/// `lens` and the published eviction count, with accesses of the size the
/// writer's are.
pub fn halves(word: &AtomicU64) -> &[AtomicU32; 2] {
    // SAFETY: `AtomicU64` has the size and in-memory representation of a
    // `u64` (8 bytes, no padding) and alignment 8; `[AtomicU32; 2]` has
    // size 8, no padding and alignment 4, so the cast pointer is valid and
    // aligned for it, and covers exactly the bytes of `word`. Both are
    // atomics, which allow shared mutation behind `&` (an `UnsafeCell`
    // each) and which every bit pattern is valid for. The borrow keeps the
    // lifetime of `word`. The writer accesses a record header's word only
    // as the two 32-bit atomics `next` (the lower address) and `lens`
    // (`Header`, `repr(C)`; this file asserts the offsets), and the
    // published eviction count only through this view.
    unsafe { &*core::ptr::from_ref(word).cast::<[AtomicU32; 2]>() }
}

/// The multiply-fold step: the 128-bit product's halves xored.
fn mix(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The hash of a packed key under the table's `seed`: what
/// [`Table::key`] and [`Table::seal`] give every key, and what a reader of
/// a mapping of the store computes with the seed its header shows
/// (`mapped.rs`), so both find the same bucket.
#[inline(always)]
pub fn key_hash(seed: [u64; 2], key: &Key) -> u64 {
    hash_words(seed, key.len, key.used_words(), None, |w| w)
}

/// A key's bytes as the little-endian words the table stores and hashes
/// (the words of `bytes`): the whole words as they lie, and the last,
/// partial one zero-padded, if any.
#[inline(always)]
pub fn key_words(bytes: &[u8]) -> (&[[u8; WORD]], Option<u64>) {
    // SAFETY: `[u8; WORD]` has size `WORD` and alignment 1, so the first
    // `len / WORD` of them lie inside `bytes`, whose borrow they keep.
    let whole = unsafe {
        core::slice::from_raw_parts(bytes.as_ptr().cast::<[u8; WORD]>(), bytes.len() / WORD)
    };
    let last = match (bytes.len() % WORD, bytes.last_chunk::<WORD>()) {
        (0, _) => None,
        // The last 8 bytes, shifted down past those of the word before
        // (`n` in 1..WORD: a shift of 8..56 bits).
        (n, Some(end)) => {
            Some(u64::from_le_bytes(*end).wrapping_shr(8 * WORD.wrapping_sub(n) as u32))
        }
        // A key shorter than a word, byte by byte.
        (_, None) => {
            let mut w = 0u64;
            let mut rest = bytes;
            while let Some((&b, head)) = rest.split_last() {
                w = w << 8 | u64::from(b);
                rest = head;
            }
            Some(w)
        }
    };
    (whole, last)
}

/// [`key_hash`] of a key of `len` bytes whose words are `whole` (each
/// read by `word`) and then `last`, if any.
#[inline(always)]
pub fn hash_words<W: Copy>(
    [s0, s1]: [u64; 2],
    len: u32,
    whole: &[W],
    last: Option<u64>,
    word: impl Fn(W) -> u64,
) -> u64 {
    let mut h = s0 ^ u64::from(len);
    // Pairs of words; an odd last word pairs with zero (the length,
    // hashed above, tells "a" from "a\0").
    let mut rest = whole;
    while let Some(([a, b], tail)) = rest.split_first_chunk::<2>() {
        h = mix(word(*a) ^ s1, word(*b) ^ h);
        rest = tail;
    }
    match (rest, last) {
        ([a], Some(b)) => h = mix(word(*a) ^ s1, b ^ h),
        ([a], None) => h = mix(word(*a) ^ s1, h),
        (_, Some(a)) => h = mix(a ^ s1, h),
        (_, None) => {}
    }
    mix(h ^ s1, s0 ^ 0x9e37_79b9_7f4a_7c15)
}

/// A `visit` word, or a mapping's mark word, `w` as a read of its mark
/// leaves it: `generation` (in bits 32..64, the rest zero), the stamp
/// advanced by one (wrapping inside bits 1..32), the mark (bit 0) clear.
#[inline(always)]
pub(crate) fn after_mark_read(generation: u64, w: u64) -> u64 {
    generation | u64::from((w as u32 & !1).wrapping_add(2))
}

/// The bucket, below `bucket_count` (at most [`MAX_BUCKETS`]), of a key
/// whose hash is `hash`.
#[inline(always)]
pub fn bucket_of(hash: u64, bucket_count: usize) -> usize {
    // (high 32 bits of the hash) * len / 2^32: below len, no division.
    // The product is below 2^32 * MAX_BUCKETS = 2^52: it cannot wrap,
    // and `wrapping_mul` leaves no overflow panic in the code.
    (((hash >> 32).wrapping_mul(bucket_count as u64)) >> 32) as usize
}

/// Slot `i`'s record in the blocks of `dir` ([`Table::slot`]).
#[inline(always)]
fn resolve(dir: &[AtomicPtr<u8>], i: u32) -> Option<Slot<'_>> {
    // Acquire: pairs with `attach`'s Release store, so the chunk's zeroed
    // contents are seen before its address.
    let entry = dir
        .get((i >> BLOCK_SHIFT) as usize)?
        .load(Ordering::Acquire);
    let stride = entry.addr() & (CHUNK_ALIGN - 1);
    let place = i as usize & (BLOCK_SLOTS - 1);
    // Every entry's stride is at least a header's (the sentinel's is
    // one): no wrap.
    let words = stride.wrapping_sub(HEADER_WORDS);
    let head = place.wrapping_mul(HEADER_WORDS * WORD);
    let tail = HEADERS_BYTES.wrapping_add(place.wrapping_mul(words).wrapping_mul(WORD));
    // SAFETY: `entry` is the sentinel block's address with the stride of
    // a header (`detached`), a static of `BLOCK_SLOTS` headers and no
    // words; or a chunk's base with its stride, made by `attach` from a
    // chunk of `BLOCK_SLOTS * stride` words that the table's owner keeps
    // allocated until this entry is detached and a grace period has passed
    // ([`Alloc`](crate::store::Alloc), `loaded_store.rs`): no lock-free
    // read spans a grace period, and the writer reaches only attached
    // blocks. Either way the block holds `BLOCK_SLOTS` headers
    // (`HEADERS_BYTES`), then `BLOCK_SLOTS` runs of `stride -
    // HEADER_WORDS` words. With `place` below BLOCK_SLOTS, header `place`
    // spans `head .. head + HEADER_WORDS * 8` bytes and its words `tail ..
    // tail + words * 8`, both inside the block, at non-null addresses;
    // blocks are page-aligned and both offsets multiples of 8, so headers
    // and words are aligned; a chunk's memory was zeroed before it was
    // attached and is only ever accessed through atomics, which any bytes
    // are valid for.
    unsafe {
        let base = entry.map_addr(|a| a & !(CHUNK_ALIGN - 1));
        Some(Slot {
            head: NonNull::new_unchecked(base.add(head))
                .cast::<Header>()
                .as_ref(),
            words: core::slice::from_raw_parts(base.add(tail).cast::<AtomicU64>(), words),
        })
    }
}

/// The chunk and stride of directory entry `entry`; `None` for the
/// sentinel's (a detached block).
fn attached(entry: *mut u8) -> Option<(NonNull<u8>, usize)> {
    if entry == detached().into_inner() {
        return None;
    }
    let stride = entry.addr() & (CHUNK_ALIGN - 1);
    NonNull::new(entry.map_addr(|a| a & !(CHUNK_ALIGN - 1))).map(|chunk| (chunk, stride))
}

/// A directory entry that points at the sentinel block.
pub fn detached() -> AtomicPtr<u8> {
    let sentinel = core::ptr::from_ref(&SENTINEL).cast::<u8>().cast_mut();
    AtomicPtr::new(sentinel.map_addr(|a| a | HEADER_WORDS))
}

impl<B, D, P> Table<B, D, P>
where
    B: core::ops::Deref<Target = [Bucket]>,
    D: core::ops::Deref<Target = [AtomicPtr<u8>]>,
    P: core::ops::Deref<Target = [AtomicU64]>,
{
    /// A table over fresh storage: every bucket as `new()` made it, every
    /// directory entry [`detached`], every public entry 0, as many as the
    /// directory's. `seed` keys the hash: draw it at random.
    pub fn new(buckets: B, dir: D, public: P, seed: [u64; 2]) -> Self {
        Table {
            buckets,
            dir,
            public,
            seed,
            evictions: AtomicU32::new(0),
        }
    }

    pub fn bucket_count(&self) -> u32 {
        // At most MAX_BUCKETS (checked by the store before building a table).
        self.buckets.len() as u32
    }

    /// Blocks the directory can hold.
    pub fn blocks(&self) -> u32 {
        // At most MAX_BLOCKS (checked by the store).
        self.dir.len() as u32
    }

    /// Checks `bytes` as a key and hashes it.
    #[inline(always)]
    pub fn key(&self, bytes: &[u8]) -> Result<Key, Error> {
        Key::pack(bytes, self.seed).ok_or(Error::BadKeyLen)
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
        key.hash = key_hash(self.seed, key);
        Ok(())
    }

    #[inline(always)]
    fn bucket_index(&self, hash: u64) -> usize {
        bucket_of(hash, self.buckets.len())
    }

    /// The hash's bucket; always `Some` (bucket_index is below the length).
    fn bucket(&self, hash: u64) -> Option<&Bucket> {
        self.buckets.get(self.bucket_index(hash))
    }

    /// Slot `i`'s record: `None` for `NIL` or any number past the
    /// directory, the sentinel for a slot of a detached block.
    #[inline(always)]
    pub(crate) fn slot(&self, i: u32) -> Option<Slot<'_>> {
        resolve(&self.dir, i)
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
                return found.map(|found| Found {
                    // The low and high halves of `seen`.
                    seq: seen as u32,
                    evictions: (seen >> 32) as u32,
                    ..found
                });
            }
        }
    }

    /// One walk of the chain: the slot holding `key`, its value's length,
    /// copied into `out`, its expiry and version, and the slot's `visit`
    /// word; or `None` at the chain's end (`NIL`, or any number the
    /// directory does not resolve) or when it ran out of steps (a cycle seen
    /// mid-change). All of it is read inside the validated section, like the
    /// value.
    #[inline(always)]
    fn walk(&self, bucket: &Bucket, key: &Key, out: &mut ValueOut) -> Option<Found> {
        let mut i = bucket.head.load(Ordering::Relaxed);
        // A consistent chain has at most as many slots as the largest
        // directory spans. The directory in a local: its address and length
        // stay in registers across the walk's Acquire loads.
        let dir: &[AtomicPtr<u8>] = &self.dir;
        let mut steps = (MAX_BLOCKS as usize) << BLOCK_SHIFT;
        loop {
            let slot = resolve(dir, i)?;
            if let Some(lens) = slot.holds(key) {
                let len = value_len(lens);
                out.fill(&slot, key, len);
                let expires = slot.expires(lens);
                let version = slot.version.load(Ordering::Relaxed);
                let visit = slot.visit.load(Ordering::Relaxed);
                // `read` fills in what it validated against.
                return Some(Found {
                    slot: i,
                    len,
                    expires,
                    version,
                    seq: 0,
                    evictions: 0,
                    visit,
                });
            }
            // `NIL` resolves to nothing: the loop's `?` ends the walk.
            i = slot.next.load(Ordering::Relaxed);
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
        let n = self.evictions.load(Ordering::Relaxed).wrapping_add(1);
        // SeqCst: pairs with `mark_hit` (see there) before the policy reads
        // any referenced bit to pick the victim; the published count's
        // store, with a mapped reader's mark (`mapped.rs`) before the
        // policy reads any visited mark.
        self.evictions.store(n, Ordering::SeqCst);
        if let Some(published) = self.published_evictions() {
            published.store(n, Ordering::SeqCst);
        }
        // Release fence: the eviction's stores come after it, as in
        // `write_begin`.
        fence(Ordering::Release);
    }

    pub(crate) fn evict_end(&self) {
        let n = self.evictions.load(Ordering::Relaxed).wrapping_add(1);
        // Release: pairs with the readers' Acquire load, as `write_end`;
        // the published count's, with a mapped reader's.
        self.evictions.store(n, Ordering::Release);
        if let Some(published) = self.published_evictions() {
            published.store(n, Ordering::Release);
        }
    }

    /// The eviction count as a mapping shows it: the low half of the word
    /// after the public block table's entries, if `public` has one. The
    /// writer stores it right after `evictions`, with the same orderings,
    /// so a mapped reader validates it as the table's readers validate
    /// `evictions` (header, point 6). Readers in the kernel use
    /// `evictions`, one load closer.
    pub fn published_evictions(&self) -> Option<&AtomicU32> {
        let word = self.public.get(self.dir.len())?;
        Some(&halves(word)[0])
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

    /// The slot holding `key`, its predecessor in the chain (`NIL` for the
    /// head), its record's stride and its expiry. Writer only: the chain
    /// cannot change under it.
    #[inline(always)]
    pub(crate) fn find(&self, key: &Key) -> Option<Located<'_>> {
        let bucket = self.bucket(key.hash)?;
        let mut prev_slot = None;
        let mut i = bucket.head.load(Ordering::Relaxed);
        #[cfg(test)]
        let mut steps = 0u32;
        while let Some(slot) = self.slot(i) {
            #[cfg(test)]
            {
                steps += 1;
                assert!(steps < 1 << 16, "a cycle in a chain");
            }
            if slot.key_is(key) {
                return Some(Located {
                    i,
                    stride: HEADER_WORDS + slot.capacity(),
                    expires: slot.deadline(),
                    slot,
                    prev_slot,
                    bucket,
                });
            }
            prev_slot = Some(slot.head);
            i = slot.next.load(Ordering::Relaxed);
        }
        None
    }

    /// The predecessor of used slot `i` in its chain (`NIL` for the head), or
    /// `None` if `i` is on no chain. Writer only.
    fn predecessor(&self, i: u32) -> Option<u32> {
        let slot = self.slot(i)?;
        let mut prev = NIL;
        let mut j = self
            .bucket(slot.hash.load(Ordering::Relaxed))?
            .head
            .load(Ordering::Relaxed);
        while j != NIL {
            if j == i {
                return Some(prev);
            }
            prev = j;
            j = self.slot(j)?.next.load(Ordering::Relaxed);
        }
        None
    }

    /// Replaces the value, expiry and version of used slot `i`; the change
    /// in bytes held.
    pub(crate) fn replace(
        &self,
        found: &Located<'_>,
        value: &[u8],
        expires: u64,
        version: u64,
    ) -> (u64, u64) {
        let Located { slot, bucket, .. } = *found;
        let (key_len, value_len) = slot.lens();
        self.write_begin(bucket);
        slot.set_value(key_len, value);
        slot.set_lens(key_len, value.len(), expires);
        slot.version.store(version, Ordering::Relaxed);
        self.write_end(bucket);
        // Both at most KV_MAX_KEY + KV_MAX_VAL.
        ((key_len + value_len) as u64, (key_len + value.len()) as u64)
    }

    /// Sets the expiry and version of used slot `i`, keeping its value.
    /// The item expires after exactly if it did before (its record has a
    /// deadline entry or has none).
    pub(crate) fn set_expiry(&self, i: u32, expires: u64, version: u64) -> Option<()> {
        let slot = self.slot(i)?;
        let bucket = self.bucket(slot.hash.load(Ordering::Relaxed))?;
        let (key_len, value_len) = slot.lens();
        self.write_begin(bucket);
        slot.set_lens(key_len, value_len, expires);
        slot.version.store(version, Ordering::Relaxed);
        self.write_end(bucket);
        Some(())
    }

    /// Used slot `i`'s expiry and version (writer only, so consistent).
    pub(crate) fn expiry_and_version(&self, i: u32) -> Option<(u64, u64)> {
        let slot = self.slot(i)?;
        Some((slot.deadline(), slot.version.load(Ordering::Relaxed)))
    }

    /// Calls `f` with used slot `i`'s value (writer only, so consistent).
    pub(crate) fn with_value<R>(&self, i: u32, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        Some(self.slot(i)?.with_item(|_, value| f(value)))
    }

    /// Fills unused slot `i` with the item and links it at the head of its
    /// chain; `free_next` receives the slot's old `next` (its free-list
    /// successor). `mark`, slot `i`'s mark word in a mapping (SIEVE), takes
    /// the item's generation, unmarked, in the same write section
    /// ([`Table::mark_new_item`]). The item's size.
    pub(crate) fn insert(
        &self,
        i: u32,
        key: &Key,
        value: &[u8],
        expires: u64,
        version: u64,
        mark: Option<&AtomicU64>,
    ) -> Option<(u64, u32)> {
        let slot = self.slot(i)?;
        let bucket = self.bucket(key.hash)?;
        let free_next = slot.next.load(Ordering::Relaxed);
        self.write_begin(bucket);
        self.fill(slot, key, value, expires, version);
        Self::mark_new_item(slot, mark);
        slot.next
            .store(bucket.head.load(Ordering::Relaxed), Ordering::Relaxed);
        bucket.head.store(i, Ordering::Relaxed);
        self.write_end(bucket);
        Some((slot.size(), free_next))
    }

    /// Writes a new item into `slot` (inside a write section): key, value,
    /// expiry, version, a generation from the version (so unlike the slot's
    /// earlier items', not referenced), and the words after the value set
    /// to `NIL` links (the writer's entry and links start empty). Inline:
    /// out of line, an insert paid 19 instructions for the call.
    #[inline(always)]
    fn fill(&self, slot: Slot<'_>, key: &Key, value: &[u8], expires: u64, version: u64) {
        slot.hash.store(key.hash, Ordering::Relaxed);
        let (key_words, rest) = slot.split(key.len());
        for (word, k) in key_words.iter().zip(key.used_words()) {
            word.store(*k, Ordering::Relaxed);
        }
        for word in rest.iter().skip(value.len().div_ceil(WORD)) {
            word.store(u64::MAX, Ordering::Relaxed);
        }
        slot.set_value(key.len(), value);
        slot.set_lens(key.len(), value.len(), expires);
        slot.version.store(version, Ordering::Relaxed);
        slot.visit
            .store(u64::from(version as u32) << 32, Ordering::Relaxed);
    }

    /// Sets `mark`, the mark word a mapping shows for SIEVE's readers
    /// (`mapped.rs`), to slot `slot`'s generation as its `visit` word holds
    /// it, with stamp 0 and no mark: the word a mapped hit on the slot's
    /// item compares against. Inside the write section that makes the item
    /// visible, so a reader whose walk validates sees this word (or one an
    /// eviction or a mark made of it later), never an earlier item's, as
    /// it sees the item's other words (header, point 3).
    #[inline(always)]
    fn mark_new_item(slot: Slot<'_>, mark: Option<&AtomicU64>) {
        if let Some(mark) = mark {
            let generation = slot.visit.load(Ordering::Relaxed) & !u64::from(u32::MAX);
            mark.store(generation, Ordering::Relaxed);
        }
    }

    /// Puts the item of used slot `i` (whose chain predecessor is `prev`)
    /// into unused slot `j` with `value`, expiry and version: one change of
    /// the bucket, so a reader sees the item before or after, never
    /// without it. Slot `i` goes to `free` as its free list's new head.
    /// `mark`, slot `j`'s mark word in a mapping (SIEVE), takes the item's
    /// generation, unmarked, as for an insert. The sizes of the old item
    /// and the new.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn move_item(
        &self,
        found: &Located<'_>,
        j: u32,
        free: u32,
        key: &Key,
        value: &[u8],
        expires: u64,
        version: u64,
        mark: Option<&AtomicU64>,
    ) -> Option<(u64, u64, u32)> {
        let Located {
            slot: old,
            prev_slot,
            bucket,
            ..
        } = *found;
        let new = self.slot(j)?;
        let free_next = new.next.load(Ordering::Relaxed);
        let next = old.next.load(Ordering::Relaxed);
        self.write_begin(bucket);
        self.fill(new, key, value, expires, version);
        // The same item: it keeps its generation (`Store::relink` follows
        // an item by its key and generation, whatever its slot).
        new.visit.store(
            old.visit.load(Ordering::Relaxed) & !(u64::from(u32::MAX)),
            Ordering::Relaxed,
        );
        Self::mark_new_item(new, mark);
        new.next.store(next, Ordering::Relaxed);
        match prev_slot {
            None => bucket.head.store(j, Ordering::Relaxed),
            Some(p) => p.next.store(j, Ordering::Relaxed),
        }
        // The old slot joins the free list `free` heads; when that is the
        // list `j` leaves (a move within one class), after `j`'s successor.
        let free = if free == j { free_next } else { free };
        old.next.store(free, Ordering::Relaxed);
        let old_size = old.size();
        old.scrub();
        self.write_end(bucket);
        Some((old_size, new.size(), free_next))
    }

    /// Makes `chunk` (zeroed, `CHUNK_ALIGN`-aligned, `BLOCK_SLOTS * stride`
    /// words, alive until detached and a grace period has passed) block
    /// `b`, of records of `stride` words (below `CHUNK_ALIGN`). Writer only;
    /// `b` is detached.
    pub(crate) fn attach(&self, b: u32, chunk: NonNull<u8>, stride: usize) -> Option<()> {
        let entry = self.dir.get(b as usize)?;
        // Release: pairs with `slot`'s Acquire load, so a reader that finds
        // the chunk sees it zeroed.
        entry.store(chunk.as_ptr().map_addr(|a| a | stride), Ordering::Release);
        self.publish(b, stride);
        Some(())
    }

    /// Points every block back at the sentinel, and calls `f` with each
    /// chunk that was attached and its stride. Writer only, after
    /// [`Table::clear`]: no chain reaches a slot any more. A lock-free
    /// reader may still be inside a chunk; the caller frees them after a
    /// grace period.
    pub(crate) fn detach_all(&self, mut f: impl FnMut(NonNull<u8>, usize)) {
        let sentinel = detached().into_inner();
        for (b, entry) in (0u32..).zip(self.dir.iter()) {
            if let Some((chunk, stride)) = attached(entry.swap(sentinel, Ordering::Relaxed)) {
                self.publish(b, 0);
                f(chunk, stride);
            }
        }
    }

    /// Block `b`'s public entry: `stride` (0: detached) and the next
    /// generation. Writer only. A mapped reader reads it inside its
    /// validated section: a chain reaches a block only through a write
    /// section that follows the attach, so a reader that saw the link and
    /// validated saw this store too (`docs/mapping.md`).
    fn publish(&self, b: u32, stride: usize) {
        if let Some(entry) = self.public.get(b as usize) {
            let generation = (entry.load(Ordering::Relaxed) >> 32).wrapping_add(1);
            // Release: a reader that sees the entry sees the chunk's zeroed
            // contents too (as `attach`'s directory store).
            entry.store(generation << 32 | stride as u64, Ordering::Release);
        }
    }

    /// The public block table's storage ([`Table::publish`]), for the
    /// mapping.
    pub fn public_storage(&self) -> &P {
        &self.public
    }

    /// The buckets' storage, for the mapping.
    pub fn bucket_storage(&self) -> &B {
        &self.buckets
    }

    /// Block `b`'s chunk and its stride in words, if attached. For the
    /// mapping: the caller keeps the chunk from being freed while it uses
    /// the address (no clear may run meanwhile).
    pub fn block_chunk(&self, b: u32) -> Option<(NonNull<u8>, usize)> {
        attached(self.dir.get(b as usize)?.load(Ordering::Acquire))
    }

    /// The record stride, in words, of an item of these sizes: its header,
    /// key and value, and its deadline entry if it expires.
    #[inline(always)]
    pub(crate) fn stride(&self, key_len: usize, value_len: usize, expires: u64) -> usize {
        let entry = if expires == 0 { 0 } else { DEADLINE_WORDS };
        HEADER_WORDS + key_len.div_ceil(WORD) + value_len.div_ceil(WORD) + entry
    }

    /// Bytes of a block's chunk of records of `stride` words.
    pub fn chunk_bytes(&self, stride: usize) -> usize {
        // stride is at most MAX_STRIDE: no overflow.
        BLOCK_SLOTS * WORD * stride
    }

    /// Used slot `i`'s deadline entry words, if its item expires. Writer
    /// only.
    pub(crate) fn entry_words(&self, i: u32) -> Option<&[AtomicU64]> {
        let slot = self.slot(i)?;
        if slot.lens.load(Ordering::Relaxed) & EXPIRES == 0 {
            return None;
        }
        slot.tail(DEADLINE_WORDS).get(..DEADLINE_WORDS)
    }

    /// Unlinks used slot `i` (whose predecessor is `prev`, `NIL` for the
    /// head) and links it to `free` as the free list's new head. Its size.
    pub(crate) fn remove(&self, found: &Located<'_>, free: u32) -> u64 {
        let Located {
            slot,
            prev_slot,
            bucket,
            ..
        } = *found;
        let next = slot.next.load(Ordering::Relaxed);
        self.write_begin(bucket);
        match prev_slot {
            None => bucket.head.store(next, Ordering::Relaxed),
            Some(p) => p.next.store(next, Ordering::Relaxed),
        }
        // Inside the section: a reader still in this slot follows it into
        // the free list and then fails validation.
        slot.next.store(free, Ordering::Relaxed);
        let size = slot.size();
        slot.scrub();
        self.write_end(bucket);
        size
    }

    /// Where used slot `i` is chained (eviction: the policy names the
    /// slot, not the key). One walk of its chain.
    pub(crate) fn locate(&self, i: u32) -> Option<Located<'_>> {
        let slot = self.slot(i)?;
        let bucket = self.bucket(slot.hash.load(Ordering::Relaxed))?;
        let prev = self.predecessor(i)?;
        Some(Located {
            i,
            stride: HEADER_WORDS + slot.capacity(),
            expires: slot.deadline(),
            slot,
            prev_slot: self.slot(prev).map(|p| p.head),
            bucket,
        })
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
            if !keep(slot.deadline()) {
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
                // Generation kept.
                Some(after_mark_read(w & !0xffff_ffff, w))
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
