/* libkv.so's calls for many items and conditions from C: kv_put_flags,
 * kv_batch, kv_dump, kv_clear and stat's `filled` mask with the put and
 * delete counters. Compiled on the host with -Iinclude -lkv and run in the
 * guest against a fresh store with buckets=64 max_items=1024 use_lru=0.
 * Prints PASS/FAIL lines; exits 1 if any check failed. */
#include <stdlib.h>
#include <sys/mman.h>

#define CHECK_PREFIX "libkv/batch_dump"
#include "check.h"

static struct kv_op make_op(uint32_t op, uint32_t flags, const char *key, const char *val)
{
	struct kv_op o;
	memset(&o, 0, sizeof(o));
	o.op = op;
	o.flags = flags;
	o.result = 12345;
	o.pair = make_pair(key, strlen(key), val, strlen(val));
	return o;
}

static int value_is(const struct kv_pair *p, const char *want)
{
	return p->value.len == strlen(want) && memcmp(p->value.data, want, p->value.len) == 0;
}

int main(void)
{
	struct kv_pair p, got;
	struct kv_usage_stat st;
	int fd;

	setvbuf(stdout, NULL, _IONBF, 0); /* every line out before a crash */
	fd = kv_open();
	CHECK("open", fd >= 0);
	if (fd < 0)
		return 1;

	/* kv_put_flags */
	p = make_pair("k\0x", 3, "one", 3);
	CHECK("put_flags_exist_absent", fails_with(kv_put_flags(fd, &p, KV_PUT_EXIST), ENOENT));
	got = p;
	CHECK("put_flags_refused_changes_nothing", fails_with(kv_get(fd, &got), ENOENT));
	CHECK("put_flags_noexist_absent", kv_put_flags(fd, &p, KV_PUT_NOEXIST) == 0);
	p = make_pair("k\0x", 3, "two", 3);
	CHECK("put_flags_noexist_present", fails_with(kv_put_flags(fd, &p, KV_PUT_NOEXIST), EEXIST));
	got = p;
	CHECK("put_flags_kept_value", kv_get(fd, &got) == 0 && value_is(&got, "one"));
	CHECK("put_flags_exist_present", kv_put_flags(fd, &p, KV_PUT_EXIST) == 0);
	got = p;
	CHECK("put_flags_replaced", kv_get(fd, &got) == 0 && value_is(&got, "two"));
	p = make_pair("k\0x", 3, "three", 5);
	CHECK("put_flags_0_is_put", kv_put_flags(fd, &p, 0) == 0);
	CHECK("put_flags_both", fails_with(kv_put_flags(fd, &p, KV_PUT_NOEXIST | KV_PUT_EXIST), EINVAL));
	CHECK("put_flags_unknown_bit", fails_with(kv_put_flags(fd, &p, 0x10), EINVAL));
	CHECK("put_flags_null", fails_with(kv_put_flags(fd, NULL, 0), EINVAL));
	p.key.len = KV_MAX_KEY + 1;
	CHECK("put_flags_bad_length", fails_with(kv_put_flags(fd, &p, KV_PUT_NOEXIST), EINVAL));

	/* kv_batch: ops on one key see the earlier ones; per-op errors. */
	struct kv_op ops[8];
	ops[0] = make_op(KV_OP_PUT, KV_PUT_NOEXIST, "b", "1");
	ops[1] = make_op(KV_OP_GET, 0, "b", "");
	ops[2] = make_op(KV_OP_PUT, KV_PUT_NOEXIST, "b", "2");
	ops[3] = make_op(KV_OP_DEL, 0, "b", "");
	ops[4] = make_op(KV_OP_GET, 0, "b", "");
	ops[5] = make_op(KV_OP_PUT, KV_PUT_EXIST, "b", "3");
	ops[6] = make_op(KV_OP_PUT, 0, "", "x");
	ops[7] = make_op(KV_OP_PUT, 0, "c", "4");
	CHECK("batch_returns_count", kv_batch(fd, ops, 8) == 8);
	CHECK("batch_results", ops[0].result == 0 && ops[1].result == 0 && ops[2].result == -EEXIST &&
				       ops[3].result == 0 && ops[4].result == -ENOENT &&
				       ops[5].result == -ENOENT && ops[6].result == -EINVAL && ops[7].result == 0);
	CHECK("batch_get_value", value_is(&ops[1].pair, "1"));
	CHECK("batch_count_0", kv_batch(fd, NULL, 0) == 0);
	CHECK("batch_too_many", fails_with(kv_batch(fd, ops, KV_BATCH_MAX + 1), EINVAL));
	CHECK("batch_null", fails_with(kv_batch(fd, NULL, 1), EINVAL));
	/* An inaccessible page (PROT_NONE keeps the address reserved, where an
	 * unmapped one would be reused by the next large allocation). */
	void *hole = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK("batch_unmapped", fails_with(kv_batch(fd, hole, 1), EFAULT));

	/* kv_dump: every item once, ENOSPC with the room needed. */
	CHECK("clear", kv_clear(fd) == 0);
	for (int i = 0; i < 300; i++) {
		char key[16];
		int n = snprintf(key, sizeof(key), "d%d", i);
		p = make_pair(key, (uint32_t)n, &i, sizeof(i));
		if (kv_put(fd, &p) != 0)
			CHECK("dump_fill", 0);
	}
	int seen[300] = {0}, total = 0, bad = 0, enospc = 0;
	uint64_t cursor = 0;
	uint32_t room = 4;
	struct kv_pair *pairs = calloc(1024, sizeof(*pairs));
	for (;;) {
		uint32_t count = room;
		if (kv_dump(fd, &cursor, pairs, &count) != 0) {
			if (errno == ENOSPC && count > room) {
				enospc++;
				room = count;
				continue;
			}
			bad++;
			break;
		}
		if (count == 0)
			break;
		for (uint32_t j = 0; j < count; j++) {
			int i;
			if (pairs[j].value.len != sizeof(i)) {
				bad++;
				continue;
			}
			memcpy(&i, pairs[j].value.data, sizeof(i));
			if (i < 0 || i >= 300)
				bad++;
			else
				seen[i]++;
			total++;
		}
	}
	int once = 1;
	for (int i = 0; i < 300; i++)
		once = once && seen[i] == 1;
	CHECK("dump_every_item_once", bad == 0 && total == 300 && once);
	uint32_t zero = 0;
	cursor = 0;
	CHECK("dump_enospc", fails_with(kv_dump(fd, &cursor, pairs, &zero), ENOSPC) && zero >= 1 && cursor == 0);
	CHECK("dump_null_cursor", fails_with(kv_dump(fd, NULL, pairs, &zero), EINVAL));
	CHECK("dump_null_count", fails_with(kv_dump(fd, &cursor, pairs, NULL), EINVAL));
	uint32_t many = 1024;
	CHECK("dump_unmapped", fails_with(kv_dump(fd, &cursor, hole, &many), EFAULT));
	free(pairs);

	/* Stat: the mask, and the put and delete counters. kv_clear removes
	 * every item. */
	memset(&st, 0xFF, sizeof(st));
	CHECK("stat_filled", kv_stat(fd, &st) == 0 && st.filled == 0xfff && (st.filled & KV_STAT_HAS_PUTS) &&
				     st.puts == 3 + 2 + 300 && st.deletes == 1 && st.reserved[0] == 0 &&
				     st.reserved[4] == 0);
	uint64_t hits = st.hits, misses = st.misses;
	CHECK("clear_all", kv_clear(fd) == 0 && kv_stat(fd, &st) == 0 && st.curr_items == 0 &&
				   st.bytes_used == 0 && st.hits == hits && st.misses == misses);
	CHECK("clear_bad_fd", fails_with(kv_clear(-1), EBADF));
	kv_close(fd);
	return check_failed;
}
