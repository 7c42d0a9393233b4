// SPDX-License-Identifier: GPL-2.0
//! A doubly linked list of slot indices, newest to oldest, in an array of
//! links beside the table: the order that `lru.rs` and `sieve.rs` keep. Only
//! the writer touches it (under the writer lock), so it is plain memory,
//! which grows with the table's blocks ([`List::grow`]).

use core::ops::DerefMut;

use crate::table::NIL;

/// One slot's neighbours in the list.
#[derive(Clone, Copy, Debug)]
pub struct Links {
    newer: u32,
    older: u32,
}

impl Links {
    pub const fn new() -> Self {
        Links {
            newer: NIL,
            older: NIL,
        }
    }
}

impl Default for Links {
    fn default() -> Self {
        Self::new()
    }
}

/// The list. Invariant: the slots pushed and not unlinked form one chain from
/// `newest` to `oldest` through `older`, and back through `newer`.
pub struct List<L> {
    links: L,
    newest: u32,
    oldest: u32,
}

impl<L: DerefMut<Target = [Links]>> List<L> {
    /// An empty list over one `Links` per slot.
    pub fn new(links: L) -> Self {
        List {
            links,
            newest: NIL,
            oldest: NIL,
        }
    }

    pub fn newest(&self) -> u32 {
        self.newest
    }

    pub fn oldest(&self) -> u32 {
        self.oldest
    }

    /// The next newer slot than `i`, `NIL` for the newest.
    pub fn newer(&self, i: u32) -> u32 {
        self.links.get(i as usize).map_or(NIL, |l| l.newer)
    }

    /// The next older slot than `i`, `NIL` for the oldest.
    pub fn older(&self, i: u32) -> u32 {
        self.links.get(i as usize).map_or(NIL, |l| l.older)
    }

    fn set(&mut self, i: u32, f: impl FnOnce(&mut Links)) {
        if let Some(l) = self.links.get_mut(i as usize) {
            f(l);
        }
    }

    /// Adds slot `i` (not in the list) as the newest.
    pub fn push_newest(&mut self, i: u32) {
        let old_newest = self.newest;
        self.set(i, |l| {
            l.newer = NIL;
            l.older = old_newest;
        });
        if old_newest == NIL {
            self.oldest = i;
        } else {
            self.set(old_newest, |l| l.newer = i);
        }
        self.newest = i;
    }

    /// Puts slot `j` (not in the list) where slot `i` (in the list) is,
    /// and takes `i` out.
    pub fn swap_in(&mut self, i: u32, j: u32) {
        let Links { newer, older } = self.links.get(i as usize).copied().unwrap_or_default();
        self.set(j, |l| *l = Links { newer, older });
        if newer == NIL {
            self.newest = j;
        } else {
            self.set(newer, |l| l.older = j);
        }
        if older == NIL {
            self.oldest = j;
        } else {
            self.set(older, |l| l.newer = j);
        }
        self.set(i, |l| *l = Links::new());
    }

    /// Slots the links cover.
    pub fn capacity(&self) -> usize {
        self.links.len()
    }

    /// Moves the links into `more` (fresh), as many as fit, and uses it from
    /// now on; the old array, for the caller to free.
    pub fn grow(&mut self, mut more: L) -> L {
        for (new, old) in more.iter_mut().zip(self.links.iter()) {
            *new = *old;
        }
        core::mem::swap(&mut self.links, &mut more);
        more
    }

    /// Removes slot `i` (in the list).
    pub fn unlink(&mut self, i: u32) {
        let (newer, older) = (self.newer(i), self.older(i));
        if newer == NIL {
            self.newest = older;
        } else {
            self.set(newer, |l| l.older = older);
        }
        if older == NIL {
            self.oldest = newer;
        } else {
            self.set(older, |l| l.newer = newer);
        }
        self.set(i, |l| *l = Links::new());
    }

    /// Forgets every slot (their links are rewritten when pushed again).
    pub fn clear(&mut self) {
        self.newest = NIL;
        self.oldest = NIL;
    }
}
