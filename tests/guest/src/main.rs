//! Tests of kv.ko through raw ioctls, run inside the test guest against the
//! real `/dev/kvstore` (see tests/vm/suites/module.sh, which loads the module
//! with the parameters each group expects).
//!
//! `kv-guest-tests GROUP` runs one group and prints `PASS: name` or
//! `FAIL: name: why` per check; the exit status is 1 if any check failed.
//! Raw ioctls (not kvlib) so that bad lengths, bad pointers and unknown
//! commands reach the kernel exactly as a hostile caller would send them.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::process::Command;

use kv_core::abi::{
    KvKey, KvPair, KvUsageStat, KV_IOC_DEL, KV_IOC_GET, KV_IOC_MAGIC, KV_IOC_PUT, KV_IOC_STAT,
    KV_MAX_KEY, KV_MAX_VAL,
};

const DEVICE: &str = "/dev/kvstore";
type Errno = i32;
type Outcome = Result<(), String>;
/// A named test of one group.
type Test = (&'static str, fn(&Dev) -> Outcome);

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Asserts `actual == expected` with both in the message.
fn same<T: PartialEq + std::fmt::Debug>(what: &str, actual: T, expected: T) -> Outcome {
    ensure!(
        actual == expected,
        "{what}: got {actual:?}, expected {expected:?}"
    );
    Ok(())
}

struct Dev {
    file: File,
}

impl Dev {
    fn open() -> Dev {
        match OpenOptions::new().read(true).write(true).open(DEVICE) {
            Ok(file) => Dev { file },
            Err(e) => {
                println!("FAIL: open: {DEVICE}: {e}");
                std::process::exit(1);
            }
        }
    }

    /// The raw ioctl: Ok, or the errno.
    fn ioctl(&self, cmd: u32, arg: usize) -> Result<(), Errno> {
        // SAFETY: An ioctl on our own fd. The kernel validates `arg` (bad
        // pointers are part of what is tested); every valid pointer passed
        // here points to a live object at least as large as `cmd` encodes.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), cmd as libc::c_ulong, arg) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    }

    fn put_pair(&self, pair: &KvPair) -> Result<(), Errno> {
        self.ioctl(KV_IOC_PUT, pair as *const KvPair as usize)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), Errno> {
        self.put_pair(&pair(key, value))
    }

    fn get(&self, key: &[u8]) -> Result<Vec<u8>, Errno> {
        let mut p = pair(key, b"");
        self.ioctl(KV_IOC_GET, &mut p as *mut KvPair as usize)?;
        let len = p.value.len as usize;
        Ok(p.value.data[..len.min(KV_MAX_VAL)].to_vec())
    }

    fn del(&self, key: &[u8]) -> Result<(), Errno> {
        self.ioctl(KV_IOC_DEL, &key_of(key) as *const KvKey as usize)
    }

    fn stat(&self) -> Result<KvUsageStat, Errno> {
        let mut s = KvUsageStat::ZERO;
        s.reserved = [u64::MAX; kv_core::abi::KV_STAT_RESERVED]; // the kernel must zero them
        self.ioctl(KV_IOC_STAT, &mut s as *mut KvUsageStat as usize)?;
        Ok(s)
    }

    fn items(&self) -> Result<u32, String> {
        self.stat()
            .map(|s| s.curr_items)
            .map_err(|e| format!("stat: errno {e}"))
    }
}

/// A key struct; `key` may be longer than KV_MAX_KEY only to build bad lengths.
fn key_of(key: &[u8]) -> KvKey {
    let mut k = KvKey::ZERO;
    let n = key.len().min(KV_MAX_KEY);
    k.data[..n].copy_from_slice(&key[..n]);
    k.len = key.len() as u32;
    k
}

fn pair(key: &[u8], value: &[u8]) -> KvPair {
    let mut p = KvPair::ZERO;
    p.key = key_of(key);
    let n = value.len().min(KV_MAX_VAL);
    p.value.data[..n].copy_from_slice(&value[..n]);
    p.value.len = value.len() as u32;
    p
}

fn expect_errno(what: &str, r: Result<impl std::fmt::Debug, Errno>, errno: Errno) -> Outcome {
    match r {
        Err(e) if e == errno => Ok(()),
        other => Err(format!("{what}: got {other:?}, expected errno {errno}")),
    }
}

fn expect_value(dev: &Dev, key: &[u8], value: &[u8]) -> Outcome {
    match dev.get(key) {
        Ok(v) if v == value => Ok(()),
        other => Err(format!(
            "get {key:?}: got {other:?}, expected {} bytes",
            value.len()
        )),
    }
}

/// Bytes 0..=255 repeated: NUL, 0xFF and everything between.
fn binary(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

// ---------------------------------------------------------------------------
// group "basic": default parameters, freshly loaded module

fn stat_defaults(dev: &Dev) -> Outcome {
    let s = dev.stat().map_err(|e| format!("stat: errno {e}"))?;
    same("bucket_count", s.bucket_count, 128)?;
    same("max_items", s.max_items, 256)?;
    same("curr_items", s.curr_items, 0)?;
    same("use_lru", s.use_lru, 0)?;
    same(
        "reserved words zeroed",
        s.reserved,
        [0; kv_core::abi::KV_STAT_RESERVED],
    )
}

/// Counters after a known sequence on a fresh store.
fn stat_counters(dev: &Dev) -> Outcome {
    dev.put(b"k1", b"value-1")
        .map_err(|e| format!("put: {e}"))?;
    dev.put(b"k2", b"v2").map_err(|e| format!("put: {e}"))?;
    dev.put(b"key3", b"").map_err(|e| format!("put: {e}"))?;
    dev.put(b"k1", b"one")
        .map_err(|e| format!("replace: {e}"))?;
    expect_value(dev, b"k1", b"one")?;
    expect_value(dev, b"k2", b"v2")?;
    expect_errno("get missing", dev.get(b"nope"), libc::ENOENT)?;
    dev.del(b"k2").map_err(|e| format!("del: {e}"))?;
    expect_errno("get deleted", dev.get(b"k2"), libc::ENOENT)?;
    let s = dev.stat().map_err(|e| format!("stat: errno {e}"))?;
    same("curr_items", s.curr_items, 2)?;
    same("hits", s.hits, 2)?;
    same("misses", s.misses, 2)?;
    same("evictions", s.evictions, 0)?;
    same("bytes_used", s.bytes_used, (2 + 3) + 4)?;
    for k in [&b"k1"[..], b"key3"] {
        dev.del(k).map_err(|e| format!("del: {e}"))?;
    }
    same(
        "bytes_used after emptying",
        dev.stat().map(|s| s.bytes_used),
        Ok(0),
    )
}

fn roundtrip_limits(dev: &Dev) -> Outcome {
    let cases: [(Vec<u8>, Vec<u8>); 5] = [
        (vec![0], vec![]),                              // 1-byte NUL key, empty value
        (vec![0xff], vec![0]),                          // 0xFF key, NUL value
        (binary(KV_MAX_KEY, 1), binary(KV_MAX_VAL, 2)), // both at their limits
        (b"a\0b".to_vec(), b"x\0\xffy".to_vec()),       // embedded NUL and 0xFF
        (binary(KV_MAX_KEY - 1, 9), binary(KV_MAX_VAL - 1, 7)), // one below each limit
    ];
    for (k, v) in &cases {
        dev.put(k, v)
            .map_err(|e| format!("put key len {} value len {}: errno {e}", k.len(), v.len()))?;
    }
    for (k, v) in &cases {
        expect_value(dev, k, v)?;
    }
    // Keys differing only in their last byte, or by a prefix, are distinct.
    let mut k2 = binary(KV_MAX_KEY, 1);
    k2[KV_MAX_KEY - 1] ^= 1;
    expect_errno("get key differing in last byte", dev.get(&k2), libc::ENOENT)?;
    expect_errno(
        "get prefix of a key",
        dev.get(&binary(KV_MAX_KEY, 1)[..10]),
        libc::ENOENT,
    )?;
    for (k, _) in &cases {
        dev.del(k).map_err(|e| format!("del: errno {e}"))?;
    }
    same("curr_items", dev.items()?, 0)
}

fn bad_lengths(dev: &Dev) -> Outcome {
    dev.put(b"keep", b"me").map_err(|e| format!("put: {e}"))?;
    let before = dev.stat().map_err(|e| format!("stat: {e}"))?;
    let long_key = binary(KV_MAX_KEY + 1, 3);
    expect_errno("put key len 65", dev.put(&long_key, b"v"), libc::EINVAL)?;
    expect_errno("put key len 0", dev.put(b"", b"v"), libc::EINVAL)?;
    expect_errno(
        "put value len 257",
        dev.put(b"k", &binary(KV_MAX_VAL + 1, 0)),
        libc::EINVAL,
    )?;
    let mut huge = pair(b"k", b"v");
    huge.key.len = u32::MAX;
    expect_errno("put key len u32::MAX", dev.put_pair(&huge), libc::EINVAL)?;
    let mut huge = pair(b"k", b"v");
    huge.value.len = u32::MAX;
    expect_errno("put value len u32::MAX", dev.put_pair(&huge), libc::EINVAL)?;
    expect_errno("get key len 65", dev.get(&long_key), libc::EINVAL)?;
    expect_errno("get key len 0", dev.get(b""), libc::EINVAL)?;
    expect_errno("del key len 65", dev.del(&long_key), libc::EINVAL)?;
    expect_errno("del key len 0", dev.del(b""), libc::EINVAL)?;
    let mut k = key_of(b"keep");
    k.len = 0x8000_0000;
    expect_errno(
        "del key len 2^31",
        dev.ioctl(KV_IOC_DEL, &k as *const KvKey as usize),
        libc::EINVAL,
    )?;
    // Rejected requests change nothing, counters included.
    same("stat after rejected requests", dev.stat(), Ok(before))?;
    expect_value(dev, b"keep", b"me")?;
    expect_errno(
        "get 64-byte prefix of the long key",
        dev.get(&long_key[..KV_MAX_KEY]),
        libc::ENOENT,
    )?;
    dev.del(b"keep").map_err(|e| format!("del: {e}"))
}

fn replace_and_delete(dev: &Dev) -> Outcome {
    dev.put(b"r", &binary(KV_MAX_VAL, 5))
        .map_err(|e| format!("put: {e}"))?;
    dev.put(b"r", b"short")
        .map_err(|e| format!("replace: {e}"))?;
    // The stale tail of the longer value must not come back.
    let mut p = pair(b"r", b"");
    p.value.data = [0xAA; KV_MAX_VAL];
    dev.ioctl(KV_IOC_GET, &mut p as *mut KvPair as usize)
        .map_err(|e| format!("get: {e}"))?;
    same("value len", p.value.len, 5)?;
    same("value", &p.value.data[..5], &b"short"[..])?;
    ensure!(
        p.value.data[5..].iter().all(|&b| b == 0),
        "bytes after the value are not zeroed"
    );
    same("curr_items after replace", dev.items()?, 1)?;
    dev.put(b"r", b"")
        .map_err(|e| format!("replace with empty: {e}"))?;
    expect_value(dev, b"r", b"")?;
    dev.del(b"r").map_err(|e| format!("del: {e}"))?;
    expect_errno("get after del", dev.get(b"r"), libc::ENOENT)?;
    expect_errno("del twice", dev.del(b"r"), libc::ENOENT)?;
    same("curr_items", dev.items()?, 0)
}

fn unknown_ioctls(dev: &Dev) -> Outcome {
    let mut p = pair(b"k", b"v");
    let arg = &mut p as *mut KvPair as usize;
    let size_mask = 0x3fff << 16;
    let cases = [
        ("unused nr", (KV_IOC_MAGIC << 8) | 0x7f),
        ("nr 0", KV_IOC_MAGIC << 8),
        ("other magic", (KV_IOC_PUT & !0xff00) | (0x42 << 8)),
        (
            "put with wrong size",
            (KV_IOC_PUT & !size_mask) | (100 << 16),
        ),
        (
            "get with wrong direction",
            (KV_IOC_GET & !(3 << 30)) | (1 << 30),
        ),
        (
            "stat with smaller size",
            (KV_IOC_STAT & !size_mask) | (64 << 16),
        ),
        ("TCGETS", 0x5401),
    ];
    for (what, cmd) in cases {
        expect_errno(what, dev.ioctl(cmd, arg), libc::ENOTTY)?;
    }
    same("curr_items", dev.items()?, 0)
}

/// A page-aligned mapping of `pages` pages; the ones in `unmap` are removed
/// again, leaving holes that any access faults on.
fn mapping(pages: usize, unmap: &[usize]) -> Result<usize, String> {
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
        let rc = unsafe { libc::munmap((base as usize + i * page) as *mut libc::c_void, page) };
        ensure!(rc == 0, "munmap failed");
    }
    Ok(base as usize)
}

fn bad_pointers(dev: &Dev) -> Outcome {
    dev.put(b"there", b"before")
        .map_err(|e| format!("put: {e}"))?;
    let before = dev.stat().map_err(|e| format!("stat: {e}"))?;
    let hole = mapping(1, &[0])?;
    for (what, cmd) in [
        ("put", KV_IOC_PUT),
        ("get", KV_IOC_GET),
        ("del", KV_IOC_DEL),
        ("stat", KV_IOC_STAT),
    ] {
        expect_errno(&format!("{what} NULL"), dev.ioctl(cmd, 0), libc::EFAULT)?;
        expect_errno(
            &format!("{what} unmapped"),
            dev.ioctl(cmd, hole),
            libc::EFAULT,
        )?;
        expect_errno(
            &format!("{what} kernel address"),
            dev.ioctl(cmd, 0xffff_ffff_8100_0000),
            libc::EFAULT,
        )?;
    }
    same("stat after faulting requests", dev.stat(), Ok(before))?;

    // A pair whose key is readable but whose value runs into a hole: put
    // stores nothing; get finds the key but cannot write the value.
    let base = mapping(2, &[1])?;
    let at = base + 4096 - std::mem::size_of::<KvKey>();
    let key = key_of(b"there");
    // SAFETY: `at .. at + size_of::<KvKey>()` is the end of the first,
    // mapped and writable page.
    unsafe { std::ptr::write_unaligned(at as *mut KvKey, key) };
    expect_errno(
        "put with value in a hole",
        dev.ioctl(KV_IOC_PUT, at),
        libc::EFAULT,
    )?;
    expect_errno(
        "get with value in a hole",
        dev.ioctl(KV_IOC_GET, at),
        libc::EFAULT,
    )?;
    // SAFETY: As above.
    unsafe { std::ptr::write_unaligned(at as *mut KvKey, key_of(b"new")) };
    expect_errno(
        "put new key with value in a hole",
        dev.ioctl(KV_IOC_PUT, at),
        libc::EFAULT,
    )?;
    expect_errno("the new key was not stored", dev.get(b"new"), libc::ENOENT)?;
    expect_value(dev, b"there", b"before")?;
    same("curr_items", dev.items()?, 1)?;
    dev.del(b"there").map_err(|e| format!("del: {e}"))
}

const WORKERS: usize = 4;
const THREADS: usize = 2;
const OWN_KEYS: usize = 24;
const SHARED_KEYS: usize = 8;
const ROUNDS: usize = 40;

fn own_key(worker: usize, thread: usize, i: usize) -> Vec<u8> {
    format!("own-{worker}-{thread}-{i}").into_bytes()
}

/// A value that names its key, writer and round, padded to a length that
/// depends on them, so a torn or mixed-up value is recognisable.
fn tagged_value(key: &[u8], writer: usize, round: usize) -> Vec<u8> {
    let mut v = format!("{}|{writer}|{round}|", String::from_utf8_lossy(key)).into_bytes();
    let len = 40 + (writer * 37 + round * 11) % (KV_MAX_VAL - 60);
    let fill = (writer + round) as u8;
    v.resize(len, fill);
    v
}

fn well_formed(key: &[u8], v: &[u8]) -> bool {
    let text = String::from_utf8_lossy(v);
    let mut parts = text.splitn(4, '|');
    let (Some(k), Some(w), Some(r)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(w), Ok(r)) = (w.parse::<usize>(), r.parse::<usize>()) else {
        return false;
    };
    k.as_bytes() == key && v == tagged_value(key, w, r).as_slice()
}

/// One worker process: THREADS threads, each writing and reading back its own
/// keys and writing and checking the shared ones.
fn worker(id: usize) -> Outcome {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || -> Outcome {
                let dev = Dev::open();
                let writer = id * THREADS + t;
                for round in 0..ROUNDS {
                    for i in 0..OWN_KEYS {
                        let k = own_key(id, t, i);
                        let v = tagged_value(&k, writer, round);
                        dev.put(&k, &v).map_err(|e| format!("put own: errno {e}"))?;
                        expect_value(&dev, &k, &v)?;
                    }
                    for i in 0..SHARED_KEYS {
                        let k = format!("shared-{i}").into_bytes();
                        dev.put(&k, &tagged_value(&k, writer, round))
                            .map_err(|e| format!("put shared: errno {e}"))?;
                        let v = dev.get(&k).map_err(|e| format!("get shared: errno {e}"))?;
                        ensure!(well_formed(&k, &v), "shared key {i}: torn or foreign value");
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a thread panicked".to_string())??;
    }
    Ok(())
}

fn concurrent_processes(dev: &Dev) -> Outcome {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let children: Vec<_> = (0..WORKERS)
        .map(|id| Command::new(&exe).arg("worker").arg(id.to_string()).spawn())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("spawn: {e}"))?;
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        ensure!(out.status.success(), "worker {id} failed: {}", out.status);
    }
    // Every worker's last writes are there, and nothing else.
    for id in 0..WORKERS {
        for t in 0..THREADS {
            for i in 0..OWN_KEYS {
                let k = own_key(id, t, i);
                expect_value(dev, &k, &tagged_value(&k, id * THREADS + t, ROUNDS - 1))?;
                dev.del(&k).map_err(|e| format!("del: {e}"))?;
            }
        }
    }
    for i in 0..SHARED_KEYS {
        let k = format!("shared-{i}").into_bytes();
        let v = dev.get(&k).map_err(|e| format!("get shared: {e}"))?;
        ensure!(well_formed(&k, &v), "shared key {i} ends torn");
        ensure!(
            v.starts_with(&k)
                && v.split(|&b| b == b'|').nth(2) == Some(format!("{}", ROUNDS - 1).as_bytes()),
            "shared key {i} does not hold a last-round value"
        );
        dev.del(&k).map_err(|e| format!("del: {e}"))?;
    }
    same(
        "curr_items after the workers' keys are deleted",
        dev.items()?,
        0,
    )
}

// ---------------------------------------------------------------------------
// group "full": max_items=3 use_lru=0

fn full_without_lru(dev: &Dev) -> Outcome {
    same(
        "use_lru",
        dev.stat().map(|s| (s.max_items, s.use_lru)),
        Ok((3, 0)),
    )?;
    for k in [b"a", b"b", b"c"] {
        dev.put(k, k).map_err(|e| format!("put: {e}"))?;
    }
    let before = dev.stat().map_err(|e| format!("stat: {e}"))?;
    expect_errno("put into a full store", dev.put(b"d", b"d"), libc::ENOSPC)?;
    same("stat after ENOSPC", dev.stat(), Ok(before))?;
    expect_errno("the rejected key", dev.get(b"d"), libc::ENOENT)?;
    // Replacing never needs room.
    dev.put(b"b", &binary(KV_MAX_VAL, 1))
        .map_err(|e| format!("replace in a full store: {e}"))?;
    for k in [b"a", b"c"] {
        expect_value(dev, k, k)?;
    }
    expect_value(dev, b"b", &binary(KV_MAX_VAL, 1))?;
    dev.del(b"a").map_err(|e| format!("del: {e}"))?;
    dev.put(b"d", b"d")
        .map_err(|e| format!("put after del: {e}"))?;
    same(
        "evictions",
        dev.stat().map(|s| (s.curr_items, s.evictions)),
        Ok((3, 0)),
    )
}

// ---------------------------------------------------------------------------
// group "lru": max_items=3 use_lru=1

fn lru_order(dev: &Dev) -> Outcome {
    same(
        "use_lru",
        dev.stat().map(|s| (s.max_items, s.use_lru)),
        Ok((3, 1)),
    )?;
    let put = |k: &[u8]| dev.put(k, k).map_err(|e| format!("put {k:?}: {e}"));
    put(b"a")?;
    put(b"b")?;
    put(b"c")?; // order, least recent first: a b c
    expect_value(dev, b"a", b"a")?; // b c a
    put(b"d")?; // evicts b: c a d
    expect_errno("b was least recently used", dev.get(b"b"), libc::ENOENT)?;
    dev.put(b"c", b"C").map_err(|e| format!("replace c: {e}"))?; // a d c
    same(
        "after one eviction",
        dev.stat().map(|s| (s.curr_items, s.evictions)),
        Ok((3, 1)),
    )?;
    put(b"e")?; // evicts a: d c e
    expect_errno("a was least recently used", dev.get(b"a"), libc::ENOENT)?;
    put(b"f")?; // evicts d: c e f
    expect_errno("d was least recently used", dev.get(b"d"), libc::ENOENT)?;
    expect_value(dev, b"c", b"C")?; // e f c
    expect_value(dev, b"e", b"e")?; // f c e
    expect_value(dev, b"f", b"f")?; // c e f
    dev.del(b"e").map_err(|e| format!("del: {e}"))?; // c f
    put(b"g")?; // room again: no eviction; c f g
    put(b"h")?; // evicts c: f g h
    expect_errno("c was least recently used", dev.get(b"c"), libc::ENOENT)?;
    let s = dev.stat().map_err(|e| format!("stat: {e}"))?;
    same("evictions", s.evictions, 4)?;
    same("curr_items", s.curr_items, 3)?;
    same("bytes_used", s.bytes_used, 6)
}

// ---------------------------------------------------------------------------
// group "capacity": buckets=10 max_items=1000 use_lru=0 (load factor 100)

fn long_chains(dev: &Dev) -> Outcome {
    for i in 0..1000 {
        let k = format!("key-{i}").into_bytes();
        dev.put(&k, &tagged_value(&k, i, 0))
            .map_err(|e| format!("put {i}: {e}"))?;
    }
    expect_errno("item 1001", dev.put(b"one-too-many", b"x"), libc::ENOSPC)?;
    for i in (0..1000).rev() {
        let k = format!("key-{i}").into_bytes();
        expect_value(dev, &k, &tagged_value(&k, i, 0))?;
    }
    for i in (0..1000).step_by(2) {
        dev.del(format!("key-{i}").as_bytes())
            .map_err(|e| format!("del {i}: {e}"))?;
    }
    for i in 0..1000 {
        let k = format!("key-{i}").into_bytes();
        if i % 2 == 0 {
            expect_errno("deleted key", dev.get(&k), libc::ENOENT)?;
        } else {
            expect_value(dev, &k, &tagged_value(&k, i, 0))?;
        }
    }
    same("curr_items", dev.items()?, 500)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let group = args.get(1).map(String::as_str).unwrap_or("");
    if group == "worker" {
        let id = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        if let Err(e) = worker(id) {
            eprintln!("worker {id}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let tests: &[Test] = match group {
        "basic" => &[
            ("stat_defaults", stat_defaults),
            ("stat_counters", stat_counters),
            ("roundtrip_limits", roundtrip_limits),
            ("bad_lengths", bad_lengths),
            ("replace_and_delete", replace_and_delete),
            ("unknown_ioctls", unknown_ioctls),
            ("bad_pointers", bad_pointers),
            ("concurrent_processes", concurrent_processes),
        ],
        "full" => &[("full_without_lru", full_without_lru)],
        "lru" => &[("lru_order", lru_order)],
        "capacity" => &[("long_chains", long_chains)],
        _ => {
            eprintln!("usage: kv-guest-tests basic|full|lru|capacity");
            std::process::exit(2);
        }
    };
    let dev = Dev::open();
    let mut failed = false;
    for (name, test) in tests {
        match test(&dev) {
            Ok(()) => println!("PASS: module/{group}/{name}"),
            Err(why) => {
                println!("FAIL: module/{group}/{name}: {why}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}
