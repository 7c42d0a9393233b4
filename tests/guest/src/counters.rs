//! Increments under concurrency: processes and threads adding to one
//! counter end exactly at the sum, each caller sees the counter only grow,
//! and readers never see anything but a number.

use std::process::Command;

use kv_module::abi::KV_OP_INCR;
use kv_test_support::{ensure, ok, same, Dev, Outcome};

use crate::cache::{cache_op, incr, run, ttl};
use crate::store::empty_store;

const PROCESSES: usize = 4;
const THREADS: usize = 2;
const INCREMENTS: i64 = 400;
const KEY: &[u8] = b"counter";

/// The delta of thread `t` of process `p`: all different, so a lost or
/// doubled increment shows in the sum.
fn delta(p: usize, t: usize) -> i64 {
    (p * THREADS + t + 1) as i64
}

/// One process: THREADS threads adding their delta INCREMENTS times, each
/// checking the answers only grow.
pub fn worker(p: usize) -> Outcome {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || -> Outcome {
                let dev = Dev::open()?;
                let mut last = i64::MIN;
                for _ in 0..INCREMENTS {
                    let n =
                        incr(&dev, KEY, delta(p, t), 0).map_err(|e| format!("incr: errno {e}"))?;
                    ensure!(n > last, "the counter went from {last} to {n}");
                    last = n;
                    let v = dev.get(KEY).map_err(|e| format!("get: errno {e}"))?;
                    let text = String::from_utf8_lossy(&v);
                    ensure!(text.parse::<i64>().is_ok(), "the counter reads {text:?}");
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

/// PROCESSES processes of THREADS threads increment one counter: it ends
/// exactly at the sum of every increment.
pub fn processes_sum(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            Command::new(&exe)
                .arg("counter-worker")
                .arg(p.to_string())
                .spawn()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("spawn: {e}"))?;
    for (p, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        ensure!(out.status.success(), "worker {p} failed: {}", out.status);
    }
    let sum: i64 = (0..PROCESSES)
        .flat_map(|p| (0..THREADS).map(move |t| delta(p, t) * INCREMENTS))
        .sum();
    same(
        "the counter",
        dev.get(KEY),
        Ok(sum.to_string().into_bytes()),
    )?;
    same("no expiry", ttl(dev, KEY), Ok(-1))?;
    empty_store(dev)
}

/// An increment in a batch, and errors that change nothing.
pub fn contract(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    same("created", incr(dev, b"c", -3, 0), Ok(-3))?;
    same("stored as text", dev.get(b"c"), Ok(b"-3".to_vec()))?;
    ok("put max", dev.put(b"c", i64::MAX.to_string().as_bytes()))?;
    same("overflow", incr(dev, b"c", 1, 0), Err(libc::EOVERFLOW))?;
    ok("put text", dev.put(b"t", b"abc"))?;
    same("not a number", incr(dev, b"t", 1, 0), Err(libc::EINVAL))?;
    let before = ok("stat", dev.stat())?;
    let mut op = cache_op(KV_OP_INCR, b"t", b"");
    op.number = 1;
    same("refused again", run(dev, &mut op), Err(libc::EINVAL))?;
    same(
        "the stat after refusals",
        ok("stat", dev.stat())?.puts,
        before.puts,
    )?;
    empty_store(dev)
}
