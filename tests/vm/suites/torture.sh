# params: --no-load
# The short run of the torture suite (tests/torture/guest.sh; `make torture`
# runs the long one): fuzzer, concurrency checker, allocation failures,
# unload races, access modes, a bigger store.
sh /extra/kv-torture.sh short
