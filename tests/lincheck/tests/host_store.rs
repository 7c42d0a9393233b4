//! The checker against the store itself, built for the host (crate
//! `kv_module`): histories recorded from threads, and the module's
//! lock-free get replayed step by step against a racing put.

use std::ops::ControlFlow;
use std::ptr::NonNull;
use std::sync::Mutex;

use kv_lincheck::{
    check, render, shortest_failing_cut, Call, History, Key, Model, Op, Outcome, Policy, Target,
    Value, Verdict, Version, When, Workload, DEFAULT_LIMIT,
};
use kv_module::policy::Policy as StorePolicy;
use kv_module::store::{
    Alloc, Clock, Condition, Error, Events, PutArgs, Relinked, Store, ValueOut, Writer,
};

/// A clock that never reaches any item's expiry (these items have none).
fn clock() -> Clock<fn() -> u64> {
    Clock::new(|| 1)
}

struct HostAlloc;

impl Events for HostAlloc {}

fn chunk_layout(bytes: usize) -> Option<std::alloc::Layout> {
    std::alloc::Layout::from_size_align(bytes, kv_module::table::CHUNK_ALIGN)
        .ok()
        .filter(|l| l.size() > 0)
}

// SAFETY: Chunks come zeroed from the global allocator with the size and
// alignment asked, and stay valid until `free_chunk`.
unsafe impl Alloc for HostAlloc {
    type Vec<T> = Vec<T>;
    const CHUNKS_UNDER_LOCK: bool = true;

    fn vec<T>(len: usize, mut f: impl FnMut() -> T) -> Option<Vec<T>> {
        Some((0..len).map(|_| f()).collect())
    }

    fn chunk(bytes: usize) -> Option<NonNull<u8>> {
        let layout = chunk_layout(bytes)?;
        // SAFETY: `layout` has a non-zero size.
        NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
    }

    unsafe fn free_chunk(chunk: NonNull<u8>, bytes: usize) {
        if let Some(layout) = chunk_layout(bytes) {
            // SAFETY: The caller passes a chunk from `chunk(bytes)`, which
            // allocated it with this layout.
            unsafe { std::alloc::dealloc(chunk.as_ptr(), layout) };
        }
    }
}

/// Chunks a clear detached, freed with the store: lock-free readers on
/// other threads may still be inside them until the history ends.
struct Retired(Vec<(NonNull<u8>, usize)>);

// SAFETY: Plain memory, freed by whichever thread drops the list.
unsafe impl Send for Retired {}

impl Drop for Retired {
    fn drop(&mut self) {
        for &(chunk, bytes) in &self.0 {
            // SAFETY: Each came from `HostAlloc::chunk(bytes)` through a
            // clear, and the store's threads have ended.
            unsafe { HostAlloc::free_chunk(chunk, bytes) };
        }
    }
}

/// The host store with its writer behind a mutex, as kv.ko keeps it behind
/// a spinlock. A get runs as the module's does: a lock-free lookup, then the
/// policy's hit, finished under the mutex when the policy asks.
struct Locked {
    store: Store<HostAlloc>,
    writer: Mutex<Writer<HostAlloc>>,
    retired: Mutex<Retired>,
}

fn kind(policy: Policy) -> StorePolicy {
    match policy {
        Policy::NoEviction => StorePolicy::None,
        Policy::Lru => StorePolicy::Lru,
        Policy::Sieve => StorePolicy::Sieve,
    }
}

/// The rest of the module's get after its lock-free lookup `found` of `key`
/// delivered `out`: the policy's hit, finished under the writer lock when
/// the policy asks for it, as `ioctl.rs` does.
fn finish_get(
    target: &Locked,
    key: &kv_module::store::Key,
    found: kv_module::table::Found,
    out: &mut ValueOut,
) -> Result<Outcome, String> {
    let store = &target.store;
    if let Some(relink) = store.hit(0, &found) {
        let mut writer = target.writer.lock().unwrap();
        if writer.relink(store, key, relink, 0, out.value()) == Relinked::Gone {
            return Ok(Outcome::NotFound);
        }
    }
    value(out)
}

impl Locked {
    fn new(model: Model) -> Locked {
        let (store, writer) =
            Store::new(1, model.max_items as u32, kind(model.policy), 4, [3, 5]).unwrap();
        Locked {
            store,
            writer: Mutex::new(writer),
            retired: Mutex::new(Retired(Vec::new())),
        }
    }
}

fn outcome(result: Result<(), Error>) -> Result<Outcome, String> {
    match result {
        Ok(()) => Ok(Outcome::Ok),
        Err(Error::NotFound) => Ok(Outcome::NotFound),
        Err(Error::Exists) => Ok(Outcome::Exists),
        Err(Error::Full) => Ok(Outcome::Full),
        Err(Error::VersionChanged) => Ok(Outcome::Exists),
        Err(Error::NotANumber) => Ok(Outcome::NotANumber),
        Err(Error::Overflow) => Ok(Outcome::Overflow),
        Err(e) => Err(format!("{e:?}")),
    }
}

fn value(out: &ValueOut) -> Result<Outcome, String> {
    // `bytes` is the length word, then the value.
    let bytes = out.bytes().get(4..).unwrap_or_default();
    Value::parse(bytes)
        .map(Outcome::Value)
        .ok_or_else(|| format!("unknown value {bytes:?}"))
}

impl Target for Locked {
    type Error = String;

    fn run(&self, call: Call) -> Result<Outcome, String> {
        let store = &self.store;
        let mut writer = self.writer.lock().unwrap();
        match call {
            Call::Get(k) | Call::GetVer(k) => {
                let key = store.key(&k.bytes()).unwrap();
                let mut out = ValueOut::new();
                drop(writer);
                match store.get(&key, 0, &mut out, std::hint::spin_loop, || 1) {
                    Ok(found) => {
                        let version = Version(found.version);
                        match (call, finish_get(self, &key, found, &mut out)?) {
                            (Call::GetVer(_), Outcome::Value(v)) => {
                                Ok(Outcome::Versioned(v, version))
                            }
                            (_, answer) => Ok(answer),
                        }
                    }
                    Err(e) => outcome(Err(e)),
                }
            }
            Call::PutVer(k, v, version) => {
                let key = store.key(&k.bytes()).unwrap();
                let put = writer.put_version(store, &key, &v.bytes(), version.0, &clock());
                outcome(put.map(drop))
            }
            Call::Incr(k, delta) => {
                let key = store.key(&k.bytes()).unwrap();
                match writer.incr(store, &key, delta, 0, &clock()) {
                    Ok(n) => Ok(Outcome::Number(n)),
                    Err(e) => outcome(Err(e)),
                }
            }
            Call::Put(k, v, when) => {
                let key = store.key(&k.bytes()).unwrap();
                let cond = match when {
                    When::Always => Condition::Always,
                    When::IfAbsent => Condition::IfAbsent,
                    When::IfPresent => Condition::IfPresent,
                };
                outcome(
                    writer
                        .put_if(
                            store,
                            &key,
                            &v.bytes(),
                            PutArgs { cond, ttl_ms: 0 },
                            &clock(),
                        )
                        .map(drop),
                )
            }
            Call::Del(k) => {
                let key = store.key(&k.bytes()).unwrap();
                outcome(writer.del(store, &key, &clock()))
            }
        }
    }

    /// One op at a time, each atomic, as the module runs a batch.
    fn batch(&self, calls: &[Call]) -> Result<Vec<Outcome>, String> {
        calls.iter().map(|&call| self.run(call)).collect()
    }

    fn clear(&self) -> Result<(), String> {
        let mut retired = self.retired.lock().unwrap();
        let links = self
            .writer
            .lock()
            .unwrap()
            .clear(&self.store, |chunk, bytes| retired.0.push((chunk, bytes)));
        drop(links);
        Ok(())
    }
}

const POLICIES: [Policy; 3] = [Policy::NoEviction, Policy::Lru, Policy::Sieve];

fn assert_linearizable(model: Model, history: &History) {
    match check(&model, history, DEFAULT_LIMIT) {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable(failure) => {
            let (cut, failure) = shortest_failing_cut(&model, history, DEFAULT_LIMIT)
                .unwrap_or((history.clone(), failure));
            panic!("{model:?}:\n{}", render(&model, &cut, &failure, false));
        }
        Verdict::GaveUp { explored } => panic!("{model:?}: gave up after {explored}"),
    }
}

/// One thread: the model must answer every op as the store did, which
/// checks the model against the store's own eviction order.
#[test]
fn one_thread_the_model_answers_as_the_store() {
    for policy in POLICIES {
        for (max_items, keys) in [(1, 2), (2, 3), (3, 5), (4, 4)] {
            let model = Model { policy, max_items };
            let workload = Workload {
                threads: 1,
                ops_per_thread: 2000,
                keys,
            };
            for seed in 0..5 {
                let target = Locked::new(model);
                let history = workload.record(&target, seed).unwrap();
                assert_linearizable(model, &history);
            }
        }
    }
}

/// Several threads on the host store, each op under the writer mutex:
/// linearizable by construction, so every history must check.
#[test]
fn threads_on_the_locked_store_are_linearizable() {
    for policy in POLICIES {
        let model = Model {
            policy,
            max_items: 2,
        };
        for threads in [2, 4] {
            let workload = Workload {
                threads,
                ops_per_thread: 300 / threads,
                keys: 3,
            };
            // One store for every round: each starts with a clear.
            let target = Locked::new(model);
            let mut rounds = 0;
            workload
                .record_rounds(&target, 7, |_, history| {
                    assert_linearizable(model, &history);
                    rounds += 1;
                    if rounds < 20 {
                        ControlFlow::Continue(())
                    } else {
                        ControlFlow::Break(())
                    }
                })
                .unwrap();
            assert_eq!(rounds, 20);
        }
    }
}

const A: Key = Key(0);
const B: Key = Key(1);
const C: Key = Key(2);

/// The module's get of A, split at its lock-free lookup: thread 1's put of
/// C runs between the lookup and the rest (hit counted, SIEVE bit set,
/// exact LRU's touch), as a racing CPU can. Then thread 0 reads A, B and C.
/// Returns the history as the two threads saw it.
fn get_racing_an_evicting_put(policy: Policy) -> (Model, History) {
    let model = Model {
        policy,
        max_items: 2,
    };
    let target = Locked::new(model);
    let store = &target.store;
    // Times are ticks of a counter: each event is later than the last.
    let mut clock = 0u64;
    let mut tick = || {
        clock += 1;
        clock
    };
    let mut ops = Vec::new();
    let run = |thread: usize, call: Call, tick: &mut dyn FnMut() -> u64| {
        let invoke = tick();
        let outcome = target.run(call).unwrap();
        (thread, Op::done(call, outcome, invoke, tick()))
    };
    ops.push(run(
        0,
        Call::Put(A, Value::Number(1), When::Always),
        &mut tick,
    ));
    ops.push(run(
        0,
        Call::Put(B, Value::Number(2), When::Always),
        &mut tick,
    ));

    let get_invoked = tick();
    let key = store.key(&A.bytes()).unwrap();
    let mut out = ValueOut::new();
    let found = store
        .get(&key, 0, &mut out, std::hint::spin_loop, || 1)
        .unwrap();
    ops.push(run(
        1,
        Call::Put(C, Value::Number(1001), When::Always),
        &mut tick,
    ));
    let got = finish_get(&target, &key, found, &mut out).unwrap();
    ops.push((0, Op::done(Call::Get(A), got, get_invoked, tick())));

    for key in [A, B, C] {
        ops.push(run(0, Call::Get(key), &mut tick));
    }
    (model, History::from_ops(ops))
}

/// A get whose lock-free lookup found A, racing a put that evicts A before
/// the get's hit is recorded: the get is finished under the writer lock and
/// answers ENOENT (it takes effect after the put), so A gone and B alive is
/// what the sequential store does too. With the hit recorded at the lookup
/// instead (the get answering A's value while the put evicts A over B),
/// the checker rejects the history: `checker.rs` holds that history.
fn get_racing_an_evicting_put_is_linearizable(policy: Policy) {
    let (model, history) = get_racing_an_evicting_put(policy);
    let outcomes: Vec<_> = history.threads[0].iter().map(|op| op.outcome).collect();
    assert_eq!(
        outcomes[2..],
        [
            Some(Outcome::NotFound),
            Some(Outcome::NotFound),
            Some(Outcome::Value(Value::Number(2))),
            Some(Outcome::Value(Value::Number(1001))),
        ]
    );
    assert_linearizable(model, &history);
}

#[test]
fn lru_get_racing_an_evicting_put_is_linearizable() {
    get_racing_an_evicting_put_is_linearizable(Policy::Lru);
}

#[test]
fn sieve_get_racing_an_evicting_put_is_linearizable() {
    get_racing_an_evicting_put_is_linearizable(Policy::Sieve);
}

/// Without eviction the same race is harmless: the put of C fails for
/// lack of room whenever it runs.
#[test]
fn no_eviction_get_racing_a_put_is_linearizable() {
    let (model, history) = get_racing_an_evicting_put(Policy::NoEviction);
    assert_linearizable(model, &history);
}

/// Each kind of answer the cache ops have, in histories the workload
/// records on the host store: so the checks above cover every one.
#[test]
fn the_workload_reaches_every_answer_of_the_cache_ops() {
    let model = Model {
        policy: Policy::Lru,
        max_items: 2,
    };
    let workload = Workload {
        threads: 2,
        ops_per_thread: 150,
        keys: 3,
    };
    let target = Locked::new(model);
    let mut kinds = std::collections::BTreeSet::new();
    let mut cache_ops_in_batches = 0;
    let mut rounds = 0;
    workload
        .record_rounds(&target, 11, |_, history| {
            assert_linearizable(model, &history);
            for op in history.threads.iter().flatten() {
                let kind = match (op.call, op.outcome) {
                    (Call::GetVer(_), Some(Outcome::Versioned(..))) => "get-ver found",
                    (Call::GetVer(_), Some(Outcome::NotFound)) => "get-ver missed",
                    (Call::PutVer(..), Some(Outcome::Ok)) => "put-ver ok",
                    (Call::PutVer(..), Some(Outcome::Exists)) => "put-ver EEXIST",
                    (Call::PutVer(..), Some(Outcome::NotFound)) => "put-ver ENOENT",
                    (Call::Incr(..), Some(Outcome::Number(_))) => "incr counted",
                    (Call::Incr(..), Some(Outcome::NotANumber)) => "incr EINVAL",
                    (Call::Incr(..), Some(Outcome::Overflow)) => "incr EOVERFLOW",
                    _ => continue,
                };
                kinds.insert(kind);
                if op.batch.is_some() {
                    cache_ops_in_batches += 1;
                }
            }
            rounds += 1;
            if rounds < 30 {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        })
        .unwrap();
    assert_eq!(kinds.len(), 8, "{kinds:?}");
    assert!(cache_ops_in_batches > 0);
}

/// The host store with a broken get-ver: the version it answers is made
/// from the value, so it repeats whenever a value comes back.
struct VersionsFromValues(Locked);

impl Target for VersionsFromValues {
    type Error = String;

    fn run(&self, call: Call) -> Result<Outcome, String> {
        match self.0.run(call)? {
            Outcome::Versioned(value, _) => {
                let made_up = value
                    .bytes()
                    .iter()
                    .fold(1u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
                Ok(Outcome::Versioned(value, Version(made_up)))
            }
            answer => Ok(answer),
        }
    }

    fn batch(&self, calls: &[Call]) -> Result<Vec<Outcome>, String> {
        calls.iter().map(|&call| self.run(call)).collect()
    }

    fn clear(&self) -> Result<(), String> {
        self.0.clear()
    }
}

/// Versions that repeat are caught: the workload's increments bring values
/// back, and the checker rejects the version a get-ver answered before.
#[test]
fn versions_that_repeat_are_not_linearizable() {
    for policy in POLICIES {
        let model = Model {
            policy,
            max_items: 2,
        };
        let workload = Workload {
            threads: 1,
            ops_per_thread: 2000,
            keys: 3,
        };
        for seed in 0..3 {
            let target = VersionsFromValues(Locked::new(model));
            let history = workload.record(&target, seed).unwrap();
            let verdict = check(&model, &history, DEFAULT_LIMIT);
            assert!(
                matches!(verdict, Verdict::NotLinearizable(_)),
                "{policy:?} seed {seed}: {verdict:?}"
            );
        }
    }
}

/// An increment split into a read and a write, each atomic on its own
/// (the lost update of a counter kept with get and put): thread 1's whole
/// increment runs between thread 0's read and write, so both answer 11.
/// The checker must reject the history, and accept the one the store's
/// atomic increment records for the same interleaving.
#[test]
fn an_increment_that_loses_an_update_is_not_linearizable() {
    let model = Model {
        policy: Policy::NoEviction,
        max_items: 4,
    };
    let incr = Call::Incr(A, 1);
    let target = Locked::new(model);
    let mut ops = Vec::new();
    let mut t = 0u64;
    let mut tick = || {
        t += 1;
        t
    };
    let put = Call::Put(A, Value::Number(10), When::Always);
    let invoke = tick();
    ops.push((0, Op::done(put, target.run(put).unwrap(), invoke, tick())));

    let split_invoked = tick();
    let Outcome::Value(Value::Number(read)) = target.run(Call::Get(A)).unwrap() else {
        panic!("A holds a number");
    };
    let invoke = tick();
    let atomic = target.run(incr).unwrap();
    ops.push((1, Op::done(incr, atomic, invoke, tick())));
    let written = Call::Put(A, Value::Number(read + 1), When::Always);
    assert_eq!(target.run(written).unwrap(), Outcome::Ok);
    let split = Op::done(incr, Outcome::Number(read + 1), split_invoked, tick());
    let invoke = tick();
    let last = target.run(Call::Get(A)).unwrap();
    let mut lost = ops.clone();
    lost.push((0, split));
    lost.push((0, Op::done(Call::Get(A), last, invoke, tick())));
    assert_eq!(atomic, Outcome::Number(11));
    assert_eq!(split.outcome, Some(Outcome::Number(11)));
    assert!(matches!(
        check(&model, &History::from_ops(lost), DEFAULT_LIMIT),
        Verdict::NotLinearizable(_)
    ));

    // The store's own increment in thread 0's place answers 12.
    let target = Locked::new(model);
    let mut ops = Vec::new();
    for (thread, call) in [(0, put), (1, incr), (0, incr), (0, Call::Get(A))] {
        let invoke = tick();
        ops.push((
            thread,
            Op::done(call, target.run(call).unwrap(), invoke, tick()),
        ));
    }
    assert_eq!(ops[2].1.outcome, Some(Outcome::Number(12)));
    assert_linearizable(model, &History::from_ops(ops));
}
