//! Kernel memory: kvstore's, across loading kv.ko and inserting the items,
//! what a `kv_clear` gives back and what a load of the largest store takes;
//! and a BPF hash map's, across creating it for as many items and filling
//! it. Each is a growth of the kernel's used memory, counted as kv-peers
//! counts it (`used_memory` in bench/peers.c).

use std::io;
use std::time::Duration;

use kv_test_support::{load_module, unload_module};

use crate::target::{self, BpfMap, MapKind, BPF_F_NO_PREALLOC};
use crate::{context, fill, Cost, SizeResult};

use serde::{Deserialize, Serialize};

/// Used memory in bytes: MemTotal - MemFree, with the CPUs' pending
/// counts folded into MemFree first (`vm.stat_refresh`), less the pages
/// free on the CPUs' own free lists (the `count` of `/proc/zoneinfo`'s
/// pagesets), which MemFree leaves out: an allocation served from those
/// lists does not show in MemFree, and a large free shows in it only when
/// a CPU hands the pages back.
pub fn used_memory() -> io::Result<u64> {
    // Only root may refresh; without it MemFree is a little less exact, so
    // a refusal is not an error.
    let _ = std::fs::write("/proc/sys/vm/stat_refresh", "1");
    let info = std::fs::read_to_string("/proc/meminfo").map_err(context("/proc/meminfo"))?;
    let field = |name: &str| -> io::Result<u64> {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| io::Error::other(format!("/proc/meminfo has no {name}")))
    };
    let used = field("MemTotal:")?.saturating_sub(field("MemFree:")?);
    Ok(used.saturating_sub(pcp_free_bytes()?))
}

/// The pages free on the CPUs' own free lists, in bytes.
fn pcp_free_bytes() -> io::Result<u64> {
    let zoneinfo = std::fs::read_to_string("/proc/zoneinfo").map_err(context("/proc/zoneinfo"))?;
    let pages: u64 = zoneinfo
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("count:"))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let page_size =
        u64::try_from(page_size).map_err(|_| io::Error::other("sysconf(_SC_PAGESIZE) failed"))?;
    Ok(pages * page_size)
}

/// How much the used memory may still fall between two reads a second
/// apart for it to count as settled.
const SETTLED_BYTES: u64 = 256 * 1024;

/// The used memory once the kernel has finished the frees it defers: a BPF
/// map is freed by a worker after its last file descriptor is closed, a
/// `BPF_F_NO_PREALLOC` map's elements after RCU grace periods, an unloaded
/// module's memory and a loaded one's init sections after RCU grace
/// periods. Read once a second until it no longer falls; an error if it
/// still does after ten.
fn settled_used_memory() -> io::Result<u64> {
    let mut last = used_memory()?;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_secs(1));
        let now = used_memory()?;
        if now + SETTLED_BYTES >= last {
            return Ok(now);
        }
        last = now;
    }
    Err(io::Error::other(
        "the kernel's used memory still falls after 10 s: no baseline",
    ))
}

/// Bytes per item of a growth from `before` to `after` (negative if the
/// kernel freed more than the target took meanwhile, which shows a blurred
/// measurement rather than hiding it).
fn per_item(before: u64, after: u64, items: usize) -> f64 {
    (after as f64 - before as f64) / items as f64
}

/// `after - before` in bytes, negative if the used memory fell.
fn growth(before: u64, after: u64) -> f64 {
    after as f64 - before as f64
}

/// The largest store kv.ko loads: a bucket and an item of capacity for
/// each of 2^20 (`MAX_BUCKETS`, `MAX_ITEMS`).
const MAX_STORE: u32 = 1 << 20;

/// What the memory part of `ops` measured.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Memory {
    /// Items stored in each kvstore and BPF map measured.
    pub max_items: usize,
    /// kv.ko's own code and data: the growth of used memory across
    /// `insmod buckets=1 max_items=1`, which every kvstore figure here
    /// leaves out.
    pub module_bytes: f64,
    /// kvstore at each key and value size.
    pub kvstore: Vec<KvMemory>,
    /// The growth across `insmod buckets=MAX_STORE max_items=MAX_STORE`,
    /// less `module_bytes`.
    pub insmod_max: InsmodMemory,
    /// BPF hash maps of `max_items` items, one size per key and value size:
    /// their growth across creating and filling them and their own
    /// `memlock` figures, per item, one row each.
    pub bpf: Vec<SizeResult>,
}

/// kvstore holding `items` items of one key and value size, in bytes.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct KvMemory {
    pub key_size: usize,
    pub value_size: usize,
    pub items: usize,
    /// The module parameter `buckets` (the same as `max_items`, `items`).
    pub buckets: usize,
    /// The growth across `insmod`, less kv.ko's own code and data.
    pub insmod_bytes: f64,
    /// The growth across `insmod` and putting the items, less kv.ko's own
    /// code and data.
    pub filled_bytes: f64,
    /// The stat ioctl's `memory` with the items stored: the store's own
    /// count of its allocations (sizes, not pages).
    pub stat_memory: u64,
    /// Used memory after a `kv_clear` of the items less used memory right
    /// after `insmod`.
    pub cleared_bytes: f64,
}

/// The load of one store of `buckets` buckets and `max_items` capacity.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct InsmodMemory {
    pub buckets: u32,
    pub max_items: u32,
    /// The growth across that `insmod`, less kv.ko's own code and data.
    pub bytes: f64,
}

/// kv.ko's parameters for the memory figures: a bucket per item of
/// capacity, no eviction.
fn params(buckets: usize, items: usize) -> String {
    format!("buckets={buckets} max_items={items} use_lru=0")
}

/// The growth of settled used memory across loading kv.ko with `params`,
/// from a baseline with kv.ko unloaded; kv.ko stays loaded.
fn insmod_growth(module: &str, params: &str) -> io::Result<(u64, f64)> {
    unload_module();
    let before = settled_used_memory()?;
    load_module(module, params)?;
    let after = settled_used_memory()?;
    Ok((before, growth(before, after)))
}

/// kvstore with `items` items of `key_size` and `value_size` bytes: loaded
/// for them, filled, its stat read, cleared.
fn kvstore(
    module: &str,
    module_bytes: f64,
    items: usize,
    (key_size, value_size): (usize, usize),
) -> io::Result<KvMemory> {
    let (before, insmod) = insmod_growth(module, &params(items, items))?;
    let after_insmod = before as f64 + insmod;
    let kv = target::open()?;
    fill(&kv, items, key_size, value_size).map_err(context("filling kvstore"))?;
    let filled = used_memory()?;
    let stat = target::stat(&kv)?;
    if stat.curr_items as usize != items {
        return Err(io::Error::other(format!(
            "kvstore holds {} items, not the {items} put",
            stat.curr_items
        )));
    }
    kv.clear()
        .map_err(io::Error::from_raw_os_error)
        .map_err(context("kv_clear"))?;
    // The clear's chunks are freed a grace period after it returns: the
    // reading once the used memory no longer falls.
    let cleared = settled_used_memory()?;
    Ok(KvMemory {
        key_size,
        value_size,
        items,
        buckets: items,
        insmod_bytes: insmod - module_bytes,
        filled_bytes: growth(before, filled) - module_bytes,
        stat_memory: stat.memory,
        cleared_bytes: cleared as f64 - after_insmod,
    })
}

/// kv.ko's own code and data, then kvstore's memory at `items` items of each
/// of `sizes` (key and value bytes), the load of the largest store, and BPF
/// hash maps of `items` items at each size, preallocated and
/// `BPF_F_NO_PREALLOC`. kv.ko is left unloaded.
pub fn measure(module: &str, items: usize, sizes: &[(usize, usize)]) -> io::Result<Memory> {
    let (_, module_bytes) = insmod_growth(module, &params(1, 1))?;
    let mut kvstores = Vec::new();
    for &size in sizes {
        kvstores.push(
            kvstore(module, module_bytes, items, size)
                .map_err(context(&format!("kvstore {}/{} memory", size.0, size.1)))?,
        );
    }
    let (_, max) = insmod_growth(module, &params(MAX_STORE as usize, MAX_STORE as usize))?;
    let insmod_max = InsmodMemory {
        buckets: MAX_STORE,
        max_items: MAX_STORE,
        bytes: max - module_bytes,
    };
    unload_module();
    let mut bpf = Vec::new();
    for &(key_size, value_size) in sizes {
        let mut rows = Vec::new();
        for (flags, name, memlock_name) in [
            (0, "BPF hash prealloc", "BPF hash prealloc memlock"),
            (
                BPF_F_NO_PREALLOC,
                "BPF hash BPF_F_NO_PREALLOC",
                "BPF hash NO_PREALLOC memlock",
            ),
        ] {
            let (grown, memlock) = bpf_hash(key_size, value_size, items, flags)
                .map_err(context(&format!("{name} memory")))?;
            rows.push(Cost::new(name, "", grown));
            rows.push(Cost::new(memlock_name, "", memlock));
        }
        bpf.push(SizeResult {
            key_size,
            value_size,
            items,
            rows,
        });
    }
    Ok(Memory {
        max_items: items,
        module_bytes,
        kvstore: kvstores,
        insmod_max,
        bpf,
    })
}

/// A `BPF_MAP_TYPE_HASH` of `max_entries = items` with `map_flags`, created
/// and filled: the kernel memory that took and the map's own `memlock`
/// figure, each per item. The map is closed afterwards; the next baseline
/// waits for its free.
fn bpf_hash(
    key_size: usize,
    value_size: usize,
    items: usize,
    flags: u32,
) -> io::Result<(f64, f64)> {
    let before = settled_used_memory()?;
    let map = BpfMap::create_with_flags(MapKind::Hash, key_size, value_size, items, flags)
        .map_err(context("creating the map"))?;
    fill(&map, items, key_size, value_size).map_err(context("filling the map"))?;
    let after = used_memory()?;
    let memlock = map.memlock()?;
    Ok((
        per_item(before, after, items),
        memlock as f64 / items as f64,
    ))
}
