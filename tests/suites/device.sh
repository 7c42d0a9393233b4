# params: --no-load
# guest: semantics
# kv.ko's ioctl ABI through raw ioctls (kv-device-tests, which loads the
# module with the parameters each test needs): single-key ops at and past
# every limit, binary data, unknown commands and hostile pointers, stat and
# its counters, full stores, LRU order, long chains, conditional puts,
# batches, dumps (also racing writers), clear, and random batch and dump
# arguments; then the same ABI from a 32-bit program through compat_ioctl;
# then the store's read-only mapping (mapping.c).
. /extra/lib.sh
run /extra/kv-device-tests stat ops access full lru chains put-flags batch dump clear fuzz
reload device/compat32/insmod && run /extra/compat32
# The read-only mapping: protections, fork, no rmmod while mapped, no byte of
# a removed item left in it; and mmap=0 refusing it.
reload device/mapping/insmod buckets=64 max_items=64 use_lru=2 && run /extra/mapping
reload device/mapping-off/insmod mmap=0 && run /extra/mapping refused
exit $failed
