// SPDX-License-Identifier: GPL-2.0
//! The ioctl handlers but the dump (`dump.rs`): put, get, del, stat, put
//! with flags, batch and clear. `kv_main.rs` dispatches to them after
//! checking that a file may write where the ioctl writes.
//!
//! Each copies its request in, operates on the loaded store
//! (`loaded_store.rs`) and copies its answer out, with user memory touched
//! outside every lock. A batch runs one op at a time through the same paths
//! as the single ioctls (a get without a lock, an exact-LRU get's relink and
//! a put or del under the writer lock), so it buffers one op.

use core::mem::{offset_of, size_of, MaybeUninit};

use kernel::{
    cpu::CpuId,
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

use crate::abi::{
    self, KvBatchArgs, KvOp, KvPair, KvUsageStat, KV_BATCH_MAX, KV_PUT_EXIST, KV_PUT_NOEXIST,
};
use crate::loaded_store::{shared, store_error, with_writer, Store};
use crate::policy::Relink;
use crate::store::{Condition, Key, ValueOut};
use crate::user_copy::{read_in_place, write_to_user};

/// The first `len` bytes of `data`, or EINVAL when `len` exceeds the array.
/// The store checks the lower bounds (a key is at least one byte).
fn prefix(data: &[u8], len: u32) -> Result<&[u8]> {
    let len = usize::try_from(len).map_err(|_| EINVAL)?;
    data.get(..len).ok_or(EINVAL)
}

/// `KV_IOC_PUT`.
pub(crate) fn put(arg: UserPtr) -> Result {
    let mut slot = MaybeUninit::uninit();
    let pair: &KvPair = read_in_place(arg, &mut slot)?;
    let key = prefix(&pair.key.data, pair.key.len)?;
    let value = prefix(&pair.value.data, pair.value.len)?;
    put_if(key, value, Condition::Always)
}

/// A put under `cond` (the key checked and hashed before taking the lock).
fn put_if(key: &[u8], value: &[u8], cond: Condition) -> Result {
    let store = shared()?;
    let key = store.key(key).map_err(store_error)?;
    with_writer(|writer| writer.put_if(store, &key, value, cond)).map(drop)
}

/// `KV_IOC_GET`.
pub(crate) fn get(arg: UserPtr) -> Result {
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
/// lock. Only a value that has reached the caller counts as a hit, which
/// the policy records (`policy/mod.rs`); a get that fails changes nothing.
#[inline(always)]
fn get_to_user(store: &'static Store, key: &Key, value_ptr: UserPtr) -> Result {
    // A stale CPU number (after a migration) only picks another CPU's
    // counters, which are atomic.
    let cpu = CpuId::current().as_u32();
    let mut value = ValueOut::new();
    let found = store.get(key, cpu, &mut value).map_err(store_error)?;
    write_to_user(value_ptr, value.bytes())?;
    if let Some(relink) = store.hit(cpu, &found) {
        relink_hit(store, key, relink)?;
    }
    Ok(())
}

/// Exact LRU's share of a delivered get: the relink, under the writer lock.
/// Out of line, so the lock-free policies' gets stay short.
#[inline(never)]
fn relink_hit(store: &Store, key: &Key, relink: Relink) -> Result {
    with_writer(|writer| {
        writer.relink(store, key, relink);
        Ok(())
    })
}

/// `KV_IOC_DEL`.
pub(crate) fn del(arg: UserPtr) -> Result {
    let store = shared()?;
    let mut slot = MaybeUninit::uninit();
    let key = key_from_user(store, arg, &mut slot)?;
    with_writer(|writer| writer.del(store, key))
}

/// `KV_IOC_STAT`.
pub(crate) fn stat(arg: UserPtr) -> Result {
    let store = shared()?;
    let usage = with_writer(|writer| Ok(store.usage(writer)))?;
    UserSlice::new(arg, size_of::<KvUsageStat>())
        .writer()
        .write(&usage)
}

/// A put op's `flags` as a condition.
fn condition(flags: u32) -> Result<Condition> {
    match flags {
        0 => Ok(Condition::Always),
        KV_PUT_NOEXIST => Ok(Condition::IfAbsent),
        KV_PUT_EXIST => Ok(Condition::IfPresent),
        _ => Err(EINVAL), // both flags, or an unknown bit
    }
}

/// Runs one op. A get answers into the `struct kv_value` at `value_ptr`,
/// as the get ioctl does (EFAULT only if that copy fails). Lengths, flags
/// and `reserved` are checked first; puts and dels need `writable` (the file
/// was opened for writing).
fn run_op(op: &KvOp, value_ptr: UserPtr, writable: bool) -> Result {
    if op.reserved != 0 {
        return Err(EINVAL);
    }
    let key = prefix(&op.pair.key.data, op.pair.key.len)?;
    match op.op {
        abi::KV_OP_GET if op.flags == 0 => {
            let store = shared()?;
            let key = store.key(key).map_err(store_error)?;
            get_to_user(store, &key, value_ptr)
        }
        abi::KV_OP_PUT => {
            let condition = condition(op.flags)?;
            let data = prefix(&op.pair.value.data, op.pair.value.len)?;
            if !writable {
                return Err(read_only(key));
            }
            put_if(key, data, condition)
        }
        abi::KV_OP_DEL if op.flags == 0 => {
            if !writable {
                return Err(read_only(key));
            }
            let store = shared()?;
            let key = store.key(key).map_err(store_error)?;
            with_writer(|writer| writer.del(store, &key))
        }
        _ => Err(EINVAL),
    }
}

/// The answer to a put or del on a file not opened for writing: EINVAL
/// for an invalid key, as on a writable file, else EBADF.
fn read_only(key: &[u8]) -> Error {
    match shared().and_then(|store| store.key(key).map_err(store_error)) {
        Ok(_) => EBADF,
        Err(e) => e,
    }
}

/// `KV_IOC_PUT_FLAGS`: one put op; its error is the ioctl's.
pub(crate) fn put_flags(arg: UserPtr) -> Result {
    let mut slot = MaybeUninit::uninit();
    let op: &KvOp = read_in_place(arg, &mut slot)?;
    if op.op != abi::KV_OP_PUT {
        return Err(EINVAL);
    }
    // The dispatcher has checked that the file is writable; a put has no
    // value to answer, so `arg` is never written.
    run_op(op, arg, true)
}

/// `KV_IOC_BATCH`: the ops in order, one at a time; returns how many ran.
/// On a file not opened for writing, puts and dels answer EBADF each.
pub(crate) fn batch(arg: UserPtr, writable: bool) -> Result<isize> {
    let args: KvBatchArgs = UserSlice::new(arg, size_of::<KvBatchArgs>())
        .reader()
        .read()?;
    if args.reserved != 0 || args.count > KV_BATCH_MAX {
        return Err(EINVAL);
    }
    // An address that does not fit a pointer cannot be a user address.
    let base = usize::try_from(args.ops).map_err(|_| EFAULT)?;
    for i in 0..args.count {
        let at = usize::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(size_of::<KvOp>()))
            .and_then(|offset| base.checked_add(offset))
            .ok_or(EFAULT)?;
        let op_ptr = UserPtr::from_addr(at);
        let mut slot = MaybeUninit::uninit();
        let op: &KvOp = read_in_place(op_ptr, &mut slot)?;
        let value_ptr =
            op_ptr.wrapping_byte_add(offset_of!(KvOp, pair) + offset_of!(KvPair, value));
        let result = match run_op(op, value_ptr, writable) {
            Ok(()) => 0,
            // Only the copy of a get's value out answers EFAULT: the op's
            // memory is not writable, and the batch stops as when an op
            // cannot be read.
            Err(e) if e == EFAULT => return Err(e),
            Err(e) => e.to_errno(),
        };
        UserSlice::new(
            op_ptr.wrapping_byte_add(offset_of!(KvOp, result)),
            size_of::<i32>(),
        )
        .writer()
        .write(&result)?;
    }
    // At most KV_BATCH_MAX.
    isize::try_from(args.count).map_err(|_| EINVAL)
}

/// `KV_IOC_CLEAR`.
pub(crate) fn clear() -> Result {
    let store = shared()?;
    with_writer(|writer| {
        writer.clear(store);
        Ok(())
    })
}
