//! Writes kvctl's man page and shell completions into a directory:
//! `kvctl-gen-docs DIR` (run by `make docs`, installed by `make install`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap_complete::{generate_to, Shell};

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: kvctl-gen-docs DIR");
        return ExitCode::from(2);
    };
    match generate(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvctl-gen-docs: {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

fn generate(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = kvctl::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join("kvctl.1"), page)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        generate_to(shell, &mut cmd, "kvctl", dir)?;
    }
    Ok(())
}
