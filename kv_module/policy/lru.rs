// SPDX-License-Identifier: GPL-2.0
//! Exact LRU (`use_lru=1`): the least recently used item is evicted.
//!
//! The list holds the items by last use, oldest first. A use relinks the
//! item as the newest; a use of the item that already is the newest changes
//! nothing, so repeated uses of one hot item write nothing.

use core::ops::DerefMut;

use super::list::{Links, List};
use crate::table::NIL;

/// Slot `i` (in the list) was used: it becomes the newest.
pub fn used<L: DerefMut<Target = [Links]>>(list: &mut List<L>, i: u32) {
    if list.newest() != i {
        list.unlink(i);
        list.push_newest(i);
    }
}

/// The least recently used slot; `None` when the list is empty.
pub fn victim<L: DerefMut<Target = [Links]>>(list: &List<L>) -> Option<u32> {
    Some(list.oldest()).filter(|&i| i != NIL)
}
