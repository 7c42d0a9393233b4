# kvstore: kv.ko, libkv.so, kvctl and the QEMU test rig. `make help` lists the targets.

SHELL := /bin/bash
CARGO ?= cargo
# Root-only steps run directly as root, through sudo otherwise.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
VM := tests/vm

# The kernel to build kv.ko against. KDIR=<tree> picks one; otherwise the
# running kernel's tree when it has Rust support, else the rig's test kernel
# (built once and cached: see tests/vm/build-kernel).
HOST_KDIR := /lib/modules/$(shell uname -r)/build
ifeq ($(origin KDIR),undefined)
  ifneq ($(shell grep -s '^CONFIG_RUST=y' $(HOST_KDIR)/.config),)
    KDIR := $(HOST_KDIR)
  else
    KDIR = $(shell $(VM)/build-kernel)
    KMAKE_TOOLCHAIN := $(shell bash -c '. $(VM)/lib.sh && echo LLVM=$$KERNEL_LLVM RUSTC=$$KERNEL_RUSTC BINDGEN=$$BINDGEN')
  endif
endif


CC ?= cc
.PHONY: all module build-lib-so build-kvctl artifacts guest-tests unload load deps kernel \
	test test-host test-vm vm demo install uninstall clean help

all: module

help:
	@echo 'make                build kv.ko (against KDIR, the host kernel if it has Rust, else the test kernel)'
	@echo 'make build-lib-so   build libkv.so (C library, header in include/kv.h)'
	@echo 'make build-kvctl    build the kvctl CLI (kvctl/kvctl)'
	@echo 'make load PARAMS="buckets=128 max_items=256 use_lru=1"   insmod kv.ko on this host'
	@echo 'make unload         rmmod kv on this host'
	@echo 'make deps           install the build and test-rig dependencies (Debian 12)'
	@echo 'make kernel         build (or reuse) the cached Rust-enabled test kernel'
	@echo 'make test           host tests, then every VM suite; ends with "N passed, M failed"'
	@echo 'make vm             boot the test guest with kv.ko loaded and a shell on this terminal'

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KMAKE_TOOLCHAIN) modules

build-lib-so:
	$(CARGO) build --release -p kvlib
	cp target/release/libkvlib.so libkv.so
	ln -sf libkv.so libkv.so.0

build-kvctl:
	$(CARGO) build --release -p kvctl
	cp target/release/kvctl kvctl/kvctl

# Everything the guest needs.
artifacts: module build-lib-so build-kvctl

# Test programs that run in the guest; build/guest/ is copied to /extra/.
guest-tests: build-lib-so
	mkdir -p build/guest
	$(CARGO) build --release -p kv-guest-tests
	$(CARGO) build --release -p kvlib --example kv_example
	cp target/release/kv-guest-tests target/release/examples/kv_example build/guest/
	$(CC) -Wall -Wextra -Werror -O2 -Iinclude tests/c/libkv_test.c -L. -lkv -o build/guest/libkv_test
	$(CC) -Wall -Wextra -Werror -O2 -m32 -static -Iinclude tests/c/compat32_test.c -o build/guest/compat32_test

load: module
	$(SUDO) insmod kv.ko $(PARAMS)

unload:
	$(SUDO) rmmod kv

deps:
	$(VM)/deps

kernel:
	$(VM)/build-kernel

test:
	tests/run-all

test-host:
	tests/run-all --host-only

test-vm: artifacts
	tests/run-all --vm-only

vm: artifacts
	$(VM)/run --interactive

demo:
	$(VM)/demo

clean:
	rm -f kv.ko kv.o kv.mod kv.mod.c kv.mod.o .kv*.cmd Module.symvers modules.order \
		kv_module/*.o kv_module/.*.cmd kv_module/*.d
	$(CARGO) clean
	rm -f libkv.so libkv.so.0 kvctl/kvctl
