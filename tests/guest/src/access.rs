//! What a file may do by its open mode: a read-only file reads but cannot
//! change the store, a write-only one changes it but cannot read values,
//! and an invalid request answers EINVAL (or EFAULT) on any file: EBADF
//! only answers a valid request the file may not make.

use kv_module::abi::{
    KvDumpArgs, KvPair, KV_IOC_DUMP, KV_IOC_PUT, KV_MAX_KEY, KV_MAX_VAL, KV_OP_DEL, KV_OP_GET,
    KV_OP_PUT, KV_PUT_EXIST, KV_PUT_NOEXIST,
};
use kv_test_support::{expect_errno, expect_value, ok, op, pair, same, Dev, Outcome};

use crate::store::{batch_results, empty_store, stat, KERNEL_ADDR};

/// A read-only file: every invalid write request answers as on a writable
/// file, every valid one EBADF, and nothing changes.
pub fn read_only(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    ok("put", dev.put(b"here", b"v"))?;
    let ro = Dev::open_flags(libc::O_RDONLY)?;
    let before = stat(dev)?;
    let mut long_value = pair(b"k", b"");
    long_value.value.len = KV_MAX_VAL as u32 + 1;
    let mut long_key = pair(b"k", b"v");
    long_key.key.len = KV_MAX_KEY as u32 + 1;
    let invalid = [
        ("put empty key", ro.put(b"", b"v")),
        ("put key too long", ro.put_pair(&long_key)),
        ("put value too long", ro.put_pair(&long_value)),
        ("del empty key", ro.del(b"")),
        (
            "put_flags both flags",
            ro.put_flags(b"k", b"v", KV_PUT_NOEXIST | KV_PUT_EXIST),
        ),
    ];
    for (what, r) in invalid {
        expect_errno(what, r, libc::EINVAL)?;
    }
    expect_errno(
        "put from a kernel address",
        ro.ioctl(KV_IOC_PUT, KERNEL_ADDR),
        libc::EFAULT,
    )?;
    for (what, r) in [
        ("put", ro.put(b"new", b"v")),
        ("put replace", ro.put(b"here", b"w")),
        ("del", ro.del(b"here")),
        ("del absent", ro.del(b"absent")),
        ("put_flags", ro.put_flags(b"here", b"w", KV_PUT_EXIST)),
        ("clear", ro.clear()),
    ] {
        expect_errno(what, r, libc::EBADF)?;
    }
    let mut ops = [
        op(KV_OP_PUT, 0, b"", b"v"),
        op(KV_OP_PUT, 0, b"new", b"v"),
        op(KV_OP_DEL, 0, b"here", b""),
        op(KV_OP_GET, 0, b"here", b""),
    ];
    let results = batch_results(&ro, &mut ops)?;
    same(
        "batch results",
        results,
        vec![-libc::EINVAL, -libc::EBADF, -libc::EBADF, 0],
    )?;
    same("stat unchanged", stat(dev)?, {
        let mut s = before;
        s.hits += 1; // the batch's get
        s
    })?;
    expect_value(&ro, b"here", b"v")
}

/// A write-only file: puts and dels work, gets and dumps answer EBADF (after
/// the request's own checks), and a batch's gets answer EBADF each.
pub fn write_only(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    let wo = Dev::open_flags(libc::O_WRONLY)?;
    let hits_before = stat(dev)?.hits;
    ok("put O_WRONLY", wo.put(b"secret", b"value"))?;
    expect_errno("get", wo.get(b"secret"), libc::EBADF)?;
    expect_errno("get absent", wo.get(b"absent"), libc::EBADF)?;
    expect_errno("get empty key", wo.get(b""), libc::EINVAL)?;
    let mut room = vec![KvPair::ZERO; 8];
    let (mut cursor, mut count) = (0u64, 8u32);
    expect_errno(
        "dump",
        wo.dump_page(&mut cursor, &mut room, &mut count),
        libc::EBADF,
    )?;
    let mut args = KvDumpArgs {
        cursor: 0,
        pairs: room.as_mut_ptr() as u64,
        count: 8,
        reserved: 1,
    };
    expect_errno(
        "dump with reserved set",
        wo.ioctl(KV_IOC_DUMP, &mut args as *mut KvDumpArgs as usize),
        libc::EINVAL,
    )?;
    let mut ops = [
        op(KV_OP_GET, 0, b"secret", b""),
        op(KV_OP_PUT, 0, b"other", b"v"),
    ];
    same("batch", wo.batch(&mut ops), Ok(2))?;
    same("batch get result", ops[0].result, -libc::EBADF)?;
    same("batch get value untouched", ops[0].pair.value.len, 0)?;
    same("batch put result", ops[1].result, 0)?;
    ok("stat O_WRONLY", wo.stat().map(drop))?;
    same("no hit counted", stat(dev)?.hits, hits_before)?;
    expect_value(dev, b"secret", b"value")?;
    ok("del O_WRONLY", wo.del(b"secret"))?;
    expect_errno("deleted", dev.get(b"secret"), libc::ENOENT)?;
    empty_store(dev)
}
