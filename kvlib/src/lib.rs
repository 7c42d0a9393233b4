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
//! # Ok::<(), kvlib::Error>(())
//! ```
//!
//! Keys are 1 to [`KV_MAX_KEY`] bytes and values 0 to [`KV_MAX_VAL`] bytes,
//! any byte values.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use kv_core::abi::{KvKey, KvPair, KvUsageStat};
pub use kv_core::abi::{KV_MAX_KEY, KV_MAX_VAL};
use nix::errno::Errno;

mod ffi;
mod sys;

/// The device the kv module creates.
pub const DEFAULT_DEVICE: &str = "/dev/kvstore";

/// What can go wrong. Every failed operation leaves the store unchanged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The key is not in the store.
    #[error("Key not found")]
    NotFound,
    /// The key is empty or longer than [`KV_MAX_KEY`].
    #[error("key is {len} bytes; keys are 1 to {KV_MAX_KEY} bytes")]
    KeyLength { len: usize },
    /// The value is longer than [`KV_MAX_VAL`].
    #[error("value is {len} bytes; values are at most {KV_MAX_VAL} bytes")]
    ValueLength { len: usize },
    /// The store is full and the module was loaded without LRU eviction.
    #[error("Store is full (max_items reached and use_lru=0)")]
    StoreFull,
    /// The device does not exist: the module is not loaded.
    #[error("{}: no such device; is the kv module loaded? (sudo insmod kv.ko)", path.display())]
    DeviceMissing { path: PathBuf },
    /// No permission to open the device.
    #[error("{}: permission denied; run as root or join the group that owns it (kvstore)", path.display())]
    PermissionDenied { path: PathBuf },
    /// A put or del on a store opened with [`Store::open_read_only`] (the
    /// kernel answers EBADF).
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
        }
    }
}

/// An open `/dev/kvstore`. Operations are atomic in the kernel; a `Store`
/// may be shared between threads.
#[derive(Debug)]
pub struct Store {
    fd: OwnedFd,
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

    /// Opens [`DEFAULT_DEVICE`] read-only: get and stat work, put and del
    /// fail with [`Error::ReadOnly`]. Needs only read permission on the
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
            Ok(file) => Ok(Store { fd: file.into() }),
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

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Vec<u8>> {
        let mut buf = [0u8; KV_MAX_VAL];
        let len = self.get_into(key, &mut buf)?;
        Ok(buf[..len].to_vec())
    }

    /// Copies the value of `key` into `buf` without allocating; returns its
    /// length. [`Error::BufferTooSmall`] when `buf` is shorter than the value.
    pub fn get_into(&self, key: &[u8], buf: &mut [u8]) -> Result<usize> {
        let mut pair = pair(key, b"")?;
        // SAFETY: `pair` is a live KvPair the kernel may write.
        unsafe { sys::get(self.fd.as_raw_fd(), &mut pair) }.map_err(|e| op_error("get", e))?;
        let value = pair
            .value
            .data
            .get(..pair.value.len as usize)
            .ok_or(Error::Os {
                op: "get",
                errno: Errno::EIO, // the kernel never returns a length above KV_MAX_VAL
            })?;
        let capacity = buf.len();
        let dest = buf.get_mut(..value.len()).ok_or(Error::BufferTooSmall {
            needed: value.len(),
            capacity,
        })?;
        dest.copy_from_slice(value);
        Ok(value.len())
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
        errno => Error::Os { op, errno },
    }
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
