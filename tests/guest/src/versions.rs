//! Compare-and-swap under concurrency: threads that read a counter with its
//! version and write it back only if the version still holds lose no
//! update, and versions only move forward.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kv_test_support::{ensure, join_all, ok, same, Dev, Outcome};

use crate::cache::{get_ver, put_ver};
use crate::store::empty_store;

const THREADS: usize = 8;
const UPDATES: u64 = 150;

/// THREADS threads each make UPDATES read-modify-write updates of one
/// counter through get_ver and put_ver, retrying on EEXIST: it ends at
/// THREADS * UPDATES.
pub fn cas_loop(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    ok("put", dev.put(b"cas", b"0"))?;
    let retries = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let retries = Arc::clone(&retries);
            std::thread::spawn(move || -> Outcome {
                let dev = Dev::open()?;
                let mut done = 0;
                while done < UPDATES {
                    let (value, version) =
                        get_ver(&dev, b"cas").map_err(|e| format!("get_ver: errno {e}"))?;
                    ensure!(version != 0, "version 0");
                    let n: u64 = String::from_utf8_lossy(&value)
                        .parse()
                        .map_err(|_| format!("value {value:?}"))?;
                    match put_ver(&dev, b"cas", (n + 1).to_string().as_bytes(), version) {
                        Ok(()) => done += 1,
                        Err(libc::EEXIST) => {
                            retries.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => return Err(format!("put_ver: errno {e}")),
                    }
                }
                Ok(())
            })
        })
        .collect();
    join_all(threads, "cas thread")?;
    same(
        "the counter",
        dev.get(b"cas"),
        Ok((THREADS as u64 * UPDATES).to_string().into_bytes()),
    )?;
    println!(
        "# cas_loop: {} updates, {} retries",
        THREADS as u64 * UPDATES,
        retries.load(Ordering::Relaxed)
    );
    empty_store(dev)
}
