# params: --no-load
# kernels: debian
# The benchmark program on tiny sizes, so it cannot rot: it must load kv.ko,
# measure every row and print the table. No speed is asserted; `make bench`
# measures, on the perf kernel.
. /extra/lib.sh
B=/extra/kv-bench
check bench/ops-quick sh -c "$B ops --quick >/tmp/ops.json"
check bench/parallel-quick sh -c "$B parallel --quick >/tmp/parallel.json"
check bench/hitratio-quick sh -c "$B hitratio --quick >/tmp/hitratio.json"
check bench/report sh -c "$B report --json /tmp/bench.json /tmp/ops.json /tmp/parallel.json /tmp/hitratio.json >/tmp/table.txt"
cat /tmp/table.txt
for row in 'floor  syscall getppid()' 'floor  ioctl ENOTTY' 'kvstore use_lru=0 get hit' 'kvstore use_lru=1 put insert' \
	'kvstore use_lru=0 stat' 'kvstore use_lru=0 32 gets, one kv_batch' 'use_lru=0 32 gets: batch / 32 ioctls' 'BPF hash get hit' 'BPF LRU hash put replace' 'use_lru=0 get hit / ioctl floor' \
	'kvstore use_lru=0 put replace, TTL' 'kvstore use_lru=2 get hit, version' 'kvstore use_lru=1 incr' 'use_lru=0 TTL put / put' \
	'Kernel memory per item' 'BPF hash BPF_F_NO_PREALLOC' 'memory: BPF hash prealloc memlock: ' 'kvstore use_lru=0               get ' 'BPF hash                        90% get, 10% put' 'kvstore use_lru=2, mapped gets  get ' 'kvstore use_lru=0 get hit, mapped' 'kvstore use_lru=2 get miss, mapped' \
	'kvstore use_lru=0 put insert, growing' 'use_lru=2 growing insert / insert' 'kvstore stat memory' 'memory: kvstore: ' \
	'kvstore insmod 1M' 'kvstore after kv_clear - after insmod' \
	'Miss ratio (cache-aside' 'zipf 0.8 ' 'zipf 1.0 ' 'zipf 1.0 + scan of 200 '; do
	check "bench/table has '$row'" grep -qF "$row" /tmp/table.txt
done
# kv-peers, with the peers that need no server (make bench adds memcached and
# Redis): every row it prints for kvstore, the BPF hash map and LMDB, and their
# memory per item, kvstore's from the load of kv.ko that kv-peers makes itself.
check bench/peers-quick sh -c "/extra/kv-peers --items 100 --ops 200 --kvstore /dev/kvstore \
	--kvstore-module /lib/kv.ko --bpf --lmdb /tmp/lmdb >/tmp/peers.json"
for row in '"ioctl floor", "op": "ENOTTY"' '"kvstore", "op": "get hit"' '"kvstore", "op": "get hit, mapped"' '"kvstore", "op": "put replace"' \
	'"BPF hash", "op": "get hit"' '"BPF hash", "op": "put replace"' \
	'"LMDB", "op": "get hit"' '"LMDB", "op": "put replace"'; do
	check "bench/peers has $row" grep -qF "\"target\": $row" /tmp/peers.json
done
for target in kvstore 'BPF hash prealloc' 'BPF hash BPF_F_NO_PREALLOC' 'BPF hash prealloc memlock' \
	'BPF hash NO_PREALLOC memlock' LMDB; do
	check "bench/peers has $target's memory per item" \
		grep -qE "\"target\": \"$target\", \"bytes_per_item\": -?[0-9]+\.[0-9]" /tmp/peers.json
done
rmmod kv 2>/dev/null
# The same as the peers' report bench/peers-run makes of it, in the table.
printf '{"kernel": "%s", "sizes": [%s]}\n' "$(uname -r)" "$(cat /tmp/peers.json)" >/tmp/peers-report.json
check bench/peers-report sh -c "$B report /tmp/peers-report.json >/tmp/peers-table.txt"
cat /tmp/peers-table.txt
for row in 'kvstore get hit' 'Memory per item in bytes' 'memory: kvstore: ' 'memory: LMDB: '; do
	check "bench/peers table has '$row'" grep -qF "$row" /tmp/peers-table.txt
done
for target in kvstore LMDB; do
	check "bench/peers table has $target's memory row" \
		grep -qE "^$target +-?[0-9]+\$" /tmp/peers-table.txt
done
# Every stream row has a miss ratio for LRU, SIEVE and BPF LRU hash.
check "bench/miss ratio rows have 3 figures" sh -c \
	"[ \$(grep -cE '^zipf [0-9.]+( \+ scan of [0-9]+)? +([0-9.]+% +){2}[0-9.]+%$' /tmp/table.txt) = 3 ]"
exit $failed
