/*
 * json.c - the JSON string escaper (see json.h).
 */
#include "json.h"

size_t json_escape(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char short_form = 0;

		switch (c) {
		case '"': short_form = '"'; break;
		case '\\': short_form = '\\'; break;
		case '\b': short_form = 'b'; break;
		case '\f': short_form = 'f'; break;
		case '\n': short_form = 'n'; break;
		case '\r': short_form = 'r'; break;
		case '\t': short_form = 't'; break;
		}
		if (short_form) {
			*p++ = '\\';
			*p++ = short_form;
		} else if (c < 0x20 || c == 0x7f) {
			*p++ = '\\';
			*p++ = 'u';
			*p++ = '0';
			*p++ = '0';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else {
			*p++ = (char)c;
		}
	}
	return (size_t)(p - out);
}
