//! Exact LRU eviction (use_lru=1) in a store of three items: the order of
//! evictions, and what is not a use.

use kv_test_support::{expect_errno, expect_value, ok, same, Dev, Outcome};

use crate::store::{contents, stat};

/// Exact LRU: a get and a replace are uses, the least recently used key
/// goes first, a delete makes room.
pub fn order(dev: &Dev) -> Outcome {
    same(
        "use_lru",
        dev.stat().map(|s| (s.max_items, s.use_lru)),
        Ok((3, 1)),
    )?;
    let put = |k: &[u8]| dev.put(k, k).map_err(|e| format!("put {k:?}: {e}"));
    put(b"a")?;
    put(b"b")?;
    put(b"c")?; // order, least recent first: a b c
    expect_value(dev, b"a", b"a")?; // b c a
    put(b"d")?; // evicts b: c a d
    expect_errno("b was least recently used", dev.get(b"b"), libc::ENOENT)?;
    dev.put(b"c", b"C").map_err(|e| format!("replace c: {e}"))?; // a d c
    same(
        "after one eviction",
        dev.stat().map(|s| (s.curr_items, s.evictions)),
        Ok((3, 1)),
    )?;
    put(b"e")?; // evicts a: d c e
    expect_errno("a was least recently used", dev.get(b"a"), libc::ENOENT)?;
    put(b"f")?; // evicts d: c e f
    expect_errno("d was least recently used", dev.get(b"d"), libc::ENOENT)?;
    expect_value(dev, b"c", b"C")?; // e f c
    expect_value(dev, b"e", b"e")?; // f c e
    expect_value(dev, b"f", b"f")?; // c e f
    dev.del(b"e").map_err(|e| format!("del: {e}"))?; // c f
    put(b"g")?; // room again: no eviction; c f g
    put(b"h")?; // evicts c: f g h
    expect_errno("c was least recently used", dev.get(b"c"), libc::ENOENT)?;
    let s = dev.stat().map_err(|e| format!("stat: {e}"))?;
    same("evictions", s.evictions, 4)?;
    same("curr_items", s.curr_items, 3)?;
    same("bytes_used", s.bytes_used, 6)
}

/// A dump is no use: the eviction order stays; a clear evicts nothing and
/// the order starts afresh after it.
pub fn dump_is_no_use(dev: &Dev) -> Outcome {
    for k in [b"a", b"b", b"c"] {
        ok("put", dev.put(k, k))?;
    }
    ok("get a", dev.get(b"a"))?; // least recent first: b c a
    let before = stat(dev)?;
    same("dump", contents(dev)?.len(), 3)?;
    same("a dump counts nothing", stat(dev)?, before)?;
    ok("put d", dev.put(b"d", b"d"))?; // evicts b, not whatever the dump read last
    expect_errno("b was evicted", dev.get(b"b"), libc::ENOENT)?;
    let keys: Vec<Vec<u8>> = contents(dev)?.into_keys().collect();
    same(
        "keys",
        keys,
        vec![b"a".to_vec(), b"c".to_vec(), b"d".to_vec()],
    )?;
    let evictions = stat(dev)?.evictions;
    same("one eviction", evictions, 1)?;
    ok("clear", dev.clear())?;
    same("clear evicts nothing", stat(dev)?.evictions, evictions)?;
    // After a clear the LRU order starts afresh.
    for k in [b"x", b"y", b"z", b"w"] {
        ok("put", dev.put(k, k))?;
    }
    expect_errno("x was evicted", dev.get(b"x"), libc::ENOENT)?;
    same("evictions", stat(dev)?.evictions, evictions + 1)
}
