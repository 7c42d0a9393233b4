//! Linearizability as a tested property of kv.ko.
//!
//! Threads run random ops on a few keys of a small store and record a
//! [`History`] (what each op asked, answered, and when it started and
//! ended); [`check`] then looks for a sequential order of those ops that
//! respects real time and that a [`Model`] of kvstore, which runs one op at
//! a time, answers exactly as the store did. If there is none, some op was
//! not atomic. The `kv-lincheck` binary does this in the QEMU guest
//! against `/dev/kvstore`; the tests do it against the host build of the
//! store and against histories written by hand.

pub mod check;
pub mod history;
pub mod model;
pub mod report;
pub mod workload;

pub use check::{check, shortest_failing_cut, Failure, Verdict, DEFAULT_LIMIT};
pub use history::{BatchPos, Call, History, Key, Op, OpId, Outcome, Value, Version, When};
pub use model::{Model, Policy, State};
pub use report::render;
pub use workload::{Target, Workload};
