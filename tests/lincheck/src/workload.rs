//! Recording a history: threads run seeded random ops on a few keys
//! against a [`Target`] (the device in the guest, the host store in tests)
//! and note each op's invocation and response on one monotonic clock.

use std::sync::Barrier;
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

    /// Runs the workload once against `target`, every thread starting
    /// together; thread `t`'s ops come from `seed` and `t`. Times are
    /// nanoseconds since just before the threads started.
    pub fn record<T: Target>(&self, target: &T, seed: u64) -> Result<History, T::Error> {
        let origin = Instant::now();
        let now = || u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let barrier = Barrier::new(self.threads);
        let run = |thread: usize| -> Result<Vec<Op>, T::Error> {
            let mut rng = Rng::new(seed ^ (thread as u64).wrapping_mul(0xA076_1D64_78BD_642F));
            let mut values = Values {
                base: (thread as u32).wrapping_mul(VALUES_PER_THREAD),
                n: 0,
            };
            let mut ops = Vec::with_capacity(self.ops_per_thread);
            barrier.wait();
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
                        for (index, (call, outcome)) in calls.into_iter().zip(outcomes).enumerate()
                        {
                            ops.push(Op {
                                batch: Some(BatchPos { index, len }),
                                ..Op::done(call, outcome, invoke, response)
                            });
                        }
                    }
                }
            }
            Ok(ops)
        };
        let results: Vec<Result<Vec<Op>, T::Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..self.threads)
                .map(|thread| scope.spawn(move || run(thread)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        let threads = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(History { threads })
    }
}
