//! What the tests read of the store as a whole: every item through dumps,
//! the item count, and emptying it between tests.

use std::collections::BTreeMap;

use kv_module::abi::{KvOp, KvPair, KvUsageStat, KV_MAX_KEY, KV_MAX_VAL};
use kv_test_support::{ensure, ok, same, Dev, Outcome};

/// The store's items, key to value.
pub type Items = BTreeMap<Vec<u8>, Vec<u8>>;

/// A kernel address: every pointer argument there must fail with EFAULT.
pub const KERNEL_ADDR: usize = 0xffff_ffff_8100_0000;

/// A dumped pair's key and value, checked: lengths in range, nothing past
/// them.
fn pair_bytes(p: &KvPair) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (k, v) = (p.key.len as usize, p.value.len as usize);
    ensure!(
        (1..=KV_MAX_KEY).contains(&k) && v <= KV_MAX_VAL,
        "dumped lengths {k}/{v}"
    );
    ensure!(
        p.key.data[k..].iter().all(|&b| b == 0) && p.value.data[v..].iter().all(|&b| b == 0),
        "dumped pair has bytes past its lengths"
    );
    Ok((p.key.data[..k].to_vec(), p.value.data[..v].to_vec()))
}

/// Every item through dump pages of `page` pairs (growing on ENOSPC); an
/// error if a key comes twice.
pub fn dump_all(dev: &Dev, page: usize) -> Result<Items, String> {
    let mut items = Items::new();
    let mut room = vec![KvPair::ZERO; page];
    let mut cursor = 0u64;
    loop {
        let mut count = room.len() as u32;
        match dev.dump_page(&mut cursor, &mut room, &mut count) {
            Ok(()) if count == 0 => return Ok(items),
            Ok(()) => {
                ensure!(count as usize <= room.len(), "count {count} above the room");
                for p in &room[..count as usize] {
                    let (k, v) = pair_bytes(p)?;
                    ensure!(items.insert(k.clone(), v).is_none(), "key {k:?} came twice");
                }
            }
            Err(libc::ENOSPC) => {
                ensure!(
                    count as usize > room.len(),
                    "ENOSPC asks for {count}, room is {}",
                    room.len()
                );
                room.resize(count as usize, KvPair::ZERO);
            }
            Err(e) => return Err(format!("dump: errno {e}")),
        }
    }
}

/// The items of the store, through a big enough dump.
pub fn contents(dev: &Dev) -> Result<Items, String> {
    dump_all(dev, 4096)
}

/// The number of items, from stat.
pub fn item_count(dev: &Dev) -> Result<u32, String> {
    ok("stat", dev.stat()).map(|s| s.curr_items)
}

/// Clears the store and checks it is empty.
pub fn empty_store(dev: &Dev) -> Outcome {
    ok("clear", dev.clear())?;
    same("curr_items", item_count(dev)?, 0)
}

/// Runs `ops` in one batch, which must run them all; each op's result.
pub fn batch_results(dev: &Dev, ops: &mut [KvOp]) -> Result<Vec<i32>, String> {
    same(
        "batch returns the count",
        dev.batch(ops),
        Ok(ops.len() as i32),
    )?;
    Ok(ops.iter().map(|o| o.result).collect())
}

/// Puts `count` keys `{prefix}0`, `{prefix}1`, ..., each with the value "v".
pub fn put_numbered(dev: &Dev, prefix: &str, count: u32) -> Outcome {
    for i in 0..count {
        ok("put", dev.put(format!("{prefix}{i}").as_bytes(), b"v"))?;
    }
    Ok(())
}

/// The store's counters, or a failure naming the errno.
pub fn stat(dev: &Dev) -> Result<KvUsageStat, String> {
    ok("stat", dev.stat())
}
