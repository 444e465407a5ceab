/*
 * hdrlog.c - HdrHistogram V2 encoding, its compressed envelope, base64 and
 * the v1.3 interval log (see hdrlog.h for the format and the contract).
 */
#include "hdrlog.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "../common/jose.h"
#include "../common/result.h"

#define HDRLOG_HEADER_LEN 40    /* V2 payload header */
#define HDRLOG_ENVELOPE_LEN 8   /* cookie + compressed length */
#define HDRLOG_MAX_PAYLOAD (64u << 20)

/* ---- zlib, loaded at run time ------------------------------------------- */

/* Resolved once from Debian's zlib1g; the prototypes come from zlib.h. */
static struct {
	pthread_once_t once;
	int (*compress2)(Bytef *, uLongf *, const Bytef *, uLong, int);
	int (*uncompress)(Bytef *, uLongf *, const Bytef *, uLong);
	uLong (*bound)(uLong);
} hdrlog_z = { .once = PTHREAD_ONCE_INIT };

static void hdrlog_z_load(void)
{
	void *lib = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);

	if (!lib)
		return;
	/* The handle stays open for the life of the process on purpose. */
	*(void **)&hdrlog_z.compress2 = dlsym(lib, "compress2");
	*(void **)&hdrlog_z.uncompress = dlsym(lib, "uncompress");
	*(void **)&hdrlog_z.bound = dlsym(lib, "compressBound");
	if (!hdrlog_z.compress2 || !hdrlog_z.uncompress || !hdrlog_z.bound)
		hdrlog_z.compress2 = NULL;
}

int hdrlog_zlib_ok(void)
{
	pthread_once(&hdrlog_z.once, hdrlog_z_load);
	return hdrlog_z.compress2 != NULL;
}

/* ---- big-endian fields and ZigZag LEB128 ---------------------------------- */

static void hdrlog_put32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void hdrlog_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t hdrlog_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t hdrlog_get64(const uint8_t *p)
{
	return (uint64_t)hdrlog_get32(p) << 32 | hdrlog_get32(p + 4);
}

/* LEB128 of the ZigZag of <v>: 7 bits a byte, low first, at most 9 bytes
 * with the 9th carrying the last 8 bits whole (HdrHistogram's
 * ZigZagEncoding, "LEB128-64b9B").  Returns the bytes written (<= 9). */
static size_t hdrlog_put_varint(uint8_t *p, int64_t v)
{
	uint64_t zz = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	size_t n = 0;

	while (n < 8) {
		if (zz < 0x80) {
			p[n++] = (uint8_t)zz;
			return n;
		}
		p[n++] = (uint8_t)(zz & 0x7f) | 0x80;
		zz >>= 7;
	}
	p[n++] = (uint8_t)zz;
	return n;
}

/* The inverse: bytes consumed, or 0 if <len> ends inside the varint. */
static size_t hdrlog_get_varint(const uint8_t *p, size_t len, int64_t *v)
{
	uint64_t zz = 0;
	size_t n;

	for (n = 0; n < 9 && n < len; n++) {
		if (n == 8) {
			zz |= (uint64_t)p[n] << 56;
			break;
		}
		zz |= (uint64_t)(p[n] & 0x7f) << (7 * n);
		if (!(p[n] & 0x80))
			break;
	}
	if (n == len)
		return 0;
	*v = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
	return n + 1;
}

/* ---- V2 payload ------------------------------------------------------------ */

int hdrlog_encode_v2(const struct hdr *h, uint8_t **out, size_t *len)
{
	size_t limit = 0, n = HDRLOG_HEADER_LEN;
	uint8_t *b;
	uint64_t one;
	double ratio = 1.0;

	for (size_t i = 0; i < h->ncounts; i++)
		if (h->counts[i])
			limit = i + 1;
	b = malloc(HDRLOG_HEADER_LEN + 9 * limit + 1);
	if (!b)
		return IG_ENOMEM;
	for (size_t i = 0; i < limit; i++) {
		int64_t zeros = 0;

		if (!h->counts[i]) {
			/* A run of zero counts is one negative number. */
			while (i + 1 < limit && !h->counts[i + 1]) {
				zeros++;
				i++;
			}
			zeros++;
		}
		n += hdrlog_put_varint(b + n, zeros > 1 ? -zeros :
				       (int64_t)h->counts[i]);
	}
	memcpy(&one, &ratio, sizeof(one));
	hdrlog_put32(b, HDRLOG_COOKIE_V2);
	hdrlog_put32(b + 4, (uint32_t)(n - HDRLOG_HEADER_LEN));
	hdrlog_put32(b + 8, 0);                 /* normalizing index offset */
	hdrlog_put32(b + 12, 3);                /* significant digits */
	hdrlog_put64(b + 16, 1);                /* lowest discernible value */
	hdrlog_put64(b + 24, h->highest);
	hdrlog_put64(b + 32, one);              /* IEEE 754 bits of 1.0 */
	*out = b;
	*len = n;
	return IG_OK;
}

int hdrlog_encode_compressed(const struct hdr *h, uint8_t **out, size_t *len)
{
	uint8_t *raw, *z;
	size_t rlen;
	uLongf zlen;
	int rc;

	if (!hdrlog_zlib_ok())
		return IG_EINTERNAL;
	rc = hdrlog_encode_v2(h, &raw, &rlen);
	if (rc < 0)
		return rc;
	zlen = hdrlog_z.bound((uLong)rlen);
	z = malloc(HDRLOG_ENVELOPE_LEN + zlen);
	if (!z) {
		free(raw);
		return IG_ENOMEM;
	}
	/* A zlib stream (RFC 1950 around RFC 1951 DEFLATE), as Java's
	 * Deflater writes it. */
	rc = hdrlog_z.compress2(z + HDRLOG_ENVELOPE_LEN, &zlen, raw, (uLong)rlen,
				Z_DEFAULT_COMPRESSION);
	free(raw);
	if (rc != Z_OK) {
		free(z);
		return IG_EINTERNAL;
	}
	hdrlog_put32(z, HDRLOG_COOKIE_V2_COMPRESSED);
	hdrlog_put32(z + 4, (uint32_t)zlen);
	*out = z;
	*len = HDRLOG_ENVELOPE_LEN + zlen;
	return IG_OK;
}

/* Rebuild total, min, max and an approximate sum from the counts. */
static void hdrlog_fill_summary(struct hdr *h)
{
	for (size_t i = 0; i < h->ncounts; i++) {
		if (!h->counts[i])
			continue;
		h->total += h->counts[i];
		h->sum += (double)h->counts[i] * (double)hdr_lowest_equiv(i);
		if (h->min == UINT64_MAX)
			h->min = hdr_lowest_equiv(i);
		h->max = hdr_highest_equiv(i);
	}
}

static int hdrlog_decode_v2(const uint8_t *b, size_t len, struct hdr *h,
			    const char **why)
{
	size_t plen, p = HDRLOG_HEADER_LEN, idx = 0;

	IG_ENSURE(len >= HDRLOG_HEADER_LEN, IG_EPROTO, why, "histogram too short");
	IG_ENSURE(HDRLOG_COOKIE_BASE(hdrlog_get32(b)) == 0x1c849303u, IG_EPROTO,
		  why, "not a V2 histogram (cookie)");
	plen = hdrlog_get32(b + 4);
	IG_ENSURE(plen <= len - HDRLOG_HEADER_LEN, IG_EPROTO, why,
		  "histogram payload length beyond the buffer");
	IG_ENSURE(hdrlog_get32(b + 8) == 0, IG_EPROTO, why,
		  "normalizing index offset not supported");
	IG_ENSURE(hdrlog_get32(b + 12) == 3 && hdrlog_get64(b + 16) == 1,
		  IG_EPROTO, why,
		  "histogram layout not 3 significant digits from 1");
	hdr_reset(h);
	while (p < HDRLOG_HEADER_LEN + plen) {
		int64_t v;
		size_t n = hdrlog_get_varint(b + p, HDRLOG_HEADER_LEN + plen - p, &v);

		IG_ENSURE(n, IG_EPROTO, why, "truncated count");
		p += n;
		if (v < 0) {
			IG_ENSURE(v != INT64_MIN && (uint64_t)-v <= h->ncounts - idx,
				  IG_EPROTO, why, "zero run beyond the histogram");
			idx += (size_t)-v;
			continue;
		}
		IG_ENSURE(idx < h->ncounts, IG_EPROTO, why,
			  "counts beyond the histogram's range");
		h->counts[idx++] = (uint64_t)v;
	}
	hdrlog_fill_summary(h);
	return IG_OK;
}

int hdrlog_decode(const uint8_t *buf, size_t len, int compressed,
		  struct hdr *h, const char **why)
{
	uint8_t *raw;
	uLongf rlen = HDRLOG_MAX_PAYLOAD;
	size_t zlen;
	int rc;

	if (!compressed)
		return hdrlog_decode_v2(buf, len, h, why);
	IG_ENSURE(len >= HDRLOG_ENVELOPE_LEN, IG_EPROTO, why, "envelope too short");
	IG_ENSURE(HDRLOG_COOKIE_BASE(hdrlog_get32(buf)) == 0x1c849304u, IG_EPROTO,
		  why, "not a compressed V2 histogram (cookie)");
	zlen = hdrlog_get32(buf + 4);
	IG_ENSURE(zlen <= len - HDRLOG_ENVELOPE_LEN, IG_EPROTO, why,
		  "compressed length beyond the buffer");
	IG_ENSURE(hdrlog_zlib_ok(), IG_EINTERNAL, why, "zlib (libz.so.1) not found");
	/* The payload bound: header plus at most 9 bytes a count. */
	if (rlen > HDRLOG_HEADER_LEN + 9 * h->ncounts)
		rlen = HDRLOG_HEADER_LEN + 9 * h->ncounts;
	raw = malloc(rlen);
	if (!raw)
		return IG_ENOMEM;
	rc = hdrlog_z.uncompress(raw, &rlen, buf + HDRLOG_ENVELOPE_LEN, (uLong)zlen);
	if (rc != Z_OK) {
		free(raw);
		*why = "bad zlib stream";
		return IG_EPROTO;
	}
	rc = hdrlog_decode_v2(raw, rlen, h, why);
	free(raw);
	return rc;
}

/* ---- base64 (RFC 4648 §4): the log's encoding of each histogram ---------- */

char *hdrlog_b64_encode(const uint8_t *in, size_t len)
{
	char *s = malloc(b64_enc_len(len) + 1);

	if (s)
		b64_encode(in, len, s);
	return s;
}

int hdrlog_b64_decode(const char *in, size_t len, uint8_t **out)
{
	uint8_t *b;
	int n;

	if (!len)
		return IG_EPROTO;
	b = malloc(len / 4 * 3 + 3);
	if (!b)
		return IG_ENOMEM;
	n = b64_decode(in, len, b, len / 4 * 3 + 3);
	if (n < 0) {
		free(b);
		return IG_EPROTO;
	}
	*out = b;
	return n;
}

/* ---- the log ------------------------------------------------------------------ */

int hdrlog_write_header(FILE *f, double start_epoch)
{
	char date[64] = "";
	time_t t = (time_t)start_epoch;
	struct tm tm;

	if (!hdrlog_zlib_ok())
		return IG_EINTERNAL;
	if (gmtime_r(&t, &tm))
		strftime(date, sizeof(date), "%a %b %d %H:%M:%S UTC %Y", &tm);
	fprintf(f, "#[Histogram log format version 1.3]\n"
		"#[StartTime: %.3f (seconds since epoch), %s]\n"
		"#[values in microseconds; Interval_Max in milliseconds]\n"
		"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
		"\"Interval_Compressed_Histogram\"\n", start_epoch, date);
	return ferror(f) ? IG_EINTERNAL : IG_OK;
}

int hdrlog_write_interval(FILE *f, double start_s, double len_s,
			  const struct hdr *h)
{
	uint8_t *z;
	size_t zlen;
	char *b64;
	int rc = hdrlog_encode_compressed(h, &z, &zlen);

	if (rc < 0)
		return rc;
	b64 = hdrlog_b64_encode(z, zlen);
	free(z);
	if (!b64)
		return IG_ENOMEM;
	/* µs -> ms with three decimals keeps the exact max. */
	fprintf(f, "%.3f,%.3f,%.3f,%s\n", start_s, len_s,
		h->total ? (double)h->max / 1000.0 : 0.0, b64);
	free(b64);
	return ferror(f) ? IG_EINTERNAL : IG_OK;
}

int hdrlog_read_line(const char *line, double *start_epoch, double *start_s,
		     double *len_s, struct hdr *h, const char **why)
{
	const char *p = line, *b64;
	double max_ms;
	uint8_t *bin;
	size_t blen;
	char *end;
	int n, rc;

	if (*p == '#') {
		if (!strncmp(p, "#[StartTime: ", 13))
			*start_epoch = strtod(p + 13, NULL);
		return 0;
	}
	if (*p == '"' || *p == '\n' || !*p)
		return 0;
	/* An optional "Tag=name," prefix (format 1.3) is skipped. */
	if (!strncmp(p, "Tag=", 4)) {
		p = strchr(p, ',');
		IG_ENSURE(p, IG_EPROTO, why, "tag without fields");
		p++;
	}
	*start_s = strtod(p, &end);
	IG_ENSURE(end != p && *end == ',', IG_EPROTO, why, "bad StartTimestamp");
	p = end + 1;
	*len_s = strtod(p, &end);
	IG_ENSURE(end != p && *end == ',', IG_EPROTO, why, "bad Interval_Length");
	p = end + 1;
	max_ms = strtod(p, &end);
	IG_ENSURE(end != p && *end == ',' && max_ms >= 0, IG_EPROTO, why,
		  "bad Interval_Max");
	b64 = end + 1;
	blen = strcspn(b64, "\r\n");
	n = hdrlog_b64_decode(b64, blen, &bin);
	IG_ENSURE(n != IG_ENOMEM, IG_ENOMEM, why, "out of memory");
	IG_ENSURE(n >= 0, IG_EPROTO, why, "bad base64");
	rc = hdrlog_decode(bin, (size_t)n, 1, h, why);
	free(bin);
	if (rc < 0)
		return rc;
	/* The exact max is in the line; the counts only know its bucket. */
	if (h->total) {
		uint64_t m = (uint64_t)llround(max_ms * 1000.0);
		size_t top = hdr_index_of(h->max);

		if (m >= hdr_lowest_equiv(top) && m <= hdr_highest_equiv(top))
			h->max = m;
	}
	return 1;
}
