//! The linearizability checker: Wing & Gong's search for a sequential order
//! of a history's ops that respects real time and that the model answers
//! exactly as the store did, with Lowe's cache of configurations already
//! explored (the algorithm Porcupine implements).
//!
//! A configuration is the set of ops linearized so far and the model state
//! they lead to. The search is depth first: from a configuration it tries,
//! one at a time, each op that may come next, which is an op not yet
//! linearized that no other such op must precede, whose model answer
//! matches the history's; it backtracks when none is left. Op `a` must
//! precede op `b` when `a` answered before `b` was invoked, or when both are
//! of one thread and `a` came first (a batch's ops share an interval but
//! ran in order). So each thread's ops are linearized in its own order, the
//! linearized set is a prefix of each thread, and a vector of per-thread
//! prefix lengths is that set (the bitset of Lowe's cache, compressed).
//! Reaching a configuration a second time, by another order, cannot lead
//! anywhere the first visit did not, so it is skipped: this is what makes
//! histories of hundreds of ops quick.
//!
//! A pending op (no answer) may be linearized, with any outcome, at any
//! point after its invocation, or never: the search succeeds once every
//! answered op is linearized.
//!
//! Versions answered by get-vers are not in the configuration beyond the
//! model's state: which versions the linearized get-vers answered follows
//! from the per-thread prefixes ([`VersionsAnswered`]), so the cache stays
//! as small as without them.

use std::collections::{HashMap, HashSet};

use crate::history::{Call, History, Op, OpId, Outcome, Version};
use crate::model::{Model, State};

/// How many configurations one check may explore before giving up.
pub const DEFAULT_LIMIT: usize = 2_000_000;

/// The answer of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Box<Failure>),
    /// The search explored its limit of configurations without an answer.
    GaveUp {
        explored: usize,
    },
}

/// Where the search got stuck: the longest linearization it found, and why
/// no op can follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The longest order found, each op agreeing with the model.
    pub order: Vec<OpId>,
    /// The model's state after `order`.
    pub state: State,
    /// The ops that real time allows next, each with the model's answer in
    /// `state` (none of which is the answer the history has).
    pub stuck: Vec<(OpId, Outcome)>,
}

/// A configuration: how many ops of each thread are linearized, and the
/// model's state after them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Config {
    done: Vec<usize>,
    state: State,
}

struct Frame {
    config: Config,
    /// This configuration's entry in the trail (`None` at the start).
    step: Option<usize>,
    /// The next thread whose op to try from here.
    next: usize,
}

/// One step of the search: the op linearized and the step before it.
struct Step {
    op: OpId,
    before: Option<usize>,
}

/// For each version some get-ver of the history answered, the index in
/// each thread of that thread's first get-ver answering it: whether a
/// linearized prefix holds a get-ver that answered a version is then a
/// comparison per thread.
struct VersionsAnswered(HashMap<Version, Vec<usize>>);

impl VersionsAnswered {
    fn new(history: &History) -> VersionsAnswered {
        let threads = history.threads.len();
        let mut first: HashMap<Version, Vec<usize>> = HashMap::new();
        for (thread, ops) in history.threads.iter().enumerate() {
            for (index, op) in ops.iter().enumerate() {
                if let (Call::GetVer(_), Some(Outcome::Versioned(_, version))) =
                    (op.call, op.outcome)
                {
                    let at = first
                        .entry(version)
                        .or_insert_with(|| vec![usize::MAX; threads]);
                    if let Some(slot) = at.get_mut(thread) {
                        *slot = (*slot).min(index);
                    }
                }
            }
        }
        VersionsAnswered(first)
    }

    /// Whether a get-ver among each thread's first `done` ops answered
    /// `version`.
    fn seen(&self, done: &[usize], version: Version) -> bool {
        self.0
            .get(&version)
            .is_some_and(|first| first.iter().zip(done).any(|(f, d)| f < d))
    }
}

/// Whether `history` is linearizable with respect to `model`, starting from
/// an empty store, exploring at most `limit` configurations.
pub fn check(model: &Model, history: &History, limit: usize) -> Verdict {
    let threads = &history.threads;
    let versions = VersionsAnswered::new(history);
    // Pending ops are each thread's last; the answered ones must all go in.
    let answered: Vec<usize> = threads
        .iter()
        .map(|ops| ops.iter().take_while(|op| op.outcome.is_some()).count())
        .collect();
    let start = Config {
        done: vec![0; threads.len()],
        state: State::default(),
    };
    let mut seen = HashSet::from([start.clone()]);
    let mut stack = vec![Frame {
        config: start.clone(),
        step: None,
        next: 0,
    }];
    // Every step taken, so that the deepest configuration's order can be
    // read back at the end.
    let mut trail: Vec<Step> = Vec::new();
    let mut deepest: (usize, Option<usize>, Config) = (0, None, start);

    while let Some(top) = stack.last_mut() {
        if top.config.done.iter().zip(&answered).all(|(d, a)| d >= a) {
            return Verdict::Linearizable;
        }
        let horizon = horizon(history, &top.config.done);
        let mut child = None;
        while child.is_none() && top.next < threads.len() {
            let thread = top.next;
            top.next += 1;
            let Some(op) = successor(history, &top.config, thread, horizon) else {
                continue;
            };
            let answered_before = |version| versions.seen(&top.config.done, version);
            let Ok(state) = model.apply(&top.config.state, &op.call, op.outcome, answered_before)
            else {
                continue;
            };
            let mut done = top.config.done.clone();
            if let Some(d) = done.get_mut(thread) {
                *d += 1;
            }
            let config = Config { done, state };
            if seen.insert(config.clone()) {
                trail.push(Step {
                    op: OpId {
                        thread,
                        index: *top.config.done.get(thread).unwrap_or(&0),
                    },
                    before: top.step,
                });
                child = Some(Frame {
                    config,
                    step: Some(trail.len() - 1),
                    next: 0,
                });
            }
        }
        match child {
            Some(frame) => {
                if stack.len() > deepest.0 {
                    deepest = (stack.len(), frame.step, frame.config.clone());
                }
                stack.push(frame);
                if seen.len() > limit {
                    return Verdict::GaveUp {
                        explored: seen.len(),
                    };
                }
            }
            None => {
                stack.pop();
            }
        }
    }

    let (_, step, config) = deepest;
    let mut order = Vec::new();
    let mut at = step;
    while let Some(s) = at.and_then(|i| trail.get(i)) {
        order.push(s.op);
        at = s.before;
    }
    order.reverse();
    let horizon = horizon(history, &config.done);
    let stuck = (0..threads.len())
        .filter_map(|thread| {
            let op = successor(history, &config, thread, horizon)?;
            let (_, outcome) = model.step(&config.state, &op.call);
            let index = *config.done.get(thread)?;
            Some((OpId { thread, index }, outcome))
        })
        .collect();
    Verdict::NotLinearizable(Box::new(Failure {
        order,
        state: config.state,
        stuck,
    }))
}

/// The earliest response among the ops not yet linearized: an op invoked
/// after it must wait for that op. Each thread's first such op answers
/// first in that thread.
fn horizon(history: &History, done: &[usize]) -> u64 {
    history
        .threads
        .iter()
        .zip(done)
        .filter_map(|(ops, &d)| ops.get(d))
        .map(Op::response_or_never)
        .min()
        .unwrap_or(u64::MAX)
}

/// Thread `thread`'s next op if real time lets it come next.
fn successor<'h>(
    history: &'h History,
    config: &Config,
    thread: usize,
    horizon: u64,
) -> Option<&'h Op> {
    let index = *config.done.get(thread)?;
    let op = history.threads.get(thread)?.get(index)?;
    // An op that answered before this one was invoked precedes it; ties
    // are concurrent.
    if op.invoke > horizon {
        return None;
    }
    Some(op)
}

/// The shortest cut of a history that [`check`] finds not linearizable
/// ([`History::cut`] at the response of one op), with its failure. `None`
/// when the whole history is linearizable or the checks gave up. Since
/// linearizability is closed under cuts, a binary search finds it.
pub fn shortest_failing_cut(
    model: &Model,
    history: &History,
    limit: usize,
) -> Option<(History, Box<Failure>)> {
    let mut times: Vec<u64> = history
        .threads
        .iter()
        .flatten()
        .filter_map(|op| op.response)
        .collect();
    times.sort_unstable();
    times.dedup();
    let fails = |t: u64| match check(model, &history.cut(t), limit) {
        Verdict::NotLinearizable(failure) => Some(failure),
        _ => None,
    };
    // The first time whose cut fails.
    let first = times.partition_point(|&t| fails(t).is_none());
    let t = *times.get(first)?;
    let cut = history.cut(t);
    let failure = fails(t)?;
    Some((cut, failure))
}
