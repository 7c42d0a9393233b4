/* One PASS/FAIL line per check for kvstore's C check programs, and the
 * helpers they share. A program defines CHECK_PREFIX (e.g. "libkv/ops")
 * before including this header and returns check_failed from main. */
#ifndef KV_TESTS_CHECK_H
#define KV_TESTS_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kv.h"

#ifndef CHECK_PREFIX
#error "define CHECK_PREFIX before including check.h"
#endif

/* 1 once a check has failed. */
static int check_failed;

/* Prints "PASS: CHECK_PREFIX/name", or "FAIL: CHECK_PREFIX/name: cond
 * (errno ...)" and remembers the failure. */
#define CHECK(name, cond)                                                                   \
	do {                                                                                \
		if (cond) {                                                                 \
			printf("PASS: " CHECK_PREFIX "/%s\n", name);                        \
		} else {                                                                    \
			printf("FAIL: " CHECK_PREFIX "/%s: %s (errno %d: %s)\n", name, #cond, \
			       errno, strerror(errno));                                     \
			check_failed = 1;                                                   \
		}                                                                           \
	} while (0)

/* A pair; lengths past the limits only to build bad requests (the bytes
 * stop at the limit). */
static inline struct kv_pair make_pair(const void *key, uint32_t klen, const void *val, uint32_t vlen)
{
	struct kv_pair p;
	memset(&p, 0, sizeof(p));
	p.key.len = klen;
	memcpy(p.key.data, key, klen <= KV_MAX_KEY ? klen : KV_MAX_KEY);
	p.value.len = vlen;
	memcpy(p.value.data, val, vlen <= KV_MAX_VAL ? vlen : KV_MAX_VAL);
	return p;
}

/* The call failed: -1 with errno == want. */
static inline int fails_with(int rc, int want)
{
	return rc == -1 && errno == want;
}

#endif
