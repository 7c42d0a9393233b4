// SPDX-License-Identifier: GPL-2.0
//! kv.ko: an in-memory key-value store behind the misc device `/dev/kvstore`.
//!
//! This file is the crate root: the module parameters, load and unload, and
//! the dispatch of each ioctl to its handler (`ioctl.rs`, `dump.rs`). The
//! store they serve and its lock are in `loaded_store.rs`. The table, the
//! eviction policies, the store composing them and the userspace ABI are
//! plain `no_std` Rust that the host crate `kv_module` (`lib.rs`) also
//! compiles, so they are unit-, property- and thread-tested there.
//! `docs/design.md` maps the files.

use kernel::{
    fs::{file, File},
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    mm::virt::VmaNew,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    time::{delay::fsleep, Delta},
    uaccess::UserPtr,
};

// Shared with the host crate `kv_module`, where these items are its public API;
// inside the module some are unused and none is reachable from outside.
#[allow(unreachable_pub, dead_code)]
mod abi;
#[allow(unreachable_pub, dead_code)]
mod expiry;
#[allow(unreachable_pub, dead_code)]
mod pages;
#[allow(unreachable_pub, dead_code)]
mod policy;
#[allow(unreachable_pub, dead_code)]
mod store;
#[allow(unreachable_pub, dead_code)]
mod table;

mod dump;
mod ioctl;
mod loaded_store;
mod mapping;
mod owned_misc;
mod reclaim;
mod sysfs;
mod trace;
mod user_copy;

use ioctl::Access;
use owned_misc::OwnedMiscDevice;
use policy::Policy;

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
            description: "Capacity in items, 1..=1048576 (memory is taken as items arrive)",
        },
        use_lru: u32 {
            default: 0,
            description: "Eviction when full: 0 none (ENOSPC), 1 exact LRU, 2 SIEVE",
        },
        mmap: u32 {
            default: 1,
            description: "1: readers may map the store read-only and get without a system call (they see the hash secrets); 0: mmap is refused",
        },
        test_release_delay_ms: u32 {
            default: 0,
            description: "Test only: sleep this long (0..=10000 ms) at the end of every close, to hold the close in flight",
        },
    },
}

/// Upper bound of the test-only parameter `test_release_delay_ms`.
const MAX_RELEASE_DELAY_MS: u32 = 10_000;

/// Checks the module parameters; on a bad one logs which and its range.
fn checked_params() -> Result<(u32, u32, Policy)> {
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
    let Some(policy) = Policy::from_u32(use_lru) else {
        pr_err!("use_lru={use_lru} must be 0 (none), 1 (LRU) or 2 (SIEVE)\n");
        return Err(EINVAL);
    };
    let mmap = *module_parameters::mmap.value();
    if mmap > 1 {
        pr_err!("mmap={mmap} must be 0 (refused) or 1 (read-only mappings)\n");
        return Err(EINVAL);
    }
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

struct KvModule {
    miscdev: Option<OwnedMiscDevice<KvDevice>>,
}

impl kernel::Module for KvModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let (buckets, max_items, policy) = checked_params()?;
        let (store, writer) = loaded_store::new_store(buckets, max_items, policy)?;
        loaded_store::install(store, writer)?;
        mapping::init();
        reclaim::start();

        // The device's file operations name this module as owner, so the VFS
        // pins kv.ko while any file is open (see owned_misc.rs).
        let miscdev = OwnedMiscDevice::register(c"kvstore", module, sysfs::groups()).inspect_err(|_| {
            // Free the store now: nothing can reach it without the device,
            // once the reclaim has stopped.
            reclaim::stop();
            loaded_store::free_store();
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
        reclaim::stop();
        loaded_store::free_store();
        loaded_store::wait_for_retired();
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

    // `/proc/<pid>/fdinfo/<fd>` of an open `/dev/kvstore`, after the VFS's
    // own lines: what the file may do to the store (its open mode). The store
    // has nothing per file to show.
    fn show_fdinfo(_device: (), m: &SeqFile, file: &File) {
        let access = Access::from_accmode(file.flags() & file::flags::O_ACCMODE);
        seq_print!(m, "kvstore-access:\t{}\n", access.name());
    }

    // A read-only mapping of the store (mapping.rs).
    fn mmap(_device: (), file: &File, vma: &VmaNew) -> Result {
        mapping::mmap(file, vma, *module_parameters::mmap.value() == 1)
    }

    // The ABI has no pointers and the same layout for 32- and 64-bit callers,
    // so 32-bit callers go through `compat_ptr_ioctl`, which the misc device
    // installs when only `ioctl` is given: it converts the pointer argument
    // with `compat_ptr` and calls this same function.
    fn ioctl(_device: (), file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let arg = UserPtr::from_addr(arg);
        let access = Access::from_accmode(file.flags() & file::flags::O_ACCMODE);
        match cmd {
            abi::KV_IOC_PUT => ioctl::put(arg, access)?,
            abi::KV_IOC_GET => ioctl::get(arg, access)?,
            abi::KV_IOC_DEL => ioctl::del(arg, access)?,
            abi::KV_IOC_STAT => ioctl::stat(arg)?,
            abi::KV_IOC_PUT_FLAGS => ioctl::put_flags(arg, access)?,
            abi::KV_IOC_BATCH => return ioctl::batch(arg, access),
            abi::KV_IOC_DUMP => dump::dump(arg, access)?,
            abi::KV_IOC_CLEAR => ioctl::clear(access)?,
            abi::KV_IOC_CACHE_OP => ioctl::cache_op(arg, access)?,
            abi::KV_IOC_CACHE_BATCH => return ioctl::cache_batch(arg, access),
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}
