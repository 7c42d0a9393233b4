//! Recording a history: threads run seeded random ops on a few keys
//! against a [`Target`] (the device in the guest, the host store in tests)
//! and note each op's invocation and response on one monotonic clock.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, PoisonError};
use std::time::Instant;

use crate::history::{BatchPos, Call, History, Key, Op, Outcome, Value, When};

/// A store to run calls against, from several threads at once.
pub trait Target: Sync {
    /// A failure that is no outcome of the model (a broken device, an
    /// unreadable value): it ends the recording.
    type Error: Send;

    fn run(&self, call: Call) -> Result<Outcome, Self::Error>;

    /// `calls` as one batch, each answered in order.
    fn batch(&self, calls: &[Call]) -> Result<Vec<Outcome>, Self::Error>;

    /// Empties the store (between rounds: nothing else runs meanwhile).
    fn clear(&self) -> Result<(), Self::Error>;
}

/// SplitMix64: small, fast and good enough to pick ops; the same seed gives
/// the same ops.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }
}

/// What each thread of a recording does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    pub threads: usize,
    /// Ops each thread runs (a batch counts its ops).
    pub ops_per_thread: usize,
    /// Keys `A`.. drawn from (at most [`Key::MAX`]).
    pub keys: u8,
}

/// Most ops in one batch of the workload.
const BATCH_MAX: u64 = 4;

/// Values put by one thread: `thread * VALUES_PER_THREAD + n`, so a value
/// tells which thread put it.
const VALUES_PER_THREAD: u32 = 1000;

/// Where a worker leaves its ops of a round, or its error.
type Slot<E> = Mutex<Option<Result<Vec<Op>, E>>>;

/// Tells the workers of [`Workload::record_rounds`] to end, when dropped.
struct Release<'a> {
    gate: &'a Barrier,
    stop: &'a AtomicBool,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.gate.wait();
    }
}

enum Step {
    One(Call),
    Batch(Vec<Call>),
}

/// One thread's value counter.
struct Values {
    base: u32,
    n: u32,
}

impl Values {
    fn next(&mut self) -> Value {
        self.n = self.n % (VALUES_PER_THREAD - 1) + 1;
        Value(self.base.wrapping_add(self.n))
    }
}

impl Workload {
    fn call(&self, rng: &mut Rng, values: &mut Values) -> Call {
        let key = Key(rng.below(u64::from(self.keys.clamp(1, Key::MAX))) as u8);
        match rng.below(100) {
            0..=44 => Call::Get(key),
            45..=76 => Call::Put(key, values.next(), When::Always),
            77..=83 => Call::Put(key, values.next(), When::IfAbsent),
            84..=90 => Call::Put(key, values.next(), When::IfPresent),
            _ => Call::Del(key),
        }
    }

    fn step(&self, rng: &mut Rng, values: &mut Values, left: usize) -> Step {
        if rng.below(10) == 0 {
            let len = (2 + rng.below(BATCH_MAX - 1)) as usize;
            Step::Batch((0..len.min(left)).map(|_| self.call(rng, values)).collect())
        } else {
            Step::One(self.call(rng, values))
        }
    }

    /// One thread's ops of one round, from `seed`.
    fn run_thread<T: Target>(
        &self,
        target: &T,
        thread: usize,
        seed: u64,
        now: impl Fn() -> u64,
    ) -> Result<Vec<Op>, T::Error> {
        let mut rng = Rng::new(seed ^ (thread as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        let mut values = Values {
            base: (thread as u32).wrapping_mul(VALUES_PER_THREAD),
            n: 0,
        };
        let mut ops = Vec::with_capacity(self.ops_per_thread);
        while ops.len() < self.ops_per_thread {
            let left = self.ops_per_thread - ops.len();
            match self.step(&mut rng, &mut values, left) {
                Step::One(call) => {
                    let invoke = now();
                    let outcome = target.run(call)?;
                    ops.push(Op::done(call, outcome, invoke, now()));
                }
                Step::Batch(calls) => {
                    let invoke = now();
                    let outcomes = target.batch(&calls)?;
                    let response = now();
                    let len = calls.len();
                    for (index, (call, outcome)) in calls.into_iter().zip(outcomes).enumerate() {
                        ops.push(Op {
                            batch: Some(BatchPos { index, len }),
                            ..Op::done(call, outcome, invoke, response)
                        });
                    }
                }
            }
        }
        Ok(ops)
    }

    /// Runs rounds against `target` until `after` breaks: each round clears
    /// the store, runs every thread's ops (thread `t`'s from `seed`, the
    /// round and `t`) and hands the history to `after` with the round's
    /// number. The threads live for all rounds and start each one
    /// together, spinning, since waking a sleeping thread can take longer
    /// than a whole round of ops. Times are nanoseconds since the first
    /// round started.
    pub fn record_rounds<T, F>(&self, target: &T, seed: u64, mut after: F) -> Result<(), T::Error>
    where
        T: Target,
        F: FnMut(u64, History) -> ControlFlow<()>,
    {
        let threads = self.threads.max(1);
        let origin = Instant::now();
        let now = || u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // The main thread and the workers meet here before and after each
        // round; `stop` tells the workers, after the first, to end.
        let gate = Barrier::new(threads + 1);
        let stop = AtomicBool::new(false);
        let round = AtomicU64::new(0);
        // Workers that have arrived at a round's start, over all rounds.
        let arrived = AtomicUsize::new(0);
        let results: Vec<Slot<T::Error>> = (0..threads).map(|_| Mutex::new(None)).collect();
        let take =
            |slot: &Slot<T::Error>| slot.lock().unwrap_or_else(PoisonError::into_inner).take();

        std::thread::scope(|scope| {
            for (thread, slot) in results.iter().enumerate() {
                let (gate, stop, round, arrived) = (&gate, &stop, &round, &arrived);
                scope.spawn(move || {
                    for n in 1usize.. {
                        gate.wait();
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        arrived.fetch_add(1, Ordering::AcqRel);
                        while arrived.load(Ordering::Acquire) < n.saturating_mul(threads) {
                            std::hint::spin_loop();
                            std::thread::yield_now();
                        }
                        let seed = Rng::new(seed ^ round.load(Ordering::Acquire)).next_u64();
                        let ops = self.run_thread(target, thread, seed, now);
                        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(ops);
                        gate.wait();
                    }
                });
            }
            // Ends the workers however the main thread leaves, a panic of
            // `after` included.
            let _release = Release {
                gate: &gate,
                stop: &stop,
            };
            let mut outcome = Ok(());
            for n in 0u64.. {
                if let Err(e) = target.clear() {
                    outcome = Err(e);
                    break;
                }
                round.store(n, Ordering::Release);
                gate.wait();
                gate.wait();
                let mut history = History::default();
                for slot in &results {
                    match take(slot) {
                        Some(Ok(ops)) => history.threads.push(ops),
                        Some(Err(e)) => outcome = Err(e),
                        None => {}
                    }
                }
                if outcome.is_err() || after(n, history).is_break() {
                    break;
                }
            }
            outcome
        })
    }

    /// One round against `target`, as [`Workload::record_rounds`] runs it.
    pub fn record<T: Target>(&self, target: &T, seed: u64) -> Result<History, T::Error> {
        let mut recorded = History::default();
        self.record_rounds(target, seed, |_, history| {
            recorded = history;
            ControlFlow::Break(())
        })?;
        Ok(recorded)
    }
}
