//! kvctl: `kvctl put <key> <value>`, `get`, `del`, `stat`. See `kvctl --help`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use kvctl::{exit, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors: message on stderr, status 2
    match kvctl::run(&cli, &mut std::io::stdin().lock()) {
        Ok(out) => match std::io::stdout().write_all(&out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kvctl: writing standard output: {e}");
                ExitCode::from(exit::FAILURE)
            }
        },
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}
