//! Raw access to `/dev/kvstore` and the small helpers every torture program
//! shares: a seeded generator and the ABI structs built from bytes.

use std::ffi::CString;

use kv_module::abi::{
    KvKey, KvPair, KvUsageStat, KV_IOC_DEL, KV_IOC_GET, KV_IOC_PUT, KV_IOC_STAT, KV_MAX_KEY,
    KV_MAX_VAL,
};

pub const DEVICE: &str = "/dev/kvstore";
pub type Errno = i32;

/// What [`Dev::get_pair`] fills the value buffer with before a get.
pub const UNTOUCHED: u8 = 0x5a;

/// An open `/dev/kvstore`, closed on drop.
pub struct Dev {
    fd: i32,
}

impl Dev {
    /// Opens the device with `flags` (O_RDWR, O_RDONLY, O_WRONLY).
    pub fn open_flags(flags: i32) -> Result<Dev, Errno> {
        let path = CString::new(DEVICE).map_err(|_| libc::EINVAL)?;
        // SAFETY: A NUL-terminated path; open has no other preconditions.
        let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
        if fd < 0 {
            Err(errno())
        } else {
            Ok(Dev { fd })
        }
    }

    pub fn open() -> Result<Dev, String> {
        Dev::open_flags(libc::O_RDWR).map_err(|e| format!("open {DEVICE}: errno {e}"))
    }

    /// The raw ioctl: Ok, or the errno. `arg` may be any address: the kernel
    /// checks it (hostile pointers are what the fuzzer sends).
    pub fn ioctl(&self, cmd: u32, arg: usize) -> Result<(), Errno> {
        match self.ioctl_ret(cmd, arg) {
            Ok(0) => Ok(()),
            // Only batch returns a count: any other positive answer is wrong.
            Ok(n) => Err(-n),
            Err(e) => Err(e),
        }
    }

    /// The raw ioctl with its return value (a batch returns its op count).
    pub fn ioctl_ret(&self, cmd: u32, arg: usize) -> Result<i32, Errno> {
        // SAFETY: An ioctl on our own fd. Whatever `arg` is, the kernel only
        // reads or writes user memory through it with its checked copies; the
        // callers pass either hostile addresses or buffers they own and may
        // have overwritten.
        let rc = unsafe { libc::ioctl(self.fd, cmd as libc::c_ulong, arg) };
        if rc >= 0 {
            Ok(rc)
        } else {
            Err(errno())
        }
    }

    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), Errno> {
        let p = pair(key, value);
        self.ioctl(KV_IOC_PUT, &p as *const KvPair as usize)
    }

    /// The value of `key` and the whole returned struct, sent with every
    /// value byte [`UNTOUCHED`]: the kernel writes only the value's bytes, so
    /// those after it must come back unchanged.
    pub fn get_pair(&self, key: &[u8]) -> Result<KvPair, Errno> {
        let mut p = pair(key, b"");
        p.value.data = [UNTOUCHED; KV_MAX_VAL];
        self.ioctl(KV_IOC_GET, &mut p as *mut KvPair as usize)?;
        Ok(p)
    }

    pub fn get(&self, key: &[u8]) -> Result<Vec<u8>, Errno> {
        let p = self.get_pair(key)?;
        let len = (p.value.len as usize).min(KV_MAX_VAL);
        Ok(p.value.data[..len].to_vec())
    }

    pub fn del(&self, key: &[u8]) -> Result<(), Errno> {
        let k = key_of(key);
        self.ioctl(KV_IOC_DEL, &k as *const KvKey as usize)
    }

    pub fn stat(&self) -> Result<KvUsageStat, Errno> {
        let mut s = KvUsageStat::ZERO;
        s.reserved = [u64::MAX; kv_module::abi::KV_STAT_RESERVED];
        self.ioctl(KV_IOC_STAT, &mut s as *mut KvUsageStat as usize)?;
        Ok(s)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // SAFETY: Our own fd, closed once.
        unsafe { libc::close(self.fd) };
    }
}

pub fn errno() -> Errno {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub fn key_of(key: &[u8]) -> KvKey {
    let mut k = KvKey::ZERO;
    let n = key.len().min(KV_MAX_KEY);
    k.data[..n].copy_from_slice(&key[..n]);
    k.len = key.len() as u32;
    k
}

pub fn pair(key: &[u8], value: &[u8]) -> KvPair {
    let mut p = KvPair::ZERO;
    p.key = key_of(key);
    let n = value.len().min(KV_MAX_VAL);
    p.value.data[..n].copy_from_slice(&value[..n]);
    p.value.len = value.len() as u32;
    p
}

/// The name of an errno for messages.
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
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// SplitMix64: small, fast, and the same sequence for the same seed.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next() as u8;
        }
    }
}

/// FNV-1a, 64 bit: the checksum of self-checking values.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `--name value` from `args`, parsed; `default` when absent.
pub fn opt<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            let v = args
                .get(i + 1)
                .ok_or_else(|| format!("{name} needs a value"))?;
            parse_num(v).ok_or_else(|| format!("{name} {v}: not a number"))
        }
    }
}

/// Decimal or 0x-prefixed hexadecimal.
pub fn parse_num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if let Some(hex) = s.strip_prefix("0x") {
        let v = u64::from_str_radix(hex, 16).ok()?;
        v.to_string().parse().ok()
    } else {
        s.parse().ok()
    }
}
