// SPDX-License-Identifier: GPL-2.0
//! The keyed hash spreads keys over the buckets and depends on every byte of
//! the key, its length and the hash secrets.

use super::HostAlloc;
use crate::abi::KV_MAX_KEY;
use crate::policy::Policy;
use crate::store::Store;

#[test]
fn hash_spreads_keys_and_depends_on_every_byte_and_the_seed() {
    let (s, _) = Store::<HostAlloc>::new(64, 1, Policy::None, 1, [0x1234, 0x5678]).unwrap();
    let (t, _) = Store::<HostAlloc>::new(64, 1, Policy::None, 1, [0x1234, 0x5679]).unwrap();
    // Sequential keys spread evenly over the buckets.
    let mut counts = [0u32; 64];
    let mut same_under_other_seed = 0;
    for n in 0..64_000u32 {
        let k = std::format!("key-{n:08}");
        let key = s.key(k.as_bytes()).unwrap();
        counts[s.table_bucket(&key)] += 1;
        if s.table_bucket(&key) == t.table_bucket(&t.key(k.as_bytes()).unwrap()) {
            same_under_other_seed += 1;
        }
    }
    let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert!(
        min > 850 && max < 1150,
        "bucket loads {min}..{max}, expected about 1000"
    );
    // Another seed maps keys independently: about 1 in 64 agree.
    assert!(
        same_under_other_seed < 2000,
        "{same_under_other_seed} keys agree"
    );
    // Every byte and the length enter the hash.
    let base = [0xa5u8; KV_MAX_KEY];
    for len in 1..=KV_MAX_KEY {
        let h = s.key(&base[..len]).unwrap().hash();
        for i in 0..len {
            let mut k = base;
            k[i] ^= 1;
            assert_ne!(s.key(&k[..len]).unwrap().hash(), h, "len {len} byte {i}");
        }
        if len < KV_MAX_KEY {
            assert_ne!(s.key(&base[..len + 1]).unwrap().hash(), h);
        }
    }
    assert_ne!(s.key(b"a").unwrap().hash(), s.key(b"a\0").unwrap().hash());
}
