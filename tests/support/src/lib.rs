//! What kvstore's guest test programs (`kv-device-tests`, `kv-torture`) and
//! its benchmark (`kv-bench`) share, so each exists once:
//!
//! - [`dev`]: `/dev/kvstore` through raw ioctls (not kvlib), so bad
//!   lengths, bad pointers and unknown commands reach the kernel exactly as
//!   a hostile caller sends them, and loading kv.ko in the guest;
//! - [`build`]: the ABI structs built from bytes;
//! - [`rng`]: one seeded generator;
//! - [`mem`]: page mappings with holes and read-only pages;
//! - [`check`]: the checks' outcome, `ensure!` and friends, and the group
//!   runner that prints one `PASS:`/`FAIL:` line per test.

pub mod build;
pub mod check;
pub mod dev;
pub mod mem;
pub mod rng;

pub use build::{binary, cache_op, key_of, op, pair, RESULT_UNSET};
pub use check::{expect_errno, expect_value, join_all, ok, run_groups, same, Group, Outcome, Test};
pub use dev::{
    errno, errno_name, load_module, unload_module, Dev, Errno, DEVICE, MODULE, UNTOUCHED,
};
pub use mem::{map, mapping, protect, PAGE};
pub use rng::Rng;
