//! The four ioctls, once, for the Rust API and the C ABI alike. Numbers and
//! structs come from `kv_core::abi`, the single source of truth.

use std::os::fd::RawFd;

use kv_core::abi::{KvKey, KvPair, KvUsageStat, KV_IOC_DEL, KV_IOC_GET, KV_IOC_PUT, KV_IOC_STAT};
use nix::errno::Errno;

nix::ioctl_write_ptr_bad!(ioctl_put, KV_IOC_PUT, KvPair);
nix::ioctl_readwrite_bad!(ioctl_get, KV_IOC_GET, KvPair);
nix::ioctl_write_ptr_bad!(ioctl_del, KV_IOC_DEL, KvKey);
nix::ioctl_read_bad!(ioctl_stat, KV_IOC_STAT, KvUsageStat);

/// # Safety
/// `pair` must be NULL or point to memory the kernel may read as a
/// `KvPair`; the kernel checks it and fails with EFAULT otherwise.
pub(crate) unsafe fn put(fd: RawFd, pair: *const KvPair) -> Result<(), Errno> {
    // SAFETY: The caller upholds the pointer contract; the fd is only used
    // for the ioctl, which fails with EBADF on a bad one.
    unsafe { ioctl_put(fd, pair) }.map(drop)
}

/// # Safety
/// `pair` must be NULL or point to memory the kernel may read and write as
/// a `KvPair`.
pub(crate) unsafe fn get(fd: RawFd, pair: *mut KvPair) -> Result<(), Errno> {
    // SAFETY: As for `put`.
    unsafe { ioctl_get(fd, pair) }.map(drop)
}

/// # Safety
/// `key` must be NULL or point to memory the kernel may read as a `KvKey`.
pub(crate) unsafe fn del(fd: RawFd, key: *const KvKey) -> Result<(), Errno> {
    // SAFETY: As for `put`.
    unsafe { ioctl_del(fd, key) }.map(drop)
}

/// # Safety
/// `out` must be NULL or point to memory the kernel may write as a
/// `KvUsageStat`.
pub(crate) unsafe fn stat(fd: RawFd, out: *mut KvUsageStat) -> Result<(), Errno> {
    // SAFETY: As for `put`.
    unsafe { ioctl_stat(fd, out) }.map(drop)
}
