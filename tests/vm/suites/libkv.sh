# params: buckets=128 max_items=256 use_lru=0
# libkv.so from C (compiled on the host against include/kv.h, linked -lkv)
# and kvlib from Rust, each against a fresh store.
failed=0
/extra/libkv_test || failed=1
rmmod kv && insmod /lib/kv.ko || { echo "FAIL: libkv/reload: insmod failed"; exit 1; }
/extra/kv_example || failed=1
exit $failed
