# params: --no-load
# guest: semantics
# Linearizability (kv-lincheck): histories of gets, puts (plain and
# conditional), dels, the cache ops (get-ver, put-ver, incr) and batches of
# both kinds from 2 threads on every guest CPU against
# a two-item store of one bucket under each policy, so nearly every put of
# a new key evicts; each history is checked against the sequential model of
# the store (Wing & Gong's search). A failure prints the shortest failing
# prefix of the history.
. /extra/lib.sh
[ "$(nproc)" -ge 2 ] || fail linearizable/cpus "the guest has $(nproc) CPU, concurrency needs 2"
for lru in 0 1 2; do
	reload "linearizable/use_lru=$lru/insmod" buckets=1 max_items=2 use_lru=$lru &&
		run /extra/kv-lincheck --rounds 300 --seconds 20
done
exit $failed
