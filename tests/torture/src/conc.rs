//! The concurrency checker: processes of threads put, get and del random
//! keys of a small shared set for a while, with values that check
//! themselves, and increment a few counter keys. Every thread is a writer
//! with its own id and sequence. Some puts carry a TTL too long to expire
//! during the run, which changes nothing below; some a short one (tens of
//! milliseconds), whose items may vanish, so a get of them may miss.
//!
//! In a store without eviction (use_lru=0) and under SIEVE (use_lru=2,
//! where puts evict and a mapped hit marks its item) every other worker
//! gets through the mapping with kvlib (`Store::get_into`, which must be
//! mapping then: `Store::mapped_reads`), with the same checks; the kernel
//! never counts those gets, so they are counted apart.
//!
//! Checked while running (by every reader): no torn value (the value is
//! rebuilt from its header and compared byte for byte), no value under the
//! wrong key, never an older value from a writer than one already seen
//! for that key, and a counter's increments answering more each time
//! (unless it was lost to an eviction). Checked at the end (by the parent),
//! once every short TTL has passed: every key holds one of the values last
//! written to it, and not one put with a short TTL (or is absent only if
//! someone's last word on it was a delete or a short-lived put, or items
//! were evicted); each counter holds the sum of the deltas applied to it
//! when nothing can have evicted it since its first increment; the store's
//! counters match the workers' (hits, misses: those of the ioctl gets,
//! plus those of the mapped gets that kvlib had to hand to the ioctl,
//! which must be few), `expired` counts no more
//! items than short-lived puts made, and within the 2 seconds the ABI
//! allows for reclaiming expired items, the store's contents (items,
//! bytes) match what the keys hold; items never exceeded max_items (a
//! monitor thread polls stat meanwhile).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_module::abi::{KvUsageStat, KV_MAX_VAL};

use kv_test_support::{errno_name, Dev, Rng, UNTOUCHED};

use crate::args::opt;

/// writer id, sequence, key index, length, then payload, then the checksum.
const HEADER: usize = 4 + 8 + 4 + 4;
const MIN_LEN: usize = HEADER + 8;
/// Violations printed per worker; the rest are counted.
const MAX_REPORTS: u64 = 10;
/// A TTL that no run outlasts: such items behave as those without one.
const LONG_TTL_MS: u64 = 3_600_000;
/// Short TTLs are drawn from this range: long enough that a get soon after
/// the put usually finds the item, short enough that items expire during
/// the run.
const SHORT_TTL_MS: std::ops::RangeInclusive<u64> = 10..=50;
/// Counter keys, incremented by every worker, never deleted nor given a TTL.
const COUNTERS: u32 = 2;
/// Increments add 1 to this: positive, so that a counter only grows while
/// it is kept, and one that answers exactly its delta found no value.
const MAX_DELTA: u64 = 9;
/// How long the store may take to stop counting an expired item
/// (`kv.h`: within 2 seconds), with a margin for a loaded guest.
const RECLAIM_WITHIN: Duration = Duration::from_millis(2500);

fn key_name(k: u32) -> Vec<u8> {
    // Different lengths, so a value under the wrong key is also a wrong length.
    let mut name = format!("ck-{k}-").into_bytes();
    name.resize(7 + (k as usize * 4) % 56, b'k');
    name
}

fn counter_name(c: u32) -> Vec<u8> {
    format!("cnt-{c}").into_bytes()
}

/// FNV-1a, 64 bit: the checksum of self-checking values.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The value writer `w` writes with sequence `seq` under key `k`.
fn make_value(w: u32, seq: u64, k: u32, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&w.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&k.to_le_bytes());
    v.extend_from_slice(&(len as u32).to_le_bytes());
    let mut fill = Rng::new(seq ^ (u64::from(w) << 40) ^ (u64::from(k) << 20));
    while v.len() < len - 8 {
        v.push(fill.next_u64() as u8);
    }
    let sum = fnv1a(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// Writer and sequence of a value read under key `k`, if it is intact.
fn parse_value(v: &[u8], k: u32) -> Result<(u32, u64), String> {
    if v.len() < MIN_LEN {
        return Err(format!("torn value: {} bytes", v.len()));
    }
    let word = |at: usize| u32::from_le_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]]);
    let w = word(0);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&v[4..12]);
    let seq = u64::from_le_bytes(seq);
    let (vk, len) = (word(12), word(16) as usize);
    if len != v.len() {
        return Err(format!("torn value: says {len} bytes, has {}", v.len()));
    }
    if make_value(w, seq, vk, len) != v {
        return Err(format!("torn value: writer {w} seq {seq} does not check"));
    }
    if vk != k {
        return Err(format!(
            "value of key {vk} under key {k} (writer {w} seq {seq})"
        ));
    }
    Ok((w, seq))
}

/// How long a put's item lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lifetime {
    /// Until replaced or removed: no TTL, or one longer than the run.
    Kept,
    /// A short TTL: gone by the end of the run.
    Short,
}

impl Lifetime {
    fn name(self) -> &'static str {
        match self {
            Lifetime::Kept => "kept",
            Lifetime::Short => "short",
        }
    }
}

/// A writer's last word on a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Last {
    Put(u64, Lifetime),
    /// Deleted, or found absent (del ENOENT, put ENOSPC): its earlier values
    /// are gone.
    Gone,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    ops: u64,
    gets: u64,
    hits: u64,
    misses: u64,
    puts: u64,
    full: u64,
    dels: u64,
    /// Successful puts with a short TTL (among `puts`).
    short_puts: u64,
    incrs: u64,
    /// Gets through the mapping (not among `gets`), and their answers.
    mapped_gets: u64,
    mapped_hits: u64,
    mapped_misses: u64,
}

/// One worker's increments of one counter.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
struct Tally {
    /// The deltas of the increments that succeeded.
    sum: u64,
    /// Increments that answered exactly their delta: found the counter at
    /// 0 (only before the first increment) or absent (lost).
    restarts: u64,
    /// Increments that answered no more than this worker's previous one
    /// did: the counter went back, which only its loss explains.
    backwards: u64,
}

struct WorkerResult {
    counts: Counts,
    last: HashMap<u32, Last>,
    tallies: Vec<Tally>,
    violations: u64,
}

/// A get's outcome: the value, absent, or an error to report.
enum Got {
    Value(Vec<u8>),
    Missing,
    Bad(String),
}

/// A get of `key` through the mapping with kvlib.
fn mapped_get(store: &kvlib::Store, key: &[u8]) -> Got {
    let mut buf = [0u8; KV_MAX_VAL];
    match store.get_into(key, &mut buf) {
        Ok(len) => Got::Value(buf[..len].to_vec()),
        Err(kvlib::Error::NotFound) => Got::Missing,
        Err(e) => Got::Bad(e.to_string()),
    }
}

/// Checks value `v` a get of key `k` answered: it checks itself
/// (`parse_value`), and its writer's sequence is no older than one already
/// `seen` for that key, which it then becomes.
fn check_got(seen: &mut HashMap<(u32, u32), u64>, k: u32, v: &[u8]) -> Result<(), String> {
    let (w, s) = parse_value(v, k)?;
    let prev = seen.entry((k, w)).or_insert(s);
    if *prev > s {
        return Err(format!("writer {w} seq {s} after seq {prev} was seen"));
    }
    *prev = s;
    Ok(())
}

/// A kvlib store whose gets go through the mapping: an error if they
/// would not (a store that says it maps but takes the ioctl would check
/// nothing of the mapping). Open for writing: under SIEVE a mapped hit
/// sets its item's visited mark, which needs the marks mapped writable.
fn mapped_store() -> Result<kvlib::Store, String> {
    let store = kvlib::Store::open().map_err(|e| e.to_string())?;
    if !store.mapped_reads() {
        return Err("kvlib's gets do not go through the mapping of this store".into());
    }
    Ok(store)
}

fn worker_thread(
    writer: u32,
    keys: u32,
    seed: u64,
    deadline: Instant,
    reports: &AtomicU64,
    mapped: bool,
) -> Result<WorkerResult, String> {
    let dev = Dev::open()?;
    let store = if mapped { Some(mapped_store()?) } else { None };
    let mut rng = Rng::new(seed ^ u64::from(writer).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut seen: HashMap<(u32, u32), u64> = HashMap::new();
    let mut res = WorkerResult {
        counts: Counts::default(),
        last: HashMap::new(),
        tallies: vec![Tally::default(); COUNTERS as usize],
        violations: 0,
    };
    // Per counter, this worker's last answer from it.
    let mut counted = vec![0i64; COUNTERS as usize];
    let mut seq = 0u64;
    let violation = |res: &mut WorkerResult, what: String| {
        res.violations += 1;
        if reports.fetch_add(1, Ordering::Relaxed) < MAX_REPORTS {
            println!("violation writer {writer}: {what}");
        }
    };
    while Instant::now() < deadline {
        for _ in 0..64 {
            let k = rng.below(u64::from(keys)) as u32;
            let key = key_name(k);
            res.counts.ops += 1;
            match rng.below(100) {
                0..45 => {
                    seq += 1;
                    let len = MIN_LEN + rng.below((KV_MAX_VAL - MIN_LEN + 1) as u64) as usize;
                    let value = make_value(writer, seq, k, len);
                    // Mostly KV_IOC_PUT; the TTLs need KV_IOC_CACHE_OP.
                    let (put, lifetime) = match rng.below(20) {
                        0..14 => (dev.put(&key, &value), Lifetime::Kept),
                        14..17 => (dev.put_ttl(&key, &value, LONG_TTL_MS), Lifetime::Kept),
                        _ => {
                            let span = SHORT_TTL_MS.end() - SHORT_TTL_MS.start() + 1;
                            let ttl = SHORT_TTL_MS.start() + rng.below(span);
                            (dev.put_ttl(&key, &value, ttl), Lifetime::Short)
                        }
                    };
                    match put {
                        Ok(()) => {
                            res.counts.puts += 1;
                            if lifetime == Lifetime::Short {
                                res.counts.short_puts += 1;
                            }
                            res.last.insert(k, Last::Put(seq, lifetime));
                            seen.insert((k, writer), seq);
                        }
                        Err(libc::ENOSPC) => {
                            res.counts.full += 1;
                            res.last.insert(k, Last::Gone);
                        }
                        Err(e) => violation(&mut res, format!("put key {k}: {}", errno_name(e))),
                    }
                }
                45..80 if store.is_some() => {
                    let Some(store) = &store else { continue };
                    res.counts.mapped_gets += 1;
                    match mapped_get(store, &key) {
                        Got::Value(v) => {
                            res.counts.mapped_hits += 1;
                            if let Err(e) = check_got(&mut seen, k, &v) {
                                violation(&mut res, format!("mapped get key {k}: {e}"));
                            }
                        }
                        Got::Missing => res.counts.mapped_misses += 1,
                        Got::Bad(e) => violation(&mut res, format!("mapped get key {k}: {e}")),
                    }
                }
                45..80 => {
                    res.counts.gets += 1;
                    match dev.get_pair(&key) {
                        Ok(p) => {
                            res.counts.hits += 1;
                            let len = p.value.len as usize;
                            if len > KV_MAX_VAL
                                || p.value.data[len..].iter().any(|&b| b != UNTOUCHED)
                            {
                                violation(
                                    &mut res,
                                    format!("get key {k}: length {len}, or bytes after the value changed"),
                                );
                                continue;
                            }
                            if let Err(e) = check_got(&mut seen, k, &p.value.data[..len]) {
                                violation(&mut res, format!("get key {k}: {e}"));
                            }
                        }
                        Err(libc::ENOENT) => res.counts.misses += 1,
                        Err(e) => violation(&mut res, format!("get key {k}: {}", errno_name(e))),
                    }
                }
                80..90 => {
                    let c = k % COUNTERS;
                    let delta = 1 + rng.below(MAX_DELTA) as i64;
                    res.counts.incrs += 1;
                    match dev.incr(&counter_name(c), delta) {
                        Ok(n) => {
                            let tally = &mut res.tallies[c as usize];
                            let last = &mut counted[c as usize];
                            tally.sum += delta as u64;
                            if n == delta {
                                tally.restarts += 1;
                            } else if n <= *last {
                                // Wrong only if the counter was never lost
                                // meanwhile, which the parent can tell.
                                tally.backwards += 1;
                            }
                            *last = n;
                        }
                        // The counter was evicted, and the store is full.
                        Err(libc::ENOSPC) => res.counts.full += 1,
                        Err(e) => {
                            violation(&mut res, format!("incr counter {c}: {}", errno_name(e)))
                        }
                    }
                }
                _ => match dev.del(&key) {
                    Ok(()) | Err(libc::ENOENT) => {
                        res.counts.dels += 1;
                        res.last.insert(k, Last::Gone);
                    }
                    Err(e) => violation(&mut res, format!("del key {k}: {}", errno_name(e))),
                },
            }
        }
    }
    Ok(res)
}

/// `conc-worker`: one process of `--threads` writers; prints its results.
pub fn worker(args: &[String]) -> Result<bool, String> {
    let id: u32 = opt(args, "--id", 0)?;
    let threads: u32 = opt(args, "--threads", 2)?;
    let keys: u32 = opt(args, "--keys", 16)?;
    let seed: u64 = opt(args, "--seed", 1)?;
    let millis: u64 = opt(args, "--millis", 1000)?;
    // 1: every other writer gets through the mapping.
    let mapped: u32 = opt(args, "--mapped", 0)?;
    let deadline = Instant::now() + Duration::from_millis(millis);
    let reports = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let reports = reports.clone();
            let writer = id * threads + t;
            let mapped = mapped == 1 && writer % 2 == 1;
            std::thread::spawn(move || {
                (
                    writer,
                    worker_thread(writer, keys, seed, deadline, &reports, mapped),
                )
            })
        })
        .collect();
    let mut clean = true;
    for h in handles {
        let (writer, r) = h
            .join()
            .map_err(|_| "a worker thread panicked".to_string())?;
        let r = r?;
        let c = r.counts;
        println!(
            "counts {} {} {} {} {} {} {} {} {} {} {} {} {}",
            c.ops,
            c.gets,
            c.hits,
            c.misses,
            c.puts,
            c.full,
            c.dels,
            r.violations,
            c.short_puts,
            c.incrs,
            c.mapped_gets,
            c.mapped_hits,
            c.mapped_misses
        );
        for (k, last) in &r.last {
            match last {
                Last::Put(s, lifetime) => println!("last {writer} {k} put {s} {}", lifetime.name()),
                Last::Gone => println!("last {writer} {k} gone"),
            }
        }
        for (c, tally) in r.tallies.iter().enumerate() {
            println!(
                "counter {c} {} {} {}",
                tally.sum, tally.restarts, tally.backwards
            );
        }
        clean &= r.violations == 0;
    }
    Ok(clean)
}

/// Checks the end value `held` of a counter against the workers' tally:
/// `Ok(true)` when the counter was never lost after its first increment
/// (at most one increment found it at 0, the first), so it must hold every
/// delta; `Ok(false)` when it was lost and recreated, so it holds the
/// deltas since, no more than all of them.
fn check_counter(tally: &Tally, held: &[u8]) -> Result<bool, String> {
    let text = String::from_utf8_lossy(held);
    let n: u64 = text
        .parse()
        .map_err(|_| format!("holds {text:?}, not a count"))?;
    if tally.restarts > 1 {
        return if n <= tally.sum {
            Ok(false)
        } else {
            Err(format!(
                "holds {n}, more than the {} the increments added",
                tally.sum
            ))
        };
    }
    if n != tally.sum {
        return Err(format!("holds {n}, but the increments added {}", tally.sum));
    }
    if tally.backwards > 0 {
        return Err(format!(
            "{} increments answered no more than the same worker's previous one",
            tally.backwards
        ));
    }
    Ok(true)
}

pub struct Summary {
    pub procs: u32,
    pub threads: u32,
    pub millis: u64,
    pub ops: u64,
    pub violations: u64,
    pub use_lru: u32,
    /// Gets through the mapping.
    pub mapped_gets: u64,
}

/// `concurrency`: runs the workers, then checks the end state and counters.
pub fn run(args: &[String]) -> Result<Summary, String> {
    let procs: u32 = opt(args, "--procs", 4)?;
    let threads: u32 = opt(args, "--threads", 2)?;
    let keys: u32 = opt(args, "--keys", 16)?;
    let millis: u64 = opt(args, "--millis", 3000)?;
    let seed: u64 = match args.iter().position(|a| a == "--seed") {
        Some(_) => opt(args, "--seed", 0)?,
        None => std::process::id() as u64 ^ 0x5eed_0000_0000,
    };
    let dev = Dev::open()?;
    let start = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    if start.hits != 0 || start.misses != 0 || start.curr_items != 0 {
        return Err("the concurrency checker needs a freshly loaded, empty store".into());
    }
    println!(
        "concurrency: use_lru={} max_items={} keys={keys} seed {seed:#x}",
        start.use_lru, start.max_items
    );
    // The counters start at 0, so that their first increment, like one
    // that recreates a lost counter, answers its delta.
    for c in 0..COUNTERS {
        dev.put(&counter_name(c), b"0")
            .map_err(|e| format!("put counter {c}: {}", errno_name(e)))?;
    }

    // Items never exceed capacity, checked while the workers run.
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let stop = stop.clone();
        std::thread::spawn(move || -> Result<u64, String> {
            let dev = Dev::open()?;
            let mut polls = 0;
            while !stop.load(Ordering::Relaxed) {
                let s = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
                if s.curr_items > s.max_items || s.reserved.iter().any(|&w| w != 0) {
                    return Err(format!(
                        "stat: curr_items {} of max_items {}, reserved {:?}",
                        s.curr_items, s.max_items, s.reserved
                    ));
                }
                polls += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(polls)
        })
    };

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children = (0..procs)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "conc-worker",
                    "--id",
                    &id.to_string(),
                    "--threads",
                    &threads.to_string(),
                ])
                .args([
                    "--mapped",
                    // Exact LRU's gets relink in the kernel: never mapped.
                    if start.use_lru == 1 { "0" } else { "1" },
                    "--keys",
                    &keys.to_string(),
                    "--seed",
                    &seed.to_string(),
                    "--millis",
                    &millis.to_string(),
                ])
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("spawn: {e}"))?;

    let mut total = Counts::default();
    let mut violations = 0u64;
    let mut last: HashMap<u32, Vec<(u32, Last)>> = HashMap::new();
    let mut tallies = vec![Tally::default(); COUNTERS as usize];
    for mut child in children {
        let out = child.stdout.take().ok_or("no worker stdout")?;
        for line in BufReader::new(out).lines() {
            let line = line.map_err(|e| e.to_string())?;
            let f: Vec<&str> = line.split_whitespace().collect();
            let num = |i: usize| {
                f.get(i)
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or(format!("bad worker line: {line}"))
            };
            match f.first().copied() {
                Some("counts") => {
                    total.ops += num(1)?;
                    total.gets += num(2)?;
                    total.hits += num(3)?;
                    total.misses += num(4)?;
                    total.puts += num(5)?;
                    total.full += num(6)?;
                    total.dels += num(7)?;
                    violations += num(8)?;
                    total.short_puts += num(9)?;
                    total.incrs += num(10)?;
                    total.mapped_gets += num(11)?;
                    total.mapped_hits += num(12)?;
                    total.mapped_misses += num(13)?;
                }
                Some("last") => {
                    let what = match (f.get(3), f.get(5)) {
                        (Some(&"put"), Some(&"short")) => Last::Put(num(4)?, Lifetime::Short),
                        (Some(&"put"), _) => Last::Put(num(4)?, Lifetime::Kept),
                        _ => Last::Gone,
                    };
                    last.entry(num(2)? as u32)
                        .or_default()
                        .push((num(1)? as u32, what));
                }
                Some("counter") => {
                    let tally = tallies
                        .get_mut(num(1)? as usize)
                        .ok_or(format!("bad worker line: {line}"))?;
                    tally.sum += num(2)?;
                    tally.restarts += num(3)?;
                    tally.backwards += num(4)?;
                }
                _ => println!("{line}"),
            }
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() && violations == 0 {
            violations += 1;
            println!("violation: a worker exited with {status}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let polls = monitor
        .join()
        .map_err(|_| "the monitor panicked".to_string())??;

    let end = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    let mut problem = |what: String| {
        violations += 1;
        println!("violation: {what}");
    };
    // The kernel counts the ioctl gets, and the mapped gets kvlib handed
    // to the ioctl (at most every mapped one; exact when there are none).
    let handed = (
        end.hits.checked_sub(total.hits),
        end.misses.checked_sub(total.misses),
    );
    match handed {
        (Some(h), Some(m)) if h <= total.mapped_hits && m <= total.mapped_misses => {}
        _ => problem(format!(
            "stat hits/misses {}/{} but the workers counted {}/{} of {} ioctl gets (and {}/{} of {} mapped gets)",
            end.hits,
            end.misses,
            total.hits,
            total.misses,
            total.gets,
            total.mapped_hits,
            total.mapped_misses,
            total.mapped_gets
        )),
    }
    let fallbacks = handed.0.unwrap_or(0) + handed.1.unwrap_or(0);
    // A few fall back (a walk that met writers eight times, a block mapped
    // while it was attached); most going to the ioctl means the mapping
    // is not what is tested.
    if fallbacks * 10 > total.mapped_gets {
        problem(format!(
            "{fallbacks} of {} mapped gets were answered by the ioctl",
            total.mapped_gets
        ));
    }
    if total.hits + total.misses != total.gets
        || total.mapped_hits + total.mapped_misses != total.mapped_gets
    {
        problem("the workers' own hits + misses != gets".into());
    }
    if start.use_lru != 1 && total.mapped_gets == 0 {
        problem("no get went through the mapping".into());
    }
    if start.use_lru == 0 && end.evictions != 0 {
        problem(format!("{} evictions without LRU", end.evictions));
    }
    // Every item put with a short TTL has expired once the longest has
    // passed since the workers' last puts (and a millisecond of rounding).
    std::thread::sleep(Duration::from_millis(SHORT_TTL_MS.end() + 5));
    let (mut items, mut bytes) = (0u32, 0u64);
    for k in 0..keys {
        let key = key_name(k);
        let lasts = last.get(&k).cloned().unwrap_or_default();
        match dev.get(&key) {
            Ok(v) => {
                items += 1;
                bytes += (key.len() + v.len()) as u64;
                match parse_value(&v, k) {
                    Ok((w, s)) => {
                        if lasts.contains(&(w, Last::Put(s, Lifetime::Short))) {
                            problem(format!("key {k} still holds writer {w} seq {s}, put with a TTL that has passed"));
                        } else if !lasts.contains(&(w, Last::Put(s, Lifetime::Kept))) {
                            problem(format!("key {k} ends with writer {w} seq {s}, not a last write (last words: {lasts:?})"));
                        }
                    }
                    Err(e) => problem(format!("key {k} at the end: {e}")),
                }
            }
            Err(libc::ENOENT) => {
                let may_be_gone = lasts
                    .iter()
                    .any(|(_, l)| matches!(l, Last::Gone | Last::Put(_, Lifetime::Short)));
                if !lasts.is_empty() && !may_be_gone && end.evictions == 0 {
                    problem(format!(
                        "key {k} is absent, but every writer's last word was a put that does not expire: {lasts:?}"
                    ));
                }
            }
            Err(e) => problem(format!("final get key {k}: {}", errno_name(e))),
        }
    }
    let mut exact_counters = 0;
    for (c, tally) in (0..COUNTERS).zip(&tallies) {
        let key = counter_name(c);
        match dev.get(&key) {
            Ok(v) => {
                items += 1;
                bytes += (key.len() + v.len()) as u64;
                match check_counter(tally, &v) {
                    Ok(exact) => exact_counters += u32::from(exact),
                    Err(e) => problem(format!("counter {c}: {e}")),
                }
            }
            Err(libc::ENOENT) if end.evictions > 0 => {}
            Err(e) => problem(format!("final get counter {c}: {}", errno_name(e))),
        }
    }
    // The store stops counting expired items within RECLAIM_WITHIN.
    let reclaim_deadline = Instant::now() + RECLAIM_WITHIN;
    let settled = loop {
        let s: KvUsageStat = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
        if (s.curr_items == items && s.bytes_used == bytes) || Instant::now() >= reclaim_deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if settled.curr_items != items || settled.bytes_used != bytes {
        problem(format!(
            "stat says {} items / {} bytes {} ms after the short TTLs passed, the keys hold {items} / {bytes}",
            settled.curr_items,
            settled.bytes_used,
            RECLAIM_WITHIN.as_millis()
        ));
    }
    // Only short-lived puts set a deadline that passes during the run, and
    // each such item expires once.
    if settled.expired > total.short_puts {
        problem(format!(
            "{} items expired, but only {} puts gave one a short TTL",
            settled.expired, total.short_puts
        ));
    }
    println!(
        "concurrency: {} gets through the mapping ({} hits, {fallbacks} answered by the ioctl)",
        total.mapped_gets, total.mapped_hits
    );
    println!(
        "concurrency: {} gets ({} hits), {} puts ({} ENOSPC, {} with a short TTL), {} dels, {} incrs ({exact_counters} of {COUNTERS} counters checked exactly), {} evictions, {} expired, {} stat polls",
        total.gets,
        total.hits,
        total.puts,
        total.full,
        total.short_puts,
        total.dels,
        total.incrs,
        end.evictions,
        settled.expired,
        polls
    );
    Ok(Summary {
        procs,
        threads,
        millis,
        ops: total.ops,
        violations,
        use_lru: start.use_lru,
        mapped_gets: total.mapped_gets,
    })
}

/// Gets a reader makes through one kvlib store before it opens another:
/// each clear leaves the blocks it detached mapped (as zero pages) until
/// the store is dropped, and past kvlib's limit of such mappings its gets
/// would take the ioctl.
const REOPEN_EVERY: u64 = 1000;

/// `clear-race`: readers get through the mapping with kvlib while one
/// writer puts values of every length (each length's records take blocks
/// of their own: chunks are attached as they come) and clears the store
/// now and then (every chunk detached, zeroed and freed). Every value a
/// reader finds is intact, under its key, and never older than one it saw
/// there before; most gets are answered by the mapping. Needs a fresh
/// store without eviction. Returns the summary line and the violations.
pub fn clear_race(args: &[String]) -> Result<(String, u64), String> {
    let readers: u32 = opt(args, "--readers", 2)?;
    let keys: u32 = opt(args, "--keys", 24)?;
    let millis: u64 = opt(args, "--millis", 1000)?;
    let seed: u64 = match args.iter().position(|a| a == "--seed") {
        Some(_) => opt(args, "--seed", 0)?,
        None => std::process::id() as u64 ^ 0xc1ea_0000_0000,
    };
    let dev = Dev::open()?;
    let start = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    if start.use_lru != 0 || start.curr_items != 0 {
        return Err("clear-race needs a fresh, empty store loaded with use_lru=0".into());
    }
    println!(
        "clear-race store: max_items={} keys={keys} seed {seed:#x}",
        start.max_items
    );
    let deadline = Instant::now() + Duration::from_millis(millis);
    let reports = Arc::new(AtomicU64::new(0));
    let writer = std::thread::spawn(move || -> Result<(u64, u64), String> {
        let dev = Dev::open()?;
        let mut rng = Rng::new(seed);
        let (mut seq, mut puts, mut clears) = (0u64, 0u64, 0u64);
        while Instant::now() < deadline {
            if rng.chance(1, 100) {
                dev.clear()
                    .map_err(|e| format!("clear: {}", errno_name(e)))?;
                clears += 1;
                continue;
            }
            let k = rng.below(u64::from(keys)) as u32;
            seq += 1;
            let len = MIN_LEN + rng.below((KV_MAX_VAL - MIN_LEN + 1) as u64) as usize;
            match dev.put(&key_name(k), &make_value(0, seq, k, len)) {
                Ok(()) => puts += 1,
                Err(libc::ENOSPC) => {}
                Err(e) => return Err(format!("put key {k}: {}", errno_name(e))),
            }
        }
        Ok((puts, clears))
    });
    let handles: Vec<_> = (0..readers)
        .map(|r| {
            let reports = reports.clone();
            std::thread::spawn(move || -> Result<(u64, u64, u64), String> {
                let mut rng = Rng::new(seed ^ (u64::from(r) + 1).wrapping_mul(0x9e37_79b9));
                let mut store = mapped_store()?;
                let mut seen: HashMap<u32, u64> = HashMap::new();
                let (mut gets, mut hits, mut bad) = (0u64, 0u64, 0u64);
                let mut report = |what: String| {
                    bad += 1;
                    if reports.fetch_add(1, Ordering::Relaxed) < MAX_REPORTS {
                        println!("violation reader {r}: {what}");
                    }
                };
                while Instant::now() < deadline {
                    if gets > 0 && gets.is_multiple_of(REOPEN_EVERY) {
                        store = mapped_store()?;
                    }
                    let k = rng.below(u64::from(keys)) as u32;
                    gets += 1;
                    match mapped_get(&store, &key_name(k)) {
                        Got::Value(v) => {
                            hits += 1;
                            match parse_value(&v, k) {
                                Ok((_, s)) => {
                                    let prev = seen.entry(k).or_insert(s);
                                    if *prev > s {
                                        report(format!(
                                            "key {k}: seq {s} after seq {prev} was seen"
                                        ));
                                    } else {
                                        *prev = s;
                                    }
                                }
                                Err(e) => report(format!("key {k}: {e}")),
                            }
                        }
                        Got::Missing => {}
                        Got::Bad(e) => report(format!("get key {k}: {e}")),
                    }
                }
                Ok((gets, hits, bad))
            })
        })
        .collect();
    let (mut gets, mut hits, mut violations) = (0u64, 0u64, 0u64);
    for h in handles {
        let (g, hi, b) = h.join().map_err(|_| "a reader panicked".to_string())??;
        gets += g;
        hits += hi;
        violations += b;
    }
    let (puts, clears) = writer
        .join()
        .map_err(|_| "the writer panicked".to_string())??;
    let end = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    // Only the readers get: what the kernel counted, they handed to it.
    let fallbacks = (end.hits + end.misses) - (start.hits + start.misses);
    if fallbacks * 2 > gets || hits == 0 || clears == 0 {
        violations += 1;
        println!(
            "violation: {fallbacks} of {gets} mapped gets were answered by the ioctl, {hits} hits, {clears} clears"
        );
    }
    let line = format!(
        "clear-race: {readers} readers x {} s: {gets} gets through the mapping ({hits} hits, {fallbacks} answered by the ioctl) against {puts} puts and {clears} clears, {violations} violations",
        millis as f64 / 1000.0
    );
    Ok((line, violations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_check_themselves() {
        for len in [MIN_LEN, 100, KV_MAX_VAL] {
            let v = make_value(3, 77, 5, len);
            assert_eq!(v.len(), len);
            assert_eq!(parse_value(&v, 5), Ok((3, 77)));
        }
    }

    #[test]
    fn torn_and_misplaced_values_are_caught() {
        let a = make_value(1, 10, 2, 120);
        let b = make_value(2, 11, 2, 120);
        // Half of one, half of another: same length, wrong bytes.
        let mut torn = a[..60].to_vec();
        torn.extend_from_slice(&b[60..]);
        assert!(parse_value(&torn, 2).unwrap_err().starts_with("torn"));
        // One flipped byte anywhere.
        let mut flipped = a.clone();
        flipped[90] ^= 1;
        assert!(parse_value(&flipped, 2).is_err());
        // Cut short.
        assert!(parse_value(&a[..100], 2).is_err());
        // Intact, but under another key.
        assert!(parse_value(&a, 3).unwrap_err().contains("under key 3"));
    }

    #[test]
    fn a_counter_kept_holds_every_delta() {
        let kept = Tally {
            sum: 42,
            restarts: 1,
            backwards: 0,
        };
        assert_eq!(check_counter(&kept, b"42"), Ok(true));
        assert!(check_counter(&kept, b"41")
            .unwrap_err()
            .contains("added 42"));
        assert!(check_counter(&kept, b"4x")
            .unwrap_err()
            .contains("not a count"));
        // Untouched: still the 0 it started at.
        assert_eq!(check_counter(&Tally::default(), b"0"), Ok(true));
        // An answer that went back, with no loss to explain it.
        let back = Tally {
            backwards: 1,
            ..kept
        };
        assert!(check_counter(&back, b"42").is_err());
    }

    #[test]
    fn a_counter_lost_and_recreated_holds_at_most_every_delta() {
        let lost = Tally {
            sum: 42,
            restarts: 2,
            backwards: 3,
        };
        assert_eq!(check_counter(&lost, b"7"), Ok(false));
        assert_eq!(check_counter(&lost, b"42"), Ok(false));
        assert!(check_counter(&lost, b"43")
            .unwrap_err()
            .contains("more than"));
    }

    #[test]
    fn key_names_differ_in_length() {
        let lens: std::collections::HashSet<usize> = (0..12).map(|k| key_name(k).len()).collect();
        assert_eq!(lens.len(), 12);
    }
}
