/*
 * common.c - the allocation wrappers that abort in one place on
 * out-of-memory (also handed to jansson), the growable hk_buf, the result
 * names, and the clock and RFC 3339 time helpers. No I/O besides the one
 * log line written right before an out-of-memory abort.
 */
#include "common.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *hk_result_str(enum hk_result r)
{
    switch (r) {
    case HK_OK:
        return "ok";
    case HK_NOT_FOUND:
        return "not_found";
    case HK_INVALID:
        return "invalid";
    case HK_CONFLICT:
        return "conflict";
    case HK_TOO_LARGE:
        return "too_large";
    case HK_DB:
        return "db";
    case HK_UPSTREAM:
        return "upstream";
    case HK_DENIED:
        return "denied";
    case HK_INTERNAL:
        return "internal";
    }
    return "unknown";
}

/* The log module may itself be what ran out of memory, so the last words
 * are written with a plain write(2) of a fixed JSON line. */
static void oom(size_t n)
{
    char line[160];
    int len = snprintf(line, sizeof(line),
                       "{\"level\":\"error\",\"msg\":\"out of memory\","
                       "\"bytes\":\"%zu\"}\n",
                       n);
    if (len > 0) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)len);
        (void)w;
    }
    abort();
}

void *hk_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *hk_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *hk_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *hk_strdup(const char *s)
{
    size_t n = strlen(s);
    char *p = hk_malloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

char *hk_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = hk_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

__attribute__((format(printf, 1, 0))) static char *
vasprintf_heap(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    char *p = hk_malloc((size_t)n + 1);
    if (n > 0)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    else
        p[0] = '\0';
    return p;
}

char *hk_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = vasprintf_heap(fmt, ap);
    va_end(ap);
    return p;
}

/* jansson allocates through these so its out-of-memory aborts too. */
static void *json_malloc_abort(size_t n)
{
    return hk_malloc(n);
}

void hk_json_init(void)
{
    json_set_alloc_funcs(json_malloc_abort, free);
}

int hk_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void hk_buf_init(struct hk_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void hk_buf_cleanup(struct hk_buf *b)
{
    free(b->data);
    hk_buf_init(b);
}

void hk_buf_reset(struct hk_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Makes room for extra more bytes plus the terminating NUL. */
static void buf_reserve(struct hk_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        oom(SIZE_MAX);
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = hk_realloc(b->data, cap);
    b->cap = cap;
}

void hk_buf_append(struct hk_buf *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void hk_buf_puts(struct hk_buf *b, const char *s)
{
    hk_buf_append(b, s, strlen(s));
}

void hk_buf_printf(struct hk_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n > 0) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
    } else {
        buf_reserve(b, 0);
        b->data[b->len] = '\0';
    }
    va_end(ap);
}

char *hk_buf_steal(struct hk_buf *b)
{
    char *p = b->data;
    if (!p)
        p = hk_strdup("");
    hk_buf_init(b);
    return p;
}

int64_t hk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hk_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Floor division so times before 1970 still format correctly. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

void hk_format_time(int64_t unix_ms, char *out, size_t outlen)
{
    int64_t secs = floor_div(unix_ms, 1000);
    int ms = (int)(unix_ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, outlen, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ms);
}

/* Reads exactly n digits at *p into *v and advances *p. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so parsing does not depend on the process's TZ. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

bool hk_parse_time(const char *s, int64_t *unix_ms)
{
    if (!s)
        return false;
    const char *p = s;
    int y, mo, d, h, mi, se;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
        *p++ != '-' || !digits(&p, 2, &d))
        return false;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return false;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) ||
        *p++ != ':' || !digits(&p, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || se > 60)
        return false;
    int ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3)
                ms = ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return false;
        for (int i = nd; i < 3; i++)
            ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        int oh, om;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) ||
            oh > 23 || om > 59)
            return false;
        offset_min = sign * (oh * 60 + om);
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    if (se == 60)
        se = 59; /* a leap second is folded into the second before it */
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs =
        days * 86400 + h * 3600 + mi * 60 + se - (int64_t)offset_min * 60;
    *unix_ms = secs * 1000 + ms;
    return true;
}
