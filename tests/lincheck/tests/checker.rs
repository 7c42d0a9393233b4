//! The checker on histories written by hand, each known to be linearizable
//! or not.

use kv_lincheck::{
    check, render, shortest_failing_cut, BatchPos, Call, History, Key, Model, Op, OpId, Outcome,
    Policy, Value, Verdict, When, DEFAULT_LIMIT,
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
fn put(k: Key, v: u32) -> Call {
    Call::Put(k, Value(v), When::Always)
}
fn put_if_absent(k: Key, v: u32) -> Call {
    Call::Put(k, Value(v), When::IfAbsent)
}
fn put_if_present(k: Key, v: u32) -> Call {
    Call::Put(k, Value(v), When::IfPresent)
}
fn del(k: Key) -> Call {
    Call::Del(k)
}
fn val(v: u32) -> Outcome {
    Outcome::Value(Value(v))
}
use Outcome::{Exists, Full, NotFound, Ok as Done};

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
            let v = u32::from(thread) * 1000 + n;
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
