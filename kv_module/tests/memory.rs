// SPDX-License-Identifier: GPL-2.0
//! Memory that follows the data: what a store holds at load, what each item
//! costs, what a clear gives back, and how a writer that may not allocate
//! under its lock asks for a chunk without changing anything.

use core::cell::Cell;
use core::ptr::NonNull;
use std::vec;
use std::vec::Vec;

use super::{del, free_now, get, never, put, store, HStore, HostAlloc, Retired};
use crate::policy::{Links, Policy};
use crate::store::{Alloc, Clock, Condition, Error, Events, Put, PutArgs, Store, Writer};
use crate::table::{Bucket, BLOCK_SLOTS, DEADLINE_WORDS, HEADER_WORDS, NIL};

fn memory(s: &HStore, w: &super::HWriter) -> u64 {
    s.usage(w).memory
}

/// Record stride of a `k`-byte key and a `v`-byte value without expiry.
fn stride(k: usize, v: usize) -> usize {
    HEADER_WORDS + k.div_ceil(8) + v.div_ceil(8)
}

/// Bytes of a chunk of such records.
fn chunk_bytes(k: usize, v: usize) -> u64 {
    (stride(k, v) * BLOCK_SLOTS * 8) as u64
}

/// At load a store holds its buckets and what scales with the capacity in
/// words per item, not records: a million items load in well under the
/// 16 MiB a million buckets and their directory may take, and SIEVE's
/// mark words (8 bytes per slot of every block the directory holds, about
/// twice the items, mapped for readers) add about 16 MiB.
#[test]
fn load_holds_no_items() {
    let bucket = core::mem::size_of::<Bucket>() as u64;
    let (s, w) = store(4096, 100, Policy::None);
    let base = memory(&s, &w);
    // Buckets take whole pages of their own (a mapping shows them).
    let (s2, w2) = store(4097, 100, Policy::None);
    assert_eq!(memory(&s2, &w2) - base, 4096);
    let (s3, w3) = store(8192, 100, Policy::None);
    assert_eq!(memory(&s3, &w3) - base, 4096 * bucket);
    let (s4, w4) = store(4096, 100 + 100_000, Policy::None);
    let per_item = (memory(&s4, &w4) - base) / 100_000;
    assert!(
        per_item <= 1,
        "{per_item} bytes at load per item of capacity"
    );
    let (big, wbig) = store(1 << 20, 1 << 20, Policy::Lru);
    let m = memory(&big, &wbig);
    assert!(m <= 16 << 20, "a million items load in {m} bytes");
    let (sieve, wsieve) = store(1 << 20, 1 << 20, Policy::Sieve);
    let marks = memory(&sieve, &wsieve) - m;
    let blocks = u64::from(sieve.map_header().unwrap().blocks);
    assert_eq!(marks, blocks * BLOCK_SLOTS as u64 * 8, "8 bytes per slot");
    assert!(
        marks <= 17 << 20,
        "a million items' marks take {marks} bytes"
    );
}

/// Items take chunks as they arrive: the first item of a size takes one
/// chunk of `BLOCK_SLOTS` records of its stride; the block fills before the
/// next chunk comes; another size takes a chunk of its own. Under a policy
/// its links cover the attached blocks' slots, doubling as they grow.
#[test]
fn chunks_come_as_items_arrive() {
    for policy in [Policy::None, Policy::Lru, Policy::Sieve] {
        let (s, mut w) = store(64, 4 * BLOCK_SLOTS as u32, policy);
        let base = memory(&s, &w);
        let small = chunk_bytes(16, 64);
        // Links for `blocks` blocks' slots.
        let links = |blocks: u64| match policy {
            Policy::None => 0,
            _ => blocks * BLOCK_SLOTS as u64 * 8,
        };
        put(&s, &mut w, &[0; 16], &[1; 64]).unwrap();
        assert_eq!(memory(&s, &w), base + small + links(1), "{policy:?}");
        for i in 1..BLOCK_SLOTS as u32 {
            put(&s, &mut w, &key16(i), &[1; 64]).unwrap();
        }
        assert_eq!(
            memory(&s, &w),
            base + small + links(1),
            "{policy:?}: one block"
        );
        put(&s, &mut w, &key16(9999), &[1; 64]).unwrap();
        assert_eq!(
            memory(&s, &w),
            base + 2 * small + links(2),
            "{policy:?}: two"
        );
        put(&s, &mut w, b"big", &[2; 256]).unwrap();
        let big = chunk_bytes(3, 256);
        assert_eq!(
            memory(&s, &w),
            base + 2 * small + big + links(4),
            "{policy:?}"
        );
        assert_eq!(get(&s, &mut w, b"big").unwrap(), [2; 256]);
        assert_eq!(get(&s, &mut w, &key16(7)).unwrap(), [1; 64]);
    }
}

fn key16(i: u32) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k
}

/// The sizes, 100,000 items each, buckets (one per item) included:
/// at most 128 bytes an item at 16/64, 80 at 8/8, 384 at 64/256.
#[test]
fn bytes_per_item_at_100k() {
    for (k, v, most) in [(16usize, 64usize, 128u64), (8, 8, 80), (64, 256, 384)] {
        let n = 100_000u32;
        let (s, mut w) = store(n, n, Policy::None);
        let load = memory(&s, &w) - n as u64 * core::mem::size_of::<Bucket>() as u64;
        for i in 0..n {
            let mut key = vec![0u8; k];
            key[..4].copy_from_slice(&i.to_le_bytes());
            put(&s, &mut w, &key, &vec![7u8; v]).unwrap();
        }
        let per_item = (memory(&s, &w) - load) / n as u64;
        assert!(per_item <= most, "{k}/{v}: {per_item} bytes an item");
    }
}

/// Deleting frees room in the item's class, not memory; a clear gives
/// every chunk back, and the store refills as before.
#[test]
fn clear_gives_the_chunks_back() {
    let (s, mut w) = store(64, 2000, Policy::Sieve);
    let load = memory(&s, &w);
    for i in 0..1500u32 {
        put(&s, &mut w, &i.to_le_bytes(), &[3; 40]).unwrap();
    }
    let full = memory(&s, &w);
    assert!(full > load);
    for i in 0..1500u32 {
        del(&s, &mut w, &i.to_le_bytes()).unwrap();
    }
    assert_eq!(memory(&s, &w), full, "deletes keep the chunks");
    for i in 0..1500u32 {
        put(&s, &mut w, &i.to_le_bytes(), &[4; 40]).unwrap();
    }
    assert_eq!(memory(&s, &w), full, "and reuse them");
    w.clear(&s, free_now);
    assert_eq!(memory(&s, &w), load);
    put(&s, &mut w, b"again", b"1").unwrap();
    assert_eq!(get(&s, &mut w, b"again").unwrap(), b"1");
    assert_eq!(get(&s, &mut w, &7u32.to_le_bytes()), Err(Error::NotFound));
}

/// A replace that changes the item's size moves it to another class; every
/// other item stays as it was.
#[test]
fn a_resized_item_moves_class() {
    for policy in [Policy::None, Policy::Lru, Policy::Sieve] {
        let (s, mut w) = store(1, 8, policy);
        for (k, v) in [(&b"a"[..], &b"1"[..]), (b"b", b"2"), (b"c", b"3")] {
            put(&s, &mut w, k, v).unwrap();
        }
        for len in [9usize, 200, 1, 0, 256, 8] {
            let v = vec![b'x'; len];
            assert_eq!(put(&s, &mut w, b"b", &v), Ok(Put::Replaced));
            assert_eq!(get(&s, &mut w, b"b").unwrap(), v, "{policy:?} {len}");
            assert_eq!(get(&s, &mut w, b"a").unwrap(), b"1");
            assert_eq!(get(&s, &mut w, b"c").unwrap(), b"3");
            assert_eq!(s.usage(&w).curr_items, 3);
        }
    }
}

// ---- a writer that may not allocate under its lock ------------------------

std::thread_local! {
    /// Chunks the allocator below may still hand out (each `chunk` call
    /// takes one); past them it fails.
    static CHUNKS_LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// [`HostAlloc`]'s memory, but chunks only through the caller, as in the
/// module, and only as many as `CHUNKS_LEFT` allows.
struct SpinAlloc;

impl Events for SpinAlloc {}

// SAFETY: `HostAlloc`'s chunks, whose promises this keeps.
unsafe impl Alloc for SpinAlloc {
    type Vec<T> = Vec<T>;
    const CHUNKS_UNDER_LOCK: bool = false;

    fn vec<T>(len: usize, f: impl FnMut() -> T) -> Option<Vec<T>> {
        HostAlloc::vec(len, f)
    }

    fn chunk(bytes: usize) -> Option<NonNull<u8>> {
        let left = CHUNKS_LEFT.with(|c| c.get());
        if left == 0 {
            return None;
        }
        CHUNKS_LEFT.with(|c| c.set(left - 1));
        HostAlloc::chunk(bytes)
    }

    unsafe fn free_chunk(chunk: NonNull<u8>, bytes: usize) {
        // SAFETY: The caller's promise, passed on.
        unsafe { HostAlloc::free_chunk(chunk, bytes) }
    }
}

type SStore = Store<SpinAlloc>;
type SWriter = Writer<SpinAlloc>;

/// A put as the module runs it ([`spin`]).
fn spin_put(s: &SStore, w: &mut SWriter, k: &[u8], v: &[u8]) -> Result<Put, Error> {
    let key = s.key(k)?;
    let args = PutArgs {
        cond: Condition::Always,
        ttl_ms: 0,
    };
    spin(s, w, &mut |_| {}, |w| w.put_if(s, &key, v, args, &never()))
}

/// Without a chunk a put answers `NeedChunk` and changes nothing; with it
/// the put goes in; an allocation that fails answers `NoMemory` and leaves
/// the store as it was.
#[test]
fn a_put_without_memory_changes_nothing() {
    let (s, mut w) = SStore::new(16, 2000, Policy::Lru, 1, [1, 2]).unwrap();
    let key = s.key(b"k").unwrap();
    let args = PutArgs {
        cond: Condition::Always,
        ttl_ms: 0,
    };
    let before = s.usage(&w);
    // First the policy's links for the first block's slots, then the chunk.
    let asked = w.put_if(&s, &key, b"v", args, &never());
    assert_eq!(asked, Err(Error::NeedLinks(BLOCK_SLOTS as u32)));
    assert_eq!(s.usage(&w), before);
    let links = SpinAlloc::vec(BLOCK_SLOTS, Links::new).unwrap();
    drop(w.add_links(links));
    let before = s.usage(&w);
    let asked = w.put_if(&s, &key, b"v", args, &never());
    let Err(Error::NeedChunk(stride)) = asked else {
        panic!("{asked:?}");
    };
    assert_eq!(stride as usize, stride_of(1, 1, Policy::Lru));
    assert_eq!(s.usage(&w), before);
    CHUNKS_LEFT.with(|c| c.set(1));
    assert_eq!(spin_put(&s, &mut w, b"k", b"v"), Ok(Put::Inserted));
    let one = s.usage(&w);
    // A value of another size needs a chunk the allocator refuses: the
    // item keeps its value, and nothing else moves. (The links, grown for
    // the block the chunk was for, stay: memory, not contents.)
    assert_eq!(spin_put(&s, &mut w, b"k", &[9; 100]), Err(Error::NoMemory));
    assert_eq!(
        spin_put(&s, &mut w, b"new", &[9; 100]),
        Err(Error::NoMemory)
    );
    let after = s.usage(&w);
    assert_eq!(
        crate::abi::KvUsageStat {
            memory: one.memory,
            ..after
        },
        one
    );
    let mut out = crate::table::ValueOut::new();
    let found = s.get(&key, 0, &mut out, || {}, || 1).unwrap();
    assert_eq!(out.value(), b"v");
    assert_eq!(found.version, 1);
    CHUNKS_LEFT.with(|c| c.set(usize::MAX));
    assert_eq!(spin_put(&s, &mut w, b"k", &[9; 100]), Ok(Put::Replaced));
    // A chunk handed over when the class has room again is given back.
    let spare = SpinAlloc::chunk(s.chunk_bytes(stride as usize)).unwrap();
    let back = w.add_chunk(&s, stride as usize, spare);
    assert_eq!(back, Some(spare));
    // SAFETY: Given back unattached.
    unsafe { SpinAlloc::free_chunk(spare, s.chunk_bytes(stride as usize)) };
}

fn stride_of(k: usize, v: usize, _policy: Policy) -> usize {
    stride(k, v)
}

/// Blocks stay with their class until a clear. A workload that fills
/// class after class runs out of directory: a put of a new class then
/// answers `Full` and changes nothing, while classes with room go on.
#[test]
fn a_full_directory_refuses_new_classes() {
    let n = 2 * BLOCK_SLOTS as u32;
    let (s, mut w) = store(64, n, Policy::None);
    let mut refused = None;
    for words in 0..=32usize {
        let value = vec![5u8; words * 8];
        let mut result = Ok(Put::Inserted);
        for i in 0..n {
            result = put(&s, &mut w, &i.to_le_bytes(), &value);
            if result.is_err() {
                break;
            }
        }
        if let Err(e) = result {
            refused = Some((words, e, s.usage(&w)));
            break;
        }
        for i in 0..n {
            del(&s, &mut w, &i.to_le_bytes()).unwrap();
        }
    }
    let (words, e, usage) = refused.expect("the directory fills");
    assert_eq!(e, Error::Full, "at {words} words");
    // The refused put changed nothing, and a class with room still takes
    // items.
    assert_eq!(
        put(&s, &mut w, &u32::MAX.to_le_bytes(), &vec![5u8; words * 8]),
        Err(Error::Full)
    );
    assert_eq!(s.usage(&w), usage);
    for i in 0..usage.curr_items {
        del(&s, &mut w, &i.to_le_bytes()).unwrap();
    }
    assert_eq!(put(&s, &mut w, b"k", &[5u8; 8]), Ok(Put::Inserted));
    w.clear(&s, free_now);
    assert_eq!(
        put(&s, &mut w, b"k", &vec![5u8; words * 8]),
        Ok(Put::Inserted)
    );
}

/// Runs a writer operation as the module does: on `NeedLinks`, `NeedHeap`
/// or `NeedChunk`, the memory allocated without the lock and handed over,
/// then the operation again; `between` runs where another thread's
/// operation could, while the lock is free.
fn spin<T>(
    s: &SStore,
    w: &mut SWriter,
    between: &mut dyn FnMut(&mut SWriter),
    mut op: impl FnMut(&mut SWriter) -> Result<T, Error>,
) -> Result<T, Error> {
    loop {
        match op(w) {
            Err(Error::NeedLinks(len)) => {
                let links = SpinAlloc::vec(len as usize, Links::new).ok_or(Error::NoMemory)?;
                between(w);
                drop(w.add_links(links));
            }
            Err(Error::NeedHeap(places)) => {
                let heap = SpinAlloc::vec(places as usize, || NIL).ok_or(Error::NoMemory)?;
                between(w);
                drop(w.add_heap(heap));
            }
            Err(Error::NeedChunk(stride)) => {
                let bytes = s.chunk_bytes(stride as usize);
                let chunk = SpinAlloc::chunk(bytes).ok_or(Error::NoMemory)?;
                between(w);
                if let Some(unused) = w.add_chunk(s, stride as usize, chunk) {
                    // SAFETY: From `chunk(bytes)` just now, never attached.
                    unsafe { SpinAlloc::free_chunk(unused, bytes) };
                }
            }
            other => return other,
        }
    }
}

/// One writer operation of [`an_evicting_store_always_makes_room`]: its
/// outcome, `Ok` for the answers a store that evicts may give.
fn evicting_op(
    s: &SStore,
    w: &mut SWriter,
    retired: &mut Retired,
    between: &mut dyn FnMut(&mut SWriter),
    (kind, k, v): (u8, u8, u8),
) -> Result<(), Error> {
    let key = s.key(&[b'k', k]).unwrap();
    let value = std::vec![b'7'; usize::from(v)];
    let done = match kind {
        0 | 1 => spin(s, w, between, |w| {
            w.put(s, &key, &value, &never()).map(drop)
        }),
        2 => spin(s, w, between, |w| {
            w.incr(s, &key, i64::from(v) << (2 * v), 0, &never())
                .map(drop)
        }),
        3 => spin(s, w, between, |w| {
            w.put_version(s, &key, &value, 1, &never()).map(drop)
        }),
        4 => w.del(s, &key, &never()),
        _ => {
            let links = w.clear(s, |c, b| retired.0.push((c, b)));
            drop(links);
            Ok(())
        }
    };
    match done {
        Err(Error::NotANumber | Error::Overflow | Error::NotFound | Error::VersionChanged) => {
            Ok(())
        }
        other => other,
    }
}

proptest::proptest! {
    /// A store that evicts always makes room, through every size change,
    /// increment, versioned put, delete and clear, with its memory coming
    /// as the module gets it: allocated outside the writer, another
    /// operation maybe in between, then the operation again.
    #[test]
    fn an_evicting_store_always_makes_room(
        sieve in proptest::bool::ANY,
        ops in proptest::collection::vec((0..6u8, 0..3u8, 0..30u8), 1..300),
        others in proptest::collection::vec((0..6u8, 0..3u8, 0..30u8), 300),
    ) {
        let policy = if sieve { Policy::Sieve } else { Policy::Lru };
        let (s, mut w) = SStore::new(1, 2, policy, 1, [1, 2]).unwrap();
        let mut retired = Retired(Vec::new());
        let mut others_retired = Retired(Vec::new());
        let mut failed = None;
        for (n, &op) in ops.iter().enumerate() {
            let other = others[n];
            // Once per operation: another thread's clear at every retry
            // would starve it (as it would in the module).
            let mut once = Some(other);
            let mut between = |w: &mut SWriter| {
                let Some(other) = once.take() else {
                    return;
                };
                let mut none = |_: &mut SWriter| {};
                if let Err(e) = evicting_op(&s, w, &mut others_retired, &mut none, other) {
                    failed.get_or_insert((other, e));
                }
            };
            let done = evicting_op(&s, &mut w, &mut retired, &mut between, op);
            proptest::prop_assert!(done.is_ok(), "{:?}: {:?}", op, done);
            proptest::prop_assert!(failed.is_none(), "in between: {:?}", failed);
            proptest::prop_assert!(w.len() <= 2);
        }
    }
}

/// The deadline heap takes memory only as deadlines come: none for items
/// without a TTL, 64 places for the first, and more for the deadlines the
/// queues do not take (asked by `NeedHeap` and handed over as the module
/// does), and none again after a clear. Each item keeps its
/// deadline through the heap's growth, and they expire earliest first.
#[test]
fn the_deadline_heap_grows_with_the_deadlines_it_holds() {
    const MS: u64 = 1_000_000;
    let (s, mut w) = Store::<SpinAlloc>::new(256, 256, Policy::None, 1, [1, 2]).unwrap();
    let load = s.usage(&w).memory;
    let at = |ms: u64| Clock::new(move || ms * MS);
    let put_ttl = |w: &mut SWriter, k: u32, ttl_ms: u64| {
        let key = s.key(&k.to_le_bytes()).unwrap();
        let args = PutArgs {
            cond: Condition::Always,
            ttl_ms,
        };
        spin(&s, w, &mut |_| {}, |w| {
            w.put_if(&s, &key, b"v", args, &at(1))
        })
    };
    for k in 0..100u32 {
        spin_put(&s, &mut w, &k.to_le_bytes(), b"v").unwrap();
    }
    let plain = s.usage(&w).memory;
    // 4-byte keys and 1-byte values with their deadline entry.
    let expiring_chunk = s.chunk_bytes(HEADER_WORDS + 2 + DEADLINE_WORDS) as u64;
    // A few TTLs: the queues take them all, and the heap has its first
    // 64 places.
    for k in 100..150u32 {
        put_ttl(&mut w, k, 1000 + u64::from(k % 4)).unwrap();
    }
    assert_eq!(s.usage(&w).memory - plain, expiring_chunk + 64 * 4);
    // A TTL an item: the four queues left take four, the heap the other
    // 96, in 64 places and then twice as many.
    for k in 150..250u32 {
        put_ttl(&mut w, k, 5000 + u64::from(k)).unwrap();
    }
    let heap = s.usage(&w).memory - plain - expiring_chunk;
    assert_eq!(heap, 128 * 4);
    let deadline = |w: &SWriter, k: u32| {
        let key = s.key(&k.to_le_bytes()).unwrap();
        let _ = w;
        let mut out = crate::table::ValueOut::new();
        s.get(&key, 0, &mut out, || {}, || 1)
            .map(|found| found.expires)
    };
    let mut deadlines: Vec<(u64, u32)> = (100..250u32)
        .map(|k| (deadline(&w, k).unwrap(), k))
        .collect();
    for &(at, k) in &deadlines {
        let ttl = if k < 150 {
            1000 + u64::from(k % 4)
        } else {
            5000 + u64::from(k)
        };
        assert!(
            at <= (1 + ttl) * MS && at > (1 + ttl) * MS - ttl * MS / 1024,
            "{k}: {at}"
        );
    }
    deadlines.sort();
    // Reclaim at the 120th deadline: the items due by then go, the others
    // stay.
    let now = deadlines[119].0;
    while w.reclaim_expired(&s, now, 16).1 {}
    let due = deadlines.iter().filter(|&&(at, _)| at <= now).count();
    assert!(due >= 120 && due < deadlines.len());
    assert_eq!(w.next_deadline(&s), Some(deadlines[due].0));
    for &(at, k) in &deadlines {
        let left = w.ttl(
            &s,
            &s.key(&k.to_le_bytes()).unwrap(),
            &Clock::new(move || now),
        );
        assert_eq!(left.is_ok(), at > now, "{k}, deadline {at}");
    }
    w.clear(&s, free_now);
    assert_eq!(s.usage(&w).memory, load);
}

/// Every byte of the store's attached chunks (the records a mapping
/// shows).
fn chunk_bytes_of(s: &HStore) -> Vec<u8> {
    let mut all = Vec::new();
    for b in 0..s.blocks() {
        if let Some((chunk, bytes)) = s.block_chunk(b) {
            // SAFETY: An attached chunk of `bytes` bytes, alive while `s`
            // is, and no thread writes it during the test.
            all.extend_from_slice(unsafe { core::slice::from_raw_parts(chunk.as_ptr(), bytes) });
        }
    }
    all
}

/// Whether `value` appears in the chunks, at any byte.
fn in_chunks(s: &HStore, value: &[u8]) -> bool {
    chunk_bytes_of(s).windows(value.len()).any(|w| w == value)
}

/// A deleted, evicted, expired or moved item leaves none of its key's or
/// value's bytes in the records (a mapping would show them), and live
/// items are still found by the same scan.
#[test]
fn removed_items_leave_no_bytes() {
    const MS: u64 = 1_000_000;
    let value = |tag: u8| {
        let mut v = [tag; 40];
        v[0] = 0xEE;
        v
    };
    let (s, mut w) = store(64, 8, Policy::Sieve);
    for tag in 1..=8u8 {
        put(&s, &mut w, &[b'k', tag], &value(tag)).unwrap();
    }
    assert!(in_chunks(&s, &value(1)) && in_chunks(&s, &value(8)));
    // Deleted.
    del(&s, &mut w, &[b'k', 1]).unwrap();
    assert!(!in_chunks(&s, &value(1)));
    // Moved to another size class by a longer value.
    put(&s, &mut w, &[b'k', 2], &[0x22; 100]).unwrap();
    assert!(!in_chunks(&s, &value(2)));
    assert!(in_chunks(&s, &[0x22; 100]));
    // Expired and reclaimed.
    let key = s.key(&[b'k', 3]).unwrap();
    let args = PutArgs {
        cond: Condition::Always,
        ttl_ms: 5,
    };
    w.put_if(&s, &key, &value(3), args, &Clock::new(|| MS))
        .unwrap();
    while w.reclaim_expired(&s, 100 * MS, 16).1 {}
    assert!(get(&s, &mut w, &[b'k', 3]).is_err());
    assert!(!in_chunks(&s, &value(3)));
    // Evicted: the store is full (8 items), and new keys push old ones out.
    for tag in 100..108u8 {
        put(&s, &mut w, &[b'n', tag], &[tag; 40]).unwrap();
    }
    let mut evicted = 0;
    for tag in 4..=8u8 {
        let gone = get(&s, &mut w, &[b'k', tag]).is_err();
        assert_eq!(in_chunks(&s, &value(tag)), !gone, "k{tag}");
        evicted += usize::from(gone);
    }
    assert!(evicted > 0);
}
