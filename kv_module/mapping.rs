// SPDX-License-Identifier: GPL-2.0
//! `mmap` of `/dev/kvstore`: the store mapped read-only into its readers,
//! so that a get needs no system call (`docs/mapping.md` has the layout).
//!
//! What a mapping shows: at page offset 0 the header page, the public block
//! table and the buckets (`Store::map_regions`); at page offset
//! `block_pgoff + b * KV_MAP_BLOCK_PAGES` the chunk of block `b`'s records.
//! All of it is memory the store allocated in whole pages of its own,
//! zeroed when allocated, holding no kernel pointer; a removed item's
//! record is zeroed inside its write section (`table.rs`, `Slot::scrub`)
//! and a clear zeroes its chunks before it returns ([`scrub_chunk`]).
//!
//! The 7.2 kernel crate gives an `mmap` no fault handler, so every page is
//! inserted here, at `mmap` time (`vm_insert_page`, which takes a reference
//! on the page). A chunk attached later is a mapping of its own, by its
//! offset. Why the pages stay valid:
//! - The header, block table and buckets live until unload, and a mapping
//!   holds its file, which pins the module (`owned_misc.rs`): no `rmmod`
//!   while a mapping exists.
//! - A chunk is freed only after a clear detached it. [`MAP_LOCK`] keeps
//!   clears out while this file inserts a chunk's pages; once inserted, each
//!   page's reference keeps it allocated (zeroed, see above) until the
//!   reader unmaps it, even after the store frees the chunk.
//!
//! What a reader cannot do: write (the mapping must not ask for it, and
//! `VM_MAYWRITE` is cleared, so `mprotect` cannot add it), execute (same,
//! `VM_MAYEXEC`), or grow the mapping (`VM_DONTEXPAND`, so `mremap` cannot).
//! The one exception is SIEVE's mark words, at their own page offset,
//! which a file opened for writing may map writable and shared
//! ([`map_marks`]): a reader marks an item it found.
//! Only a file opened for reading may map. The header carries the hash's
//! secrets: `mmap=0` at load refuses every mapping.

use core::sync::atomic::{AtomicU64, Ordering};

use kernel::{bindings, fs::File, global_lock, mm::virt::VmaNew, prelude::*};

use crate::abi::KV_MAP_BLOCK_PAGES;
use crate::ioctl::Access;
use crate::loaded_store::shared;

const PAGE: usize = 4096;

global_lock! {
    // SAFETY: `init` calls `MAP_LOCK.init()` once, from `KvModule::init`,
    // before the device exists and so before any other use.
    pub(crate) unsafe(uninit) static MAP_LOCK: Mutex<()> = ();
}

/// Makes [`MAP_LOCK`] usable. Called once, from `KvModule::init`, before
/// the device is registered.
pub(crate) fn init() {
    // SAFETY: Called once, before anything else touches `MAP_LOCK`.
    unsafe { MAP_LOCK.init() };
}

/// Keeps every mapping of a chunk out while the guard lives: a clear holds
/// it from detaching its chunks to queueing their free.
pub(crate) fn exclude_maps() -> kernel::sync::GlobalGuard<MAP_LOCK> {
    MAP_LOCK.lock()
}

/// Zeroes a chunk that a clear detached, before the clear returns: a
/// reader that mapped it keeps its pages, which must then hold nothing.
/// Atomic stores, as lock-free readers may still load from it.
pub(crate) fn scrub_chunk(chunk: core::ptr::NonNull<u8>, bytes: usize) {
    let words = bytes / 8;
    // SAFETY: `chunk` is a detached chunk of `bytes` bytes (a multiple of a
    // page), 8-aligned, not freed before the clear that detached it queues
    // it (after this returns); every access to it is atomic.
    let words = unsafe { core::slice::from_raw_parts(chunk.as_ptr().cast::<AtomicU64>(), words) };
    for word in words {
        word.store(0, Ordering::Relaxed);
    }
}

/// The `mmap` of an open `/dev/kvstore` (see the file header). `allowed`:
/// the `mmap` module parameter.
pub(crate) fn mmap(file: &File, vma: &VmaNew, allowed: bool) -> Result {
    if !allowed {
        return Err(ENODEV);
    }
    Access::from_accmode(file.flags() & kernel::fs::file::flags::O_ACCMODE).require_read()?;
    let store = shared()?;
    let header = store.map_header().ok_or(ENODEV)?;
    // SAFETY: `vma` is a live VMA being set up by this `mmap` call; reading
    // its page offset, which the kernel set from the caller's offset, is a
    // plain read of an initialised field.
    let pgoff = unsafe { (*vma.as_ptr()).vm_pgoff } as u64;
    if pgoff == header.marks_pgoff && header.marks_bytes != 0 {
        return map_marks(vma, store);
    }
    if vma.writable() || vma.executable() {
        return Err(EACCES);
    }
    vma.try_clear_maywrite()?;
    vma.try_clear_mayexec()?;
    vma.set_dontexpand();
    let vma = vma.set_mixedmap();
    if pgoff == 0 {
        let len = vma.end().saturating_sub(vma.start());
        let regions = store.map_regions();
        let total: usize = regions.iter().map(|&(_, bytes)| bytes).sum();
        if len > total {
            return Err(EINVAL);
        }
        let mut at = vma.start();
        for (base, bytes) in regions {
            for offset in (0..bytes).step_by(PAGE) {
                if at >= vma.end() {
                    return Ok(());
                }
                insert(vma, at, base.as_ptr().wrapping_add(offset))?;
                at = at.wrapping_add(PAGE);
            }
        }
        return Ok(());
    }
    let rel = pgoff.checked_sub(header.block_pgoff).ok_or(EINVAL)?;
    if rel % KV_MAP_BLOCK_PAGES != 0 {
        return Err(EINVAL);
    }
    let b = u32::try_from(rel / KV_MAP_BLOCK_PAGES).map_err(|_| EINVAL)?;
    let _no_clear = MAP_LOCK.lock();
    // Detached (or past the directory): nothing to map.
    let (chunk, bytes) = store.block_chunk(b).ok_or(ENXIO)?;
    insert_all(vma, chunk, bytes)
}

/// The `mmap` of SIEVE's mark words (`Store::marks_region`): the one
/// part a reader may map writable, shared only (a private copy would mark
/// nothing), never executable nor growing. Only a file opened for writing
/// gets a shared writable mapping (the kernel's `mmap` checks it before
/// this runs). What a reader can do with it is mark an item as visited, as
/// a get does, or unmark it: the kernel trusts a word's mark only under
/// the slot's own generation (`Store::take_mark`), and nothing else in it.
fn map_marks(vma: &VmaNew, store: &crate::loaded_store::Store) -> Result {
    if vma.executable() {
        return Err(EACCES);
    }
    vma.try_clear_mayexec()?;
    if vma.flags() & kernel::mm::virt::flags::SHARED == 0 {
        if vma.writable() {
            return Err(EACCES);
        }
        vma.try_clear_maywrite()?;
    }
    vma.set_dontexpand();
    let vma = vma.set_mixedmap();
    let (marks, bytes) = store.marks_region().ok_or(ENODEV)?;
    insert_all(vma, marks, bytes)
}

/// Maps the first pages of the `bytes` (a multiple of a page) of vmalloc
/// memory at `base` over the whole of `vma`; `EINVAL` if `vma` is longer.
fn insert_all(
    vma: &kernel::mm::virt::VmaMixedMap,
    base: core::ptr::NonNull<u8>,
    bytes: usize,
) -> Result {
    let len = vma.end().saturating_sub(vma.start());
    if len > bytes {
        return Err(EINVAL);
    }
    let mut at = vma.start();
    for offset in (0..len).step_by(PAGE) {
        insert(vma, at, base.as_ptr().wrapping_add(offset))?;
        at = at.wrapping_add(PAGE);
    }
    Ok(())
}

/// Maps the vmalloc page at `addr` at user address `at` of `vma`.
fn insert(vma: &kernel::mm::virt::VmaMixedMap, at: usize, addr: *mut u8) -> Result {
    // SAFETY: `addr` is a page-aligned address inside one of the store's
    // vmalloc allocations (`map_regions`, or a chunk that `MAP_LOCK` keeps
    // from being freed), which `vmalloc_to_page` maps to its page.
    let page = unsafe { bindings::vmalloc_to_page(addr.cast()) };
    if page.is_null() {
        return Err(EFAULT);
    }
    // SAFETY: `vma` is the VMA of this `mmap`, set up as a mixed map, and
    // `at` a page-aligned address inside it; `page` is a live page of the
    // store's, on which `vm_insert_page` takes its own reference.
    kernel::error::to_result(unsafe { bindings::vm_insert_page(vma.as_ptr(), at, page) })
}
