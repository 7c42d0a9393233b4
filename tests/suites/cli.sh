# params: buckets=128 max_items=100 use_lru=1
# kernels: debian debian-cloud debian-rt
# rig: --cpus 1
# guest: userland
# kvctl, the CLI, in the guest: the README's session verbatim, every option
# and exit status, put --nx/--xx, list, dump, load (binary data round trips
# byte for byte, malformed input writes nothing) and clear, stat in the
# Prometheus text format (equal to the device's sysfs files), and the hint
# it gives without the module.
. /extra/lib.sh
nl='
'
session_stat() { # stat's lines, counters then memory last (its bytes as N)
	echo "buckets: 128${nl}max_items: 100${nl}curr_items: $1${nl}lru: yes${nl}hits: $2${nl}misses: $3${nl}evictions: 0${nl}bytes_used: $4${nl}puts: 1${nl}deletes: $5${nl}expired: 0${nl}memory: N"
}
# kvctl stat with its memory line's number, which depends on the build and
# the machine (per-CPU counters), as N if it is a positive number.
stat_memory_n() { kvctl stat | sed 's/^memory: [1-9][0-9]*$/memory: N/'; }

# The README's session.
expect kvctl/session/put 0 "" "" kvctl put hello world
expect kvctl/session/get 0 "world" "" kvctl get hello
expect kvctl/session/stat 0 "$(session_stat 1 1 0 10 0)" "" stat_memory_n
expect kvctl/session/del 0 "" "" kvctl del hello
expect kvctl/session/get_after_del 1 "" "kv_get error: Key not found" kvctl get hello
expect kvctl/session/stat_after_del 0 "$(session_stat 0 1 1 0 1)" "" stat_memory_n

# Every option and exit status.
expect kvctl/del_missing 1 "" "kv_del error: Key not found" kvctl del hello
expect kvctl/hex_put 0 "" "" kvctl --hex put 00ff00 ff00fe
expect kvctl/hex_get 0 "ff00fe" "" kvctl get --hex 00ff00
expect kvctl/hex_bad 2 "" "kv_get error: 'xyz' is not hex: odd number of digits" kvctl --hex get xyz
printf 'line one\nline two\n' >/tmp/value
printf 'line one\nline two\n\n' >/tmp/value-and-newline # get adds the newline
expect kvctl/stdin_put 0 "" "" sh -c 'kvctl put multi - </tmp/value'
kvctl get multi >/tmp/got
if cmp -s /tmp/got /tmp/value-and-newline; then pass kvctl/stdin_round_trip; else fail kvctl/stdin_round_trip "value changed"; fi
head -c 256 /dev/urandom >/tmp/binary
kvctl put bin - </tmp/binary && kvctl --hex get 62696e >/tmp/binhex # "bin" in hex
if [ "$(cat /tmp/binhex)" = "$(od -An -v -tx1 /tmp/binary | tr -d ' \n')" ]; then pass kvctl/binary_via_stdin; else fail kvctl/binary_via_stdin "bytes changed"; fi
expect kvctl/value_too_long 3 "" "kv_put error: value is 257 bytes; values are at most 256 bytes" sh -c 'head -c 257 /dev/zero | kvctl put big -'
expect kvctl/key_too_long 3 "" "kv_put error: key is 65 bytes; keys are 1 to 64 bytes" kvctl put "$(printf '%065d' 0)" v
expect kvctl/empty_key 3 "" "kv_put error: key is 0 bytes; keys are 1 to 64 bytes" kvctl put "" v
json=$(kvctl stat --json)
if echo "$json" | grep -q '^{"buckets":128,"max_items":100,"curr_items":3,"lru":true,"hits":[0-9]*,"misses":[0-9]*,"evictions":0,"bytes_used":[0-9]*,"puts":[0-9]*,"deletes":[0-9]*,"expired":0,"memory":[1-9][0-9]*,"policy":"lru"}$'; then
	pass kvctl/stat_json
else
	fail kvctl/stat_json "$json"
fi
# The Prometheus text format: HELP and TYPE before each sample, counters
# named _total, every value the stat ioctl's (and its sysfs file's).
prom=$(kvctl stat --prometheus)
samples=$(echo "$prom" | grep -v '^#')
if [ "$(echo "$samples" | wc -l)" = 12 ] && [ "$(echo "$prom" | wc -l)" = 36 ] &&
	! echo "$samples" | grep -qv '^kvstore_[a-z_]* [0-9][0-9]*$' &&
	echo "$prom" | grep -qx '# TYPE kvstore_hits_total counter' &&
	echo "$prom" | grep -qx '# TYPE kvstore_curr_items gauge' &&
	echo "$prom" | grep -qx '# HELP kvstore_evictions_total Items evicted to make room for new keys.' &&
	echo "$samples" | grep -qx 'kvstore_curr_items 3' && echo "$samples" | grep -qx 'kvstore_use_lru 1' &&
	[ "$(echo "$samples" | grep -c '_total ')" = 6 ]; then
	pass kvctl/stat_prometheus
else
	fail kvctl/stat_prometheus "$prom"
fi
bad=""
for f in curr_items bytes_used hits misses evictions puts deletes expired buckets max_items use_lru memory; do
	metric=kvstore_$f
	case $f in hits | misses | evictions | puts | deletes | expired) metric=${metric}_total ;; memory) metric=${metric}_bytes ;; esac
	got=$(echo "$samples" | sed -n "s/^$metric //p")
	[ "$got" = "$(cat "/sys/class/misc/kvstore/$f")" ] || bad="$bad $metric=$got"
done
if [ -z "$bad" ]; then pass kvctl/stat_prometheus_equals_sysfs; else fail kvctl/stat_prometheus_equals_sysfs "$bad"; fi
expect kvctl/stat_json_and_prometheus 2 "" "$(kvctl stat --json --prometheus 2>&1)" kvctl stat --json --prometheus
expect kvctl/device_missing 3 "" "kv_open error: /nonexistent: no such device; is the kv module loaded? (sudo insmod kv.ko)" kvctl --device /nonexistent stat
expect kvctl/device_env 3 "" "kv_open error: /nope: no such device; is the kv module loaded? (sudo insmod kv.ko)" env KVSTORE_DEVICE=/nope kvctl stat
kvctl frob >/dev/null 2>&1
[ $? = 2 ] && pass kvctl/usage_error_exit_2 || fail kvctl/usage_error_exit_2 "status $?"
kvctl put onlykey >/dev/null 2>&1
[ $? = 2 ] && pass kvctl/missing_argument_exit_2 || fail kvctl/missing_argument_exit_2 "status $?"
if kvctl --version | grep -q '^kvctl 0\.1\.0$'; then pass kvctl/version; else fail kvctl/version "$(kvctl --version)"; fi
if kvctl get --help | grep -q 'Usage: kvctl get'; then pass kvctl/help_subcommand; else fail kvctl/help_subcommand "no usage"; fi
if kvctl --help | grep -q '1 key not found'; then pass kvctl/help_exit_statuses; else fail kvctl/help_exit_statuses "not documented"; fi

# As a user without access to the device: a clear permission error.
out=$(su -s /bin/sh nobody -c 'kvctl stat' 2>&1); status=$?
if [ $status = 3 ] && echo "$out" | grep -q 'permission denied; run as root or join'; then
	pass kvctl/permission_denied
else
	fail kvctl/permission_denied "status $status: $out"
fi

# A full store without LRU: exit 3 and the store's message.
reload kvctl/insmod max_items=1
kvctl put a 1
expect kvctl/store_full 3 "" "kv_put error: Store is full (max_items reached and use_lru=0)" kvctl put b 2

# put with conditions, list, dump, load, clear.
reload kvctl/insmod buckets=64 max_items=1024
expect kvctl/put_xx_absent 1 "" "kv_put error: Key not found" kvctl put --xx k v
expect kvctl/put_xx_absent_wrote_nothing 1 "" "kv_get error: Key not found" kvctl get k
expect kvctl/put_nx_absent 0 "" "" kvctl put --nx k v1
expect kvctl/put_nx_present 4 "" "kv_put error: Key exists" kvctl put --nx k v2
expect kvctl/put_nx_kept_value 0 "v1" "" kvctl get k
expect kvctl/put_xx_present 0 "" "" kvctl put --xx k v3
expect kvctl/put_xx_replaced 0 "v3" "" kvctl get k
expect kvctl/put_nx_xx_usage 2 "" "" sh -c 'kvctl put --nx --xx k v 2>/dev/null'
expect kvctl/list_one 0 "k" "" kvctl list
expect kvctl/clear 0 "" "" kvctl clear
expect kvctl/list_empty 0 "" "" kvctl list
expect kvctl/dump_empty 0 "" "" kvctl dump

# A store of binary keys and values: dump, clear, load gives it back byte for
# byte (compared through dump and a get). 150 items with NUL, 0xff
# and newline bytes in keys and values, put by one load (a kvctl process per
# put is slow under the debug kernel), and one put from standard input.
awk 'BEGIN {
	for (i = 0; i < 150; i++) {
		v = ""
		for (j = 0; j < (i * 7) % 60; j++) v = v sprintf("%02x", (i * 31 + j * 17) % 256)
		printf "{\"key\":\"%02x00ff%02x0a\",\"value\":\"%s00ff0a\"}\n", i, (i * 7) % 256, v
	}
}' >/tmp/items
expect kvctl/fill 0 "" "loaded 150 items" kvctl load /tmp/items
head -c 256 /dev/urandom >/tmp/rand256
kvctl put rand - </tmp/rand256
kvctl dump >/tmp/dump1 || fail kvctl/dump "kvctl dump failed"
if [ "$(wc -l </tmp/dump1)" = 151 ]; then pass kvctl/dump_lines; else fail kvctl/dump_lines "$(wc -l </tmp/dump1) lines"; fi
kvctl list --hex | sort >/tmp/keys1
if [ "$(wc -l </tmp/keys1)" = 151 ] && grep -q '^0000ff000a$' /tmp/keys1 && grep -q '^72616e64$' /tmp/keys1; then
	pass kvctl/list_hex
else
	fail kvctl/list_hex "$(head -3 /tmp/keys1)"
fi
if [ "$(kvctl list | wc -l)" -ge 151 ]; then pass kvctl/list_raw; else fail kvctl/list_raw "too few lines"; fi
kvctl clear
expect kvctl/cleared 0 "curr_items: 0" "" sh -c 'kvctl stat | grep curr_items'
expect kvctl/load 0 "" "loaded 151 items" kvctl load /tmp/dump1
kvctl dump >/tmp/dump2
if [ "$(sort /tmp/dump1)" = "$(sort /tmp/dump2)" ]; then pass kvctl/round_trip; else fail kvctl/round_trip "dump after load differs"; fi
k=$(sed -n 7p /tmp/dump1 | cut -d'"' -f4) v=$(sed -n 7p /tmp/dump1 | cut -d'"' -f8)
expect kvctl/round_trip_get 0 "$v" "" kvctl --hex get "$k"
kvctl get rand >/tmp/rand_out
head -c 256 /tmp/rand_out | cmp -s - /tmp/rand256 && pass kvctl/round_trip_binary_stdin || fail kvctl/round_trip_binary_stdin "bytes differ"
kvctl clear
expect kvctl/load_stdin 0 "" "loaded 151 items" sh -c 'kvctl load </tmp/dump1'
kvctl clear
expect kvctl/load_dash 0 "" "loaded 151 items" sh -c 'kvctl load - </tmp/dump1'

# Malformed input: rejected with its line number before anything is written.
kvctl clear
{ head -5 /tmp/dump1; echo '{"key":"6b","value":"zz"}'; tail -3 /tmp/dump1; } >/tmp/bad
expect kvctl/load_malformed 2 "" "kv_load error: line 6: value: 'zz' is not hex: 'z' is no hex digit" kvctl load /tmp/bad
expect kvctl/load_malformed_wrote_nothing 0 "curr_items: 0" "" sh -c 'kvctl stat | grep curr_items'
printf '{"key":"6b","value":"00"}\nnot json\n' >/tmp/bad2
out=$(kvctl load /tmp/bad2 2>&1); status=$?
if [ $status = 2 ] && echo "$out" | grep -q '^kv_load error: line 2: expected'; then pass kvctl/load_not_json; else fail kvctl/load_not_json "$status: $out"; fi
printf '{"key":"%s","value":""}\n' "$(printf '%0130d' 0)" >/tmp/bad3
expect kvctl/load_key_too_long 2 "" "kv_load error: line 1: key is 65 bytes; keys are 1 to 64 bytes" kvctl load /tmp/bad3
expect kvctl/load_missing_file 3 "" "kv_load error: /nonexistent: No such file or directory (os error 2)" kvctl load /nonexistent
expect kvctl/load_wrote_nothing 0 "" "" kvctl list

# A full store stops the load with the item that did not fit.
reload kvctl/insmod max_items=2
expect kvctl/load_full 3 "" "kv_load error: item 3 of 151: Store is full (max_items reached and use_lru=0)" kvctl load /tmp/dump1

# put KEY - reads at most KV_MAX_VAL + 1 bytes of an endless input.
reload kvctl/insmod
expect kvctl/stdin_endless 3 "" "kv_put error: value is 257 bytes; values are at most 256 bytes" sh -c 'kvctl put k - </dev/zero'
expect kvctl/stdin_256 0 "" "" sh -c 'head -c 256 /dev/zero | kvctl put k -'
kvctl del k
expect kvctl/stat_counters 0 "puts: 1${nl}deletes: 1${nl}expired: 0" "" sh -c 'kvctl stat | tail -4 | head -3'

# Without the module: a clear hint and a failure status.
rmmod kv
expect kvctl/no_module_hint 3 "" "kv_open error: /dev/kvstore: no such device; is the kv module loaded? (sudo insmod kv.ko)" kvctl stat
exit $failed
