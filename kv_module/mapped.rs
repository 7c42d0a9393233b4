// SPDX-License-Identifier: GPL-2.0
//! A get through a read-only mapping of the store (`docs/mapping.md`):
//! the lock-free reader of `table.rs` ([`Table::read`]) done from memory
//! that userspace mapped, without a system call. Plain `no_std` Rust, for
//! `kvlib` and the host tests; the module itself does not compile it.
//!
//! The algorithm is the table's, step for step (its file header has the
//! argument): load the bucket's `seq` and the eviction count (Acquire;
//! odd: a write is in progress, try again), walk the chain with Relaxed
//! loads only, copy what it found, then an Acquire fence and both counts
//! again: equal, the copy is a state of the store between two changes;
//! else try again. Under SIEVE a hit then marks its item (`finish`), as
//! the table's `mark_hit` sets its referenced bit (below). What
//! differs is how a slot number becomes a record. The table resolves it
//! through its directory of kernel addresses; a mapping shows instead the
//! public block table (each block's stride and a generation that changes
//! at every attach and detach) and lets the reader map each block's chunk
//! on its own. So the walk asks its [`View`] for block `b`'s words *as of
//! the generation the public entry shows now*; a view that has no such
//! mapping answers `None` and the get ends with [`Outcome::NeedBlock`]:
//! the caller maps the block and asks again.
//!
//! Why what a view hands out is always safe to read: a view's words stay
//! mapped for as long as the view lends them (the caller's business: see
//! `kvlib`'s `map.rs`, which keeps every mapping until it is dropped), so
//! a stale link can at worst read a chunk's old contents or zeroes, which
//! the `seq` validation then discards, as a stale link into a detached
//! block reads the sentinel in the table. A block's geometry is checked
//! once, when its [`Chunk`] is made, and every other index with `get`, so
//! a torn or hostile word never reads outside the view's slices; a walk takes at most as many steps as the blocks have slots,
//! then counts as a failed attempt; and a get makes at most [`ATTEMPTS`]
//! attempts, then gives up ([`Outcome::GiveUp`]): the caller asks the
//! kernel instead, which waits for its writer where this reader cannot.
//!
//!
//! # SIEVE: a hit's mark
//!
//! The mapping cannot show the slot's `visit` word writable (it lives in
//! the read-only record), so the store keeps a mark word per slot for
//! mapped readers ([`View::marks`]): the generation of the slot's item
//! (bits 32..64, as in `visit`), a stamp that each read of the mark by an
//! eviction advances (bits 1..32) and the mark (bit 0). The insert that
//! gives the slot an item writes its generation, unmarked, inside the
//! bucket's write section; the eviction's read (`Store::take_mark`, a
//! SeqCst read-modify-write under the writer lock, after `evict_begin`'s
//! SeqCst store of the published eviction count) rewrites it with the
//! slot's own generation as the kernel knows it, the stamp advanced, no
//! mark, and counts the mark only under that generation. A hit mirrors
//! `Table::mark_hit` exactly:
//!
//! - the walk loads the slot's mark word `w` (Relaxed) with the rest of
//!   the record, so the attempt's validation covers it: it is the found
//!   item's word as its insert, a finished eviction or a reader's mark
//!   left it (an eviction's rewrite during the attempt moves the count);
//! - `finish`: if `w`'s mark is clear and the word is still `w`, a SeqCst
//!   compare-exchange from `w` to `w | 1`; then a SeqCst load of the
//!   published eviction count.
//!
//! Every outcome is a get of an exact SIEVE order:
//!
//! - the compare-exchange succeeded: the word was still `w`, so the slot
//!   held the same item (its generation) and no eviction had read its mark
//!   since the walk (its stamp). Every later read of the mark comes after
//!   the mark in the word's modification order and sees it; the get takes
//!   effect at its walk, before any eviction that decides on the item: the
//!   hit stands, raced or not (as `Writer::relink` delivers a marked hit);
//! - no mark of this get landed, count unchanged: the load comes before
//!   the next eviction's SeqCst store of the count in the total order of
//!   SeqCst operations, so no eviction began since the walk and none
//!   decided on the item without this hit; a mark `w` already had is
//!   still there for the next (only an eviction's read, which moves the
//!   count, or the item's removal, move or replace, which is itself its
//!   use or ends it, clears it): the hit stands;
//! - no mark landed, count moved: an eviction may have read the item's
//!   mark, unmarked, before a hit it could not see, and evicted it. The get
//!   gives up ([`Outcome::GiveUp`]): this reader wrote nothing, so the
//!   ioctl's get, which does it again, is the only one the store sees.
//!
//! The SeqCst compare-exchange and load pair with the kernel's SeqCst
//! store of the count and SeqCst read of the word: either the eviction's
//! read sees the mark, or it comes first, the compare-exchange fails (the
//! stamp moved) and the load sees the count move. A process that writes
//! the marks' mapping can mark or unmark an item, as a get or an eviction
//! may, and nothing else: the kernel counts a mark only under the slot's
//! own generation, and rewrites the rest.
//!
//! [`Table::read`]: crate::table::Table::read

use core::hint::spin_loop;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use crate::abi::KV_MAX_KEY;
use crate::abi::{KvMapHeader, KV_MAP_BLOCK_PAGES};
use crate::table::{
    bucket_of, halves, hash_words, is_expired, key_words, value_len, Bucket, BLOCK_SHIFT,
    BLOCK_SLOTS, EXPIRES, HEADER_WORDS, KEY_LEN, NIL, WORD,
};

/// Attempts of one get before it gives up: each either found `seq` odd
/// (after a short spin) or failed its validation.
pub const ATTEMPTS: u32 = 8;

/// What a mapping of the store shows a reader. Implementations promise:
/// `public()` holds `header().blocks` entries and `buckets()`
/// `header().bucket_count` (at least one) buckets, all of them the mapped
/// store's own, for as long as the view is borrowed.
pub trait View {
    /// The mapping's header page (read once: the kernel writes it at load).
    fn header(&self) -> &KvMapHeader;
    /// The public block table: per block, stride in words (bits 0..32, 0:
    /// no records) and generation (bits 32..64).
    fn public(&self) -> &[AtomicU64];
    /// The buckets.
    fn buckets(&self) -> &[Bucket];
    /// The eviction count (`header().evictions`).
    fn evictions(&self) -> &AtomicU32;
    /// SIEVE's mark words, one per slot (slot `i`: word `i`), writable, if
    /// the store has them and the view mapped them (`header().marks_pgoff`);
    /// `None` for a store without SIEVE. Word `i` mirrors slot `i`'s
    /// `visit` word for mapped readers: the generation of the slot's item
    /// in bits 32..64, a stamp that each read of the mark by an eviction
    /// advances in bits 1..32, the mark in bit 0.
    fn marks(&self) -> Option<&[AtomicU64]>;
    /// Block `b`'s chunk, if the view holds a mapping of it made while its
    /// public entry was `entry` (generation and stride); `None`: the caller
    /// must (re)map it.
    fn block(&self, b: u32, entry: u64) -> Option<Chunk<'_>>;
}

/// Whether a block's records may be `stride` words long: a header and at
/// least a word, and no more pages than a block's offsets span (512
/// records of `stride` words take `stride` pages).
#[inline]
pub fn stride_fits(stride: usize) -> bool {
    stride > HEADER_WORDS && stride as u64 <= KV_MAP_BLOCK_PAGES
}

/// A block's chunk as words, its geometry checked once, when it is made:
/// [`BLOCK_SLOTS`] headers of [`HEADER_WORDS`], then [`BLOCK_SLOTS`]
/// records of `stride - HEADER_WORDS` words, `stride * BLOCK_SLOTS` words
/// in all. So every record of it lies inside it, and a walk locates one
/// with no further check.
#[derive(Clone, Copy)]
pub struct Chunk<'a> {
    words: &'a [AtomicU64],
    /// Words per record, header included; above `HEADER_WORDS`.
    stride: usize,
}

impl<'a> Chunk<'a> {
    /// `words` as the chunk of a block of records of `stride` words: `None`
    /// unless [`stride_fits`] and `words` holds exactly `stride *
    /// BLOCK_SLOTS`.
    #[inline]
    pub fn new(words: &'a [AtomicU64], stride: usize) -> Option<Chunk<'a>> {
        (stride_fits(stride) && words.len() == stride * BLOCK_SLOTS)
            .then_some(Chunk { words, stride })
    }

    /// [`Chunk::new`] without its check, for a view that checked the
    /// geometry when it mapped the block.
    ///
    /// # Safety
    ///
    /// `Chunk::new(words, stride)` would answer `Some`.
    #[inline(always)]
    pub unsafe fn new_unchecked(words: &'a [AtomicU64], stride: usize) -> Chunk<'a> {
        Chunk { words, stride }
    }

    /// Record `place` of the block; `place` is taken modulo
    /// [`BLOCK_SLOTS`].
    #[inline(always)]
    fn record(self, place: u32) -> Record<'a> {
        let place = place as usize & (BLOCK_SLOTS - 1);
        let words = self.stride - HEADER_WORDS;
        let base = self.words.as_ptr();
        // SAFETY: `new` made `words.len() == stride * BLOCK_SLOTS` with
        // `HEADER_WORDS < stride <= KV_MAP_BLOCK_PAGES` (so no product here
        // wraps). `place < BLOCK_SLOTS`, so the header's words `place *
        // HEADER_WORDS ..` `+ HEADER_WORDS` end at most at `BLOCK_SLOTS *
        // HEADER_WORDS`, and the record's `BLOCK_SLOTS * HEADER_WORDS +
        // place * words ..` `+ words` at most at `BLOCK_SLOTS *
        // (HEADER_WORDS + words) = BLOCK_SLOTS * stride`: both inside
        // `self.words`, whose borrow they keep.
        unsafe {
            let header = base.add(place * HEADER_WORDS);
            Record {
                hash: &*header,
                link: halves(&*header.add(1)),
                version: &*header.add(2),
                words: core::slice::from_raw_parts(
                    base.add(BLOCK_SLOTS * HEADER_WORDS + place * words),
                    words,
                ),
            }
        }
    }
}

/// How a get through a [`View`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The key's value is `len` bytes; its first `min(len, out.len())`
    /// bytes are in `out`. `version` is the item's.
    Hit { len: usize, version: u64 },
    /// The key is not in the store, or its item has expired.
    Miss,
    /// The chain leads into block `b`, which the view has not mapped (as
    /// of the generation the block table shows): map it and try again.
    NeedBlock(u32),
    /// No consistent read in [`ATTEMPTS`] attempts: ask the kernel.
    GiveUp,
    /// The key is empty or longer than `KV_MAX_KEY`.
    BadKey,
}

/// What one walk of a chain saw (not yet validated).
enum Walk {
    /// The key's item: value length (copied into `out`), deadline (0:
    /// never), version, slot, and the slot's mark word as the walk saw it
    /// (0 without marks).
    Found {
        len: usize,
        expires: u64,
        version: u64,
        slot: u32,
        mark: u64,
    },
    /// The end of the chain without the key.
    End,
    /// A slot of block `b`, which the view has not mapped.
    Block(u32),
    /// Out of steps: a chain seen mid-change.
    Cycle,
}

/// One record of a block: its header's words, and the words after them.
struct Record<'a> {
    hash: &'a AtomicU64,
    /// `next` and `lens`: `Header`'s two 32-bit fields, as the writer
    /// stores them.
    link: &'a [AtomicU32; 2],
    version: &'a AtomicU64,
    words: &'a [AtomicU64],
}

/// Looks `key` up through `view` and copies its value into `out` (as
/// much of it as fits): exactly the kernel's lock-free get (the file
/// header). `now` reads the store's clock (nanoseconds of
/// `CLOCK_BOOTTIME`, as the kernel reads it), only for an item that
/// expires; an expired item is a miss, and a clock that cannot be read
/// (`None`) gives up. Counts nothing: the kernel's hits
/// and misses never see a get made here.
///
/// On any outcome but [`Outcome::Hit`], and beyond the value's length on
/// a hit, `out` may hold bytes of discarded attempts.
#[inline]
pub fn get<V: View + ?Sized>(
    view: &V,
    bytes: &[u8],
    now: impl FnOnce() -> Option<u64>,
    out: &mut [u8],
) -> Outcome {
    let Some(key) = Probe::new(bytes, view.header().seed) else {
        return Outcome::BadKey;
    };
    let buckets = view.buckets();
    let Some(bucket) = buckets.get(bucket_of(key.hash(), buckets.len())) else {
        return Outcome::GiveUp;
    };
    let public = view.public();
    // The first attempt here, the others (rare: a write ran meanwhile) in
    // `retry`, out of the way.
    if let Some((walk, evictions)) = attempt(view, public, bucket, &key, out) {
        return finish(view, walk, evictions, now);
    }
    retry(view, public, bucket, bytes, now, out)
}

/// The attempts of [`get`] after its first: at most [`ATTEMPTS`] in all.
/// Takes the key's bytes again rather than the first attempt's probe, so
/// that the hot path keeps the probe in registers.
#[cold]
#[inline(never)]
fn retry<V: View + ?Sized>(
    view: &V,
    public: &[AtomicU64],
    bucket: &Bucket,
    bytes: &[u8],
    now: impl FnOnce() -> Option<u64>,
    out: &mut [u8],
) -> Outcome {
    let Some(key) = Probe::new(bytes, view.header().seed) else {
        return Outcome::BadKey;
    };
    for attempt_no in 1..ATTEMPTS {
        // A write in progress, probably: back off a little longer each
        // time.
        for _ in 0..1u32 << attempt_no {
            spin_loop();
        }
        if let Some((walk, evictions)) = attempt(view, public, bucket, &key, out) {
            return finish(view, walk, evictions, now);
        }
    }
    Outcome::GiveUp
}

/// One attempt of [`get`]: a walk between two equal, even loads of the
/// bucket's `seq` and of the eviction count (as the table's reader: a read
/// that overlapped part of an eviction retries); the walk and the count,
/// or `None` if the attempt failed (a write ran meanwhile, or the walk went
/// round in circles).
#[inline(always)]
fn attempt<V: View + ?Sized>(
    view: &V,
    public: &[AtomicU64],
    bucket: &Bucket,
    key: &Probe<'_>,
    out: &mut [u8],
) -> Option<(Walk, u32)> {
    // Acquire: pairs with `write_end`'s Release store, so an even count
    // comes with that section's stores; and with `evict_end`'s.
    let seq = bucket.seq.load(Ordering::Acquire);
    let evictions = view.evictions().load(Ordering::Acquire);
    if (seq | evictions) & 1 == 1 {
        return None;
    }
    let walk = walk(view, public, bucket, key, out);
    // Acquire fence: pairs with `write_begin`'s and `evict_begin`'s
    // Release fences, so the loads below see the count of any section
    // whose stores the walk saw, and of the eviction it belongs to.
    fence(Ordering::Acquire);
    if bucket.seq.load(Ordering::Relaxed) != seq
        || view.evictions().load(Ordering::Relaxed) != evictions
    {
        return None;
    }
    // A consistent chain is never this long: a cycle seen in a state that
    // validation could not tell from a real one would be the writer's
    // bug, or the view's memory is not the store's.
    (!matches!(walk, Walk::Cycle)).then_some((walk, evictions))
}

/// Slot `i`'s mark word (Relaxed, inside the attempt: validated with the
/// rest of the walk, as the table's walk loads the slot's `visit` word); 0
/// without marks.
#[inline(always)]
fn seen_mark<V: View + ?Sized>(view: &V, i: u32) -> u64 {
    view.marks()
        .and_then(|marks| marks.get(i as usize))
        .map_or(0, |word| word.load(Ordering::Relaxed))
}

/// What a validated attempt answers. A hit under SIEVE first marks its
/// item, as the table's `mark_hit` does in the kernel: a compare-exchange
/// of the slot's mark word from the word the walk saw, unmarked, to the
/// same word marked, then a load of the published eviction count. The hit
/// stands if no eviction began since the walk, or if the mark landed;
/// otherwise it gives up ([`Outcome::GiveUp`]), and the kernel's ioctl
/// does the get again (this reader wrote nothing, so the redo is the only
/// get the store sees). The file header has why.
#[inline(always)]
fn finish<V: View + ?Sized>(
    view: &V,
    walk: Walk,
    evictions: u32,
    now: impl FnOnce() -> Option<u64>,
) -> Outcome {
    let (slot, seen) = match walk {
        Walk::Found { slot, mark, .. } => (slot, mark),
        _ => (NIL, 0),
    };
    let outcome = walk.answer(now);
    if let (Outcome::Hit { .. }, Some(marks)) = (outcome, view.marks()) {
        let mut marked = false;
        if let Some(word) = marks.get(slot as usize) {
            // Written only if not marked yet and still the word the walk
            // saw: a hot item's line is written once per pass of the hand.
            if seen & 1 == 0 && word.load(Ordering::Relaxed) == seen {
                // SeqCst: in one total order with the SeqCst load below,
                // with `evict_begin`'s SeqCst store of the published count
                // and with the eviction's SeqCst read-and-clear of the word
                // (`Store::take_mark`): the eviction's read sees this mark,
                // or comes first and makes it fail (the stamp moved), and
                // then the load below sees the count move.
                marked = word
                    .compare_exchange(seen, seen | 1, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok();
            }
        }
        if !marked && view.evictions().load(Ordering::SeqCst) != evictions {
            return Outcome::GiveUp;
        }
    }
    outcome
}

/// [`finish`] of a walk that found a 1-byte value in `slot` and saw its
/// mark word as `mark`, validated with eviction count `evictions`.
#[cfg(test)]
pub(crate) fn finish_hit_for_test<V: View + ?Sized>(
    view: &V,
    slot: u32,
    mark: u64,
    evictions: u32,
) -> Outcome {
    let walk = Walk::Found {
        len: 1,
        expires: 0,
        version: 1,
        slot,
        mark,
    };
    finish(view, walk, evictions, || Some(1))
}

/// The mark word a walk of `view` sees for slot `i` now (tests).
#[cfg(test)]
pub(crate) fn seen_mark_for_test<V: View + ?Sized>(view: &V, i: u32) -> u64 {
    seen_mark(view, i)
}

impl Walk {
    /// What a validated walk answers; `now` as for [`get`].
    #[inline(always)]
    fn answer(self, now: impl FnOnce() -> Option<u64>) -> Outcome {
        match self {
            Walk::Found {
                len,
                expires: 0,
                version,
                ..
            } => Outcome::Hit { len, version },
            Walk::Found {
                len,
                expires,
                version,
                ..
            } => match now() {
                Some(now) if is_expired(expires, now) => Outcome::Miss,
                Some(_) => Outcome::Hit { len, version },
                None => Outcome::GiveUp,
            },
            Walk::End => Outcome::Miss,
            Walk::Block(b) => Outcome::NeedBlock(b),
            Walk::Cycle => Outcome::GiveUp,
        }
    }
}

/// One walk of `bucket`'s chain for `key`, copying a found value into
/// `out`. Relaxed loads only (but the block table's entry, Acquire: see
/// there); what it answers is the caller's to validate.
#[inline(always)]
fn walk<V: View + ?Sized>(
    view: &V,
    public: &[AtomicU64],
    bucket: &Bucket,
    key: &Probe<'_>,
    out: &mut [u8],
) -> Walk {
    let mut i = bucket.head.load(Ordering::Relaxed);
    // A consistent chain holds at most every slot of every block once.
    let mut steps = public.len().saturating_mul(BLOCK_SLOTS);
    loop {
        if i == NIL {
            return Walk::End;
        }
        let b = i >> BLOCK_SHIFT;
        // A number past the blocks ends the chain, as in the table.
        let Some(entry) = public.get(b as usize) else {
            return Walk::End;
        };
        // Acquire: pairs with `publish`'s Release store (the kernel's), as
        // the table's directory load does with `attach`'s.
        let entry = entry.load(Ordering::Acquire);
        if entry as u32 == 0 {
            // A detached block: the sentinel's empty records end a walk.
            return Walk::End;
        }
        let Some(chunk) = view.block(b, entry) else {
            return Walk::Block(b);
        };
        let rec = chunk.record(i);
        let [next, lens] = rec.link;
        if rec.hash.load(Ordering::Relaxed) == key.hash() {
            let lens = lens.load(Ordering::Relaxed);
            if lens & KEY_LEN == key.len && key.matches(rec.words) {
                let len = value_len(lens);
                copy_value(rec.words, key.words(), len, out);
                let expires = if lens & EXPIRES == 0 {
                    0
                } else {
                    rec.words.last().map_or(0, |w| w.load(Ordering::Relaxed))
                };
                return Walk::Found {
                    len,
                    expires,
                    version: rec.version.load(Ordering::Relaxed),
                    slot: i,
                    mark: seen_mark(view, i),
                };
            }
        }
        i = next.load(Ordering::Relaxed);
        steps = match steps.checked_sub(1) {
            Some(s) => s,
            None => return Walk::Cycle,
        };
    }
}

/// A key as a reader looks it up: its bytes read in place as the words
/// the table stores ([`key_words`]), and its hash.
struct Probe<'a> {
    whole: &'a [[u8; WORD]],
    last: Option<u64>,
    /// In bytes, 1..=KV_MAX_KEY.
    len: u32,
    hash: u64,
}

impl<'a> Probe<'a> {
    /// `bytes` as a key hashed under `seed`; `None` for a bad length.
    #[inline(always)]
    fn new(bytes: &'a [u8], seed: [u64; 2]) -> Option<Probe<'a>> {
        if bytes.is_empty() || bytes.len() > KV_MAX_KEY {
            return None;
        }
        let (whole, last) = key_words(bytes);
        let len = bytes.len() as u32; // 1..=64
        Some(Probe {
            whole,
            last,
            len,
            hash: hash_words(seed, len, whole, last, u64::from_le_bytes),
        })
    }

    #[inline(always)]
    fn hash(&self) -> u64 {
        self.hash
    }

    /// Words the key takes in a record.
    #[inline(always)]
    fn words(&self) -> usize {
        self.whole.len() + usize::from(self.last.is_some())
    }

    /// Whether `stored` starts with the key's words (a record shorter than
    /// the key, torn, is no match).
    #[inline(always)]
    fn matches(&self, stored: &[AtomicU64]) -> bool {
        let Some((whole, rest)) = stored.split_at_checked(self.whole.len()) else {
            return false;
        };
        let same = whole
            .iter()
            .zip(self.whole)
            .all(|(a, b)| a.load(Ordering::Relaxed) == u64::from_le_bytes(*b));
        same && match (self.last, rest.first()) {
            (None, _) => true,
            (Some(last), Some(a)) => a.load(Ordering::Relaxed) == last,
            (Some(_), None) => false,
        }
    }
}

/// Copies the first `len` bytes of the value whose words start at word
/// `from` of `words` into `out`, as many as fit. Nothing if the record is
/// too short (a torn read, which validation discards).
#[inline(always)]
fn copy_value(words: &[AtomicU64], from: usize, len: usize, out: &mut [u8]) {
    let n = len.div_ceil(WORD);
    let Some(value) = words.get(from..).and_then(|w| w.get(..n)) else {
        return;
    };
    let Some(dst) = out.get_mut(..n * WORD) else {
        copy_value_short(value, len, out);
        return;
    };
    // Room for whole words (the usual case: a buffer of `KV_MAX_VAL`):
    // one store of each, past `len` too; four at a time, then the rest.
    let dst = dst.as_chunks_mut::<WORD>().0;
    let (dst4, dst1) = dst.as_chunks_mut::<4>();
    let (src4, src1) = value.as_chunks::<4>();
    for (d, s) in dst4.iter_mut().zip(src4) {
        for (d, s) in d.iter_mut().zip(s) {
            *d = s.load(Ordering::Relaxed).to_le_bytes();
        }
    }
    for (d, s) in dst1.iter_mut().zip(src1) {
        *d = s.load(Ordering::Relaxed).to_le_bytes();
    }
}

/// [`copy_value`] into a buffer too short for the value's whole words.
#[cold]
fn copy_value_short(value: &[AtomicU64], len: usize, out: &mut [u8]) {
    let fits = len.min(out.len());
    let out = &mut out[..fits];
    for (dst, w) in out.chunks_mut(WORD).zip(value) {
        let bytes = w.load(Ordering::Relaxed).to_le_bytes();
        dst.copy_from_slice(&bytes[..dst.len()]);
    }
}
