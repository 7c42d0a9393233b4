/* libkv.so's expiry, counters and versions from C, as a user links it
 * (cc -Iinclude tests/c/libkv_cache.c -L. -lkv), run in the guest against a
 * store loaded with max_items=4 use_lru=0: kv_put_ttl, kv_touch, kv_ttl,
 * an expired item gone for every call, the background reclaim, a full
 * store reusing an expired item's room, kv_incr, kv_get_ver, kv_put_ver,
 * kv_cache_batch, old struct kv_op refusing the new ops, and stat's
 * expired counter. Prints PASS/FAIL lines. */
#define _POSIX_C_SOURCE 200809L
#define CHECK_PREFIX "libkv/cache"
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "check.h"

static struct kv_key make_key(const char *s)
{
	struct kv_key k;
	memset(&k, 0, sizeof(k));
	k.len = (uint32_t)strlen(s);
	memcpy(k.data, s, k.len);
	return k;
}

static struct kv_pair str_pair(const char *k, const char *v)
{
	return make_pair(k, (uint32_t)strlen(k), v, (uint32_t)strlen(v));
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

static int value_is(int fd, const char *k, const char *v)
{
	struct kv_pair p = str_pair(k, "");
	return kv_get(fd, &p) == 0 && p.value.len == strlen(v) && memcmp(p.value.data, v, p.value.len) == 0;
}

static struct kv_usage_stat stat_of(int fd)
{
	struct kv_usage_stat st;
	memset(&st, 0xff, sizeof(st));
	if (kv_stat(fd, &st) != 0)
		memset(&st, 0, sizeof(st));
	return st;
}

int main(void)
{
	struct kv_pair p;
	struct kv_key k;
	struct kv_usage_stat st;
	int64_t ms, n;
	uint64_t v1, v2;
	int fd = kv_open();

	CHECK("open", fd >= 0);
	if (fd < 0)
		return 1;

	/* TTLs: kv_ttl reads what kv_put_ttl set; plain puts never expire. */
	p = str_pair("t", "1");
	k = make_key("t");
	CHECK("put_ttl", kv_put_ttl(fd, &p, 0, 60000) == 0);
	CHECK("ttl_left", kv_ttl(fd, &k, &ms) == 0 && ms > 55000 && ms <= 60000);
	p = str_pair("t", "2");
	CHECK("put_clears_ttl", kv_put(fd, &p) == 0 && kv_ttl(fd, &k, &ms) == 0 && ms == -1);
	CHECK("put_flags_clears_ttl", kv_put_ttl(fd, &p, 0, 5000) == 0 &&
					      kv_put_flags(fd, &p, KV_PUT_EXIST) == 0 &&
					      kv_ttl(fd, &k, &ms) == 0 && ms == -1);
	CHECK("put_ttl_zero_never", kv_put_ttl(fd, &p, 0, 0) == 0 && kv_ttl(fd, &k, &ms) == 0 && ms == -1);
	CHECK("touch_sets", kv_touch(fd, &k, 30000) == 0 && kv_ttl(fd, &k, &ms) == 0 && ms > 25000 &&
				    ms <= 30000 && value_is(fd, "t", "2"));
	CHECK("touch_zero_never", kv_touch(fd, &k, 0) == 0 && kv_ttl(fd, &k, &ms) == 0 && ms == -1);
	k = make_key("absent");
	CHECK("touch_absent", fails_with(kv_touch(fd, &k, 1000), ENOENT));
	CHECK("ttl_absent", fails_with(kv_ttl(fd, &k, &ms), ENOENT));
	CHECK("put_ttl_flags", fails_with(kv_put_ttl(fd, &p, KV_PUT_NOEXIST, 100), EEXIST) &&
				       fails_with(kv_put_ttl(fd, &p, 3, 100), EINVAL));
	CHECK("huge_ttl", kv_put_ttl(fd, &p, 0, UINT64_MAX) == 0 && (k = make_key("t"), kv_ttl(fd, &k, &ms)) == 0 &&
				  ms > 1000000000LL && value_is(fd, "t", "2"));
	CHECK("clear", kv_clear(fd) == 0);

	/* An expired item is gone for every call. */
	st = stat_of(fd);
	uint64_t misses = st.misses, expired = st.expired;
	p = str_pair("e", "1");
	k = make_key("e");
	kv_put_ttl(fd, &p, 0, 100);
	CHECK("live_before", value_is(fd, "e", "1"));
	sleep_ms(150);
	p = str_pair("e", "");
	/* On this store kv_get reads the mapping, which the kernel does not
	 * count; a dup'd descriptor takes the ioctl, whose miss it counts. */
	int io = dup(fd);
	CHECK("get_misses", fails_with(kv_get(fd, &p), ENOENT) && stat_of(fd).misses == misses &&
				    fails_with(kv_get(io, &p), ENOENT) && stat_of(fd).misses == misses + 1);
	close(io);
	CHECK("ttl_enoent", fails_with(kv_ttl(fd, &k, &ms), ENOENT));
	p = str_pair("e", "1");
	kv_put_ttl(fd, &p, 0, 100);
	sleep_ms(150);
	CHECK("touch_enoent", fails_with(kv_touch(fd, &k, 1000), ENOENT));
	kv_put_ttl(fd, &p, 0, 100);
	sleep_ms(150);
	CHECK("put_exist_enoent", fails_with(kv_put_flags(fd, &p, KV_PUT_EXIST), ENOENT));
	kv_put_ttl(fd, &p, 0, 100);
	sleep_ms(150);
	CHECK("del_enoent", fails_with(kv_del(fd, &k), ENOENT));
	kv_put_ttl(fd, &p, 0, 100);
	sleep_ms(150);
	p = str_pair("e", "2");
	CHECK("put_noexist_succeeds", kv_put_flags(fd, &p, KV_PUT_NOEXIST) == 0 && value_is(fd, "e", "2"));
	st = stat_of(fd);
	CHECK("expired_counted", (st.filled & KV_STAT_HAS_EXPIRED) && st.expired == expired + 5 &&
					 st.curr_items == 1 && st.deletes == 0);
	{
		/* A dump skips an expired item. */
		struct kv_pair pairs[8];
		uint64_t cursor = 0;
		uint32_t count, total = 0;
		p = str_pair("d", "1");
		kv_put_ttl(fd, &p, 0, 100);
		sleep_ms(150);
		do {
			count = 8;
			if (kv_dump(fd, &cursor, pairs, &count) != 0)
				break;
			for (uint32_t i = 0; i < count; i++)
				total += pairs[i].key.len == 1 && pairs[i].key.data[0] == 'd';
		} while (count > 0);
		CHECK("dump_skips", total == 0);
	}

	/* The background reclaim: no call touches the items. */
	kv_clear(fd);
	expired = stat_of(fd).expired;
	for (int i = 0; i < 3; i++) {
		char key[2] = { (char)('a' + i), 0 };
		p = str_pair(key, "xyz");
		kv_put_ttl(fd, &p, 0, 200);
	}
	st = stat_of(fd);
	CHECK("counted_while_live", st.curr_items == 3 && st.bytes_used == 3 * 4);
	sleep_ms(200 + 2000);
	st = stat_of(fd);
	CHECK("reclaimed_within_2s", st.curr_items == 0 && st.bytes_used == 0 && st.expired == expired + 3);

	/* A full store (max_items=4, no eviction) reuses an expired item's room. */
	kv_clear(fd);
	for (int i = 0; i < 4; i++) {
		char key[2] = { (char)('a' + i), 0 };
		p = str_pair(key, "v");
		if (i == 2)
			kv_put_ttl(fd, &p, 0, 300);
		else
			kv_put(fd, &p);
	}
	p = str_pair("z", "v");
	CHECK("full_enospc", fails_with(kv_put(fd, &p), ENOSPC));
	sleep_ms(350);
	CHECK("full_reuses_expired", kv_put(fd, &p) == 0 && value_is(fd, "a", "v") && value_is(fd, "z", "v") &&
					     stat_of(fd).evictions == 0);
	kv_clear(fd);

	/* Counters. */
	k = make_key("n");
	CHECK("incr_creates", kv_incr(fd, &k, 5, 0, &n) == 0 && n == 5 && value_is(fd, "n", "5") &&
				      kv_ttl(fd, &k, &ms) == 0 && ms == -1);
	CHECK("incr_adds", kv_incr(fd, &k, -7, 0, &n) == 0 && n == -2 && value_is(fd, "n", "-2"));
	p = str_pair("n", "9223372036854775807");
	kv_put(fd, &p);
	CHECK("incr_overflow", fails_with(kv_incr(fd, &k, 1, 0, &n), EOVERFLOW) &&
				       value_is(fd, "n", "9223372036854775807"));
	p = str_pair("n", "-9223372036854775808");
	kv_put(fd, &p);
	CHECK("decr_overflow", fails_with(kv_incr(fd, &k, -1, 0, &n), EOVERFLOW));
	p = str_pair("n", "12 ");
	kv_put(fd, &p);
	CHECK("incr_not_a_number", fails_with(kv_incr(fd, &k, 1, 0, &n), EINVAL) && value_is(fd, "n", "12 "));
	p = str_pair("n", "00000000000000000001");
	kv_put(fd, &p);
	CHECK("incr_twenty_digits", fails_with(kv_incr(fd, &k, 1, 0, &n), EINVAL));
	k = make_key("rate");
	CHECK("incr_creates_with_ttl", kv_incr(fd, &k, 1, 300, &n) == 0 && n == 1 && kv_ttl(fd, &k, &ms) == 0 &&
					       ms > 0 && ms <= 300);
	CHECK("incr_keeps_ttl", kv_incr(fd, &k, 1, 60000, &n) == 0 && n == 2 && kv_ttl(fd, &k, &ms) == 0 &&
					ms > 0 && ms <= 300);
	sleep_ms(350);
	CHECK("incr_after_expiry_restarts", kv_incr(fd, &k, 1, 0, &n) == 0 && n == 1);
	kv_clear(fd);

	/* Versions. */
	p = str_pair("v", "1");
	kv_put(fd, &p);
	p = str_pair("v", "");
	CHECK("get_ver", kv_get_ver(fd, &p, &v1) == 0 && v1 != 0 && p.value.len == 1 && p.value.data[0] == '1' &&
				 p.value.data[1] == 0);
	p = str_pair("v", "2");
	CHECK("put_ver_changed", fails_with(kv_put_ver(fd, &p, v1 + 1000), EEXIST) && value_is(fd, "v", "1"));
	CHECK("put_ver", kv_put_ver(fd, &p, v1) == 0 && value_is(fd, "v", "2"));
	CHECK("put_ver_stale", fails_with(kv_put_ver(fd, &p, v1), EEXIST));
	p = str_pair("v", "");
	CHECK("version_moves", kv_get_ver(fd, &p, &v2) == 0 && v2 != v1 && v2 != 0);
	k = make_key("v");
	kv_touch(fd, &k, 60000);
	CHECK("touch_moves_version", kv_get_ver(fd, &p, &v1) == 0 && v1 != v2);
	p = str_pair("v", "3");
	CHECK("put_ver_keeps_ttl", kv_put_ver(fd, &p, v1) == 0 && kv_ttl(fd, &k, &ms) == 0 && ms > 50000);
	p = str_pair("nokey", "x");
	CHECK("put_ver_absent", fails_with(kv_put_ver(fd, &p, 1), ENOENT));
	p = str_pair("nokey", "");
	CHECK("get_ver_absent", fails_with(kv_get_ver(fd, &p, &v1), ENOENT));

	/* kv_cache_batch: every op, results per op. */
	{
		struct kv_cache_op ops[7];
		memset(ops, 0, sizeof(ops));
		ops[0].op = KV_OP_PUT;
		ops[0].ttl_ms = 60000;
		ops[0].pair = str_pair("b", "10");
		ops[1].op = KV_OP_INCR;
		ops[1].number = 5;
		ops[1].pair = str_pair("b", "");
		ops[2].op = KV_OP_GET;
		ops[2].pair = str_pair("b", "");
		ops[3].op = KV_OP_TTL;
		ops[3].pair = str_pair("b", "");
		ops[4].op = KV_OP_PUT_VER;
		ops[4].version = 1;
		ops[4].pair = str_pair("b", "x");
		ops[5].op = KV_OP_TOUCH;
		ops[5].pair = str_pair("b", "");
		ops[6].op = KV_OP_GET;
		ops[6].ttl_ms = 5; /* a get takes no TTL */
		ops[6].pair = str_pair("b", "");
		CHECK("batch_count", kv_cache_batch(fd, ops, 7) == 7);
		CHECK("batch_put_incr", ops[0].result == 0 && ops[1].result == 0 && ops[1].number == 15);
		CHECK("batch_get", ops[2].result == 0 && ops[2].pair.value.len == 2 && ops[2].version != 0);
		CHECK("batch_ttl", ops[3].result == 0 && ops[3].number > 55000);
		CHECK("batch_put_ver", ops[4].result == -EEXIST);
		CHECK("batch_touch", ops[5].result == 0 && kv_ttl(fd, &(struct kv_key){ .len = 1, .data = "b" }, &ms) == 0 &&
					     ms == -1);
		CHECK("batch_bad_op", ops[6].result == -EINVAL);
		ops[0].op = 99;
		CHECK("batch_unknown_op", kv_cache_batch(fd, ops, 1) == 1 && ops[0].result == -EINVAL);
	}

	/* The old struct kv_op knows only get, put and del. */
	{
		struct kv_op op;
		memset(&op, 0, sizeof(op));
		op.op = KV_OP_INCR;
		op.pair = str_pair("b", "");
		CHECK("old_batch_refuses_new_ops", kv_batch(fd, &op, 1) == 1 && op.result == -EINVAL);
	}

	/* A read-only descriptor reads TTLs and versions but changes nothing. */
	{
		int ro = kv_open_readonly();
		k = make_key("b");
		p = str_pair("b", "");
		CHECK("readonly_reads", kv_ttl(ro, &k, &ms) == 0 && kv_get_ver(ro, &p, &v1) == 0);
		p = str_pair("b", "1");
		CHECK("readonly_writes_ebadf", fails_with(kv_incr(ro, &k, 1, 0, &n), EBADF) &&
						       fails_with(kv_touch(ro, &k, 0), EBADF) &&
						       fails_with(kv_put_ttl(ro, &p, 0, 5), EBADF) &&
						       fails_with(kv_put_ver(ro, &p, v1), EBADF));
		kv_close(ro);
	}

	st = stat_of(fd);
	CHECK("stat_fields", st.filled == 0xfff && st.reserved[0] == 0 && st.reserved[4] == 0);
	kv_close(fd);
	return check_failed;
}
