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
	'Kernel memory per item' 'kvstore use_lru=0     get ' 'BPF hash              90% get, 10% put' \
	'Miss ratio (cache-aside' 'zipf 0.8 ' 'zipf 1.0 ' 'zipf 1.0 + scan of 200 '; do
	check "bench/table has '$row'" grep -qF "$row" /tmp/table.txt
done
# kv-peers, with the peers that need no server (make bench adds memcached and
# Redis): every row it prints for kvstore and LMDB, from a loaded kv.ko.
if reload bench/peers-quick buckets=128 max_items=100 use_lru=0; then
	check bench/peers-quick sh -c "/extra/kv-peers --items 100 --ops 200 --kvstore /dev/kvstore --lmdb /tmp/lmdb >/tmp/peers.json"
	for row in '"ioctl floor", "op": "ENOTTY"' '"kvstore", "op": "get hit"' '"kvstore", "op": "put replace"' \
		'"LMDB", "op": "get hit"' '"LMDB", "op": "put replace"'; do
		check "bench/peers has $row" grep -qF "\"target\": $row" /tmp/peers.json
	done
	rmmod kv
fi
# Every stream row has a miss ratio for LRU, SIEVE and BPF LRU hash.
check "bench/miss ratio rows have 3 figures" sh -c \
	"[ \$(grep -cE '^zipf [0-9.]+( \+ scan of [0-9]+)? +([0-9.]+% +){2}[0-9.]+%$' /tmp/table.txt) = 3 ]"
exit $failed
