//! Concurrent callers on every guest CPU: processes on shared and disjoint
//! keys, lock-free readers against writers (torn values) under each
//! policy, and eviction under concurrent writers, deleters and readers with
//! counters that must reconcile.

use std::process::Command;

use kv_module::abi::KV_MAX_VAL;
use kv_test_support::{ensure, expect_value, join_all, same, Dev, Outcome, UNTOUCHED};

use crate::store::item_count;

const WORKERS: usize = 4;
const THREADS: usize = 2;
const OWN_KEYS: usize = 24;
const SHARED_KEYS: usize = 8;
const ROUNDS: usize = 40;

fn own_key(worker: usize, thread: usize, i: usize) -> Vec<u8> {
    format!("own-{worker}-{thread}-{i}").into_bytes()
}

/// A value that names its key, writer and round, padded to a length that
/// depends on them, so a torn or mixed-up value is recognisable.
pub fn tagged_value(key: &[u8], writer: usize, round: usize) -> Vec<u8> {
    let mut v = format!("{}|{writer}|{round}|", String::from_utf8_lossy(key)).into_bytes();
    let len = 40 + (writer * 37 + round * 11) % (KV_MAX_VAL - 60);
    let fill = (writer + round) as u8;
    v.resize(len, fill);
    v
}

fn well_formed(key: &[u8], v: &[u8]) -> bool {
    let text = String::from_utf8_lossy(v);
    let mut parts = text.splitn(4, '|');
    let (Some(k), Some(w), Some(r)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(w), Ok(r)) = (w.parse::<usize>(), r.parse::<usize>()) else {
        return false;
    };
    k.as_bytes() == key && v == tagged_value(key, w, r).as_slice()
}

/// One worker process: THREADS threads, each writing and reading back its own
/// keys and writing and checking the shared ones.
pub fn worker(id: usize) -> Outcome {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || -> Outcome {
                let dev = Dev::open()?;
                let writer = id * THREADS + t;
                for round in 0..ROUNDS {
                    for i in 0..OWN_KEYS {
                        let k = own_key(id, t, i);
                        let v = tagged_value(&k, writer, round);
                        dev.put(&k, &v).map_err(|e| format!("put own: errno {e}"))?;
                        expect_value(&dev, &k, &v)?;
                    }
                    for i in 0..SHARED_KEYS {
                        let k = format!("shared-{i}").into_bytes();
                        dev.put(&k, &tagged_value(&k, writer, round))
                            .map_err(|e| format!("put shared: errno {e}"))?;
                        let v = dev.get(&k).map_err(|e| format!("get shared: errno {e}"))?;
                        ensure!(well_formed(&k, &v), "shared key {i}: torn or foreign value");
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a thread panicked".to_string())??;
    }
    Ok(())
}

/// Four processes of two threads put and read back their own keys and
/// race on shared ones: every value read is whole and its own key's, and
/// each key ends with its last round's value.
pub fn concurrent_processes(dev: &Dev) -> Outcome {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children: Vec<_> = (0..WORKERS)
        .map(|id| Command::new(&exe).arg("worker").arg(id.to_string()).spawn())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("spawn: {e}"))?;
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        ensure!(out.status.success(), "worker {id} failed: {}", out.status);
    }
    // Every worker's last writes are there, and nothing else.
    for id in 0..WORKERS {
        for t in 0..THREADS {
            for i in 0..OWN_KEYS {
                let k = own_key(id, t, i);
                expect_value(dev, &k, &tagged_value(&k, id * THREADS + t, ROUNDS - 1))?;
                dev.del(&k).map_err(|e| format!("del: {e}"))?;
            }
        }
    }
    for i in 0..SHARED_KEYS {
        let k = format!("shared-{i}").into_bytes();
        let v = dev.get(&k).map_err(|e| format!("get shared: {e}"))?;
        ensure!(well_formed(&k, &v), "shared key {i} ends torn");
        ensure!(
            v.starts_with(&k)
                && v.split(|&b| b == b'|').nth(2) == Some(format!("{}", ROUNDS - 1).as_bytes()),
            "shared key {i} does not hold a last-round value"
        );
        dev.del(&k).map_err(|e| format!("del: {e}"))?;
    }
    same(
        "curr_items after the workers' keys are deleted",
        item_count(dev)?,
        0,
    )
}

/// A value that checks itself: a seed in bytes 0..4, the key's number in
/// 4..8, a length and every further byte derived from both.
fn checked_value(key: u32, seed: u32) -> Vec<u8> {
    let len = 8 + (seed as usize * 29 + key as usize * 7) % (KV_MAX_VAL - 7);
    let mut v = seed.to_le_bytes().to_vec();
    v.extend_from_slice(&key.to_le_bytes());
    v.extend((8..len).map(|i| (seed.wrapping_mul(31).wrapping_add(i as u32 * 7) ^ key) as u8));
    v
}

/// Why `v`, read under key number `key`, is not a value written for it.
fn check_value(key: u32, v: &[u8]) -> Outcome {
    ensure!(
        v.len() >= 8,
        "key {key}: {} bytes, too short to be ours",
        v.len()
    );
    let seed = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
    let owner = u32::from_le_bytes([v[4], v[5], v[6], v[7]]);
    ensure!(
        owner == key,
        "key {key}: holds a value written for key {owner}"
    );
    let want = checked_value(key, seed);
    ensure!(
        v.len() == want.len(),
        "key {key}: length {} does not match its seed ({})",
        v.len(),
        want.len()
    );
    ensure!(
        v == want.as_slice(),
        "key {key}: torn value (bytes of two writes)"
    );
    Ok(())
}

/// A get that also checks the bytes after the value came back untouched.
fn get_checked_tail(dev: &Dev, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
    match dev.get_pair(key) {
        Ok(p) => {
            let len = p.value.len as usize;
            ensure!(len <= KV_MAX_VAL, "value length {len} out of range");
            ensure!(
                p.value.data[len..].iter().all(|&b| b == UNTOUCHED),
                "bytes after a {len}-byte value changed"
            );
            Ok(Some(p.value.data[..len].to_vec()))
        }
        Err(libc::ENOENT) => Ok(None),
        Err(e) => Err(format!("get: errno {e}")),
    }
}

/// The CPU the calling thread runs on now.
fn current_cpu() -> i32 {
    // SAFETY: sched_getcpu has no preconditions.
    unsafe { libc::sched_getcpu() }
}

/// The CPUs the guest has online.
fn cpus_online() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

const TORN_KEYS: u32 = 24;
const TORN_WRITES: u32 = 6_000;
const TORN_READERS: usize = 4;

/// Writers rewrite and delete keys (deleted slots are reused by other keys)
/// while readers check every value they get: never a mix of two values, a
/// value under the wrong key, a length that does not match, or stale bytes
/// after the value.
pub fn torn_reads(dev: &Dev) -> Outcome {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    let key = |k: u32| format!("torn-{k}").into_bytes();
    let done = Arc::new(AtomicBool::new(false));
    let cpus = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let hits = Arc::new(AtomicU32::new(0));
    let writers: Vec<_> = (0..2u32)
        .map(|t| {
            std::thread::spawn(move || -> Outcome {
                let dev = Dev::open()?;
                for n in 0..TORN_WRITES {
                    let k = (n.wrapping_mul(7) + t * 5) % TORN_KEYS;
                    if n.is_multiple_of(11) {
                        match dev.del(&key(k)) {
                            Ok(()) | Err(libc::ENOENT) => {}
                            Err(e) => return Err(format!("del: errno {e}")),
                        }
                    } else {
                        match dev.put(&key(k), &checked_value(k, n * 2 + t)) {
                            // A small store can be full for a moment.
                            Ok(()) | Err(libc::ENOSPC) => {}
                            Err(e) => return Err(format!("put: errno {e}")),
                        }
                    }
                }
                Ok(())
            })
        })
        .collect();
    let readers: Vec<_> = (0..TORN_READERS)
        .map(|r| {
            let (done, cpus, hits) = (Arc::clone(&done), Arc::clone(&cpus), Arc::clone(&hits));
            std::thread::spawn(move || -> Outcome {
                let dev = Dev::open()?;
                let mut n = r as u32;
                while !done.load(Ordering::Relaxed) {
                    let k = n % TORN_KEYS;
                    n = n.wrapping_add(3);
                    if let Some(v) = get_checked_tail(&dev, &key(k))? {
                        check_value(k, &v)?;
                        hits.fetch_add(1, Ordering::Relaxed);
                    }
                    if n.is_multiple_of(256) {
                        cpus.lock().map_err(|_| "poisoned")?.insert(current_cpu());
                    }
                }
                cpus.lock().map_err(|_| "poisoned")?.insert(current_cpu());
                Ok(())
            })
        })
        .collect();
    // Writers first: the readers run until they are done.
    let writers_done = join_all(writers, "a writer");
    done.store(true, Ordering::Relaxed);
    writers_done.and(join_all(readers, "a reader"))?;
    let hits = hits.load(Ordering::Relaxed);
    ensure!(
        hits > 100,
        "readers found a key only {hits} times: nothing was tested"
    );
    let seen = cpus.lock().map_err(|_| "poisoned")?.len();
    ensure!(
        seen >= cpus_online().min(2),
        "readers ran on {seen} CPU(s) of {}",
        cpus_online()
    );
    // What is left is well formed too.
    for k in 0..TORN_KEYS {
        if let Some(v) = get_checked_tail(dev, &key(k))? {
            check_value(k, &v)?;
        }
    }
    println!("# torn: {hits} checked hits on {seen} CPUs");
    Ok(())
}

const EVICT_WRITERS: u32 = 3;
const EVICT_PUTS: u32 = 2_000;

/// Writers insert new keys only (so every put is an insert) into a store
/// smaller than the working set while a deleter removes recent keys and
/// readers check what they get; the counters must reconcile exactly.
pub fn eviction_under_concurrency(dev: &Dev) -> Outcome {
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
    use std::sync::Arc;
    let start = dev.stat().map_err(|e| format!("stat: errno {e}"))?;
    ensure!(
        start.use_lru == 1 || start.use_lru == 2,
        "use_lru={}: load the module with eviction",
        start.use_lru
    );
    same(
        "a fresh store",
        (start.curr_items, start.hits, start.misses, start.evictions),
        (0, 0, 0, 0),
    )?;
    let cap = start.max_items;
    ensure!(
        cap * 4 < EVICT_WRITERS * EVICT_PUTS,
        "max_items={cap} is not smaller than the working set"
    );
    let key = |w: u32, n: u32| format!("ev-{w}-{n}").into_bytes();
    let number = |w: u32, n: u32| w * EVICT_PUTS + n;
    let progress: Arc<Vec<AtomicU32>> =
        Arc::new((0..EVICT_WRITERS).map(|_| AtomicU32::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(AtomicU64::new(0));
    let (hits, misses) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut threads: Vec<std::thread::JoinHandle<Outcome>> = Vec::new();
    let mut writers = Vec::new();
    for w in 0..EVICT_WRITERS {
        let progress = Arc::clone(&progress);
        writers.push(std::thread::spawn(move || -> Outcome {
            let dev = Dev::open()?;
            for n in 0..EVICT_PUTS {
                dev.put(&key(w, n), &checked_value(number(w, n), n))
                    .map_err(|e| format!("put of a new key into a full store: errno {e}"))?;
                progress[w as usize].store(n + 1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    {
        let (progress, done, deleted) = (
            Arc::clone(&progress),
            Arc::clone(&done),
            Arc::clone(&deleted),
        );
        threads.push(std::thread::spawn(move || -> Outcome {
            let dev = Dev::open()?;
            let mut i = 0u32;
            while !done.load(Ordering::Relaxed) {
                let w = i % EVICT_WRITERS;
                i = i.wrapping_add(1);
                let n = progress[w as usize]
                    .load(Ordering::Relaxed)
                    .saturating_sub(1 + i % 8);
                match dev.del(&key(w, n)) {
                    Ok(()) => {
                        deleted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(libc::ENOENT) => {}
                    Err(e) => return Err(format!("del: errno {e}")),
                }
            }
            Ok(())
        }));
    }
    for r in 0..2u32 {
        let (progress, done) = (Arc::clone(&progress), Arc::clone(&done));
        let (hits, misses) = (Arc::clone(&hits), Arc::clone(&misses));
        threads.push(std::thread::spawn(move || -> Outcome {
            let dev = Dev::open()?;
            let mut i = r;
            while !done.load(Ordering::Relaxed) {
                let w = i % EVICT_WRITERS;
                i = i.wrapping_add(1);
                let n = progress[w as usize]
                    .load(Ordering::Relaxed)
                    .saturating_sub(1 + i % 96);
                match dev.get(&key(w, n)) {
                    Ok(v) => {
                        check_value(number(w, n), &v)?;
                        hits.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(libc::ENOENT) => {
                        misses.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => return Err(format!("get: errno {e}")),
                }
            }
            Ok(())
        }));
    }
    {
        let done = Arc::clone(&done);
        threads.push(std::thread::spawn(move || -> Outcome {
            let dev = Dev::open()?;
            while !done.load(Ordering::Relaxed) {
                let s = dev.stat().map_err(|e| format!("stat: errno {e}"))?;
                ensure!(
                    s.curr_items <= cap,
                    "curr_items {} above max_items {cap}",
                    s.curr_items
                );
            }
            Ok(())
        }));
    }
    // Writers first: the other threads run until they are done.
    let writers_done = join_all(writers, "a writer");
    done.store(true, Ordering::Relaxed);
    writers_done.and(join_all(threads, "a thread"))?;
    let s = dev.stat().map_err(|e| format!("stat: errno {e}"))?;
    let inserts = u64::from(EVICT_WRITERS * EVICT_PUTS);
    let deleted = deleted.load(Ordering::Relaxed);
    let (hits, misses) = (hits.load(Ordering::Relaxed), misses.load(Ordering::Relaxed));
    ensure!(
        s.curr_items <= cap,
        "curr_items {} above max_items {cap}",
        s.curr_items
    );
    same(
        "evictions = inserts - items - deletes",
        s.evictions,
        inserts - u64::from(s.curr_items) - deleted,
    )?;
    same("hits", s.hits, hits)?;
    same("misses", s.misses, misses)?;
    ensure!(
        hits > 0 && deleted > 0,
        "hits {hits}, deletes {deleted}: nothing raced"
    );
    // Exactly curr_items keys are present, each with its own value.
    let mut present = 0u32;
    for w in 0..EVICT_WRITERS {
        for n in 0..EVICT_PUTS {
            if let Some(v) = get_checked_tail(dev, &key(w, n))? {
                check_value(number(w, n), &v)?;
                present += 1;
            }
        }
    }
    same("keys present", present, s.curr_items)?;
    println!(
        "# evict: {inserts} inserts, {deleted} deletes, {} evictions, {hits} hits, {misses} misses",
        s.evictions
    );
    Ok(())
}
