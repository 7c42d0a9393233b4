# params: buckets=128 max_items=256 use_lru=0
# kernels: debian debian-cloud debian-rt
# rig: --cpus 1
# guest: userland
# The libraries against the real device, each program on a fresh store:
# libkv.so from C (compiled on the host against include/kv.h and linked
# -lkv; the single-key program again as built through pkg-config against a
# staged `make install`, see tests/packaging-test) and kvlib from Rust (its
# examples). kv_get through the store's mapping (libkv_mapped): on this
# store, which it maps, on a SIEVE store, which it maps for read-write
# descriptors only, then on stores it cannot map (LRU, mmap=0), where
# every get takes the ioctl (its threaded check interleaves on this one
# CPU; the concurrency suite runs it on 2).
. /extra/lib.sh
run /extra/libkv_ops
reload library/insmod && run /extra/libkv_mapped store mapped
reload library/insmod use_lru=2 && run /extra/libkv_mapped sieve sieve
reload library/insmod use_lru=1 && run /extra/libkv_mapped lru ioctl
reload library/insmod mmap=0 && run /extra/libkv_mapped mmap-off ioctl
reload library/insmod && run /extra/kvlib_put_get_del
reload library/insmod max_items=8 use_lru=2 && run /extra/kvlib_put_get_del sieve
if reload library/insmod; then
	# Its checks print as libkv-pkgconfig/... .
	if [ -x /extra/libkv_ops_pkgconfig ]; then
		/extra/libkv_ops_pkgconfig >/tmp/pkgconfig.out
		status=$?
		sed 's|^\(PASS\|FAIL\): libkv/|\1: libkv-pkgconfig/|' /tmp/pkgconfig.out
		[ $status = 0 ] || failed=1
	else
		fail libkv-pkgconfig/present "/extra/libkv_ops_pkgconfig was not built"
	fi
fi
reload library/insmod buckets=64 max_items=1024 && run /extra/libkv_batch_dump
reload library/insmod buckets=64 max_items=1024 && run /extra/kvlib_put_with_batch_iter
exit $failed
