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
