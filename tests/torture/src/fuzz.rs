//! The ioctl fuzzer: several threads send random commands with random
//! contents through hostile pointers, and every answer must be one the ABI
//! documents for that case. Afterwards the store must answer, its counters
//! must match its contents, and a round trip must work.
//!
//! Reproducible: each thread draws from its own generator seeded from the
//! run's seed, so `fuzz --seed S` replays every thread's sequence of calls
//! (the interleaving of threads is the scheduler's).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use kv_core::abi::{
    KvKey, KvPair, KvUsageStat, KV_IOC_DEL, KV_IOC_GET, KV_IOC_MAGIC, KV_IOC_PUT, KV_IOC_STAT,
    KV_MAX_KEY, KV_MAX_VAL,
};

use crate::dev::{errno_name, opt, pair, Dev, Errno, Rng};

const PAGE: usize = 4096;
/// Keys the fuzzer may store: only these, so the store's contents can be
/// enumerated afterwards and checked against its counters.
const KEYS: usize = 48;
/// A few answers may be printed in full; the rest are counted.
const MAX_REPORTS: u64 = 20;

/// The flapping page's key: all zero bytes, so a put that reads it while
/// the page is replaced (old page, then a fresh zeroed one) still reads this
/// key or a zero length, never another key.
const FLAP_KEY: [u8; 14] = [0; 14];

/// Known key `i`: length 1..=64, first byte `i`, so all are distinct.
fn known_key(i: usize) -> Vec<u8> {
    let len = 1 + (i * 13) % KV_MAX_KEY;
    (0..len)
        .map(|j| {
            if j == 0 {
                i as u8
            } else {
                (i * 31 + j * 7) as u8 ^ 0xa5
            }
        })
        .collect()
}

/// The set of answers allowed for one call: bit 0 success, else 1 << errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Allowed(u64);

impl Allowed {
    const OK: Allowed = Allowed(1);
    fn errno(e: Errno) -> Allowed {
        Allowed(1 << e)
    }
    fn of(list: &[Errno]) -> Allowed {
        list.iter()
            .fold(Allowed(0), |a, &e| a.or(Allowed::errno(e)))
    }
    fn or(self, other: Allowed) -> Allowed {
        Allowed(self.0 | other.0)
    }
    fn contains(self, r: Result<(), Errno>) -> bool {
        match r {
            Ok(()) => self.0 & 1 != 0,
            Err(e) if (1..64).contains(&e) => self.0 & (1 << e) != 0,
            Err(_) => false,
        }
    }
    fn describe(self) -> String {
        let mut names = Vec::new();
        if self.0 & 1 != 0 {
            names.push("ok".to_string());
        }
        for e in 1..64 {
            if self.0 & (1 << e) != 0 {
                names.push(errno_name(e));
            }
        }
        names.join("|")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Put,
    Get,
    Del,
    Stat,
}

impl Op {
    fn cmd(self) -> u32 {
        match self {
            Op::Put => KV_IOC_PUT,
            Op::Get => KV_IOC_GET,
            Op::Del => KV_IOC_DEL,
            Op::Stat => KV_IOC_STAT,
        }
    }
    /// Bytes the kernel reads before it can decide anything.
    fn key_bytes(self) -> usize {
        match self {
            Op::Put | Op::Get | Op::Del => size_of::<KvKey>(),
            Op::Stat => size_of::<KvUsageStat>(),
        }
    }
    /// Bytes of the argument struct.
    fn size(self) -> usize {
        match self {
            Op::Put | Op::Get => size_of::<KvPair>(),
            Op::Del => size_of::<KvKey>(),
            Op::Stat => size_of::<KvUsageStat>(),
        }
    }
    fn writes_store(self) -> bool {
        matches!(self, Op::Put | Op::Del)
    }
    /// Every answer this op can give for some memory and contents.
    fn any_answer(self) -> Allowed {
        match self {
            Op::Put => Allowed::OK.or(Allowed::of(&[libc::EINVAL, libc::EFAULT, libc::ENOSPC])),
            Op::Get | Op::Del => {
                Allowed::OK.or(Allowed::of(&[libc::EINVAL, libc::EFAULT, libc::ENOENT]))
            }
            Op::Stat => Allowed::OK.or(Allowed::errno(libc::EFAULT)),
        }
    }
    /// The answers for readable contents: `key_ok` and `value_ok` say
    /// whether the lengths are in range.
    fn by_content(self, key_ok: bool, value_ok: bool) -> Allowed {
        match self {
            Op::Put if key_ok && value_ok => Allowed::OK.or(Allowed::errno(libc::ENOSPC)),
            Op::Get | Op::Del if key_ok => Allowed::OK.or(Allowed::errno(libc::ENOENT)),
            Op::Stat => Allowed::OK,
            _ => Allowed::errno(libc::EINVAL),
        }
    }
}

/// Where the argument points.
#[derive(Clone, Copy, Debug)]
enum Ptr {
    Aligned,
    Misaligned,
    Null,
    Unmapped,
    Kernel,
    NonCanonical,
    /// Straddling the top of the user address space.
    UserTop,
    /// Straddling the end of a mapping: only the first `inside` bytes are mapped.
    Straddle {
        inside: usize,
    },
    ReadOnly {
        valid: bool,
    },
    /// A page another thread keeps unmapping and mapping again.
    Flapping,
}

/// Calls made and answers not allowed.
pub struct Outcome {
    pub ioctls: u64,
    pub unexpected: u64,
}

/// An anonymous mapping of `pages` pages with `prot`.
fn map(pages: usize, prot: i32) -> Result<usize, String> {
    // SAFETY: An anonymous private mapping at an address the kernel picks.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            pages * PAGE,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(format!("mmap: errno {}", crate::dev::errno()))
    } else {
        Ok(p as usize)
    }
}

fn protect(addr: usize, pages: usize, prot: i32) -> Result<(), String> {
    // SAFETY: `addr .. addr + pages * PAGE` is one of our own mappings, made
    // by `map`, which nothing else references.
    let rc = unsafe { libc::mprotect(addr as *mut libc::c_void, pages * PAGE, prot) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("mprotect: errno {}", crate::dev::errno()))
    }
}

/// Writes `bytes` at `addr`, stopping at `limit` (the first unmapped byte).
fn write_bytes(addr: usize, bytes: &[u8], limit: usize) {
    let n = bytes.len().min(limit.saturating_sub(addr));
    // SAFETY: `addr .. addr + n` lies in this thread's writable arena (the
    // caller passes `limit` = the end of its writable pages).
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, n) };
}

fn struct_bytes<T>(v: &T) -> &[u8] {
    // SAFETY: The ABI structs are plain integers and arrays with no padding
    // (sizes asserted in abi.rs), so every byte is initialised.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, size_of::<T>()) }
}

/// Contents of an argument: key and value lengths in or out of range.
fn random_pair(rng: &mut Rng) -> (KvPair, bool, bool) {
    let (key, key_ok) = if rng.chance(7, 10) {
        (known_key(rng.below(KEYS as u64) as usize), true)
    } else {
        (Vec::new(), false)
    };
    let mut vlen = rng.below(KV_MAX_VAL as u64 + 1) as usize;
    if rng.chance(1, 8) {
        vlen = rng.below(KV_MAX_VAL as u64 / 4) as usize; // short values are common
    }
    let mut value = vec![0u8; vlen];
    rng.fill(&mut value);
    let mut p = pair(&key, &value);
    if !key_ok {
        p.key.len = match rng.below(6) {
            0 => 0,
            1 => KV_MAX_KEY as u32 + 1,
            2 => KV_MAX_KEY as u32 + 1 + rng.below(1000) as u32,
            3 => 0x8000_0000,
            4 => u32::MAX,
            _ => rng.next() as u32 | 0x100,
        };
        rng.fill(&mut p.key.data);
    }
    let mut value_ok = true;
    if rng.chance(1, 7) {
        value_ok = false;
        p.value.len = match rng.below(4) {
            0 => KV_MAX_VAL as u32 + 1,
            1 => u32::MAX,
            2 => 0x8000_0000,
            _ => rng.next() as u32 | 0x200,
        };
    }
    (p, key_ok, value_ok)
}

/// Command types the VFS answers itself before the driver sees them
/// (FIOCLEX, FIONBIO, FIFREEZE, FS_IOC_*, ...): never sent as "random".
fn vfs_handles(cmd: u32) -> bool {
    let ty = (cmd >> 8) & 0xff;
    matches!(ty, 0x00 | 0x15 | 0x54 | 0x58 | 0x66 | 0x94)
}

struct Thread {
    rng: Rng,
    rw: Dev,
    ro: Dev,
    arena: usize,   // 2 writable pages, then a PROT_NONE page
    ro_page: usize, // read-only: a valid pair at 0, a bad-length pair at 2048
    flap: usize,    // the flapping page
    reports: Arc<AtomicU64>,
    id: usize,
}

impl Thread {
    fn new(id: usize, seed: u64, flap: usize, reports: Arc<AtomicU64>) -> Result<Thread, String> {
        let mut rng = Rng::new(seed ^ (id as u64 + 1).wrapping_mul(0xd6e8_feb8_6659_fd93));
        let rw = Dev::open()?;
        let ro =
            Dev::open_flags(libc::O_RDONLY).map_err(|e| format!("open O_RDONLY: errno {e}"))?;
        let arena = map(3, libc::PROT_READ | libc::PROT_WRITE)?;
        protect(arena + 2 * PAGE, 1, libc::PROT_NONE)?;
        let ro_page = map(1, libc::PROT_READ | libc::PROT_WRITE)?;
        let good = pair(
            &known_key(rng.below(KEYS as u64) as usize),
            b"read-only page",
        );
        write_bytes(ro_page, struct_bytes(&good), ro_page + PAGE);
        let mut bad = good;
        bad.key.len = 0;
        write_bytes(ro_page + 2048, struct_bytes(&bad), ro_page + PAGE);
        protect(ro_page, 1, libc::PROT_READ)?;
        Ok(Thread {
            rng,
            rw,
            ro,
            arena,
            ro_page,
            flap,
            reports,
            id,
        })
    }

    fn pick_ptr(&mut self) -> Ptr {
        match self.rng.below(100) {
            0..40 => Ptr::Aligned,
            40..55 => Ptr::Misaligned,
            55..60 => Ptr::Null,
            60..65 => Ptr::Unmapped,
            65..70 => Ptr::Kernel,
            70..73 => Ptr::NonCanonical,
            73..75 => Ptr::UserTop,
            75..85 => Ptr::Straddle { inside: 0 },
            85..95 => Ptr::ReadOnly {
                valid: self.rng.chance(1, 2),
            },
            _ => Ptr::Flapping,
        }
    }

    /// Places the argument for `op` as `ptr` says; returns the address and
    /// the answers allowed (for our own command with the right bits).
    fn place(&mut self, op: Op, ptr: &mut Ptr) -> (usize, Allowed) {
        let efault = Allowed::errno(libc::EFAULT);
        let (p, key_ok, value_ok) = random_pair(&mut self.rng);
        let bytes: Vec<u8> = match op {
            Op::Put | Op::Get => struct_bytes(&p).to_vec(),
            Op::Del => struct_bytes(&p.key).to_vec(),
            Op::Stat => {
                let mut junk = vec![0u8; size_of::<KvUsageStat>()];
                self.rng.fill(&mut junk);
                junk
            }
        };
        let content = op.by_content(key_ok, value_ok || op != Op::Put);
        let end = self.arena + 2 * PAGE;
        match ptr {
            Ptr::Aligned | Ptr::Misaligned => {
                // Room for the struct and a misalignment of up to 7 bytes.
                let room = (2 * PAGE - op.size() - 8) as u64;
                let mut at = self.arena + self.rng.below(room) as usize;
                if matches!(ptr, Ptr::Aligned) {
                    at &= !7;
                } else if at.is_multiple_of(8) {
                    at += 1 + self.rng.below(7) as usize;
                }
                write_bytes(at, &bytes, end);
                (at, content)
            }
            Ptr::Null => (0, efault),
            Ptr::Unmapped => {
                // Below any mapping this program makes (and below most
                // programs' text): never mapped here.
                (0x10_0000 + self.rng.below(0x30_0000) as usize, efault)
            }
            Ptr::Kernel => {
                let bases = [
                    0xffff_ffff_8100_0000usize,
                    0xffff_8880_0000_0000,
                    0xffff_ffff_ffff_f000,
                ];
                let base = bases[self.rng.below(bases.len() as u64) as usize];
                (base + (self.rng.below(4096) as usize & !7), efault)
            }
            Ptr::NonCanonical => (
                0x8000_0000_0000_0000 | (self.rng.next() as usize & 0xffff_ffff),
                efault,
            ),
            Ptr::UserTop => (
                0x7fff_ffff_f000 - 1 - self.rng.below(op.size() as u64 - 1) as usize,
                efault,
            ),
            Ptr::Straddle { inside } => {
                *inside = 1 + self.rng.below(op.size() as u64 - 1) as usize;
                let at = end - *inside;
                write_bytes(at, &bytes, end);
                if *inside < op.key_bytes() {
                    (at, efault)
                } else {
                    (at, content.or(efault))
                }
            }
            Ptr::ReadOnly { valid } => {
                let at = if *valid {
                    self.ro_page
                } else {
                    self.ro_page + 2048
                };
                let allowed = match op {
                    Op::Put | Op::Del => op.by_content(*valid, true),
                    Op::Get if *valid => Allowed::of(&[libc::ENOENT, libc::EFAULT]),
                    Op::Get => Allowed::errno(libc::EINVAL),
                    Op::Stat => efault,
                };
                (at, allowed)
            }
            // Stat writes its answer far from the pair the flapper keeps
            // there: a stat written over the key would make a new key.
            Ptr::Flapping if op == Op::Stat => (self.flap + 2048, op.any_answer()),
            Ptr::Flapping => (self.flap + 64, op.any_answer()),
        }
    }

    /// One random call; false when its answer was not allowed.
    fn step(&mut self, iter: u64) -> bool {
        let use_ro = self.rng.chance(1, 10);
        let op = match self.rng.below(10) {
            0..3 => Op::Put,
            3..6 => Op::Get,
            6..8 => Op::Del,
            _ => Op::Stat,
        };
        let mut ptr = self.pick_ptr();
        let (arg, mut allowed) = self.place(op, &mut ptr);
        let class = self.rng.below(100);
        let cmd = if class < 70 {
            op.cmd()
        } else if class < 85 {
            // Ours with the wrong size or direction bits: ENOTTY.
            allowed = Allowed::errno(libc::ENOTTY);
            let c = op.cmd();
            if self.rng.chance(1, 2) {
                let dir = ((c >> 30) + 1 + self.rng.below(3) as u32) & 3;
                (c & !(3 << 30)) | (dir << 30)
            } else {
                let size = ((c >> 16) & 0x3fff) as u64;
                let other = (size + 1 + self.rng.below(0x3ffe)) & 0x3fff;
                (c & !(0x3fff << 16)) | ((other as u32) << 16)
            }
        } else if class < 90 {
            // Our magic with a number of no command we know: ENOTTY, unless
            // a later ioctl owns it (any documented answer then).
            let nr = 5 + self.rng.below(251) as u32;
            allowed = Allowed::errno(libc::ENOTTY)
                .or(Allowed::OK)
                .or(Allowed::of(&[
                    libc::EINVAL,
                    libc::EFAULT,
                    libc::ENOENT,
                    libc::ENOSPC,
                    libc::EBADF,
                    libc::E2BIG,
                ]));
            (self.rng.next() as u32 & 0xffff_0000) | (KV_IOC_MAGIC << 8) | nr
        } else {
            allowed = Allowed::errno(libc::ENOTTY);
            loop {
                let c = self.rng.next() as u32;
                if !vfs_handles(c) && (c >> 8) & 0xff != KV_IOC_MAGIC {
                    break c;
                }
            }
        };
        if use_ro && class < 70 && op.writes_store() {
            allowed = Allowed::errno(libc::EBADF);
        }
        let dev = if use_ro { &self.ro } else { &self.rw };
        let r = dev.ioctl(cmd, arg);
        let mut ok = allowed.contains(r);
        // A successful get through a pointer we can read back: the length is
        // in range and the bytes after the value are zero.
        if ok && r.is_ok() && cmd == KV_IOC_GET && matches!(ptr, Ptr::Aligned | Ptr::Misaligned) {
            let mut p = KvPair::ZERO;
            // SAFETY: `arg .. arg + size_of::<KvPair>()` lies in the writable
            // arena (placed by `place`).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    arg as *const u8,
                    &mut p as *mut KvPair as *mut u8,
                    size_of::<KvPair>(),
                )
            };
            let len = p.value.len as usize;
            if len > KV_MAX_VAL || p.value.data[len..].iter().any(|&b| b != 0) {
                ok = false;
            }
        }
        if !ok && self.reports.fetch_add(1, Ordering::Relaxed) < MAX_REPORTS {
            println!(
                "fuzz: thread {} call {iter}: cmd {cmd:#010x} ({op:?} class {class}) ptr {ptr:?} fd {}: got {}, allowed {}",
                self.id,
                if use_ro { "O_RDONLY" } else { "O_RDWR" },
                errno_name(r.err().unwrap_or(0)),
                allowed.describe()
            );
        }
        ok
    }
}

/// Keeps unmapping and mapping again one page at `addr`, filled with a valid
/// pair, while the fuzzing threads pass pointers into it.
/// False if the address was taken by another mapping while it was unmapped.
fn flapper(addr: usize, stop: Arc<AtomicBool>, flaps: Arc<AtomicU64>) -> bool {
    let p = pair(&FLAP_KEY, b"flapping");
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `addr` is this program's own flapping page: only this
        // thread maps or unmaps it, the others only pass it to the kernel.
        unsafe {
            libc::munmap(addr as *mut libc::c_void, PAGE);
            let q = libc::mmap(
                addr as *mut libc::c_void,
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            );
            if q as usize != addr {
                // Someone else took the address: stop flapping rather than
                // touch memory that is not ours.
                return false;
            }
            // Racing puts read this page while it is written: the key's
            // length goes last, so they see either a zero length (EINVAL) or
            // the whole key, never part of one.
            let at = (addr + 64) as *mut KvPair;
            std::ptr::addr_of_mut!((*at).value).write_volatile(p.value);
            std::ptr::addr_of_mut!((*at).key.data).write_volatile(p.key.data);
            std::sync::atomic::fence(Ordering::SeqCst);
            std::ptr::addr_of_mut!((*at).key.len).write_volatile(p.key.len);
        }
        flaps.fetch_add(1, Ordering::Relaxed);
        std::thread::yield_now();
    }
    true
}

pub fn run(args: &[String]) -> Result<Outcome, String> {
    let seed: u64 = match args.iter().position(|a| a == "--seed") {
        Some(_) => opt(args, "--seed", 0u64)?,
        None => {
            let mut s = 0u64;
            // SAFETY: getrandom writes at most 8 bytes into `s`.
            unsafe { libc::getrandom(&mut s as *mut u64 as *mut libc::c_void, 8, 0) };
            s
        }
    };
    let ioctls: u64 = opt(args, "--ioctls", 100_000)?;
    let threads: usize = opt(args, "--threads", 4)?;
    println!("fuzz: seed {seed:#x} (replay: kv-torture fuzz --seed {seed:#x} --ioctls {ioctls} --threads {threads})");

    // Every mapping is made before the flapper starts: a mapping made later
    // could land in the flapping page's hole.
    let flap = map(1, libc::PROT_READ | libc::PROT_WRITE)?;
    let reports = Arc::new(AtomicU64::new(0));
    let states = (0..threads)
        .map(|id| Thread::new(id, seed, flap, reports.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flaps = Arc::new(AtomicU64::new(0));
    let flap_thread = {
        let (stop, flaps) = (stop.clone(), flaps.clone());
        std::thread::spawn(move || flapper(flap, stop, flaps))
    };
    let per_thread = ioctls / threads as u64;
    let workers: Vec<_> = states
        .into_iter()
        .enumerate()
        .map(|(id, mut t)| {
            let count = if id == 0 {
                ioctls - per_thread * (threads as u64 - 1)
            } else {
                per_thread
            };
            std::thread::spawn(move || -> (u64, u64) {
                let mut bad = 0;
                for i in 0..count {
                    if !t.step(i) {
                        bad += 1;
                    }
                }
                (count, bad)
            })
        })
        .collect();
    let mut out = Outcome {
        ioctls: 0,
        unexpected: 0,
    };
    for w in workers {
        let (n, bad) = w.join().map_err(|_| "a fuzz thread panicked".to_string())?;
        out.ioctls += n;
        out.unexpected += bad;
    }
    stop.store(true, Ordering::Relaxed);
    let kept = flap_thread
        .join()
        .map_err(|_| "the flapper panicked".to_string())?;
    let flaps = flaps.load(Ordering::Relaxed);
    println!("fuzz: the page unmapped during calls was unmapped and mapped again {flaps} times");
    if !kept || flaps == 0 {
        return Err(
            "the flapper lost its page: calls on memory unmapped under them were not tried".into(),
        );
    }
    Ok(out)
}

/// After fuzzing: the store answers, its counters match its contents (only
/// known keys can be in it), and a round trip works.
pub fn check_store() -> Result<(), String> {
    let dev = Dev::open()?;
    let before = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    if before.curr_items > before.max_items {
        return Err(format!(
            "curr_items {} > max_items {}",
            before.curr_items, before.max_items
        ));
    }
    if before.reserved.iter().any(|&w| w != 0) {
        return Err("reserved stat words are not zero".into());
    }
    let (mut items, mut bytes) = (0u64, 0u64);
    let keys: Vec<Vec<u8>> = (0..KEYS)
        .map(known_key)
        .chain([FLAP_KEY.to_vec()])
        .collect();
    for (i, k) in keys.iter().enumerate() {
        match dev.get(k) {
            Ok(v) => {
                items += 1;
                bytes += (k.len() + v.len()) as u64;
            }
            Err(libc::ENOENT) => {}
            Err(e) => return Err(format!("get known key {i}: {}", errno_name(e))),
        }
    }
    let after = dev.stat().map_err(|e| format!("stat: {}", errno_name(e)))?;
    if u64::from(before.curr_items) != items || before.bytes_used != bytes {
        return Err(format!(
            "stat says {} items / {} bytes, the known keys hold {items} / {bytes}",
            before.curr_items, before.bytes_used
        ));
    }
    if after.hits - before.hits != items
        || after.misses - before.misses != keys.len() as u64 - items
    {
        return Err(format!(
            "{} gets ({items} found) moved hits by {} and misses by {}",
            keys.len(),
            after.hits - before.hits,
            after.misses - before.misses
        ));
    }
    // Make room in a store without LRU, then a round trip.
    let _ = dev.del(&known_key(0));
    let (k, v) = (b"fuzz-round-trip".as_slice(), b"still answers".as_slice());
    dev.put(k, v)
        .map_err(|e| format!("round trip put: {}", errno_name(e)))?;
    match dev.get(k) {
        Ok(got) if got == v => {}
        other => return Err(format!("round trip get: {other:?}")),
    }
    dev.del(k)
        .map_err(|e| format!("round trip del: {}", errno_name(e)))?;
    match dev.get(k) {
        Err(libc::ENOENT) => Ok(()),
        other => Err(format!("get after del: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_are_distinct_and_in_range() {
        let keys: std::collections::HashSet<Vec<u8>> = (0..KEYS).map(known_key).collect();
        assert_eq!(keys.len(), KEYS);
        assert!(keys.iter().all(|k| (1..=KV_MAX_KEY).contains(&k.len())));
        assert!(!keys.contains(FLAP_KEY.as_slice()));
    }

    #[test]
    fn allowed_sets() {
        let a = Allowed::OK.or(Allowed::errno(libc::ENOENT));
        assert!(a.contains(Ok(())));
        assert!(a.contains(Err(libc::ENOENT)));
        assert!(!a.contains(Err(libc::EFAULT)));
        assert!(!a.contains(Err(0)) && !a.contains(Err(200)));
        assert_eq!(a.describe(), "ok|ENOENT");
        assert_eq!(
            Op::Put.by_content(true, false),
            Allowed::errno(libc::EINVAL)
        );
        assert_eq!(
            Op::Get.by_content(false, true),
            Allowed::errno(libc::EINVAL)
        );
    }

    #[test]
    fn vfs_commands_are_never_sent_as_random() {
        assert!(vfs_handles(0x5421)); // FIONBIO
        assert!(vfs_handles(0xc0045877)); // FIFREEZE
        assert!(!vfs_handles(KV_IOC_PUT));
    }
}
