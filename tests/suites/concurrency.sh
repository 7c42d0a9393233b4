# params: --no-load
# guest: semantics
# Concurrent callers on every guest CPU (kv-device-tests, which loads the
# module for each test): lock-free readers against writers under each
# policy in a small table, so chains are shared and deleted slots are reused
# by other keys (no torn value, no value under the wrong key), and eviction
# with LRU and SIEVE in a store smaller than the working set under
# concurrent writers, deleters and readers, with counters that must
# reconcile. libkv's kv_get from two threads on one descriptor, through
# the mapping without eviction and under SIEVE, against rewrites and
# descriptors opened and closed beside them (libkv_mapped's threaded check).
. /extra/lib.sh
run /extra/kv-device-tests torn evict
reload concurrency/insmod buckets=128 max_items=256 use_lru=0 && run /extra/libkv_mapped smp race
reload concurrency/insmod buckets=128 max_items=256 use_lru=2 && run /extra/libkv_mapped smp-sieve race
rmmod kv
exit $failed
