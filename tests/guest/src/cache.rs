//! The cache ops through raw ioctls (`KV_IOC_CACHE_OP` and
//! `KV_IOC_CACHE_BATCH`): helpers for the expiry, counter and version
//! tests, the checks of a request's fields and access, and random
//! arguments for both ioctls (TTLs, versions, deltas, op codes, pointers).

use std::collections::BTreeMap;

use kv_module::abi::{
    KvBatchArgs, KvCacheOp, KV_BATCH_MAX, KV_IOC_CACHE_BATCH, KV_IOC_CACHE_OP, KV_OP_DEL,
    KV_OP_GET, KV_OP_INCR, KV_OP_PUT, KV_OP_PUT_VER, KV_OP_TOUCH, KV_OP_TTL, KV_PUT_NOEXIST,
};
use kv_test_support::{
    ensure, expect_errno, map, mapping, ok, pair, protect, same, Dev, Errno, Outcome, Rng,
};

use crate::store::{contents, empty_store, KERNEL_ADDR};

/// A cache op of `code` on `key` with `value`.
pub fn cache_op(code: u32, key: &[u8], value: &[u8]) -> KvCacheOp {
    KvCacheOp {
        op: code,
        pair: pair(key, value),
        ..KvCacheOp::ZERO
    }
}

/// Runs one cache op; its answers land in `op`.
pub fn run(dev: &Dev, op: &mut KvCacheOp) -> Result<(), Errno> {
    match dev.ioctl(KV_IOC_CACHE_OP, op as *mut KvCacheOp as usize)? {
        0 => Ok(()),
        n => Err(-n),
    }
}

pub fn put_ttl(dev: &Dev, key: &[u8], value: &[u8], ttl_ms: u64) -> Result<(), Errno> {
    let mut op = cache_op(KV_OP_PUT, key, value);
    op.ttl_ms = ttl_ms;
    run(dev, &mut op)
}

/// The milliseconds `key` has left, -1 for never.
pub fn ttl(dev: &Dev, key: &[u8]) -> Result<i64, Errno> {
    let mut op = cache_op(KV_OP_TTL, key, b"");
    run(dev, &mut op).map(|()| op.number)
}

pub fn touch(dev: &Dev, key: &[u8], ttl_ms: u64) -> Result<(), Errno> {
    let mut op = cache_op(KV_OP_TOUCH, key, b"");
    op.ttl_ms = ttl_ms;
    run(dev, &mut op)
}

pub fn incr(dev: &Dev, key: &[u8], delta: i64, ttl_ms: u64) -> Result<i64, Errno> {
    let mut op = cache_op(KV_OP_INCR, key, b"");
    op.number = delta;
    op.ttl_ms = ttl_ms;
    run(dev, &mut op).map(|()| op.number)
}

/// The value and version of `key`.
pub fn get_ver(dev: &Dev, key: &[u8]) -> Result<(Vec<u8>, u64), Errno> {
    let mut op = cache_op(KV_OP_GET, key, b"");
    run(dev, &mut op)?;
    let len = (op.pair.value.len as usize).min(op.pair.value.data.len());
    Ok((op.pair.value.data[..len].to_vec(), op.version))
}

pub fn put_ver(dev: &Dev, key: &[u8], value: &[u8], version: u64) -> Result<(), Errno> {
    let mut op = cache_op(KV_OP_PUT_VER, key, value);
    op.version = version;
    run(dev, &mut op)
}

/// Fields where they mean nothing, and access: EINVAL on any file for a bad
/// request, EBADF for a change on a read-only file, and an increment (which
/// answers the value) refused on a write-only one.
pub fn request_checks(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    ok("put", dev.put(b"k", b"1"))?;
    for (what, code, ttl, flags, reserved) in [
        ("ttl on a get", KV_OP_GET, 5, 0, 0),
        ("ttl on a del", KV_OP_DEL, 5, 0, 0),
        ("ttl on a ttl", KV_OP_TTL, 5, 0, 0),
        ("ttl on a versioned put", KV_OP_PUT_VER, 5, 0, 0),
        ("flags on an incr", KV_OP_INCR, 0, KV_PUT_NOEXIST, 0),
        ("flags on a touch", KV_OP_TOUCH, 0, 1, 0),
        ("reserved set", KV_OP_GET, 0, 0, 1),
        ("op 0", 0, 0, 0, 0),
        ("op 8", 8, 0, 0, 0),
    ] {
        let mut op = cache_op(code, b"k", b"");
        op.ttl_ms = ttl;
        op.flags = flags;
        op.reserved = reserved;
        expect_errno(what, run(dev, &mut op), libc::EINVAL)?;
    }
    let mut long_key = cache_op(KV_OP_TTL, b"k", b"");
    long_key.pair.key.len = 65;
    expect_errno("key length 65", run(dev, &mut long_key), libc::EINVAL)?;
    same(
        "the store after refused requests",
        dev.get(b"k"),
        Ok(b"1".to_vec()),
    )?;

    let ro = Dev::open_flags(libc::O_RDONLY)?;
    same("ttl read-only", ttl(&ro, b"k"), Ok(-1))?;
    ok("get_ver read-only", get_ver(&ro, b"k"))?;
    expect_errno("incr read-only", incr(&ro, b"k", 1, 0), libc::EBADF)?;
    expect_errno("touch read-only", touch(&ro, b"k", 0), libc::EBADF)?;
    expect_errno("put read-only", put_ttl(&ro, b"k", b"v", 5), libc::EBADF)?;
    expect_errno(
        "put_ver read-only",
        put_ver(&ro, b"k", b"v", 1),
        libc::EBADF,
    )?;
    let wo = Dev::open_flags(libc::O_WRONLY)?;
    expect_errno("incr write-only", incr(&wo, b"k", 1, 0), libc::EBADF)?;
    expect_errno("ttl write-only", ttl(&wo, b"k"), libc::EBADF)?;
    ok("touch write-only", touch(&wo, b"k", 0))?;
    same("nothing changed", dev.get(b"k"), Ok(b"1".to_vec()))?;
    // A versioned put answers EEXIST for a changed version, and a version
    // is never 0.
    let (_, v) = ok("get_ver", get_ver(dev, b"k"))?;
    ensure!(v != 0, "version 0");
    expect_errno(
        "put_ver changed",
        put_ver(dev, b"k", b"2", v ^ 1),
        libc::EEXIST,
    )?;
    expect_errno(
        "put_ver absent",
        put_ver(dev, b"nokey", b"2", v),
        libc::ENOENT,
    )?;
    // An increment whose answer cannot be written does not happen.
    ok("put n", dev.put(b"n", b"5"))?;
    let page = map(1, libc::PROT_READ | libc::PROT_WRITE)?;
    let mut op = cache_op(KV_OP_INCR, b"n", b"");
    op.number = 1;
    // SAFETY: `page` is a fresh writable page, larger than a KvCacheOp and
    // aligned for it.
    unsafe { (page as *mut KvCacheOp).write(op) };
    protect(page, 1, libc::PROT_READ)?;
    same(
        "incr into read-only memory",
        dev.ioctl(KV_IOC_CACHE_OP, page),
        Err(libc::EFAULT),
    )?;
    same("n unchanged", dev.get(b"n"), Ok(b"5".to_vec()))?;
    empty_store(dev)
}

/// Random cache-op batches and single ops: op codes, flags, TTLs, versions,
/// deltas and pointers. Only the errnos the ABI names, never a kernel
/// report (the rig checks the log); the counters reconcile with what the
/// ops answered.
pub fn fuzz(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    let hole = mapping(1, &[0])?;
    let read_only = map(1, libc::PROT_READ)? as u64;
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut ops = vec![KvCacheOp::ZERO; 8];
    for round in 0..1500u32 {
        let r = rng.next_u64();
        for (i, op) in ops.iter_mut().enumerate() {
            let s = rng.next_u64();
            let key = [b'f', (s % 13) as u8];
            *op = cache_op(
                1 + (s >> 8) as u32 % 8,
                &key,
                format!("{}", (s >> 16) % 50).as_bytes(),
            );
            op.ttl_ms = match (s >> 24) % 6 {
                0 => u64::MAX - (s >> 32) % 3,
                1 => 1 + (s >> 32) % 20,
                2 => 1 << 63,
                _ => 0,
            };
            if op.op != KV_OP_PUT
                && op.op != KV_OP_INCR
                && op.op != KV_OP_TOUCH
                && !s.is_multiple_of(5)
            {
                op.ttl_ms = 0;
            }
            op.version = match (s >> 40) % 4 {
                0 => 0,
                1 => u64::MAX,
                _ => (s >> 44) % 64,
            };
            op.number = match (s >> 48) % 5 {
                0 => i64::MAX,
                1 => i64::MIN,
                _ => ((s >> 50) % 7) as i64 - 3,
            };
            op.flags = if (s >> 56).is_multiple_of(7) {
                (s >> 58) as u32 % 4
            } else {
                0
            };
            op.reserved = u32::from(i == 7 && s.is_multiple_of(11));
            if s.is_multiple_of(29) {
                op.pair.key.len = (s >> 20) as u32;
            }
        }
        let ptr = match r % 6 {
            0 => 0,
            1 => hole as u64,
            2 => KERNEL_ADDR as u64,
            3 => read_only + (r >> 8) % 64,
            4 => u64::MAX - (r >> 8) % 4096,
            _ => ops.as_mut_ptr() as u64,
        };
        let count = match (r >> 4) % 4 {
            0 => (r >> 8) as u32 % 9,
            1 => KV_BATCH_MAX + 1,
            _ => 1 + (r >> 8) as u32 % 8,
        };
        let res = if round % 3 == 0 {
            dev.ioctl(
                KV_IOC_CACHE_OP,
                if r % 6 == 5 {
                    ops.as_mut_ptr() as usize
                } else {
                    ptr as usize
                },
            )
        } else {
            let mut args = KvBatchArgs {
                ops: ptr,
                count,
                reserved: u32::from(r.is_multiple_of(53)),
            };
            dev.ioctl(KV_IOC_CACHE_BATCH, &mut args as *mut KvBatchArgs as usize)
        };
        match res {
            Ok(_) | Err(libc::EFAULT) | Err(libc::EINVAL) | Err(libc::ENOENT)
            | Err(libc::EEXIST) | Err(libc::EOVERFLOW) | Err(libc::ENOSPC) => {
                *seen.entry(format!("{res:?}")).or_insert(0) += 1
            }
            Err(e) => return Err(format!("round {round}: errno {e}")),
        }
        for op in &ops {
            ensure!(
                [
                    0,
                    -libc::EINVAL,
                    -libc::ENOENT,
                    -libc::EEXIST,
                    -libc::EOVERFLOW,
                    -libc::ENOSPC
                ]
                .contains(&op.result),
                "round {round}: op {} answered {}",
                op.op,
                op.result
            );
        }
    }
    ensure!(
        seen.contains_key("Err(14)") && seen.contains_key("Err(22)") && seen.contains_key("Ok(0)"),
        "the fuzz missed EFAULT, EINVAL or success: {seen:?}"
    );
    // Once the short TTLs are past and reclaimed, the store is consistent:
    // what a dump finds is what stat counts.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let items = contents(dev)?;
    let stat = ok("stat", dev.stat())?;
    same(
        "curr_items against the dump",
        stat.curr_items as usize,
        items.len(),
    )?;
    let bytes: usize = items.iter().map(|(k, v)| k.len() + v.len()).sum();
    same("bytes_used against the dump", stat.bytes_used, bytes as u64)?;
    empty_store(dev)
}
