//! A safe Rust API for kvstore, the in-kernel key-value store behind
//! `/dev/kvstore` (the `kv` kernel module). Built as a cdylib too, this crate
//! is `libkv.so`, whose C interface is in `include/kv.h`.
//!
//! ```no_run
//! use kvlib::{Error, Store};
//!
//! let store = Store::open()?;
//! store.put(b"hello", b"world")?;
//! assert_eq!(store.get(b"hello")?, b"world");
//! store.del(b"hello")?;
//! assert!(matches!(store.get(b"hello"), Err(Error::NotFound)));
//! println!("{} items", store.stat()?.curr_items);
//!
//! use kvlib::{Op, Put};
//! assert_eq!(store.put_with(b"lock", b"me", Put::IfAbsent), Ok(()));
//! assert_eq!(store.put_with(b"lock", b"you", Put::IfAbsent), Err(Error::Exists));
//! let mut ops = [Op::get(b"lock")?, Op::del(b"lock")?, Op::get(b"lock")?];
//! store.batch(&mut ops)?;
//! assert_eq!(ops[0].value(), Some(&b"me"[..]));
//! assert_eq!(ops[2].result(), Err(Error::NotFound));
//! for item in store.iter() {
//!     let (key, value) = item?;
//!     println!("{key:?} = {value:?}");
//! }
//! store.clear()?;
//! # Ok::<(), kvlib::Error>(())
//! ```
//!
//! Keys are 1 to [`KV_MAX_KEY`] bytes and values 0 to [`KV_MAX_VAL`] bytes,
//! any byte values.
//!
//! # Gets without a system call
//!
//! When the module lets the store be mapped (`mmap` of the device,
//! `docs/mapping.md`) and evicts nothing (`use_lru=0`) or evicts under
//! SIEVE (`use_lru=2`, on a store open for writing: a hit marks its item
//! in a writable mapping of SIEVE's mark words), [`Store::get`] and
//! [`Store::get_into`] read the store through a read-only mapping, with
//! the kernel's own lock-free algorithm, and take the ioctl only when
//! that cannot answer (no mapping, exact LRU, a SIEVE store open for
//! reading only, a bucket under constant change, a SIEVE hit that an
//! eviction overtook before its mark landed). The answers are the same either way. The kernel
//! does not see a mapped get, so its `hits` and `misses` counters
//! ([`Stat::hits`], [`Stat::misses`]) count only the gets that took the
//! ioctl. [`Store::set_mapped_reads`] turns mapped gets off (and on), and
//! so does the environment variable `KVLIB_MAPPED_READS=0` at open.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use kv_module::abi::{
    KvBatchArgs, KvDumpArgs, KvKey, KvOp, KvPair, KvUsageStat, KV_OP_DEL, KV_OP_GET, KV_OP_PUT,
    KV_PUT_EXIST, KV_PUT_NOEXIST, KV_STAT_HAS_DELETES, KV_STAT_HAS_EXPIRED, KV_STAT_HAS_MEMORY,
    KV_STAT_HAS_PUTS,
};
pub use kv_module::abi::{KV_BATCH_MAX, KV_MAX_KEY, KV_MAX_VAL};
use nix::errno::Errno;

mod cache;
mod ffi;
mod map;
mod sys;

pub use cache::CacheOp;

/// The device the kv module creates.
pub const DEFAULT_DEVICE: &str = "/dev/kvstore";

/// What can go wrong. Every failed operation leaves the store unchanged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The key is not in the store.
    #[error("Key not found")]
    NotFound,
    /// A put with [`Put::IfAbsent`] found the key in the store, or a
    /// versioned put ([`Store::put_ver`]) found the item's version changed.
    #[error("Key exists")]
    Exists,
    /// [`Store::incr`]: the value is not the decimal text of an `i64`.
    #[error("the value is not a decimal 64-bit integer")]
    NotANumber,
    /// [`Store::incr`]: the result is outside `i64`.
    #[error("the result is outside the 64-bit integer range")]
    Overflow,
    /// [`Op::result`] of an op that has not run in a batch.
    #[error("the op has not run")]
    NotRun,
    /// The key is empty or longer than [`KV_MAX_KEY`].
    #[error("key is {len} bytes; keys are 1 to {KV_MAX_KEY} bytes")]
    KeyLength { len: usize },
    /// The value is longer than [`KV_MAX_VAL`].
    #[error("value is {len} bytes; values are at most {KV_MAX_VAL} bytes")]
    ValueLength { len: usize },
    /// The store is full and the module evicts nothing (`use_lru=0`).
    #[error("Store is full (max_items reached and use_lru=0)")]
    StoreFull,
    /// The device does not exist: the module is not loaded.
    #[error("{}: no such device; is the kv module loaded? (sudo insmod kv.ko)", path.display())]
    DeviceMissing { path: PathBuf },
    /// No permission to open the device.
    #[error("{}: permission denied; run as root or join the group that owns it (kvstore)", path.display())]
    PermissionDenied { path: PathBuf },
    /// A put, del or clear on a store opened with [`Store::open_read_only`]
    /// (the kernel answers EBADF).
    #[error("the store was opened read-only")]
    ReadOnly,
    /// [`Store::get_into`]'s buffer cannot hold the value.
    #[error("the value is {needed} bytes but the buffer holds {capacity}")]
    BufferTooSmall { needed: usize, capacity: usize },
    /// Any other failure, with the operation and the errno.
    #[error("{op}: {errno}")]
    Os { op: &'static str, errno: Errno },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a put of a new key into a full store does (module parameter
/// `use_lru`, reported in `kv_usage_stat.use_lru`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// 0: nothing is evicted; the put fails with [`Error::StoreFull`].
    None,
    /// 1: exact LRU: the least recently used item is evicted.
    Lru,
    /// 2: SIEVE: an item not read since the eviction hand last passed it.
    Sieve,
    /// A number this library does not know (a newer module).
    Other(u32),
}

impl Policy {
    /// The policy the stat ioctl's `use_lru` number stands for.
    pub fn from_raw(n: u32) -> Self {
        match n {
            0 => Policy::None,
            1 => Policy::Lru,
            2 => Policy::Sieve,
            n => Policy::Other(n),
        }
    }

    /// A short name: `none`, `lru`, `sieve` (`policy-N` for an unknown one).
    pub fn name(&self) -> String {
        match self {
            Policy::None => "none".into(),
            Policy::Lru => "lru".into(),
            Policy::Sieve => "sieve".into(),
            Policy::Other(n) => format!("policy-{n}"),
        }
    }
}

/// Sizes and counters of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Hash buckets (module parameter `buckets`).
    pub bucket_count: u32,
    /// Capacity in items (module parameter `max_items`).
    pub max_items: u32,
    /// Items stored now.
    pub curr_items: u32,
    /// Whether a put into a full store evicts the least recently used item
    /// (exact LRU, `policy == Policy::Lru`).
    pub use_lru: bool,
    /// The eviction policy (module parameter `use_lru`).
    pub policy: Policy,
    /// Gets that found their key.
    pub hits: u64,
    /// Gets that did not.
    pub misses: u64,
    /// Items evicted to make room.
    pub evictions: u64,
    /// Key and value bytes held now.
    pub bytes_used: u64,
    /// Successful puts; `None` from a module that does not count them.
    pub puts: Option<u64>,
    /// Successful deletes; `None` from a module that does not count them.
    pub deletes: Option<u64>,
    /// Items removed because they expired; `None` from a module without
    /// expiry.
    pub expired: Option<u64>,
    /// Kernel memory the store holds, in bytes; `None` from a module that
    /// does not say.
    pub memory: Option<u64>,
}

impl From<&KvUsageStat> for Stat {
    fn from(s: &KvUsageStat) -> Self {
        Stat {
            bucket_count: s.bucket_count,
            max_items: s.max_items,
            curr_items: s.curr_items,
            use_lru: s.use_lru == 1,
            policy: Policy::from_raw(s.use_lru),
            hits: s.hits,
            misses: s.misses,
            evictions: s.evictions,
            bytes_used: s.bytes_used,
            puts: (s.filled & KV_STAT_HAS_PUTS != 0).then_some(s.puts),
            deletes: (s.filled & KV_STAT_HAS_DELETES != 0).then_some(s.deletes),
            expired: (s.filled & KV_STAT_HAS_EXPIRED != 0).then_some(s.expired),
            memory: (s.filled & KV_STAT_HAS_MEMORY != 0).then_some(s.memory),
        }
    }
}

/// When [`Store::put_with`] (or a put [`Op`]) may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// Insert or replace, as [`Store::put`].
    Always,
    /// Insert only; [`Error::Exists`] when the key is there.
    IfAbsent,
    /// Replace only; [`Error::NotFound`] when the key is not there.
    IfPresent,
}

impl Put {
    fn flags(self) -> u32 {
        match self {
            Put::Always => 0,
            Put::IfAbsent => KV_PUT_NOEXIST,
            Put::IfPresent => KV_PUT_EXIST,
        }
    }
}

/// `result` of an op that has not run (the kernel writes 0 or a negative errno).
const NOT_RUN: i32 = 1;

/// One operation of [`Store::batch`]: build it with [`Op::get`], [`Op::put`]
/// or [`Op::del`], run it, then read [`Op::result`] and [`Op::value`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Op(KvOp);

/// An op a batch ioctl runs.
///
/// # Safety
/// The type is `#[repr(transparent)]` over the struct that `RUN` sends the
/// kernel an array of.
pub(crate) unsafe trait BatchOp {
    /// The batch ioctl for this kind of op.
    const RUN: unsafe fn(RawFd, &mut KvBatchArgs) -> std::result::Result<u32, Errno>;
    /// The op's answer field.
    fn result(&mut self) -> &mut i32;
}

// SAFETY: `Op` is a transparent `KvOp`, what `sys::batch` sends.
unsafe impl BatchOp for Op {
    const RUN: unsafe fn(RawFd, &mut KvBatchArgs) -> std::result::Result<u32, Errno> = sys::batch;
    fn result(&mut self) -> &mut i32 {
        &mut self.0.result
    }
}

impl Op {
    fn new(op: u32, flags: u32, pair: KvPair) -> Op {
        Op(KvOp {
            op,
            flags,
            result: NOT_RUN,
            reserved: 0,
            pair,
        })
    }

    /// Looks up `key`.
    pub fn get(key: &[u8]) -> Result<Op> {
        Ok(Op::new(KV_OP_GET, 0, pair(key, b"")?))
    }

    /// Puts `key` with `value` if `when` allows.
    pub fn put(key: &[u8], value: &[u8], when: Put) -> Result<Op> {
        Ok(Op::new(KV_OP_PUT, when.flags(), pair(key, value)?))
    }

    /// Deletes `key`.
    pub fn del(key: &[u8]) -> Result<Op> {
        Ok(Op::new(KV_OP_DEL, 0, pair(key, b"")?))
    }

    /// The op's outcome once run: `Ok`, or its error ([`Error::NotRun`]
    /// before).
    pub fn result(&self) -> Result<()> {
        match self.0.result {
            0 => Ok(()),
            NOT_RUN => Err(Error::NotRun),
            neg => Err(op_error("batch", Errno::from_raw(neg.saturating_neg()))),
        }
    }

    /// The value a successful get found; `None` for other ops or results.
    pub fn value(&self) -> Option<&[u8]> {
        if self.0.op != KV_OP_GET || self.0.result != 0 {
            return None;
        }
        self.0.pair.value.data.get(..self.0.pair.value.len as usize)
    }
}

/// An open `/dev/kvstore`. Operations are atomic in the kernel; a `Store`
/// may be shared between threads.
#[derive(Debug)]
pub struct Store {
    fd: OwnedFd,
    /// The read-only mapping of the store, made by the first get that may
    /// use it; `None` inside: the store cannot be mapped (`map.rs`).
    mapping: OnceLock<Option<map::Mapping>>,
    /// Whether gets may use the mapping ([`Store::set_mapped_reads`]).
    mapped_reads: AtomicBool,
}

/// The environment variable that, set to `0` when a store is opened,
/// turns its mapped gets off.
pub const MAPPED_READS_ENV: &str = "KVLIB_MAPPED_READS";

/// Whether mapped reads are on for a store opened now: not turned off with
/// [`MAPPED_READS_ENV`]`=0`.
pub(crate) fn mapped_reads_on() -> bool {
    std::env::var_os(MAPPED_READS_ENV).is_none_or(|v| v != "0")
}

impl Store {
    /// Opens [`DEFAULT_DEVICE`].
    pub fn open() -> Result<Store> {
        Store::open_path(DEFAULT_DEVICE)
    }

    /// Opens the device at `path` for reading and writing.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path.as_ref(), true)
    }

    /// Opens [`DEFAULT_DEVICE`] read-only: get, stat and iter work; put,
    /// del and clear fail with [`Error::ReadOnly`], and so do a batch's puts
    /// and dels, each in its own result. Needs only read permission on the
    /// device, so a group can be given read-only access with its mode.
    pub fn open_read_only() -> Result<Store> {
        Store::open_path_read_only(DEFAULT_DEVICE)
    }

    /// Opens the device at `path` read-only (see [`Store::open_read_only`]).
    pub fn open_path_read_only(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path.as_ref(), false)
    }

    fn open_with(path: &Path, write: bool) -> Result<Store> {
        match OpenOptions::new().read(true).write(write).open(path) {
            Ok(file) => Ok(Store {
                fd: file.into(),
                mapping: OnceLock::new(),
                mapped_reads: AtomicBool::new(mapped_reads_on()),
            }),
            Err(e) => Err(open_error(
                path,
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )),
        }
    }

    /// Inserts `key` with `value`, or replaces the value of `key`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let pair = pair(key, value)?;
        // SAFETY: `pair` is a live KvPair for the duration of the call.
        unsafe { sys::put(self.fd.as_raw_fd(), &pair) }.map_err(|e| op_error("put", e))
    }

    /// Puts `key` with `value` if `when` allows: [`Error::Exists`] or
    /// [`Error::NotFound`] when it does not, and then nothing changes.
    pub fn put_with(&self, key: &[u8], value: &[u8], when: Put) -> Result<()> {
        let op = Op::put(key, value, when)?;
        sys::put_flags(self.fd.as_raw_fd(), &op.0).map_err(|e| op_error("put", e))
    }

    /// Runs `ops` in order, each atomic on its own (not a transaction), in
    /// one system call per [`KV_BATCH_MAX`] ops. Each op's own outcome is in
    /// [`Op::result`]; the error here is one of the batch as a whole.
    pub fn batch(&self, ops: &mut [Op]) -> Result<()> {
        self.run_batches(ops)
    }

    /// Runs `ops` through their batch ioctl, [`KV_BATCH_MAX`] at a time,
    /// each marked not run until the kernel answers it.
    fn run_batches<T: BatchOp>(&self, ops: &mut [T]) -> Result<()> {
        for chunk in ops.chunks_mut(KV_BATCH_MAX as usize) {
            for op in chunk.iter_mut() {
                *op.result() = NOT_RUN;
            }
            let mut args = KvBatchArgs {
                ops: chunk.as_mut_ptr() as u64,
                count: chunk.len() as u32, // at most KV_BATCH_MAX
                reserved: 0,
            };
            // SAFETY: `BatchOp`'s contract: `T` is a transparent wrapper of
            // the struct `T::RUN` sends, so `args.ops` points to `count` live
            // ones the kernel may read and write.
            unsafe { (T::RUN)(self.fd.as_raw_fd(), &mut args) }
                .map_err(|e| op_error("batch", e))?;
        }
        Ok(())
    }

    /// Every item as `(key, value)`, paging through the kernel's dump. A key
    /// present for the whole iteration comes exactly once; keys put or
    /// deleted meanwhile may or may not. Reading does not count as a use.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            store: self,
            cursor: 0,
            page: Vec::new(),
            next: 0,
            done: false,
        }
    }

    /// Removes every item.
    pub fn clear(&self) -> Result<()> {
        sys::clear(self.fd.as_raw_fd()).map_err(|e| op_error("clear", e))
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Vec<u8>> {
        let mut buf = [0u8; KV_MAX_VAL];
        let len = self.get_into(key, &mut buf)?;
        Ok(buf[..len].to_vec())
    }

    /// Copies the value of `key` into `buf` without allocating; returns its
    /// length. [`Error::BufferTooSmall`] when `buf` is shorter than the value
    /// (`buf`'s bytes are then unspecified).
    /// Through the mapping when it can (see the crate's docs), else the
    /// ioctl: the same answers.
    #[inline]
    pub fn get_into(&self, key: &[u8], buf: &mut [u8]) -> Result<usize> {
        if let Some(mapping) = self.mapping() {
            // Straight into `buf`: a value longer than it fills it and
            // answers its whole length.
            match mapping.get(key, buf) {
                Some(Some(len)) if len <= buf.len() => return Ok(len),
                Some(Some(len)) => {
                    return Err(Error::BufferTooSmall {
                        needed: len,
                        capacity: buf.len(),
                    })
                }
                // The ioctl's answer for a missing key.
                Some(None) => return Err(Error::NotFound),
                // A bad key, or a get the mapping cannot answer.
                None => {}
            }
        }
        self.get_into_ioctl(key, buf)
    }

    /// [`Store::get_into`] through the ioctl.
    fn get_into_ioctl(&self, key: &[u8], buf: &mut [u8]) -> Result<usize> {
        if key.is_empty() || key.len() > KV_MAX_KEY {
            return Err(Error::KeyLength { len: key.len() });
        }
        let mut pair = pair(key, b"")?;
        // SAFETY: `pair` is a live KvPair the kernel may write.
        unsafe { sys::get(self.fd.as_raw_fd(), &mut pair) }.map_err(|e| op_error("get", e))?;
        copy_value(pair.value.data.get(..pair.value.len as usize), buf)
    }

    /// The mapping gets may use now, if any: made by the first call.
    #[inline]
    fn mapping(&self) -> Option<&map::Mapping> {
        if !self.mapped_reads.load(Ordering::Relaxed) {
            return None;
        }
        self.mapping
            .get_or_init(|| map::Mapping::open(self.fd.as_raw_fd()))
            .as_ref()
    }

    /// Turns gets through the mapping on (the default, unless
    /// `KVLIB_MAPPED_READS=0` was set at open) or off: off, every get takes
    /// the ioctl, for comparison. On, gets use the mapping when the store
    /// can be mapped.
    pub fn set_mapped_reads(&self, on: bool) {
        self.mapped_reads.store(on, Ordering::Relaxed);
    }

    /// Whether gets go through a mapping of the store now: mapped reads on,
    /// and the store mapped (tried here if not yet).
    pub fn mapped_reads(&self) -> bool {
        self.mapping().is_some()
    }

    /// Removes `key`.
    pub fn del(&self, key: &[u8]) -> Result<()> {
        let key = key_struct(key)?;
        // SAFETY: `key` is a live KvKey for the duration of the call.
        unsafe { sys::del(self.fd.as_raw_fd(), &key) }.map_err(|e| op_error("del", e))
    }

    /// Sizes and counters.
    pub fn stat(&self) -> Result<Stat> {
        let mut out = KvUsageStat::ZERO;
        // SAFETY: `out` is a live KvUsageStat the kernel may write.
        unsafe { sys::stat(self.fd.as_raw_fd(), &mut out) }.map_err(|e| op_error("stat", e))?;
        Ok(Stat::from(&out))
    }
}

/// Pairs asked for per dump call at first; a bigger bucket makes it grow.
const DUMP_PAGE: usize = 64;

/// [`Store::iter`]'s iterator.
#[derive(Debug)]
pub struct Iter<'a> {
    store: &'a Store,
    cursor: u64,
    page: Vec<KvPair>,
    next: usize,
    done: bool,
}

impl Iter<'_> {
    /// Fetches the next page into `self.page`; false at the end.
    fn fetch(&mut self) -> Result<bool> {
        let mut room = self.page.capacity().max(DUMP_PAGE);
        loop {
            self.page.clear();
            self.page.resize(room, KvPair::ZERO);
            let mut args = KvDumpArgs {
                cursor: self.cursor,
                pairs: self.page.as_mut_ptr() as u64,
                count: u32::try_from(room).unwrap_or(u32::MAX),
                reserved: 0,
            };
            // SAFETY: `args.pairs` points to `room` live KvPairs.
            match unsafe { sys::dump(self.store.fd.as_raw_fd(), &mut args) } {
                Ok(()) => {
                    self.page.truncate(args.count as usize);
                    self.cursor = args.cursor;
                    self.next = 0;
                    return Ok(!self.page.is_empty());
                }
                // The next bucket needs `args.count` pairs: grow and retry.
                Err(Errno::ENOSPC) if args.count as usize > room => room = args.count as usize,
                Err(e) => return Err(op_error("dump", e)),
            }
        }
    }
}

impl Iterator for Iter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.next >= self.page.len() {
            match self.fetch() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let pair = self.page.get(self.next)?;
        self.next += 1;
        let key = pair.key.data.get(..pair.key.len as usize);
        let value = pair.value.data.get(..pair.value.len as usize);
        Some(match (key, value) {
            (Some(k), Some(v)) => Ok((k.to_vec(), v.to_vec())),
            _ => Err(Error::Os {
                op: "dump",
                errno: Errno::EIO, // the kernel never returns a length above the limits
            }),
        })
    }
}

fn open_error(path: &Path, errno: Errno) -> Error {
    match errno {
        Errno::ENOENT | Errno::ENODEV | Errno::ENXIO => Error::DeviceMissing { path: path.into() },
        Errno::EACCES | Errno::EPERM => Error::PermissionDenied { path: path.into() },
        errno => Error::Os { op: "open", errno },
    }
}

/// The typed error for an ioctl's errno. Lengths are checked before the
/// ioctl, so EINVAL here is unexpected and stays an `Os` error.
fn op_error(op: &'static str, errno: Errno) -> Error {
    match errno {
        Errno::ENOENT => Error::NotFound,
        Errno::ENOSPC => Error::StoreFull,
        Errno::EBADF => Error::ReadOnly,
        Errno::EEXIST => Error::Exists,
        errno => Error::Os { op, errno },
    }
}

/// Copies a get's value (`None`: a length past `KV_MAX_VAL`, which the
/// kernel never gives) into `buf`; its length.
fn copy_value(value: Option<&[u8]>, buf: &mut [u8]) -> Result<usize> {
    let value = value.ok_or(Error::Os {
        op: "get",
        errno: Errno::EIO,
    })?;
    let capacity = buf.len();
    let dest = buf.get_mut(..value.len()).ok_or(Error::BufferTooSmall {
        needed: value.len(),
        capacity,
    })?;
    dest.copy_from_slice(value);
    Ok(value.len())
}

fn key_struct(key: &[u8]) -> Result<KvKey> {
    let mut k = KvKey::ZERO;
    let dest = k.data.get_mut(..key.len()).filter(|_| !key.is_empty());
    dest.ok_or(Error::KeyLength { len: key.len() })?
        .copy_from_slice(key);
    k.len = key.len() as u32; // at most KV_MAX_KEY
    Ok(k)
}

fn pair(key: &[u8], value: &[u8]) -> Result<KvPair> {
    let mut p = KvPair::ZERO;
    p.key = key_struct(key)?;
    let dest = p.value.data.get_mut(..value.len());
    dest.ok_or(Error::ValueLength { len: value.len() })?
        .copy_from_slice(value);
    p.value.len = value.len() as u32; // at most KV_MAX_VAL
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked_before_the_kernel() {
        assert_eq!(pair(b"", b"v").err(), Some(Error::KeyLength { len: 0 }));
        assert_eq!(
            pair(&[0; 65], b"v").err(),
            Some(Error::KeyLength { len: 65 })
        );
        assert_eq!(
            pair(b"k", &[0; 257]).err(),
            Some(Error::ValueLength { len: 257 })
        );
        let p = pair(&[0xff; 64], &[0; 256]).unwrap();
        assert_eq!((p.key.len, p.value.len), (64, 256));
        assert_eq!(key_struct(b"a\0b").unwrap().data[..3], *b"a\0b");
    }

    #[test]
    fn errnos_map_to_typed_errors() {
        assert_eq!(op_error("get", Errno::ENOENT), Error::NotFound);
        assert_eq!(op_error("put", Errno::ENOSPC), Error::StoreFull);
        assert_eq!(op_error("del", Errno::EBADF), Error::ReadOnly);
        assert_eq!(op_error("put", Errno::EEXIST), Error::Exists);
        assert_eq!(
            op_error("put", Errno::EFAULT),
            Error::Os {
                op: "put",
                errno: Errno::EFAULT
            }
        );
        let p = Path::new("/dev/kvstore");
        assert!(matches!(
            open_error(p, Errno::ENOENT),
            Error::DeviceMissing { .. }
        ));
        assert!(matches!(
            open_error(p, Errno::EACCES),
            Error::PermissionDenied { .. }
        ));
        assert!(matches!(
            open_error(p, Errno::EIO),
            Error::Os { op: "open", .. }
        ));
    }

    #[test]
    fn ops_check_lengths_and_report_results() {
        assert_eq!(Op::get(b"").err(), Some(Error::KeyLength { len: 0 }));
        assert_eq!(
            Op::put(b"k", &[0; 257], Put::Always).err(),
            Some(Error::ValueLength { len: 257 })
        );
        let mut op = Op::put(b"k", b"v", Put::IfAbsent).unwrap();
        assert_eq!((op.0.op, op.0.flags), (KV_OP_PUT, KV_PUT_NOEXIST));
        assert_eq!(op.result(), Err(Error::NotRun));
        op.0.result = -libc::EEXIST;
        assert_eq!(op.result(), Err(Error::Exists));
        assert_eq!(op.value(), None);
        let mut get = Op::get(b"k").unwrap();
        get.0.result = 0;
        get.0.pair.value.len = 2;
        get.0.pair.value.data[..2].copy_from_slice(b"ab");
        assert_eq!(get.value(), Some(&b"ab"[..]));
        assert_eq!(Op::del(b"k").unwrap().0.op, KV_OP_DEL);
        assert_eq!(Put::IfPresent.flags(), KV_PUT_EXIST);
    }

    #[test]
    fn stat_reads_new_counters_only_when_filled() {
        let mut raw = KvUsageStat::ZERO;
        raw.puts = 5;
        assert_eq!(Stat::from(&raw).puts, None);
        raw.filled = KV_STAT_HAS_PUTS | KV_STAT_HAS_DELETES;
        assert_eq!(
            (Stat::from(&raw).puts, Stat::from(&raw).deletes),
            (Some(5), Some(0))
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        assert_eq!(Error::NotFound.to_string(), "Key not found");
        let missing = Error::DeviceMissing {
            path: "/dev/kvstore".into(),
        }
        .to_string();
        assert!(missing.contains("is the kv module loaded?"), "{missing}");
        let denied = Error::PermissionDenied {
            path: "/dev/kvstore".into(),
        }
        .to_string();
        assert!(denied.contains("kvstore"), "{denied}");
    }

    #[test]
    fn read_only_open_reports_a_missing_device_too() {
        assert!(matches!(
            Store::open_path_read_only("/nonexistent/kvstore"),
            Err(Error::DeviceMissing { .. })
        ));
    }

    #[test]
    fn missing_device_is_reported_as_such() {
        let err = Store::open_path("/nonexistent/kvstore").unwrap_err();
        assert_eq!(
            err,
            Error::DeviceMissing {
                path: "/nonexistent/kvstore".into()
            }
        );
    }
}
