//! What the benchmark drives: kvstore through raw ioctls on `/dev/kvstore`,
//! and BPF hash maps through `bpf(2)`, behind one small interface so every
//! measurement loop runs the same code for both.
//!
//! Raw calls, not kvlib: the figures are the kernel's cost plus one ioctl,
//! nothing of a library's own.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use kv_module::abi::{KvKey, KvOp, KvPair, KvUsageStat, KV_OP_GET};
use kv_module::abi::{KV_IOC_DEL, KV_IOC_GET, KV_IOC_MAGIC, KV_IOC_PUT, KV_IOC_STAT};
use kv_test_support::{pair, Dev, Errno};

/// An ioctl number no driver answers but with ENOTTY: kvstore's magic, a
/// command number it does not use, no size.
pub const IOC_UNKNOWN: u32 = (KV_IOC_MAGIC << 8) | 0xEE;

/// The key of item `i` in a store of `key_size`-byte keys: the index in the
/// first 8 bytes (so every key differs), a fixed filler after it. `miss`
/// keys use another range of indices and are never stored.
pub fn key_bytes(i: u64, key_size: usize, miss: bool) -> Vec<u8> {
    let tag = if miss { i | (1 << 62) } else { i };
    let mut key = vec![0xA5u8; key_size];
    let n = key_size.min(8);
    key[..n].copy_from_slice(&tag.to_le_bytes()[..n]);
    key
}

/// The value written for item `i`: `value_size` bytes derived from `i`.
pub fn value_bytes(i: u64, value_size: usize) -> Vec<u8> {
    (0..value_size)
        .map(|j| (i as usize).wrapping_add(j) as u8)
        .collect()
}

/// One operation's argument, built once before a timed loop.
pub struct Request {
    key: Vec<u8>,
    value: Vec<u8>,
    pair: KvPair,
}

impl Request {
    pub fn new(key: Vec<u8>, value: Vec<u8>) -> Request {
        let pair = pair(&key, &value);
        Request { key, value, pair }
    }
}

/// kvstore through kvlib, whose gets read the store's read-only mapping
/// without a system call; puts and dels are kvlib's ioctls.
pub struct Mapped(kvlib::Store);

impl Mapped {
    /// Opens `/dev/kvstore`; an error unless kvlib reads it through the
    /// mapping (the module refused it, or its policy evicts).
    pub fn open() -> io::Result<Mapped> {
        let store = kvlib::Store::open().map_err(io::Error::other)?;
        if !store.mapped_reads() {
            return Err(io::Error::other(
                "kvlib does not read this store through a mapping",
            ));
        }
        Ok(Mapped(store))
    }
}

/// kvlib's errors as the benchmark loops take them: ENOENT for a miss.
fn kvlib_result<T>(r: kvlib::Result<T>) -> io::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(kvlib::Error::NotFound) => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        Err(e) => Err(io::Error::other(e)),
    }
}

impl Target for Mapped {
    /// Into the request's own value buffer, as the ioctl get.
    #[inline]
    fn get(&self, req: &mut Request) -> io::Result<()> {
        kvlib_result(self.0.get_into(&req.key, &mut req.pair.value.data))
    }

    fn put(&self, req: &Request) -> io::Result<()> {
        kvlib_result(self.0.put(&req.key, &req.value))
    }

    fn del(&self, req: &Request) -> io::Result<()> {
        kvlib_result(self.0.del(&req.key))
    }
}

/// A key-value store under test.
pub trait Target: Sync {
    fn get(&self, req: &mut Request) -> io::Result<()>;
    fn put(&self, req: &Request) -> io::Result<()>;
    fn del(&self, req: &Request) -> io::Result<()>;
}

/// Opens `/dev/kvstore`.
pub fn open() -> io::Result<Dev> {
    Dev::open().map_err(io::Error::other)
}

/// An ioctl's answer as the benchmark loops take it.
#[inline]
fn io_result(r: Result<i32, Errno>) -> io::Result<()> {
    r.map(drop).map_err(io::Error::from_raw_os_error)
}

/// The store's counters.
pub fn stat(kv: &Dev) -> io::Result<KvUsageStat> {
    let mut out = KvUsageStat::ZERO;
    io_result(kv.ioctl(KV_IOC_STAT, &mut out as *mut KvUsageStat as usize))?;
    Ok(out)
}

/// Runs `ops` in one `KV_IOC_BATCH`; an error if any op failed.
pub fn batch(kv: &Dev, ops: &mut [KvOp]) -> io::Result<()> {
    let n = kv.batch(ops).map_err(io::Error::from_raw_os_error)?;
    if n as usize != ops.len() || ops.iter().any(|op| op.result != 0) {
        return Err(io::Error::other("a batched op failed"));
    }
    Ok(())
}

/// The ioctl floor: a command the module answers with ENOTTY.
pub fn unknown_ioctl(kv: &Dev) -> io::Result<()> {
    match io_result(kv.ioctl(IOC_UNKNOWN, 0)) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => Ok(()),
        Err(e) => Err(e),
        Ok(()) => Err(io::Error::other("the unknown ioctl succeeded")),
    }
}

/// A batch op that gets `req`'s key.
pub fn get_op(req: &Request) -> KvOp {
    KvOp {
        op: KV_OP_GET,
        flags: 0,
        result: 0,
        reserved: 0,
        pair: req.pair,
    }
}

impl Target for Dev {
    fn get(&self, req: &mut Request) -> io::Result<()> {
        io_result(self.ioctl(KV_IOC_GET, &mut req.pair as *mut KvPair as usize))
    }

    fn put(&self, req: &Request) -> io::Result<()> {
        io_result(self.ioctl(KV_IOC_PUT, &req.pair as *const KvPair as usize))
    }

    fn del(&self, req: &Request) -> io::Result<()> {
        io_result(self.ioctl(KV_IOC_DEL, &req.pair.key as *const KvKey as usize))
    }
}

// --- BPF maps through bpf(2) ---------------------------------------------------

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_ANY: u64 = 0;
/// `map_flags` of a hash map whose elements are allocated as they are
/// inserted, not all at its creation.
pub const BPF_F_NO_PREALLOC: u32 = 1;

/// `BPF_MAP_TYPE_HASH` or `BPF_MAP_TYPE_LRU_HASH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    Hash = 1,
    LruHash = 9,
}

/// The head of `union bpf_attr` for BPF_MAP_CREATE (the kernel zero-fills
/// the fields past the size passed).
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

/// `union bpf_attr` for the element commands.
#[repr(C)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised `repr(C)` prefix of `union
    // bpf_attr` for `cmd`, and its size is passed with it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A BPF hash map in this process, the kernel's own key-value store for
/// userspace.
pub struct BpfMap {
    fd: OwnedFd,
}

impl BpfMap {
    pub fn create(
        kind: MapKind,
        key_size: usize,
        value_size: usize,
        entries: usize,
    ) -> io::Result<BpfMap> {
        BpfMap::create_with_flags(kind, key_size, value_size, entries, 0)
    }

    /// A map created with `map_flags` (0: every element allocated at
    /// creation, or `BPF_F_NO_PREALLOC`).
    pub fn create_with_flags(
        kind: MapKind,
        key_size: usize,
        value_size: usize,
        entries: usize,
        map_flags: u32,
    ) -> io::Result<BpfMap> {
        let mut attr = MapCreateAttr {
            map_type: kind as u32,
            key_size: key_size as u32,
            value_size: value_size as u32,
            max_entries: entries as u32,
            map_flags,
        };
        let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
        // SAFETY: BPF_MAP_CREATE returned a new file descriptor that nothing
        // else owns.
        Ok(BpfMap {
            fd: unsafe { OwnedFd::from_raw_fd(fd as RawFd) },
        })
    }

    /// The map's memory in bytes as the kernel itself counts it: `memlock`
    /// of the map's `/proc/self/fdinfo` (a sum of its structures' sizes,
    /// not the pages they take).
    pub fn memlock(&self) -> io::Result<u64> {
        let path = format!("/proc/self/fdinfo/{}", self.fd.as_raw_fd());
        let info = std::fs::read_to_string(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
        info.lines()
            .find_map(|l| l.strip_prefix("memlock:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("{path} has no memlock")))
    }

    fn elem(&self, cmd: libc::c_long, key: *const u8, value: *const u8) -> io::Result<()> {
        let mut attr = ElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            _pad: 0,
            key: key as u64,
            value: value as u64,
            flags: BPF_ANY,
        };
        bpf(cmd, &mut attr).map(drop)
    }
}

impl Target for BpfMap {
    fn get(&self, req: &mut Request) -> io::Result<()> {
        self.elem(
            BPF_MAP_LOOKUP_ELEM,
            req.key.as_ptr(),
            req.value.as_mut_ptr(),
        )
    }

    fn put(&self, req: &Request) -> io::Result<()> {
        self.elem(BPF_MAP_UPDATE_ELEM, req.key.as_ptr(), req.value.as_ptr())
    }

    fn del(&self, req: &Request) -> io::Result<()> {
        self.elem(BPF_MAP_DELETE_ELEM, req.key.as_ptr(), std::ptr::null())
    }
}
