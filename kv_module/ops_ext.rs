// SPDX-License-Identifier: GPL-2.0
//! The ioctls beyond put, get, del and stat: put with flags, batch, dump and
//! clear, and the counters stat gains (`filled`, `puts`, `deletes`).
//!
//! Same rules as `kv_main.rs`: user memory is copied outside the table lock
//! (copy in, lock, operate, unlock, copy out). A batch runs one op at a time
//! that way, so it holds the lock for one op and buffers one op. A dump takes
//! the lock once per bucket and buffers one bucket: the buffer grows only to
//! the largest bucket that still fits the caller's room (at most the table's
//! own `max_items`), with a fallible allocation outside the lock.
//!
//! Why a dump returns every key present for the whole iteration exactly
//! once: an item's bucket is fixed by its key's hash, each bucket is read in
//! one critical section, and the cursor is the next bucket's index, so every
//! bucket is read exactly once and a stable key is in it when it is read.

use core::mem::{offset_of, size_of};

use kernel::{
    alloc::flags::__GFP_NOWARN,
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
};

use crate::abi::{
    self, KvBatchArgs, KvDumpArgs, KvOp, KvPair, KvUsageStat, KvValue, KV_BATCH_MAX,
    KV_PUT_EXIST, KV_PUT_NOEXIST,
};
use crate::store::{self, Condition};
use crate::{prefix, with_table};

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

/// Successful puts and deletes, for stat. Counters of events, independent of
/// the table: relaxed adds, wrapping after 2^64 like the table's counters.
static PUTS: Atomic<u64> = Atomic::new(0);
static DELETES: Atomic<u64> = Atomic::new(0);

/// Every field stat fills today.
const FILLED: u64 = abi::KV_STAT_HAS_BUCKET_COUNT
    | abi::KV_STAT_HAS_MAX_ITEMS
    | abi::KV_STAT_HAS_CURR_ITEMS
    | abi::KV_STAT_HAS_USE_LRU
    | abi::KV_STAT_HAS_HITS
    | abi::KV_STAT_HAS_MISSES
    | abi::KV_STAT_HAS_EVICTIONS
    | abi::KV_STAT_HAS_BYTES_USED
    | abi::KV_STAT_HAS_PUTS
    | abi::KV_STAT_HAS_DELETES;

/// Counts a successful plain put (`KV_IOC_PUT`).
pub(crate) fn count_put() {
    PUTS.add(1u64, Relaxed);
}

/// Counts a successful plain del (`KV_IOC_DEL`).
pub(crate) fn count_delete() {
    DELETES.add(1u64, Relaxed);
}

/// The table's usage with the module's own fields added.
pub(crate) fn complete_usage(mut usage: KvUsageStat) -> KvUsageStat {
    usage.filled = FILLED;
    usage.puts = PUTS.load(Relaxed);
    usage.deletes = DELETES.load(Relaxed);
    usage
}

fn condition(flags: u32) -> Result<Condition> {
    match flags {
        0 => Ok(Condition::Always),
        KV_PUT_NOEXIST => Ok(Condition::IfAbsent),
        KV_PUT_EXIST => Ok(Condition::IfPresent),
        _ => Err(EINVAL), // both flags, or an unknown bit
    }
}

/// Runs one op under the lock. A get's value goes to `value`; returns whether
/// it did. Lengths, flags and `reserved` are checked before the lock.
fn run_op(op: &KvOp, value: &mut KvValue) -> Result<bool> {
    if op.reserved != 0 {
        return Err(EINVAL);
    }
    let key = prefix(&op.pair.key.data, op.pair.key.len)?;
    match op.op {
        abi::KV_OP_GET if op.flags == 0 => {
            with_table(|table| {
                let found = table.get(key)?;
                // The store holds at most KV_MAX_VAL bytes, so both succeed.
                let dest = value.data.get_mut(..found.len()).ok_or(store::Error::BadValueLen)?;
                dest.copy_from_slice(found);
                value.len = u32::try_from(found.len()).map_err(|_| store::Error::BadValueLen)?;
                Ok(())
            })?;
            Ok(true)
        }
        abi::KV_OP_PUT => {
            let condition = condition(op.flags)?;
            let data = prefix(&op.pair.value.data, op.pair.value.len)?;
            with_table(|table| table.put_if(key, data, condition))?;
            count_put();
            Ok(false)
        }
        abi::KV_OP_DEL if op.flags == 0 => {
            with_table(|table| table.del(key))?;
            count_delete();
            Ok(false)
        }
        _ => Err(EINVAL),
    }
}

/// `KV_IOC_PUT_FLAGS`: one put op; its error is the ioctl's.
pub(crate) fn put_flags(arg: UserPtr) -> Result {
    let op: KvOp = UserSlice::new(arg, size_of::<KvOp>()).reader().read()?;
    if op.op != abi::KV_OP_PUT {
        return Err(EINVAL);
    }
    let mut unused = KvValue::ZERO;
    run_op(&op, &mut unused).map(drop)
}

/// `KV_IOC_BATCH`: the ops in order, one at a time; returns how many ran.
pub(crate) fn batch(arg: UserPtr) -> Result<isize> {
    let args: KvBatchArgs = UserSlice::new(arg, size_of::<KvBatchArgs>()).reader().read()?;
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
        let op: KvOp = UserSlice::new(op_ptr, size_of::<KvOp>()).reader().read()?;
        let mut value = KvValue::ZERO;
        let result = match run_op(&op, &mut value) {
            Ok(true) => {
                let at = offset_of!(KvOp, pair) + offset_of!(KvPair, value);
                UserSlice::new(op_ptr.wrapping_byte_add(at), size_of::<KvValue>())
                    .writer()
                    .write(&value)?;
                0
            }
            Ok(false) => 0,
            Err(e) => e.to_errno(),
        };
        UserSlice::new(op_ptr.wrapping_byte_add(offset_of!(KvOp, result)), size_of::<i32>())
            .writer()
            .write(&result)?;
    }
    // At most KV_BATCH_MAX.
    isize::try_from(args.count).map_err(|_| EINVAL)
}

/// `KV_IOC_CLEAR`.
pub(crate) fn clear() -> Result {
    with_table(|table| {
        table.clear();
        Ok(())
    })
}

/// `KV_IOC_DUMP`: whole buckets from the cursor on, as many as fit.
pub(crate) fn dump(arg: UserPtr) -> Result {
    let mut args: KvDumpArgs = UserSlice::new(arg, size_of::<KvDumpArgs>()).reader().read()?;
    if args.reserved != 0 {
        return Err(EINVAL);
    }
    let base = usize::try_from(args.pairs).map_err(|_| EFAULT)?;
    let room = usize::try_from(args.count).map_err(|_| EINVAL)?;
    let buckets = with_table(|table| Ok(table.buckets()))?;
    // A cursor past the end (or not one we returned) is the end.
    let mut bucket = u32::try_from(args.cursor).unwrap_or(u32::MAX);
    let mut written = 0usize;
    let mut needed = 0usize; // set when the next bucket does not fit
    let mut buf: KVVec<KvPair> = KVVec::new();
    while bucket < buckets {
        let left = room.saturating_sub(written);
        let mut items = 0usize;
        buf.clear();
        with_table(|table| {
            table.dump_bucket(bucket, |key, value| {
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
            });
            Ok(())
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
    UserSlice::new(arg, size_of::<KvDumpArgs>()).writer().write(&args)?;
    if full {
        return Err(ENOSPC);
    }
    Ok(())
}
