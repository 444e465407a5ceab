/*
 * buf.h - a growable byte buffer with a consumed-prefix offset.
 * data[off..len) holds the bytes not yet consumed.  Growth is bounded by
 * the caller (buf_reserve returns IG_ENOMEM past <limit>).
 */
#ifndef IG_BUF_H
#define IG_BUF_H
#include <stdlib.h>
#include <string.h>

#include "result.h"

struct buf {
	char *data;
	size_t off, len, cap;
};

static inline size_t buf_avail(const struct buf *b) { return b->len - b->off; }
static inline char *buf_head(const struct buf *b) { return b->data + b->off; }

static inline void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

/* Make room for <n> more bytes at data[len], moving unconsumed bytes to the
 * front first; grow up to <limit> total capacity. */
static inline int buf_reserve(struct buf *b, size_t n, size_t limit)
{
	size_t need, cap;
	char *p;

	if (b->cap - b->len >= n)
		return IG_OK;
	if (b->off) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return IG_OK;
	}
	need = b->len + n;
	if (need > limit)
		return IG_ENOMEM;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	if (cap > limit)
		cap = limit;
	p = realloc(b->data, cap);
	if (!p)
		return IG_ENOMEM;
	b->data = p;
	b->cap = cap;
	return IG_OK;
}

static inline int buf_append(struct buf *b, const void *p, size_t n, size_t limit)
{
	IG_GUARD(buf_reserve(b, n, limit));
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return IG_OK;
}

static inline void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}
#endif
