// SPDX-License-Identifier: GPL-2.0
/*
 * The tracepoints of kv_trace.h, defined in this module, and one function
 * per event for Rust to call (trace.rs declares them). Each is a call and a
 * static-branch test while its event is off.
 */

#define CREATE_TRACE_POINTS
#include "kv_trace.h"

void kv_trace_evict(u32 slot, u32 policy, u32 items);
void kv_trace_expire(u32 slot, u32 cause, u32 items);
void kv_trace_put_refused(u32 items, u32 max_items);

void kv_trace_evict(u32 slot, u32 policy, u32 items)
{
	trace_kv_evict(slot, policy, items);
}

void kv_trace_expire(u32 slot, u32 cause, u32 items)
{
	trace_kv_expire(slot, cause, items);
}

void kv_trace_put_refused(u32 items, u32 max_items)
{
	trace_kv_put_refused(items, max_items);
}
