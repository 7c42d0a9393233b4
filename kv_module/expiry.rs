// SPDX-License-Identifier: GPL-2.0
//! The deadlines of the items that expire, kept by the writer under its
//! lock: first-in first-out queues of items that share a TTL, and a binary
//! min-heap for the rest.
//!
//! It answers the two questions expiry asks of the writer: which item
//! expires first (the background reclaim takes expired items from the
//! front, a bounded number per step, as Redis's active expiry does, and a
//! put into a full store reuses an expired item's room before it evicts a
//! live one), and whether a slot has a deadline at all.
//!
//! Why queues: items put with the same TTL, one after another under the
//! writer lock on a clock that never goes back, expire in the order they
//! were put. Appending each to the queue of its TTL keeps that queue sorted
//! without comparing anything, and the commonest change of a cache, a put
//! that renews an item's TTL, moves the item from wherever it is to its
//! queue's tail: O(1), where a heap sifts the item down O(log n) levels.
//! Most renewals do not even move: deadlines are rounded down to a step of
//! under 1/1024 of the TTL (`Clock::expiry`), so an item renewed within a
//! step keeps its deadline and [`Deadlines::set`] returns after a compare.
//! A cache uses few TTLs; [`QUEUES`] of them at a time have a queue. A
//! deadline that fits no queue (yet another TTL while every queue serves
//! one, or a deadline earlier than its queue's tail, which only a clock
//! that went back would make) goes to the heap, O(log n). The order of
//! every queue is checked at each append, so a queue is never out of order
//! whatever the clock does: the queues make the index fast, never wrong.
//! The earliest deadline is the least of the heap's top and the queues'
//! heads: O([`QUEUES`]), asked only by the reclaim and by a put into a
//! full store.
//!
//! Each item's [`Entry`] lives with the item (in the store, the words at
//! the end of an expiring item's record: [`Entries`]), so an item that
//! never expires pays nothing for it. The heap's places grow with the
//! deadlines that need one: the caller asks [`Deadlines::heap_wants`]
//! before an operation that may give a deadline, allocates what it
//! answers, and hands it over ([`Deadlines::grow_heap`]); so no operation
//! allocates here, and a store whose items use a few TTLs has a heap of 64
//! places, and one whose items never expire none. Plain `no_std` Rust; every index is checked (`get`), so a broken
//! invariant would make a wrong answer, never a panic.

use core::cell::Cell;
use core::ops::DerefMut;

use crate::table::NIL;

/// How many TTLs have a queue at a time.
pub const QUEUES: usize = 8;

/// [`Entry::place`] of a slot in queue `q`: `IN_QUEUE + q`. Heap positions
/// are below `MAX_ITEMS` (2^20), far below this.
const IN_QUEUE: u32 = NIL - QUEUES as u32;

/// A slot and its deadline (nanoseconds of the caller's monotonic clock,
/// never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub at: u64,
    pub slot: u32,
}

/// What the index keeps for one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The slot's deadline, meaningful when `place` is not `NIL`.
    pub at: u64,
    /// `NIL`: no deadline; `IN_QUEUE + q`: in queue `q`; else the slot's
    /// position in the heap.
    pub place: u32,
    /// Neighbours in the slot's queue, toward the head and the tail.
    pub prev: u32,
    pub next: u32,
}

impl Entry {
    pub const fn new() -> Self {
        Entry {
            at: 0,
            place: NIL,
            prev: NIL,
            next: NIL,
        }
    }
}

impl Default for Entry {
    fn default() -> Self {
        Self::new()
    }
}

/// One queue: the slots whose deadline came from `ttl_ms`, earliest at the
/// head. A queue without slots may be given another TTL.
#[derive(Clone, Copy, Debug)]
struct Queue {
    ttl_ms: u64,
    head: u32,
    tail: u32,
    len: u32,
}

impl Queue {
    const EMPTY: Queue = Queue {
        ttl_ms: 0,
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

/// Where the entries live: one per slot, read and written by value (in
/// the store, in the words at the end of an expiring item's record).
pub trait Entries {
    /// Slot `slot`'s entry; `Entry::new()` for a slot that has no room for
    /// one (an item that does not expire); `None` past the slots.
    fn get(&self, slot: u32) -> Option<Entry>;
    /// Sets slot `slot`'s entry (ignored where it has no room: the index
    /// never gives such a slot a place).
    fn put(&self, slot: u32, entry: Entry);
}

/// Entries in an array, one per slot.
impl Entries for [Cell<Entry>] {
    fn get(&self, slot: u32) -> Option<Entry> {
        <[Cell<Entry>]>::get(self, slot as usize).map(Cell::get)
    }

    fn put(&self, slot: u32, entry: Entry) {
        if let Some(e) = <[Cell<Entry>]>::get(self, slot as usize) {
            e.set(entry);
        }
    }
}

/// Changes slot `slot`'s entry with `f`, if the slot exists.
fn update<E: Entries + ?Sized>(es: &E, slot: u32, f: impl FnOnce(&mut Entry)) {
    if let Some(mut e) = es.get(slot) {
        f(&mut e);
        es.put(slot, e);
    }
}

/// The index. Invariants: a slot with a deadline is in exactly one queue
/// or in the heap, as its entry's `place` says; each queue's deadlines
/// never decrease from head to tail; for every heap position `p < len`,
/// the entry of `heap[p]` has `place == p`, and a parent's deadline is at
/// most its children's; `heap_len <= heap.len()`.
pub struct Deadlines<H> {
    heap: H,
    heap_len: u32,
    queues: [Queue; QUEUES],
    /// The queue the last deadline went to: the first one tried.
    last_queue: usize,
    len: u32,
}

impl<H> Deadlines<H>
where
    H: DerefMut<Target = [u32]>,
{
    /// Over `heap` (places for the deadlines the queues do not take; more
    /// come through [`Deadlines::grow_heap`]); every entry the index will
    /// be given is new.
    pub fn new(heap: H) -> Self {
        Deadlines {
            heap,
            heap_len: 0,
            queues: [Queue::EMPTY; QUEUES],
            last_queue: 0,
            len: 0,
        }
    }

    /// Number of slots with a deadline.
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots whose deadline is in the heap, not a queue.
    pub fn in_heap(&self) -> u32 {
        self.heap_len
    }

    /// The earliest deadline, if any slot has one.
    pub fn earliest<E: Entries + ?Sized>(&self, es: &E) -> Option<Deadline> {
        let mut first = self.heap.first().filter(|_| self.heap_len > 0).copied();
        for queue in self.queues.iter().filter(|q| q.len > 0) {
            if first.is_none_or(|f| self.at(es, queue.head) < self.at(es, f)) {
                first = Some(queue.head);
            }
        }
        first.map(|slot| Deadline {
            at: self.at(es, slot),
            slot,
        })
    }

    /// The deadline of `slot`, if it has one.
    pub fn of<E: Entries + ?Sized>(&self, es: &E, slot: u32) -> Option<u64> {
        es.get(slot).filter(|e| e.place != NIL).map(|e| e.at)
    }

    /// Gives `slot`, which had the deadline `had` (0: none; a slot has one
    /// exactly if the index holds it), the deadline
    /// `at` (0: none), which an item put with `ttl_ms` got: the TTL chooses
    /// the queue. A slot that keeps its deadline stays where it is. The
    /// slot's entry may hold `at` already (the store writes it with the
    /// item); the index orders it by `at` from here on. If `at` may need a
    /// heap place, [`Deadlines::heap_wants`] was asked first.
    #[inline(always)]
    pub fn set<E: Entries + ?Sized>(&mut self, es: &E, slot: u32, had: u64, at: u64, ttl_ms: u64) {
        // Inline, so that the commonest puts cost a compare here: of an
        // item that never expires and had no deadline, and of one whose
        // deadline stays (a renewal within the deadline's resolution).
        if had == at {
            return;
        }
        let Some(Entry { place, .. }) = es.get(slot) else {
            return; // a slot number past the storage: never from the writer
        };
        self.change(es, slot, at, place, ttl_ms);
    }

    /// [`Deadlines::set`] for a slot whose entry's place was `place`, with
    /// a deadline other than the one it had.
    #[inline(never)]
    fn change<E: Entries + ?Sized>(&mut self, es: &E, slot: u32, at: u64, place: u32, ttl_ms: u64) {
        if place != NIL {
            if at != 0 && place >= IN_QUEUE && self.renew(es, slot, place - IN_QUEUE, at, ttl_ms) {
                return;
            }
            self.remove(es, slot);
        }
        if at != 0 {
            self.add(es, slot, at, ttl_ms);
        }
    }

    /// `slot`, in queue `q`, renewed with the TTL of that queue, moves to
    /// its tail. False if the queue cannot take it.
    #[inline(always)]
    fn renew<E: Entries + ?Sized>(
        &mut self,
        es: &E,
        slot: u32,
        q: u32,
        at: u64,
        ttl_ms: u64,
    ) -> bool {
        let q = q as usize;
        let Some(&queue) = self.queues.get(q) else {
            return false;
        };
        // The queue's tail once `slot` has left it: a slot that is the tail
        // already stays there, after its predecessor. (Its own entry may
        // hold `at` already: never compared with itself.)
        let last = if queue.tail == slot {
            es.get(slot).map_or(NIL, |e| e.prev)
        } else {
            queue.tail
        };
        if queue.ttl_ms != ttl_ms || (last != NIL && self.at(es, last) > at) {
            return false;
        }
        if queue.tail != slot {
            self.unlink(es, q, slot);
            self.append(es, q, slot);
        }
        update(es, slot, |e| e.at = at);
        true
    }

    fn add<E: Entries + ?Sized>(&mut self, es: &E, slot: u32, at: u64, ttl_ms: u64) {
        let Some(mut e) = es.get(slot) else {
            return;
        };
        e.at = at;
        es.put(slot, e);
        match self.queue_for(es, ttl_ms, at) {
            Some(q) => self.append(es, q, slot),
            None => self.heap_insert(es, slot),
        }
        self.len = self.len.saturating_add(1);
    }

    /// Takes `slot`'s deadline away, if it has one.
    pub fn remove<E: Entries + ?Sized>(&mut self, es: &E, slot: u32) {
        let Some(place) = es.get(slot).map(|e| e.place) else {
            return;
        };
        if place == NIL {
            return;
        }
        if place >= IN_QUEUE {
            self.unlink(es, (place - IN_QUEUE) as usize, slot);
        } else {
            self.heap_remove(es, place);
        }
        self.set_place(es, slot, NIL);
        self.len = self.len.saturating_sub(1);
    }

    /// Forgets every deadline, and answers the heap's places for the
    /// caller to free.
    pub fn clear(&mut self) -> H
    where
        H: Default,
    {
        self.queues = [Queue::EMPTY; QUEUES];
        self.heap_len = 0;
        self.len = 0;
        core::mem::take(&mut self.heap)
    }

    /// How many heap places to allocate before an operation that may give
    /// one slot a deadline: `None` if the heap has a place free, or `most`
    /// places already (the slots that can have a deadline at once, which
    /// never need more); else twice the places, at least 64: a copy per
    /// doubling. (The deadline may well go to a queue; asking whether one
    /// takes it would cost every put with a TTL more than the 256 bytes a
    /// store that uses TTLs keeps for its first 64 places.)
    #[inline(always)]
    pub fn heap_wants(&self, most: usize) -> Option<usize> {
        let places = self.heap.len();
        if (self.heap_len as usize) < places || places >= most {
            return None;
        }
        Some(places.saturating_mul(2).max(64).min(most))
    }

    /// Takes `more` places (from [`Deadlines::heap_wants`]) for the heap if
    /// they are more than its own, copying its own into them; answers the
    /// array it does not keep, for the caller to free.
    pub fn grow_heap(&mut self, mut more: H) -> H {
        let len = self.heap_len as usize;
        if more.len() <= self.heap.len() {
            return more;
        }
        // A zip, not `copy_from_slice`: objtool cannot follow the latter's
        // panic path in a module built -Os.
        for (to, from) in more.iter_mut().zip(self.heap.iter().take(len)) {
            *to = *from;
        }
        core::mem::swap(&mut self.heap, &mut more);
        more
    }

    /// Bytes of the heap's places.
    pub fn heap_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.heap)
    }

    fn at<E: Entries + ?Sized>(&self, es: &E, slot: u32) -> u64 {
        es.get(slot).map_or(u64::MAX, |e| e.at)
    }

    fn set_place<E: Entries + ?Sized>(&mut self, es: &E, slot: u32, place: u32) {
        update(es, slot, |e| e.place = place);
    }

    /// Whether `queue` serves `ttl_ms` and can take `at` at its tail
    /// without going out of order.
    #[inline(always)]
    fn fits<E: Entries + ?Sized>(&self, es: &E, queue: &Queue, ttl_ms: u64, at: u64) -> bool {
        queue.ttl_ms == ttl_ms && (queue.len == 0 || self.at(es, queue.tail) <= at)
    }

    /// The queue that can take a deadline `at` from `ttl_ms` at its tail:
    /// the TTL's own queue if `at` is not before its tail, else an empty
    /// one, which then serves `ttl_ms`.
    fn queue_for<E: Entries + ?Sized>(&mut self, es: &E, ttl_ms: u64, at: u64) -> Option<usize> {
        let fits = |q: &Queue| self.fits(es, q, ttl_ms, at);
        let q = if self.queues.get(self.last_queue).is_some_and(fits) {
            self.last_queue
        } else if let Some(q) = self.queues.iter().position(fits) {
            q
        } else {
            let q = self.queues.iter().position(|q| q.len == 0)?;
            if let Some(queue) = self.queues.get_mut(q) {
                queue.ttl_ms = ttl_ms;
            }
            q
        };
        self.last_queue = q;
        Some(q)
    }

    #[inline(always)]
    fn append<E: Entries + ?Sized>(&mut self, es: &E, q: usize, slot: u32) {
        let Some(queue) = self.queues.get_mut(q) else {
            return;
        };
        let tail = queue.tail;
        if queue.len == 0 {
            queue.head = slot;
        }
        queue.tail = slot;
        queue.len = queue.len.saturating_add(1);
        update(es, tail, |e| e.next = slot);
        update(es, slot, |e| {
            // Below QUEUES: no overflow.
            e.place = IN_QUEUE + q as u32;
            e.prev = tail;
            e.next = NIL;
        });
    }

    #[inline(always)]
    fn unlink<E: Entries + ?Sized>(&mut self, es: &E, q: usize, slot: u32) {
        let Some(Entry { prev, next, .. }) = es.get(slot) else {
            return;
        };
        match es.get(prev) {
            Some(mut e) => {
                e.next = next;
                es.put(prev, e);
            }
            None => {
                if let Some(queue) = self.queues.get_mut(q) {
                    queue.head = next;
                }
            }
        }
        match es.get(next) {
            Some(mut e) => {
                e.prev = prev;
                es.put(next, e);
            }
            None => {
                if let Some(queue) = self.queues.get_mut(q) {
                    queue.tail = prev;
                }
            }
        }
        if let Some(queue) = self.queues.get_mut(q) {
            queue.len = queue.len.saturating_sub(1);
        }
    }

    fn heap_insert<E: Entries + ?Sized>(&mut self, es: &E, slot: u32) {
        let p = self.heap_len;
        let Some(place) = self.heap.get_mut(p as usize) else {
            return; // never: the writer asked `heap_wants` first
        };
        *place = slot;
        self.set_place(es, slot, p);
        self.heap_len = p.saturating_add(1);
        self.sift_up(es, p);
    }

    fn heap_remove<E: Entries + ?Sized>(&mut self, es: &E, p: u32) {
        let last = self.heap_len.saturating_sub(1);
        self.heap_len = last;
        if p == last {
            return;
        }
        let Some(moved) = self.heap.get(last as usize).copied() else {
            return;
        };
        if let Some(place) = self.heap.get_mut(p as usize) {
            *place = moved;
        }
        self.set_place(es, moved, p);
        let p = self.sift_up(es, p);
        self.sift_down(es, p);
    }

    fn heap_at<E: Entries + ?Sized>(&self, es: &E, p: u32) -> u64 {
        self.heap
            .get(p as usize)
            .map_or(u64::MAX, |&slot| self.at(es, slot))
    }

    /// Swaps the heap places `a` and `b` (both below `heap_len`).
    fn swap<E: Entries + ?Sized>(&mut self, es: &E, a: u32, b: u32) {
        let n = self.heap.len();
        if a as usize >= n || b as usize >= n {
            return; // never: both are below `heap_len`
        }
        self.heap.swap(a as usize, b as usize);
        for p in [a, b] {
            if let Some(&slot) = self.heap.get(p as usize) {
                self.set_place(es, slot, p);
            }
        }
    }

    fn sift_up<E: Entries + ?Sized>(&mut self, es: &E, mut p: u32) -> u32 {
        while p > 0 {
            let parent = (p - 1) / 2;
            if self.heap_at(es, parent) <= self.heap_at(es, p) {
                break;
            }
            self.swap(es, parent, p);
            p = parent;
        }
        p
    }

    fn sift_down<E: Entries + ?Sized>(&mut self, es: &E, mut p: u32) {
        loop {
            // Below MAX_ITEMS (2^20): no overflow.
            let left = p.saturating_mul(2).saturating_add(1);
            let right = left.saturating_add(1);
            let mut least = p;
            if left < self.heap_len && self.heap_at(es, left) < self.heap_at(es, least) {
                least = left;
            }
            if right < self.heap_len && self.heap_at(es, right) < self.heap_at(es, least) {
                least = right;
            }
            if least == p {
                return;
            }
            self.swap(es, p, least);
            p = least;
        }
    }
}
