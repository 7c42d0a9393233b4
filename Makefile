# kvstore: kv.ko, libkv.so, kvctl and the QEMU test rig. `make help` lists the targets.

SHELL := /bin/bash
CARGO ?= cargo
# Root-only steps run directly as root, through sudo otherwise.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
RIG := rig

# The kernel to build kv.ko against. KDIR=<tree> picks one; KVER=<release>
# an installed kernel (as `dkms -k` does); otherwise the running kernel when
# it has Rust support, else the rig's test kernel (built once and cached: see
# rig/build-kernel). For an installed kernel, packaging/rust-kernel-tree
# gives its build tree, or for a Debian kernel (whose headers cannot build
# Rust) prepares one once from linux-source, and says what to install.
HOST_KDIR := /lib/modules/$(shell uname -r)/build
ifeq ($(origin KDIR),undefined)
  ifneq ($(origin KVER)$(shell grep -s '^CONFIG_RUST=y' $(HOST_KDIR)/.config),undefined)
    # Evaluated once, on first use (preparing a tree takes minutes).
    KDIR = $(eval KDIR := $(shell packaging/rust-kernel-tree $(KVER)))$(KDIR)
  else
    KDIR = $(shell $(RIG)/build-kernel)
  endif
endif
# The rig's kernel (build-kernel marks it .complete) wants the rig's toolchain,
# a prepared Debian tree the one it records; another tree gets what the caller
# passes (e.g. LLVM=1).
KMAKE_TOOLCHAIN = $(if $(wildcard $(KDIR)/.complete),$(shell bash -c '. $(RIG)/lib.sh && echo LLVM=$$KERNEL_LLVM RUSTC=$$KERNEL_RUSTC BINDGEN=$$BINDGEN CLIPPY_DRIVER=$$KERNEL_CLIPPY_DRIVER'),$(if $(wildcard $(KDIR)/kv-make-flags),$(shell cat $(KDIR)/kv-make-flags)))

CC ?= cc
.PHONY: all module build-lib-so build-kvctl artifacts guest-tests unload load deps kernel \
	test test-host test-vm torture vm vm-system demo bench docs install uninstall install-dkms clean help

all: module

help:
	@echo 'Building'
	@echo '  make                build kv.ko (against KDIR, KVER=<release> an installed kernel, the host kernel if it has Rust, else the test kernel)'
	@echo '  make module         the same as make'
	@echo '  make build-lib-so   build libkv.so (C library, header in include/kv.h)'
	@echo '  make build-kvctl    build the kvctl CLI (kvctl/kvctl)'
	@echo '  make artifacts      kv.ko, libkv.so and kvctl: what the test guest needs'
	@echo '  make guest-tests    the test programs that run in the guest, into build/guest/'
	@echo '  make docs           kvctl'"'"'s man page and shell completions, into build/docs/'
	@echo '  make clean          remove kv.ko'"'"'s objects, target/ (cargo clean), libkv.so and kvctl/kvctl'
	@echo 'Installing'
	@echo '  make install        kvctl, libkv.so, kv.h, kv.pc, the udev rule, kvstore.service, man page and completions (PREFIX, DESTDIR)'
	@echo '  make uninstall      remove what make install put in place (not /etc/modprobe.d/kvstore.conf nor the saved items)'
	@echo '  make install-dkms   kv.ko'"'"'s sources for DKMS under /usr/src (then dkms install kvstore/$(VERSION))'
	@echo '  make load PARAMS="buckets=128 max_items=256 use_lru=1"   insmod kv.ko on this host'
	@echo '  make unload         rmmod kv on this host'
	@echo 'The test rig (rig/)'
	@echo '  make deps           install the build and test-rig dependencies (Debian 12; on Debian 13 what kv.ko for its kernel needs)'
	@echo '  make kernel         build (or reuse) the cached Rust-enabled test kernel'
	@echo '  make vm             boot the test guest with kv.ko loaded and a shell on this terminal'
	@echo '  make vm-system      boot the Debian 13 system guest (systemd, kvstore installed and its service on) with a root shell'
	@echo '  make demo           install what is missing, boot the test guest and run the README session'
	@echo 'Testing (docs/testing.md)'
	@echo '  make test           host tests, then every guest suite; ends with "N passed, M failed"'
	@echo '  make test SUITE=NAME  one part or guest suite (tests/run-all --list names them)'
	@echo '  make test-host      the host tests only (format, lints, cargo test)'
	@echo '  make test-vm        all but the host tests'
	@echo '  make torture        the long torture run in the debug guest (about 20 min); a table of results'
	@echo '  make bench          instructions per op beside the syscall floor and BPF maps, and 2-CPU scaling (perf kernel)'
	@echo '  make help           this list'

module:
	$(if $(KDIR),$(MAKE) -C $(KDIR) M=$(CURDIR) $(KMAKE_TOOLCHAIN) modules,@echo "make: no kernel tree to build kv.ko against (see the error above)" >&2; exit 1)

build-lib-so:
	$(CARGO) build --release -p kvlib
	cp target/release/libkvlib.so libkv.so
	ln -sf libkv.so libkv.so.0

build-kvctl:
	$(CARGO) build --release -p kvctl
	cp target/release/kvctl kvctl/kvctl

# Everything the guest needs.
artifacts: module build-lib-so build-kvctl

# The test programs that run in the guest, and the shell library of the
# suites; build/guest/ is copied to /extra/ in the guest.
TEST_CFLAGS := -Wall -Wextra -Werror -O2 -Iinclude
guest-tests: build-lib-so build/bench/kv-peers
	rm -rf build/guest
	mkdir -p build/guest
	$(CARGO) build --release -p kv-device-tests -p kv-torture -p kv-bench -p kv-lincheck
	$(CARGO) build --release -p kvlib --example put_get_del --example put_with_batch_iter --example cache
	cp target/release/kv-device-tests target/release/kv-torture target/release/kv-bench \
		target/release/kv-lincheck build/bench/kv-peers build/guest/
	cp target/release/examples/put_get_del build/guest/kvlib_put_get_del
	cp target/release/examples/put_with_batch_iter build/guest/kvlib_put_with_batch_iter
	cp target/release/examples/cache build/guest/kvlib_cache
	$(CC) $(TEST_CFLAGS) tests/c/libkv_ops.c -L. -lkv -o build/guest/libkv_ops
	$(CC) $(TEST_CFLAGS) tests/c/libkv_batch_dump.c -L. -lkv -o build/guest/libkv_batch_dump
	$(CC) $(TEST_CFLAGS) tests/c/libkv_cache.c -L. -lkv -o build/guest/libkv_cache
	$(CC) $(TEST_CFLAGS) -pthread tests/c/libkv_mapped.c -L. -lkv -o build/guest/libkv_mapped
	$(CC) $(TEST_CFLAGS) -m32 -static tests/c/compat32.c -o build/guest/compat32
	$(CC) $(TEST_CFLAGS) tests/c/unload_race.c -o build/guest/unload_race
	$(CC) $(TEST_CFLAGS) tests/c/fault_load.c -o build/guest/fault_load
	$(CC) $(TEST_CFLAGS) tests/c/mapping.c -L. -lkv -o build/guest/mapping
	cp tests/torture/guest.sh build/guest/kv-torture.sh
	cp tests/lib.sh build/guest/lib.sh
	$(CC) $(TEST_CFLAGS) -pthread tests/c/rt_get_latency.c -o build/guest/rt_get_latency

load: module
	$(SUDO) insmod kv.ko $(PARAMS)

unload:
	$(SUDO) rmmod kv

deps:
	$(RIG)/deps

kernel:
	$(RIG)/build-kernel

test:
	tests/run-all $(if $(SUITE),--suite $(SUITE))

test-host:
	tests/run-all --host-only

test-vm: artifacts
	tests/run-all --vm-only

# The long torture run (fuzzer, concurrency, fault injection, unload races,
# big stores) in one multi-CPU debug guest; prints a table of what was tried.
torture:
	tests/torture/run

vm: artifacts
	$(RIG)/run --interactive

vm-system:
	$(RIG)/run --system --interactive

demo:
	$(RIG)/demo

bench:
	bench/run

# kv-peers: the peers' rows of make bench (memcached, Redis, LMDB through
# their C clients), run in the guest by bench/peers-run.
build/bench/kv-peers: bench/peers.c include/kv.h build-lib-so
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -Iinclude -o $@ $< -L. -Wl,-rpath,$(CURDIR) -lkv -lmemcached -lhiredis -llmdb

# --- installation ------------------------------------------------------------
VERSION := 0.1.0
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
LIBEXECDIR ?= $(PREFIX)/libexec
UDEVRULESDIR ?= /etc/udev/rules.d
SYSTEMDUNITDIR ?= /etc/systemd/system
MODPROBEDIR ?= /etc/modprobe.d
DKMSSRCDIR ?= /usr/src/kvstore-$(VERSION)
SONAME := libkv.so.0

# Man page and shell completions, generated from kvctl's clap definition.
docs:
	$(CARGO) run --release --quiet -p kvctl --bin kvctl-gen-docs -- build/docs

install: build-lib-so build-kvctl docs
	install -D -m 0755 kvctl/kvctl $(DESTDIR)$(BINDIR)/kvctl
	install -D -m 0755 libkv.so $(DESTDIR)$(LIBDIR)/libkv.so.$(VERSION)
	ln -sf libkv.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libkv.so
	install -D -m 0644 include/kv.h $(DESTDIR)$(INCLUDEDIR)/kv.h
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' packaging/kv.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/kv.pc
	install -D -m 0644 packaging/99-kvstore.rules $(DESTDIR)$(UDEVRULESDIR)/99-kvstore.rules
	install -d $(DESTDIR)$(LIBEXECDIR)/kvstore $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|' packaging/kvstore-service \
		>$(DESTDIR)$(LIBEXECDIR)/kvstore/kvstore-service
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/kvstore/kvstore-service
	sed -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|' packaging/kvstore.service.in >$(DESTDIR)$(SYSTEMDUNITDIR)/kvstore.service
	@# The parameters are the administrator's: an existing file is kept.
	@if [ ! -e $(DESTDIR)$(MODPROBEDIR)/kvstore.conf ]; then \
		install -D -m 0644 packaging/kvstore-modprobe.conf $(DESTDIR)$(MODPROBEDIR)/kvstore.conf; fi
	install -D -m 0644 build/docs/kvctl.1 $(DESTDIR)$(MANDIR)/man1/kvctl.1
	install -D -m 0644 build/docs/kvctl.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/kvctl
	install -D -m 0644 build/docs/_kvctl $(DESTDIR)$(DATADIR)/zsh/site-functions/_kvctl
	install -D -m 0644 build/docs/kvctl.fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/kvctl.fish
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		getent group kvstore >/dev/null || groupadd --system kvstore; \
		ldconfig; \
		udevadm control --reload 2>/dev/null || true; \
		systemctl daemon-reload 2>/dev/null || true; \
		echo "installed; add users to the kvstore group to use /dev/kvstore without root"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kvctl $(DESTDIR)$(LIBDIR)/libkv.so.$(VERSION) \
		$(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libkv.so $(DESTDIR)$(INCLUDEDIR)/kv.h \
		$(DESTDIR)$(LIBDIR)/pkgconfig/kv.pc $(DESTDIR)$(UDEVRULESDIR)/99-kvstore.rules \
		$(DESTDIR)$(LIBEXECDIR)/kvstore/kvstore-service $(DESTDIR)$(SYSTEMDUNITDIR)/kvstore.service \
		$(DESTDIR)$(MANDIR)/man1/kvctl.1 $(DESTDIR)$(DATADIR)/bash-completion/completions/kvctl \
		$(DESTDIR)$(DATADIR)/zsh/site-functions/_kvctl \
		$(DESTDIR)$(DATADIR)/fish/vendor_completions.d/kvctl.fish
	rmdir $(DESTDIR)$(LIBEXECDIR)/kvstore 2>/dev/null || true

# The module's sources for DKMS; then `dkms install kvstore/$(VERSION)`.
# kv_main.rs pulls in every other .rs under kv_module/, subfolders included,
# except lib.rs and tests/, which only the host crate builds; the tracepoints
# are C (kv_trace.c and kv_trace.h).
MODULE_SOURCES = $(sort $(filter-out kv_module/lib.rs kv_module/tests/%,$(shell find kv_module -name '*.rs')) \
	kv_module/kv_trace.c kv_module/kv_trace.h)
install-dkms:
	install -D -m 0644 dkms.conf $(DESTDIR)$(DKMSSRCDIR)/dkms.conf
	install -D -m 0644 Kbuild $(DESTDIR)$(DKMSSRCDIR)/Kbuild
	install -D -m 0755 -t $(DESTDIR)$(DKMSSRCDIR) packaging/dkms-make packaging/rust-kernel-tree
	for f in $(MODULE_SOURCES); do install -D -m 0644 "$$f" "$(DESTDIR)$(DKMSSRCDIR)/$$f" || exit; done

clean:
	rm -f kv.ko kv.o kv.mod kv.mod.c kv.mod.o .kv*.cmd Module.symvers modules.order \
		kv_module/*.o kv_module/.*.cmd kv_module/*.d
	$(CARGO) clean
	rm -f libkv.so libkv.so.0 kvctl/kvctl
