//! The table `make bench` prints, from the JSON that `ops`, `parallel`,
//! `hitratio` and `bench/peers-run` wrote in the guests, and the combined
//! JSON record.

use std::fmt::Write as _;
use std::io;

use serde::{Deserialize, Serialize};

use crate::hitratio::HitRatioReport;
use crate::memory::{KvMemory, Memory};
use crate::{Cost, OpsReport, ParallelReport, SizeResult};

#[derive(Serialize, Default)]
struct Record {
    ops: Option<OpsReport>,
    parallel: Option<ParallelReport>,
    hitratio: Option<HitRatioReport>,
    peers: Option<PeersReport>,
}

/// What `bench/peers-run` measured (kv-peers, bench/peers.c): kvstore and
/// its peers per op and their memory per item, one size at a time, on one
/// kernel.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PeersReport {
    pub kernel: String,
    pub sizes: Vec<PeersSize>,
}

/// One kv-peers run: its rows at one key size, value size and item count,
/// and what storing the items took in each target that was measured.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PeersSize {
    pub key_size: usize,
    pub value_size: usize,
    pub items: usize,
    pub rows: Vec<Cost>,
    #[serde(default)]
    pub memory: Vec<PeerMemory>,
}

/// A target's memory per item: the growth of what it holds, from empty to
/// the items stored, divided by the items (each target's method is one of
/// the lines under the table).
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PeerMemory {
    pub target: String,
    pub bytes_per_item: f64,
}

/// How kv-peers (and, for the BPF hash maps, kv-bench) measures each
/// target's memory, one line each, by the target's name.
const MEMORY_METHODS: [(&str, &str); 10] = [
    (
        "kvstore",
        "kernel memory (MemTotal - MemFree - per-CPU free pages) grown across insmod kv.ko max_items=ITEMS buckets=ITEMS",
    ),
    (
        "BPF hash prealloc",
        "kernel memory (as kvstore's) grown across creating a BPF_MAP_TYPE_HASH of max_entries=ITEMS, map_flags 0, and filling it",
    ),
    (
        "BPF hash prealloc memlock",
        "the filled map's own count of its memory: memlock in /proc/self/fdinfo/MAPFD",
    ),
    (
        "BPF hash BPF_F_NO_PREALLOC",
        "as BPF hash prealloc's, with map_flags BPF_F_NO_PREALLOC: each element allocated as it is inserted",
    ),
    (
        "BPF hash NO_PREALLOC memlock",
        "the memlock of the BPF_F_NO_PREALLOC map",
    ),
    (
        "memcached",
        "the server's resident memory (smaps_rollup Rss) grown from empty to the items stored: slab pages, hash table",
    ),
    (
        "Redis",
        "the server's resident memory (smaps_rollup Rss) grown from empty to the items stored (its allocator's held pages first)",
    ),
    (
        "Redis used_memory",
        "INFO used_memory grown across the fill: what its allocator handed out, no fragmentation",
    ),
    (
        "LMDB",
        "the data file's pages in use x page size grown across the fill: file-backed page cache, not process memory",
    ),
    (
        "LMDB MDB_NOLOCK",
        "the same as LMDB's, opened without its lock file",
    ),
];

impl PeersSize {
    /// The instruction rows, as one of kv-bench's sizes.
    fn instructions(&self) -> SizeResult {
        SizeResult {
            key_size: self.key_size,
            value_size: self.value_size,
            items: self.items,
            rows: self.rows.clone(),
        }
    }

    /// The memory figures as rows of one size, each named by its target.
    fn memory_rows(&self) -> SizeResult {
        SizeResult {
            key_size: self.key_size,
            value_size: self.value_size,
            items: self.items,
            rows: self
                .memory
                .iter()
                .map(|m| Cost::new(&m.target, "", m.bytes_per_item))
                .collect(),
        }
    }
}

fn find<'a>(rows: &'a [Cost], target: &str, op: &str) -> Option<&'a Cost> {
    rows.iter().find(|c| c.target == target && c.op == op)
}

/// An item count as the tables' headings show it: 1000 is 1k, 1000000 1M,
/// 1048576 1M too (2^20, the largest store kv.ko loads).
fn items_label(items: usize) -> String {
    if items >= 1 << 20 && items.is_multiple_of(1 << 20) {
        format!("{}M", items >> 20)
    } else if items >= 1_000_000 && items.is_multiple_of(1_000_000) {
        format!("{}M", items / 1_000_000)
    } else if items >= 1000 && items.is_multiple_of(1000) {
        format!("{}k", items / 1000)
    } else {
        items.to_string()
    }
}

fn size_label(s: &SizeResult) -> String {
    format!("{}/{} {}", s.key_size, s.value_size, items_label(s.items))
}

/// One row per target and op, in the order they were first measured, and
/// one column per size; the rows' (target, op) pairs in that order.
fn size_table(out: &mut String, sizes: &[SizeResult]) -> Vec<(String, String)> {
    let labels: Vec<String> = sizes.iter().map(size_label).collect();
    let _ = write!(out, "\n{:<40}", "key/value bytes, items");
    for l in &labels {
        let _ = write!(out, "{l:>15}");
    }
    out.push('\n');
    // Rows in the order they were first measured.
    let mut keys: Vec<(String, String)> = Vec::new();
    for c in sizes.iter().flat_map(|s| &s.rows) {
        let key = (c.target.clone(), c.op.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (target, op) in &keys {
        let label = if op.is_empty() {
            target.clone()
        } else {
            format!("{target} {op}")
        };
        let _ = write!(out, "{label:<40}");
        for s in sizes {
            match find(&s.rows, target, op) {
                Some(c) => {
                    let _ = write!(out, "{:>15.0}", c.value);
                }
                None => {
                    let _ = write!(out, "{:>15}", "-");
                }
            }
        }
        out.push('\n');
    }
    keys
}

/// Instructions per op: one row per target and op, one column per size.
pub fn ops_table(r: &OpsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Guest instructions per operation (QEMU -icount, 1 CPU, kernel {})",
        r.kernel
    );
    for f in &r.floors {
        let _ = writeln!(
            out,
            "  floor  {:<14} {:>8.0}",
            format!("{} {}", f.target, f.op),
            f.value
        );
    }
    let floor = r
        .floors
        .iter()
        .find(|f| f.target == "ioctl")
        .map(|f| f.value);
    let keys = size_table(&mut out, &r.sizes);
    let _ = writeln!(out, "\nRatios (lower is better)");
    let mut ratio_row = |name: String, f: &dyn Fn(&SizeResult) -> Option<f64>| {
        let _ = write!(out, "{name:<40}");
        for s in &r.sizes {
            match f(s) {
                Some(v) => {
                    let _ = write!(out, "{:>14.2}x", v);
                }
                None => {
                    let _ = write!(out, "{:>15}", "-");
                }
            }
        }
        out.push('\n');
    };
    let kv_targets: Vec<&String> = {
        let mut t: Vec<&String> = keys
            .iter()
            .map(|(t, _)| t)
            .filter(|t| t.starts_with("kvstore"))
            .collect();
        t.dedup();
        t
    };
    for t in &kv_targets {
        let policy = t.trim_start_matches("kvstore ");
        for (op, label) in [("get hit", "get hit"), ("put replace", "put replace")] {
            ratio_row(format!("{policy} {label} / ioctl floor"), &|s| {
                Some(find(&s.rows, t, op)?.value / floor?)
            });
        }
        // The same op at the same key and value size with the fewest items:
        // how the cost grows with the store.
        let smallest = |s: &SizeResult| {
            r.sizes
                .iter()
                .filter(|o| o.key_size == s.key_size && o.value_size == s.value_size)
                .min_by_key(|o| o.items)
        };
        ratio_row(format!("{policy} get hit / same at fewest items"), &|s| {
            Some(find(&s.rows, t, "get hit")?.value / find(&smallest(s)?.rows, t, "get hit")?.value)
        });
        for (op, base, label) in [
            ("put replace, TTL", "put replace", "TTL put / put"),
            ("get hit, version", "get hit", "get with version / get"),
            (
                "get hit, expiring",
                "get hit",
                "get of an expiring item / get",
            ),
            ("put replace, version", "put replace", "versioned put / put"),
            (
                "put insert, growing",
                "put insert",
                "growing insert / insert",
            ),
        ] {
            ratio_row(format!("{policy} {label}"), &|s| {
                Some(find(&s.rows, t, op)?.value / find(&s.rows, t, base)?.value)
            });
        }
        ratio_row(format!("{policy} 32 gets: batch / 32 ioctls"), &|s| {
            Some(
                find(&s.rows, t, "32 gets, one kv_batch")?.value
                    / find(&s.rows, t, "32 gets, 32 ioctls")?.value,
            )
        });
        for (op, bpf, label) in [
            ("get hit", "get hit", "get / BPF hash lookup"),
            ("put replace", "put replace", "put / BPF hash update"),
        ] {
            ratio_row(format!("{policy} {label}"), &|s| {
                Some(find(&s.rows, t, op)?.value / find(&s.rows, "BPF hash", bpf)?.value)
            });
        }
    }
    if let Some(m) = &r.memory {
        memory_table(&mut out, m);
    }
    with_notes(out, &r.notes)
}

/// One MiB, for the figures in bytes that are also shown in MiB.
const MIB: f64 = 1024.0 * 1024.0;

/// Labels of kvstore's rows in the memory tables.
const KV_PER_ITEM: &str = "kvstore";
const KV_STAT_PER_ITEM: &str = "kvstore stat memory";
const KV_INSMOD: &str = "kvstore insmod";
const KV_CLEARED: &str = "kvstore after kv_clear - after insmod";

/// A table column of `rows` for the size kvstore's memory `k` was measured at.
fn kvstore_column(k: &KvMemory, rows: Vec<Cost>) -> SizeResult {
    SizeResult {
        key_size: k.key_size,
        value_size: k.value_size,
        items: k.items,
        rows,
    }
}

/// kvstore's kernel memory per item at each key and value size beside the
/// BPF hash maps' at the same items (one row per target, one column per
/// size, and the method of each row); then kvstore's whole-store figures
/// in bytes: its load and what a clear leaves, at the same sizes, and the
/// load of the largest store.
fn memory_table(out: &mut String, m: &Memory) {
    // The columns: kvstore's sizes, then any other the BPF maps have.
    let mut sizes: Vec<SizeResult> = m
        .kvstore
        .iter()
        .map(|k| {
            kvstore_column(
                k,
                vec![
                    Cost::new(KV_PER_ITEM, "", k.filled_bytes / k.items as f64),
                    Cost::new(KV_STAT_PER_ITEM, "", k.stat_memory as f64 / k.items as f64),
                ],
            )
        })
        .collect();
    for b in &m.bpf {
        let same = |s: &&mut SizeResult| {
            (s.key_size, s.value_size, s.items) == (b.key_size, b.value_size, b.items)
        };
        match sizes.iter_mut().find(same) {
            Some(s) => s.rows.extend(b.rows.iter().cloned()),
            None => sizes.push(b.clone()),
        }
    }
    let _ = write!(
        out,
        "\nKernel memory per item in bytes at {} items: what storing the items took, divided by the items",
        m.max_items
    );
    let targets = size_table(out, &sizes);
    let measured = |name: &str| targets.iter().any(|(t, _)| t == name);
    if measured(KV_PER_ITEM) {
        let _ = writeln!(
            out,
            "memory: {KV_PER_ITEM}: kernel memory (MemTotal - MemFree - per-CPU free pages) grown across insmod kv.ko \
             buckets=ITEMS max_items=ITEMS use_lru=0 and putting the items, buckets included, less kv.ko's own code \
             and data ({:.0} bytes: the growth across insmod buckets=1 max_items=1)",
            m.module_bytes
        );
    }
    if measured(KV_STAT_PER_ITEM) {
        let _ = writeln!(
            out,
            "memory: {KV_STAT_PER_ITEM}: the stat ioctl's memory with the items stored (the store's own sum of \
             its allocations' sizes, chunks included, not the pages they take)"
        );
    }
    for (name, method) in MEMORY_METHODS {
        if name != "kvstore" && measured(name) {
            let _ = writeln!(out, "memory: {name}: {method}");
        }
    }

    let _ = write!(
        out,
        "\nkvstore's kernel memory in bytes, less kv.ko's own code and data"
    );
    let stores: Vec<SizeResult> = m
        .kvstore
        .iter()
        .map(|k| {
            kvstore_column(
                k,
                vec![
                    Cost::new(KV_INSMOD, "", k.insmod_bytes),
                    Cost::new(KV_CLEARED, "", k.cleared_bytes),
                ],
            )
        })
        .collect();
    size_table(out, &stores);
    let i = &m.insmod_max;
    let label = format!("{KV_INSMOD} {}", items_label(i.max_items as usize));
    let _ = writeln!(
        out,
        "{label:<40}{:>15.0} bytes, {:.2} MiB",
        i.bytes,
        i.bytes / MIB
    );
    let _ = writeln!(
        out,
        "memory: {KV_INSMOD}: used memory grown across insmod kv.ko buckets=ITEMS max_items=ITEMS use_lru=0 \
         (the buckets, the block directory, per-CPU counters), less kv.ko's own code and data"
    );
    let _ = writeln!(
        out,
        "memory: {KV_CLEARED}: used memory after putting the items and a kv_clear, less used memory after the insmod (once settled)"
    );
    let _ = writeln!(
        out,
        "memory: {label}: the same growth as {KV_INSMOD}'s across insmod kv.ko buckets={} max_items={}, the largest store",
        i.buckets, i.max_items
    );
}

/// kvstore beside its peers: one row per target and op, one column per
/// size; then one row per target of memory per item, and its methods.
pub fn peers_table(r: &PeersReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "The peers: guest instructions per operation (QEMU -icount, 1 CPU, kernel {}, its\n\
         mitigations on); memcached and Redis count client, kernel and server",
        r.kernel
    );
    let sizes: Vec<SizeResult> = r.sizes.iter().map(PeersSize::instructions).collect();
    size_table(&mut out, &sizes);
    if r.sizes.iter().all(|s| s.memory.is_empty()) {
        return out;
    }
    let _ = write!(
        out,
        "\nMemory per item in bytes: what storing the items took, divided by the items"
    );
    let memory: Vec<SizeResult> = r.sizes.iter().map(PeersSize::memory_rows).collect();
    let targets = size_table(&mut out, &memory);
    for (name, method) in MEMORY_METHODS {
        let measured = targets.iter().any(|(t, _)| t == name);
        if measured {
            let _ = writeln!(out, "memory: {name}: {method}");
        }
    }
    out
}

/// A table followed by its notes, one `note:` line each.
fn with_notes(mut out: String, notes: &[String]) -> String {
    for n in notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// Ops per second with 1 and 2 threads and their ratio.
pub fn parallel_table(r: &ParallelReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Parallel throughput ({} CPUs, no icount, {} s per run, best of alternating runs, kernel {})",
        r.cpus, r.seconds, r.kernel
    );
    let _ = writeln!(
        out,
        "{:<32}{:<20}{:>14}{:>14}{:>10}",
        "target", "mix", "1 thread/s", "2 threads/s", "2 / 1"
    );
    for s in &r.rows {
        let _ = writeln!(
            out,
            "{:<32}{:<20}{:>14.0}{:>14.0}{:>9.2}x",
            s.target,
            s.mix,
            s.one_thread,
            s.two_threads,
            s.two_threads / s.one_thread
        );
    }
    with_notes(out, &r.notes)
}

/// Miss ratio: one row per stream, one column per target.
pub fn hitratio_table(r: &HitRatioReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Miss ratio (cache-aside: get, put on a miss; capacity {} items, Zipf over {} keys, {} Zipf requests per stream, a scan's own misses not counted, kernel {})",
        r.capacity, r.keys, r.requests, r.kernel
    );
    let targets = ["LRU", "SIEVE", "BPF LRU hash"];
    let _ = write!(out, "{:<28}", "stream");
    for t in targets {
        let _ = write!(out, "{t:>14}");
    }
    out.push('\n');
    for stream in &r.streams {
        let _ = write!(out, "{stream:<28}");
        for t in targets {
            match r.rows.iter().find(|m| &m.stream == stream && m.target == t) {
                Some(m) => {
                    let _ = write!(out, "{:>13.2}%", 100.0 * m.ratio());
                }
                None => {
                    let _ = write!(out, "{:>14}", "-");
                }
            }
        }
        out.push('\n');
    }
    with_notes(out, &r.notes)
}

pub fn run(files: &[String], json_out: Option<&str>) -> io::Result<()> {
    let mut record = Record::default();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| io::Error::new(e.kind(), format!("{f}: {e}")))?;
        if let Ok(ops) = serde_json::from_str::<OpsReport>(&text) {
            print!("{}", ops_table(&ops));
            record.ops = Some(ops);
        } else if let Ok(par) = serde_json::from_str::<ParallelReport>(&text) {
            print!("\n{}", parallel_table(&par));
            record.parallel = Some(par);
        } else if let Ok(peers) = serde_json::from_str::<PeersReport>(&text) {
            print!("\n{}", peers_table(&peers));
            record.peers = Some(peers);
        } else {
            let hit: HitRatioReport = serde_json::from_str(&text).map_err(|e| {
                io::Error::other(format!(
                    "{f}: not an ops, parallel, peers or hitratio report: {e}"
                ))
            })?;
            print!("\n{}", hitratio_table(&hit));
            record.hitratio = Some(hit);
        }
    }
    if let Some(path) = json_out {
        let json = serde_json::to_string_pretty(&record).map_err(io::Error::other)?;
        std::fs::write(path, json + "\n")
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEERS: &str = r#"{"kernel": "7.2.12+deb13-amd64", "sizes": [
{"key_size": 16, "value_size": 64, "items": 1000, "rows": [
    {"target": "kvstore", "op": "get hit", "value": 1104.4},
    {"target": "LMDB", "op": "get hit", "value": 1340.0}
]},
{"key_size": 64, "value_size": 256, "items": 100000, "rows": [
    {"target": "kvstore", "op": "get hit", "value": 1362.0}
]}]}"#;

    #[test]
    fn the_peers_report_is_a_table_of_sizes() {
        let peers: PeersReport = serde_json::from_str(PEERS).expect("a peers report");
        let table = peers_table(&peers);
        assert!(table.contains("kernel 7.2.12+deb13-amd64"), "{table}");
        let lines: Vec<&str> = table.lines().collect();
        let row = |name: &str| -> Vec<&str> {
            let line = lines.iter().find(|l| l.starts_with(name)).expect(name);
            line[40..].split_whitespace().collect()
        };
        assert_eq!(
            row("key/value bytes, items"),
            ["16/64", "1k", "64/256", "100k"]
        );
        assert_eq!(row("kvstore get hit"), ["1104", "1362"]);
        assert_eq!(row("LMDB get hit"), ["1340", "-"]);
    }

    const PEERS_WITH_MEMORY: &str = r#"{"kernel": "7.2.12+deb13-amd64", "sizes": [
{"key_size": 16, "value_size": 64, "items": 1000, "rows": [
    {"target": "kvstore", "op": "get hit", "value": 1104.4},
    {"target": "LMDB", "op": "get hit", "value": 1340.0}
], "memory": [
    {"target": "kvstore", "bytes_per_item": 812.6},
    {"target": "memcached", "bytes_per_item": 1577.0},
    {"target": "Redis used_memory", "bytes_per_item": 202.2},
    {"target": "LMDB", "bytes_per_item": 98.3}
]},
{"key_size": 16, "value_size": 64, "items": 100000, "rows": [
    {"target": "kvstore", "op": "get hit", "value": 1105.0}
], "memory": [
    {"target": "kvstore", "bytes_per_item": 457.2}
]}]}"#;

    /// The index of the first of `lines` that starts with `start`.
    fn line_of(lines: &[&str], start: &str) -> usize {
        lines
            .iter()
            .position(|l| l.starts_with(start))
            .expect(start)
    }

    /// The cells after the label of the first row at or after line `from`
    /// that starts with `name`.
    fn cells<'a>(lines: &[&'a str], from: usize, name: &str) -> Vec<&'a str> {
        let line = lines[from..]
            .iter()
            .find(|l| l.starts_with(name))
            .expect(name);
        line[40..].split_whitespace().collect()
    }

    /// The target of each "memory: TARGET: method" line, in order.
    fn memory_methods<'a>(lines: &[&'a str]) -> Vec<&'a str> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix("memory: "))
            .map(|l| l.split(':').next().unwrap_or(""))
            .collect()
    }

    #[test]
    fn the_peers_memory_is_a_table_of_sizes_with_its_methods() {
        let peers: PeersReport = serde_json::from_str(PEERS_WITH_MEMORY).expect("a peers report");
        let table = peers_table(&peers);
        let lines: Vec<&str> = table.lines().collect();
        let title = line_of(&lines, "Memory per item in bytes");
        // The instruction rows come first, as without memory.
        let get = line_of(&lines, "kvstore get hit");
        assert!(get < title, "{table}");
        let row = |name: &str| cells(&lines, title, name);
        assert_eq!(lines[title + 1], lines[get - 1], "the same size columns");
        assert_eq!(
            row("key/value bytes, items"),
            ["16/64", "1k", "16/64", "100k"]
        );
        assert_eq!(row("kvstore "), ["813", "457"]);
        assert_eq!(row("memcached "), ["1577", "-"]);
        assert_eq!(row("LMDB "), ["98", "-"]);
        assert_eq!(row("Redis used_memory "), ["202", "-"]);
        assert!(
            !lines[title..].iter().any(|l| l.starts_with("Redis  ")),
            "{table}"
        );
        // One method line per target measured, none for Redis's resident
        // memory.
        assert_eq!(
            memory_methods(&lines),
            ["kvstore", "memcached", "Redis used_memory", "LMDB"],
            "{table}"
        );
    }

    #[test]
    fn a_peers_report_without_memory_has_no_memory_table() {
        let peers: PeersReport = serde_json::from_str(PEERS).expect("a peers report");
        assert!(peers.sizes.iter().all(|s| s.memory.is_empty()));
        let table = peers_table(&peers);
        assert!(!table.contains("Memory per item"), "{table}");
        assert!(!table.contains("memory:"), "{table}");
    }

    #[test]
    fn unknown_fields_of_a_peers_size_or_memory_are_refused() {
        let in_size =
            PEERS_WITH_MEMORY.replacen(r#""items": 1000,"#, r#""items": 1000, "cpus": 1,"#, 1);
        assert!(serde_json::from_str::<PeersReport>(&in_size).is_err());
        let in_memory =
            PEERS_WITH_MEMORY.replacen(r#""bytes_per_item": 98.3"#, r#""bytes": 98.3"#, 1);
        assert!(serde_json::from_str::<PeersReport>(&in_memory).is_err());
        // The report round-trips through bench.json's record.
        let peers: PeersReport = serde_json::from_str(PEERS_WITH_MEMORY).expect("a peers report");
        let json = serde_json::to_string(&peers).expect("serialized");
        let back: PeersReport = serde_json::from_str(&json).expect("read back");
        assert_eq!(back.sizes[0].memory[3].target, "LMDB");
        assert_eq!(back.sizes[0].memory[3].bytes_per_item, 98.3);
    }

    const OPS_WITH_MEMORY: &str = r#"{"kernel": "7.2.12", "floors": [], "sizes": [],
"memory": {"max_items": 100000, "module_bytes": 286720.0,
"kvstore": [
    {"key_size": 16, "value_size": 64, "items": 100000, "buckets": 100000,
     "insmod_bytes": 1249280.0, "filled_bytes": 11812864.0, "stat_memory": 11520512,
     "cleared_bytes": 4096.0},
    {"key_size": 8, "value_size": 8, "items": 100000, "buckets": 100000,
     "insmod_bytes": 1253376.0, "filled_bytes": 5271552.0, "stat_memory": 5216256,
     "cleared_bytes": -8192.0}
],
"insmod_max": {"buckets": 1048576, "max_items": 1048576, "bytes": 13107200.0},
"bpf": [
{"key_size": 16, "value_size": 64, "items": 100000, "rows": [
    {"target": "BPF hash prealloc", "op": "", "value": 150.2},
    {"target": "BPF hash prealloc memlock", "op": "", "value": 149.0},
    {"target": "BPF hash BPF_F_NO_PREALLOC", "op": "", "value": 215.7},
    {"target": "BPF hash NO_PREALLOC memlock", "op": "", "value": 158.0}
]},
{"key_size": 8, "value_size": 8, "items": 100000, "rows": [
    {"target": "BPF hash prealloc", "op": "", "value": 90.0}
]},
{"key_size": 64, "value_size": 256, "items": 100000, "rows": [
    {"target": "BPF hash prealloc", "op": "", "value": 400.0}
]}]}, "notes": []}"#;

    #[test]
    fn the_memory_per_item_is_kvstores_beside_the_bpf_maps() {
        let ops: OpsReport = serde_json::from_str(OPS_WITH_MEMORY).expect("an ops report");
        let table = ops_table(&ops);
        let lines: Vec<&str> = table.lines().collect();
        let title = line_of(&lines, "Kernel memory per item in bytes at 100000 items");
        let row = |name: &str| cells(&lines, title, name);
        // kvstore's sizes first, then the one only the BPF maps have.
        assert_eq!(
            row("key/value bytes, items"),
            ["16/64", "100k", "8/8", "100k", "64/256", "100k"]
        );
        // The growth across insmod and the fill, per item; the stat's
        // memory per item.
        assert_eq!(row("kvstore  "), ["118", "53", "-"]);
        assert_eq!(row("kvstore stat memory "), ["115", "52", "-"]);
        assert_eq!(row("BPF hash prealloc "), ["150", "90", "400"]);
        assert_eq!(row("BPF hash BPF_F_NO_PREALLOC "), ["216", "-", "-"]);
        assert_eq!(row("BPF hash NO_PREALLOC memlock "), ["158", "-", "-"]);
        assert_eq!(
            memory_methods(&lines),
            [
                "kvstore",
                "kvstore stat memory",
                "BPF hash prealloc",
                "BPF hash prealloc memlock",
                "BPF hash BPF_F_NO_PREALLOC",
                "BPF hash NO_PREALLOC memlock",
                "kvstore insmod",
                "kvstore after kv_clear - after insmod",
                "kvstore insmod 1M",
            ],
            "{table}"
        );
        // kvstore's method names kv.ko's own code and data, taken out.
        let method = lines[line_of(&lines, "memory: kvstore: ")];
        assert!(
            method.contains("(286720 bytes: the growth across insmod buckets=1 max_items=1)"),
            "{method}"
        );
    }

    #[test]
    fn the_whole_store_figures_are_in_bytes_at_the_same_sizes() {
        let ops: OpsReport = serde_json::from_str(OPS_WITH_MEMORY).expect("an ops report");
        let table = ops_table(&ops);
        let lines: Vec<&str> = table.lines().collect();
        let title = line_of(&lines, "kvstore's kernel memory in bytes");
        assert!(title > line_of(&lines, "Kernel memory per item"), "{table}");
        let row = |name: &str| cells(&lines, title, name);
        assert_eq!(
            row("key/value bytes, items"),
            ["16/64", "100k", "8/8", "100k"]
        );
        assert_eq!(row("kvstore insmod  "), ["1249280", "1253376"]);
        assert_eq!(
            row("kvstore after kv_clear - after insmod "),
            ["4096", "-8192"]
        );
        assert_eq!(
            row("kvstore insmod 1M "),
            ["13107200", "bytes,", "12.50", "MiB"]
        );
        let method = lines[line_of(&lines, "memory: kvstore insmod 1M: ")];
        assert!(
            method.contains("buckets=1048576 max_items=1048576"),
            "{method}"
        );
    }

    #[test]
    fn the_memory_report_round_trips_through_the_record() {
        let ops: OpsReport = serde_json::from_str(OPS_WITH_MEMORY).expect("an ops report");
        let json = serde_json::to_string(&ops).expect("serialized");
        let back: OpsReport = serde_json::from_str(&json).expect("read back");
        let m = back.memory.expect("memory");
        assert_eq!(m.kvstore[1].key_size, 8);
        assert_eq!(m.kvstore[1].stat_memory, 5216256);
        assert_eq!(m.kvstore[1].cleared_bytes, -8192.0);
        assert_eq!(m.insmod_max.bytes, 13107200.0);
        assert_eq!(m.module_bytes, 286720.0);
    }

    const OPS_WITH_GROWING: &str = r#"{"kernel": "7.2.12", "floors": [
    {"target": "ioctl", "op": "ENOTTY", "value": 300.0}],
"sizes": [
{"key_size": 16, "value_size": 64, "items": 1000, "rows": [
    {"target": "kvstore use_lru=0", "op": "put insert", "value": 890.0},
    {"target": "kvstore use_lru=0", "op": "put insert, growing", "value": 1001.0},
    {"target": "kvstore use_lru=0", "op": "del", "value": 700.0}
]},
{"key_size": 16, "value_size": 64, "items": 100000, "rows": [
    {"target": "kvstore use_lru=0", "op": "put insert", "value": 891.0},
    {"target": "kvstore use_lru=0", "op": "put insert, growing", "value": 980.0}
]}], "memory": null, "notes": []}"#;

    #[test]
    fn the_growing_insert_is_a_row_beside_the_insert_and_a_ratio() {
        let ops: OpsReport = serde_json::from_str(OPS_WITH_GROWING).expect("an ops report");
        let table = ops_table(&ops);
        let lines: Vec<&str> = table.lines().collect();
        let insert = line_of(&lines, "kvstore use_lru=0 put insert  ");
        let growing = line_of(&lines, "kvstore use_lru=0 put insert, growing ");
        assert_eq!(growing, insert + 1, "{table}");
        assert_eq!(
            cells(&lines, 0, "kvstore use_lru=0 put insert, growing "),
            ["1001", "980"]
        );
        assert_eq!(
            cells(&lines, 0, "use_lru=0 growing insert / insert "),
            ["1.12x", "1.10x"]
        );
        assert!(!table.contains("Kernel memory"), "{table}");
    }

    #[test]
    fn an_ops_report_is_not_taken_for_the_peers() {
        let ops = r#"{"kernel": "k", "floors": [], "sizes": [], "memory": null, "notes": []}"#;
        assert!(serde_json::from_str::<PeersReport>(ops).is_err());
        assert!(serde_json::from_str::<OpsReport>(PEERS).is_err());
    }
}
