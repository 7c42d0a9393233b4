//! `KV_IOC_DUMP`: every item exactly once through a cursor over whole
//! buckets, ENOSPC with the room needed, and dumps racing writers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kv_module::abi::{KvDumpArgs, KvPair, KV_IOC_DUMP, KV_MAX_KEY, KV_MAX_VAL};
use kv_test_support::{binary, ensure, expect_errno, mapping, ok, same, Dev, Outcome};

use crate::store::{contents, dump_all, empty_store, put_numbered, stat, Items, KERNEL_ADDR};

/// Every item exactly once, whatever the page size; a dump counts no hit.
pub fn every_item_once(dev: &Dev) -> Outcome {
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
    let before = stat(dev)?;
    for page in [1, 3, 8, 64, 1024] {
        same(
            &format!("dump in pages of {page}"),
            dump_all(dev, page)?,
            want.clone(),
        )?;
    }
    same(
        "a dump counts no hit and changes nothing",
        stat(dev)?,
        before,
    )?;
    empty_store(dev)?;
    same(
        "an empty store dumps nothing",
        dump_all(dev, 1)?,
        Items::new(),
    )
}

/// ENOSPC with the room a bucket needs, whole buckets only, the cursor's
/// end, bad arguments and pointers.
pub fn cursor_and_room(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    put_numbered(dev, "k", 200)?;
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
    let buckets = u64::from(stat(dev)?.bucket_count);
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
    same("items after bad dumps", stat(dev)?.curr_items, 200)?;
    empty_store(dev)
}

const STABLE: usize = 400;

/// Dumps while writers insert and delete other keys on every CPU: the
/// stable keys come in every dump, nothing unknown does.
pub fn races_writers(dev: &Dev) -> Outcome {
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
                let dev = Dev::open()?;
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
        match dump_all(dev, *page) {
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
    same("the stable keys after the race", contents(dev)?, stable)?;
    empty_store(dev)
}

/// ENOSPC leaves the cursor where the caller had it, also when empty
/// buckets came before the one that did not fit.
pub fn enospc_keeps_the_cursor(dev: &Dev) -> Outcome {
    let mut room = vec![KvPair::ZERO; 4];
    // One item, in a bucket past the first with 63 chances in 64: try keys
    // until one lands past bucket 0, so empty buckets precede it.
    for i in 0..32 {
        empty_store(dev)?;
        ok("put", dev.put(format!("lone-{i}").as_bytes(), b"v"))?;
        let (mut cursor, mut count) = (0u64, 0u32);
        expect_errno(
            "room 0",
            dev.dump_page(&mut cursor, &mut room, &mut count),
            libc::ENOSPC,
        )?;
        same("room asked for", count, 1)?;
        same("cursor after ENOSPC", cursor, 0)?;
        let mut count = 1;
        ok("room 1", dev.dump_page(&mut cursor, &mut room, &mut count))?;
        same("pairs", count, 1)?;
        if cursor > 1 {
            // The item's bucket was cursor - 1 > 0: the ENOSPC above was
            // answered after walking past empty buckets.
            return empty_store(dev);
        }
    }
    Err("32 keys all landed in bucket 0: the test tested nothing".into())
}

/// One call reads at most 1024 items of a bucket: a longer bucket answers
/// E2BIG with the cursor unchanged, whatever the room.
pub fn bucket_bound(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    ensure!(stat(dev)?.bucket_count == 1, "needs buckets=1");
    put_numbered(dev, "b", 1024)?;
    let mut room = vec![KvPair::ZERO; 1100];
    let (mut cursor, mut count) = (0u64, 1100u32);
    ok(
        "a bucket of 1024",
        dev.dump_page(&mut cursor, &mut room, &mut count),
    )?;
    same("pairs", count, 1024)?;
    ok("put", dev.put(b"one-more", b"v"))?;
    let (mut cursor, mut count) = (0u64, 1100u32);
    expect_errno(
        "a bucket of 1025",
        dev.dump_page(&mut cursor, &mut room, &mut count),
        libc::E2BIG,
    )?;
    same("cursor after E2BIG", cursor, 0)?;
    empty_store(dev)
}

extern "C" fn on_signal(_: libc::c_int) {}

/// A pending signal ends a dump: a handled one without SA_RESTART interrupts
/// a long walk over empty buckets (EINTR, cursor unchanged), where the call
/// would otherwise run on to the end.
pub fn signal_ends_a_dump(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    ensure!(
        stat(dev)?.bucket_count >= 1 << 20,
        "needs buckets=1048576, a walk long enough to be interrupted"
    );
    // SAFETY: a handler that does nothing, installed without SA_RESTART;
    // a zeroed sigaction is valid.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        ensure!(
            libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) == 0,
            "sigaction"
        );
    }
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let mut room = vec![KvPair::ZERO; 4];
    let mut interrupted = false;
    for _ in 0..5 {
        // A thread signals this one 20 ms into the call (the walk over a
        // million buckets takes seconds in the guest).
        let signaller = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            // SAFETY: `me` is the test's thread, alive until it joins this one.
            unsafe { libc::pthread_kill(me, libc::SIGUSR1) };
        });
        let (mut cursor, mut count) = (0u64, 4u32);
        let r = dev.dump_page(&mut cursor, &mut room, &mut count);
        signaller
            .join()
            .map_err(|_| "the signalling thread panicked")?;
        match r {
            Err(libc::EINTR) => {
                same("cursor after EINTR", cursor, 0)?;
                interrupted = true;
                break;
            }
            Ok(()) => same("an uninterrupted dump of an empty store", count, 0)?,
            Err(e) => return Err(format!("dump: errno {e}")),
        }
    }
    // SAFETY: restores the default action for SIGUSR1.
    unsafe { libc::signal(libc::SIGUSR1, libc::SIG_DFL) };
    ensure!(
        interrupted,
        "5 dumps ran to the end despite a pending signal"
    );
    let (mut cursor, mut count) = (0u64, 4u32);
    ok(
        "a dump with no signal",
        dev.dump_page(&mut cursor, &mut room, &mut count),
    )?;
    same("reaches the end", count, 0)
}
