/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rt_get_latency: a real-time reader's gets never wait for a preempted writer.
 *
 * Both threads on one CPU: a SCHED_OTHER writer replaces the value of one key
 * in a loop while a SCHED_FIFO reader wakes after a short sleep and does a
 * burst of gets of that key, again and again. kv.ko is loaded with buckets=1,
 * so every put writes the bucket the reader reads. On PREEMPT_RT the writer
 * lock is a sleeping lock and the writer can be preempted inside its write
 * section; a reader that waited for the section's end by spinning would spin
 * until the scheduler's throttling let the writer run (a second or more). A
 * get slower than BOUND_MS fails the test: the bound separates that livelock
 * from a get's ordinary cost (microseconds) and short interruptions. It is a
 * livelock detector, not a benchmark; rig/run --icount makes its clock count
 * instructions, immune to the host's load.
 *
 * A watchdog thread above the reader's priority ends a livelock early: once
 * one get has run for BOUND_MS it demotes the reader to SCHED_OTHER, so the
 * writer gets the CPU, finishes its section and the get returns (which also
 * shows what the get was waiting for).
 *
 *   rt_get_latency [BURSTS]     default 500 bursts of 10 gets
 *
 * Prints a summary line and PASS:/FAIL: lines; exits 1 on a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "kv.h"

#define BOUND_NS (100 * 1000000ull)
#define GETS_PER_BURST 10
#define READER_PRIORITY 10
#define WATCHDOG_PRIORITY 20
#define WATCHDOG_PERIOD_NS 10000000l

static int fd;
static atomic_bool stop;
static atomic_ulong puts_done;
static atomic_ulong writer_errors;
/* When the reader's current get began (0: not in a get). */
static atomic_ullong get_started_ns;
static atomic_bool reader_demoted;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_key(struct kv_key *key)
{
	memset(key, 0, sizeof(*key));
	key->len = 9;
	memcpy(key->data, "rt-bucket", 9);
}

/* The longest value, so a write section copies as much as it can. */
static void fill_value(struct kv_value *value, uint8_t byte)
{
	value->len = KV_MAX_VAL;
	memset(value->data, byte, KV_MAX_VAL);
}

static void *writer(void *arg)
{
	struct kv_pair pair;

	(void)arg;
	memset(&pair, 0, sizeof(pair));
	set_key(&pair.key);
	for (unsigned long i = 0; !atomic_load(&stop); i++) {
		fill_value(&pair.value, (i & 1) ? 'b' : 'a');
		if (ioctl(fd, KV_IOC_PUT, &pair) != 0)
			atomic_fetch_add(&writer_errors, 1);
		else
			atomic_fetch_add(&puts_done, 1);
	}
	return NULL;
}

struct reader_result {
	unsigned long want_bursts, bursts, gets, bad_gets;
	uint64_t worst_ns;
	int error;
};

static void *reader(void *arg)
{
	struct reader_result *r = arg;
	struct kv_pair pair;

	for (unsigned long b = 0; b < r->want_bursts && !atomic_load(&reader_demoted); b++) {
		/* Sleeps of 50 to 250 us, long enough for the writer to run a
		 * few dozen puts and varied so that the wakeups fall at many
		 * points of its loop. */
		struct timespec pause = { 0, (long)(50000 + (b * 7919) % 200000) };

		if (clock_nanosleep(CLOCK_MONOTONIC, 0, &pause, NULL) != 0) {
			r->error = errno;
			return NULL;
		}
		for (int i = 0; i < GETS_PER_BURST; i++) {
			memset(&pair, 0, sizeof(pair));
			set_key(&pair.key);
			uint64_t t0 = now_ns();
			atomic_store(&get_started_ns, t0);
			int ret = ioctl(fd, KV_IOC_GET, &pair);
			uint64_t took = now_ns() - t0;
			atomic_store(&get_started_ns, 0);

			r->gets++;
			if (took > r->worst_ns)
				r->worst_ns = took;
			/* Either value whole, never a mix (a torn read). */
			if (ret != 0 || pair.value.len != KV_MAX_VAL ||
			    (pair.value.data[0] != 'a' && pair.value.data[0] != 'b') ||
			    memchr(pair.value.data, pair.value.data[0] ^ ('a' ^ 'b'), KV_MAX_VAL))
				r->bad_gets++;
		}
		r->bursts = b + 1;
	}
	return NULL;
}

static void *watchdog(void *arg)
{
	pthread_t reader_thread = *(pthread_t *)arg;
	struct timespec period = { 0, WATCHDOG_PERIOD_NS };

	while (!atomic_load(&stop)) {
		clock_nanosleep(CLOCK_MONOTONIC, 0, &period, NULL);
		uint64_t started = atomic_load(&get_started_ns);
		if (started != 0 && now_ns() - started > BOUND_NS) {
			struct sched_param other = { .sched_priority = 0 };

			atomic_store(&reader_demoted, true);
			pthread_setschedparam(reader_thread, SCHED_OTHER, &other);
			return NULL;
		}
	}
	return NULL;
}

/* A thread of FIFO PRIORITY, or of the caller's class when PRIORITY is 0. */
static int start(pthread_t *t, void *(*fn)(void *), void *arg, int priority)
{
	struct sched_param param = { .sched_priority = priority };
	pthread_attr_t attr;
	int err;

	pthread_attr_init(&attr);
	if (priority > 0) {
		pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
		pthread_attr_setschedparam(&attr, &param);
	}
	err = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return err;
}

int main(int argc, char **argv)
{
	struct reader_result result = { 0 };
	pthread_t w, r, d;
	cpu_set_t one_cpu;
	struct kv_pair pair;
	int err;

	result.want_bursts = argc > 1 ? strtoul(argv[1], NULL, 10) : 500;
	fd = open("/dev/kvstore", O_RDWR);
	if (fd < 0) {
		printf("FAIL: rt/get_latency: open /dev/kvstore: %s\n", strerror(errno));
		return 1;
	}
	/* One CPU for every thread (they inherit it): the reader can only run
	 * by preempting the writer. */
	CPU_ZERO(&one_cpu);
	CPU_SET(0, &one_cpu);
	if (sched_setaffinity(0, sizeof(one_cpu), &one_cpu) != 0) {
		printf("FAIL: rt/get_latency: sched_setaffinity: %s\n", strerror(errno));
		return 1;
	}
	memset(&pair, 0, sizeof(pair));
	set_key(&pair.key);
	fill_value(&pair.value, 'a');
	if (ioctl(fd, KV_IOC_PUT, &pair) != 0) {
		printf("FAIL: rt/get_latency: the first put: %s\n", strerror(errno));
		return 1;
	}

	if ((err = start(&w, writer, NULL, 0)) != 0 ||
	    (err = start(&r, reader, &result, READER_PRIORITY)) != 0 ||
	    (err = start(&d, watchdog, &r, WATCHDOG_PRIORITY)) != 0) {
		printf("FAIL: rt/get_latency: pthread_create: %s\n", strerror(err));
		return 1;
	}
	pthread_join(r, NULL);
	atomic_store(&stop, true);
	pthread_join(w, NULL);
	pthread_join(d, NULL);

	printf("rt_get_latency: %lu bursts of %d gets (SCHED_FIFO %d), %lu puts (SCHED_OTHER), one "
	       "CPU, buckets=1: worst get %llu.%03llu ms\n",
	       result.bursts, GETS_PER_BURST, READER_PRIORITY, atomic_load(&puts_done),
	       (unsigned long long)(result.worst_ns / 1000000),
	       (unsigned long long)(result.worst_ns / 1000 % 1000));
	int failed = 0;
	if (result.error != 0 || result.bad_gets != 0 || atomic_load(&writer_errors) != 0 ||
	    atomic_load(&puts_done) == 0) {
		printf("FAIL: rt/get_and_put_results: sleep error %d, %lu bad gets of %lu, %lu failed "
		       "puts, %lu puts\n",
		       result.error, result.bad_gets, result.gets, atomic_load(&writer_errors),
		       atomic_load(&puts_done));
		failed = 1;
	} else {
		printf("PASS: rt/get_and_put_results\n");
	}
	if (result.worst_ns > BOUND_NS) {
		printf("FAIL: rt/fifo_get_never_waits_for_preempted_writer: a get took %llu ms (bound "
		       "%llu ms)%s\n",
		       (unsigned long long)(result.worst_ns / 1000000), BOUND_NS / 1000000,
		       atomic_load(&reader_demoted)
			       ? "; it returned only once the reader was demoted to SCHED_OTHER and "
				 "the preempted writer could finish its section"
			       : "");
		failed = 1;
	} else {
		printf("PASS: rt/fifo_get_never_waits_for_preempted_writer (worst %llu us, bound %llu "
		       "ms)\n",
		       (unsigned long long)(result.worst_ns / 1000), BOUND_NS / 1000000);
	}
	close(fd);
	return failed;
}
