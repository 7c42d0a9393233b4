//! kvlib's cache calls: TTLs as `Duration`s, counters and versioned writes,
//! with their typed errors, and a cache batch. Run against a freshly loaded
//! store (the guest suite cache.sh does so); prints a PASS/FAIL line per
//! check.

mod checks;

use std::thread::sleep;
use std::time::Duration;

use checks::Checks;
use kvlib::{CacheOp, Error, Put, Store};

fn main() -> Result<(), Error> {
    let store = Store::open()?;
    let mut checks = Checks::new("kvlib/cache");
    let minute = Some(Duration::from_secs(60));

    // A session that expires.
    store.put_ttl(b"session", b"abc", Put::Always, minute)?;
    let left = store.ttl(b"session")?;
    checks.check(
        "ttl",
        left.is_some_and(|d| d > Duration::from_secs(55) && d <= Duration::from_secs(60)),
    );
    store.put(b"session", b"abc")?;
    checks.check("put_never_expires", store.ttl(b"session")?.is_none());
    store.touch(b"session", Some(Duration::from_millis(100)))?;
    sleep(Duration::from_millis(150));
    checks.check("expired", store.get(b"session") == Err(Error::NotFound));
    checks.check(
        "touch_absent",
        store.touch(b"session", minute) == Err(Error::NotFound),
    );
    checks.check(
        "put_if_absent_over_expired",
        store
            .put_ttl(b"session", b"new", Put::IfAbsent, None)
            .is_ok(),
    );

    // A rate limiter: one call per event.
    let hits: Vec<i64> = (0..3)
        .map(|_| store.incr(b"rate:1.2.3.4", 1, Some(Duration::from_millis(200))))
        .collect::<Result<_, _>>()?;
    checks.check("incr_counts", hits == [1, 2, 3]);
    sleep(Duration::from_millis(250));
    checks.check(
        "incr_window_restarts",
        store.incr(b"rate:1.2.3.4", 1, None)? == 1,
    );
    checks.check("decr", store.incr(b"rate:1.2.3.4", -5, None)? == -4);
    store.put(b"name", b"kv")?;
    checks.check(
        "not_a_number",
        store.incr(b"name", 1, None) == Err(Error::NotANumber),
    );
    store.put(b"big", i64::MAX.to_string().as_bytes())?;
    checks.check(
        "overflow",
        store.incr(b"big", 1, None) == Err(Error::Overflow),
    );

    // Compare-and-swap.
    store.put(b"config", b"v1")?;
    let (value, version) = store.get_ver(b"config")?;
    checks.check("get_ver", value == b"v1" && version != 0);
    store.put_ver(b"config", b"v2", version)?;
    checks.check(
        "put_ver_stale",
        store.put_ver(b"config", b"v3", version) == Err(Error::Exists),
    );
    checks.check(
        "put_ver_absent",
        store.put_ver(b"nothing", b"v", 1) == Err(Error::NotFound),
    );
    checks.check("put_ver_wrote", store.get(b"config")? == b"v2");

    // A cache batch.
    let mut ops = vec![
        CacheOp::put(b"b", b"1", Put::Always, minute)?,
        CacheOp::incr(b"b", 41, None)?,
        CacheOp::get(b"b")?,
        CacheOp::ttl(b"b")?,
        CacheOp::put_ver(b"b", b"x", 1)?,
        CacheOp::del(b"b")?,
        CacheOp::touch(b"b", None)?,
    ];
    store.cache_batch(&mut ops)?;
    checks.check(
        "batch",
        ops[1].number() == Some(42)
            && ops[2].value() == Some(&b"42"[..])
            && ops[2].version().is_some_and(|v| v != 0)
            && ops[3].ttl_left().flatten().is_some()
            && ops[4].result() == Err(Error::Exists)
            && ops[5].result().is_ok()
            && ops[6].result() == Err(Error::NotFound),
    );
    let stat = store.stat()?;
    checks.check("stat_expired", stat.expired.is_some_and(|n| n >= 2));
    checks.exit()
}
