//! The cache ops' rows: a put with a TTL beside a plain put, a get that
//! also answers the version beside a plain get, and an increment, each on
//! the store `op_rows` measured, through `KV_IOC_CACHE_OP`.

use std::io;

use kv_module::abi::{KvCacheOp, KV_IOC_CACHE_OP, KV_OP_GET, KV_OP_INCR, KV_OP_PUT};
use kv_test_support::{pair, Dev};

use crate::target::{key_bytes, value_bytes};
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

/// Rows "put replace, TTL", "get hit, version" and "incr" for the kvstore
/// holding items 0..items, on its first items. Runs last: the increments
/// turn those items' values into numbers.
pub fn cache_rows(
    kv: &Dev,
    name: &str,
    plan: &Plan,
    (key_size, value_size, items): (usize, usize, usize),
    rows: &mut Vec<Cost>,
) -> io::Result<()> {
    let n = plan.loop_ops;
    let working = items.min(4096);
    let mut row = |op: &str, value: f64| {
        rows.push(Cost {
            target: name.to_string(),
            op: op.to_string(),
            value,
        })
    };
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
