//! `kv-bench hitratio`: the miss ratio of each eviction policy on the same
//! request streams. A cache-aside client replays one precomputed stream of
//! keys against exact LRU (`use_lru=1`), SIEVE (`use_lru=2`) and a BPF LRU
//! hash map of the same capacity: get, and on a miss put. Nothing is timed,
//! so the guest needs no icount.
//!
//! The streams are Zipf-distributed over ten times more keys than the
//! capacity (alpha 0.8 and 1.0), and the alpha 1.0 stream again with a
//! one-time scan of never-repeated keys (twice the capacity) spliced into
//! its middle, which an LRU lets flush its hot items and SIEVE should not.
//! The generator is seeded, so every target and every run sees the same
//! requests.

use std::io;

use serde::{Deserialize, Serialize};

use kv_test_support::{load_module, unload_module, Rng};

use crate::target::{self, key_bytes, value_bytes, BpfMap, MapKind, Request, Target};
use crate::{context, kernel_release, kv_params};

const KEY_SIZE: usize = 16;
const VALUE_SIZE: usize = 64;
const SEED: u64 = 0x5EED_0FC0_FFEE;

/// The miss ratio of one target on one stream, over its Zipf requests (a
/// scan's own requests, all misses, are not counted).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct MissRatio {
    pub stream: String,
    pub target: String,
    pub requests: usize,
    pub misses: usize,
}

impl MissRatio {
    pub fn ratio(&self) -> f64 {
        self.misses as f64 / self.requests as f64
    }
}

/// What `hitratio` measured.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct HitRatioReport {
    pub kernel: String,
    /// max_items of kvstore, max_entries of the BPF map.
    pub capacity: usize,
    /// Distinct keys the Zipf streams draw from.
    pub keys: usize,
    /// Zipf requests per stream (a scan adds its keys to these, uncounted).
    pub requests: usize,
    pub scan_keys: usize,
    pub streams: Vec<String>,
    pub rows: Vec<MissRatio>,
    pub notes: Vec<String>,
}

/// `n` draws from a Zipf distribution over key indices 0..keys: index r has
/// probability proportional to 1 / (r + 1)^alpha. Inverse transform
/// sampling over the precomputed cumulative distribution.
pub fn zipf_stream(keys: usize, alpha: f64, n: usize, seed: u64) -> Vec<u32> {
    let mut cdf = Vec::with_capacity(keys);
    let mut sum = 0.0;
    for r in 0..keys {
        sum += 1.0 / ((r + 1) as f64).powf(alpha);
        cdf.push(sum);
    }
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let u = rng.unit() * sum;
            cdf.partition_point(|&c| c <= u).min(keys - 1) as u32
        })
        .collect()
}

/// `stream` with keys first..first+count, each once, spliced into its middle.
pub fn with_scan(stream: &[u32], first: usize, count: usize) -> Vec<u32> {
    let mid = stream.len() / 2;
    let mut out = Vec::with_capacity(stream.len() + count);
    out.extend_from_slice(&stream[..mid]);
    out.extend((first..first + count).map(|k| k as u32));
    out.extend_from_slice(&stream[mid..]);
    out
}

/// Misses of one replay: of every request, and of the Zipf requests alone
/// (the scan's keys miss on every cache; what counts is what it pushed out).
struct Misses {
    all: usize,
    zipf: usize,
}

/// Replays `stream` as a cache-aside client (get; on ENOENT, put); key
/// indices from `keys` up are the scan's.
fn replay(
    t: &dyn Target,
    requests: &mut [Request],
    stream: &[u32],
    keys: usize,
) -> io::Result<Misses> {
    let mut misses = Misses { all: 0, zipf: 0 };
    for &k in stream {
        let req = &mut requests[k as usize];
        match t.get(req) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                misses.all += 1;
                if (k as usize) < keys {
                    misses.zipf += 1;
                }
                t.put(req).map_err(context("put after a miss"))?;
            }
            Err(e) => return Err(context("get")(e)),
        }
    }
    Ok(misses)
}

/// Runs the rest of the process on CPU 0: a BPF LRU map's free lists are
/// per CPU, and one CPU is what a single client would use.
fn pin_to_cpu0() -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU 0 is within the set's bounds.
    unsafe { libc::CPU_SET(0, &mut set) };
    // SAFETY: `set` is a live cpu_set_t of the size passed; 0 is this thread.
    let ret = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if ret < 0 {
        return Err(context("sched_setaffinity")(io::Error::last_os_error()));
    }
    Ok(())
}

pub fn hitratio(module: &str, quick: bool) -> io::Result<HitRatioReport> {
    let (capacity, keys, requests) = if quick {
        (100, 1_000, 5_000)
    } else {
        (1_000, 10_000, 200_000)
    };
    let scan_keys = 2 * capacity;
    pin_to_cpu0()?;

    let zipf10 = zipf_stream(keys, 1.0, requests, SEED);
    let scanned = with_scan(&zipf10, keys, scan_keys);
    let streams: Vec<(String, Vec<u32>)> = vec![
        ("zipf 0.8".into(), zipf_stream(keys, 0.8, requests, SEED)),
        ("zipf 1.0".into(), zipf10),
        (format!("zipf 1.0 + scan of {scan_keys}"), scanned),
    ];
    let mut report = HitRatioReport {
        kernel: kernel_release(),
        capacity,
        keys,
        requests,
        scan_keys,
        streams: streams.iter().map(|(name, _)| name.clone()).collect(),
        rows: Vec::new(),
        notes: Vec::new(),
    };
    let mut reqs: Vec<Request> = (0..(keys + scan_keys) as u64)
        .map(|k| Request::new(key_bytes(k, KEY_SIZE, false), value_bytes(k, VALUE_SIZE)))
        .collect();

    for (stream, ids) in &streams {
        for (policy, name) in [(1, "LRU"), (2, "SIEVE")] {
            if let Err(e) = load_module(module, &kv_params(capacity, policy)) {
                report.notes.push(format!("{name} not measured: {e}"));
                continue;
            }
            let kv = target::open()?;
            let misses = replay(&kv, &mut reqs, ids, keys)
                .map_err(context(&format!("{name} on {stream}")))?;
            // The store's own counters must agree with the client's.
            let stat = target::stat(&kv).map_err(context("stat"))?;
            if stat.misses != misses.all as u64 || stat.curr_items as usize > capacity {
                return Err(io::Error::other(format!(
                    "{name} on {stream}: the client saw {} misses, the store {} with {} items of {capacity}",
                    misses.all, stat.misses, stat.curr_items
                )));
            }
            report.rows.push(MissRatio {
                stream: stream.clone(),
                target: name.into(),
                requests,
                misses: misses.zipf,
            });
        }
        unload_module();
        let map = BpfMap::create(MapKind::LruHash, KEY_SIZE, VALUE_SIZE, capacity)
            .map_err(context("bpf map create"))?;
        let misses = replay(&map, &mut reqs, ids, keys)
            .map_err(context(&format!("BPF LRU hash on {stream}")))?;
        report.rows.push(MissRatio {
            stream: stream.clone(),
            target: "BPF LRU hash".into(),
            requests,
            misses: misses.zipf,
        });
    }
    unload_module();
    report.notes.push(
        "BPF LRU hash: max_entries = capacity, on one CPU; it evicts before it is full (per-CPU free lists), as it does in real use".into(),
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_is_deterministic_and_skewed() {
        let a = zipf_stream(1000, 1.0, 20_000, 7);
        assert_eq!(a, zipf_stream(1000, 1.0, 20_000, 7));
        assert!(a.iter().all(|&k| k < 1000));
        let count = |k: u32| a.iter().filter(|&&x| x == k).count() as f64;
        // P(0) / P(1) = 2 at alpha 1; H(1000) ~ 7.49 so P(0) ~ 0.134.
        let p0 = count(0) / a.len() as f64;
        assert!((p0 - 0.1336).abs() < 0.01, "p0 = {p0}");
        assert!((count(0) / count(1) - 2.0).abs() < 0.25);
        // A flatter alpha spreads requests over more keys.
        let b = zipf_stream(1000, 0.8, 20_000, 7);
        assert!(b.iter().filter(|&&x| x == 0).count() < a.iter().filter(|&&x| x == 0).count());
    }

    #[test]
    fn scan_goes_in_the_middle_once() {
        let s = with_scan(&[1, 2, 3, 4], 10, 3);
        assert_eq!(s, vec![1, 2, 10, 11, 12, 3, 4]);
    }
}
