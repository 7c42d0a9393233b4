// SPDX-License-Identifier: GPL-2.0
//! Host tests of the store, one file per behaviour, with the helpers they
//! share: a host allocator and the operations as kv.ko runs them. The
//! model-based test (`model.rs`) checks every policy's exact eviction order;
//! `threads.rs` tries to catch a lock-free reader seeing a torn value.

mod counters;
mod dump;
mod events;
mod eviction;
mod expiry;
mod hash;
mod key_and_value;
mod limits;
mod mapped;
mod memory;
mod model;
mod threads;
mod versions;
mod writes;

use core::cell::RefCell;
use core::hint::spin_loop;
use std::vec::Vec;

use crate::policy::Policy;
use crate::store::{
    Alloc, Clock, Condition, Error, Events, Expired, Put, PutArgs, Relinked, Store, Writer,
};
use crate::table::ValueOut;

struct HostAlloc;

fn chunk_layout(bytes: usize) -> Option<std::alloc::Layout> {
    std::alloc::Layout::from_size_align(bytes, crate::table::CHUNK_ALIGN).ok()
}

// SAFETY: Chunks come zeroed from the global allocator with the size and
// alignment asked, and stay valid until `free_chunk`.
unsafe impl Alloc for HostAlloc {
    type Vec<T> = Vec<T>;
    const CHUNKS_UNDER_LOCK: bool = true;

    fn vec<T>(len: usize, mut f: impl FnMut() -> T) -> Option<Vec<T>> {
        let mut v = Vec::new();
        v.try_reserve_exact(len).ok()?;
        v.extend((0..len).map(|_| f()));
        Some(v)
    }

    fn chunk(bytes: usize) -> Option<core::ptr::NonNull<u8>> {
        let layout = chunk_layout(bytes).filter(|l| l.size() > 0)?;
        // SAFETY: `layout` has a non-zero size.
        core::ptr::NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
    }

    unsafe fn free_chunk(chunk: core::ptr::NonNull<u8>, bytes: usize) {
        if let Some(layout) = chunk_layout(bytes) {
            // SAFETY: The caller passes a chunk from `chunk(bytes)`, which
            // allocated it with this layout.
            unsafe { std::alloc::dealloc(chunk.as_ptr(), layout) };
        }
    }
}

/// Chunks a clear detached, freed when the test ends (its readers may
/// still be inside them until then).
struct Retired(Vec<(core::ptr::NonNull<u8>, usize)>);

// SAFETY: Plain memory, freed by whichever thread drops the list.
unsafe impl Send for Retired {}

impl Drop for Retired {
    fn drop(&mut self) {
        for &(chunk, bytes) in &self.0 {
            // SAFETY: Each came from `HostAlloc::chunk(bytes)` through a
            // clear, and the test is over.
            unsafe { HostAlloc::free_chunk(chunk, bytes) };
        }
    }
}

/// Frees a chunk a clear detached, at once: for a test without
/// concurrent readers.
fn free_now(chunk: core::ptr::NonNull<u8>, bytes: usize) {
    // SAFETY: Called by a clear with a chunk from `HostAlloc::chunk(bytes)`
    // that it detached, in a test where no reader runs concurrently.
    unsafe { HostAlloc::free_chunk(chunk, bytes) };
}

/// An event the store reported, as [`Events`] gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Evicted(u32, Policy, u32),
    Expired(u32, Expired, u32),
    Refused(u32, u32),
}

std::thread_local! {
    /// The events of the stores this thread wrote to, oldest first.
    static EVENTS: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// The events this thread's stores reported since the last call.
fn take_events() -> Vec<Event> {
    EVENTS.with(|e| e.take())
}

impl Events for HostAlloc {
    fn evicted(slot: u32, policy: Policy, items: u32) {
        EVENTS.with(|e| e.borrow_mut().push(Event::Evicted(slot, policy, items)));
    }
    fn expired(slot: u32, cause: Expired, items: u32) {
        EVENTS.with(|e| e.borrow_mut().push(Event::Expired(slot, cause, items)));
    }
    fn put_refused(items: u32, max_items: u32) {
        EVENTS.with(|e| e.borrow_mut().push(Event::Refused(items, max_items)));
    }
}

type HStore = Store<HostAlloc>;
type HWriter = Writer<HostAlloc>;

fn store(buckets: u32, items: u32, policy: Policy) -> (HStore, HWriter) {
    Store::new(buckets, items, policy, 4, [7, 11]).unwrap()
}

fn put(s: &HStore, w: &mut HWriter, k: &[u8], v: &[u8]) -> Result<Put, Error> {
    put_if(s, w, k, v, Condition::Always)
}

fn put_if(s: &HStore, w: &mut HWriter, k: &[u8], v: &[u8], c: Condition) -> Result<Put, Error> {
    let key = s.key(k)?;
    let args = PutArgs { cond: c, ttl_ms: 0 };
    w.put_if(s, &key, v, args, &never())
}

/// A clock for tests where nothing expires: time stands at 1 ns.
fn never() -> Clock<fn() -> u64> {
    Clock::new(|| 1)
}

/// A get as the module does it: lock-free, then, once the value was
/// delivered, the hit recorded and (exact LRU) the relink under the writer.
fn get(s: &HStore, w: &mut HWriter, k: &[u8]) -> Result<Vec<u8>, Error> {
    let key = s.key(k)?;
    let mut out = ValueOut::new();
    let found = s.get(&key, 1, &mut out, spin_loop, || 1)?;
    if let Some(relink) = s.hit(1, &found) {
        if w.relink(s, &key, relink, 1, out.value()) == Relinked::Gone {
            return Err(Error::NotFound);
        }
    }
    assert_eq!(found.len, out.value_len());
    Ok(out.value().to_vec())
}

fn del(s: &HStore, w: &mut HWriter, k: &[u8]) -> Result<(), Error> {
    let key = s.key(k)?;
    w.del(s, &key, &never())
}
