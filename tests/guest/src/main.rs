//! Tests of kv.ko through raw ioctls, run inside the test guest against the
//! real `/dev/kvstore` (see tests/suites/module.sh, which loads the module
//! with the parameters each group expects).
//!
//! `kv-guest-tests GROUP` runs one group and prints `PASS: name` or
//! `FAIL: name: why` per check; the exit status is 1 if any check failed.
//! Raw ioctls (not kvlib) so that bad lengths, bad pointers and unknown
//! commands reach the kernel exactly as a hostile caller would send them.

use std::process::Command;

#[macro_use]
mod harness;

use harness::{
    binary, expect_errno, key_of, mapping, pair, run_group, same, Dev, Errno, Outcome, Test,
};

use kv_module::abi::{
    KvKey, KvPair, KvUsageStat, KV_IOC_DEL, KV_IOC_GET, KV_IOC_MAGIC, KV_IOC_PUT, KV_IOC_STAT,
    KV_MAX_KEY, KV_MAX_VAL,
};

impl Dev {
    fn put_pair(&self, pair: &KvPair) -> Result<(), Errno> {
        self.ioctl(KV_IOC_PUT, pair as *const KvPair as usize)
            .map(drop)
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
            .map(drop)
    }

    fn stat(&self) -> Result<KvUsageStat, Errno> {
        let mut s = KvUsageStat::ZERO;
        s.reserved = [u64::MAX; kv_module::abi::KV_STAT_RESERVED]; // the kernel must zero them
        self.ioctl(KV_IOC_STAT, &mut s as *mut KvUsageStat as usize)?;
        Ok(s)
    }

    fn items(&self) -> Result<u32, String> {
        self.stat()
            .map(|s| s.curr_items)
            .map_err(|e| format!("stat: errno {e}"))
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
        [0; kv_module::abi::KV_STAT_RESERVED],
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
    // Nothing of the longer value comes back: the kernel writes the length
    // and the value's 5 bytes, and leaves the caller's bytes after them.
    let mut p = pair(b"r", b"");
    p.value.data = [0xAA; KV_MAX_VAL];
    dev.ioctl(KV_IOC_GET, &mut p as *mut KvPair as usize)
        .map_err(|e| format!("get: {e}"))?;
    same("value len", p.value.len, 5)?;
    same("value", &p.value.data[..5], &b"short"[..])?;
    ensure!(
        p.value.data[5..].iter().all(|&b| b == 0xAA),
        "the get wrote bytes after the value"
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

/// Joins every thread (none is left running) and keeps the first failure;
/// a panic fails as "`who` panicked".
fn join_all(threads: Vec<std::thread::JoinHandle<Outcome>>, who: &str) -> Outcome {
    let mut result = Ok(());
    for t in threads {
        let r = t
            .join()
            .map_err(|_| format!("{who} panicked"))
            .and_then(|r| r);
        result = result.and(r);
    }
    result
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

// ---------------------------------------------------------------------------
// groups "torn" and "evict": lock-free readers against concurrent writers, on
// every guest CPU (tests/suites/concurrency.sh loads the parameters)

/// A value that checks itself: a seed in bytes 0..4, the key's number in
/// 4..8, a length and every further byte derived from both.
fn checked_value(key: u32, seed: u32) -> Vec<u8> {
    let len = 8 + (seed as usize * 29 + key as usize * 7) % (KV_MAX_VAL - 7);
    let mut v = seed.to_le_bytes().to_vec();
    v.extend_from_slice(&key.to_le_bytes());
    v.extend((8..len).map(|i| (seed.wrapping_mul(31).wrapping_add(i as u32 * 7) ^ key) as u8));
    v
}

/// Why `v`, read under key number `key`, is not a value written for it.
fn check_value(key: u32, v: &[u8]) -> Outcome {
    ensure!(
        v.len() >= 8,
        "key {key}: {} bytes, too short to be ours",
        v.len()
    );
    let seed = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
    let owner = u32::from_le_bytes([v[4], v[5], v[6], v[7]]);
    ensure!(
        owner == key,
        "key {key}: holds a value written for key {owner}"
    );
    let want = checked_value(key, seed);
    ensure!(
        v.len() == want.len(),
        "key {key}: length {} does not match its seed ({})",
        v.len(),
        want.len()
    );
    ensure!(
        v == want.as_slice(),
        "key {key}: torn value (bytes of two writes)"
    );
    Ok(())
}

/// A get through the raw ioctl that also checks the bytes after the value
/// came back untouched (the buffer is filled with 0xAA first).
fn get_checked_tail(dev: &Dev, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut p = pair(key, b"");
    p.value.data = [0xAA; KV_MAX_VAL];
    match dev.ioctl(KV_IOC_GET, &mut p as *mut KvPair as usize) {
        Ok(_) => {
            let len = p.value.len as usize;
            ensure!(len <= KV_MAX_VAL, "value length {len} out of range");
            ensure!(
                p.value.data[len..].iter().all(|&b| b == 0xAA),
                "bytes after a {len}-byte value changed"
            );
            Ok(Some(p.value.data[..len].to_vec()))
        }
        Err(libc::ENOENT) => Ok(None),
        Err(e) => Err(format!("get: errno {e}")),
    }
}

/// The CPU the calling thread runs on now.
fn current_cpu() -> i32 {
    // SAFETY: sched_getcpu has no preconditions.
    unsafe { libc::sched_getcpu() }
}

/// The CPUs the guest has online.
fn cpus_online() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

const TORN_KEYS: u32 = 24;
const TORN_WRITES: u32 = 6_000;
const TORN_READERS: usize = 4;

/// Writers rewrite and delete keys (deleted slots are reused by other keys)
/// while readers check every value they get: never a mix of two values, a
/// value under the wrong key, a length that does not match, or stale bytes
/// after the value.
fn torn_reads(dev: &Dev) -> Outcome {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    let key = |k: u32| format!("torn-{k}").into_bytes();
    let done = Arc::new(AtomicBool::new(false));
    let cpus = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let hits = Arc::new(AtomicU32::new(0));
    let writers: Vec<_> = (0..2u32)
        .map(|t| {
            std::thread::spawn(move || -> Outcome {
                let dev = Dev::open();
                for n in 0..TORN_WRITES {
                    let k = (n.wrapping_mul(7) + t * 5) % TORN_KEYS;
                    if n.is_multiple_of(11) {
                        match dev.del(&key(k)) {
                            Ok(()) | Err(libc::ENOENT) => {}
                            Err(e) => return Err(format!("del: errno {e}")),
                        }
                    } else {
                        match dev.put(&key(k), &checked_value(k, n * 2 + t)) {
                            // A small store can be full for a moment.
                            Ok(()) | Err(libc::ENOSPC) => {}
                            Err(e) => return Err(format!("put: errno {e}")),
                        }
                    }
                }
                Ok(())
            })
        })
        .collect();
    let readers: Vec<_> = (0..TORN_READERS)
        .map(|r| {
            let (done, cpus, hits) = (Arc::clone(&done), Arc::clone(&cpus), Arc::clone(&hits));
            std::thread::spawn(move || -> Outcome {
                let dev = Dev::open();
                let mut n = r as u32;
                while !done.load(Ordering::Relaxed) {
                    let k = n % TORN_KEYS;
                    n = n.wrapping_add(3);
                    if let Some(v) = get_checked_tail(&dev, &key(k))? {
                        check_value(k, &v)?;
                        hits.fetch_add(1, Ordering::Relaxed);
                    }
                    if n.is_multiple_of(256) {
                        cpus.lock().map_err(|_| "poisoned")?.insert(current_cpu());
                    }
                }
                cpus.lock().map_err(|_| "poisoned")?.insert(current_cpu());
                Ok(())
            })
        })
        .collect();
    // Writers first: the readers run until they are done.
    let writers_done = join_all(writers, "a writer");
    done.store(true, Ordering::Relaxed);
    writers_done.and(join_all(readers, "a reader"))?;
    let hits = hits.load(Ordering::Relaxed);
    ensure!(
        hits > 100,
        "readers found a key only {hits} times: nothing was tested"
    );
    let seen = cpus.lock().map_err(|_| "poisoned")?.len();
    ensure!(
        seen >= cpus_online().min(2),
        "readers ran on {seen} CPU(s) of {}",
        cpus_online()
    );
    // What is left is well formed too.
    for k in 0..TORN_KEYS {
        if let Some(v) = get_checked_tail(dev, &key(k))? {
            check_value(k, &v)?;
        }
    }
    println!("# torn: {hits} checked hits on {seen} CPUs");
    Ok(())
}

const EVICT_WRITERS: u32 = 3;
const EVICT_PUTS: u32 = 2_000;

/// Writers insert new keys only (so every put is an insert) into a store
/// smaller than the working set while a deleter removes recent keys and
/// readers check what they get; the counters must reconcile exactly.
fn eviction_under_concurrency(dev: &Dev) -> Outcome {
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
    use std::sync::Arc;
    let start = dev.stat().map_err(|e| format!("stat: errno {e}"))?;
    ensure!(
        start.use_lru == 1 || start.use_lru == 2,
        "use_lru={}: load the module with eviction",
        start.use_lru
    );
    same(
        "a fresh store",
        (start.curr_items, start.hits, start.misses, start.evictions),
        (0, 0, 0, 0),
    )?;
    let cap = start.max_items;
    ensure!(
        cap * 4 < EVICT_WRITERS * EVICT_PUTS,
        "max_items={cap} is not smaller than the working set"
    );
    let key = |w: u32, n: u32| format!("ev-{w}-{n}").into_bytes();
    let number = |w: u32, n: u32| w * EVICT_PUTS + n;
    let progress: Arc<Vec<AtomicU32>> =
        Arc::new((0..EVICT_WRITERS).map(|_| AtomicU32::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(AtomicU64::new(0));
    let (hits, misses) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut threads: Vec<std::thread::JoinHandle<Outcome>> = Vec::new();
    let mut writers = Vec::new();
    for w in 0..EVICT_WRITERS {
        let progress = Arc::clone(&progress);
        writers.push(std::thread::spawn(move || -> Outcome {
            let dev = Dev::open();
            for n in 0..EVICT_PUTS {
                dev.put(&key(w, n), &checked_value(number(w, n), n))
                    .map_err(|e| format!("put of a new key into a full store: errno {e}"))?;
                progress[w as usize].store(n + 1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    {
        let (progress, done, deleted) = (
            Arc::clone(&progress),
            Arc::clone(&done),
            Arc::clone(&deleted),
        );
        threads.push(std::thread::spawn(move || -> Outcome {
            let dev = Dev::open();
            let mut i = 0u32;
            while !done.load(Ordering::Relaxed) {
                let w = i % EVICT_WRITERS;
                i = i.wrapping_add(1);
                let n = progress[w as usize]
                    .load(Ordering::Relaxed)
                    .saturating_sub(1 + i % 8);
                match dev.del(&key(w, n)) {
                    Ok(()) => {
                        deleted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(libc::ENOENT) => {}
                    Err(e) => return Err(format!("del: errno {e}")),
                }
            }
            Ok(())
        }));
    }
    for r in 0..2u32 {
        let (progress, done) = (Arc::clone(&progress), Arc::clone(&done));
        let (hits, misses) = (Arc::clone(&hits), Arc::clone(&misses));
        threads.push(std::thread::spawn(move || -> Outcome {
            let dev = Dev::open();
            let mut i = r;
            while !done.load(Ordering::Relaxed) {
                let w = i % EVICT_WRITERS;
                i = i.wrapping_add(1);
                let n = progress[w as usize]
                    .load(Ordering::Relaxed)
                    .saturating_sub(1 + i % 96);
                match dev.get(&key(w, n)) {
                    Ok(v) => {
                        check_value(number(w, n), &v)?;
                        hits.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(libc::ENOENT) => {
                        misses.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => return Err(format!("get: errno {e}")),
                }
            }
            Ok(())
        }));
    }
    {
        let done = Arc::clone(&done);
        threads.push(std::thread::spawn(move || -> Outcome {
            let dev = Dev::open();
            while !done.load(Ordering::Relaxed) {
                let s = dev.stat().map_err(|e| format!("stat: errno {e}"))?;
                ensure!(
                    s.curr_items <= cap,
                    "curr_items {} above max_items {cap}",
                    s.curr_items
                );
            }
            Ok(())
        }));
    }
    // Writers first: the other threads run until they are done.
    let writers_done = join_all(writers, "a writer");
    done.store(true, Ordering::Relaxed);
    writers_done.and(join_all(threads, "a thread"))?;
    let s = dev.stat().map_err(|e| format!("stat: errno {e}"))?;
    let inserts = u64::from(EVICT_WRITERS * EVICT_PUTS);
    let deleted = deleted.load(Ordering::Relaxed);
    let (hits, misses) = (hits.load(Ordering::Relaxed), misses.load(Ordering::Relaxed));
    ensure!(
        s.curr_items <= cap,
        "curr_items {} above max_items {cap}",
        s.curr_items
    );
    same(
        "evictions = inserts - items - deletes",
        s.evictions,
        inserts - u64::from(s.curr_items) - deleted,
    )?;
    same("hits", s.hits, hits)?;
    same("misses", s.misses, misses)?;
    ensure!(
        hits > 0 && deleted > 0,
        "hits {hits}, deletes {deleted}: nothing raced"
    );
    // Exactly curr_items keys are present, each with its own value.
    let mut present = 0u32;
    for w in 0..EVICT_WRITERS {
        for n in 0..EVICT_PUTS {
            if let Some(v) = get_checked_tail(dev, &key(w, n))? {
                check_value(number(w, n), &v)?;
                present += 1;
            }
        }
    }
    same("keys present", present, s.curr_items)?;
    println!(
        "# evict: {inserts} inserts, {deleted} deletes, {} evictions, {hits} hits, {misses} misses",
        s.evictions
    );
    Ok(())
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
        "torn" => &[("torn_reads", torn_reads)],
        "evict" => &[("eviction_under_concurrency", eviction_under_concurrency)],
        _ => {
            eprintln!("usage: kv-guest-tests basic|full|lru|capacity|torn|evict [LABEL]");
            std::process::exit(2);
        }
    };
    // An optional label tells runs of one group apart (e.g. per policy).
    let group = match args.get(2) {
        Some(label) => format!("{group}-{label}"),
        None => group.to_string(),
    };
    run_group(&format!("module/{group}"), tests)
}
