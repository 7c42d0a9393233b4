//! Gets without a system call: a read-only mapping of the store
//! (`mmap` of `/dev/kvstore`, `docs/mapping.md`) and the lock-free reader
//! of `kv_module::mapped` over it. [`Store::get`](crate::Store::get) uses
//! it when it can and the ioctl otherwise; both answer the same.
//!
//! # What is mapped
//!
//! "Region 0" (offset 0, `header.map_bytes` long): the header page, the
//! public block table and the buckets, mapped once when the first get
//! runs and validated ([`validate`]): a header this library does not
//! know, or whose sizes do not fit the mapping, means no mapping (every
//! get then takes the ioctl), never an access out of bounds. And each
//! block's chunk of records, mapped the first time a walk leads into it.
//!
//! # Blocks, threads and clears
//!
//! A `Store` is shared between threads, and the hot path takes no lock.
//! Each block has an `AtomicPtr` to what is mapped of it (the block
//! table's entry it was mapped at, generation and stride, and the
//! address), null until a walk first needs it. A get loads the pointer
//! and compares the entry with the block table's; equal, it reads the
//! words there. A block whose entry has moved on (a clear detached it and
//! a later put attached a new chunk) is mapped again, under a mutex taken
//! only then: a fresh `mmap` at an address of the kernel's choosing
//! (which fails cleanly if the block is detached again: nothing of ours
//! is unmapped), then the pointer is swapped.
//!
//! The old mapping may still be read by another thread that loaded the
//! old pointer: it is never unmapped while the `Store` lives. Its pages
//! are replaced, with `MAP_FIXED` in one step, by anonymous zero pages:
//! a thread still reading there reads zeroes (as it would read the
//! kernel's zeroed chunk), never an unmapped page, and the bucket's
//! sequence count, which the clear moved, makes it discard what it read
//! (the reader's validation, `mapped.rs`); and the chunk's pages go back
//! to the kernel at once. What stays until drop is an address range and
//! a small record per old mapping, at most [`RETIRED_MAX`]: past that a
//! block that changed is no longer mapped and its gets take the ioctl,
//! so a process that clears very often never nears the kernel's limit
//! of mappings (`vm.max_map_count`). Unmapping old mappings earlier
//! would need the readers to announce themselves (an epoch or hazard
//! scheme): a shared write on every get, which is what a mapped get is
//! there to avoid.
//!
//! A mapping made while the block table's entry changed (a clear running
//! meanwhile) is not trusted: it is unmapped and the get takes the
//! ioctl. This relies on the kernel fixing a block mapping's pages when
//! it is made (`mmap` of a detached block fails), not at fault time.
//!
//! # Not counted
//!
//! The kernel never sees a mapped get: its hits and misses counters
//! ([`Stat::hits`](crate::Stat::hits)) count only gets that took the ioctl.
//! Mapped gets are made for a store without eviction (`header.policy ==
//! 0`), whose gets change nothing in the kernel, and for one under SIEVE
//! (2), whose hits mark their item in a writable mapping of the mark words
//! (a compare-exchange that the kernel's eviction accounts for exactly:
//! `kv_module::mapped`), so the descriptor must be open for writing: on a
//! read-only one, gets take the ioctl. Never under exact LRU (1), whose
//! every hit relinks its item under the kernel's lock.

use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use kv_module::abi::{KvMapHeader, KV_MAP_BLOCK_PAGES, KV_MAP_MAGIC, KV_MAP_VERSION};
use kv_module::mapped::{self, Chunk, Outcome, View};
use kv_module::table::{Bucket, BLOCK_SLOTS, HEADER_WORDS, MAX_BLOCKS, MAX_BUCKETS, WORD};

/// The page size of the mapping's layout (offsets are in these pages).
const PAGE: u64 = 4096;
/// Old block mappings kept (as zero pages) until the store is dropped
/// (file header).
pub(crate) const RETIRED_MAX: usize = 4096;
/// Largest region 0 accepted: the header page, the largest block table
/// and the most buckets, each in whole pages.
const MAX_MAP_BYTES: u64 = PAGE
    + (MAX_BLOCKS as u64 * 8).next_multiple_of(PAGE)
    + (MAX_BUCKETS as u64 * 8).next_multiple_of(PAGE);

/// Largest mark words accepted: a word for every slot of the most
/// blocks.
const MAX_MARKS_BYTES: u64 = MAX_BLOCKS as u64 * BLOCK_SLOTS as u64 * WORD as u64;

/// Why a mapping's header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Fewer bytes than a header.
    Short,
    /// Not [`KV_MAP_MAGIC`].
    Magic,
    /// Not [`KV_MAP_VERSION`].
    Version,
    /// A store under exact LRU: its gets relink items, which only the
    /// kernel can do.
    Policy,
    /// A size or offset out of range, or parts that do not fit the
    /// mapping: the field named.
    Layout(&'static str),
}

/// Checks the header at the start of `page` (the first bytes of region 0)
/// for a reader of layout version 2: a known magic and version, no
/// eviction or SIEVE (with its mark words), the record layout this library
/// walks, and every part inside `header.map_bytes`, aligned and apart,
/// with block and mark offsets that fit a file offset. The header as
/// read.
pub(crate) fn validate(page: &[u8]) -> Result<KvMapHeader, Refused> {
    let bytes = page.get(..size_of::<KvMapHeader>()).ok_or(Refused::Short)?;
    // SAFETY: `bytes` holds `size_of::<KvMapHeader>()` bytes;
    // `read_unaligned` needs no alignment, and `KvMapHeader` is integers
    // only (no padding), which every bit pattern is valid for.
    let h = unsafe { bytes.as_ptr().cast::<KvMapHeader>().read_unaligned() };
    if h.magic != KV_MAP_MAGIC {
        return Err(Refused::Magic);
    }
    if h.version != KV_MAP_VERSION {
        return Err(Refused::Version);
    }
    // Exact LRU relinks an item on every hit, which only the kernel can do.
    let sieve = match h.policy {
        0 => false,
        2 => true,
        _ => return Err(Refused::Policy),
    };
    let layout = |ok: bool, field| {
        if ok {
            Ok(())
        } else {
            Err(Refused::Layout(field))
        }
    };
    layout(h.block_slots as usize == BLOCK_SLOTS, "block_slots")?;
    layout(h.header_words as usize == HEADER_WORDS, "header_words")?;
    layout((1..=MAX_BUCKETS).contains(&h.bucket_count), "bucket_count")?;
    layout((1..=MAX_BLOCKS).contains(&h.blocks), "blocks")?;
    layout(
        h.map_bytes & (PAGE - 1) == 0 && (PAGE..=MAX_MAP_BYTES).contains(&h.map_bytes),
        "map_bytes",
    )?;
    // Each part: 8-aligned (its atomics need it), after the header, and
    // inside the mapping.
    let part = |at: u64, n: u32| {
        let end = at.checked_add(u64::from(n) * 8)?;
        (at & 7 == 0 && at >= size_of::<KvMapHeader>() as u64 && end <= h.map_bytes)
            .then_some((at, end))
    };
    let table = part(h.block_table, h.blocks).ok_or(Refused::Layout("block_table"))?;
    let buckets = part(h.buckets, h.bucket_count).ok_or(Refused::Layout("buckets"))?;
    layout(table.1 <= buckets.0 || buckets.1 <= table.0, "buckets")?;
    // The eviction count: a word of its own, outside both.
    let evictions = part(h.evictions, 1).ok_or(Refused::Layout("evictions"))?;
    let apart = |a: (u64, u64), b: (u64, u64)| a.1 <= b.0 || b.1 <= a.0;
    layout(
        apart(evictions, table) && apart(evictions, buckets),
        "evictions",
    )?;
    // Whether the end of a part at page offset `pages` (`None`: past
    // u64) is a valid file offset.
    let file_end = |pages: Option<u64>| {
        pages
            .and_then(|pages| pages.checked_mul(PAGE))
            .is_some_and(|end| i64::try_from(end).is_ok())
    };
    // Block offsets after region 0, the last one's end a valid file offset.
    let last = h
        .block_pgoff
        .checked_add(u64::from(h.blocks) * KV_MAP_BLOCK_PAGES);
    layout(
        h.block_pgoff >= h.map_bytes / PAGE && file_end(last),
        "block_pgoff",
    )?;
    // SIEVE's mark words: one for every slot of every block (whole pages:
    // a block's slots take one), after the blocks' offsets; none without
    // SIEVE.
    let slots = u64::from(h.blocks) * BLOCK_SLOTS as u64;
    let marks_ok = if sieve {
        h.marks_bytes == slots * WORD as u64
            && h.marks_bytes <= MAX_MARKS_BYTES
            && h.marks_pgoff >= h.block_pgoff + u64::from(h.blocks) * KV_MAP_BLOCK_PAGES
            && file_end(h.marks_pgoff.checked_add(h.marks_bytes / PAGE))
    } else {
        h.marks_bytes == 0
    };
    layout(marks_ok, "marks")?;
    Ok(h)
}

/// A read-only mapping of the store, region 0 and the blocks (file
/// header).
pub(crate) struct Mapping {
    /// The store's file; the `Store` owns it and outlives this mapping.
    fd: RawFd,
    header: KvMapHeader,
    /// Region 0: `header.map_bytes` bytes, page-aligned.
    region: NonNull<u8>,
    /// SIEVE's mark words, `header.marks_bytes` bytes, writable; `None`
    /// without SIEVE.
    marks: Option<NonNull<u8>>,
    /// Per block, what is mapped of it: null, or a `Box<Block>` leaked
    /// into the pointer, freed (and unmapped) only in `drop`.
    blocks: Box<[AtomicPtr<Block>]>,
    /// The blocks' old mappings, zero pages now, unmapped in `drop`; the
    /// mutex is held while a block is mapped: one at a time. Boxed: gets
    /// may still hold a reference to one, which must not move.
    #[allow(clippy::vec_box)]
    retired: Mutex<Vec<Box<Block>>>,
}

/// One mapping of a block's chunk.
struct Block {
    /// The block table's entry when it was mapped: generation and stride.
    entry: u64,
    /// The mapping: `stride * BLOCK_SLOTS` words, page-aligned.
    words: NonNull<AtomicU64>,
    bytes: usize,
}

// SAFETY: The pointers are mappings and boxes this value owns (freed only
// in `drop`), read only through atomics; which mapping a block's pointer
// names changes only under `retired`'s lock, from any thread.
unsafe impl Send for Mapping {}
// SAFETY: As above: shared use reads through atomics only.
unsafe impl Sync for Mapping {}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("buckets", &self.header.bucket_count)
            .field("blocks", &self.header.blocks)
            .field("map_bytes", &self.header.map_bytes)
            .finish()
    }
}

/// `mmap` of `len` bytes, readable; `None` on any error.
fn map(
    at: *mut libc::c_void,
    len: usize,
    flags: libc::c_int,
    fd: RawFd,
    offset: u64,
) -> Option<NonNull<u8>> {
    map_prot(at, len, libc::PROT_READ, flags, fd, offset)
}

/// `mmap` of `len` bytes with protection `prot`; `None` on any error.
fn map_prot(
    at: *mut libc::c_void,
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
    fd: RawFd,
    offset: u64,
) -> Option<NonNull<u8>> {
    let offset = libc::off_t::try_from(offset).ok()?;
    // SAFETY: `mmap` creates a new mapping (readable; writable only for
    // the mark words, which the kernel shares with every reader for
    // exactly that); with `MAP_FIXED` (`at` non-null) it replaces pages of
    // a mapping the caller owns (an old block mapping, by zero pages),
    // which readers only read through atomics and which stays mapped as
    // they read.
    let p = unsafe { libc::mmap(at, len, prot, flags, fd, offset) };
    if p == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(p.cast())
}

/// Unmaps `len` bytes at `p`, a mapping this module made.
///
/// # Safety
///
/// Nothing reads the range any more.
unsafe fn unmap(p: NonNull<u8>, len: usize) {
    // SAFETY: The caller's contract; an error leaves the mapping, which is
    // only a leak.
    unsafe { libc::munmap(p.as_ptr().cast(), len) };
}

impl Mapping {
    /// Maps the store open at `fd`, or `None`: no mapping (a module
    /// without one, or with mapping off: `ENODEV`), a header refused by
    /// [`validate`], or any error. Every get then takes the ioctl.
    pub(crate) fn open(fd: RawFd) -> Option<Mapping> {
        let shared = libc::MAP_SHARED;
        let first = map(std::ptr::null_mut(), PAGE as usize, shared, fd, 0)?;
        // SAFETY: `first` is a fresh read-only mapping of one page, which
        // the kernel wrote once at load (the header page) and does not
        // change.
        let page = unsafe { std::slice::from_raw_parts(first.as_ptr(), PAGE as usize) };
        let header = validate(page);
        // SAFETY: `page` is not used after this.
        unsafe { unmap(first, PAGE as usize) };
        let header = header.ok()?;
        let len = usize::try_from(header.map_bytes).ok()?;
        let region = map(std::ptr::null_mut(), len, shared, fd, 0)?;
        // SIEVE's mark words, writable (a descriptor open for writing
        // only: on one open for reading, the kernel refuses and gets take
        // the ioctl, which marks what they hit).
        let marks = if header.marks_bytes == 0 {
            None
        } else {
            let bytes = usize::try_from(header.marks_bytes).ok();
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            let marks = bytes.and_then(|bytes| {
                map_prot(
                    std::ptr::null_mut(),
                    bytes,
                    rw,
                    shared,
                    fd,
                    header.marks_pgoff * PAGE,
                )
            });
            if marks.is_none() {
                // SAFETY: Not shared yet.
                unsafe { unmap(region, len) };
                return None;
            }
            marks
        };
        // INVARIANT: region 0 and the marks as `header` (validated)
        // describes them; the header page does not change while the store
        // is loaded.
        Some(Mapping {
            fd,
            header,
            region,
            marks,
            blocks: (0..header.blocks)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            retired: Mutex::new(Vec::new()),
        })
    }

    /// What is mapped of block `b`, if anything.
    #[inline]
    fn current(&self, b: u32) -> Option<&Block> {
        let p = self.blocks.get(b as usize)?.load(Ordering::Acquire);
        // SAFETY: A non-null pointer here came from `Box::into_raw` in
        // `map_block` (Release store, paired with the Acquire load above,
        // so the box's contents are seen), and the box is freed only in
        // `drop`: a swapped-out one moves to `retired`.
        unsafe { p.as_ref() }
    }

    /// Maps block `b` as the block table shows it now; whether that
    /// worked (if not, the get takes the ioctl).
    fn map_block(&self, b: u32) -> bool {
        let (Some(entry), Some(slot)) =
            (self.public().get(b as usize), self.blocks.get(b as usize))
        else {
            return false;
        };
        let Ok(mut retired) = self.retired.lock() else {
            return false;
        };
        let before = entry.load(Ordering::Acquire);
        let stride = before as u32 as usize;
        let current = self.current(b);
        if current.is_some_and(|c| c.entry == before) {
            // Another thread mapped it meanwhile.
            return true;
        }
        if !mapped::stride_fits(stride) {
            return false;
        }
        if current.is_some() && retired.len() >= RETIRED_MAX {
            return false;
        }
        let bytes = stride * BLOCK_SLOTS * WORD;
        // Validated: fits a file offset.
        let pages = self.header.block_pgoff + u64::from(b) * KV_MAP_BLOCK_PAGES;
        let shared = libc::MAP_SHARED;
        let Some(p) = map(std::ptr::null_mut(), bytes, shared, self.fd, pages * PAGE) else {
            return false;
        };
        // The chunk mapped is the one `before` describes only if the entry
        // did not change meanwhile (each attach and detach changes it).
        if entry.load(Ordering::Acquire) != before {
            // SAFETY: Not shared yet.
            unsafe { unmap(p, bytes) };
            return false;
        }
        let new = Box::into_raw(Box::new(Block {
            entry: before,
            words: p.cast(),
            bytes,
        }));
        // Release: a get that loads the pointer sees the box's contents.
        let old = slot.swap(new, Ordering::AcqRel);
        if let Some(old) = NonNull::new(old) {
            // SAFETY: From `Box::into_raw` above, in an earlier call, and
            // swapped out just now: this is its only owner from here on
            // (gets may still read through it: it is kept, not freed).
            let old = unsafe { Box::from_raw(old.as_ptr()) };
            zero(old.words.cast(), old.bytes);
            retired.push(old);
        }
        true
    }

    /// A get of `key` through the mapping into `out`: `Some(Some(len))`
    /// for a hit (the value's first bytes in `out`), `Some(None)` for a
    /// miss, `None` when the ioctl must answer (a key of a bad length
    /// too: the ioctl path gives its error).
    #[inline]
    pub(crate) fn get(&self, key: &[u8], out: &mut [u8]) -> Option<Option<usize>> {
        match mapped::get(self, key, clock_ns, out) {
            Outcome::NeedBlock(b) => self.get_mapping(b, key, out),
            outcome => answer(outcome),
        }
    }

    /// [`Mapping::get`] once its walk led into block `b`, not mapped (as
    /// the block table shows it now): maps it and tries again, a block at
    /// a time (a chain crosses each at most once).
    #[cold]
    fn get_mapping(&self, mut b: u32, key: &[u8], out: &mut [u8]) -> Option<Option<usize>> {
        for _ in 0..self.header.blocks {
            if !self.map_block(b) {
                return None;
            }
            match mapped::get(self, key, clock_ns, out) {
                Outcome::NeedBlock(next) => b = next,
                outcome => return answer(outcome),
            }
        }
        None
    }
}

/// [`Mapping::get`]'s answer for what a get through the mapping ended
/// with, but for a block to map.
#[inline(always)]
fn answer(outcome: Outcome) -> Option<Option<usize>> {
    match outcome {
        Outcome::Hit { len, .. } => Some(Some(len)),
        Outcome::Miss => Some(None),
        Outcome::NeedBlock(_) | Outcome::GiveUp | Outcome::BadKey => None,
    }
}

/// Replaces the `len` bytes of an old block mapping at `at` with zero
/// pages, in one step: readers still there read zeroes, and the chunk's
/// pages go back to the kernel. A failure leaves the old pages, still
/// mapped and readable.
fn zero(at: NonNull<u8>, len: usize) {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED;
    let _ = map(at.as_ptr().cast(), len, flags, -1, 0);
}

impl View for Mapping {
    fn header(&self) -> &KvMapHeader {
        &self.header
    }

    fn public(&self) -> &[AtomicU64] {
        // Validated: 8-aligned, inside region 0.
        let at = self.header.block_table as usize;
        // SAFETY: `validate` checked that `blocks` words from `at` lie
        // inside region 0 (mapped until `drop`) at an 8-aligned offset of
        // its page-aligned start; the kernel writes them as `AtomicU64`s
        // and this reads them only as atomics.
        unsafe {
            std::slice::from_raw_parts(
                self.region.as_ptr().add(at).cast::<AtomicU64>(),
                self.header.blocks as usize,
            )
        }
    }

    #[inline(always)]
    fn evictions(&self) -> &AtomicU32 {
        let at = self.header.evictions as usize;
        // SAFETY: `validate` checked that the 8 bytes from `at` lie inside
        // region 0 (mapped until `drop`) at an 8-aligned offset, apart from
        // the other parts; the kernel writes their first 4 as an
        // `AtomicU32` and this reads them only as one.
        unsafe { &*self.region.as_ptr().add(at).cast::<AtomicU32>() }
    }

    #[inline(always)]
    fn marks(&self) -> Option<&[AtomicU64]> {
        let marks = self.marks?;
        // SAFETY: `open` mapped `marks_bytes` bytes of marks there (a
        // multiple of a page: page-aligned words), kept until `drop`; the
        // kernel and every reader access them only through atomics.
        Some(unsafe {
            std::slice::from_raw_parts(
                marks.as_ptr().cast::<AtomicU64>(),
                self.header.marks_bytes as usize / WORD,
            )
        })
    }

    fn buckets(&self) -> &[Bucket] {
        let at = self.header.buckets as usize;
        // SAFETY: As for `public`: `bucket_count` pairs of 32-bit words
        // (a `Bucket`, `repr(C)`, 8 bytes) from an 8-aligned offset inside
        // region 0, atomics only.
        unsafe {
            std::slice::from_raw_parts(
                self.region.as_ptr().add(at).cast::<Bucket>(),
                self.header.bucket_count as usize,
            )
        }
    }

    #[inline(always)]
    fn block(&self, b: u32, entry: u64) -> Option<Chunk<'_>> {
        let block = self.current(b).filter(|block| block.entry == entry)?;
        let stride = entry as u32 as usize;
        // SAFETY: `map_block` made `block.words` a read-only mapping of
        // `stride * BLOCK_SLOTS` words (the stride of `block.entry`, which
        // is `entry`'s), page-aligned, kept mapped until `drop` (its pages
        // replaced at most by zero pages, in one step), read only through
        // atomics; and it checked `stride_fits`.
        unsafe {
            let words = std::slice::from_raw_parts(block.words.as_ptr(), stride * BLOCK_SLOTS);
            Some(Chunk::new_unchecked(words, stride))
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let mut blocks: Vec<Box<Block>> = self
            .blocks
            .iter()
            .filter_map(|p| {
                let p = NonNull::new(p.swap(std::ptr::null_mut(), Ordering::Relaxed))?;
                // SAFETY: From `Box::into_raw` in `map_block`, owned by the
                // pointer until now.
                Some(unsafe { Box::from_raw(p.as_ptr()) })
            })
            .collect();
        blocks.append(self.retired.get_mut().unwrap_or_else(|e| e.into_inner()));
        for block in blocks {
            // SAFETY: `&mut self`: no get is running, and no slice of a
            // block outlives the borrow of `self` it came from.
            unsafe { unmap(block.words.cast(), block.bytes) };
        }
        // SAFETY: As above.
        unsafe { unmap(self.region, self.header.map_bytes as usize) };
        if let Some(marks) = self.marks {
            // SAFETY: As above.
            unsafe { unmap(marks, self.header.marks_bytes as usize) };
        }
    }
}

/// Nanoseconds of `clock`.
fn clock(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec for the call to write.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    u64::try_from(ts.tv_sec)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::try_from(ts.tv_nsec).ok()?)
}

/// The kernel's clock of deadlines: `CLOCK_BOOTTIME` as of the last tick
/// (`ktime_get_coarse_with_offset(TK_OFFS_BOOT)`), which userspace cannot
/// read directly: `CLOCK_MONOTONIC_COARSE` plus the time spent suspended
/// (`CLOCK_BOOTTIME - CLOCK_MONOTONIC`, read in that order so that the
/// difference errs by the nanoseconds between the two reads, not by a
/// tick as `CLOCK_BOOTTIME` alone would).
fn clock_ns() -> Option<u64> {
    let boot = clock(libc::CLOCK_BOOTTIME)?;
    let mono = clock(libc::CLOCK_MONOTONIC)?;
    let coarse = clock(libc::CLOCK_MONOTONIC_COARSE)?;
    coarse.checked_add(boot.saturating_sub(mono))
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod store_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as the kernel writes it for a store of 8 blocks and 1024
    /// buckets without eviction, in a page.
    fn good() -> KvMapHeader {
        KvMapHeader {
            magic: KV_MAP_MAGIC,
            version: KV_MAP_VERSION,
            policy: 0,
            bucket_count: 1024,
            blocks: 8,
            block_slots: BLOCK_SLOTS as u32,
            header_words: HEADER_WORDS as u32,
            seed: [1, 2],
            block_table: PAGE,
            buckets: 2 * PAGE,
            map_bytes: 4 * PAGE,
            block_pgoff: 4,
            evictions: PAGE + 8 * 8,
            marks_pgoff: 4 + 8 * KV_MAP_BLOCK_PAGES,
            marks_bytes: 0,
        }
    }

    fn page(h: &KvMapHeader) -> Vec<u8> {
        let mut page = vec![0u8; PAGE as usize];
        // SAFETY: `page` has room for a header; unaligned write.
        unsafe { page.as_mut_ptr().cast::<KvMapHeader>().write_unaligned(*h) };
        page
    }

    fn check(f: impl FnOnce(&mut KvMapHeader)) -> Result<KvMapHeader, Refused> {
        let mut h = good();
        f(&mut h);
        validate(&page(&h))
    }

    #[test]
    fn a_good_header_is_taken() {
        assert_eq!(validate(&page(&good())), Ok(good()));
    }

    #[test]
    fn garbage_headers_are_refused() {
        assert_eq!(validate(&[0u8; 16]), Err(Refused::Short));
        assert_eq!(validate(&[0u8; 4096]), Err(Refused::Magic));
        assert_eq!(validate(&[0xffu8; 4096]), Err(Refused::Magic));
        assert_eq!(
            check(|h| h.version = KV_MAP_VERSION + 1),
            Err(Refused::Version)
        );
        assert_eq!(check(|h| h.policy = 1), Err(Refused::Policy));
        // SIEVE with its mark words (a word per slot of 8 blocks) is
        // taken; without them, or marks without SIEVE, refused.
        let sieve = |h: &mut KvMapHeader| {
            h.policy = 2;
            h.marks_bytes = 8 * PAGE;
        };
        assert!(check(sieve).is_ok());
        assert_eq!(check(|h| h.policy = 2), Err(Refused::Layout("marks")));
        assert_eq!(
            check(|h| h.marks_bytes = PAGE),
            Err(Refused::Layout("marks"))
        );
        for spoil in [
            |h: &mut KvMapHeader| h.marks_bytes = PAGE + 1,
            // A bit per slot, a block's words short or one too many.
            |h: &mut KvMapHeader| h.marks_bytes = PAGE,
            |h: &mut KvMapHeader| h.marks_bytes = 7 * PAGE,
            |h: &mut KvMapHeader| h.marks_bytes = 9 * PAGE,
            |h: &mut KvMapHeader| h.marks_pgoff = 5,
            |h: &mut KvMapHeader| h.marks_pgoff = u64::MAX / PAGE,
            |h: &mut KvMapHeader| h.marks_bytes = u64::MAX - PAGE + 1,
        ] {
            assert_eq!(
                check(|h| {
                    sieve(h);
                    spoil(h)
                }),
                Err(Refused::Layout("marks"))
            );
        }
        type Spoil = fn(&mut KvMapHeader);
        let bad: [(&str, Spoil); 19] = [
            ("block_slots", |h| h.block_slots = 256),
            ("header_words", |h| h.header_words = 5),
            ("bucket_count", |h| h.bucket_count = 0),
            ("bucket_count", |h| h.bucket_count = MAX_BUCKETS + 1),
            ("blocks", |h| h.blocks = 0),
            ("blocks", |h| h.blocks = u32::MAX),
            ("map_bytes", |h| h.map_bytes = 0),
            ("map_bytes", |h| h.map_bytes = 4 * PAGE + 1),
            ("map_bytes", |h| h.map_bytes = !(PAGE - 1)),
            // Parts past the mapping's end, over the header, unaligned,
            // overlapping each other.
            ("buckets", |h| h.bucket_count = 1025),
            ("block_table", |h| h.block_table = 4 * PAGE - 8),
            ("block_table", |h| h.block_table = 8),
            ("block_table", |h| h.block_table = PAGE + 4),
            ("buckets", |h| h.buckets = u64::MAX - 7),
            ("buckets", |h| h.buckets = PAGE + 32),
            ("block_pgoff", |h| h.block_pgoff = 3),
            // The eviction count inside the block table, unaligned, past
            // the mapping.
            ("evictions", |h| h.evictions = PAGE + 8),
            ("evictions", |h| h.evictions = PAGE + 8 * 8 + 4),
            ("evictions", |h| h.evictions = 4 * PAGE),
        ];
        for (field, f) in bad {
            assert_eq!(check(f), Err(Refused::Layout(field)), "{field}");
        }
        assert_eq!(
            check(|h| h.block_pgoff = u64::MAX / 2),
            Err(Refused::Layout("block_pgoff"))
        );
        // Any bytes at all: refused or taken, never a panic.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            let mut h = good();
            // SAFETY: A header is plain integers; overwrite some words.
            let words = unsafe {
                std::slice::from_raw_parts_mut(
                    (&mut h as *mut KvMapHeader).cast::<u64>(),
                    size_of::<KvMapHeader>() / 8,
                )
            };
            for _ in 0..2 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % words.len() as u64) as usize;
                words[at] = if seed & 1 == 0 {
                    seed >> 8
                } else {
                    (seed >> 40) * 8
                };
            }
            if let Ok(h) = validate(&page(&h)) {
                assert!(u64::from(h.blocks) * 8 + h.block_table <= h.map_bytes);
                assert!(u64::from(h.bucket_count) * 8 + h.buckets <= h.map_bytes);
            }
        }
    }

    #[test]
    fn no_mapping_without_a_device_that_maps() {
        // /dev/null refuses mmap: no mapping, and no crash.
        let f = std::fs::File::open("/dev/null").unwrap();
        use std::os::fd::AsRawFd;
        assert!(Mapping::open(f.as_raw_fd()).is_none());
        // A regular file maps, but holds no store.
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        assert!(Mapping::open(f.as_raw_fd()).is_none());
    }

    #[test]
    fn the_clock_reads() {
        let a = clock_ns().unwrap();
        let b = clock(libc::CLOCK_BOOTTIME).unwrap();
        // Coarse: behind the precise clock by at most a few ticks.
        assert!(a <= b + 1_000_000 && b - a < 100_000_000, "{a} {b}");
    }
}
