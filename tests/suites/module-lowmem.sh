# params: --no-load
# mem: 256
# A capacity within the documented limit that this 256 MiB guest cannot
# allocate (1048576 items need about 340 MiB): insmod fails cleanly with
# EINVAL and one log line, and nothing is left loaded or leaked.
. /extra/lib.sh
out=$(insmod /lib/kv.ko max_items=1048576 2>&1)
log=$(dmesg | grep ' kv: ' | tail -n 1)
if grep -q '^kv ' /proc/modules; then
	fail module/params/unallocatable_max_items "the module loaded"
	exit 1
elif echo "$out" | grep -q 'Invalid argument\|Invalid parameters' && echo "$log" | grep -q 'max_items=1048576: cannot allocate'; then
	pass module/params/unallocatable_max_items
else
	fail module/params/unallocatable_max_items "$out / $log"
	exit 1
fi
# The store still loads with a size that fits.
if insmod /lib/kv.ko max_items=1000 && kvctl put k v && [ "$(kvctl get k)" = v ]; then
	pass module/params/loads_after_failed_allocation
else
	fail module/params/loads_after_failed_allocation "insmod, put or get failed"
fi
exit $failed
