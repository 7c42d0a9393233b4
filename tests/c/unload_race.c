/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unload_race: opens, uses and closes /dev/kvstore in a tight loop while the
 * torture suite loads and unloads kv.ko, so closes and rmmod meet as often
 * as possible. Raw syscalls (no libkv, no kvctl) keep the loop short.
 *
 *   unload_race STOPFILE     loops until STOPFILE exists
 *
 * While a file is open the module cannot go away, so every ioctl on an open
 * file must succeed; an open may fail only because the device is gone
 * (ENOENT: no node; ENODEV/ENXIO: node without a driver). Prints one line:
 * "unload_race: N opens, M refused, K ioctls, U unexpected"; exit 1 if U > 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kv.h"

int main(int argc, char **argv)
{
	unsigned long opens = 0, refused = 0, ioctls = 0, unexpected = 0;
	struct kv_pair pair;
	struct kv_usage_stat st;

	if (argc != 2) {
		fprintf(stderr, "usage: unload_race STOPFILE\n");
		return 2;
	}
	memset(&pair, 0, sizeof(pair));
	pair.key.len = 4;
	memcpy(pair.key.data, "race", 4);
	pair.value.len = 5;
	memcpy(pair.value.data, "value", 5);
	for (unsigned long i = 0; access(argv[1], F_OK) != 0; i++) {
		int fd = open("/dev/kvstore", (i & 1) ? O_RDWR : O_RDONLY);
		if (fd < 0) {
			if (errno == ENOENT || errno == ENODEV || errno == ENXIO) {
				refused++;
			} else if (unexpected++ < 5) {
				fprintf(stderr, "unload_race: open: %s\n", strerror(errno));
			}
			continue;
		}
		opens++;
		if (ioctl(fd, KV_IOC_STAT, &st) != 0 && unexpected++ < 5)
			fprintf(stderr, "unload_race: stat on an open file: %s\n", strerror(errno));
		ioctls++;
		if (i & 1) {
			if (ioctl(fd, KV_IOC_PUT, &pair) != 0 && unexpected++ < 5)
				fprintf(stderr, "unload_race: put: %s\n", strerror(errno));
			ioctls++;
		}
		close(fd);
	}
	printf("unload_race: %lu opens, %lu refused, %lu ioctls, %lu unexpected\n", opens, refused,
	       ioctls, unexpected);
	return unexpected ? 1 : 0;
}
