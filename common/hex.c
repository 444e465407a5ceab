/*
 * hex.c - lowercase hexadecimal.  See hex.h.
 */
#include "hex.h"

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
}

int hex_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	if (n == 0 || n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int c = s[i], v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return -1;
		if (i & 1)
			out[i / 2] = (uint8_t)(out[i / 2] << 4 | v);
		else
			out[i / 2] = (uint8_t)v;
	}
	return (int)(n / 2);
}
