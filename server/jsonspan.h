/*
 * jsonspan.h - locating a member's raw value text inside a JSON object.
 * Pure function over bytes; no allocation.
 */
#ifndef HK_JSONSPAN_H
#define HK_JSONSPAN_H

#include "common.h"

/* In s[0..n), a JSON object already known to be valid, finds the value of
 * the top-level member `name` (escaped keys are decoded before comparing):
 * true with s[*start..*end) its exact text, false when absent. */
bool hk_json_member_span(const char *s, size_t n, const char *name,
                         size_t *start, size_t *end);

#endif
