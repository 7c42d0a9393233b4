//! A failed check, printed for a person: the history as a table, the
//! longest linearization found and the ops that cannot follow it.

use std::collections::HashMap;
use std::fmt::Write;

use crate::check::Failure;
use crate::history::{History, OpId};

/// Nanoseconds as microseconds with three decimals.
fn micros(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

/// The history, one op a line by invocation time, numbered `#0`, `#1`, ...,
/// then the failure in those numbers.
pub fn render(history: &History, failure: &Failure) -> String {
    let ids = history.by_invocation();
    let number: HashMap<OpId, usize> = ids.iter().enumerate().map(|(n, id)| (*id, n)).collect();
    let name = |id: &OpId| {
        number
            .get(id)
            .map_or_else(|| "#?".into(), |n| format!("#{n}"))
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "history ({} ops, by invocation; times in microseconds; tN is thread N):",
        ids.len()
    );
    for id in &ids {
        let Some(op) = history.op(*id) else { continue };
        let response = op.response.map_or_else(|| "...".into(), micros);
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
    let order: Vec<String> = failure.order.iter().map(name).collect();
    let _ = writeln!(
        out,
        "longest linearization found ({} of {} ops): {}",
        order.len(),
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
