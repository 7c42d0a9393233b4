//! The checks' vocabulary (an [`Outcome`], `ensure!`, [`same`],
//! [`expect_errno`]) and the group runner: a test program's groups of named
//! tests, each test on a freshly loaded kv.ko or on the one the test before
//! left, one `PASS: name` or `FAIL: name: why` line each.

use std::fmt::Debug;

use crate::dev::{load_module, Dev, Errno, MODULE};

/// A test's result: Ok, or why it failed.
pub type Outcome = Result<(), String>;

/// Fails the enclosing test with `format!(...)` unless `$cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Asserts `actual == expected` with both in the message.
pub fn same<T: PartialEq + Debug>(what: &str, actual: T, expected: T) -> Outcome {
    ensure!(
        actual == expected,
        "{what}: got {actual:?}, expected {expected:?}"
    );
    Ok(())
}

/// Asserts that `r` failed with `errno`.
pub fn expect_errno<T: Debug>(what: &str, r: Result<T, Errno>, errno: Errno) -> Outcome {
    match r {
        Err(e) if e == errno => Ok(()),
        other => Err(format!("{what}: got {other:?}, expected errno {errno}")),
    }
}

/// `r`'s value, or a failure naming `what` and the errno.
pub fn ok<T>(what: &str, r: Result<T, Errno>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: errno {e}"))
}

/// Asserts that `key` holds `value`.
pub fn expect_value(dev: &Dev, key: &[u8], value: &[u8]) -> Outcome {
    same(&format!("get {key:?}"), dev.get(key), Ok(value.to_vec()))
}

/// Joins every thread (none is left running) and keeps the first failure;
/// a panic fails as "`who` panicked".
pub fn join_all(threads: Vec<std::thread::JoinHandle<Outcome>>, who: &str) -> Outcome {
    let mut result = Ok(());
    for t in threads {
        let r = t
            .join()
            .map_err(|_| format!("{who} panicked"))
            .and_then(|r| r);
        result = result.and(r);
    }
    result
}

/// A named test of a group.
pub struct Test {
    pub name: &'static str,
    /// Module parameters to load kv.ko with, freshly, before the test;
    /// `None`: the module as the test before left it.
    pub load: Option<&'static str>,
    pub run: fn(&Dev) -> Outcome,
}

impl Test {
    /// `run` on a freshly loaded kv.ko with `params`.
    pub const fn fresh(name: &'static str, params: &'static str, run: fn(&Dev) -> Outcome) -> Test {
        Test {
            name,
            load: Some(params),
            run,
        }
    }

    /// `run` on the store the test before left.
    pub const fn then(name: &'static str, run: fn(&Dev) -> Outcome) -> Test {
        Test {
            name,
            load: None,
            run,
        }
    }
}

/// Tests of one behaviour, run in order.
pub struct Group {
    pub name: &'static str,
    pub tests: &'static [Test],
}

/// The device for `test`: kv.ko reloaded first if the test asks for it (the
/// old file closed first: rmmod refuses while one is open).
fn device_for<'a>(dev: &'a mut Option<Dev>, test: &Test) -> Result<&'a Dev, String> {
    if let Some(params) = test.load {
        *dev = None;
        load_module(MODULE, params).map_err(|e| e.to_string())?;
    }
    if dev.is_none() {
        *dev = Some(Dev::open()?);
    }
    dev.as_ref().ok_or_else(|| "no device".to_string())
}

/// Runs `tests`, printing `PASS: {prefix}/name` or `FAIL: {prefix}/name:
/// why` for each; true if all passed.
pub fn run_group(prefix: &str, tests: &[Test]) -> bool {
    let mut dev = None;
    let mut passed = true;
    for test in tests {
        match device_for(&mut dev, test).and_then(|d| (test.run)(d)) {
            Ok(()) => println!("PASS: {prefix}/{}", test.name),
            Err(why) => {
                println!("FAIL: {prefix}/{}: {why}", test.name);
                passed = false;
            }
        }
    }
    passed
}

/// Runs the groups named in `names` (every group, in order, when there are
/// none) as `{prefix}/{group}/{test}`; exits 1 if a test failed, 2 if a
/// name is not a group.
pub fn run_groups(prefix: &str, groups: &[Group], names: &[String]) -> ! {
    let chosen: Vec<&Group> = if names.is_empty() {
        groups.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for name in names {
            match groups.iter().find(|g| g.name == name) {
                Some(g) => chosen.push(g),
                None => {
                    let all: Vec<&str> = groups.iter().map(|g| g.name).collect();
                    eprintln!("unknown group {name}; the groups: {}", all.join(" "));
                    std::process::exit(2);
                }
            }
        }
        chosen
    };
    let mut passed = true;
    for g in chosen {
        passed &= run_group(&format!("{prefix}/{}", g.name), g.tests);
    }
    std::process::exit(i32::from(!passed));
}
