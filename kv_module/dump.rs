// SPDX-License-Identifier: GPL-2.0
//! `KV_IOC_DUMP`: the store's items, a page of whole buckets per call, from
//! a cursor the caller passes back.
//!
//! # Why a dump lists every key present throughout exactly once
//!
//! 1. An item's bucket is fixed by its key's hash (the hash's seed is drawn
//!    once, at load), so a key is only ever in one bucket, and at most once
//!    in it (a put of a present key replaces its value).
//! 2. Each bucket is read whole in one critical section of the writer lock,
//!    so the read sees the bucket as it was at one instant.
//! 3. The cursor is the index of the next bucket to deliver, and a call
//!    delivers only whole buckets, advancing the cursor past each bucket it
//!    delivers. A bucket read but not delivered (it did not fit the caller's
//!    room, or the buffer had to grow) is read again, either later in the
//!    same call or by the next call from the same cursor. So every bucket is
//!    delivered exactly once over the iteration.
//!
//! A key present for the whole iteration is in its bucket when that bucket
//! is read (1, 2), and that bucket is delivered once (3): it is listed
//! exactly once. A key put or deleted during the iteration is listed at
//! most once, depending on whether its bucket was read before or after.
//!
//! # Memory
//!
//! The writer lock is a spinlock, so nothing under it may sleep or
//! allocate: the items are copied into a buffer reserved beforehand, and
//! copied out to the caller after the lock is dropped. The buffer grows, with
//! a fallible allocation outside the lock, only to the largest bucket that
//! still fits the caller's room (at most the table's own `max_items`).

use core::mem::size_of;

use kernel::{
    alloc::flags::__GFP_NOWARN,
    prelude::*,
    transmute::AsBytes,
    uaccess::{UserPtr, UserSlice},
};

use crate::abi::{KvDumpArgs, KvPair};
use crate::loaded_store::{shared, with_writer};

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
