//! include/kv.h against kv_module::abi, the ABI's source of truth: compiles a C
//! program with the header and compares every size, offset, limit and ioctl
//! number, for 64-bit and for 32-bit (-m32) callers.

use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use kv_module::abi::*;

const PROBE: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include "kv.h"
#define P(name, value) printf("%s %llu\n", name, (unsigned long long)(value))
#define O(type, field) P(#type "." #field, offsetof(struct type, field))
int main(void) {
    P("KV_MAX_KEY", KV_MAX_KEY); P("KV_MAX_VAL", KV_MAX_VAL); P("KV_IOC_MAGIC", KV_IOC_MAGIC);
    P("KV_IOC_PUT", KV_IOC_PUT); P("KV_IOC_GET", KV_IOC_GET);
    P("KV_IOC_DEL", KV_IOC_DEL); P("KV_IOC_STAT", KV_IOC_STAT);
    P("sizeof kv_key", sizeof(struct kv_key)); P("sizeof kv_value", sizeof(struct kv_value));
    P("sizeof kv_pair", sizeof(struct kv_pair)); P("sizeof kv_usage_stat", sizeof(struct kv_usage_stat));
    O(kv_key, len); O(kv_key, data); O(kv_value, len); O(kv_value, data);
    O(kv_pair, key); O(kv_pair, value);
    O(kv_usage_stat, bucket_count); O(kv_usage_stat, max_items); O(kv_usage_stat, curr_items);
    O(kv_usage_stat, use_lru); O(kv_usage_stat, hits); O(kv_usage_stat, misses);
    O(kv_usage_stat, evictions); O(kv_usage_stat, bytes_used); O(kv_usage_stat, reserved);
    P("sizeof reserved", sizeof(((struct kv_usage_stat *)0)->reserved));
    O(kv_usage_stat, filled); O(kv_usage_stat, puts); O(kv_usage_stat, deletes);
    P("KV_STAT_HAS_BUCKET_COUNT", KV_STAT_HAS_BUCKET_COUNT); P("KV_STAT_HAS_MAX_ITEMS", KV_STAT_HAS_MAX_ITEMS);
    P("KV_STAT_HAS_CURR_ITEMS", KV_STAT_HAS_CURR_ITEMS); P("KV_STAT_HAS_USE_LRU", KV_STAT_HAS_USE_LRU);
    P("KV_STAT_HAS_HITS", KV_STAT_HAS_HITS); P("KV_STAT_HAS_MISSES", KV_STAT_HAS_MISSES);
    P("KV_STAT_HAS_EVICTIONS", KV_STAT_HAS_EVICTIONS); P("KV_STAT_HAS_BYTES_USED", KV_STAT_HAS_BYTES_USED);
    P("KV_STAT_HAS_PUTS", KV_STAT_HAS_PUTS); P("KV_STAT_HAS_DELETES", KV_STAT_HAS_DELETES);
    P("KV_PUT_NOEXIST", KV_PUT_NOEXIST); P("KV_PUT_EXIST", KV_PUT_EXIST);
    P("KV_OP_GET", KV_OP_GET); P("KV_OP_PUT", KV_OP_PUT); P("KV_OP_DEL", KV_OP_DEL);
    P("KV_BATCH_MAX", KV_BATCH_MAX);
    P("KV_IOC_PUT_FLAGS", KV_IOC_PUT_FLAGS); P("KV_IOC_BATCH", KV_IOC_BATCH);
    P("KV_IOC_DUMP", KV_IOC_DUMP); P("KV_IOC_CLEAR", KV_IOC_CLEAR);
    P("sizeof kv_op", sizeof(struct kv_op)); O(kv_op, op); O(kv_op, flags); O(kv_op, result);
    O(kv_op, reserved); O(kv_op, pair);
    P("sizeof kv_batch_args", sizeof(struct kv_batch_args)); O(kv_batch_args, ops);
    O(kv_batch_args, count); O(kv_batch_args, reserved);
    P("sizeof kv_dump_args", sizeof(struct kv_dump_args)); O(kv_dump_args, cursor);
    O(kv_dump_args, pairs); O(kv_dump_args, count); O(kv_dump_args, reserved);
    P("kv_op.result signed", (struct kv_op){.result = -1}.result < 0);
    O(kv_usage_stat, expired); P("KV_STAT_HAS_EXPIRED", KV_STAT_HAS_EXPIRED);
    O(kv_usage_stat, memory); P("KV_STAT_HAS_MEMORY", KV_STAT_HAS_MEMORY);
    P("KV_OP_PUT_VER", KV_OP_PUT_VER); P("KV_OP_INCR", KV_OP_INCR);
    P("KV_OP_TOUCH", KV_OP_TOUCH); P("KV_OP_TTL", KV_OP_TTL);
    P("KV_IOC_CACHE_OP", KV_IOC_CACHE_OP); P("KV_IOC_CACHE_BATCH", KV_IOC_CACHE_BATCH);
    P("sizeof kv_cache_op", sizeof(struct kv_cache_op)); O(kv_cache_op, op); O(kv_cache_op, flags);
    O(kv_cache_op, result); O(kv_cache_op, reserved); O(kv_cache_op, ttl_ms);
    O(kv_cache_op, version); O(kv_cache_op, number); O(kv_cache_op, pair);
    P("kv_cache_op.number signed", (struct kv_cache_op){.number = -1}.number < 0);
    P("KV_MAP_MAGIC", KV_MAP_MAGIC); P("KV_MAP_VERSION", KV_MAP_VERSION);
    P("KV_MAP_BLOCK_PAGES", KV_MAP_BLOCK_PAGES);
    P("sizeof kv_map_header", sizeof(struct kv_map_header));
    O(kv_map_header, magic); O(kv_map_header, version); O(kv_map_header, policy);
    O(kv_map_header, bucket_count); O(kv_map_header, blocks); O(kv_map_header, block_slots);
    O(kv_map_header, header_words); O(kv_map_header, seed); O(kv_map_header, block_table);
    O(kv_map_header, buckets); O(kv_map_header, map_bytes); O(kv_map_header, block_pgoff);
    O(kv_map_header, evictions); O(kv_map_header, marks_pgoff); O(kv_map_header, marks_bytes);
    return 0;
}
"#;

fn expected() -> String {
    let rows: Vec<(&str, usize)> = vec![
        ("KV_MAX_KEY", KV_MAX_KEY),
        ("KV_MAX_VAL", KV_MAX_VAL),
        ("KV_IOC_MAGIC", KV_IOC_MAGIC as usize),
        ("KV_IOC_PUT", KV_IOC_PUT as usize),
        ("KV_IOC_GET", KV_IOC_GET as usize),
        ("KV_IOC_DEL", KV_IOC_DEL as usize),
        ("KV_IOC_STAT", KV_IOC_STAT as usize),
        ("sizeof kv_key", size_of::<KvKey>()),
        ("sizeof kv_value", size_of::<KvValue>()),
        ("sizeof kv_pair", size_of::<KvPair>()),
        ("sizeof kv_usage_stat", size_of::<KvUsageStat>()),
        ("kv_key.len", offset_of!(KvKey, len)),
        ("kv_key.data", offset_of!(KvKey, data)),
        ("kv_value.len", offset_of!(KvValue, len)),
        ("kv_value.data", offset_of!(KvValue, data)),
        ("kv_pair.key", offset_of!(KvPair, key)),
        ("kv_pair.value", offset_of!(KvPair, value)),
        (
            "kv_usage_stat.bucket_count",
            offset_of!(KvUsageStat, bucket_count),
        ),
        (
            "kv_usage_stat.max_items",
            offset_of!(KvUsageStat, max_items),
        ),
        (
            "kv_usage_stat.curr_items",
            offset_of!(KvUsageStat, curr_items),
        ),
        ("kv_usage_stat.use_lru", offset_of!(KvUsageStat, use_lru)),
        ("kv_usage_stat.hits", offset_of!(KvUsageStat, hits)),
        ("kv_usage_stat.misses", offset_of!(KvUsageStat, misses)),
        (
            "kv_usage_stat.evictions",
            offset_of!(KvUsageStat, evictions),
        ),
        (
            "kv_usage_stat.bytes_used",
            offset_of!(KvUsageStat, bytes_used),
        ),
        ("kv_usage_stat.reserved", offset_of!(KvUsageStat, reserved)),
        ("sizeof reserved", size_of::<[u64; KV_STAT_RESERVED]>()),
        ("kv_usage_stat.filled", offset_of!(KvUsageStat, filled)),
        ("kv_usage_stat.puts", offset_of!(KvUsageStat, puts)),
        ("kv_usage_stat.deletes", offset_of!(KvUsageStat, deletes)),
        (
            "KV_STAT_HAS_BUCKET_COUNT",
            KV_STAT_HAS_BUCKET_COUNT as usize,
        ),
        ("KV_STAT_HAS_MAX_ITEMS", KV_STAT_HAS_MAX_ITEMS as usize),
        ("KV_STAT_HAS_CURR_ITEMS", KV_STAT_HAS_CURR_ITEMS as usize),
        ("KV_STAT_HAS_USE_LRU", KV_STAT_HAS_USE_LRU as usize),
        ("KV_STAT_HAS_HITS", KV_STAT_HAS_HITS as usize),
        ("KV_STAT_HAS_MISSES", KV_STAT_HAS_MISSES as usize),
        ("KV_STAT_HAS_EVICTIONS", KV_STAT_HAS_EVICTIONS as usize),
        ("KV_STAT_HAS_BYTES_USED", KV_STAT_HAS_BYTES_USED as usize),
        ("KV_STAT_HAS_PUTS", KV_STAT_HAS_PUTS as usize),
        ("KV_STAT_HAS_DELETES", KV_STAT_HAS_DELETES as usize),
        ("KV_PUT_NOEXIST", KV_PUT_NOEXIST as usize),
        ("KV_PUT_EXIST", KV_PUT_EXIST as usize),
        ("KV_OP_GET", KV_OP_GET as usize),
        ("KV_OP_PUT", KV_OP_PUT as usize),
        ("KV_OP_DEL", KV_OP_DEL as usize),
        ("KV_BATCH_MAX", KV_BATCH_MAX as usize),
        ("KV_IOC_PUT_FLAGS", KV_IOC_PUT_FLAGS as usize),
        ("KV_IOC_BATCH", KV_IOC_BATCH as usize),
        ("KV_IOC_DUMP", KV_IOC_DUMP as usize),
        ("KV_IOC_CLEAR", KV_IOC_CLEAR as usize),
        ("sizeof kv_op", size_of::<KvOp>()),
        ("kv_op.op", offset_of!(KvOp, op)),
        ("kv_op.flags", offset_of!(KvOp, flags)),
        ("kv_op.result", offset_of!(KvOp, result)),
        ("kv_op.reserved", offset_of!(KvOp, reserved)),
        ("kv_op.pair", offset_of!(KvOp, pair)),
        ("sizeof kv_batch_args", size_of::<KvBatchArgs>()),
        ("kv_batch_args.ops", offset_of!(KvBatchArgs, ops)),
        ("kv_batch_args.count", offset_of!(KvBatchArgs, count)),
        ("kv_batch_args.reserved", offset_of!(KvBatchArgs, reserved)),
        ("sizeof kv_dump_args", size_of::<KvDumpArgs>()),
        ("kv_dump_args.cursor", offset_of!(KvDumpArgs, cursor)),
        ("kv_dump_args.pairs", offset_of!(KvDumpArgs, pairs)),
        ("kv_dump_args.count", offset_of!(KvDumpArgs, count)),
        ("kv_dump_args.reserved", offset_of!(KvDumpArgs, reserved)),
        ("kv_op.result signed", 1),
        ("kv_usage_stat.expired", offset_of!(KvUsageStat, expired)),
        ("KV_STAT_HAS_EXPIRED", KV_STAT_HAS_EXPIRED as usize),
        ("kv_usage_stat.memory", offset_of!(KvUsageStat, memory)),
        ("KV_STAT_HAS_MEMORY", KV_STAT_HAS_MEMORY as usize),
        ("KV_OP_PUT_VER", KV_OP_PUT_VER as usize),
        ("KV_OP_INCR", KV_OP_INCR as usize),
        ("KV_OP_TOUCH", KV_OP_TOUCH as usize),
        ("KV_OP_TTL", KV_OP_TTL as usize),
        ("KV_IOC_CACHE_OP", KV_IOC_CACHE_OP as usize),
        ("KV_IOC_CACHE_BATCH", KV_IOC_CACHE_BATCH as usize),
        ("sizeof kv_cache_op", size_of::<KvCacheOp>()),
        ("kv_cache_op.op", offset_of!(KvCacheOp, op)),
        ("kv_cache_op.flags", offset_of!(KvCacheOp, flags)),
        ("kv_cache_op.result", offset_of!(KvCacheOp, result)),
        ("kv_cache_op.reserved", offset_of!(KvCacheOp, reserved)),
        ("kv_cache_op.ttl_ms", offset_of!(KvCacheOp, ttl_ms)),
        ("kv_cache_op.version", offset_of!(KvCacheOp, version)),
        ("kv_cache_op.number", offset_of!(KvCacheOp, number)),
        ("kv_cache_op.pair", offset_of!(KvCacheOp, pair)),
        ("kv_cache_op.number signed", 1),
        ("KV_MAP_MAGIC", KV_MAP_MAGIC as usize),
        ("KV_MAP_VERSION", KV_MAP_VERSION as usize),
        ("KV_MAP_BLOCK_PAGES", KV_MAP_BLOCK_PAGES as usize),
        ("sizeof kv_map_header", size_of::<KvMapHeader>()),
        ("kv_map_header.magic", offset_of!(KvMapHeader, magic)),
        ("kv_map_header.version", offset_of!(KvMapHeader, version)),
        ("kv_map_header.policy", offset_of!(KvMapHeader, policy)),
        (
            "kv_map_header.bucket_count",
            offset_of!(KvMapHeader, bucket_count),
        ),
        ("kv_map_header.blocks", offset_of!(KvMapHeader, blocks)),
        (
            "kv_map_header.block_slots",
            offset_of!(KvMapHeader, block_slots),
        ),
        (
            "kv_map_header.header_words",
            offset_of!(KvMapHeader, header_words),
        ),
        ("kv_map_header.seed", offset_of!(KvMapHeader, seed)),
        (
            "kv_map_header.block_table",
            offset_of!(KvMapHeader, block_table),
        ),
        ("kv_map_header.buckets", offset_of!(KvMapHeader, buckets)),
        (
            "kv_map_header.map_bytes",
            offset_of!(KvMapHeader, map_bytes),
        ),
        (
            "kv_map_header.block_pgoff",
            offset_of!(KvMapHeader, block_pgoff),
        ),
        (
            "kv_map_header.evictions",
            offset_of!(KvMapHeader, evictions),
        ),
        (
            "kv_map_header.marks_pgoff",
            offset_of!(KvMapHeader, marks_pgoff),
        ),
        (
            "kv_map_header.marks_bytes",
            offset_of!(KvMapHeader, marks_bytes),
        ),
    ];
    rows.iter().map(|(k, v)| format!("{k} {v}\n")).collect()
}

/// Compiles and runs the probe with `flags`; its output.
fn probe(flags: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!(
        "kv-header-abi-{}-{}",
        std::process::id(),
        flags.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&src, PROBE).unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include");
    let status = Command::new("cc")
        .args(flags)
        .args(["-Wall", "-Werror", "-I"])
        .arg(&include)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("cc must be installed (make deps)");
    assert!(
        status.success(),
        "compiling the header probe with {flags:?} failed"
    );
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn header_matches_rust_abi_64bit() {
    assert_eq!(probe(&[]), expected());
}

/// Needs gcc-multilib (installed by `make deps`); fails rather than skips
/// without it, so a missing 32-bit check cannot pass unnoticed.
#[test]
fn header_matches_rust_abi_32bit() {
    assert_eq!(probe(&["-m32"]), expected());
}
