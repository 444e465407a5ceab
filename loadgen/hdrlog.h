/*
 * hdrlog.h - histograms in the HdrHistogram log format v1.3 (interval
 * logs readable by HdrHistogram's HistogramLogReader / HistogramLogProcessor
 * and by `idgate-load hdr-decode`).  Own implementation, from the format's
 * public description.
 *
 * A log is text: the "#[Histogram log format version 1.3]" and
 * "#[StartTime: <s since epoch> (seconds since epoch), <date>]" comments, a
 * CSV header "StartTimestamp","Interval_Length","Interval_Max",
 * "Interval_Compressed_Histogram", then one line per interval:
 *   <start s from StartTime>,<length s>,<max in ms>,<base64>
 * The base64 holds a compressed V2 histogram, all integers big-endian:
 *   envelope: cookie 0x1c849314 (0x1c849304 | word-size byte 0x10),
 *             int32 length of the zlib stream, then the zlib stream of
 *   payload:  cookie 0x1c849313 (0x1c849303 | 0x10), int32 length of the
 *             counts, int32 normalizing index offset (0), int32 significant
 *             digits (3), int64 lowest discernible value (1), int64 highest
 *             trackable value, float64 integer-to-double ratio (1.0), then
 *             the counts array as ZigZag LEB128 varints (at most 9 bytes,
 *             the 9th carrying 8 bits) in which a negative value -n stands
 *             for n consecutive zero counts.
 * Values are microseconds (Interval_Max is printed in milliseconds, the
 * Java writer's default 1e3 ratio for µs-valued histograms); the hdr.c
 * layout (lowest 1, 2048 sub-buckets) is exactly HdrHistogram's layout for
 * 3 significant digits, so counts indices map one to one.
 *
 * zlib is loaded at run time (dlopen "libz.so.1", Debian's zlib1g) so the
 * load generator links without -lz; hdrlog_zlib_ok says whether it is
 * there.  Without it nothing can be written: the log is refused, never
 * written uncompressed under a cookie that claims compression.
 */
#ifndef LG_HDRLOG_H
#define LG_HDRLOG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hdr.h"

#define HDRLOG_COOKIE_V2 0x1c849313u            /* 0x1c849303 | 0x10 */
#define HDRLOG_COOKIE_V2_COMPRESSED 0x1c849314u /* 0x1c849304 | 0x10 */
#define HDRLOG_COOKIE_BASE(c) ((c) & ~0xf0u)

/* 1 if zlib could be loaded (then compression works), else 0. */
int hdrlog_zlib_ok(void);

/* The uncompressed V2 payload of <h> into a malloc'd buffer: IG_OK with
 * <*out>, <*len>, or IG_ENOMEM. */
int hdrlog_encode_v2(const struct hdr *h, uint8_t **out, size_t *len);

/* The compressed envelope (what a log line's base64 carries). IG_OK,
 * IG_ENOMEM, or IG_EINTERNAL (no zlib). */
int hdrlog_encode_compressed(const struct hdr *h, uint8_t **out, size_t *len);

/* Decode a V2 payload (<compressed> 0) or a compressed envelope (1) into
 * <h>, which must be hdr_init'ed and is reset first.  IG_OK, or IG_EPROTO
 * with <*why> (bad cookie, lengths, varint, a layout other than ours,
 * counts beyond <h>'s range), IG_EINTERNAL (no zlib). */
int hdrlog_decode(const uint8_t *buf, size_t len, int compressed,
		  struct hdr *h, const char **why);

/* Base64 (RFC 4648 §4, padded).  Encode returns a malloc'd string or NULL;
 * decode returns the length written into malloc'd <*out>, or IG_EPROTO. */
char *hdrlog_b64_encode(const uint8_t *in, size_t len);
int hdrlog_b64_decode(const char *in, size_t len, uint8_t **out);

/* Writer: the header at <start_epoch> (s since the epoch), then intervals.
 * Return IG_OK or IG_EINTERNAL / IG_ENOMEM (write error, no zlib). */
int hdrlog_write_header(FILE *f, double start_epoch);
int hdrlog_write_interval(FILE *f, double start_s, double len_s,
			  const struct hdr *h);

/* Reader: one line of a log.  Returns 1 and fills <start_s>, <len_s> and
 * <h> for an interval line, 0 for a comment or the CSV header (with
 * <*start_epoch> set from a StartTime comment), IG_EPROTO with <*why>. */
int hdrlog_read_line(const char *line, double *start_epoch, double *start_s,
		     double *len_s, struct hdr *h, const char **why);

#endif
