# params: buckets=4 max_items=16 use_lru=0
# Lock-free readers against concurrent writers on every guest CPU: torn
# reads with each policy (a small table, so chains are shared and deleted
# slots are reused by other keys), and eviction with LRU and SIEVE in a
# store smaller than the working set, with counters that must reconcile.
T=/extra/kv-guest-tests
failed=0
reload() { rmmod kv 2>/dev/null; insmod /lib/kv.ko "$@" || { echo "FAIL: module/concurrency/insmod: $*"; failed=1; return 1; }; }
group() { "$T" "$@" || failed=1; }

group torn none
reload buckets=4 max_items=16 use_lru=1 && group torn lru
reload buckets=4 max_items=16 use_lru=2 && group torn sieve
reload buckets=16 max_items=64 use_lru=1 && group evict lru
reload buckets=16 max_items=64 use_lru=2 && group evict sieve
# Large arrays come from vmalloc: loading and unloading them is clean too
# (the kernel log is checked after the run).
if reload buckets=65536 max_items=100000 use_lru=2 && kvctl put big v >/dev/null && [ "$(kvctl get big)" = v ] && rmmod kv; then
	echo "PASS: module/concurrency/large_store_load_unload"
else
	echo "FAIL: module/concurrency/large_store_load_unload"
	failed=1
fi
exit $failed
