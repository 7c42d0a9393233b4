//! The smaller torture programs: a big store filled to capacity, access
//! modes, and operations under allocation-failure injection.

use std::io::Write;

use kv_module::abi::KV_MAX_VAL;

use kv_test_support::{errno_name, Dev, Rng};

use crate::args::opt;

fn big_key(i: u32) -> Vec<u8> {
    format!("big-{i:07}").into_bytes()
}

fn big_value(i: u32) -> Vec<u8> {
    let mut v = format!("v{i}|").into_bytes();
    v.resize(8 + (i as usize % 24), b'a' + (i % 26) as u8);
    v
}

/// `big`: fills the loaded store to its capacity, reads every item back,
/// checks one more is refused (without LRU) and the counters, then empties
/// half of it.
pub fn big(_args: &[String]) -> Result<String, String> {
    let dev = Dev::open()?;
    let s = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    let n = s.max_items;
    let mut bytes = 0u64;
    for i in 0..n {
        let (k, v) = (big_key(i), big_value(i));
        dev.put(&k, &v)
            .map_err(|e| format!("put item {i} of {n}: {}", errno_name(e)))?;
        bytes += (k.len() + v.len()) as u64;
    }
    if s.use_lru == 0 {
        match dev.put(b"one-too-many", b"x") {
            Err(libc::ENOSPC) => {}
            other => {
                return Err(format!(
                    "put into the full store: {other:?}, expected ENOSPC"
                ))
            }
        }
    }
    let full = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    if full.curr_items != n || full.bytes_used != bytes {
        return Err(format!(
            "full store: {} items / {} bytes, expected {n} / {bytes}",
            full.curr_items, full.bytes_used
        ));
    }
    for i in (0..n).rev() {
        match dev.get(&big_key(i)) {
            Ok(v) if v == big_value(i) => {}
            other => return Err(format!("get item {i}: {other:?}")),
        }
    }
    for i in (0..n).step_by(2) {
        dev.del(&big_key(i))
            .map_err(|e| format!("del item {i}: {}", errno_name(e)))?;
    }
    let half = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    let expect = n / 2;
    if half.curr_items != expect || half.hits - full.hits != u64::from(n) {
        return Err(format!(
            "after deleting every other item: {} items, {} hits",
            half.curr_items, half.hits
        ));
    }
    Ok(format!(
        "big: max_items={n}: {n} puts, {n} gets, {} dels, 0 wrong",
        n.div_ceil(2)
    ))
}

/// `access`: a file opened O_RDONLY reads but cannot change the store
/// (EBADF, nothing changed); one opened O_WRONLY changes it but cannot read
/// values (EBADF); an invalid request answers EINVAL on either.
pub fn access(_args: &[String]) -> Result<String, String> {
    let rw = Dev::open()?;
    let ro = Dev::open_flags(libc::O_RDONLY)?;
    let wo = Dev::open_flags(libc::O_WRONLY)?;
    rw.put(b"acc", b"before")
        .map_err(|e| format!("put O_RDWR: {}", errno_name(e)))?;
    let before = rw.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    let expect = |what: &str, r: Result<(), i32>, want: Result<(), i32>| {
        if r == want {
            Ok(())
        } else {
            Err(format!(
                "{what}: {:?}, expected {:?}",
                r.map_err(errno_name),
                want.map_err(errno_name)
            ))
        }
    };
    expect("put O_RDONLY", ro.put(b"acc", b"after"), Err(libc::EBADF))?;
    expect(
        "put new key O_RDONLY",
        ro.put(b"acc-new", b"x"),
        Err(libc::EBADF),
    )?;
    expect("del O_RDONLY", ro.del(b"acc"), Err(libc::EBADF))?;
    expect(
        "del missing key O_RDONLY",
        ro.del(b"nope"),
        Err(libc::EBADF),
    )?;
    // The request is checked before the file's access: an invalid one
    // answers EINVAL on any file.
    expect(
        "put bad length O_RDONLY",
        ro.put(b"", b"x"),
        Err(libc::EINVAL),
    )?;
    expect("del bad length O_RDONLY", ro.del(b""), Err(libc::EINVAL))?;
    if rw.stat() != Ok(before) {
        return Err("refused writes changed the store or its counters".into());
    }
    match ro.get(b"acc") {
        Ok(v) if v == b"before" => {}
        other => return Err(format!("get O_RDONLY: {other:?}")),
    }
    ro.stat()
        .map_err(|e| format!("stat O_RDONLY: {}", errno_name(e)))?;
    expect("put O_WRONLY", wo.put(b"acc", b"wo"), Ok(()))?;
    // A write-only file cannot read values back.
    expect("get O_WRONLY", wo.get(b"acc").map(drop), Err(libc::EBADF))?;
    expect(
        "get bad length O_WRONLY",
        wo.get(b"").map(drop),
        Err(libc::EINVAL),
    )?;
    match ro.get(b"acc") {
        Ok(v) if v == b"wo" => {}
        other => return Err(format!("get O_RDONLY after the O_WRONLY put: {other:?}")),
    }
    expect("del O_WRONLY", wo.del(b"acc"), Ok(()))?;
    Ok("access: O_RDONLY: put/del refused (EBADF) and nothing changed, invalid requests EINVAL, get/stat work; O_WRONLY: put/del work, get refused (EBADF), 0 wrong".into())
}

fn write_proc(fd: &mut std::fs::File, text: &str) -> Result<(), String> {
    fd.write_all(text.as_bytes())
        .map_err(|e| format!("make-it-fail: {e}"))
}

/// `faults-after-load`: operations on a loaded store with every allocation
/// of this thread failing (failslab and fail_page_alloc armed by the caller
/// with task-filter): each must answer exactly as a model of the store does,
/// or ENOMEM with nothing changed. No output and no allocation while armed.
pub fn faults_after_load(args: &[String]) -> Result<String, String> {
    const KEYS: usize = 24;
    let ops: u64 = opt(args, "--ops", 20_000)?;
    let dev = Dev::open()?;
    let s = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    if s.curr_items != 0 || s.use_lru != 0 {
        return Err("needs an empty store loaded with use_lru=0".into());
    }
    let cap = s.max_items as usize;
    let mut model: [Option<(usize, [u8; KV_MAX_VAL])>; KEYS] = [None; KEYS];
    let key = |i: usize| -> [u8; 8] {
        let mut k = *b"flt-key-";
        k[7] = b'a' + i as u8;
        k
    };
    let mut fail = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/thread-self/make-it-fail")
        .map_err(|e| format!("/proc/thread-self/make-it-fail: {e}"))?;
    // Page tables and stack in place before allocations start to fail.
    // SAFETY: mlockall has no memory-safety preconditions.
    if unsafe { libc::mlockall(libc::MCL_CURRENT) } != 0 {
        return Err("mlockall failed".into());
    }
    let mut rng = Rng::new(0xfa11);
    let (mut mismatches, mut enomem, mut first) = (0u64, 0u64, None);
    write_proc(&mut fail, "1")?;
    for n in 0..ops {
        let i = rng.below(KEYS as u64) as usize;
        let k = key(i);
        let items = model.iter().filter(|m| m.is_some()).count();
        let (got, want) = match rng.below(3) {
            0 => {
                let len = rng.below(KV_MAX_VAL as u64 + 1) as usize;
                let mut v = [0u8; KV_MAX_VAL];
                rng.fill(&mut v[..len]);
                let want = if model[i].is_some() || items < cap {
                    Ok(())
                } else {
                    Err(libc::ENOSPC)
                };
                let got = dev.put(&k, &v[..len]);
                if got.is_ok() {
                    model[i] = Some((len, v));
                }
                (got, want)
            }
            1 => {
                let want = if model[i].is_some() {
                    Ok(())
                } else {
                    Err(libc::ENOENT)
                };
                match (dev.get_pair(&k), &model[i]) {
                    (Ok(p), Some((len, data))) => {
                        let l = p.value.len as usize;
                        let same = l == *len && p.value.data[..l] == data[..l];
                        // A wrong value counts as a mismatch (-1: no errno).
                        (if same { Ok(()) } else { Err(-1) }, want)
                    }
                    (got, _) => (got.map(|_| ()), want),
                }
            }
            _ => {
                let want = if model[i].is_some() {
                    Ok(())
                } else {
                    Err(libc::ENOENT)
                };
                let got = dev.del(&k);
                if got.is_ok() {
                    model[i] = None;
                }
                (got, want)
            }
        };
        if got == Err(libc::ENOMEM) {
            enomem += 1;
        } else if got != want {
            mismatches += 1;
            first.get_or_insert((n, got, want));
        }
    }
    write_proc(&mut fail, "0")?;
    // Nothing failed silently: the store holds exactly the model.
    for (i, m) in model.iter().enumerate() {
        let got = dev.get_pair(&key(i));
        let ok = match (&got, m) {
            (Ok(p), Some((l, d))) => p.value.len as usize == *l && p.value.data[..*l] == d[..*l],
            (Err(libc::ENOENT), None) => true,
            _ => false,
        };
        if !ok {
            mismatches += 1;
        }
    }
    if let Some((n, got, want)) = first {
        println!(
            "faults: op {n}: got {:?}, expected {:?}",
            got.map_err(errno_name),
            want.map_err(errno_name)
        );
    }
    if mismatches > 0 {
        return Err(format!(
            "{ops} ops with allocations failing: {mismatches} mismatches with the model"
        ));
    }
    Ok(format!(
        "faults-after-load: {ops} ops with every allocation failing, {enomem} ENOMEM, 0 mismatches"
    ))
}
