# params: --no-load
# kernels: debian
# rig: --cpus 1
# guest: userland
# Seeing inside kv.ko through the kernel's own files, as an operator does:
# the tracepoints kv:kv_evict, kv:kv_expire and kv:kv_put_refused read from
# tracefs (one event per eviction, per expired item and per refused put,
# as many as kvctl stat counts, and no key or value bytes in them); the
# device's sysfs files (each equal to the stat ioctl's field, read-only,
# readable by any user, gone with the device; a file held open across rmmod
# answers ENODEV); fdinfo's access line for each open mode. On Debian's
# kernel, as an operator has it: the torture suite drives the same files
# and events under the debug kernel's detectors (events on while it fuzzes,
# sysfs and fdinfo readers racing its load/unload cycles). One CPU: turning
# events on and off patches kernel text, which under TCG with a second CPU
# running can leave that CPU executing the patch's int3 (a QEMU flaw; see
# tests/torture/guest.sh).
. /extra/lib.sh

T=/sys/kernel/tracing
[ -d "$T/events" ] || mount -t tracefs nodev "$T"
S=/sys/class/misc/kvstore

# STRING in hexadecimal, as kvctl dump writes keys and values.
hex() { printf %s "$1" | od -An -v -tx1 | tr -d ' \n'; }
# kvctl stat's value of NAME.
stat_of() { kvctl stat | sed -n "s/^$1: //p"; }
# Events EVENT in the trace buffer.
events() { grep -c " $1: " "$T/trace"; }
# kv.ko loaded with PARAMs, its events on and the trace buffer empty.
traced() {
	reload "$@" || return 1
	echo 0 >"$T/tracing_on"
	echo >"$T/trace"
	echo 1 >"$T/events/kv/enable"
	echo 1 >"$T/tracing_on"
}

# --- tracepoints -------------------------------------------------------------
insmod /lib/kv.ko
if [ -d "$T/events/kv/kv_evict" ] && [ -d "$T/events/kv/kv_expire" ] && [ -d "$T/events/kv/kv_put_refused" ]; then
	pass observe/trace/events_registered
else
	fail observe/trace/events_registered "$(ls "$T/events/kv" 2>&1 | tr '\n' ' ')"
fi
fmt=$(sed -n 's/^print fmt: //p' "$T/events/kv/kv_evict/format")
case "$fmt" in
'"slot=%u policy=%s items=%u"'*) pass observe/trace/evict_format ;;
*) fail observe/trace/evict_format "$fmt" ;;
esac

# Evictions under exact LRU: 8 slots, 20 keys, then 3 that expire soon.
if traced observe/trace/lru_load max_items=8 use_lru=1; then
	i=0
	while [ $i -lt 20 ]; do kvctl put "secretkey$i" secretvalue || fail observe/trace/put "secretkey$i"; i=$((i + 1)); done
	# One process puts the three, each evicting a live item, within their
	# 200 ms.
	for k in a b c; do
		printf '{"key":"%s","value":"%s","ttl_ms":200}\n' "$(hex "secretttl$k")" "$(hex secretvalue)"
	done | kvctl load 2>/dev/null
	# The reclaim runs every 250 ms.
	n=0
	while [ "$(stat_of expired)" != 3 ] && [ $n -lt 40 ]; do sleep 0.1; n=$((n + 1)); done
	ev=$(stat_of evictions) ex=$(stat_of expired)
	if [ "$ev" = 15 ] && [ "$(events kv_evict)" = "$ev" ]; then
		pass observe/trace/evict_events_match_evictions
	else
		fail observe/trace/evict_events_match_evictions "evictions $ev, kv_evict events $(events kv_evict)"
	fi
	if grep ' kv_evict: ' "$T/trace" | grep -qv 'policy=lru items=8$'; then
		fail observe/trace/evict_fields "$(grep ' kv_evict: ' "$T/trace" | grep -v 'policy=lru items=8$' | head -n 2)"
	else
		pass observe/trace/evict_fields
	fi
	if [ "$ex" = 3 ] && [ "$(events kv_expire)" = 3 ] &&
		[ "$(grep ' kv_expire: ' "$T/trace" | grep -c 'cause=reclaim')" = 3 ]; then
		pass observe/trace/expire_events_match_expired
	else
		fail observe/trace/expire_events_match_expired "expired $ex, events: $(grep ' kv_expire: ' "$T/trace" | tr '\n' ' ')"
	fi
	# A writer that meets an expired item removes it: cause=access.
	kvctl put --ttl 1ms secretlate secretvalue
	sleep 0.05
	kvctl del secretlate 2>/dev/null
	if [ "$(stat_of expired)" = 4 ] && grep ' kv_expire: ' "$T/trace" | grep -q 'cause=access'; then
		pass observe/trace/expire_on_access
	elif [ "$(grep ' kv_expire: ' "$T/trace" | grep -c 'cause=reclaim')" = 4 ]; then
		# The reclaim was first: still one event per expired item.
		pass observe/trace/expire_on_access
	else
		fail observe/trace/expire_on_access "expired $(stat_of expired): $(grep ' kv_expire: ' "$T/trace" | tail -n 1)"
	fi
	if grep -q secret "$T/trace"; then
		fail observe/trace/no_key_or_value "$(grep secret "$T/trace" | head -n 1)"
	else
		pass observe/trace/no_key_or_value
	fi
fi

# Refused puts: no eviction, 2 slots, 3 new keys refused, a replace is not.
if traced observe/trace/none_load max_items=2 use_lru=0; then
	kvctl put a 1 && kvctl put b 1 && kvctl put a 2
	refused=0
	for k in c d e; do kvctl put "$k" 1 2>/dev/null || refused=$((refused + 1)); done
	lines=$(grep ' kv_put_refused: ' "$T/trace")
	if [ "$refused" = 3 ] && [ "$(events kv_put_refused)" = 3 ] &&
		[ "$(echo "$lines" | grep -c 'items=2 max_items=2$')" = 3 ] && [ "$(events kv_evict)" = 0 ]; then
		pass observe/trace/put_refused_events
	else
		fail observe/trace/put_refused_events "refused $refused: $lines"
	fi
fi
echo 0 >"$T/events/kv/enable"

# --- sysfs ---------------------------------------------------------------------
if reload observe/sysfs/load buckets=64 max_items=16 use_lru=2; then
	i=0
	while [ $i -lt 20 ]; do kvctl put "k$i" "value$i"; i=$((i + 1)); done
	kvctl get k19 >/dev/null
	kvctl get k0 >/dev/null 2>&1
	kvctl del k18
	kvctl put --ttl 1ms short v
	sleep 0.6
	# Every counter against the stat ioctl's answer (nothing runs between).
	json=$(kvctl stat --json)
	bad=""
	for f in curr_items bytes_used hits misses evictions expired puts deletes buckets max_items memory; do
		want=$(echo "$json" | sed -n "s/.*\"$f\":\([0-9]*\).*/\1/p")
		got=$(cat "$S/$f")
		[ -n "$want" ] && [ "$got" = "$want" ] || bad="$bad $f=$got(stat:$want)"
	done
	if [ -z "$bad" ]; then pass observe/sysfs/equals_stat; else fail observe/sysfs/equals_stat "$bad"; fi
	if [ "$(cat $S/use_lru) $(cat $S/buckets) $(cat $S/max_items) $(cat $S/evictions) $(cat $S/expired)" = "2 64 16 4 1" ]; then
		pass observe/sysfs/values
	else
		fail observe/sysfs/values "use_lru buckets max_items evictions expired: $(cat $S/use_lru) $(cat $S/buckets) $(cat $S/max_items) $(cat $S/evictions) $(cat $S/expired)"
	fi
	modes=$(for f in curr_items bytes_used hits misses evictions expired puts deletes buckets max_items use_lru memory; do stat -c %a "$S/$f"; done | sort -u)
	if [ "$modes" = 444 ]; then pass observe/sysfs/read_only_mode; else fail observe/sysfs/read_only_mode "$modes"; fi
	if (echo 0 >"$S/hits") 2>/dev/null; then
		fail observe/sysfs/write_refused "root wrote to hits"
	else
		pass observe/sysfs/write_refused
	fi
	# One value and a newline per file.
	if [ "$(wc -l <"$S/hits")" = 1 ] && [ "$(wc -c <"$S/use_lru")" = 2 ]; then
		pass observe/sysfs/one_value_per_file
	else
		fail observe/sysfs/one_value_per_file "$(od -c "$S/hits" | head -n 2)"
	fi
	out=$(su -s /bin/sh nobody -c "cat $S/curr_items" 2>&1)
	if [ "$out" = "$(stat_of curr_items)" ]; then pass observe/sysfs/readable_by_any_user; else fail observe/sysfs/readable_by_any_user "$out"; fi

	# A file opened before rmmod: the unload is not held up, and a read
	# after it answers ENODEV without reaching the module.
	exec 5<"$S/hits"
	if rmmod kv; then
		if out=$(cat <&5 2>&1); then
			fail observe/sysfs/open_across_rmmod "read '$out' after rmmod"
		elif echo "$out" | grep -q 'No such device'; then
			pass observe/sysfs/open_across_rmmod
		else
			fail observe/sysfs/open_across_rmmod "$out"
		fi
	else
		fail observe/sysfs/open_across_rmmod "rmmod refused with a sysfs file open"
	fi
	exec 5<&-
	if [ -e "$S" ]; then fail observe/sysfs/gone_with_device "$S still there"; else pass observe/sysfs/gone_with_device; fi
fi

# --- fdinfo --------------------------------------------------------------------
if reload observe/fdinfo/load; then
	exec 3</dev/kvstore 4>/dev/kvstore 5<>/dev/kvstore
	got=$(for fd in 3 4 5; do grep '^kvstore-access:' "/proc/$$/fdinfo/$fd"; done | tr '\t\n' ' |')
	exec 3<&- 4>&- 5<&-
	if [ "$got" = "kvstore-access: read-only|kvstore-access: write-only|kvstore-access: read-write|" ]; then
		pass observe/fdinfo/access
	else
		fail observe/fdinfo/access "$got"
	fi
fi
exit $failed
