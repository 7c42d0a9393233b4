// SPDX-License-Identifier: GPL-2.0
//! The store kv.ko serves: made at load, reached by every ioctl, freed at
//! unload, and the one lock around its writer.
//!
//! # Locking
//!
//! The store is split in two (see `store.rs`): the shared [`Store`], reached
//! through [`STORE`] without a lock, and the one [`Writer`], behind the
//! spinlock [`WRITER`]. Gets look up without a lock, whatever the policy,
//! and write only their CPU's counters (and, for SIEVE, a visited bit not
//! yet set); `table.rs` says why they never see a torn item. Puts, dels,
//! clear, stat and each bucket of a dump take [`WRITER`], and so does an
//! exact-LRU get, but only for the relink once its value has reached the
//! caller (`policy/mod.rs`).
//!
//! It is a spinlock because write sections of the bucket sequence counters
//! must not be preempted (a reader would spin on the preempted writer), as
//! with the kernel's `seqcount_t`; everything under it is bounded and never
//! sleeps. On PREEMPT_RT, where spinlocks sleep and the writer can be
//! preempted, a reader that finds a write in progress waits on the lock
//! instead ([`wait_for_writer`]). User copies happen outside every lock: the
//! request is copied in before and the answer copied out after.
//!
//! # Lifetime
//!
//! `KvModule::init` makes both parts before it registers the device, and
//! `drop` frees them after deregistering it. Every ioctl runs on an open
//! file, which pins the module (`owned_misc.rs`), so no ioctl can run
//! before the store exists or after it is freed.

use core::alloc::Layout;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use kernel::{
    alloc::{allocator::Vmalloc, flags::__GFP_NOWARN, Allocator},
    bindings, global_lock,
    prelude::*,
};

use crate::abi::KvUsageStat;
use crate::policy::{Links, Policy};
use crate::store;
use crate::table::CHUNK_ALIGN;

/// The store's arrays in `KVVec`s, so large sizes fall back to vmalloc, and
/// its chunks from vmalloc, allocated without the writer's spinlock.
pub(crate) struct KernelAlloc;

// SAFETY: `chunk` answers a vmalloc allocation of `bytes` with
// `__GFP_ZERO` (all zero), aligned to a page (`CHUNK_ALIGN`: vmalloc's own
// alignment), valid from any context until `free_chunk` frees it.
unsafe impl store::Alloc for KernelAlloc {
    type Vec<T> = KVVec<T>;
    // vmalloc may sleep: never under the spinlock.
    const CHUNKS_UNDER_LOCK: bool = false;

    fn vec<T>(len: usize, mut f: impl FnMut() -> T) -> Option<KVVec<T>> {
        // The sizes come from the loader: a failure is reported by our own
        // pr_err, not by the allocator's warning and stack dump.
        let mut v = KVVec::with_capacity(len, GFP_KERNEL | __GFP_NOWARN).ok()?;
        for _ in 0..len {
            // Within the capacity just allocated: never allocates, never fails.
            v.push_within_capacity(f()).ok()?;
        }
        Some(v)
    }

    fn chunk(bytes: usize) -> Option<NonNull<u8>> {
        // No warning on failure: the put that needed the chunk answers
        // ENOMEM and changes nothing. `__GFP_RETRY_MAYFAIL`: a machine out
        // of memory refuses the put rather than OOM-kill a process for a
        // cache's sake. The kernel crate's flags have no such bit, so this
        // calls the allocator `Vmalloc` wraps, with its own flags.
        let flags = bindings::GFP_KERNEL
            | bindings::__GFP_ZERO
            | bindings::__GFP_NOWARN
            | (1 << bindings::___GFP_RETRY_MAYFAIL_BIT);
        // SAFETY: A null pointer asks `vrealloc_node_align` for a new
        // allocation of `bytes` aligned to CHUNK_ALIGN (a page, vmalloc's
        // own alignment), on any node; it answers null on failure.
        // `Vmalloc::free` (in `free_chunk`) frees what it answers, as it
        // frees what `Vmalloc::alloc` answers.
        let chunk = unsafe {
            bindings::vrealloc_node_align(
                ptr::null(),
                bytes,
                CHUNK_ALIGN,
                flags,
                bindings::NUMA_NO_NODE,
            )
        };
        NonNull::new(chunk.cast::<u8>())
    }

    unsafe fn free_chunk(chunk: NonNull<u8>, bytes: usize) {
        let Ok(layout) = Layout::from_size_align(bytes, CHUNK_ALIGN) else {
            return; // never: `chunk` succeeded with this size
        };
        // SAFETY: `chunk` came from `vrealloc_node_align` in `chunk`, the
        // allocator `Vmalloc` calls (so `Vmalloc::free` frees it), and
        // nothing uses it any more (the caller's contract).
        unsafe { Vmalloc::free(chunk, layout) };
    }
}

pub(crate) type Store = store::Store<KernelAlloc>;
pub(crate) type Writer = store::Writer<KernelAlloc>;

/// The shared part of the store, set in `init` before the device exists and
/// freed in `drop` after it is gone. Null otherwise.
static STORE: AtomicPtr<Store> = AtomicPtr::new(ptr::null_mut());

global_lock! {
    // SAFETY: `install` calls `WRITER.init()` once, from `KvModule::init`,
    // before the device exists and so before any other use.
    unsafe(uninit) static WRITER: SpinLock<Option<Writer>> = None;
}

/// Allocates what the store needs whatever it holds: buckets, the block
/// directory, the per-CPU counters, the deadline heap. Items take chunks as
/// they come ([`with_writer`]).
pub(crate) fn new_store(buckets: u32, max_items: u32, policy: Policy) -> Result<(Store, Writer)> {
    // SAFETY: `get_random_u64` has no preconditions; it may be called from
    // process context at any time.
    let seed = unsafe { [bindings::get_random_u64(), bindings::get_random_u64()] };
    let cpus = kernel::cpu::nr_cpu_ids();
    Store::new(buckets, max_items, policy, cpus, seed).map_err(|e| {
        match e {
            store::ConfigError::BucketsNoMemory => {
                pr_err!("buckets={buckets}: cannot allocate the bucket array\n")
            }
            store::ConfigError::ItemsNoMemory => {
                pr_err!("max_items={max_items}: cannot allocate that many items\n")
            }
            // The caller has checked both ranges.
            store::ConfigError::Buckets | store::ConfigError::MaxItems => {}
        }
        EINVAL
    })
}

/// Makes `store` and `writer` the loaded store. Called once, from
/// `KvModule::init`, before the device is registered.
pub(crate) fn install(store: Store, writer: Writer) -> Result {
    let store = KBox::new(store, GFP_KERNEL)?;
    // SAFETY: Called once, here, before anything else touches `WRITER`.
    unsafe { WRITER.init() };
    *WRITER.lock() = Some(writer);
    // Release: pairs with the Acquire load in `shared`.
    STORE.store(KBox::into_raw(store), Ordering::Release);
    Ok(())
}

/// The shared store, for an ioctl.
pub(crate) fn shared() -> Result<&'static Store> {
    // Acquire: pairs with the Release store in `install`, so the store's
    // contents are visible.
    let store = STORE.load(Ordering::Acquire);
    // SAFETY: `STORE` is null or points to the `KBox` leaked in `install`,
    // which `free_store` frees only after the device is deregistered. Every
    // ioctl runs on an open file, which holds a reference on this module
    // (the VFS takes it through `fops->owner`), so the module's `drop`
    // cannot run while an ioctl does: the reference lives as long as any
    // caller of this function.
    unsafe { store.as_ref() }.ok_or(ENODEV)
}

/// Frees the store (module exit, or a failed init), once nothing can reach it.
pub(crate) fn free_store() {
    // Taken out under the lock, dropped after it: freeing a vmalloc'ed
    // array may sleep.
    let writer = WRITER.lock().take();
    drop(writer);
    let store = STORE.swap(ptr::null_mut(), Ordering::AcqRel);
    if !store.is_null() {
        // SAFETY: A non-null `STORE` came from `KBox::into_raw` in
        // `install`, and the swap above makes this its only release. The
        // device is gone and no file is open, so no reference from `shared`
        // is live.
        drop(unsafe { KBox::from_raw(store) });
    }
}

/// The clock of every expiry, in nanoseconds: `CLOCK_BOOTTIME_COARSE`, the
/// timekeeper's reading at the last tick plus the time spent suspended. It
/// never goes back, setting the date does not move it, and it advances once
/// a tick (every 1 to 10 ms, `CONFIG_HZ`). A read is a few loads, where
/// `ktime_get` reads the clocksource; unlike `jiffies`, it does not fall
/// behind when a virtual machine loses ticks.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: `ktime_get_coarse_with_offset` only reads the timekeeper under
    // its sequence count, from any context but NMI; `TK_OFFS_BOOT` is one of
    // the offsets it knows. No expiry runs while timekeeping is suspended.
    let now = unsafe { bindings::ktime_get_coarse_with_offset(bindings::tk_offsets_TK_OFFS_BOOT) };
    // Never negative: it counts from boot.
    u64::try_from(now).unwrap_or(0)
}

/// The tick (`jiffies_64`) at which [`WRITER_CLOCK_NS`] was read. Both are
/// used only under [`WRITER`], which orders every access; they are atomics
/// only to be shareable statics.
static WRITER_CLOCK_TICK: AtomicU64 = AtomicU64::new(0);
static WRITER_CLOCK_NS: AtomicU64 = AtomicU64::new(0);

/// [`now_ns`] for the writer, under [`WRITER`]: a writer that reads the
/// clock again within the same tick reuses the reading it made, one load of
/// `jiffies_64` and a compare instead of a read of the timekeeper. The coarse
/// clock itself advances only at ticks, so this lags it by at most the tick
/// in which the timekeeper's update comes after `jiffies_64`'s, and, like
/// it, never goes back.
fn writer_now_ns() -> u64 {
    // SAFETY: `jiffies_64` is a kernel global that is always there; on a
    // 64-bit kernel an aligned 64-bit load of it is atomic, and a volatile
    // read keeps the compiler from caching it, as `get_jiffies_64` does.
    let tick = unsafe { ptr::read_volatile(&raw const bindings::jiffies_64) };
    if WRITER_CLOCK_TICK.load(Ordering::Relaxed) == tick {
        return WRITER_CLOCK_NS.load(Ordering::Relaxed);
    }
    let now = now_ns();
    WRITER_CLOCK_TICK.store(tick, Ordering::Relaxed);
    WRITER_CLOCK_NS.store(now, Ordering::Relaxed);
    now
}

/// The clock for one operation of the writer, under [`WRITER`]: read once,
/// and only if needed. Its type is the function item, not a pointer, so the
/// compiler calls it directly.
pub(crate) fn clock() -> store::Clock<impl Fn() -> u64> {
    store::Clock::new(writer_now_ns)
}

/// The errno of a store error.
pub(crate) fn store_error(err: store::Error) -> Error {
    match err {
        store::Error::NotFound => ENOENT,
        store::Error::Exists | store::Error::VersionChanged => EEXIST,
        store::Error::NotANumber => EINVAL,
        store::Error::Overflow => EOVERFLOW,
        store::Error::Full => ENOSPC,
        store::Error::BadKeyLen | store::Error::BadValueLen | store::Error::BadBucket => EINVAL,
        // `NeedChunk`, `NeedLinks` and `NeedHeap` never leave `with_writer_growing`,
        // which answers them.
        store::Error::NoMemory
        | store::Error::NeedChunk(_)
        | store::Error::NeedLinks(_)
        | store::Error::NeedHeap(_) => {
            ENOMEM
        }
    }
}

/// What a lock-free reader does when the bucket it reads has a write in
/// progress (`table.rs`, "Why a lock-free reader never sees a torn or freed
/// item"). Where [`WRITER`] is a true spinlock, the writer holds it with
/// preemption off and finishes its section soon: spin. On PREEMPT_RT it is a
/// sleeping lock and the writer may have been preempted inside its section,
/// by this very reader if it runs at a higher priority; spinning could then
/// last until the scheduler throttles the reader. Taking the lock instead
/// blocks the reader and boosts the writer (priority inheritance) until it
/// has left its section, as the kernel's `seqcount_spinlock_t` does on RT.
#[inline(always)]
pub(crate) fn wait_for_writer() {
    #[cfg(CONFIG_PREEMPT_RT)]
    drop(WRITER.lock());
    #[cfg(not(CONFIG_PREEMPT_RT))]
    core::hint::spin_loop();
}

/// The store's counters and parameters at one instant, under [`WRITER`]:
/// what the stat ioctl answers and every sysfs file shows.
pub(crate) fn usage() -> Result<KvUsageStat> {
    let store = shared()?;
    with_writer(|writer| Ok(store.usage(writer)))
}

/// Runs `op`, which never needs memory (a del, a relink, a dump), on the
/// writer under [`WRITER`].
pub(crate) fn with_writer<T>(op: impl FnOnce(&mut Writer) -> Result<T, store::Error>) -> Result<T> {
    let mut guard = WRITER.lock();
    // The writer exists from before the device is registered until after it
    // is removed, so `None` is unreachable; answer ENODEV rather than panic.
    let writer = guard.as_mut().ok_or(ENODEV)?;
    op(writer).map_err(store_error)
}

/// Runs `op`, which may need a chunk (a put), on the writer under
/// [`WRITER`]. An `op` that needs a chunk
/// answers [`store::Error::NeedChunk`] having changed nothing: the chunk is
/// allocated without the lock (vmalloc may sleep), handed to the writer,
/// and `op` runs again. Each round either runs `op` to its end or attaches
/// a block (a chunk the writer no longer needs, because another put made
/// room meanwhile, is freed), and the directory's blocks are finite, so
/// this ends.
pub(crate) fn with_writer_growing<T>(
    mut op: impl FnMut(&mut Writer) -> Result<T, store::Error>,
) -> Result<T> {
    loop {
        let need = {
            let mut guard = WRITER.lock();
            // The writer exists from before the device is registered until
            // after it is removed, so `None` is unreachable; answer ENODEV
            // rather than panic.
            let writer = guard.as_mut().ok_or(ENODEV)?;
            match op(writer) {
                Err(
                    need @ (store::Error::NeedChunk(_)
                    | store::Error::NeedLinks(_)
                    | store::Error::NeedHeap(_)),
                ) => need,
                done => return done.map_err(store_error),
            }
        };
        match need {
            store::Error::NeedLinks(len) => add_links(len as usize)?,
            store::Error::NeedHeap(places) => add_heap(places as usize)?,
            store::Error::NeedChunk(stride) => add_chunk(stride as usize)?,
            _ => return Err(ENOMEM),
        }
    }
}

/// Allocates `len` links for the policy and hands them to the writer; frees
/// the array it gives back (its old one, or these if it no longer needs
/// them) without the lock.
#[inline(never)]
fn add_links(len: usize) -> Result {
    use store::Alloc;
    let links = KernelAlloc::vec(len, Links::new).ok_or(ENOMEM)?;
    let unused = match WRITER.lock().as_mut() {
        Some(writer) => writer.add_links(links),
        None => links,
    };
    drop(unused);
    Ok(())
}

/// Allocates `places` for the deadline heap and hands them to the writer;
/// frees the array it gives back without the lock.
#[inline(never)]
fn add_heap(places: usize) -> Result {
    use store::Alloc;
    let heap = KernelAlloc::vec(places, || crate::table::NIL).ok_or(ENOMEM)?;
    let unused = match WRITER.lock().as_mut() {
        Some(writer) => writer.add_heap(heap),
        None => heap,
    };
    drop(unused);
    Ok(())
}

/// Allocates a chunk for class `stride` and hands it to the writer.
#[inline(never)]
fn add_chunk(stride: usize) -> Result {
    use store::Alloc;
    let store = shared()?;
    let bytes = store.chunk_bytes(stride);
    let chunk = KernelAlloc::chunk(bytes).ok_or(ENOMEM)?;
    let unused = match WRITER.lock().as_mut() {
        Some(writer) => writer.add_chunk(store, stride, chunk),
        None => Some(chunk),
    };
    if let Some(unused) = unused {
        // SAFETY: From `chunk(bytes)` above, never attached: nothing else
        // has seen it.
        unsafe { KernelAlloc::free_chunk(unused, bytes) };
    }
    Ok(())
}

/// Bytes of chunks that clears detached and [`free_retired`] has not freed
/// yet.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Above this many pending bytes, a clear first waits for the pending
/// frees: clears in a loop then hold no more than this of the kernel's
/// memory, while a single clear returns at once.
const MAX_PENDING: usize = 16 << 20;

/// Chunks a clear detached, freed by [`free_retired`] once no lock-free
/// reader can be inside them.
#[repr(C)]
struct Retired {
    /// First, so that the callback finds the whole from it.
    head: bindings::callback_head,
    chunks: KVVec<(NonNull<u8>, usize)>,
}

/// Frees a clear's chunks: the RCU Tasks callback [`clear`] queues.
///
/// # Safety
///
/// `head` is the `head` of a [`Retired`] that `clear` turned into a raw
/// pointer with `KBox::into_raw` and queued with `call_rcu_tasks`, which
/// calls this once, after a grace period.
unsafe extern "C" fn free_retired(head: *mut bindings::callback_head) {
    use store::Alloc;
    // SAFETY: `head` is the first field of a `repr(C)` `Retired` from
    // `KBox::into_raw` (the caller's contract), so the cast gives that
    // pointer back, and this is its only release.
    let retired = unsafe { KBox::from_raw(head.cast::<Retired>()) };
    for &(chunk, bytes) in retired.chunks.iter() {
        // SAFETY: Detached by a clear from a block `add_chunk` attached (so
        // from `KernelAlloc::chunk(bytes)`), and an RCU Tasks grace period
        // has passed since: no reader is inside it.
        unsafe { KernelAlloc::free_chunk(chunk, bytes) };
        // Relaxed: a count; the clear that added these bytes subtracts
        // nothing, so it never goes below 0.
        PENDING.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Removes every item and gives the chunks back. A lock-free reader may
/// still be inside a chunk the clear detached: the chunks are freed by an
/// RCU Tasks callback ([`free_retired`]), which runs only after every task
/// has switched voluntarily, run in user mode or idled since the clear. A
/// lock-free read never sleeps or yields and holds no record across the
/// one wait it may make (`wait_for_writer`, on PREEMPT_RT), so every read
/// that could have reached a detached chunk has ended by then (`table.rs`,
/// point 1). The clear does not wait for it, unless earlier clears' chunks
/// awaiting it exceed [`MAX_PENDING`]: the store's `memory` drops at once,
/// the kernel's a grace period later. Where the list for the chunks cannot
/// be allocated, ENOMEM and nothing cleared.
pub(crate) fn clear() -> Result {
    let store = shared()?;
    if PENDING.load(Ordering::Relaxed) > MAX_PENDING {
        wait_for_retired();
    }
    let chunks = KVVec::with_capacity(store.blocks() as usize, GFP_KERNEL | __GFP_NOWARN)?;
    // SAFETY: `callback_head` is two pointers, valid all zero (null); the
    // RCU core initializes it when the callback is queued.
    let head = unsafe { core::mem::zeroed() };
    let mut retired = KBox::new(Retired { head, chunks }, GFP_KERNEL | __GFP_NOWARN)?;
    // No chunk is being mapped from the detach to the queueing of the
    // chunks' free (mapping.rs).
    let _no_maps = crate::mapping::exclude_maps();
    let (links, heap) = {
        let mut guard = WRITER.lock();
        let writer = guard.as_mut().ok_or(ENODEV)?;
        writer.clear(store, |chunk, bytes| {
            // At most one chunk per block: within the capacity. A chunk
            // that did not fit would be leaked, never freed early.
            let _ = retired.chunks.push_within_capacity((chunk, bytes));
        })
    };
    // Without the lock: a reader's mapping of a chunk keeps its pages, which
    // must hold none of the cleared items.
    for &(chunk, bytes) in retired.chunks.iter() {
        crate::mapping::scrub_chunk(chunk, bytes);
    }
    // The policy's links and the deadline heap: no reader touches them,
    // freed at once, without the lock.
    drop(links);
    drop(heap);
    if retired.chunks.is_empty() {
        return Ok(());
    }
    let bytes = retired.chunks.iter().fold(0usize, |n, &(_, b)| n.saturating_add(b));
    PENDING.fetch_add(bytes, Ordering::Relaxed);
    let retired = KBox::into_raw(retired);
    // SAFETY: `retired` is a live `Retired` from `KBox::into_raw`, not
    // queued before, so its `head` is free for the RCU core until it calls
    // `free_retired` with it, which then frees the whole (its contract).
    // Module exit waits for every queued callback (`wait_for_retired`).
    unsafe { bindings::call_rcu_tasks(&raw mut (*retired).head, Some(free_retired)) };
    Ok(())
}

/// Waits until every clear's chunks are freed ([`free_retired`] is code of
/// this module): at exit, after the store is freed.
pub(crate) fn wait_for_retired() {
    // SAFETY: `rcu_barrier_tasks` may sleep; module exit runs in process
    // context with no lock held.
    unsafe { bindings::rcu_barrier_tasks() };
}
