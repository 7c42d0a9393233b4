/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kv.h - C interface to kvstore, the in-kernel key-value store (/dev/kvstore).
 *
 * Link with -lkv (pkg-config: kv). The ioctl ABI below mirrors
 * kv_module/abi.rs, its one source of truth; a test checks every size,
 * offset and ioctl number against it. The layout is the same for 32- and
 * 64-bit programs.
 *
 * Return convention of every function: 0 on success (kv_open: a file
 * descriptor), -1 on failure with errno set:
 *   ENOENT  kv_get/kv_del: the key is not in the store;
 *           kv_open: /dev/kvstore does not exist (the kv module is not loaded)
 *   EACCES  kv_open: no permission on /dev/kvstore (root, or the kvstore group)
 *   EINVAL  a NULL pointer, key length not in 1..KV_MAX_KEY, or value length
 *           above KV_MAX_VAL
 *   ENOSPC  kv_put: the store is full and LRU eviction is off
 *   EFAULT  a pointer the kernel cannot read or write
 *   EBADF   fd is not an open descriptor, or kv_put/kv_del on a descriptor
 *           from kv_open_readonly
 * A failed call changes nothing in the store.
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

/* A value: the first len bytes of data. kv_get zeroes the rest. */
struct kv_value {
	uint32_t len;
	uint8_t data[KV_MAX_VAL];
};

/* kv_put: key and value in. kv_get: key in, value out. */
struct kv_pair {
	struct kv_key key;
	struct kv_value value;
};

/* kv_stat. New counters take reserved words, which are zero today. */
struct kv_usage_stat {
	uint32_t bucket_count; /* hash buckets (module parameter buckets) */
	uint32_t max_items;    /* capacity (module parameter max_items) */
	uint32_t curr_items;   /* items stored now */
	uint32_t use_lru;      /* eviction when full: 0 none (ENOSPC), 1 LRU, 2 SIEVE */
	uint64_t hits;         /* gets that found their key */
	uint64_t misses;       /* gets that did not */
	uint64_t evictions;    /* items evicted to make room */
	uint64_t bytes_used;   /* key and value bytes held now */
	uint64_t reserved[10];
};

/* The ioctls behind the functions, for callers that use them directly. */
#define KV_IOC_MAGIC 0xB9
#define KV_IOC_PUT _IOW(KV_IOC_MAGIC, 1, struct kv_pair)
#define KV_IOC_GET _IOWR(KV_IOC_MAGIC, 2, struct kv_pair)
#define KV_IOC_DEL _IOW(KV_IOC_MAGIC, 3, struct kv_key)
#define KV_IOC_STAT _IOR(KV_IOC_MAGIC, 4, struct kv_usage_stat)

/* Opens /dev/kvstore (read-write, close-on-exec); returns the descriptor. */
int kv_open(void);
/* Opens /dev/kvstore read-only (needs only read permission): kv_get and
 * kv_stat work, kv_put and kv_del fail with EBADF. */
int kv_open_readonly(void);
/* Closes a descriptor from kv_open or kv_open_readonly. */
int kv_close(int fd);
/* Inserts pair->key with pair->value, or replaces its value. */
int kv_put(int fd, const struct kv_pair *pair);
/* Looks up pair->key; on success fills pair->value. */
int kv_get(int fd, struct kv_pair *pair);
/* Removes key. */
int kv_del(int fd, const struct kv_key *key);
/* Fills stat_out with sizes and counters. */
int kv_stat(int fd, struct kv_usage_stat *stat_out);

#ifdef __cplusplus
}
#endif

#endif /* KV_H */
