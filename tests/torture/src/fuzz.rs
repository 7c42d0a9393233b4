//! The ioctl fuzzer: several threads send random commands with random
//! contents through hostile pointers, and every answer must be one the ABI
//! documents for that case. Between the calls they map the device, change
//! and read their mappings (`fuzzmap.rs`). Afterwards the store must
//! answer, its counters must match its contents, a round trip must work,
//! and no mapping of the device may be left.
//!
//! Reproducible: each thread draws from its own generator seeded from the
//! run's seed, so `fuzz --seed S` replays every thread's sequence of calls
//! (the interleaving of threads is the scheduler's).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use kv_module::abi::{
    KvBatchArgs, KvCacheOp, KvDumpArgs, KvKey, KvOp, KvPair, KvUsageStat, KV_BATCH_MAX,
    KV_IOC_BATCH, KV_IOC_CACHE_BATCH, KV_IOC_CACHE_OP, KV_IOC_CLEAR, KV_IOC_DEL, KV_IOC_DUMP,
    KV_IOC_GET, KV_IOC_MAGIC, KV_IOC_PUT, KV_IOC_PUT_FLAGS, KV_IOC_STAT, KV_MAX_KEY, KV_MAX_VAL,
    KV_OP_DEL, KV_OP_GET, KV_OP_PUT, KV_PUT_EXIST, KV_PUT_NOEXIST,
};

use kv_test_support::{errno_name, map, pair, protect, Dev, Errno, Rng, PAGE};

use crate::args::opt;
use crate::fuzzmap::{self, AddrLock, Layout, MapStats, Mapper};

/// Keys the fuzzer may store: only these, so the store's contents can be
/// enumerated afterwards and checked against its counters.
const KEYS: usize = 48;
/// A few answers may be printed in full; the rest are counted.
const MAX_REPORTS: u64 = 20;
/// Pages of the per-thread buffer that batch ops and dumped pairs go
/// through (room for `KV_BATCH_MAX` ops), followed by a PROT_NONE page.
const BIG_PAGES: usize = 22;

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

/// The set of answers allowed for one call: bit 0 is success, bit `e` is
/// errno `e` (every errno Linux has is below 128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Allowed(u128);

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
            Err(e) if (1..128).contains(&e) => self.0 & (1 << e) != 0,
            Err(_) => false,
        }
    }
    fn describe(self) -> String {
        let mut names = Vec::new();
        if self.0 & 1 != 0 {
            names.push("ok".to_string());
        }
        for e in 1..128 {
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
    PutFlags,
    Batch,
    Dump,
    Clear,
    Cache,
    CacheBatch,
}

impl Op {
    fn cmd(self) -> u32 {
        match self {
            Op::Put => KV_IOC_PUT,
            Op::Get => KV_IOC_GET,
            Op::Del => KV_IOC_DEL,
            Op::Stat => KV_IOC_STAT,
            Op::PutFlags => KV_IOC_PUT_FLAGS,
            Op::Batch => KV_IOC_BATCH,
            Op::Dump => KV_IOC_DUMP,
            Op::Clear => KV_IOC_CLEAR,
            Op::Cache => KV_IOC_CACHE_OP,
            Op::CacheBatch => KV_IOC_CACHE_BATCH,
        }
    }
    /// Bytes the kernel reads before it can decide anything.
    fn key_bytes(self) -> usize {
        match self {
            Op::Put | Op::Get | Op::Del => size_of::<KvKey>(),
            Op::Stat => size_of::<KvUsageStat>(),
            _ => self.size(),
        }
    }
    /// Bytes of the argument struct.
    fn size(self) -> usize {
        match self {
            Op::Put | Op::Get => size_of::<KvPair>(),
            Op::Del => size_of::<KvKey>(),
            Op::Stat => size_of::<KvUsageStat>(),
            Op::PutFlags => size_of::<KvOp>(),
            Op::Batch => size_of::<KvBatchArgs>(),
            Op::Dump => size_of::<KvDumpArgs>(),
            Op::Clear => 0,
            Op::Cache => size_of::<KvCacheOp>(),
            Op::CacheBatch => size_of::<KvBatchArgs>(),
        }
    }
    fn writes_store(self) -> bool {
        // A batch's puts and dels answer EBADF one by one instead.
        matches!(self, Op::Put | Op::Del | Op::PutFlags | Op::Clear)
    }
    /// Every answer this op can give for some memory and contents.
    fn any_answer(self) -> Allowed {
        match self {
            Op::Put => Allowed::OK
                .or(Allowed::of(&[libc::EINVAL, libc::EFAULT]))
                .or(no_room()),
            Op::Get | Op::Del => {
                Allowed::OK.or(Allowed::of(&[libc::EINVAL, libc::EFAULT, libc::ENOENT]))
            }
            Op::Stat => Allowed::OK.or(Allowed::errno(libc::EFAULT)),
            Op::PutFlags => Allowed::OK
                .or(Allowed::of(&[
                    libc::EINVAL,
                    libc::EFAULT,
                    libc::EEXIST,
                    libc::ENOENT,
                ]))
                .or(no_room()),
            Op::Batch => Allowed::OK.or(Allowed::of(&[libc::EINVAL, libc::EFAULT])),
            Op::Dump => Allowed::OK.or(Allowed::of(&[libc::EINVAL, libc::EFAULT, libc::ENOSPC])),
            // ENOMEM: no memory for the list of the chunks it frees.
            Op::Clear => Allowed::OK.or(Allowed::errno(libc::ENOMEM)),
            // Op by op: any documented answer (access included).
            Op::Cache => Allowed::OK.or(no_room()).or(Allowed::of(&[
                libc::EINVAL,
                libc::EFAULT,
                libc::EEXIST,
                libc::ENOENT,
                libc::EOVERFLOW,
                libc::EBADF,
            ])),
            Op::CacheBatch => Allowed::OK.or(Allowed::of(&[libc::EINVAL, libc::EFAULT])),
        }
    }
    /// The answers for readable contents: `key_ok` and `value_ok` say
    /// whether the lengths are in range.
    fn by_content(self, key_ok: bool, value_ok: bool) -> Allowed {
        match self {
            Op::Put if key_ok && value_ok => Allowed::OK.or(no_room()),
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

/// What the checks after successful calls looked at: proof that the new
/// ioctls' paths were reached.
#[derive(Clone, Copy, Default)]
struct Seen {
    batch_results: u64,
    dumped_pairs: u64,
    dump_enospc: u64,
    clears: u64,
}

/// Calls made and answers not allowed.
pub struct Outcome {
    pub ioctls: u64,
    /// `mmap` calls, and how many mapped.
    pub mmaps: u64,
    pub mapped: u64,
    pub unexpected: u64,
}

/// One mapping call in this many steps.
const MAP_EVERY: u64 = 32;

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
            _ => rng.next_u64() as u32 | 0x100,
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
            _ => rng.next_u64() as u32 | 0x200,
        };
    }
    (p, key_ok, value_ok)
}

/// A random cache op: any op code (some unknown), flags, TTLs (none, an
/// hour, or past the clock's end: nothing expires during a run, so the
/// store check after it holds), versions, deltas at the int64 limits and
/// bad lengths.
fn random_cache_op(rng: &mut Rng) -> KvCacheOp {
    let (pair, _, _) = random_pair(rng);
    KvCacheOp {
        op: match rng.below(10) {
            0 => 0,
            1 => rng.next_u64() as u32,
            n => n as u32 - 1, // 1..=8: every op and one past them
        },
        flags: if rng.chance(1, 5) {
            rng.below(4) as u32
        } else {
            0
        },
        result: 0,
        reserved: u32::from(rng.chance(1, 20)),
        ttl_ms: match rng.below(4) {
            0 => 3_600_000,
            1 => u64::MAX,
            _ => 0,
        },
        version: match rng.below(3) {
            0 => 0,
            1 => u64::MAX,
            _ => rng.below(64),
        },
        number: match rng.below(5) {
            0 => i64::MAX,
            1 => i64::MIN,
            _ => rng.below(7) as i64 - 3,
        },
        pair,
    }
}

/// A random batch op (or put-with-flags argument): mostly valid, sometimes
/// with an unknown op, bad flags, a nonzero `reserved` or bad lengths.
/// Returns the op and the results it may get. `put`: nearly always a put
/// (the argument of put-with-flags).
fn random_op(rng: &mut Rng, writable: bool, put: bool) -> (KvOp, Allowed) {
    let (pair, key_ok, value_ok) = random_pair(rng);
    let op = match rng.below(20) {
        _ if put && rng.chance(9, 10) => KV_OP_PUT,
        0..7 => KV_OP_GET,
        7..14 => KV_OP_PUT,
        14..18 => KV_OP_DEL,
        18 => 0,
        _ => rng.next_u64() as u32,
    };
    let flags = match rng.below(10) {
        0..5 => 0,
        5 | 6 => KV_PUT_NOEXIST,
        7 | 8 => KV_PUT_EXIST,
        _ if rng.chance(1, 2) => KV_PUT_NOEXIST | KV_PUT_EXIST,
        _ => rng.next_u64() as u32,
    };
    let reserved = if rng.chance(1, 20) {
        1 + rng.below(u64::from(u32::MAX)) as u32
    } else {
        0
    };
    let op = KvOp {
        op,
        flags,
        result: rng.next_u64() as i32, // the kernel overwrites it
        reserved,
        pair,
    };
    (op, op_results(&op, key_ok, value_ok, writable))
}

/// What a put may answer for want of room: ENOSPC (the store is full and
/// evicts nothing) or ENOMEM (the kernel has no memory for the item).
fn no_room() -> Allowed {
    Allowed::of(&[libc::ENOSPC, libc::ENOMEM])
}

/// The results the README documents for one op: EINVAL for a bad op, flag,
/// `reserved` or length; EBADF for a put or del on a read-only file; else
/// success or the op's own refusals (ENOENT, EEXIST, ENOSPC).
fn op_results(op: &KvOp, key_ok: bool, value_ok: bool, writable: bool) -> Allowed {
    let ebadf = Allowed::errno(libc::EBADF);
    // An invalid op answers EINVAL whatever the file's mode; only a valid
    // put or del on a read-only file answers EBADF.
    let einval = Allowed::errno(libc::EINVAL);
    if op.reserved != 0 || !key_ok {
        return einval;
    }
    match op.op {
        KV_OP_GET if op.flags == 0 => Allowed::OK.or(Allowed::errno(libc::ENOENT)),
        KV_OP_PUT => {
            let refusal = match op.flags {
                0 => Allowed(0),
                KV_PUT_NOEXIST => Allowed::errno(libc::EEXIST),
                KV_PUT_EXIST => Allowed::errno(libc::ENOENT),
                _ => return einval,
            };
            if !value_ok {
                einval
            } else if !writable {
                ebadf
            } else {
                Allowed::OK.or(no_room()).or(refusal)
            }
        }
        KV_OP_DEL if op.flags == 0 && writable => Allowed::OK.or(Allowed::errno(libc::ENOENT)),
        KV_OP_DEL if op.flags == 0 => ebadf,
        _ => einval,
    }
}

/// A key the fuzzer may have stored (the only ones a dump may return).
fn is_fuzz_key(k: &[u8]) -> bool {
    k == FLAP_KEY
        || k.first()
            .is_some_and(|&i| (i as usize) < KEYS && known_key(i as usize) == k)
}

/// A hostile address for a pointer inside an argument struct.
fn hostile(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => 0,
        1 => 0x10_0000 + rng.below(0x30_0000),
        2 => 0xffff_ffff_8100_0000 + (rng.below(4096) & !7),
        3 => 0x8000_0000_0000_0000 | (rng.next_u64() & 0xffff_ffff),
        4 => u64::MAX - rng.below(4096), // base + offset overflows
        _ => 0x7fff_ffff_f000 - 1 - rng.below(64),
    }
}

/// A value read back from our own memory (the arena or the big buffer).
fn read_at<T: Copy>(addr: usize) -> T {
    // SAFETY: Callers pass addresses inside this thread's writable arena or
    // big buffer with `size_of::<T>()` bytes mapped; `T` is a plain ABI
    // struct valid for any bytes, read unaligned.
    unsafe { std::ptr::read_unaligned(addr as *const T) }
}

/// What to check after a call that succeeded or was refused by content.
enum Check {
    None,
    /// A batch of `count` ops at `ops`, each with the results it may get.
    Batch {
        ops: usize,
        count: u32,
        /// (results, the value bytes a get was sent with: none for other ops)
        expect: Vec<(Allowed, Option<Box<[u8; KV_MAX_VAL]>>)>,
    },
    /// A batch whose ops after the first `ran` cannot be read: it answers
    /// `ran`, having run only those.
    BatchStops {
        ran: u32,
    },
    /// A dump into `pairs` with room for `room` pairs.
    Dump {
        pairs: usize,
        room: u32,
    },
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
    big: usize,     // BIG_PAGES writable pages, then a PROT_NONE page
    ro_page: usize, // read-only: a valid pair at 0, a bad-length pair at 2048
    flap: usize,    // the flapping page
    reports: Arc<AtomicU64>,
    seen: Seen,
    id: usize,
    mapper: Mapper,
    /// Mapping calls that broke a rule.
    map_unexpected: u64,
}

impl Thread {
    fn new(
        id: usize,
        seed: u64,
        flap: usize,
        reports: Arc<AtomicU64>,
        layout: Layout,
        lock: AddrLock,
    ) -> Result<Thread, String> {
        let mut rng = Rng::new(seed ^ (id as u64 + 1).wrapping_mul(0xd6e8_feb8_6659_fd93));
        let rw = Dev::open()?;
        let ro = Dev::open_flags(libc::O_RDONLY)?;
        let arena = map(3, libc::PROT_READ | libc::PROT_WRITE)?;
        protect(arena + 2 * PAGE, 1, libc::PROT_NONE)?;
        let big = map(BIG_PAGES + 1, libc::PROT_READ | libc::PROT_WRITE)?;
        protect(big + BIG_PAGES * PAGE, 1, libc::PROT_NONE)?;
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
            big,
            ro_page,
            flap,
            reports,
            seen: Seen::default(),
            id,
            mapper: Mapper::new(layout, lock)?,
            map_unexpected: 0,
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
    fn place(&mut self, op: Op, ptr: &mut Ptr, writable: bool) -> (usize, Allowed, Check) {
        let efault = Allowed::errno(libc::EFAULT);
        if op == Op::Clear {
            // No argument: whatever the pointer, the store is cleared.
            return (self.rng.next_u64() as usize, Allowed::OK, Check::None);
        }
        let (p, key_ok, value_ok) = random_pair(&mut self.rng);
        let mut check = Check::None;
        let (bytes, content): (Vec<u8>, Allowed) = match op {
            Op::Put | Op::Get => (
                struct_bytes(&p).to_vec(),
                op.by_content(key_ok, value_ok || op != Op::Put),
            ),
            Op::Del => (struct_bytes(&p.key).to_vec(), op.by_content(key_ok, true)),
            Op::Stat => {
                let mut junk = vec![0u8; size_of::<KvUsageStat>()];
                self.rng.fill(&mut junk);
                (junk, Allowed::OK)
            }
            Op::PutFlags => {
                let (o, results) = random_op(&mut self.rng, true, true);
                let allowed = if o.op == KV_OP_PUT {
                    results
                } else {
                    Allowed::errno(libc::EINVAL)
                };
                (struct_bytes(&o).to_vec(), allowed)
            }
            Op::Batch => self.batch_args(writable, &mut check),
            Op::Dump => self.dump_args(&mut check),
            Op::Cache => (
                struct_bytes(&random_cache_op(&mut self.rng)).to_vec(),
                op.any_answer(),
            ),
            Op::CacheBatch => {
                // Ops at a hostile address (or none): EFAULT, EINVAL, or 0.
                let count = match self.rng.below(4) {
                    0 => 0,
                    1 => KV_BATCH_MAX + 1,
                    _ => 1 + self.rng.below(8) as u32,
                };
                let args = KvBatchArgs {
                    ops: hostile(&mut self.rng),
                    count,
                    reserved: u32::from(self.rng.chance(1, 20)),
                };
                (struct_bytes(&args).to_vec(), op.any_answer())
            }
            Op::Clear => (Vec::new(), Allowed::OK),
        };
        let end = self.arena + 2 * PAGE;
        let placed = match ptr {
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
                return (at, content, check);
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
                0x8000_0000_0000_0000 | (self.rng.next_u64() as usize & 0xffff_ffff),
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
            // The read-only page holds a pair, which read as another struct
            // is garbage: any documented answer.
            Ptr::ReadOnly { .. }
                if matches!(
                    op,
                    Op::PutFlags | Op::Batch | Op::Dump | Op::Cache | Op::CacheBatch
                ) =>
            {
                (self.ro_page, op.any_answer())
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
                    _ => efault,
                };
                (at, allowed)
            }
            // Stat and dump write their answer far from the pair the flapper
            // keeps there: an answer written over the key would make a new key.
            Ptr::Flapping if matches!(op, Op::Stat | Op::Dump) => {
                (self.flap + 2048, op.any_answer())
            }
            Ptr::Flapping => (self.flap + 64, op.any_answer()),
        };
        (placed.0, placed.1, Check::None)
    }

    /// A batch's argument: random counts (0, small, up to and above
    /// `KV_BATCH_MAX`), a sometimes nonzero `reserved`, and ops in the big
    /// buffer, straddling its end, or at a hostile address.
    fn batch_args(&mut self, writable: bool, check: &mut Check) -> (Vec<u8>, Allowed) {
        let rng = &mut self.rng;
        let max = u64::from(KV_BATCH_MAX);
        let count = match rng.below(100) {
            0..5 => 0,
            5..70 => 1 + rng.below(8) as u32,
            70..85 => 9 + rng.below(max - 8) as u32,
            85..95 => KV_BATCH_MAX + 1 + rng.below(1000) as u32,
            _ => rng.next_u64() as u32 | 0x8000_0000,
        };
        let reserved = if rng.chance(1, 20) {
            1 + rng.below(u64::from(u32::MAX)) as u32
        } else {
            0
        };
        let refused = reserved != 0 || count > KV_BATCH_MAX;
        let op_size = size_of::<KvOp>();
        let end = self.big + BIG_PAGES * PAGE;
        let (ops, allowed) = match rng.below(100) {
            0..80 => {
                let at = self.big
                    + if rng.chance(1, 2) {
                        0
                    } else {
                        1 + rng.below(7) as usize
                    };
                if refused {
                    (at, Allowed::errno(libc::EINVAL))
                } else {
                    let mut expect = Vec::new();
                    for i in 0..count as usize {
                        let (o, results) = random_op(rng, writable, false);
                        write_bytes(at + i * op_size, struct_bytes(&o), end);
                        let sent = (o.op == KV_OP_GET).then(|| Box::new(o.pair.value.data));
                        expect.push((results, sent));
                    }
                    *check = Check::Batch {
                        ops: at,
                        count,
                        expect,
                    };
                    (at, Allowed::OK)
                }
            }
            80..90 => {
                // Only the first `fits` ops are mapped: they run, and the
                // batch stops at the next, answering `fits` (EFAULT if 0).
                let fits = rng.below(u64::from(count.clamp(1, KV_BATCH_MAX))) as usize;
                let at = end - fits * op_size - rng.below(op_size as u64) as usize;
                for i in 0..=fits {
                    let (o, _) = random_op(rng, writable, false);
                    write_bytes(at + i * op_size, struct_bytes(&o), end);
                }
                let allowed = match (refused, count, fits) {
                    (true, _, _) => Allowed::errno(libc::EINVAL),
                    (false, 0, _) => Allowed::OK,
                    (false, _, 0) => Allowed::errno(libc::EFAULT),
                    (false, _, _) => {
                        *check = Check::BatchStops { ran: fits as u32 };
                        Allowed::OK
                    }
                };
                (at, allowed)
            }
            _ => {
                let at = hostile(rng) as usize;
                let allowed = match (refused, count) {
                    (true, _) => Allowed::errno(libc::EINVAL),
                    (false, 0) => Allowed::OK,
                    (false, _) => Allowed::errno(libc::EFAULT),
                };
                (at, allowed)
            }
        };
        let args = KvBatchArgs {
            ops: ops as u64,
            count,
            reserved,
        };
        (struct_bytes(&args).to_vec(), allowed)
    }

    /// A dump's argument: random cursors and counts (0, small, the room
    /// there is, far more), a sometimes nonzero `reserved`, and room in the
    /// big buffer, straddling its end, read-only or at a hostile address.
    fn dump_args(&mut self, check: &mut Check) -> (Vec<u8>, Allowed) {
        let rng = &mut self.rng;
        let cursor = match rng.below(20) {
            0..12 => 0,
            12..17 => rng.below(20),
            _ => rng.next_u64(),
        };
        let reserved = if rng.chance(1, 20) {
            1 + rng.below(u64::from(u32::MAX)) as u32
        } else {
            0
        };
        let pair_size = size_of::<KvPair>();
        let end = self.big + BIG_PAGES * PAGE;
        let room = ((BIG_PAGES * PAGE - 8) / pair_size) as u64;
        let count = match rng.below(20) {
            0..2 => 0,
            2..11 => 1 + rng.below(4) as u32,
            11..18 => rng.below(room + 1) as u32,
            _ => room as u32 + 1 + rng.below(u64::from(u32::MAX) - room) as u32,
        };
        // Every answer but EINVAL may come for any room: ENOSPC when the
        // next bucket does not fit, EFAULT only when pairs are written.
        let any = Allowed::OK.or(Allowed::of(&[libc::ENOSPC, libc::EFAULT]));
        let (pairs, allowed) = match rng.below(100) {
            0..75 => {
                let at = self.big
                    + if rng.chance(1, 2) {
                        0
                    } else {
                        1 + rng.below(7) as usize
                    };
                if u64::from(count) <= room {
                    *check = Check::Dump {
                        pairs: at,
                        room: count,
                    };
                    (at, Allowed::OK.or(Allowed::errno(libc::ENOSPC)))
                } else {
                    (at, any)
                }
            }
            75..85 => (end - 1 - rng.below(pair_size as u64 * 4) as usize, any),
            85..90 => (self.ro_page, any),
            _ => (hostile(rng) as usize, any),
        };
        let args = KvDumpArgs {
            cursor,
            pairs: pairs as u64,
            count,
            reserved,
        };
        let allowed = if reserved != 0 {
            Allowed::errno(libc::EINVAL)
        } else {
            allowed
        };
        (struct_bytes(&args).to_vec(), allowed)
    }

    /// After a call whose argument can be read back: a batch's return and
    /// every op's result and value, a dump's count and pairs.
    fn check_after(
        &mut self,
        check: &Check,
        arg: usize,
        r: Result<i32, Errno>,
    ) -> Result<(), String> {
        match (check, r) {
            (Check::Batch { ops, count, expect }, Ok(n)) => {
                if n as u32 != *count {
                    return Err(format!("batch of {count} returned {n}"));
                }
                for (i, (results, sent)) in expect.iter().enumerate() {
                    let o: KvOp = read_at(ops + i * size_of::<KvOp>());
                    let got = if o.result == 0 {
                        Ok(())
                    } else {
                        Err(-o.result)
                    };
                    if !results.contains(got) {
                        return Err(format!(
                            "batch op {i} (op {} flags {:#x} reserved {:#x} key length {} value length {}): result {}, allowed {}",
                            o.op,
                            o.flags,
                            o.reserved,
                            o.pair.key.len,
                            o.pair.value.len,
                            errno_name(-o.result),
                            results.describe()
                        ));
                    }
                    // A successful get writes `len` and the value's bytes,
                    // and leaves every byte after them as it was sent.
                    let len = o.pair.value.len as usize;
                    if let (Some(sent), 0) = (sent, o.result) {
                        if len > KV_MAX_VAL || o.pair.value.data[len..] != sent[len..] {
                            return Err(format!(
                                "batch get {i}: value length {len} or the bytes after it changed"
                            ));
                        }
                    }
                }
                self.seen.batch_results += expect.len() as u64;
                Ok(())
            }
            (Check::BatchStops { ran }, Ok(n)) if n as u32 != *ran => Err(format!(
                "a batch whose op {ran} cannot be read returned {n}, not {ran}"
            )),
            (Check::Dump { pairs, room }, r) => {
                let args: KvDumpArgs = read_at(arg);
                match r {
                    Ok(_) if args.count > *room => {
                        Err(format!("dump into room {room} wrote {}", args.count))
                    }
                    Ok(_) => {
                        self.seen.dumped_pairs += u64::from(args.count);
                        (0..args.count as usize).try_for_each(|i| {
                        let p: KvPair = read_at(pairs + i * size_of::<KvPair>());
                        let klen = p.key.len as usize;
                        if klen == 0
                            || klen > KV_MAX_KEY
                            || p.value.len as usize > KV_MAX_VAL
                            || !is_fuzz_key(&p.key.data[..klen])
                        {
                            Err(format!("dumped pair {i}: key length {klen}, value length {}, or a key never put", p.value.len))
                        } else {
                            Ok(())
                        }
                    })
                    }
                    Err(libc::ENOSPC) if args.count <= *room => Err(format!(
                        "dump ENOSPC into room {room} asks for only {}",
                        args.count
                    )),
                    Err(libc::ENOSPC) => {
                        self.seen.dump_enospc += 1;
                        Ok(())
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// One random call; false when its answer was not allowed. Now and
    /// then a mapping call first, whose rule broken is counted apart.
    fn step(&mut self, iter: u64) -> bool {
        if self.rng.chance(1, MAP_EVERY) {
            if let Err(e) = self.mapper.step(&mut self.rng, &self.rw, &self.ro) {
                self.map_unexpected += 1;
                if self.reports.fetch_add(1, Ordering::Relaxed) < MAX_REPORTS {
                    println!("fuzz: thread {} call {iter}: {e}", self.id);
                }
            }
        }
        let use_ro = self.rng.chance(1, 10);
        // A clear in 1% of calls: the store fills again in between. The cache
        // ops' arguments are random whole (`random_cache_op`).
        let op = match self.rng.below(100) {
            0..22 => Op::Put,
            22..44 => Op::Get,
            44..58 => Op::Del,
            58..66 => Op::Stat,
            66..78 => Op::PutFlags,
            78..87 => Op::Batch,
            87..93 => Op::Dump,
            93..98 => Op::Cache,
            98 => Op::CacheBatch,
            _ => Op::Clear,
        };
        let mut ptr = self.pick_ptr();
        let (arg, mut allowed, check) = self.place(op, &mut ptr, !use_ro);
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
                    libc::ENOMEM,
                    libc::EBADF,
                    libc::EEXIST,
                    libc::E2BIG,
                    libc::EOVERFLOW,
                ]));
            (self.rng.next_u64() as u32 & 0xffff_0000) | (KV_IOC_MAGIC << 8) | nr
        } else {
            allowed = Allowed::errno(libc::ENOTTY);
            loop {
                let c = self.rng.next_u64() as u32;
                if !vfs_handles(c) && (c >> 8) & 0xff != KV_IOC_MAGIC {
                    break c;
                }
            }
        };
        if use_ro && class < 70 && op.writes_store() {
            allowed = on_read_only(allowed);
        }
        let readable = matches!(ptr, Ptr::Aligned | Ptr::Misaligned);
        // A get's pair as sent, to check the bytes after the value after.
        let sent: Option<KvPair> = (cmd == KV_IOC_GET && readable).then(|| read_at(arg));
        let dev = if use_ro { &self.ro } else { &self.rw };
        let ret = dev.ioctl(cmd, arg);
        // Only a batch returns a count.
        let r = match ret {
            Ok(0) => Ok(()),
            Ok(_) if cmd == KV_IOC_BATCH || cmd == KV_IOC_CACHE_BATCH => Ok(()),
            Ok(n) => Err(-n),
            Err(e) => Err(e),
        };
        let mut ok = allowed.contains(r);
        if cmd == KV_IOC_CLEAR && r.is_ok() {
            self.seen.clears += 1;
        }
        let mut why = String::new();
        if ok && class < 70 && matches!(ptr, Ptr::Aligned | Ptr::Misaligned) {
            if let Err(e) = self.check_after(&check, arg, ret) {
                why = format!(": {e}");
                ok = false;
            }
        }
        // A successful get through a pointer we can read back: the length is
        // in range and the bytes after the value are as they were sent.
        if let (true, Some(sent)) = (ok && r.is_ok(), sent) {
            let p: KvPair = read_at(arg);
            let len = p.value.len as usize;
            if len > KV_MAX_VAL || p.value.data[len..] != sent.value.data[len..] {
                ok = false;
            }
        }
        if !ok && self.reports.fetch_add(1, Ordering::Relaxed) < MAX_REPORTS {
            println!(
                "fuzz: thread {} call {iter}: cmd {cmd:#010x} ({op:?} class {class}) ptr {ptr:?} fd {}: got {}, allowed {}{why}",
                self.id,
                if use_ro { "O_RDONLY" } else { "O_RDWR" },
                errno_name(r.err().unwrap_or(0)),
                allowed.describe()
            );
        }
        ok
    }
}

/// The answers a call that changes the store may give on a read-only file,
/// from those it may give on a writable one: the request is checked whole
/// first, so an invalid one still answers EINVAL or EFAULT, and EBADF
/// replaces every answer of a valid one (success or the store's refusals).
fn on_read_only(writable: Allowed) -> Allowed {
    let checks = Allowed::of(&[libc::EINVAL, libc::EFAULT]);
    let invalid = Allowed(writable.0 & checks.0);
    if writable.0 & !checks.0 != 0 {
        invalid.or(Allowed::errno(libc::EBADF))
    } else {
        invalid
    }
}

/// Keeps unmapping and mapping again one page at `addr`, filled with a valid
/// pair, while the fuzzing threads pass pointers into it.
/// False if the address was taken by another mapping while it was unmapped.
/// The hole is made under `lock`, so the threads' mappings never take it.
fn flapper(addr: usize, stop: Arc<AtomicBool>, flaps: Arc<AtomicU64>, lock: AddrLock) -> bool {
    let p = pair(&FLAP_KEY, b"flapping");
    while !stop.load(Ordering::Relaxed) {
        let hole = fuzzmap::write_lock(&lock);
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
        drop(hole);
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

    // Every mapping of the setup is made before the flapper starts: a
    // mapping made later could land in the flapping page's hole. Later
    // ones, the threads' mappings of the device, are made under `lock`,
    // which the flapper holds while its page is unmapped.
    let flap = map(1, libc::PROT_READ | libc::PROT_WRITE)?;
    let reports = Arc::new(AtomicU64::new(0));
    let layout = Layout::open(&Dev::open_flags(libc::O_RDONLY)?)?;
    let lock = AddrLock::default();
    let states = (0..threads)
        .map(|id| Thread::new(id, seed, flap, reports.clone(), layout, lock.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flaps = Arc::new(AtomicU64::new(0));
    let flap_thread = {
        let (stop, flaps, lock) = (stop.clone(), flaps.clone(), lock.clone());
        std::thread::spawn(move || flapper(flap, stop, flaps, lock))
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
            std::thread::spawn(move || -> (u64, u64, Seen, MapStats) {
                let mut bad = 0;
                for i in 0..count {
                    if !t.step(i) {
                        bad += 1;
                    }
                }
                bad += t.map_unexpected;
                // Every mapping read once more, then unmapped.
                let maps = t.mapper.finish().unwrap_or_else(|e| {
                    println!("fuzz: thread {id} at the end: {e}");
                    bad += 1;
                    MapStats::default()
                });
                (count, bad, t.seen, maps)
            })
        })
        .collect();
    let mut out = Outcome {
        ioctls: 0,
        mmaps: 0,
        mapped: 0,
        unexpected: 0,
    };
    let mut seen = Seen::default();
    let mut maps = MapStats::default();
    for w in workers {
        let (n, bad, s, m) = w.join().map_err(|_| "a fuzz thread panicked".to_string())?;
        out.ioctls += n;
        out.unexpected += bad;
        maps.add(&m);
        seen.batch_results += s.batch_results;
        seen.dumped_pairs += s.dumped_pairs;
        seen.dump_enospc += s.dump_enospc;
        seen.clears += s.clears;
    }
    println!(
        "fuzz: checked {} batch op results, {} dumped pairs, {} dump ENOSPC answers; {} clears",
        seen.batch_results, seen.dumped_pairs, seen.dump_enospc, seen.clears
    );
    println!(
        "fuzz: {} mmaps ({} mapped), {} mprotect/mremap/madvise/munmap calls, {} KiB read through mappings, {} pieces emptied by MADV_DONTNEED (not read); {} ms of the threads' time",
        maps.mmaps,
        maps.mapped,
        maps.calls,
        maps.bytes_read / 1024,
        maps.zapped,
        maps.nanos / 1_000_000
    );
    out.mmaps = maps.mmaps;
    out.mapped = maps.mapped;
    // Each is hundreds in a run of 10000 calls: none means a path was missed.
    if ioctls >= 10_000
        && [
            seen.batch_results,
            seen.dumped_pairs,
            seen.dump_enospc,
            seen.clears,
            maps.mapped,
            maps.calls,
        ]
        .contains(&0)
    {
        return Err("the batch, dump, clear or mapping checks were never reached".into());
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
    layout.close();
    // Every mapping unmapped: none would outlive the run (no rmmod while
    // one exists).
    let left = fuzzmap::device_mappings()?;
    if !left.is_empty() {
        return Err(format!("mappings of the device left: {left:?}"));
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
    // Make room in a store without LRU, which may be full of known keys
    // other than any one of them: the first that is there goes. Then a
    // round trip.
    for k in &keys {
        if dev.del(k).is_ok() {
            break;
        }
    }
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
    fn errnos_above_63_are_their_own_answer() {
        let r = Op::Cache.any_answer();
        assert!(r.contains(Err(libc::EOVERFLOW)));
        assert!(!r.contains(Err(libc::EAGAIN)));
        assert!(r.describe().contains(&errno_name(libc::EOVERFLOW)));
    }

    #[test]
    fn op_results_follow_the_readme() {
        let mut o = KvOp::ZERO;
        o.op = KV_OP_PUT;
        o.flags = KV_PUT_NOEXIST;
        let r = op_results(&o, true, true, true);
        assert!(r.contains(Ok(())) && r.contains(Err(libc::EEXIST)));
        assert!(!r.contains(Err(libc::ENOENT)) && !r.contains(Err(libc::EINVAL)));
        assert_eq!(
            op_results(&o, true, true, false),
            Allowed::errno(libc::EBADF)
        );
        o.flags = KV_PUT_NOEXIST | KV_PUT_EXIST;
        assert_eq!(
            op_results(&o, true, true, true),
            Allowed::errno(libc::EINVAL)
        );
        o.flags = 0;
        o.reserved = 1;
        assert_eq!(
            op_results(&o, true, true, true),
            Allowed::errno(libc::EINVAL)
        );
        o.reserved = 0;
        o.op = KV_OP_GET;
        // A get runs on a read-only file; with flags it is invalid.
        assert_eq!(
            op_results(&o, true, false, false),
            Allowed::OK.or(Allowed::errno(libc::ENOENT))
        );
        o.flags = KV_PUT_EXIST;
        assert_eq!(
            op_results(&o, true, true, true),
            Allowed::errno(libc::EINVAL)
        );
        o.op = 7;
        o.flags = 0;
        assert_eq!(
            op_results(&o, true, true, true),
            Allowed::errno(libc::EINVAL)
        );
    }

    #[test]
    fn fuzz_keys_are_recognised() {
        assert!((0..KEYS).all(|i| is_fuzz_key(&known_key(i))));
        assert!(is_fuzz_key(&FLAP_KEY));
        assert!(!is_fuzz_key(&[0u8; 16]) && !is_fuzz_key(b"fuzz-round-trip") && !is_fuzz_key(b""));
    }

    #[test]
    fn vfs_commands_are_never_sent_as_random() {
        assert!(vfs_handles(0x5421)); // FIONBIO
        assert!(vfs_handles(0xc0045877)); // FIFREEZE
        assert!(!vfs_handles(KV_IOC_PUT));
    }
}
