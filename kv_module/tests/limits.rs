// SPDX-License-Identifier: GPL-2.0
//! The store's sizes and the lengths of keys and values are checked, and a
//! refused operation changes nothing.

use std::vec;

use super::{del, get, put, store, HostAlloc};
use crate::abi::{KV_MAX_KEY, KV_MAX_VAL};
use crate::policy::Policy;
use crate::store::{ConfigError, Error, Put, Store};

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
