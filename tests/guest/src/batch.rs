//! `KV_IOC_BATCH`: up to `KV_BATCH_MAX` gets, puts (with flags) and deletes
//! in one call, each with its own result.

use std::mem::size_of;

use kv_module::abi::{
    KvBatchArgs, KvOp, KV_BATCH_MAX, KV_IOC_BATCH, KV_MAX_KEY, KV_MAX_VAL, KV_OP_DEL, KV_OP_GET,
    KV_OP_PUT, KV_PUT_EXIST, KV_PUT_NOEXIST,
};
use kv_test_support::{
    binary, ensure, expect_errno, expect_value, map, mapping, op, protect, same, Dev, Outcome,
    PAGE, RESULT_UNSET,
};

use crate::store::{batch_results, contents, empty_store, stat, Items, KERNEL_ADDR};

/// Ops on one key see the earlier ones of the same batch; a get writes only
/// the value's bytes, a failed get none.
pub fn same_key(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    let k = b"same\0key\xff";
    let mut ops = vec![
        op(KV_OP_PUT, 0, k, b"1"),
        op(KV_OP_GET, 0, k, b""),
        op(KV_OP_PUT, KV_PUT_NOEXIST, k, b"no"),
        op(KV_OP_PUT, KV_PUT_EXIST, k, b"2"),
        op(KV_OP_GET, 0, k, b""),
        op(KV_OP_DEL, 0, k, b""),
        op(KV_OP_GET, 0, k, b""),
        op(KV_OP_DEL, 0, k, b""),
        op(KV_OP_PUT, KV_PUT_EXIST, k, b"no"),
        op(KV_OP_PUT, KV_PUT_NOEXIST, k, &binary(KV_MAX_VAL, 3)),
        op(KV_OP_GET, 0, k, b""),
    ];
    // A get's value buffer starts dirty: the kernel writes the value's
    // bytes and leaves the rest as sent.
    ops[4].pair.value.data = [0xAA; KV_MAX_VAL];
    ops[6].pair.value.len = 77; // a failed get writes no value
    let results = batch_results(dev, &mut ops)?;
    same(
        "results",
        results,
        vec![
            0,
            0,
            -libc::EEXIST,
            0,
            0,
            0,
            -libc::ENOENT,
            -libc::ENOENT,
            -libc::ENOENT,
            0,
            0,
        ],
    )?;
    same(
        "first get",
        &ops[1].pair.value.data[..ops[1].pair.value.len as usize],
        b"1",
    )?;
    same("second get len", ops[4].pair.value.len, 1)?;
    same("second get", ops[4].pair.value.data[0], b'2')?;
    ensure!(
        ops[4].pair.value.data[1..].iter().all(|&b| b == 0xAA),
        "get in a batch wrote bytes after the value"
    );
    same(
        "last get",
        ops[10].pair.value.data[..ops[10].pair.value.len as usize].to_vec(),
        binary(KV_MAX_VAL, 3),
    )?;
    same(
        "a failed get leaves its value alone",
        ops[6].pair.value.len,
        77,
    )?;
    expect_value(dev, k, &binary(KV_MAX_VAL, 3))?;
    empty_store(dev)
}

/// Bad ops fail alone with their own result; the good ones around them run.
pub fn per_op_errors(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    let mut huge = op(KV_OP_PUT, 0, b"h", b"v");
    huge.pair.key.len = u32::MAX;
    let mut reserved = op(KV_OP_PUT, 0, b"r", b"v");
    reserved.reserved = 7;
    let mut ops = vec![
        op(KV_OP_PUT, 0, b"a", b"1"),
        op(KV_OP_PUT, 0, b"", b"v"),
        op(KV_OP_PUT, 0, b"b", b"2"),
        op(KV_OP_PUT, 0, &[7; KV_MAX_KEY + 1], b"v"),
        op(KV_OP_PUT, 0, b"c", &[1; KV_MAX_VAL + 1]),
        op(KV_OP_GET, 0, b"", b""),
        op(KV_OP_DEL, 0, &[7; KV_MAX_KEY + 1], b""),
        huge,
        reserved,
        op(0, 0, b"a", b""),
        op(4, 0, b"a", b""),
        op(u32::MAX, 0, b"a", b""),
        op(KV_OP_GET, KV_PUT_EXIST, b"a", b""),
        op(KV_OP_DEL, KV_PUT_NOEXIST, b"a", b""),
        op(KV_OP_PUT, 3, b"a", b"x"),
        op(KV_OP_PUT, 0x100, b"a", b"x"),
        op(KV_OP_PUT, KV_PUT_NOEXIST, b"a", b"x"),
        op(KV_OP_GET, 0, b"missing", b""),
        op(KV_OP_PUT, 0, b"d", b"4"),
        op(KV_OP_GET, 0, b"a", b""),
    ];
    let results = batch_results(dev, &mut ops)?;
    let e = -libc::EINVAL;
    let mut want = vec![0, e, 0, e, e, e, e, e, e, e, e, e, e, e, e, e];
    want.extend([-libc::EEXIST, -libc::ENOENT, 0, 0]);
    same("results", results, want)?;
    same(
        "the good ops were done",
        contents(dev)?,
        Items::from([
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
            (b"d".to_vec(), b"4".to_vec()),
        ]),
    )?;
    same("get after errors", &ops[19].pair.value.data[..1], b"1")?;
    empty_store(dev)
}

/// Counts 0, past KV_BATCH_MAX and huge; bad pointers; KV_BATCH_MAX ops in
/// one call; ops running into a hole run up to it.
pub fn counts_and_pointers(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    same("count 0, NULL ops", dev.batch_raw(0, 0), Ok(0))?;
    same("count 0, bad ops", dev.batch_raw(KERNEL_ADDR, 0), Ok(0))?;
    let mut ops = vec![op(KV_OP_PUT, 0, b"k", b"v"); KV_BATCH_MAX as usize + 1];
    for (what, count) in [
        ("KV_BATCH_MAX + 1", KV_BATCH_MAX + 1),
        ("2^31", 0x8000_0000),
        ("u32::MAX", u32::MAX),
    ] {
        expect_errno(
            what,
            dev.batch_raw(ops.as_mut_ptr() as usize, count),
            libc::EINVAL,
        )?;
    }
    same("nothing ran", stat(dev)?.curr_items, 0)?;
    ensure!(
        ops.iter().all(|o| o.result == RESULT_UNSET),
        "a refused batch wrote results"
    );
    let mut args = KvBatchArgs {
        ops: ops.as_mut_ptr() as u64,
        count: 1,
        reserved: 1,
    };
    expect_errno(
        "reserved set",
        dev.ioctl(KV_IOC_BATCH, &mut args as *mut KvBatchArgs as usize),
        libc::EINVAL,
    )?;
    for (what, addr) in [
        ("NULL ops", 0),
        ("unmapped ops", mapping(1, &[0])?),
        ("kernel ops", KERNEL_ADDR),
        ("ops at the top of the address space", usize::MAX - 100),
    ] {
        expect_errno(what, dev.batch_raw(addr, 1), libc::EFAULT)?;
    }
    for (what, addr) in [("NULL args", 0), ("kernel args", KERNEL_ADDR)] {
        expect_errno(what, dev.ioctl(KV_IOC_BATCH, addr), libc::EFAULT)?;
    }
    // KV_BATCH_MAX ops in one call: KV_BATCH_MAX distinct puts, then gets.
    let keys: Vec<Vec<u8>> = (0..KV_BATCH_MAX)
        .map(|i| format!("max-{i}").into_bytes())
        .collect();
    let mut puts: Vec<KvOp> = keys.iter().map(|k| op(KV_OP_PUT, 0, k, k)).collect();
    same(
        "KV_BATCH_MAX puts",
        dev.batch(&mut puts),
        Ok(KV_BATCH_MAX as i32),
    )?;
    let mut gets: Vec<KvOp> = keys.iter().map(|k| op(KV_OP_GET, 0, k, b"")).collect();
    same(
        "KV_BATCH_MAX gets",
        dev.batch(&mut gets),
        Ok(KV_BATCH_MAX as i32),
    )?;
    for (k, g) in keys.iter().zip(&gets) {
        same("get result", g.result, 0)?;
        same(
            "get value",
            &g.pair.value.data[..g.pair.value.len as usize],
            &k[..],
        )?;
    }
    empty_store(dev)?;

    // Ops running into a hole: the ops before it are done with their
    // results, and the batch answers how many that was; the op it cannot
    // read does not run.
    let base = mapping(2, &[1])?;
    let fit = PAGE / size_of::<KvOp>(); // whole ops on the mapped page
    let at = base + PAGE - fit * size_of::<KvOp>();
    for i in 0..fit {
        let o = op(KV_OP_PUT, 0, format!("hole-{i}").as_bytes(), b"v");
        // SAFETY: op i lies inside the mapped, writable first page.
        unsafe { std::ptr::write_unaligned((at + i * size_of::<KvOp>()) as *mut KvOp, o) };
    }
    same(
        "ops running into a hole",
        dev.batch_raw(at, fit as u32 + 1),
        Ok(fit as i32),
    )?;
    same(
        "the ops before the hole ran",
        stat(dev)?.curr_items,
        fit as u32,
    )?;
    for i in 0..fit {
        // SAFETY: As above.
        let o = unsafe { std::ptr::read_unaligned((at + i * size_of::<KvOp>()) as *const KvOp) };
        same("result before the hole", o.result, 0)?;
    }
    empty_store(dev)
}

/// An op whose `result` cannot be written does not run: the batch stops
/// before it and answers the ops run so far (EFAULT if none), so a failed
/// call changes nothing and a short one says exactly what ran.
pub fn unreportable_op_does_not_run(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    // Op 0 at the end of a writable page, op 1 on a read-only page after it:
    // the kernel can read op 1 but not write its result.
    let base = map(2, libc::PROT_READ | libc::PROT_WRITE)?;
    let at = base + PAGE - size_of::<KvOp>();
    for (i, key) in [&b"reported"[..], &b"unreportd"[..]]
        .into_iter()
        .enumerate()
    {
        let o = op(KV_OP_PUT, 0, key, b"v");
        // SAFETY: both ops lie inside the two mapped, writable pages.
        unsafe { std::ptr::write_unaligned((at + i * size_of::<KvOp>()) as *mut KvOp, o) };
    }
    protect(base + PAGE, 1, libc::PROT_READ)?;
    same("batch of 2, op 1 unreportable", dev.batch_raw(at, 2), Ok(1))?;
    expect_value(dev, b"reported", b"v")?;
    expect_errno("op 1 did not run", dev.get(b"unreportd"), libc::ENOENT)?;
    // The same op alone: nothing runs, EFAULT.
    expect_errno(
        "batch of the unreportable op alone",
        dev.batch_raw(at + size_of::<KvOp>(), 1),
        libc::EFAULT,
    )?;
    expect_errno("still not run", dev.get(b"unreportd"), libc::ENOENT)?;
    same("one item", stat(dev)?.curr_items, 1)?;
    // A get whose value cannot be delivered stops the batch too.
    let o = op(KV_OP_GET, 0, b"reported", b"");
    // SAFETY: op 0's slot is on the writable page.
    unsafe { std::ptr::write_unaligned(at as *mut KvOp, o) };
    let hits = stat(dev)?.hits;
    same("get then the unreportable op", dev.batch_raw(at, 2), Ok(1))?;
    same("the get hit once", stat(dev)?.hits, hits + 1)?;
    empty_store(dev)
}
