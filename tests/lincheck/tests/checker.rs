//! The checker on histories written by hand, each known to be linearizable
//! or not.

use kv_lincheck::{
    check, render, shortest_failing_cut, BatchPos, Call, History, Key, Model, Op, OpId, Outcome,
    Policy, State, Value, Verdict, Version, When, DEFAULT_LIMIT,
};

const A: Key = Key(0);
const B: Key = Key(1);
const C: Key = Key(2);
const D: Key = Key(3);
const E: Key = Key(4);
const F: Key = Key(5);

fn get(k: Key) -> Call {
    Call::Get(k)
}
fn put(k: Key, v: i64) -> Call {
    Call::Put(k, Value::Number(v), When::Always)
}
fn put_if_absent(k: Key, v: i64) -> Call {
    Call::Put(k, Value::Number(v), When::IfAbsent)
}
fn put_if_present(k: Key, v: i64) -> Call {
    Call::Put(k, Value::Number(v), When::IfPresent)
}
fn put_word(k: Key, w: u32) -> Call {
    Call::Put(k, Value::Word(w), When::Always)
}
fn del(k: Key) -> Call {
    Call::Del(k)
}
fn get_ver(k: Key) -> Call {
    Call::GetVer(k)
}
fn put_ver(k: Key, v: i64, version: u64) -> Call {
    Call::PutVer(k, Value::Number(v), Version(version))
}
fn incr(k: Key, delta: i64) -> Call {
    Call::Incr(k, delta)
}
fn val(v: i64) -> Outcome {
    Outcome::Value(Value::Number(v))
}
/// A get-ver's answer: value `v` at version `version`.
fn ver(v: i64, version: u64) -> Outcome {
    Outcome::Versioned(Value::Number(v), Version(version))
}
fn num(n: i64) -> Outcome {
    Outcome::Number(n)
}
use Outcome::{Exists, Full, NotANumber, NotFound, Ok as Done, Overflow};

/// An op of `thread` from `invoke` to `response`.
fn op(thread: usize, invoke: u64, response: u64, call: Call, outcome: Outcome) -> (usize, Op) {
    (thread, Op::done(call, outcome, invoke, response))
}

/// Ops of one thread, one after the other, starting at time `from`.
fn seq(thread: usize, from: u64, ops: &[(Call, Outcome)]) -> Vec<(usize, Op)> {
    (0u64..)
        .zip(ops)
        .map(|(n, &(call, outcome))| op(thread, from + 10 * n, from + 10 * n + 5, call, outcome))
        .collect()
}

/// The ops of one batch of `thread`, sharing one interval.
fn batch(thread: usize, invoke: u64, response: u64, ops: &[(Call, Outcome)]) -> Vec<(usize, Op)> {
    ops.iter()
        .enumerate()
        .map(|(index, &(call, outcome))| {
            let (t, op) = op(thread, invoke, response, call, outcome);
            let pos = BatchPos {
                index,
                len: ops.len(),
            };
            (
                t,
                Op {
                    batch: Some(pos),
                    ..op
                },
            )
        })
        .collect()
}

fn model(policy: Policy, max_items: usize) -> Model {
    Model { policy, max_items }
}

fn verdict(model: Model, ops: Vec<(usize, Op)>) -> Verdict {
    check(&model, &History::from_ops(ops), DEFAULT_LIMIT)
}

fn linearizable(model: Model, ops: Vec<(usize, Op)>) -> bool {
    match verdict(model, ops) {
        Verdict::Linearizable => true,
        Verdict::NotLinearizable(_) => false,
        Verdict::GaveUp { explored } => panic!("gave up after {explored}"),
    }
}

const BIG: Model = Model {
    policy: Policy::NoEviction,
    max_items: 100,
};

#[test]
fn empty_history_is_linearizable() {
    assert!(linearizable(BIG, vec![]));
}

#[test]
fn sequential_puts_gets_dels() {
    let ops = seq(
        0,
        0,
        &[
            (get(A), NotFound),
            (put(A, 1), Done),
            (get(A), val(1)),
            (put(A, 2), Done),
            (get(A), val(2)),
            (del(A), Done),
            (del(A), NotFound),
            (get(A), NotFound),
        ],
    );
    assert!(linearizable(BIG, ops));
}

#[test]
fn stale_read_after_a_completed_put_is_not_linearizable() {
    let mut ops = seq(0, 0, &[(put(A, 1), Done), (put(A, 2), Done)]);
    // Thread 1 reads after the second put answered, and sees the first.
    ops.push(op(1, 30, 35, get(A), val(1)));
    assert!(!linearizable(BIG, ops));
}

#[test]
fn a_read_concurrent_with_a_put_sees_either_value() {
    for seen in [val(1), val(2)] {
        let mut ops = seq(0, 0, &[(put(A, 1), Done)]);
        ops.push(op(0, 20, 40, put(A, 2), Done));
        ops.push(op(1, 25, 30, get(A), seen));
        assert!(linearizable(BIG, ops), "{seen}");
    }
}

#[test]
fn reads_cannot_go_back_in_time() {
    // Both reads overlap the put, but the second starts after the first
    // answered: new then old is impossible, old then new is fine.
    let history = |first, second| {
        vec![
            op(0, 0, 5, put(A, 1), Done),
            op(0, 10, 100, put(A, 2), Done),
            op(1, 20, 30, get(A), first),
            op(1, 40, 50, get(A), second),
        ]
    };
    assert!(linearizable(BIG, history(val(1), val(2))));
    assert!(!linearizable(BIG, history(val(2), val(1))));
}

#[test]
fn a_value_no_put_wrote_is_not_linearizable() {
    let ops = vec![op(0, 0, 10, put(A, 1), Done), op(1, 0, 10, get(A), val(7))];
    assert!(!linearizable(BIG, ops));
}

#[test]
fn conditional_puts() {
    // Two racing put-if-absent: exactly one may win.
    let race = |a, b| {
        vec![
            op(0, 0, 10, put_if_absent(A, 1), a),
            op(1, 0, 10, put_if_absent(A, 2), b),
            op(0, 20, 25, get(A), val(2)),
        ]
    };
    assert!(linearizable(BIG, race(Exists, Done)));
    assert!(!linearizable(BIG, race(Done, Done)));
    assert!(!linearizable(BIG, race(Done, Exists)));
    let ops = seq(
        0,
        0,
        &[
            (put_if_present(A, 1), NotFound),
            (put_if_absent(A, 2), Done),
            (put_if_present(A, 3), Done),
            (get(A), val(3)),
        ],
    );
    assert!(linearizable(BIG, ops));
}

#[test]
fn a_full_store_without_eviction_refuses_new_keys() {
    let ops = seq(
        0,
        0,
        &[
            (put(A, 1), Done),
            (put(B, 2), Done),
            (put(C, 3), Full),
            (put(A, 4), Done), // a replace needs no room
            (get(C), NotFound),
            (del(B), Done),
            (put(C, 3), Done),
        ],
    );
    assert!(linearizable(model(Policy::NoEviction, 2), ops.clone()));
    // LRU would have evicted instead of refusing.
    assert!(!linearizable(model(Policy::Lru, 2), ops));
}

#[test]
fn lru_evicts_the_least_recently_used() {
    let lru = model(Policy::Lru, 2);
    let uses = |first_use: Call, survivor: Key, gone: Key| {
        seq(
            0,
            0,
            &[
                (put(A, 1), Done),
                (put(B, 2), Done),
                (first_use, if first_use == get(A) { val(1) } else { Done }),
                (put(C, 3), Done),
                (get(gone), NotFound),
                (get(survivor), val(if survivor == A { 1 } else { 2 })),
            ],
        )
    };
    // A get and a replacing put are both uses of A, so B goes.
    assert!(linearizable(lru, uses(get(A), A, B)));
    assert!(linearizable(lru, uses(put(A, 1), A, B)));
    assert!(!linearizable(lru, uses(get(A), B, A)));
    // A use of B leaves A the least recently used.
    assert!(linearizable(lru, uses(put(B, 2), B, A)));
}

/// The exact-LRU anomaly: with A older than B, a get of A that returns A's
/// value while a concurrent put of C evicts A. Had the get come first, A
/// would be the newest and B would go; had the put come first, the get
/// would miss. No order leaves A gone and B present.
fn lru_anomaly() -> Vec<(usize, Op)> {
    let mut ops = seq(0, 0, &[(put(A, 1), Done), (put(B, 2), Done)]);
    ops.push(op(0, 100, 200, get(A), val(1)));
    ops.push(op(1, 120, 150, put(C, 1001), Done));
    ops.extend(seq(
        0,
        300,
        &[(get(A), NotFound), (get(B), val(2)), (get(C), val(1001))],
    ));
    ops
}

#[test]
fn the_exact_lru_anomaly_is_not_linearizable() {
    let lru = model(Policy::Lru, 2);
    let Verdict::NotLinearizable(failure) = verdict(lru, lru_anomaly()) else {
        panic!("the anomaly passed");
    };
    let history = History::from_ops(lru_anomaly());
    // The furthest the search gets: the two puts, the hit of A, the put of
    // C (which then evicts B); A's later miss cannot follow.
    assert_eq!(
        failure.order.len(),
        4,
        "{}",
        render(&lru, &history, &failure, false)
    );
    let miss_of_a = OpId {
        thread: 0,
        index: 3,
    };
    assert_eq!(failure.stuck, vec![(miss_of_a, val(1))]);
    // Without the concurrent put nothing removes A; up to the hit of A all
    // is well.
    let mut ops = lru_anomaly();
    ops.retain(|(thread, _)| *thread == 0);
    assert!(!linearizable(lru, ops.clone()));
    ops.truncate(3);
    assert!(linearizable(lru, ops));
}

/// A put of a new key into a full store that evicts, seen half done by
/// another thread: the victim C already gone, the new key B not yet there.
/// Had the put taken effect, B would be found; had it not, C would.
fn evicting_put_seen_half_done() -> Vec<(usize, Op)> {
    let mut ops = seq(0, 0, &[(put(C, 1), Done), (put(A, 2), Done)]);
    ops.push(op(0, 100, 1000, put(B, 7), Done));
    ops.extend(seq(1, 200, &[(get(C), NotFound), (get(B), NotFound)]));
    ops
}

#[test]
fn an_evicting_put_seen_half_done_is_not_linearizable() {
    for policy in [Policy::Lru, Policy::Sieve] {
        let evicting = model(policy, 2);
        assert!(!linearizable(evicting, evicting_put_seen_half_done()));
        // Either read alone is fine: before the put or after it.
        for keep in [get(C), get(B)] {
            let mut ops = evicting_put_seen_half_done();
            ops.retain(|(thread, op)| *thread == 0 || op.call == keep);
            assert!(linearizable(evicting, ops), "{policy:?} {keep}");
        }
    }
}

#[test]
fn shortest_failing_cut_of_the_lru_anomaly() {
    let lru = model(Policy::Lru, 2);
    let mut ops = lru_anomaly();
    // Ops after the failure do not belong in the shortest cut.
    ops.extend(seq(1, 1000, &[(put(D, 1002), Done), (get(D), val(1002))]));
    let history = History::from_ops(ops);
    let (cut, failure) = shortest_failing_cut(&lru, &history, DEFAULT_LIMIT).expect("a cut fails");
    // Up to the answer of A's miss: the two puts, the racing pair and the
    // miss, which neither order of the pair explains.
    assert_eq!(cut.len(), 5);
    assert!(cut.threads.iter().flatten().all(|op| op.outcome.is_some()));
    let text = render(&lru, &cut, &failure, false);
    assert!(
        text.contains("get(A): answered ENOENT, the model answers 1"),
        "{text}"
    );
    assert!(!text.contains("get(B)"), "{text}");
    // The two puts ran one at a time: shown as the state they leave.
    assert!(
        text.contains("#0..#1: 2 ops one at a time, leaving [A=1 B=2]"),
        "{text}"
    );
    assert!(!text.contains("put(A, 1)"), "{text}");
    assert!(!text.contains("put(D"), "{text}");
}

#[test]
fn sieve_keeps_visited_items_and_the_hand_moves_on() {
    let sieve = model(Policy::Sieve, 3);
    let ops = seq(
        0,
        0,
        &[
            (put(A, 1), Done),
            (put(B, 2), Done),
            (put(C, 3), Done),
            (get(B), val(2)),  // B visited
            (put(D, 4), Done), // the hand starts at A, not visited: A goes
            (get(A), NotFound),
            // The hand rests on B: it clears B's bit and evicts C.
            (put(E, 5), Done),
            (get(C), NotFound),
            // The hand rests on D, after C: D goes, though B, older, is no
            // longer visited (a hand that restarted at the oldest would
            // take B).
            (put(F, 6), Done),
            (get(D), NotFound),
            (get(B), val(2)),
        ],
    );
    assert!(linearizable(sieve, ops.clone()));
    assert!(!linearizable(model(Policy::Lru, 3), ops));
}

#[test]
fn sieve_replacing_put_sets_visited_and_keeps_the_position() {
    let sieve = model(Policy::Sieve, 2);
    let ops = seq(
        0,
        0,
        &[
            (put(A, 1), Done),
            (put(B, 2), Done),
            (put(A, 3), Done), // A visited, still the oldest
            (put(C, 4), Done), // A's bit cleared, B goes
            (get(B), NotFound),
            (put(D, 5), Done), // the hand wrapped to A, now not visited
            (get(A), NotFound),
            (get(C), val(4)),
        ],
    );
    assert!(linearizable(sieve, ops));
}

#[test]
fn a_deleted_item_moves_the_hand_on() {
    let sieve = model(Policy::Sieve, 3);
    let ops = seq(
        0,
        0,
        &[
            (put(A, 1), Done),
            (put(B, 2), Done),
            (put(C, 3), Done),
            (get(A), val(1)),
            (put(D, 4), Done), // A cleared, B evicted; the hand rests on C
            (del(C), Done),    // the hand moves on to D
            (put(E, 5), Done), // room: nothing evicted
            // From D, not visited: D goes (from the oldest, A would).
            (put(F, 6), Done),
            (get(D), NotFound),
            (get(A), val(1)),
            (get(E), val(5)),
        ],
    );
    assert!(linearizable(sieve, ops));
}

#[test]
fn batch_ops_run_in_order() {
    // Alone, a batch's get sees the batch's own put.
    let ops = batch(0, 0, 10, &[(put(A, 1), Done), (get(A), NotFound)]);
    assert!(!linearizable(BIG, ops));
    let ops = batch(0, 0, 10, &[(put(A, 1), Done), (get(A), val(1))]);
    assert!(linearizable(BIG, ops));
    // A concurrent del may come between them.
    let mut ops = batch(0, 0, 10, &[(put(A, 1), Done), (get(A), NotFound)]);
    ops.push(op(1, 2, 8, del(A), Done));
    assert!(linearizable(BIG, ops));
}

#[test]
fn a_batch_is_not_a_transaction() {
    // A get during a batch of two puts may see the first put's value: each
    // op is atomic, not the batch.
    let mut ops = batch(0, 0, 10, &[(put(A, 1), Done), (put(A, 2), Done)]);
    ops.push(op(1, 2, 8, get(A), val(1)));
    assert!(linearizable(BIG, ops));
}

#[test]
fn a_pending_op_may_or_may_not_have_happened() {
    for seen in [NotFound, val(1)] {
        let mut ops = vec![op(1, 10, 20, get(A), seen)];
        ops.push((
            0,
            Op {
                call: put(A, 1),
                outcome: None,
                invoke: 0,
                response: None,
                batch: None,
            },
        ));
        assert!(linearizable(BIG, ops), "{seen}");
    }
}

#[test]
fn the_cache_keeps_a_failing_search_short() {
    // Four threads, each putting its own key, their ops overlapping, so
    // that many orders are valid; a last read no put explains makes the
    // search try them all. Without the cache that is 4!^100 orders.
    let mut ops = Vec::new();
    for thread in 0..4u8 {
        let key = Key(thread);
        for n in 0..100u32 {
            let t = u64::from(n) * 10 + u64::from(thread) * 2;
            let v = i64::from(thread) * 1000 + i64::from(n);
            ops.push(op(usize::from(thread), t, t + 8, put(key, v), Done));
        }
    }
    let mut good = ops.clone();
    good.push(op(0, 2000, 2005, get(A), val(99)));
    ops.push(op(0, 2000, 2005, get(A), val(7)));
    let start = std::time::Instant::now();
    assert!(linearizable(BIG, good));
    assert!(!linearizable(BIG, ops));
    // Generous for a debug build on a loaded machine.
    assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
}

#[test]
fn concurrent_ops_counts_overlaps_across_threads() {
    let history = History::from_ops([
        op(0, 0, 10, get(A), NotFound),
        op(0, 20, 30, get(A), NotFound), // overlaps t1's first
        op(1, 25, 40, get(B), NotFound),
        op(1, 50, 60, get(B), NotFound), // overlaps t0's third
        op(0, 55, 70, get(C), NotFound),
        op(0, 80, 90, get(C), NotFound),
    ]);
    assert_eq!(history.concurrent_ops(), 4);
}

#[test]
fn display_of_ops_and_state() {
    let ops = vec![
        op(0, 0, 1500, put_if_absent(A, 1), Done),
        op(1, 500, 2500, get(A), val(9)),
    ];
    let history = History::from_ops(ops);
    let Verdict::NotLinearizable(failure) = check(&BIG, &history, DEFAULT_LIMIT) else {
        panic!("passed");
    };
    let text = render(&BIG, &history, &failure, false);
    assert!(text.contains("put-if-absent(A, 1)"), "{text}");
    assert!(text.contains("0.500 ..        2.500"), "{text}");
    assert!(
        text.contains("get(A): answered 9, the model answers"),
        "{text}"
    );
}

#[test]
fn increments_count_create_and_refuse() {
    let ops = seq(
        0,
        0,
        &[
            (incr(A, 5), num(5)), // an absent key is created with the delta
            (incr(A, -7), num(-2)),
            (get(A), val(-2)),
            (put_word(A, 3), Done),
            (incr(A, 1), NotANumber), // changes nothing
            (get(A), Outcome::Value(Value::Word(3))),
            (put(A, i64::MAX - 1), Done),
            (incr(A, 1), num(i64::MAX)),
            (incr(A, 1), Overflow), // changes nothing
            (incr(A, i64::MIN), num(-1)),
        ],
    );
    assert!(linearizable(BIG, ops.clone()));
    // The refused increments changed nothing: a get after them that sees
    // their delta added is rejected.
    let mut wrong = ops[..5].to_vec();
    wrong.push(op(0, 100, 105, get(A), val(4)));
    assert!(!linearizable(BIG, wrong));
}

#[test]
fn concurrent_increments_never_lose_an_update() {
    let race = |a, b| {
        vec![
            op(0, 0, 5, put(A, 10), Done),
            op(0, 10, 30, incr(A, 1), a),
            op(1, 10, 30, incr(A, 1), b),
            op(0, 40, 45, get(A), val(12)),
        ]
    };
    assert!(linearizable(BIG, race(num(11), num(12))));
    assert!(linearizable(BIG, race(num(12), num(11))));
    // Both read 10 and wrote 11: a lost update, whatever the final get.
    assert!(!linearizable(BIG, race(num(11), num(11))));
}

#[test]
fn an_increment_inserts_and_replaces_as_a_put_does() {
    // Without eviction an absent key in a full store is refused; a present
    // one needs no room.
    let ops = seq(
        0,
        0,
        &[
            (put(A, 1), Done),
            (put(B, 2), Done),
            (incr(C, 1), Full),
            (incr(A, 1), num(2)),
            (get(C), NotFound),
        ],
    );
    assert!(linearizable(model(Policy::NoEviction, 2), ops));
    // Under exact LRU an increment that replaces is a use, and one that
    // inserts evicts the least recently used.
    let lru = model(Policy::Lru, 2);
    let ops = seq(
        0,
        0,
        &[
            (put(A, 1), Done),
            (put(B, 2), Done),
            (incr(A, 1), num(2)), // A the newest
            (incr(C, 7), num(7)), // B goes
            (get(B), NotFound),
            (get(A), val(2)),
            (get(C), val(7)),
        ],
    );
    assert!(linearizable(lru, ops.clone()));
    // A refused increment is no use: A stays the oldest and goes.
    let ops = seq(
        0,
        0,
        &[
            (put_word(A, 1), Done),
            (put(B, 2), Done),
            (incr(A, 1), NotANumber),
            (incr(C, 7), num(7)),
            (get(A), NotFound),
            (get(B), val(2)),
        ],
    );
    assert!(linearizable(lru, ops));
    // Under SIEVE an increment that replaces sets the visited bit.
    let sieve = model(Policy::Sieve, 2);
    let ops = seq(
        0,
        0,
        &[
            (put(A, 1), Done),
            (put(B, 2), Done),
            (incr(A, 1), num(2)), // A visited
            (incr(C, 7), num(7)), // A's bit cleared, B goes
            (get(B), NotFound),
            (get(A), val(2)),
        ],
    );
    assert!(linearizable(sieve, ops));
}

#[test]
fn get_ver_answers_one_version_while_the_item_is_unchanged() {
    let ops = |second: Outcome| {
        seq(
            0,
            0,
            &[
                (put(A, 1), Done),
                (get_ver(A), ver(1, 7)),
                (get(A), val(1)),
                (get_ver(A), second),
            ],
        )
    };
    assert!(linearizable(BIG, ops(ver(1, 7))));
    // The item did not change, so neither may its version.
    assert!(!linearizable(BIG, ops(ver(1, 8))));
}

#[test]
fn every_write_gives_a_version_not_answered_before() {
    let after_write = |write: Call, outcome: Outcome, value: i64, version: u64| {
        seq(
            0,
            0,
            &[
                (put(A, 1), Done),
                (get_ver(A), ver(1, 7)),
                (write, outcome),
                (get_ver(A), ver(value, version)),
            ],
        )
    };
    for (write, outcome, value) in [
        (put(A, 1), Done, 1), // the same value, still a write
        (put(A, 2), Done, 2),
        (incr(A, 0), num(1), 1),
        (incr(A, 4), num(5), 5),
        (put_ver(A, 2, 7), Done, 2),
    ] {
        assert!(
            linearizable(BIG, after_write(write, outcome, value, 9)),
            "{write}"
        );
        assert!(
            !linearizable(BIG, after_write(write, outcome, value, 7)),
            "{write} kept the version"
        );
    }
    // A deleted and re-inserted key gets a version never answered.
    let ops = |version| {
        seq(
            0,
            0,
            &[
                (put(A, 1), Done),
                (get_ver(A), ver(1, 7)),
                (del(A), Done),
                (put(A, 1), Done),
                (get_ver(A), ver(1, version)),
            ],
        )
    };
    assert!(linearizable(BIG, ops(8)));
    assert!(!linearizable(BIG, ops(7)));
    // Versions are not per key: another key's version is never handed
    // out again either.
    let ops = |version| {
        seq(
            0,
            0,
            &[
                (put(A, 1), Done),
                (put(B, 1), Done),
                (get_ver(A), ver(1, 7)),
                (get_ver(B), ver(1, version)),
            ],
        )
    };
    assert!(linearizable(BIG, ops(3)));
    assert!(!linearizable(BIG, ops(7)));
    // The store never hands out 0.
    let ops = seq(0, 0, &[(put(A, 1), Done), (get_ver(A), ver(1, 0))]);
    assert!(!linearizable(BIG, ops));
}

#[test]
fn put_ver_succeeds_only_on_the_current_version() {
    let ops = seq(
        0,
        0,
        &[
            (put_ver(A, 1, 5), NotFound),
            (put(A, 1), Done),
            (get_ver(A), ver(1, 5)),
            (put_ver(A, 2, 5), Done),
            (put_ver(A, 3, 5), Exists), // the put-ver changed the version
            (get_ver(A), ver(2, 6)),
            (put(A, 4), Done),
            (put_ver(A, 5, 6), Exists), // the put changed it
            (get(A), val(4)),
            (put_ver(A, 5, 0), Exists), // no item has version 0
        ],
    );
    assert!(linearizable(BIG, ops.clone()));
    // Refusing the current version, or taking a changed one, is wrong.
    for (at, wrong) in [(3, Exists), (4, Done), (7, Done)] {
        let mut bad = ops.clone();
        bad[at].1.outcome = Some(wrong);
        assert!(!linearizable(BIG, bad), "op {at} answering {wrong}");
    }
    // A refused put-ver changes nothing.
    let mut bad = ops[..5].to_vec();
    bad.push(op(0, 100, 105, get(A), val(3)));
    assert!(!linearizable(BIG, bad));
}

#[test]
fn racing_compare_and_swaps_let_one_win() {
    // Both threads read version 5, then both put with it: exactly one may
    // succeed, and the survivor is the winner's value.
    let race = |a, b, last| {
        let mut ops = seq(0, 0, &[(put(A, 1), Done), (get_ver(A), ver(1, 5))]);
        ops.push(op(1, 12, 18, get_ver(A), ver(1, 5)));
        ops.push(op(0, 30, 50, put_ver(A, 2, 5), a));
        ops.push(op(1, 30, 50, put_ver(A, 3, 5), b));
        ops.push(op(0, 60, 65, get(A), val(last)));
        ops
    };
    assert!(linearizable(BIG, race(Done, Exists, 2)));
    assert!(linearizable(BIG, race(Exists, Done, 3)));
    assert!(!linearizable(BIG, race(Done, Done, 3)));
    assert!(!linearizable(BIG, race(Exists, Exists, 1)));
    assert!(!linearizable(BIG, race(Done, Exists, 3)));
}

#[test]
fn a_put_ver_concurrent_with_a_put_may_go_either_way() {
    let history = |cas, last| {
        vec![
            op(0, 0, 5, put(A, 1), Done),
            op(0, 10, 15, get_ver(A), ver(1, 5)),
            op(0, 20, 50, put_ver(A, 2, 5), cas),
            op(1, 25, 45, put(A, 3), Done),
            op(0, 60, 65, get(A), val(last)),
        ]
    };
    // Put-ver first, then the put; or the put first and the put-ver
    // refused.
    assert!(linearizable(BIG, history(Done, 3)));
    assert!(linearizable(BIG, history(Exists, 3)));
    // The put-ver last and succeeding: the put changed the version first.
    assert!(!linearizable(BIG, history(Done, 2)));
}

#[test]
fn a_get_ver_racing_a_write_sees_the_old_or_a_fresh_version() {
    let history = |seen| {
        let mut ops = seq(0, 0, &[(put(A, 1), Done), (get_ver(A), ver(1, 5))]);
        ops.push(op(0, 20, 60, put(A, 2), Done));
        ops.push(op(1, 25, 30, get_ver(A), seen));
        ops.push(op(1, 70, 75, get_ver(A), ver(2, 9)));
        ops
    };
    assert!(linearizable(BIG, history(ver(1, 5))));
    assert!(linearizable(BIG, history(ver(2, 9))));
    // The value written with the version it replaced.
    assert!(!linearizable(BIG, history(ver(2, 5))));
    // The old value with a version it never had.
    assert!(!linearizable(BIG, history(ver(1, 6))));
}

#[test]
fn a_pending_get_ver_names_no_version() {
    let mut ops = vec![op(0, 0, 5, put(A, 1), Done)];
    ops.push((
        1,
        Op {
            call: get_ver(A),
            outcome: None,
            invoke: 10,
            response: None,
            batch: None,
        },
    ));
    ops.push(op(0, 20, 25, get_ver(A), ver(1, 4)));
    assert!(linearizable(BIG, ops));
}

#[test]
fn batches_carry_cache_ops_in_order() {
    let ops = batch(
        0,
        0,
        10,
        &[
            (incr(A, 2), num(2)),
            (get_ver(A), ver(2, 3)),
            (put_ver(A, 5, 3), Done),
            (get_ver(A), ver(5, 4)),
        ],
    );
    assert!(linearizable(BIG, ops));
    // A concurrent write may come between the get-ver and the put-ver.
    let mut ops = batch(
        0,
        0,
        10,
        &[(get_ver(A), ver(1, 3)), (put_ver(A, 5, 3), Exists)],
    );
    ops.insert(0, op(1, 0, 1, put(A, 1), Done));
    ops.push(op(1, 2, 8, incr(A, 1), num(2)));
    assert!(linearizable(BIG, ops.clone()));
    // Without it, the put-ver must succeed.
    ops.pop();
    assert!(!linearizable(BIG, ops));
}

/// The model alone: an item's version stays unnamed until a get-ver names
/// it with a number no earlier get-ver answered.
#[test]
fn the_model_names_a_version_at_its_first_get_ver() {
    let m = BIG;
    let (state, answer) = m.step(&State::default(), &put(A, 1));
    assert_eq!(answer, Done);
    let (_, expected) = m.step(&state, &get_ver(A));
    assert_eq!(
        expected,
        Outcome::Versioned(Value::Number(1), Version::UNSEEN)
    );
    let nothing_seen = |_| false;
    let named = m
        .apply(&state, &get_ver(A), Some(ver(1, 7)), nothing_seen)
        .unwrap();
    assert_eq!(named.to_string(), "[A=1@v7]");
    // Answered before: no.
    assert_eq!(
        m.apply(&state, &get_ver(A), Some(ver(1, 7)), |v| v == Version(7)),
        Err(Outcome::Versioned(Value::Number(1), Version::UNSEEN))
    );
    // A pending get-ver leaves the version unnamed.
    let pending = m.apply(&state, &get_ver(A), None, nothing_seen).unwrap();
    assert_eq!(pending.to_string(), "[A=1]");
    // Once named, only that number answers, and a put-ver with it
    // succeeds, leaving the version unnamed again.
    assert_eq!(
        m.apply(&named, &get_ver(A), Some(ver(1, 8)), nothing_seen),
        Err(ver(1, 7))
    );
    let (after, answer) = m.step(&named, &put_ver(A, 2, 7));
    assert_eq!((after.to_string(), answer), ("[A=2]".to_string(), Done));
    assert_eq!(m.step(&state, &put_ver(A, 2, 7)).1, Exists);
}

#[test]
fn display_of_cache_ops() {
    let ops = vec![
        op(0, 0, 10, put(A, 1), Done),
        op(0, 20, 30, get_ver(A), ver(1, 7)),
        op(0, 40, 50, incr(A, -3), num(-2)),
        op(0, 60, 70, put_ver(A, 4, 7), Done),
    ];
    let history = History::from_ops(ops);
    let Verdict::NotLinearizable(failure) = check(&BIG, &history, DEFAULT_LIMIT) else {
        panic!("passed");
    };
    let text = render(&BIG, &history, &failure, false);
    assert!(text.contains("leaving [A=-2]"), "{text}");
    assert!(text.contains("put-ver(A, 4, v7)        -> ok"), "{text}");
    let full = render(&BIG, &history, &failure, true);
    assert!(full.contains("get-ver(A)               -> 1 v7"), "{full}");
    assert!(full.contains("incr(A, -3)              -> -2"), "{full}");
    assert!(
        text.contains("put-ver(A, 4, v7): answered ok, the model answers EEXIST"),
        "{text}"
    );
    assert_eq!(failure.state.to_string(), "[A=-2]");
}
