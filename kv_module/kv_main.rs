// SPDX-License-Identifier: GPL-2.0
//! kv.ko: an in-memory key-value store behind the misc device `/dev/kvstore`.
//!
//! This file is the thin kernel shell: module parameters, the misc device,
//! user copies and locking. The table (`table.rs`), the eviction policies
//! (`list.rs`, `lru.rs`, `sieve.rs`), the store composing them (`store.rs`)
//! and the userspace ABI (`abi.rs`) are plain `no_std` Rust that the host
//! crate `kv_module` also compiles, so they are unit-, property- and
//! thread-tested there.
//!
//! # Locking
//!
//! The store is split in two (see `store.rs`): the shared [`store::Store`],
//! reached through [`STORE`] without a lock, and the one [`store::Writer`],
//! behind the spinlock [`WRITER`]. Gets look up without a lock, whatever the
//! policy, and write only their CPU's counters (and, for SIEVE, a visited
//! bit not yet set); `table.rs` says why they never see a torn item. Puts,
//! dels and stat take [`WRITER`], and so does an exact-LRU get, but only for
//! the relink once its value has reached the caller.
//! It is a spinlock because write sections of the bucket sequence counters
//! must not be preempted (a reader would spin on the preempted writer), as
//! with the kernel's `seqcount_t`; everything under it is bounded and never
//! sleeps. User copies happen outside every lock: the request is copied in
//! before and the answer copied out after.

use core::mem::{offset_of, size_of, MaybeUninit};

use kernel::{
    alloc::flags::__GFP_NOWARN,
    bindings,
    fs::{file, File},
    global_lock,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
    time::{delay::fsleep, Delta},
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
};

// Shared with the host crate `kv_module`, where these items are its public API;
// inside the module some are unused and none is reachable from outside.
#[allow(unreachable_pub, dead_code)]
mod abi;
#[allow(unreachable_pub, dead_code)]
mod list;
#[allow(unreachable_pub, dead_code)]
mod lru;
mod owned_misc;
#[allow(unreachable_pub, dead_code)]
mod sieve;
#[allow(unreachable_pub, dead_code)]
mod store;
#[allow(unreachable_pub, dead_code)]
mod table;

// Put with flags, batch, dump and clear.
mod ops_ext;

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use abi::{KvKey, KvPair, KvUsageStat};
use kernel::cpu::CpuId;
use owned_misc::OwnedMiscDevice;
use store::{Key, ValueOut};

module! {
    type: KvModule,
    name: "kv",
    authors: ["kvstore developers"],
    description: "In-memory key-value store with optional LRU or SIEVE eviction (/dev/kvstore)",
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
            description: "Eviction when full: 0 none (ENOSPC), 1 exact LRU, 2 SIEVE",
        },
        test_release_delay_ms: u32 {
            default: 0,
            description: "Test only: sleep this long (0..=10000 ms) at the end of every close, to hold the close in flight",
        },
    },
}

/// The store's arrays in `KVVec`s, so large sizes fall back to vmalloc.
struct KernelAlloc;

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

type Store = store::Store<KernelAlloc>;
type Writer = store::Writer<KernelAlloc>;

/// The shared part of the store, set in `init` before the device exists and
/// freed in `drop` after it is gone. Null otherwise.
static STORE: AtomicPtr<Store> = AtomicPtr::new(ptr::null_mut());

global_lock! {
    // SAFETY: `KvModule::init` calls `WRITER.init()` once, before the device
    // exists and so before any other use.
    unsafe(uninit) static WRITER: SpinLock<Option<Writer>> = None;
}

/// The shared store, for an ioctl.
fn shared() -> Result<&'static Store> {
    // Acquire: pairs with the Release store in `init`, so the store's
    // contents are visible.
    let store = STORE.load(Ordering::Acquire);
    // SAFETY: `STORE` is null or points to the `KBox` leaked in `init`,
    // which `drop` frees only after deregistering the device. Every ioctl
    // runs on an open file, which holds a reference on this module (the VFS
    // takes it through `fops->owner`), so the module's `drop` cannot run
    // while an ioctl does: the
    // reference lives as long as any caller of this function.
    unsafe { store.as_ref() }.ok_or(ENODEV)
}

/// Frees the store (module exit, or a failed init), once nothing can reach it.
fn free_store() {
    // Taken out under the lock, dropped after it: freeing a vmalloc'ed
    // array may sleep.
    let writer = WRITER.lock().take();
    drop(writer);
    let store = STORE.swap(ptr::null_mut(), Ordering::AcqRel);
    if !store.is_null() {
        // SAFETY: A non-null `STORE` came from `KBox::into_raw` in `init`,
        // and the swap above makes this its only release. The device is gone
        // and no file is open, so no reference from `shared` is live.
        drop(unsafe { KBox::from_raw(store) });
    }
}

// SAFETY: The ABI structs are `repr(C)` and consist only of integers and
// integer arrays; `abi.rs` asserts their sizes, which shows there is no
// padding. Every bit pattern is therefore a valid value.
unsafe impl FromBytes for KvKey {}
// SAFETY: As for `FromBytes` above.
unsafe impl FromBytes for KvPair {}
// SAFETY: `repr(C)`, integers only and no padding (sizes asserted in
// `abi.rs`), so every byte of a value is initialised.
unsafe impl AsBytes for KvUsageStat {}

/// Checks the module parameters; on a bad one logs which and its range.
fn checked_params() -> Result<(u32, u32, store::PolicyKind)> {
    let buckets = *module_parameters::buckets.value();
    let max_items = *module_parameters::max_items.value();
    let use_lru = *module_parameters::use_lru.value();
    if !(1..=store::MAX_BUCKETS).contains(&buckets) {
        pr_err!(
            "buckets={buckets} is out of range 1..={}\n",
            store::MAX_BUCKETS
        );
        return Err(EINVAL);
    }
    if !(1..=store::MAX_ITEMS).contains(&max_items) {
        pr_err!(
            "max_items={max_items} is out of range 1..={}\n",
            store::MAX_ITEMS
        );
        return Err(EINVAL);
    }
    let Some(policy) = store::PolicyKind::from_u32(use_lru) else {
        pr_err!("use_lru={use_lru} must be 0 (none), 1 (LRU) or 2 (SIEVE)\n");
        return Err(EINVAL);
    };
    let delay = *module_parameters::test_release_delay_ms.value();
    if delay > MAX_RELEASE_DELAY_MS {
        pr_err!("test_release_delay_ms={delay} is out of range 0..={MAX_RELEASE_DELAY_MS}\n");
        return Err(EINVAL);
    }
    // In u64 the product cannot overflow.
    if u64::from(max_items) > 2 * u64::from(buckets) {
        pr_warn!(
            "load factor max_items/buckets = {max_items}/{buckets} is above 2: expect long hash chains\n"
        );
    }
    Ok((buckets, max_items, policy))
}

/// Allocates the whole store up front (like a preallocated BPF hash map), so
/// no operation ever allocates and none can fail for lack of memory.
fn new_store(buckets: u32, max_items: u32, policy: store::PolicyKind) -> Result<(Store, Writer)> {
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
            // checked_params has checked both ranges.
            store::ConfigError::Buckets | store::ConfigError::MaxItems => {}
        }
        EINVAL
    })
}

/// Upper bound of the test-only parameter `test_release_delay_ms`.
const MAX_RELEASE_DELAY_MS: u32 = 10_000;

struct KvModule {
    miscdev: Option<OwnedMiscDevice<KvDevice>>,
}

impl kernel::Module for KvModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let (buckets, max_items, policy) = checked_params()?;
        let (store, writer) = new_store(buckets, max_items, policy)?;
        let store = KBox::new(store, GFP_KERNEL)?;

        // SAFETY: Called once, here, before anything else touches `WRITER`.
        unsafe { WRITER.init() };
        *WRITER.lock() = Some(writer);
        // Release: pairs with the Acquire load in `shared`.
        STORE.store(KBox::into_raw(store), Ordering::Release);

        // The device's file operations name this module as owner, so the VFS
        // pins kv.ko while any file is open (see owned_misc.rs).
        let miscdev = OwnedMiscDevice::register(c"kvstore", module).inspect_err(|_| {
            // Free the store now: nothing can reach it without the device.
            free_store();
        })?;

        pr_info!(
            "loaded: buckets={buckets} max_items={max_items} use_lru={}\n",
            policy as u32
        );
        Ok(KvModule {
            miscdev: Some(miscdev),
        })
    }
}

impl Drop for KvModule {
    fn drop(&mut self) {
        // Remove the device first so no new file can reach the store, then
        // free the store. No file is open: through `fops->owner` each one
        // holds a module reference until the VFS is done with it.
        drop(self.miscdev.take());
        free_store();
        pr_info!("unloaded\n");
    }
}

/// The open-file side of `/dev/kvstore`. All files share the store, so a
/// file carries no state of its own.
struct KvDevice;

#[vtable]
impl MiscDevice for KvDevice {
    type Ptr = ();

    // Neither `open` nor `release` touches the module's reference count: the
    // VFS takes it before `open` and drops it after `release` has returned,
    // through `fops->owner` (owned_misc.rs).
    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<()> {
        Ok(())
    }

    fn release(_device: (), _file: &File) {
        let delay = *module_parameters::test_release_delay_ms.value();
        if delay > 0 {
            // Test only (tests/torture): keeps a close in flight so the suite
            // can show `rmmod` refusing until it is done. Bounded at load.
            fsleep(Delta::from_millis(i64::from(delay)));
        }
    }

    // The ABI has no pointers and the same layout for 32- and 64-bit callers,
    // so 32-bit callers go through `compat_ptr_ioctl`, which the misc device
    // installs when only `ioctl` is given: it converts the pointer argument
    // with `compat_ptr` and calls this same function.
    fn ioctl(_device: (), file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let arg = UserPtr::from_addr(arg);
        match cmd {
            abi::KV_IOC_PUT => {
                require_write(file)?;
                put(arg)?
            }
            abi::KV_IOC_GET => get(arg)?,
            abi::KV_IOC_DEL => {
                require_write(file)?;
                del(arg)?
            }
            abi::KV_IOC_STAT => stat(arg)?,
            abi::KV_IOC_PUT_FLAGS => {
                require_write(file)?;
                ops_ext::put_flags(arg)?
            }
            // A batch's puts and dels answer EBADF one by one on a
            // read-only file; its gets still run.
            abi::KV_IOC_BATCH => return ops_ext::batch(arg, require_write(file).is_ok()),
            abi::KV_IOC_DUMP => ops_ext::dump(arg)?,
            abi::KV_IOC_CLEAR => {
                require_write(file)?;
                ops_ext::clear()?
            }
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

/// Every ioctl that changes the store calls this first: a file opened
/// read-only (`O_RDONLY`) may only read, so device permissions can hand out
/// read-only access. EBADF, as `write(2)` answers on such a file.
fn require_write(file: &File) -> Result {
    match file.flags() & file::flags::O_ACCMODE {
        file::flags::O_WRONLY | file::flags::O_RDWR => Ok(()),
        _ => Err(EBADF),
    }
}

fn store_error(err: store::Error) -> Error {
    match err {
        store::Error::NotFound => ENOENT,
        store::Error::Exists => EEXIST,
        store::Error::Full => ENOSPC,
        store::Error::BadKeyLen | store::Error::BadValueLen | store::Error::BadBucket => EINVAL,
    }
}

/// Runs `op` on the writer under [`WRITER`].
fn with_writer<T>(op: impl FnOnce(&mut Writer) -> Result<T, store::Error>) -> Result<T> {
    let mut guard = WRITER.lock();
    // The writer exists from before the device is registered until after it
    // is removed, so `None` is unreachable; answer ENODEV rather than panic.
    let writer = guard.as_mut().ok_or(ENODEV)?;
    op(writer).map_err(store_error)
}

/// The first `len` bytes of `data`, or EINVAL when `len` exceeds the array.
/// The store checks the lower bounds (a key is at least one byte).
fn prefix(data: &[u8], len: u32) -> Result<&[u8]> {
    let len = usize::try_from(len).map_err(|_| EINVAL)?;
    data.get(..len).ok_or(EINVAL)
}

/// Copies a `T` from userspace at `arg` into `slot` and returns it there:
/// [`UserSliceReader::read`] without the move out of its buffer (requests
/// are up to 340 bytes, and copying them is much of an operation's cost).
///
/// [`UserSliceReader::read`]: kernel::uaccess::UserSliceReader::read
#[inline]
fn read_in_place<T: FromBytes>(arg: UserPtr, slot: &mut MaybeUninit<T>) -> Result<&T> {
    // SAFETY: `slot` is valid for writes of `size_of::<T>()` bytes, and
    // `_copy_from_user` checks the user range itself. The size is a
    // compile-time constant, so, like `UserSliceReader::read` and the C
    // side for constant sizes, this skips `check_object_size`.
    let left = unsafe {
        bindings::_copy_from_user(slot.as_mut_ptr().cast(), arg.as_const_ptr(), size_of::<T>())
    };
    if left != 0 {
        return Err(EFAULT);
    }
    // SAFETY: The copy succeeded, so all `size_of::<T>()` bytes of `slot`
    // are initialised, and `T: FromBytes` makes every byte pattern valid.
    Ok(unsafe { slot.assume_init_ref() })
}

/// Copies `src` to userspace at `dst`: [`UserSliceWriter::write_slice`]
/// with one call instead of four (a third of a get's own instructions went
/// to that chain). The callers' `dst` points into a user struct that holds
/// at least `src.len()` bytes there (the ABI sizes the struct, not us).
///
/// [`UserSliceWriter::write_slice`]: kernel::uaccess::UserSliceWriter::write_slice
#[inline]
fn write_to_user(dst: UserPtr, src: &[u8]) -> Result {
    // SAFETY: `src` is a live `&[u8]`, so its `src.len()` bytes are valid
    // for reads, which is all `_copy_to_user` needs; it checks the user
    // range itself. The hardened-usercopy check that `copy_to_user` adds for
    // sizes not known at compile time verifies that the kernel range lies in
    // one object, which the slice's type already guarantees.
    let left = unsafe { bindings::_copy_to_user(dst.as_mut_ptr(), src.as_ptr().cast(), src.len()) };
    if left != 0 {
        return Err(EFAULT);
    }
    Ok(())
}

fn put(arg: UserPtr) -> Result {
    let mut slot = MaybeUninit::uninit();
    let pair: &KvPair = read_in_place(arg, &mut slot)?;
    let key = prefix(&pair.key.data, pair.key.len)?;
    let value = prefix(&pair.value.data, pair.value.len)?;
    put_if(key, value, store::Condition::Always)
}

/// A put under `cond` (the key checked and hashed before taking the lock).
fn put_if(key: &[u8], value: &[u8], cond: store::Condition) -> Result {
    let store = shared()?;
    let key = store.key(key).map_err(store_error)?;
    with_writer(|writer| writer.put_if(store, &key, value, cond)).map(drop)
}

fn get(arg: UserPtr) -> Result {
    let store = shared()?;
    let mut slot = MaybeUninit::uninit();
    let key = key_from_user(store, arg, &mut slot)?;
    get_to_user(store, key, arg.wrapping_byte_add(offset_of!(KvPair, value)))
}

/// Copies the `struct kv_key` at `arg` straight into a [`Key`] in `slot`,
/// then checks and hashes it there (EINVAL for a bad length).
#[inline(always)]
fn key_from_user<'a>(
    store: &Store,
    arg: UserPtr,
    slot: &'a mut MaybeUninit<Key>,
) -> Result<&'a Key> {
    // SAFETY: `read_in_place` returns `Ok` only after copying every byte of
    // its slot from userspace.
    let key = unsafe { Key::fill_uninit(slot, |abi| read_in_place(arg, abi).map(drop)) }?;
    store.seal(key).map_err(store_error)?;
    Ok(key)
}

/// Looks `key` up and answers into the caller's `struct kv_value` at
/// `value_ptr`: `len` and the value's `len` bytes, leaving the rest of the
/// caller's buffer as it was. The lookup takes no lock, whatever the policy
/// (`table.rs` says why it is never torn), and the copy out is outside every
/// lock. Only a value that has reached the caller counts as a use: then the
/// hit is counted, SIEVE's bit set and, with exact LRU, the item relinked
/// as the newest under [`WRITER`]; a get that fails changes nothing.
#[inline(always)]
fn get_to_user(store: &'static Store, key: &Key, value_ptr: UserPtr) -> Result {
    // A stale CPU number (after a migration) only picks another CPU's
    // counters, which are atomic.
    let cpu = CpuId::current().as_u32();
    let mut value = ValueOut::new();
    let found = store.get(key, cpu, &mut value).map_err(store_error)?;
    write_to_user(value_ptr, value.bytes())?;
    if store.hit(cpu, &found) {
        touch(store, key)?;
    }
    Ok(())
}

/// Exact LRU's share of a delivered get: the relink, under [`WRITER`].
/// Out of line, so the lock-free policies' gets stay short.
#[inline(never)]
fn touch(store: &Store, key: &Key) -> Result {
    with_writer(|writer| {
        writer.touch(store, key);
        Ok(())
    })
}

fn del(arg: UserPtr) -> Result {
    let store = shared()?;
    let mut slot = MaybeUninit::uninit();
    let key = key_from_user(store, arg, &mut slot)?;
    with_writer(|writer| writer.del(store, key))
}

fn stat(arg: UserPtr) -> Result {
    let store = shared()?;
    let usage = with_writer(|writer| Ok(store.usage(writer)))?;
    UserSlice::new(arg, size_of::<KvUsageStat>())
        .writer()
        .write(&usage)
}
