# params: buckets=64 max_items=1024 use_lru=0
# guest: semantics
# Expiry, counters and versions: libkv.so from C (libkv_cache), kvlib from
# Rust (its cache example), kvctl's put --ttl, ttl, touch, incr, decr, gets,
# cas, stat's expired count and a dump and load keeping the time left, each
# on a fresh store; then the raw cache ioctls (kv-device-tests cache: field
# and access checks, increments, random arguments) and, on every guest CPU,
# 4 processes x 2 threads incrementing one counter, a compare-and-swap loop
# from 8 threads, and items expiring while read, replaced and reclaimed.
. /extra/lib.sh
reload cache/insmod max_items=4 use_lru=0 && run /extra/libkv_cache
reload cache/insmod && run /extra/kvlib_cache

reload cache/insmod
# Expiry.
expect kvctl/cache/put_ttl 0 "" "" kvctl put --ttl 1h session abc
ms=$(kvctl ttl session)
if [ "$ms" -gt 3590000 ] && [ "$ms" -le 3600000 ]; then pass kvctl/cache/ttl; else fail kvctl/cache/ttl "ttl printed '$ms'"; fi
expect kvctl/cache/ttl_never 0 "-1" "" sh -c 'kvctl put plain v && kvctl ttl plain'
expect kvctl/cache/ttl_absent 1 "" "kv_ttl error: Key not found" kvctl ttl nothing
expect kvctl/cache/touch 0 "-1" "" sh -c 'kvctl touch session 0 && kvctl ttl session'
expect kvctl/cache/touch_absent 1 "" "kv_touch error: Key not found" kvctl touch nothing 5s
expect kvctl/cache/touch_ms 0 "abc" "" sh -c 'kvctl touch session 2000ms && kvctl get session'
sleep 3
expect kvctl/cache/expired_get 1 "" "kv_get error: Key not found" kvctl get session
expect kvctl/cache/bad_duration 2 "" "" sh -c 'kvctl put --ttl 5x k v 2>/dev/null'
expect kvctl/cache/put_ttl_zero 0 "-1" "" sh -c 'kvctl put --ttl 0 z v && kvctl ttl z'
# Counters.
expect kvctl/cache/incr_new 0 "1" "" kvctl incr hits
expect kvctl/cache/incr_delta 0 "11" "" kvctl incr hits 10
expect kvctl/cache/incr_negative 0 "8" "" kvctl incr hits -3
expect kvctl/cache/decr 0 "7" "" kvctl decr hits
expect kvctl/cache/decr_delta 0 "-3" "" kvctl decr hits 10
expect kvctl/cache/incr_value 0 "-3" "" kvctl get hits
expect kvctl/cache/incr_not_a_number 3 "" "kv_incr error: the value is not a decimal 64-bit integer" kvctl incr plain
kvctl put big 9223372036854775807
expect kvctl/cache/incr_overflow 3 "" "kv_incr error: the result is outside the 64-bit integer range" kvctl incr big
expect kvctl/cache/incr_ttl 0 "1" "" kvctl incr rate 1 --ttl 1m
ms=$(kvctl ttl rate)
if [ "$ms" -gt 50000 ] && [ "$ms" -le 60000 ]; then pass kvctl/cache/incr_ttl_set; else fail kvctl/cache/incr_ttl_set "ttl printed '$ms'"; fi
# Versions.
kvctl put config v1
out=$(kvctl gets config)
version=$(echo "$out" | head -n 1)
if [ "$(echo "$out" | sed -n 2p)" = v1 ] && [ "$version" -gt 0 ]; then pass kvctl/cache/gets; else fail kvctl/cache/gets "printed '$out'"; fi
expect kvctl/cache/gets_hex 0 "$version
7631" "" kvctl --hex gets 636f6e666967
expect kvctl/cache/cas 0 "" "" kvctl cas config "$version" v2
expect kvctl/cache/cas_changed 4 "" "kv_put_ver error: Key exists" kvctl cas config "$version" v3
expect kvctl/cache/cas_absent 1 "" "kv_put_ver error: Key not found" kvctl cas nothing 1 v
expect kvctl/cache/cas_wrote 0 "v2" "" kvctl get config
# stat counts expired items; dump and load keep the time left.
if kvctl stat | grep -q '^expired: [1-9]'; then pass kvctl/cache/stat_expired; else fail kvctl/cache/stat_expired "$(kvctl stat | tail -1)"; fi
kvctl clear
kvctl put --ttl 10m keep v
kvctl put forever v
kvctl dump >/tmp/cache-dump
if grep -q '"key":"6b656570","value":"76","ttl_ms":[0-9]*}' /tmp/cache-dump && grep -q '^{"key":"666f7265766572","value":"76"}$' /tmp/cache-dump; then
	pass kvctl/cache/dump_ttl
else
	fail kvctl/cache/dump_ttl "$(cat /tmp/cache-dump)"
fi
kvctl clear
expect kvctl/cache/load 0 "" "loaded 2 items" kvctl load /tmp/cache-dump
ms=$(kvctl ttl keep)
if [ "$ms" -gt 590000 ] && [ "$ms" -le 600000 ] && [ "$(kvctl ttl forever)" = -1 ]; then
	pass kvctl/cache/load_ttl
else
	fail kvctl/cache/load_ttl "ttl keep '$ms', forever '$(kvctl ttl forever)'"
fi
rmmod kv

run /extra/kv-device-tests cache cache-concurrency
exit $failed
