# params: buckets=64 max_items=1024 use_lru=0
# Issue 11 in the guest: put with flags, batch, dump, clear and stat's new
# fields through raw ioctls (kv-api-tests), libkv.so from C, kvlib, a 32-bit
# caller, and kvctl's put --nx/--xx, list, dump, load and clear. Each part
# runs against a freshly loaded module. Prints PASS/FAIL lines.
T=/extra/kv-api-tests
failed=0
nl='
'
pass() { echo "PASS: api/$1"; }
fail() { echo "FAIL: api/$1: $2"; failed=1; }
reload() { rmmod kv 2>/dev/null; insmod /lib/kv.ko "$@" || fail "insmod $*" "failed"; }

"$T" basic || failed=1
reload max_items=3 use_lru=0 && { "$T" full || failed=1; }
reload max_items=3 use_lru=1 && { "$T" lru || failed=1; }
reload buckets=64 max_items=1024 && { "$T" race || failed=1; }
reload buckets=64 max_items=1024 && { /extra/libkv_api_test || failed=1; }
reload buckets=64 max_items=1024 && { /extra/kv_api || failed=1; }
reload && { /extra/compat32_test >/tmp/c32 || failed=1; sed 's|^\(PASS\|FAIL\): compat32/|\1: api/compat32/|' /tmp/c32; }

# kvctl ---------------------------------------------------------------------
reload buckets=64 max_items=1024
# check NAME EXPECTED-STATUS EXPECTED-STDOUT EXPECTED-STDERR COMMAND...
check() {
	name=$1 want_status=$2 want_out=$3 want_err=$4
	shift 4
	out=$("$@" 2>/tmp/err)
	status=$?
	err=$(cat /tmp/err)
	if [ "$status" != "$want_status" ]; then
		fail "kvctl/$name" "exit $status, expected $want_status (stderr: $err)"
	elif [ "$out" != "$want_out" ]; then
		fail "kvctl/$name" "stdout '$out', expected '$want_out'"
	elif [ "$err" != "$want_err" ]; then
		fail "kvctl/$name" "stderr '$err', expected '$want_err'"
	else
		pass "kvctl/$name"
	fi
}
check put_xx_absent 1 "" "kv_put error: Key not found" kvctl put --xx k v
check put_xx_absent_wrote_nothing 1 "" "kv_get error: Key not found" kvctl get k
check put_nx_absent 0 "" "" kvctl put --nx k v1
check put_nx_present 4 "" "kv_put error: Key exists" kvctl put --nx k v2
check put_nx_kept_value 0 "v1" "" kvctl get k
check put_xx_present 0 "" "" kvctl put --xx k v3
check put_xx_replaced 0 "v3" "" kvctl get k
check put_nx_xx_usage 2 "" "" sh -c 'kvctl put --nx --xx k v 2>/dev/null'
check list_one 0 "k" "" kvctl list
check clear 0 "" "" kvctl clear
check list_empty 0 "" "" kvctl list
check dump_empty 0 "" "" kvctl dump

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
check fill 0 "" "loaded 150 items" kvctl load /tmp/items
head -c 256 /dev/urandom >/tmp/rand256
kvctl put rand - </tmp/rand256
kvctl dump >/tmp/dump1 || fail kvctl/dump "failed"
if [ "$(wc -l </tmp/dump1)" = 151 ]; then pass kvctl/dump_lines; else fail kvctl/dump_lines "$(wc -l </tmp/dump1) lines"; fi
kvctl list --hex | sort >/tmp/keys1
if [ "$(wc -l </tmp/keys1)" = 151 ] && grep -q '^0000ff000a$' /tmp/keys1 && grep -q '^72616e64$' /tmp/keys1; then
	pass kvctl/list_hex
else
	fail kvctl/list_hex "$(head -3 /tmp/keys1)"
fi
if [ "$(kvctl list | wc -l)" -ge 151 ]; then pass kvctl/list_raw; else fail kvctl/list_raw "too few lines"; fi
kvctl clear
check cleared 0 "curr_items: 0" "" sh -c 'kvctl stat | grep curr_items'
check load 0 "" "loaded 151 items" kvctl load /tmp/dump1
kvctl dump >/tmp/dump2
if [ "$(sort /tmp/dump1)" = "$(sort /tmp/dump2)" ]; then pass kvctl/round_trip; else fail kvctl/round_trip "dump after load differs"; fi
k=$(sed -n 7p /tmp/dump1 | cut -d'"' -f4) v=$(sed -n 7p /tmp/dump1 | cut -d'"' -f8)
check round_trip_get 0 "$v" "" kvctl --hex get "$k"
kvctl get rand >/tmp/rand_out
head -c 256 /tmp/rand_out | cmp -s - /tmp/rand256 && pass kvctl/round_trip_binary_stdin || fail kvctl/round_trip_binary_stdin "bytes differ"
kvctl clear
check load_stdin 0 "" "loaded 151 items" sh -c 'kvctl load </tmp/dump1'
kvctl clear
check load_dash 0 "" "loaded 151 items" sh -c 'kvctl load - </tmp/dump1'

# Malformed input: rejected with its line number before anything is written.
kvctl clear
{ head -5 /tmp/dump1; echo '{"key":"6b","value":"zz"}'; tail -3 /tmp/dump1; } >/tmp/bad
check load_malformed 2 "" "kv_load error: line 6: value: 'zz' is not hex: 'z' is no hex digit" kvctl load /tmp/bad
check load_malformed_wrote_nothing 0 "curr_items: 0" "" sh -c 'kvctl stat | grep curr_items'
printf '{"key":"6b","value":"00"}\nnot json\n' >/tmp/bad2
out=$(kvctl load /tmp/bad2 2>&1); status=$?
if [ $status = 2 ] && echo "$out" | grep -q '^kv_load error: line 2: expected'; then pass kvctl/load_not_json; else fail kvctl/load_not_json "$status: $out"; fi
printf '{"key":"%s","value":""}\n' "$(printf '%0130d' 0)" >/tmp/bad3
check load_key_too_long 2 "" "kv_load error: line 1: key is 65 bytes; keys are 1 to 64 bytes" kvctl load /tmp/bad3
check load_missing_file 3 "" "kv_load error: /nonexistent: No such file or directory (os error 2)" kvctl load /nonexistent
check load_wrote_nothing 0 "" "" kvctl list

# A full store stops the load with the item that did not fit.
reload max_items=2
check load_full 3 "" "kv_load error: item 3 of 151: Store is full (max_items reached and use_lru=0)" kvctl load /tmp/dump1

# put KEY - reads at most KV_MAX_VAL + 1 bytes of an endless input.
reload
check stdin_endless 3 "" "kv_put error: value is 257 bytes; values are at most 256 bytes" sh -c 'kvctl put k - </dev/zero'
check stdin_256 0 "" "" sh -c 'head -c 256 /dev/zero | kvctl put k -'
kvctl del k
check stat_counters 0 "puts: 1${nl}deletes: 1" "" sh -c 'kvctl stat | tail -2'
exit $failed
