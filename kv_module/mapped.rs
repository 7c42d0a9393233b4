// SPDX-License-Identifier: GPL-2.0
//! A get through a read-only mapping of the store (`docs/mapping.md`):
//! the lock-free reader of `table.rs` ([`Table::read`]) done from memory
//! that userspace mapped, without a system call. Plain `no_std` Rust, for
//! `kvlib` and the host tests; the module itself does not compile it.
//!
//! The algorithm is the table's, step for step (its file header has the
//! argument): load the bucket's `seq` (Acquire; odd: a write is in
//! progress, try again), walk the chain with Relaxed loads only, copy what
//! it found, then an Acquire fence and `seq` again: equal, the copy is a
//! state of the bucket between two write sections; else try again. What
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
//! block reads the sentinel in the table. Every index is checked
//! (`get`), so a torn or hostile word never reads outside the view's
//! slices; a walk takes at most as many steps as the blocks have slots,
//! then counts as a failed attempt; and a get makes at most [`ATTEMPTS`]
//! attempts, then gives up ([`Outcome::GiveUp`]): the caller asks the
//! kernel instead, which waits for its writer where this reader cannot.
//!
//! [`Table::read`]: crate::table::Table::read

use core::hint::spin_loop;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use crate::abi::KvMapHeader;
use crate::table::{
    bucket_of, is_expired, value_len, Bucket, Key, BLOCK_SHIFT, BLOCK_SLOTS, EXPIRES, HEADER_WORDS,
    KEY_LEN, NIL, WORD,
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
    /// Block `b`'s chunk as words (`BLOCK_SLOTS` headers of
    /// [`HEADER_WORDS`], then `BLOCK_SLOTS` records of `stride -
    /// HEADER_WORDS` words), if the view holds a mapping of it made while
    /// its public entry showed `generation` and `stride`; `None`: the
    /// caller must (re)map it.
    fn block(&self, b: u32, generation: u32, stride: usize) -> Option<&[AtomicU64]>;
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
    /// never) and version.
    Found {
        len: usize,
        expires: u64,
        version: u64,
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

/// A 64-bit word of a record's header seen as the two 32-bit atomics the
/// writer stores into it (`Header::next` and `Header::lens`).
pub(crate) fn halves(word: &AtomicU64) -> &[AtomicU32; 2] {
    // SAFETY: `AtomicU64` has the size and in-memory representation of a
    // `u64` (8 bytes, no padding) and alignment 8; `[AtomicU32; 2]` has
    // size 8, no padding and alignment 4, so the cast pointer is valid and
    // aligned for it, and covers exactly the bytes of `word`. Both are
    // atomics, which allow shared mutation behind `&` (an `UnsafeCell`
    // each) and which every bit pattern is valid for. The borrow keeps the
    // lifetime of `word`. The writer accesses these bytes only as the two
    // 32-bit atomics `next` (the lower address) and `lens` (`Header`,
    // `repr(C)`; `table.rs` asserts the offsets), so this view makes the
    // reader's accesses the same size as the writer's.
    unsafe { &*core::ptr::from_ref(word).cast::<[AtomicU32; 2]>() }
}

/// Record `place` (below `BLOCK_SLOTS`) of a block of records of `stride`
/// words whose chunk is `chunk`; `None` if the chunk is too short for it
/// (never, for a view that keeps its promise).
fn record(chunk: &[AtomicU64], place: usize, stride: usize) -> Option<Record<'_>> {
    let at = place.checked_mul(HEADER_WORDS)?;
    let header = chunk.get(at..)?;
    let ([hash, link, version, _], _) = header.split_first_chunk::<4>()?;
    let words = stride.checked_sub(HEADER_WORDS)?;
    let from = place
        .checked_mul(words)?
        .checked_add(BLOCK_SLOTS.checked_mul(HEADER_WORDS)?)?;
    let words = chunk.get(from..from.checked_add(words)?)?;
    Some(Record {
        hash,
        link: halves(link),
        version,
        words,
    })
}

/// Looks `key` up through `view` and copies its value into `out` (as
/// much of it as fits): exactly the kernel's lock-free get (the file
/// header). `now` reads the store's clock (nanoseconds of
/// `CLOCK_BOOTTIME`, as the kernel reads it), only for an item that
/// expires; an expired item is a miss. Counts nothing: the kernel's hits
/// and misses never see a get made here.
///
/// On any outcome but [`Outcome::Hit`], and beyond the value's length on
/// a hit, `out` may hold bytes of discarded attempts.
pub fn get<V: View + ?Sized>(
    view: &V,
    key: &[u8],
    now: impl FnOnce() -> u64,
    out: &mut [u8],
) -> Outcome {
    let Some(key) = Key::pack(key, view.header().seed) else {
        return Outcome::BadKey;
    };
    let buckets = view.buckets();
    let Some(bucket) = buckets.get(bucket_of(key.hash(), buckets.len())) else {
        return Outcome::GiveUp;
    };
    let public = view.public();
    for attempt in 0..ATTEMPTS {
        // Acquire: pairs with `write_end`'s Release store, so an even
        // count comes with that section's stores.
        let seq = bucket.seq.load(Ordering::Acquire);
        if seq & 1 == 1 {
            // A write in progress: back off a little longer each time.
            for _ in 0..1u32 << attempt {
                spin_loop();
            }
            continue;
        }
        let walk = walk(view, public, bucket, &key, out);
        // Acquire fence: pairs with `write_begin`'s Release fence, so the
        // load below sees the count of any section whose stores the walk
        // saw.
        fence(Ordering::Acquire);
        if bucket.seq.load(Ordering::Relaxed) != seq {
            continue;
        }
        return match walk {
            Walk::Found {
                len,
                expires,
                version,
            } => {
                if is_expired(expires, if expires == 0 { 0 } else { now() }) {
                    Outcome::Miss
                } else {
                    Outcome::Hit { len, version }
                }
            }
            Walk::End => Outcome::Miss,
            Walk::Block(b) => Outcome::NeedBlock(b),
            // A consistent chain is never this long: a cycle seen in a
            // state that validation could not tell from a real one would be
            // the writer's bug, or the view's memory is not the store's.
            Walk::Cycle => continue,
        };
    }
    Outcome::GiveUp
}

/// One walk of `bucket`'s chain for `key`, copying a found value into
/// `out`. Relaxed loads only (but the block table's entry, Acquire: see
/// there); what it answers is the caller's to validate.
fn walk<V: View + ?Sized>(
    view: &V,
    public: &[AtomicU64],
    bucket: &Bucket,
    key: &Key,
    out: &mut [u8],
) -> Walk {
    let mut i = bucket.head.load(Ordering::Relaxed);
    // A consistent chain holds at most every slot of every block once.
    let mut steps = public.len().saturating_mul(BLOCK_SLOTS);
    let used = key.used_words();
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
        let stride = entry as u32 as usize;
        let generation = (entry >> 32) as u32;
        if stride == 0 {
            // A detached block: the sentinel's empty records end a walk.
            return Walk::End;
        }
        let Some(chunk) = view.block(b, generation, stride) else {
            return Walk::Block(b);
        };
        let place = i as usize & (BLOCK_SLOTS - 1);
        let Some(rec) = record(chunk, place, stride) else {
            return Walk::End;
        };
        let [next, lens] = rec.link;
        if rec.hash.load(Ordering::Relaxed) == key.hash() {
            let lens = lens.load(Ordering::Relaxed);
            // A record shorter than the key (torn) is no match.
            let same = (lens & KEY_LEN) as usize == key.len()
                && rec.words.get(..used.len()).is_some_and(|stored| {
                    stored
                        .iter()
                        .zip(used)
                        .all(|(a, b)| a.load(Ordering::Relaxed) == *b)
                });
            if same {
                let len = value_len(lens);
                copy_value(rec.words, used.len(), len, out);
                let expires = if lens & EXPIRES == 0 {
                    0
                } else {
                    rec.words.last().map_or(0, |w| w.load(Ordering::Relaxed))
                };
                return Walk::Found {
                    len,
                    expires,
                    version: rec.version.load(Ordering::Relaxed),
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

/// Copies the first `len` bytes of the value whose words start at word
/// `from` of `words` into `out`, as many as fit. Nothing if the record is
/// too short (a torn read, which validation discards).
fn copy_value(words: &[AtomicU64], from: usize, len: usize, out: &mut [u8]) {
    let n = len.div_ceil(WORD);
    let Some(value) = from.checked_add(n).and_then(|to| words.get(from..to)) else {
        return;
    };
    let Some(out) = out.get_mut(..len.min(out.len())) else {
        return;
    };
    // Whole words stored as such (one bounds check for all of them), then
    // the last, partial one byte-wise.
    let (whole, part) = out.split_at_mut(out.len() - out.len() % WORD);
    let mut words = value
        .iter()
        .map(|w| w.load(Ordering::Relaxed).to_le_bytes());
    for (dst, bytes) in whole.chunks_exact_mut(WORD).zip(&mut words) {
        dst.copy_from_slice(&bytes);
    }
    if let (Some(bytes), false) = (words.next(), part.is_empty()) {
        if let Some(src) = bytes.get(..part.len()) {
            part.copy_from_slice(src);
        }
    }
}
