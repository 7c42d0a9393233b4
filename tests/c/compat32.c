/* A 32-bit caller of /dev/kvstore: built with -m32 -static on the host, run
 * in the 64-bit guest, so every ioctl goes through the compat path. The ABI
 * has the same layout for both, which this checks against the header too.
 * Prints PASS/FAIL lines; exits 1 if any check failed. */
#include <fcntl.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define CHECK_PREFIX "device/compat32"
#include "check.h"

int main(void)
{
	struct kv_pair pair;
	struct kv_key key;
	struct kv_usage_stat st;
	int fd, rc;

	CHECK("is_32bit", sizeof(void *) == 4);
	CHECK("layout", sizeof(struct kv_pair) == 328 && sizeof(struct kv_usage_stat) == 128 &&
			offsetof(struct kv_usage_stat, hits) == 16);

	fd = open("/dev/kvstore", O_RDWR);
	CHECK("open", fd >= 0);
	if (fd < 0)
		return 1;

	memset(&pair, 0, sizeof(pair));
	pair.key.len = 5;
	memcpy(pair.key.data, "c\0m\xffp", 5);
	pair.value.len = KV_MAX_VAL;
	for (int i = 0; i < KV_MAX_VAL; i++)
		pair.value.data[i] = (unsigned char)(255 - i);
	CHECK("put", ioctl(fd, KV_IOC_PUT, &pair) == 0);

	memset(&pair.value, 0xAA, sizeof(pair.value));
	rc = ioctl(fd, KV_IOC_GET, &pair);
	int same = rc == 0 && pair.value.len == KV_MAX_VAL;
	for (int i = 0; same && i < KV_MAX_VAL; i++)
		same = pair.value.data[i] == (unsigned char)(255 - i);
	CHECK("get", same);

	memset(&st, 0xFF, sizeof(st));
	rc = ioctl(fd, KV_IOC_STAT, &st);
	CHECK("stat", rc == 0 && st.curr_items == 1 && st.hits == 1 && st.bytes_used == 5 + KV_MAX_VAL &&
			      st.filled == 0xfff && st.puts == 1 && st.deletes == 0 &&
			      st.reserved[0] == 0 && st.reserved[4] == 0);

	pair.key.len = KV_MAX_KEY + 1;
	CHECK("bad_length_einval", fails_with(ioctl(fd, KV_IOC_PUT, &pair), EINVAL));
	CHECK("null_efault", fails_with(ioctl(fd, KV_IOC_GET, NULL), EFAULT));
	CHECK("unknown_enotty", fails_with(ioctl(fd, _IO(KV_IOC_MAGIC, 0x7f), &pair), ENOTTY));

	memset(&key, 0, sizeof(key));
	key.len = 5;
	memcpy(key.data, "c\0m\xffp", 5);
	CHECK("del", ioctl(fd, KV_IOC_DEL, &key) == 0);
	CHECK("del_again_enoent", fails_with(ioctl(fd, KV_IOC_DEL, &key), ENOENT));

	/* Put with flags, batch, dump and clear: their pointers travel as 64-bit
	 * integers. */
	CHECK("layout_flags_batch_dump", sizeof(struct kv_op) == 344 && sizeof(struct kv_batch_args) == 16 &&
				    sizeof(struct kv_dump_args) == 24 && offsetof(struct kv_op, pair) == 16 &&
				    offsetof(struct kv_dump_args, count) == 16);
	struct kv_op op;
	memset(&op, 0, sizeof(op));
	op.op = KV_OP_PUT;
	op.flags = KV_PUT_NOEXIST;
	op.pair.key.len = 2;
	memcpy(op.pair.key.data, "\0\xff", 2);
	op.pair.value.len = 3;
	memcpy(op.pair.value.data, "v32", 3);
	CHECK("put_flags_noexist", ioctl(fd, KV_IOC_PUT_FLAGS, &op) == 0);
	CHECK("put_flags_eexist", fails_with(ioctl(fd, KV_IOC_PUT_FLAGS, &op), EEXIST));

	struct kv_op ops[3];
	memset(ops, 0, sizeof(ops));
	ops[0].op = KV_OP_GET;
	ops[0].pair.key = op.pair.key;
	ops[1].op = KV_OP_DEL;
	ops[1].pair.key = op.pair.key;
	ops[2].op = KV_OP_GET;
	ops[2].pair.key = op.pair.key;
	struct kv_batch_args batch = { .ops = (uint64_t)(uintptr_t)ops, .count = 3 };
	rc = ioctl(fd, KV_IOC_BATCH, &batch);
	CHECK("batch", rc == 3 && ops[0].result == 0 && ops[0].pair.value.len == 3 &&
			       memcmp(ops[0].pair.value.data, "v32", 3) == 0 && ops[1].result == 0 &&
			       ops[2].result == -ENOENT);
	batch.count = KV_BATCH_MAX + 1;
	CHECK("batch_too_many_einval", fails_with(ioctl(fd, KV_IOC_BATCH, &batch), EINVAL));
	batch.ops = 0xffffffff00000000ULL; /* not a 32-bit address */
	batch.count = 1;
	CHECK("batch_high_pointer_efault", fails_with(ioctl(fd, KV_IOC_BATCH, &batch), EFAULT));

	static struct kv_pair pairs[64];
	for (int i = 0; i < 20; i++) {
		memset(&pair, 0, sizeof(pair));
		pair.key.len = 1;
		pair.key.data[0] = (unsigned char)i;
		pair.value.len = 1;
		pair.value.data[0] = (unsigned char)(i + 100);
		ioctl(fd, KV_IOC_PUT, &pair);
	}
	struct kv_dump_args dump = { .cursor = 0 };
	int seen[20] = {0}, total = 0, ok = 1;
	for (;;) {
		dump.pairs = (uint64_t)(uintptr_t)pairs;
		dump.count = 64;
		if (ioctl(fd, KV_IOC_DUMP, &dump) != 0) {
			ok = 0;
			break;
		}
		if (dump.count == 0)
			break;
		for (uint32_t j = 0; j < dump.count; j++) {
			int k = pairs[j].key.data[0];
			if (pairs[j].key.len != 1 || k >= 20 || pairs[j].value.data[0] != k + 100)
				ok = 0;
			else
				seen[k]++;
			total++;
		}
	}
	for (int i = 0; i < 20; i++)
		ok = ok && seen[i] == 1;
	CHECK("dump", ok && total == 20);
	dump.cursor = 0;
	dump.count = 0;
	CHECK("dump_enospc", fails_with(ioctl(fd, KV_IOC_DUMP, &dump), ENOSPC) && dump.count >= 1);
	CHECK("clear", ioctl(fd, KV_IOC_CLEAR) == 0 && ioctl(fd, KV_IOC_STAT, &st) == 0 && st.curr_items == 0);
	close(fd);
	return check_failed;
}
