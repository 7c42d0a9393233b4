//! `KV_IOC_PUT_FLAGS`: a put only if the key is absent (`KV_PUT_NOEXIST`) or
//! present (`KV_PUT_EXIST`).

use kv_module::abi::{KvOp, KV_IOC_PUT_FLAGS, KV_OP_GET, KV_OP_PUT, KV_PUT_EXIST, KV_PUT_NOEXIST};
use kv_test_support::{expect_errno, expect_value, mapping, ok, op, same, Dev, Outcome};

use crate::store::{empty_store, stat, KERNEL_ADDR};

/// NOEXIST and EXIST on absent and present keys, flags 0 as a put, every
/// bad flag, op and length refused with EINVAL and changing nothing, bad
/// pointers EFAULT.
pub fn contract(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    expect_errno(
        "EXIST on an absent key",
        dev.put_flags(b"k", b"v", KV_PUT_EXIST),
        libc::ENOENT,
    )?;
    expect_errno("nothing was inserted", dev.get(b"k"), libc::ENOENT)?;
    ok(
        "NOEXIST on an absent key",
        dev.put_flags(b"k", b"one", KV_PUT_NOEXIST),
    )?;
    let before = stat(dev)?;
    expect_errno(
        "NOEXIST on a present key",
        dev.put_flags(b"k", b"two", KV_PUT_NOEXIST),
        libc::EEXIST,
    )?;
    expect_value(dev, b"k", b"one")?;
    ok(
        "EXIST on a present key",
        dev.put_flags(b"k", b"three", KV_PUT_EXIST),
    )?;
    expect_value(dev, b"k", b"three")?;
    ok("flags 0 is a put", dev.put_flags(b"k", b"four", 0))?;
    ok("flags 0 inserts", dev.put_flags(b"k2", b"x", 0))?;
    expect_value(dev, b"k", b"four")?;
    let mid = stat(dev)?;
    for flags in [
        KV_PUT_NOEXIST | KV_PUT_EXIST,
        4,
        8,
        0x8000_0000,
        u32::MAX,
        KV_PUT_NOEXIST | 4,
    ] {
        expect_errno(
            &format!("flags {flags:#x}"),
            dev.put_flags(b"k", b"bad", flags),
            libc::EINVAL,
        )?;
        expect_errno(
            &format!("flags {flags:#x} on an absent key"),
            dev.put_flags(b"new", b"bad", flags),
            libc::EINVAL,
        )?;
    }
    // The request itself: op must be a put, reserved 0, lengths in range.
    for (what, mut bad) in [
        ("op get", op(KV_OP_GET, 0, b"k", b"v")),
        ("op 0", op(0, 0, b"k", b"v")),
        ("op 99", op(99, 0, b"k", b"v")),
        ("key len 0", op(KV_OP_PUT, KV_PUT_EXIST, b"", b"v")),
        ("key len 65", op(KV_OP_PUT, 0, &[1; 65], b"v")),
        (
            "value len 257",
            op(KV_OP_PUT, KV_PUT_EXIST, b"k", &[1; 257]),
        ),
    ] {
        bad.result = 0;
        expect_errno(
            what,
            dev.ioctl(KV_IOC_PUT_FLAGS, &bad as *const KvOp as usize),
            libc::EINVAL,
        )?;
    }
    let mut bad = op(KV_OP_PUT, 0, b"k", b"v");
    bad.reserved = 1;
    expect_errno(
        "reserved set",
        dev.ioctl(KV_IOC_PUT_FLAGS, &bad as *const KvOp as usize),
        libc::EINVAL,
    )?;
    let mut bad = op(KV_OP_PUT, 0, b"k", b"v");
    bad.pair.value.len = u32::MAX;
    expect_errno(
        "value len u32::MAX",
        dev.ioctl(KV_IOC_PUT_FLAGS, &bad as *const KvOp as usize),
        libc::EINVAL,
    )?;
    let after = stat(dev)?;
    same("refused puts change nothing", after, mid)?;
    same(
        "the refused NOEXIST counted nothing",
        before.puts + 3,
        mid.puts,
    )?;
    expect_value(dev, b"k", b"four")?;
    expect_errno("bad flags inserted nothing", dev.get(b"new"), libc::ENOENT)?;
    for (what, addr) in [
        ("NULL", 0),
        ("unmapped", mapping(1, &[0])?),
        ("kernel", KERNEL_ADDR),
    ] {
        expect_errno(what, dev.ioctl(KV_IOC_PUT_FLAGS, addr), libc::EFAULT)?;
    }
    empty_store(dev)
}
