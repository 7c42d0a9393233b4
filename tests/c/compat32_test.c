/* A 32-bit caller of /dev/kvstore: built with -m32 -static on the host, run
 * in the 64-bit guest, so every ioctl goes through the compat path. The ABI
 * has the same layout for both, which this checks against the header too.
 * Prints PASS/FAIL lines; exits 1 if any check failed. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kv.h"

static int failed;

static void check(const char *name, int ok, const char *why)
{
	if (ok) {
		printf("PASS: compat32/%s\n", name);
	} else {
		printf("FAIL: compat32/%s: %s (errno %d)\n", name, why, errno);
		failed = 1;
	}
}

int main(void)
{
	struct kv_pair pair;
	struct kv_key key;
	struct kv_usage_stat st;
	int fd, rc;

	check("is_32bit", sizeof(void *) == 4, "not built with -m32");
	check("layout", sizeof(struct kv_pair) == 328 && sizeof(struct kv_usage_stat) == 128 &&
			offsetof(struct kv_usage_stat, hits) == 16,
	      "struct layout differs from the 64-bit ABI");

	fd = open("/dev/kvstore", O_RDWR);
	check("open", fd >= 0, "cannot open /dev/kvstore");
	if (fd < 0)
		return 1;

	memset(&pair, 0, sizeof(pair));
	pair.key.len = 5;
	memcpy(pair.key.data, "c\0m\xffp", 5);
	pair.value.len = KV_MAX_VAL;
	for (int i = 0; i < KV_MAX_VAL; i++)
		pair.value.data[i] = (unsigned char)(255 - i);
	check("put", ioctl(fd, KV_IOC_PUT, &pair) == 0, "put failed");

	memset(&pair.value, 0xAA, sizeof(pair.value));
	rc = ioctl(fd, KV_IOC_GET, &pair);
	int same = rc == 0 && pair.value.len == KV_MAX_VAL;
	for (int i = 0; same && i < KV_MAX_VAL; i++)
		same = pair.value.data[i] == (unsigned char)(255 - i);
	check("get", same, "value did not round-trip");

	memset(&st, 0xFF, sizeof(st));
	rc = ioctl(fd, KV_IOC_STAT, &st);
	check("stat", rc == 0 && st.curr_items == 1 && st.hits == 1 && st.bytes_used == 5 + KV_MAX_VAL &&
			      st.filled == 0x3ff && st.puts == 1 && st.deletes == 0 &&
			      st.reserved[0] == 0 && st.reserved[6] == 0,
	      "stat fields wrong");

	pair.key.len = KV_MAX_KEY + 1;
	errno = 0;
	check("bad_length_einval", ioctl(fd, KV_IOC_PUT, &pair) == -1 && errno == EINVAL, "expected EINVAL");
	errno = 0;
	check("null_efault", ioctl(fd, KV_IOC_GET, NULL) == -1 && errno == EFAULT, "expected EFAULT");
	errno = 0;
	check("unknown_enotty", ioctl(fd, _IO(KV_IOC_MAGIC, 0x7f), &pair) == -1 && errno == ENOTTY,
	      "expected ENOTTY");

	memset(&key, 0, sizeof(key));
	key.len = 5;
	memcpy(key.data, "c\0m\xffp", 5);
	check("del", ioctl(fd, KV_IOC_DEL, &key) == 0, "del failed");
	errno = 0;
	check("del_again_enoent", ioctl(fd, KV_IOC_DEL, &key) == -1 && errno == ENOENT, "expected ENOENT");
	close(fd);
	return failed;
}
