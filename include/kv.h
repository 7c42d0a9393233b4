/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kv.h - C interface to kvstore, the in-kernel key-value store (/dev/kvstore).
 *
 * Link with -lkv (pkg-config: kv). The ioctl ABI below mirrors
 * kv_module/abi.rs, its one source of truth; a test checks every size,
 * offset and ioctl number against it. The layout is the same for 32- and
 * 64-bit programs. docs/abi.md in kvstore's sources describes each ioctl.
 *
 * Return convention of every function: 0 on success (kv_open: a file
 * descriptor; kv_batch: the number of ops processed), -1 on failure with
 * errno set:
 *   ENOENT  kv_get/kv_del: the key is not in the store (an expired item
 *           is not); kv_put_flags with KV_PUT_EXIST, kv_touch, kv_ttl,
 *           kv_get_ver, kv_put_ver: the key is not in the store;
 *           kv_open: /dev/kvstore does not exist (the kv module is not loaded)
 *   EACCES  kv_open: no permission on /dev/kvstore (root, or the kvstore group)
 *   EINVAL  a NULL pointer, key length not in 1..KV_MAX_KEY, or value length
 *           above KV_MAX_VAL; bad flags or counts (see each function)
 *   EEXIST  kv_put_flags with KV_PUT_NOEXIST: the key is in the store;
 *           kv_put_ver: the item's version changed
 *   EOVERFLOW kv_incr: the result is outside int64_t
 *   ENOSPC  kv_put/kv_put_flags: the store is full and the module evicts
 *           nothing (use_lru=0); kv_dump: see there
 *   ENOMEM  kv_put, kv_put_flags, kv_incr, kv_touch, kv_put_ver: the item
 *           needs memory the kernel cannot give (nothing changes);
 *           kv_clear: its list of chunks; kv_dump: the module could not
 *           allocate its buffer for a bucket
 *   E2BIG   kv_dump: a bucket holds more than 1024 items
 *   EINTR   kv_dump: a signal arrived before a pair was written
 *   EFAULT  a pointer the kernel cannot read or write (where the library
 *           reads or writes it itself, see below, a bad pointer faults)
 *   EBADF   fd is not an open descriptor; or a valid kv_put, kv_put_flags,
 *           kv_del or kv_clear on a descriptor not open for writing (from
 *           kv_open_readonly), a valid kv_get or kv_dump on one not open
 *           for reading (O_WRONLY). An invalid request answers EINVAL first.
 * A failed call changes nothing in the store.
 * kv_put_flags copies *pair, kv_dump reads *cursor and *count, and kv_get
 * through the mapping (below) reads pair->key and writes pair->value, in the
 * library: there a bad non-NULL pointer faults in the caller, as with memcpy.
 */
#ifndef KV_H
#define KV_H

#include <stdint.h>
#include <linux/ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KV_MAX_KEY 64  /* longest key in bytes; keys are 1..KV_MAX_KEY bytes */
#define KV_MAX_VAL 256 /* longest value in bytes; values are 0..KV_MAX_VAL bytes */

/* A key: the first len bytes of data, any byte values (NUL included). */
struct kv_key {
	uint32_t len;
	uint8_t data[KV_MAX_KEY];
};

/* A value: the first len bytes of data. kv_get zeroes the rest; the
 * KV_IOC_GET ioctl itself leaves the rest as the caller had it. */
struct kv_value {
	uint32_t len;
	uint8_t data[KV_MAX_VAL];
};

/* kv_put: key and value in. kv_get: key in, value out. */
struct kv_pair {
	struct kv_key key;
	struct kv_value value;
};

/* Bits of kv_usage_stat.filled: the fields the module fills. A module older
 * than the field leaves filled 0, and then only the first eight are valid. */
#define KV_STAT_HAS_BUCKET_COUNT (1ULL << 0)
#define KV_STAT_HAS_MAX_ITEMS (1ULL << 1)
#define KV_STAT_HAS_CURR_ITEMS (1ULL << 2)
#define KV_STAT_HAS_USE_LRU (1ULL << 3)
#define KV_STAT_HAS_HITS (1ULL << 4)
#define KV_STAT_HAS_MISSES (1ULL << 5)
#define KV_STAT_HAS_EVICTIONS (1ULL << 6)
#define KV_STAT_HAS_BYTES_USED (1ULL << 7)
#define KV_STAT_HAS_PUTS (1ULL << 8)
#define KV_STAT_HAS_DELETES (1ULL << 9)
#define KV_STAT_HAS_EXPIRED (1ULL << 10)
#define KV_STAT_HAS_MEMORY (1ULL << 11)

/* kv_stat. The module zeroes reserved; new counters take reserved words,
 * so the struct keeps its size. */
struct kv_usage_stat {
	uint32_t bucket_count; /* hash buckets (module parameter buckets) */
	uint32_t max_items;    /* capacity (module parameter max_items) */
	uint32_t curr_items;   /* items stored now */
	uint32_t use_lru;      /* eviction when full: 0 none (ENOSPC), 1 LRU, 2 SIEVE */
	uint64_t hits;         /* gets that found their key (in the kernel: a get
	                        * through the mapping is not counted) */
	uint64_t misses;       /* gets that did not (the same) */
	uint64_t evictions;    /* items evicted to make room */
	uint64_t bytes_used;   /* key and value bytes held now */
	uint64_t filled;       /* KV_STAT_HAS_* bits of the fields filled */
	uint64_t puts;         /* successful puts (inserts and replaces) */
	uint64_t deletes;      /* successful deletes (not clears, not evictions) */
	uint64_t expired;      /* items removed because they expired */
	uint64_t memory;       /* kernel memory the store holds, in bytes */
	uint64_t reserved[5];
};

#define KV_PUT_NOEXIST 1 /* kv_put_flags: insert only if absent, else EEXIST */
#define KV_PUT_EXIST 2   /* kv_put_flags: replace only if present, else ENOENT */

#define KV_OP_GET 1 /* kv_op.op: look up pair.key, the value into pair.value */
#define KV_OP_PUT 2 /* put pair, with flags as for kv_put_flags */
#define KV_OP_DEL 3 /* delete pair.key */
/* The ops below exist only in struct kv_cache_op (kv_cache_batch). */
#define KV_OP_PUT_VER 4 /* put pair only if the version is still version */
#define KV_OP_INCR 5    /* add number to the value; the result into number */
#define KV_OP_TOUCH 6   /* set the expiry to ttl_ms, keeping the value */
#define KV_OP_TTL 7     /* milliseconds left into number (-1: never expires) */
#define KV_BATCH_MAX 256 /* most ops in one kv_batch */

/* One op of kv_batch. */
struct kv_op {
	uint32_t op;       /* KV_OP_GET, KV_OP_PUT or KV_OP_DEL */
	uint32_t flags;    /* a put's KV_PUT_NOEXIST or KV_PUT_EXIST; else 0 */
	int32_t result;    /* out: 0 or a negative errno */
	uint32_t reserved; /* 0 */
	struct kv_pair pair;
};

/* One op of kv_cache_batch: struct kv_op with an expiry, a version and a
 * number. Every KV_OP_* applies; a get also answers the item's version. */
struct kv_cache_op {
	uint32_t op;       /* KV_OP_* */
	uint32_t flags;    /* a put's KV_PUT_NOEXIST or KV_PUT_EXIST; else 0 */
	int32_t result;    /* out: 0 or a negative errno */
	uint32_t reserved; /* 0 */
	uint64_t ttl_ms;   /* put, touch, incr creating its key: ms from now, 0 never; else 0 */
	uint64_t version;  /* in: KV_OP_PUT_VER's expected version; out: a get's */
	int64_t number;    /* in: KV_OP_INCR's delta; out: its result, or KV_OP_TTL's ms */
	struct kv_pair pair;
};

/* The arguments of the batch and dump ioctls (the functions build them).
 * Pointers travel as 64-bit integers, so 32-bit callers share the layout. */
struct kv_batch_args {
	uint64_t ops;      /* address of count struct kv_op */
	uint32_t count;    /* at most KV_BATCH_MAX */
	uint32_t reserved; /* 0 */
};

struct kv_dump_args {
	uint64_t cursor;   /* in: 0 to start or the last value out; out: where to go on */
	uint64_t pairs;    /* address of room for count struct kv_pair */
	uint32_t count;    /* in: room; out: pairs written (0: the end), or needed (ENOSPC) */
	uint32_t reserved; /* 0 */
};

/* The ioctls behind the functions, for callers that use them directly. */
#define KV_IOC_MAGIC 0xB9
#define KV_IOC_PUT _IOW(KV_IOC_MAGIC, 1, struct kv_pair)
#define KV_IOC_GET _IOWR(KV_IOC_MAGIC, 2, struct kv_pair)
#define KV_IOC_DEL _IOW(KV_IOC_MAGIC, 3, struct kv_key)
#define KV_IOC_STAT _IOR(KV_IOC_MAGIC, 4, struct kv_usage_stat)
#define KV_IOC_PUT_FLAGS _IOW(KV_IOC_MAGIC, 5, struct kv_op) /* op must be KV_OP_PUT */
#define KV_IOC_BATCH _IOWR(KV_IOC_MAGIC, 6, struct kv_batch_args) /* returns ops processed */
#define KV_IOC_DUMP _IOWR(KV_IOC_MAGIC, 7, struct kv_dump_args)
#define KV_IOC_CLEAR _IO(KV_IOC_MAGIC, 8)
/* One cache op: its error is the ioctl's (result is not written). */
#define KV_IOC_CACHE_OP _IOWR(KV_IOC_MAGIC, 9, struct kv_cache_op)
/* A batch of struct kv_cache_op: returns ops processed. */
#define KV_IOC_CACHE_BATCH _IOWR(KV_IOC_MAGIC, 10, struct kv_batch_args)

/* A read-only mapping of the store (docs/mapping.md): mmap of /dev/kvstore
 * at offset 0 starts with this header page; block b's records are at page
 * offset block_pgoff + b * KV_MAP_BLOCK_PAGES. */
#define KV_MAP_MAGIC 0x0065726f7473766bULL /* "kvstore\0", little-endian */
#define KV_MAP_VERSION 2
#define KV_MAP_BLOCK_PAGES 64
struct kv_map_header {
	uint64_t magic;        /* KV_MAP_MAGIC */
	uint32_t version;      /* KV_MAP_VERSION */
	uint32_t policy;       /* use_lru: 0 none, 1 LRU, 2 SIEVE */
	uint32_t bucket_count;
	uint32_t blocks;       /* entries of the block table */
	uint32_t block_slots;  /* records per block */
	uint32_t header_words; /* 8-byte words of a record's header */
	uint64_t seed[2];      /* the hash's secrets */
	uint64_t block_table;  /* byte offset: blocks x (stride | generation << 32) */
	uint64_t buckets;      /* byte offset: bucket_count x (seq, head) */
	uint64_t map_bytes;    /* bytes of the mapping at offset 0 */
	uint64_t block_pgoff;  /* page offset of block 0's records */
	uint64_t evictions;    /* byte offset: the eviction count (32 bits, odd while one runs) */
	uint64_t marks_pgoff;  /* page offset of the mark words (SIEVE): a 64-bit word per slot,
				* generation << 32 | stamp (bits 1..32) | visited (bit 0) */
	uint64_t marks_bytes;  /* bytes of the mark words: blocks x block_slots x 8; 0: none */
};

/* Opens /dev/kvstore (read-write, close-on-exec); returns the descriptor.
 * When the module lets the store be mapped and it evicts nothing
 * (use_lru=0) or evicts under SIEVE (use_lru=2, whose mark words are then
 * mapped writable: a hit marks its item), it also maps the store
 * read-only for kv_get (see kv_get),
 * with a second, close-on-exec descriptor of the device of its own, both
 * kept until kv_close; any failure there only means kv_get takes the
 * ioctl. KVLIB_MAPPED_READS=0 in the environment at the call: no mapping.
 * Close it with kv_close, not close(2) (see kv_close). */
int kv_open(void);
/* Opens /dev/kvstore read-only (needs only read permission): kv_get,
 * kv_stat and kv_dump work; kv_put, kv_put_flags, kv_del and kv_clear fail
 * with EBADF, and so does each put or del op of kv_batch. Maps the store
 * for kv_get as kv_open does, but for a SIEVE store, whose mark words only
 * a descriptor open for writing may map: its kv_get takes the ioctl. */
int kv_open_readonly(void);
/* Closes a descriptor from kv_open or kv_open_readonly: unmaps its mapping
 * and closes the library's descriptor, then closes fd.
 * A descriptor from kv_open* closed with close(2) instead stays known to
 * the library by its number: its mapping and the library's descriptor stay
 * (and keep the module loaded: rmmod fails), and kv_get on that number
 * goes on answering from the store through that mapping, whatever the
 * number names by then, until kv_close of the number or a kv_open* that
 * returns it again. That is a misuse, and a kv_get on the number racing
 * that kv_open* reads a mapping being unmapped. A kv_close racing a kv_get
 * on the same descriptor is a use after close, as with close(2).
 * Threads may share a descriptor: every call but kv_close may run on it from
 * several threads at once, beside kv_open* and kv_close of other ones. */
int kv_close(int fd);
/* Inserts pair->key with pair->value, or replaces its value. */
int kv_put(int fd, const struct kv_pair *pair);
/* Looks up pair->key; on success fills pair->value: value.len, and the
 * bytes after the value zeroed. ENOENT for a key not in the store, EINVAL
 * for a NULL pair or a key length not in 1..KV_MAX_KEY.
 * On a descriptor from kv_open or kv_open_readonly that has a mapping, the
 * get reads the store through it without a system call (docs/mapping.md),
 * with the same answers as the ioctl, and takes the ioctl whenever the
 * mapping cannot answer. Such gets are not counted in kv_usage_stat's hits
 * and misses: the kernel never sees them. A dup of such a descriptor, or
 * any other descriptor, takes the ioctl. Through the mapping the library
 * reads pair->key and writes pair->value itself, so a bad non-NULL pair
 * faults in the caller (the ioctl answers EFAULT). */
int kv_get(int fd, struct kv_pair *pair);
/* Removes key. */
int kv_del(int fd, const struct kv_key *key);
/* Fills stat_out with sizes and counters. */
int kv_stat(int fd, struct kv_usage_stat *stat_out);
/* kv_put with flags: 0 is kv_put; KV_PUT_NOEXIST inserts only an absent key
 * (else EEXIST), KV_PUT_EXIST replaces only a present one (else ENOENT).
 * Both flags, or an unknown bit: EINVAL. A refused put changes nothing. */
int kv_put_flags(int fd, const struct kv_pair *pair, uint32_t flags);
/* Runs count ops in order, each atomic on its own (not a transaction): sets
 * each op's result to 0 or a negative errno (EINVAL, ENOENT, EEXIST, ENOSPC
 * as for the single calls; EBADF for a put or del on a descriptor from
 * kv_open_readonly) and a successful get's pair.value. Returns the number of
 * ops run: count, 0 for count 0, or fewer when the batch stopped at an op it
 * could not read, whose result it could not write, or whose get could not
 * write its value (that op did not run; the ops before it did, with
 * results); -1 with EINVAL for count above KV_BATCH_MAX or a NULL ops with
 * count > 0, EFAULT when the first op stops it (nothing ran). */
int kv_batch(int fd, struct kv_op *ops, uint32_t count);
/* Copies items out, bucket by bucket: set *cursor = 0 to start and *count
 * to the room in pairs; on return *count pairs were written and *cursor is
 * where to go on; *count == 0 is the end. A key present for the whole
 * iteration is returned exactly once, whatever puts and dels run meanwhile
 * (keys added or removed during it may or may not appear). When *count
 * cannot hold the next bucket: -1, ENOSPC, *count set to the room it needs,
 * so a call with that room goes on. Every failure leaves *cursor as it was.
 * A signal ends a call early (EINTR if it wrote nothing). A dump is not a
 * use: no LRU or SIEVE change, no hit. */
int kv_dump(int fd, uint64_t *cursor, struct kv_pair *pairs, uint32_t *count);
/* Removes every item (evictions not counted; the counters keep counting). */
int kv_clear(int fd);

/* Expiry. Times are milliseconds on the kernel's coarse boot-time clock
 * (CLOCK_BOOTTIME_COARSE: never goes back, not changed by setting the date,
 * counts time suspended, advances once a tick, 1 to 10 ms: an item may
 * expire up to a tick before or after its TTL by a finer clock). A deadline
 * is rounded down to a step under 1/1024 of the TTL: an item may expire that
 * much early, never late, and kv_ttl never answers more than the TTL put.
 * An expired item
 * is gone for every call: a get misses, KV_PUT_NOEXIST succeeds,
 * KV_PUT_EXIST, kv_touch and kv_ttl answer ENOENT, a dump skips it, and the
 * store stops counting it within 2 seconds of its expiry. kv_put and
 * kv_put_flags leave an item that never expires. */

/* kv_put_flags, the item expiring ttl_ms from now (0: never). */
int kv_put_ttl(int fd, const struct kv_pair *pair, uint32_t flags, uint64_t ttl_ms);
/* Sets a present item's expiry to ttl_ms from now (0: never), keeping its
 * value. */
int kv_touch(int fd, const struct kv_key *key, uint64_t ttl_ms);
/* Writes the milliseconds key has left (>= 0, rounded up), or -1 if it
 * never expires. */
int kv_ttl(int fd, const struct kv_key *key, int64_t *ttl_ms);

/* Counters. Adds delta to the value read as the decimal text of an int64_t
 * (an optional minus sign and 1 to 19 digits), stores the result back as
 * such text and writes it to *value. An absent key is created with the value
 * delta, expiring ttl_ms from now (0: never); a present key keeps its expiry.
 * EINVAL if the value is not such a number, EOVERFLOW if the result is
 * outside int64_t; both change nothing. Atomic against every other call. */
int kv_incr(int fd, const struct kv_key *key, int64_t delta, uint64_t ttl_ms, int64_t *value);

/* Versions. Every item carries a version, never 0, that changes whenever
 * its value or expiry changes and is never handed out twice while the module
 * is loaded. */

/* kv_get that also writes the item's version. It always takes the ioctl
 * (its gets are counted in hits and misses). */
int kv_get_ver(int fd, struct kv_pair *pair, uint64_t *version);
/* Replaces the value only if the item's version is still version: EEXIST
 * if it changed, ENOENT if the key is absent; a refused put changes nothing.
 * The item keeps its expiry. */
int kv_put_ver(int fd, const struct kv_pair *pair, uint64_t version);
/* kv_batch for struct kv_cache_op: every op, with the same rules. */
int kv_cache_batch(int fd, struct kv_cache_op *ops, uint32_t count);

#ifdef __cplusplus
}
#endif

#endif /* KV_H */
