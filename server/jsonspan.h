/*
 * jsonspan.h - JSON text as hookd reads it: locating a member's raw value
 * text inside a JSON object, and parsing any valid JSON into a jansson tree
 * (numbers beyond 64-bit integers and \u0000 in strings included).
 */
#ifndef HK_JSONSPAN_H
#define HK_JSONSPAN_H

#include "common.h"

#include <jansson.h>

/* In s[0..n), a JSON object already known to be valid, finds the value of
 * the top-level member `name` (escaped keys are decoded before comparing):
 * true with s[*start..*end) its exact text, false when absent. */
bool hk_json_member_span(const char *s, size_t n, const char *name,
                         size_t *start, size_t *end);

/* Parses s[0..n) with jansson's flags plus JSON_ALLOW_NUL, so that every
 * valid JSON text is read: an integer beyond 64 bits, which jansson
 * refuses, is read as the nearest double instead (as JSON_DECODE_INT_AS_REAL
 * would, for that number alone); a number beyond a double, too large
 * (1e400) or not zero but too small (1e-400), is kept as its text (see
 * jsonspan.c); a string may hold \u0000. Keys holding
 * \u0000 remain refused (jansson keys are C strings). NULL with err
 * filled when the text is not JSON. The caller owns the tree. */
json_t *hk_json_parse(const char *s, size_t n, size_t flags,
                      json_error_t *err);
/* true when a string anywhere in v (keys are C strings) holds a NUL,
 * a number beyond a double included (it is carried as a string, see
 * jsonspan.c): such a value is no C string. */
bool hk_json_has_nul(const json_t *v);
/* true when v can be stored in a jsonb column: no string in it holds a
 * NUL; numbers beyond a double are fine. */
bool hk_json_jsonb_storable(const json_t *v);
/* json_dumps, writing every number hk_json_parse read beyond a double as
 * its exact text. The caller frees the result. */
char *hk_json_dumps(const json_t *v, size_t flags);

#endif
