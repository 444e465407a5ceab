/*
 * hdrlog_test.c - the HdrHistogram V2 encoding and the v1.3 log: what is
 * encoded decodes to the same counts and percentiles (plain and
 * compressed, through a log line), ZigZag LEB128 at its edges (9-byte
 * counts, zero runs), base64 padding, and every rejection: bad cookies,
 * truncated or overlong payloads, foreign layouts, bad base64 and fields.
 *
 * The Makefile links only hdr_test, sched_test and signer_test against the
 * load generator's archive (LG_UNIT); until this test is listed there it
 * compiles the two sources it tests into itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/result.h"
#include "../../loadgen/hdr.c"
#include "../../loadgen/hdrlog.c"
#include "check.h"

static int same(const struct hdr *a, const struct hdr *b)
{
	static const double ps[] = { 1, 50, 90, 99, 99.9, 99.99 };

	if (a->total != b->total)
		return 0;
	for (size_t i = 0; i < a->ncounts; i++)
		if (a->counts[i] != b->counts[i])
			return 0;
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		if (hdr_percentile(a, ps[i]) != hdr_percentile(b, ps[i]))
			return 0;
	return 1;
}

static void test_round_trip(void)
{
	struct hdr h, d;
	uint8_t *buf;
	size_t len;
	const char *why = NULL;
	uint64_t x = 88172645463325252ull;

	CHECK_EQ(hdr_init(&h, 60000000), IG_OK);
	CHECK_EQ(hdr_init(&d, 60000000), IG_OK);
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		hdr_record(&h, 100 + x % 5000 + (i % 97 == 0 ? x % 3000000 : 0));
	}
	hdr_record_n(&h, 7, (uint64_t)1 << 60);         /* a 9-byte varint */
	hdr_record(&h, 0);
	CHECK_EQ(hdrlog_encode_v2(&h, &buf, &len), IG_OK);
	CHECK_EQ(hdrlog_get32(buf), 0x1c849313);
	CHECK_EQ(hdrlog_get32(buf + 4), len - 40);
	CHECK_EQ(hdrlog_decode(buf, len, 0, &d, &why), IG_OK);
	CHECK(same(&h, &d));
	/* truncation anywhere in the counts is refused */
	hdrlog_put32(buf + 4, (uint32_t)(len - 40 + 1));
	CHECK_EQ(hdrlog_decode(buf, len, 0, &d, &why), IG_EPROTO);
	hdrlog_put32(buf + 4, (uint32_t)(len - 40));
	buf[12] = 0;
	buf[15] = 2;                                    /* 2 digits: not ours */
	CHECK_EQ(hdrlog_decode(buf, len, 0, &d, &why), IG_EPROTO);
	CHECK_STR(why, "histogram layout not 3 significant digits from 1");
	buf[15] = 3;
	buf[11] = 1;                                    /* normalizing offset */
	CHECK_EQ(hdrlog_decode(buf, len, 0, &d, &why), IG_EPROTO);
	buf[11] = 0;
	buf[0] ^= 1;
	CHECK_EQ(hdrlog_decode(buf, len, 0, &d, &why), IG_EPROTO);
	CHECK_STR(why, "not a V2 histogram (cookie)");
	CHECK_EQ(hdrlog_decode(buf, 39, 0, &d, &why), IG_EPROTO);
	free(buf);

	if (!hdrlog_zlib_ok()) {
		fprintf(stderr, "hdrlog_test: no libz.so.1, compressed part skipped\n");
	} else {
		CHECK_EQ(hdrlog_encode_compressed(&h, &buf, &len), IG_OK);
		CHECK_EQ(hdrlog_get32(buf), 0x1c849314);
		CHECK_EQ(hdrlog_get32(buf + 4), len - 8);
		hdr_reset(&d);
		CHECK_EQ(hdrlog_decode(buf, len, 1, &d, &why), IG_OK);
		CHECK(same(&h, &d));
		buf[len - 1] ^= 0xff;                   /* adler32 */
		CHECK_EQ(hdrlog_decode(buf, len, 1, &d, &why), IG_EPROTO);
		CHECK_STR(why, "bad zlib stream");
		CHECK_EQ(hdrlog_decode(buf, len - 1, 1, &d, &why), IG_EPROTO);
		CHECK_STR(why, "compressed length beyond the buffer");
		CHECK_EQ(hdrlog_decode(buf, len, 0, &d, &why), IG_EPROTO);
		free(buf);
	}
	hdr_free(&h);
	hdr_free(&d);
}

static void test_zero_runs(void)
{
	struct hdr h, d;
	uint8_t *buf, two[64];
	size_t len, n;
	const char *why;
	int64_t v;

	/* -3 is ZigZag 5, 300 is 600 = 0xd8 0x04 */
	CHECK_EQ(hdrlog_put_varint(two, -3), 1);
	CHECK_EQ(two[0], 5);
	CHECK_EQ(hdrlog_put_varint(two, 300), 2);
	CHECK(two[0] == 0xd8 && two[1] == 0x04);
	CHECK_EQ(hdrlog_put_varint(two, INT64_MIN), 9);
	CHECK_EQ(hdrlog_get_varint(two, 9, &v), 9);
	CHECK(v == INT64_MIN);
	CHECK_EQ(hdrlog_get_varint(two, 8, &v), 0);
	CHECK_EQ(hdr_init(&h, 60000000), IG_OK);
	CHECK_EQ(hdr_init(&d, 60000000), IG_OK);
	hdr_record(&h, 5);
	hdr_record(&h, 1000000);
	CHECK_EQ(hdrlog_encode_v2(&h, &buf, &len), IG_OK);
	/* 5 zeros, count 1, one long zero run, count 1 */
	n = 40;
	CHECK_EQ(hdrlog_get_varint(buf + n, len - n, &v), 1);
	CHECK_EQ(v, -5);
	CHECK_EQ(hdrlog_get_varint(buf + 41, len - 41, &v), 1);
	CHECK_EQ(v, 1);
	CHECK_EQ(hdrlog_decode(buf, len, 0, &d, &why), IG_OK);
	/* The payload knows the max only to its bucket (the highest value
	 * equivalent); the exact max travels in the log line. */
	CHECK_EQ(d.max, hdr_highest_equiv(hdr_index_of(1000000)));
	d.max = h.max;
	CHECK(same(&h, &d));
	CHECK_EQ(d.min, 5);
	free(buf);
	/* a zero run or count past the histogram's end is refused */
	memset(two, 0, sizeof(two));
	memcpy(two, "\x1c\x84\x93\x13", 4);
	two[15] = 3;
	two[23] = 1;
	n = hdrlog_put_varint(two + 40, -100000);
	two[7] = (uint8_t)n;
	CHECK_EQ(hdrlog_decode(two, 40 + n, 0, &d, &why), IG_EPROTO);
	CHECK_STR(why, "zero run beyond the histogram");
	n = hdrlog_put_varint(two + 40, -(int64_t)d.ncounts);
	n += hdrlog_put_varint(two + 40 + n, 1);
	two[7] = (uint8_t)n;
	CHECK_EQ(hdrlog_decode(two, 40 + n, 0, &d, &why), IG_EPROTO);
	CHECK_STR(why, "counts beyond the histogram's range");
	two[40] = 0x80;                                 /* unfinished varint */
	two[7] = 1;
	CHECK_EQ(hdrlog_decode(two, 41, 0, &d, &why), IG_EPROTO);
	CHECK_STR(why, "truncated count");
	hdr_free(&h);
	hdr_free(&d);
}

static void test_base64(void)
{
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==" };
	uint8_t *out;
	char *s;

	for (size_t i = 0; i < 5; i++) {
		s = hdrlog_b64_encode((const uint8_t *)"foob", i);
		CHECK(s && !strcmp(s, enc[i]));
		free(s);
	}
	CHECK_EQ(hdrlog_b64_decode("Zm9vYg==", 8, &out), 4);
	CHECK(!memcmp(out, "foob", 4));
	free(out);
	CHECK_EQ(hdrlog_b64_decode("Zm9", 3, &out), IG_EPROTO);
	CHECK_EQ(hdrlog_b64_decode("Zm=v", 4, &out), IG_EPROTO);
	CHECK_EQ(hdrlog_b64_decode("Z!9v", 4, &out), IG_EPROTO);
	CHECK_EQ(hdrlog_b64_decode("Zg==Zm9v", 8, &out), IG_EPROTO);
	CHECK_EQ(hdrlog_b64_decode("", 0, &out), IG_EPROTO);
}

static void test_log(void)
{
	struct hdr h, d;
	char *text = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&text, &tlen);
	double epoch = 0, start = -1, len = -1;
	const char *why = NULL;
	char *line, *save = NULL;
	int intervals = 0;

	if (!hdrlog_zlib_ok()) {
		fclose(f);
		free(text);
		return;
	}
	CHECK_EQ(hdr_init(&h, 60000000), IG_OK);
	CHECK_EQ(hdr_init(&d, 60000000), IG_OK);
	for (uint64_t v = 1; v < 2000000; v = v * 3 + 1)
		hdr_record(&h, v);
	hdr_record(&h, 1234567);        /* exact max, inside a wide bucket */
	CHECK_EQ(hdrlog_write_header(f, 1700000000.25), IG_OK);
	CHECK_EQ(hdrlog_write_interval(f, 0.0, 1.0, &h), IG_OK);
	CHECK_EQ(hdrlog_write_interval(f, 1.0, 0.5, &h), IG_OK);
	fclose(f);
	CHECK(!strncmp(text, "#[Histogram log format version 1.3]\n#[StartTime: "
		       "1700000000.250 (seconds since epoch), ", 76));
	CHECK(strstr(text, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
		     "\"Interval_Compressed_Histogram\"\n") != NULL);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int rc = hdrlog_read_line(line, &epoch, &start, &len, &d, &why);

		CHECK(rc >= 0);
		if (rc == 1) {
			intervals++;
			CHECK(same(&h, &d));
			CHECK_EQ(d.max, 1234567);
		}
	}
	CHECK_EQ(intervals, 2);
	CHECK(epoch == 1700000000.25 && start == 1.0 && len == 0.5);
	CHECK_EQ(hdrlog_read_line("1.0,1.0,2.0,Zm9v", &epoch, &start, &len, &d, &why),
		 IG_EPROTO);
	CHECK_STR(why, "envelope too short");
	CHECK_EQ(hdrlog_read_line("1.0,x,2.0,Zm9v", &epoch, &start, &len, &d, &why),
		 IG_EPROTO);
	CHECK_STR(why, "bad Interval_Length");
	CHECK_EQ(hdrlog_read_line("1.0,1.0,2.0,Zm9", &epoch, &start, &len, &d, &why),
		 IG_EPROTO);
	CHECK_STR(why, "bad base64");
	CHECK_EQ(hdrlog_read_line("Tag=a", &epoch, &start, &len, &d, &why), IG_EPROTO);
	free(text);
	hdr_free(&h);
	hdr_free(&d);
}

int main(void)
{
	test_round_trip();
	test_zero_runs();
	test_base64();
	test_log();
	return check_done("hdrlog");
}
