# params: --no-load
# kvctl without the module: a clear hint and a failure status.
out=$(kvctl stat 2>&1)
status=$?
if [ $status = 3 ] && [ "$out" = "kv_open error: /dev/kvstore: no such device; is the kv module loaded? (sudo insmod kv.ko)" ]; then
	echo "PASS: kvctl/no_module_hint"
else
	echo "FAIL: kvctl/no_module_hint: status $status: $out"
	exit 1
fi
