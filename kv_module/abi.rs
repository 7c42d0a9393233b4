// SPDX-License-Identifier: GPL-2.0
//! The userspace ABI of `/dev/kvstore`: the one source of truth for the ioctl
//! structs and numbers.
//!
//! The kernel module compiles this file in, `kvlib` (and through it `libkv.so`
//! and `kvctl`) uses it through the `kv_core` crate, and `include/kv.h` mirrors
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

/// A value: `len` bytes of `data` are the value. A get zeroes the rest.
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
pub const KV_STAT_RESERVED: usize = 10;

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
    /// Gets that found their key.
    pub hits: u64,
    /// Gets that did not find their key.
    pub misses: u64,
    /// Items removed to make room for new ones.
    pub evictions: u64,
    /// Key and value bytes held now.
    pub bytes_used: u64,
    pub reserved: [u64; KV_STAT_RESERVED],
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
        reserved: [0; KV_STAT_RESERVED],
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

// The layout is part of the ABI: these fail the build if it ever changes.
const _: () = assert!(core::mem::size_of::<KvKey>() == 68);
const _: () = assert!(core::mem::size_of::<KvValue>() == 260);
const _: () = assert!(core::mem::size_of::<KvPair>() == 328);
const _: () = assert!(core::mem::size_of::<KvUsageStat>() == 128);
