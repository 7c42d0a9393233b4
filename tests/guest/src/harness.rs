//! The harness both guest test programs compile in (`kv-guest-tests` for
//! the first four ioctls, `kv-api-tests` for the rest): raw ioctls on
//! `/dev/kvstore` (not kvlib), so bad lengths, bad pointers and unknown
//! commands reach the kernel exactly as a hostile caller sends them, and a
//! runner printing one `PASS: name` or `FAIL: name: why` line per check.
//! A module, not a library, so each program adds its own methods to `Dev`.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

use kv_module::abi::{KvKey, KvPair, KV_MAX_KEY, KV_MAX_VAL};

pub const DEVICE: &str = "/dev/kvstore";
pub type Errno = i32;
pub type Outcome = Result<(), String>;
/// A named test of one group.
pub type Test = (&'static str, fn(&Dev) -> Outcome);

/// Fails the enclosing test with `format!(...)` unless `$cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Asserts `actual == expected` with both in the message.
pub fn same<T: PartialEq + std::fmt::Debug>(what: &str, actual: T, expected: T) -> Outcome {
    ensure!(
        actual == expected,
        "{what}: got {actual:?}, expected {expected:?}"
    );
    Ok(())
}

/// `/dev/kvstore`, opened for reading and writing.
pub struct Dev {
    file: File,
}

impl Dev {
    /// Opens the device, or prints a FAIL line and exits.
    pub fn open() -> Dev {
        match OpenOptions::new().read(true).write(true).open(DEVICE) {
            Ok(file) => Dev { file },
            Err(e) => {
                println!("FAIL: open: {DEVICE}: {e}");
                std::process::exit(1);
            }
        }
    }

    /// The raw ioctl: its non-negative return, or the errno.
    pub fn ioctl(&self, cmd: u32, arg: usize) -> Result<i32, Errno> {
        // SAFETY: An ioctl on our own fd. The kernel validates `arg` (bad
        // pointers are part of what is tested); every valid pointer passed
        // here points to a live object at least as large as `cmd` encodes.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), cmd as libc::c_ulong, arg) };
        if rc >= 0 {
            Ok(rc)
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    }
}

/// A key struct; `key` may be longer than KV_MAX_KEY only to build bad lengths.
pub fn key_of(key: &[u8]) -> KvKey {
    let mut k = KvKey::ZERO;
    let n = key.len().min(KV_MAX_KEY);
    k.data[..n].copy_from_slice(&key[..n]);
    k.len = key.len() as u32;
    k
}

/// A pair struct; lengths past the limits only to build bad requests.
pub fn pair(key: &[u8], value: &[u8]) -> KvPair {
    let mut p = KvPair::ZERO;
    p.key = key_of(key);
    let n = value.len().min(KV_MAX_VAL);
    p.value.data[..n].copy_from_slice(&value[..n]);
    p.value.len = value.len() as u32;
    p
}

pub fn expect_errno<T: std::fmt::Debug>(what: &str, r: Result<T, Errno>, errno: Errno) -> Outcome {
    match r {
        Err(e) if e == errno => Ok(()),
        other => Err(format!("{what}: got {other:?}, expected errno {errno}")),
    }
}

/// Bytes 0..=255 in a salt-dependent order: NUL and 0xFF included.
pub fn binary(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

/// Runs `tests` on a freshly opened device, printing `PASS: {prefix}/name`
/// or `FAIL: {prefix}/name: why` for each; exits 1 if any failed.
pub fn run_group(prefix: &str, tests: &[Test]) -> ! {
    let dev = Dev::open();
    let mut failed = false;
    for (name, test) in tests {
        match test(&dev) {
            Ok(()) => println!("PASS: {prefix}/{name}"),
            Err(why) => {
                println!("FAIL: {prefix}/{name}: {why}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}

/// A page-aligned mapping of `pages` pages with the ones in `unmap` made
/// inaccessible (PROT_NONE keeps the addresses reserved: an unmapped page
/// could be reused by the next large allocation).
pub fn mapping(pages: usize, unmap: &[usize]) -> Result<usize, String> {
    let page = 4096;
    // SAFETY: An anonymous private mapping at an address the kernel picks.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            pages * page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    ensure!(base != libc::MAP_FAILED, "mmap failed");
    for &i in unmap {
        // SAFETY: Page `i` lies inside the mapping just made; nothing
        // references it.
        let rc = unsafe {
            libc::mprotect(
                (base as usize + i * page) as *mut libc::c_void,
                page,
                libc::PROT_NONE,
            )
        };
        ensure!(rc == 0, "mprotect failed");
    }
    Ok(base as usize)
}
