/*
 * kv-peers: what a get hit and a replacing set cost in kvstore and its
 * peers, measured the way kv-bench measures kvstore (bench/src/main.rs): under
 * QEMU -icount shift=0 the guest clock advances one nanosecond per guest
 * instruction, so a loop of N operations timed with CLOCK_MONOTONIC gives
 * guest instructions per operation: the client's, the kernel's and (for
 * the servers) the server process's, all on the one CPU.
 *
 *   kv-peers [--items N] [--key-size N] [--value-size N] [--ops N] [--kvstore DEV]
 *            [--kvstore-module KO] [--bpf] [--memcached SOCK] [--redis SOCK]
 *            [--lmdb DIR] [--lmdb-nolock]
 *
 * Each peer named is filled with items 0..N (keys of --key-size bytes, 16
 * to 64, values of --value-size, up to 256; 16 and 64 unless given)
 * and timed like kv-bench's rows: one untimed pass of up to 1,000 ops to
 * fault pages in, then three timed passes of --ops ops (a tenth of that for
 * the servers, whose ops cost some 30 times more), the cheapest
 * counting. Gets cycle over up to 4,096 stored keys spread over the store,
 * sets rewrite those keys with their same-sized value.
 *
 *   kvstore    the raw ioctls on DEV, as kv-bench: KV_IOC_GET into one
 *              struct kv_pair, KV_IOC_PUT; and the ioctl floor, an unknown
 *              ioctl's ENOTTY (the store is cleared first); and "get hit,
 *              mapped": libkv's kv_get on a kv_open() descriptor, which
 *              reads the store's mapping without a system call
 *   BPF hash   with --bpf: a BPF_MAP_TYPE_HASH through raw bpf(2), as
 *              kv-bench's "BPF hash" rows: BPF_MAP_LOOKUP_ELEM into one
 *              value buffer and BPF_MAP_UPDATE_ELEM, on a preallocated map of
 *              twice the items as capacity
 *   memcached  libmemcached over a Unix socket (its default ASCII protocol):
 *              memcached_get (value malloc'd, freed) and memcached_set
 *   Redis      hiredis over a Unix socket: redisCommand GET %b / SET %b %b
 *   LMDB       liblmdb in-process, MDB_NOSYNC (as the others, nothing is
 *              made durable): one read transaction reset and renewed around
 *              each mdb_get; one write transaction committed per mdb_put.
 *              --lmdb-nolock opens it MDB_NOLOCK, for a kernel without
 *              CONFIG_FILE_LOCKING (fcntl locks fail there with EACCES):
 *              no reader-table slot and no writer mutex, a little cheaper
 *              than LMDB's usual locked mode
 *
 * And what storing the items took, in bytes per item (the growth divided
 * by --items):
 *
 *   kvstore    with --kvstore-module KO: kv is unloaded if loaded, then KO
 *              loaded with max_items=N buckets=N use_lru=0 (the store the
 *              rows then use) and filled, and the kernel's used memory
 *              (MemTotal - MemFree - the CPUs' free lists, see used_memory)
 *              grown across that load and the fill, less KO's own code and
 *              data (the growth across loading it with max_items=1
 *              buckets=1): the store allocates its items' memory as they
 *              are put
 *   BPF hash   with --bpf: the same used memory grown across creating a
 *              BPF_MAP_TYPE_HASH of max_entries=N and filling it, once
 *              preallocated (map_flags 0), once BPF_F_NO_PREALLOC; and beside
 *              each the map's own count of its memory, memlock in its
 *              /proc/self/fdinfo (a sum of sizes, not of pages)
 *   memcached  the server's resident memory (Rss of /proc/PID/smaps_rollup,
 *              VmRSS counted exactly; the PID is the socket's peer) grown
 *              from empty to the items stored: what the machine pays, where
 *              its `stats` bytes counts only the items' own bytes and
 *              total_malloced the slab pages
 *   Redis      the same of redis-server; and beside it, "Redis used_memory",
 *              the growth of INFO's used_memory, what its allocator handed
 *              out: no fragmentation, nor pages the allocator held already
 *              (at a few thousand items Redis's resident memory may not grow
 *              at all: its allocator holds megabytes from its start)
 *   LMDB       the data file's pages in use (mdb_env_info's last page + 1,
 *              times mdb_env_stat's page size) grown across the fill: page
 *              cache of a file, not the process's memory
 *
 * The servers get 3 seconds after their fill before their memory is read,
 * so that the work the fill left behind (a rehash, a client buffer shrunk)
 * is done.
 *
 * Prints one JSON object, the shape of one of kv-bench's sizes, plus the
 * memory per item of each target that was measured:
 * {"key_size":16,"value_size":64,"items":N,"rows":[{"target","op","value"}],
 *  "memory":[{"target","bytes_per_item"}]}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/bpf.h>

#include <hiredis/hiredis.h>
#include <libmemcached/memcached.h>
#include <lmdb.h>

#include "kv.h"

#define PASSES 3
#define WORKING_MAX 4096
#define FILL_BATCH 256
#define SETTLE_SECONDS 3
#define TARGETS 9

static size_t items = 1000, loop_ops = 20000, working;
static size_t key_size = 16, value_size = 64;
static char (*keys)[KV_MAX_KEY];
static unsigned char (*values)[KV_MAX_VAL];
static int rows;
static struct {
	const char *target;
	double bytes_per_item;
} memory[TARGETS];
static int memories;
static unsigned int lmdb_flags = MDB_NOSYNC;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("kv-peers: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/*
 * Item k's key: printable bytes (the ASCII protocol forbids spaces and
 * control bytes in keys), its number in the first 16; and its value: bytes
 * derived from k, as kv-bench's value_bytes.
 */
static void key_of(uint64_t k, char *key)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "key:%012llu", (unsigned long long)(k % 1000000000000ULL));
	memcpy(key, buf, 16);
	memset(key + 16, 'k', key_size - 16);
}

static void value_of(uint64_t k, unsigned char *value)
{
	for (size_t j = 0; j < value_size; j++)
		value[j] = (unsigned char)(k + j);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef void (*op_fn)(void *ctx, size_t i);

/* Instructions (guest nanoseconds) per call of op, over passes of ops
 * calls: the cheapest pass. */
static double per_op_of(op_fn op, void *ctx, size_t ops)
{
	size_t warm = ops < 1000 ? ops : 1000;
	for (size_t i = 0; i < warm; i++)
		op(ctx, i);
	double best = 1e300;
	for (int p = 0; p < PASSES; p++) {
		double start = now_ns();
		for (size_t i = 0; i < ops; i++)
			op(ctx, i);
		double per = (now_ns() - start) / (double)ops;
		if (per < best)
			best = per;
	}
	return best;
}

static double per_op(op_fn op, void *ctx)
{
	return per_op_of(op, ctx, loop_ops);
}

/* A server's op: a tenth of the passes' length, at least one op. */
static double per_server_op(op_fn op, void *ctx)
{
	return per_op_of(op, ctx, loop_ops / 10 ? loop_ops / 10 : 1);
}

static void row(const char *target, const char *op, double value)
{
	printf("%s\n    {\"target\": \"%s\", \"op\": \"%s\", \"value\": %.1f}", rows++ ? "," : "",
	       target, op, value);
	fflush(stdout);
}

/* The i-th request's item: up to 4,096 keys spread over the whole store. */
static size_t req(size_t i)
{
	return i % working;
}

/* --- memory per item ----------------------------------------------------- */

static void memory_row(const char *target, long long before, long long after)
{
	if (memories == TARGETS)
		die("more memory figures than targets");
	memory[memories].target = target;
	memory[memories].bytes_per_item = (double)(after - before) / (double)items;
	memories++;
}

/* The fields NAME... of a /proc file of "Name:   N" lines, each N times
 * UNIT. */
static void proc_fields(const char *path, int n, const char *const *names, long long *bytes,
			long long unit)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++)
		bytes[i] = -1;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		for (int i = 0; i < n; i++) {
			size_t len = strlen(names[i]);
			if (!strncmp(line, names[i], len) && line[len] == ':')
				bytes[i] = strtoll(line + len + 1, NULL, 10) * unit;
		}
	}
	fclose(f);
	for (int i = 0; i < n; i++)
		if (bytes[i] < 0)
			die("%s has no %s", path, names[i]);
}

/* The fields NAME... of a /proc file of "Name:   N kB" lines, in bytes. */
static void proc_kb(const char *path, int n, const char *const *names, long long *bytes)
{
	proc_fields(path, n, names, bytes, 1024);
}

/* The pages free on the CPUs' own free lists (/proc/zoneinfo's pagesets'
 * counts), which MemFree leaves out. */
static long long pcp_free_bytes(void)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	if (!f)
		die("/proc/zoneinfo: %s", strerror(errno));
	char line[256];
	long long pages = 0;
	while (fgets(line, sizeof(line), f)) {
		const char *p = line + strspn(line, " ");
		if (!strncmp(p, "count:", 6))
			pages += strtoll(p + 6, NULL, 10);
	}
	fclose(f);
	return pages * sysconf(_SC_PAGESIZE);
}

/* The kernel's used memory: MemTotal - MemFree, with the CPUs' pending
 * counts folded into MemFree first (vm.stat_refresh) and the pages on the
 * CPUs' free lists counted as free: a CPU keeps up to megabytes of freed
 * pages there after a large free, and hands them back later. */
static long long used_memory(void)
{
	static const char *const names[] = { "MemTotal", "MemFree" };
	long long bytes[2];
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		/* Only root may; without it MemFree is a little less exact. */
		ssize_t done = write(fd, "1", 1);
		(void)done;
		close(fd);
	}
	proc_kb("/proc/meminfo", 2, names, bytes);
	return bytes[0] - bytes[1] - pcp_free_bytes();
}

/* A process's resident memory: Rss of smaps_rollup, counted from its page
 * tables (status's VmRSS is read from per-CPU counters that may lag by
 * their batches, a hundred kilobytes or more). */
static long long rss(pid_t pid)
{
	static const char *const names[] = { "Rss" };
	char path[64];
	long long bytes;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	proc_kb(path, 1, names, &bytes);
	return bytes;
}

/* The process that listens on the Unix socket SOCK. */
static pid_t server_pid(const char *sock)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (strlen(sock) >= sizeof(addr.sun_path))
		die("%s: too long a socket path", sock);
	strcpy(addr.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		die("%s: %s", sock, strerror(errno));
	close(fd);
	return cred.pid;
}

/* --- kvstore ------------------------------------------------------------ */

/* An ioctl number under kvstore's magic that the module does not know: its
 * ENOTTY answer is the cheapest ioctl on the device, the floor of any op. */
#define KV_IOC_UNKNOWN _IO(KV_IOC_MAGIC, 0xEE)

struct kvstore {
	int fd;
	/* A descriptor from libkv's kv_open, whose kv_get reads the store's
	 * mapping. */
	int lib;
	struct kv_pair pair;
};

static void kv_pair_of(struct kv_pair *p, size_t r)
{
	p->key.len = key_size;
	memcpy(p->key.data, keys[r], key_size);
	p->value.len = value_size;
	memcpy(p->value.data, values[r], value_size);
}

static void kv_floor(void *ctx, size_t i)
{
	struct kvstore *kv = ctx;
	(void)i;
	if (ioctl(kv->fd, KV_IOC_UNKNOWN, 0) != -1 || errno != ENOTTY)
		die("kvstore: the unknown ioctl did not answer ENOTTY");
}

/* As kv-bench's get: the raw ioctl, key in, value out into the same pair. */
static void kv_get_hit(void *ctx, size_t i)
{
	struct kvstore *kv = ctx;
	size_t r = req(i);
	kv->pair.key.len = key_size;
	memcpy(kv->pair.key.data, keys[r], key_size);
	if (ioctl(kv->fd, KV_IOC_GET, &kv->pair) != 0 || kv->pair.value.len != value_size ||
	    memcmp(kv->pair.value.data, values[r], value_size) != 0)
		die("kvstore get: %s", strerror(errno));
}

/* The same get through libkv's kv_get, which reads the store's mapping
 * without a system call (kvstore_rows checks that the kernel counted none). */
static void kv_get_hit_mapped(void *ctx, size_t i)
{
	struct kvstore *kv = ctx;
	size_t r = req(i);
	kv->pair.key.len = key_size;
	memcpy(kv->pair.key.data, keys[r], key_size);
	if (kv_get(kv->lib, &kv->pair) != 0 || kv->pair.value.len != value_size ||
	    memcmp(kv->pair.value.data, values[r], value_size) != 0)
		die("kvstore kv_get: %s", strerror(errno));
}

static void kv_put_replace(void *ctx, size_t i)
{
	struct kvstore *kv = ctx;
	kv_pair_of(&kv->pair, req(i));
	if (ioctl(kv->fd, KV_IOC_PUT, &kv->pair) != 0)
		die("kvstore put: %s", strerror(errno));
}

/* How much the used memory may still fall between two reads a second apart
 * for it to count as settled. */
#define SETTLED_BYTES (256 * 1024)

/* The used memory once the kernel has finished the frees it defers (an
 * unloaded module's after an RCU grace period, a closed BPF map's in a
 * worker, a BPF_F_NO_PREALLOC map's elements after RCU grace periods): read
 * once a second until it no longer falls, at most ten times. */
static long long settled_used_memory(void)
{
	long long last = used_memory();
	for (int i = 0; i < 10; i++) {
		sleep(1);
		long long now = used_memory();
		if (now + SETTLED_BYTES >= last)
			return now;
		last = now;
	}
	die("the kernel's used memory still falls after 10 s: no baseline");
	return -1;
}

/* kv unloaded if it is loaded; then, once what that frees is freed, the
 * kernel's used memory. */
static long long kvstore_unload(void)
{
	if (syscall(SYS_delete_module, "kv", O_NONBLOCK) != 0 && errno != ENOENT)
		die("unloading kv: %s", strerror(errno));
	return settled_used_memory();
}

/* KO loaded with max_items=N buckets=N use_lru=0. */
static void kvstore_load_items(const char *ko, size_t n)
{
	char params[96];
	snprintf(params, sizeof(params), "max_items=%zu buckets=%zu use_lru=0", n, n);
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s", ko, strerror(errno));
	if (syscall(SYS_finit_module, fd, params, 0) != 0)
		die("loading %s %s: %s", ko, params, strerror(errno));
	close(fd);
}

/* KO's own code and data: the growth of the settled used memory across
 * loading it with one bucket and one item, which the kvstore figure leaves
 * out. kv is unloaded afterwards. */
static long long kvstore_module_bytes(const char *ko)
{
	long long before = kvstore_unload();
	kvstore_load_items(ko, 1);
	long long module = settled_used_memory() - before;
	kvstore_unload();
	return module;
}

static void kvstore_rows(const char *dev, const char *ko)
{
	struct kvstore kv;
	long long module = 0, before = 0;
	if (ko) {
		module = kvstore_module_bytes(ko);
		before = kvstore_unload();
		kvstore_load_items(ko, items);
	}
	kv.fd = open(dev, O_RDWR | O_CLOEXEC);
	if (kv.fd < 0)
		die("%s: %s", dev, strerror(errno));
	if (ioctl(kv.fd, KV_IOC_CLEAR, 0) != 0)
		die("kvstore clear: %s", strerror(errno));
	for (uint64_t k = 0; k < items; k++) {
		struct kv_pair p = { .key.len = key_size, .value.len = value_size };
		key_of(k, (char *)p.key.data);
		value_of(k, p.value.data);
		if (ioctl(kv.fd, KV_IOC_PUT, &p) != 0)
			die("kvstore fill: %s", strerror(errno));
	}
	/* What the load and the items took, kv.ko's code and data left out:
	 * items take memory as they are put. */
	if (ko)
		memory_row("kvstore", before + module, used_memory());
	row("ioctl floor", "ENOTTY", per_op(kv_floor, &kv));
	row("kvstore", "get hit", per_op(kv_get_hit, &kv));
	struct kv_usage_stat was, now;
	kv.lib = kv_open();
	if (kv.lib < 0 || kv_stat(kv.lib, &was) != 0)
		die("kvstore kv_open: %s", strerror(errno));
	double mapped = per_op(kv_get_hit_mapped, &kv);
	if (kv_stat(kv.lib, &now) != 0 || now.hits != was.hits)
		die("kvstore: kv_get took the ioctl, not the mapping");
	row("kvstore", "get hit, mapped", mapped);
	kv_close(kv.lib);
	row("kvstore", "put replace", per_op(kv_put_replace, &kv));
	close(kv.fd);
}

/* --- BPF hash map -------------------------------------------------------- */

static long bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* A BPF_MAP_TYPE_HASH of the run's key and value sizes; its fd. */
static int bpf_map_create(size_t entries, unsigned int flags)
{
	union bpf_attr attr;
	if (entries > UINT32_MAX)
		die("bpf map create: %zu entries, more than max_entries holds", entries);
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_HASH;
	attr.key_size = key_size;
	attr.value_size = value_size;
	attr.max_entries = entries;
	attr.map_flags = flags;
	long fd = bpf(BPF_MAP_CREATE, &attr);
	if (fd < 0)
		die("bpf map create (%zu entries, flags %u): %s", entries, flags, strerror(errno));
	return (int)fd;
}

static long bpf_elem(int cmd, int fd, const void *key, void *value)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = fd;
	attr.key = (uint64_t)(uintptr_t)key;
	attr.value = (uint64_t)(uintptr_t)value;
	attr.flags = BPF_ANY;
	return bpf(cmd, &attr);
}

/* Items 0..N put into the map FD. */
static void bpf_fill(int fd)
{
	for (uint64_t k = 0; k < items; k++) {
		char key[KV_MAX_KEY];
		unsigned char value[KV_MAX_VAL];
		key_of(k, key);
		value_of(k, value);
		if (bpf_elem(BPF_MAP_UPDATE_ELEM, fd, key, value) != 0)
			die("bpf map fill: %s", strerror(errno));
	}
}

/* The map's memory as the kernel counts it: memlock of its fdinfo. */
static long long bpf_memlock(int fd)
{
	static const char *const names[] = { "memlock" };
	char path[64];
	long long bytes;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	proc_fields(path, 1, names, &bytes, 1);
	return bytes;
}

struct bpf_hash {
	int fd;
	unsigned char value[KV_MAX_VAL];
};

/* As kv-bench's BPF get: the key in, the value out into one buffer. */
static void bpf_get_hit(void *ctx, size_t i)
{
	struct bpf_hash *b = ctx;
	size_t r = req(i);
	if (bpf_elem(BPF_MAP_LOOKUP_ELEM, b->fd, keys[r], b->value) != 0)
		die("bpf map lookup: %s", strerror(errno));
	if (memcmp(b->value, values[r], value_size) != 0)
		die("bpf map lookup: not the stored value");
}

static void bpf_put_replace(void *ctx, size_t i)
{
	struct bpf_hash *b = ctx;
	size_t r = req(i);
	if (bpf_elem(BPF_MAP_UPDATE_ELEM, b->fd, keys[r], values[r]) != 0)
		die("bpf map update: %s", strerror(errno));
}

/* A map of max_entries=N with FLAGS created and filled: the kernel memory
 * that took, and the map's own memlock figure. Closed after; the next
 * baseline waits for its free. */
static void bpf_memory(unsigned int flags, const char *name, const char *memlock_name)
{
	long long before = settled_used_memory();
	int fd = bpf_map_create(items, flags);
	bpf_fill(fd);
	long long after = used_memory();
	memory_row(name, before, after);
	memory_row(memlock_name, 0, bpf_memlock(fd));
	close(fd);
}

static void bpf_rows(void)
{
	struct bpf_hash b;
	/* Memory first: the rows' map, freed later by a worker, would blur it. */
	bpf_memory(0, "BPF hash prealloc", "BPF hash prealloc memlock");
	bpf_memory(BPF_F_NO_PREALLOC, "BPF hash BPF_F_NO_PREALLOC", "BPF hash NO_PREALLOC memlock");
	/* As kv-bench's: twice the items as capacity, preallocated. */
	b.fd = bpf_map_create(2 * items, 0);
	bpf_fill(b.fd);
	row("BPF hash", "get hit", per_op(bpf_get_hit, &b));
	row("BPF hash", "put replace", per_op(bpf_put_replace, &b));
	close(b.fd);
}

/* --- memcached ----------------------------------------------------------- */

static void mc_get(void *ctx, size_t i)
{
	memcached_st *mc = ctx;
	size_t len;
	uint32_t flags;
	memcached_return_t rc;
	char *v = memcached_get(mc, keys[req(i)], key_size, &len, &flags, &rc);
	if (!v || len != value_size || memcmp(v, values[req(i)], value_size) != 0)
		die("memcached get: %s", memcached_strerror(mc, rc));
	free(v);
}

static void mc_set(void *ctx, size_t i)
{
	memcached_st *mc = ctx;
	memcached_return_t rc =
		memcached_set(mc, keys[req(i)], key_size, (const char *)values[req(i)], value_size, 0, 0);
	if (rc != MEMCACHED_SUCCESS)
		die("memcached set: %s", memcached_strerror(mc, rc));
}

/* Sets sent without waiting for replies (1), or each answered (0). */
static void fill_mode(memcached_st *mc, uint64_t on)
{
	memcached_return_t rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_NOREPLY, on);
	if (rc != MEMCACHED_SUCCESS)
		die("memcached fill mode: %s", memcached_strerror(mc, rc));
}

/* Item k is stored in memcached with its value. */
static void mc_check(memcached_st *mc, uint64_t k)
{
	char key[KV_MAX_KEY];
	unsigned char value[KV_MAX_VAL];
	size_t len;
	uint32_t flags;
	memcached_return_t rc;
	key_of(k, key);
	value_of(k, value);
	char *v = memcached_get(mc, key, key_size, &len, &flags, &rc);
	if (!v || len != value_size || memcmp(v, value, value_size) != 0)
		die("memcached: item %llu not stored: %s", (unsigned long long)k,
		    memcached_strerror(mc, rc));
	free(v);
}

static void memcached_rows(const char *sock)
{
	pid_t pid = server_pid(sock);
	memcached_st *mc = memcached_create(NULL);
	if (!mc)
		die("memcached_create failed");
	memcached_return_t rc = memcached_server_add_unix_socket(mc, sock);
	if (rc != MEMCACHED_SUCCESS)
		die("memcached %s: %s", sock, memcached_strerror(mc, rc));
	/* The connection up (a get of an item never stored) before the
	 * baseline, so that only the items count. */
	char never[KV_MAX_KEY];
	size_t len;
	uint32_t flags;
	key_of(items, never);
	free(memcached_get(mc, never, key_size, &len, &flags, &rc));
	if (rc != MEMCACHED_NOTFOUND)
		die("memcached: an empty server answered %s", memcached_strerror(mc, rc));
	long long before = rss(pid);
	/* The fill, which is not timed, asks for no replies (a million round
	 * trips take minutes under TCG); a get that then misses ends the run
	 * (mc_get). */
	fill_mode(mc, 1);
	for (uint64_t k = 0; k < items; k++) {
		char key[KV_MAX_KEY];
		unsigned char value[KV_MAX_VAL];
		key_of(k, key);
		value_of(k, value);
		rc = memcached_set(mc, key, key_size, (const char *)value, value_size, 0, 0);
		if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_BUFFERED)
			die("memcached fill: %s", memcached_strerror(mc, rc));
	}
	rc = memcached_flush_buffers(mc);
	if (rc != MEMCACHED_SUCCESS)
		die("memcached fill flush: %s", memcached_strerror(mc, rc));
	fill_mode(mc, 0);
	/* Answered in order: the last item stored means every set is done. */
	mc_check(mc, items - 1);
	sleep(SETTLE_SECONDS);
	memory_row("memcached", before, rss(pid));
	row("memcached", "get hit", per_server_op(mc_get, mc));
	row("memcached", "set replace", per_server_op(mc_set, mc));
	memcached_free(mc);
}

/* --- Redis --------------------------------------------------------------- */

static void redis_check(redisContext *c, redisReply *r, const char *what)
{
	if (!r)
		die("redis %s: %s", what, c->errstr);
}

static void redis_get(void *ctx, size_t i)
{
	redisContext *c = ctx;
	redisReply *r = redisCommand(c, "GET %b", keys[req(i)], key_size);
	redis_check(c, r, "get");
	if (r->type != REDIS_REPLY_STRING || r->len != value_size ||
	    memcmp(r->str, values[req(i)], value_size) != 0)
		die("redis get: not the stored value");
	freeReplyObject(r);
}

static void redis_set(void *ctx, size_t i)
{
	redisContext *c = ctx;
	redisReply *r = redisCommand(c, "SET %b %b", keys[req(i)], key_size, values[req(i)],
				     value_size);
	redis_check(c, r, "set");
	if (r->type != REDIS_REPLY_STATUS)
		die("redis set: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	freeReplyObject(r);
}

/* INFO memory's used_memory. */
static long long redis_used_memory(redisContext *c)
{
	redisReply *r = redisCommand(c, "INFO memory");
	redis_check(c, r, "info");
	const char *field = r->type == REDIS_REPLY_STRING ? strstr(r->str, "\nused_memory:") : NULL;
	if (!field)
		die("redis info: no used_memory");
	long long bytes = strtoll(field + strlen("\nused_memory:"), NULL, 10);
	freeReplyObject(r);
	return bytes;
}

static void redis_rows(const char *sock)
{
	pid_t pid = server_pid(sock);
	redisContext *c = redisConnectUnix(sock);
	if (!c || c->err)
		die("redis %s: %s", sock, c ? c->errstr : "out of memory");
	/* The connection served once before the baseline. */
	redisReply *pong = redisCommand(c, "PING");
	redis_check(c, pong, "ping");
	freeReplyObject(pong);
	long long before = rss(pid), before_used = redis_used_memory(c);
	/* The fill is pipelined, FILL_BATCH sets per round trip: it is not
	 * timed, and a million round trips take minutes under TCG. */
	for (uint64_t k = 0; k < items;) {
		uint64_t end = k + FILL_BATCH < items ? k + FILL_BATCH : items;
		for (uint64_t j = k; j < end; j++) {
			char key[KV_MAX_KEY];
			unsigned char value[KV_MAX_VAL];
			key_of(j, key);
			value_of(j, value);
			if (redisAppendCommand(c, "SET %b %b", key, key_size, value,
					       value_size) != REDIS_OK)
				die("redis fill: %s", c->errstr);
		}
		for (; k < end; k++) {
			void *reply;
			if (redisGetReply(c, &reply) != REDIS_OK)
				die("redis fill: %s", c->errstr);
			redis_check(c, reply, "fill");
			freeReplyObject(reply);
		}
	}
	sleep(SETTLE_SECONDS);
	memory_row("Redis", before, rss(pid));
	memory_row("Redis used_memory", before_used, redis_used_memory(c));
	row("Redis", "get hit", per_server_op(redis_get, c));
	row("Redis", "set replace", per_server_op(redis_set, c));
	redisFree(c);
}

/* --- LMDB ---------------------------------------------------------------- */

struct lmdb {
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *rtxn;
};

static void lmdb_check(int rc, const char *what)
{
	if (rc)
		die("lmdb %s: %s", what, mdb_strerror(rc));
}

static void lmdb_get(void *ctx, size_t i)
{
	struct lmdb *l = ctx;
	MDB_val k = { key_size, keys[req(i)] }, v;
	unsigned char out[KV_MAX_VAL];
	lmdb_check(mdb_txn_renew(l->rtxn), "txn renew");
	lmdb_check(mdb_get(l->rtxn, l->dbi, &k, &v), "get");
	if (v.mv_size != value_size)
		die("lmdb get: a value of %zu bytes", v.mv_size);
	memcpy(out, v.mv_data, value_size); /* the caller's copy, as the others make */
	mdb_txn_reset(l->rtxn);
	if (memcmp(out, values[req(i)], value_size) != 0)
		die("lmdb get: not the stored value");
}

static void lmdb_put(void *ctx, size_t i)
{
	struct lmdb *l = ctx;
	MDB_txn *t;
	MDB_val k = { key_size, keys[req(i)] }, v = { value_size, values[req(i)] };
	lmdb_check(mdb_txn_begin(l->env, NULL, 0, &t), "txn begin");
	lmdb_check(mdb_put(t, l->dbi, &k, &v, 0), "put");
	lmdb_check(mdb_txn_commit(t), "commit");
}

/* The bytes of the data file's pages in use: up to the last page. */
static long long lmdb_pages(MDB_env *env)
{
	MDB_envinfo info;
	MDB_stat st;
	lmdb_check(mdb_env_info(env, &info), "env info");
	lmdb_check(mdb_env_stat(env, &st), "env stat");
	return ((long long)info.me_last_pgno + 1) * (long long)st.ms_psize;
}

static void lmdb_rows(const char *dir)
{
	struct lmdb l;
	MDB_txn *t;
	const char *name = lmdb_flags & MDB_NOLOCK ? "LMDB MDB_NOLOCK" : "LMDB";
	if (mkdir(dir, 0700) && errno != EEXIST)
		die("mkdir %s: %s", dir, strerror(errno));
	lmdb_check(mdb_env_create(&l.env), "env create");
	lmdb_check(mdb_env_set_mapsize(l.env, (size_t)1 << 30), "set mapsize");
	lmdb_check(mdb_env_open(l.env, dir, lmdb_flags, 0600), "env open");
	long long before = lmdb_pages(l.env);
	lmdb_check(mdb_txn_begin(l.env, NULL, 0, &t), "txn begin");
	lmdb_check(mdb_dbi_open(t, NULL, 0, &l.dbi), "dbi open");
	for (uint64_t n = 0; n < items; n++) {
		char key[KV_MAX_KEY];
		unsigned char value[KV_MAX_VAL];
		key_of(n, key);
		value_of(n, value);
		MDB_val k = { key_size, key }, v = { value_size, value };
		lmdb_check(mdb_put(t, l.dbi, &k, &v, 0), "fill");
	}
	lmdb_check(mdb_txn_commit(t), "commit");
	memory_row(name, before, lmdb_pages(l.env));
	lmdb_check(mdb_txn_begin(l.env, NULL, MDB_RDONLY, &l.rtxn), "read txn begin");
	mdb_txn_reset(l.rtxn);
	row(name, "get hit", per_op(lmdb_get, &l));
	row(name, "put replace", per_op(lmdb_put, &l));
	mdb_txn_abort(l.rtxn);
	mdb_env_close(l.env);
}

static size_t number(const char *s)
{
	char *end;
	unsigned long long n = strtoull(s, &end, 10);
	if (!*s || *end || n == 0)
		die("%s: expected a positive number", s);
	return (size_t)n;
}

int main(int argc, char **argv)
{
	const char *mc = NULL, *redis = NULL, *lmdb = NULL, *kvdev = NULL, *ko = NULL;
	int bpf_map = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--lmdb-nolock")) {
			lmdb_flags |= MDB_NOLOCK;
			continue;
		}
		if (!strcmp(argv[i], "--bpf")) {
			bpf_map = 1;
			continue;
		}
		if (i + 1 >= argc)
			die("usage: kv-peers [--items N] [--key-size N] [--value-size N] [--ops N] "
			    "[--kvstore DEV] [--kvstore-module KO] [--bpf] [--memcached SOCK] "
			    "[--redis SOCK] [--lmdb DIR] [--lmdb-nolock]");
		if (!strcmp(argv[i], "--items"))
			items = number(argv[++i]);
		else if (!strcmp(argv[i], "--key-size"))
			key_size = number(argv[++i]);
		else if (!strcmp(argv[i], "--value-size"))
			value_size = number(argv[++i]);
		else if (!strcmp(argv[i], "--ops"))
			loop_ops = number(argv[++i]);
		else if (!strcmp(argv[i], "--kvstore"))
			kvdev = argv[++i];
		else if (!strcmp(argv[i], "--kvstore-module"))
			ko = argv[++i];
		else if (!strcmp(argv[i], "--memcached"))
			mc = argv[++i];
		else if (!strcmp(argv[i], "--redis"))
			redis = argv[++i];
		else if (!strcmp(argv[i], "--lmdb"))
			lmdb = argv[++i];
		else
			die("unknown option %s", argv[i]);
	}
	if (key_size < 16 || key_size > KV_MAX_KEY || value_size > KV_MAX_VAL)
		die("keys of 16 to %d bytes and values of 1 to %d bytes", KV_MAX_KEY, KV_MAX_VAL);
	if (ko && !kvdev)
		die("--kvstore-module without --kvstore");
	working = items < WORKING_MAX ? items : WORKING_MAX;
	keys = calloc(working, KV_MAX_KEY);
	values = calloc(working, KV_MAX_VAL);
	if (!keys || !values)
		die("out of memory");
	for (size_t i = 0; i < working; i++) {
		uint64_t k = ((uint64_t)i * 7919) % items;
		key_of(k, keys[i]);
		value_of(k, values[i]);
	}
	printf("{\"key_size\": %zu, \"value_size\": %zu, \"items\": %zu, \"rows\": [", key_size,
	       value_size, items);
	if (kvdev)
		kvstore_rows(kvdev, ko);
	if (bpf_map)
		bpf_rows();
	if (mc)
		memcached_rows(mc);
	if (redis)
		redis_rows(redis);
	if (lmdb)
		lmdb_rows(lmdb);
	printf("\n], \"memory\": [");
	for (int i = 0; i < memories; i++)
		printf("%s\n    {\"target\": \"%s\", \"bytes_per_item\": %.1f}", i ? "," : "",
		       memory[i].target, memory[i].bytes_per_item);
	printf("\n]}\n");
	return 0;
}
