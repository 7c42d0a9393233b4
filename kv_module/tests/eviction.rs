// SPDX-License-Identifier: GPL-2.0
//! What a full store does under each policy: refuse new keys, or evict the
//! least recently used item (exact LRU) or SIEVE's choice; and a get counts
//! as a use only once its value was delivered.

use core::hint::spin_loop;

use super::{del, get, put, store, HStore, HWriter};
use crate::policy::Policy;
use crate::store::{Error, Put, Relinked};
use crate::table::{Found, Key, ValueOut};

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
        s.get(&s.key(b"a").unwrap(), 0, &mut out, spin_loop, || 1)
            .unwrap();
        assert_eq!(s.usage(&w).hits, 0);
        put(&s, &mut w, b"c", b"3").unwrap();
        assert_eq!(get(&s, &mut w, b"a"), Err(Error::NotFound), "{policy:?}");
        assert_eq!(get(&s, &mut w, b"b"), Ok(b"2".to_vec()), "{policy:?}");
    }
    // With exact LRU, the delivered get of "a" makes it the newest: "b"
    // goes next.
    let (s, mut w) = store(1, 2, Policy::Lru);
    for (k, v) in [(b"a", b"1"), (b"b", b"2")] {
        put(&s, &mut w, k, v).unwrap();
    }
    assert_eq!(get(&s, &mut w, b"a"), Ok(b"1".to_vec()));
    put(&s, &mut w, b"c", b"3").unwrap();
    assert_eq!(get(&s, &mut w, b"b"), Err(Error::NotFound));
    assert_eq!(get(&s, &mut w, b"a"), Ok(b"1".to_vec()));
    assert_eq!(s.usage(&w).curr_items, 2);
}

/// An exact-LRU get takes effect under the writer lock, not at its
/// lock-free lookup: with "a" the oldest of two, a get of "a" whose lookup
/// ran before a put of "c" evicted "a" must not answer "a" (no order of the
/// two leaves "a" gone and "b" alive after a get of "a" that hit).
#[test]
fn an_exact_lru_get_is_atomic_with_a_concurrent_eviction() {
    let (s, mut w, key, out, found) = store_with_a_lookup_of_a(Policy::Lru);
    assert_eq!(out.value(), b"1", "the lookup saw \"a\"");
    let relink = s.hit(0, &found).expect("exact LRU relinks a hit");
    // The put runs between the lookup and the relink, and evicts "a".
    assert_eq!(put(&s, &mut w, b"c", b"3"), Ok(Put::Evicted));
    assert_eq!(w.relink(&s, &key, relink, 0, out.value()), Relinked::Gone);
    assert_eq!(s.usage(&w).hits, 0);
    assert_eq!(s.usage(&w).misses, 1);
    assert_eq!(get(&s, &mut w, b"b"), Ok(b"2".to_vec()));
}

/// A full store of two items under `policy`, "a" put before "b" (neither
/// referenced), and a lock-free lookup of "a" whose hit is not recorded yet.
fn store_with_a_lookup_of_a(policy: Policy) -> (HStore, HWriter, Key, ValueOut, Found) {
    let (s, mut w) = store(1, 2, policy);
    put(&s, &mut w, b"a", b"1").unwrap();
    put(&s, &mut w, b"b", b"2").unwrap();
    let key = s.key(b"a").unwrap();
    let mut out = ValueOut::new();
    let found = s.get(&key, 0, &mut out, spin_loop, || 1).unwrap();
    (s, w, key, out, found)
}

/// A SIEVE hit whose lookup came before an eviction and whose mark comes
/// after the eviction's hand read the item's bit does not set the bit: the
/// hand, coming round again in the same eviction, would otherwise count a
/// hit it did not see the first time (an order no sequence of the two
/// calls gives), and evict another item in its place.
#[test]
fn a_sieve_mark_cannot_land_after_the_hand_read_the_bit() {
    // The lookup sees "a" not yet referenced.
    let (s, mut w, key, out, found) = store_with_a_lookup_of_a(Policy::Sieve);
    // An eviction begins and its hand reads (and clears) "a"'s bit...
    let table = s.table_for_test();
    table.evict_begin();
    assert!(!table.take_referenced(found.slot));
    // ...then the hit's mark arrives: it must not land.
    let relink = s
        .hit(0, &found)
        .expect("an eviction began since the lookup");
    assert!(!relink.marked, "the mark landed after the hand's read");
    assert!(!s.referenced(found.slot));
    table.evict_end();
    // Finished under the lock, after the eviction: "a" is still there.
    assert_eq!(
        w.relink(&s, &key, relink, 0, out.value()),
        Relinked::Delivered
    );
    assert!(s.referenced(found.slot));
}

/// A SIEVE hit whose mark lands after an eviction began but before the
/// hand read the bit is seen by that eviction: the get is done, and its
/// finish under the lock neither repeats the use nor changes the answer.
#[test]
fn a_sieve_mark_the_hand_then_reads_counts_once() {
    let (s, mut w, key, out, found) = store_with_a_lookup_of_a(Policy::Sieve);
    let table = s.table_for_test();
    table.evict_begin();
    let relink = s
        .hit(0, &found)
        .expect("an eviction began since the lookup");
    assert!(relink.marked);
    assert!(table.take_referenced(found.slot), "the hand sees the hit");
    table.evict_end();
    assert_eq!(
        w.relink(&s, &key, relink, 0, out.value()),
        Relinked::Delivered
    );
    assert!(
        !s.referenced(found.slot),
        "the hit was used once, by the hand"
    );
    assert_eq!(s.usage(&w).hits, 1);
}

/// A get whose key was replaced between its lookup and its relink takes
/// effect at its lookup (it answers the value it saw) and leaves the order
/// as the replace made it: the replace's use stands for both.
#[test]
fn an_exact_lru_get_overtaken_by_a_replace_keeps_its_value() {
    let (s, mut w, key, out, found) = store_with_a_lookup_of_a(Policy::Lru);
    let relink = s.hit(0, &found).expect("exact LRU relinks a hit");
    put(&s, &mut w, b"a", b"11").unwrap(); // "a" newest
    put(&s, &mut w, b"b", b"22").unwrap(); // "b" newest
    assert_eq!(
        w.relink(&s, &key, relink, 0, out.value()),
        Relinked::Delivered
    );
    assert_eq!(out.value(), b"1");
    // "a" was not made the newest again: it is the oldest, so it goes.
    put(&s, &mut w, b"c", b"3").unwrap();
    assert_eq!(get(&s, &mut w, b"a"), Err(Error::NotFound));
    assert_eq!(get(&s, &mut w, b"b"), Ok(b"22".to_vec()));
}

/// An exact-LRU hit whose item a put moved to another size class (a longer
/// value) before the relink, while an eviction took another item, is still
/// a hit: the item never left the store, it only changed slot.
#[test]
fn an_exact_lru_get_follows_its_item_to_another_size_class() {
    let (s, mut w, key, out, found) = store_with_a_lookup_of_a(Policy::Lru);
    let relink = s.hit(0, &found).expect("exact LRU relinks a hit");
    // "a" grows to a value of another class (it moves), and is now the
    // newer of the two; the new key evicts "b".
    assert_eq!(put(&s, &mut w, b"a", &[b'1'; 40]), Ok(Put::Replaced));
    assert_eq!(put(&s, &mut w, b"c", b"3"), Ok(Put::Evicted));
    assert_eq!(
        w.relink(&s, &key, relink, 0, out.value()),
        Relinked::Delivered
    );
    assert_eq!(s.usage(&w).hits, 1);
    assert_eq!(get(&s, &mut w, b"b"), Err(Error::NotFound));
}
