//! kvctl: `kvctl put <key> <value>`, `get`, `del`, `stat`, `list`, `dump`,
//! `load`, `clear`, and the cache's `ttl`, `touch`, `incr`, `decr`, `gets`,
//! `cas`. See `kvctl --help`.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use kvctl::{exit, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors: message on stderr, status 2
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    match kvctl::run(&cli, &mut std::io::stdin().lock(), &mut out) {
        Ok(()) => match out.flush() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kvctl: writing standard output: {e}");
                ExitCode::from(exit::FAILURE)
            }
        },
        Err(failure) => {
            // What was printed before the failure still goes out.
            drop(out.into_inner());
            eprintln!("{}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}
