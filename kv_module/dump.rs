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
//! # Bounds
//!
//! The writer lock is a spinlock, so nothing under it may sleep or
//! allocate: the items are copied into a buffer reserved beforehand, and
//! copied out to the caller after the lock is dropped. One call reads at
//! most [`BUCKET_MAX`] items of a bucket under the lock (the walk stops
//! there), and its buffer grows, with a fallible allocation outside the
//! lock, only to the largest bucket that fits both the caller's room and
//! that bound: a bucket holding more answers E2BIG. Between buckets the call
//! lets the scheduler run others, and a pending signal ends it (with what
//! it has delivered, or ERESTARTSYS if nothing).
//!
//! Every error leaves the caller's cursor as it was.

use core::mem::size_of;

use kernel::{
    alloc::flags::__GFP_NOWARN,
    prelude::*,
    transmute::AsBytes,
    uaccess::{UserPtr, UserSlice},
};

use crate::abi::{KvDumpArgs, KvPair};
use crate::ioctl::Access;
use crate::loaded_store::{clock, shared, with_writer};

/// The most items one call reads from a bucket, and so the most pairs it
/// buffers (about 330 KB) and the longest walk it makes under the writer
/// lock. Only a load factor (`max_items / buckets`) hundreds of times what
/// the module warns about at load makes a bucket this long.
pub(crate) const BUCKET_MAX: u32 = 1024;

/// What ended a call's walk over the buckets before the last one.
enum Stop {
    /// The next bucket needs this much room, more than is left.
    Room(u32),
    /// The next bucket holds more than [`BUCKET_MAX`] items.
    TooBig,
    /// A signal is pending.
    Signal,
}

/// `KV_IOC_DUMP`: whole buckets from the cursor on, as many as fit.
pub(crate) fn dump(arg: UserPtr, access: Access) -> Result {
    let mut args: KvDumpArgs = UserSlice::new(arg, size_of::<KvDumpArgs>())
        .reader()
        .read()?;
    if args.reserved != 0 {
        return Err(EINVAL);
    }
    let base = usize::try_from(args.pairs).map_err(|_| EFAULT)?;
    let room = args.count;
    access.require_read()?;
    let store = shared()?;
    let buckets = store.buckets();
    // A cursor past the end (or not one we returned) is the end.
    let mut bucket = u32::try_from(args.cursor).unwrap_or(u32::MAX);
    let mut written = 0u32;
    let mut stop = None;
    let mut buf: KVVec<KvPair> = KVVec::new();
    while bucket < buckets {
        cond_resched();
        if kernel::current!().signal_pending() {
            stop = Some(Stop::Signal);
            break;
        }
        let left = room.saturating_sub(written);
        buf.clear();
        // Under the writer spinlock: the closure copies into capacity
        // reserved beforehand and never sleeps.
        let items = with_writer(|writer| {
            writer.dump_bucket(store, bucket, BUCKET_MAX, &clock(), |key, value| {
                // A bucket that does not fit the buffer is read again below.
                if buf.push_within_capacity(KvPair::ZERO).is_err() {
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
        })?;
        if items > BUCKET_MAX {
            stop = Some(Stop::TooBig);
            break;
        }
        if items > left {
            stop = Some(Stop::Room(items));
            break;
        }
        let items_len = usize::try_from(items).map_err(|_| EINVAL)?;
        if items_len > buf.len() {
            // The bucket fits the caller's room but not the buffer: grow it
            // outside the lock and read the bucket again. Capacity only grows
            // and stays within BUCKET_MAX, so this ends.
            buf.clear();
            buf.reserve(items_len, GFP_KERNEL | __GFP_NOWARN)?;
            continue;
        }
        if items > 0 {
            let at = usize::try_from(written)
                .ok()
                .and_then(|w| w.checked_mul(size_of::<KvPair>()))
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
    if written == 0 {
        // Nothing delivered: an error, with the cursor left as it was.
        match stop {
            Some(Stop::Room(needed)) => {
                args.count = needed;
                write_args(arg, &args)?;
                return Err(ENOSPC);
            }
            Some(Stop::TooBig) => return Err(E2BIG),
            Some(Stop::Signal) => return Err(ERESTARTSYS),
            None => {}
        }
    }
    args.cursor = u64::from(bucket.min(buckets));
    args.count = written;
    write_args(arg, &args)
}

fn write_args(arg: UserPtr, args: &KvDumpArgs) -> Result {
    UserSlice::new(arg, size_of::<KvDumpArgs>())
        .writer()
        .write(args)
}

/// Lets the scheduler run another task if this one should yield, as C's
/// `cond_resched()`. Only kernels that do not preempt tasks at any point
/// (or choose at boot, `PREEMPT_DYNAMIC`) have `__cond_resched`; a fully
/// preemptible one needs nothing.
pub(crate) fn cond_resched() {
    #[cfg(any(not(CONFIG_PREEMPTION), CONFIG_PREEMPT_DYNAMIC))]
    // SAFETY: `__cond_resched` may sleep; it is called in process context
    // (an ioctl) with no lock held and interrupts on.
    unsafe {
        kernel::bindings::__cond_resched();
    }
}
