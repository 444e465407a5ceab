/*
 * hex.h - lowercase hexadecimal, the one spelling the project writes and
 * accepts (audit hashes, key ids).
 */
#ifndef IG_HEX_H
#define IG_HEX_H
#include <stddef.h>
#include <stdint.h>

/* 2 * <n> lowercase digits of <in> into <out>, without a NUL. */
void hex_encode(const uint8_t *in, size_t n, char *out);

/* <n> lowercase digits of <s> into <out> (room for <cap> bytes); returns
 * the byte count, or -1 for an odd or empty length, too long an input, or
 * any other character. */
int hex_decode(const char *s, size_t n, uint8_t *out, size_t cap);

#endif
