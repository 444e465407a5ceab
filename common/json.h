/*
 * json.h - the one JSON string escaper (RFC 8259 §7) of the hand-written
 * JSON: access tokens' claims, audit records, admin answers.  (Documents
 * that are built as trees use jansson.)
 */
#ifndef IG_JSON_H
#define IG_JSON_H
#include <stddef.h>

/* The longest escape of one byte: \u00XX. */
#define JSON_ESC_MAX 6

/* Write the <n> bytes at <s> into <out>, escaped for the inside of a JSON
 * string: '"' and '\\' and the C0 controls and DEL escaped (\b \f \n \r
 * \t, else \u00XX), every other byte copied (UTF-8 passes through).  <out>
 * has room for JSON_ESC_MAX * <n> bytes; no NUL is written.  Returns the
 * number of bytes written. */
size_t json_escape(char *out, const char *s, size_t n);

#endif
