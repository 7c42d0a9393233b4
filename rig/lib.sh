# Shared settings for the kvstore test rig. Sourced by the scripts beside it.
# shellcheck shell=bash

KV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The rig's folder (build-kernel, whose content keys the kernel cache, names
# it so).
KV_VM_DIR="$KV_ROOT/rig"

# The pinned kernel: Debian's linux-source-7.2 from trixie-backports.
KERNEL_PKG=linux-source-7.2
KERNEL_DEB_VERSION=7.2.12-1~bpo13+1
KERNEL_VERSION=7.2.12
KERNEL_DEB_SHA256=73ca6c22599ba411ab3179642d33501ca2c90174e13c3c8d86e996ea1cbf2a8f
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
	perf) echo "$KV_VM_DIR/kernel.config $KV_VM_DIR/kernel-perf.config" ;;
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

# Debian 13's own Rust-enabled kernels (trixie-backports), the kernels users
# run: each flavour built with CONFIG_RUST=y (all by trixie's rustc 1.85.1,
# bindgen 0.71.1 and gcc-14), by the rig's name for it. Each one's image
# package (linux-binary-*, holding the vmlinuz) and headers package are
# pinned like the source.
DEBIAN_KERNELS="debian debian-cloud debian-rt"
DEBIAN_KERNEL_DEB_VERSION=$KERNEL_DEB_VERSION

# Set the pins of the Debian kernel NAME: DEBIAN_KVER (its release, uname -r),
# DEBIAN_BINARY_PKG, DEBIAN_BINARY_SHA256, DEBIAN_HEADERS_PKG,
# DEBIAN_HEADERS_SHA256.
debian_kernel() {
	case "$1" in
	debian)
		DEBIAN_KVER=7.2.12+deb13-amd64
		DEBIAN_BINARY_SHA256=0d916c7f1310a7cb0567f235785d1c4511d894eb95e9810a2bc1f67e7ec18c2f
		DEBIAN_HEADERS_SHA256=f4a0369d09122cf77410d651d7a1ecba8a861970013d566aafd79cdb7d261dd8
		;;
	debian-cloud) # for virtual machines in clouds: fewer drivers
		DEBIAN_KVER=7.2.12+deb13-cloud-amd64
		DEBIAN_BINARY_SHA256=aa6720823145e351d3c817c95fe58d89995a2bcba4978ad2418c36a1c272f795
		DEBIAN_HEADERS_SHA256=13bb1c14fd4b527c71710179a86120c57466c7879112ec4dcb8af89e4b72c5ee
		;;
	debian-rt) # PREEMPT_RT: spinlocks are sleeping locks, preemptible inside
		DEBIAN_KVER=7.2.12+deb13-rt-amd64
		DEBIAN_BINARY_SHA256=0fad7cd8ce810db6804ffe6f7593b377a3144efbe06c4d807d0ce2236bf8e06e
		DEBIAN_HEADERS_SHA256=ea032be239347ed000d666676675ba885de70ab43248a7e30023bb200a749b95
		;;
	*) die "unknown Debian kernel '$1' (one of: $DEBIAN_KERNELS)" ;;
	esac
	DEBIAN_BINARY_PKG=linux-binary-$DEBIAN_KVER
	DEBIAN_HEADERS_PKG=linux-headers-$DEBIAN_KVER
}

# The file name apt gives PACKAGE=VERSION for ARCH.
deb_file_name() { echo "${1}_${2//:/%3a}_$3.deb"; }

# Put the pinned PACKAGE=VERSION (ARCH, SHA256) into DIR and print its path.
# Downloaded from trixie-backports with a private apt configuration (the
# system's apt sources are neither read nor changed, nothing is installed);
# when the archive no longer has that version, ../shared/cache/ is used.
fetch_pinned_deb() {
	local pkg=$1 version=$2 arch=$3 sha256=$4 dir=$5
	local name deb apt_dir fallback
	name=$(deb_file_name "$pkg" "$version" "$arch")
	deb="$dir/$name"
	mkdir -p "$dir"
	if [ -f "$deb" ] && echo "$sha256  $deb" | sha256sum --check --status; then
		echo "$deb"
		return 0
	fi
	rm -f "$deb"
	apt_dir=$(mktemp -d)
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR trixie-backports main" \
		>"$apt_dir/sources.list"
	local apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root -q)
	note "downloading $pkg=$version (private apt configuration)"
	if apt-get "${apt_opts[@]}" update >"$apt_dir/log" 2>&1 &&
		(cd "$dir" && apt-get "${apt_opts[@]}" download "$pkg=$version") >>"$apt_dir/log" 2>&1 &&
		echo "$sha256  $deb" | sha256sum --check --status; then
		note "downloaded and verified $deb"
	else
		rm -f "$deb"
		fallback="$KV_ROOT/../shared/cache/$name"
		note "the archive did not give a verified $name; trying $fallback"
		[ -f "$fallback" ] || die "cannot get $pkg=$version: not in the archive (see $apt_dir/log) and no $fallback"
		echo "$sha256  $fallback" | sha256sum --check --status || die "$fallback does not match sha256 $sha256"
		cp "$fallback" "$deb"
	fi
	rm -rf "$apt_dir"
	echo "$deb"
}
