/*
 * common.h - the one result type of hookd, the allocation wrappers that
 * abort on out-of-memory, and the few macros every module uses. Nothing here
 * does I/O; every other module may include it.
 */
#ifndef HK_COMMON_H
#define HK_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HK_VERSION "0.1.0"

/* Every fallible function returns one of these; results come back through
 * out-parameters. Only the HTTP layer maps them to status codes. */
enum hk_result {
    HK_OK = 0,
    HK_NOT_FOUND,   /* no such object (or not this tenant's) */
    HK_INVALID,     /* input failed validation */
    HK_CONFLICT,    /* unique name taken, idempotency mismatch, state */
    HK_TOO_LARGE,   /* input over a size cap */
    HK_DB,          /* the database failed or is unreachable */
    HK_UPSTREAM,    /* a remote peer failed */
    HK_DENIED,      /* refused by policy (address guard, auth) */
    HK_INTERNAL     /* a bug or an impossible state */
};

const char *hk_result_str(enum hk_result r);

/* Allocation: these never return NULL; out-of-memory aborts the process
 * in one place with a log line. Free with free(). */
void *hk_malloc(size_t n);
void *hk_calloc(size_t n, size_t size);
void *hk_realloc(void *p, size_t n);
char *hk_strdup(const char *s);
char *hk_strndup(const char *s, size_t n);
/* Gives jansson the allocators above; call once before any json_ use. */
void hk_json_init(void);
/* printf into a fresh heap string; caller frees. */
char *hk_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The value of a hex digit (either case), -1 for any other character. */
int hk_hexval(char c);

/* Growable byte buffer, always NUL-terminated. Caller's storage:
 * hk_buf_init / hk_buf_cleanup. */
struct hk_buf {
    char *data;
    size_t len;
    size_t cap;
};
void hk_buf_init(struct hk_buf *b);
void hk_buf_cleanup(struct hk_buf *b);
void hk_buf_reset(struct hk_buf *b);
void hk_buf_append(struct hk_buf *b, const void *data, size_t n);
void hk_buf_puts(struct hk_buf *b, const char *s);
void hk_buf_printf(struct hk_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the buffer's memory to the caller (free()); the buffer is empty. */
char *hk_buf_steal(struct hk_buf *b);

/* Monotonic and wall clocks in milliseconds. */
int64_t hk_now_ms(void);
int64_t hk_mono_ms(void);

/* Formats a Unix time in milliseconds as RFC 3339 UTC with milliseconds,
 * "2026-11-22T10:04:05.123Z", into out (at least 32 bytes). */
void hk_format_time(int64_t unix_ms, char *out, size_t outlen);
/* The last millisecond of year 9999 UTC, the latest RFC 3339 time. */
#define HK_TIME_MAX_MS 253402300799999LL
/* Parses RFC 3339 (Z or +hh:mm offset, optional fraction) into Unix ms. */
bool hk_parse_time(const char *s, int64_t *unix_ms);

#define HK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define HK_MUST_CHECK __attribute__((warn_unused_result))

#endif
