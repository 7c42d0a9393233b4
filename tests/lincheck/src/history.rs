//! A history: every operation each thread ran, in that thread's order, with
//! what it returned and when it was invoked and answered.

use std::fmt;

/// A key of the workload, one of a few: shown and stored as `A`, `B`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub u8);

impl Key {
    /// Most keys a history can name (`A` to `Z`).
    pub const MAX: u8 = 26;

    /// The key's bytes in the store: one capital letter.
    pub fn bytes(self) -> [u8; 1] {
        [b'A'.saturating_add(self.0)]
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", char::from(self.bytes()[0]))
    }
}

/// A value, stored as text: a decimal number (what an increment reads), or
/// a word that is none (an increment of it answers EINVAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// Stored as its decimal digits, with a `-` when negative.
    Number(i64),
    /// Stored as the digits of the number followed by `x`: no decimal
    /// number, yet as distinct as the numbers are.
    Word(u32),
}

impl Value {
    pub fn bytes(self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// The value whose bytes these are; `None` for bytes no value has
    /// (`bytes` writes one text per value: no `+`, no leading zero).
    pub fn parse(bytes: &[u8]) -> Option<Value> {
        let text = std::str::from_utf8(bytes).ok()?;
        let value = match text.strip_suffix('x') {
            Some(digits) => Value::Word(digits.parse().ok()?),
            None => Value::Number(text.parse().ok()?),
        };
        (value.bytes() == bytes).then_some(value)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Word(n) => write!(f, "{n}x"),
        }
    }
}

/// An item's version as the store numbers it. The store never hands out 0,
/// so the model uses it for a version no get-ver has answered yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u64);

impl Version {
    /// No item's version: a version the store hands out is never 0. In the
    /// model's state, the version of an item that no get-ver has answered.
    pub const UNSEEN: Version = Version(0);
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Version::UNSEEN {
            write!(f, "v?")
        } else {
            write!(f, "v{}", self.0)
        }
    }
}

/// When a put may go ahead (`KV_PUT_NOEXIST`, `KV_PUT_EXIST` or neither).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum When {
    Always,
    IfAbsent,
    IfPresent,
}

/// What a thread asked the store to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    Get(Key),
    Put(Key, Value, When),
    Del(Key),
    /// A get that also answers the item's version (`KV_OP_GET` of a
    /// `kv_cache_op`).
    GetVer(Key),
    /// A put only if the item's version is still the one given
    /// (`KV_OP_PUT_VER`).
    PutVer(Key, Value, Version),
    /// Adds the delta to the item's number, creating an absent key with
    /// the delta (`KV_OP_INCR`, no expiry).
    Incr(Key, i64),
}

impl Call {
    /// Whether only `kv_cache_op` can carry the call (`KV_IOC_CACHE_OP`,
    /// `KV_IOC_CACHE_BATCH`).
    pub fn is_cache_op(&self) -> bool {
        matches!(self, Call::GetVer(_) | Call::PutVer(..) | Call::Incr(..))
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Get(k) => write!(f, "get({k})"),
            Call::Put(k, v, When::Always) => write!(f, "put({k}, {v})"),
            Call::Put(k, v, When::IfAbsent) => write!(f, "put-if-absent({k}, {v})"),
            Call::Put(k, v, When::IfPresent) => write!(f, "put-if-present({k}, {v})"),
            Call::Del(k) => write!(f, "del({k})"),
            Call::GetVer(k) => write!(f, "get-ver({k})"),
            Call::PutVer(k, v, ver) => write!(f, "put-ver({k}, {v}, {ver})"),
            Call::Incr(k, delta) => write!(f, "incr({k}, {delta})"),
        }
    }
}

/// What the store answered. The errors are the errnos the ioctls return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A put, put-ver or del that succeeded.
    Ok,
    /// A get that found its key.
    Value(Value),
    /// A get-ver that found its key: the value and the item's version.
    Versioned(Value, Version),
    /// An increment's result.
    Number(i64),
    /// ENOENT: a get, get-ver or del of an absent key, a put-if-present or
    /// put-ver of one.
    NotFound,
    /// EEXIST: a put-if-absent of a present key; a put-ver whose version
    /// changed.
    Exists,
    /// ENOSPC: a new key in a full store that evicts nothing.
    Full,
    /// EINVAL: an increment of a value that is not a decimal number.
    NotANumber,
    /// EOVERFLOW: an increment whose result is outside `i64`.
    Overflow,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => write!(f, "ok"),
            Outcome::Value(v) => write!(f, "{v}"),
            Outcome::Versioned(v, ver) => write!(f, "{v} {ver}"),
            Outcome::Number(n) => write!(f, "{n}"),
            Outcome::NotFound => write!(f, "ENOENT"),
            Outcome::Exists => write!(f, "EEXIST"),
            Outcome::Full => write!(f, "ENOSPC"),
            Outcome::NotANumber => write!(f, "EINVAL"),
            Outcome::Overflow => write!(f, "EOVERFLOW"),
        }
    }
}

/// Where an op of a batch sits in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPos {
    /// 0 for the batch's first op.
    pub index: usize,
    pub len: usize,
}

/// One operation of one thread. Times are nanoseconds of one monotonic
/// clock that every thread reads. An op of a batch has the whole batch's
/// interval: the batch promises only that its ops run in order, each atomic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub call: Call,
    /// `None` while the op has not answered (a pending op, in a history cut
    /// short): it may have taken effect or not.
    pub outcome: Option<Outcome>,
    /// Read before the call started.
    pub invoke: u64,
    /// Read after it returned; `None` for a pending op.
    pub response: Option<u64>,
    pub batch: Option<BatchPos>,
}

impl Op {
    /// An op that answered `outcome`.
    pub fn done(call: Call, outcome: Outcome, invoke: u64, response: u64) -> Op {
        Op {
            call,
            outcome: Some(outcome),
            invoke,
            response: Some(response),
            batch: None,
        }
    }

    /// The response time, with a pending op answering at the end of time.
    pub fn response_or_never(&self) -> u64 {
        self.response.unwrap_or(u64::MAX)
    }
}

/// Names one op of a [`History`]: its thread and its place in that thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId {
    pub thread: usize,
    pub index: usize,
}

/// Every thread's ops in the order the thread ran them. A thread runs one
/// call at a time, so its ops never overlap, except the ops of one batch,
/// which share an interval and still ran in order; a pending op can only be
/// a thread's last (or its last batch's ops).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub threads: Vec<Vec<Op>>,
}

impl History {
    /// A history from ops in any order, each with its thread: each thread's
    /// ops are ordered by invocation time, ties (a batch) as given.
    pub fn from_ops(ops: impl IntoIterator<Item = (usize, Op)>) -> History {
        let mut threads: Vec<Vec<Op>> = Vec::new();
        for (thread, op) in ops {
            if threads.len() <= thread {
                threads.resize_with(thread + 1, Vec::new);
            }
            if let Some(ops) = threads.get_mut(thread) {
                ops.push(op);
            }
        }
        for ops in &mut threads {
            ops.sort_by_key(|op| op.invoke);
        }
        History { threads }
    }

    pub fn op(&self, id: OpId) -> Option<&Op> {
        self.threads.get(id.thread)?.get(id.index)
    }

    pub fn len(&self) -> usize {
        self.threads.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every op, ordered by invocation time (then thread).
    pub fn by_invocation(&self) -> Vec<OpId> {
        let mut ids: Vec<OpId> = self
            .threads
            .iter()
            .enumerate()
            .flat_map(|(thread, ops)| (0..ops.len()).map(move |index| OpId { thread, index }))
            .collect();
        ids.sort_by_key(|id| (self.op(*id).map_or(0, |op| op.invoke), id.thread, id.index));
        ids
    }

    /// How many ops overlap in time an op of another thread: those whose
    /// order the checker has to find, not read off the clock.
    pub fn concurrent_ops(&self) -> usize {
        let overlaps = |op: &Op, other: &[Op]| {
            // A thread's responses never decrease: the first of `other` to
            // answer after `op` started is the one that may overlap it.
            let first = other.partition_point(|o| o.response_or_never() <= op.invoke);
            other
                .get(first)
                .is_some_and(|o| o.invoke < op.response_or_never())
        };
        self.threads
            .iter()
            .enumerate()
            .map(|(t, ops)| {
                ops.iter()
                    .filter(|op| {
                        self.threads
                            .iter()
                            .enumerate()
                            .any(|(u, other)| u != t && overlaps(op, other))
                    })
                    .count()
            })
            .sum()
    }

    /// The history as it stood at time `t`: ops answered by then keep their
    /// outcome, ops invoked by then but not answered become pending, later
    /// ops are dropped. Linearizability is closed under this cut: if the
    /// cut is not linearizable, neither is any longer history.
    pub fn cut(&self, t: u64) -> History {
        let threads = self
            .threads
            .iter()
            .map(|ops| {
                ops.iter()
                    .filter(|op| op.invoke <= t)
                    .map(|op| match op.response {
                        Some(r) if r <= t => *op,
                        _ => Op {
                            outcome: None,
                            response: None,
                            ..*op
                        },
                    })
                    .collect()
            })
            .collect();
        History { threads }
    }
}
