//! `kv-bench`: kvstore's cost per operation beside the system-call floor and
//! BPF hash maps, and its read scaling on several CPUs. `make bench` runs it
//! in the rig's perf guest (bench/run); `make test` runs it once on
//! tiny sizes so it cannot rot. It prints numbers and asserts no speed.
//!
//!   kv-bench ops [--quick] [--module PATH]       instructions per op (run under -icount)
//!   kv-bench parallel [--quick] [--module PATH]  ops/s with 1 and 2 threads (run on 2 CPUs)
//!   kv-bench hitratio [--quick] [--module PATH]  miss ratio of LRU, SIEVE, BPF LRU hash
//!   kv-bench report [--json OUT] FILE...         the table from the JSON the others wrote
//!
//! `ops`, `parallel` and `hitratio` load kv.ko themselves (one configuration after the
//! other) and write their results as JSON to stdout.
//!
//! Under QEMU's `-icount shift=0,sleep=off` the guest clock advances one
//! nanosecond per guest instruction, so a loop of N operations timed with
//! the monotonic clock gives instructions per operation, the same on every
//! run whatever the host is doing. They are instructions, not time: cache
//! misses and lock contention do not show, which is what `parallel` is for.

mod cache;
mod hitratio;
mod memory;
mod report;
mod target;

use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use kv_module::abi::KvOp;
use kv_test_support::{load_module, unload_module, Dev, Rng, MODULE};
use target::{key_bytes, value_bytes, BpfMap, MapKind, Request, Target};

/// The eviction policies `use_lru` selects; one kv.ko may not have them all.
const POLICIES: [u32; 3] = [0, 1, 2];

/// How many of a store's items an op loop cycles over: at most 4096, so
/// that the requests are built once and the loop measures the op alone.
fn working_set(items: usize) -> usize {
    items.min(4096)
}

/// One measured row: `target` doing `op` costs `value` (instructions per
/// op, or ops per second in `parallel`).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Cost {
    pub target: String,
    pub op: String,
    pub value: f64,
}

impl Cost {
    pub fn new(target: &str, op: &str, value: f64) -> Cost {
        Cost {
            target: target.to_string(),
            op: op.to_string(),
            value,
        }
    }
}

/// The rows measured at one key size, value size and item count.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SizeResult {
    pub key_size: usize,
    pub value_size: usize,
    pub items: usize,
    pub rows: Vec<Cost>,
}

/// What `ops` measured.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct OpsReport {
    pub kernel: String,
    /// getppid() and the ENOTTY ioctl, per op.
    pub floors: Vec<Cost>,
    pub sizes: Vec<SizeResult>,
    pub memory: Option<memory::Memory>,
    /// What was left out and why (e.g. a policy this kv.ko lacks).
    pub notes: Vec<String>,
}

/// Throughput of one target and mix with 1 and 2 threads, in ops/s (the
/// best of the repetitions, which alternate 1 and 2 threads).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Scaling {
    pub target: String,
    pub mix: String,
    pub one_thread: f64,
    pub two_threads: f64,
}

/// What `parallel` measured.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ParallelReport {
    pub kernel: String,
    pub cpus: usize,
    pub seconds: f64,
    pub rows: Vec<Scaling>,
    pub notes: Vec<String>,
}

/// The key and value sizes of the memory figures: those of the op rows, and
/// 8-byte keys with 8-byte values, the smallest item a caller would store.
const MEMORY_SIZES: [(usize, usize); 3] = [(16, 64), (8, 8), (64, 256)];

/// Sizes and loop lengths of one run.
struct Plan {
    /// (key size, value size, items)
    sizes: Vec<(usize, usize, usize)>,
    /// Operations per timed loop.
    loop_ops: usize,
    memory_items: usize,
    parallel_items: usize,
    parallel_seconds: f64,
    repetitions: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                sizes: vec![(16, 64, 100), (64, 256, 200)],
                loop_ops: 200,
                memory_items: 1000,
                parallel_items: 100,
                parallel_seconds: 0.2,
                repetitions: 1,
            }
        } else {
            Plan {
                sizes: vec![
                    (16, 64, 1000),
                    (16, 64, 100_000),
                    (16, 64, 1_000_000),
                    (64, 256, 1000),
                    (64, 256, 100_000),
                ],
                loop_ops: 20_000,
                memory_items: 100_000,
                parallel_items: 1000,
                parallel_seconds: 1.0,
                repetitions: 5,
            }
        }
    }
}

/// Timed passes of a loop; the cheapest counts.
const PASSES: usize = 3;

/// Runs `op(i)` for i in 0..n and returns nanoseconds per call (guest
/// instructions under -icount). A short untimed pass first faults in every
/// page the loop touches. Of `PASSES` timed passes the cheapest counts:
/// under -icount the guest's clock also counts whatever else the guest
/// kernel runs meanwhile (an interrupt, a kernel thread's work), which only
/// ever adds instructions.
fn per_op(n: usize, mut op: impl FnMut(usize) -> io::Result<()>) -> io::Result<f64> {
    for i in 0..n.min(1000) {
        op(i)?;
    }
    let mut best = f64::INFINITY;
    for _ in 0..PASSES {
        let start = Instant::now();
        for i in 0..n {
            op(i)?;
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    Ok(best)
}

fn context(what: &str) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Module parameters for `items` items: as many buckets as items, rounded
/// up to a power of two (what a BPF hash map of that size has).
fn kv_params(items: usize, policy: u32) -> String {
    format!(
        "buckets={} max_items={items} use_lru={policy}",
        items.next_power_of_two()
    )
}

/// A BPF map's capacity for `items` items: twice as many. An LRU hash map
/// takes a free node for every update, also one that replaces, and evicts
/// when its per-CPU free lists run dry, well before it is full; the headroom
/// keeps it from evicting keys the loops still use. Capacity does not change
/// what a lookup or an update costs.
fn bpf_entries(items: usize) -> usize {
    items * 2
}

/// Requests for `count` distinct stored keys, spread over all `items`.
fn hit_requests(count: usize, items: usize, key_size: usize, value_size: usize) -> Vec<Request> {
    (0..count)
        .map(|i| {
            let k = (i as u64 * 7919) % items as u64;
            Request::new(key_bytes(k, key_size, false), value_bytes(k, value_size))
        })
        .collect()
}

/// Puts items 0..items.
fn fill(t: &dyn Target, items: usize, key_size: usize, value_size: usize) -> io::Result<()> {
    for k in 0..items as u64 {
        t.put(&Request::new(
            key_bytes(k, key_size, false),
            value_bytes(k, value_size),
        ))?;
    }
    Ok(())
}

/// The per-op rows of one store holding items 0..items.
fn op_rows(
    t: &dyn Target,
    name: &str,
    plan: &Plan,
    (key_size, value_size, items): (usize, usize, usize),
    rows: &mut Vec<Cost>,
) -> io::Result<()> {
    let n = plan.loop_ops;
    let working = working_set(items);
    let hits = get_rows(t, name, "", plan, (key_size, value_size, items), rows)?;
    let mut row = |op: &str, value: f64| rows.push(Cost::new(name, op, value));
    row(
        "put replace",
        per_op(n, |i| t.put(&hits[i % working])).map_err(context("put replace"))?,
    );

    // del, then put inserting the same keys back: the store stays between
    // items - n_del and items, never full.
    let n_del = (items / 2).min(n);
    let del_keys = hit_requests(n_del, items, key_size, value_size);
    let (mut del, mut insert) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..PASSES {
        let start = Instant::now();
        for r in &del_keys {
            t.del(r)
                .map_err(|e| io::Error::new(e.kind(), format!("{name} del: {e}")))?;
        }
        del = del.min(start.elapsed().as_nanos() as f64 / n_del as f64);
        let start = Instant::now();
        for r in &del_keys {
            t.put(r)
                .map_err(|e| io::Error::new(e.kind(), format!("{name} put insert: {e}")))?;
        }
        insert = insert.min(start.elapsed().as_nanos() as f64 / n_del as f64);
    }
    row("put insert", insert);
    row("del", del);
    Ok(())
}

/// Rows "get hit{suffix}" and "get miss{suffix}" of `t`: gets of stored
/// keys of a store holding items 0..items, and of as many never stored.
/// The hits' requests, for the rows that follow.
fn get_rows<T: Target + ?Sized>(
    t: &T,
    name: &str,
    suffix: &str,
    plan: &Plan,
    (key_size, value_size, items): (usize, usize, usize),
    rows: &mut Vec<Cost>,
) -> io::Result<Vec<Request>> {
    let n = plan.loop_ops;
    let working = working_set(items);
    let mut hits = hit_requests(working, items, key_size, value_size);
    let op = format!("get hit{suffix}");
    let hit = per_op(n, |i| t.get(&mut hits[i % working])).map_err(context(&op))?;
    rows.push(Cost::new(name, &op, hit));
    let mut misses: Vec<Request> = (0..working as u64)
        .map(|k| Request::new(key_bytes(k, key_size, true), vec![0; value_size]))
        .collect();
    let miss = |i: usize| match t.get(&mut misses[i % working]) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(e),
        Ok(()) => Err(io::Error::other("a key never stored was found")),
    };
    let op = format!("get miss{suffix}");
    let miss = per_op(n, miss).map_err(context(&op))?;
    rows.push(Cost::new(name, &op, miss));
    Ok(hits)
}

/// Rows "get hit, mapped" and "get miss, mapped": `op_rows`'s gets through
/// kvlib, which reads the store's mapping with no system call.
fn mapped_rows(
    name: &str,
    plan: &Plan,
    size: (usize, usize, usize),
    rows: &mut Vec<Cost>,
) -> io::Result<()> {
    let store = target::Mapped::open().map_err(context("mapped reads"))?;
    get_rows(&store, name, ", mapped", plan, size, rows).map(drop)
}

/// Puts per timed run of `growing_puts`, whose requests are built
/// before the run.
const GROWING_RUN: usize = 4096;

/// Instructions per put inserting items 0..items into kvstore `kv`, which
/// holds nothing and no chunk (just loaded): a put that finds no room in
/// its size class allocates a chunk for `BLOCK_SLOTS` more (and, under a
/// policy, its links grow), so this is the insert with its allocations
/// amortized over all the puts. `PASSES` passes, the store cleared between
/// them (which frees its chunks); the cheapest counts. Only the puts are
/// timed: each run of `GROWING_RUN` requests is built untimed. Leaves the
/// store holding items 0..items.
fn growing_puts(kv: &Dev, (key_size, value_size, items): (usize, usize, usize)) -> io::Result<f64> {
    let mut best = f64::INFINITY;
    for pass in 0..PASSES {
        if pass > 0 {
            kv.clear()
                .map_err(io::Error::from_raw_os_error)
                .map_err(context("kv_clear"))?;
        }
        let mut elapsed = Duration::ZERO;
        for first in (0..items).step_by(GROWING_RUN) {
            let run: Vec<Request> = (first..(first + GROWING_RUN).min(items))
                .map(|k| {
                    Request::new(
                        key_bytes(k as u64, key_size, false),
                        value_bytes(k as u64, value_size),
                    )
                })
                .collect();
            let start = Instant::now();
            for r in &run {
                Target::put(kv, r)?;
            }
            elapsed += start.elapsed();
        }
        best = best.min(elapsed.as_nanos() as f64 / items as f64);
    }
    Ok(best)
}

/// Gets per group in the batch rows.
const BATCH_GETS: usize = 32;

/// The cost of 32 gets: as 32 ioctls, and as one `kv_batch` of 32 ops.
fn batch_rows(
    kv: &Dev,
    name: &str,
    plan: &Plan,
    (key_size, value_size, items): (usize, usize, usize),
    rows: &mut Vec<Cost>,
) -> io::Result<()> {
    let working = working_set(items);
    let groups = (plan.loop_ops / BATCH_GETS).max(1);
    let mut hits = hit_requests(working, items, key_size, value_size);
    let single = per_op(groups, |g| {
        for j in 0..BATCH_GETS {
            Target::get(kv, &mut hits[(g * BATCH_GETS + j) % working])?;
        }
        Ok(())
    })
    .map_err(context("32 single gets"))?;
    // The same keys, grouped into batches up front.
    let mut batches: Vec<Vec<KvOp>> = (0..working.div_ceil(BATCH_GETS))
        .map(|b| {
            (0..BATCH_GETS)
                .map(|j| target::get_op(&hits[(b * BATCH_GETS + j) % working]))
                .collect()
        })
        .collect();
    let count = batches.len();
    let batch = per_op(groups, |g| target::batch(kv, &mut batches[g % count]))
        .map_err(context("kv_batch of 32 gets"))?;
    for (op, value) in [
        ("32 gets, 32 ioctls", single),
        ("32 gets, one kv_batch", batch),
    ] {
        rows.push(Cost::new(name, op, value));
    }
    Ok(())
}

fn ops(module: &str, quick: bool) -> io::Result<OpsReport> {
    let plan = Plan::new(quick);
    let mut report = OpsReport {
        kernel: kernel_release(),
        floors: Vec::new(),
        sizes: Vec::new(),
        memory: None,
        notes: Vec::new(),
    };

    // First, while nothing else has been allocated and freed: a BPF map's
    // memory is freed later by a worker, which would blur the difference.
    report.memory = Some(memory::measure(module, plan.memory_items, &MEMORY_SIZES)?);
    load_module(module, &kv_params(1000, 0))?;
    let kv = target::open()?;
    // SAFETY: getppid has no preconditions and cannot fail.
    let getppid = per_op(plan.loop_ops, |_| {
        black_box(unsafe { libc::getppid() });
        Ok(())
    })?;
    report
        .floors
        .push(Cost::new("syscall", "getppid()", getppid));
    let floor = per_op(plan.loop_ops, |_| target::unknown_ioctl(&kv))?;
    report.floors.push(Cost::new("ioctl", "ENOTTY", floor));
    drop(kv);

    let mut supported = Vec::new();
    for policy in POLICIES {
        if load_module(module, &kv_params(100, policy)).is_ok() {
            supported.push(policy);
        } else {
            report.notes.push(format!(
                "use_lru={policy}: this kv.ko refuses it; not measured"
            ));
        }
    }
    report.notes.push(
        "BPF maps get twice the items as capacity in the per-op rows, so an LRU map never evicts a key in use; the memory rows' maps have max_entries = the items".into(),
    );

    for &size @ (key_size, value_size, items) in &plan.sizes {
        let mut rows = Vec::new();
        for &policy in &supported {
            load_module(module, &kv_params(items, policy))?;
            let kv = target::open()?;
            // The fill of the store the other rows use.
            let growing = growing_puts(&kv, size).map_err(context("put insert, growing"))?;
            let name = format!("kvstore use_lru={policy}");
            let stat = per_op(plan.loop_ops, |_| target::stat(&kv).map(drop))?;
            rows.push(Cost::new(&name, "stat", stat));
            op_rows(&kv, &name, &plan, size, &mut rows)?;
            // The mapping serves gets of stores without eviction and under
            // SIEVE; exact LRU's gets relink, in the kernel.
            if policy != 1 {
                mapped_rows(&name, &plan, size, &mut rows)?;
            }
            // Beside the insert that finds room.
            let at = rows
                .iter()
                .position(|c| c.target == name && c.op == "put insert")
                .map_or(rows.len(), |i| i + 1);
            rows.insert(at, Cost::new(&name, "put insert, growing", growing));
            batch_rows(&kv, &name, &plan, size, &mut rows)?;
            cache::cache_rows(&kv, &name, &plan, size, &mut rows)?;
        }
        unload_module();
        for (kind, name) in [
            (MapKind::Hash, "BPF hash"),
            (MapKind::LruHash, "BPF LRU hash"),
        ] {
            let map = BpfMap::create(kind, key_size, value_size, bpf_entries(items))
                .map_err(context("bpf map create"))?;
            fill(&map, items, key_size, value_size).map_err(context("filling the BPF map"))?;
            op_rows(&map, name, &plan, size, &mut rows)?;
        }
        report.sizes.push(SizeResult {
            key_size,
            value_size,
            items,
            rows,
        });
    }

    unload_module();
    Ok(report)
}

/// Ops per second of `threads` threads, each with its own handle from
/// `open` and its own requests, for `seconds`; one op in ten a put when
/// `put_every_10th`.
fn throughput<T: Target + Send>(
    open: &(dyn Fn() -> io::Result<T> + Sync),
    threads: usize,
    seconds: f64,
    items: usize,
    put_every_10th: bool,
) -> io::Result<f64> {
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let start_line = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|s| -> io::Result<Duration> {
        let mut workers = Vec::new();
        for t in 0..threads {
            let (stop, total, start_line) = (&stop, &total, &start_line);
            workers.push(s.spawn(move || -> io::Result<()> {
                pin_to_cpu(t)?;
                let handle = open()?;
                let mut reqs = hit_requests(items, items, 16, 64);
                let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1));
                let mut done = 0u64;
                start_line.wait();
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        let n = rng.next_u64();
                        let r = &mut reqs[(n % items as u64) as usize];
                        if put_every_10th && n.is_multiple_of(10) {
                            handle.put(r)?;
                        } else {
                            handle.get(r)?;
                        }
                    }
                    done += 64;
                }
                total.fetch_add(done, Ordering::Relaxed);
                Ok(())
            }));
        }
        start_line.wait();
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
        let elapsed = started.elapsed();
        for w in workers {
            w.join()
                .map_err(|_| io::Error::other("a worker panicked"))??;
        }
        Ok(elapsed)
    })?;
    Ok(total.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64())
}

/// Pins the calling thread to CPU `t` (modulo the CPUs online), so that
/// two workers run on two CPUs from the start rather than wherever the
/// scheduler first puts them.
fn pin_to_cpu(t: usize) -> io::Result<()> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    // SAFETY: A zeroed `cpu_set_t` is an empty set; CPU_SET writes inside
    // it for a CPU number below `CPU_SETSIZE` (1024), and
    // `sched_setaffinity` reads `size_of::<cpu_set_t>()` bytes of it.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(t % cpus.min(1024), &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error()).map_err(context("sched_setaffinity"))
    }
}

/// The highest of `v`: the run least slowed by whatever else the host ran
/// (a busy host only ever takes throughput away), as the per-op rows take
/// their cheapest pass.
fn best(v: Vec<f64>) -> f64 {
    v.into_iter().fold(0.0, f64::max)
}

/// 1 and 2 threads, alternating, `repetitions` times each.
fn scaling<T: Target + Send>(
    name: &str,
    open: &(dyn Fn() -> io::Result<T> + Sync),
    plan: &Plan,
    rows: &mut Vec<Scaling>,
) -> io::Result<()> {
    for (mix, puts) in [("get", false), ("90% get, 10% put", true)] {
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for _ in 0..plan.repetitions {
            one.push(throughput(
                open,
                1,
                plan.parallel_seconds,
                plan.parallel_items,
                puts,
            )?);
            two.push(throughput(
                open,
                2,
                plan.parallel_seconds,
                plan.parallel_items,
                puts,
            )?);
        }
        rows.push(Scaling {
            target: name.to_string(),
            mix: mix.to_string(),
            one_thread: best(one),
            two_threads: best(two),
        });
    }
    Ok(())
}

fn parallel(module: &str, quick: bool) -> io::Result<ParallelReport> {
    let plan = Plan::new(quick);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mut report = ParallelReport {
        kernel: kernel_release(),
        cpus,
        seconds: plan.parallel_seconds,
        rows: Vec::new(),
        notes: Vec::new(),
    };
    if cpus < 2 {
        report
            .notes
            .push(format!("only {cpus} CPU online: 2 threads share it"));
    }
    let items = plan.parallel_items;
    for policy in POLICIES {
        if load_module(module, &kv_params(items, policy)).is_err() {
            report.notes.push(format!(
                "use_lru={policy}: this kv.ko refuses it; not measured"
            ));
            continue;
        }
        fill(&target::open()?, items, 16, 64)?;
        scaling(
            &format!("kvstore use_lru={policy}"),
            &target::open,
            &plan,
            &mut report.rows,
        )?;
        if policy != 1 {
            scaling(
                &format!("kvstore use_lru={policy}, mapped gets"),
                &target::Mapped::open,
                &plan,
                &mut report.rows,
            )?;
        }
    }
    unload_module();
    let map = BpfMap::create(MapKind::Hash, 16, 64, bpf_entries(items))?;
    fill(&map, items, 16, 64)?;
    // The map is one object all threads use, as one fd: share it.
    let shared = &map;
    scaling("BPF hash", &|| Ok(Shared(shared)), &plan, &mut report.rows)?;
    Ok(report)
}

/// A `Target` used by reference from several threads.
struct Shared<'a, T>(&'a T);

impl<T: Target> Target for Shared<'_, T> {
    fn get(&self, req: &mut Request) -> io::Result<()> {
        self.0.get(req)
    }
    fn put(&self, req: &Request) -> io::Result<()> {
        self.0.put(req)
    }
    fn del(&self, req: &Request) -> io::Result<()> {
        self.0.del(req)
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: kv-bench ops [--quick] [--module PATH]\n       kv-bench parallel [--quick] [--module PATH]\n       kv-bench hitratio [--quick] [--module PATH]\n       kv-bench report [--json OUT] FILE..."
    );
    std::process::exit(2);
}

fn run() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        usage()
    };
    let mut quick = false;
    let mut module = MODULE.to_string();
    let mut json_out = None;
    let mut files = Vec::new();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--module" => module = it.next().cloned().unwrap_or_else(|| usage()),
            "--json" => json_out = Some(it.next().cloned().unwrap_or_else(|| usage())),
            s if s.starts_with('-') => usage(),
            s => files.push(s.to_string()),
        }
    }
    let print = |value: serde_json::Result<String>| -> io::Result<()> {
        println!("{}", value.map_err(io::Error::other)?);
        Ok(())
    };
    match command.as_str() {
        "ops" => print(serde_json::to_string_pretty(&ops(&module, quick)?)),
        "parallel" => print(serde_json::to_string_pretty(&parallel(&module, quick)?)),
        "hitratio" => print(serde_json::to_string_pretty(&hitratio::hitratio(
            &module, quick,
        )?)),
        "report" if !files.is_empty() => report::run(&files, json_out.as_deref()),
        _ => usage(),
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("kv-bench: {e}");
        std::process::exit(1);
    }
}
