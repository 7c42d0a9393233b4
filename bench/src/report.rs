//! The table `make bench` prints, from the JSON that `ops` and `parallel`
//! wrote in the guest, and the combined JSON record.

use std::fmt::Write as _;
use std::io;

use serde::Serialize;

use crate::hitratio::HitRatioReport;
use crate::{Cost, OpsReport, ParallelReport, SizeResult};

#[derive(Serialize, Default)]
struct Record {
    ops: Option<OpsReport>,
    parallel: Option<ParallelReport>,
    hitratio: Option<HitRatioReport>,
}

fn find<'a>(rows: &'a [Cost], target: &str, op: &str) -> Option<&'a Cost> {
    rows.iter().find(|c| c.target == target && c.op == op)
}

fn size_label(s: &SizeResult) -> String {
    let items = if s.items >= 1_000_000 && s.items.is_multiple_of(1_000_000) {
        format!("{}M", s.items / 1_000_000)
    } else if s.items >= 1000 && s.items.is_multiple_of(1000) {
        format!("{}k", s.items / 1000)
    } else {
        s.items.to_string()
    };
    format!("{}/{} {}", s.key_size, s.value_size, items)
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
    let labels: Vec<String> = r.sizes.iter().map(size_label).collect();
    let _ = write!(out, "\n{:<40}", "key/value bytes, items");
    for l in &labels {
        let _ = write!(out, "{l:>15}");
    }
    out.push('\n');
    // Rows in the order they were first measured.
    let mut keys: Vec<(String, String)> = Vec::new();
    for c in r.sizes.iter().flat_map(|s| &s.rows) {
        let key = (c.target.clone(), c.op.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (target, op) in &keys {
        let _ = write!(out, "{:<40}", format!("{target} {op}"));
        for s in &r.sizes {
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
        let _ = writeln!(
            out,
            "\nKernel memory per item at max_items={}: {:.0} bytes (an item holds up to {} bytes of key and value)",
            m.max_items, m.bytes_per_item, m.payload_bytes
        );
    }
    with_notes(out, &r.notes)
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
        "Parallel throughput ({} CPUs, no icount, {} s per run, median of alternating runs, kernel {})",
        r.cpus, r.seconds, r.kernel
    );
    let _ = writeln!(
        out,
        "{:<22}{:<20}{:>14}{:>14}{:>10}",
        "target", "mix", "1 thread/s", "2 threads/s", "2 / 1"
    );
    for s in &r.rows {
        let _ = writeln!(
            out,
            "{:<22}{:<20}{:>14.0}{:>14.0}{:>9.2}x",
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
        } else {
            let hit: HitRatioReport = serde_json::from_str(&text).map_err(|e| {
                io::Error::other(format!(
                    "{f}: neither an ops, a parallel nor a hitratio report: {e}"
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
