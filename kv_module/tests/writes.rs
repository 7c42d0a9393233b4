// SPDX-License-Identifier: GPL-2.0
//! Conditional puts, clear, and the counters of successful puts and deletes.

use super::{del, free_now, get, put, put_if, store};
use crate::policy::Policy;
use crate::store::{Condition, Error, Put};

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
        w.clear(&s, free_now);
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
    w.clear(&s, free_now); // not counted as deletes
    let u = s.usage(&w);
    assert_eq!((u.puts, u.deletes), (3, 1));
    assert_eq!(u.filled, 0xfff, "every field this store fills is marked");
}
