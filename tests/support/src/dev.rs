//! `/dev/kvstore` through raw ioctls, and loading kv.ko in the guest.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Command, Stdio};

use kv_module::abi::{
    KvBatchArgs, KvCacheOp, KvDumpArgs, KvKey, KvOp, KvPair, KvUsageStat, KV_IOC_BATCH,
    KV_IOC_CACHE_OP, KV_IOC_CLEAR, KV_IOC_DEL, KV_IOC_DUMP, KV_IOC_GET, KV_IOC_PUT,
    KV_IOC_PUT_FLAGS, KV_IOC_STAT, KV_MAX_VAL, KV_OP_INCR, KV_OP_PUT, KV_STAT_RESERVED,
};

use crate::build::{cache_op, key_of, op, pair};

pub const DEVICE: &str = "/dev/kvstore";
/// kv.ko in the rig's guest.
pub const MODULE: &str = "/lib/kv.ko";
pub type Errno = i32;

/// What [`Dev::get_pair`] fills the value buffer with before a get: the
/// kernel writes only the value's bytes, so those after it must come back
/// unchanged.
pub const UNTOUCHED: u8 = 0x5a;

/// The calling thread's errno (read directly: the benchmark's floor, an
/// ioctl answering ENOTTY, goes through here).
#[inline]
pub fn errno() -> Errno {
    // SAFETY: __errno_location returns the address of the calling thread's
    // errno, valid for as long as the thread runs.
    unsafe { *libc::__errno_location() }
}

/// The name of an errno, for messages.
pub fn errno_name(e: Errno) -> String {
    let name = match e {
        0 => "ok",
        libc::EINVAL => "EINVAL",
        libc::EFAULT => "EFAULT",
        libc::ENOTTY => "ENOTTY",
        libc::ENOENT => "ENOENT",
        libc::ENOSPC => "ENOSPC",
        libc::EBADF => "EBADF",
        libc::EEXIST => "EEXIST",
        libc::ENOMEM => "ENOMEM",
        libc::ENODEV => "ENODEV",
        libc::EACCES => "EACCES",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// An open `/dev/kvstore`, closed on drop.
pub struct Dev {
    fd: OwnedFd,
}

impl Dev {
    /// Opens the device for reading and writing.
    pub fn open() -> Result<Dev, String> {
        Dev::open_flags(libc::O_RDWR)
    }

    /// Opens the device with `flags` (O_RDWR, O_RDONLY, O_WRONLY).
    pub fn open_flags(flags: i32) -> Result<Dev, String> {
        let path = CString::new(DEVICE).map_err(|e| e.to_string())?;
        // SAFETY: A NUL-terminated path; open has no other preconditions.
        let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(format!(
                "open {DEVICE} (flags {flags:#o}): {}",
                errno_name(errno())
            ));
        }
        // SAFETY: open returned a new descriptor that nothing else owns.
        Ok(Dev {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The raw ioctl: its non-negative return (a batch's op count, 0 for the
    /// others), or the errno. `arg` may be any address: the kernel checks it
    /// (hostile pointers are part of what is tested).
    #[inline]
    pub fn ioctl(&self, cmd: u32, arg: usize) -> Result<i32, Errno> {
        // SAFETY: An ioctl on our own fd. The kernel reads or writes user
        // memory through `arg` only with its checked copies; callers pass
        // hostile addresses on purpose, or buffers they own that are at
        // least as large as `cmd` encodes.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), cmd as libc::c_ulong, arg) };
        if rc >= 0 {
            Ok(rc)
        } else {
            Err(errno())
        }
    }

    /// An ioctl that answers 0 when it succeeds (every command but a
    /// batch); any positive answer is wrong and comes back as `Err(-n)`.
    fn call(&self, cmd: u32, arg: usize) -> Result<(), Errno> {
        match self.ioctl(cmd, arg)? {
            0 => Ok(()),
            n => Err(-n),
        }
    }

    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), Errno> {
        self.put_pair(&pair(key, value))
    }

    /// A put of a pair as built, bad lengths included.
    pub fn put_pair(&self, p: &KvPair) -> Result<(), Errno> {
        self.call(KV_IOC_PUT, p as *const KvPair as usize)
    }

    /// `KV_IOC_PUT_FLAGS`: a put with `KV_PUT_NOEXIST`, `KV_PUT_EXIST` or 0.
    pub fn put_flags(&self, key: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
        let o = op(KV_OP_PUT, flags, key, value);
        self.call(KV_IOC_PUT_FLAGS, &o as *const KvOp as usize)
    }

    /// The whole pair a get returns, sent with every value byte
    /// [`UNTOUCHED`].
    pub fn get_pair(&self, key: &[u8]) -> Result<KvPair, Errno> {
        let mut p = pair(key, b"");
        p.value.data = [UNTOUCHED; KV_MAX_VAL];
        self.call(KV_IOC_GET, &mut p as *mut KvPair as usize)?;
        Ok(p)
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Vec<u8>, Errno> {
        let p = self.get_pair(key)?;
        let len = (p.value.len as usize).min(KV_MAX_VAL);
        Ok(p.value.data[..len].to_vec())
    }

    pub fn del(&self, key: &[u8]) -> Result<(), Errno> {
        let k = key_of(key);
        self.call(KV_IOC_DEL, &k as *const KvKey as usize)
    }

    /// The store's counters, sent with every reserved word set: the kernel
    /// must zero them.
    pub fn stat(&self) -> Result<KvUsageStat, Errno> {
        let mut s = KvUsageStat::ZERO;
        s.reserved = [u64::MAX; KV_STAT_RESERVED];
        self.call(KV_IOC_STAT, &mut s as *mut KvUsageStat as usize)?;
        Ok(s)
    }

    /// `KV_IOC_CACHE_OP`: runs `op`, its answers landing in it.
    pub fn cache_op(&self, op: &mut KvCacheOp) -> Result<(), Errno> {
        self.call(KV_IOC_CACHE_OP, op as *mut KvCacheOp as usize)
    }

    /// A plain put (no flags) whose item expires `ttl_ms` from now (0:
    /// never).
    pub fn put_ttl(&self, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<(), Errno> {
        let mut op = cache_op(KV_OP_PUT, key, value);
        op.ttl_ms = ttl_ms;
        self.cache_op(&mut op)
    }

    /// `KV_OP_INCR` of `key` by `delta` (an absent key is created never to
    /// expire): the result.
    pub fn incr(&self, key: &[u8], delta: i64) -> Result<i64, Errno> {
        let mut op = cache_op(KV_OP_INCR, key, b"");
        op.number = delta;
        self.cache_op(&mut op)?;
        Ok(op.number)
    }

    pub fn clear(&self) -> Result<(), Errno> {
        self.call(KV_IOC_CLEAR, 0)
    }

    /// `KV_IOC_BATCH` with `count` ops at address `ops`: the number of ops
    /// run, or the errno.
    pub fn batch_raw(&self, ops: usize, count: u32) -> Result<i32, Errno> {
        let args = KvBatchArgs {
            ops: ops as u64,
            count,
            reserved: 0,
        };
        self.ioctl(KV_IOC_BATCH, &args as *const KvBatchArgs as usize)
    }

    /// Runs `ops` in one `KV_IOC_BATCH`: the number run (each op's own
    /// outcome is in its `result`), or the errno.
    pub fn batch(&self, ops: &mut [KvOp]) -> Result<i32, Errno> {
        self.batch_raw(ops.as_mut_ptr() as usize, ops.len() as u32)
    }

    /// One `KV_IOC_DUMP` call into `room` with room for `count` pairs: Ok
    /// with the pairs written in `count` and the cursor moved, or the errno
    /// with `count` as the kernel left it (on ENOSPC, the room needed).
    pub fn dump_page(
        &self,
        cursor: &mut u64,
        room: &mut [KvPair],
        count: &mut u32,
    ) -> Result<(), Errno> {
        let mut args = KvDumpArgs {
            cursor: *cursor,
            pairs: room.as_mut_ptr() as u64,
            count: *count,
            reserved: 0,
        };
        let r = self.call(KV_IOC_DUMP, &mut args as *mut KvDumpArgs as usize);
        // Both as the kernel left them, on failure too: the contract says
        // what an error does to each (the cursor stays as it was sent).
        *count = args.count;
        *cursor = args.cursor;
        r
    }
}

impl AsRawFd for Dev {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Loads the kv.ko at `module` with `params` (space-separated), unloading a
/// loaded one first. insmod's own complaint goes into the error, not to the
/// terminal.
pub fn load_module(module: &str, params: &str) -> io::Result<()> {
    unload_module();
    let out = Command::new("insmod")
        .arg(module)
        .args(params.split_whitespace())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        let why = String::from_utf8_lossy(&out.stderr);
        Err(io::Error::other(format!(
            "insmod {module} {params}: {}",
            why.trim()
        )))
    }
}

/// Unloads kv.ko if it is loaded.
pub fn unload_module() {
    let _ = Command::new("rmmod")
        .arg("kv")
        .stderr(Stdio::null())
        .status();
}
