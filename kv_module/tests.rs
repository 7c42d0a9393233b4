// SPDX-License-Identifier: GPL-2.0
//! Host tests of the store: unit tests, a proptest against a reference model
//! of every policy (the exact eviction order of LRU and SIEVE included), and
//! threads that try to catch a lock-free reader seeing a torn value.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use crate::abi::{KV_MAX_KEY, KV_MAX_VAL};
use crate::policy::Policy;
use crate::store::{Alloc, Condition, ConfigError, Error, Put, Store, Writer};
use crate::table::{ValueOut, NIL};

struct HostAlloc;

impl Alloc for HostAlloc {
    type Vec<T> = Vec<T>;
    fn vec<T>(len: usize, mut f: impl FnMut() -> T) -> Option<Vec<T>> {
        let mut v = Vec::new();
        v.try_reserve_exact(len).ok()?;
        v.extend((0..len).map(|_| f()));
        Some(v)
    }
}

type HStore = Store<HostAlloc>;
type HWriter = Writer<HostAlloc>;

fn store(buckets: u32, items: u32, policy: Policy) -> (HStore, HWriter) {
    Store::new(buckets, items, policy, 4, [7, 11]).unwrap()
}

fn put(s: &HStore, w: &mut HWriter, k: &[u8], v: &[u8]) -> Result<Put, Error> {
    put_if(s, w, k, v, Condition::Always)
}

fn put_if(s: &HStore, w: &mut HWriter, k: &[u8], v: &[u8], c: Condition) -> Result<Put, Error> {
    let key = s.key(k)?;
    w.put_if(s, &key, v, c)
}

/// A get as the module does it: lock-free, then, once the value was
/// delivered, the hit recorded and (exact LRU) the relink under the writer.
fn get(s: &HStore, w: &mut HWriter, k: &[u8]) -> Result<Vec<u8>, Error> {
    let key = s.key(k)?;
    let mut out = ValueOut::new();
    let found = s.get(&key, 1, &mut out)?;
    if let Some(relink) = s.hit(1, &found) {
        w.relink(s, &key, relink);
    }
    assert_eq!(found.len, out.value_len());
    Ok(out.value().to_vec())
}

fn del(s: &HStore, w: &mut HWriter, k: &[u8]) -> Result<(), Error> {
    let key = s.key(k)?;
    w.del(s, &key)
}

#[test]
fn storage_limits() {
    let new = |b, i| Store::<HostAlloc>::new(b, i, Policy::None, 1, [0, 0]).err();
    assert_eq!(new(0, 1), Some(ConfigError::Buckets));
    assert_eq!(new(1, 0), Some(ConfigError::MaxItems));
    assert_eq!(
        new(crate::table::MAX_BUCKETS + 1, 1),
        Some(ConfigError::Buckets)
    );
    assert_eq!(
        new(1, crate::table::MAX_ITEMS + 1),
        Some(ConfigError::MaxItems)
    );
    assert_eq!(new(1, 1), None);
}

#[test]
fn hash_spreads_keys_and_depends_on_every_byte_and_the_seed() {
    let (s, _) = Store::<HostAlloc>::new(64, 1, Policy::None, 1, [0x1234, 0x5678]).unwrap();
    let (t, _) = Store::<HostAlloc>::new(64, 1, Policy::None, 1, [0x1234, 0x5679]).unwrap();
    // Sequential keys spread evenly over the buckets.
    let mut counts = [0u32; 64];
    let mut same_under_other_seed = 0;
    for n in 0..64_000u32 {
        let k = std::format!("key-{n:08}");
        let key = s.key(k.as_bytes()).unwrap();
        counts[s.table_bucket(&key)] += 1;
        if s.table_bucket(&key) == t.table_bucket(&t.key(k.as_bytes()).unwrap()) {
            same_under_other_seed += 1;
        }
    }
    let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert!(
        min > 850 && max < 1150,
        "bucket loads {min}..{max}, expected about 1000"
    );
    // Another seed maps keys independently: about 1 in 64 agree.
    assert!(
        same_under_other_seed < 2000,
        "{same_under_other_seed} keys agree"
    );
    // Every byte and the length enter the hash.
    let base = [0xa5u8; KV_MAX_KEY];
    for len in 1..=KV_MAX_KEY {
        let h = s.key(&base[..len]).unwrap().hash_for_test();
        for i in 0..len {
            let mut k = base;
            k[i] ^= 1;
            assert_ne!(
                s.key(&k[..len]).unwrap().hash_for_test(),
                h,
                "len {len} byte {i}"
            );
        }
        if len < KV_MAX_KEY {
            assert_ne!(s.key(&base[..len + 1]).unwrap().hash_for_test(), h);
        }
    }
    assert_ne!(
        s.key(b"a").unwrap().hash_for_test(),
        s.key(b"a\0").unwrap().hash_for_test()
    );
}

#[test]
fn lengths_are_checked_and_change_nothing() {
    let (s, mut w) = store(4, 4, Policy::Lru);
    put(&s, &mut w, b"k", b"v").unwrap();
    let before = s.usage(&w);
    assert_eq!(put(&s, &mut w, b"", b"v"), Err(Error::BadKeyLen));
    assert_eq!(
        put(&s, &mut w, &[1; KV_MAX_KEY + 1], b"v"),
        Err(Error::BadKeyLen)
    );
    assert_eq!(
        put(&s, &mut w, b"k", &[0; KV_MAX_VAL + 1]),
        Err(Error::BadValueLen)
    );
    assert_eq!(get(&s, &mut w, b"").err(), Some(Error::BadKeyLen));
    assert_eq!(del(&s, &mut w, &[1; KV_MAX_KEY + 1]), Err(Error::BadKeyLen));
    assert_eq!(s.usage(&w), before);
    assert_eq!(
        put(&s, &mut w, &[0xff; KV_MAX_KEY], &[3; KV_MAX_VAL]),
        Ok(Put::Inserted)
    );
    assert_eq!(
        get(&s, &mut w, &[0xff; KV_MAX_KEY]),
        Ok(vec![3u8; KV_MAX_VAL])
    );
}

/// A key as the module receives it: `struct kv_key` copied into
/// `Key::fill_uninit`, bytes past `len` being whatever the caller left there.
fn sealed(s: &HStore, k: &[u8], garbage: u8) -> Result<crate::store::Key, Error> {
    let mut abi = [garbage; 4 + KV_MAX_KEY];
    abi[..4].copy_from_slice(&(k.len() as u32).to_ne_bytes());
    abi[4..4 + k.len().min(KV_MAX_KEY)].copy_from_slice(&k[..k.len().min(KV_MAX_KEY)]);
    let mut slot = std::mem::MaybeUninit::uninit();
    // SAFETY: the closure writes the whole array before returning Ok.
    let key = unsafe {
        crate::store::Key::fill_uninit(&mut slot, |a| {
            a.write(abi);
            Ok::<(), Error>(())
        })
    }?;
    s.seal(key)?;
    Ok(*key)
}

#[test]
fn a_key_sealed_in_place_is_the_key_packed_from_its_bytes() {
    let (s, mut w) = store(64, 200, Policy::None);
    for len in 1..=KV_MAX_KEY {
        let k: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
        put(&s, &mut w, &k, &k).unwrap();
        for garbage in [0x00, 0xff, 0x5a] {
            let key = sealed(&s, &k, garbage).unwrap();
            assert_eq!(key.hash_for_test(), s.key(&k).unwrap().hash_for_test());
            let mut out = ValueOut::new();
            assert_eq!(s.get(&key, 0, &mut out).map(|f| f.len), Ok(len));
            assert_eq!(out.value(), &k[..]);
        }
    }
    // A length of 0 or past 64 is refused, whatever the bytes.
    assert_eq!(sealed(&s, b"", b'k').err(), Some(Error::BadKeyLen));
    assert_eq!(sealed(&s, &[b'k'; 65], b'k').err(), Some(Error::BadKeyLen));
    let mut slot = std::mem::MaybeUninit::uninit();
    // SAFETY: the closure writes the whole array before returning Ok.
    let key = unsafe {
        crate::store::Key::fill_uninit(&mut slot, |a| {
            a.write([0xff; 4 + KV_MAX_KEY]);
            Ok::<(), Error>(())
        })
    }
    .unwrap();
    assert_eq!(s.seal(key), Err(Error::BadKeyLen));
}

#[test]
fn a_get_answers_the_length_and_exactly_the_value_bytes() {
    let (s, mut w) = store(1, 2, Policy::None);
    put(&s, &mut w, b"k", &[9; KV_MAX_VAL]).unwrap();
    assert_eq!(put(&s, &mut w, b"k", b"abc"), Ok(Put::Replaced));
    let key = s.key(b"k").unwrap();
    let mut out = ValueOut::new();
    let found = s.get(&key, 0, &mut out).unwrap();
    assert_eq!(found.len, 3);
    // `struct kv_value`'s first 4 + len bytes: the length, then the value,
    // nothing of the longer value before it.
    let mut want = 3u32.to_ne_bytes().to_vec();
    want.extend_from_slice(b"abc");
    assert_eq!(out.bytes(), &want[..]);
    assert_eq!(s.usage(&w).bytes_used, 4);
    // Every length from 0 to the maximum, and a fresh buffer answers none.
    assert_eq!(ValueOut::new().bytes(), &0u32.to_ne_bytes()[..]);
    for len in 0..=KV_MAX_VAL {
        let value: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        put(&s, &mut w, b"k", &value).unwrap();
        let mut out = ValueOut::new();
        assert_eq!(s.get(&key, 0, &mut out).unwrap().len, len);
        assert_eq!(&out.bytes()[..4], &(len as u32).to_ne_bytes()[..]);
        assert_eq!(out.value(), &value[..]);
    }
}

#[test]
fn full_without_a_policy_refuses_new_keys_but_replaces() {
    let (s, mut w) = store(2, 2, Policy::None);
    put(&s, &mut w, b"a", b"1").unwrap();
    put(&s, &mut w, b"b", b"2").unwrap();
    let before = s.usage(&w);
    assert_eq!(put(&s, &mut w, b"c", b"3"), Err(Error::Full));
    assert_eq!(s.usage(&w), before);
    assert_eq!(put(&s, &mut w, b"a", b"one"), Ok(Put::Replaced));
    del(&s, &mut w, b"b").unwrap();
    assert_eq!(put(&s, &mut w, b"c", b"3"), Ok(Put::Inserted));
}

#[test]
fn lru_evicts_the_least_recently_used() {
    let (s, mut w) = store(1, 3, Policy::Lru);
    for k in [b"a", b"b", b"c"] {
        put(&s, &mut w, k, k).unwrap();
    }
    get(&s, &mut w, b"a").unwrap(); // b c a
    assert_eq!(put(&s, &mut w, b"d", b"d"), Ok(Put::Evicted)); // c a d
    assert_eq!(get(&s, &mut w, b"b"), Err(Error::NotFound));
    put(&s, &mut w, b"c", b"C").unwrap(); // a d c
    assert_eq!(put(&s, &mut w, b"e", b"e"), Ok(Put::Evicted)); // d c e
    assert_eq!(get(&s, &mut w, b"a"), Err(Error::NotFound));
    let u = s.usage(&w);
    assert_eq!(
        (
            u.curr_items,
            u.evictions,
            u.hits,
            u.misses,
            u.bytes_used,
            u.use_lru
        ),
        (3, 2, 1, 2, 6, 1)
    );
}

#[test]
fn sieve_keeps_visited_items_and_moves_its_hand() {
    let (s, mut w) = store(2, 3, Policy::Sieve);
    for k in [b"a", b"b", b"c"] {
        put(&s, &mut w, k, k).unwrap();
    }
    get(&s, &mut w, b"a").unwrap(); // a* b c, hand at a
    assert_eq!(put(&s, &mut w, b"d", b"d"), Ok(Put::Evicted)); // clears a, evicts b: a c d, hand at c
    assert_eq!(get(&s, &mut w, b"b"), Err(Error::NotFound));
    get(&s, &mut w, b"c").unwrap(); // a c* d
    get(&s, &mut w, b"a").unwrap(); // a* c* d
    assert_eq!(put(&s, &mut w, b"e", b"e"), Ok(Put::Evicted)); // clears c, evicts d: a* c e, hand wraps
    assert_eq!(get(&s, &mut w, b"d"), Err(Error::NotFound));
    assert_eq!(put(&s, &mut w, b"f", b"f"), Ok(Put::Evicted)); // clears a, evicts c: a e f
    assert_eq!(get(&s, &mut w, b"c"), Err(Error::NotFound));
    for k in [b"a", b"e", b"f"] {
        assert_eq!(get(&s, &mut w, k), Ok(k.to_vec()));
    }
    assert_eq!(s.usage(&w).use_lru, 2);
    assert_eq!(s.usage(&w).evictions, 3);
}

#[test]
fn a_get_whose_value_is_not_delivered_changes_nothing() {
    for policy in [Policy::Lru, Policy::Sieve] {
        let (s, mut w) = store(1, 2, policy);
        put(&s, &mut w, b"a", b"1").unwrap();
        put(&s, &mut w, b"b", b"2").unwrap();
        // The caller looks up "a" but never records it (its copy failed):
        // no hit, no use (LRU) or visit (SIEVE), so "a" is the victim.
        let mut out = ValueOut::new();
        s.get(&s.key(b"a").unwrap(), 0, &mut out).unwrap();
        assert_eq!(s.usage(&w).hits, 0);
        put(&s, &mut w, b"c", b"3").unwrap();
        assert_eq!(get(&s, &mut w, b"a"), Err(Error::NotFound), "{policy:?}");
        assert_eq!(get(&s, &mut w, b"b"), Ok(b"2".to_vec()), "{policy:?}");
    }
    // With exact LRU, the delivered get of "a" makes it the newest: "b"
    // goes next. A relink looks its key up again under the lock: a key no
    // longer there (removed since its lookup, as "gone" here) relinks
    // nothing, so "a" stays the oldest.
    let (s, mut w) = store(1, 2, Policy::Lru);
    for (k, v) in [(b"a", b"1"), (b"b", b"2")] {
        put(&s, &mut w, k, v).unwrap();
    }
    assert_eq!(get(&s, &mut w, b"a"), Ok(b"1".to_vec()));
    put(&s, &mut w, b"c", b"3").unwrap();
    assert_eq!(get(&s, &mut w, b"b"), Err(Error::NotFound));
    let mut out = ValueOut::new();
    let found = s.get(&s.key(b"a").unwrap(), 0, &mut out).unwrap();
    let relink = s.hit(0, &found).expect("exact LRU relinks a hit");
    w.relink(&s, &s.key(b"gone").unwrap(), relink);
    put(&s, &mut w, b"d", b"4").unwrap();
    assert_eq!(get(&s, &mut w, b"a"), Err(Error::NotFound));
    assert_eq!(s.usage(&w).curr_items, 2);
}

#[test]
fn conditional_puts() {
    let (s, mut w) = store(4, 2, Policy::None);
    assert_eq!(
        put_if(&s, &mut w, b"a", b"1", Condition::IfPresent),
        Err(Error::NotFound)
    );
    assert_eq!(
        put_if(&s, &mut w, b"a", b"1", Condition::IfAbsent),
        Ok(Put::Inserted)
    );
    let before = s.usage(&w);
    assert_eq!(
        put_if(&s, &mut w, b"a", b"22", Condition::IfAbsent),
        Err(Error::Exists)
    );
    assert_eq!(s.usage(&w), before);
    assert_eq!(get(&s, &mut w, b"a"), Ok(b"1".to_vec()));
    assert_eq!(
        put_if(&s, &mut w, b"a", b"22", Condition::IfPresent),
        Ok(Put::Replaced)
    );
    assert_eq!(get(&s, &mut w, b"a"), Ok(b"22".to_vec()));
}

#[test]
fn clear_empties_the_store_and_keeps_the_counters() {
    for policy in [Policy::None, Policy::Lru, Policy::Sieve] {
        let (s, mut w) = store(3, 4, policy);
        for k in [b"a", b"b", b"c", b"d"] {
            put(&s, &mut w, k, k).unwrap();
        }
        get(&s, &mut w, b"a").unwrap();
        get(&s, &mut w, b"x").unwrap_err();
        w.clear(&s);
        let u = s.usage(&w);
        assert_eq!(
            (u.curr_items, u.bytes_used, u.hits, u.misses, u.evictions),
            (0, 0, 1, 1, 0)
        );
        for k in [b"a", b"b", b"c", b"d"] {
            assert_eq!(get(&s, &mut w, k), Err(Error::NotFound));
        }
        // The whole capacity is free again, and works as before.
        for k in [b"e", b"f", b"g", b"h"] {
            assert_eq!(put(&s, &mut w, k, k), Ok(Put::Inserted));
        }
        for k in [b"e", b"f", b"g", b"h"] {
            assert_eq!(get(&s, &mut w, k), Ok(k.to_vec()));
        }
    }
}

#[test]
fn stat_counts_successful_puts_and_deletes_only() {
    let (s, mut w) = store(4, 2, Policy::None);
    put(&s, &mut w, b"a", b"1").unwrap(); // insert
    put(&s, &mut w, b"a", b"2").unwrap(); // replace
    put(&s, &mut w, b"b", b"1").unwrap();
    assert_eq!(put(&s, &mut w, b"c", b"1"), Err(Error::Full));
    assert_eq!(
        put_if(&s, &mut w, b"a", b"3", Condition::IfAbsent),
        Err(Error::Exists)
    );
    del(&s, &mut w, b"a").unwrap();
    assert_eq!(del(&s, &mut w, b"a"), Err(Error::NotFound));
    w.clear(&s); // not counted as deletes
    let u = s.usage(&w);
    assert_eq!((u.puts, u.deletes), (3, 1));
    assert_eq!(u.filled, 0x3ff, "every field this store fills is marked");
}

#[test]
fn dump_bucket_lists_each_item_once_without_counting() {
    let (s, mut w) = store(5, 64, Policy::Sieve);
    let mut want: Vec<(Vec<u8>, Vec<u8>)> = (0..40u8)
        .map(|i| (vec![b'k', i], vec![i; usize::from(i)]))
        .collect();
    for (k, v) in &want {
        put(&s, &mut w, k, v).unwrap();
    }
    let before = s.usage(&w);
    let mut got = Vec::new();
    let mut total = 0;
    for b in 0..s.buckets() {
        total += w
            .dump_bucket(&s, b, |k, v| got.push((k.to_vec(), v.to_vec())))
            .unwrap();
    }
    assert_eq!(
        w.dump_bucket(&s, s.buckets(), |_, _| ()),
        Err(Error::BadBucket)
    );
    assert_eq!(total, 40);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(s.usage(&w), before);
}

// --- the model ------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Put(Vec<u8>, Vec<u8>, Condition),
    Get(Vec<u8>),
    Del(Vec<u8>),
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
    let cond = prop_oneof![
        6 => Just(Condition::Always),
        1 => Just(Condition::IfAbsent),
        1 => Just(Condition::IfPresent),
    ];
    prop_oneof![
        40 => (key(), value, cond).prop_map(|(k, v, c)| Op::Put(k, v, c)),
        30 => key().prop_map(Op::Get),
        20 => key().prop_map(Op::Del),
        1 => Just(Op::Clear),
    ]
}

/// The reference: items oldest first (LRU: least recently used first;
/// SIEVE: inserted first), each with its visited bit, and SIEVE's hand.
struct Model {
    items: VecDeque<(Vec<u8>, Vec<u8>, bool)>,
    cap: usize,
    policy: Policy,
    hand: Option<usize>,
    hits: u64,
    misses: u64,
    evictions: u64,
}

fn check_key(k: &[u8]) -> Result<(), Error> {
    if k.is_empty() || k.len() > KV_MAX_KEY {
        return Err(Error::BadKeyLen);
    }
    Ok(())
}

impl Model {
    fn pos(&self, k: &[u8]) -> Option<usize> {
        self.items.iter().position(|(key, _, _)| key == k)
    }

    fn used(&mut self, p: usize) {
        match self.policy {
            Policy::None => {}
            Policy::Lru => {
                let item = self.items.remove(p).unwrap();
                self.items.push_back(item);
            }
            Policy::Sieve => self.items[p].2 = true,
        }
    }

    fn remove(&mut self, p: usize) {
        self.items.remove(p);
        if let Some(h) = self.hand {
            self.hand = if p < h {
                Some(h - 1)
            } else if p == h && h == self.items.len() {
                None
            } else {
                Some(h)
            };
        }
    }

    fn evict(&mut self) -> bool {
        let p = match self.policy {
            Policy::None => return false,
            Policy::Lru => 0,
            Policy::Sieve => {
                let mut p = self.hand.unwrap_or(0);
                while self.items[p].2 {
                    self.items[p].2 = false;
                    p = (p + 1) % self.items.len();
                }
                self.hand = Some(p);
                p
            }
        };
        self.remove(p);
        self.evictions += 1;
        true
    }

    fn put(&mut self, k: &[u8], v: &[u8], c: Condition) -> Result<Put, Error> {
        check_key(k)?;
        if v.len() > KV_MAX_VAL {
            return Err(Error::BadValueLen);
        }
        if let Some(p) = self.pos(k) {
            if c == Condition::IfAbsent {
                return Err(Error::Exists);
            }
            self.items[p].1 = v.to_vec();
            self.used(p);
            return Ok(Put::Replaced);
        }
        if c == Condition::IfPresent {
            return Err(Error::NotFound);
        }
        let mut outcome = Put::Inserted;
        if self.items.len() == self.cap {
            if !self.evict() {
                return Err(Error::Full);
            }
            outcome = Put::Evicted;
        }
        self.items.push_back((k.to_vec(), v.to_vec(), false));
        Ok(outcome)
    }

    fn get(&mut self, k: &[u8]) -> Result<Vec<u8>, Error> {
        check_key(k)?;
        match self.pos(k) {
            Some(p) => {
                self.hits += 1;
                let value = self.items[p].1.clone();
                self.used(p);
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
        self.remove(p);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn behaves_like_the_model(
        buckets in 1u32..5,
        cap in 1u32..9,
        policy in prop_oneof![Just(Policy::None), Just(Policy::Lru), Just(Policy::Sieve)],
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let (s, mut w) = store(buckets, cap, policy);
        let mut m = Model {
            items: VecDeque::new(), cap: cap as usize, policy, hand: None,
            hits: 0, misses: 0, evictions: 0,
        };
        for op in &ops {
            match op {
                Op::Put(k, v, c) => prop_assert_eq!(put_if(&s, &mut w, k, v, *c), m.put(k, v, *c), "{:?}", op),
                Op::Get(k) => prop_assert_eq!(get(&s, &mut w, k), m.get(k), "{:?}", op),
                Op::Del(k) => prop_assert_eq!(del(&s, &mut w, k), m.del(k), "{:?}", op),
                Op::Clear => {
                    w.clear(&s);
                    m.items.clear();
                    m.hand = None;
                }
            }
            let u = s.usage(&w);
            let bytes: usize = m.items.iter().map(|(k, v, _)| k.len() + v.len()).sum();
            prop_assert_eq!(u.curr_items as usize, m.items.len());
            prop_assert_eq!((u.hits, u.misses, u.evictions), (m.hits, m.misses, m.evictions));
            prop_assert_eq!(u.bytes_used, bytes as u64);
            prop_assert_eq!((u.bucket_count, u.max_items, u.use_lru), (buckets, cap, policy as u32));
            // The policy's order (and SIEVE's hand and bits) is the model's.
            let want: Vec<Vec<u8>> = m.items.iter().map(|(k, _, _)| k.clone()).collect();
            let keys = |slots: &[u32]| slots.iter().map(|&i| s.slot_key(i)).collect::<Vec<_>>();
            match w.policy_order(&s) {
                (Some(order), hand) => {
                    prop_assert_eq!(keys(&order), want.clone());
                    if policy == Policy::Sieve {
                        let hand = (hand != NIL).then(|| s.slot_key(hand));
                        prop_assert_eq!(hand, m.hand.map(|h| m.items[h].0.clone()));
                        let bits: Vec<bool> = order.iter().map(|&i| s.referenced(i)).collect();
                        let want_bits: Vec<bool> = m.items.iter().map(|i| i.2).collect();
                        prop_assert_eq!(bits, want_bits);
                    }
                }
                (None, _) => prop_assert_eq!(policy, Policy::None),
            }
        }
        // Every item the model holds is there with its value.
        for (k, v, _) in m.items.clone() {
            prop_assert_eq!(get(&s, &mut w, &k), Ok(v));
        }
    }
}

// --- threads ----------------------------------------------------------------

/// A value that checks itself: its length and every byte derive from the key
/// and a version number stored in the first 4 bytes.
fn self_checking_value(key: &[u8], version: u32) -> Vec<u8> {
    // Long values (at least 128 bytes) make the copy, and so the race, long.
    let len = 128 + (version as usize * 37 + key[0] as usize * 11) % (KV_MAX_VAL - 127);
    let mut v = version.to_le_bytes().to_vec();
    v.extend((4..len).map(|i| {
        (i as u32)
            .wrapping_mul(version)
            .wrapping_add(u32::from(key[0])) as u8
    }));
    v
}

fn value_ok(key: &[u8], v: &[u8]) -> bool {
    v.len() >= 4 && self_checking_value(key, u32::from_le_bytes(v[..4].try_into().unwrap())) == v
}

/// Writes per writer thread in the stress tests.
const WRITES: u32 = 25_000;

/// Writers replace, delete and (through eviction and reuse) move slots
/// between chains while readers check every value they get against its key.
fn stress(policy: Policy, buckets: u32, cap: u32, keys: u8) {
    let (s, w) = Store::<HostAlloc>::new(buckets, cap, policy, 8, [3, 5]).unwrap();
    let shared = Arc::new((s, Mutex::new(w)));
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u32)
        .map(|t| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let (s, w) = &*shared;
                for n in 0..WRITES {
                    let k = [(n.wrapping_mul(7).wrapping_add(t)) as u8 % keys, 0xee];
                    let key = s.key(&k).unwrap();
                    let mut w = w.lock().unwrap();
                    if n % 13 == 0 {
                        let _ = w.del(s, &key);
                    } else {
                        // Without a policy a full store refuses: fine.
                        let _ = w.put(s, &key, &self_checking_value(&k, n * 2 + t));
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..3u32)
        .map(|t| {
            let shared = Arc::clone(&shared);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let (s, w) = &*shared;
                let mut hits = 0u32;
                // Until the writers are done (and at least a fixed number).
                let mut n = 0u32;
                while n < 10_000 || !done.load(Ordering::Relaxed) {
                    n = n.wrapping_add(1);
                    let k = [(n.wrapping_mul(5).wrapping_add(t)) as u8 % keys, 0xee];
                    let key = s.key(&k).unwrap();
                    let mut out = ValueOut::new();
                    if let Ok(found) = s.get(&key, t, &mut out) {
                        assert!(
                            found.len == out.value_len() && value_ok(&k, out.value()),
                            "torn or foreign value for key {k:?}"
                        );
                        if let Some(relink) = s.hit(t, &found) {
                            w.lock().unwrap().relink(s, &key, relink);
                        }
                        hits += 1;
                    }
                }
                hits
            })
        })
        .collect();
    for t in writers {
        t.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let hits: u32 = readers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(
        hits > 0,
        "the readers never found a key: the test tested nothing"
    );
    let (s, w) = &*shared;
    let w = w.lock().unwrap();
    let u = s.usage(&w);
    assert!(u.curr_items <= cap);
    assert_eq!(u.hits, u64::from(hits));
}

#[test]
fn threads_never_see_a_torn_value_without_eviction() {
    stress(Policy::None, 2, 64, 24);
}

#[test]
fn threads_never_see_a_torn_value_with_sieve_eviction() {
    stress(Policy::Sieve, 3, 8, 24);
}

#[test]
fn threads_never_see_a_torn_value_with_lru_eviction() {
    stress(Policy::Lru, 1, 8, 24);
}
