//! The concurrency checker: processes of threads put, get and del random
//! keys of a small shared set for a while, with values that check
//! themselves. Every thread is a writer with its own id and sequence.
//!
//! Checked while running (by every reader): no torn value (the value is
//! rebuilt from its header and compared byte for byte), no value under the
//! wrong key, and never an older value from a writer than one already seen
//! for that key. Checked at the end (by the parent): every key holds one of
//! the values last written to it (or is absent only if someone's last word
//! on it was a delete, or items were evicted), the store's counters match
//! the workers' (hits, misses) and its contents (items, bytes), and items
//! never exceeded max_items (a monitor thread polls stat meanwhile).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_module::abi::KV_MAX_VAL;

use kv_test_support::{errno_name, Dev, Rng, UNTOUCHED};

use crate::args::opt;

/// writer id, sequence, key index, length, then payload, then the checksum.
const HEADER: usize = 4 + 8 + 4 + 4;
const MIN_LEN: usize = HEADER + 8;
/// Violations printed per worker; the rest are counted.
const MAX_REPORTS: u64 = 10;

fn key_name(k: u32) -> Vec<u8> {
    // Different lengths, so a value under the wrong key is also a wrong length.
    let mut name = format!("ck-{k}-").into_bytes();
    name.resize(7 + (k as usize * 4) % 56, b'k');
    name
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

/// A writer's last word on a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Last {
    Put(u64),
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
}

struct WorkerResult {
    counts: Counts,
    last: HashMap<u32, Last>,
    violations: u64,
}

fn worker_thread(
    writer: u32,
    keys: u32,
    seed: u64,
    deadline: Instant,
    reports: &AtomicU64,
) -> Result<WorkerResult, String> {
    let dev = Dev::open()?;
    let mut rng = Rng::new(seed ^ u64::from(writer).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut seen: HashMap<(u32, u32), u64> = HashMap::new();
    let mut res = WorkerResult {
        counts: Counts::default(),
        last: HashMap::new(),
        violations: 0,
    };
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
                    match dev.put(&key, &make_value(writer, seq, k, len)) {
                        Ok(()) => {
                            res.counts.puts += 1;
                            res.last.insert(k, Last::Put(seq));
                            seen.insert((k, writer), seq);
                        }
                        Err(libc::ENOSPC) => {
                            res.counts.full += 1;
                            res.last.insert(k, Last::Gone);
                        }
                        Err(e) => violation(&mut res, format!("put key {k}: {}", errno_name(e))),
                    }
                }
                45..85 => {
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
                            match parse_value(&p.value.data[..len], k) {
                                Ok((w, s)) => {
                                    let prev = seen.entry((k, w)).or_insert(s);
                                    if *prev > s {
                                        let msg = format!(
                                            "key {k}: writer {w} seq {s} after seq {prev} was seen"
                                        );
                                        violation(&mut res, msg);
                                    } else {
                                        *prev = s;
                                    }
                                }
                                Err(e) => violation(&mut res, format!("get key {k}: {e}")),
                            }
                        }
                        Err(libc::ENOENT) => res.counts.misses += 1,
                        Err(e) => violation(&mut res, format!("get key {k}: {}", errno_name(e))),
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
    let deadline = Instant::now() + Duration::from_millis(millis);
    let reports = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let reports = reports.clone();
            let writer = id * threads + t;
            std::thread::spawn(move || {
                (
                    writer,
                    worker_thread(writer, keys, seed, deadline, &reports),
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
            "counts {} {} {} {} {} {} {} {}",
            c.ops, c.gets, c.hits, c.misses, c.puts, c.full, c.dels, r.violations
        );
        for (k, last) in &r.last {
            match last {
                Last::Put(s) => println!("last {writer} {k} put {s}"),
                Last::Gone => println!("last {writer} {k} gone"),
            }
        }
        clean &= r.violations == 0;
    }
    Ok(clean)
}

pub struct Summary {
    pub procs: u32,
    pub threads: u32,
    pub millis: u64,
    pub ops: u64,
    pub violations: u64,
    pub use_lru: u32,
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
                }
                Some("last") => {
                    let what = if f.get(3) == Some(&"put") {
                        Last::Put(num(4)?)
                    } else {
                        Last::Gone
                    };
                    last.entry(num(2)? as u32)
                        .or_default()
                        .push((num(1)? as u32, what));
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
    if end.hits != total.hits || end.misses != total.misses {
        problem(format!(
            "stat hits/misses {}/{} but the workers counted {}/{} of {} gets",
            end.hits, end.misses, total.hits, total.misses, total.gets
        ));
    }
    if total.hits + total.misses != total.gets {
        problem("the workers' own hits + misses != gets".into());
    }
    if start.use_lru == 0 && end.evictions != 0 {
        problem(format!("{} evictions without LRU", end.evictions));
    }
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
                        if !lasts.contains(&(w, Last::Put(s))) {
                            problem(format!("key {k} ends with writer {w} seq {s}, not a last write (last words: {lasts:?})"));
                        }
                    }
                    Err(e) => problem(format!("key {k} at the end: {e}")),
                }
            }
            Err(libc::ENOENT) => {
                let someone_deleted = lasts.iter().any(|(_, l)| *l == Last::Gone);
                if !lasts.is_empty() && !someone_deleted && end.evictions == 0 {
                    problem(format!(
                        "key {k} is absent, but every writer's last word was a put: {lasts:?}"
                    ));
                }
            }
            Err(e) => problem(format!("final get key {k}: {}", errno_name(e))),
        }
    }
    if end.curr_items != items || end.bytes_used != bytes {
        problem(format!(
            "stat says {} items / {} bytes, the keys hold {items} / {bytes}",
            end.curr_items, end.bytes_used
        ));
    }
    println!(
        "concurrency: {} gets ({} hits), {} puts ({} ENOSPC), {} dels, {} evictions, {} stat polls",
        total.gets, total.hits, total.puts, total.full, total.dels, end.evictions, polls
    );
    Ok(Summary {
        procs,
        threads,
        millis,
        ops: total.ops,
        violations,
        use_lru: start.use_lru,
    })
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
    fn key_names_differ_in_length() {
        let lens: std::collections::HashSet<usize> = (0..12).map(|k| key_name(k).len()).collect();
        assert_eq!(lens.len(), 12);
    }
}
