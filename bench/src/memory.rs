//! Kernel memory per item: kvstore's, across loading kv.ko for the items,
//! and a BPF hash map's, across creating it for as many items and filling
//! it. Both are the growth of the kernel's used memory divided by the items,
//! counted as kv-peers counts it (`used_memory` in bench/peers.c).

use std::io;
use std::time::Duration;

use kv_test_support::{load_module, unload_module};

use crate::target::{BpfMap, MapKind, BPF_F_NO_PREALLOC};
use crate::{context, fill, kv_params, Cost, Memory, SizeResult};

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
/// `BPF_F_NO_PREALLOC` map's elements after RCU grace periods. Read once a
/// second until it no longer falls; an error if it still does after ten.
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

/// kvstore's memory per item across `insmod max_items=items` (it reserves
/// every slot at load), then that of BPF hash maps of `items` items at each
/// of `sizes` (key and value bytes), preallocated and `BPF_F_NO_PREALLOC`.
/// kv.ko is left loaded.
pub fn measure(module: &str, items: usize, sizes: &[(usize, usize)]) -> io::Result<Memory> {
    unload_module();
    let before = settled_used_memory()?;
    load_module(module, &kv_params(items, 0))?;
    let after = used_memory()?;
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
        bytes_per_item: per_item(before, after, items),
        payload_bytes: kv_module::abi::KV_MAX_KEY + kv_module::abi::KV_MAX_VAL,
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
