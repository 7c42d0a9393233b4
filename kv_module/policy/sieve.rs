// SPDX-License-Identifier: GPL-2.0
//! SIEVE (`use_lru=2`; Zhang et al., "SIEVE is Simpler than LRU", NSDI 2024).
//!
//! Items stay in insertion order (the list, oldest first) with one "visited"
//! bit each: the table's per-slot `referenced` bit. A hit only sets the bit,
//! without a lock, and only when it is not set yet, so a hot item's line is
//! written once per pass; a hit that an eviction may have overtaken (one
//! began between its lookup and its mark) is finished under the writer lock
//! instead (`policy/mod.rs`). To evict, a hand moves from where it stopped last
//! (first: the oldest item) towards newer items, wrapping from the newest to
//! the oldest; it clears each set bit it passes and evicts the first item
//! whose bit was clear, then rests on the next newer item.
//!
//! A lock-free hit whose lookup came before an eviction cannot set a bit the
//! hand has already read in it (each read advances the slot's stamp:
//! `Table::mark_hit`), so one pass clears every bit and the hand stops at
//! the latest on its second visit to where it started. The sweep is bounded
//! by two passes all the same, and then evicts the item it is on.

use core::ops::DerefMut;

use super::list::{Links, List};
use crate::table::{Found, Hit, NIL};

/// The per-slot bits the hand reads and clears (the table's `referenced`).
pub trait Visited {
    /// Reads and clears slot `i`'s bit (writer lock held).
    fn take(&self, i: u32) -> bool;
    /// Sets slot `i`'s bit (writer lock held).
    fn set(&self, i: u32);
    /// Sets the bit of the item a lock-free lookup `found`, if its slot
    /// still holds it and no eviction has read the bit since, without a
    /// lock (`Table::mark_hit`).
    fn hit(&self, found: &Found) -> Hit;
}

/// Where the next eviction starts looking: a slot in the list, or `NIL` for
/// the oldest item.
pub struct Hand {
    at: u32,
}

impl Hand {
    pub const fn new() -> Self {
        Hand { at: NIL }
    }

    /// Slot `i` is about to leave the list: a hand resting on it moves on to
    /// the next newer item (`NIL` past the newest: the oldest, next time).
    pub fn step_off<L: DerefMut<Target = [Links]>>(&mut self, list: &List<L>, i: u32) {
        if self.at == i {
            self.at = list.newer(i);
        }
    }

    /// Slot `i`'s item moved to slot `j`: a hand on it moves with it.
    pub fn moved(&mut self, i: u32, j: u32) {
        if self.at == i {
            self.at = j;
        }
    }

    /// The item to evict among the list's `len` items; the hand stays on it
    /// until [`Hand::step_off`] moves it on.
    pub fn victim<L: DerefMut<Target = [Links]>>(
        &mut self,
        list: &List<L>,
        visited: &impl Visited,
        len: u32,
    ) -> Option<u32> {
        let mut i = if self.at == NIL {
            list.oldest()
        } else {
            self.at
        };
        if i == NIL {
            return None;
        }
        // Two passes clear every bit that no concurrent hit sets again.
        let limit = u64::from(len).saturating_mul(2);
        let mut steps = 0u64;
        while steps < limit && visited.take(i) {
            i = match list.newer(i) {
                NIL => list.oldest(),
                newer => newer,
            };
            steps += 1;
        }
        self.at = i;
        Some(i)
    }

    /// Back to the oldest item.
    pub fn clear(&mut self) {
        self.at = NIL;
    }

    /// The slot the hand rests on, `NIL` for the oldest (tests).
    #[cfg(test)]
    pub fn at(&self) -> u32 {
        self.at
    }
}
