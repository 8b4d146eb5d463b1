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

/* A uuid's 16 bytes, and lists of them back to back in a struct hk_buf:
 * the dispatcher keeps the ids it holds this way so that each claim hands
 * PostgreSQL its uuid[] (hk_pgbin_uuids) without writing or parsing text. */
#define HK_UUID_BYTES 16
/* The bytes of a uuid's canonical text; false when text is not one. */
bool hk_uuid_bin(const char *text, unsigned char out[HK_UUID_BYTES]);
/* Appends one id to a list. */
void hk_uuids_add(struct hk_buf *list, const unsigned char id[HK_UUID_BYTES]);
/* Whether the list holds id. */
bool hk_uuids_has(const struct hk_buf *list,
                  const unsigned char id[HK_UUID_BYTES]);

/* Cursor: opaque URL-safe text for the id of the last row of a page.
 * encode writes into out (at least 64 bytes); decode returns false when the
 * cursor is not one of ours. */
void hk_cursor_encode(const char *last_id, char *out, size_t outlen);
bool hk_cursor_decode(const char *cursor, char out[HK_UUID_STRLEN]);

#endif
