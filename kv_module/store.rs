// SPDX-License-Identifier: GPL-2.0
//! The key-value table of kv.ko: hash buckets with chained slots, and an
//! intrusive LRU list threaded through the same slots.
//!
//! Plain `no_std` safe Rust with no dependency on the kernel crate: the module
//! compiles this file in, and the host crate `kv_core` compiles it for unit
//! and property tests.
//!
//! Like a preallocated BPF hash map (`kernel/bpf/hashtab.c`), every slot is
//! allocated up front by the caller and handed in as storage (`KVVec` in the
//! kernel, `Vec` on the host). Operations only relink slots, so none of them
//! allocates and none can fail for lack of memory; capacity is `slots.len()`.
//!
//! Links are `u32` slot indices (`NIL` for none):
//! - each bucket heads a singly linked chain of the slots whose hash maps to
//!   it (`Slot::next`); free slots form another such list from `free`;
//! - used slots also form a doubly linked LRU list (`prev`/`older`,
//!   `newer`) from `lru_newest` to `lru_oldest`, kept only when LRU eviction
//!   is on (as in `bpf_lru_list.c`, the order is a separate piece from the
//!   chains).
//!
//! The key is SipHash-1-3 under a per-load random key, so callers cannot
//! choose keys that all land in one bucket.

use core::ops::DerefMut;

use crate::abi::{KvUsageStat, KV_MAX_KEY, KV_MAX_VAL};

/// Largest bucket count the module accepts.
pub const MAX_BUCKETS: u32 = 1 << 20;
/// Largest capacity the module accepts.
pub const MAX_ITEMS: u32 = 1 << 20;
/// The "no slot" link.
pub const NIL: u32 = u32::MAX;

/// One item's storage, used or free.
#[derive(Clone, Copy)]
pub struct Slot {
    key: [u8; KV_MAX_KEY],
    value: [u8; KV_MAX_VAL],
    key_len: u8,
    value_len: u16,
    hash: u64,
    /// Next slot in the bucket chain, or in the free list.
    next: u32,
    /// LRU neighbours: towards the most and the least recently used end.
    newer: u32,
    older: u32,
}

impl Slot {
    /// A free slot with no links, to fill the storage with.
    pub const EMPTY: Slot = Slot {
        key: [0; KV_MAX_KEY],
        value: [0; KV_MAX_VAL],
        key_len: 0,
        value_len: 0,
        hash: 0,
        next: NIL,
        newer: NIL,
        older: NIL,
    };

    fn key(&self) -> &[u8] {
        // key_len <= KV_MAX_KEY whenever the slot is in use (checked in put).
        self.key.get(..usize::from(self.key_len)).unwrap_or(&[])
    }

    fn value(&self) -> &[u8] {
        self.value.get(..usize::from(self.value_len)).unwrap_or(&[])
    }

    /// Bytes the item accounts for in `bytes_used`.
    fn size(&self) -> u64 {
        u64::from(self.key_len) + u64::from(self.value_len)
    }
}

/// Why an operation failed. A failed operation changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The key is not in the store.
    NotFound,
    /// The store is full and LRU eviction is off.
    Full,
    /// The key is empty or longer than `KV_MAX_KEY`.
    BadKeyLen,
    /// The value is longer than `KV_MAX_VAL`.
    BadValueLen,
    /// A put with [`Condition::IfAbsent`] found the key.
    Exists,
}

/// When a put may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Insert or replace.
    Always,
    /// Insert only: a present key fails with [`Error::Exists`].
    IfAbsent,
    /// Replace only: an absent key fails with [`Error::NotFound`].
    IfPresent,
}

/// Storage that does not fit the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Bucket count is 0 or above `MAX_BUCKETS`.
    Buckets,
    /// Slot count is 0 or above `MAX_ITEMS`.
    MaxItems,
}

/// What a successful put did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// A new key went into a free slot.
    Inserted,
    /// The key existed; its value was replaced.
    Replaced,
    /// A new key went in after the least recently used item was evicted.
    Evicted,
}

/// The table. Invariants, kept by every method:
/// - `buckets.len()` is in 1..=MAX_BUCKETS and `slots.len()` in 1..=MAX_ITEMS,
///   so every slot index fits in a `u32` below `NIL`;
/// - every link (bucket head, `free`, `next`, `newer`, `older`, `lru_*`) is
///   `NIL` or a valid index into `slots`;
/// - every slot is on exactly one list: the free list or one bucket chain
///   (the one `hash % buckets.len()` selects); a used slot has
///   `key_len` in 1..=KV_MAX_KEY and `value_len` <= KV_MAX_VAL;
/// - with `use_lru`, the used slots also form one doubly linked list from
///   `lru_newest` to `lru_oldest`;
/// - `len` is the number of used slots, `bytes_used` the sum of their sizes.
pub struct Store<B, S> {
    buckets: B,
    slots: S,
    use_lru: bool,
    hash_key: [u64; 2],
    free: u32,
    lru_newest: u32,
    lru_oldest: u32,
    len: u32,
    bytes_used: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
}

impl<B, S> Store<B, S>
where
    B: DerefMut<Target = [u32]>,
    S: DerefMut<Target = [Slot]>,
{
    /// A table over the given storage: `buckets.len()` buckets and capacity
    /// `slots.len()`. Both are overwritten. `hash_key` keys the hash.
    pub fn new(
        mut buckets: B,
        mut slots: S,
        use_lru: bool,
        hash_key: [u64; 2],
    ) -> Result<Self, ConfigError> {
        if buckets.is_empty() || buckets.len() > MAX_BUCKETS as usize {
            return Err(ConfigError::Buckets);
        }
        if slots.is_empty() || slots.len() > MAX_ITEMS as usize {
            return Err(ConfigError::MaxItems);
        }
        buckets.fill(NIL);
        // All slots free, chained in index order. Indices are below
        // MAX_ITEMS, so `i + 1` neither overflows nor reaches NIL.
        let last = slots.len() - 1;
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = Slot::EMPTY;
            slot.next = if i == last { NIL } else { (i + 1) as u32 };
        }
        Ok(Self {
            buckets,
            slots,
            use_lru,
            hash_key,
            free: 0,
            lru_newest: NIL,
            lru_oldest: NIL,
            len: 0,
            bytes_used: 0,
            hits: 0,
            misses: 0,
            evictions: 0,
        })
    }

    /// Inserts `key` or replaces its value. A new key in a full store evicts
    /// the least recently used item with LRU on, and fails with `Full`
    /// otherwise. With LRU on, the item becomes the most recently used.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<Put, Error> {
        self.put_if(key, value, Condition::Always)
    }

    /// [`Store::put`] if `condition` holds; a refused put changes nothing.
    pub fn put_if(&mut self, key: &[u8], value: &[u8], condition: Condition) -> Result<Put, Error> {
        check_key(key)?;
        if value.len() > KV_MAX_VAL {
            return Err(Error::BadValueLen);
        }
        let hash = siphash13(self.hash_key, key);
        let found = self.find(hash, key);
        match (condition, found) {
            (Condition::IfAbsent, Some(_)) => return Err(Error::Exists),
            (Condition::IfPresent, None) => return Err(Error::NotFound),
            _ => {}
        }
        if let Some((i, _)) = found {
            let old = self.slot(i).size();
            self.slot_mut(i).set_value(value);
            let new = self.slot(i).size();
            self.bytes_used = self.bytes_used.saturating_sub(old).saturating_add(new);
            self.touch(i);
            return Ok(Put::Replaced);
        }

        let mut outcome = Put::Inserted;
        if self.free == NIL {
            if !self.use_lru || self.lru_oldest == NIL {
                return Err(Error::Full);
            }
            self.remove(self.lru_oldest);
            // A counter of events: wrapping after 2^64 evictions is harmless.
            self.evictions = self.evictions.wrapping_add(1);
            outcome = Put::Evicted;
        }
        let i = self.free;
        let bucket = self.bucket(hash);
        let head = self.buckets[bucket];
        let slot = self.slot_mut(i);
        let next_free = slot.next;
        slot.key[..key.len()].copy_from_slice(key);
        slot.key_len = key.len() as u8; // 1..=64, checked above
        slot.set_value(value);
        slot.hash = hash;
        slot.next = head;
        let size = slot.size();
        self.free = next_free;
        self.buckets[bucket] = i;
        self.lru_push_newest(i);
        self.len = self.len.saturating_add(1);
        self.bytes_used = self.bytes_used.saturating_add(size);
        Ok(outcome)
    }

    /// The value of `key`. With LRU on, the item becomes the most recently
    /// used. Counts a hit or a miss.
    pub fn get(&mut self, key: &[u8]) -> Result<&[u8], Error> {
        check_key(key)?;
        let hash = siphash13(self.hash_key, key);
        // Counters of events: wrapping after 2^64 lookups is harmless.
        let Some((i, _)) = self.find(hash, key) else {
            self.misses = self.misses.wrapping_add(1);
            return Err(Error::NotFound);
        };
        self.hits = self.hits.wrapping_add(1);
        self.touch(i);
        Ok(self.slot(i).value())
    }

    /// Removes `key`.
    pub fn del(&mut self, key: &[u8]) -> Result<(), Error> {
        check_key(key)?;
        let hash = siphash13(self.hash_key, key);
        let (i, _) = self.find(hash, key).ok_or(Error::NotFound)?;
        self.remove(i);
        Ok(())
    }

    /// Number of buckets; [`Store::dump_bucket`] takes 0 to this, exclusive.
    pub fn buckets(&self) -> u32 {
        // At most MAX_BUCKETS (see the invariants).
        self.buckets.len() as u32
    }

    /// Calls `f(key, value)` for every item in `bucket` (none when it is out
    /// of range). Read-only: no hit is counted and the LRU order stays.
    pub fn dump_bucket(&self, bucket: u32, mut f: impl FnMut(&[u8], &[u8])) {
        let Some(&head) = self.buckets.get(bucket as usize) else {
            return;
        };
        let mut i = head;
        while i != NIL {
            let slot = self.slot(i);
            f(slot.key(), slot.value());
            i = slot.next;
        }
    }

    /// Removes every item. Evictions are not counted; hits, misses and
    /// evictions keep their counts.
    pub fn clear(&mut self) {
        self.buckets.fill(NIL);
        // As in `new`: all slots free, chained in index order.
        let last = self.slots.len() - 1; // slots.len() >= 1
        for (i, slot) in self.slots.iter_mut().enumerate() {
            slot.key_len = 0;
            slot.next = if i == last { NIL } else { (i + 1) as u32 };
            slot.newer = NIL;
            slot.older = NIL;
        }
        self.free = 0;
        self.lru_newest = NIL;
        self.lru_oldest = NIL;
        self.len = 0;
        self.bytes_used = 0;
    }

    /// Sizes and counters, as the stat ioctl reports them.
    pub fn usage(&self) -> KvUsageStat {
        KvUsageStat {
            // Both lengths are at most 2^20 (see the invariants).
            bucket_count: self.buckets.len() as u32,
            max_items: self.slots.len() as u32,
            curr_items: self.len,
            use_lru: u32::from(self.use_lru),
            hits: self.hits,
            misses: self.misses,
            evictions: self.evictions,
            bytes_used: self.bytes_used,
            // `filled`, `puts` and `deletes` are the module's to fill.
            ..KvUsageStat::ZERO
        }
    }

    fn slot(&self, i: u32) -> &Slot {
        &self.slots[i as usize]
    }

    fn slot_mut(&mut self, i: u32) -> &mut Slot {
        &mut self.slots[i as usize]
    }

    fn bucket(&self, hash: u64) -> usize {
        // buckets.len() >= 1, and the remainder is below it.
        (hash % self.buckets.len() as u64) as usize
    }

    /// The slot holding `key` and its predecessor in the bucket chain.
    fn find(&self, hash: u64, key: &[u8]) -> Option<(u32, u32)> {
        let mut prev = NIL;
        let mut i = self.buckets[self.bucket(hash)];
        while i != NIL {
            let slot = self.slot(i);
            if slot.hash == hash && slot.key() == key {
                return Some((i, prev));
            }
            prev = i;
            i = slot.next;
        }
        None
    }

    /// Unlinks used slot `i` from its chain and the LRU list and frees it.
    fn remove(&mut self, i: u32) {
        let slot = *self.slot(i);
        let bucket = self.bucket(slot.hash);
        // The predecessor in the chain: `find` on the slot's own key.
        match self.find(slot.hash, slot.key()) {
            Some((_, NIL)) => self.buckets[bucket] = slot.next,
            Some((_, prev)) => self.slot_mut(prev).next = slot.next,
            None => return, // not in use: nothing to remove
        }
        self.lru_unlink(i);
        let free = self.free;
        let s = self.slot_mut(i);
        s.next = free;
        s.key_len = 0;
        self.free = i;
        self.len = self.len.saturating_sub(1);
        self.bytes_used = self.bytes_used.saturating_sub(slot.size());
    }

    /// Marks a use of slot `i`: it becomes the most recently used.
    fn touch(&mut self, i: u32) {
        if self.use_lru && self.lru_newest != i {
            self.lru_unlink(i);
            self.lru_push_newest(i);
        }
    }

    fn lru_push_newest(&mut self, i: u32) {
        if !self.use_lru {
            return;
        }
        let old_newest = self.lru_newest;
        let s = self.slot_mut(i);
        s.newer = NIL;
        s.older = old_newest;
        if old_newest == NIL {
            self.lru_oldest = i;
        } else {
            self.slot_mut(old_newest).newer = i;
        }
        self.lru_newest = i;
    }

    fn lru_unlink(&mut self, i: u32) {
        if !self.use_lru {
            return;
        }
        let Slot { newer, older, .. } = *self.slot(i);
        if newer == NIL {
            self.lru_newest = older;
        } else {
            self.slot_mut(newer).older = older;
        }
        if older == NIL {
            self.lru_oldest = newer;
        } else {
            self.slot_mut(older).newer = newer;
        }
        let s = self.slot_mut(i);
        s.newer = NIL;
        s.older = NIL;
    }
}

impl Slot {
    /// Stores `value` (at most KV_MAX_VAL bytes, checked by the caller) and
    /// zeroes the rest, so no byte of an earlier, longer value survives.
    fn set_value(&mut self, value: &[u8]) {
        let (head, tail) = self.value.split_at_mut(value.len());
        head.copy_from_slice(value);
        tail.fill(0);
        self.value_len = value.len() as u16;
    }
}

fn check_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() || key.len() > KV_MAX_KEY {
        return Err(Error::BadKeyLen);
    }
    Ok(())
}

/// SipHash-1-3 of `data` under the 128-bit key `k`.
fn siphash13(k: [u64; 2], data: &[u8]) -> u64 {
    let mut v = [
        k[0] ^ 0x736f_6d65_7073_6575,
        k[1] ^ 0x646f_7261_6e64_6f6d,
        k[0] ^ 0x6c79_6765_6e65_7261,
        k[1] ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut compress = |m: u64| {
        v[3] ^= m;
        round(&mut v);
        v[0] ^= m;
    };
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.iter_mut().zip(chunk).for_each(|(w, b)| *w = *b);
        compress(u64::from_le_bytes(word));
    }
    // The last word: the remaining bytes, and the length's low byte on top.
    let mut last = (data.len() as u64 & 0xff) << 56;
    for (n, byte) in chunks.remainder().iter().enumerate() {
        last |= u64::from(*byte) << (8 * n); // n < 8
    }
    compress(last);
    v[2] ^= 0xff;
    for _ in 0..3 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::vec;
    use std::vec::Vec;

    type HostStore = Store<Vec<u32>, Vec<Slot>>;

    fn store(buckets: usize, items: usize, use_lru: bool) -> HostStore {
        Store::new(vec![0; buckets], vec![Slot::EMPTY; items], use_lru, [7, 11]).unwrap()
    }

    #[test]
    fn siphash_matches_reference() {
        use core::hash::Hasher;
        for len in 0..80 {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            for key in [[0, 0], [1, 2], [u64::MAX, 0x0123_4567_89ab_cdef]] {
                let mut h = siphasher::sip::SipHasher13::new_with_keys(key[0], key[1]);
                h.write(&data);
                assert_eq!(siphash13(key, &data), h.finish(), "len {len} key {key:?}");
            }
        }
    }

    #[test]
    fn storage_limits() {
        let new =
            |b: usize, s: usize| Store::new(vec![0; b], vec![Slot::EMPTY; s], false, [0, 0]).err();
        assert_eq!(new(0, 1), Some(ConfigError::Buckets));
        assert_eq!(new(1, 0), Some(ConfigError::MaxItems));
        assert_eq!(new(MAX_BUCKETS as usize + 1, 1), Some(ConfigError::Buckets));
        assert_eq!(new(1, MAX_ITEMS as usize + 1), Some(ConfigError::MaxItems));
        assert_eq!(new(1, 1), None);
    }

    #[test]
    fn lengths_are_checked_and_change_nothing() {
        let mut s = store(4, 4, true);
        s.put(b"k", b"v").unwrap();
        let before = s.usage();
        assert_eq!(s.put(b"", b"v"), Err(Error::BadKeyLen));
        assert_eq!(s.put(&[1; KV_MAX_KEY + 1], b"v"), Err(Error::BadKeyLen));
        assert_eq!(
            s.put(&[1; KV_MAX_KEY + 1], &[0; KV_MAX_VAL + 1]),
            Err(Error::BadKeyLen)
        );
        assert_eq!(s.put(b"k", &[0; KV_MAX_VAL + 1]), Err(Error::BadValueLen));
        assert_eq!(s.get(b"").err(), Some(Error::BadKeyLen));
        assert_eq!(s.del(&[1; KV_MAX_KEY + 1]), Err(Error::BadKeyLen));
        assert_eq!(s.usage(), before);
        assert_eq!(
            s.put(&[0xff; KV_MAX_KEY], &[0; KV_MAX_VAL]),
            Ok(Put::Inserted)
        );
        assert_eq!(s.get(&[0xff; KV_MAX_KEY]), Ok(&[0u8; KV_MAX_VAL][..]));
    }

    #[test]
    fn replace_zeroes_the_old_tail() {
        let mut s = store(1, 2, false);
        s.put(b"k", &[9; KV_MAX_VAL]).unwrap();
        assert_eq!(s.put(b"k", b"ab"), Ok(Put::Replaced));
        assert_eq!(s.get(b"k"), Ok(&b"ab"[..]));
        let i = s.find(siphash13([7, 11], b"k"), b"k").unwrap().0;
        assert!(s.slot(i).value[2..].iter().all(|&b| b == 0));
        assert_eq!(s.usage().bytes_used, 3);
    }

    #[test]
    fn full_without_lru_refuses_new_keys_but_replaces() {
        let mut s = store(2, 2, false);
        s.put(b"a", b"1").unwrap();
        s.put(b"b", b"2").unwrap();
        let before = s.usage();
        assert_eq!(s.put(b"c", b"3"), Err(Error::Full));
        assert_eq!(s.usage(), before);
        assert_eq!(s.put(b"a", b"one"), Ok(Put::Replaced));
        s.del(b"b").unwrap();
        assert_eq!(s.put(b"c", b"3"), Ok(Put::Inserted));
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut s = store(1, 3, true);
        for k in [b"a", b"b", b"c"] {
            s.put(k, k).unwrap();
        }
        s.get(b"a").unwrap(); // b c a
        assert_eq!(s.put(b"d", b"d"), Ok(Put::Evicted)); // c a d
        assert_eq!(s.get(b"b"), Err(Error::NotFound));
        s.put(b"c", b"C").unwrap(); // a d c
        assert_eq!(s.put(b"e", b"e"), Ok(Put::Evicted)); // d c e
        assert_eq!(s.get(b"a"), Err(Error::NotFound));
        let u = s.usage();
        assert_eq!(
            (u.curr_items, u.evictions, u.hits, u.misses, u.bytes_used),
            (3, 2, 1, 2, 6)
        );
    }

    #[test]
    fn clear_frees_every_slot_and_keeps_the_counters() {
        let mut s = store(2, 3, true);
        for k in [b"a", b"b", b"c", b"d"] {
            s.put(k, k).unwrap(); // d evicts a
        }
        s.get(b"b").unwrap();
        s.get(b"a").unwrap_err();
        s.clear();
        let u = s.usage();
        assert_eq!(
            (u.curr_items, u.bytes_used, u.hits, u.misses, u.evictions),
            (0, 0, 1, 1, 1)
        );
        assert_eq!(s.get(b"b"), Err(Error::NotFound));
        for k in [b"x", b"y", b"z"] {
            assert_eq!(s.put(k, k), Ok(Put::Inserted));
        }
        assert_eq!(s.put(b"w", b"w"), Ok(Put::Evicted)); // evicts x, the oldest
        assert_eq!(s.get(b"x"), Err(Error::NotFound));
    }

    #[test]
    fn conditional_puts_refuse_without_changes() {
        let mut s = store(2, 2, false);
        assert_eq!(
            s.put_if(b"k", b"1", Condition::IfPresent),
            Err(Error::NotFound)
        );
        assert_eq!(s.usage().curr_items, 0);
        assert_eq!(s.put_if(b"k", b"1", Condition::IfAbsent), Ok(Put::Inserted));
        assert_eq!(
            s.put_if(b"k", b"2", Condition::IfAbsent),
            Err(Error::Exists)
        );
        assert_eq!(s.get(b"k"), Ok(&b"1"[..]));
        assert_eq!(
            s.put_if(b"k", b"3", Condition::IfPresent),
            Ok(Put::Replaced)
        );
        assert_eq!(s.get(b"k"), Ok(&b"3"[..]));
        assert_eq!(
            s.put_if(b"", b"3", Condition::IfPresent),
            Err(Error::BadKeyLen)
        );
    }

    #[derive(Clone, Debug)]
    enum Op {
        Put(Vec<u8>, Vec<u8>),
        PutIf(Vec<u8>, Vec<u8>, Condition),
        Get(Vec<u8>),
        Del(Vec<u8>),
        Dump,
        Clear,
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => prop::collection::vec(0u8..4, 1..3),       // few keys: many hits and collisions
            1 => prop::collection::vec(any::<u8>(), 0..=KV_MAX_KEY + 2), // any bytes, bad lengths too
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let value = prop::collection::vec(any::<u8>(), 0..=KV_MAX_VAL + 1);
        let condition = prop_oneof![
            Just(Condition::Always),
            Just(Condition::IfAbsent),
            Just(Condition::IfPresent)
        ];
        prop_oneof![
            4 => (key(), value.clone()).prop_map(|(k, v)| Op::Put(k, v)),
            2 => (key(), value, condition).prop_map(|(k, v, c)| Op::PutIf(k, v, c)),
            3 => key().prop_map(Op::Get),
            2 => key().prop_map(Op::Del),
            1 => Just(Op::Dump),
            1 => Just(Op::Clear),
        ]
    }

    /// The reference: items ordered from least to most recently used.
    struct Model {
        items: VecDeque<(Vec<u8>, Vec<u8>)>,
        cap: usize,
        use_lru: bool,
        hits: u64,
        misses: u64,
        evictions: u64,
    }

    impl Model {
        fn pos(&self, k: &[u8]) -> Option<usize> {
            self.items.iter().position(|(key, _)| key == k)
        }

        fn touch(&mut self, p: usize) {
            if self.use_lru {
                let item = self.items.remove(p).unwrap();
                self.items.push_back(item);
            }
        }

        fn put(&mut self, k: &[u8], v: &[u8]) -> Result<Put, Error> {
            self.put_if(k, v, Condition::Always)
        }

        fn put_if(&mut self, k: &[u8], v: &[u8], c: Condition) -> Result<Put, Error> {
            check_key(k)?;
            if v.len() > KV_MAX_VAL {
                return Err(Error::BadValueLen);
            }
            match (c, self.pos(k)) {
                (Condition::IfAbsent, Some(_)) => return Err(Error::Exists),
                (Condition::IfPresent, None) => return Err(Error::NotFound),
                _ => {}
            }
            if let Some(p) = self.pos(k) {
                self.items[p].1 = v.to_vec();
                self.touch(p);
                return Ok(Put::Replaced);
            }
            let mut outcome = Put::Inserted;
            if self.items.len() == self.cap {
                if !self.use_lru {
                    return Err(Error::Full);
                }
                self.items.pop_front();
                self.evictions += 1;
                outcome = Put::Evicted;
            }
            self.items.push_back((k.to_vec(), v.to_vec()));
            Ok(outcome)
        }

        fn get(&mut self, k: &[u8]) -> Result<Vec<u8>, Error> {
            check_key(k)?;
            match self.pos(k) {
                Some(p) => {
                    self.hits += 1;
                    let value = self.items[p].1.clone();
                    self.touch(p);
                    Ok(value)
                }
                None => {
                    self.misses += 1;
                    Err(Error::NotFound)
                }
            }
        }

        fn del(&mut self, k: &[u8]) -> Result<(), Error> {
            check_key(k)?;
            let p = self.pos(k).ok_or(Error::NotFound)?;
            self.items.remove(p);
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn behaves_like_the_model(
            buckets in 1usize..5,
            cap in 1usize..9,
            use_lru in any::<bool>(),
            ops in prop::collection::vec(op(), 1..300),
        ) {
            let mut s = store(buckets, cap, use_lru);
            let mut m = Model { items: VecDeque::new(), cap, use_lru, hits: 0, misses: 0, evictions: 0 };
            for op in &ops {
                match op {
                    Op::Put(k, v) => prop_assert_eq!(s.put(k, v), m.put(k, v), "{:?}", op),
                    Op::Get(k) => prop_assert_eq!(s.get(k).map(<[u8]>::to_vec), m.get(k), "{:?}", op),
                    Op::Del(k) => prop_assert_eq!(s.del(k), m.del(k), "{:?}", op),
                    Op::PutIf(k, v, c) => prop_assert_eq!(s.put_if(k, v, *c), m.put_if(k, v, *c), "{:?}", op),
                    Op::Dump => {
                        // Every item exactly once, each in the bucket its hash picks.
                        let mut got = Vec::new();
                        for b in 0..s.buckets() {
                            s.dump_bucket(b, |k, v| got.push((b, k.to_vec(), v.to_vec())));
                        }
                        for (b, k, _) in &got {
                            prop_assert_eq!(*b as usize, s.bucket(siphash13([7, 11], k)));
                        }
                        let mut got: Vec<_> = got.into_iter().map(|(_, k, v)| (k, v)).collect();
                        let mut want: Vec<_> = m.items.iter().cloned().collect();
                        got.sort();
                        want.sort();
                        prop_assert_eq!(got, want);
                        let mut none = true;
                        s.dump_bucket(s.buckets(), |_, _| none = false);
                        prop_assert!(none, "a bucket out of range has items");
                    }
                    Op::Clear => {
                        s.clear();
                        m.items.clear();
                    }
                }
                let u = s.usage();
                let bytes: usize = m.items.iter().map(|(k, v)| k.len() + v.len()).sum();
                prop_assert_eq!(u.curr_items as usize, m.items.len());
                prop_assert_eq!((u.hits, u.misses, u.evictions), (m.hits, m.misses, m.evictions));
                prop_assert_eq!(u.bytes_used, bytes as u64);
                prop_assert_eq!((u.bucket_count, u.max_items, u.use_lru), (buckets as u32, cap as u32, u32::from(use_lru)));
            }
            // Every item the model holds is there with its value, and the
            // LRU order (oldest first) is the model's.
            if use_lru {
                let mut order = Vec::new();
                let mut i = s.lru_oldest;
                while i != NIL {
                    order.push(s.slot(i).key().to_vec());
                    i = s.slot(i).newer;
                }
                let want: Vec<Vec<u8>> = m.items.iter().map(|(k, _)| k.clone()).collect();
                prop_assert_eq!(order, want);
            }
            for (k, v) in m.items.clone() {
                prop_assert_eq!(s.get(&k).map(<[u8]>::to_vec), Ok(v));
            }
        }
    }
}
