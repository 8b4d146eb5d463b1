/*
 * validate.h - input rules shared by the API handlers: event type names and
 * filters, endpoint URLs, extra header names and values, UUID text, names.
 * Pure functions; each failure fills a message for the API error body.
 */
#ifndef HK_VALIDATE_H
#define HK_VALIDATE_H

#include "common.h"

/* Each returns true when valid; on false, writes a short human message
 * (no field name) into msg. */
bool hk_valid_event_type_name(const char *s, char *msg, size_t msglen);
/* A filter entry: a type name, "prefix.*", or "*". */
bool hk_valid_event_type_filter(const char *s, char *msg, size_t msglen);
/* true when event type name matches filter entry f. */
bool hk_filter_matches(const char *f, const char *type);
/* Appends to out, as a PostgreSQL array literal, every filter entry that
 * matches the valid event type name `type` ("*", the name, and "a.*" for
 * each of its dotted prefixes): an endpoint matches when its filter list
 * is empty or shares an entry with this one. */
void hk_event_type_patterns(const char *type, struct hk_buf *out);
/* Absolute http/https URL, <= 2048 chars, host present, no userinfo, no
 * whitespace or control characters. When allow_private is false, a host that
 * is a literal loopback/private/... address is refused. */
bool hk_valid_url(const char *s, bool allow_private, char *msg, size_t msglen);
/* Extra header name (RFC 7230 token, <= 256) that is not hop-by-hop, Host,
 * Content-*, webhook-*, User-Agent or Authorization-less (Authorization is
 * allowed). */
bool hk_valid_header_name(const char *s, char *msg, size_t msglen);
/* Header value: printable ASCII / tab, no CR/LF, <= 4096 chars. */
bool hk_valid_header_value(const char *s, char *msg, size_t msglen);
/* Canonical lower-case UUID text, 36 chars. */
bool hk_valid_uuid(const char *s);
/* A display name: 1..200 bytes of valid UTF-8 without control characters. */
bool hk_valid_name(const char *s, char *msg, size_t msglen);
/* Valid UTF-8 check over n bytes. */
bool hk_valid_utf8(const char *s, size_t n);

#endif
