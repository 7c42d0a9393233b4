//! [`Mapping`] over a file laid out as the kernel serves a mapping of the
//! store: region 0 and each block's chunk, copied from a host store
//! (`kv_module`'s, the same code as the module's) into a memfd at the
//! offsets `docs/mapping.md` gives. The mapped gets must answer what the
//! store's own get answers, across a clear that gives the blocks new
//! generations.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;

use kv_module::abi::KV_MAX_VAL;
use kv_module::policy::Policy;
use kv_module::store::{Alloc, Clock, Condition, Events, PutArgs, Store, Writer};
use kv_module::table::{ValueOut, CHUNK_ALIGN};

use super::*;

struct TestAlloc;

impl Events for TestAlloc {}

fn layout(bytes: usize) -> Option<std::alloc::Layout> {
    std::alloc::Layout::from_size_align(bytes, CHUNK_ALIGN).ok()
}

// SAFETY: Chunks come zeroed from the global allocator with the size and
// alignment asked, and stay valid until `free_chunk`.
unsafe impl Alloc for TestAlloc {
    type Vec<T> = Vec<T>;
    const CHUNKS_UNDER_LOCK: bool = true;

    fn vec<T>(len: usize, f: impl FnMut() -> T) -> Option<Vec<T>> {
        let mut f = f;
        Some((0..len).map(|_| f()).collect())
    }

    fn chunk(bytes: usize) -> Option<NonNull<u8>> {
        let layout = layout(bytes).filter(|l| l.size() > 0)?;
        // SAFETY: A non-zero size.
        NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
    }

    unsafe fn free_chunk(chunk: NonNull<u8>, bytes: usize) {
        if let Some(layout) = layout(bytes) {
            // SAFETY: From `chunk(bytes)`, with this layout.
            unsafe { std::alloc::dealloc(chunk.as_ptr(), layout) };
        }
    }
}

type TStore = Store<TestAlloc>;

/// Bytes `len` at `p`.
///
/// # Safety
///
/// `p` is `len` readable bytes that nothing writes meanwhile.
unsafe fn bytes<'a>(p: NonNull<u8>, len: usize) -> &'a [u8] {
    // SAFETY: The caller's contract.
    unsafe { std::slice::from_raw_parts(p.as_ptr(), len) }
}

/// An empty memfd.
fn memfd() -> File {
    // SAFETY: A NUL-terminated name; no flags.
    let fd = unsafe { libc::memfd_create(c"kvstore-map-test".as_ptr(), 0) };
    assert!(fd >= 0, "memfd_create");
    // SAFETY: A new fd this call owns.
    unsafe { File::from_raw_fd(fd) }
}

/// Writes what the kernel would serve of `s` into `file`: region 0 at
/// offset 0, each attached block's chunk at its page offset, and zeroes
/// for a detached block.
fn serve(s: &TStore, file: &File) {
    let header = s.map_header().unwrap();
    let mut at = 0u64;
    for (p, len) in s.map_regions() {
        // SAFETY: The store's own pages; no writer runs in these tests
        // while this copies.
        file.write_all_at(unsafe { bytes(p, len) }, at).unwrap();
        at += len as u64;
    }
    assert_eq!(at, header.map_bytes);
    for b in 0..header.blocks {
        let offset = (header.block_pgoff + u64::from(b) * KV_MAP_BLOCK_PAGES) * PAGE;
        match s.block_chunk(b) {
            // SAFETY: As above, an attached chunk of `len` bytes.
            Some((p, len)) => file.write_all_at(unsafe { bytes(p, len) }, offset),
            None => file.write_all_at(&[0; BLOCK_SLOTS * 8], offset),
        }
        .unwrap();
    }
    if let Some((p, len)) = s.marks_region() {
        // SAFETY: As above, the marks' pages.
        let marks = unsafe { bytes(p, len) };
        file.write_all_at(marks, header.marks_pgoff * PAGE).unwrap();
    }
}

/// Key `n`: its number, then bytes up to a length of 4..=64.
fn key_of(n: u32) -> Vec<u8> {
    let len = 4 + (n as usize * 5) % 61;
    let mut k = n.to_le_bytes().to_vec();
    k.extend((4..len).map(|i| (n as u8) ^ (i as u8).wrapping_mul(13)));
    k
}

fn put(s: &TStore, w: &mut Writer<TestAlloc>, n: u32, ttl_ms: u64, now: u64) {
    let key = s.key(&key_of(n)).unwrap();
    let value: Vec<u8> = (0..(n as usize * 11) % 257)
        .map(|i| i as u8 ^ n as u8)
        .collect();
    let args = PutArgs {
        cond: Condition::Always,
        ttl_ms,
    };
    w.put_if(s, &key, &value, args, &Clock::new(move || now))
        .unwrap();
}

/// Checks that the mapping answers what the store does for keys
/// `0..keys`; the hits.
fn agree(m: &Mapping, s: &TStore, keys: u32) -> usize {
    let mut hits = 0;
    for n in 0..keys {
        let k = key_of(n);
        let mut out = [0u8; KV_MAX_VAL];
        let mapped = m.get(&k, &mut out).expect("the mapping gave up");
        let now = clock_ns().unwrap();
        let key = s.key(&k).unwrap();
        let mut value = ValueOut::new();
        let direct = s
            .get(&key, 0, &mut value, std::hint::spin_loop, || now)
            .ok()
            .map(|_| value.value().to_vec());
        assert_eq!(mapped.map(|len| out[..len].to_vec()), direct, "key {n}");
        hits += usize::from(direct.is_some());
    }
    hits
}

#[test]
fn mapped_gets_answer_what_the_store_answers() {
    let (s, mut w) = Store::<TestAlloc>::new(7, 2000, Policy::None, 1, [5, 9]).unwrap();
    let now = clock_ns().unwrap();
    for n in 0..600 {
        match n % 4 {
            // Expired an hour ago, alive for an hour, and never expiring.
            0 => put(&s, &mut w, n, 1, now.saturating_sub(3_600_000_000_000)),
            1 => put(&s, &mut w, n, 3_600_000, now),
            _ => put(&s, &mut w, n, 0, now),
        }
    }
    let file = memfd();
    serve(&s, &file);
    let m = Mapping::open(file.as_raw_fd()).expect("a served store maps");
    let hits = agree(&m, &s, 800);
    assert!(hits > 300, "{hits} hits");
    // Every block the walks needed is mapped, once.
    assert!(m
        .blocks
        .iter()
        .any(|p| !p.load(Ordering::Relaxed).is_null()));
    assert!(m.retired.lock().unwrap().is_empty());

    // A clear and new items: blocks of new generations, mapped again.
    let mut freed = Vec::new();
    w.clear(&s, |chunk, bytes| freed.push((chunk, bytes)));
    serve(&s, &file);
    assert_eq!(agree(&m, &s, 800), 0);
    for n in 300..700 {
        put(&s, &mut w, n, 0, now);
    }
    serve(&s, &file);
    assert_eq!(agree(&m, &s, 800), 400);
    assert!(!m.retired.lock().unwrap().is_empty());
    drop(m);
    for (chunk, bytes) in freed {
        // SAFETY: Detached by the clear; nothing reads them any more.
        unsafe { TestAlloc::free_chunk(chunk, bytes) };
    }
}

#[test]
fn a_store_under_exact_lru_is_not_mapped() {
    let (s, _w) = Store::<TestAlloc>::new(7, 100, Policy::Lru, 1, [5, 9]).unwrap();
    let file = memfd();
    serve(&s, &file);
    assert!(Mapping::open(file.as_raw_fd()).is_none());
}

/// A SIEVE store maps with its mark words, writable, through a descriptor
/// open for writing: a mapped hit marks its item's word there (bit 0 of
/// the word that holds its generation). A read-only one cannot map the
/// marks writable: no mapping, gets take the ioctl.
#[test]
fn a_store_under_sieve_maps_its_marks() {
    let (s, mut w) = Store::<TestAlloc>::new(7, 100, Policy::Sieve, 1, [5, 9]).unwrap();
    put(&s, &mut w, 3, 0, 1);
    let file = memfd();
    serve(&s, &file);
    let m = Mapping::open(file.as_raw_fd()).expect("SIEVE maps");
    let marks = m.marks().expect("with its marks");
    assert_eq!(marks.len(), m.header().blocks as usize * 512);
    let marked = || -> u64 { marks.iter().map(|w| w.load(Ordering::Relaxed) & 1).sum() };
    assert_eq!(marked(), 0);
    let mut out = [0u8; KV_MAX_VAL];
    assert!(matches!(m.get(&key_of(3), &mut out), Some(Some(_))));
    assert_eq!(marked(), 1, "the hit marked its item");
    // The marked word is the item's: its generation, nonzero here.
    assert!(marks
        .iter()
        .map(|w| w.load(Ordering::Relaxed))
        .any(|w| w & 1 == 1 && w >> 32 != 0));
    // A miss marks nothing, nor a second hit.
    assert_eq!(m.get(&key_of(4), &mut out), Some(None));
    assert!(matches!(m.get(&key_of(3), &mut out), Some(Some(_))));
    assert_eq!(marked(), 1);
    drop(m);
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let read_only = File::open(path).unwrap();
    assert!(Mapping::open(read_only.as_raw_fd()).is_none());
}

#[test]
fn a_block_that_cannot_be_mapped_sends_the_get_to_the_ioctl() {
    let (s, mut w) = Store::<TestAlloc>::new(7, 100, Policy::None, 1, [5, 9]).unwrap();
    put(&s, &mut w, 1, 0, 1);
    let file = memfd();
    serve(&s, &file);
    // The block table shows a stride the layout forbids: the block is not
    // mapped, and the get is left to the ioctl.
    let header = s.map_header().unwrap();
    let b = (0..header.blocks)
        .find(|&b| s.block_chunk(b).is_some())
        .unwrap();
    let entry = header.block_table + u64::from(b) * 8;
    let mut word = [0u8; 8];
    file.read_exact_at(&mut word, entry).unwrap();
    let bad = (u64::from_ne_bytes(word) & !0xffff_ffff) | (KV_MAP_BLOCK_PAGES + 1);
    file.write_all_at(&bad.to_ne_bytes(), entry).unwrap();
    let m = Mapping::open(file.as_raw_fd()).unwrap();
    let mut out = [0u8; KV_MAX_VAL];
    assert_eq!(m.get(&key_of(1), &mut out), None);
    // The entry as it was: the block maps, and the key is found.
    file.write_all_at(&word, entry).unwrap();
    assert_eq!(m.get(&key_of(1), &mut out).map(|v| v.is_some()), Some(true));
}

#[test]
fn store_gets_go_through_the_mapping_and_fall_back_to_the_ioctl() {
    let (s, mut w) = Store::<TestAlloc>::new(7, 100, Policy::None, 1, [5, 9]).unwrap();
    let now = clock_ns().unwrap();
    put(&s, &mut w, 30, 0, now);
    put(&s, &mut w, 31, 1, now.saturating_sub(3_600_000_000_000));
    let file = memfd();
    serve(&s, &file);
    // The memfd opened again as a device: it maps, but answers no ioctl
    // (ENOTTY), so which path a get took shows.
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let store = crate::Store::open_path_read_only(&path).unwrap();
    assert!(store.mapped_reads());
    let mut value = ValueOut::new();
    let key = s.key(&key_of(30)).unwrap();
    s.get(&key, 0, &mut value, std::hint::spin_loop, || now)
        .unwrap();
    assert_eq!(store.get(&key_of(30)).unwrap(), value.value());
    let mut short = [0u8; 1];
    assert_eq!(
        store.get_into(&key_of(30), &mut short),
        Err(crate::Error::BufferTooSmall {
            needed: value.value_len(),
            capacity: 1
        })
    );
    assert_eq!(store.get(&key_of(31)), Err(crate::Error::NotFound));
    assert_eq!(store.get(&key_of(32)), Err(crate::Error::NotFound));
    assert_eq!(store.get(b""), Err(crate::Error::KeyLength { len: 0 }));
    store.set_mapped_reads(false);
    assert!(!store.mapped_reads());
    assert!(matches!(
        store.get(&key_of(30)),
        Err(crate::Error::Os {
            op: "get",
            errno: nix::errno::Errno::ENOTTY
        })
    ));
    store.set_mapped_reads(true);
    assert!(store.get(&key_of(30)).is_ok());
}

/// A `Store` with its mapping is still shared between threads.
#[test]
fn a_store_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<crate::Store>();
    shared::<Mapping>();
}
