# params: --no-load
# mem: 256
# guest: lifecycle
# The short torture run (tests/torture/guest.sh short; `make torture` runs
# the long one): the ioctl fuzzer and the concurrency checker under each
# policy, allocation failures at load and after it, unload races, access
# modes and a big store.
sh /extra/kv-torture.sh short
