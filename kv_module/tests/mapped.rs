// SPDX-License-Identifier: GPL-2.0
//! The mapped reader (`mapped.rs`) over a host store's own memory, as a
//! mapping of `/dev/kvstore` shows it: it answers what the store's get
//! answers, never a torn value while writers run, and stops on a cycle or
//! on garbage.

use core::hint::spin_loop;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::threads::{value_ok, writer};
use super::{put, store, HStore, HWriter, HostAlloc, Retired};
use crate::abi::{KvMapHeader, KV_MAP_MAGIC, KV_MAP_VERSION, KV_MAX_KEY, KV_MAX_VAL};
use crate::mapped::{self, Chunk, Outcome, View, ATTEMPTS};
use crate::policy::Policy;
use crate::store::{Clock, Condition, Error, Put, PutArgs, Store};
use crate::table::{Bucket, ValueOut, BLOCK_SLOTS, CHUNK_ALIGN, HEADER_WORDS, NIL, WORD};

/// A view of a host store through the addresses it would have the kernel
/// map: the header page, the public block table, the buckets and each
/// attached block's chunk. Like `kvlib`'s mapping, it holds a block only
/// once "mapped" ([`HostView::map`]), as of the generation the block table
/// showed then, so the walk's [`Outcome::NeedBlock`] path runs too.
struct HostView<'a> {
    store: &'a HStore,
    header: &'a KvMapHeader,
    public: &'a [AtomicU64],
    buckets: &'a [Bucket],
    /// The published eviction count's word.
    evictions: &'a AtomicU64,
    /// SIEVE's visited marks.
    marks: Option<&'a [AtomicU64]>,
    /// Per block, the public entry it was mapped at (0: not mapped).
    mapped: Vec<AtomicU64>,
}

impl<'a> HostView<'a> {
    fn new(store: &'a HStore) -> Self {
        let header = store.map_header().unwrap();
        let [(_, header_bytes), (public, public_bytes), (buckets, bucket_bytes)] =
            store.map_regions();
        assert_eq!(header.block_table, header_bytes as u64);
        assert_eq!(header.buckets, (header_bytes + public_bytes) as u64);
        assert_eq!(
            header.map_bytes,
            (header_bytes + public_bytes + bucket_bytes) as u64
        );
        assert!((header.blocks as usize + 1) * WORD <= public_bytes);
        assert_eq!(
            header.evictions,
            header.block_table + u64::from(header.blocks) * 8
        );
        assert!(header.bucket_count as usize * core::mem::size_of::<Bucket>() <= bucket_bytes);
        // SAFETY: `map_regions` gives the public block table's pages, which
        // hold `blocks` `AtomicU64`s and the published eviction count
        // (checked above against their bytes), page-aligned, alive as long
        // as `store` is borrowed.
        let all = unsafe {
            core::slice::from_raw_parts(public.cast().as_ptr(), header.blocks as usize + 1)
        };
        let (evictions, public) = all.split_last().unwrap();
        let marks = store.marks_region().map(|(marks, bytes)| {
            assert_eq!(header.marks_bytes, bytes as u64);
            // SAFETY: The marks' pages: `bytes / 8` `AtomicU64`s, alive as
            // long as `store` is borrowed.
            unsafe { core::slice::from_raw_parts(marks.cast().as_ptr(), bytes / WORD) }
        });
        assert_eq!(marks.is_some(), header.marks_bytes != 0);
        // SAFETY: As above, the bucket pages hold `bucket_count` `Bucket`s.
        let buckets = unsafe {
            core::slice::from_raw_parts(buckets.cast().as_ptr(), header.bucket_count as usize)
        };
        HostView {
            store,
            header,
            public,
            buckets,
            evictions,
            marks,
            mapped: (0..header.blocks).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// "Maps" block `b` as its public entry shows it now.
    fn map(&self, b: u32) {
        let entry = self.public[b as usize].load(Ordering::Acquire);
        self.mapped[b as usize].store(entry, Ordering::Relaxed);
    }

    /// Block `b`'s chunk as words, whatever is attached now.
    fn chunk(&self, b: u32) -> Option<&'a [AtomicU64]> {
        let (chunk, bytes) = self.store.block_chunk(b)?;
        // SAFETY: An attached chunk of `bytes` bytes, page-aligned and only
        // ever accessed through atomics; it stays allocated while `store`
        // lives (the tests that clear keep the detached chunks in a
        // `Retired` list until their readers are done).
        Some(unsafe { core::slice::from_raw_parts(chunk.cast().as_ptr(), bytes / WORD) })
    }
}

impl View for HostView<'_> {
    fn header(&self) -> &KvMapHeader {
        self.header
    }

    fn public(&self) -> &[AtomicU64] {
        self.public
    }

    fn buckets(&self) -> &[Bucket] {
        self.buckets
    }

    fn evictions(&self) -> &AtomicU32 {
        &crate::table::halves(self.evictions)[0]
    }

    fn marks(&self) -> Option<&[AtomicU64]> {
        self.marks
    }

    fn block(&self, b: u32, entry: u64) -> Option<Chunk<'_>> {
        if self.mapped.get(b as usize)?.load(Ordering::Relaxed) != entry {
            return None;
        }
        // The chunk attached now may be a later one than the generation
        // asked for (a clear and an attach since): harmless, as a stale
        // mapping would be; the reader's validation fails.
        Chunk::new(self.chunk(b)?, entry as u32 as usize)
    }
}

/// A get through the view, mapping blocks as asked: the value and
/// version, or `NotFound`. `None` if the reader gave up.
fn read(view: &HostView<'_>, k: &[u8], now: u64) -> Option<Result<(Vec<u8>, u64), Error>> {
    let mut out = [0u8; KV_MAX_VAL];
    // Every block about once (more only if clears run meanwhile), plus
    // the answer.
    for _ in 0..2 * view.header.blocks + 2 {
        match mapped::get(view, k, || Some(now), &mut out) {
            Outcome::Hit { len, version } => return Some(Ok((out[..len].to_vec(), version))),
            Outcome::Miss => return Some(Err(Error::NotFound)),
            Outcome::NeedBlock(b) => view.map(b),
            Outcome::GiveUp => return None,
            Outcome::BadKey => return Some(Err(Error::BadKeyLen)),
        }
    }
    None
}

/// The store's own lock-free get at `now`: value and version.
fn store_get(s: &HStore, k: &[u8], now: u64) -> Result<(Vec<u8>, u64), Error> {
    let key = s.key(k)?;
    let mut out = ValueOut::new();
    let found = s.get(&key, 0, &mut out, spin_loop, || now)?;
    Ok((out.value().to_vec(), found.version))
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Key `n` of a test: lengths 1..=64, so keys of every word count.
fn key_of(n: u64) -> Vec<u8> {
    let len = 1 + (n as usize * 7) % KV_MAX_KEY;
    (0..len)
        .map(|i| (n as u8).wrapping_add((i as u8).wrapping_mul(31)))
        .collect()
}

/// Checks that the reader agrees with the store on every key at `now`;
/// the number of hits.
fn agree(s: &HStore, keys: u64, now: u64, what: &str) -> usize {
    let view = HostView::new(s);
    let mut hits = 0;
    for n in 0..keys {
        let k = key_of(n);
        let answer = read(&view, &k, now).expect("a single-threaded read gave up");
        assert_eq!(answer, store_get(s, &k, now), "key {n} after {what}");
        hits += usize::from(answer.is_ok());
    }
    hits
}

const MS: u64 = 1_000_000;

fn put_at(s: &HStore, w: &mut HWriter, k: &[u8], v: &[u8], ttl_ms: u64, now: u64) {
    let key = s.key(k).unwrap();
    let args = PutArgs {
        cond: Condition::Always,
        ttl_ms,
    };
    // A full store refuses: fine, the reader must agree either way.
    let _ = w.put_if(s, &key, v, args, &Clock::new(move || now));
}

#[test]
fn the_reader_answers_what_the_store_answers() {
    // Few buckets: long chains. Keys of every length and values of every
    // size: many size classes, and replaces that move items between them.
    for buckets in [1, 3, 64] {
        let (s, mut w) = store(buckets, 600, Policy::None);
        let mut retired = Retired(Vec::new());
        let mut rng = Rng(0x9e37_79b9 ^ u64::from(buckets));
        let keys = 300;
        let mut now = 1_000 * MS;
        for round in 0..2_000u32 {
            let n = rng.below(keys);
            let k = key_of(n);
            match rng.below(10) {
                0..=4 => {
                    let len = rng.below(KV_MAX_VAL as u64 + 1) as usize;
                    let v: Vec<u8> = (0..len).map(|i| (i as u8) ^ (round as u8)).collect();
                    put_at(&s, &mut w, &k, &v, 0, now);
                }
                5 | 6 => {
                    let len = rng.below(40) as usize;
                    put_at(&s, &mut w, &k, &vec![n as u8; len], 1 + rng.below(50), now);
                }
                7 => {
                    let _ = w.del(&s, &s.key(&k).unwrap(), &super::never());
                }
                8 => now += rng.below(20) * MS,
                _ => {
                    // A new expiry, or none, for the same value.
                    let key = s.key(&k).unwrap();
                    let ttl = rng.below(30);
                    let _ = w.touch(&s, &key, ttl, &Clock::new(move || now));
                }
            }
            if round % 100 == 99 {
                agree(&s, keys, now, "a round");
            }
            if round == 1_000 {
                w.clear(&s, |c, b| retired.0.push((c, b)));
                agree(&s, keys, now, "a clear");
            }
        }
        // Items expire as time passes, for both.
        let hits: Vec<usize> = [now, now + 10 * MS, now + 30 * MS, now + 51 * MS]
            .into_iter()
            .map(|later| agree(&s, keys, later, "time passed"))
            .collect();
        assert!(hits[3] > 0 && hits[3] < hits[0], "hits over time: {hits:?}");
        let view = HostView::new(&s);
        assert_eq!(
            read(&view, b"", now),
            Some(Err(Error::BadKeyLen)),
            "an empty key"
        );
        assert_eq!(
            read(&view, &[1; KV_MAX_KEY + 1], now),
            Some(Err(Error::BadKeyLen))
        );
    }
}

#[test]
fn an_expiring_item_is_a_miss_from_its_deadline() {
    let (s, mut w) = store(4, 16, Policy::None);
    put_at(&s, &mut w, b"k", b"value", 10, 1_000 * MS);
    let view = HostView::new(&s);
    // The deadline as the put rounded it (`Clock::expiry`).
    let deadline = Clock::new(|| 1_000 * MS).expiry(10).at;
    assert!(deadline > 1_009 * MS);
    assert_eq!(
        read(&view, b"k", deadline - 1).unwrap().unwrap().0,
        b"value"
    );
    assert_eq!(read(&view, b"k", deadline), Some(Err(Error::NotFound)));
    assert_eq!(store_get(&s, b"k", deadline), Err(Error::NotFound));
}

#[test]
fn a_block_is_asked_for_again_after_a_clear() {
    let (s, mut w) = store(4, 16, Policy::None);
    let mut retired = Retired(Vec::new());
    put_at(&s, &mut w, b"k", b"one", 0, 1);
    let view = HostView::new(&s);
    let mut out = [0u8; KV_MAX_VAL];
    let Outcome::NeedBlock(b) = mapped::get(&view, b"k", || Some(1), &mut out) else {
        panic!("an unmapped block was read");
    };
    view.map(b);
    assert!(matches!(
        mapped::get(&view, b"k", || Some(1), &mut out),
        Outcome::Hit { len: 3, .. }
    ));
    w.clear(&s, |c, b| retired.0.push((c, b)));
    assert_eq!(
        mapped::get(&view, b"k", || Some(1), &mut out),
        Outcome::Miss
    );
    // The same block again, of a new generation: mapped anew.
    put_at(&s, &mut w, b"k", b"two", 0, 1);
    assert_eq!(
        mapped::get(&view, b"k", || Some(1), &mut out),
        Outcome::NeedBlock(b)
    );
    view.map(b);
    assert!(matches!(
        mapped::get(&view, b"k", || Some(1), &mut out),
        Outcome::Hit { len: 3, .. }
    ));
    assert_eq!(&out[..3], b"two");
    // A value longer than `out`: its length, and what fits.
    put_at(&s, &mut w, b"k", &[9; 100], 0, 1);
    let mut short = [0u8; 10];
    loop {
        match mapped::get(&view, b"k", || Some(1), &mut short) {
            Outcome::NeedBlock(b) => view.map(b),
            hit => {
                assert!(matches!(hit, Outcome::Hit { len: 100, .. }), "{hit:?}");
                break;
            }
        }
    }
    assert_eq!(short, [9; 10]);
}

/// Writers replace (values of changing sizes: items move between
/// classes), delete and clear while readers read through the view and
/// check every value; they give up only rarely. Under SIEVE the store
/// holds fewer items than the keys, so puts evict too, and the readers
/// mark what they hit.
#[test]
fn threads_reading_through_the_view_never_see_a_torn_value() {
    torn_reads(Policy::None, 64);
    torn_reads(Policy::Sieve, 16);
}

fn torn_reads(policy: Policy, max_items: u32) {
    let (s, w) = Store::<HostAlloc>::new(2, max_items, policy, 4, [3, 5]).unwrap();
    let shared = Arc::new((s, Mutex::new(w)));
    let retired = Arc::new(Mutex::new(Retired(Vec::new())));
    let done = Arc::new(AtomicBool::new(false));
    let keys = 24u8;
    let writers: Vec<_> = (0..2u32)
        .map(|t| writer(&shared, &retired, t, keys, 20_000, 5_000))
        .collect();
    let readers: Vec<_> = (0..2u32)
        .map(|t| {
            let shared = Arc::clone(&shared);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let (s, _) = &*shared;
                let view = HostView::new(s);
                let (mut hits, mut gave_up, mut reads) = (0u32, 0u32, 0u32);
                while reads < 20_000 || !done.load(Ordering::Relaxed) {
                    reads += 1;
                    let k = [
                        (reads.wrapping_mul(5).wrapping_add(t) % u32::from(keys)) as u8,
                        0xee,
                    ];
                    match read(&view, &k, 1) {
                        Some(Ok((v, _))) => {
                            assert!(value_ok(&k, &v), "torn value for key {k:?}: {v:?}");
                            hits += 1;
                        }
                        Some(Err(e)) => assert_eq!(e, Error::NotFound),
                        None => gave_up += 1,
                    }
                }
                (hits, gave_up, reads)
            })
        })
        .collect();
    for t in writers {
        t.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for t in readers {
        let (hits, gave_up, reads) = t.join().unwrap();
        assert!(hits > 0, "the readers never found a key");
        assert!(gave_up < reads / 2, "{gave_up} of {reads} reads gave up");
    }
    let (s, w) = &*shared;
    let evictions = s.usage(&w.lock().unwrap()).evictions;
    assert_eq!(
        evictions > 0,
        policy == Policy::Sieve,
        "{evictions} evictions"
    );
}

/// The first used slot of bucket 0's chain and the words of its `next`
/// link, found through the view.
fn next_link<'a>(view: &HostView<'a>, i: u32) -> &'a AtomicU32 {
    let b = i as usize / BLOCK_SLOTS;
    let chunk = view.chunk(b as u32).unwrap();
    let link = &chunk[(i as usize % BLOCK_SLOTS) * HEADER_WORDS + 1];
    &crate::table::halves(link)[0]
}

#[test]
fn a_cycle_in_a_chain_ends_in_giving_up() {
    let (s, mut w) = store(1, 16, Policy::None);
    for k in [b"a", b"b", b"c"] {
        put_at(&s, &mut w, k, b"v", 0, 1);
    }
    let view = HostView::new(&s);
    for b in 0..view.header.blocks {
        view.map(b);
    }
    // The chain is c, b, a: point a back at c.
    let head = view.buckets[0].head.load(Ordering::Relaxed);
    let mut i = head;
    loop {
        let next = next_link(&view, i).load(Ordering::Relaxed);
        if next == NIL {
            break;
        }
        i = next;
    }
    next_link(&view, i).store(head, Ordering::Relaxed);
    let mut out = [0u8; KV_MAX_VAL];
    // A key on the chain is still found before the loop closes...
    assert!(matches!(
        mapped::get(&view, b"a", || Some(1), &mut out),
        Outcome::Hit { .. }
    ));
    // ... one that is not walks the bounded loop, ATTEMPTS times.
    assert_eq!(ATTEMPTS, 8);
    assert_eq!(
        mapped::get(&view, b"z", || Some(1), &mut out),
        Outcome::GiveUp
    );
    // A slot pointing at itself, too.
    next_link(&view, head).store(head, Ordering::Relaxed);
    assert_eq!(
        mapped::get(&view, b"z", || Some(1), &mut out),
        Outcome::GiveUp
    );
    // Undo it, so the store's own teardown is unaffected.
    next_link(&view, head).store(NIL, Ordering::Relaxed);
}

#[test]
fn a_bucket_with_a_write_in_progress_ends_in_giving_up() {
    let (s, mut w) = store(1, 16, Policy::None);
    put_at(&s, &mut w, b"a", b"v", 0, 1);
    let view = HostView::new(&s);
    for b in 0..view.header.blocks {
        view.map(b);
    }
    let seq = &view.buckets[0].seq;
    seq.fetch_add(1, Ordering::Relaxed);
    let mut out = [0u8; KV_MAX_VAL];
    assert_eq!(
        mapped::get(&view, b"a", || Some(1), &mut out),
        Outcome::GiveUp
    );
    seq.fetch_add(1, Ordering::Relaxed);
    assert!(matches!(
        mapped::get(&view, b"a", || Some(1), &mut out),
        Outcome::Hit { len: 1, .. }
    ));
}

/// A view over words the test made up: every index the reader computes
/// from them must stay in bounds, and every get must end.
struct Garbage {
    header: KvMapHeader,
    public: Vec<AtomicU64>,
    buckets: Vec<Bucket>,
    chunk: Vec<AtomicU64>,
    evictions: AtomicU32,
    /// Shorter than any slot number a walk may find needs.
    marks: Vec<AtomicU64>,
}

impl View for Garbage {
    fn header(&self) -> &KvMapHeader {
        &self.header
    }

    fn public(&self) -> &[AtomicU64] {
        &self.public
    }

    fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    fn evictions(&self) -> &AtomicU32 {
        &self.evictions
    }

    fn marks(&self) -> Option<&[AtomicU64]> {
        Some(&self.marks)
    }

    fn block(&self, b: u32, entry: u64) -> Option<Chunk<'_>> {
        // A chunk of any length and contents: only what `Chunk::new`
        // checks holds.
        let stride = entry as u32 as usize;
        let len = (stride * BLOCK_SLOTS).min(self.chunk.len());
        (b % 3 != 2).then(|| Chunk::new(&self.chunk[..len], stride))?
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn garbage_never_leads_out_of_bounds(
        public in proptest::collection::vec(any::<u64>(), 1..8),
        heads in proptest::collection::vec(any::<u32>(), 1..4),
        chunk in proptest::collection::vec(any::<u64>(), 0..4 * CHUNK_ALIGN),
        small in proptest::collection::vec(0u32..4096, 0..64),
        key in proptest::collection::vec(any::<u8>(), 1..=KV_MAX_KEY),
    ) {
        let mut chunk: Vec<AtomicU64> = chunk.into_iter().map(AtomicU64::new).collect();
        // Some links of small slot numbers, so walks go somewhere.
        for (w, n) in chunk.iter_mut().skip(1).step_by(HEADER_WORDS).zip(small) {
            *w.get_mut() = u64::from(n) | (*w.get_mut() & !0xffff_ffff);
        }
        let view = Garbage {
            header: KvMapHeader {
                magic: KV_MAP_MAGIC,
                version: KV_MAP_VERSION,
                policy: 0,
                bucket_count: heads.len() as u32,
                blocks: public.len() as u32,
                block_slots: BLOCK_SLOTS as u32,
                header_words: HEADER_WORDS as u32,
                seed: [1, 2],
                block_table: 0,
                buckets: 0,
                map_bytes: 0,
                block_pgoff: 0,
                evictions: 0,
                marks_pgoff: 0,
                marks_bytes: 0,
            },
            public: public.into_iter().map(AtomicU64::new).collect(),
            buckets: heads
                .into_iter()
                .map(|h| {
                    let b = Bucket::new();
                    b.head.store(h % 4096, Ordering::Relaxed);
                    b
                })
                .collect(),
            chunk,
            evictions: AtomicU32::new(0),
            marks: (0..2).map(|_| AtomicU64::new(0)).collect(),
        };
        let mut out = [0u8; KV_MAX_VAL];
        let _ = mapped::get(&view, &key, || Some(5), &mut out);
        let mut short = [0u8; 3];
        let _ = mapped::get(&view, &key, || Some(5), &mut short);
    }
}

/// How many mark words are marked (bit 0) in `view`'s store.
fn marks_set(view: &HostView<'_>) -> u32 {
    let marks = view.marks.expect("a SIEVE store has marks");
    marks
        .iter()
        .map(|w| (w.load(Ordering::Relaxed) & 1) as u32)
        .sum()
}

/// Whether `k` is in the store.
fn present(s: &HStore, k: &[u8]) -> bool {
    store_get(s, k, 1).is_ok()
}

/// The slot holding `k`.
fn slot_of(s: &HStore, k: &[u8]) -> u32 {
    s.slot_for_test(&s.key(k).unwrap())
        .expect("the key is stored")
}

/// Key `n` of the SIEVE tests: all of one size, so a slot freed by one is
/// taken by the next.
fn k(n: u8) -> [u8; 2] {
    [b'k', n]
}

/// Slot `i`'s mark word.
fn mark_word<'a>(view: &HostView<'a>, i: u32) -> &'a AtomicU64 {
    &view.marks.expect("a SIEVE store has marks")[i as usize]
}

/// The published eviction count as a walk validates it.
fn evictions_now(view: &HostView<'_>) -> u32 {
    view.evictions().load(Ordering::Relaxed)
}

#[test]
fn a_hit_through_the_view_spares_its_item_from_sieve() {
    for hit_oldest in [true, false] {
        let (s, mut w) = store(64, 8, Policy::Sieve);
        for n in 0..8 {
            put(&s, &mut w, &key_of(n), b"v").unwrap();
        }
        let view = HostView::new(&s);
        assert!(view.marks.is_some(), "a SIEVE store has marks");
        if hit_oldest {
            // A hit through the view: no call into the store, only the mark.
            assert_eq!(read(&view, &key_of(0), 1), Some(Ok((b"v".to_vec(), 1))));
            assert_eq!(marks_set(&view), 1);
        }
        // The hand starts at the oldest item: visited, it is passed over
        // (its mark cleared) and the next one goes.
        assert_eq!(put(&s, &mut w, &key_of(8), b"v"), Ok(Put::Evicted));
        assert_eq!(
            present(&s, &key_of(0)),
            hit_oldest,
            "the oldest is kept if hit"
        );
        assert_eq!(present(&s, &key_of(1)), !hit_oldest);
        // The mark was read once: the next eviction takes it if not hit
        // again (the hand rests past it, so evict around the list).
        assert_eq!(marks_set(&view), 0);
    }
}

#[test]
fn a_slot_taken_again_starts_unmarked_with_its_generation() {
    let (s, mut w) = store(64, 8, Policy::Sieve);
    put(&s, &mut w, &key_of(0), b"v").unwrap();
    let view = HostView::new(&s);
    let i = slot_of(&s, &key_of(0));
    let generation = u64::from(s.generation_for_test(i).unwrap());
    assert_eq!(
        mark_word(&view, i).load(Ordering::Relaxed),
        generation << 32
    );
    assert!(read(&view, &key_of(0), 1).unwrap().is_ok());
    assert_eq!(marks_set(&view), 1);
    // Deleted, and its slot taken by another key: the mark is not its.
    super::del(&s, &mut w, &key_of(0)).unwrap();
    put(&s, &mut w, &key_of(1), b"v").unwrap();
    assert_eq!(slot_of(&s, &key_of(1)), i);
    assert_eq!(marks_set(&view), 0);
    let next = u64::from(s.generation_for_test(i).unwrap());
    assert_ne!(next, generation);
    assert_eq!(mark_word(&view, i).load(Ordering::Relaxed), next << 32);
}

/// A hit whose walk saw the slot's earlier item cannot mark the item that
/// took the slot since (its generation differs); the item is evicted as
/// if never hit, and the hit, overtaken by that eviction, gives up.
#[test]
fn a_late_mark_cannot_land_on_the_slots_next_item() {
    let (s, mut w) = store(64, 8, Policy::Sieve);
    for n in 0..8 {
        put(&s, &mut w, &k(n), b"v").unwrap();
    }
    let view = HostView::new(&s);
    let i = slot_of(&s, &k(0));
    // The walk finds key 0 and its mark word, validated...
    let seen = mapped::seen_mark_for_test(&view, i);
    let evictions = evictions_now(&view);
    // ... then key 0 is deleted and key 8 takes its slot.
    super::del(&s, &mut w, &k(0)).unwrap();
    put(&s, &mut w, &k(8), b"v").unwrap();
    assert_eq!(slot_of(&s, &k(8)), i);
    // No eviction since: the hit stands (at its walk, before the del), but
    // its mark does not land on key 8.
    assert!(matches!(
        mapped::finish_hit_for_test(&view, i, seen, evictions),
        Outcome::Hit { .. }
    ));
    assert_eq!(marks_set(&view), 0);
    // Key 8, never hit, is the one the hand takes after it passes over
    // the older ones only if they were hit: none was, so key 1 goes, and
    // key 8 keeps no mark for a second round.
    assert_eq!(put(&s, &mut w, &k(9), b"v"), Ok(Put::Evicted));
    assert!(!present(&s, &k(1)));
    assert_eq!(marks_set(&view), 0);
}

/// An eviction that read an item's mark advances the word's stamp: a hit
/// whose walk came before that read cannot mark afterwards (the eviction
/// would count a hit it did not see), and gives up; a hit whose mark
/// landed before the read stands, raced or not.
#[test]
fn a_mark_after_an_eviction_read_it_fails_and_the_hit_gives_up() {
    let (s, mut w) = store(64, 8, Policy::Sieve);
    for n in 0..8 {
        put(&s, &mut w, &k(n), b"v").unwrap();
    }
    let view = HostView::new(&s);
    let i = slot_of(&s, &k(0));
    // Key 0 hit in the kernel (its own bit): the hand passes over it,
    // reading (and advancing) its mark word too.
    assert!(super::get(&s, &mut w, &k(0)).is_ok());
    let seen = mapped::seen_mark_for_test(&view, i);
    let evictions = evictions_now(&view);
    assert_eq!(put(&s, &mut w, &k(8), b"v"), Ok(Put::Evicted));
    assert!(present(&s, &k(0)));
    assert!(!present(&s, &k(1)));
    let after = mark_word(&view, i).load(Ordering::Relaxed);
    assert_eq!(after & !1, (seen & !1) + 2, "the read advanced the stamp");
    // The late hit: its compare-exchange fails, the count moved: it gives
    // up (the ioctl does the get again), and leaves no mark.
    assert_eq!(
        mapped::finish_hit_for_test(&view, i, seen, evictions),
        Outcome::GiveUp
    );
    assert_eq!(marks_set(&view), 0);
    // A hit whose walk saw the word as it is now: marked, it stands though
    // the count moved since its walk (every later read counts it).
    assert!(matches!(
        mapped::finish_hit_for_test(&view, i, after, evictions),
        Outcome::Hit { .. }
    ));
    assert_eq!(mark_word(&view, i).load(Ordering::Relaxed), after | 1);
    // A hit that saw the word already marked writes nothing: it stands
    // with no eviction since its walk, and gives up after one.
    let now = evictions_now(&view);
    assert!(matches!(
        mapped::finish_hit_for_test(&view, i, after | 1, now),
        Outcome::Hit { .. }
    ));
    assert_eq!(
        mapped::finish_hit_for_test(&view, i, after | 1, evictions),
        Outcome::GiveUp
    );
}

/// Whoever writes the marks' mapping can mark or unmark an item, as a get
/// may; a mark word with another generation than the slot's item's is
/// never counted, and the eviction rewrites it with the item's own.
#[test]
fn a_hostile_mark_word_with_a_wrong_generation_is_not_counted() {
    let (s, mut w) = store(64, 8, Policy::Sieve);
    for n in 0..8 {
        put(&s, &mut w, &k(n), b"v").unwrap();
    }
    let view = HostView::new(&s);
    let i = slot_of(&s, &k(0));
    let own = u64::from(s.generation_for_test(i).unwrap()) << 32;
    let wrong = own.wrapping_add(1 << 32);
    mark_word(&view, i).store(wrong | 0xfffe | 1, Ordering::Relaxed);
    // Key 1's word marked with its own generation (and any stamp): counted.
    let j = slot_of(&s, &k(1));
    let own_j = u64::from(s.generation_for_test(j).unwrap()) << 32;
    mark_word(&view, j).store(own_j | 0x1234 | 1, Ordering::Relaxed);
    // The hand starts at key 0: its word's mark is not counted.
    assert_eq!(put(&s, &mut w, &k(8), b"v"), Ok(Put::Evicted));
    assert!(!present(&s, &k(0)), "a wrong generation is no mark");
    // Then at key 1: its mark is, and key 2 goes.
    assert_eq!(put(&s, &mut w, &k(9), b"v"), Ok(Put::Evicted));
    assert!(present(&s, &k(1)), "its own generation is");
    assert!(!present(&s, &k(2)));
    // Key 1's word holds its generation again, unmarked, stamp advanced.
    assert_eq!(
        mark_word(&view, j).load(Ordering::Relaxed),
        own_j | (0x1234 + 2)
    );
}

/// An unmarked hit that an eviction overtook gives up; with no eviction
/// since its walk, it stands. A hit marks only the word its walk saw.
#[test]
fn a_hit_that_an_eviction_overtook_is_left_to_the_kernel() {
    let (s, mut w) = store(64, 8, Policy::Sieve);
    put(&s, &mut w, &key_of(0), b"v").unwrap();
    let view = HostView::new(&s);
    let i = slot_of(&s, &key_of(0));
    let seen = mapped::seen_mark_for_test(&view, i);
    // Someone else changed the word since the walk (any change): no mark.
    mark_word(&view, i).store(seen + 2, Ordering::Relaxed);
    // The walk validated eviction count 0; the count has moved since (an
    // eviction began between the walk and the mark).
    view.evictions().store(2, Ordering::Relaxed);
    assert_eq!(
        mapped::finish_hit_for_test(&view, i, seen, 0),
        Outcome::GiveUp
    );
    assert_eq!(mark_word(&view, i).load(Ordering::Relaxed), seen + 2);
    // No eviction since: the hit stands.
    assert!(matches!(
        mapped::finish_hit_for_test(&view, i, seen, 2),
        Outcome::Hit { .. }
    ));
}
