//! A store at its capacity: ENOSPC without eviction, for single puts and
//! inside a batch, and long hash chains.

use kv_module::abi::{KV_MAX_VAL, KV_OP_DEL, KV_OP_GET, KV_OP_PUT, KV_PUT_EXIST, KV_PUT_NOEXIST};
use kv_test_support::{binary, expect_errno, expect_value, op, same, Dev, Outcome};

use crate::concurrency::tagged_value;
use crate::store::{batch_results, contents, item_count, stat, Items};

/// Without eviction a full store refuses a new key with ENOSPC and changes
/// nothing; a replace never needs room; a delete makes room.
pub fn put_enospc(dev: &Dev) -> Outcome {
    same(
        "use_lru",
        dev.stat().map(|s| (s.max_items, s.use_lru)),
        Ok((3, 0)),
    )?;
    for k in [b"a", b"b", b"c"] {
        dev.put(k, k).map_err(|e| format!("put: {e}"))?;
    }
    let before = dev.stat().map_err(|e| format!("stat: {e}"))?;
    expect_errno("put into a full store", dev.put(b"d", b"d"), libc::ENOSPC)?;
    same("stat after ENOSPC", dev.stat(), Ok(before))?;
    expect_errno("the rejected key", dev.get(b"d"), libc::ENOENT)?;
    // Replacing never needs room.
    dev.put(b"b", &binary(KV_MAX_VAL, 1))
        .map_err(|e| format!("replace in a full store: {e}"))?;
    for k in [b"a", b"c"] {
        expect_value(dev, k, k)?;
    }
    expect_value(dev, b"b", &binary(KV_MAX_VAL, 1))?;
    dev.del(b"a").map_err(|e| format!("del: {e}"))?;
    dev.put(b"d", b"d")
        .map_err(|e| format!("put after del: {e}"))?;
    same(
        "evictions",
        dev.stat().map(|s| (s.curr_items, s.evictions)),
        Ok((3, 0)),
    )
}

/// A batch into a full store: its inserts past the capacity fail alone
/// with ENOSPC, the other ops run.
pub fn batch_enospc(dev: &Dev) -> Outcome {
    let mut ops = vec![
        op(KV_OP_PUT, 0, b"a", b"1"),
        op(KV_OP_PUT, 0, b"b", b"2"),
        op(KV_OP_PUT, 0, b"c", b"3"),
        op(KV_OP_PUT, 0, b"d", b"4"),
        op(KV_OP_PUT, KV_PUT_NOEXIST, b"e", b"5"),
        op(KV_OP_PUT, KV_PUT_EXIST, b"a", b"one"),
        op(KV_OP_DEL, 0, b"b", b""),
        op(KV_OP_PUT, 0, b"d", b"4"),
        op(KV_OP_GET, 0, b"d", b""),
    ];
    let results = batch_results(dev, &mut ops)?;
    same(
        "results",
        results,
        vec![0, 0, 0, -libc::ENOSPC, -libc::ENOSPC, 0, 0, 0, 0],
    )?;
    same(
        "items",
        contents(dev)?,
        Items::from([
            (b"a".to_vec(), b"one".to_vec()),
            (b"c".to_vec(), b"3".to_vec()),
            (b"d".to_vec(), b"4".to_vec()),
        ]),
    )?;
    same("evictions", stat(dev)?.evictions, 0)
}

/// 1000 items in 10 buckets (load factor 100): all found, ENOSPC past
/// max_items, every other one deleted.
pub fn long_chains(dev: &Dev) -> Outcome {
    for i in 0..1000 {
        let k = format!("key-{i}").into_bytes();
        dev.put(&k, &tagged_value(&k, i, 0))
            .map_err(|e| format!("put {i}: {e}"))?;
    }
    expect_errno("item 1001", dev.put(b"one-too-many", b"x"), libc::ENOSPC)?;
    for i in (0..1000).rev() {
        let k = format!("key-{i}").into_bytes();
        expect_value(dev, &k, &tagged_value(&k, i, 0))?;
    }
    for i in (0..1000).step_by(2) {
        dev.del(format!("key-{i}").as_bytes())
            .map_err(|e| format!("del {i}: {e}"))?;
    }
    for i in 0..1000 {
        let k = format!("key-{i}").into_bytes();
        if i % 2 == 0 {
            expect_errno("deleted key", dev.get(&k), libc::ENOENT)?;
        } else {
            expect_value(dev, &k, &tagged_value(&k, i, 0))?;
        }
    }
    same("curr_items", item_count(dev)?, 500)
}
