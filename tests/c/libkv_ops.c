/* libkv.so's single-key calls from C, exactly as a user links it: compiled
 * on the host with
 *   cc -Iinclude tests/c/libkv_ops.c -L. -lkv
 * (and again through pkg-config against a staged `make install`) and run in
 * the guest against a freshly loaded store with the defaults (buckets=128
 * max_items=256 use_lru=0): kv_open, kv_put, kv_get, kv_del, kv_stat,
 * read-only descriptors, kv_close. Prints PASS/FAIL lines. */
#define CHECK_PREFIX "libkv/ops"
#include <stdlib.h>

#include "check.h"

/* kv_get zeroes the value's bytes after its length (kv.h). */
static int rest_zeroed(const struct kv_value *v)
{
	for (uint32_t i = v->len; i < KV_MAX_VAL; i++)
		if (v->data[i] != 0)
			return 0;
	return 1;
}

int main(void)
{
	unsigned char key[KV_MAX_KEY + 1], val[KV_MAX_VAL + 1];
	struct kv_pair p, out;
	struct kv_key k;
	struct kv_usage_stat st;
	int fd;

	for (int i = 0; i < (int)sizeof(key); i++)
		key[i] = (unsigned char)(i * 37 + 1);
	for (int i = 0; i < (int)sizeof(val); i++)
		val[i] = (unsigned char)(255 - i);
	key[0] = 0x00;
	key[1] = 0xff;
	val[0] = 0x00;
	val[1] = 0xff;

	fd = kv_open();
	CHECK("open", fd >= 0);
	if (fd < 0)
		return 1;

	CHECK("stat_fresh", kv_stat(fd, &st) == 0 && st.bucket_count == 128 && st.max_items == 256 &&
				    st.curr_items == 0 && st.use_lru == 0);

	/* Both limits, binary bytes with NUL and 0xFF. */
	p = make_pair(key, KV_MAX_KEY, val, KV_MAX_VAL);
	CHECK("put_max_lengths", kv_put(fd, &p) == 0);
	out = make_pair(key, KV_MAX_KEY, "", 0);
	memset(out.value.data, 0xAA, KV_MAX_VAL);
	CHECK("get_max_lengths", kv_get(fd, &out) == 0 && out.value.len == KV_MAX_VAL &&
					 memcmp(out.value.data, val, KV_MAX_VAL) == 0);

	p = make_pair(key, 1, "", 0);
	CHECK("put_min_lengths", kv_put(fd, &p) == 0);
	out = make_pair(key, 1, "", 0);
	out.value.len = 99;
	CHECK("get_empty_value", kv_get(fd, &out) == 0 && out.value.len == 0);

	p = make_pair("a\0b", 3, "x\0\xffy", 4);
	CHECK("put_embedded_nul", kv_put(fd, &p) == 0);
	out = make_pair("a\0b", 3, "", 0);
	CHECK("get_embedded_nul", kv_get(fd, &out) == 0 && out.value.len == 4 &&
					  memcmp(out.value.data, "x\0\xffy", 4) == 0);
	out = make_pair("a", 1, "", 0);
	CHECK("nul_is_not_a_terminator", fails_with(kv_get(fd, &out), ENOENT));

	/* One past each limit, and zero-length keys. */
	p = make_pair(key, KV_MAX_KEY + 1, "v", 1);
	CHECK("put_key_too_long", fails_with(kv_put(fd, &p), EINVAL));
	p = make_pair(key, 0, "v", 1);
	CHECK("put_key_empty", fails_with(kv_put(fd, &p), EINVAL));
	p = make_pair("k", 1, val, KV_MAX_VAL + 1);
	CHECK("put_value_too_long", fails_with(kv_put(fd, &p), EINVAL));
	out = make_pair(key, KV_MAX_KEY + 1, "", 0);
	CHECK("get_key_too_long", fails_with(kv_get(fd, &out), EINVAL));
	memset(&k, 0, sizeof(k));
	CHECK("del_key_empty", fails_with(kv_del(fd, &k), EINVAL));

	/* Replace, delete, missing keys. */
	p = make_pair("k", 1, "first", 5);
	CHECK("put_new", kv_put(fd, &p) == 0);
	p = make_pair("k", 1, "2nd", 3);
	CHECK("put_replace", kv_put(fd, &p) == 0);
	out = make_pair("k", 1, "", 0);
	memset(out.value.data, 0xAA, KV_MAX_VAL);
	CHECK("get_replaced", kv_get(fd, &out) == 0 && out.value.len == 3 && memcmp(out.value.data, "2nd", 3) == 0 &&
				      rest_zeroed(&out.value));
	k.len = 1;
	k.data[0] = 'k';
	CHECK("del", kv_del(fd, &k) == 0);
	CHECK("del_missing", fails_with(kv_del(fd, &k), ENOENT));
	out = make_pair("k", 1, "", 0);
	CHECK("get_missing", fails_with(kv_get(fd, &out), ENOENT));

	/* NULL pointers are errors, not crashes. */
	CHECK("put_null", fails_with(kv_put(fd, NULL), EINVAL));
	CHECK("get_null", fails_with(kv_get(fd, NULL), EINVAL));
	CHECK("del_null", fails_with(kv_del(fd, NULL), EINVAL));
	CHECK("stat_null", fails_with(kv_stat(fd, NULL), EINVAL));

	/* Counters: 3 items (max, min, embedded NUL); gets so far: 4 hits
	 * (max, min, embedded, replaced) and 2 misses ("a", "k" after del).
	 * On this store (use_lru=0) kv_get on kv_open's descriptor reads the
	 * store's mapping, which the kernel does not count, unless
	 * KVLIB_MAPPED_READS=0 (tests/c/libkv_mapped.c checks both). */
	const char *env = getenv("KVLIB_MAPPED_READS");
	uint64_t counted = env && strcmp(env, "0") == 0 ? 1 : 0;
	memset(&st, 0xFF, sizeof(st));
	CHECK("stat_counts", kv_stat(fd, &st) == 0 && st.curr_items == 3 && st.hits == 4 * counted &&
				     st.misses == 2 * counted &&
				     st.evictions == 0 && st.bytes_used == (KV_MAX_KEY + KV_MAX_VAL) + 1 + (3 + 4) &&
				     st.filled == 0xfff && st.expired == 0 && st.memory > 0 && st.reserved[0] == 0 && st.reserved[4] == 0);

	/* A read-only descriptor reads but cannot write. */
	int ro = kv_open_readonly();
	CHECK("open_readonly", ro >= 0);
	out = make_pair("\0", 1, "", 0);
	CHECK("readonly_get", kv_get(ro, &out) == 0 && out.value.len == 0); /* the min-length key */
	p = make_pair("ro", 2, "x", 1);
	CHECK("readonly_put_refused", fails_with(kv_put(ro, &p), EBADF));
	k = p.key;
	CHECK("readonly_del_refused", fails_with(kv_del(ro, &k), EBADF));
	CHECK("readonly_stat", kv_stat(ro, &st) == 0 && st.curr_items == 3);
	CHECK("readonly_close", kv_close(ro) == 0);

	CHECK("close", kv_close(fd) == 0);
	CHECK("close_twice", fails_with(kv_close(fd), EBADF));
	CHECK("stat_closed_fd", fails_with(kv_stat(fd, &st), EBADF));
	return check_failed;
}
