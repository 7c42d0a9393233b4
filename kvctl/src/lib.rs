//! kvctl: the command line of kvstore. Parsing, formatting and the mapping
//! of errors to messages and exit statuses live here, testable without the
//! device; `main.rs` only wires them to [`kvlib::Store`].

use std::io::Read;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use kvlib::{Error, Policy, Stat, Store};

/// Exit statuses, documented in `--help`.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The key was not in the store (get, del).
    pub const NOT_FOUND: u8 = 1;
    /// Bad command line (clap's own status).
    pub const USAGE: u8 = 2;
    /// Anything else: device missing, no permission, store full, bad lengths.
    pub const FAILURE: u8 = 3;
}

const AFTER_HELP: &str = "\
Exit status: 0 success, 1 key not found, 2 usage error, 3 any other failure
(device missing, permission denied, store full, key or value too long).

Keys are 1 to 64 bytes and values 0 to 256 bytes. Use --hex for bytes a shell
cannot carry, and - as the value to read it from standard input.";

/// Command-line client of kvstore, the in-kernel key-value store.
#[derive(Debug, Parser)]
#[command(name = "kvctl", version, after_help = AFTER_HELP)]
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
        key: String,
        /// The value; - reads it from standard input (bytes as they are).
        value: String,
    },
    /// Print the value of a key and a newline.
    Get { key: String },
    /// Delete a key.
    Del { key: String },
    /// Print sizes and counters, one `name: value` per line.
    Stat {
        /// Print one JSON object instead.
        #[arg(long)]
        json: bool,
    },
}

impl Cmd {
    /// The library call the command stands for, as errors name it.
    pub fn op(&self) -> &'static str {
        match self {
            Cmd::Put { .. } => "kv_put",
            Cmd::Get { .. } => "kv_get",
            Cmd::Del { .. } => "kv_del",
            Cmd::Stat { .. } => "kv_stat",
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
    /// `kv_get error: Key not found`, the seed's form.
    pub fn from_error(op: &str, err: &Error) -> Failure {
        let status = match err {
            Error::NotFound => exit::NOT_FOUND,
            _ => exit::FAILURE,
        };
        Failure {
            message: format!("{op} error: {err}"),
            status,
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

/// `kvctl stat`: the seed's four lines, then the counters.
pub fn format_stat(s: &Stat) -> String {
    format!(
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
    )
}

/// `kvctl stat --json`: the same fields as one JSON object.
pub fn format_stat_json(s: &Stat) -> String {
    format!(
        "{{\"buckets\":{},\"max_items\":{},\"curr_items\":{},\"lru\":{},\"hits\":{},\"misses\":{},\"evictions\":{},\"bytes_used\":{},\"policy\":\"{}\"}}\n",
        s.bucket_count, s.max_items, s.curr_items, s.use_lru, s.hits, s.misses, s.evictions, s.bytes_used,
        s.policy.name()
    )
}

/// Runs a parsed command; what to print on stdout, or the failure.
/// Arguments are decoded before the device is opened, so a usage error is
/// reported as one even without the module.
pub fn run(cli: &Cli, stdin: &mut dyn Read) -> Result<Vec<u8>, Failure> {
    let op = cli.command.op();
    let usage = |message: String| Failure {
        message: format!("{op} error: {message}"),
        status: exit::USAGE,
    };
    let key = match &cli.command {
        Cmd::Put { key, .. } | Cmd::Get { key } | Cmd::Del { key } => {
            arg_bytes(key, cli.hex).map_err(usage)?
        }
        Cmd::Stat { .. } => Vec::new(),
    };
    let value = match &cli.command {
        Cmd::Put { value, .. } if value == "-" => {
            let mut buf = Vec::new();
            stdin.read_to_end(&mut buf).map_err(|e| Failure {
                message: format!("{op} error: reading standard input: {e}"),
                status: exit::FAILURE,
            })?;
            buf
        }
        Cmd::Put { value, .. } => arg_bytes(value, cli.hex).map_err(usage)?,
        _ => Vec::new(),
    };

    // Commands that only read open the device read-only, so they work with
    // read permission alone.
    let store = match &cli.command {
        Cmd::Get { .. } | Cmd::Stat { .. } => Store::open_path_read_only(&cli.device),
        Cmd::Put { .. } | Cmd::Del { .. } => Store::open_path(&cli.device),
    }
    .map_err(|e| Failure::from_error("kv_open", &e))?;
    let fail = |e: Error| Failure::from_error(op, &e);
    match &cli.command {
        Cmd::Put { .. } => store.put(&key, &value).map(|()| Vec::new()).map_err(fail),
        Cmd::Get { .. } => {
            let value = store.get(&key).map_err(fail)?;
            let mut out = if cli.hex {
                encode_hex(&value).into_bytes()
            } else {
                value
            };
            out.push(b'\n');
            Ok(out)
        }
        Cmd::Del { .. } => store.del(&key).map(|()| Vec::new()).map_err(fail),
        Cmd::Stat { json } => {
            let stat = store.stat().map_err(fail)?;
            Ok(if *json {
                format_stat_json(&stat)
            } else {
                format_stat(&stat)
            }
            .into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kvctl").chain(args.iter().copied()))
    }

    #[test]
    fn parses_the_seed_commands() {
        let cli = parse(&["put", "hello", "world"]).unwrap();
        assert_eq!(
            cli.command,
            Cmd::Put {
                key: "hello".into(),
                value: "world".into()
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
    fn stat_output_starts_with_the_seed_lines() {
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
    }

    #[test]
    fn bad_hex_is_a_usage_error_even_without_the_device() {
        let cli = parse(&["--device", "/nonexistent/kvstore", "--hex", "get", "xyz"]).unwrap();
        assert_eq!(
            run(&cli, &mut std::io::empty()).unwrap_err().status,
            exit::USAGE
        );
    }

    #[test]
    fn missing_device_fails_with_the_hint() {
        let cli = parse(&["--device", "/nonexistent/kvstore", "stat"]).unwrap();
        let failure = run(&cli, &mut std::io::empty()).unwrap_err();
        assert_eq!(failure.status, exit::FAILURE);
        assert!(failure
            .message
            .starts_with("kv_open error: /nonexistent/kvstore: no such device"));
    }
}
