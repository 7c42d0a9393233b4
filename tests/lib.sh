# The shell library of kvstore's tests: one `PASS: name` or `FAIL: name:
# why` line per check, checks that are a command, and reloading kv.ko in the
# guest. Sourced by the guest suites (as /extra/lib.sh), the torture run and
# the host's test scripts, so it is POSIX sh (the guest has busybox sh).
# A failed check sets `failed` to 1; a script ends with `exit $failed`.
# shellcheck shell=sh

failed=0
# Where `check` keeps its command's output (a host script may point it into
# its own work directory).
check_log=${TMPDIR:-/tmp}/kv-check.$$

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: ${2:-}"; failed=1; }

# check NAME COMMAND...: passes when COMMAND succeeds. Its output goes to
# $check_log; when it fails, its last lines are the reason.
check() {
	_check_name=$1
	shift
	if "$@" >"$check_log" 2>&1; then
		pass "$_check_name"
	else
		fail "$_check_name" "$(tail -n 3 "$check_log" | tr '\n' ' ')"
	fi
}

# expect NAME STATUS STDOUT STDERR COMMAND...: COMMAND exits with STATUS and
# prints exactly STDOUT and STDERR.
expect() {
	_expect_name=$1 _want_status=$2 _want_out=$3 _want_err=$4
	shift 4
	_out=$("$@" 2>"$check_log")
	_status=$?
	_err=$(cat "$check_log")
	if [ "$_status" != "$_want_status" ]; then
		fail "$_expect_name" "exit $_status, expected $_want_status (stderr: $_err)"
	elif [ "$_out" != "$_want_out" ]; then
		fail "$_expect_name" "stdout '$_out', expected '$_want_out'"
	elif [ "$_err" != "$_want_err" ]; then
		fail "$_expect_name" "stderr '$_err', expected '$_want_err'"
	else
		pass "$_expect_name"
	fi
}

# run COMMAND...: a program that prints its own PASS/FAIL lines; its failure
# is the script's.
run() { "$@" || failed=1; }

# reload NAME [PARAM]...: kv.ko unloaded if it is loaded, then loaded with
# the PARAMs. If that fails, the check NAME fails and reload returns 1.
reload() {
	_reload_name=$1
	shift
	rmmod kv 2>/dev/null
	insmod /lib/kv.ko "$@" && return 0
	fail "$_reload_name" "insmod /lib/kv.ko $* failed"
	return 1
}
