// SPDX-License-Identifier: GPL-2.0
//! The deadlines of the items that expire: a binary min-heap of
//! (deadline, slot), indexed by slot, kept by the writer under its lock.
//!
//! It answers the two questions expiry asks of the writer in O(1): which
//! item expires first (the background reclaim takes expired items from the
//! top, a bounded number per step, as Redis's active expiry does, and a put
//! into a full store reuses an expired item's room before it evicts a live
//! one), and whether a slot has a deadline at all. Setting, moving and
//! removing a deadline are O(log n). All storage is allocated at load, one
//! entry and one position per slot, so no operation allocates.
//!
//! Plain `no_std` Rust; every index is checked (`get`), so a broken
//! invariant would make a wrong answer, never a panic.

use core::ops::DerefMut;

use crate::table::NIL;

/// One heap entry: a slot and its deadline (nanoseconds of the caller's
/// monotonic clock, never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub at: u64,
    pub slot: u32,
}

impl Deadline {
    pub const fn new() -> Self {
        Deadline { at: 0, slot: NIL }
    }
}

impl Default for Deadline {
    fn default() -> Self {
        Self::new()
    }
}

/// The heap (`heap[..len]`, the earliest deadline at 0) and each slot's
/// position in it (`NIL`: the slot has no deadline). Invariant: for every
/// `p < len`, `pos[heap[p].slot] == p`, and a parent's deadline is at most
/// its children's.
pub struct Deadlines<H, P> {
    heap: H,
    pos: P,
    len: u32,
}

impl<H, P> Deadlines<H, P>
where
    H: DerefMut<Target = [Deadline]>,
    P: DerefMut<Target = [u32]>,
{
    /// Over `heap` (as many entries as slots) and `pos` (one per slot,
    /// every one `NIL`).
    pub fn new(heap: H, pos: P) -> Self {
        Deadlines { heap, pos, len: 0 }
    }

    /// Number of slots with a deadline.
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The earliest deadline, if any slot has one.
    pub fn earliest(&self) -> Option<Deadline> {
        if self.len == 0 {
            return None;
        }
        self.heap.first().copied()
    }

    /// The deadline of `slot`, if it has one.
    pub fn of(&self, slot: u32) -> Option<u64> {
        let p = self.position(slot)?;
        self.heap.get(p as usize).map(|d| d.at)
    }

    fn position(&self, slot: u32) -> Option<u32> {
        self.pos
            .get(slot as usize)
            .copied()
            .filter(|&p| p < self.len)
    }

    /// Gives `slot` the deadline `at`, or, for `at == 0`, none.
    pub fn set(&mut self, slot: u32, at: u64) {
        if at == 0 {
            self.remove(slot);
            return;
        }
        if let Some(p) = self.position(slot) {
            if let Some(e) = self.heap.get_mut(p as usize) {
                e.at = at;
            }
            self.restore(p);
            return;
        }
        let p = self.len;
        let (Some(e), Some(pos)) = (
            self.heap.get_mut(p as usize),
            self.pos.get_mut(slot as usize),
        ) else {
            return; // a slot number past the storage: never from the writer
        };
        *e = Deadline { at, slot };
        *pos = p;
        self.len = p.saturating_add(1);
        self.sift_up(p);
    }

    /// Takes `slot`'s deadline away, if it has one.
    pub fn remove(&mut self, slot: u32) {
        let Some(p) = self.position(slot) else {
            return;
        };
        if let Some(pos) = self.pos.get_mut(slot as usize) {
            *pos = NIL;
        }
        let last = self.len.saturating_sub(1);
        self.len = last;
        if p == last {
            return;
        }
        let Some(moved) = self.heap.get(last as usize).copied() else {
            return;
        };
        if let Some(e) = self.heap.get_mut(p as usize) {
            *e = moved;
        }
        if let Some(pos) = self.pos.get_mut(moved.slot as usize) {
            *pos = p;
        }
        self.restore(p);
    }

    /// Forgets every deadline.
    pub fn clear(&mut self) {
        let len = self.len as usize;
        for e in self.heap.iter().take(len) {
            if let Some(pos) = self.pos.get_mut(e.slot as usize) {
                *pos = NIL;
            }
        }
        self.len = 0;
    }

    /// Moves the entry at `p` up or down to where the order wants it.
    fn restore(&mut self, p: u32) {
        let p = self.sift_up(p);
        self.sift_down(p);
    }

    fn at(&self, p: u32) -> u64 {
        self.heap.get(p as usize).map_or(u64::MAX, |e| e.at)
    }

    /// Swaps the entries at `a` and `b` (both below `len`), positions too.
    fn swap(&mut self, a: u32, b: u32) {
        let n = self.heap.len();
        if a as usize >= n || b as usize >= n {
            return; // never: both are below `len`
        }
        self.heap.swap(a as usize, b as usize);
        for p in [a, b] {
            if let Some(slot) = self.heap.get(p as usize).map(|e| e.slot) {
                if let Some(pos) = self.pos.get_mut(slot as usize) {
                    *pos = p;
                }
            }
        }
    }

    fn sift_up(&mut self, mut p: u32) -> u32 {
        while p > 0 {
            let parent = (p - 1) / 2;
            if self.at(parent) <= self.at(p) {
                break;
            }
            self.swap(parent, p);
            p = parent;
        }
        p
    }

    fn sift_down(&mut self, mut p: u32) {
        loop {
            // Below MAX_ITEMS (2^20): no overflow.
            let left = p.saturating_mul(2).saturating_add(1);
            let right = left.saturating_add(1);
            let mut least = p;
            if left < self.len && self.at(left) < self.at(least) {
                least = left;
            }
            if right < self.len && self.at(right) < self.at(least) {
                least = right;
            }
            if least == p {
                return;
            }
            self.swap(p, least);
            p = least;
        }
    }
}
