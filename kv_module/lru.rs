// SPDX-License-Identifier: GPL-2.0
//! Exact LRU (`use_lru=1`): the least recently used item is evicted, and a
//! get and a put both count as a use. Every use relinks the item as the
//! newest, so a get, after its lock-free lookup, takes the writer lock to
//! relink (see README, "How a get runs", for what that serializes); a use
//! of the item that already is the newest changes nothing.

use core::ops::DerefMut;

use crate::list::{Links, List};

pub struct Lru<L> {
    list: List<L>,
}

impl<L: DerefMut<Target = [Links]>> Lru<L> {
    pub fn new(links: L) -> Self {
        Lru {
            list: List::new(links),
        }
    }

    pub fn inserted(&mut self, i: u32) {
        self.list.push_newest(i);
    }

    pub fn used(&mut self, i: u32) {
        if self.list.newest() != i {
            self.list.unlink(i);
            self.list.push_newest(i);
        }
    }

    pub fn removed(&mut self, i: u32) {
        self.list.unlink(i);
    }

    pub fn victim(&self) -> Option<u32> {
        Some(self.list.oldest()).filter(|&i| i != crate::table::NIL)
    }

    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// Slots from least to most recently used (tests).
    #[cfg(test)]
    pub fn order(&self) -> std::vec::Vec<u32> {
        let mut v = std::vec::Vec::new();
        let mut i = self.list.oldest();
        while i != crate::table::NIL {
            v.push(i);
            i = self.list.newer(i);
        }
        v
    }
}
