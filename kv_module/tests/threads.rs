// SPDX-License-Identifier: GPL-2.0
//! Threads that try to catch a lock-free reader seeing a torn or foreign
//! value while writers replace, delete and evict.

use core::hint::spin_loop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::vec::Vec;

use super::{HostAlloc, Retired};
use crate::abi::KV_MAX_VAL;
use crate::policy::Policy;
use crate::store::{Relinked, Store, Writer};
use crate::table::ValueOut;

/// A store and its writer behind a lock, shared by a test's threads.
pub(super) type Shared = Arc<(Store<HostAlloc>, Mutex<Writer<HostAlloc>>)>;

/// Writer thread `t` of a stress test: `writes` writes to the keys
/// `[0..keys, 0xee]`, each a replace with a self-checking value whose size
/// changes (so items move between size classes), but every 13th a delete
/// and every `clear_every`th a clear, its chunks kept in `retired` until
/// the readers are done, as a grace period would keep them.
pub(super) fn writer(
    shared: &Shared,
    retired: &Arc<Mutex<Retired>>,
    t: u32,
    keys: u8,
    writes: u32,
    clear_every: u32,
) -> JoinHandle<()> {
    let shared = Arc::clone(shared);
    let retired = Arc::clone(retired);
    std::thread::spawn(move || {
        let (s, w) = &*shared;
        for n in 0..writes {
            let k = [(n.wrapping_mul(7).wrapping_add(t)) as u8 % keys, 0xee];
            let key = s.key(&k).unwrap();
            let mut w = w.lock().unwrap();
            if n % clear_every == clear_every - 1 {
                let mut retired = retired.lock().unwrap();
                w.clear(s, |chunk, bytes| retired.0.push((chunk, bytes)));
            } else if n % 13 == 0 {
                let _ = w.del(s, &key, &super::never());
            } else {
                // Without a policy a full store refuses: fine.
                let _ = w.put(
                    s,
                    &key,
                    &self_checking_value(&k, n * 2 + t),
                    &super::never(),
                );
            }
        }
    })
}

/// A value that checks itself: its length and every byte derive from the key
/// and a version number stored in the first 4 bytes.
pub(super) fn self_checking_value(key: &[u8], version: u32) -> Vec<u8> {
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

pub(super) fn value_ok(key: &[u8], v: &[u8]) -> bool {
    v.len() >= 4 && self_checking_value(key, u32::from_le_bytes(v[..4].try_into().unwrap())) == v
}

/// Writes per writer thread in the stress tests.
const WRITES: u32 = 25_000;

/// Writers replace (values of changing sizes, so items move between size
/// classes), delete and (through eviction and reuse) move slots between
/// chains, and every `clear_every` writes clear the store, detaching its
/// chunks (kept until the readers are done, as a grace period would),
/// while readers check every value they get against its key.
fn stress(policy: Policy, buckets: u32, cap: u32, keys: u8, clear_every: u32) {
    let (s, w) = Store::<HostAlloc>::new(buckets, cap, policy, 8, [3, 5]).unwrap();
    let shared = Arc::new((s, Mutex::new(w)));
    let retired = Arc::new(Mutex::new(Retired(Vec::new())));
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u32)
        .map(|t| writer(&shared, &retired, t, keys, WRITES, clear_every))
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
                    if let Ok(found) = s.get(&key, t, &mut out, spin_loop, || 1) {
                        assert!(
                            found.len == out.value_len() && value_ok(&k, out.value()),
                            "torn or foreign value for key {k:?}"
                        );
                        if let Some(relink) = s.hit(t, &found) {
                            let value = out.value();
                            if w.lock().unwrap().relink(s, &key, relink, t, value) == Relinked::Gone
                            {
                                // Evicted between the lookup and the relink:
                                // a miss.
                                continue;
                            }
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
    if clear_every < WRITES {
        assert!(
            !retired.lock().unwrap().0.is_empty(),
            "no clear freed a chunk"
        );
    }
}

#[test]
fn threads_never_see_a_torn_value_without_eviction() {
    stress(Policy::None, 2, 64, 24, u32::MAX);
}

#[test]
fn threads_never_see_a_torn_value_with_sieve_eviction() {
    stress(Policy::Sieve, 3, 8, 24, u32::MAX);
}

#[test]
fn threads_never_see_a_torn_value_with_lru_eviction() {
    stress(Policy::Lru, 1, 8, 24, u32::MAX);
}

/// Clears race the readers: a reader inside a chunk that a clear detached
/// finishes its read there, and what it answers is still a whole value.
#[test]
fn threads_never_see_a_torn_value_across_clears() {
    stress(Policy::Sieve, 2, 16, 24, 500);
    stress(Policy::None, 2, 64, 24, 300);
}
