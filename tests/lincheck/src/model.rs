//! The sequential specification of kvstore: what one call does to a store
//! that runs one call at a time, as README.md ("Semantics", "Conditional
//! puts, batches", "Eviction policies and concurrency") promises. Written
//! from that text and the policy files' descriptions, not from the store's
//! code, so that the store is checked against the promise.

use std::fmt;

use crate::history::{Call, Key, Outcome, Value, When};

/// What a new key in a full store does (module parameter `use_lru`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// 0: nothing is evicted; the put fails with ENOSPC and changes nothing.
    NoEviction,
    /// 1: exact LRU: the least recently used item goes; a get hit and a put
    /// (insert or replace) are uses.
    Lru,
    /// 2: SIEVE: items in insertion order with a visited bit each, set by a
    /// get hit and by a put that replaces; a hand looks for the victim.
    Sieve,
}

impl Policy {
    /// The policy the stat ioctl's `use_lru` number stands for.
    pub fn from_use_lru(n: u32) -> Option<Policy> {
        match n {
            0 => Some(Policy::NoEviction),
            1 => Some(Policy::Lru),
            2 => Some(Policy::Sieve),
            _ => None,
        }
    }

    /// `none`, `lru` or `sieve`, as kvctl names them.
    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "none",
            Policy::Lru => "lru",
            Policy::Sieve => "sieve",
        }
    }
}

/// A store of at most `max_items` items under `policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    pub policy: Policy,
    pub max_items: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Item {
    key: Key,
    value: Value,
    /// SIEVE's visited bit (always false under the other policies).
    visited: bool,
}

/// The store's contents and the policy's bookkeeping, hashable so that
/// the checker can remember the states it has seen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct State {
    /// Oldest first: by last use under LRU, by insertion under SIEVE, by
    /// key without eviction (where order means nothing, so one order keeps
    /// equal stores equal).
    items: Vec<Item>,
    /// SIEVE: the item the next search for a victim starts at; `None`
    /// starts at the oldest.
    hand: Option<Key>,
}

impl State {
    fn position(&self, key: Key) -> Option<usize> {
        self.items.iter().position(|item| item.key == key)
    }

    /// Removes item `i`; a hand resting on it moves to the next newer item
    /// (or to the start when it was the newest).
    fn remove(&mut self, i: usize) {
        if self.hand.is_some() && self.hand == self.items.get(i).map(|item| item.key) {
            self.hand = self.items.get(i + 1).map(|item| item.key);
        }
        if i < self.items.len() {
            self.items.remove(i);
        }
    }

    /// SIEVE's victim: from the hand towards newer items, wrapping from the
    /// newest to the oldest, clearing each visited bit passed, the first
    /// item not visited. The hand stays on it. `None` in an empty store.
    fn sieve_victim(&mut self) -> Option<usize> {
        let len = self.items.len();
        let mut i = self.hand.and_then(|key| self.position(key)).unwrap_or(0);
        // One pass clears every bit, so the second meets a clear one.
        for _ in 0..=len {
            let item = self.items.get_mut(i)?;
            if !item.visited {
                self.hand = Some(item.key);
                return Some(i);
            }
            item.visited = false;
            i = (i + 1) % len;
        }
        None
    }
}

impl fmt::Display for State {
    /// `[A=1 B=2*] hand B`: oldest first, `*` for visited.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (n, item) in self.items.iter().enumerate() {
            let sep = if n == 0 { "" } else { " " };
            let mark = if item.visited { "*" } else { "" };
            write!(f, "{sep}{}={}{mark}", item.key, item.value)?;
        }
        write!(f, "]")?;
        if let Some(hand) = self.hand {
            write!(f, " hand {hand}")?;
        }
        Ok(())
    }
}

impl Model {
    /// The state after `call` runs alone in `state`, and what it answers.
    pub fn step(&self, state: &State, call: &Call) -> (State, Outcome) {
        let mut next = state.clone();
        let outcome = match *call {
            Call::Get(key) => self.get(&mut next, key),
            Call::Put(key, value, when) => self.put(&mut next, key, value, when),
            Call::Del(key) => Self::del(&mut next, key),
        };
        (next, outcome)
    }

    fn get(&self, s: &mut State, key: Key) -> Outcome {
        let Some(i) = s.position(key) else {
            return Outcome::NotFound;
        };
        let value = s.items.get(i).map(|item| item.value);
        self.used(s, i);
        value.map_or(Outcome::NotFound, Outcome::Value)
    }

    fn put(&self, s: &mut State, key: Key, value: Value, when: When) -> Outcome {
        if let Some(i) = s.position(key) {
            if when == When::IfAbsent {
                return Outcome::Exists;
            }
            if let Some(item) = s.items.get_mut(i) {
                item.value = value;
            }
            self.used(s, i);
            return Outcome::Ok;
        }
        if when == When::IfPresent {
            return Outcome::NotFound;
        }
        if s.items.len() >= self.max_items {
            let victim = match self.policy {
                Policy::NoEviction => None,
                Policy::Lru => (!s.items.is_empty()).then_some(0),
                Policy::Sieve => s.sieve_victim(),
            };
            let Some(victim) = victim else {
                return Outcome::Full;
            };
            s.remove(victim);
        }
        let item = Item {
            key,
            value,
            visited: false,
        };
        if self.policy == Policy::NoEviction {
            let at = s.items.partition_point(|other| other.key < key);
            s.items.insert(at, item);
        } else {
            s.items.push(item);
        }
        Outcome::Ok
    }

    fn del(s: &mut State, key: Key) -> Outcome {
        match s.position(key) {
            Some(i) => {
                s.remove(i);
                Outcome::Ok
            }
            None => Outcome::NotFound,
        }
    }

    /// A get hit or a replacing put of item `i`.
    fn used(&self, s: &mut State, i: usize) {
        match self.policy {
            Policy::NoEviction => {}
            Policy::Lru => {
                if i < s.items.len() {
                    let item = s.items.remove(i);
                    s.items.push(item);
                }
            }
            Policy::Sieve => {
                if let Some(item) = s.items.get_mut(i) {
                    item.visited = true;
                }
            }
        }
    }
}
