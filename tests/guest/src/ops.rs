//! Single-key operations (put, get, del) through raw ioctls: lengths at and
//! past the limits, binary bytes, replace and delete, unknown commands and
//! hostile pointers.

use kv_module::abi::{
    KvKey, KvPair, KV_IOC_DEL, KV_IOC_GET, KV_IOC_MAGIC, KV_IOC_PUT, KV_IOC_STAT, KV_MAX_KEY,
    KV_MAX_VAL,
};
use kv_test_support::{
    binary, ensure, expect_errno, expect_value, key_of, mapping, pair, same, Dev, Outcome, PAGE,
    UNTOUCHED,
};

use crate::store::{item_count, KERNEL_ADDR};

/// Keys and values at, below and of every byte up to their limits come back
/// as put; keys differing in one byte or by a prefix are distinct.
pub fn roundtrip_limits(dev: &Dev) -> Outcome {
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
    same("curr_items", item_count(dev)?, 0)
}

/// Every length past a limit (and an empty key) is EINVAL, and a refused
/// request changes nothing, counters included.
pub fn bad_lengths(dev: &Dev) -> Outcome {
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

/// A replace leaves nothing of the longer value; delete, get after delete
/// and delete twice.
pub fn replace_and_delete(dev: &Dev) -> Outcome {
    dev.put(b"r", &binary(KV_MAX_VAL, 5))
        .map_err(|e| format!("put: {e}"))?;
    dev.put(b"r", b"short")
        .map_err(|e| format!("replace: {e}"))?;
    // Nothing of the longer value comes back: the kernel writes the length
    // and the value's 5 bytes, and leaves the caller's bytes after them.
    let p = dev.get_pair(b"r").map_err(|e| format!("get: {e}"))?;
    same("value len", p.value.len, 5)?;
    same("value", &p.value.data[..5], &b"short"[..])?;
    ensure!(
        p.value.data[5..].iter().all(|&b| b == UNTOUCHED),
        "the get wrote bytes after the value"
    );
    same("curr_items after replace", item_count(dev)?, 1)?;
    dev.put(b"r", b"")
        .map_err(|e| format!("replace with empty: {e}"))?;
    expect_value(dev, b"r", b"")?;
    dev.del(b"r").map_err(|e| format!("del: {e}"))?;
    expect_errno("get after del", dev.get(b"r"), libc::ENOENT)?;
    expect_errno("del twice", dev.del(b"r"), libc::ENOENT)?;
    same("curr_items", item_count(dev)?, 0)
}

/// Unknown numbers, another magic, wrong sizes and directions: ENOTTY.
pub fn unknown_ioctls(dev: &Dev) -> Outcome {
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
    same("curr_items", item_count(dev)?, 0)
}

/// NULL, unmapped and kernel pointers are EFAULT, also a value running into
/// a hole; nothing is stored or changed.
pub fn bad_pointers(dev: &Dev) -> Outcome {
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
            dev.ioctl(cmd, KERNEL_ADDR),
            libc::EFAULT,
        )?;
    }
    same("stat after faulting requests", dev.stat(), Ok(before))?;

    // A pair whose key is readable but whose value runs into a hole: put
    // stores nothing; get finds the key but cannot write the value.
    let base = mapping(2, &[1])?;
    let at = base + PAGE - std::mem::size_of::<KvKey>();
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
    same("curr_items", item_count(dev)?, 1)?;
    dev.del(b"there").map_err(|e| format!("del: {e}"))
}
