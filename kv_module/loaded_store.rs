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

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use kernel::{alloc::flags::__GFP_NOWARN, bindings, global_lock, prelude::*};

use crate::abi::KvUsageStat;
use crate::policy::Policy;
use crate::store;

/// The store's arrays in `KVVec`s, so large sizes fall back to vmalloc.
pub(crate) struct KernelAlloc;

impl store::Alloc for KernelAlloc {
    type Vec<T> = KVVec<T>;

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

/// Allocates the whole store up front (like a preallocated BPF hash map), so
/// no operation ever allocates and none can fail for lack of memory.
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

/// Runs `op` on the writer under [`WRITER`].
pub(crate) fn with_writer<T>(op: impl FnOnce(&mut Writer) -> Result<T, store::Error>) -> Result<T> {
    let mut guard = WRITER.lock();
    // The writer exists from before the device is registered until after it
    // is removed, so `None` is unreachable; answer ENODEV rather than panic.
    let writer = guard.as_mut().ok_or(ENODEV)?;
    op(writer).map_err(store_error)
}
