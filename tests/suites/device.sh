# params: --no-load
# guest: semantics
# kv.ko's ioctl ABI through raw ioctls (kv-device-tests, which loads the
# module with the parameters each test needs): single-key ops at and past
# every limit, binary data, unknown commands and hostile pointers, stat and
# its counters, full stores, LRU order, long chains, conditional puts,
# batches, dumps (also racing writers), clear, and random batch and dump
# arguments; then the same ABI from a 32-bit program through compat_ioctl.
. /extra/lib.sh
run /extra/kv-device-tests stat ops access full lru chains put-flags batch dump clear fuzz
reload device/compat32/insmod && run /extra/compat32
exit $failed
