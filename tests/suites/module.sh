# params: --no-load
# mem: 256
# guest: lifecycle
# rig: --timeout 600
# kv.ko as a kernel module: parameters (the largest store loads in this
# 256 MiB guest, load-factor warnings,
# every bad value refused with EINVAL and a log line naming it, the
# defaults), the device node's mode, no unload while a file is open,
# load/unload cycles, a large store from vmalloc loaded and unloaded
# cleanly, and no key or value in the kernel log.
. /extra/lib.sh

# The largest store reserves nothing for its items: with a million
# buckets and a million items of capacity it loads in this 256 MiB guest,
# taking at most 16 MiB (kvctl stat's memory), and takes memory as items come.
if insmod /lib/kv.ko buckets=1048576 max_items=1048576 && kvctl put k v && [ "$(kvctl get k)" = v ]; then
	mem=$(kvctl stat | sed -n 's/^memory: //p')
	if [ -n "$mem" ] && [ "$mem" -le $((16 * 1024 * 1024)) ]; then
		pass module/params/largest_store_loads
	else
		fail module/params/largest_store_loads "memory: $mem, more than 16 MiB"
	fi
else
	fail module/params/largest_store_loads "insmod, put or get failed"
fi
rmmod kv

last_kv_log() { dmesg | grep ' kv: ' | tail -n 1; }

# More than two items per bucket on average is allowed, with a warning.
reload module/insmod buckets=10 max_items=1000
if dmesg | grep -q 'kv: load factor max_items/buckets = 1000/10 is above 2'; then
	pass module/params/load_factor_warning
else
	fail module/params/load_factor_warning "no pr_warn for max_items/buckets > 2"
fi
reload module/insmod buckets=2 max_items=5
reload module/insmod buckets=2 max_items=4
if dmesg | grep -q 'load factor max_items/buckets = 5/2' && ! dmesg | grep -q 'load factor max_items/buckets = 4/2'; then
	pass module/params/load_factor_boundary
else
	fail module/params/load_factor_boundary "expected a warning for 5/2 (2.5) and none for 4/2 (2)"
fi

# Each bad value is refused with EINVAL and one pr_err naming the parameter.
rmmod kv
for bad in buckets=0 buckets=1048577 max_items=0 max_items=1048577 use_lru=3 use_lru=4294967295 \
	buckets=-1 max_items=99999999999 buckets=abc mmap=2; do
	name=module/params/rejects_${bad%%=*}_${bad#*=}
	out=$(insmod /lib/kv.ko "$bad" 2>&1)
	if grep -q '^kv ' /proc/modules; then
		fail "$name" "insmod $bad loaded the module"
		rmmod kv
	elif ! echo "$out" | grep -q 'Invalid argument\|Invalid parameters'; then
		fail "$name" "insmod $bad: expected EINVAL, got: $out"
	elif ! last_kv_log | grep -q "${bad%%=*}"; then
		fail "$name" "no kernel log line naming ${bad%%=*}: $(last_kv_log)"
	else
		pass "$name"
	fi
done
# Defaults: no parameters at all.
insmod /lib/kv.ko
if kvctl stat | tr '\n' ' ' | grep -q 'buckets: 128 max_items: 256 curr_items: 0 lru: no'; then
	pass module/params/defaults
else
	fail module/params/defaults "$(kvctl stat 2>&1 | tr '\n' ' ')"
fi
if [ "$(stat -c %a /dev/kvstore)" = 600 ]; then pass module/device_mode_0600; else fail module/device_mode_0600 "$(stat -c %a /dev/kvstore)"; fi

# No unload while a file is open; unload once it is closed. (The kernel's
# module loader answers EAGAIN, "Resource temporarily unavailable"; kmod's
# rmmod words it "Module kv is in use".)
exec 3<>/dev/kvstore
if out=$(rmmod kv 2>&1); then
	fail module/rmmod_while_open "rmmod succeeded with /dev/kvstore open"
	insmod /lib/kv.ko
elif echo "$out" | grep -q 'Resource temporarily unavailable'; then
	pass module/rmmod_while_open
else
	fail module/rmmod_while_open "unexpected error: $out"
fi
exec 3<&-
if rmmod kv; then pass module/rmmod_after_close; else fail module/rmmod_after_close "rmmod failed"; fi

# Load/unload cycles with data in the store each time.
ok=1
i=0
while [ $i -lt 10 ]; do
	insmod /lib/kv.ko buckets=$((i + 1)) max_items=$((i * 7 + 1)) use_lru=$((i % 2)) || ok=0
	kvctl put "k$i" "v$i" >/dev/null || ok=0
	[ "$(kvctl get "k$i")" = "v$i" ] || ok=0
	rmmod kv || ok=0
	i=$((i + 1))
done
if [ $ok = 1 ]; then pass module/load_unload_cycles; else fail module/load_unload_cycles "a cycle failed"; fi
if [ -e /dev/kvstore ]; then fail module/device_removed_on_unload "/dev/kvstore still exists"; else pass module/device_removed_on_unload; fi

# Load and unload log one line each, and never a key or value.
insmod /lib/kv.ko
kvctl put secret-key-7f3a secret-value-91c2 >/dev/null
kvctl get secret-key-7f3a >/dev/null
kvctl del secret-key-7f3a >/dev/null
rmmod kv
if dmesg | grep -q 'secret-key-7f3a\|secret-value-91c2'; then
	fail module/no_user_data_logged "a key or value reached the kernel log"
else
	pass module/no_user_data_logged
fi

# Large arrays come from vmalloc: loading and unloading them is clean too
# (the kernel log is checked after the run).
if reload module/large_store_load_unload buckets=65536 max_items=100000 use_lru=2; then
	if kvctl put big v >/dev/null && [ "$(kvctl get big)" = v ] && rmmod kv; then
		pass module/large_store_load_unload
	else
		fail module/large_store_load_unload "put, get or rmmod failed"
	fi
fi
exit $failed
