/*
 * testutil.h - small helpers shared by the unit test programs: inputs
 * placed flush against an unmapped page (an over-read faults), and files
 * and directory trees in a test's temporary directory.
 */
#ifndef IG_TESTUTIL_H
#define IG_TESTUTIL_H
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guarded {
	void *map;
	size_t maplen;
	char *p;
};

/* Copy <n> bytes of <data> so that the byte after them is unmapped. */
static inline char *guard_copy(struct guarded *g, const void *data, size_t n)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = (n + ps - 1) / ps + 1;

	g->maplen = pages * ps;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED)
		abort();
	if (mprotect((char *)g->map + g->maplen - ps, ps, PROT_NONE))
		abort();
	g->p = (char *)g->map + g->maplen - ps - n;
	memcpy(g->p, data, n);
	return g->p;
}

static inline void guard_free(struct guarded *g)
{
	munmap(g->map, g->maplen);
}

static inline int rm_entry(const char *path, const struct stat *st, int flag,
			   struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove <path> and everything below it. */
static inline void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Read up to <cap> - 1 bytes and NUL-terminate; the length or -1. */
static inline int read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return (int)n;
}
#endif
