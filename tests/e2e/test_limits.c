/*
 * test_limits.c - end-to-end tests of the per-tenant limits that
 * docs/limits.md promises: each tenant shows its limits, the operator sets
 * them with PATCH /v1/tenants/{id}, and they hold: endpoints per tenant
 * (409 limit_reached), payload size (413 payload_too_large) and events per
 * second, one bucket shared by every hookd api process (429 rate_limited
 * with Retry-After), taken from PostgreSQL in batches rather than once per
 * event. One hookd (serve), and a second (api) on the same database for
 * the shared bucket.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;

static int group_setup(void **state)
{
    (void)state;
    static const char *const types[] = {"limit.one", NULL};
    return hk_group_start(&srv, NULL, NULL, types);
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_group_finish(&srv, NULL);
}

static struct hk_reply *post_event(struct hk_srv *s, const char *tid,
                                   const char *payload)
{
    char *body = hk_fmt("{\"event_type\":\"limit.one\",\"payload\":%s}",
                        payload);
    struct hk_reply *r = hk_call(s, "POST", srv.admin_key, body,
                                 "/v1/tenants/%s/events", tid);
    free(body);
    return r;
}

/* Every tenant shows its limits (the defaults until the operator sets
 * them); PATCH sets each, null removes the tenant's own payload limit,
 * and a value out of range or of another kind is a 422 naming the field
 * that changes nothing. */
static void test_limits_shown_and_set(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "limits shown", tid);
    struct hk_reply *r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_int_equal(hk_jint(r->json, "limits.max_endpoints", -1), 100);
    assert_int_equal(hk_jint(r->json, "limits.events_per_second", -1), 10000);
    assert_true(json_is_null(hk_jget(r->json, "limits.max_payload_bytes")));
    hk_reply_free(r);

    r = hk_admin(&srv, "PATCH",
                 "{\"limits\":{\"max_endpoints\":3,\"events_per_second\":50,"
                 "\"max_payload_bytes\":1000}}",
                 "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_int_equal(hk_jint(r->json, "limits.max_endpoints", -1), 3);
    assert_int_equal(hk_jint(r->json, "limits.events_per_second", -1), 50);
    assert_int_equal(hk_jint(r->json, "limits.max_payload_bytes", -1), 1000);
    hk_reply_free(r);

    const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"limits\":{\"max_endpoints\":-1}}", "limits.max_endpoints"},
        {"{\"limits\":{\"max_endpoints\":null}}", "limits.max_endpoints"},
        {"{\"limits\":{\"events_per_second\":0}}", "limits.events_per_second"},
        {"{\"limits\":{\"events_per_second\":\"5\"}}",
         "limits.events_per_second"},
        {"{\"limits\":{\"max_payload_bytes\":0}}", "limits.max_payload_bytes"},
        {"{\"limits\":{\"max_payload_bytes\":1.5}}",
         "limits.max_payload_bytes"},
        {"{\"limits\":{\"max_events\":5}}", "limits.max_events"},
        {"{\"limits\":[]}", "limits"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = hk_admin(&srv, "PATCH", bad[i].body, "/v1/tenants/%s", tid);
        hk_expect_error(r, 422, "validation_failed", bad[i].field);
        hk_reply_free(r);
    }
    /* a tenant's own key cannot change its limits */
    char *key = hk_mk_api_key(&srv, tid, NULL);
    r = hk_call(&srv, "PATCH", key, "{\"limits\":{\"max_endpoints\":1000}}",
                "/v1/tenants/%s", tid);
    hk_expect_client_error(r);
    hk_reply_free(r);
    free(key);

    r = hk_admin(&srv, "PATCH", "{\"limits\":{\"max_payload_bytes\":null}}",
                 "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_int_equal(hk_jint(r->json, "limits.max_endpoints", -1), 3);
    assert_int_equal(hk_jint(r->json, "limits.events_per_second", -1), 50);
    assert_true(json_is_null(hk_jget(r->json, "limits.max_payload_bytes")));
    hk_reply_free(r);
    /* lists show them too */
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants?limit=100");
    hk_expect(r, 200);
    json_t *data = hk_jget(r->json, "data");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *t = json_array_get(data, i);
        if (strcmp(hk_jstr(t, "id"), tid) == 0) {
            assert_int_equal(hk_jint(t, "limits.max_endpoints", -1), 3);
            seen = true;
        }
    }
    assert_true(seen);
    hk_reply_free(r);
}

/* A tenant at max_endpoints cannot create another (409 limit_reached,
 * nothing written) until it deletes one or the operator raises the
 * limit. */
static void test_endpoint_limit(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    hk_mk_tenant(&srv, "endpoint limit", tid);
    hk_set_limits(&srv, tid, "{\"max_endpoints\":2}");
    char *key = hk_mk_api_key(&srv, tid, NULL);
    const char *ep = "{\"url\":\"http://127.0.0.1:9/x\"}";
    hk_mk_endpoint(&srv, key, tid, ep, eid);
    hk_mk_endpoint(&srv, key, tid, ep, eid);
    struct hk_reply *r =
        hk_call(&srv, "POST", key, ep, "/v1/tenants/%s/endpoints", tid);
    hk_expect_error(r, 409, "limit_reached", NULL);
    hk_reply_free(r);
    char *n = hk_sql(&srv,
                     "SELECT count(*) FROM hookd.endpoints WHERE tenant_id = $1",
                     tid);
    assert_string_equal(n, "2");
    free(n);
    /* a deleted endpoint no longer counts */
    r = hk_call(&srv, "DELETE", key, NULL, "/v1/tenants/%s/endpoints/%s", tid,
                eid);
    hk_expect(r, 204);
    hk_reply_free(r);
    hk_mk_endpoint(&srv, key, tid, ep, eid);
    /* the operator raises it */
    hk_set_limits(&srv, tid, "{\"max_endpoints\":3}");
    hk_mk_endpoint(&srv, key, tid, ep, eid);
    r = hk_call(&srv, "POST", key, ep, "/v1/tenants/%s/endpoints", tid);
    hk_expect_error(r, 409, "limit_reached", NULL);
    hk_reply_free(r);
    free(key);
}

/* A payload larger than the tenant's max_payload_bytes, counted as the
 * exact text posted, is a 413 naming payload; one of that size is taken. */
static void test_payload_limit(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "payload limit", tid);
    hk_set_limits(&srv, tid, "{\"max_payload_bytes\":20}");
    /* 20 bytes: {"k":"0123456789ab"} */
    struct hk_reply *r = post_event(&srv, tid, "{\"k\":\"0123456789ab\"}");
    hk_expect(r, 202);
    hk_reply_free(r);
    r = post_event(&srv, tid, "{\"k\":\"0123456789abc\"}");
    hk_expect_error(r, 413, "payload_too_large", "payload");
    hk_reply_free(r);
    r = post_event(&srv, tid, "{\"k\": \"0123456789ab\"}");
    hk_expect_error(r, 413, "payload_too_large", "payload");
    hk_reply_free(r);
    char *n = hk_sql(&srv,
                     "SELECT count(*) FROM hookd.events WHERE tenant_id = $1",
                     tid);
    assert_string_equal(n, "1");
    free(n);
}

/* The process takes a batch of tokens (a fiftieth of the rate, after a
 * first token that tells it the rate) from the shared bucket and spends
 * it locally: the bucket's row is written for the batch, not again for the
 * next events the batch pays for. */
static void test_tokens_taken_in_batches(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "batches", tid);
    hk_set_limits(&srv, tid, "{\"events_per_second\":1000}");
    for (int i = 0; i < 2; i++) {
        struct hk_reply *r = post_event(&srv, tid, "1");
        hk_expect(r, 202);
        hk_reply_free(r);
    }
    const char *q = "SELECT refilled_at::text || ' ' || tokens::text"
                    " FROM hookd.tenant_rate WHERE tenant_id = $1";
    char *before = hk_sql(&srv, q, tid);
    assert_non_null(before);
    int64_t t0 = hk_wall_ms();
    for (int i = 0; i < 10; i++) {
        struct hk_reply *r = post_event(&srv, tid, "2");
        hk_expect(r, 202);
        hk_reply_free(r);
    }
    /* the batch is topped up once it runs low or is half a second old,
     * and dropped after a second */
    if (hk_wall_ms() - t0 < 450) {
        char *after = hk_sql(&srv, q, tid);
        assert_string_equal(before, after);
        free(after);
    }
    free(before);
}

/* Two hookd api processes share one bucket: posting as fast as they
 * answer for about 3 s, a tenant limited to 20 events per second gets no
 * more than the bucket's second plus 20 a second plus one batch (1 token)
 * per process; the others are 429 rate_limited with a Retry-After. */
static void test_rate_shared_by_processes(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "rate shared", tid);
    hk_set_limits(&srv, tid, "{\"events_per_second\":20}");
    struct hk_srv peer;
    assert_int_equal(hk_srv_start_peer(&peer, &srv, "api", NULL), 0);
    struct hk_srv *procs[2] = {&srv, &peer};
    int accepted[2] = {0, 0}, limited = 0;
    int64_t t0 = hk_wall_ms();
    for (int i = 0; hk_wall_ms() - t0 < 3000; i++) {
        struct hk_reply *r = post_event(procs[i % 2], tid, "{}");
        if (r->status == 202) {
            accepted[i % 2]++;
        } else {
            hk_expect_error(r, 429, "rate_limited", NULL);
            const char *ra = hk_reply_header(r, "Retry-After");
            assert_non_null(ra);
            assert_true(strtol(ra, NULL, 10) >= 1);
            limited++;
        }
        hk_reply_free(r);
    }
    double secs = (double)(hk_wall_ms() - t0) / 1000.0;
    int total = accepted[0] + accepted[1];
    double bound = 20.0 * (secs + 1.0) + 2.0;
    print_message("rate shared: %d + %d accepted, %d limited in %.2f s "
                  "(bound %.0f)\n",
                  accepted[0], accepted[1], limited, secs, bound);
    if ((double)total > bound)
        fail_msg("%d events accepted in %.2f s at 20/s over two processes "
                 "(bound %.0f)",
                 total, secs, bound);
    /* both processes spend the shared tokens, and the limit is no
     * stricter than it says: at least the bucket's second plus most of
     * the refill got through */
    assert_true(accepted[0] > 0 && accepted[1] > 0);
    assert_true(limited > 0);
    if ((double)total < 20.0 * secs * 0.6)
        fail_msg("only %d events accepted in %.2f s at 20/s", total, secs);
    long long rows = hk_sql_int(
        &srv, "SELECT count(*) FROM hookd.events WHERE tenant_id = $1", tid);
    assert_int_equal(rows, total);
    /* after a pause, posting works again */
    hk_sleep_ms(1100);
    struct hk_reply *r = post_event(&peer, tid, "{}");
    hk_expect(r, 202);
    hk_reply_free(r);
    assert_int_equal(hk_srv_stop(&peer), 0);
    hk_srv_drop(&peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_shown_and_set),
        cmocka_unit_test(test_endpoint_limit),
        cmocka_unit_test(test_payload_limit),
        cmocka_unit_test(test_tokens_taken_in_batches),
        cmocka_unit_test(test_rate_shared_by_processes),
    };
    return hk_exit_code(
        cmocka_run_group_tests(tests, group_setup, group_teardown));
}
