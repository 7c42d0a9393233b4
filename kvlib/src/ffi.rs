//! The C ABI of libkv.so, declared in `include/kv.h`: 0 on success, -1 with
//! `errno` set on failure. Nothing here can panic (and the release profile
//! aborts rather than unwinding), so no panic crosses the FFI boundary.
//! Pointers are only checked for NULL and handed to the kernel, which
//! answers EFAULT for any other bad pointer; except where a call reads or
//! writes them itself (`kv_put_flags`, `kv_dump`, and `kv_get` through the
//! mapping), where a bad non-NULL pointer faults in the caller.
//!
//! # kv_get through the mapping
//!
//! A C descriptor is only an int, so what kvlib's `Store` keeps per store
//! (its [`Mapping`]) is kept here per descriptor number, in [`MAPPINGS`]:
//! `kv_open` and `kv_open_readonly` map the store (unless mapped reads are
//! off, [`crate::MAPPED_READS_ENV`]) and register the mapping under the
//! descriptor they return; `kv_close` unregisters and unmaps it before it
//! closes the descriptor. `kv_get` looks its descriptor up with one atomic
//! load, no lock, and reads through the mapping when there is one, taking
//! the ioctl whenever the mapping cannot answer. Any other descriptor
//! (a `dup`, one past [`REGISTRY_FDS`], one opened without `kv_open*`)
//! has no entry, and its gets take the ioctl.
//!
//! Each entry keeps its own duplicate of the descriptor, which the mapping
//! maps blocks through: a caller's descriptor closed with `close(2)` (a
//! misuse, kv.h) and its number reused for another file leaves the entry
//! reading the store it was made for, never mapping that other file.

use std::ffi::c_int;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicPtr, Ordering};

use kv_module::abi::{
    KvBatchArgs, KvCacheOp, KvDumpArgs, KvKey, KvOp, KvPair, KvUsageStat, KV_OP_GET, KV_OP_INCR,
    KV_OP_PUT, KV_OP_PUT_VER, KV_OP_TOUCH, KV_OP_TTL,
};
use nix::errno::Errno;

use crate::map::Mapping;
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

/// Descriptor numbers below this have a slot in [`MAPPINGS`]; a larger
/// one's gets take the ioctl.
pub(crate) const REGISTRY_FDS: usize = 4096;

/// One pointer per descriptor number below [`REGISTRY_FDS`]: null, or a
/// `Box<T>` leaked into it by [`Registry::register`], taken back only by
/// `register` (replacing it), [`Registry::unregister`] or drop.
/// Registering and unregistering swap the pointer atomically, so they need
/// no lock; a lookup is one Acquire load.
pub(crate) struct Registry<T> {
    slots: [AtomicPtr<T>; REGISTRY_FDS],
}

impl<T: Send + Sync> Registry<T> {
    /// Every slot empty.
    pub(crate) const fn new() -> Self {
        Registry {
            slots: [const { AtomicPtr::new(std::ptr::null_mut()) }; REGISTRY_FDS],
        }
    }

    /// `fd`'s slot, if it has one.
    #[inline]
    fn slot(&self, fd: c_int) -> Option<&AtomicPtr<T>> {
        self.slots.get(usize::try_from(fd).ok()?)
    }

    /// Puts `value` in `fd`'s slot: the value it replaced, if any, or
    /// `Err(value)` back when `fd` has no slot (negative, or not below
    /// [`REGISTRY_FDS`]).
    pub(crate) fn register(&self, fd: c_int, value: Box<T>) -> Result<Option<Box<T>>, Box<T>> {
        let Some(slot) = self.slot(fd) else {
            return Err(value);
        };
        // Release: a lookup that loads the pointer sees the box's contents.
        let old = slot.swap(Box::into_raw(value), Ordering::AcqRel);
        // SAFETY: A non-null pointer in a slot came from `Box::into_raw`
        // here and was swapped out just now: this is its only owner.
        Ok((!old.is_null()).then(|| unsafe { Box::from_raw(old) }))
    }

    /// Empties `fd`'s slot: what it held, if anything.
    pub(crate) fn unregister(&self, fd: c_int) -> Option<Box<T>> {
        let old = self.slot(fd)?.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: As in `register`.
        (!old.is_null()).then(|| unsafe { Box::from_raw(old) })
    }

    /// `kv_open*`'s share: `fd` (just opened) gets `entry`, or no entry
    /// when it is `None`. What the slot held (left by a descriptor of the
    /// same number closed with close(2)) is dropped.
    fn set(&self, fd: c_int, entry: Option<Box<T>>) {
        match entry {
            Some(entry) => drop(self.register(fd, entry)),
            None => drop(self.unregister(fd)),
        }
    }

    /// `kv_close`: drops `fd`'s entry (its mapping unmapped), then closes
    /// `fd`; close's answer.
    fn close(&self, fd: c_int) -> c_int {
        drop(self.unregister(fd));
        // SAFETY: Closing a caller-owned fd; a bad one fails with EBADF.
        unsafe { libc::close(fd) }
    }

    /// What `fd`'s slot holds, if anything.
    ///
    /// # Safety
    ///
    /// No `register` or `unregister` of `fd` runs, from any thread, until
    /// the reference's last use: they free what it points to.
    #[inline]
    pub(crate) unsafe fn get(&self, fd: c_int) -> Option<&T> {
        let p = self.slot(fd)?.load(Ordering::Acquire);
        // SAFETY: A non-null pointer came from `Box::into_raw` in
        // `register` (Release, paired with the Acquire load above, so the
        // box's contents are seen); the caller's contract keeps it from
        // being freed while the reference is used.
        unsafe { p.as_ref() }
    }
}

impl<T> Drop for Registry<T> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            let p = std::mem::replace(slot.get_mut(), std::ptr::null_mut());
            if !p.is_null() {
                // SAFETY: As in `register`; `&mut self`: no lookup runs.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// A descriptor's mapping, and the duplicate of the descriptor it maps
/// through (declared after it: unmapped first, then closed).
pub(crate) struct Registered {
    mapping: Mapping,
    _file: OwnedFd,
}

/// The mappings of the descriptors `kv_open` and `kv_open_readonly`
/// returned (file header).
static MAPPINGS: Registry<Registered> = Registry::new();

/// A mapping of the store open at `fd` (a descriptor `kv_open*` has just
/// opened), with its own duplicate of `fd`; `None` when mapped reads are
/// off, `fd` has no slot, or the store cannot be mapped.
fn mapping_for(fd: c_int) -> Option<Box<Registered>> {
    if MAPPINGS.slot(fd).is_none() || !crate::mapped_reads_on() {
        return None;
    }
    // SAFETY: `fd` was opened by the caller just now and is not closed
    // before this function returns.
    let file = unsafe { BorrowedFd::borrow_raw(fd) }
        .try_clone_to_owned()
        .ok()?;
    let mapping = Mapping::open(file.as_raw_fd())?;
    Some(Box::new(Registered {
        mapping,
        _file: file,
    }))
}

/// Opens /dev/kvstore with `flags` and close-on-exec, and registers its
/// mapping; returns the fd.
fn open(flags: c_int) -> c_int {
    // SAFETY: The path is a NUL-terminated literal; open has no other
    // preconditions and sets errno on failure.
    let fd = unsafe { libc::open(c"/dev/kvstore".as_ptr(), flags | libc::O_CLOEXEC) };
    if fd >= 0 {
        MAPPINGS.set(fd, mapping_for(fd));
    }
    fd
}

/// Opens /dev/kvstore read-write and close-on-exec; returns the fd.
#[unsafe(no_mangle)]
pub extern "C" fn kv_open() -> c_int {
    open(libc::O_RDWR)
}

/// Opens /dev/kvstore read-only and close-on-exec; kv.h says what works.
#[unsafe(no_mangle)]
pub extern "C" fn kv_open_readonly() -> c_int {
    open(libc::O_RDONLY)
}

/// Closes an fd from `kv_open`, unmapping its mapping first.
#[unsafe(no_mangle)]
pub extern "C" fn kv_close(fd: c_int) -> c_int {
    MAPPINGS.close(fd)
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
/// zeroed (so a value without NULs reads as a C string): through `fd`'s
/// mapping if it has one and it answers, else with the ioctl.
///
/// # Safety
/// `pair` is NULL or points to a writable `struct kv_pair`; no `kv_close`
/// of `fd` runs meanwhile (kv.h).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kv_get(fd: c_int, pair: *mut KvPair) -> c_int {
    if pair.is_null() {
        return status(Err(Errno::EINVAL));
    }
    // SAFETY: Only `kv_open*` (for a descriptor it has just opened) and
    // `kv_close` register or unregister `fd`; the caller's contract says
    // no `kv_close(fd)` runs meanwhile, and no `kv_open*` can return `fd`
    // while `fd` is open (kv.h: closing it otherwise is a misuse).
    if let Some(entry) = unsafe { MAPPINGS.get(fd) } {
        // SAFETY: `pair` is non-NULL; the caller's contract makes it a
        // writable `struct kv_pair`.
        if let Some(answer) = unsafe { mapped_get(&entry.mapping, pair) } {
            return status(answer);
        }
    }
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

/// `kv_get` through `mapping`: `Some` with the answer (a hit written into
/// `pair->value`, the rest of its bytes zeroed, or ENOENT), `None` when
/// the ioctl must answer: a key length the kernel refuses (its errno is
/// the kernel's to give), or no answer from the mapping.
///
/// # Safety
/// `pair` is non-NULL and points to a writable `struct kv_pair`.
unsafe fn mapped_get(mapping: &Mapping, pair: *mut KvPair) -> Option<Result<(), Errno>> {
    // SAFETY: The caller's contract: a writable `struct kv_pair`, borrowed
    // only for this call.
    let pair = unsafe { &mut *pair };
    // A length past the array's: the ioctl's EINVAL (an empty key is
    // the mapping's to refuse).
    let key = pair.key.data.get(..usize::try_from(pair.key.len).ok()?)?;
    // Straight into the caller's value (a miss may leave bytes of an
    // attempt there: kv.h promises nothing of it then).
    let len = match mapping.get(key, &mut pair.value.data)? {
        Some(len) => len,
        None => return Some(Err(Errno::ENOENT)),
    };
    // Longer than a value can be: let the kernel answer.
    pair.value.data.get_mut(len..)?.fill(0);
    pair.value.len = u32::try_from(len).ok()?;
    Some(Ok(()))
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

    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// A registry entry that counts its drops and records whether `fd`
    /// was still open when it was dropped.
    struct Entry {
        id: u32,
        fd: c_int,
        drops: Arc<AtomicUsize>,
        open_at_drop: Arc<AtomicUsize>,
    }

    impl Drop for Entry {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
            // SAFETY: F_GETFD only reads the descriptor's flags.
            if unsafe { libc::fcntl(self.fd, libc::F_GETFD) } >= 0 {
                self.open_at_drop.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    struct Entries {
        drops: Arc<AtomicUsize>,
        open_at_drop: Arc<AtomicUsize>,
    }

    impl Entries {
        fn new() -> Self {
            Entries {
                drops: Arc::default(),
                open_at_drop: Arc::default(),
            }
        }
        fn entry(&self, id: u32, fd: c_int) -> Box<Entry> {
            Box::new(Entry {
                id,
                fd,
                drops: self.drops.clone(),
                open_at_drop: self.open_at_drop.clone(),
            })
        }
        fn drops(&self) -> usize {
            self.drops.load(Ordering::SeqCst)
        }
    }

    /// The id of `fd`'s entry in `reg`, if any.
    fn id(reg: &Registry<Entry>, fd: c_int) -> Option<u32> {
        // SAFETY: Nothing registers or unregisters meanwhile.
        unsafe { reg.get(fd) }.map(|e| e.id)
    }

    #[test]
    fn registry_register_lookup_unregister() {
        let reg = Box::new(Registry::new());
        let e = Entries::new();
        assert_eq!(id(&reg, 3), None);
        assert!(matches!(reg.register(3, e.entry(1, -1)), Ok(None)));
        assert!(matches!(reg.register(4, e.entry(2, -1)), Ok(None)));
        assert_eq!(id(&reg, 3), Some(1));
        assert_eq!(id(&reg, 4), Some(2));
        assert_eq!(id(&reg, 5), None);
        // Replacing hands back the old entry.
        let old = reg.register(3, e.entry(3, -1));
        assert!(matches!(old, Ok(Some(ref b)) if b.id == 1));
        drop(old);
        assert_eq!(e.drops(), 1);
        assert_eq!(id(&reg, 3), Some(3));
        assert_eq!(reg.unregister(3).map(|b| b.id), Some(3));
        assert_eq!(e.drops(), 2);
        assert_eq!(id(&reg, 3), None);
        assert!(reg.unregister(3).is_none());
        assert_eq!(id(&reg, 4), Some(2));
        // Dropping the registry drops what it holds.
        drop(reg);
        assert_eq!(e.drops(), 3);
    }

    #[test]
    fn registry_bounds() {
        let reg = Box::new(Registry::new());
        let e = Entries::new();
        let last = c_int::try_from(REGISTRY_FDS - 1).unwrap();
        for fd in [-1, c_int::MIN, last + 1, c_int::MAX] {
            let back = reg.register(fd, e.entry(7, -1));
            assert!(matches!(back, Err(ref b) if b.id == 7), "fd {fd}");
            assert_eq!(id(&reg, fd), None);
            assert!(reg.unregister(fd).is_none());
        }
        assert_eq!(e.drops(), 4);
        assert!(matches!(reg.register(0, e.entry(8, -1)), Ok(None)));
        assert!(matches!(reg.register(last, e.entry(9, -1)), Ok(None)));
        assert_eq!(id(&reg, 0), Some(8));
        assert_eq!(id(&reg, last), Some(9));
    }

    #[test]
    fn registry_set_replaces_or_clears() {
        let reg = Box::new(Registry::new());
        let e = Entries::new();
        reg.set(5, Some(e.entry(1, -1)));
        assert_eq!(id(&reg, 5), Some(1));
        // A descriptor of the same number (the first closed with close(2)):
        // its entry replaces the stale one...
        reg.set(5, Some(e.entry(2, -1)));
        assert_eq!((id(&reg, 5), e.drops()), (Some(2), 1));
        // ... and one without a mapping removes it.
        reg.set(5, None);
        assert_eq!((id(&reg, 5), e.drops()), (None, 2));
        // Past the slots: nothing kept.
        reg.set(-1, Some(e.entry(3, -1)));
        assert_eq!(e.drops(), 3);
    }

    #[test]
    fn registry_close_drops_the_entry_before_closing() {
        let reg = Box::new(Registry::new());
        let e = Entries::new();
        // SAFETY: A NUL-terminated literal.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        assert!(fd >= 0);
        reg.set(fd, Some(e.entry(1, fd)));
        assert_eq!(reg.close(fd), 0);
        assert_eq!(id(&reg, fd), None);
        assert_eq!(e.drops(), 1);
        assert_eq!(e.open_at_drop.load(Ordering::SeqCst), 1);
        // SAFETY: F_GETFD only reads the descriptor's flags.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_GETFD) }, -1);
        // A second close: EBADF, nothing to drop.
        assert_eq!(reg.close(fd), -1);
        assert_eq!(errno(), Errno::EBADF);
        assert_eq!(e.drops(), 1);
    }

    #[test]
    fn unregistered_fd_takes_the_ioctl() {
        // No kv_open* returned this descriptor: kv_get asks the kernel,
        // which answers ENOTTY for a file that is not the device.
        // SAFETY: A NUL-terminated literal.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: Nothing registers `fd` (only kv_open* does).
        assert!(unsafe { MAPPINGS.get(fd) }.is_none());
        let mut pair = KvPair::ZERO;
        pair.key.len = 1;
        // SAFETY: A live, writable pair.
        assert_eq!(unsafe { kv_get(fd, &mut pair) }, -1);
        assert_eq!(errno(), Errno::ENOTTY);
        assert_eq!(kv_close(fd), 0);
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
