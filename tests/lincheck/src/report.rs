//! A failed check, printed for a person: the history as a table, the
//! longest linearization found and the ops that cannot follow it.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use crate::check::Failure;
use crate::history::{History, OpId, Outcome};
use crate::model::{Model, State};

/// Nanoseconds as microseconds with three decimals.
fn micros(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// The longest run of ops at the start of `ids` (ordered by invocation)
/// that ran one at a time, each answered as the model answers, and all
/// answered before any later op was invoked: they have one order only, so
/// they can be shown as the state they lead to. Its length and that state.
fn sequential_prefix(model: &Model, history: &History, ids: &[OpId]) -> (usize, State) {
    let mut state = State::default();
    let mut best = (0, state.clone());
    // The versions the get-vers so far answered.
    let mut answered = HashSet::new();
    for (n, id) in ids.iter().enumerate() {
        let Some(op) = history.op(*id) else { break };
        if op.outcome.is_none() {
            break;
        }
        let seen = |version| answered.contains(&version);
        let Ok(next) = model.apply(&state, &op.call, op.outcome, seen) else {
            break;
        };
        if let Some(Outcome::Versioned(_, version)) = op.outcome {
            answered.insert(version);
        }
        state = next;
        let Some(&later) = ids.get(n + 1) else { break };
        let Some(later_op) = history.op(later) else {
            break;
        };
        let response = op.response_or_never();
        if response < later_op.invoke {
            best = (n + 1, state.clone());
        } else {
            // Only the next op of the same thread (the next op of a batch)
            // may overlap and still come after.
            let next_of_thread = later.thread == id.thread && later.index == id.index + 1;
            if !next_of_thread {
                break;
            }
        }
    }
    best
}

/// The history, one op a line by invocation time, numbered `#0`, `#1`, ...,
/// then the failure in those numbers. Unless `full`, a first stretch of ops
/// that ran one at a time is shown as the state it leaves. Times are
/// microseconds from the first invocation.
pub fn render(model: &Model, history: &History, failure: &Failure, full: bool) -> String {
    let ids = history.by_invocation();
    let number: HashMap<OpId, usize> = ids.iter().enumerate().map(|(n, id)| (*id, n)).collect();
    let name = |id: &OpId| {
        number
            .get(id)
            .map_or_else(|| "#?".into(), |n| format!("#{n}"))
    };
    let (skipped, state) = if full {
        (0, State::default())
    } else {
        sequential_prefix(model, history, &ids)
    };
    let base = ids
        .first()
        .and_then(|id| history.op(*id))
        .map_or(0, |op| op.invoke);
    let micros = |ns: u64| micros(ns.saturating_sub(base));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "history ({} ops, by invocation; microseconds from the first; tN is thread N):",
        ids.len()
    );
    if skipped > 0 {
        let _ = writeln!(
            out,
            "  #0..#{}: {skipped} ops one at a time, leaving {state}",
            skipped - 1
        );
    }
    for id in ids.iter().skip(skipped) {
        let Some(op) = history.op(*id) else { continue };
        let response = op.response.map_or_else(|| "...".into(), &micros);
        let outcome = op
            .outcome
            .map_or_else(|| "(pending)".into(), |o| o.to_string());
        let batch = op
            .batch
            .map(|b| format!("  [batch op {}/{}]", b.index + 1, b.len))
            .unwrap_or_default();
        let call = op.call.to_string();
        let _ = writeln!(
            out,
            "  {:>5} t{:<2} {:>12} .. {:>12}  {call:<24} -> {outcome}{batch}",
            name(id),
            id.thread,
            micros(op.invoke),
            response,
        );
    }
    // The skipped ops precede every other, so they open any order.
    let order: Vec<String> = failure.order.iter().skip(skipped).map(name).collect();
    let opening = match skipped {
        0 => String::new(),
        n => format!("#0..#{}, then ", n - 1),
    };
    let _ = writeln!(
        out,
        "longest linearization found ({} of {} ops): {opening}{}",
        failure.order.len(),
        ids.len(),
        order.join(" ")
    );
    let _ = writeln!(
        out,
        "model state after it (oldest first, * visited): {}",
        failure.state
    );
    let _ = writeln!(out, "no op can come next:");
    for (id, expected) in &failure.stuck {
        let Some(op) = history.op(*id) else { continue };
        let answered = op
            .outcome
            .map_or_else(|| "(pending)".into(), |o| o.to_string());
        let _ = writeln!(
            out,
            "  {} t{} {}: answered {answered}, the model answers {expected}",
            name(id),
            id.thread,
            op.call
        );
    }
    out
}
