//! kvlib's basic calls: put, get, get_into, del, stat and the typed
//! errors; gets through the store's read-only mapping, not counted in its
//! stat, and through the ioctl, counted. Run against a freshly loaded
//! store (the guest suite library.sh does so); prints a PASS/FAIL line per
//! check. With the argument `sieve`, against a store loaded with
//! `max_items=8 use_lru=2`: a hit through the mapping marks its item
//! visited, so that SIEVE's next eviction spares it.

mod checks;

use checks::Checks;

use kvlib::{Error, Store, KV_MAX_KEY};

fn main() -> Result<(), Error> {
    let store = Store::open()?;
    if std::env::args().nth(1).as_deref() == Some("sieve") {
        let mut checks = Checks::new("kvlib/put_get_del/sieve");
        sieve(&store, &mut checks)?;
        checks.exit()
    }
    let mut checks = Checks::new("kvlib/put_get_del");

    store.put(b"hello", b"world")?;
    checks.check("get", store.get(b"hello")? == b"world");

    let mut buf = [0u8; 16];
    let n = store.get_into(b"hello", &mut buf)?;
    checks.check("get_into", &buf[..n] == b"world");
    let mut tiny = [0u8; 2];
    checks.check(
        "get_into_small_buffer",
        store.get_into(b"hello", &mut tiny)
            == Err(Error::BufferTooSmall {
                needed: 5,
                capacity: 2,
            }),
    );

    let binary_key = [0u8, 0xff, 0, 0xfe];
    store.put(&binary_key, &[0xff; 256])?;
    checks.check("binary", store.get(&binary_key)? == [0xff; 256]);

    checks.check(
        "key_too_long",
        store.put(&[1; KV_MAX_KEY + 1], b"v")
            == Err(Error::KeyLength {
                len: KV_MAX_KEY + 1,
            }),
    );
    store.del(b"hello")?;
    checks.check("not_found", store.get(b"hello") == Err(Error::NotFound));
    checks.check("del_not_found", store.del(b"hello") == Err(Error::NotFound));

    // Gets through the store's mapping (a store without eviction, mapping
    // on: the default) never reach the kernel, whose counters then show
    // none of them; through the ioctl, 4 hits and a miss.
    let (hits, misses) = if store.mapped_reads() { (0, 0) } else { (4, 1) };
    let stat = store.stat()?;
    checks.check(
        "stat",
        stat.curr_items == 1
            && stat.hits == hits
            && stat.misses == misses
            && stat.bytes_used == 4 + 256,
    );
    checks.check("mapped", store.mapped_reads());
    store.set_mapped_reads(false);
    store.get(&binary_key)?;
    checks.check("ioctl_get_counted", store.stat()?.hits == hits + 1);
    checks.check(
        "missing_device",
        matches!(
            Store::open_path("/dev/nonexistent-kvstore"),
            Err(Error::DeviceMissing { .. })
        ),
    );
    checks.exit()
}

/// Under SIEVE, on a full store of 8 items: a get of the oldest through the
/// mapping (not counted by the kernel) marks it, and the next put's
/// eviction passes over it and takes the one after.
fn sieve(store: &Store, checks: &mut Checks) -> Result<(), Error> {
    let key = |n: u8| [b'k', n];
    for n in 0..8 {
        store.put(&key(n), b"v")?;
    }
    checks.check("mapped", store.mapped_reads());
    let hits = store.stat()?.hits;
    checks.check("get_oldest", store.get(&key(0))? == b"v");
    checks.check("not_counted", store.stat()?.hits == hits);
    store.put(b"new", b"v")?;
    checks.check("evicted_one", store.stat()?.evictions == 1);
    checks.check("hit_item_kept", store.get(&key(0)).is_ok());
    checks.check("next_evicted", store.get(&key(1)) == Err(Error::NotFound));
    // A descriptor open for reading only cannot map the marks writable:
    // its gets take the ioctl, which marks what they hit.
    let read_only = Store::open_read_only()?;
    checks.check("read_only_takes_the_ioctl", !read_only.mapped_reads());
    Ok(())
}
