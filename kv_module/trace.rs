// SPDX-License-Identifier: GPL-2.0
//! The store's events as the tracepoints `kv:kv_evict`, `kv:kv_expire` and
//! `kv:kv_put_refused`, defined in C (`kv_trace.h`, `kv_trace.c`: the 7.2
//! kernel crate declares tracepoints only for the kernel's own events).
//! `store.rs` reports each event through [`store::Events`]; this is the
//! module's implementation. While an event is off, its report is a call and
//! a static-branch test, on paths that are never the hot ones.

use crate::loaded_store::KernelAlloc;
use crate::policy::Policy;
use crate::store::{self, Expired};

// The wrappers of kv_trace.c; their C prototypes are there.
extern "C" {
    fn kv_trace_evict(slot: u32, policy: u32, items: u32);
    fn kv_trace_expire(slot: u32, cause: u32, items: u32);
    fn kv_trace_put_refused(items: u32, max_items: u32);
}

impl store::Events for KernelAlloc {
    fn evicted(slot: u32, policy: Policy, items: u32) {
        // SAFETY: A C function of this module taking three integers by value;
        // it only fires the tracepoint, from any context.
        unsafe { kv_trace_evict(slot, policy as u32, items) };
    }

    fn expired(slot: u32, cause: Expired, items: u32) {
        // SAFETY: As above.
        unsafe { kv_trace_expire(slot, cause as u32, items) };
    }

    fn put_refused(items: u32, max_items: u32) {
        // SAFETY: As above, with two integers.
        unsafe { kv_trace_put_refused(items, max_items) };
    }
}
