/*
 * ids.c - identifiers: UUID version 7 (RFC 9562: 48-bit Unix ms timestamp,
 * version 7, a 12-bit counter in rand_a, variant 10, 62 random bits) that
 * sort by creation time and are strictly increasing within one process,
 * and the opaque list cursors built from the last id of a page.
 */
#include "ids.h"
#include "crypto.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#define CURSOR_PREFIX "v1:"
#define CURSOR_MAX 64

static pthread_mutex_t uuid_mutex = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_ms = -1;
static uint16_t counter;

void hk_uuid7(char out[HK_UUID_STRLEN])
{
    uuid_t u;
    hk_random_public(u, sizeof(u));
    int64_t now = hk_now_ms();

    pthread_mutex_lock(&uuid_mutex);
    if (now > last_ms) {
        last_ms = now;
        /* A random start with the top bit clear leaves at least 2048
         * increments before the counter spills into the timestamp. */
        counter = (uint16_t)(((unsigned)u[6] << 8 | u[7]) & 0x7ff);
    } else {
        /* Same millisecond, or the wall clock stepped back: keep counting
         * from the last id so order holds. */
        counter++;
        if (counter > 0xfff) {
            last_ms++;
            counter = 0;
        }
    }
    int64_t ms = last_ms;
    uint16_t c = counter;
    pthread_mutex_unlock(&uuid_mutex);

    for (int i = 0; i < 6; i++)
        u[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
    u[6] = (unsigned char)(0x70 | (c >> 8));
    u[7] = (unsigned char)(c & 0xff);
    u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));
    uuid_unparse_lower(u, out);
}

/* Reads the hex itself: libuuid's uuid_parse converts each byte with a
 * strtoul call, and a claim reads two ids a row. */
bool hk_uuid_bin(const char *text, unsigned char out[HK_UUID_BYTES])
{
    if (text == NULL)
        return false;
    const char *s = text;
    for (int i = 0; i < HK_UUID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            if (*s != '-')
                return false;
            s++;
        }
        int hi = hk_hexval(s[0]);
        int lo = hi < 0 ? -1 : hk_hexval(s[1]);
        if (lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
        s += 2;
    }
    return *s == '\0';
}

void hk_uuids_add(struct hk_buf *list, const unsigned char id[HK_UUID_BYTES])
{
    hk_buf_append(list, id, HK_UUID_BYTES);
}

bool hk_uuids_has(const struct hk_buf *list,
                  const unsigned char id[HK_UUID_BYTES])
{
    for (size_t at = 0; at + HK_UUID_BYTES <= list->len; at += HK_UUID_BYTES)
        if (memcmp(list->data + at, id, HK_UUID_BYTES) == 0)
            return true;
    return false;
}

/* Canonical lower-case UUID text of any version. */
static bool uuid_text(const char *s)
{
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return s[36] == '\0';
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* URL-safe base64 without padding of n bytes into out (room checked by
 * the callers: 4 * ceil(n / 3) + 1). */
static void b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
}

void hk_cursor_encode(const char *last_id, char *out, size_t outlen)
{
    char plain[CURSOR_MAX];
    int n = snprintf(plain, sizeof(plain), CURSOR_PREFIX "%s", last_id);
    size_t need = n > 0 ? 4 * (((size_t)n + 2) / 3) + 1 : 1;
    if (n < 0 || (size_t)n >= sizeof(plain) || need > outlen) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    b64url_encode((const unsigned char *)plain, (size_t)n, out);
}

bool hk_cursor_decode(const char *cursor, char out[HK_UUID_STRLEN])
{
    if (!cursor)
        return false;
    size_t n = strlen(cursor);
    if (n == 0 || n > CURSOR_MAX || n % 4 == 1)
        return false;
    unsigned char plain[CURSOR_MAX];
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *pos = strchr(b64url, cursor[i]);
        if (!pos || cursor[i] == '\0')
            return false;
        acc = (acc << 6) | (uint32_t)(pos - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            plain[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* stray bits: not a spelling encode produces */
        return false;
    size_t plen = strlen(CURSOR_PREFIX);
    if (o != plen + 36 || memcmp(plain, CURSOR_PREFIX, plen) != 0)
        return false;
    char id[HK_UUID_STRLEN];
    memcpy(id, plain + plen, 36);
    id[36] = '\0';
    if (!uuid_text(id))
        return false;
    memcpy(out, id, HK_UUID_STRLEN);
    return true;
}
