/*
 * test_common.c - unit tests of common.c and log.c: result names, the heap
 * string helpers, the growable buffer, RFC 3339 formatting and parsing, and
 * the JSON log line (valid JSON, escaped values, level filter).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common.h"
#include "log.h"

static void test_result_str(void **state)
{
    (void)state;
    assert_string_equal(hk_result_str(HK_OK), "ok");
    assert_string_equal(hk_result_str(HK_NOT_FOUND), "not_found");
    assert_string_equal(hk_result_str(HK_INTERNAL), "internal");
    assert_string_equal(hk_result_str((enum hk_result)99), "unknown");
}

static void test_strings(void **state)
{
    (void)state;
    char *s = hk_asprintf("%s-%d", "abc", 42);
    assert_string_equal(s, "abc-42");
    free(s);
    s = hk_asprintf("%s", "");
    assert_string_equal(s, "");
    free(s);
    s = hk_strndup("hello", 3);
    assert_string_equal(s, "hel");
    free(s);
    s = hk_strndup("hi", 10);
    assert_string_equal(s, "hi");
    free(s);
    s = hk_strdup("x");
    assert_string_equal(s, "x");
    free(s);
}

static void test_buf(void **state)
{
    (void)state;
    struct hk_buf b;
    hk_buf_init(&b);
    assert_int_equal(b.len, 0);
    hk_buf_puts(&b, "hello");
    hk_buf_append(&b, ", ", 2);
    hk_buf_printf(&b, "%s %d", "world", 7);
    assert_string_equal(b.data, "hello, world 7");
    assert_int_equal(b.len, strlen("hello, world 7"));

    /* Growth across many reallocations keeps every byte. */
    hk_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    for (int i = 0; i < 10000; i++)
        hk_buf_printf(&b, "%04d", i % 10000);
    assert_int_equal(b.len, 40000);
    assert_memory_equal(b.data + 4 * 1234, "1234", 4);
    assert_int_equal(b.data[b.len], '\0');

    /* Embedded NUL bytes are kept and counted. */
    hk_buf_reset(&b);
    hk_buf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);

    char *owned = hk_buf_steal(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_memory_equal(owned, "a\0b", 4);
    free(owned);

    /* Stealing an empty buffer gives an empty string, not NULL. */
    owned = hk_buf_steal(&b);
    assert_non_null(owned);
    assert_string_equal(owned, "");
    free(owned);

    hk_buf_printf(&b, "%s", "");
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    hk_buf_cleanup(&b);
    assert_null(b.data);
    hk_buf_cleanup(&b);
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t now = hk_now_ms();
    assert_true(now > 1600000000000LL); /* after 2020 */
    int64_t m1 = hk_mono_ms();
    int64_t m2 = hk_mono_ms();
    assert_true(m2 >= m1);
}

static void test_format_time(void **state)
{
    (void)state;
    char out[32];
    hk_format_time(0, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    hk_format_time(1795344645123LL, out, sizeof(out));
    assert_string_equal(out, "2026-11-22T10:50:45.123Z");
    hk_format_time(951782400000LL, out, sizeof(out)); /* leap day 2000 */
    assert_string_equal(out, "2000-02-29T00:00:00.000Z");
    hk_format_time(-1, out, sizeof(out));
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_true(hk_parse_time("2026-11-22T10:50:45.123Z", &ms));
    assert_int_equal(ms, 1795344645123LL);
    assert_true(hk_parse_time("2026-11-22T10:50:45Z", &ms));
    assert_int_equal(ms, 1795344645000LL);
    /* Fractions: fewer digits scale up, extra digits are cut. */
    assert_true(hk_parse_time("2026-11-22T10:50:45.1Z", &ms));
    assert_int_equal(ms, 1795344645100LL);
    assert_true(hk_parse_time("2026-11-22T10:50:45.123999Z", &ms));
    assert_int_equal(ms, 1795344645123LL);
    /* Offsets move the instant to UTC. */
    assert_true(hk_parse_time("2026-11-22T12:50:45.123+02:00", &ms));
    assert_int_equal(ms, 1795344645123LL);
    assert_true(hk_parse_time("2026-11-22T05:20:45.123-05:30", &ms));
    assert_int_equal(ms, 1795344645123LL);
    assert_true(hk_parse_time("2026-11-22t10:50:45z", &ms));
    assert_int_equal(ms, 1795344645000LL);
    assert_true(hk_parse_time("1969-12-31T23:59:59.999Z", &ms));
    assert_int_equal(ms, -1);
    assert_true(hk_parse_time("2024-02-29T00:00:00Z", &ms));
}

static void test_parse_time_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2026-11-22",
        "2026-11-22T10:50:45",       /* no zone */
        "2026-11-22T10:50:45.Z",     /* empty fraction */
        "2026-13-01T00:00:00Z",      /* month */
        "2026-02-29T00:00:00Z",      /* not a leap year */
        "2026-04-31T00:00:00Z",      /* day */
        "2026-11-22T24:00:00Z",      /* hour */
        "2026-11-22T10:60:00Z",      /* minute */
        "2026-11-22T10:50:45+0200",  /* offset without colon */
        "2026-11-22T10:50:45Zjunk",  /* trailing text */
        "26-11-22T10:50:45Z",        /* short year */
        "2026-11-22T10:50:45+24:00", /* offset hour */
        "2026/11/22T10:50:45Z",
        "now",
    };
    int64_t ms;
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        if (hk_parse_time(bad[i], &ms))
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_false(hk_parse_time(NULL, &ms));
}

static void test_time_round_trip(void **state)
{
    (void)state;
    char out[32];
    /* Spread over 1970..2100 with odd milliseconds. */
    for (int64_t t = 0; t < 4102444800000LL; t += 7919LL * 3600 * 1000 + 17) {
        int64_t back = 0;
        hk_format_time(t, out, sizeof(out));
        assert_true(hk_parse_time(out, &back));
        assert_int_equal(back, t);
    }
    int64_t now = hk_now_ms();
    int64_t back = 0;
    hk_format_time(now, out, sizeof(out));
    assert_int_equal(strlen(out), 24);
    assert_true(hk_parse_time(out, &back));
    assert_int_equal(back, now);
}

/* Runs one hk_log call with stderr sent to a temporary file and returns
 * what was written (caller frees). */
static char *capture_log(enum hk_log_level l, const char *msg, const char *k,
                         const char *v)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    hk_log(l, msg, k, v, (const char *)NULL);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);

    long n = ftell(tmp);
    assert_true(n >= 0);
    char *out = hk_malloc((size_t)n + 1);
    rewind(tmp);
    assert_int_equal(fread(out, 1, (size_t)n, tmp), (size_t)n);
    out[n] = '\0';
    fclose(tmp);
    return out;
}

static void test_log_line(void **state)
{
    (void)state;
    hk_log_set_level(HK_LOG_INFO);
    char *line = capture_log(HK_LOG_WARN, "slow \"receiver\"", "url",
                             "http://x/\n\x01\\");
    size_t n = strlen(line);
    assert_true(n > 2);
    assert_int_equal(line[n - 1], '\n');
    assert_null(memchr(line, '\n', n - 1)); /* exactly one line */

    json_error_t jerr;
    json_t *j = json_loads(line, 0, &jerr);
    if (!j)
        fail_msg("not JSON: %s (%s)", line, jerr.text);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "slow \"receiver\"");
    assert_string_equal(json_string_value(json_object_get(j, "url")),
                        "http://x/\n\x01\\");
    int64_t ts;
    const char *tss = json_string_value(json_object_get(j, "ts"));
    assert_non_null(tss);
    assert_int_equal(strlen(tss), 24);
    assert_true(hk_parse_time(tss, &ts));
    assert_true(ts <= hk_now_ms() && ts > hk_now_ms() - 60000);
    json_decref(j);
    free(line);

    /* Below the level: nothing at all. */
    line = capture_log(HK_LOG_DEBUG, "hidden", "k", "v");
    assert_string_equal(line, "");
    free(line);
    hk_log_set_level(HK_LOG_DEBUG);
    line = capture_log(HK_LOG_DEBUG, "shown", "k", "v");
    assert_non_null(strstr(line, "\"level\":\"debug\""));
    free(line);
    hk_log_set_level(HK_LOG_INFO);
}

static void test_log_levels(void **state)
{
    (void)state;
    enum hk_log_level l;
    assert_true(hk_log_parse_level("debug", &l));
    assert_int_equal(l, HK_LOG_DEBUG);
    assert_true(hk_log_parse_level("INFO", &l));
    assert_int_equal(l, HK_LOG_INFO);
    assert_true(hk_log_parse_level("warn", &l));
    assert_int_equal(l, HK_LOG_WARN);
    assert_true(hk_log_parse_level("warning", &l));
    assert_int_equal(l, HK_LOG_WARN);
    assert_true(hk_log_parse_level("error", &l));
    assert_int_equal(l, HK_LOG_ERROR);
    assert_false(hk_log_parse_level("verbose", &l));
    assert_false(hk_log_parse_level("", &l));
    assert_false(hk_log_parse_level(NULL, &l));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_str),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_time_bad),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_log_line),
        cmocka_unit_test(test_log_levels),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
