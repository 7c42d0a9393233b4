// SPDX-License-Identifier: GPL-2.0
//! Versions: never 0, new on every change of value or expiry, never handed
//! out twice; a versioned put succeeds only on the version it names.

use core::hint::spin_loop;
use std::collections::BTreeSet;

use super::{free_now, never, put, store, HStore};
use crate::policy::Policy;
use crate::store::{Error, Put};
use crate::table::ValueOut;

fn version(s: &HStore, k: &[u8]) -> u64 {
    let key = s.key(k).unwrap();
    let mut out = ValueOut::new();
    s.get(&key, 0, &mut out, spin_loop, || 1).unwrap().version
}

#[test]
fn every_change_gives_a_new_version() {
    let (s, mut w) = store(8, 4, Policy::Lru);
    let key = s.key(b"a").unwrap();
    let mut seen = BTreeSet::new();
    put(&s, &mut w, b"a", b"1").unwrap();
    let v1 = version(&s, b"a");
    assert_ne!(v1, 0);
    seen.insert(v1);
    // Same value again: still a change.
    put(&s, &mut w, b"a", b"1").unwrap();
    assert!(seen.insert(version(&s, b"a")));
    w.touch(&s, &key, 1000, &never()).unwrap();
    assert!(seen.insert(version(&s, b"a")));
    put(&s, &mut w, b"a", b"5").unwrap();
    w.incr(&s, &key, 1, 0, &never()).unwrap();
    assert!(seen.insert(version(&s, b"a")));
    // Delete and re-create, clear and re-create, evict and re-create: new ones.
    w.del(&s, &key, &never()).unwrap();
    put(&s, &mut w, b"a", b"1").unwrap();
    assert!(seen.insert(version(&s, b"a")));
    w.clear(&s, free_now);
    put(&s, &mut w, b"a", b"1").unwrap();
    assert!(seen.insert(version(&s, b"a")));
    for k in [&b"b"[..], b"c", b"d", b"e"] {
        put(&s, &mut w, k, b"x").unwrap();
        assert!(seen.insert(version(&s, k)));
    }
    // A get changes no version.
    let e = version(&s, b"e");
    assert_eq!(version(&s, b"e"), e);
}

#[test]
fn a_versioned_put_needs_the_current_version() {
    let (s, mut w) = store(8, 4, Policy::None);
    let key = s.key(b"a").unwrap();
    assert_eq!(
        w.put_version(&s, &key, b"x", 1, &never()),
        Err(Error::NotFound)
    );
    put(&s, &mut w, b"a", b"1").unwrap();
    let v = version(&s, b"a");
    let before = s.usage(&w);
    assert_eq!(
        w.put_version(&s, &key, b"x", v + 1, &never()),
        Err(Error::VersionChanged)
    );
    assert_eq!(s.usage(&w), before);
    assert_eq!(
        w.put_version(&s, &key, b"2", v, &never()),
        Ok(Put::Replaced)
    );
    assert_eq!(
        w.put_version(&s, &key, b"3", v, &never()),
        Err(Error::VersionChanged)
    );
    let v2 = version(&s, b"a");
    assert!(v2 > v);
    // It keeps the expiry.
    let at = |ms: u64| crate::store::Clock::new(move || ms * 1_000_000);
    w.touch(&s, &key, 100, &at(1000)).unwrap();
    let v3 = version(&s, b"a");
    w.put_version(&s, &key, b"4", v3, &at(1010)).unwrap();
    assert_eq!(w.ttl(&s, &key, &at(1010)), Ok(90));
}
