# params: buckets=128 max_items=256 use_lru=0
# libkv.so from C (compiled on the host against include/kv.h, linked -lkv)
# and kvlib from Rust, each against a fresh store.
failed=0
/extra/libkv_test || failed=1
rmmod kv && insmod /lib/kv.ko || { echo "FAIL: libkv/reload: insmod failed"; exit 1; }
/extra/kv_example || failed=1
# The same C test, built through pkg-config against a staged `make install`
# (tests/packaging-test); its checks print as libkv/... again.
rmmod kv && insmod /lib/kv.ko || { echo "FAIL: libkv/reload: insmod failed"; exit 1; }
if [ -x /extra/libkv_test_pkgconfig ]; then
	/extra/libkv_test_pkgconfig >/tmp/pkgconfig.out
	status=$?
	sed 's|^\(PASS\|FAIL\): libkv/|\1: libkv-pkgconfig/|' /tmp/pkgconfig.out
	[ $status = 0 ] || failed=1
else
	echo "FAIL: libkv-pkgconfig/present: /extra/libkv_test_pkgconfig was not built"
	failed=1
fi
exit $failed
