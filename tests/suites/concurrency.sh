# params: --no-load
# guest: semantics
# Concurrent callers on every guest CPU (kv-device-tests, which loads the
# module for each test): lock-free readers against writers under each
# policy in a small table, so chains are shared and deleted slots are reused
# by other keys (no torn value, no value under the wrong key), and eviction
# with LRU and SIEVE in a store smaller than the working set under
# concurrent writers, deleters and readers, with counters that must
# reconcile.
. /extra/lib.sh
run /extra/kv-device-tests torn evict
exit $failed
