//! kvlib from Rust: put, get, get_into, del, stat and the typed errors.
//! Run against a freshly loaded store (the guest suite libkv.sh does so);
//! prints PASS/FAIL lines like the other guest tests.

use kvlib::{Error, Store, KV_MAX_KEY};

fn check(name: &str, ok: bool, failed: &mut bool) {
    if ok {
        println!("PASS: kvlib/{name}");
    } else {
        println!("FAIL: kvlib/{name}");
        *failed = true;
    }
}

fn main() -> Result<(), Error> {
    let store = Store::open()?;
    let mut failed = false;

    store.put(b"hello", b"world")?;
    check("get", store.get(b"hello")? == b"world", &mut failed);

    let mut buf = [0u8; 16];
    let n = store.get_into(b"hello", &mut buf)?;
    check("get_into", &buf[..n] == b"world", &mut failed);
    let mut tiny = [0u8; 2];
    check(
        "get_into_small_buffer",
        store.get_into(b"hello", &mut tiny)
            == Err(Error::BufferTooSmall {
                needed: 5,
                capacity: 2,
            }),
        &mut failed,
    );

    let binary_key = [0u8, 0xff, 0, 0xfe];
    store.put(&binary_key, &[0xff; 256])?;
    check(
        "binary",
        store.get(&binary_key)? == [0xff; 256],
        &mut failed,
    );

    check(
        "key_too_long",
        store.put(&[1; KV_MAX_KEY + 1], b"v")
            == Err(Error::KeyLength {
                len: KV_MAX_KEY + 1,
            }),
        &mut failed,
    );
    store.del(b"hello")?;
    check(
        "not_found",
        store.get(b"hello") == Err(Error::NotFound),
        &mut failed,
    );
    check(
        "del_not_found",
        store.del(b"hello") == Err(Error::NotFound),
        &mut failed,
    );

    let stat = store.stat()?;
    check(
        "stat",
        stat.curr_items == 1 && stat.hits == 4 && stat.misses == 1 && stat.bytes_used == 4 + 256,
        &mut failed,
    );
    check(
        "missing_device",
        matches!(
            Store::open_path("/dev/nonexistent-kvstore"),
            Err(Error::DeviceMissing { .. })
        ),
        &mut failed,
    );
    std::process::exit(i32::from(failed));
}
