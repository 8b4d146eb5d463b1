/*
 * ids.h - UUID version 7 generation (time-ordered, via libuuid's buffer and
 * text helpers) and opaque list cursors. No I/O besides random bytes.
 */
#ifndef HK_IDS_H
#define HK_IDS_H

#include "common.h"

#define HK_UUID_STRLEN 37 /* 36 + NUL */

/* Writes a new UUIDv7 in canonical lower-case text form into out.
 * Monotonic within one process. */
void hk_uuid7(char out[HK_UUID_STRLEN]);

/* Cursor: opaque URL-safe text for the id of the last row of a page.
 * encode writes into out (at least 64 bytes); decode returns false when the
 * cursor is not one of ours. */
void hk_cursor_encode(const char *last_id, char *out, size_t outlen);
bool hk_cursor_decode(const char *cursor, char out[HK_UUID_STRLEN]);

#endif
