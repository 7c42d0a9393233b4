// SPDX-License-Identifier: GPL-2.0
//! The background reclaim of expired items: a delayed work item that, every
//! [`PERIOD_MS`], removes the items whose deadline has passed, earliest
//! first, [`STEP`] at a time under the writer lock, so `curr_items` and
//! `bytes_used` stop counting an expired item soon after its expiry even if
//! no operation touches it (as Redis's active expiry does). Each lock hold is
//! bounded, and the work yields between steps; after [`STEPS_PER_RUN`] steps
//! it queues itself again at once instead of holding the worker.
//!
//! # Lifetime
//!
//! [`start`] runs in `KvModule::init` once the store is installed and
//! before the device is registered; [`stop`] runs in `drop` after the
//! device is gone and before the store is freed. `cancel_delayed_work_sync`
//! waits for a running pass and defeats its requeueing, so no pass runs or
//! is pending once [`stop`] returns: the store and this module's code
//! outlive every pass.

use core::ptr::addr_of_mut;

use kernel::{bindings, prelude::*, sync::static_lock_class, types::Opaque};

use crate::dump::cond_resched;
use crate::loaded_store::{now_ns, shared, with_writer};

/// Time between passes; with the pass itself, well within the 2 seconds
/// the ABI allows between an item's expiry and its removal.
const PERIOD_MS: u32 = 250;
/// Items removed per hold of the writer lock.
const STEP: u32 = 64;
/// Steps in one run of the work before it yields the worker.
const STEPS_PER_RUN: u32 = 64;

/// The work item, in static storage so it needs no allocation and no
/// pointer back to anything.
struct ReclaimWork(Opaque<bindings::delayed_work>);

// SAFETY: The `delayed_work` is only reached through the workqueue API
// (init once in `start`, then queue and cancel), which serializes access
// itself and may be called from any thread.
unsafe impl Sync for ReclaimWork {}

static WORK: ReclaimWork = ReclaimWork(Opaque::uninit());

/// Initialises the work item and queues its first pass. Called once, from
/// `KvModule::init`, after the store is installed.
pub(crate) fn start() {
    let dwork = WORK.0.get();
    // SAFETY: `dwork` points to static storage for a `delayed_work`, which
    // nothing else uses before this (the work is queued only below). This
    // is what `INIT_DELAYED_WORK` does, and what the kernel crate's
    // `DelayedWork::new` does: `run` has the work function's signature, and
    // `delayed_work_timer_fn` may be the timer's function because the timer
    // is embedded in a `delayed_work` and only armed by the workqueue code,
    // in irqsafe mode. The lock class keys are static.
    unsafe {
        bindings::init_work_with_key(
            addr_of_mut!((*dwork).work),
            Some(run),
            false,
            c"kv_reclaim".as_char_ptr(),
            static_lock_class!().as_ptr(),
        );
        bindings::timer_init_key(
            addr_of_mut!((*dwork).timer),
            Some(bindings::delayed_work_timer_fn),
            bindings::TIMER_IRQSAFE,
            c"kv_reclaim_timer".as_char_ptr(),
            static_lock_class!().as_ptr(),
        );
    }
    queue(PERIOD_MS);
}

/// Cancels the work and waits for a running pass to finish. Called from
/// `drop` (and a failed init) before the store is freed.
pub(crate) fn stop() {
    // SAFETY: `start` initialised the work item; cancelling it waits for a
    // running pass and handles one that queues itself again.
    unsafe { bindings::cancel_delayed_work_sync(WORK.0.get()) };
}

fn queue(delay_ms: u32) {
    // SAFETY: The work item was initialised by `start` and lives in static
    // storage; `system_power_efficient_wq` is set up at boot and never
    // freed. Queueing an already queued work does nothing.
    unsafe {
        let jiffies = bindings::__msecs_to_jiffies(delay_ms);
        bindings::queue_delayed_work_on(
            bindings::wq_misc_consts_WORK_CPU_UNBOUND as core::ffi::c_int,
            bindings::system_power_efficient_wq,
            WORK.0.get(),
            jiffies,
        );
    }
}

/// One pass: expired items out, a bounded number per lock hold.
extern "C" fn run(_work: *mut bindings::work_struct) {
    // Between `start` and `stop` the store exists (module lifetime above).
    let Ok(store) = shared() else {
        return;
    };
    for _ in 0..STEPS_PER_RUN {
        let more = with_writer(|writer| Ok(writer.reclaim_expired(store, now_ns(), STEP)))
            .is_ok_and(|(_, more)| more);
        if !more {
            queue(PERIOD_MS);
            return;
        }
        cond_resched();
    }
    // Still more: run again soon, letting other work use the worker.
    queue(0);
}
