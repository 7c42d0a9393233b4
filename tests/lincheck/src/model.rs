//! The sequential specification of kvstore: what one call does to a store
//! that runs one call at a time, as README.md ("Semantics", "Conditional
//! puts, batches", "Eviction policies and concurrency") and docs/abi.md
//! ("Expiry, versions and counters") promise. Written from that text and
//! the policy files' descriptions, not from the store's code, so that the
//! store is checked against the promise.
//!
//! Versions. The store numbers versions as it likes; the promise is only
//! that an item's version is never 0, changes whenever its value changes
//! and is never handed out twice. So the model does not number them: each
//! write (a put, a put-ver or an increment that succeeds) leaves its item
//! at [`Version::UNSEEN`], a version no get-ver has answered, and the first
//! get-ver of it to be linearized names it with the number it answered,
//! which the item keeps until the next write. That get-ver must answer a
//! number no get-ver linearized before it answered (it is a version never
//! handed out before); later get-vers of the unchanged item must answer the
//! same number; a put-ver succeeds only with that number. A put-ver's
//! version no get-ver has answered is taken for one no item has: callers
//! learn versions only from gets, and the workload's come from its own
//! thread's get-vers.

use std::fmt;

use crate::history::{Call, Key, Outcome, Value, Version, When};

/// What a new key in a full store does (module parameter `use_lru`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// 0: nothing is evicted; the put fails with ENOSPC and changes nothing.
    NoEviction,
    /// 1: exact LRU: the least recently used item goes; a get hit and a put
    /// (insert or replace) are uses, and so are a put-ver and an increment
    /// that replace, being puts too.
    Lru,
    /// 2: SIEVE: items in insertion order with a visited bit each, set by a
    /// get hit and by a put, put-ver or increment that replaces; a hand
    /// looks for the victim.
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
    /// The number a get-ver answered for the item's version since its
    /// last write, or [`Version::UNSEEN`].
    version: Version,
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
    /// `[A=1 B=2@v7*] hand B`: oldest first, the version a get-ver
    /// answered after `@`, `*` for visited.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (n, item) in self.items.iter().enumerate() {
            let sep = if n == 0 { "" } else { " " };
            let mark = if item.visited { "*" } else { "" };
            write!(f, "{sep}{}={}", item.key, item.value)?;
            if item.version != Version::UNSEEN {
                write!(f, "@{}", item.version)?;
            }
            write!(f, "{mark}")?;
        }
        write!(f, "]")?;
        if let Some(hand) = self.hand {
            write!(f, " hand {hand}")?;
        }
        Ok(())
    }
}

impl Model {
    /// The state after `call` runs alone in `state`, and what it answers. A
    /// get-ver of an item no get-ver has seen since its last write answers
    /// [`Version::UNSEEN`] for its version: any number not answered before
    /// fits ([`Model::apply`]).
    pub fn step(&self, state: &State, call: &Call) -> (State, Outcome) {
        let mut next = state.clone();
        let outcome = match *call {
            Call::Get(key) => self
                .get(&mut next, key)
                .map_or(Outcome::NotFound, |item| Outcome::Value(item.value)),
            Call::GetVer(key) => self.get(&mut next, key).map_or(Outcome::NotFound, |item| {
                Outcome::Versioned(item.value, item.version)
            }),
            Call::Put(key, value, when) => self.put(&mut next, key, value, when),
            Call::PutVer(key, value, version) => self.put_ver(&mut next, key, value, version),
            Call::Incr(key, delta) => self.incr(&mut next, key, delta),
            Call::Del(key) => Self::del(&mut next, key),
        };
        (next, outcome)
    }

    /// The state after `call` runs alone in `state` and answers `answered`
    /// (`None`: a pending op, whose answer is unknown, so any will do), or
    /// the model's own answer when it cannot answer that. `seen` tells
    /// whether a get-ver linearized before this op answered a version.
    pub fn apply(
        &self,
        state: &State,
        call: &Call,
        answered: Option<Outcome>,
        seen: impl Fn(Version) -> bool,
    ) -> Result<State, Outcome> {
        let (mut next, expected) = self.step(state, call);
        let Some(answered) = answered else {
            return Ok(next);
        };
        // The store never hands out 0, which stands for an unnamed version
        // in the model's own answer.
        if answered == expected && !matches!(answered, Outcome::Versioned(_, Version::UNSEEN)) {
            return Ok(next);
        }
        // The first get-ver of a version names it: with a number never
        // handed out before, which the item keeps until its next write.
        if let (
            Call::GetVer(key),
            Outcome::Versioned(value, Version::UNSEEN),
            Outcome::Versioned(answered_value, version),
        ) = (*call, expected, answered)
        {
            if answered_value == value && version != Version::UNSEEN && !seen(version) {
                if let Some(item) = next.items.iter_mut().find(|item| item.key == key) {
                    item.version = version;
                    return Ok(next);
                }
            }
        }
        Err(expected)
    }

    /// A get of `key`: the item, a use of it, if present.
    fn get(&self, s: &mut State, key: Key) -> Option<Item> {
        let i = s.position(key)?;
        let item = s.items.get(i).copied();
        self.used(s, i);
        item
    }

    fn put(&self, s: &mut State, key: Key, value: Value, when: When) -> Outcome {
        if let Some(i) = s.position(key) {
            if when == When::IfAbsent {
                return Outcome::Exists;
            }
            self.write(s, i, value);
            return Outcome::Ok;
        }
        if when == When::IfPresent {
            return Outcome::NotFound;
        }
        self.insert(s, key, value)
    }

    fn put_ver(&self, s: &mut State, key: Key, value: Value, version: Version) -> Outcome {
        let Some(i) = s.position(key) else {
            return Outcome::NotFound;
        };
        let current = s.items.get(i).map(|item| item.version);
        // An item at UNSEEN has a version no get-ver answered, which is not
        // the given one (see the module's header).
        if version == Version::UNSEEN || current != Some(version) {
            return Outcome::Exists;
        }
        self.write(s, i, value);
        Outcome::Ok
    }

    fn incr(&self, s: &mut State, key: Key, delta: i64) -> Outcome {
        let Some(i) = s.position(key) else {
            return match self.insert(s, key, Value::Number(delta)) {
                Outcome::Ok => Outcome::Number(delta),
                refused => refused,
            };
        };
        let Some(Value::Number(n)) = s.items.get(i).map(|item| item.value) else {
            return Outcome::NotANumber;
        };
        let Some(sum) = n.checked_add(delta) else {
            return Outcome::Overflow;
        };
        self.write(s, i, Value::Number(sum));
        Outcome::Number(sum)
    }

    /// Replaces the value of item `i`: a write, so a version no get-ver
    /// has answered, and a use.
    fn write(&self, s: &mut State, i: usize, value: Value) {
        if let Some(item) = s.items.get_mut(i) {
            item.value = value;
            item.version = Version::UNSEEN;
        }
        self.used(s, i);
    }

    /// Inserts absent `key`, evicting the policy's victim from a full
    /// store: `Ok`, or `Full` when nothing may go.
    fn insert(&self, s: &mut State, key: Key, value: Value) -> Outcome {
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
            version: Version::UNSEEN,
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

    /// A get hit or a replacing write of item `i`.
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
