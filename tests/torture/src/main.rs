//! kv-torture: the torture programs of `make torture` (and, shortened, of
//! `make test`), run inside the test guest against the real `/dev/kvstore`.
//! tests/torture/guest.sh drives them; each prints its summary line and
//! exits non-zero on any failure.

mod args;
mod checks;
mod conc;
mod fuzz;
mod fuzzmap;

const USAGE: &str = "usage: kv-torture COMMAND [OPTIONS]
  fuzz [--seed S] [--ioctls N] [--threads T]   random and hostile ioctls and mappings
  concurrency [--procs P] [--threads T] [--millis MS] [--keys K] [--seed S]
  clear-race [--readers R] [--millis MS] [--keys K] [--seed S]
                                               mapped gets against clears and new chunks
  big                                          fill the loaded store to max_items
  access                                       O_RDONLY files cannot write, O_WRONLY ones cannot read
  faults-after-load [--ops N]                  ops with this thread's allocations failing";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let rest = &args[1..];
    let result: Result<bool, String> = match cmd.as_str() {
        "fuzz" => fuzz::run(rest).and_then(|o| {
            fuzz::check_store()?;
            println!(
                "fuzz: {} ioctls, {} mmaps ({} mapped), {} unexpected",
                o.ioctls, o.mmaps, o.mapped, o.unexpected
            );
            Ok(o.unexpected == 0)
        }),
        "concurrency" => conc::run(rest).map(|s| {
            println!(
                "concurrency: use_lru={}: {} procs x {} threads x {} s, {} ops, {} gets through the mapping, {} violations",
                s.use_lru,
                s.procs,
                s.threads,
                s.millis as f64 / 1000.0,
                s.ops,
                s.mapped_gets,
                s.violations
            );
            s.violations == 0
        }),
        "conc-worker" => conc::worker(rest),
        "clear-race" => conc::clear_race(rest).map(|(line, violations)| {
            println!("{line}");
            violations == 0
        }),
        "big" => checks::big(rest).map(|line| {
            println!("{line}");
            true
        }),
        "access" => checks::access(rest).map(|line| {
            println!("{line}");
            true
        }),
        "faults-after-load" => checks::faults_after_load(rest).map(|line| {
            println!("{line}");
            true
        }),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let ok = match result {
        Ok(ok) => ok,
        Err(e) => {
            println!("{cmd}: error: {e}");
            false
        }
    };
    std::process::exit(i32::from(!ok));
}
