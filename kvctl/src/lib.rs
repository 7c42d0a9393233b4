//! kvctl: the command line of kvstore. Parsing, formatting and the mapping
//! of errors to messages and exit statuses live here, testable without the
//! device; `main.rs` only wires them to [`kvlib::Store`].

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, Parser, Subcommand};
use kvlib::{Error, Policy, Put, Stat, Store, KV_MAX_KEY, KV_MAX_VAL};
use serde::{Deserialize, Serialize};

/// Exit statuses, documented in `--help`.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The key was not in the store (get, del, put --xx).
    pub const NOT_FOUND: u8 = 1;
    /// Bad command line (clap's own status), or malformed `load` input.
    pub const USAGE: u8 = 2;
    /// Anything else: device missing, no permission, store full, bad lengths.
    pub const FAILURE: u8 = 3;
    /// The key was already in the store (put --nx).
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
sieve), hits, misses, evictions and bytes_used, then puts and deletes when
the module counts them. stat --json prints the same fields as one JSON
object, with \"lru\" true only for exact LRU and \"policy\" one of \"none\",
\"lru\" or \"sieve\".

Dump and load:
dump writes every item as one JSON object per line, key and value in
hexadecimal, which load reads back byte for byte:
 {\"key\":\"68656c6c6f\",\"value\":\"776f726c64\"}
 kvctl dump >backup; kvctl clear; kvctl load backup

load checks the whole input first (JSON, hex, key and value lengths): a
malformed line is reported with its number and nothing is written. A store
that fills up during a load stops it at the item that did not fit. load
ends with \"loaded N items\" on standard error.

Exit status:
 0 success
 1 key not found (get, del, put --xx)
 2 usage error, or malformed load input
 3 any other failure (device missing, permission denied, store full, key or value too long)
 4 key exists (put --nx)

Examples:
 kvctl put hello world
 kvctl get hello
 kvctl --hex put 00ff00 ff00fe
 kvctl put config - <config.bin
 kvctl put --nx lock me
 kvctl stat --json";

/// Command-line client of kvstore, the in-kernel key-value store.
///
/// kvctl works on the store through its device, /dev/kvstore, which the kv
/// kernel module creates (--device or KVSTORE_DEVICE names another). get,
/// stat, list and dump open the device read-only, so read permission on it
/// is enough for them; put, del, load and clear open it for writing (root,
/// or a member of the group that owns the device: kvstore after make
/// install).
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
        #[arg(long)]
        json: bool,
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
        policy: s.policy.name(),
    };
    // Serialising plain integers and booleans cannot fail.
    let mut out = serde_json::to_string(&json).unwrap_or_default();
    out.push('\n');
    out
}

/// One line of `kvctl dump`: key and value as lower-case hex.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DumpLine {
    pub key: String,
    pub value: String,
}

/// An item as `(key, value)`.
pub type Item = (Vec<u8>, Vec<u8>);

/// A dump line for one item.
pub fn dump_line(key: &[u8], value: &[u8]) -> String {
    let line = DumpLine {
        key: encode_hex(key),
        value: encode_hex(value),
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
        items.push((key, value));
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
        Cmd::Put { key, .. } | Cmd::Get { key } | Cmd::Del { key } => {
            arg_bytes(key, cli.hex).map_err(usage)?
        }
        _ => Vec::new(),
    };
    let value = match &cli.command {
        Cmd::Put { value, .. } if value == "-" => read_value(stdin).map_err(|e| Failure {
            message: format!("{op} error: reading standard input: {e}"),
            status: exit::FAILURE,
        })?,
        Cmd::Put { value, .. } => arg_bytes(value, cli.hex).map_err(usage)?,
        _ => Vec::new(),
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
        Cmd::Get { .. } | Cmd::Stat { .. } | Cmd::List | Cmd::Dump => {
            Store::open_path_read_only(&cli.device)
        }
        Cmd::Put { .. } | Cmd::Del { .. } | Cmd::Load { .. } | Cmd::Clear => {
            Store::open_path(&cli.device)
        }
    }
    .map_err(|e| Failure::from_error("kv_open", &e))?;
    let fail = |e: Error| Failure::from_error(op, &e);
    let write = |out: &mut dyn Write, bytes: &[u8]| {
        out.write_all(bytes).map_err(|e| Failure::output(op, e))
    };
    match &cli.command {
        Cmd::Put { nx, xx, .. } => {
            let when = match (nx, xx) {
                (true, _) => Put::IfAbsent,
                (_, true) => Put::IfPresent,
                _ => Put::Always,
            };
            store.put_with(&key, &value, when).map_err(fail)
        }
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
        Cmd::Stat { json } => {
            let stat = store.stat().map_err(fail)?;
            let text = if *json {
                format_stat_json(&stat)
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
                write(out, dump_line(&key, &value).as_bytes())?;
            }
            out.flush().map_err(|e| Failure::output(op, e))
        }
        Cmd::Load { .. } => {
            for (n, (key, value)) in items.iter().enumerate() {
                store.put(key, value).map_err(|e| Failure {
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
        assert_eq!(parse(&["stat"]).unwrap().command, Cmd::Stat { json: false });
        assert_eq!(
            parse(&["stat", "--json"]).unwrap().command,
            Cmd::Stat { json: true }
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
        let text = format!("{}\n{}", dump_line(&key, &value), dump_line(b"\n\0", b""));
        assert_eq!(
            parse_dump(text.as_bytes()).unwrap(),
            vec![(key, value), (b"\n\0".to_vec(), vec![])]
        );
        assert_eq!(
            dump_line(b"k", b"\xff"),
            "{\"key\":\"6b\",\"value\":\"ff\"}\n"
        );
    }

    #[test]
    fn malformed_dumps_name_the_line() {
        let good = dump_line(b"a", b"1");
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
