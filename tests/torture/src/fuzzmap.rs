//! The fuzzer's mappings of `/dev/kvstore`: `mmap` with random offsets,
//! lengths, protections and flags on read-write, read-only and write-only
//! files, then `mprotect`, `mremap`, `madvise` and `munmap` of what it got,
//! and a read of every byte of every mapping that succeeded.
//!
//! The rules (`docs/mapping.md`): a mapping asking for exec, or made from
//! a write-only file, never succeeds, nor one asking for write but of
//! SIEVE's visited marks, shared, from a file open for writing; `mprotect`
//! adding exec fails, and adding write but to such a mapping of the marks;
//! `mremap` cannot grow a mapping; region 0 (page offset 0, at
//! most `map_bytes` long, `PROT_READ` or `PROT_NONE`) maps from a readable
//! file; a block maps only while attached (`ENXIO` otherwise); what
//! succeeds reads, every byte, without a fault (a fault kills the run).
//!
//! Where mappings go. A thread reserves a scratch area (`PROT_NONE`) at
//! start, before the flapper runs; `MAP_FIXED` targets a free slot of it
//! only. The scratch area never has a hole that another mapping could
//! take: a mapping in it is removed by mapping the reservation back over
//! it in one step, and the calls that leave a hole for a moment (a failed
//! `MAP_FIXED`, a shrink, a move) hold [`AddrLock`] for writing until the
//! hole is filled. Calls that let the kernel pick the address hold it for
//! reading, and so never land in the flapping page's hole, which the
//! flapper holds it for writing across.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kv_module::abi::{KvMapHeader, KV_MAP_BLOCK_PAGES, KV_MAP_MAGIC};
use kv_test_support::{errno, errno_name, Dev, Errno, Rng, PAGE};

use std::os::fd::AsRawFd;

/// Slots of a thread's scratch area, for `MAP_FIXED`.
const SLOTS: usize = 4;
/// Mappings a thread keeps at once; past this it unmaps first.
const MAX_LIVE: usize = 12;
/// A block's chunk spans at most this many bytes of the file.
const BLOCK_BYTES: usize = KV_MAP_BLOCK_PAGES as usize * PAGE;
/// Lengths above this are "huge": no mapping of them can succeed.
const HUGE: usize = 1 << 40;
/// `MADV_DONTNEED_LOCKED` (Linux 5.18), which the libc crate may lack.
const MADV_DONTNEED_LOCKED: i32 = 24;

/// Held for reading by calls that let the kernel pick an address, for
/// writing by calls that leave a hole in memory of ours for a moment (the
/// flapper's page, a scratch slot).
pub type AddrLock = Arc<RwLock<()>>;

pub fn read_lock(lock: &AddrLock) -> RwLockReadGuard<'_, ()> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

pub fn write_lock(lock: &AddrLock) -> RwLockWriteGuard<'_, ()> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// What the fuzzer reads of the store's mapping before the threads start:
/// region 0 stays mapped for the run, so the threads can see which blocks
/// are attached and at what stride.
#[derive(Clone, Copy)]
pub struct Layout {
    region: usize,
    map_bytes: usize,
    block_table: usize,
    block_pgoff: u64,
    blocks: u32,
    /// SIEVE's visited marks (`marks_bytes` 0: none), the one part a file
    /// open for writing may map writable, shared.
    marks_pgoff: u64,
    marks_bytes: usize,
}

fn dev_map(
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: i64,
    at: usize,
) -> Result<usize, Errno> {
    // SAFETY: A mapping of the device or an anonymous one: without
    // MAP_FIXED at an address the kernel picks, overlapping nothing; with
    // MAP_FIXED only over this thread's scratch slots (callers' contract),
    // which nothing else of this program uses.
    let p = unsafe { libc::mmap(at as *mut libc::c_void, len, prot, flags, fd, offset) };
    if p == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(p as usize)
    }
}

impl Layout {
    /// Maps region 0 through `dev` (read-only) and reads its header.
    pub fn open(dev: &Dev) -> Result<Layout, String> {
        let fd = dev.as_raw_fd();
        let shared = libc::MAP_SHARED;
        let first = dev_map(PAGE, libc::PROT_READ, shared, fd, 0, 0)
            .map_err(|e| format!("mmap of the header page: {}", errno_name(e)))?;
        // SAFETY: `first` is a fresh read-only mapping of the header page,
        // which holds a `KvMapHeader` (plain integers) at its start.
        let h = unsafe { std::ptr::read_volatile(first as *const KvMapHeader) };
        // SAFETY: Our own mapping, not used after this.
        unsafe { libc::munmap(first as *mut libc::c_void, PAGE) };
        if h.magic != KV_MAP_MAGIC {
            return Err(format!("header magic {:#x}", h.magic));
        }
        let map_bytes = h.map_bytes as usize;
        if !map_bytes.is_multiple_of(PAGE)
            || map_bytes == 0
            || h.block_table as usize + h.blocks as usize * 8 > map_bytes
        {
            return Err(format!(
                "header: map_bytes {map_bytes}, block table at {} for {} blocks",
                h.block_table, h.blocks
            ));
        }
        let region = dev_map(map_bytes, libc::PROT_READ, shared, fd, 0, 0)
            .map_err(|e| format!("mmap of region 0: {}", errno_name(e)))?;
        Ok(Layout {
            region,
            map_bytes,
            block_table: region + h.block_table as usize,
            block_pgoff: h.block_pgoff,
            blocks: h.blocks,
            marks_pgoff: h.marks_pgoff,
            marks_bytes: h.marks_bytes as usize,
        })
    }

    /// Block `b`'s chunk length in bytes now (0: detached).
    fn chunk_bytes(&self, b: u32) -> usize {
        if b >= self.blocks {
            return 0;
        }
        // SAFETY: Entry `b` lies inside region 0 (checked in `open`),
        // mapped until `close`; the kernel changes it atomically.
        let entry = unsafe { &*((self.block_table + b as usize * 8) as *const AtomicU64) };
        let stride = entry.load(Ordering::Acquire) as u32 as usize;
        stride * 512 * 8
    }

    /// Unmaps region 0: once every thread is done.
    pub fn close(self) {
        // SAFETY: Region 0 as `open` mapped it; no thread reads it any more.
        unsafe { libc::munmap(self.region as *mut libc::c_void, self.map_bytes) };
    }
}

/// Mapping calls made, mappings that succeeded, and the other calls
/// (mprotect, mremap, madvise, munmap).
#[derive(Clone, Copy, Default)]
pub struct MapStats {
    pub mmaps: u64,
    pub mapped: u64,
    pub calls: u64,
    pub bytes_read: u64,
    /// Pieces `MADV_DONTNEED` emptied (not read again).
    pub zapped: u64,
    /// Time spent in mapping steps, summed over the threads.
    pub nanos: u64,
}

impl MapStats {
    pub fn add(&mut self, o: &MapStats) {
        self.mmaps += o.mmaps;
        self.mapped += o.mapped;
        self.calls += o.calls;
        self.bytes_read += o.bytes_read;
        self.zapped += o.zapped;
        self.nanos += o.nanos;
    }
}

/// One mapping (or a piece of one) this thread holds.
#[derive(Clone, Copy, Debug)]
struct Live {
    addr: usize,
    len: usize,
    /// Its protection lets it be read.
    readable: bool,
    /// It starts at region 0's first page: the header.
    header: bool,
    /// It lies in the scratch area.
    scratch: bool,
    /// SIEVE's marks, shared, from a file open for writing: `mprotect`
    /// may add write to it, and populating it for writing may work.
    may_write: bool,
    /// `MADV_DONTNEED` emptied it: kv.ko inserts a mapping's pages when
    /// it is made and has no fault handler, so a read would fault
    /// (SIGBUS, `docs/mapping.md`). Never read again.
    zapped: bool,
}

/// Where an offset points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Region0,
    /// Past the first page of region 0, before the blocks.
    InsideRegion0,
    /// A block's offset; whether it was attached when picked.
    Block(bool),
    /// SIEVE's visited marks.
    Marks,
    /// A block offset past the last block (and the marks).
    PastEnd,
    /// Between two blocks' offsets.
    BetweenBlocks,
    Huge,
}

fn round_up(len: usize) -> Option<usize> {
    len.checked_add(PAGE - 1).map(|l| l & !(PAGE - 1))
}

fn prot_name(prot: i32) -> String {
    let mut s = Vec::new();
    for (bit, name) in [
        (libc::PROT_READ, "R"),
        (libc::PROT_WRITE, "W"),
        (libc::PROT_EXEC, "X"),
    ] {
        if prot & bit != 0 {
            s.push(name);
        }
    }
    if s.is_empty() {
        "NONE".into()
    } else {
        s.join("|")
    }
}

fn random_prot(rng: &mut Rng) -> i32 {
    let (r, w, x) = (libc::PROT_READ, libc::PROT_WRITE, libc::PROT_EXEC);
    match rng.below(16) {
        0..8 => r,
        8 | 9 => libc::PROT_NONE,
        10 => w,
        11 => r | w,
        12 => x,
        13 => r | x,
        14 => r | w | x,
        _ => w | x,
    }
}

/// Every answer a refused mapping may give (`mmap(2)` and `docs/mapping.md`).
const REFUSALS: [Errno; 8] = [
    libc::EINVAL,
    libc::EACCES,
    libc::EPERM,
    libc::EBADF,
    libc::ENXIO,
    libc::ENOMEM,
    libc::EOVERFLOW,
    libc::EOPNOTSUPP,
];

/// Flags `MAP_SHARED_VALIDATE` must refuse: `MAP_SYNC` (the device cannot)
/// and bits no flag has.
const UNKNOWN_FLAGS: [i32; 4] = [libc::MAP_SYNC, 0x20_0000, 0x40_0000, 0x100_0000];

/// One thread's mappings.
pub struct Mapper {
    layout: Layout,
    lock: AddrLock,
    scratch: usize,
    slot_bytes: usize,
    live: Vec<Live>,
    wo: Dev,
    pub stats: MapStats,
}

impl Mapper {
    /// Reserves the scratch area: before the flapper starts.
    pub fn new(layout: Layout, lock: AddrLock) -> Result<Mapper, String> {
        let slot_bytes = layout.map_bytes.max(BLOCK_BYTES) + PAGE;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        let scratch = dev_map(SLOTS * slot_bytes, libc::PROT_NONE, flags, -1, 0, 0)
            .map_err(|e| format!("scratch area: {}", errno_name(e)))?;
        Ok(Mapper {
            layout,
            lock,
            scratch,
            slot_bytes,
            live: Vec::new(),
            wo: Dev::open_flags(libc::O_WRONLY)?,
            stats: MapStats::default(),
        })
    }

    fn in_scratch(&self, addr: usize) -> bool {
        (self.scratch..self.scratch + SLOTS * self.slot_bytes).contains(&addr)
    }

    /// Maps the reservation over `len` bytes at `addr` in the scratch
    /// area, in one step (whatever was there is unmapped). Callers hold
    /// the write lock if a hole may be there.
    fn reserve(&self, addr: usize, len: usize) -> Result<(), String> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED;
        debug_assert!(self.in_scratch(addr) && self.in_scratch(addr + len - 1));
        dev_map(len, libc::PROT_NONE, flags, -1, 0, addr)
            .map(|_| ())
            .map_err(|e| format!("reserving scratch {addr:#x}+{len:#x}: {}", errno_name(e)))
    }

    /// A slot of the scratch area that holds no mapping.
    fn free_slot(&self, rng: &mut Rng) -> Option<usize> {
        let start = rng.below(SLOTS as u64) as usize;
        (0..SLOTS)
            .map(|i| self.scratch + ((start + i) % SLOTS) * self.slot_bytes)
            .find(|&s| {
                !self
                    .live
                    .iter()
                    .any(|l| l.addr < s + self.slot_bytes && s < l.addr + l.len)
            })
    }

    /// Reads every byte of live mapping `i` (8 at a time), if readable;
    /// checks the header's magic. A fault here kills the run.
    fn read(&mut self, i: usize) -> Result<(), String> {
        let l = self.live[i];
        if !l.readable || l.zapped {
            return Ok(());
        }
        let mut x = 0u64;
        for at in (l.addr..l.addr + l.len).step_by(8) {
            // SAFETY: `at` lies in a live mapping of ours with PROT_READ
            // (the bookkeeping follows every call on it), 8-aligned.
            x ^= unsafe { std::ptr::read_volatile(at as *const u64) };
        }
        std::hint::black_box(x);
        self.stats.bytes_read += l.len as u64;
        if l.header {
            // SAFETY: As above: the first word of this mapping.
            let magic = unsafe { std::ptr::read_volatile(l.addr as *const u64) };
            if magic != KV_MAP_MAGIC {
                return Err(format!(
                    "a mapping of region 0 at {:#x} reads magic {magic:#x}",
                    l.addr
                ));
            }
        }
        Ok(())
    }

    /// Splits live mapping `i` so that `off .. off + n` of it is one entry;
    /// returns that entry's index.
    fn carve(&mut self, i: usize, off: usize, n: usize) -> usize {
        let l = self.live.remove(i);
        let mut at = i;
        if off > 0 {
            self.live.insert(at, Live { len: off, ..l });
            at += 1;
        }
        let mid = Live {
            addr: l.addr + off,
            len: n,
            header: l.header && off == 0,
            ..l
        };
        self.live.insert(at, mid);
        if off + n < l.len {
            self.live.insert(
                at + 1,
                Live {
                    addr: l.addr + off + n,
                    len: l.len - off - n,
                    header: false,
                    ..l
                },
            );
        }
        at
    }

    /// A page-aligned piece of `len` bytes: mostly all of it.
    fn piece(rng: &mut Rng, len: usize) -> (usize, usize) {
        let pages = (len / PAGE) as u64;
        if pages <= 1 || rng.chance(1, 2) {
            return (0, len);
        }
        let first = rng.below(pages);
        let n = 1 + rng.below(pages - first);
        (first as usize * PAGE, n as usize * PAGE)
    }

    /// One random mapping call; `Err` says which rule it broke.
    pub fn step(&mut self, rng: &mut Rng, rw: &Dev, ro: &Dev) -> Result<(), String> {
        let t0 = std::time::Instant::now();
        let r = self.step_timed(rng, rw, ro);
        self.stats.nanos += t0.elapsed().as_nanos() as u64;
        r
    }

    fn step_timed(&mut self, rng: &mut Rng, rw: &Dev, ro: &Dev) -> Result<(), String> {
        let op = if self.live.is_empty() {
            0
        } else if self.live.len() >= MAX_LIVE {
            90
        } else {
            rng.below(100)
        };
        match op {
            0..40 => self.map(rng, rw, ro),
            40..50 => {
                let i = rng.below(self.live.len() as u64) as usize;
                self.read(i)
            }
            50..62 => self.protect(rng),
            62..74 => self.remap(rng),
            74..84 => self.advise(rng),
            _ => {
                let i = rng.below(self.live.len() as u64) as usize;
                let (off, n) = Self::piece(rng, self.live[i].len);
                self.unmap(i, off, n)
            }
        }
    }

    /// An `mmap` of the device.
    fn map(&mut self, rng: &mut Rng, rw: &Dev, ro: &Dev) -> Result<(), String> {
        self.stats.mmaps += 1;
        let lay = self.layout;
        let (fd, readable_fd, writable_fd, fd_name) = match rng.below(10) {
            0..6 => (rw.as_raw_fd(), true, true, "O_RDWR"),
            6..9 => (ro.as_raw_fd(), true, false, "O_RDONLY"),
            _ => (self.wo.as_raw_fd(), false, true, "O_WRONLY"),
        };
        let block = |b: u32| lay.block_pgoff + u64::from(b) * KV_MAP_BLOCK_PAGES;
        let pick = |rng: &mut Rng, attached: bool| -> Option<u32> {
            let start = rng.below(u64::from(lay.blocks)) as u32;
            (0..lay.blocks)
                .map(|i| (start + i) % lay.blocks)
                .find(|&b| (lay.chunk_bytes(b) != 0) == attached)
        };
        let mut exact = PAGE;
        let (pgoff, target) = match rng.below(12) {
            0..4 => {
                exact = lay.map_bytes;
                (0, Target::Region0)
            }
            4 if lay.block_pgoff > 1 => (1 + rng.below(lay.block_pgoff - 1), Target::InsideRegion0),
            4..7 => match pick(rng, true) {
                Some(b) => {
                    exact = lay.chunk_bytes(b).max(PAGE);
                    (block(b), Target::Block(true))
                }
                None => (block(0), Target::Block(false)),
            },
            7 => (block(pick(rng, false).unwrap_or(0)), Target::Block(false)),
            8 if lay.marks_bytes != 0 && rng.chance(1, 2) => {
                exact = lay.marks_bytes;
                (lay.marks_pgoff, Target::Marks)
            }
            8 => {
                let marks_end = lay.marks_pgoff + (lay.marks_bytes / PAGE) as u64;
                let past = block(lay.blocks + rng.below(4) as u32);
                (past.max(marks_end + rng.below(4)), Target::PastEnd)
            }
            9 => (
                block(rng.below(u64::from(lay.blocks)) as u32)
                    + 1
                    + rng.below(KV_MAP_BLOCK_PAGES - 1),
                Target::BetweenBlocks,
            ),
            _ => (
                match rng.below(3) {
                    0 => u64::MAX >> 12,
                    1 => (i64::MAX as u64 >> 12) - rng.below(64),
                    _ => 1 << (32 + rng.below(20)),
                },
                Target::Huge,
            ),
        };
        let unaligned = rng.chance(1, 10);
        let offset = (pgoff << 12).wrapping_add(if unaligned {
            1 + rng.below(PAGE as u64 - 1)
        } else {
            0
        }) as i64;
        let len = match rng.below(10) {
            0 => 0,
            1 | 2 => PAGE,
            3..6 => exact,
            6 => exact + PAGE * (1 + rng.below(4) as usize),
            7 => [
                HUGE + PAGE,
                usize::MAX - rng.below(PAGE as u64) as usize,
                1 << 47,
            ][rng.below(3) as usize],
            8 => 1 + rng.below(exact as u64) as usize,
            _ => PAGE * (1 + rng.below((exact / PAGE) as u64) as usize),
        };
        let prot = random_prot(rng);
        let (mut flags, unknown) = match rng.below(10) {
            0..5 => (libc::MAP_SHARED, false),
            5..8 => (libc::MAP_PRIVATE, false),
            8 => (libc::MAP_SHARED_VALIDATE, false),
            _ => (libc::MAP_SHARED_VALIDATE, true),
        };
        // Unknown flags with the legacy MAP_SHARED are ignored.
        if unknown || (flags == libc::MAP_SHARED && rng.chance(1, 10)) {
            flags |= UNKNOWN_FLAGS[rng.below(UNKNOWN_FLAGS.len() as u64) as usize];
        }
        if rng.chance(1, 4) {
            flags |= libc::MAP_POPULATE;
        }
        if rng.chance(1, 20) {
            flags |= libc::MAP_NORESERVE;
        }
        let rounded = round_up(len).filter(|&r| r <= HUGE);
        let slot = match rounded {
            Some(r) if r > 0 && r <= self.slot_bytes && rng.chance(1, 3) => self.free_slot(rng),
            _ => None,
        };
        if slot.is_some() {
            flags |= libc::MAP_FIXED;
        }

        // SIEVE's marks may be mapped writable, shared, from a file open
        // for writing (and reading); nothing else may.
        let shared = matches!(flags & 0x0f, libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE);
        let may_write = target == Target::Marks && shared && writable_fd;
        let must_fail = !readable_fd
            || prot & libc::PROT_EXEC != 0
            || (prot & libc::PROT_WRITE != 0 && !may_write)
            || unknown
            || unaligned
            || len == 0
            || match (target, rounded) {
                (_, None) => true,
                (Target::Region0, Some(r)) => r > lay.map_bytes,
                (Target::Block(_), Some(r)) => r > BLOCK_BYTES,
                (Target::Marks, Some(r)) => r > lay.marks_bytes,
                _ => true,
            };
        let must_map = !must_fail && target == Target::Region0;
        // A request region 0 would take, but from a write-only file: the
        // kernel's `mmap` refuses it before kv.ko is asked.
        let write_only_region0 = !readable_fd
            && prot & (libc::PROT_WRITE | libc::PROT_EXEC) == 0
            && !unknown
            && !unaligned
            && len > 0
            && target == Target::Region0
            && rounded.is_some_and(|r| r <= lay.map_bytes);
        let r = match slot {
            Some(at) => {
                let _g = write_lock(&self.lock);
                let r = dev_map(len, prot, flags, fd, offset, at);
                if r.is_err() {
                    // The kernel may have unmapped the slot before it failed.
                    self.reserve(at, self.slot_bytes)?;
                }
                r
            }
            None => {
                let _g = read_lock(&self.lock);
                dev_map(len, prot, flags, fd, offset, 0)
            }
        };
        let what = || {
            format!(
                "mmap(len {len:#x}, {}, flags {flags:#x}, {fd_name}, offset {offset:#x} = {target:?})",
                prot_name(prot)
            )
        };
        let addr = match r {
            Err(e) if must_map => {
                return Err(format!("{}: {}, but it may map", what(), errno_name(e)))
            }
            Err(e) if write_only_region0 && e != libc::EACCES => {
                return Err(format!("{}: {}, not EACCES", what(), errno_name(e)))
            }
            Err(e) if !REFUSALS.contains(&e) => {
                return Err(format!(
                    "{}: {}, not a documented refusal",
                    what(),
                    errno_name(e)
                ))
            }
            Err(_) => return Ok(()),
            Ok(addr) => addr,
        };
        self.stats.mapped += 1;
        let got = Live {
            addr,
            len: rounded.unwrap_or(len),
            readable: prot & libc::PROT_READ != 0,
            header: target == Target::Region0,
            scratch: slot.is_some(),
            may_write,
            zapped: false,
        };
        if slot.is_some_and(|s| s != addr) || (slot.is_none() && self.in_scratch(addr)) {
            return Err(format!("{}: mapped at {addr:#x}, slot {slot:?}", what()));
        }
        self.live.push(got);
        let broke = must_fail.then(|| format!("{}: mapped, breaking a rule", what()));
        self.read(self.live.len() - 1)?;
        broke.map_or(Ok(()), Err)
    }

    /// `mprotect` of a piece of a mapping: adding exec fails, and adding
    /// write but to the marks mapped for writing; read or none works.
    fn protect(&mut self, rng: &mut Rng) -> Result<(), String> {
        self.stats.calls += 1;
        let i = rng.below(self.live.len() as u64) as usize;
        let (off, n) = Self::piece(rng, self.live[i].len);
        let prot = random_prot(rng);
        let at = self.live[i].addr + off;
        // SAFETY: A piece of a mapping of ours, read only through
        // `read`, which follows the protection set here.
        let rc = unsafe { libc::mprotect(at as *mut libc::c_void, n, prot) };
        // Exec never; write only to SIEVE's marks mapped shared from a
        // file open for writing.
        let adds = prot & libc::PROT_EXEC != 0
            || (prot & libc::PROT_WRITE != 0 && !self.live[i].may_write);
        let what = format!("mprotect({at:#x}, {n:#x}, {})", prot_name(prot));
        match (rc, adds) {
            (0, _) => {
                let j = self.carve(i, off, n);
                self.live[j].readable = prot & libc::PROT_READ != 0;
                self.read(j)?;
                if adds {
                    return Err(format!("{what} succeeded"));
                }
                Ok(())
            }
            (_, true) => Ok(()),
            (_, false) => Err(format!("{what}: {}", errno_name(errno()))),
        }
    }

    /// `mremap`: a shrink works, a growth (in place or moving) fails, a
    /// move to a free scratch slot may work.
    fn remap(&mut self, rng: &mut Rng) -> Result<(), String> {
        self.stats.calls += 1;
        let i = rng.below(self.live.len() as u64) as usize;
        let l = self.live[i];
        let pages = l.len / PAGE;
        let call = |old: usize, new: usize, flags: i32, to: usize| -> Result<usize, Errno> {
            // SAFETY: `old` is a mapping of ours (or a piece of one), read
            // only through `read`; a move targets a free scratch slot.
            let p = unsafe {
                libc::mremap(
                    l.addr as *mut libc::c_void,
                    old,
                    new,
                    flags,
                    to as *mut libc::c_void,
                )
            };
            if p == libc::MAP_FAILED {
                Err(errno())
            } else {
                Ok(p as usize)
            }
        };
        match rng.below(5) {
            0 | 1 if pages > 1 => {
                let new = PAGE * (1 + rng.below(pages as u64 - 1) as usize);
                let what = format!("mremap({:#x}, {:#x} -> {new:#x})", l.addr, l.len);
                let r = {
                    let _g = l.scratch.then(|| write_lock(&self.lock));
                    let r = call(l.len, new, 0, 0);
                    if r.is_ok() && l.scratch {
                        self.reserve(l.addr + new, l.len - new)?;
                    }
                    r
                };
                match r {
                    Ok(p) if p == l.addr => {
                        self.live[i].len = new;
                        self.read(i)
                    }
                    Ok(p) => Err(format!("{what} moved it to {p:#x}")),
                    Err(e) => Err(format!("{what}: {}", errno_name(e))),
                }
            }
            2 | 3 => {
                let new = l.len + PAGE * (1 + rng.below(4) as usize);
                let flags = if rng.chance(1, 2) {
                    libc::MREMAP_MAYMOVE
                } else {
                    0
                };
                let r = {
                    let _g = read_lock(&self.lock);
                    call(l.len, new, flags, 0)
                };
                match r {
                    Err(_) => Ok(()),
                    Ok(p) => {
                        // Kept track of, to unmap it: a scratch piece cannot
                        // grow (its neighbour is the reservation).
                        self.live[i].addr = p;
                        self.live[i].len = new;
                        self.live[i].scratch = self.in_scratch(p);
                        Err(format!(
                            "mremap({:#x}, {:#x} -> {new:#x}, flags {flags}) grew it",
                            l.addr, l.len
                        ))
                    }
                }
            }
            _ => {
                let Some(slot) = self.free_slot(rng).filter(|_| l.len <= self.slot_bytes) else {
                    return self.read(i);
                };
                let _g = write_lock(&self.lock);
                let flags = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
                match call(l.len, l.len, flags, slot) {
                    Ok(p) if p == slot => {
                        if l.scratch {
                            self.reserve(l.addr, l.len)?;
                        }
                        self.live[i].addr = slot;
                        self.live[i].scratch = true;
                        self.live[i].header = false;
                        drop(_g);
                        self.read(i)
                    }
                    Ok(p) => Err(format!("mremap to {slot:#x} landed at {p:#x}")),
                    Err(_) => {
                        // The target may have been unmapped before the
                        // move failed; the mapping stays where it was.
                        self.reserve(slot, self.slot_bytes)?;
                        drop(_g);
                        self.read(i)
                    }
                }
            }
        }
    }

    /// `madvise` of a piece of a mapping: any advice, whatever it answers
    /// (the kernel may lack the call: ENOSYS), but populating for writing
    /// never succeeds, and the mapping must still read after it, but for
    /// the pieces a successful `MADV_DONTNEED` emptied: those are counted
    /// and never read again (`Live::zapped`, `docs/mapping.md`).
    fn advise(&mut self, rng: &mut Rng) -> Result<(), String> {
        self.stats.calls += 1;
        let i = rng.below(self.live.len() as u64) as usize;
        let (off, n) = Self::piece(rng, self.live[i].len);
        let advice = [
            libc::MADV_NORMAL,
            libc::MADV_RANDOM,
            libc::MADV_SEQUENTIAL,
            libc::MADV_WILLNEED,
            libc::MADV_FREE,
            libc::MADV_REMOVE,
            libc::MADV_DONTFORK,
            libc::MADV_DOFORK,
            libc::MADV_MERGEABLE,
            libc::MADV_HUGEPAGE,
            libc::MADV_NOHUGEPAGE,
            libc::MADV_DONTDUMP,
            libc::MADV_DODUMP,
            libc::MADV_WIPEONFORK,
            libc::MADV_COLD,
            libc::MADV_PAGEOUT,
            libc::MADV_POPULATE_READ,
            libc::MADV_POPULATE_WRITE,
            libc::MADV_DONTNEED,
            MADV_DONTNEED_LOCKED,
            12345,
        ][rng.below(21) as usize];
        let at = self.live[i].addr + off;
        // SAFETY: A piece of a mapping of ours; none of these advices
        // unmaps it or changes what it holds for a reader.
        let rc = unsafe { libc::madvise(at as *mut libc::c_void, n, advice) };
        if rc == 0 && advice == libc::MADV_POPULATE_WRITE && !self.live[i].may_write {
            return Err(format!(
                "madvise({at:#x}, {n:#x}, MADV_POPULATE_WRITE) succeeded"
            ));
        }
        if rc == 0 && (advice == libc::MADV_DONTNEED || advice == MADV_DONTNEED_LOCKED) {
            let j = self.carve(i, off, n);
            self.live[j].zapped = true;
            self.stats.zapped += 1;
            return Ok(());
        }
        self.read(i)
    }

    /// Unmaps piece `off .. off + n` of live mapping `i`: `munmap`, or in
    /// the scratch area the reservation mapped over it.
    fn unmap(&mut self, i: usize, off: usize, n: usize) -> Result<(), String> {
        self.stats.calls += 1;
        let j = self.carve(i, off, n);
        let l = self.live.remove(j);
        if l.scratch {
            return self.reserve(l.addr, l.len);
        }
        // SAFETY: A piece of a mapping of ours, no longer read.
        if unsafe { libc::munmap(l.addr as *mut libc::c_void, l.len) } != 0 {
            return Err(format!(
                "munmap({:#x}, {:#x}): {}",
                l.addr,
                l.len,
                errno_name(errno())
            ));
        }
        Ok(())
    }

    /// Reads every mapping, then unmaps them all and the scratch area.
    pub fn finish(mut self) -> Result<MapStats, String> {
        let mut first_err = None;
        for i in 0..self.live.len() {
            if let Err(e) = self.read(i) {
                first_err.get_or_insert(e);
            }
        }
        while !self.live.is_empty() {
            let n = self.live[0].len;
            if let Err(e) = self.unmap(0, 0, n) {
                first_err.get_or_insert(e);
            }
        }
        // SAFETY: The scratch area, holding only the reservation now.
        unsafe { libc::munmap(self.scratch as *mut libc::c_void, SLOTS * self.slot_bytes) };
        first_err.map_or(Ok(self.stats), Err)
    }
}

/// Lines of `/proc/self/maps` that map the device: none once every
/// mapping is gone.
pub fn device_mappings() -> Result<Vec<String>, String> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    Ok(maps
        .lines()
        .filter(|l| l.ends_with("/dev/kvstore"))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_to_pages() {
        assert_eq!(round_up(1), Some(PAGE));
        assert_eq!(round_up(PAGE), Some(PAGE));
        assert_eq!(round_up(usize::MAX), None);
    }

    #[test]
    fn prot_names() {
        assert_eq!(prot_name(libc::PROT_NONE), "NONE");
        assert_eq!(prot_name(libc::PROT_READ | libc::PROT_EXEC), "R|X");
    }
}
