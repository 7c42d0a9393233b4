//! kvctl: the command line of kvstore. Parsing, formatting and the mapping
//! of errors to messages and exit statuses live here, testable without the
//! device; `main.rs` only wires them to [`kvlib::Store`].

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, Parser, Subcommand};
use kvlib::{Error, Policy, Put, Stat, Store, KV_MAX_KEY, KV_MAX_VAL};
use serde::{Deserialize, Serialize};

/// Exit statuses, documented in `--help`.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The key was not in the store (get, del, put --xx, ttl, touch, gets,
    /// cas).
    pub const NOT_FOUND: u8 = 1;
    /// Bad command line (clap's own status), or malformed `load` input.
    pub const USAGE: u8 = 2;
    /// Anything else: device missing, no permission, store full, bad lengths.
    pub const FAILURE: u8 = 3;
    /// The key was already in the store (put --nx), or its version changed
    /// (cas).
    pub const EXISTS: u8 = 4;
}

/// After `-h`: where the rest is.
const AFTER_SHORT_HELP: &str = "\
Exit statuses, output formats, dump and load: kvctl --help, or man kvctl.";

/// After `--help`, and the man page's last section (generated from this
/// definition by kvctl-gen-docs). Lines that start with a space stay lines
/// in the man page; the others are filled into paragraphs.
const AFTER_LONG_HELP: &str = "\
Output:
get prints the value and a newline (with --hex, the value as hexadecimal).
list prints every key, one per line. stat prints one \"name: value\" line
each for buckets, max_items, curr_items, lru (no, yes for exact LRU, or
sieve), hits, misses, evictions and bytes_used, then puts, deletes,
expired and memory (the kernel memory the store holds, in bytes) when the
module reports them. stat --json prints the same fields as
one JSON object, with \"lru\" true only for exact LRU and \"policy\" one of
\"none\", \"lru\" or \"sieve\". stat --prometheus prints them in the
Prometheus text format, for node_exporter's textfile collector: gauges
kvstore_buckets, kvstore_max_items, kvstore_curr_items, kvstore_bytes_used
and kvstore_use_lru (0 none, 1 exact LRU, 2 SIEVE), counters
kvstore_hits_total, kvstore_misses_total, kvstore_evictions_total, then
kvstore_puts_total, kvstore_deletes_total, kvstore_expired_total and the
gauge kvstore_memory_bytes when the module reports them, each with its HELP
and TYPE lines. ttl prints the
milliseconds the key has left, or -1 if it never expires. incr and decr
print the new value. gets prints the item's version on one line and its
value on the next.

Durations:
A DURATION is an integer with a unit: ms, s, m, h or d (a bare integer is
seconds), e.g. 500ms, 30s, 10m. Expiry follows the kernel's coarse boot-time
clock (it counts time suspended and advances once a tick, 1 to 10 ms); an item
may expire up to 1/1024 of its TTL early, never late. 0 means
never: put --ttl 0 and touch KEY 0 leave an item that never expires, as a
put without --ttl does.

Dump and load:
dump writes every item as one JSON object per line, key and value in
hexadecimal, which load reads back byte for byte; an item that expires has
\"ttl_ms\", the milliseconds it had left, which load gives it again:
 {\"key\":\"68656c6c6f\",\"value\":\"776f726c64\"}
 {\"key\":\"73657373\",\"value\":\"6964\",\"ttl_ms\":59000}
 kvctl dump >backup; kvctl clear; kvctl load backup

load checks the whole input first (JSON, hex, key and value lengths): a
malformed line is reported with its number and nothing is written. A store
that fills up during a load stops it at the item that did not fit. load
ends with \"loaded N items\" on standard error.

Exit status:
 0 success
 1 key not found (get, del, put --xx, ttl, touch, gets, cas)
 2 usage error, or malformed load input
 3 any other failure (device missing, permission denied, store full, key or value too long, incr of a value that is no number or past the 64-bit range)
 4 key exists (put --nx), or its version changed (cas)

Examples:
 kvctl put hello world
 kvctl get hello
 kvctl --hex put 00ff00 ff00fe
 kvctl put config - <config.bin
 kvctl put --nx lock me
 kvctl put --ttl 30s session abc
 kvctl incr hits 1 --ttl 1m
 kvctl gets config; kvctl cas config 42 new-value
 kvctl stat --json
 kvctl stat --prometheus >kvstore.prom.tmp && mv kvstore.prom.tmp kvstore.prom";

/// Command-line client of kvstore, the in-kernel key-value store.
///
/// kvctl works on the store through its device, /dev/kvstore, which the kv
/// kernel module creates (--device or KVSTORE_DEVICE names another). get,
/// gets, ttl, stat, list and dump open the device read-only, so read
/// permission on it is enough for them; put, del, touch, incr, decr, cas,
/// load and clear open it for writing (root, or a member of the group that
/// owns the device: kvstore after make install).
///
/// Keys are 1 to 64 bytes and values 0 to 256 bytes, any byte values. Give
/// them as they are, or with --hex as hexadecimal, for bytes a shell cannot
/// carry. A value of - is read from standard input, byte for byte (at most
/// 256 bytes: kvctl reads 257 at most before refusing a longer one).
///
/// Errors go to standard error as the failing call and why, e.g. "kv_get
/// error: Key not found", and set the exit status below.
#[derive(Debug, Parser)]
#[command(
    name = "kvctl",
    version,
    after_help = AFTER_SHORT_HELP,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Cli {
    /// The kvstore device.
    #[arg(long, global = true, env = "KVSTORE_DEVICE", default_value = kvlib::DEFAULT_DEVICE)]
    pub device: PathBuf,
    /// Keys and values are given and shown as hexadecimal.
    #[arg(long, global = true)]
    pub hex: bool,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Cmd {
    /// Insert a key or replace its value.
    Put {
        /// The key.
        key: String,
        /// The value; - reads it from standard input (bytes as they are).
        value: String,
        /// Only if the key is absent (else "Key exists", status 4).
        #[arg(long, action = ArgAction::SetTrue, conflicts_with = "xx")]
        nx: bool,
        /// Only if the key is present (else "Key not found", status 1).
        #[arg(long, action = ArgAction::SetTrue)]
        xx: bool,
        /// Expire after DURATION (0: never, as without --ttl).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        ttl: Option<Duration>,
    },
    /// Print the milliseconds a key has left, or -1 if it never expires.
    Ttl {
        /// The key.
        key: String,
    },
    /// Set a key's expiry to DURATION from now (0: never), keeping its value.
    Touch {
        /// The key.
        key: String,
        /// The time it has left.
        #[arg(value_parser = parse_duration)]
        duration: Duration,
    },
    /// Add DELTA (default 1) to a key's number and print the result; an
    /// absent key starts at DELTA.
    Incr {
        /// The key.
        key: String,
        /// What to add (negative to subtract).
        #[arg(default_value_t = 1, allow_negative_numbers = true)]
        delta: i64,
        /// The expiry of a key this creates (a present key keeps its own).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        ttl: Option<Duration>,
    },
    /// Subtract DELTA (default 1) from a key's number and print the result.
    Decr {
        /// The key.
        key: String,
        /// What to subtract.
        #[arg(default_value_t = 1, allow_negative_numbers = true)]
        delta: i64,
    },
    /// Print a key's version on one line and its value on the next.
    Gets {
        /// The key.
        key: String,
    },
    /// Replace a key's value only if its version is still VERSION (else
    /// status 4; status 1 if the key is absent).
    Cas {
        /// The key.
        key: String,
        /// The version gets printed.
        version: u64,
        /// The new value; - reads it from standard input.
        value: String,
    },
    /// Print the value of a key and a newline.
    Get {
        /// The key.
        key: String,
    },
    /// Delete a key.
    Del {
        /// The key.
        key: String,
    },
    /// Print sizes and counters, one "name: value" line each.
    Stat {
        /// Print one JSON object instead.
        #[arg(long, conflicts_with = "prometheus")]
        json: bool,
        /// Print the Prometheus text format instead (node_exporter's
        /// textfile collector).
        #[arg(long)]
        prometheus: bool,
    },
    /// Print every key, one per line (with --hex as hexadecimal).
    List,
    /// Write every item to standard output as JSON Lines, for load.
    Dump,
    /// Put every item of a dump; - or no FILE reads standard input.
    Load {
        /// The dump to read.
        file: Option<PathBuf>,
    },
    /// Remove every item.
    Clear,
}

impl Cmd {
    /// The library call the command stands for, as errors name it.
    pub fn op(&self) -> &'static str {
        match self {
            Cmd::Put { .. } => "kv_put",
            Cmd::Get { .. } => "kv_get",
            Cmd::Del { .. } => "kv_del",
            Cmd::Stat { .. } => "kv_stat",
            Cmd::List | Cmd::Dump => "kv_dump",
            Cmd::Load { .. } => "kv_load",
            Cmd::Clear => "kv_clear",
            Cmd::Ttl { .. } => "kv_ttl",
            Cmd::Touch { .. } => "kv_touch",
            Cmd::Incr { .. } | Cmd::Decr { .. } => "kv_incr",
            Cmd::Gets { .. } => "kv_get_ver",
            Cmd::Cas { .. } => "kv_put_ver",
        }
    }
}

/// The clap definition, for the man page and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// A failure to report: the message for stderr and the exit status.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub status: u8,
}

impl Failure {
    /// `kv_get error: Key not found`: the failing call, then why.
    pub fn from_error(op: &str, err: &Error) -> Failure {
        let status = match err {
            Error::NotFound => exit::NOT_FOUND,
            Error::Exists => exit::EXISTS,
            _ => exit::FAILURE,
        };
        Failure {
            message: format!("{op} error: {err}"),
            status,
        }
    }

    fn output(op: &str, e: std::io::Error) -> Failure {
        Failure {
            message: format!("{op} error: writing standard output: {e}"),
            status: exit::FAILURE,
        }
    }
}

/// Parses a DURATION: an integer with a unit ms, s, m, h or d; a bare
/// integer is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let bad = || format!("'{text}' is not a duration: an integer and ms, s, m, h or d");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = |per: u64| n.checked_mul(per).map(Duration::from_secs);
    let duration = match unit {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86400),
        _ => return Err(bad()),
    };
    duration.ok_or_else(|| format!("'{text}' is too long a duration"))
}

/// A DURATION as a TTL: 0 is never.
fn ttl(duration: Option<Duration>) -> Option<Duration> {
    duration.filter(|d| !d.is_zero())
}

/// Decodes hexadecimal (upper or lower case, even length).
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("'{text}' is not hex: odd number of digits"));
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!(
            "'{text}' is not hex: '{}' is no hex digit",
            c as char
        )),
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Lower-case hexadecimal.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes an argument stands for: hex-decoded with `--hex`, else UTF-8.
pub fn arg_bytes(arg: &str, hex: bool) -> Result<Vec<u8>, String> {
    if hex {
        decode_hex(arg)
    } else {
        Ok(arg.as_bytes().to_vec())
    }
}

/// `kvctl stat`: the sizes and the policy, then the counters.
pub fn format_stat(s: &Stat) -> String {
    let mut out = format!(
        "buckets: {}\nmax_items: {}\ncurr_items: {}\nlru: {}\nhits: {}\nmisses: {}\nevictions: {}\nbytes_used: {}\n",
        s.bucket_count,
        s.max_items,
        s.curr_items,
        match s.policy {
            Policy::None => "no".to_string(),
            Policy::Lru => "yes".to_string(),
            other => other.name(),
        },
        s.hits,
        s.misses,
        s.evictions,
        s.bytes_used
    );
    // Only what the module counts: an older one has neither.
    if let Some(puts) = s.puts {
        out.push_str(&format!("puts: {puts}\n"));
    }
    if let Some(deletes) = s.deletes {
        out.push_str(&format!("deletes: {deletes}\n"));
    }
    if let Some(expired) = s.expired {
        out.push_str(&format!("expired: {expired}\n"));
    }
    if let Some(memory) = s.memory {
        out.push_str(&format!("memory: {memory}\n"));
    }
    out
}

/// `kvctl stat --prometheus`: the Prometheus text exposition format
/// (version 0.0.4), as node_exporter's textfile collector reads it: per
/// metric a `# HELP` and a `# TYPE` line, then its sample. Sizes and the
/// policy are gauges; event counts are counters, named `_total`. The
/// counters an older module does not keep are left out.
pub fn format_stat_prometheus(s: &Stat) -> String {
    let policy = match s.policy {
        Policy::None => 0,
        Policy::Lru => 1,
        Policy::Sieve => 2,
        Policy::Other(n) => n,
    };
    let mut metrics: Vec<(&str, &str, &str, u64)> = vec![
        (
            "buckets",
            "gauge",
            "Hash buckets (module parameter buckets).",
            s.bucket_count.into(),
        ),
        (
            "max_items",
            "gauge",
            "Capacity in items (module parameter max_items).",
            s.max_items.into(),
        ),
        (
            "curr_items",
            "gauge",
            "Items stored now.",
            s.curr_items.into(),
        ),
        (
            "bytes_used",
            "gauge",
            "Key and value bytes held now.",
            s.bytes_used,
        ),
        (
            "use_lru",
            "gauge",
            "Eviction policy (module parameter use_lru): 0 none, 1 exact LRU, 2 SIEVE.",
            policy.into(),
        ),
        (
            "hits_total",
            "counter",
            "Gets that found their key.",
            s.hits,
        ),
        (
            "misses_total",
            "counter",
            "Gets that did not find their key.",
            s.misses,
        ),
        (
            "evictions_total",
            "counter",
            "Items evicted to make room for new keys.",
            s.evictions,
        ),
    ];
    let optional = [
        ("puts_total", "Successful puts.", s.puts),
        ("deletes_total", "Successful deletes.", s.deletes),
        (
            "expired_total",
            "Items removed because they expired.",
            s.expired,
        ),
    ];
    for (name, help, value) in optional {
        if let Some(value) = value {
            metrics.push((name, "counter", help, value));
        }
    }
    if let Some(memory) = s.memory {
        metrics.push((
            "memory_bytes",
            "gauge",
            "Kernel memory the store holds, in bytes.",
            memory,
        ));
    }
    let mut out = String::new();
    for (name, kind, help, value) in metrics {
        out.push_str(&format!(
            "# HELP kvstore_{name} {help}\n# TYPE kvstore_{name} {kind}\nkvstore_{name} {value}\n"
        ));
    }
    out
}

/// `kvctl stat --json`'s object.
#[derive(Serialize)]
struct StatJson {
    buckets: u32,
    max_items: u32,
    curr_items: u32,
    lru: bool,
    hits: u64,
    misses: u64,
    evictions: u64,
    bytes_used: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    puts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<u64>,
    policy: String,
}

/// `kvctl stat --json`: the same fields as one JSON object.
pub fn format_stat_json(s: &Stat) -> String {
    let json = StatJson {
        buckets: s.bucket_count,
        max_items: s.max_items,
        curr_items: s.curr_items,
        lru: s.use_lru,
        hits: s.hits,
        misses: s.misses,
        evictions: s.evictions,
        bytes_used: s.bytes_used,
        puts: s.puts,
        deletes: s.deletes,
        expired: s.expired,
        memory: s.memory,
        policy: s.policy.name(),
    };
    // Serialising plain integers and booleans cannot fail.
    let mut out = serde_json::to_string(&json).unwrap_or_default();
    out.push('\n');
    out
}

/// One line of `kvctl dump`: key and value as lower-case hex, and the
/// milliseconds left of an item that expires.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DumpLine {
    pub key: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

/// An item: key, value and the time it has left (`None`: never expires).
pub type Item = (Vec<u8>, Vec<u8>, Option<Duration>);

/// A dump line for one item.
pub fn dump_line(key: &[u8], value: &[u8], ttl: Option<Duration>) -> String {
    let line = DumpLine {
        key: encode_hex(key),
        value: encode_hex(value),
        // At least 1: an item that expires keeps expiring.
        ttl_ms: ttl.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)),
    };
    // Two strings always serialise.
    let mut out = serde_json::to_string(&line).unwrap_or_default();
    out.push('\n');
    out
}

/// Parses a whole dump: the items, or the first bad line's number and why.
/// Empty lines are skipped; keys and values are checked against the limits
/// here, so a load that parses writes every item it read.
pub fn parse_dump(input: impl BufRead) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let number = n + 1;
        let line = line.map_err(|e| format!("line {number}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |why: String| format!("line {number}: {why}");
        let item: DumpLine = serde_json::from_str(&line).map_err(|e| at(e.to_string()))?;
        let key = decode_hex(&item.key).map_err(|e| at(format!("key: {e}")))?;
        let value = decode_hex(&item.value).map_err(|e| at(format!("value: {e}")))?;
        if key.is_empty() || key.len() > KV_MAX_KEY {
            return Err(at(format!(
                "key is {} bytes; keys are 1 to {KV_MAX_KEY} bytes",
                key.len()
            )));
        }
        if value.len() > KV_MAX_VAL {
            return Err(at(format!(
                "value is {} bytes; values are at most {KV_MAX_VAL} bytes",
                value.len()
            )));
        }
        let ttl = item.ttl_ms.filter(|&ms| ms > 0).map(Duration::from_millis);
        items.push((key, value, ttl));
    }
    Ok(items)
}

/// Reads a value from standard input: at most `KV_MAX_VAL + 1` bytes, so a
/// too long value is refused without reading all of it.
fn read_value(stdin: &mut dyn Read) -> Result<Vec<u8>, std::io::Error> {
    let mut buf = Vec::new();
    stdin.take(KV_MAX_VAL as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A put's condition from `--nx` and `--xx`.
fn when(nx: bool, xx: bool) -> Put {
    match (nx, xx) {
        (true, _) => Put::IfAbsent,
        (_, true) => Put::IfPresent,
        _ => Put::Always,
    }
}

/// Runs a parsed command, writing what it prints to `out`; or the failure.
/// Arguments (and load's input) are checked before the device is opened, so
/// a usage error is reported as one even without the module.
pub fn run(cli: &Cli, stdin: &mut dyn Read, out: &mut dyn Write) -> Result<(), Failure> {
    let op = cli.command.op();
    let usage = |message: String| Failure {
        message: format!("{op} error: {message}"),
        status: exit::USAGE,
    };
    let key = match &cli.command {
        Cmd::Put { key, .. }
        | Cmd::Get { key }
        | Cmd::Del { key }
        | Cmd::Ttl { key }
        | Cmd::Touch { key, .. }
        | Cmd::Incr { key, .. }
        | Cmd::Decr { key, .. }
        | Cmd::Gets { key }
        | Cmd::Cas { key, .. } => arg_bytes(key, cli.hex).map_err(usage)?,
        _ => Vec::new(),
    };
    let value = match &cli.command {
        Cmd::Put { value, .. } | Cmd::Cas { value, .. } if value == "-" => read_value(stdin)
            .map_err(|e| Failure {
                message: format!("{op} error: reading standard input: {e}"),
                status: exit::FAILURE,
            })?,
        Cmd::Put { value, .. } | Cmd::Cas { value, .. } => {
            arg_bytes(value, cli.hex).map_err(usage)?
        }
        _ => Vec::new(),
    };
    let delta = match &cli.command {
        Cmd::Incr { delta, .. } => *delta,
        Cmd::Decr { delta, .. } => delta
            .checked_neg()
            .ok_or_else(|| usage(format!("cannot subtract {delta}")))?,
        _ => 0,
    };
    let items = match &cli.command {
        Cmd::Load { file } => {
            let parsed = match file {
                Some(path) if path.as_os_str() != "-" => {
                    let f = File::open(path).map_err(|e| Failure {
                        message: format!("{op} error: {}: {e}", path.display()),
                        status: exit::FAILURE,
                    })?;
                    parse_dump(BufReader::new(f))
                }
                _ => parse_dump(BufReader::new(stdin)),
            };
            parsed.map_err(usage)?
        }
        _ => Vec::new(),
    };

    // Commands that only read open the device read-only, so they work with
    // read permission alone.
    let store = match &cli.command {
        Cmd::Get { .. }
        | Cmd::Stat { .. }
        | Cmd::List
        | Cmd::Dump
        | Cmd::Ttl { .. }
        | Cmd::Gets { .. } => Store::open_path_read_only(&cli.device),
        Cmd::Put { .. }
        | Cmd::Del { .. }
        | Cmd::Load { .. }
        | Cmd::Clear
        | Cmd::Touch { .. }
        | Cmd::Incr { .. }
        | Cmd::Decr { .. }
        | Cmd::Cas { .. } => Store::open_path(&cli.device),
    }
    .map_err(|e| Failure::from_error("kv_open", &e))?;
    let fail = |e: Error| Failure::from_error(op, &e);
    let write = |out: &mut dyn Write, bytes: &[u8]| {
        out.write_all(bytes).map_err(|e| Failure::output(op, e))
    };
    match &cli.command {
        Cmd::Put {
            nx, xx, ttl: None, ..
        } => store.put_with(&key, &value, when(*nx, *xx)).map_err(fail),
        Cmd::Put {
            nx,
            xx,
            ttl: Some(duration),
            ..
        } => store
            .put_ttl(&key, &value, when(*nx, *xx), ttl(Some(*duration)))
            .map_err(fail),
        Cmd::Ttl { .. } => {
            let ms = match store.ttl(&key).map_err(fail)? {
                None => -1,
                Some(left) => i128::try_from(left.as_millis()).unwrap_or(i128::MAX),
            };
            write(out, format!("{ms}\n").as_bytes())
        }
        Cmd::Touch { duration, .. } => store.touch(&key, ttl(Some(*duration))).map_err(fail),
        Cmd::Incr { ttl: duration, .. } => {
            let n = store.incr(&key, delta, ttl(*duration)).map_err(fail)?;
            write(out, format!("{n}\n").as_bytes())
        }
        Cmd::Decr { .. } => {
            let n = store.incr(&key, delta, None).map_err(fail)?;
            write(out, format!("{n}\n").as_bytes())
        }
        Cmd::Gets { .. } => {
            let (value, version) = store.get_ver(&key).map_err(fail)?;
            let mut text = format!("{version}\n").into_bytes();
            if cli.hex {
                text.extend_from_slice(encode_hex(&value).as_bytes());
            } else {
                text.extend_from_slice(&value);
            }
            text.push(b'\n');
            write(out, &text)
        }
        Cmd::Cas { version, .. } => store.put_ver(&key, &value, *version).map_err(fail),
        Cmd::Get { .. } => {
            let value = store.get(&key).map_err(fail)?;
            let mut line = if cli.hex {
                encode_hex(&value).into_bytes()
            } else {
                value
            };
            line.push(b'\n');
            write(out, &line)
        }
        Cmd::Del { .. } => store.del(&key).map_err(fail),
        Cmd::Stat { json, prometheus } => {
            let stat = store.stat().map_err(fail)?;
            let text = if *json {
                format_stat_json(&stat)
            } else if *prometheus {
                format_stat_prometheus(&stat)
            } else {
                format_stat(&stat)
            };
            write(out, text.as_bytes())
        }
        Cmd::List => {
            for item in store.iter() {
                let (key, _) = item.map_err(fail)?;
                let mut line = if cli.hex {
                    encode_hex(&key).into_bytes()
                } else {
                    key
                };
                line.push(b'\n');
                write(out, &line)?;
            }
            out.flush().map_err(|e| Failure::output(op, e))
        }
        Cmd::Dump => {
            for item in store.iter() {
                let (key, value) = item.map_err(fail)?;
                // The time left, read right after: an item that expired or
                // went meanwhile is left out, as if the dump had missed it.
                let left = match store.ttl(&key) {
                    Ok(left) => left,
                    Err(Error::NotFound) => continue,
                    Err(e) => return Err(fail(e)),
                };
                write(out, dump_line(&key, &value, left).as_bytes())?;
            }
            out.flush().map_err(|e| Failure::output(op, e))
        }
        Cmd::Load { .. } => {
            for (n, (key, value, left)) in items.iter().enumerate() {
                let put = match left {
                    None => store.put(key, value),
                    Some(_) => store.put_ttl(key, value, Put::Always, *left),
                };
                put.map_err(|e| Failure {
                    message: format!("{op} error: item {} of {}: {e}", n + 1, items.len()),
                    ..Failure::from_error(op, &e)
                })?;
            }
            eprintln!("loaded {} items", items.len());
            Ok(())
        }
        Cmd::Clear => store.clear().map_err(fail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kvctl").chain(args.iter().copied()))
    }

    #[test]
    fn parses_put_get_del_and_stat() {
        let cli = parse(&["put", "hello", "world"]).unwrap();
        assert_eq!(
            cli.command,
            Cmd::Put {
                key: "hello".into(),
                value: "world".into(),
                nx: false,
                xx: false,
                ttl: None,
            }
        );
        assert!(matches!(
            parse(&["put", "--nx", "k", "v"]).unwrap().command,
            Cmd::Put {
                nx: true,
                xx: false,
                ..
            }
        ));
        assert!(matches!(
            parse(&["put", "k", "v", "--xx"]).unwrap().command,
            Cmd::Put {
                nx: false,
                xx: true,
                ..
            }
        ));
        assert_eq!(parse(&["list"]).unwrap().command, Cmd::List);
        assert_eq!(parse(&["dump"]).unwrap().command, Cmd::Dump);
        assert_eq!(parse(&["clear"]).unwrap().command, Cmd::Clear);
        assert_eq!(parse(&["load"]).unwrap().command, Cmd::Load { file: None });
        assert_eq!(
            parse(&["load", "-"]).unwrap().command,
            Cmd::Load {
                file: Some("-".into())
            }
        );
        assert_eq!(cli.device, PathBuf::from("/dev/kvstore"));
        assert_eq!(
            parse(&["get", "hello"]).unwrap().command,
            Cmd::Get {
                key: "hello".into()
            }
        );
        assert_eq!(
            parse(&["del", "hello"]).unwrap().command,
            Cmd::Del {
                key: "hello".into()
            }
        );
        assert_eq!(
            parse(&["stat"]).unwrap().command,
            Cmd::Stat {
                json: false,
                prometheus: false
            }
        );
        assert_eq!(
            parse(&["stat", "--prometheus"]).unwrap().command,
            Cmd::Stat {
                json: false,
                prometheus: true
            }
        );
        assert!(parse(&["stat", "--json", "--prometheus"]).is_err());
        assert_eq!(
            parse(&["stat", "--json"]).unwrap().command,
            Cmd::Stat {
                json: true,
                prometheus: false
            }
        );
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = parse(&["--device", "/tmp/x", "get", "--hex", "00ff"]).unwrap();
        assert_eq!(cli.device, PathBuf::from("/tmp/x"));
        assert!(cli.hex);
    }

    #[test]
    fn usage_errors_exit_2() {
        for bad in [
            &["put", "k"][..],
            &["frob"],
            &[],
            &["get"],
            &["stat", "--bogus"],
            &["put", "--nx", "--xx", "k", "v"],
            &["list", "extra"],
            &["load", "a", "b"],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), i32::from(exit::USAGE), "{bad:?}");
        }
        // --help and --version are not errors.
        assert_eq!(parse(&["--help"]).unwrap_err().exit_code(), 0);
        assert_eq!(parse(&["--version"]).unwrap_err().exit_code(), 0);
    }

    #[test]
    fn help_documents_exit_statuses() {
        let help = command().render_long_help().to_string();
        assert!(help.contains("1 key not found"), "{help}");
        assert!(help.contains("KVSTORE_DEVICE"), "{help}");
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(decode_hex("00fFa5").unwrap(), vec![0, 0xff, 0xa5]);
        assert_eq!(encode_hex(&[0, 0xff, 0xa5]), "00ffa5");
        assert!(decode_hex("abc").is_err());
        assert!(decode_hex("zz").is_err());
        assert_eq!(decode_hex("").unwrap(), Vec::<u8>::new());
        assert_eq!(arg_bytes("héllo", false).unwrap(), "héllo".as_bytes());
    }

    #[test]
    fn stat_output_starts_with_sizes_and_policy() {
        let s = Stat {
            bucket_count: 128,
            max_items: 100,
            curr_items: 1,
            use_lru: true,
            policy: Policy::Lru,
            hits: 2,
            misses: 3,
            evictions: 4,
            bytes_used: 10,
            puts: None,
            deletes: None,
            expired: None,
            memory: None,
        };
        assert_eq!(
            format_stat(&s),
            "buckets: 128\nmax_items: 100\ncurr_items: 1\nlru: yes\nhits: 2\nmisses: 3\nevictions: 4\nbytes_used: 10\n"
        );
        let none = Stat {
            use_lru: false,
            policy: Policy::None,
            ..s
        };
        assert_eq!(
            format_stat_json(&none),
            "{\"buckets\":128,\"max_items\":100,\"curr_items\":1,\"lru\":false,\"hits\":2,\"misses\":3,\"evictions\":4,\"bytes_used\":10,\"policy\":\"none\"}\n"
        );
        assert!(format_stat(&none).contains("\nlru: no\n"));
        let sieve = Stat {
            use_lru: false,
            policy: Policy::Sieve,
            ..s
        };
        assert!(format_stat(&sieve).contains("\nlru: sieve\n"));
        assert!(format_stat_json(&sieve).ends_with(",\"lru\":false,\"hits\":2,\"misses\":3,\"evictions\":4,\"bytes_used\":10,\"policy\":\"sieve\"}\n"));
        assert!(format_stat_json(&Stat {
            policy: Policy::Other(7),
            ..s
        })
        .contains("\"policy\":\"policy-7\""));
        let counted = Stat {
            puts: Some(7),
            deletes: Some(0),
            ..s
        };
        assert!(format_stat(&counted).ends_with("bytes_used: 10\nputs: 7\ndeletes: 0\n"));
        assert!(format_stat_json(&counted)
            .ends_with(",\"bytes_used\":10,\"puts\":7,\"deletes\":0,\"policy\":\"lru\"}\n"));
    }

    #[test]
    fn stat_prometheus_is_the_text_exposition_format() {
        let s = Stat {
            bucket_count: 128,
            max_items: 100,
            curr_items: 1,
            use_lru: false,
            policy: Policy::Sieve,
            hits: 2,
            misses: 3,
            evictions: 4,
            bytes_used: 10,
            puts: Some(7),
            deletes: Some(0),
            expired: Some(5),
            memory: Some(123_456),
        };
        let text = format_stat_prometheus(&s);
        assert!(text.starts_with(
            "# HELP kvstore_buckets Hash buckets (module parameter buckets).\n\
             # TYPE kvstore_buckets gauge\n\
             kvstore_buckets 128\n"
        ));
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "kvstore_buckets 128",
                "kvstore_max_items 100",
                "kvstore_curr_items 1",
                "kvstore_bytes_used 10",
                "kvstore_use_lru 2",
                "kvstore_hits_total 2",
                "kvstore_misses_total 3",
                "kvstore_evictions_total 4",
                "kvstore_puts_total 7",
                "kvstore_deletes_total 0",
                "kvstore_expired_total 5",
                "kvstore_memory_bytes 123456",
            ]
        );
        assert!(text.contains("# TYPE kvstore_memory_bytes gauge\n"));
        // Every sample has its HELP and TYPE lines just before it, and the
        // type follows the name: counters end in _total.
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3 * samples.len());
        for chunk in lines.chunks(3) {
            let name = chunk[2].split(' ').next().unwrap();
            assert!(
                chunk[0].starts_with(&format!("# HELP {name} ")),
                "{chunk:?}"
            );
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            assert_eq!(chunk[1], format!("# TYPE {name} {kind}"));
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert!(text.ends_with('\n'));
        // An older module's missing counters are left out, not reported as 0.
        let older = Stat {
            puts: None,
            deletes: None,
            expired: None,
            memory: None,
            policy: Policy::Other(9),
            ..s
        };
        let text = format_stat_prometheus(&older);
        assert!(!text.contains("puts") && !text.contains("expired"));
        assert!(text.contains("\nkvstore_use_lru 9\n"));
        assert!(text.ends_with("kvstore_evictions_total 4\n"));
    }

    #[test]
    fn errors_map_to_messages_and_statuses() {
        assert_eq!(
            Failure::from_error("kv_get", &Error::NotFound),
            Failure {
                message: "kv_get error: Key not found".into(),
                status: exit::NOT_FOUND
            }
        );
        let full = Failure::from_error("kv_put", &Error::StoreFull);
        assert_eq!(full.status, exit::FAILURE);
        assert!(full.message.starts_with("kv_put error: Store is full"));
        let missing = Failure::from_error(
            "kv_open",
            &Error::DeviceMissing {
                path: "/dev/kvstore".into(),
            },
        );
        assert_eq!(missing.status, exit::FAILURE);
        assert!(missing.message.contains("is the kv module loaded?"));
        let exists = Failure::from_error("kv_put", &Error::Exists);
        assert_eq!(exists.status, exit::EXISTS);
        assert_eq!(exists.message, "kv_put error: Key exists");
    }

    #[test]
    fn dump_lines_round_trip_every_byte() {
        let key: Vec<u8> = (0..=63).map(|i| (i * 4) as u8).collect();
        let value: Vec<u8> = (0..=255).collect();
        let text = format!(
            "{}\n{}",
            dump_line(&key, &value, None),
            dump_line(b"\n\0", b"", None)
        );
        assert_eq!(
            parse_dump(text.as_bytes()).unwrap(),
            vec![(key, value, None), (b"\n\0".to_vec(), vec![], None)]
        );
        assert_eq!(
            dump_line(b"k", b"\xff", None),
            "{\"key\":\"6b\",\"value\":\"ff\"}\n"
        );
    }

    #[test]
    fn dump_lines_carry_the_time_left() {
        let line = dump_line(b"k", b"v", Some(Duration::from_millis(1500)));
        assert_eq!(line, "{\"key\":\"6b\",\"value\":\"76\",\"ttl_ms\":1500}\n");
        assert_eq!(
            parse_dump(line.as_bytes()).unwrap(),
            vec![(
                b"k".to_vec(),
                b"v".to_vec(),
                Some(Duration::from_millis(1500))
            )]
        );
        // Less than a millisecond left still expires.
        assert!(dump_line(b"k", b"v", Some(Duration::from_micros(10))).contains("\"ttl_ms\":1}"));
    }

    #[test]
    fn durations_take_a_unit_or_mean_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "s", "1.5s", "-1", "10 s", "3w", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(ttl(Some(Duration::ZERO)), None);
    }

    #[test]
    fn parses_the_cache_commands() {
        assert!(matches!(
            parse(&["put", "--ttl", "10s", "k", "v"]).unwrap().command,
            Cmd::Put { ttl: Some(d), .. } if d == Duration::from_secs(10)
        ));
        assert_eq!(
            parse(&["touch", "k", "0"]).unwrap().command,
            Cmd::Touch {
                key: "k".into(),
                duration: Duration::ZERO
            }
        );
        assert_eq!(
            parse(&["incr", "k"]).unwrap().command,
            Cmd::Incr {
                key: "k".into(),
                delta: 1,
                ttl: None
            }
        );
        assert_eq!(
            parse(&["incr", "k", "-5", "--ttl", "1m"]).unwrap().command,
            Cmd::Incr {
                key: "k".into(),
                delta: -5,
                ttl: Some(Duration::from_secs(60))
            }
        );
        assert_eq!(
            parse(&["decr", "k", "3"]).unwrap().command,
            Cmd::Decr {
                key: "k".into(),
                delta: 3
            }
        );
        assert_eq!(
            parse(&["cas", "k", "7", "v"]).unwrap().command,
            Cmd::Cas {
                key: "k".into(),
                version: 7,
                value: "v".into()
            }
        );
        assert_eq!(parse(&["gets", "k"]).unwrap().command.op(), "kv_get_ver");
        assert!(parse(&["cas", "k", "-1", "v"]).is_err());
        assert!(parse(&["touch", "k"]).is_err());
        assert!(parse(&["decr", "k", "--ttl", "1s"]).is_err());
    }

    #[test]
    fn malformed_dumps_name_the_line() {
        let good = dump_line(b"a", b"1", None);
        for (bad, why) in [
            ("{\"key\":\"6b\"}", "missing field `value`"),
            (
                "{\"key\":\"6b\",\"value\":\"zz\"}",
                "value: 'zz' is not hex",
            ),
            ("{\"key\":\"\",\"value\":\"\"}", "key is 0 bytes"),
            ("not json", "expected"),
            ("{\"key\":\"6b\",\"value\":\"\",\"x\":1}", "unknown field"),
        ] {
            let text = format!("{good}{good}{bad}\n{good}");
            let err = parse_dump(text.as_bytes()).unwrap_err();
            assert!(err.starts_with("line 3: "), "{bad}: {err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long = format!("{{\"key\":\"6b\",\"value\":\"{}\"}}", "00".repeat(257));
        assert!(parse_dump(long.as_bytes())
            .unwrap_err()
            .contains("257 bytes"));
    }

    #[test]
    fn a_value_from_stdin_is_read_only_one_byte_past_the_limit() {
        let mut endless = std::io::repeat(0);
        assert_eq!(read_value(&mut endless).unwrap().len(), KV_MAX_VAL + 1);
    }

    #[test]
    fn conditional_puts_report_as_kv_put() {
        let cli = parse(&["put", "--nx", "k", "v"]).unwrap();
        assert_eq!(cli.command.op(), "kv_put");
    }

    #[test]
    fn malformed_load_is_a_usage_error_before_the_device() {
        let cli = parse(&["--device", "/nonexistent/kvstore", "load"]).unwrap();
        let failure = run(&cli, &mut &b"{\"key\":1}\n"[..], &mut Vec::new()).unwrap_err();
        assert_eq!(failure.status, exit::USAGE);
        assert!(
            failure.message.starts_with("kv_load error: line 1: "),
            "{}",
            failure.message
        );
    }

    #[test]
    fn bad_hex_is_a_usage_error_even_without_the_device() {
        let cli = parse(&["--device", "/nonexistent/kvstore", "--hex", "get", "xyz"]).unwrap();
        assert_eq!(
            run(&cli, &mut std::io::empty(), &mut Vec::new())
                .unwrap_err()
                .status,
            exit::USAGE
        );
    }

    #[test]
    fn missing_device_fails_with_the_hint() {
        let cli = parse(&["--device", "/nonexistent/kvstore", "stat"]).unwrap();
        let failure = run(&cli, &mut std::io::empty(), &mut Vec::new()).unwrap_err();
        assert_eq!(failure.status, exit::FAILURE);
        assert!(failure
            .message
            .starts_with("kv_open error: /nonexistent/kvstore: no such device"));
    }
}
