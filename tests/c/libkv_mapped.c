/* kv_get through the store's read-only mapping (docs/mapping.md), from C,
 * compiled on the host with
 *   cc -Iinclude tests/c/libkv_mapped.c -L. -lkv
 * A get on a descriptor from kv_open or kv_open_readonly reads the mapping
 * when the store can be mapped (use_lru=0, mmap on; under SIEVE, use_lru=2,
 * on kv_open's read-write descriptor only, which maps the mark words
 * writable): the kernel never sees it, so its hits and misses counters
 * stay still. A dup'd descriptor,
 * kv_get_ver, KVLIB_MAPPED_READS=0 at kv_open, a store that evicts or a
 * module with mmap=0 take the ioctl, which the kernel counts. Each get
 * checks the answer (value, length, the bytes after the value zeroed, or
 * ENOENT) and how far the counters moved. Run as
 *   libkv_mapped NAME mapped   on a store kv_get maps (use_lru=0)
 *   libkv_mapped NAME ioctl    on one it cannot (use_lru=1, mmap=0)
 *   libkv_mapped NAME sieve    on a SIEVE store (use_lru=2): kv_open's
 *                              descriptors map, kv_open_readonly's do not
 *   libkv_mapped NAME race     the threaded check alone (the concurrency
 *                              suite runs it on the debug kernel's 2 CPUs)
 * on a fresh store with room for 256 items; checks print as
 * libkv/mapped/NAME/... . The threaded check races two readers on one
 * descriptor against a writer and against descriptors opened and closed
 * meanwhile (libkv's registry changing under the readers). */
#define CHECK_PREFIX "libkv/mapped"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

static const char *run_name;
static char name_buf[128];

/* "NAME/what", for CHECK. */
static const char *nm(const char *what)
{
	snprintf(name_buf, sizeof(name_buf), "%s/%s", run_name, what);
	return name_buf;
}

static struct kv_usage_stat stat_of(int fd)
{
	struct kv_usage_stat st;
	memset(&st, 0, sizeof(st));
	if (kv_stat(fd, &st) != 0)
		memset(&st, 0xFF, sizeof(st));
	return st;
}

static int rest_zeroed(const struct kv_value *v)
{
	for (uint32_t i = v->len; i < KV_MAX_VAL; i++)
		if (v->data[i] != 0)
			return 0;
	return 1;
}

/* Whether the kernel counted exactly `hits` hits and `misses` misses from
 * `before` to `after`; says what it counted when not. */
static int counted_exactly(const struct kv_usage_stat *before, const struct kv_usage_stat *after,
			   uint64_t hits, uint64_t misses)
{
	if (after->hits == before->hits + hits && after->misses == before->misses + misses)
		return 1;
	printf("  hits %llu -> %llu, misses %llu -> %llu (expected +%llu and +%llu)\n",
	       (unsigned long long)before->hits, (unsigned long long)after->hits,
	       (unsigned long long)before->misses, (unsigned long long)after->misses,
	       (unsigned long long)hits, (unsigned long long)misses);
	return 0;
}

/* kv_get(fd) of key answers val (vlen bytes, the rest of the buffer,
 * filled with 0xAA before, zeroed), and the kernel counted `counted` hits
 * (0 or 1) and no miss; `sfd` reads the counters. */
static int hit_bytes(int fd, int sfd, const void *key, uint32_t klen, const void *val, uint32_t vlen,
		     uint64_t counted)
{
	struct kv_pair p = make_pair(key, klen, "", 0);
	memset(p.value.data, 0xAA, KV_MAX_VAL);
	p.value.len = 12345;
	struct kv_usage_stat before = stat_of(sfd);
	int rc = kv_get(fd, &p);
	int err = errno;
	struct kv_usage_stat after = stat_of(sfd);
	if (rc != 0) {
		printf("  kv_get failed: errno %d\n", err);
		return 0;
	}
	if (!counted_exactly(&before, &after, counted, 0))
		return 0;
	return p.value.len == vlen && memcmp(p.value.data, val, vlen) == 0 && rest_zeroed(&p.value);
}

static int hit(int fd, int sfd, const char *key, const char *val, uint64_t counted)
{
	return hit_bytes(fd, sfd, key, strlen(key), val, strlen(val), counted);
}

/* kv_get(fd) of key answers -1 with ENOENT, and the kernel counted
 * `counted` misses and no hit. */
static int miss(int fd, int sfd, const char *key, uint64_t counted)
{
	struct kv_pair p = make_pair(key, strlen(key), "", 0);
	struct kv_usage_stat before = stat_of(sfd);
	int rc = kv_get(fd, &p);
	int err = errno;
	struct kv_usage_stat after = stat_of(sfd);
	if (!counted_exactly(&before, &after, 0, counted))
		return 0;
	errno = err;
	return fails_with(rc, ENOENT);
}

static int put(int fd, const char *key, const char *val)
{
	struct kv_pair p = make_pair(key, strlen(key), val, strlen(val));
	return kv_put(fd, &p) == 0;
}

/* The threaded check: readers get RACE_KEY on `fd` until `stop`. */
#define RACE_KEY "race"
#define RACE_PUTS 20000

struct race {
	int fd;
	atomic_int stop;
	atomic_long gets, wrong, failed, churned;
	/* Bit n set: some reader got the value of length n. */
	atomic_ulong lengths[4];
};

/* Whether `v` is one the writer put whole: n bytes of n (1..255), the
 * rest of the buffer zeroed. */
static int race_value_whole(const struct kv_value *v)
{
	if (v->len < 1 || v->len > 255)
		return 0;
	for (uint32_t i = 0; i < v->len; i++)
		if (v->data[i] != v->len)
			return 0;
	return rest_zeroed(v);
}

static void *race_reader(void *arg)
{
	struct race *r = arg;
	while (!atomic_load(&r->stop)) {
		struct kv_pair p = make_pair(RACE_KEY, strlen(RACE_KEY), "", 0);
		if (kv_get(r->fd, &p) != 0) {
			atomic_fetch_add(&r->failed, 1);
		} else if (!race_value_whole(&p.value)) {
			atomic_fetch_add(&r->wrong, 1);
		} else {
			atomic_fetch_or(&r->lengths[p.value.len / 64], 1ul << (p.value.len % 64));
		}
		atomic_fetch_add(&r->gets, 1);
	}
	return NULL;
}

/* Opens, gets through and closes descriptors of its own: their numbers
 * come and go in the registry the readers look `fd` up in. */
static void *race_churner(void *arg)
{
	struct race *r = arg;
	while (!atomic_load(&r->stop)) {
		int x = kv_open_readonly();
		struct kv_pair p = make_pair(RACE_KEY, strlen(RACE_KEY), "", 0);
		if (x < 0 || kv_get(x, &p) != 0 || !race_value_whole(&p.value) || kv_close(x) != 0)
			atomic_fetch_add(&r->failed, 1);
		atomic_fetch_add(&r->churned, 1);
	}
	return NULL;
}

/* Two readers and a churner against RACE_PUTS rewrites of RACE_KEY, each
 * value n bytes of n for n cycling through 1..255. */
static int race(int fd)
{
	struct race r = { .fd = fd };
	unsigned char val[255];
	struct kv_pair p;
	memset(val, 1, sizeof(val));
	p = make_pair(RACE_KEY, strlen(RACE_KEY), val, 1);
	if (kv_put(fd, &p) != 0)
		return 0;
	pthread_t threads[3];
	int started = 0;
	for (; started < 3; started++)
		if (pthread_create(&threads[started], NULL, started < 2 ? race_reader : race_churner, &r) != 0)
			break;
	int puts_ok = started == 3;
	for (int i = 0; puts_ok && i < RACE_PUTS; i++) {
		uint32_t n = (uint32_t)(i % 255) + 1;
		memset(val, (int)n, n);
		p = make_pair(RACE_KEY, strlen(RACE_KEY), val, n);
		puts_ok = kv_put(fd, &p) == 0;
	}
	atomic_store(&r.stop, 1);
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	int lengths = 0;
	for (int i = 0; i < 4; i++)
		lengths += __builtin_popcountl(atomic_load(&r.lengths[i]));
	printf("  %ld gets by 2 readers on %ld CPUs (%d value lengths seen), %ld descriptors opened "
	       "and closed, %ld wrong, %ld failed\n",
	       atomic_load(&r.gets), sysconf(_SC_NPROCESSORS_ONLN), lengths, atomic_load(&r.churned),
	       atomic_load(&r.wrong), atomic_load(&r.failed));
	/* More than one length seen: the gets overlapped the rewrites. */
	return puts_ok && atomic_load(&r.wrong) == 0 && atomic_load(&r.failed) == 0 && lengths > 1 &&
	       atomic_load(&r.churned) > 0;
}

int main(int argc, char **argv)
{
	int sieve = argc == 3 && strcmp(argv[2], "sieve") == 0;
	int race_only = argc == 3 && strcmp(argv[2], "race") == 0;
	if (argc != 3 ||
	    (strcmp(argv[2], "mapped") != 0 && strcmp(argv[2], "ioctl") != 0 && !sieve && !race_only)) {
		fprintf(stderr, "usage: %s NAME mapped|ioctl|sieve|race\n", argv[0]);
		return 2;
	}
	run_name = argv[1];
	if (race_only) {
		/* The threaded check alone, on whatever store is loaded. */
		unsetenv("KVLIB_MAPPED_READS");
		int rw = kv_open();
		CHECK(nm("open"), rw >= 0);
		if (rw < 0)
			return 1;
		CHECK(nm("threads_race_rewrites_and_registry"), race(rw));
		CHECK(nm("close"), kv_close(rw) == 0);
		return check_failed;
	}
	/* What a get on a kv_open descriptor adds to the kernel's counters,
	 * and one on a kv_open_readonly descriptor. */
	const uint64_t c = strcmp(argv[2], "ioctl") == 0 ? 1 : 0;
	const uint64_t cr = strcmp(argv[2], "mapped") == 0 ? 0 : 1;
	unsigned char key[KV_MAX_KEY], val[KV_MAX_VAL];
	struct kv_pair p;
	char k[16];

	unsetenv("KVLIB_MAPPED_READS");
	int fd = kv_open();
	int ro = kv_open_readonly();
	int io = fd >= 0 ? dup(fd) : -1; /* not from kv_open: the ioctl */
	CHECK(nm("open"), fd >= 0 && ro >= 0 && io >= 0);
	if (fd < 0 || ro < 0 || io < 0)
		return 1;

	/* Hits and misses on each kind of descriptor. */
	CHECK(nm("put"), put(fd, "alpha", "one"));
	CHECK(nm("get_hit"), hit(fd, fd, "alpha", "one", c));
	CHECK(nm("readonly_get_hit"), hit(ro, fd, "alpha", "one", cr));
	CHECK(nm("dup_get_hit_counted"), hit(io, fd, "alpha", "one", 1));
	CHECK(nm("get_miss"), miss(fd, fd, "nope", c));
	CHECK(nm("readonly_get_miss"), miss(ro, fd, "nope", cr));
	CHECK(nm("dup_get_miss_counted"), miss(io, fd, "nope", 1));

	/* Both limits, binary bytes; an empty value. */
	for (int i = 0; i < KV_MAX_KEY; i++)
		key[i] = (unsigned char)(i * 37 + 1);
	for (int i = 0; i < KV_MAX_VAL; i++)
		val[i] = (unsigned char)(255 - i);
	key[0] = 0x00;
	val[0] = 0x00;
	p = make_pair(key, KV_MAX_KEY, val, KV_MAX_VAL);
	CHECK(nm("put_max_lengths"), kv_put(fd, &p) == 0);
	CHECK(nm("get_max_lengths"), hit_bytes(fd, fd, key, KV_MAX_KEY, val, KV_MAX_VAL, c) &&
					     hit_bytes(ro, fd, key, KV_MAX_KEY, val, KV_MAX_VAL, cr));
	CHECK(nm("put_empty_value"), put(fd, "e", ""));
	CHECK(nm("get_empty_value"), hit(fd, fd, "e", "", c) && hit(ro, fd, "e", "", cr));

	/* A key length the kernel refuses: its EINVAL, counted nowhere. */
	struct kv_usage_stat before = stat_of(fd);
	p = make_pair(key, 0, "", 0);
	int empty = fails_with(kv_get(fd, &p), EINVAL);
	p = make_pair(key, KV_MAX_KEY + 1, "", 0);
	int longer = fails_with(kv_get(ro, &p), EINVAL);
	struct kv_usage_stat after = stat_of(fd);
	CHECK(nm("bad_key_length_einval"),
	      empty && longer && after.hits == before.hits && after.misses == before.misses);
	CHECK(nm("get_null"), fails_with(kv_get(fd, NULL), EINVAL));

	/* Replace, then delete. */
	CHECK(nm("put_replace"), put(fd, "alpha", "second"));
	CHECK(nm("get_replaced"), hit(fd, fd, "alpha", "second", c) && hit(ro, fd, "alpha", "second", cr));
	struct kv_key del_key = make_pair("alpha", 5, "", 0).key;
	CHECK(nm("del"), kv_del(fd, &del_key) == 0);
	CHECK(nm("get_after_del"), miss(fd, fd, "alpha", c) && miss(ro, fd, "alpha", cr));
	CHECK(nm("dup_get_after_del_counted"), miss(io, fd, "alpha", 1));

	/* Many keys: chains across buckets. */
	int all = 1;
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "key%d", i);
		all &= put(fd, k, k + 3);
	}
	before = stat_of(fd);
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "key%d", i);
		p = make_pair(k, strlen(k), "", 0);
		all &= kv_get(i % 2 ? fd : ro, &p) == 0 && p.value.len == strlen(k + 3) &&
		       memcmp(p.value.data, k + 3, p.value.len) == 0 && rest_zeroed(&p.value);
	}
	after = stat_of(fd);
	CHECK(nm("get_200_keys"),
	      all && after.hits == before.hits + 100 * c + 100 * cr && after.misses == before.misses);

	/* A clear: every key gone through the mapping; keys put afterwards
	 * land in chunks attached after the clear. */
	CHECK(nm("clear"), kv_clear(fd) == 0);
	CHECK(nm("get_after_clear"),
	      miss(fd, fd, "key1", c) && miss(ro, fd, "key2", cr) && miss(fd, fd, "e", c));
	CHECK(nm("put_after_clear"), put(fd, "beta", "three") && put(fd, "key7", "after"));
	CHECK(nm("get_after_clear_put"), hit(fd, fd, "beta", "three", c) && hit(ro, fd, "key7", "after", cr) &&
						 miss(ro, fd, "key8", cr));

	/* kv_get_ver takes the ioctl. */
	uint64_t version = 0;
	before = stat_of(fd);
	p = make_pair("beta", 4, "", 0);
	CHECK(nm("get_ver_counted"), kv_get_ver(fd, &p, &version) == 0 && version != 0 && p.value.len == 5 &&
					     stat_of(fd).hits == before.hits + 1);

	/* kv_close unregisters: a get on the closed number is EBADF, not an
	 * answer from a mapping left behind. Reopened, gets work again. */
	CHECK(nm("readonly_close"), kv_close(ro) == 0);
	p = make_pair("beta", 4, "", 0);
	CHECK(nm("get_after_close_ebadf"), fails_with(kv_get(ro, &p), EBADF));
	int ro2 = kv_open_readonly();
	CHECK(nm("reopen_get_hit"), ro2 >= 0 && hit(ro2, fd, "beta", "three", cr));

	/* KVLIB_MAPPED_READS=0 at kv_open: that descriptor takes the ioctl. */
	setenv("KVLIB_MAPPED_READS", "0", 1);
	int off = kv_open();
	CHECK(nm("env_off_counted"), off >= 0 && hit(off, fd, "beta", "three", 1) && miss(off, fd, "nope", 1));
	kv_close(off);

	/* A descriptor closed with close(2) and its number handed out again by
	 * kv_open* (here with mapped reads off): the entry left behind is
	 * dropped, and gets on the number take the ioctl. */
	close(ro2);
	int again = kv_open_readonly();
	CHECK(nm("close2_reused_number"), again == ro2);
	CHECK(nm("close2_reused_counted"), hit(again, fd, "beta", "three", 1));
	kv_close(again);
	unsetenv("KVLIB_MAPPED_READS");

	CHECK(nm("threads_race_rewrites_and_registry"), race(fd));

	/* kv_open after kv_close of the first: mapped again (if it can be). */
	CHECK(nm("close"), kv_close(fd) == 0);
	fd = kv_open();
	CHECK(nm("reopen_rw_get_hit"), fd >= 0 && hit(fd, fd, "beta", "three", c) && miss(fd, fd, "alpha", c));
	CHECK(nm("close_all"), kv_close(fd) == 0 && close(io) == 0);
	return check_failed;
}
