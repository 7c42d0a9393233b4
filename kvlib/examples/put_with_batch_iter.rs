//! kvlib's calls for conditions and many items: put_with, batch, iter,
//! clear and stat's put and delete counters; a store of binary keys goes
//! through iter, clear and a batch of puts and comes back byte for byte.
//! Run against a fresh store (the guest suite library.sh does so); prints a
//! PASS/FAIL line per check.

mod checks;

use checks::Checks;

use std::collections::BTreeMap;

use kvlib::{Error, Op, Put, Store, KV_BATCH_MAX, KV_MAX_KEY, KV_MAX_VAL};

fn main() -> Result<(), Error> {
    let store = Store::open()?;
    let mut checks = Checks::new("kvlib/put_with_batch_iter");

    checks.check(
        "put_with_if_present_absent",
        store.put_with(b"lock", b"a", Put::IfPresent) == Err(Error::NotFound),
    );
    checks.check(
        "refused_put_changed_nothing",
        store.get(b"lock") == Err(Error::NotFound),
    );
    checks.check(
        "put_with_if_absent",
        store.put_with(b"lock", b"a", Put::IfAbsent).is_ok(),
    );
    checks.check(
        "put_with_if_absent_present",
        store.put_with(b"lock", b"b", Put::IfAbsent) == Err(Error::Exists),
    );
    checks.check("exists_kept_value", store.get(b"lock")? == b"a");
    checks.check(
        "put_with_if_present",
        store.put_with(b"lock", b"c", Put::IfPresent).is_ok(),
    );
    checks.check(
        "put_with_always",
        store.put_with(b"lock", b"d", Put::Always).is_ok(),
    );
    checks.check("replaced", store.get(b"lock")? == b"d");

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
    checks.check("op_not_run", ops[0].result() == Err(Error::NotRun));
    store.batch(&mut ops)?;
    checks.check("batch_del", ops[0].result().is_ok());
    checks.check("batch_put", ops[1].result().is_ok());
    checks.check("batch_exists", ops[2].result() == Err(Error::Exists));
    checks.check("batch_get_own_put", ops[3].value() == Some(&b"1"[..]));
    checks.check("batch_get_own_del", ops[4].result() == Err(Error::NotFound));
    checks.check("batch_get_replaced", ops[6].value() == Some(&b"3"[..]));
    checks.check("batch_empty", store.batch(&mut []).is_ok());

    // More ops than one call takes: kvlib splits them.
    let mut many: Vec<Op> = (0..KV_BATCH_MAX as usize * 2 + 5)
        .map(|i| Op::put(format!("m{i}").as_bytes(), b"v", Put::Always))
        .collect::<Result<_, _>>()?;
    store.batch(&mut many)?;
    checks.check("batch_split", many.iter().all(|op| op.result().is_ok()));
    store.clear()?;
    checks.check(
        "clear",
        store.stat()?.curr_items == 0 && store.iter().next().is_none(),
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
    checks.check("iter_not_a_use", store.stat()?.hits == before.hits);
    checks.check("iter_each_once", dumped.len() == want.len());
    let dumped: BTreeMap<_, _> = dumped.into_iter().collect();
    checks.check("iter_every_item", dumped == want);
    store.clear()?;
    let mut puts: Vec<Op> = dumped
        .iter()
        .map(|(k, v)| Op::put(k, v, Put::IfAbsent))
        .collect::<Result<_, _>>()?;
    store.batch(&mut puts)?;
    let back: BTreeMap<_, _> = store.iter().collect::<Result<_, _>>()?;
    checks.check("round_trip_byte_for_byte", back == want);

    let stat = store.stat()?;
    checks.check(
        "stat_puts_deletes",
        stat.puts.is_some_and(|p| p >= 1000) && stat.deletes == Some(1),
    );
    store.clear()?;
    checks.exit()
}
