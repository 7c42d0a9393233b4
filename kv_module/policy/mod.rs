// SPDX-License-Identifier: GPL-2.0
//! The eviction policies: the one place that says what each event does under
//! each policy. `lru.rs` and `sieve.rs` hold the two algorithms, `list.rs`
//! the order of items they keep; the table (`table.rs`) knows nothing of
//! policies beyond the per-slot bit it stores for SIEVE.
//!
//! | event                          | none   | exact LRU            | SIEVE                      |
//! |--------------------------------|--------|----------------------|----------------------------|
//! | hit: a get delivered its value | -      | relink as the newest | set the visited bit        |
//! | replace: a put, key present    | -      | relink as the newest | set the visited bit        |
//! | insert                         | -      | link as the newest   | link as the newest         |
//! | remove: a del or an eviction   | -      | unlink               | hand steps off it; unlink  |
//! | evict: a new key, store full   | `Full` | the oldest           | the hand's sweep           |
//! | clear                          | -      | forget all           | forget all; hand to oldest |
//!
//! Every event but a hit happens under the writer lock, on the writer's
//! [`Order`]. A hit happens without a lock ([`Policy::hit`]), after its value
//! has reached userspace, so a get that fails changes nothing: SIEVE's bit
//! is an atomic in the table; exact LRU, whose relink needs the writer lock,
//! is answered a [`Relink`] for the caller to finish the get under it.
//!
//! A get takes effect where its effect on the policy lands, and the value it
//! answers must still be the key's there, or a get of A could return A while
//! a concurrent put evicts A as the oldest (or as unvisited), an outcome no
//! order of the two produces. So an exact-LRU get is finished under the
//! writer lock: if the key's bucket has not changed since the lookup, the
//! value delivered stands and the item becomes the newest; if it has, the
//! get is read again there and its answer replaces the first
//! (`Writer::relink`). A SIEVE get sets its bit without a lock; if an
//! eviction began between its lookup and that mark, then either the mark
//! landed before any eviction read the bit (the get comes before them all:
//! done) or it did not land (the eviction missed the hit): it is finished
//! under the writer lock the same way. No eviction reads a bit before a
//! mark and again after it (`Table::mark_hit`).

mod list;
mod lru;
mod sieve;

use core::ops::DerefMut;

pub use list::Links;
pub use sieve::Visited;

use list::List;
use sieve::Hand;

use crate::table::{Found, Hit};

/// The eviction policy, numbered as the `use_lru` parameter and the stat
/// ioctl's `use_lru` field number it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// 0: no eviction; a new key in a full store fails with `Full`.
    None = 0,
    /// 1: exact LRU.
    Lru = 1,
    /// 2: SIEVE.
    Sieve = 2,
}

/// A hit to finish under the writer lock (`Writer::relink`): the lookup it
/// came from, and whether its mark is already in the item's bit for every
/// eviction that read it (a SIEVE hit raced by an eviction, whose mark
/// landed). Only [`Policy::hit`] makes one: every exact-LRU hit, and a
/// SIEVE hit that an eviction may have overtaken.
#[must_use = "the hit is finished by Writer::relink"]
pub struct Relink {
    pub(crate) found: Found,
    pub(crate) marked: bool,
}

impl Relink {
    /// The version of the item the lookup delivered.
    pub fn version(&self) -> u64 {
        self.found.version
    }
}

/// The writer's share of the policy, changed only under the writer lock:
/// the items in order, oldest first (exact LRU: by last use; SIEVE: by
/// insertion), and SIEVE's hand. Without a policy the list has no links and
/// stays empty.
pub struct Order<L> {
    list: List<L>,
    hand: Hand,
}

impl Policy {
    pub fn from_u32(n: u32) -> Option<Self> {
        match n {
            0 => Some(Self::None),
            1 => Some(Self::Lru),
            2 => Some(Self::Sieve),
            _ => None,
        }
    }

    /// How many [`Links`] the policy's [`Order`] needs for `slots` slots.
    pub fn links(self, slots: u32) -> u32 {
        match self {
            Policy::None => 0,
            Policy::Lru | Policy::Sieve => slots,
        }
    }

    /// The value `found` reached the caller of a get; no lock is held.
    #[inline]
    pub fn hit(self, visited: &impl Visited, found: &Found) -> Option<Relink> {
        match self {
            Policy::None => None,
            Policy::Lru => Some(Relink {
                found: *found,
                marked: false,
            }),
            Policy::Sieve => match visited.hit(found) {
                Hit::Recorded => None,
                Hit::Raced { marked } => Some(Relink {
                    found: *found,
                    marked,
                }),
            },
        }
    }

    /// A use under the writer lock: a put replaced slot `i`'s value, or a
    /// get is finished there (`Writer::relink`).
    pub fn used<L: DerefMut<Target = [Links]>>(
        self,
        order: &mut Order<L>,
        visited: &impl Visited,
        i: u32,
    ) {
        match self {
            Policy::None => {}
            Policy::Lru => lru::used(&mut order.list, i),
            Policy::Sieve => visited.set(i),
        }
    }

    /// Slot `i` took a new item.
    pub fn inserted<L: DerefMut<Target = [Links]>>(self, order: &mut Order<L>, i: u32) {
        match self {
            Policy::None => {}
            Policy::Lru | Policy::Sieve => order.list.push_newest(i),
        }
    }

    /// Slot `i`'s item is being removed (a del or an eviction).
    pub fn removed<L: DerefMut<Target = [Links]>>(self, order: &mut Order<L>, i: u32) {
        match self {
            Policy::None => {}
            Policy::Lru => order.list.unlink(i),
            Policy::Sieve => {
                order.hand.step_off(&order.list, i);
                order.list.unlink(i);
            }
        }
    }

    /// Slot `i`'s item moved to slot `j` (a replace that changed its
    /// size): `j` takes its place in the order, and its referenced bit.
    pub fn moved<L: DerefMut<Target = [Links]>>(
        self,
        order: &mut Order<L>,
        visited: &impl Visited,
        i: u32,
        j: u32,
    ) {
        match self {
            Policy::None => {}
            Policy::Lru | Policy::Sieve => {
                order.list.swap_in(i, j);
                order.hand.moved(i, j);
                if visited.take(i) {
                    visited.set(j);
                }
            }
        }
    }

    /// The slot to evict for a new key, among the store's `len` items;
    /// `None` when the policy evicts nothing.
    pub fn victim<L: DerefMut<Target = [Links]>>(
        self,
        order: &mut Order<L>,
        visited: &impl Visited,
        len: u32,
    ) -> Option<u32> {
        match self {
            Policy::None => None,
            Policy::Lru => lru::victim(&order.list),
            Policy::Sieve => order.hand.victim(&order.list, visited, len),
        }
    }
}

impl<L: DerefMut<Target = [Links]>> Order<L> {
    /// An empty order over [`Policy::links`] links.
    pub fn new(links: L) -> Self {
        Order {
            list: List::new(links),
            hand: Hand::new(),
        }
    }

    /// Slots the links cover.
    pub fn capacity(&self) -> usize {
        self.list.capacity()
    }

    /// Takes `more` links (fresh, at least as many) in place of its own,
    /// which it answers, for the caller to free.
    pub fn grow(&mut self, more: L) -> L {
        self.list.grow(more)
    }

    /// Gives up its links (the store was cleared: no slot is left), for
    /// the caller to free; it has none until it grows again.
    pub fn take_links(&mut self) -> L
    where
        L: Default,
    {
        self.clear();
        self.list.grow(L::default())
    }

    /// Forgets every item (the store was cleared).
    pub fn clear(&mut self) {
        self.list.clear();
        self.hand.clear();
    }

    /// The slots oldest first, and SIEVE's hand (tests).
    #[cfg(test)]
    pub(crate) fn for_test(&self) -> (std::vec::Vec<u32>, u32) {
        let mut slots = std::vec::Vec::new();
        let mut i = self.list.oldest();
        while i != crate::table::NIL {
            slots.push(i);
            i = self.list.newer(i);
        }
        (slots, self.hand.at())
    }
}
