//! The cache ops' rows: a put with a TTL beside a plain put, a get that
//! also answers the version beside a plain get, a plain get of items that
//! expire, a versioned put, and an increment, each on the store `op_rows`
//! measured, through `KV_IOC_CACHE_OP` (the plain get through `KV_IOC_GET`).

use std::io;

use kv_module::abi::{KvCacheOp, KV_IOC_CACHE_OP, KV_OP_GET, KV_OP_INCR, KV_OP_PUT, KV_OP_PUT_VER};
use kv_test_support::{pair, Dev};

use crate::target::{key_bytes, value_bytes, Request, Target};
use crate::{context, per_op, Cost, Plan};

/// A TTL no benchmark outlives: nothing expires while it runs.
const HOUR_MS: u64 = 3_600_000;

fn run(kv: &Dev, op: &mut KvCacheOp) -> io::Result<()> {
    kv.ioctl(KV_IOC_CACHE_OP, op as *mut KvCacheOp as usize)
        .map(drop)
        .map_err(io::Error::from_raw_os_error)
}

/// The cache op `code` on item `k` (stored by `fill`) with `value`.
fn cache_op(code: u32, k: u64, key_size: usize, value: &[u8]) -> KvCacheOp {
    KvCacheOp {
        op: code,
        pair: pair(&key_bytes(k, key_size, false), value),
        ..KvCacheOp::ZERO
    }
}

/// Rows "put replace, TTL", "get hit, version", "get hit, expiring", "put
/// replace, version" and "incr" for the kvstore holding items 0..items, on
/// its first items. Runs last: the increments turn those items' values into
/// numbers.
pub fn cache_rows(
    kv: &Dev,
    name: &str,
    plan: &Plan,
    (key_size, value_size, items): (usize, usize, usize),
    rows: &mut Vec<Cost>,
) -> io::Result<()> {
    let n = plan.loop_ops;
    let working = crate::working_set(items);
    let mut row = |op: &str, value: f64| rows.push(Cost::new(name, op, value));
    let all = |code: u32, value: &dyn Fn(u64) -> Vec<u8>| -> Vec<KvCacheOp> {
        (0..working as u64)
            .map(|k| cache_op(code, k, key_size, &value(k)))
            .collect()
    };

    let mut puts = all(KV_OP_PUT, &|k| value_bytes(k, value_size));
    for op in &mut puts {
        op.ttl_ms = HOUR_MS;
    }
    row(
        "put replace, TTL",
        per_op(n, |i| run(kv, &mut puts[i % working])).map_err(context("put replace, TTL"))?,
    );
    let mut gets = all(KV_OP_GET, &|_| Vec::new());
    row(
        "get hit, version",
        per_op(n, |i| run(kv, &mut gets[i % working])).map_err(context("get hit, version"))?,
    );
    // The first items carry a TTL now: a plain get of them checks it.
    let mut expiring: Vec<Request> = (0..working as u64)
        .map(|k| Request::new(key_bytes(k, key_size, false), value_bytes(k, value_size)))
        .collect();
    row(
        "get hit, expiring",
        per_op(n, |i| Target::get(kv, &mut expiring[i % working]))
            .map_err(context("get hit, expiring"))?,
    );
    // The gets above answered each item's version, and the TTL puts were the
    // last changes, so the newest version is the largest of them. The module
    // numbers versions in the order of changes, so a versioned put that
    // succeeds gives its item the next number: each put below names the
    // version its item has (a wrong guess would fail with EEXIST and end
    // the run).
    let mut versions: Vec<u64> = gets.iter().map(|op| op.version).collect();
    let mut newest = versions.iter().copied().max().unwrap_or(0);
    let mut versioned = all(KV_OP_PUT_VER, &|k| value_bytes(k, value_size));
    row(
        "put replace, version",
        per_op(n, |i| {
            let k = i % working;
            let (Some(op), Some(version)) = (versioned.get_mut(k), versions.get_mut(k)) else {
                return Ok(());
            };
            op.version = *version;
            run(kv, op)?;
            newest += 1;
            *version = newest;
            Ok(())
        })
        .map_err(context("put replace, version"))?,
    );
    let mut counters = all(KV_OP_PUT, &|_| b"0".to_vec());
    for op in &mut counters {
        run(kv, op).map_err(context("counters"))?;
    }
    let mut incrs = all(KV_OP_INCR, &|_| Vec::new());
    for op in &mut incrs {
        op.number = 1;
    }
    row(
        "incr",
        per_op(n, |i| run(kv, &mut incrs[i % working])).map_err(context("incr"))?,
    );
    Ok(())
}
