//! kv-lincheck: checks that kv.ko's operations are linearizable, in the
//! guest against `/dev/kvstore` through kvlib. It loads nothing itself: the
//! module's parameters (read with stat) say which policy and capacity to
//! model. Each round clears the store, records a history with several
//! threads and checks it; the first history that no sequential order
//! explains is printed, cut to its shortest failing prefix, and ends the run.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use kv_lincheck::{
    check, render, shortest_failing_cut, Call, Model, Outcome, Policy, Target, Value, Verdict,
    Version, When, Workload, DEFAULT_LIMIT,
};
use kvlib::{CacheOp, Op, Put, Store, KV_MAX_VAL};

#[derive(Parser, Debug)]
#[command(
    name = "kv-lincheck",
    about = "Records concurrent histories against /dev/kvstore and checks that they are linearizable",
    after_help = "Prints \"PASS: lincheck/<policy>/<rounds>-rounds\", or \"FAIL: ...\" with the \
                  shortest failing prefix of the first history that is not linearizable. Exit \
                  status: 0 pass, 1 a history failed, 2 the device failed."
)]
struct Args {
    /// Threads recording at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
    /// Ops in one round, shared among the threads.
    #[arg(long, default_value_t = 200)]
    ops: usize,
    /// Rounds: each clears the store, records one history and checks it.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// Stop after this many seconds, even with rounds left (0: no limit).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// Keys the ops draw from (A, B, ...): more than max_items, so that
    /// puts evict.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=26))]
    keys: u8,
    /// Seed of the ops (default: from the clock; printed, to run the same ops again).
    #[arg(long)]
    seed: Option<u64>,
    /// The device.
    #[arg(long, default_value = kvlib::DEFAULT_DEVICE)]
    device: PathBuf,
    /// On a failure, print every op of the history, also the opening ones
    /// that ran one at a time (shown as the state they leave otherwise).
    #[arg(long)]
    full_history: bool,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Kv(#[from] kvlib::Error),
    #[error("{call} answered bytes that no put wrote: {bytes:?}")]
    UnknownValue { call: Call, bytes: Vec<u8> },
    #[error("the module's policy use_lru={0} is not one this checker models")]
    UnknownPolicy(u32),
}

/// `/dev/kvstore` as a [`Target`].
struct Device(Store);

/// The outcome an error of kvlib stands for, if it is one the model has.
fn error_outcome(e: kvlib::Error) -> Result<Outcome, Error> {
    match e {
        kvlib::Error::NotFound => Ok(Outcome::NotFound),
        kvlib::Error::Exists => Ok(Outcome::Exists),
        kvlib::Error::StoreFull => Ok(Outcome::Full),
        kvlib::Error::NotANumber => Ok(Outcome::NotANumber),
        kvlib::Error::Overflow => Ok(Outcome::Overflow),
        e => Err(e.into()),
    }
}

fn value_outcome(call: Call, bytes: &[u8]) -> Result<Outcome, Error> {
    Value::parse(bytes)
        .map(Outcome::Value)
        .ok_or_else(|| Error::UnknownValue {
            call,
            bytes: bytes.to_vec(),
        })
}

fn versioned_outcome(call: Call, bytes: &[u8], version: u64) -> Result<Outcome, Error> {
    match value_outcome(call, bytes)? {
        Outcome::Value(value) => Ok(Outcome::Versioned(value, Version(version))),
        other => Ok(other),
    }
}

fn unit_outcome(result: kvlib::Result<()>) -> Result<Outcome, Error> {
    result.map_or_else(error_outcome, |()| Ok(Outcome::Ok))
}

fn put_when(when: When) -> Put {
    match when {
        When::Always => Put::Always,
        When::IfAbsent => Put::IfAbsent,
        When::IfPresent => Put::IfPresent,
    }
}

/// The `kv_op` of a call, if `KV_IOC_BATCH` can carry it.
fn plain_op(call: &Call) -> Option<kvlib::Result<Op>> {
    match *call {
        Call::Get(key) => Some(Op::get(&key.bytes())),
        Call::Put(key, value, when) => Some(Op::put(&key.bytes(), &value.bytes(), put_when(when))),
        Call::Del(key) => Some(Op::del(&key.bytes())),
        Call::GetVer(_) | Call::PutVer(..) | Call::Incr(..) => None,
    }
}

impl Target for Device {
    type Error = Error;

    fn run(&self, call: Call) -> Result<Outcome, Error> {
        match call {
            Call::Get(key) => {
                let mut buf = [0u8; KV_MAX_VAL];
                match self.0.get_into(&key.bytes(), &mut buf) {
                    Ok(len) => value_outcome(call, buf.get(..len).unwrap_or_default()),
                    Err(e) => error_outcome(e),
                }
            }
            // A plain put goes through KV_IOC_PUT, a conditional one through
            // KV_IOC_PUT_FLAGS.
            Call::Put(key, value, When::Always) => {
                unit_outcome(self.0.put(&key.bytes(), &value.bytes()))
            }
            Call::Put(key, value, when) => unit_outcome(self.0.put_with(
                &key.bytes(),
                &value.bytes(),
                put_when(when),
            )),
            Call::Del(key) => unit_outcome(self.0.del(&key.bytes())),
            // The cache ops go through KV_IOC_CACHE_OP.
            Call::GetVer(key) => match self.0.get_ver(&key.bytes()) {
                Ok((bytes, version)) => versioned_outcome(call, &bytes, version),
                Err(e) => error_outcome(e),
            },
            Call::PutVer(key, value, version) => {
                unit_outcome(self.0.put_ver(&key.bytes(), &value.bytes(), version.0))
            }
            Call::Incr(key, delta) => match self.0.incr(&key.bytes(), delta, None) {
                Ok(n) => Ok(Outcome::Number(n)),
                Err(e) => error_outcome(e),
            },
        }
    }

    /// A batch of gets, puts and dels goes through KV_IOC_BATCH, one that
    /// holds a cache op through KV_IOC_CACHE_BATCH.
    fn batch(&self, calls: &[Call]) -> Result<Vec<Outcome>, Error> {
        let Some(ops) = calls.iter().map(plain_op).collect::<Option<Vec<_>>>() else {
            return self.cache_batch(calls);
        };
        let mut ops = ops.into_iter().collect::<kvlib::Result<Vec<Op>>>()?;
        self.0.batch(&mut ops)?;
        calls
            .iter()
            .zip(&ops)
            .map(|(call, op)| match (call, op.result()) {
                (Call::Get(_), Ok(())) => value_outcome(*call, op.value().unwrap_or_default()),
                (_, result) => unit_outcome(result),
            })
            .collect()
    }

    fn clear(&self) -> Result<(), Error> {
        Ok(self.0.clear()?)
    }
}

impl Device {
    fn cache_batch(&self, calls: &[Call]) -> Result<Vec<Outcome>, Error> {
        let mut ops = calls
            .iter()
            .map(|call| match *call {
                Call::Get(key) | Call::GetVer(key) => CacheOp::get(&key.bytes()),
                Call::Put(key, value, when) => {
                    CacheOp::put(&key.bytes(), &value.bytes(), put_when(when), None)
                }
                Call::Del(key) => CacheOp::del(&key.bytes()),
                Call::PutVer(key, value, version) => {
                    CacheOp::put_ver(&key.bytes(), &value.bytes(), version.0)
                }
                Call::Incr(key, delta) => CacheOp::incr(&key.bytes(), delta, None),
            })
            .collect::<kvlib::Result<Vec<CacheOp>>>()?;
        self.0.cache_batch(&mut ops)?;
        calls
            .iter()
            .zip(&ops)
            .map(|(call, op)| match (call, op.result()) {
                (Call::Get(_), Ok(())) => value_outcome(*call, op.value().unwrap_or_default()),
                (Call::GetVer(_), Ok(())) => versioned_outcome(
                    *call,
                    op.value().unwrap_or_default(),
                    op.version().unwrap_or_default(),
                ),
                (Call::Incr(..), Ok(())) => op
                    .number()
                    .map(Outcome::Number)
                    .ok_or(Error::Kv(kvlib::Error::NotRun)),
                (_, result) => unit_outcome(result),
            })
            .collect()
    }
}

fn model_policy(policy: kvlib::Policy) -> Result<Policy, Error> {
    match policy {
        kvlib::Policy::None => Ok(Policy::NoEviction),
        kvlib::Policy::Lru => Ok(Policy::Lru),
        kvlib::Policy::Sieve => Ok(Policy::Sieve),
        kvlib::Policy::Other(n) => Err(Error::UnknownPolicy(n)),
    }
}

/// Whether every round passed; prints the PASS or FAIL line.
fn run(args: &Args) -> Result<bool, Error> {
    let device = Device(Store::open_path(&args.device)?);
    let stat = device.0.stat()?;
    let policy = model_policy(stat.policy)?;
    let model = Model {
        policy,
        max_items: stat.max_items as usize,
    };
    let threads = usize::from(args.threads);
    let workload = Workload {
        threads,
        ops_per_thread: args.ops.div_ceil(threads).max(1),
        keys: args.keys,
    };
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let name = format!("lincheck/{}", policy.name());
    // Gets through the mapping where kvlib maps the store (no eviction,
    // and SIEVE on this descriptor, open for writing), else the ioctl.
    let gets = if device.0.mapped_reads() {
        "mapped"
    } else {
        "ioctl"
    };
    println!(
        "{name}: max_items={} buckets={}; {threads} threads, {} ops a round on {} keys, gets {gets}, seed {seed}",
        stat.max_items,
        stat.bucket_count,
        workload.ops_per_thread * threads,
        args.keys,
    );
    let limit = (args.seconds > 0).then(|| Duration::from_secs(args.seconds));
    let start = Instant::now();
    let mut checking = Duration::ZERO;
    let mut rounds = 0u64;
    let mut ops = 0usize;
    let mut concurrent = 0usize;
    let mut passed = true;
    let recorded = workload.record_rounds(&device, seed, |round, history| {
        let t = Instant::now();
        let verdict = check(&model, &history, DEFAULT_LIMIT);
        checking += t.elapsed();
        match verdict {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable(failure) => {
                println!(
                    "FAIL: {name}: round {round} is not linearizable (seed {seed}; after {:.1} s)",
                    start.elapsed().as_secs_f64()
                );
                let report = match shortest_failing_cut(&model, &history, DEFAULT_LIMIT) {
                    Some((cut, failure)) => render(&model, &cut, &failure, args.full_history),
                    None => render(&model, &history, &failure, args.full_history),
                };
                print!("{report}");
                passed = false;
                return ControlFlow::Break(());
            }
            Verdict::GaveUp { explored } => {
                println!(
                    "FAIL: {name}: round {round}: the check gave up after {explored} configurations (seed {seed}); try fewer ops a round"
                );
                passed = false;
                return ControlFlow::Break(());
            }
        }
        rounds += 1;
        ops += history.len();
        concurrent += history.concurrent_ops();
        if rounds >= args.rounds || limit.is_some_and(|l| start.elapsed() >= l) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    match recorded {
        Ok(()) => {}
        Err(e @ Error::UnknownValue { .. }) => {
            println!("FAIL: {name}: round {rounds}: {e} (seed {seed})");
            return Ok(false);
        }
        Err(e) => return Err(e),
    }
    if !passed {
        return Ok(false);
    }
    let end = device.0.stat()?;
    println!(
        "{name}: {rounds} rounds, {ops} ops ({}% overlapping another thread's) in {:.1} s ({:.1} s checking); {} evictions, {} hits, {} misses",
        concurrent * 100 / ops.max(1),
        start.elapsed().as_secs_f64(),
        checking.as_secs_f64(),
        end.evictions.wrapping_sub(stat.evictions),
        end.hits.wrapping_sub(stat.hits),
        end.misses.wrapping_sub(stat.misses),
    );
    println!("PASS: {name}/{rounds}-rounds");
    Ok(true)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            println!("FAIL: lincheck: {e}");
            ExitCode::from(2)
        }
    }
}
