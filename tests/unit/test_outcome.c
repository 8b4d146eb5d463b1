/*
 * test_outcome.c - unit tests of engine/outcome.c, case by case: what a
 * 2xx, an error status, 410, 429 and 503 with and without Retry-After, a
 * timeout, a network error and a refused address do to the delivery
 * (succeeded, retry when, failed once the schedule is spent) and to its
 * endpoint (disabled with a reason after 410 or after failing for
 * HOOKD_DISABLE_AFTER; not otherwise), what each does if the endpoint
 * stopped while the request was in flight, and the additive-increase,
 * multiplicative-decrease of an endpoint's requests in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/outcome.h"

#define NOW 1800000000000LL /* 2027-01-15T08:00:00Z */

static struct hk_retry_schedule schedule;

static int setup(void **state)
{
    (void)state;
    return hk_retry_parse("5s,5m,30m", &schedule) == HK_OK ? 0 : -1;
}

/* An attempt answered with status (or error when status is 0), the
 * cycle's attempt number cycle, no jitter (the schedule's -10 %). */
static struct hk_outcome_in attempt(int status, const char *error, int cycle)
{
    return (struct hk_outcome_in){
        .status_code = status,
        .error = error,
        .retry_after_ms = -1,
        .cycle_attempts = cycle,
        .schedule = &schedule,
        .jitter = 0.0,
        .now_ms = NOW,
        .failing_since_ms = 0,
        .disable_after_ms = 5LL * 86400000,
    };
}

static void test_2xx_succeeds(void **state)
{
    (void)state;
    static const int codes[] = {200, 201, 202, 204, 299};
    for (size_t i = 0; i < HK_ARRAY_LEN(codes); i++) {
        struct hk_outcome_in in = attempt(codes[i], NULL, 3);
        /* even an endpoint failing for long is fine once it answers */
        in.failing_since_ms = NOW - 10LL * 86400000;
        struct hk_outcome_decision d;
        hk_outcome_decide(&in, &d);
        assert_int_equal(d.kind, HK_ATTEMPT_OK);
        assert_int_equal(d.next, HK_NEXT_SUCCEEDED);
        assert_int_equal(d.next_if_stopped, HK_NEXT_SUCCEEDED);
        assert_false(d.disable_endpoint);
        assert_int_equal(d.pressure, HK_PRESSURE_GROW);
        assert_string_equal(hk_outcome_status(d.next), "succeeded");
    }
}

static void test_error_status_retries_on_schedule(void **state)
{
    (void)state;
    static const int codes[] = {300, 400, 401, 404, 500, 502, 504};
    for (size_t i = 0; i < HK_ARRAY_LEN(codes); i++) {
        struct hk_outcome_decision d;
        struct hk_outcome_in in = attempt(codes[i], NULL, 1);
        hk_outcome_decide(&in, &d);
        assert_int_equal(d.kind, HK_ATTEMPT_STATUS);
        assert_int_equal(d.next, HK_NEXT_RETRY);
        assert_string_equal(hk_outcome_status(d.next), "pending");
        assert_int_equal(d.next_attempt_ms, NOW + 4500); /* 5 s - 10 % */
        assert_int_equal(d.next_if_stopped, HK_NEXT_FAILED);
        assert_false(d.disable_endpoint);
        assert_int_equal(d.pressure, HK_PRESSURE_HOLD);
        /* the second attempt of the cycle waits the second step */
        in.cycle_attempts = 2;
        in.jitter = 0.5;
        hk_outcome_decide(&in, &d);
        assert_int_equal(d.next, HK_NEXT_RETRY);
        assert_int_equal(d.next_attempt_ms, NOW + 300000);
    }
}

static void test_schedule_spent_fails(void **state)
{
    (void)state;
    struct hk_outcome_decision d;
    struct hk_outcome_in in = attempt(500, NULL, 4); /* three delays */
    hk_outcome_decide(&in, &d);
    assert_int_equal(d.next, HK_NEXT_FAILED);
    assert_string_equal(hk_outcome_status(d.next), "failed");
    assert_false(d.disable_endpoint);
    in = attempt(0, "connection refused", 4);
    hk_outcome_decide(&in, &d);
    assert_int_equal(d.next, HK_NEXT_FAILED);
    /* Retry-After does not extend a spent schedule */
    in = attempt(429, NULL, 4);
    in.retry_after_ms = 1000;
    hk_outcome_decide(&in, &d);
    assert_int_equal(d.next, HK_NEXT_FAILED);
}

static void test_gone_fails_and_disables(void **state)
{
    (void)state;
    struct hk_outcome_decision d;
    struct hk_outcome_in in = attempt(410, NULL, 1);
    hk_outcome_decide(&in, &d);
    assert_int_equal(d.kind, HK_ATTEMPT_GONE);
    assert_int_equal(d.next, HK_NEXT_FAILED);
    assert_true(d.disable_endpoint);
    assert_string_equal(d.disable_reason, "the endpoint answered 410 Gone");
    assert_int_equal(d.pressure, HK_PRESSURE_HOLD);
}

static void test_throttled_honours_retry_after(void **state)
{
    (void)state;
    static const int codes[] = {429, 503};
    for (size_t i = 0; i < HK_ARRAY_LEN(codes); i++) {
        struct hk_outcome_decision d;
        struct hk_outcome_in in = attempt(codes[i], NULL, 1);
        /* later than the schedule: the receiver's time wins */
        in.retry_after_ms = 120000;
        hk_outcome_decide(&in, &d);
        assert_int_equal(d.kind, HK_ATTEMPT_THROTTLED);
        assert_int_equal(d.next, HK_NEXT_RETRY);
        assert_int_equal(d.next_attempt_ms, NOW + 120000);
        assert_int_equal(d.pressure, HK_PRESSURE_SHRINK);
        /* sooner than the schedule: the schedule's */
        in.retry_after_ms = 1000;
        hk_outcome_decide(&in, &d);
        assert_int_equal(d.next_attempt_ms, NOW + 4500);
        /* none */
        in.retry_after_ms = -1;
        hk_outcome_decide(&in, &d);
        assert_int_equal(d.next_attempt_ms, NOW + 4500);
    }
    /* a Retry-After on any other status is not the receiver's ask */
    struct hk_outcome_decision d;
    struct hk_outcome_in in = attempt(500, NULL, 1);
    in.retry_after_ms = 120000;
    hk_outcome_decide(&in, &d);
    assert_int_equal(d.next_attempt_ms, NOW + 4500);
}

static void test_timeout_network_refused(void **state)
{
    (void)state;
    struct {
        const char *error;
        enum hk_attempt_kind kind;
        enum hk_pressure pressure;
    } cases[] = {
        {"timeout after 30000 ms", HK_ATTEMPT_TIMEOUT, HK_PRESSURE_SHRINK},
        {"timeout after 30000 ms while reading the response (status 200)",
         HK_ATTEMPT_TIMEOUT, HK_PRESSURE_SHRINK},
        {"connect timeout after 10000 ms", HK_ATTEMPT_NETWORK,
         HK_PRESSURE_HOLD},
        {"connection refused", HK_ATTEMPT_NETWORK, HK_PRESSURE_HOLD},
        {"could not resolve host: nowhere.invalid", HK_ATTEMPT_NETWORK,
         HK_PRESSURE_HOLD},
        {"refused to connect to 10.0.0.1: private address (set "
         "HOOKD_ALLOW_PRIVATE_TARGETS=1 to allow)",
         HK_ATTEMPT_REFUSED, HK_PRESSURE_HOLD},
        {NULL, HK_ATTEMPT_NETWORK, HK_PRESSURE_HOLD},
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(cases); i++) {
        struct hk_outcome_decision d;
        struct hk_outcome_in in = attempt(0, cases[i].error, 1);
        hk_outcome_decide(&in, &d);
        assert_int_equal(d.kind, cases[i].kind);
        assert_int_equal(d.pressure, cases[i].pressure);
        /* all of them are tried again on the schedule */
        assert_int_equal(d.next, HK_NEXT_RETRY);
        assert_int_equal(d.next_attempt_ms, NOW + 4500);
        assert_int_equal(d.next_if_stopped, HK_NEXT_FAILED);
        assert_false(d.disable_endpoint);
    }
}

static void test_failing_too_long_disables(void **state)
{
    (void)state;
    struct hk_outcome_decision d;
    struct hk_outcome_in in = attempt(500, NULL, 1);
    in.disable_after_ms = 2000;
    /* failing, but not for long enough */
    in.failing_since_ms = NOW - 1999;
    hk_outcome_decide(&in, &d);
    assert_false(d.disable_endpoint);
    assert_int_equal(d.next, HK_NEXT_RETRY);
    /* long enough: disabled, and this delivery is not tried again */
    in.failing_since_ms = NOW - 2000;
    hk_outcome_decide(&in, &d);
    assert_true(d.disable_endpoint);
    assert_int_equal(d.next, HK_NEXT_FAILED);
    char want[96];
    char since[32];
    hk_format_time(NOW - 2000, since, sizeof(since));
    snprintf(want, sizeof(want), "every delivery failed since %s", since);
    assert_string_equal(d.disable_reason, want);
    /* a timeout counts as a failure as much as a status */
    in = attempt(0, "timeout after 30000 ms", 1);
    in.disable_after_ms = 2000;
    in.failing_since_ms = NOW - 5000;
    hk_outcome_decide(&in, &d);
    assert_true(d.disable_endpoint);
    /* never failing: never disabled */
    in.failing_since_ms = 0;
    hk_outcome_decide(&in, &d);
    assert_false(d.disable_endpoint);
}

static void test_adapt_shrinks_and_grows(void **state)
{
    (void)state;
    struct hk_adapt a;
    hk_adapt_init(&a, 8);
    assert_int_equal(a.limit, 8);
    /* successes at the full limit change nothing */
    assert_false(hk_adapt_apply(&a, HK_PRESSURE_GROW, NOW, NOW, 8));
    assert_int_equal(a.limit, 8);
    /* a 429 halves */
    assert_true(hk_adapt_apply(&a, HK_PRESSURE_SHRINK, NOW, NOW + 10, 8));
    assert_int_equal(a.limit, 4);
    /* the other answers to requests sent before that halve nothing */
    for (int i = 0; i < 7; i++)
        assert_false(
            hk_adapt_apply(&a, HK_PRESSURE_SHRINK, NOW + 5, NOW + 20, 8));
    assert_int_equal(a.limit, 4);
    /* one sent after it halves again, down to 1 and no lower */
    hk_adapt_apply(&a, HK_PRESSURE_SHRINK, NOW + 10, NOW + 30, 8);
    assert_int_equal(a.limit, 2);
    hk_adapt_apply(&a, HK_PRESSURE_SHRINK, NOW + 30, NOW + 40, 8);
    assert_int_equal(a.limit, 1);
    hk_adapt_apply(&a, HK_PRESSURE_SHRINK, NOW + 40, NOW + 50, 8);
    assert_int_equal(a.limit, 1);
    /* holding answers change nothing */
    assert_false(hk_adapt_apply(&a, HK_PRESSURE_HOLD, NOW + 60, NOW + 70, 8));
    /* additive increase: one slot after as many successes as slots */
    int successes = 0;
    while (a.limit < 8) {
        hk_adapt_apply(&a, HK_PRESSURE_GROW, NOW + 100, NOW + 100, 8);
        successes++;
        assert_true(successes <= 1 + 2 + 3 + 4 + 5 + 6 + 7);
    }
    assert_int_equal(successes, 1 + 2 + 3 + 4 + 5 + 6 + 7);
    /* never above max_concurrency, which may have been lowered */
    hk_adapt_apply(&a, HK_PRESSURE_GROW, NOW + 200, NOW + 200, 8);
    assert_int_equal(a.limit, 8);
    assert_true(hk_adapt_apply(&a, HK_PRESSURE_GROW, NOW + 200, NOW + 200, 3));
    assert_int_equal(a.limit, 3);
    /* and a max of 0 or less still leaves one slot */
    hk_adapt_init(&a, 0);
    assert_int_equal(a.limit, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2xx_succeeds),
        cmocka_unit_test(test_error_status_retries_on_schedule),
        cmocka_unit_test(test_schedule_spent_fails),
        cmocka_unit_test(test_gone_fails_and_disables),
        cmocka_unit_test(test_throttled_honours_retry_after),
        cmocka_unit_test(test_timeout_network_refused),
        cmocka_unit_test(test_failing_too_long_disables),
        cmocka_unit_test(test_adapt_shrinks_and_grows),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
