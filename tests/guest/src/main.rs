//! kv.ko's ioctl ABI through raw ioctls on `/dev/kvstore` (not kvlib, so bad
//! lengths, bad pointers and unknown commands reach the kernel exactly as a
//! hostile caller sends them), run inside the test guest.
//!
//!   kv-device-tests [GROUP]...   the groups named (all, in order, if none)
//!
//! Each test loads kv.ko afresh with the parameters it needs, or goes on
//! with the store the test before it left, and prints `PASS:
//! device/GROUP/TEST` or `FAIL: device/GROUP/TEST: why`; the exit status is
//! 1 if any test failed. The suites (tests/suites/device.sh and
//! concurrency.sh) pick the groups.

mod access;
mod batch;
mod cache;
mod capacity;
mod clear;
mod concurrency;
mod counters;
mod dump;
mod expiry;
mod fuzz;
mod lru;
mod ops;
mod put_flags;
mod stat;
mod store;
mod versions;

use kv_test_support::{run_groups, Group, Test};

/// kv.ko's defaults, given explicitly.
const DEFAULTS: &str = "buckets=128 max_items=256 use_lru=0";
/// Room for the tests of many items at once.
const ROOMY: &str = "buckets=64 max_items=1024 use_lru=0";
/// Three items, no eviction.
const FULL: &str = "max_items=3 use_lru=0";
/// Three items, exact LRU.
const LRU: &str = "max_items=3 use_lru=1";

const GROUPS: &[Group] = &[
    Group {
        name: "stat",
        tests: &[
            Test::fresh("defaults", DEFAULTS, stat::defaults),
            Test::then("counters", stat::counters),
            Test::fresh("mask_and_counters", ROOMY, stat::mask_and_counters),
            Test::fresh("memory_follows_items", ROOMY, stat::memory_follows_items),
        ],
    },
    Group {
        name: "ops",
        tests: &[
            Test::fresh("roundtrip_limits", DEFAULTS, ops::roundtrip_limits),
            Test::then("bad_lengths", ops::bad_lengths),
            Test::then("replace_and_delete", ops::replace_and_delete),
            Test::then("unknown_ioctls", ops::unknown_ioctls),
            Test::then("bad_pointers", ops::bad_pointers),
            Test::then("concurrent_processes", concurrency::concurrent_processes),
        ],
    },
    Group {
        name: "access",
        tests: &[
            Test::fresh("read_only", DEFAULTS, access::read_only),
            Test::then("write_only", access::write_only),
        ],
    },
    Group {
        name: "full",
        tests: &[
            Test::fresh("put_enospc", FULL, capacity::put_enospc),
            Test::fresh("batch_enospc", FULL, capacity::batch_enospc),
        ],
    },
    Group {
        name: "lru",
        tests: &[
            Test::fresh("order", LRU, lru::order),
            Test::fresh("dump_is_no_use", LRU, lru::dump_is_no_use),
        ],
    },
    Group {
        name: "chains",
        // A load factor of 100.
        tests: &[Test::fresh(
            "long_chains",
            "buckets=10 max_items=1000",
            capacity::long_chains,
        )],
    },
    Group {
        name: "put-flags",
        tests: &[Test::fresh("contract", ROOMY, put_flags::contract)],
    },
    Group {
        name: "batch",
        tests: &[
            Test::fresh("same_key", ROOMY, batch::same_key),
            Test::then("per_op_errors", batch::per_op_errors),
            Test::then("counts_and_pointers", batch::counts_and_pointers),
            Test::then(
                "unreportable_op_does_not_run",
                batch::unreportable_op_does_not_run,
            ),
        ],
    },
    Group {
        name: "dump",
        tests: &[
            Test::fresh("every_item_once", ROOMY, dump::every_item_once),
            Test::then("cursor_and_room", dump::cursor_and_room),
            Test::then("races_writers", dump::races_writers),
            Test::fresh(
                "enospc_keeps_the_cursor",
                "buckets=64 max_items=16",
                dump::enospc_keeps_the_cursor,
            ),
            Test::fresh(
                "bucket_bound",
                "buckets=1 max_items=1025",
                dump::bucket_bound,
            ),
            Test::fresh(
                "signal_ends_a_dump",
                "buckets=1048576 max_items=16",
                dump::signal_ends_a_dump,
            ),
        ],
    },
    Group {
        name: "clear",
        tests: &[Test::fresh("contract", ROOMY, clear::contract)],
    },
    Group {
        name: "fuzz",
        tests: &[Test::fresh(
            "counts_and_pointers",
            ROOMY,
            fuzz::counts_and_pointers,
        )],
    },
    Group {
        name: "cache",
        tests: &[
            Test::fresh("requests", ROOMY, cache::request_checks),
            Test::then("counters", counters::contract),
            Test::fresh("fuzz", ROOMY, cache::fuzz),
        ],
    },
    // Expiry, counters and versions from every guest CPU at once; the
    // expiry test in a store smaller than its working set.
    Group {
        name: "cache-concurrency",
        tests: &[
            Test::fresh("counter_processes", ROOMY, counters::processes_sum),
            Test::then("cas_loop", versions::cas_loop),
            Test::fresh(
                "expiry",
                "buckets=16 max_items=64 use_lru=2",
                expiry::under_concurrency,
            ),
            Test::fresh(
                "expiry_no_eviction",
                "buckets=16 max_items=64 use_lru=0",
                expiry::under_concurrency,
            ),
        ],
    },
    // A small table, so chains are shared and deleted slots are reused by
    // other keys.
    Group {
        name: "torn",
        tests: &[
            Test::fresh(
                "none",
                "buckets=4 max_items=16 use_lru=0",
                concurrency::torn_reads,
            ),
            Test::fresh(
                "lru",
                "buckets=4 max_items=16 use_lru=1",
                concurrency::torn_reads,
            ),
            Test::fresh(
                "sieve",
                "buckets=4 max_items=16 use_lru=2",
                concurrency::torn_reads,
            ),
        ],
    },
    // A store smaller than the working set.
    Group {
        name: "evict",
        tests: &[
            Test::fresh(
                "lru",
                "buckets=16 max_items=64 use_lru=1",
                concurrency::eviction_under_concurrency,
            ),
            Test::fresh(
                "sieve",
                "buckets=16 max_items=64 use_lru=2",
                concurrency::eviction_under_concurrency,
            ),
        ],
    },
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // concurrent_processes runs this program again as its workers.
    if args.first().map(String::as_str) == Some("worker") {
        let id = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        if let Err(e) = concurrency::worker(id) {
            eprintln!("worker {id}: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("counter-worker") {
        let id = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        if let Err(e) = counters::worker(id) {
            eprintln!("counter worker {id}: {e}");
            std::process::exit(1);
        }
        return;
    }
    run_groups("device", GROUPS, &args)
}
