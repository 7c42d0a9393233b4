//! The ioctls, once, for the Rust API and the C ABI alike. Numbers and
//! structs come from `kv_module::abi`, the single source of truth.

use std::os::fd::RawFd;

use kv_module::abi::{
    KvBatchArgs, KvCacheOp, KvDumpArgs, KvKey, KvOp, KvPair, KvUsageStat, KV_IOC_BATCH,
    KV_IOC_CACHE_BATCH, KV_IOC_CACHE_OP, KV_IOC_CLEAR, KV_IOC_DEL, KV_IOC_DUMP, KV_IOC_GET,
    KV_IOC_PUT, KV_IOC_PUT_FLAGS, KV_IOC_STAT,
};
use nix::errno::Errno;

nix::ioctl_write_ptr_bad!(ioctl_put, KV_IOC_PUT, KvPair);
nix::ioctl_readwrite_bad!(ioctl_get, KV_IOC_GET, KvPair);
nix::ioctl_write_ptr_bad!(ioctl_del, KV_IOC_DEL, KvKey);
nix::ioctl_read_bad!(ioctl_stat, KV_IOC_STAT, KvUsageStat);
nix::ioctl_write_ptr_bad!(ioctl_put_flags, KV_IOC_PUT_FLAGS, KvOp);
nix::ioctl_readwrite_bad!(ioctl_batch, KV_IOC_BATCH, KvBatchArgs);
nix::ioctl_readwrite_bad!(ioctl_dump, KV_IOC_DUMP, KvDumpArgs);
nix::ioctl_none_bad!(ioctl_clear, KV_IOC_CLEAR);
nix::ioctl_readwrite_bad!(ioctl_cache_op, KV_IOC_CACHE_OP, KvCacheOp);
nix::ioctl_readwrite_bad!(ioctl_cache_batch, KV_IOC_CACHE_BATCH, KvBatchArgs);

/// One cache op; its answers land in `op`.
pub(crate) fn cache_op(fd: RawFd, op: &mut KvCacheOp) -> Result<(), Errno> {
    // SAFETY: `op` is a live KvCacheOp the kernel may read and write.
    unsafe { ioctl_cache_op(fd, op) }.map(drop)
}

/// # Safety
/// `args.ops` must be 0 or the address of `args.count` `KvCacheOp`s the
/// kernel may read and write (the kernel checks it and fails with EFAULT).
pub(crate) unsafe fn cache_batch(fd: RawFd, args: &mut KvBatchArgs) -> Result<u32, Errno> {
    // SAFETY: `args` is live; the caller vouches for what it points to.
    let n = unsafe { ioctl_cache_batch(fd, args) }?;
    u32::try_from(n).map_err(|_| Errno::EIO) // the kernel returns 0..=count
}

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

/// Put with flags: `op.op` is `KV_OP_PUT`.
pub(crate) fn put_flags(fd: RawFd, op: &KvOp) -> Result<(), Errno> {
    // SAFETY: `op` is a live KvOp the kernel only reads.
    unsafe { ioctl_put_flags(fd, op) }.map(drop)
}

/// # Safety
/// `args.ops` must be 0 or the address of `args.count` `KvOp`s the kernel
/// may read and write (the kernel checks it and fails with EFAULT).
pub(crate) unsafe fn batch(fd: RawFd, args: &mut KvBatchArgs) -> Result<u32, Errno> {
    // SAFETY: `args` is live; the caller vouches for what it points to.
    let n = unsafe { ioctl_batch(fd, args) }?;
    u32::try_from(n).map_err(|_| Errno::EIO) // the kernel returns 0..=count
}

/// # Safety
/// `args.pairs` must be 0 or the address of room for `args.count` `KvPair`s
/// the kernel may write.
pub(crate) unsafe fn dump(fd: RawFd, args: &mut KvDumpArgs) -> Result<(), Errno> {
    // SAFETY: As for `batch`.
    unsafe { ioctl_dump(fd, args) }.map(drop)
}

pub(crate) fn clear(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: The ioctl takes no argument.
    unsafe { ioctl_clear(fd) }.map(drop)
}
