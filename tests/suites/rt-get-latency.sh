# params: buckets=1
# kernels: debian-rt
# rig: --icount
# PREEMPT_RT only (on one CPU, the guest's clock counting instructions, so
# that a host's load cannot stretch a get): a SCHED_FIFO reader's gets while
# a SCHED_OTHER writer is preempted inside its write section must not wait for
# it (tests/c/rt_get_latency.c). Prints PASS/FAIL lines.
case "$(uname -v)" in
*PREEMPT_RT*) ;;
*)
	echo "FAIL: rt/preempt_rt_kernel: '$(uname -v)' is not a PREEMPT_RT kernel: the check would prove nothing"
	exit 1
	;;
esac
/extra/rt_get_latency
