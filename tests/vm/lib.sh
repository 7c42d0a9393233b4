# Shared settings for the kvstore test rig. Sourced by the scripts beside it.
# shellcheck shell=bash

KV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KV_VM_DIR="$KV_ROOT/tests/vm"

# The pinned kernel: Debian's linux-source-7.2 from trixie-backports.
KERNEL_PKG=linux-source-7.2
KERNEL_DEB_VERSION=7.2.12-1~bpo13+1
KERNEL_VERSION=7.2.12
KERNEL_DEB_SHA256=73ca6c22599ba411ab3179642d33501ca2c90174e13c3c8d86e996ea1cbf2a8f
KERNEL_DEB_NAME="${KERNEL_PKG}_${KERNEL_DEB_VERSION//:/%3a}_all.deb"
DEBIAN_MIRROR=${KV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BINDGEN_VERSION=0.73.2

# Everything expensive lives outside the clone so clones and CI runs share it.
KV_CACHE=${KV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvstore}
KV_TOOLS="$KV_CACHE/tools"
BINDGEN="$KV_TOOLS/bin/bindgen"

# Toolchain for the kernel: Debian's rustc-web (its library source matches it)
# and clang/LLVM 19. ~/.cargo/bin comes first on PATH, so RUSTC is explicit.
KERNEL_RUSTC=/usr/bin/rustc
# Debian's rust-web-clippy: the clippy of that rustc, for `make module CLIPPY=1`.
KERNEL_CLIPPY_DRIVER=/usr/bin/clippy-driver
KERNEL_LLVM=-19
export LIBCLANG_PATH=/usr/lib/llvm-19/lib

die() { echo "error: $*" >&2; exit 1; }
note() { echo ">> $*" >&2; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The rig's kernel variants: "debug" (the test kernel, with the kernel's bug
# detectors) and "perf" (the same fragment without them, for benchmarks).
kernel_fragments() {
	case "$1" in
	debug) echo "$KV_VM_DIR/kernel.config $KV_VM_DIR/kernel-debug.config" ;;
	perf) echo "$KV_VM_DIR/kernel.config" ;;
	*) die "unknown kernel variant '$1' (debug or perf)" ;;
	esac
}

# The build directory of a variant, keyed by the pinned version and the hash
# of its fragments and the build script.
kernel_build_dir() {
	local variant=${1:-debug} hash
	# shellcheck disable=SC2046 # the fragment list is paths without spaces
	hash=$(cat $(kernel_fragments "$variant") "$KV_VM_DIR/build-kernel" | sha256sum | cut -c1-12)
	echo "$KV_CACHE/kernel/linux-$KERNEL_VERSION-$variant-$hash"
}
