/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fault_load: loads a module with allocation failures injected into the
 * init_module call alone, through this thread's fault-injection controls
 * (the torture suite arms failslab and fail_page_alloc with task-filter).
 *
 *   fault_load MODULE PARAMS count     count the fault-injection points the
 *                                      load passes (fail-nth set very high)
 *   fault_load MODULE PARAMS nth N     fail exactly the Nth point (fail-nth)
 *   fault_load MODULE PARAMS from N    pass N-1 points, fail the Nth, then
 *                                      fail at the debugfs probability
 *                                      (fail-nth and make-it-fail)
 *
 * Points are counted in order, so with `count` on a load whose init fails
 * at once (bad parameters) the suite learns how many belong to the kernel's
 * loader before the module's init runs, and aims failures past them: the
 * loader's own vmalloc calls warn with a stack dump when they fail, which
 * is the kernel's behaviour, not the module's.
 *
 * The image is read and memory locked before injection starts, so nothing
 * but the kernel's loading work can fail. Prints "loaded" or "failed
 * ERRNO-NAME", then "points N" (count) or "injected"/"unreached" (nth,
 * from: whether the Nth point was reached). Exit 0 unless this program
 * itself failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define COUNT_START 1000000

static int open_proc(const char *name)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/thread-self/%s", name);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		perror(path);
	return fd;
}

static int put(int fd, const char *text)
{
	if (pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text)) {
		perror("fault_load: writing a fault-injection control");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: fault_load MODULE PARAMS count | nth N | from N\n");
		return 2;
	}
	const char *mode = argv[3];
	int count = strcmp(mode, "count") == 0;
	int from = strcmp(mode, "from") == 0;
	if (!count && !(argc == 5 && (from || strcmp(mode, "nth") == 0))) {
		fprintf(stderr, "fault_load: bad mode\n");
		return 2;
	}
	int mfd = open(argv[1], O_RDONLY);
	struct stat sb;
	if (mfd < 0 || fstat(mfd, &sb) != 0) {
		perror(argv[1]);
		return 2;
	}
	char *image = malloc(sb.st_size);
	if (!image || read(mfd, image, sb.st_size) != sb.st_size) {
		perror("fault_load: reading the module");
		return 2;
	}
	close(mfd);
	char start[32];
	snprintf(start, sizeof(start), "%d", COUNT_START);
	int nth = open_proc("fail-nth");
	int always = from ? open_proc("make-it-fail") : -1;
	if (nth < 0 || (from && always < 0))
		return 2;
	if (mlockall(MCL_CURRENT) != 0) {
		perror("fault_load: mlockall");
		return 2;
	}
	if ((from && put(always, "1") != 0) || put(nth, count ? start : argv[4]) != 0)
		return 2;
	long rc = syscall(SYS_init_module, image, (unsigned long)sb.st_size, argv[2]);
	int err = errno;
	/* What is left of N: 0 once the Nth point failed. */
	char left[32];
	ssize_t n = pread(nth, left, sizeof(left) - 1, 0);
	left[n > 0 ? n : 0] = '\0';
	put(nth, "0");
	if (from)
		put(always, "0");
	if (rc == 0)
		printf("loaded");
	else
		printf("failed %s", strerrorname_np(err) ? strerrorname_np(err) : "?");
	if (count)
		printf(" points %d", COUNT_START - atoi(left));
	else
		printf(" %s", atoi(left) == 0 ? "injected" : "unreached");
	printf("\n");
	return 0;
}
