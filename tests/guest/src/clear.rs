//! `KV_IOC_CLEAR`: every item removed at once.

use kv_module::abi::KV_IOC_CLEAR;
use kv_test_support::{expect_errno, ok, same, Dev, Outcome};

use crate::store::{contents, empty_store, stat, Items};

/// A clear empties the store and keeps the counters counting; the whole
/// capacity is usable again.
pub fn contract(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    for i in 0..100 {
        ok("put", dev.put(format!("c{i}").as_bytes(), &[i as u8; 10]))?;
    }
    ok("get", dev.get(b"c1"))?;
    expect_errno("miss", dev.get(b"zz"), libc::ENOENT)?;
    let before = stat(dev)?;
    same("clear returns 0", dev.ioctl(KV_IOC_CLEAR, 0), Ok(0))?;
    let after = stat(dev)?;
    same("curr_items", after.curr_items, 0)?;
    same("bytes_used", after.bytes_used, 0)?;
    same(
        "counters keep counting",
        (after.hits, after.misses, after.evictions),
        (before.hits, before.misses, before.evictions),
    )?;
    expect_errno("a cleared key", dev.get(b"c1"), libc::ENOENT)?;
    same("nothing to dump", contents(dev)?, Items::new())?;
    same("clear of an empty store", dev.ioctl(KV_IOC_CLEAR, 0), Ok(0))?;
    // The whole capacity is usable again.
    let cap = after.max_items;
    for i in 0..cap {
        ok("refill", dev.put(format!("r{i}").as_bytes(), b"x"))?;
    }
    expect_errno("one past capacity", dev.put(b"over", b"x"), libc::ENOSPC)?;
    empty_store(dev)
}
