//! `KV_IOC_STAT`: what a fresh store reports (its memory too), the counters after a known
//! sequence of single ops, and the `filled` mask with the put and delete
//! counters across every kind of write.

use core::mem::size_of;

use kv_module::abi::{
    KV_OP_DEL, KV_OP_GET, KV_OP_PUT, KV_PUT_EXIST, KV_PUT_NOEXIST, KV_STAT_RESERVED,
};
use kv_module::table::Bucket;
use kv_test_support::{expect_errno, expect_value, ok, op, same, Dev, Outcome};

use crate::store::{empty_store, stat};

/// The defaults of a module loaded without parameters.
pub fn defaults(dev: &Dev) -> Outcome {
    let s = stat(dev)?;
    same("bucket_count", s.bucket_count, 128)?;
    same("max_items", s.max_items, 256)?;
    same("curr_items", s.curr_items, 0)?;
    same("use_lru", s.use_lru, 0)?;
    // Its buckets, and a little for what scales with the capacity (the
    // block directory, the expiry index) and the per-CPU counters: nothing
    // for items it does not hold.
    let buckets = 128 * size_of::<Bucket>() as u64;
    if !(buckets..buckets + 64 * 1024).contains(&s.memory) {
        return Err(format!("memory {} bytes, buckets {buckets}", s.memory));
    }
    same("reserved words zeroed", s.reserved, [0; KV_STAT_RESERVED])
}

/// Memory follows the items: a fresh store's grows as items arrive (by a
/// chunk of each size class in use, page-aligned), a delete gives room back
/// to its class rather than memory, and a clear gives every chunk back.
pub fn memory_follows_items(dev: &Dev) -> Outcome {
    let fresh = stat(dev)?.memory;
    for i in 0..100u32 {
        let key = format!("key-{i:012}");
        dev.put(key.as_bytes(), &[b'v'; 64])
            .map_err(|e| format!("put: {e}"))?;
    }
    let full = stat(dev)?.memory;
    // 100 records of 16-byte keys and 64-byte values: at least their
    // bytes, in whole pages.
    if full < fresh + 100 * (16 + 64) || (full - fresh) % 4096 != 0 {
        return Err(format!("memory {fresh} fresh, {full} with 100 items"));
    }
    dev.del(b"key-000000000000")
        .map_err(|e| format!("del: {e}"))?;
    same("memory after a delete", stat(dev)?.memory, full)?;
    dev.clear().map_err(|e| format!("clear: {e}"))?;
    same("memory after a clear", stat(dev)?.memory, fresh)?;
    same("items after a clear", stat(dev)?.curr_items, 0)
}

/// Counters after a known sequence on a fresh store.
pub fn counters(dev: &Dev) -> Outcome {
    dev.put(b"k1", b"value-1")
        .map_err(|e| format!("put: {e}"))?;
    dev.put(b"k2", b"v2").map_err(|e| format!("put: {e}"))?;
    dev.put(b"key3", b"").map_err(|e| format!("put: {e}"))?;
    dev.put(b"k1", b"one")
        .map_err(|e| format!("replace: {e}"))?;
    expect_value(dev, b"k1", b"one")?;
    expect_value(dev, b"k2", b"v2")?;
    expect_errno("get missing", dev.get(b"nope"), libc::ENOENT)?;
    dev.del(b"k2").map_err(|e| format!("del: {e}"))?;
    expect_errno("get deleted", dev.get(b"k2"), libc::ENOENT)?;
    let s = stat(dev)?;
    same("curr_items", s.curr_items, 2)?;
    same("hits", s.hits, 2)?;
    same("misses", s.misses, 2)?;
    same("evictions", s.evictions, 0)?;
    same("bytes_used", s.bytes_used, (2 + 3) + 4)?;
    for k in [&b"k1"[..], b"key3"] {
        dev.del(k).map_err(|e| format!("del: {e}"))?;
    }
    same(
        "bytes_used after emptying",
        dev.stat().map(|s| s.bytes_used),
        Ok(0),
    )
}

/// The `filled` mask, and puts and deletes counted across single puts,
/// puts with flags and batches: only what succeeded, and a clear is no
/// delete.
pub fn mask_and_counters(dev: &Dev) -> Outcome {
    let s = stat(dev)?;
    same("filled", s.filled, 0xfff)?;
    same("puts on a fresh module", s.puts, 0)?;
    same("deletes on a fresh module", s.deletes, 0)?;
    same("reserved zeroed", s.reserved, [0; KV_STAT_RESERVED])?;
    ok("put", dev.put(b"a", b"1"))?;
    ok("replace", dev.put(b"a", b"2"))?;
    ok("put nx", dev.put_flags(b"b", b"1", KV_PUT_NOEXIST))?;
    expect_errno(
        "refused nx",
        dev.put_flags(b"b", b"1", KV_PUT_NOEXIST),
        libc::EEXIST,
    )?;
    expect_errno(
        "refused xx",
        dev.put_flags(b"c", b"1", KV_PUT_EXIST),
        libc::ENOENT,
    )?;
    expect_errno("bad put", dev.put(b"", b"1"), libc::EINVAL)?;
    ok("del", dev.del(b"a"))?;
    expect_errno("del absent", dev.del(b"a"), libc::ENOENT)?;
    let mut ops = [
        op(KV_OP_PUT, 0, b"x", b"1"),
        op(KV_OP_DEL, 0, b"x", b""),
        op(KV_OP_DEL, 0, b"x", b""),
        op(KV_OP_GET, 0, b"b", b""),
    ];
    ok("batch", dev.batch(&mut ops))?;
    let s = stat(dev)?;
    same("puts (4 succeeded)", s.puts, 4)?;
    same("deletes (2 succeeded)", s.deletes, 2)?;
    same("hits", s.hits, 1)?;
    empty_store(dev)?;
    let after = stat(dev)?;
    same("clear is no delete", (after.puts, after.deletes), (4, 2))
}
