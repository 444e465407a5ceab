/*
 * json_test.c - the JSON string escaper: every byte 0..255 alone, checked
 * against RFC 8259 §7's rules and parsed back by jansson (an independent
 * parser) inside quotes.
 */
#include <jansson.h>
#include <string.h>

#include "../../common/json.h"
#include "check.h"

int main(void)
{
	char out[JSON_ESC_MAX * 256 + 3];
	char all[256];
	size_t n;
	json_t *v;

	for (int c = 1; c < 256; c++) {
		char in = (char)c;

		out[0] = '"';
		n = json_escape(out + 1, &in, 1);
		CHECK(n >= 1 && n <= JSON_ESC_MAX);
		out[n + 1] = '"';
		if (c < 0x80) {
			/* ASCII: jansson gives the byte back */
			v = json_loadb(out, n + 2, JSON_DECODE_ANY, NULL);
			CHECK(v && json_string_length(v) == 1 && json_string_value(v)[0] == in);
			json_decref(v);
		} else {
			CHECK_EQ(n, 1); /* UTF-8 bytes pass through */
		}
		if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f)
			CHECK(out[1] == '\\');
	}
	CHECK_EQ(json_escape(out, "a\"b\\c\nd\x01", 8), 16);
	CHECK(memcmp(out, "a\\\"b\\\\c\\nd\\u0001", 16) == 0);
	/* a whole UTF-8 text round-trips */
	for (int i = 0; i < 255; i++)
		all[i] = (char)(i % 0x7f + 1);
	out[0] = '"';
	n = json_escape(out + 1, all, 255);
	out[n + 1] = '"';
	v = json_loadb(out, n + 2, JSON_DECODE_ANY, NULL);
	CHECK(v && json_string_length(v) == 255 && !memcmp(json_string_value(v), all, 255));
	json_decref(v);
	CHECK_EQ(json_escape(out, "", 0), 0);
	return check_done("json");
}
