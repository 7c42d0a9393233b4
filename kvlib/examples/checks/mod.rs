//! How the examples double as guest tests (tests/suites/library.sh runs
//! them): one `PASS: name` or `FAIL: name` line per check, and an exit
//! status of 1 if any failed.

/// The checks of one example, printed under `prefix`.
pub struct Checks {
    prefix: &'static str,
    failed: bool,
}

impl Checks {
    pub fn new(prefix: &'static str) -> Checks {
        Checks {
            prefix,
            failed: false,
        }
    }

    /// Prints whether the check `name` held.
    pub fn check(&mut self, name: &str, ok: bool) {
        if ok {
            println!("PASS: {}/{name}", self.prefix);
        } else {
            println!("FAIL: {}/{name}", self.prefix);
            self.failed = true;
        }
    }

    /// Ends the example: exit status 1 if a check failed.
    pub fn exit(self) -> ! {
        std::process::exit(i32::from(self.failed))
    }
}
