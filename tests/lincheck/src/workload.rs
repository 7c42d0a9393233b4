//! Recording a history: threads run seeded random ops on a few keys
//! against a [`Target`] (the device in the guest, the host store in tests)
//! and note each op's invocation and response on one monotonic clock.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, PoisonError};
use std::time::Instant;

use kv_test_support::Rng;

use crate::history::{BatchPos, Call, History, Key, Op, Outcome, Value, Version, When};

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
const VALUES_PER_THREAD: i64 = 1000;

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

/// What one thread draws its calls from: its random numbers, its value
/// counter and the versions its get-vers answered.
struct Thread {
    rng: Rng,
    /// The thread's values are `base + n`, `n` cycling through
    /// `1..VALUES_PER_THREAD`.
    base: i64,
    n: i64,
    /// Per key, the version the thread's last get-ver of it answered
    /// ([`Version::UNSEEN`] before any).
    versions: Vec<Version>,
    /// A version the thread saw replaced by another: a put-ver with it
    /// should fail, unless the store reuses versions.
    stale: Version,
    /// A key whose get-ver just answered: the next call is, at times, a
    /// put-ver of it with that version, as a compare-and-swap loop does.
    follow: Option<Key>,
}

impl Thread {
    fn value(&mut self) -> Value {
        self.n = self.n % (VALUES_PER_THREAD - 1) + 1;
        let n = self.base.wrapping_add(self.n);
        // A few words, so that some increments answer EINVAL.
        if self.rng.below(16) == 0 {
            Value::Word(n as u32)
        } else {
            Value::Number(n)
        }
    }

    /// Mostly small, at times an extreme that takes a value of the
    /// workload out of `i64` (EOVERFLOW) or makes one that the next
    /// increments take out.
    fn delta(&mut self) -> i64 {
        match self.rng.below(20) {
            0 => i64::MAX,
            1 => i64::MIN,
            n => (n % 7) as i64 - 3,
        }
    }

    fn version(&self, key: Key) -> Version {
        self.versions
            .get(usize::from(key.0))
            .copied()
            .unwrap_or(Version::UNSEEN)
    }

    /// Notes the version a get-ver answered.
    fn answered(&mut self, call: Call, outcome: Outcome) {
        let (Call::GetVer(key), Outcome::Versioned(_, version)) = (call, outcome) else {
            return;
        };
        if let Some(known) = self.versions.get_mut(usize::from(key.0)) {
            if *known != version && *known != Version::UNSEEN {
                self.stale = *known;
            }
            *known = version;
        }
    }
}

impl Workload {
    fn key(&self, rng: &mut Rng) -> Key {
        Key(rng.below(u64::from(self.keys.clamp(1, Key::MAX))) as u8)
    }

    fn call(&self, t: &mut Thread) -> Call {
        if let Some(key) = t.follow.take() {
            if t.rng.below(2) == 0 {
                return Call::PutVer(key, t.value(), t.version(key));
            }
        }
        let key = self.key(&mut t.rng);
        match t.rng.below(100) {
            0..=33 => Call::Get(key),
            34..=43 => Call::GetVer(key),
            44..=67 => Call::Put(key, t.value(), When::Always),
            68..=73 => Call::Put(key, t.value(), When::IfAbsent),
            74..=79 => Call::Put(key, t.value(), When::IfPresent),
            // Mostly the version last seen, at times a stale one.
            80..=84 => Call::PutVer(key, t.value(), t.version(key)),
            85..=86 => Call::PutVer(key, t.value(), t.stale),
            87..=93 => Call::Incr(key, t.delta()),
            _ => Call::Del(key),
        }
    }

    fn step(&self, t: &mut Thread, left: usize) -> Step {
        if t.rng.below(10) == 0 {
            let len = (2 + t.rng.below(BATCH_MAX - 1)) as usize;
            Step::Batch((0..len.min(left)).map(|_| self.call(t)).collect())
        } else {
            Step::One(self.call(t))
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
        let mut t = Thread {
            rng: Rng::new(seed ^ (thread as u64).wrapping_mul(0xA076_1D64_78BD_642F)),
            base: (thread as i64).wrapping_mul(VALUES_PER_THREAD),
            n: 0,
            versions: vec![Version::UNSEEN; usize::from(self.keys.clamp(1, Key::MAX))],
            stale: Version::UNSEEN,
            follow: None,
        };
        let mut ops = Vec::with_capacity(self.ops_per_thread);
        while ops.len() < self.ops_per_thread {
            let left = self.ops_per_thread - ops.len();
            match self.step(&mut t, left) {
                Step::One(call) => {
                    let invoke = now();
                    let outcome = target.run(call)?;
                    ops.push(Op::done(call, outcome, invoke, now()));
                    t.answered(call, outcome);
                    if let (Call::GetVer(key), Outcome::Versioned(..)) = (call, outcome) {
                        t.follow = Some(key);
                    }
                }
                Step::Batch(calls) => {
                    let invoke = now();
                    let outcomes = target.batch(&calls)?;
                    let response = now();
                    let len = calls.len();
                    for (index, (call, outcome)) in calls.into_iter().zip(outcomes).enumerate() {
                        t.answered(call, outcome);
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
