/*
 * log.c - structured logging: each call writes one JSON object on one line
 * to stderr, {"ts":"<RFC 3339 ms>","level":"...","msg":"...",<pairs>}.
 * Lines are built in a private buffer and written under one mutex so
 * threads never interleave. Messages below the configured level are
 * dropped before any formatting.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static atomic_int min_level = HK_LOG_INFO;
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void hk_log_set_level(enum hk_log_level l)
{
    atomic_store(&min_level, (int)l);
}

bool hk_log_enabled(enum hk_log_level l)
{
    return (int)l >= atomic_load(&min_level);
}

bool hk_log_parse_level(const char *s, enum hk_log_level *out)
{
    if (!s)
        return false;
    for (size_t i = 0; i < HK_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum hk_log_level)i;
            return true;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = HK_LOG_WARN;
        return true;
    }
    return false;
}

/* Appends s as a JSON string literal, quotes included. */
static void put_json_string(struct hk_buf *b, const char *s)
{
    hk_buf_append(b, "\"", 1);
    if (!s)
        s = "";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            hk_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            hk_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            hk_buf_append(b, "\\n", 2);
            break;
        case '\r':
            hk_buf_append(b, "\\r", 2);
            break;
        case '\t':
            hk_buf_append(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                hk_buf_printf(b, "\\u%04x", *p);
            else
                hk_buf_append(b, p, 1);
        }
    }
    hk_buf_append(b, "\"", 1);
}

void hk_log(enum hk_log_level l, const char *msg, ...)
{
    if ((int)l < atomic_load(&min_level))
        return;
    if ((int)l < 0 || (size_t)l >= HK_ARRAY_LEN(level_names))
        l = HK_LOG_ERROR;

    char ts[40];
    hk_format_time(hk_now_ms(), ts, sizeof(ts));

    struct hk_buf b;
    hk_buf_init(&b);
    hk_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts,
                  level_names[l]);
    put_json_string(&b, msg);

    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        const char *value = va_arg(ap, const char *);
        hk_buf_append(&b, ",", 1);
        put_json_string(&b, key);
        hk_buf_append(&b, ":", 1);
        if (value)
            put_json_string(&b, value);
        else
            hk_buf_puts(&b, "null");
    }
    va_end(ap);
    hk_buf_append(&b, "}\n", 2);

    pthread_mutex_lock(&log_mutex);
    fwrite(b.data, 1, b.len, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_mutex);
    hk_buf_cleanup(&b);
}
