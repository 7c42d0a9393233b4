/* The read-only mapping of the store (mmap of /dev/kvstore), from C through
 * kv.h alone: the header page, every protection the mapping keeps, fork,
 * no rmmod while mapped, and that no removed item leaves a byte of its
 * value anywhere in the mapping (a scan of the header, block table, buckets
 * and every attached block after each kind of removal).
 *   mapping            the checks, on a store loaded with use_lru=2 max_items=64
 *   mapping refused    only: mmap answers ENODEV (the module has mmap=0)
 * Prints PASS/FAIL lines. */
#define _GNU_SOURCE
#define CHECK_PREFIX "mapping"
#include "check.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static const struct kv_map_header *map_header(int fd, size_t *bytes)
{
	const struct kv_map_header *h = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return NULL;
	*bytes = h->map_bytes;
	munmap((void *)h, PAGE);
	h = mmap(NULL, *bytes, PROT_READ, MAP_SHARED, fd, 0);
	return h == MAP_FAILED ? NULL : h;
}

static int contains(const unsigned char *p, size_t n, const unsigned char *pat, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (p[i] == pat[0] && memcmp(p + i, pat, m) == 0)
			return 1;
	return 0;
}

/* Whether `pat` appears anywhere in the mapping: region 0 and every
 * attached block, each mapped afresh. -1 if a block could not be mapped. */
static int in_mapping(int fd, const unsigned char *pat, size_t m)
{
	size_t bytes;
	const struct kv_map_header *h = map_header(fd, &bytes);
	int found;

	if (!h)
		return -1;
	found = contains((const unsigned char *)h, bytes, pat, m);
	const uint64_t *table = (const uint64_t *)((const char *)h + h->block_table);
	for (uint32_t b = 0; b < h->blocks && !found; b++) {
		uint64_t stride = table[b] & 0xffffffffu;
		if (!stride)
			continue;
		size_t len = stride * h->block_slots * 8;
		off_t off = (off_t)(h->block_pgoff + (uint64_t)b * KV_MAP_BLOCK_PAGES) * PAGE;
		unsigned char *blk = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, off);
		if (blk == MAP_FAILED) {
			found = -1;
			break;
		}
		found = contains(blk, len, pat, m);
		munmap(blk, len);
	}
	munmap((void *)h, bytes);
	return found;
}

static void filled_pair(struct kv_pair *p, const char *key, unsigned char fill, uint32_t len)
{
	memset(p, 0, sizeof(*p));
	p->key.len = (uint32_t)strlen(key);
	memcpy(p->key.data, key, p->key.len);
	p->value.len = len;
	memset(p->value.data, fill, len);
	p->value.data[0] = 0xEE; /* the pattern: 0xEE then fill bytes */
}

static int removal_checks(int fd)
{
	struct kv_pair p;
	unsigned char pat[40];
	char key[16];

	/* Fill the store (64 items) so that later puts evict. */
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		filled_pair(&p, key, (unsigned char)(0x40 + i), 40);
		if (kv_put(fd, &p) != 0)
			return 0;
	}
#define PAT(fill) (memset(pat, (fill), sizeof(pat)), pat[0] = 0xEE, pat)
	CHECK("scan_finds_a_live_value", in_mapping(fd, PAT(0x40 + 1), 40) == 1);

	struct kv_key k = {.len = 2, .data = "k1"};
	CHECK("del", kv_del(fd, &k) == 0);
	CHECK("no_bytes_after_del", in_mapping(fd, PAT(0x40 + 1), 40) == 0);

	filled_pair(&p, "k2", 0x21, 100); /* another size class: the item moves */
	CHECK("move", kv_put(fd, &p) == 0);
	CHECK("no_bytes_after_move", in_mapping(fd, PAT(0x40 + 2), 40) == 0);

	filled_pair(&p, "k3", 0x23, 40); /* same size: replaced in place */
	CHECK("replace", kv_put(fd, &p) == 0);
	CHECK("no_bytes_after_replace", in_mapping(fd, PAT(0x40 + 3), 40) == 0);

	filled_pair(&p, "k4", 0x40 + 4, 40);
	CHECK("put_ttl", kv_put_ttl(fd, &p, 0, 1) == 0);
	struct timespec ms20 = {0, 20 * 1000 * 1000};
	nanosleep(&ms20, NULL);
	struct kv_key k4 = {.len = 2, .data = "k4"};
	struct kv_pair probe = {.key = k4};
	CHECK("expired", kv_get(fd, &probe) != 0 && errno == ENOENT);
	/* An expired item's bytes go when it is reclaimed: a put into the full
	 * store (k1 back fills it) takes an expired item's room first. */
	filled_pair(&p, "k1", 0x12, 40);
	CHECK("refill", kv_put(fd, &p) == 0);
	filled_pair(&p, "fresh", 0x11, 40);
	CHECK("put_after_expiry", kv_put(fd, &p) == 0);
	CHECK("no_bytes_after_expiry", in_mapping(fd, PAT(0x40 + 4), 40) == 0);

	/* New keys into the full store evict. */
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "n%d", i);
		filled_pair(&p, key, 0x30, 40);
		kv_put(fd, &p);
	}
	int gone = 0, leaked = 0;
	for (int i = 5; i < 64; i++) {
		struct kv_pair q = {0};
		q.key.len = (uint32_t)snprintf((char *)q.key.data, KV_MAX_KEY, "k%d", i);
		if (kv_get(fd, &q) != 0) {
			gone++;
			if (in_mapping(fd, PAT(0x40 + i), 40) != 0)
				leaked++;
		}
	}
	CHECK("evicted_some", gone > 0);
	CHECK("no_bytes_after_eviction", leaked == 0);

	CHECK("scan_finds_before_clear", in_mapping(fd, PAT(0x30), 40) == 1);
	size_t bytes;
	const struct kv_map_header *h = map_header(fd, &bytes);
	const uint64_t *table = (const uint64_t *)((const char *)h + h->block_table);
	uint64_t stride = table[0] & 0xffffffffu;
	size_t len = stride * h->block_slots * 8;
	off_t off = (off_t)h->block_pgoff * PAGE;
	unsigned char *held = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, off);
	CHECK("map_block_0", held != MAP_FAILED);
	CHECK("clear", kv_clear(fd) == 0);
	CHECK("no_bytes_after_clear", in_mapping(fd, PAT(0x30), 40) == 0);
	/* A mapping made before the clear keeps its pages, zeroed. */
	CHECK("held_block_zeroed", held != MAP_FAILED && !contains(held, len, PAT(0x30), 40));
	CHECK("detached_block_refused",
	      mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, off) == MAP_FAILED && errno == ENXIO);
	if (held != MAP_FAILED)
		munmap(held, len);
	munmap((void *)h, bytes);
	return 1;
}

/* Mark words of the mapping's marks whose visited bit (bit 0) is set. */
static uint64_t marked(const uint64_t *m, size_t words)
{
	uint64_t set = 0;
	for (size_t i = 0; i < words; i++)
		set += m[i] & 1;
	return set;
}

/* SIEVE's mark words: the one part a reader may map writable (shared,
 * from a file open for writing), and which the kernel's eviction reads and
 * clears. A word per slot: generation << 32 | stamp | visited. Every item
 * marked with its own generation, a put into the full store clears them
 * all (each visited item passed over once) before it evicts; every word
 * marked with a generation no item has, none counts. */
static void marks_checks(int fd, const struct kv_map_header *h)
{
	size_t n = h->marks_bytes;
	size_t words = n / 8;
	off_t at = (off_t)(h->marks_pgoff * PAGE);
	CHECK("marks_present", n >= PAGE && n % PAGE == 0 && words == h->blocks * 512ull);
	if (n == 0)
		return;
	CHECK("evictions_word", h->evictions == h->block_table + h->blocks * 8ull &&
					h->evictions + 8 <= h->buckets);
	int rfd = open("/dev/kvstore", O_RDONLY | O_CLOEXEC);
	CHECK("marks_read_only_file_write_refused",
	      mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, at) == MAP_FAILED);
	void *r = mmap(NULL, n, PROT_READ, MAP_SHARED, rfd, at);
	CHECK("marks_read_only_file_reads", r != MAP_FAILED);
	if (r != MAP_FAILED) {
		CHECK("marks_read_only_mprotect_write_refused",
		      mprotect(r, PAGE, PROT_READ | PROT_WRITE) != 0);
		munmap(r, n);
	}
	if (rfd >= 0)
		close(rfd);
	CHECK("marks_exec_refused",
	      mmap(NULL, n, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED, fd, at) == MAP_FAILED);
	CHECK("marks_private_write_refused",
	      mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, at) == MAP_FAILED);
	CHECK("marks_too_long_refused",
	      mmap(NULL, n + PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, at) == MAP_FAILED);
	uint64_t *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, at);
	CHECK("marks_map_writable", m != MAP_FAILED);
	if (m == MAP_FAILED)
		return;
	CHECK("marks_mprotect_exec_refused", mprotect(m, PAGE, PROT_READ | PROT_EXEC) != 0);
	CHECK("marks_mremap_grow_refused", mremap(m, n, n + PAGE, 0) == MAP_FAILED);

	struct kv_usage_stat st;
	int full = kv_clear(fd) == 0 && kv_stat(fd, &st) == 0;
	char key[16];
	struct kv_pair p;
	for (uint64_t i = 0; full && i < st.max_items; i++) {
		snprintf(key, sizeof(key), "mark-%llu", (unsigned long long)i);
		filled_pair(&p, key, 0x11, 8);
		full = kv_put(fd, &p) == 0;
	}
	CHECK("marks_fill", full);
	CHECK("marks_start_unmarked", marked(m, words) == 0);
	/* Each item's word holds its generation: marking it is setting bit 0.
	 * Free slots' words are marked too, and never read. */
	for (size_t i = 0; i < words; i++)
		m[i] |= 1;
	uint64_t before = kv_stat(fd, &st) == 0 ? st.evictions : 0;
	filled_pair(&p, "mark-new", 0x11, 8);
	CHECK("marks_put_evicts", kv_put(fd, &p) == 0 && kv_stat(fd, &st) == 0 &&
					  st.evictions == before + 1);
	/* Every item's mark read (and cleared) by the hand's one pass; the
	 * marks of free slots are left. */
	CHECK("marks_read_by_eviction", marked(m, words) <= words - st.max_items);
	/* Marks under a generation no item has (a hostile writer's): none
	 * counts, so the hand evicts the item it rests on, reading its word
	 * alone, which takes that item's generation again, unmarked. */
	memset(m, 0xff, n);
	before = st.evictions;
	/* A key of one word, as the others: it takes the evicted slot. */
	filled_pair(&p, "mark-nx", 0x11, 8);
	CHECK("marks_wrong_generation_put_evicts",
	      kv_put(fd, &p) == 0 && kv_stat(fd, &st) == 0 && st.evictions == before + 1);
	CHECK("marks_wrong_generation_not_counted", marked(m, words) == words - 1);
	munmap(m, n);
}

int main(int argc, char **argv)
{
	int fd = open("/dev/kvstore", O_RDWR | O_CLOEXEC);
	CHECK("open", fd >= 0);
	if (fd < 0)
		return 1;
	if (argc > 1 && strcmp(argv[1], "refused") == 0) {
		void *m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
		CHECK("off_refuses", m == MAP_FAILED && errno == ENODEV);
		return check_failed;
	}

	size_t bytes;
	const struct kv_map_header *h = map_header(fd, &bytes);
	CHECK("maps", h != NULL);
	if (!h)
		return 1;
	CHECK("magic", h->magic == KV_MAP_MAGIC);
	CHECK("version", h->version == KV_MAP_VERSION);
	CHECK("policy", h->policy == 2);
	CHECK("geometry", h->block_slots == 512 && h->header_words == 4 && h->blocks > 0 &&
				  h->bucket_count > 0 && h->map_bytes % PAGE == 0 &&
				  h->buckets + h->bucket_count * 8ull <= h->map_bytes &&
				  h->block_table + h->blocks * 8ull <= h->buckets);
	const unsigned char *rest = (const unsigned char *)h + sizeof(*h);
	int zero = 1;
	for (size_t i = 0; i < PAGE - sizeof(*h); i++)
		zero &= rest[i] == 0;
	CHECK("header_page_rest_zero", zero);

	errno = 0;
	CHECK("write_refused", mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	CHECK("exec_refused", mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0) == MAP_FAILED);
	CHECK("private_write_refused",
	      mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0) == MAP_FAILED);
	CHECK("mprotect_write_refused", mprotect((void *)h, PAGE, PROT_READ | PROT_WRITE) != 0);
	CHECK("mprotect_exec_refused", mprotect((void *)h, PAGE, PROT_READ | PROT_EXEC) != 0);
	CHECK("mremap_grow_refused", mremap((void *)h, bytes, bytes + PAGE, 0) == MAP_FAILED);
	CHECK("too_long_refused",
	      mmap(NULL, bytes + PAGE, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EINVAL);
	CHECK("bad_offset_refused",
	      mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, PAGE) == MAP_FAILED && errno == EINVAL);

	marks_checks(fd, h);

	int wfd = open("/dev/kvstore", O_WRONLY | O_CLOEXEC);
	CHECK("write_only_file_refused",
	      wfd >= 0 && mmap(NULL, PAGE, PROT_READ, MAP_SHARED, wfd, 0) == MAP_FAILED);
	if (wfd >= 0)
		close(wfd);
	int rfd = open("/dev/kvstore", O_RDONLY | O_CLOEXEC);
	void *ro = rfd >= 0 ? mmap(NULL, PAGE, PROT_READ, MAP_SHARED, rfd, 0) : MAP_FAILED;
	CHECK("read_only_file_maps", ro != MAP_FAILED);
	if (ro != MAP_FAILED)
		munmap(ro, PAGE);
	if (rfd >= 0)
		close(rfd);

	pid_t child = fork();
	if (child == 0)
		_exit(h->magic == KV_MAP_MAGIC ? 0 : 1);
	int status = -1;
	waitpid(child, &status, 0);
	CHECK("fork_child_reads", WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* The descriptor is closed: the mapping alone still holds the module. */
	close(fd);
	CHECK("rmmod_refused_while_mapped", system("rmmod kv 2>/dev/null") != 0);
	CHECK("still_reads_after_close", h->magic == KV_MAP_MAGIC);
	munmap((void *)h, bytes);

	fd = open("/dev/kvstore", O_RDWR | O_CLOEXEC);
	CHECK("reopen", fd >= 0);
	if (fd >= 0 && removal_checks(fd))
		close(fd);
	return check_failed;
}
