// SPDX-License-Identifier: GPL-2.0
//! A key copied in place from `struct kv_key` is the key packed from its
//! bytes, and a get answers the value's length and exactly its bytes.

use core::hint::spin_loop;
use std::vec::Vec;

use super::{put, store, HStore};
use crate::abi::{KV_MAX_KEY, KV_MAX_VAL};
use crate::policy::Policy;
use crate::store::{Error, Put};
use crate::table::ValueOut;

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
            assert_eq!(key.hash(), s.key(&k).unwrap().hash());
            let mut out = ValueOut::new();
            assert_eq!(
                s.get(&key, 0, &mut out, spin_loop, || 1).map(|f| f.len),
                Ok(len)
            );
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
    let found = s.get(&key, 0, &mut out, spin_loop, || 1).unwrap();
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
        assert_eq!(s.get(&key, 0, &mut out, spin_loop, || 1).unwrap().len, len);
        assert_eq!(&out.bytes()[..4], &(len as u32).to_ne_bytes()[..]);
        assert_eq!(out.value(), &value[..]);
    }
}
