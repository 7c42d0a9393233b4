//! kvlib's calls of issue 11 against the real device: put_with, batch,
//! iter, clear and stat's new counters; a store of binary keys goes through
//! iter, clear and a batch of puts and comes back byte for byte. Run against
//! a fresh store (tests/suites/api.sh); prints PASS/FAIL lines.

use std::collections::BTreeMap;

use kvlib::{Error, Op, Put, Store, KV_BATCH_MAX, KV_MAX_KEY, KV_MAX_VAL};

fn check(name: &str, ok: bool, failed: &mut bool) {
    if ok {
        println!("PASS: kvlib-api/{name}");
    } else {
        println!("FAIL: kvlib-api/{name}");
        *failed = true;
    }
}

fn main() -> Result<(), Error> {
    let store = Store::open()?;
    let mut failed = false;
    let f = &mut failed;

    check(
        "put_with_if_present_absent",
        store.put_with(b"lock", b"a", Put::IfPresent) == Err(Error::NotFound),
        f,
    );
    check(
        "refused_put_changed_nothing",
        store.get(b"lock") == Err(Error::NotFound),
        f,
    );
    check(
        "put_with_if_absent",
        store.put_with(b"lock", b"a", Put::IfAbsent).is_ok(),
        f,
    );
    check(
        "put_with_if_absent_present",
        store.put_with(b"lock", b"b", Put::IfAbsent) == Err(Error::Exists),
        f,
    );
    check("exists_kept_value", store.get(b"lock")? == b"a", f);
    check(
        "put_with_if_present",
        store.put_with(b"lock", b"c", Put::IfPresent).is_ok(),
        f,
    );
    check(
        "put_with_always",
        store.put_with(b"lock", b"d", Put::Always).is_ok(),
        f,
    );
    check("replaced", store.get(b"lock")? == b"d", f);

    // A batch sees its own earlier ops; per-op errors leave the others done.
    let mut ops = vec![
        Op::del(b"lock")?,
        Op::put(b"k", b"1", Put::IfAbsent)?,
        Op::put(b"k", b"2", Put::IfAbsent)?,
        Op::get(b"k")?,
        Op::get(b"lock")?,
        Op::put(b"k", b"3", Put::IfPresent)?,
        Op::get(b"k")?,
    ];
    check("op_not_run", ops[0].result() == Err(Error::NotRun), f);
    store.batch(&mut ops)?;
    check("batch_del", ops[0].result().is_ok(), f);
    check("batch_put", ops[1].result().is_ok(), f);
    check("batch_exists", ops[2].result() == Err(Error::Exists), f);
    check("batch_get_own_put", ops[3].value() == Some(&b"1"[..]), f);
    check(
        "batch_get_own_del",
        ops[4].result() == Err(Error::NotFound),
        f,
    );
    check("batch_get_replaced", ops[6].value() == Some(&b"3"[..]), f);
    check("batch_empty", store.batch(&mut []).is_ok(), f);

    // More ops than one call takes: kvlib splits them.
    let mut many: Vec<Op> = (0..KV_BATCH_MAX as usize * 2 + 5)
        .map(|i| Op::put(format!("m{i}").as_bytes(), b"v", Put::Always))
        .collect::<Result<_, _>>()?;
    store.batch(&mut many)?;
    check("batch_split", many.iter().all(|op| op.result().is_ok()), f);
    store.clear()?;
    check(
        "clear",
        store.stat()?.curr_items == 0 && store.iter().next().is_none(),
        f,
    );

    // Binary keys and values: iter, clear, put back in a batch, iter again.
    let mut want = BTreeMap::new();
    for i in 0..500usize {
        let key: Vec<u8> = (0..1 + i % KV_MAX_KEY)
            .map(|j| (i * 7 + j * 13) as u8)
            .collect();
        let value: Vec<u8> = (0..(i * 3) % (KV_MAX_VAL + 1))
            .map(|j| (i + j * 251) as u8)
            .collect();
        want.insert(key, value);
    }
    for (k, v) in &want {
        store.put(k, v)?;
    }
    let before = store.stat()?;
    let dumped: Vec<(Vec<u8>, Vec<u8>)> = store.iter().collect::<Result<_, _>>()?;
    check("iter_not_a_use", store.stat()?.hits == before.hits, f);
    check("iter_each_once", dumped.len() == want.len(), f);
    let dumped: BTreeMap<_, _> = dumped.into_iter().collect();
    check("iter_every_item", dumped == want, f);
    store.clear()?;
    let mut puts: Vec<Op> = dumped
        .iter()
        .map(|(k, v)| Op::put(k, v, Put::IfAbsent))
        .collect::<Result<_, _>>()?;
    store.batch(&mut puts)?;
    let back: BTreeMap<_, _> = store.iter().collect::<Result<_, _>>()?;
    check("round_trip_byte_for_byte", back == want, f);

    let stat = store.stat()?;
    check(
        "stat_puts_deletes",
        stat.puts.is_some_and(|p| p >= 1000) && stat.deletes == Some(1),
        f,
    );
    store.clear()?;
    std::process::exit(i32::from(failed));
}
