// SPDX-License-Identifier: GPL-2.0
//! The userspace ABI of `/dev/kvstore`: the one source of truth for the ioctl
//! structs and numbers.
//!
//! The kernel module compiles this file in, `kvlib` (and through it `libkv.so`
//! and `kvctl`) uses it through the `kv_module` crate, and `include/kv.h` mirrors
//! it by hand; a host test compiles the header and checks every size, offset
//! and ioctl number against the constants here.
//!
//! Only fixed-width integers and byte arrays, every field naturally aligned and
//! no implicit padding, so the layout is the same for 32- and 64-bit callers and
//! `compat_ioctl` needs no translation.

/// Longest key in bytes. Keys are 1..=KV_MAX_KEY bytes, any values.
pub const KV_MAX_KEY: usize = 64;
/// Longest value in bytes. Values are 0..=KV_MAX_VAL bytes, any values.
pub const KV_MAX_VAL: usize = 256;

/// A key: `len` bytes of `data` are the key; the rest is ignored.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvKey {
    pub len: u32,
    pub data: [u8; KV_MAX_KEY],
}

/// A value: `len` bytes of `data` are the value. The get ioctl writes `len`
/// and those bytes only, leaving the rest as the caller had it (libkv's
/// `kv_get` zeroes it).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvValue {
    pub len: u32,
    pub data: [u8; KV_MAX_VAL],
}

/// The argument of put (key and value in) and get (key in, value out).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvPair {
    pub key: KvKey,
    pub value: KvValue,
}

/// Number of reserved 64-bit words at the end of [`KvUsageStat`]: room for
/// new counters without changing the struct's size (and so the ioctl number).
pub const KV_STAT_RESERVED: usize = 5;

// Bits of `KvUsageStat::filled`, one per field, set when the module fills
// that field: a 0 counter is then told apart from one an older module lacks.
pub const KV_STAT_HAS_BUCKET_COUNT: u64 = 1 << 0;
pub const KV_STAT_HAS_MAX_ITEMS: u64 = 1 << 1;
pub const KV_STAT_HAS_CURR_ITEMS: u64 = 1 << 2;
pub const KV_STAT_HAS_USE_LRU: u64 = 1 << 3;
pub const KV_STAT_HAS_HITS: u64 = 1 << 4;
pub const KV_STAT_HAS_MISSES: u64 = 1 << 5;
pub const KV_STAT_HAS_EVICTIONS: u64 = 1 << 6;
pub const KV_STAT_HAS_BYTES_USED: u64 = 1 << 7;
pub const KV_STAT_HAS_PUTS: u64 = 1 << 8;
pub const KV_STAT_HAS_DELETES: u64 = 1 << 9;
pub const KV_STAT_HAS_EXPIRED: u64 = 1 << 10;
pub const KV_STAT_HAS_MEMORY: u64 = 1 << 11;

/// The argument of stat. The kernel zeroes `reserved`; new counters take
/// reserved words, so binaries built against an older header keep working.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvUsageStat {
    /// Number of hash buckets (module parameter `buckets`).
    pub bucket_count: u32,
    /// Capacity in items (module parameter `max_items`).
    pub max_items: u32,
    /// Items stored now.
    pub curr_items: u32,
    /// The eviction policy (module parameter `use_lru`): 0 none (a put into
    /// a full store fails with ENOSPC), 1 exact LRU, 2 SIEVE.
    pub use_lru: u32,
    /// Gets that found their key, in the kernel: a get through the
    /// mapping (`docs/mapping.md`) is not counted.
    pub hits: u64,
    /// Gets that did not find their key, in the kernel (the same).
    pub misses: u64,
    /// Items removed to make room for new ones.
    pub evictions: u64,
    /// Key and value bytes held now.
    pub bytes_used: u64,
    /// The `KV_STAT_HAS_*` bits of the fields the module filled (0 from a
    /// module older than this field: then only the fields above are valid).
    pub filled: u64,
    /// Successful puts (inserts and replaces, single or in a batch).
    pub puts: u64,
    /// Successful deletes (single or in a batch; not clears or evictions).
    pub deletes: u64,
    /// Items removed because they expired (by any operation that met them,
    /// or by the background reclaim).
    pub expired: u64,
    /// Kernel memory the store holds, in bytes: its arrays as allocated at
    /// load (buckets, slots, the eviction policy's links, the expiry index,
    /// per-CPU counters), not the allocator's rounding up.
    pub memory: u64,
    pub reserved: [u64; KV_STAT_RESERVED],
}

/// `kv_put_flags` / [`KvOp::flags`]: insert only if the key is absent, else EEXIST.
pub const KV_PUT_NOEXIST: u32 = 1;
/// `kv_put_flags` / [`KvOp::flags`]: replace only if the key is present, else ENOENT.
pub const KV_PUT_EXIST: u32 = 2;

/// [`KvOp::op`]: look up `pair.key`, the value into `pair.value`.
pub const KV_OP_GET: u32 = 1;
/// [`KvOp::op`]: put `pair` (with `flags` as for `kv_put_flags`).
pub const KV_OP_PUT: u32 = 2;
/// [`KvOp::op`]: delete `pair.key`.
pub const KV_OP_DEL: u32 = 3;
/// [`KvCacheOp::op`]: put `pair` only if the item's version is still
/// `version`: `EEXIST` if it changed, `ENOENT` if the key is absent. The
/// item keeps its expiry.
pub const KV_OP_PUT_VER: u32 = 4;
/// [`KvCacheOp::op`]: add `number` to the item's value read as a decimal
/// `i64`, the result into `number`; an absent key is created with the value
/// `number` and the expiry `ttl_ms`.
pub const KV_OP_INCR: u32 = 5;
/// [`KvCacheOp::op`]: set a present item's expiry to `ttl_ms` (0: never)
/// without changing its value.
pub const KV_OP_TOUCH: u32 = 6;
/// [`KvCacheOp::op`]: the milliseconds the item has left into `number`, or
/// -1 for an item that never expires.
pub const KV_OP_TTL: u32 = 7;
/// Most ops in one batch.
pub const KV_BATCH_MAX: u32 = 256;

/// One operation of a batch, and the argument of put-with-flags.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvOp {
    /// `KV_OP_GET`, `KV_OP_PUT` or `KV_OP_DEL`.
    pub op: u32,
    /// `KV_PUT_NOEXIST` or `KV_PUT_EXIST` for a put; 0 otherwise.
    pub flags: u32,
    /// Out: 0 or a negative errno.
    pub result: i32,
    /// Must be 0.
    pub reserved: u32,
    pub pair: KvPair,
}

/// One operation of a cache batch, and the argument of the one-op cache
/// ioctl: [`KvOp`] with an expiry, a version and a number. Every `KV_OP_*`
/// applies.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvCacheOp {
    /// A `KV_OP_*` code.
    pub op: u32,
    /// `KV_PUT_NOEXIST` or `KV_PUT_EXIST` for a put; 0 otherwise.
    pub flags: u32,
    /// Out (batch only): 0 or a negative errno.
    pub result: i32,
    /// Must be 0.
    pub reserved: u32,
    /// In: the expiry of a put, a touch, or an increment that creates its
    /// key, in milliseconds from now; 0: never. 0 for the other ops.
    pub ttl_ms: u64,
    /// In: a versioned put's expected version (0 for the other ops). Out:
    /// a get's item version.
    pub version: u64,
    /// In: an increment's delta. Out: an increment's result, or the
    /// milliseconds a ttl op found left (-1: never expires). 0 otherwise.
    pub number: i64,
    pub pair: KvPair,
}

/// The argument of batch. Pointers travel as 64-bit integers, so 32- and
/// 64-bit callers share the layout (as `bpf(2)` does).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvBatchArgs {
    /// Address of `count` [`KvOp`]s.
    pub ops: u64,
    /// Number of ops, at most `KV_BATCH_MAX`.
    pub count: u32,
    /// Must be 0.
    pub reserved: u32,
}

/// The argument of dump.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvDumpArgs {
    /// In: 0 to start, else the value the previous dump returned. Out: where
    /// the next dump continues.
    pub cursor: u64,
    /// Address of room for `count` [`KvPair`]s.
    pub pairs: u64,
    /// In: room in `pairs`. Out: pairs written (0: the end), or with
    /// ENOSPC the room the next bucket needs.
    pub count: u32,
    /// Must be 0.
    pub reserved: u32,
}

/// The first bytes of a mapping of the store (`mmap` of `/dev/kvstore` at
/// offset 0): "kvstore" and a zero byte, little-endian.
pub const KV_MAP_MAGIC: u64 = u64::from_le_bytes(*b"kvstore\0");
/// The layout this header describes (`docs/mapping.md`). A reader that
/// does not know the version uses the ioctls.
pub const KV_MAP_VERSION: u32 = 2;
/// Pages of the mapping's offsets each block takes: block `b`'s records are
/// mapped at page offset `block_pgoff + b * KV_MAP_BLOCK_PAGES`, and a
/// block holds at most this many pages.
pub const KV_MAP_BLOCK_PAGES: u64 = 64;

/// The header page of a mapping of the store: where a reader finds the
/// rest. Written once at load; every field is a whole word, so the page
/// holds no padding, and the rest of the page is zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvMapHeader {
    /// [`KV_MAP_MAGIC`].
    pub magic: u64,
    /// [`KV_MAP_VERSION`].
    pub version: u32,
    /// The eviction policy, as `use_lru` (0 none, 1 LRU, 2 SIEVE).
    pub policy: u32,
    /// Number of buckets.
    pub bucket_count: u32,
    /// Number of blocks, each of `block_slots` records.
    pub blocks: u32,
    /// Records per block (slot `i` is record `i % block_slots` of block
    /// `i / block_slots`).
    pub block_slots: u32,
    /// 8-byte words of a record's header.
    pub header_words: u32,
    /// The hash's two secrets.
    pub seed: [u64; 2],
    /// Byte offset in this mapping of the block table: `blocks` 8-byte
    /// entries, each a block's stride in words (0: no records) in bits
    /// 0..32 and its generation, which changes whenever the block does, in
    /// bits 32..64.
    pub block_table: u64,
    /// Byte offset in this mapping of the buckets: `bucket_count` pairs of
    /// 32-bit words, the sequence count and the chain's first slot.
    pub buckets: u64,
    /// Bytes of this mapping (header, block table and buckets, each in
    /// whole pages).
    pub map_bytes: u64,
    /// Page offset of block 0's records ([`KV_MAP_BLOCK_PAGES`]).
    pub block_pgoff: u64,
    /// Byte offset in this mapping of the eviction count: a 32-bit word,
    /// odd while an eviction runs, which a reader validates as it does a
    /// bucket's sequence count.
    pub evictions: u64,
    /// Page offset of the mark words (SIEVE only): one 64-bit word per
    /// slot (slot `i` is word `i`), each the generation of the slot's item
    /// in bits 32..64, a stamp that each read of the mark by an eviction
    /// advances in bits 1..32 and the visited mark in bit 0; a reader
    /// marks an item it found through a writable mapping of them with a
    /// compare-exchange from the word its walk saw (`docs/mapping.md`).
    pub marks_pgoff: u64,
    /// Bytes of the mark words: `blocks * block_slots * 8` (a multiple of
    /// a page); 0: none (a store without SIEVE).
    pub marks_bytes: u64,
}

impl KvKey {
    pub const ZERO: Self = Self {
        len: 0,
        data: [0; KV_MAX_KEY],
    };
}

impl KvValue {
    pub const ZERO: Self = Self {
        len: 0,
        data: [0; KV_MAX_VAL],
    };
}

impl KvPair {
    pub const ZERO: Self = Self {
        key: KvKey::ZERO,
        value: KvValue::ZERO,
    };
}

impl KvUsageStat {
    pub const ZERO: Self = Self {
        bucket_count: 0,
        max_items: 0,
        curr_items: 0,
        use_lru: 0,
        hits: 0,
        misses: 0,
        evictions: 0,
        bytes_used: 0,
        filled: 0,
        puts: 0,
        deletes: 0,
        expired: 0,
        memory: 0,
        reserved: [0; KV_STAT_RESERVED],
    };
}

impl KvOp {
    pub const ZERO: Self = Self {
        op: 0,
        flags: 0,
        result: 0,
        reserved: 0,
        pair: KvPair::ZERO,
    };
}

impl KvCacheOp {
    pub const ZERO: Self = Self {
        op: 0,
        flags: 0,
        result: 0,
        reserved: 0,
        ttl_ms: 0,
        version: 0,
        number: 0,
        pair: KvPair::ZERO,
    };
}

/// The ioctl "magic" (type) byte. 0xB9 is free in the kernel's registry
/// (Documentation/userspace-api/ioctl/ioctl-number.rst, between 0xB8 and 0xBA).
pub const KV_IOC_MAGIC: u32 = 0xB9;

// The generic Linux ioctl encoding (include/uapi/asm-generic/ioctl.h), which
// x86, arm64 and riscv use: dir:2 | size:14 | type:8 | nr:8.
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    // Every size here is a compile-time constant far below the 14-bit limit.
    assert!(size < (1 << 14));
    (dir << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | (KV_IOC_MAGIC << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
}

/// Insert or replace: `_IOW(0xB9, 1, struct kv_pair)`.
pub const KV_IOC_PUT: u32 = ioc(IOC_WRITE, 1, core::mem::size_of::<KvPair>());
/// Look up: `_IOWR(0xB9, 2, struct kv_pair)`.
pub const KV_IOC_GET: u32 = ioc(IOC_READ | IOC_WRITE, 2, core::mem::size_of::<KvPair>());
/// Delete: `_IOW(0xB9, 3, struct kv_key)`.
pub const KV_IOC_DEL: u32 = ioc(IOC_WRITE, 3, core::mem::size_of::<KvKey>());
/// Usage and counters: `_IOR(0xB9, 4, struct kv_usage_stat)`.
pub const KV_IOC_STAT: u32 = ioc(IOC_READ, 4, core::mem::size_of::<KvUsageStat>());

/// Put with flags: `_IOW(0xB9, 5, struct kv_op)`; `op` must be `KV_OP_PUT`.
pub const KV_IOC_PUT_FLAGS: u32 = ioc(IOC_WRITE, 5, core::mem::size_of::<KvOp>());
/// Batch: `_IOWR(0xB9, 6, struct kv_batch_args)`; returns the ops processed.
pub const KV_IOC_BATCH: u32 = ioc(IOC_READ | IOC_WRITE, 6, core::mem::size_of::<KvBatchArgs>());
/// Dump a page of items: `_IOWR(0xB9, 7, struct kv_dump_args)`.
pub const KV_IOC_DUMP: u32 = ioc(IOC_READ | IOC_WRITE, 7, core::mem::size_of::<KvDumpArgs>());
/// Remove every item: `_IO(0xB9, 8)`.
pub const KV_IOC_CLEAR: u32 = ioc(0, 8, 0);
/// One cache op: `_IOWR(0xB9, 9, struct kv_cache_op)`; its error is the
/// ioctl's (`result` is not written), its outputs go to the struct.
pub const KV_IOC_CACHE_OP: u32 = ioc(IOC_READ | IOC_WRITE, 9, core::mem::size_of::<KvCacheOp>());
/// Cache batch: `_IOWR(0xB9, 10, struct kv_batch_args)` whose `ops` are
/// [`KvCacheOp`]s; returns the ops processed.
pub const KV_IOC_CACHE_BATCH: u32 = ioc(
    IOC_READ | IOC_WRITE,
    10,
    core::mem::size_of::<KvBatchArgs>(),
);

// The layout is part of the ABI: these fail the build if it ever changes.
const _: () = assert!(core::mem::size_of::<KvKey>() == 68);
const _: () = assert!(core::mem::size_of::<KvValue>() == 260);
const _: () = assert!(core::mem::size_of::<KvPair>() == 328);
const _: () = assert!(core::mem::size_of::<KvUsageStat>() == 128);
const _: () = assert!(core::mem::size_of::<KvOp>() == 344);
const _: () = assert!(core::mem::size_of::<KvCacheOp>() == 368);
const _: () = assert!(core::mem::size_of::<KvBatchArgs>() == 16);
const _: () = assert!(core::mem::size_of::<KvDumpArgs>() == 24);
