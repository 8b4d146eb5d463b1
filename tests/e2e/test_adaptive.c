/*
 * test_adaptive.c - end-to-end tests of where an attempt's time went and
 * of adaptive concurrency (docs/engine.md). Each attempt to a plain HTTP
 * receiver shows the address it reached (127.0.0.1) and its phases in ms
 * with no TLS time; attempts recorded before the phases were kept show
 * null. An endpoint whose receiver answers 429 sees its requests in flight
 * fall (on the endpoint in the API, in /metrics and at the receiver) down
 * to one, and grow back to max_concurrency once it answers 2xx again.
 * One hookd (serve) with short retries, so that throttled deliveries come
 * back quickly and stay pending through the test.
 */
#include "engine_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;

#define MAXC 8

static int group_setup(void **state)
{
    (void)state;
    static const char *const env[] = {
        "HOOKD_RETRY_SCHEDULE=200ms,200ms,200ms,200ms,200ms,200ms,200ms,"
        "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,"
        "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,"
        "200ms,200ms",
        NULL};
    static const char *const types[] = {"a.time", "a.load", NULL};
    return hk_group_start(&srv, env, &rcv, types);
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_group_finish(&srv, &rcv);
}

static void test_http_attempt_timings(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "timings", tid);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/t/http",
                        "\"event_types\":[\"a.time\"]", eid);
    struct hk_rcv_resp slow = {200, NULL, NULL, 30, false, "/t/http"};
    hk_rcv_set_default(rcv, &slow);
    hk_eng_event(&srv, key, tid, "a.time", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000));

    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 1);
    json_t *a = json_array_get(att, 0);
    const char *ip = hk_jstr(a, "remote_ip");
    assert_non_null(ip);
    assert_string_equal(ip, "127.0.0.1");
    double ms[5];
    hk_eng_timings(a, ms);
    /* plain HTTP: no handshake */
    assert_true(ms[2] == 0.0);
    /* the receiver waited 30 ms before answering */
    if (ms[3] < 30.0 || ms[4] < 30.0)
        fail_msg("ttfb_ms %.3f, total_ms %.3f: the receiver answered after "
                 "30 ms",
                 ms[3], ms[4]);
    /* ms with their fraction, not whole ms: the phases are kept in µs */
    assert_true(ms[4] != (double)(long long)ms[4] ||
                ms[3] != (double)(long long)ms[3]);
    json_decref(att);

    /* an attempt recorded before the timings were kept */
    free(hk_sql(&srv,
           "UPDATE hookd.attempts SET remote_ip = NULL, dns_us = NULL,"
           " connect_us = NULL, tls_us = NULL, ttfb_us = NULL,"
           " total_us = NULL WHERE tenant_id = $1 AND delivery_id = $2",
           tid, did));
    att = hk_eng_attempts(&srv, key, tid, did);
    a = json_array_get(att, 0);
    assert_true(json_is_null(json_object_get(a, "remote_ip")));
    assert_true(json_is_null(json_object_get(a, "timings")));
    json_decref(att);
    free(key);
}

static long long current_concurrency(const char *key, const char *tid,
                                     const char *eid)
{
    struct hk_reply *r =
        hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/endpoints/%s", tid,
                eid);
    hk_expect(r, 200);
    long long max = hk_jint(r->json, "max_concurrency", -1);
    long long cur = hk_jint(r->json, "current_concurrency", -1);
    hk_reply_free(r);
    if (max != MAXC || cur < 1 || cur > max)
        fail_msg("endpoint with max_concurrency %d shows max_concurrency "
                 "%lld, current_concurrency %lld",
                 MAXC, max, cur);
    return cur;
}

/* Waits until the endpoint's current_concurrency satisfies the test
 * (at most or at least want); returns it. */
static long long wait_concurrency(const char *key, const char *tid,
                                  const char *eid, long long want,
                                  bool at_most, int timeout_ms)
{
    int64_t until = hk_wall_ms() + timeout_ms;
    for (;;) {
        long long cur = current_concurrency(key, tid, eid);
        if (at_most ? cur <= want : cur >= want)
            return cur;
        if (hk_wall_ms() > until)
            fail_msg("current_concurrency stayed %lld for %d ms, want %s "
                     "%lld",
                     cur, timeout_ms, at_most ? "at most" : "at least", want);
        hk_sleep_ms(50);
    }
}

/* The value of hookd_endpoint_concurrency for eid in /metrics, or -1 when
 * the endpoint is not listed. */
static long long metric_concurrency(const char *eid)
{
    struct hk_reply *r =
        hk_http(&srv, "GET", "/metrics", NULL, NULL, NULL, 0, NULL);
    hk_expect(r, 200);
    char *label = hk_fmt("hookd_endpoint_concurrency{endpoint_id=\"%s\"} ",
                         eid);
    const char *at = strstr(r->body, label);
    long long v = at ? strtoll(at + strlen(label), NULL, 10) : -1;
    free(label);
    hk_reply_free(r);
    return v;
}

static void post_events(const char *key, const char *tid, int n)
{
    for (int i = 0; i < n; i++)
        hk_eng_event(&srv, key, tid, "a.load", "{}", NULL);
}

static void test_throttled_endpoint_shrinks_and_recovers(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "adaptive", tid);
    char *members = hk_fmt("\"event_types\":[\"a.load\"],"
                           "\"max_concurrency\":%d",
                           MAXC);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/a/load", members, eid);
    assert_int_equal(current_concurrency(key, tid, eid), MAXC);

    /* a receiver that is struggling: 429 after 100 ms to everything */
    const char *ra[] = {"Retry-After: 0", NULL};
    struct hk_rcv_resp busy = {429, ra, NULL, 100, false, "/a/load"};
    hk_rcv_set_default(rcv, &busy);
    post_events(key, tid, 3 * MAXC);
    /* it first gets max_concurrency requests at once */
    assert_true(hk_rcv_wait_for_path(rcv, "/a/load", MAXC, 10000));
    /* then fewer and fewer, down to one */
    wait_concurrency(key, tid, eid, MAXC - 1, true, 10000);
    wait_concurrency(key, tid, eid, 1, true, 15000);
    assert_int_equal(metric_concurrency(eid), 1);
    /* requests started under the old limit end; then one at a time */
    hk_sleep_ms(300);
    hk_rcv_reset_max(rcv);
    size_t before = hk_rcv_count_path(rcv, "/a/load");
    hk_sleep_ms(1500);
    assert_true(hk_rcv_count_path(rcv, "/a/load") > before);
    int seen = hk_rcv_max_concurrency_path(rcv, "/a/load");
    if (seen > 1)
        fail_msg("%d requests in flight at once at a receiver that answers "
                 "429, with current_concurrency 1",
                 seen);

    /* it recovers: successes add a slot at a time back up to the max */
    struct hk_rcv_resp fine = {200, NULL, NULL, 20, false, "/a/load"};
    hk_rcv_set_default(rcv, &fine);
    post_events(key, tid, 4 * MAXC);
    wait_concurrency(key, tid, eid, 2, false, 15000);
    post_events(key, tid, 6 * MAXC);
    wait_concurrency(key, tid, eid, MAXC, false, 20000);
    assert_int_equal(metric_concurrency(eid), -1);
    /* and the receiver sees more than one request at once again */
    hk_rcv_reset_max(rcv);
    post_events(key, tid, 4 * MAXC);
    int64_t until = hk_wall_ms() + 10000;
    while (hk_rcv_max_concurrency_path(rcv, "/a/load") < 2 &&
           hk_wall_ms() < until)
        hk_sleep_ms(20);
    assert_true(hk_rcv_max_concurrency_path(rcv, "/a/load") >= 2);
    assert_true(hk_rcv_max_concurrency_path(rcv, "/a/load") <= MAXC);
    free(members);
    free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_attempt_timings),
        cmocka_unit_test(test_throttled_endpoint_shrinks_and_recovers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
