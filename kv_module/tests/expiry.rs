// SPDX-License-Identifier: GPL-2.0
//! Expiry, with time driven by the test: an expired item is gone for every
//! operation, the background reclaim removes it in bounded steps, a full
//! store reuses its room first, and the deadline index agrees with a model.

use core::cell::Cell;
use core::hint::spin_loop;
use std::collections::BTreeMap;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::{store, HStore, HWriter};
use crate::expiry::{Deadlines, Entry, QUEUES};
use crate::policy::Policy;
use crate::store::{ms_left, Clock, Condition, Error, Put, PutArgs};
use crate::table::{ValueOut, NIL};

const MS: u64 = 1_000_000;

fn at(now_ms: u64) -> Clock<impl Fn() -> u64> {
    Clock::new(move || now_ms * MS)
}

fn put_ttl(
    s: &HStore,
    w: &mut HWriter,
    k: &[u8],
    v: &[u8],
    ttl_ms: u64,
    now: u64,
) -> Result<Put, Error> {
    put_cond(s, w, k, v, Condition::Always, ttl_ms, now)
}

fn put_cond(
    s: &HStore,
    w: &mut HWriter,
    k: &[u8],
    v: &[u8],
    cond: Condition,
    ttl_ms: u64,
    now: u64,
) -> Result<Put, Error> {
    let key = s.key(k)?;
    w.put_if(s, &key, v, PutArgs { cond, ttl_ms }, &at(now))
}

fn get_at(s: &HStore, k: &[u8], now: u64) -> Result<Vec<u8>, Error> {
    let key = s.key(k)?;
    let mut out = ValueOut::new();
    s.get(&key, 0, &mut out, spin_loop, || now * MS)?;
    Ok(out.value().to_vec())
}

#[test]
fn an_expired_item_is_gone_for_every_operation() {
    let (s, mut w) = store(8, 8, Policy::None);
    // Time starts at 1 s; the item lives 100 ms.
    put_ttl(&s, &mut w, b"a", b"1", 100, 1000).unwrap();
    assert_eq!(get_at(&s, b"a", 1099), Ok(b"1".to_vec()));
    let key = s.key(b"a").unwrap();
    assert_eq!(w.ttl(&s, &key, &at(1040)), Ok(60));
    // At the deadline it is gone: a get misses, and counts a miss.
    let misses = s.usage(&w).misses;
    assert_eq!(get_at(&s, b"a", 1100), Err(Error::NotFound));
    assert_eq!(s.usage(&w).misses, misses + 1);
    assert_eq!(w.ttl(&s, &key, &at(1100)), Err(Error::NotFound));
    // The writer met it: removed and counted, so stat stops counting it.
    let u = s.usage(&w);
    assert_eq!((u.curr_items, u.bytes_used, u.expired), (0, 0, 1));

    for (name, op) in [
        ("touch", 0u8),
        ("put if present", 1),
        ("del", 2),
        ("put_version", 3),
    ] {
        put_ttl(&s, &mut w, b"b", b"2", 10, 2000).unwrap();
        let key = s.key(b"b").unwrap();
        let later = at(2010);
        let got = match op {
            0 => w.touch(&s, &key, 0, &later),
            1 => w
                .put_if(
                    &s,
                    &key,
                    b"3",
                    PutArgs {
                        cond: Condition::IfPresent,
                        ttl_ms: 0,
                    },
                    &later,
                )
                .map(drop),
            2 => w.del(&s, &key, &later),
            _ => w.put_version(&s, &key, b"3", 1, &later).map(drop),
        };
        assert_eq!(got, Err(Error::NotFound), "{name}");
    }
    // A put if absent succeeds over an expired item.
    put_ttl(&s, &mut w, b"c", b"1", 10, 3000).unwrap();
    assert_eq!(
        put_cond(&s, &mut w, b"c", b"2", Condition::IfAbsent, 0, 3010),
        Ok(Put::Inserted)
    );
    assert_eq!(get_at(&s, b"c", 999_999), Ok(b"2".to_vec()));
    // Deletes of expired items are not deletes.
    assert_eq!(s.usage(&w).deletes, 0);
}

#[test]
fn plain_puts_never_expire_and_clear_an_expiry() {
    let (s, mut w) = store(8, 8, Policy::None);
    put_ttl(&s, &mut w, b"a", b"1", 100, 1000).unwrap();
    let key = s.key(b"a").unwrap();
    w.put(&s, &key, b"2", &at(1050)).unwrap();
    assert_eq!(w.ttl(&s, &key, &at(1050)), Ok(-1));
    assert_eq!(get_at(&s, b"a", u64::MAX / MS), Ok(b"2".to_vec()));
    // touch sets and clears it.
    w.touch(&s, &key, 500, &at(2000)).unwrap();
    assert_eq!(w.ttl(&s, &key, &at(2000)), Ok(500));
    assert_eq!(get_at(&s, b"a", 2500), Err(Error::NotFound));
    w.touch(&s, &key, 0, &at(2100)).unwrap();
    assert_eq!(get_at(&s, b"a", 1_000_000), Ok(b"2".to_vec()));
}

#[test]
fn huge_ttls_saturate() {
    let (s, mut w) = store(8, 8, Policy::None);
    put_ttl(&s, &mut w, b"a", b"1", u64::MAX, 1000).unwrap();
    let key = s.key(b"a").unwrap();
    assert!(w.ttl(&s, &key, &at(1000)).unwrap() > 1 << 40);
    assert_eq!(get_at(&s, b"a", u64::MAX / MS), Ok(b"1".to_vec()));
    assert_eq!(ms_left(0, 5), -1);
    assert_eq!(ms_left(5 * MS, 6 * MS), 0);
    assert_eq!(ms_left(10 * MS + 1, 0), 11);
}

#[test]
fn reclaim_removes_expired_items_in_bounded_steps() {
    let (s, mut w) = store(16, 64, Policy::Sieve);
    for i in 0..40u8 {
        // Items 0..30 expire at 1000 + i ms; the rest never.
        let ttl = if i < 30 { 100 + u64::from(i) } else { 0 };
        put_ttl(&s, &mut w, &[b'k', i], b"v", ttl, 900).unwrap();
    }
    // Early by less than 1/1024 of its TTL of 100 ms.
    let first = w.next_deadline(&s).unwrap();
    assert!(first <= 1000 * MS && first > 1000 * MS - 100 * MS / 1024);
    // Nothing has expired yet.
    assert_eq!(w.reclaim_expired(&s, 999 * MS, 8), (0, false));
    // At 1019 ms, 20 have expired: two steps of 8, then 4.
    assert_eq!(w.reclaim_expired(&s, 1019 * MS, 8), (8, true));
    assert_eq!(w.reclaim_expired(&s, 1019 * MS, 8), (8, true));
    assert_eq!(w.reclaim_expired(&s, 1019 * MS, 8), (4, false));
    let u = s.usage(&w);
    assert_eq!((u.curr_items, u.expired, u.evictions), (20, 20, 0));
    assert_eq!(u.bytes_used, 20 * 3);
    assert_eq!(get_at(&s, &[b'k', 25], 1019), Ok(b"v".to_vec()));
    assert_eq!(w.reclaim_expired(&s, u64::MAX, 100), (10, false));
    assert_eq!(w.next_deadline(&s), None);
    assert_eq!(s.usage(&w).curr_items, 10);
}

#[test]
fn a_full_store_reuses_an_expired_items_room_first() {
    for policy in [Policy::None, Policy::Lru, Policy::Sieve] {
        let (s, mut w) = store(4, 3, policy);
        put_ttl(&s, &mut w, b"live1", b"v", 0, 1000).unwrap();
        put_ttl(&s, &mut w, b"short", b"v", 10, 1000).unwrap();
        put_ttl(&s, &mut w, b"live2", b"v", 0, 1000).unwrap();
        // Full, and nothing expired yet: evict, or ENOSPC without a policy.
        let before = put_ttl(&s, &mut w, b"new", b"v", 0, 1005);
        match policy {
            Policy::None => assert_eq!(before, Err(Error::Full)),
            _ => assert_eq!(before, Ok(Put::Evicted)),
        }
        let (s, mut w) = store(4, 3, policy);
        put_ttl(&s, &mut w, b"live1", b"v", 0, 1000).unwrap();
        put_ttl(&s, &mut w, b"short", b"v", 10, 1000).unwrap();
        put_ttl(&s, &mut w, b"live2", b"v", 0, 1000).unwrap();
        assert_eq!(
            put_ttl(&s, &mut w, b"new", b"v", 0, 1010),
            Ok(Put::Inserted),
            "{policy:?}"
        );
        let u = s.usage(&w);
        assert_eq!(
            (u.curr_items, u.evictions, u.expired),
            (3, 0, 1),
            "{policy:?}"
        );
        for k in [&b"live1"[..], b"live2", b"new"] {
            assert_eq!(get_at(&s, k, 1010), Ok(b"v".to_vec()), "{policy:?}");
        }
    }
}

#[test]
fn dump_skips_expired_items() {
    let (s, mut w) = store(1, 8, Policy::None);
    put_ttl(&s, &mut w, b"a", b"1", 10, 1000).unwrap();
    put_ttl(&s, &mut w, b"b", b"2", 0, 1000).unwrap();
    let mut seen = Vec::new();
    let n = w.dump_bucket(&s, 0, 8, &at(1010), |k, _| seen.push(k.to_vec()));
    assert_eq!((n, seen), (Ok(1), vec![b"b".to_vec()]));
    let n = w.dump_bucket(&s, 0, 8, &at(1009), |_, _| ());
    assert_eq!(n, Ok(2));
}

#[test]
fn the_clock_is_read_only_for_items_that_expire() {
    let (s, mut w) = store(8, 8, Policy::Lru);
    put_ttl(&s, &mut w, b"a", b"1", 0, 1000).unwrap();
    let key = s.key(b"a").unwrap();
    let mut out = ValueOut::new();
    let found = s
        .get(&key, 0, &mut out, spin_loop, || {
            panic!("the clock was read")
        })
        .unwrap();
    assert_eq!(found.expires, 0);
    let never = Clock::new(|| -> u64 { panic!("the clock was read") });
    w.put(&s, &key, b"2", &never).unwrap();
    w.del(&s, &key, &never).unwrap();
}

#[derive(Clone, Debug)]
enum IndexOp {
    /// Time moves on by the first number; the slot gets the deadline
    /// now + TTL, the TTL one of more than `QUEUES`.
    Renew(u32, u64, u64),
    /// A deadline from nowhere, maybe earlier than its queue's tail.
    Set(u32, u64, u64),
    Remove(u32),
    Clear,
}

fn index_op() -> impl Strategy<Value = IndexOp> {
    let ttl = (1..=QUEUES as u64 + 4).prop_map(|t| t * 10);
    prop_oneof![
        8 => (0..16u32, 0..3u64, ttl.clone()).prop_map(|(s, dt, t)| IndexOp::Renew(s, dt, t)),
        2 => (0..16u32, 0..200u64, ttl).prop_map(|(s, at, t)| IndexOp::Set(s, at, t)),
        3 => (0..16u32).prop_map(IndexOp::Remove),
        1 => Just(IndexOp::Clear),
    ]
}

proptest! {
    /// The index's earliest deadline and each slot's deadline match a map,
    /// whatever the TTLs and however the deadlines come. As in the store,
    /// a slot's entry holds its new deadline before the index is told, and
    /// the heap starts without places and grows when it asks.
    #[test]
    fn deadline_index_matches_a_model(ops in proptest::collection::vec(index_op(), 1..300)) {
        let mut index = Deadlines::new(Vec::new());
        let mut entries = vec![Cell::new(Entry::new()); 16];
        let mut model: BTreeMap<u32, u64> = BTreeMap::new();
        let mut now = 1;
        for op in &ops {
            let mut set = |slot: u32, at: u64, ttl: u64| {
                if at != 0 {
                    if let Some(places) = index.heap_wants(16) {
                        assert!(places > index.in_heap() as usize && places <= 16);
                        let old = index.grow_heap(vec![NIL; places]);
                        assert!(old.len() < places);
                    }
                }
                let had = model.get(&slot).copied().unwrap_or(0);
                let e = &entries[slot as usize];
                if at != 0 {
                    e.set(Entry { at, ..e.get() });
                }
                index.set(entries.as_slice(), slot, had, at, ttl);
                if at == 0 { model.remove(&slot); } else { model.insert(slot, at); }
            };
            match *op {
                IndexOp::Renew(slot, dt, ttl) => { now += dt; set(slot, now + ttl, ttl) }
                IndexOp::Set(slot, at, ttl) => set(slot, at, ttl),
                IndexOp::Remove(slot) => { index.remove(entries.as_slice(), slot); model.remove(&slot); }
                IndexOp::Clear => {
                    // The store's records go with a clear, and new ones
                    // start without an entry.
                    index.clear();
                    entries = vec![Cell::new(Entry::new()); 16];
                    model.clear();
                }
            }
            prop_assert_eq!(index.len() as usize, model.len());
            let earliest = model.values().min().copied();
            prop_assert_eq!(index.earliest(entries.as_slice()).map(|d| d.at), earliest);
            if let Some(first) = index.earliest(entries.as_slice()) {
                prop_assert_eq!(model.get(&first.slot), Some(&first.at));
            }
            for slot in 0..16 {
                prop_assert_eq!(index.of(entries.as_slice(), slot), model.get(&slot).copied());
            }
        }
    }
}

proptest! {
    /// A deadline is never late and early by less than 1/1024 of its TTL,
    /// never at or before now, and never goes back as the clock moves on.
    #[test]
    fn deadlines_are_early_by_less_than_a_1024th_of_the_ttl(
        now in 0..1u64 << 62,
        later in 0..1u64 << 40,
        ttl_ms in prop_oneof![1..5000u64, 1..1u64 << 40],
    ) {
        let at = Clock::new(|| now).expiry(ttl_ms).at;
        let ttl_ns = ttl_ms * MS;
        prop_assert!(at <= now + ttl_ns, "late: {} > {}", at, now + ttl_ns);
        prop_assert!(at > now + ttl_ns - ttl_ns / 1024, "too early: {}", at);
        prop_assert!(at > now);
        prop_assert!(Clock::new(|| now + later).expiry(ttl_ms).at >= at);
    }
}

/// Puts that renew an item within its deadline's step leave the deadline
/// as it was: what lets the index leave the item where it is.
#[test]
fn renewals_within_a_step_keep_the_deadline() {
    let (s, mut w) = store(8, 8, Policy::None);
    // An hour's TTL has a step of 2^31 ns (2.1 s). Put at 1 s, its
    // deadline of 3601 s rounds down to 1676 steps (3599.18 s); the next
    // step begins at 3601.33 s, the deadline of a put at 1.33 s.
    let hour = 3_600_000;
    let step = 1u64 << 31;
    put_ttl(&s, &mut w, b"a", b"1", hour, 1000).unwrap();
    assert_eq!(w.next_deadline(&s), Some(1676 * step));
    for now in [1001, 1200, 1330] {
        put_ttl(&s, &mut w, b"a", b"2", hour, now).unwrap();
        assert_eq!(
            w.next_deadline(&s),
            Some(1676 * step),
            "renewed at {now} ms"
        );
    }
    put_ttl(&s, &mut w, b"a", b"3", hour, 1340).unwrap();
    assert_eq!(w.next_deadline(&s), Some(1677 * step));
}

/// Items renewed with a few TTLs, on a clock that moves on, never reach the
/// heap: each renewal is a move to a queue's tail.
#[test]
fn renewals_with_few_ttls_stay_in_queues() {
    let mut index = Deadlines::new(vec![NIL; 64]);
    let entries = vec![Cell::new(Entry::new()); 64];
    let entries = entries.as_slice();
    let ttls = [1000, 60_000, 5, 3_600_000];
    for round in 0..20u64 {
        for slot in 0..64u32 {
            let ttl = ttls[slot as usize % ttls.len()];
            let had = index.of(entries, slot).unwrap_or(0);
            index.set(entries, slot, had, round * 100 + u64::from(slot) + ttl, ttl);
        }
    }
    assert_eq!(index.len(), 64);
    assert_eq!(index.in_heap(), 0);
    assert_eq!(
        index.earliest(entries).map(|d| (d.at, d.slot)),
        Some((1900 + 2 + 5, 2))
    );
    // More TTLs than the queues left free: the TTLs that find every queue
    // serving another go to the heap.
    let free = QUEUES - ttls.len();
    for (slot, ttl) in (0..=QUEUES as u32).zip(100u64..) {
        let had = index.of(entries, slot).unwrap_or(0);
        index.set(entries, slot, had, 10_000 + ttl, ttl);
    }
    assert_eq!(index.in_heap() as usize, QUEUES + 1 - free);
    assert_eq!(index.len(), 64);
}

/// One step of [`every_expired_item_is_reclaimed`].
#[derive(Clone, Debug)]
enum MixOp {
    Put(u8, u8, u64),
    Del(u8),
    Incr(u8),
    Get(u8),
    Touch(u8, u64),
    Tick(u64),
}

fn mix_op() -> impl Strategy<Value = MixOp> {
    let ttl = prop_oneof![Just(0u64), 10..50u64, Just(3_600_000u64)];
    prop_oneof![
        6 => (0..12u8, 0..40u8, ttl.clone()).prop_map(|(k, v, t)| MixOp::Put(k, v, t)),
        2 => (0..12u8).prop_map(MixOp::Del),
        2 => (0..3u8).prop_map(MixOp::Incr),
        2 => (0..12u8).prop_map(MixOp::Get),
        1 => (0..12u8, ttl).prop_map(|(k, t)| MixOp::Touch(k, t)),
        2 => (0..20u64).prop_map(MixOp::Tick),
    ]
}

proptest! {
    /// Whatever mix of puts of any size and lifetime, deletes, increments,
    /// touches and gets a full store sees, once every short TTL has passed
    /// the reclaim leaves exactly the items a get still finds.
    #[test]
    fn every_expired_item_is_reclaimed(
        policy in prop_oneof![Just(Policy::None), Just(Policy::Lru), Just(Policy::Sieve)],
        ops in proptest::collection::vec(mix_op(), 1..400),
    ) {
        let (s, mut w) = store(4, 8, policy);
        let mut now = 1000u64;
        for op in &ops {
            match *op {
                MixOp::Put(k, v, ttl) => {
                    let value = vec![b'v'; usize::from(v)];
                    let put = put_ttl(&s, &mut w, &[b'k', k], &value, ttl, now);
                    // A policy that evicts always makes room.
                    prop_assert!(policy == Policy::None || put.is_ok(), "put: {:?}", put);
                }
                MixOp::Del(k) => {
                    let key = s.key(&[b'k', k]).unwrap();
                    let _ = w.del(&s, &key, &at(now));
                }
                MixOp::Incr(c) => {
                    let key = s.key(&[b'c', c]).unwrap();
                    let incr = w.incr(&s, &key, i64::from(c) << (20 * c), 0, &at(now));
                    prop_assert!(policy == Policy::None || incr.is_ok(), "incr: {:?}", incr);
                }
                MixOp::Get(k) => {
                    let _ = get_at(&s, &[b'k', k], now);
                }
                MixOp::Touch(k, ttl) => {
                    let key = s.key(&[b'k', k]).unwrap();
                    let _ = w.touch(&s, &key, ttl, &at(now));
                }
                MixOp::Tick(ms) => now += ms,
            }
        }
        now += 100;
        // 15 keys at most, 8 a step: a reclaim that still has more after
        // a few steps is stuck.
        let mut steps = 0;
        while w.reclaim_expired(&s, now * MS, 8).1 {
            steps += 1;
            prop_assert!(steps < 4, "the reclaim keeps finding expired items");
        }
        let found = (0..12u8)
            .map(|k| vec![b'k', k])
            .chain((0..3u8).map(|c| vec![b'c', c]))
            .filter(|k| get_at(&s, k, now).is_ok())
            .count();
        prop_assert_eq!(w.len() as usize, found);
    }
}
