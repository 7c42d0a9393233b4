// SPDX-License-Identifier: GPL-2.0
//! SIEVE (`use_lru=2`; Zhang et al., "SIEVE is Simpler than LRU", NSDI 2024).
//!
//! Items stay in insertion order (a FIFO list) with one "visited" bit each:
//! the table's per-slot `referenced` bit. A hit only sets the bit, without a
//! lock, and only when it is not set yet, so a hot item's line is written
//! once per pass. To evict, a hand moves from where it stopped last (first:
//! the oldest item) towards newer items, wrapping from the newest to the
//! oldest; it clears each set bit it passes and evicts the first item whose
//! bit was clear, then rests on the next newer item. A put that replaces a
//! value counts as a hit.
//!
//! Lock-free hits can set bits while the hand sweeps, so in theory the hand
//! could find every bit set again and again; after two full passes it evicts
//! the item it is on, whatever its bit.

use core::ops::DerefMut;

use crate::list::{Links, List};
use crate::table::NIL;

/// The per-slot bits the hand reads and clears (the table's `referenced`).
pub trait Visited {
    /// Reads and clears slot `i`'s bit.
    fn take(&self, i: u32) -> bool;
    /// Sets slot `i`'s bit.
    fn set(&self, i: u32);
}

pub struct Sieve<L> {
    list: List<L>,
    /// Where the next eviction starts looking, `NIL` for the oldest item.
    hand: u32,
    /// Items in the list, to bound the sweep.
    len: u32,
}

impl<L: DerefMut<Target = [Links]>> Sieve<L> {
    pub fn new(links: L) -> Self {
        Sieve {
            list: List::new(links),
            hand: NIL,
            len: 0,
        }
    }

    pub fn inserted(&mut self, i: u32) {
        self.list.push_newest(i);
        self.len = self.len.saturating_add(1);
    }

    pub fn used(&mut self, visited: &impl Visited, i: u32) {
        visited.set(i);
    }

    pub fn removed(&mut self, i: u32) {
        if self.hand == i {
            self.hand = self.list.newer(i);
        }
        self.list.unlink(i);
        self.len = self.len.saturating_sub(1);
    }

    /// The item to evict; the hand stays on it until `removed` moves it on.
    pub fn victim(&mut self, visited: &impl Visited) -> Option<u32> {
        let mut i = if self.hand == NIL {
            self.list.oldest()
        } else {
            self.hand
        };
        if i == NIL {
            return None;
        }
        // Two passes clear every bit that no concurrent hit sets again.
        let limit = u64::from(self.len).saturating_mul(2);
        let mut steps = 0u64;
        while steps < limit && visited.take(i) {
            i = match self.list.newer(i) {
                NIL => self.list.oldest(),
                newer => newer,
            };
            steps += 1;
        }
        self.hand = i;
        Some(i)
    }

    pub fn clear(&mut self) {
        self.list.clear();
        self.hand = NIL;
        self.len = 0;
    }

    /// Slots from oldest to newest, and the hand (tests).
    #[cfg(test)]
    pub fn order(&self) -> (std::vec::Vec<u32>, u32) {
        let mut v = std::vec::Vec::new();
        let mut i = self.list.oldest();
        while i != NIL {
            v.push(i);
            i = self.list.newer(i);
        }
        (v, self.hand)
    }
}
