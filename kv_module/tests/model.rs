// SPDX-License-Identifier: GPL-2.0
//! The store against a reference model under random operations, for every
//! policy: results, counters, and the policy's exact order (SIEVE's hand and
//! visited bits included).

use std::collections::VecDeque;
use std::vec::Vec;

use proptest::prelude::*;

use super::{del, free_now, get, put_if, store};
use crate::abi::{KV_MAX_KEY, KV_MAX_VAL};
use crate::policy::Policy;
use crate::store::{Condition, Error, Put};
use crate::table::NIL;

#[derive(Clone, Debug)]
enum Op {
    Put(Vec<u8>, Vec<u8>, Condition),
    Get(Vec<u8>),
    Del(Vec<u8>),
    Clear,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(0u8..4, 1..3),       // few keys: many hits and collisions
        1 => prop::collection::vec(any::<u8>(), 0..=KV_MAX_KEY + 2), // any bytes, bad lengths too
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let value = prop::collection::vec(any::<u8>(), 0..=KV_MAX_VAL + 1);
    let cond = prop_oneof![
        6 => Just(Condition::Always),
        1 => Just(Condition::IfAbsent),
        1 => Just(Condition::IfPresent),
    ];
    prop_oneof![
        40 => (key(), value, cond).prop_map(|(k, v, c)| Op::Put(k, v, c)),
        30 => key().prop_map(Op::Get),
        20 => key().prop_map(Op::Del),
        1 => Just(Op::Clear),
    ]
}

/// The reference: items oldest first (LRU: least recently used first;
/// SIEVE: inserted first), each with its visited bit, and SIEVE's hand.
struct Model {
    items: VecDeque<(Vec<u8>, Vec<u8>, bool)>,
    cap: usize,
    policy: Policy,
    hand: Option<usize>,
    hits: u64,
    misses: u64,
    evictions: u64,
}

fn check_key(k: &[u8]) -> Result<(), Error> {
    if k.is_empty() || k.len() > KV_MAX_KEY {
        return Err(Error::BadKeyLen);
    }
    Ok(())
}

impl Model {
    fn pos(&self, k: &[u8]) -> Option<usize> {
        self.items.iter().position(|(key, _, _)| key == k)
    }

    fn used(&mut self, p: usize) {
        match self.policy {
            Policy::None => {}
            Policy::Lru => {
                let item = self.items.remove(p).unwrap();
                self.items.push_back(item);
            }
            Policy::Sieve => self.items[p].2 = true,
        }
    }

    fn remove(&mut self, p: usize) {
        self.items.remove(p);
        if let Some(h) = self.hand {
            self.hand = if p < h {
                Some(h - 1)
            } else if p == h && h == self.items.len() {
                None
            } else {
                Some(h)
            };
        }
    }

    fn evict(&mut self) -> bool {
        let p = match self.policy {
            Policy::None => return false,
            Policy::Lru => 0,
            Policy::Sieve => {
                let mut p = self.hand.unwrap_or(0);
                while self.items[p].2 {
                    self.items[p].2 = false;
                    p = (p + 1) % self.items.len();
                }
                self.hand = Some(p);
                p
            }
        };
        self.remove(p);
        self.evictions += 1;
        true
    }

    fn put(&mut self, k: &[u8], v: &[u8], c: Condition) -> Result<Put, Error> {
        check_key(k)?;
        if v.len() > KV_MAX_VAL {
            return Err(Error::BadValueLen);
        }
        if let Some(p) = self.pos(k) {
            if c == Condition::IfAbsent {
                return Err(Error::Exists);
            }
            self.items[p].1 = v.to_vec();
            self.used(p);
            return Ok(Put::Replaced);
        }
        if c == Condition::IfPresent {
            return Err(Error::NotFound);
        }
        let mut outcome = Put::Inserted;
        if self.items.len() == self.cap {
            if !self.evict() {
                return Err(Error::Full);
            }
            outcome = Put::Evicted;
        }
        self.items.push_back((k.to_vec(), v.to_vec(), false));
        Ok(outcome)
    }

    fn get(&mut self, k: &[u8]) -> Result<Vec<u8>, Error> {
        check_key(k)?;
        match self.pos(k) {
            Some(p) => {
                self.hits += 1;
                let value = self.items[p].1.clone();
                self.used(p);
                Ok(value)
            }
            None => {
                self.misses += 1;
                Err(Error::NotFound)
            }
        }
    }

    fn del(&mut self, k: &[u8]) -> Result<(), Error> {
        check_key(k)?;
        let p = self.pos(k).ok_or(Error::NotFound)?;
        self.remove(p);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn behaves_like_the_model(
        buckets in 1u32..5,
        cap in 1u32..9,
        policy in prop_oneof![Just(Policy::None), Just(Policy::Lru), Just(Policy::Sieve)],
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let (s, mut w) = store(buckets, cap, policy);
        let mut m = Model {
            items: VecDeque::new(), cap: cap as usize, policy, hand: None,
            hits: 0, misses: 0, evictions: 0,
        };
        for op in &ops {
            match op {
                Op::Put(k, v, c) => prop_assert_eq!(put_if(&s, &mut w, k, v, *c), m.put(k, v, *c), "{:?}", op),
                Op::Get(k) => prop_assert_eq!(get(&s, &mut w, k), m.get(k), "{:?}", op),
                Op::Del(k) => prop_assert_eq!(del(&s, &mut w, k), m.del(k), "{:?}", op),
                Op::Clear => {
                    w.clear(&s, free_now);
                    m.items.clear();
                    m.hand = None;
                }
            }
            let u = s.usage(&w);
            let bytes: usize = m.items.iter().map(|(k, v, _)| k.len() + v.len()).sum();
            prop_assert_eq!(u.curr_items as usize, m.items.len());
            prop_assert_eq!((u.hits, u.misses, u.evictions), (m.hits, m.misses, m.evictions));
            prop_assert_eq!(u.bytes_used, bytes as u64);
            prop_assert_eq!((u.bucket_count, u.max_items, u.use_lru), (buckets, cap, policy as u32));
            // The policy's order (and SIEVE's hand and bits) is the model's.
            let want: Vec<Vec<u8>> = m.items.iter().map(|(k, _, _)| k.clone()).collect();
            let keys = |slots: &[u32]| slots.iter().map(|&i| s.slot_key(i)).collect::<Vec<_>>();
            match w.policy_order(&s) {
                (Some(order), hand) => {
                    prop_assert_eq!(keys(&order), want.clone());
                    if policy == Policy::Sieve {
                        let hand = (hand != NIL).then(|| s.slot_key(hand));
                        prop_assert_eq!(hand, m.hand.map(|h| m.items[h].0.clone()));
                        let bits: Vec<bool> = order.iter().map(|&i| s.referenced(i)).collect();
                        let want_bits: Vec<bool> = m.items.iter().map(|i| i.2).collect();
                        prop_assert_eq!(bits, want_bits);
                    }
                }
                (None, _) => prop_assert_eq!(policy, Policy::None),
            }
        }
        // Every item the model holds is there with its value.
        for (k, v, _) in m.items.clone() {
            prop_assert_eq!(get(&s, &mut w, &k), Ok(v));
        }
    }
}
