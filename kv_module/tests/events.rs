// SPDX-License-Identifier: GPL-2.0
//! The events the store reports (kv.ko's tracepoints): one per eviction and
//! per expired item, matching the counters, with the slot, the policy or
//! the cause and the items left; one per new key refused for want of room;
//! none from the paths that make no such event.

use super::{del, get, put, store, take_events, Event, HStore, HWriter};
use crate::policy::Policy;
use crate::store::{Clock, Condition, Error, Expired, PutArgs};

const MS: u64 = 1_000_000;

fn put_ttl(s: &HStore, w: &mut HWriter, k: &[u8], ttl_ms: u64, now_ms: u64) -> Result<(), Error> {
    let key = s.key(k)?;
    let args = PutArgs {
        cond: Condition::Always,
        ttl_ms,
    };
    w.put_if(s, &key, b"v", args, &Clock::new(move || now_ms * MS))
        .map(|_| ())
}

#[test]
fn puts_gets_and_deletes_with_room_report_nothing() {
    take_events();
    let (s, mut w) = store(4, 4, Policy::Sieve);
    for k in [&b"a"[..], b"b", b"c", b"d"] {
        put(&s, &mut w, k, b"1").unwrap();
    }
    put(&s, &mut w, b"a", b"2").unwrap();
    get(&s, &mut w, b"a").unwrap();
    del(&s, &mut w, b"b").unwrap();
    put(&s, &mut w, b"e", b"1").unwrap();
    assert_eq!(take_events(), []);
}

#[test]
fn a_full_store_without_eviction_reports_each_refused_key() {
    take_events();
    let (s, mut w) = store(4, 2, Policy::None);
    put(&s, &mut w, b"a", b"1").unwrap();
    put(&s, &mut w, b"b", b"1").unwrap();
    assert_eq!(put(&s, &mut w, b"c", b"1"), Err(Error::Full));
    assert_eq!(put(&s, &mut w, b"d", b"1"), Err(Error::Full));
    // A replace needs no room: no event.
    put(&s, &mut w, b"a", b"2").unwrap();
    assert_eq!(take_events(), [Event::Refused(2, 2), Event::Refused(2, 2)]);
}

#[test]
fn each_eviction_is_one_event_naming_the_victims_slot_and_policy() {
    for policy in [Policy::Lru, Policy::Sieve] {
        take_events();
        let (s, mut w) = store(8, 3, policy);
        for i in 0..3u8 {
            put(&s, &mut w, &[b'k', i], b"v").unwrap();
        }
        // Under both policies the first item in, never used, goes first:
        // it is in slot 0.
        put(&s, &mut w, b"new", b"v").unwrap();
        assert_eq!(take_events(), [Event::Evicted(0, policy, 3)], "{policy:?}");
        for i in 0..50u8 {
            put(&s, &mut w, &[b'm', i], b"v").unwrap();
            if i % 3 == 0 {
                let _ = get(&s, &mut w, &[b'm', i]);
            }
        }
        let events = take_events();
        let u = s.usage(&w);
        assert_eq!(u.evictions, 51, "{policy:?}");
        assert_eq!(events.len(), 50, "{policy:?}");
        assert!(
            events
                .iter()
                .all(|e| matches!(e, Event::Evicted(slot, p, 3) if *slot < 3 && *p == policy)),
            "{policy:?}: {events:?}"
        );
    }
}

#[test]
fn each_expired_item_is_one_event_with_its_cause() {
    take_events();
    let (s, mut w) = store(8, 3, Policy::None);
    // Slots 0, 1 and 2, expiring 10, 20 and 30 ms after 1 s.
    put_ttl(&s, &mut w, b"a", 10, 1000).unwrap();
    put_ttl(&s, &mut w, b"b", 20, 1000).unwrap();
    put_ttl(&s, &mut w, b"c", 30, 1000).unwrap();
    // The background reclaim at 1010 ms: a.
    assert_eq!(w.reclaim_expired(&s, 1010 * MS, 8), (1, false));
    // A writer that meets b at 1020 ms removes it first.
    assert_eq!(
        put_ttl(&s, &mut w, b"b", 0, 1020).map(|()| s.usage(&w).expired),
        Ok(2)
    );
    // Full again at 1030 ms (a's room went to x): a new key takes c's room.
    put_ttl(&s, &mut w, b"x", 0, 1020).unwrap();
    put_ttl(&s, &mut w, b"y", 0, 1030).unwrap();
    assert_eq!(
        take_events(),
        [
            Event::Expired(0, Expired::Reclaim, 2),
            Event::Expired(1, Expired::Access, 1),
            Event::Expired(2, Expired::Room, 2),
        ]
    );
    assert_eq!(s.usage(&w).expired, 3);
}
