//! Expiry under concurrency: items expiring while they are read, replaced,
//! touched and reclaimed, in a store smaller than the working set, with
//! counters that reconcile; and the background reclaim within 2 seconds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_test_support::{ensure, join_all, ok, same, Dev, Outcome, Rng};

use crate::cache::{incr, put_ttl, touch, ttl};
use crate::store::{contents, empty_store};

const KEYS: u64 = 96;
const RUN: Duration = Duration::from_secs(3);

/// A value that names its key, so a value read under another key shows.
fn value_for(key: &[u8], n: u64) -> Vec<u8> {
    let mut v = key.to_vec();
    v.push(b'|');
    v.extend_from_slice(n.to_string().as_bytes());
    v
}

fn key(n: u64) -> Vec<u8> {
    format!("x{}", n % KEYS).into_bytes()
}

/// Writers put with short TTLs (and some without), touchers move expiries,
/// counters increment expiring keys, readers get: every value read is its
/// key's, the hits and misses counted are the gets made, and once every TTL
/// is past, the background reclaim has removed the expiring items: stat's
/// items and bytes match a dump, and every item left never expires.
pub fn under_concurrency(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    let before = ok("stat", dev.stat())?;
    let stop = Arc::new(AtomicBool::new(false));
    let gets = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for t in 0..4u64 {
        let (stop, gets) = (Arc::clone(&stop), Arc::clone(&gets));
        threads.push(std::thread::spawn(move || -> Outcome {
            let dev = Dev::open()?;
            let mut rng = Rng::new(0x1234 + t);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let r = rng.next_u64();
                let k = key(r >> 8);
                match (t, r % 8) {
                    // Writers: TTLs of 1 to 40 ms, one put in eight without.
                    (0 | 1, 0) => {
                        let _ = put_ttl(&dev, &k, &value_for(&k, n), 0);
                    }
                    (0 | 1, _) => match put_ttl(&dev, &k, &value_for(&k, n), 1 + (r >> 16) % 40) {
                        Ok(()) | Err(libc::ENOSPC) => {}
                        Err(e) => return Err(format!("put: errno {e}")),
                    },
                    // A toucher and counter.
                    (2, 0..=3) => match touch(&dev, &k, 1 + (r >> 16) % 30) {
                        Ok(()) | Err(libc::ENOENT) => {}
                        Err(e) => return Err(format!("touch: errno {e}")),
                    },
                    (2, _) => {
                        let c = format!("c{}", (r >> 8) % 8).into_bytes();
                        match incr(&dev, &c, 1, 1 + (r >> 16) % 20) {
                            Ok(v) => ensure!(v >= 1, "counter at {v}"),
                            Err(libc::ENOSPC) => {}
                            Err(e) => return Err(format!("incr: errno {e}")),
                        }
                    }
                    // The reader.
                    _ => {
                        gets.fetch_add(1, Ordering::Relaxed);
                        match dev.get(&k) {
                            Ok(v) => ensure!(
                                v.starts_with(&k) && v.get(k.len()) == Some(&b'|'),
                                "key {k:?} holds a foreign value {v:?}"
                            ),
                            Err(libc::ENOENT) => {}
                            Err(e) => return Err(format!("get: errno {e}")),
                        }
                        if let Err(e) = ttl(&dev, &k) {
                            ensure!(e == libc::ENOENT, "ttl: errno {e}");
                        }
                    }
                }
            }
            Ok(())
        }));
    }
    std::thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    join_all(threads, "expiry thread")?;

    // Every TTL given was at most 40 ms: 2 seconds later the reclaim has
    // removed every item that had one, with no call touching them.
    let stopped = Instant::now();
    std::thread::sleep(Duration::from_millis(2040).saturating_sub(stopped.elapsed()));
    let after = ok("stat", dev.stat())?;
    let items = contents(dev)?;
    same(
        "curr_items against the dump",
        after.curr_items as usize,
        items.len(),
    )?;
    let bytes: usize = items.iter().map(|(k, v)| k.len() + v.len()).sum();
    same(
        "bytes_used against the dump",
        after.bytes_used,
        bytes as u64,
    )?;
    for k in items.keys() {
        same("an item left never expires", ttl(dev, k), Ok(-1))?;
    }
    same(
        "hits and misses are the gets made",
        (after.hits + after.misses) - (before.hits + before.misses),
        gets.load(Ordering::Relaxed),
    )?;
    ensure!(after.expired > before.expired, "nothing expired");
    ensure!(after.curr_items <= after.max_items, "more items than room");
    empty_store(dev)
}
