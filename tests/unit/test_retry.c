/*
 * test_retry.c - unit tests of retry.c: durations and schedules good and
 * bad, the jitter staying within +-10 % for every random input, running
 * out of attempts, and Retry-After as seconds, as an HTTP date and as
 * garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "retry.h"

static void test_durations(void **state)
{
    (void)state;
    struct {
        const char *s;
        int64_t ms;
    } good[] = {
        {"1ms", 1},        {"250ms", 250},
        {"15s", 15000},    {"5m", 300000},
        {"2h", 7200000},   {"5d", 432000000},
        {"10h", 36000000}, {"3650d", 3650LL * 86400000},
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(good); i++) {
        int64_t ms = -1;
        if (!hk_duration_parse(good[i].s, &ms))
            fail_msg("refused \"%s\"", good[i].s);
        assert_int_equal(ms, good[i].ms);
    }
    static const char *const bad[] = {
        "",     "0s",   "s",     "5",
        "5x",   "5 s",  " 5s",   "5s ",
        "-5s",  "+5s",  "1.5s",  "5S",
        "5sec", "5ms5", "3651d", "99999999999999999999s",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        int64_t ms;
        if (hk_duration_parse(bad[i], &ms))
            fail_msg("accepted \"%s\"", bad[i]);
    }
    int64_t ms;
    assert_false(hk_duration_parse(NULL, &ms));
}

static void test_schedule_parse(void **state)
{
    (void)state;
    struct hk_retry_schedule s;
    assert_int_equal(hk_retry_parse("5s,5m,30m,2h,5h,10h,10h", &s), HK_OK);
    assert_int_equal(s.n, 7);
    static const int64_t want[] = {5000,     300000,   1800000, 7200000,
                                   18000000, 36000000, 36000000};
    for (int i = 0; i < 7; i++)
        assert_int_equal(s.delay_ms[i], want[i]);

    assert_int_equal(hk_retry_parse("1s", &s), HK_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.delay_ms[0], 1000);
    assert_int_equal(hk_retry_parse(" 100ms , 2s ", &s), HK_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.delay_ms[1], 2000);

    /* 32 steps is the most. */
    char buf[256] = "";
    for (int i = 0; i < HK_RETRY_MAX_STEPS; i++)
        strncat(buf, i ? ",1s" : "1s", sizeof(buf) - strlen(buf) - 1);
    assert_int_equal(hk_retry_parse(buf, &s), HK_OK);
    assert_int_equal(s.n, HK_RETRY_MAX_STEPS);
    strncat(buf, ",1s", sizeof(buf) - strlen(buf) - 1);
    assert_int_equal(hk_retry_parse(buf, &s), HK_INVALID);
}

static void test_schedule_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",      ",", "5s,", ",5s",    "5s,,5m", "5s;5m",
        "5s 5m", "5", "0s",  "5s,abc", "-1s",    "5s,0m",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        struct hk_retry_schedule s = {.n = 99};
        if (hk_retry_parse(bad[i], &s) != HK_INVALID)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(s.n, 99); /* untouched on failure */
    }
    struct hk_retry_schedule s;
    assert_int_equal(hk_retry_parse(NULL, &s), HK_INVALID);
}

static void test_jitter_bounds(void **state)
{
    (void)state;
    struct hk_retry_schedule s;
    assert_int_equal(hk_retry_parse("5s,5m,30m,2h,5h,10h,10h,1ms,7ms", &s),
                     HK_OK);
    for (int a = 1; a <= s.n; a++) {
        int64_t d = s.delay_ms[a - 1];
        int64_t lo = (d * 9 + 9) / 10; /* ceil(0.9 d) */
        int64_t hi = d * 11 / 10;      /* floor(1.1 d) */
        int64_t min_seen = INT64_MAX, max_seen = 0;
        for (int i = 0; i <= 10000; i++) {
            double rnd = i / 10000.0 * 0.999999;
            int64_t v = hk_retry_next_delay(&s, a, rnd);
            if (v < lo || v > hi)
                fail_msg("attempt %d rnd %f: %lld outside [%lld,%lld]", a, rnd,
                         (long long)v, (long long)lo, (long long)hi);
            min_seen = v < min_seen ? v : min_seen;
            max_seen = v > max_seen ? v : max_seen;
        }
        /* The edges are reached, so the spread really is +-10 %. */
        assert_int_equal(hk_retry_next_delay(&s, a, 0.0), lo);
        /* 0.999999 falls short of 1 by a millionth of the window. */
        int64_t slack = d / 100000 + 1;
        assert_true(hk_retry_next_delay(&s, a, 0.999999) >= hi - slack);
        if (d >= 1000) {
            assert_true(max_seen - min_seen >= d / 5 - slack);
            assert_int_equal(hk_retry_next_delay(&s, a, 0.5), d);
        }
    }
    /* Out-of-range random inputs are clamped, never widen the window. */
    assert_int_equal(hk_retry_next_delay(&s, 1, -3.0), 4500);
    assert_true(hk_retry_next_delay(&s, 1, 1.0) <= 5500);
    assert_true(hk_retry_next_delay(&s, 1, 42.0) <= 5500);
}

static void test_exhaustion(void **state)
{
    (void)state;
    struct hk_retry_schedule s;
    assert_int_equal(hk_retry_parse("1s,2s,3s", &s), HK_OK);
    assert_true(hk_retry_next_delay(&s, 1, 0.5) == 1000);
    assert_true(hk_retry_next_delay(&s, 2, 0.5) == 2000);
    assert_true(hk_retry_next_delay(&s, 3, 0.5) == 3000);
    assert_int_equal(hk_retry_next_delay(&s, 4, 0.5), -1);
    assert_int_equal(hk_retry_next_delay(&s, 100, 0.5), -1);
}

static void test_retry_after_seconds(void **state)
{
    (void)state;
    int64_t now = 1700000000000LL;
    assert_int_equal(hk_retry_after_parse("0", now), 0);
    assert_int_equal(hk_retry_after_parse("120", now), 120000);
    assert_int_equal(hk_retry_after_parse(" 30 ", now), 30000);
    /* Capped at 7 days, big numbers included. */
    assert_int_equal(hk_retry_after_parse("604800", now), 604800000LL);
    assert_int_equal(hk_retry_after_parse("604801", now), 604800000LL);
    assert_int_equal(hk_retry_after_parse("99999999999999999999999", now),
                     604800000LL);
}

static void test_retry_after_dates(void **state)
{
    (void)state;
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
    int64_t at = 784111777000LL;
    assert_int_equal(
        hk_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", at - 90000),
        90000);
    /* A date in the past means now. */
    assert_int_equal(
        hk_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", at + 5000), 0);
    /* Far future: capped. */
    assert_int_equal(hk_retry_after_parse("Wed, 21 Oct 2099 07:28:00 GMT", at),
                     604800000LL);
    /* 2026-11-22T10:50:45Z = 1795344645 */
    assert_int_equal(hk_retry_after_parse("Sun, 22 Nov 2026 10:50:45 GMT",
                                          1795344645000LL - 3000),
                     3000);
    assert_int_equal(
        hk_retry_after_parse("Thu, 29 Feb 2024 00:00:10 GMT", 1709164800000LL),
        10000);
}

static void test_retry_after_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "-5",
        "5s",
        "1.5",
        "soon",
        "0x10",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Tue, 31 Feb 2026 08:49:37 GMT",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++)
        if (hk_retry_after_parse(bad[i], 0) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(hk_retry_after_parse(NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_schedule_parse),
        cmocka_unit_test(test_schedule_parse_bad),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_exhaustion),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_dates),
        cmocka_unit_test(test_retry_after_garbage),
    };
    return cmocka_run_group_tests_name("retry", tests, NULL, NULL);
}
