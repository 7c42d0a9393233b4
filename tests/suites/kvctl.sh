# params: buckets=128 max_items=100 use_lru=1
# kvctl in the guest: the seed's README session verbatim, then the options
# beyond it. Prints PASS/FAIL lines.
failed=0
pass() { echo "PASS: kvctl/$1"; }
fail() { echo "FAIL: kvctl/$1: $2"; failed=1; }
# check NAME EXPECTED-STATUS EXPECTED-STDOUT EXPECTED-STDERR COMMAND...
check() {
	name=$1 want_status=$2 want_out=$3 want_err=$4
	shift 4
	out=$("$@" 2>/tmp/err)
	status=$?
	err=$(cat /tmp/err)
	if [ "$status" != "$want_status" ]; then
		fail "$name" "exit $status, expected $want_status (stderr: $err)"
	elif [ "$out" != "$want_out" ]; then
		fail "$name" "stdout '$out', expected '$want_out'"
	elif [ "$err" != "$want_err" ]; then
		fail "$name" "stderr '$err', expected '$want_err'"
	else
		pass "$name"
	fi
}
nl='
'
seed_stat() { # the seed's four stat lines, then the counters
	echo "buckets: 128${nl}max_items: 100${nl}curr_items: $1${nl}lru: yes${nl}hits: $2${nl}misses: $3${nl}evictions: 0${nl}bytes_used: $4${nl}puts: 1${nl}deletes: $5"
}

# The seed's session. (The seed prints WORLD for `kvctl get hello`: a typo
# there, the store returns what was put.)
check seed/put 0 "" "" kvctl put hello world
check seed/get 0 "world" "" kvctl get hello
check seed/stat 0 "$(seed_stat 1 1 0 10 0)" "" kvctl stat
check seed/del 0 "" "" kvctl del hello
check seed/get_after_del 1 "" "kv_get error: Key not found" kvctl get hello
check seed/stat_after_del 0 "$(seed_stat 0 1 1 0 1)" "" kvctl stat

# Beyond the seed.
check del_missing 1 "" "kv_del error: Key not found" kvctl del hello
check hex_put 0 "" "" kvctl --hex put 00ff00 ff00fe
check hex_get 0 "ff00fe" "" kvctl get --hex 00ff00
check hex_bad 2 "" "kv_get error: 'xyz' is not hex: odd number of digits" kvctl --hex get xyz
printf 'line one\nline two\n' >/tmp/value
printf 'line one\nline two\n\n' >/tmp/value-and-newline # get adds the newline
check stdin_put 0 "" "" sh -c 'kvctl put multi - </tmp/value'
kvctl get multi >/tmp/got
if cmp -s /tmp/got /tmp/value-and-newline; then pass stdin_round_trip; else fail stdin_round_trip "value changed"; fi
head -c 256 /dev/urandom >/tmp/binary
kvctl put bin - </tmp/binary && kvctl --hex get 62696e >/tmp/binhex # "bin" in hex
if [ "$(cat /tmp/binhex)" = "$(od -An -v -tx1 /tmp/binary | tr -d ' \n')" ]; then pass binary_via_stdin; else fail binary_via_stdin "bytes changed"; fi
check value_too_long 3 "" "kv_put error: value is 257 bytes; values are at most 256 bytes" sh -c 'head -c 257 /dev/zero | kvctl put big -'
check key_too_long 3 "" "kv_put error: key is 65 bytes; keys are 1 to 64 bytes" kvctl put "$(printf '%065d' 0)" v
check empty_key 3 "" "kv_put error: key is 0 bytes; keys are 1 to 64 bytes" kvctl put "" v
json=$(kvctl stat --json)
if echo "$json" | grep -q '^{"buckets":128,"max_items":100,"curr_items":3,"lru":true,"hits":[0-9]*,"misses":[0-9]*,"evictions":0,"bytes_used":[0-9]*,"puts":[0-9]*,"deletes":[0-9]*,"policy":"lru"}$'; then
	pass stat_json
else
	fail stat_json "$json"
fi
check device_missing 3 "" "kv_open error: /nonexistent: no such device; is the kv module loaded? (sudo insmod kv.ko)" kvctl --device /nonexistent stat
check device_env 3 "" "kv_open error: /nope: no such device; is the kv module loaded? (sudo insmod kv.ko)" env KVSTORE_DEVICE=/nope kvctl stat
kvctl frob >/dev/null 2>&1
[ $? = 2 ] && pass usage_error_exit_2 || fail usage_error_exit_2 "status $?"
kvctl put onlykey >/dev/null 2>&1
[ $? = 2 ] && pass missing_argument_exit_2 || fail missing_argument_exit_2 "status $?"
if kvctl --version | grep -q '^kvctl 0\.1\.0$'; then pass version; else fail version "$(kvctl --version)"; fi
if kvctl get --help | grep -q 'Usage: kvctl get'; then pass help_subcommand; else fail help_subcommand "no usage"; fi
if kvctl --help | grep -q '1 key not found'; then pass help_exit_statuses; else fail help_exit_statuses "not documented"; fi

# As a user without access to the device: a clear permission error.
out=$(su -s /bin/sh nobody -c 'kvctl stat' 2>&1); status=$?
if [ $status = 3 ] && echo "$out" | grep -q 'permission denied; run as root or join'; then
	pass permission_denied
else
	fail permission_denied "status $status: $out"
fi

# A full store without LRU: exit 3 and the store's message.
rmmod kv && insmod /lib/kv.ko max_items=1
kvctl put a 1
check store_full 3 "" "kv_put error: Store is full (max_items reached and use_lru=0)" kvctl put b 2
exit $failed
