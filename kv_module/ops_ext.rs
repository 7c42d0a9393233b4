// SPDX-License-Identifier: GPL-2.0
//! The ioctls beyond put, get, del and stat: put with flags, batch, dump and
//! clear.
//!
//! Same rules as `kv_main.rs`: user memory is copied outside every lock
//! (copy in, operate, copy out). A batch runs one op at a time through the
//! same paths as the single ioctls (a get without a lock, an exact-LRU
//! get's relink and a put or del under the writer lock), so it buffers one
//! op. A dump takes
//! the writer lock once per bucket and buffers one bucket: the buffer grows
//! only to the largest bucket that still fits the caller's room (at most the
//! table's own `max_items`), with a fallible allocation outside the lock.
//!
//! Why a dump returns every key present for the whole iteration exactly
//! once: an item's bucket is fixed by its key's hash, each bucket is read in
//! one critical section, and the cursor is the next bucket's index, so every
//! bucket is read exactly once and a stable key is in it when it is read.

use core::mem::{offset_of, size_of, MaybeUninit};

use kernel::{
    alloc::flags::__GFP_NOWARN,
    prelude::*,
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
};

use crate::abi::{
    self, KvBatchArgs, KvDumpArgs, KvOp, KvPair, KV_BATCH_MAX, KV_PUT_EXIST, KV_PUT_NOEXIST,
};
use crate::store::Condition;
use crate::{get_to_user, prefix, put_if, read_in_place, shared, store_error, with_writer};

// SAFETY: `repr(C)`, integers and integer arrays only, sizes asserted in
// `abi.rs` (so no padding): every bit pattern is valid and every byte is
// initialised.
unsafe impl FromBytes for KvOp {}
// SAFETY: As for `KvOp`.
unsafe impl FromBytes for KvBatchArgs {}
// SAFETY: As for `KvOp`.
unsafe impl FromBytes for KvDumpArgs {}
// SAFETY: As for `KvOp`.
unsafe impl AsBytes for KvDumpArgs {}
// SAFETY: As for `KvOp`.
unsafe impl AsBytes for KvPair {}

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

/// `KV_IOC_DUMP`: whole buckets from the cursor on, as many as fit.
pub(crate) fn dump(arg: UserPtr) -> Result {
    let mut args: KvDumpArgs = UserSlice::new(arg, size_of::<KvDumpArgs>())
        .reader()
        .read()?;
    if args.reserved != 0 {
        return Err(EINVAL);
    }
    let base = usize::try_from(args.pairs).map_err(|_| EFAULT)?;
    let room = usize::try_from(args.count).map_err(|_| EINVAL)?;
    let store = shared()?;
    let buckets = store.buckets();
    // A cursor past the end (or not one we returned) is the end.
    let mut bucket = u32::try_from(args.cursor).unwrap_or(u32::MAX);
    let mut written = 0usize;
    let mut needed = 0usize; // set when the next bucket does not fit
    let mut buf: KVVec<KvPair> = KVVec::new();
    while bucket < buckets {
        let left = room.saturating_sub(written);
        let mut items = 0usize;
        buf.clear();
        // Under the writer spinlock: the closure copies into capacity
        // reserved beforehand and never sleeps.
        with_writer(|writer| {
            writer
                .dump_bucket(store, bucket, |key, value| {
                    items = items.saturating_add(1);
                    if items > left || buf.push_within_capacity(KvPair::ZERO).is_err() {
                        return;
                    }
                    if let Some(pair) = buf.last_mut() {
                        // The store's keys and values fit their arrays.
                        if let (Some(k), Some(v)) = (
                            pair.key.data.get_mut(..key.len()),
                            pair.value.data.get_mut(..value.len()),
                        ) {
                            k.copy_from_slice(key);
                            v.copy_from_slice(value);
                            pair.key.len = key.len() as u32; // <= KV_MAX_KEY
                            pair.value.len = value.len() as u32; // <= KV_MAX_VAL
                        }
                    }
                })
                .map(drop)
        })?;
        if items > left {
            needed = items;
            break;
        }
        if items > buf.len() {
            // The bucket fits the caller's room but not the buffer: grow it
            // outside the lock and read the bucket again. Capacity only grows
            // and is bounded by the items a bucket can hold, so this ends.
            buf.clear();
            buf.reserve(items, GFP_KERNEL | __GFP_NOWARN)?;
            continue;
        }
        if items > 0 {
            let at = written
                .checked_mul(size_of::<KvPair>())
                .and_then(|offset| base.checked_add(offset))
                .ok_or(EFAULT)?;
            let bytes = buf.len().checked_mul(size_of::<KvPair>()).ok_or(EFAULT)?;
            UserSlice::new(UserPtr::from_addr(at), bytes)
                .writer()
                .write_slice(buf.as_slice().as_bytes())?;
            written = written.saturating_add(items);
        }
        bucket = bucket.saturating_add(1);
    }
    let full = written == 0 && needed > 0;
    args.cursor = u64::from(bucket.min(buckets));
    // Both are at most max_items or the caller's u32 room.
    args.count = u32::try_from(if full { needed } else { written }).unwrap_or(u32::MAX);
    UserSlice::new(arg, size_of::<KvDumpArgs>())
        .writer()
        .write(&args)?;
    if full {
        return Err(ENOSPC);
    }
    Ok(())
}
