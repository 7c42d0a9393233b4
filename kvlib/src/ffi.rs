//! The C ABI of libkv.so, declared in `include/kv.h`: 0 on success, -1 with
//! `errno` set on failure. Nothing here can panic (and the release profile
//! aborts rather than unwinding), so no panic crosses the FFI boundary.
//! Pointers are only checked for NULL and handed to the kernel, which
//! answers EFAULT for any other bad pointer.

use std::ffi::c_int;

use kv_module::abi::{
    KvBatchArgs, KvCacheOp, KvDumpArgs, KvKey, KvOp, KvPair, KvUsageStat, KV_OP_GET, KV_OP_INCR,
    KV_OP_PUT, KV_OP_PUT_VER, KV_OP_TOUCH, KV_OP_TTL,
};
use nix::errno::Errno;

use crate::{sys, BatchOp, CacheOp, Op};

/// 0 for success; -1 with errno set for failure.
fn status(result: Result<(), Errno>) -> c_int {
    match result {
        Ok(()) => 0,
        Err(errno) => {
            Errno::set_raw(errno as i32);
            -1
        }
    }
}

/// Opens /dev/kvstore read-write and close-on-exec; returns the fd.
#[unsafe(no_mangle)]
pub extern "C" fn kv_open() -> c_int {
    // SAFETY: The path is a NUL-terminated literal; open has no other
    // preconditions and sets errno on failure.
    unsafe { libc::open(c"/dev/kvstore".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) }
}

/// Opens /dev/kvstore read-only and close-on-exec; kv.h says what works.
#[unsafe(no_mangle)]
pub extern "C" fn kv_open_readonly() -> c_int {
    // SAFETY: As in `kv_open`.
    unsafe { libc::open(c"/dev/kvstore".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }
}

/// Closes an fd from `kv_open`.
#[unsafe(no_mangle)]
pub extern "C" fn kv_close(fd: c_int) -> c_int {
    // SAFETY: Closing a caller-owned fd; a bad one fails with EBADF.
    unsafe { libc::close(fd) }
}

/// One ioctl under the C convention: a NULL argument is EINVAL; anything
/// else goes to the kernel, which answers EFAULT for a bad pointer.
fn call<T>(arg: *const T, ioctl: impl FnOnce() -> Result<(), Errno>) -> c_int {
    if arg.is_null() {
        return status(Err(Errno::EINVAL));
    }
    status(ioctl())
}

/// Inserts or replaces `pair->key`.
///
/// # Safety
/// `pair` is NULL or points to a `struct kv_pair` (the kernel checks it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_put(fd: c_int, pair: *const KvPair) -> c_int {
    // SAFETY: `call` passes on only a non-NULL `pair`; the caller's contract
    // covers the rest.
    call(pair, || unsafe { sys::put(fd, pair) })
}

/// Looks up `pair->key` and fills `pair->value`, its bytes after the value
/// zeroed (so a value without NULs reads as a C string).
///
/// # Safety
/// `pair` is NULL or points to a writable `struct kv_pair`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_get(fd: c_int, pair: *mut KvPair) -> c_int {
    call(pair, || {
        // SAFETY: As in `kv_put`.
        unsafe { sys::get(fd, pair) }?;
        // The ioctl writes only `len` and the value's bytes (the kernel's
        // share of a get is kept to the minimum); kv.h promises the rest
        // zeroed. SAFETY: `call` passes on only a non-NULL `pair`, which
        // the caller's contract makes a writable `struct kv_pair`.
        let value = unsafe { &mut (*pair).value };
        if let Some(rest) = value.data.get_mut(value.len as usize..) {
            rest.fill(0);
        }
        Ok(())
    })
}

/// Removes `key`.
///
/// # Safety
/// `key` is NULL or points to a `struct kv_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_del(fd: c_int, key: *const KvKey) -> c_int {
    // SAFETY: As in `kv_put`.
    call(key, || unsafe { sys::del(fd, key) })
}

/// Fills `stat_out` with sizes and counters.
///
/// # Safety
/// `stat_out` is NULL or points to a writable `struct kv_usage_stat`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_stat(fd: c_int, stat_out: *mut KvUsageStat) -> c_int {
    // SAFETY: As in `kv_put`.
    call(stat_out, || unsafe { sys::stat(fd, stat_out) })
}

/// Puts `pair` if `flags` (0, `KV_PUT_NOEXIST` or `KV_PUT_EXIST`) allows;
/// the kernel checks the flags.
///
/// # Safety
/// `pair` is NULL or points to a readable `struct kv_pair` (it is copied
/// here into the request, so a bad pointer faults in the caller).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_put_flags(fd: c_int, pair: *const KvPair, flags: u32) -> c_int {
    call(pair, || {
        // SAFETY: `call` passes on only a non-NULL `pair`; the caller's
        // contract makes it readable. Unaligned reads are fine for C callers.
        let pair = unsafe { pair.read_unaligned() };
        let op = KvOp {
            op: KV_OP_PUT,
            flags,
            result: 0,
            reserved: 0,
            pair,
        };
        sys::put_flags(fd, &op)
    })
}

/// Runs `count` ops; returns how many ran, or -1 with errno.
///
/// # Safety
/// `ops` is NULL (allowed only with `count` 0) or points to `count`
/// `struct kv_op`s (the kernel checks it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_batch(fd: c_int, ops: *mut KvOp, count: u32) -> c_int {
    // SAFETY: The caller's contract is `run_batch`'s; `Op` is a
    // transparent `KvOp`, so `ops` points to `count` of them.
    unsafe { run_batch(fd, ops.cast::<Op>(), count) }
}

/// `T`'s batch ioctl over `count` ops at `ops`: how many ran, or -1 with
/// errno.
///
/// # Safety
/// `ops` is NULL (allowed only with `count` 0) or points to `count` `T`s
/// (the kernel checks it).
unsafe fn run_batch<T: BatchOp>(fd: c_int, ops: *mut T, count: u32) -> c_int {
    if ops.is_null() && count > 0 {
        return status(Err(Errno::EINVAL));
    }
    let mut args = KvBatchArgs {
        ops: ops as u64,
        count,
        reserved: 0,
    };
    // SAFETY: The caller's contract covers `ops`; the kernel checks it.
    match unsafe { T::RUN(fd, &mut args) } {
        // At most KV_BATCH_MAX, far below c_int::MAX.
        Ok(n) => c_int::try_from(n).unwrap_or(c_int::MAX),
        Err(e) => status(Err(e)),
    }
}

/// One page of the dump; see kv.h.
///
/// # Safety
/// `cursor` and `count` are NULL or point to readable and writable
/// integers (read here); `pairs` is NULL or points to room for `*count`
/// `struct kv_pair`s (the kernel checks it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_dump(
    fd: c_int,
    cursor: *mut u64,
    pairs: *mut KvPair,
    count: *mut u32,
) -> c_int {
    if cursor.is_null() || count.is_null() {
        return status(Err(Errno::EINVAL));
    }
    // SAFETY: Both are non-NULL; the caller's contract makes them valid.
    let mut args = unsafe {
        KvDumpArgs {
            cursor: cursor.read_unaligned(),
            pairs: pairs as u64,
            count: count.read_unaligned(),
            reserved: 0,
        }
    };
    // SAFETY: The caller's contract covers `pairs`; the kernel checks it.
    let result = unsafe { sys::dump(fd, &mut args) };
    if matches!(result, Ok(()) | Err(Errno::ENOSPC)) {
        // SAFETY: As above.
        unsafe {
            cursor.write_unaligned(args.cursor);
            count.write_unaligned(args.count);
        }
    }
    status(result)
}

/// Removes every item.
#[unsafe(no_mangle)]
pub extern "C" fn kv_clear(fd: c_int) -> c_int {
    status(sys::clear(fd))
}

/// A cache op for `key` (non-NULL, read here) with the pair's value empty.
///
/// # Safety
/// `key` is non-NULL and points to a readable `struct kv_key`.
unsafe fn key_op(code: u32, key: *const KvKey) -> KvCacheOp {
    let mut op = KvCacheOp::ZERO;
    op.op = code;
    // SAFETY: The caller's contract. Unaligned reads are fine for C callers.
    op.pair.key = unsafe { key.read_unaligned() };
    op
}

/// `kv_put_flags` with an expiry `ttl_ms` from now (0: never).
///
/// # Safety
/// `pair` is NULL or points to a readable `struct kv_pair` (copied here).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_put_ttl(
    fd: c_int,
    pair: *const KvPair,
    flags: u32,
    ttl_ms: u64,
) -> c_int {
    call(pair, || {
        let mut op = KvCacheOp::ZERO;
        op.op = KV_OP_PUT;
        op.flags = flags;
        op.ttl_ms = ttl_ms;
        // SAFETY: `call` passes on only a non-NULL `pair`; the caller's
        // contract makes it readable.
        op.pair = unsafe { pair.read_unaligned() };
        sys::cache_op(fd, &mut op)
    })
}

/// Sets a present item's expiry to `ttl_ms` from now (0: never).
///
/// # Safety
/// `key` is NULL or points to a readable `struct kv_key` (copied here).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_touch(fd: c_int, key: *const KvKey, ttl_ms: u64) -> c_int {
    call(key, || {
        // SAFETY: `call` passes on only a non-NULL `key`; the caller's
        // contract makes it readable.
        let mut op = unsafe { key_op(KV_OP_TOUCH, key) };
        op.ttl_ms = ttl_ms;
        sys::cache_op(fd, &mut op)
    })
}

/// Writes the milliseconds `key` has left, or -1 for never.
///
/// # Safety
/// `key` is NULL or points to a readable `struct kv_key`; `ttl_ms` is NULL
/// or points to a writable `int64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_ttl(fd: c_int, key: *const KvKey, ttl_ms: *mut i64) -> c_int {
    if ttl_ms.is_null() {
        return status(Err(Errno::EINVAL));
    }
    call(key, || {
        // SAFETY: As in `kv_touch`.
        let mut op = unsafe { key_op(KV_OP_TTL, key) };
        sys::cache_op(fd, &mut op)?;
        // SAFETY: Non-NULL, and writable by the caller's contract.
        unsafe { ttl_ms.write_unaligned(op.number) };
        Ok(())
    })
}

/// Adds `delta` to `key`'s number; the result into `*value`.
///
/// # Safety
/// `key` is NULL or points to a readable `struct kv_key`; `value` is NULL
/// or points to a writable `int64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_incr(
    fd: c_int,
    key: *const KvKey,
    delta: i64,
    ttl_ms: u64,
    value: *mut i64,
) -> c_int {
    if value.is_null() {
        return status(Err(Errno::EINVAL));
    }
    call(key, || {
        // SAFETY: As in `kv_touch`.
        let mut op = unsafe { key_op(KV_OP_INCR, key) };
        op.number = delta;
        op.ttl_ms = ttl_ms;
        sys::cache_op(fd, &mut op)?;
        // SAFETY: Non-NULL, and writable by the caller's contract.
        unsafe { value.write_unaligned(op.number) };
        Ok(())
    })
}

/// `kv_get` that also writes the item's version.
///
/// # Safety
/// `pair` is NULL or points to a writable `struct kv_pair`; `version` is
/// NULL or points to a writable `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_get_ver(fd: c_int, pair: *mut KvPair, version: *mut u64) -> c_int {
    if version.is_null() {
        return status(Err(Errno::EINVAL));
    }
    call(pair, || {
        // SAFETY: `call` passes on only a non-NULL `pair`, readable and
        // writable by the caller's contract.
        let mut op = unsafe { key_op(KV_OP_GET, core::ptr::addr_of!((*pair).key)) };
        sys::cache_op(fd, &mut op)?;
        // The rest of the value zeroed, as `kv_get` promises.
        let value = &mut op.pair.value;
        if let Some(rest) = value.data.get_mut(value.len as usize..) {
            rest.fill(0);
        }
        // SAFETY: Both non-NULL and writable by the caller's contract.
        unsafe {
            core::ptr::addr_of_mut!((*pair).value).write_unaligned(op.pair.value);
            version.write_unaligned(op.version);
        }
        Ok(())
    })
}

/// Replaces `pair`'s value only if the item's version is still `version`.
///
/// # Safety
/// `pair` is NULL or points to a readable `struct kv_pair` (copied here).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_put_ver(fd: c_int, pair: *const KvPair, version: u64) -> c_int {
    call(pair, || {
        let mut op = KvCacheOp::ZERO;
        op.op = KV_OP_PUT_VER;
        op.version = version;
        // SAFETY: As in `kv_put_ttl`.
        op.pair = unsafe { pair.read_unaligned() };
        sys::cache_op(fd, &mut op)
    })
}

/// `kv_batch` for `struct kv_cache_op`.
///
/// # Safety
/// `ops` is NULL (allowed only with `count` 0) or points to `count`
/// `struct kv_cache_op`s (the kernel checks it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_cache_batch(fd: c_int, ops: *mut KvCacheOp, count: u32) -> c_int {
    // SAFETY: The caller's contract is `run_batch`'s; `CacheOp` is a
    // transparent `KvCacheOp`, so `ops` points to `count` of them.
    unsafe { run_batch(fd, ops.cast::<CacheOp>(), count) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno() -> Errno {
        Errno::last()
    }

    #[test]
    fn null_pointers_are_einval() {
        // SAFETY: NULL is allowed and must be rejected before any ioctl.
        unsafe {
            assert_eq!(kv_put(0, std::ptr::null()), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_get(0, std::ptr::null_mut()), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_del(0, std::ptr::null()), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_stat(0, std::ptr::null_mut()), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_put_flags(0, std::ptr::null(), 0), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_batch(0, std::ptr::null_mut(), 1), -1);
            assert_eq!(errno(), Errno::EINVAL);
            let mut n64 = 0i64;
            let mut v = 0u64;
            let key = KvKey::ZERO;
            let mut pair = KvPair::ZERO;
            assert_eq!(kv_put_ttl(0, std::ptr::null(), 0, 1), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_touch(0, std::ptr::null(), 1), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_ttl(0, std::ptr::null(), &mut n64), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_ttl(0, &key, std::ptr::null_mut()), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_incr(0, std::ptr::null(), 1, 0, &mut n64), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_incr(0, &key, 1, 0, std::ptr::null_mut()), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_get_ver(0, std::ptr::null_mut(), &mut v), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_get_ver(0, &mut pair, std::ptr::null_mut()), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_put_ver(0, std::ptr::null(), 1), -1);
            assert_eq!(errno(), Errno::EINVAL);
            assert_eq!(kv_cache_batch(0, std::ptr::null_mut(), 1), -1);
            assert_eq!(errno(), Errno::EINVAL);
            let mut n = 0u32;
            assert_eq!(
                kv_dump(0, std::ptr::null_mut(), std::ptr::null_mut(), &mut n),
                -1
            );
            assert_eq!(errno(), Errno::EINVAL);
            let mut c = 0u64;
            assert_eq!(
                kv_dump(0, &mut c, std::ptr::null_mut(), std::ptr::null_mut()),
                -1
            );
            assert_eq!(errno(), Errno::EINVAL);
        }
    }

    #[test]
    fn bad_fd_is_ebadf() {
        let mut s = KvUsageStat::ZERO;
        // SAFETY: A live struct; the fd is invalid on purpose.
        assert_eq!(unsafe { kv_stat(-1, &mut s) }, -1);
        assert_eq!(errno(), Errno::EBADF);
        assert_eq!(kv_close(-1), -1);
        assert_eq!(errno(), Errno::EBADF);
    }
}
