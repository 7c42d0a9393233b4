// SPDX-License-Identifier: GPL-2.0
//! A dump of each bucket lists every item once and counts nothing.

use std::vec;
use std::vec::Vec;

use super::{put, store};
use crate::policy::Policy;
use crate::store::Error;

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
            .dump_bucket(&s, b, 64, &super::never(), |k, v| {
                got.push((k.to_vec(), v.to_vec()))
            })
            .unwrap();
    }
    assert_eq!(
        w.dump_bucket(&s, s.buckets(), 64, &super::never(), |_, _| ()),
        Err(Error::BadBucket)
    );
    assert_eq!(total, 40);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(s.usage(&w), before);
}

#[test]
fn dump_bucket_stops_one_past_its_limit() {
    let (s, mut w) = store(1, 16, Policy::None);
    for i in 0..10u8 {
        put(&s, &mut w, &[i], b"v").unwrap();
    }
    let mut seen = 0;
    assert_eq!(
        w.dump_bucket(&s, 0, 4, &super::never(), |_, _| seen += 1),
        Ok(5)
    );
    assert_eq!(seen, 4, "f runs for the first `limit` items only");
    assert_eq!(w.dump_bucket(&s, 0, 10, &super::never(), |_, _| ()), Ok(10));
    assert_eq!(w.dump_bucket(&s, 0, 0, &super::never(), |_, _| ()), Ok(1));
}
