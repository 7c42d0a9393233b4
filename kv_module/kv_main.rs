// SPDX-License-Identifier: GPL-2.0
//! kv.ko: an in-memory key-value store behind the misc device `/dev/kvstore`.
//!
//! This file is the thin kernel shell: module parameters, the misc device,
//! user copies and locking. The table and its LRU list live in `store.rs` and
//! the userspace ABI in `abi.rs`; both are plain `no_std` Rust that the host
//! crate `kv_core` also compiles, so they are unit- and property-tested there.
//!
//! # Locking
//!
//! One mutex, [`STORE`], guards the whole table. Every operation touches
//! global state besides its own bucket (the item count, the LRU list when
//! eviction is on, the counters), so one lock makes each ioctl atomic with
//! respect to every other without lock-ordering rules. User copies happen
//! outside the lock: the request is copied in before locking and the answer
//! copied out after unlocking, so a fault in user memory never runs under the
//! lock. The critical sections are short and bounded (at most one key compare
//! per chained item and a 256-byte copy). A faster design (per-bucket locks,
//! an LRU that takes no write lock on every get) can replace this without
//! changing the ABI.

use core::mem::{offset_of, size_of};

use kernel::{
    alloc::flags::__GFP_NOWARN,
    bindings,
    fs::File,
    global_lock,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
};

// Shared with the host crate `kv_core`, where these items are its public API;
// inside the module some are unused and none is reachable from outside.
#[allow(unreachable_pub, dead_code)]
mod abi;
#[allow(unreachable_pub, dead_code)]
mod store;
// Put with flags, batch, dump, clear and stat's added counters.
mod ops_ext;

use abi::{KvKey, KvPair, KvUsageStat, KvValue};

module! {
    type: KvModule,
    name: "kv",
    authors: ["kvstore developers"],
    description: "In-memory key-value store with optional LRU eviction (/dev/kvstore)",
    license: "GPL",
    params: {
        buckets: u32 {
            default: 128,
            description: "Number of hash buckets, 1..=1048576",
        },
        max_items: u32 {
            default: 256,
            description: "Capacity in items, 1..=1048576 (all preallocated at load)",
        },
        use_lru: u32 {
            default: 0,
            description: "1: a put into a full store evicts the least recently used item; 0: it fails with ENOSPC",
        },
    },
}

/// The table as the module holds it: bucket heads and slots in `KVVec`s, so
/// large sizes fall back to vmalloc.
type Table = store::Store<KVVec<u32>, KVVec<store::Slot>>;

global_lock! {
    // SAFETY: `KvModule::init` calls `STORE.init()` once, before the device
    // exists and so before any other use.
    unsafe(uninit) static STORE: Mutex<Option<Table>> = None;
}

// SAFETY: The ABI structs are `repr(C)` and consist only of integers and
// integer arrays; `abi.rs` asserts their sizes, which shows there is no
// padding. Every bit pattern is therefore a valid value.
unsafe impl FromBytes for KvKey {}
// SAFETY: As for `FromBytes` above.
unsafe impl FromBytes for KvPair {}
// SAFETY: `repr(C)`, integers only and no padding (sizes asserted in
// `abi.rs`), so every byte of a value is initialised.
unsafe impl AsBytes for KvValue {}
// SAFETY: As for `KvValue` above.
unsafe impl AsBytes for KvUsageStat {}

/// Checks the module parameters; on a bad one logs which and its range.
fn checked_params() -> Result<(u32, u32, bool)> {
    let buckets = *module_parameters::buckets.value();
    let max_items = *module_parameters::max_items.value();
    let use_lru = *module_parameters::use_lru.value();
    if !(1..=store::MAX_BUCKETS).contains(&buckets) {
        pr_err!("buckets={buckets} is out of range 1..={}\n", store::MAX_BUCKETS);
        return Err(EINVAL);
    }
    if !(1..=store::MAX_ITEMS).contains(&max_items) {
        pr_err!("max_items={max_items} is out of range 1..={}\n", store::MAX_ITEMS);
        return Err(EINVAL);
    }
    if use_lru > 1 {
        pr_err!("use_lru={use_lru} must be 0 or 1\n");
        return Err(EINVAL);
    }
    // In u64 the product cannot overflow.
    if u64::from(max_items) > 2 * u64::from(buckets) {
        pr_warn!(
            "load factor max_items/buckets = {max_items}/{buckets} is above 2: expect long hash chains\n"
        );
    }
    Ok((buckets, max_items, use_lru == 1))
}

/// Allocates the whole table up front (like a preallocated BPF hash map), so
/// no operation ever allocates and none can fail for lack of memory.
fn new_table(buckets: u32, max_items: u32, use_lru: bool) -> Result<Table> {
    // The sizes come from the loader: a failure is reported by our own
    // pr_err, not by the allocator's warning and stack dump.
    let flags = GFP_KERNEL | __GFP_NOWARN;
    // u32 -> usize never truncates on the 64-bit targets Rust-for-Linux supports.
    let heads = KVVec::from_elem(store::NIL, buckets as usize, flags).map_err(|_| {
        pr_err!("buckets={buckets}: cannot allocate the bucket array\n");
        EINVAL
    })?;
    let slots = KVVec::from_elem(store::Slot::EMPTY, max_items as usize, flags).map_err(|_| {
        pr_err!("max_items={max_items}: cannot allocate that many items\n");
        EINVAL
    })?;
    // SAFETY: `get_random_u64` has no preconditions; it may be called from
    // process context at any time.
    let hash_key = unsafe { [bindings::get_random_u64(), bindings::get_random_u64()] };
    store::Store::new(heads, slots, use_lru, hash_key).map_err(|_| EINVAL)
}

struct KvModule {
    miscdev: Option<Pin<KBox<MiscDeviceRegistration<KvDevice>>>>,
}

impl kernel::Module for KvModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let (buckets, max_items, use_lru) = checked_params()?;
        let table = new_table(buckets, max_items, use_lru)?;

        // SAFETY: Called once, here, before anything else touches `STORE`.
        unsafe { STORE.init() };
        *STORE.lock() = Some(table);

        let options = MiscDeviceOptions { name: c"kvstore" };
        let miscdev = KBox::pin_init(MiscDeviceRegistration::register(options), GFP_KERNEL)
            .inspect_err(|_| {
                // Free the table now: nothing can reach it without the device.
                *STORE.lock() = None;
            })?;

        pr_info!(
            "loaded: buckets={buckets} max_items={max_items} use_lru={}\n",
            u32::from(use_lru)
        );
        Ok(KvModule { miscdev: Some(miscdev) })
    }
}

impl Drop for KvModule {
    fn drop(&mut self) {
        // Remove the device first so no new file can reach the table, then
        // free the table. No file is open: each holds a module reference.
        drop(self.miscdev.take());
        *STORE.lock() = None;
        pr_info!("unloaded\n");
    }
}

/// The open-file side of `/dev/kvstore`. All files share [`STORE`], so a
/// file carries no state of its own.
struct KvDevice;

#[vtable]
impl MiscDevice for KvDevice {
    type Ptr = ();

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<()> {
        // The Rust misc device leaves `fops->owner` unset, so the VFS does not
        // pin the module for an open file. Take the reference here instead:
        // `rmmod` then fails with EBUSY while a file is open.
        // SAFETY: `THIS_MODULE` points to this module's `struct module`, which
        // is valid while its code runs. `misc_open` calls us under `misc_mtx`,
        // which `misc_deregister` in module exit also takes, so the module
        // cannot finish unloading during this call; once it has started
        // unloading, `try_module_get` fails.
        if unsafe { bindings::try_module_get(THIS_MODULE.as_ptr()) } {
            Ok(())
        } else {
            Err(ENODEV)
        }
    }

    fn release(_device: (), _file: &File) {
        // Dropping the last reference lets `rmmod` proceed while this call
        // returns: only the few instructions of the return path run after
        // it, the same window every driver that pins itself in `open` has.
        // `fops->owner` would close it; the 7.2 misc device cannot set it.
        // SAFETY: Every open file took one reference in `open`; this is its
        // only release.
        unsafe { bindings::module_put(THIS_MODULE.as_ptr()) };
    }

    // The ABI has no pointers and the same layout for 32- and 64-bit callers,
    // so 32-bit callers go through `compat_ptr_ioctl`, which the misc device
    // installs when only `ioctl` is given: it converts the pointer argument
    // with `compat_ptr` and calls this same function.
    fn ioctl(_device: (), _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let arg = UserPtr::from_addr(arg);
        match cmd {
            abi::KV_IOC_PUT => put(arg)?,
            abi::KV_IOC_GET => get(arg)?,
            abi::KV_IOC_DEL => del(arg)?,
            abi::KV_IOC_STAT => stat(arg)?,
            abi::KV_IOC_PUT_FLAGS => ops_ext::put_flags(arg)?,
            abi::KV_IOC_BATCH => return ops_ext::batch(arg),
            abi::KV_IOC_DUMP => ops_ext::dump(arg)?,
            abi::KV_IOC_CLEAR => ops_ext::clear()?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

fn store_error(err: store::Error) -> Error {
    match err {
        store::Error::NotFound => ENOENT,
        store::Error::Full => ENOSPC,
        store::Error::BadKeyLen | store::Error::BadValueLen => EINVAL,
        store::Error::Exists => EEXIST,
    }
}

/// Runs `op` on the table under the lock.
fn with_table<T>(op: impl FnOnce(&mut Table) -> Result<T, store::Error>) -> Result<T> {
    let mut guard = STORE.lock();
    // The table exists from before the device is registered until after it
    // is removed, so `None` is unreachable; answer ENODEV rather than panic.
    let table = guard.as_mut().ok_or(ENODEV)?;
    op(table).map_err(store_error)
}

/// The first `len` bytes of `data`, or EINVAL when `len` exceeds the array.
/// The store checks the lower bounds (a key is at least one byte).
fn prefix(data: &[u8], len: u32) -> Result<&[u8]> {
    let len = usize::try_from(len).map_err(|_| EINVAL)?;
    data.get(..len).ok_or(EINVAL)
}

fn put(arg: UserPtr) -> Result {
    let pair: KvPair = UserSlice::new(arg, size_of::<KvPair>()).reader().read()?;
    let key = prefix(&pair.key.data, pair.key.len)?;
    let value = prefix(&pair.value.data, pair.value.len)?;
    with_table(|table| table.put(key, value))?;
    ops_ext::count_put();
    Ok(())
}

fn get(arg: UserPtr) -> Result {
    let key: KvKey = UserSlice::new(arg, size_of::<KvKey>()).reader().read()?;
    let key = prefix(&key.data, key.len)?;

    // Copy the value out of the table under the lock, then to userspace after
    // unlocking. The unused tail stays zero: no stale bytes leave the kernel.
    let mut value = KvValue::ZERO;
    with_table(|table| {
        let found = table.get(key)?;
        // The store holds at most KV_MAX_VAL bytes, so both always succeed.
        let dest = value.data.get_mut(..found.len()).ok_or(store::Error::BadValueLen)?;
        dest.copy_from_slice(found);
        value.len = u32::try_from(found.len()).map_err(|_| store::Error::BadValueLen)?;
        Ok(())
    })?;

    let value_ptr = arg.wrapping_byte_add(offset_of!(KvPair, value));
    UserSlice::new(value_ptr, size_of::<KvValue>()).writer().write(&value)
}

fn del(arg: UserPtr) -> Result {
    let key: KvKey = UserSlice::new(arg, size_of::<KvKey>()).reader().read()?;
    let key = prefix(&key.data, key.len)?;
    with_table(|table| table.del(key))?;
    ops_ext::count_delete();
    Ok(())
}

fn stat(arg: UserPtr) -> Result {
    let usage = ops_ext::complete_usage(with_table(|table| Ok(table.usage()))?);
    UserSlice::new(arg, size_of::<KvUsageStat>()).writer().write(&usage)
}
