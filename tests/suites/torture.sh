# params: --no-load
# mem: 256
# guest: lifecycle
# rig: --timeout 600
# The short torture run (tests/torture/guest.sh short; `make torture` runs
# the long one): the ioctl fuzzer and the concurrency checker under each
# policy, allocation failures at load and after it, unload races, access
# modes and a big store. Its guest (shared with module.sh) takes about
# 300 s on the debug kernel when make test runs four guests on two CPUs:
# more than the rig's default limit, hence 600.
sh /extra/kv-torture.sh short
