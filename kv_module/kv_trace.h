/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kv.ko's tracepoints: the store's rare events, for an operator to count
 * (`perf stat -e 'kv:*'`, bpftrace, or tracefs's events/kv/). They carry
 * slot numbers, counts and the policy, never a key or a value.
 *
 * The 7.2 kernel crate declares tracepoints only for events listed in the
 * kernel's own bindings, so the events are defined here, in C, and Rust
 * calls the wrappers in kv_trace.c (declared in trace.rs).
 */

#undef TRACE_SYSTEM
#define TRACE_SYSTEM kv

#if !defined(_KV_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KV_TRACE_H

#include <linux/tracepoint.h>

/* The eviction policies, as module parameter use_lru numbers them. */
#define kv_show_policy(p) \
	__print_symbolic(p, { 0, "none" }, { 1, "lru" }, { 2, "sieve" })

/* Where an expired item was removed (enum Expired in store.rs). */
#define kv_show_expire_cause(c) \
	__print_symbolic(c, { 0, "reclaim" }, { 1, "access" }, { 2, "room" })

TRACE_EVENT(kv_evict,
	TP_PROTO(u32 slot, u32 policy, u32 items),
	TP_ARGS(slot, policy, items),
	TP_STRUCT__entry(
		__field(u32, slot)
		__field(u32, policy)
		__field(u32, items)
	),
	TP_fast_assign(
		__entry->slot = slot;
		__entry->policy = policy;
		__entry->items = items;
	),
	TP_printk("slot=%u policy=%s items=%u", __entry->slot,
		  kv_show_policy(__entry->policy), __entry->items)
);

TRACE_EVENT(kv_expire,
	TP_PROTO(u32 slot, u32 cause, u32 items),
	TP_ARGS(slot, cause, items),
	TP_STRUCT__entry(
		__field(u32, slot)
		__field(u32, cause)
		__field(u32, items)
	),
	TP_fast_assign(
		__entry->slot = slot;
		__entry->cause = cause;
		__entry->items = items;
	),
	TP_printk("slot=%u cause=%s items=%u", __entry->slot,
		  kv_show_expire_cause(__entry->cause), __entry->items)
);

TRACE_EVENT(kv_put_refused,
	TP_PROTO(u32 items, u32 max_items),
	TP_ARGS(items, max_items),
	TP_STRUCT__entry(
		__field(u32, items)
		__field(u32, max_items)
	),
	TP_fast_assign(
		__entry->items = items;
		__entry->max_items = max_items;
	),
	TP_printk("items=%u max_items=%u", __entry->items, __entry->max_items)
);

#endif /* _KV_TRACE_H */

/* Outside the guard: define_trace.h reads this header again. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE kv_trace
#include <trace/define_trace.h>
