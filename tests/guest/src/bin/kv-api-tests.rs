//! Tests of the ioctls of issue 11 (put with flags, batch, dump, clear, stat's
//! mask and counters) through raw ioctls, run in the test guest against the
//! real `/dev/kvstore` (tests/suites/api.sh loads the module with the
//! parameters each group expects).
//!
//! `kv-api-tests GROUP` runs one group and prints `PASS: name` or
//! `FAIL: name: why` per check; the exit status is 1 if any check failed.

use std::collections::BTreeMap;
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kv_module::abi::*;

#[macro_use]
#[path = "../harness.rs"]
mod harness;

use harness::{binary, expect_errno, mapping, pair, run_group, same, Dev, Errno, Outcome, Test};

type Items = BTreeMap<Vec<u8>, Vec<u8>>;

impl Dev {
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), Errno> {
        self.put_flags(key, value, 0)
    }

    fn put_flags(&self, key: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
        let op = op(KV_OP_PUT, flags, key, value);
        self.ioctl(KV_IOC_PUT_FLAGS, &op as *const KvOp as usize)
            .map(drop)
    }

    fn get(&self, key: &[u8]) -> Result<Vec<u8>, Errno> {
        let mut p = pair(key, b"");
        self.ioctl(KV_IOC_GET, &mut p as *mut KvPair as usize)?;
        Ok(p.value.data[..(p.value.len as usize).min(KV_MAX_VAL)].to_vec())
    }

    fn del(&self, key: &[u8]) -> Result<(), Errno> {
        let k = pair(key, b"").key;
        self.ioctl(KV_IOC_DEL, &k as *const KvKey as usize)
            .map(drop)
    }

    fn stat(&self) -> Result<KvUsageStat, String> {
        let mut s = KvUsageStat::ZERO;
        s.reserved = [u64::MAX; KV_STAT_RESERVED];
        self.ioctl(KV_IOC_STAT, &mut s as *mut KvUsageStat as usize)
            .map_err(|e| format!("stat: errno {e}"))?;
        Ok(s)
    }

    fn batch_raw(&self, ops: usize, count: u32) -> Result<i32, Errno> {
        let args = KvBatchArgs {
            ops: ops as u64,
            count,
            reserved: 0,
        };
        self.ioctl(KV_IOC_BATCH, &args as *const KvBatchArgs as usize)
    }

    fn batch(&self, ops: &mut [KvOp]) -> Result<i32, Errno> {
        self.batch_raw(ops.as_mut_ptr() as usize, ops.len() as u32)
    }

    /// One dump call: Ok(pairs written) with the cursor moved, or the errno
    /// with `count` as the kernel left it.
    fn dump_page(
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
        let r = self.ioctl(KV_IOC_DUMP, &mut args as *mut KvDumpArgs as usize);
        *count = args.count;
        if r.is_ok() {
            *cursor = args.cursor;
        }
        r.map(drop)
    }

    /// Every item through dump pages of `page` pairs (growing on ENOSPC);
    /// an error if a key comes twice.
    fn dump_all(&self, page: usize) -> Result<Items, String> {
        let mut items = Items::new();
        let mut room = vec![KvPair::ZERO; page];
        let mut cursor = 0u64;
        loop {
            let mut count = room.len() as u32;
            match self.dump_page(&mut cursor, &mut room, &mut count) {
                Ok(()) if count == 0 => return Ok(items),
                Ok(()) => {
                    ensure!(count as usize <= room.len(), "count {count} above the room");
                    for p in &room[..count as usize] {
                        let (k, v) = pair_bytes(p)?;
                        ensure!(items.insert(k.clone(), v).is_none(), "key {k:?} came twice");
                    }
                }
                Err(libc::ENOSPC) => {
                    ensure!(
                        count as usize > room.len(),
                        "ENOSPC asks for {count}, room is {}",
                        room.len()
                    );
                    room.resize(count as usize, KvPair::ZERO);
                }
                Err(e) => return Err(format!("dump: errno {e}")),
            }
        }
    }
}

fn op(kind: u32, flags: u32, key: &[u8], value: &[u8]) -> KvOp {
    KvOp {
        op: kind,
        flags,
        result: 12345, // the kernel must overwrite it
        reserved: 0,
        pair: pair(key, value),
    }
}

fn pair_bytes(p: &KvPair) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (k, v) = (p.key.len as usize, p.value.len as usize);
    ensure!(
        (1..=KV_MAX_KEY).contains(&k) && v <= KV_MAX_VAL,
        "dumped lengths {k}/{v}"
    );
    ensure!(
        p.key.data[k..].iter().all(|&b| b == 0) && p.value.data[v..].iter().all(|&b| b == 0),
        "dumped pair has bytes past its lengths"
    );
    Ok((p.key.data[..k].to_vec(), p.value.data[..v].to_vec()))
}

fn expect_value(dev: &Dev, key: &[u8], value: &[u8]) -> Outcome {
    same(&format!("get {key:?}"), dev.get(key), Ok(value.to_vec()))
}

fn ok<T>(what: &str, r: Result<T, Errno>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: errno {e}"))
}

/// The items of the store, through a big enough dump.
fn items(dev: &Dev) -> Result<Items, String> {
    dev.dump_all(4096)
}

const KERNEL_ADDR: usize = 0xffff_ffff_8100_0000;

fn empty_store(dev: &Dev) -> Outcome {
    ok("clear", dev.ioctl(KV_IOC_CLEAR, 0))?;
    same("curr_items", dev.stat()?.curr_items, 0)
}

// ---------------------------------------------------------------------------
// group "basic": buckets=64 max_items=1024 use_lru=0, fresh module

fn stat_mask_and_counters(dev: &Dev) -> Outcome {
    let s = dev.stat()?;
    same("filled", s.filled, 0x3ff)?;
    same("puts on a fresh module", s.puts, 0)?;
    same("deletes on a fresh module", s.deletes, 0)?;
    same("reserved zeroed", s.reserved, [0; KV_STAT_RESERVED])?;
    ok("put", dev.put(b"a", b"1"))?;
    ok("replace", dev.put(b"a", b"2"))?;
    ok("put nx", dev.put_flags(b"b", b"1", KV_PUT_NOEXIST))?;
    expect_errno(
        "refused nx",
        dev.put_flags(b"b", b"1", KV_PUT_NOEXIST),
        libc::EEXIST,
    )?;
    expect_errno(
        "refused xx",
        dev.put_flags(b"c", b"1", KV_PUT_EXIST),
        libc::ENOENT,
    )?;
    expect_errno("bad put", dev.put(b"", b"1"), libc::EINVAL)?;
    ok("del", dev.del(b"a"))?;
    expect_errno("del absent", dev.del(b"a"), libc::ENOENT)?;
    let mut ops = [
        op(KV_OP_PUT, 0, b"x", b"1"),
        op(KV_OP_DEL, 0, b"x", b""),
        op(KV_OP_DEL, 0, b"x", b""),
        op(KV_OP_GET, 0, b"b", b""),
    ];
    ok("batch", dev.batch(&mut ops))?;
    let s = dev.stat()?;
    same("puts (4 succeeded)", s.puts, 4)?;
    same("deletes (2 succeeded)", s.deletes, 2)?;
    same("hits", s.hits, 1)?;
    empty_store(dev)?;
    let after = dev.stat()?;
    same("clear is no delete", (after.puts, after.deletes), (4, 2))
}

fn put_flags_contract(dev: &Dev) -> Outcome {
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
    let before = dev.stat()?;
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
    let mid = dev.stat()?;
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
    let after = dev.stat()?;
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

fn batch_same_key(dev: &Dev) -> Outcome {
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
    same(
        "batch returns the count",
        dev.batch(&mut ops),
        Ok(ops.len() as i32),
    )?;
    let results: Vec<i32> = ops.iter().map(|o| o.result).collect();
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

fn batch_per_op_errors(dev: &Dev) -> Outcome {
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
    let n = ops.len();
    same("batch returns the count", dev.batch(&mut ops), Ok(n as i32))?;
    let results: Vec<i32> = ops.iter().map(|o| o.result).collect();
    let e = -libc::EINVAL;
    let mut want = vec![0, e, 0, e, e, e, e, e, e, e, e, e, e, e, e, e];
    want.extend([-libc::EEXIST, -libc::ENOENT, 0, 0]);
    same("results", results, want)?;
    same(
        "the good ops were done",
        items(dev)?,
        Items::from([
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
            (b"d".to_vec(), b"4".to_vec()),
        ]),
    )?;
    same("get after errors", &ops[19].pair.value.data[..1], b"1")?;
    empty_store(dev)
}

fn batch_counts_and_pointers(dev: &Dev) -> Outcome {
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
    same("nothing ran", dev.stat()?.curr_items, 0)?;
    ensure!(
        ops.iter().all(|o| o.result == 12345),
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
    // results, the batch fails with EFAULT.
    let base = mapping(2, &[1])?;
    let fit = 4096 / size_of::<KvOp>(); // whole ops on the mapped page
    let at = base + 4096 - fit * size_of::<KvOp>();
    for i in 0..fit {
        let o = op(KV_OP_PUT, 0, format!("hole-{i}").as_bytes(), b"v");
        // SAFETY: op i lies inside the mapped, writable first page.
        unsafe { std::ptr::write_unaligned((at + i * size_of::<KvOp>()) as *mut KvOp, o) };
    }
    expect_errno(
        "ops running into a hole",
        dev.batch_raw(at, fit as u32 + 1),
        libc::EFAULT,
    )?;
    same(
        "the ops before the hole ran",
        dev.stat()?.curr_items,
        fit as u32,
    )?;
    for i in 0..fit {
        // SAFETY: As above.
        let o = unsafe { std::ptr::read_unaligned((at + i * size_of::<KvOp>()) as *const KvOp) };
        same("result before the hole", o.result, 0)?;
    }
    empty_store(dev)
}

fn dump_every_item_once(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    let mut want = Items::new();
    for i in 0..600u32 {
        let k = if i % 3 == 0 {
            binary(1 + (i as usize % KV_MAX_KEY), i as u8)
        } else {
            format!("key-{i}").into_bytes()
        };
        let v = binary(i as usize % (KV_MAX_VAL + 1), (i * 7) as u8);
        ok("put", dev.put(&k, &v))?;
        want.insert(k, v);
    }
    let before = dev.stat()?;
    for page in [1, 3, 8, 64, 1024] {
        same(
            &format!("dump in pages of {page}"),
            dev.dump_all(page)?,
            want.clone(),
        )?;
    }
    same(
        "a dump counts no hit and changes nothing",
        dev.stat()?,
        before,
    )?;
    empty_store(dev)?;
    same(
        "an empty store dumps nothing",
        dev.dump_all(1)?,
        Items::new(),
    )
}

fn dump_cursor_and_room(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    for i in 0..200 {
        ok("put", dev.put(format!("k{i}").as_bytes(), b"v"))?;
    }
    let mut room = vec![KvPair::ZERO; 300];
    // Room 0: ENOSPC with the first non-empty bucket's size; cursor unchanged.
    let (mut cursor, mut count) = (0u64, 0u32);
    expect_errno(
        "room 0",
        dev.dump_page(&mut cursor, &mut room, &mut count),
        libc::ENOSPC,
    )?;
    ensure!(count >= 1, "ENOSPC asks for {count}");
    same("cursor after ENOSPC", cursor, 0)?;
    let needed = count;
    // Exactly that room: the bucket comes, and nothing past the room is written.
    room.iter_mut().for_each(|p| p.key.len = 999);
    let mut c2 = needed;
    ok("exact room", dev.dump_page(&mut cursor, &mut room, &mut c2))?;
    same("pairs written", c2, needed)?;
    ensure!(
        room[needed as usize].key.len == 999,
        "the kernel wrote past the room"
    );
    ensure!(cursor >= 1, "cursor did not move");
    // Whole buckets only: a call never returns more than its room, and the
    // pages add up to every item.
    let mut total = c2 as usize;
    loop {
        let mut c = 5u32;
        match dev.dump_page(&mut cursor, &mut room, &mut c) {
            Ok(()) if c == 0 => break,
            Ok(()) => {
                ensure!(c <= 5, "{c} pairs for a room of 5");
                total += c as usize;
            }
            Err(libc::ENOSPC) => {
                ensure!(c > 5, "ENOSPC asks for {c}");
                let mut c3 = c;
                ok(
                    "retry with the room asked for",
                    dev.dump_page(&mut cursor, &mut room, &mut c3),
                )?;
                same("retry writes the bucket", c3, c)?;
                total += c as usize;
            }
            Err(e) => return Err(format!("dump: errno {e}")),
        }
    }
    same("items over all pages", total, 200)?;
    let buckets = u64::from(dev.stat()?.bucket_count);
    same("cursor at the end", cursor, buckets)?;
    for end in [buckets, buckets + 1, u64::from(u32::MAX), 1 << 32, u64::MAX] {
        let (mut cur, mut c) = (end, 300u32);
        ok(
            "dump past the end",
            dev.dump_page(&mut cur, &mut room, &mut c),
        )?;
        same(&format!("cursor {end}: count"), c, 0)?;
    }
    // Bad arguments.
    let mut args = KvDumpArgs {
        cursor: 0,
        pairs: room.as_mut_ptr() as u64,
        count: 300,
        reserved: 1,
    };
    expect_errno(
        "reserved set",
        dev.ioctl(KV_IOC_DUMP, &mut args as *mut KvDumpArgs as usize),
        libc::EINVAL,
    )?;
    for (what, addr) in [
        ("NULL pairs", 0),
        ("unmapped pairs", mapping(1, &[0])?),
        ("kernel pairs", KERNEL_ADDR),
        ("pairs at the top of the address space", usize::MAX - 100),
    ] {
        let mut args = KvDumpArgs {
            cursor: 0,
            pairs: addr as u64,
            count: 300,
            reserved: 0,
        };
        expect_errno(
            what,
            dev.ioctl(KV_IOC_DUMP, &mut args as *mut KvDumpArgs as usize),
            libc::EFAULT,
        )?;
    }
    for (what, addr) in [("NULL args", 0), ("kernel args", KERNEL_ADDR)] {
        expect_errno(what, dev.ioctl(KV_IOC_DUMP, addr), libc::EFAULT)?;
    }
    same("items after bad dumps", dev.stat()?.curr_items, 200)?;
    empty_store(dev)
}

fn clear_contract(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    for i in 0..100 {
        ok("put", dev.put(format!("c{i}").as_bytes(), &[i as u8; 10]))?;
    }
    ok("get", dev.get(b"c1"))?;
    expect_errno("miss", dev.get(b"zz"), libc::ENOENT)?;
    let before = dev.stat()?;
    same("clear returns 0", dev.ioctl(KV_IOC_CLEAR, 0), Ok(0))?;
    let after = dev.stat()?;
    same("curr_items", after.curr_items, 0)?;
    same("bytes_used", after.bytes_used, 0)?;
    same(
        "counters keep counting",
        (after.hits, after.misses, after.evictions),
        (before.hits, before.misses, before.evictions),
    )?;
    expect_errno("a cleared key", dev.get(b"c1"), libc::ENOENT)?;
    same("nothing to dump", items(dev)?, Items::new())?;
    same("clear of an empty store", dev.ioctl(KV_IOC_CLEAR, 0), Ok(0))?;
    // The whole capacity is usable again.
    let cap = after.max_items;
    for i in 0..cap {
        ok("refill", dev.put(format!("r{i}").as_bytes(), b"x"))?;
    }
    expect_errno("one past capacity", dev.put(b"over", b"x"), libc::ENOSPC)?;
    empty_store(dev)
}

/// Random counts, pointers and argument words against batch and dump:
/// only EFAULT, EINVAL or ENOSPC, never a kernel report (the rig checks the
/// log), and the store holds exactly what it held.
fn fuzz_counts_and_pointers(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    for i in 0..50 {
        ok("put", dev.put(format!("f{i}").as_bytes(), b"v"))?;
    }
    let want = items(dev)?;
    let hole = mapping(1, &[0])?;
    // A zeroed read-only page: ops read from it are op 0 (EINVAL), whose
    // results cannot be written back (EFAULT); dumps cannot write to it.
    // SAFETY: An anonymous private mapping at an address the kernel picks.
    let read_only = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    ensure!(read_only != libc::MAP_FAILED, "mmap failed");
    let read_only = read_only as u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut seen = BTreeMap::new();
    for _ in 0..3000 {
        let r = next();
        let ptr = match r % 7 {
            0 => 0,
            1 => hole as u64,
            2 => KERNEL_ADDR as u64,
            3 => u64::MAX - (r >> 8) % 4096,
            4 => 1 << 47,
            5 => read_only + (r >> 8) % 64,
            _ => r,
        };
        let count = match (r >> 3) % 5 {
            0 => 0,
            1 => 1 + (r >> 16) as u32 % 4,
            2 => KV_BATCH_MAX + (r >> 16) as u32 % 3,
            3 => u32::MAX - (r >> 16) as u32 % 3,
            _ => (r >> 32) as u32,
        };
        let reserved = u32::from(r % 97 == 0);
        let mut batch = KvBatchArgs {
            ops: ptr,
            count,
            reserved,
        };
        let mut dump = KvDumpArgs {
            cursor: if r % 5 == 0 { next() } else { next() % 80 },
            pairs: ptr,
            count,
            reserved,
        };
        let (cmd, arg) = if r & 1 == 0 {
            (KV_IOC_BATCH, &mut batch as *mut KvBatchArgs as usize)
        } else {
            (KV_IOC_DUMP, &mut dump as *mut KvDumpArgs as usize)
        };
        let res = dev.ioctl(cmd, arg);
        match res {
            Ok(_) | Err(libc::EFAULT) | Err(libc::EINVAL) | Err(libc::ENOSPC) => {
                *seen.entry(format!("{res:?}")).or_insert(0) += 1;
            }
            Err(e) => {
                return Err(format!(
                    "cmd {cmd:#x} ptr {ptr:#x} count {count}: errno {e}"
                ))
            }
        }
    }
    ensure!(
        seen.contains_key("Err(14)") && seen.contains_key("Err(22)"),
        "the fuzz never hit EFAULT and EINVAL: {seen:?}"
    );
    same("the store after the fuzz", items(dev)?, want)?;
    empty_store(dev)
}

// ---------------------------------------------------------------------------
// group "full": max_items=3 use_lru=0

fn batch_enospc_when_full(dev: &Dev) -> Outcome {
    let mut ops = vec![
        op(KV_OP_PUT, 0, b"a", b"1"),
        op(KV_OP_PUT, 0, b"b", b"2"),
        op(KV_OP_PUT, 0, b"c", b"3"),
        op(KV_OP_PUT, 0, b"d", b"4"),
        op(KV_OP_PUT, KV_PUT_NOEXIST, b"e", b"5"),
        op(KV_OP_PUT, KV_PUT_EXIST, b"a", b"one"),
        op(KV_OP_DEL, 0, b"b", b""),
        op(KV_OP_PUT, 0, b"d", b"4"),
        op(KV_OP_GET, 0, b"d", b""),
    ];
    same("batch", dev.batch(&mut ops), Ok(9))?;
    let results: Vec<i32> = ops.iter().map(|o| o.result).collect();
    same(
        "results",
        results,
        vec![0, 0, 0, -libc::ENOSPC, -libc::ENOSPC, 0, 0, 0, 0],
    )?;
    same(
        "items",
        items(dev)?,
        Items::from([
            (b"a".to_vec(), b"one".to_vec()),
            (b"c".to_vec(), b"3".to_vec()),
            (b"d".to_vec(), b"4".to_vec()),
        ]),
    )?;
    same("evictions", dev.stat()?.evictions, 0)
}

// ---------------------------------------------------------------------------
// group "lru": max_items=3 use_lru=1

fn dump_is_no_use(dev: &Dev) -> Outcome {
    for k in [b"a", b"b", b"c"] {
        ok("put", dev.put(k, k))?;
    }
    ok("get a", dev.get(b"a"))?; // least recent first: b c a
    let before = dev.stat()?;
    same("dump", items(dev)?.len(), 3)?;
    same("a dump counts nothing", dev.stat()?, before)?;
    ok("put d", dev.put(b"d", b"d"))?; // evicts b, not whatever the dump read last
    expect_errno("b was evicted", dev.get(b"b"), libc::ENOENT)?;
    let keys: Vec<Vec<u8>> = items(dev)?.into_keys().collect();
    same(
        "keys",
        keys,
        vec![b"a".to_vec(), b"c".to_vec(), b"d".to_vec()],
    )?;
    let evictions = dev.stat()?.evictions;
    same("one eviction", evictions, 1)?;
    ok("clear", dev.ioctl(KV_IOC_CLEAR, 0))?;
    same("clear evicts nothing", dev.stat()?.evictions, evictions)?;
    // After a clear the LRU order starts afresh.
    for k in [b"x", b"y", b"z", b"w"] {
        ok("put", dev.put(k, k))?;
    }
    expect_errno("x was evicted", dev.get(b"x"), libc::ENOENT)?;
    same("evictions", dev.stat()?.evictions, evictions + 1)
}

// ---------------------------------------------------------------------------
// group "race": a dump racing a writer, on every CPU of the guest

const STABLE: usize = 400;

fn dump_races_writers(dev: &Dev) -> Outcome {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    ensure!(cpus >= 2, "the guest has {cpus} CPU; the race needs 2");
    empty_store(dev)?;
    let mut stable = Items::new();
    for i in 0..STABLE {
        let k = format!("stable-{i}").into_bytes();
        let v = binary(i % KV_MAX_VAL, i as u8);
        ok("put", dev.put(&k, &v))?;
        stable.insert(k, v);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..cpus.max(2) - 1)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || -> Result<u64, String> {
                let dev = Dev::open();
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Churn keys land in every bucket: inserts and deletes
                    // around the stable ones, replaces of nothing stable.
                    for i in 0..50 {
                        let k = format!("churn-{w}-{i}").into_bytes();
                        ok("churn put", dev.put(&k, b"c"))?;
                    }
                    for i in 0..50 {
                        let k = format!("churn-{w}-{i}").into_bytes();
                        ok("churn del", dev.del(&k))?;
                    }
                    rounds += 1;
                }
                Ok(rounds)
            })
        })
        .collect();
    let mut result = Ok(());
    let mut saw_churn = false;
    for (dumps, page) in [4usize, 16, 64].iter().cycle().take(30).enumerate() {
        match dev.dump_all(*page) {
            Ok(got) => {
                for (k, v) in &stable {
                    if got.get(k) != Some(v) {
                        result = Err(format!("dump {dumps}: stable key {k:?} missing or wrong"));
                    }
                }
                for k in got.keys() {
                    if !stable.contains_key(k) {
                        if !k.starts_with(b"churn-") {
                            result = Err(format!("dump {dumps}: unknown key {k:?}"));
                        }
                        saw_churn = true;
                    }
                }
            }
            Err(e) => result = Err(format!("dump {dumps}: {e}")),
        }
        if result.is_err() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut rounds = 0;
    for w in writers {
        rounds += w.join().map_err(|_| "a writer panicked".to_string())??;
    }
    result?;
    ensure!(rounds > 0, "the writers never ran during the dumps");
    ensure!(
        saw_churn,
        "no dump ever saw a churn key: the race did not happen"
    );
    same("the stable keys after the race", items(dev)?, stable)?;
    empty_store(dev)
}

fn main() {
    let group = std::env::args().nth(1).unwrap_or_default();
    let tests: &[Test] = match group.as_str() {
        "basic" => &[
            ("stat_mask_and_counters", stat_mask_and_counters),
            ("put_flags_contract", put_flags_contract),
            ("batch_same_key", batch_same_key),
            ("batch_per_op_errors", batch_per_op_errors),
            ("batch_counts_and_pointers", batch_counts_and_pointers),
            ("dump_every_item_once", dump_every_item_once),
            ("dump_cursor_and_room", dump_cursor_and_room),
            ("clear_contract", clear_contract),
            ("fuzz_counts_and_pointers", fuzz_counts_and_pointers),
        ],
        "full" => &[("batch_enospc_when_full", batch_enospc_when_full)],
        "lru" => &[("dump_is_no_use", dump_is_no_use)],
        "race" => &[("dump_races_writers", dump_races_writers)],
        _ => {
            eprintln!("usage: kv-api-tests basic|full|lru|race");
            std::process::exit(2);
        }
    };
    run_group(&format!("api/{group}"), tests)
}
