/*
 * test_api_fifo.c - end-to-end tests of ordered delivery as the API shows
 * it (docs/api.md, "Ordered delivery"): an endpoint's `ordering` (only
 * "unordered" or "fifo", validated with its field and changing nothing
 * when refused), its `blocked_by` (the failed delivery a fifo endpoint
 * waits behind, in single objects and lists, null for unordered endpoints,
 * gone after a replay or a skip once the receiver answers again), and
 * `POST .../deliveries/{did}/skip` (200 with the delivery failed and
 * "skipped", then never sent again; 409 while it is being sent and once it
 * has ended; 404 for another tenant's or an unknown id; 403 for a read
 * portal session). What is asserted holds whether the dispatcher sends a
 * fifo endpoint's deliveries one at a time or not: blocked_by is read from
 * stored state. One hookd (serve) with a 30 s retry delay, so that a
 * failed delivery stays blocked for the length of a test, and one receiver.
 */
#include "engine_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;
static char tid[HK_ID_LEN];
static char *key; /* the tenant's API key */

#define NO_SUCH_ID "01890a5d-ac96-774b-bcce-b302099a8057"

static int group_setup(void **state)
{
    (void)state;
    static const char *const env[] = {"HOOKD_RETRY_SCHEDULE=30s,30s,30s", NULL};
    static const char *const types[] = {"order.placed", NULL};
    if (hk_group_start(&srv, env, &rcv, types) != 0)
        return -1;
    key = hk_eng_tenant(&srv, "fifo", tid);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(key);
    key = NULL;
    return hk_group_finish(&srv, &rcv);
}

#define FIFO "\"ordering\":\"fifo\""

/* A new endpoint of the tenant at the receiver's path, with members (such
 * as FIFO, or NULL); its id in id. */
static void mk_endpoint(const char *path, const char *members, char *id)
{
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, path, members, id);
}

/* Posts an event (every endpoint of the tenant gets it); its id in evid
 * and the id of its one delivery to endpoint eid in did. */
static void post_event(int n, const char *eid, char *evid, char *did)
{
    char payload[32];
    snprintf(payload, sizeof payload, "{\"n\":%d}", n);
    hk_eng_event(&srv, key, tid, "order.placed", payload, evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
}

/* The endpoint as GET answers it (caller json_decref). */
static json_t *get_endpoint(const char *eid)
{
    return hk_get_json(&srv, key, "/v1/tenants/%s/endpoints/%s", tid, eid);
}

static char *delivery_status(const char *did)
{
    json_t *d = hk_eng_delivery(&srv, key, tid, did);
    char *s = strdup(hk_jstr(d, "status"));
    json_decref(d);
    return s;
}

/* Waits up to 20 s until the endpoint's blocked_by names did; returns the
 * endpoint (caller json_decref). */
static json_t *wait_blocked_by(const char *eid, const char *did)
{
    int64_t deadline = hk_wall_ms() + 20000;
    for (;;) {
        json_t *e = get_endpoint(eid);
        const char *b = hk_jstr(e, "blocked_by.delivery_id");
        if (b != NULL && strcmp(b, did) == 0)
            return e;
        if (hk_wall_ms() > deadline)
            fail_msg("endpoint %s is not blocked by %s within 20 s: %s", eid,
                     did, json_dumps(e, JSON_COMPACT));
        json_decref(e);
        hk_sleep_ms(100);
    }
}

/* Waits up to 20 s until the endpoint is not blocked and the delivery has
 * status want. */
static void wait_unblocked(const char *eid, const char *did, const char *want)
{
    int64_t deadline = hk_wall_ms() + 20000;
    for (;;) {
        json_t *e = get_endpoint(eid);
        char *st = delivery_status(did);
        bool done =
            json_is_null(hk_jget(e, "blocked_by")) && strcmp(st, want) == 0;
        const char *b = hk_jstr(e, "blocked_by.delivery_id");
        /* a delivery that has ended never holds the endpoint */
        if (b != NULL && strcmp(b, did) == 0 && strcmp(st, "pending") != 0 &&
            strcmp(st, "sending") != 0)
            fail_msg("endpoint %s is blocked by %s, which is %s", eid, did, st);
        if (hk_wall_ms() > deadline)
            fail_msg("endpoint %s: not unblocked with %s %s within 20 s: %s "
                     "(the delivery is %s)",
                     eid, did, want, json_dumps(e, JSON_COMPACT), st);
        json_decref(e);
        free(st);
        if (done)
            return;
        hk_sleep_ms(100);
    }
}

/* ---- ordering --------------------------------------------------------- */

static void test_ordering_default_and_patch(void **state)
{
    (void)state;
    char eid[HK_ID_LEN];
    mk_endpoint("/plain", NULL, eid);
    json_t *e = get_endpoint(eid);
    assert_string_equal(hk_jstr(e, "ordering"), "unordered");
    assert_true(json_is_null(hk_jget(e, "blocked_by")));
    json_decref(e);

    struct hk_reply *r = hk_call(&srv, "PATCH", key, "{\"ordering\":\"fifo\"}",
                                 "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "ordering"), "fifo");
    assert_true(json_is_null(hk_jget(r->json, "blocked_by")));
    hk_reply_free(r);
    /* a patch of another field keeps it */
    r = hk_call(&srv, "PATCH", key, "{\"description\":\"orders\"}",
                "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "ordering"), "fifo");
    hk_reply_free(r);

    char fid[HK_ID_LEN];
    mk_endpoint("/plain", FIFO, fid);
    e = get_endpoint(fid);
    assert_string_equal(hk_jstr(e, "ordering"), "fifo");
    json_decref(e);
}

static void test_ordering_validation(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\"lifo\"",   "\"FIFO\"",        "\"\"",      "null", "1", "true",
        "[\"fifo\"]", "\"fifo\\u0000\"", "\"fifo \"", NULL};
    char eid[HK_ID_LEN];
    mk_endpoint("/plain", FIFO, eid);
    for (size_t i = 0; bad[i] != NULL; i++) {
        char *body = hk_fmt("{\"url\":\"https://example.com/h\","
                            "\"ordering\":%s}",
                            bad[i]);
        struct hk_reply *r =
            hk_call(&srv, "POST", key, body, "/v1/tenants/%s/endpoints", tid);
        hk_expect_error(r, 422, "validation_failed", "ordering");
        hk_reply_free(r);
        free(body);
        body = hk_fmt("{\"ordering\":%s}", bad[i]);
        r = hk_call(&srv, "PATCH", key, body, "/v1/tenants/%s/endpoints/%s",
                    tid, eid);
        hk_expect_error(r, 422, "validation_failed", "ordering");
        hk_reply_free(r);
        free(body);
    }
    /* nothing was created or changed */
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.endpoints"
                                " WHERE tenant_id = $1 AND url = $2",
                                tid, "https://example.com/h"),
                     0);
    json_t *e = get_endpoint(eid);
    assert_string_equal(hk_jstr(e, "ordering"), "fifo");
    json_decref(e);
}

/* ---- blocked_by, replay ----------------------------------------------- */

static void test_blocked_then_replayed(void **state)
{
    (void)state;
    const struct hk_rcv_resp fail = {.status = 500, .path = "/replay"};
    hk_rcv_set_default(rcv, &fail);
    char fid[HK_ID_LEN], uid[HK_ID_LEN];
    mk_endpoint("/replay", FIFO, fid);
    /* an unordered endpoint at the same receiver is never blocked */
    mk_endpoint("/replay", "\"ordering\":\"unordered\"", uid);

    char ev1[HK_ID_LEN], fd1[HK_ID_LEN], ev2[HK_ID_LEN], fd2[HK_ID_LEN];
    post_event(1, fid, ev1, fd1);
    json_t *e = wait_blocked_by(fid, fd1);
    json_t *b = hk_jget(e, "blocked_by");
    assert_string_equal(hk_jstr(b, "event_id"), ev1);
    assert_true(hk_jint(b, "attempt_count", 0) >= 1);
    assert_int_equal(hk_jint(b, "last_status_code", 0), 500);
    assert_true(json_is_null(hk_jget(b, "last_error")));
    assert_true(hk_is_rfc3339_ms(hk_jstr(b, "next_attempt_at")));
    assert_int_equal(json_object_size(b), 6);
    json_decref(e);

    /* the receiver recovers; a later event does not take the head */
    const struct hk_rcv_resp ok = {.status = 204, .path = "/replay"};
    hk_rcv_set_default(rcv, &ok);
    post_event(2, fid, ev2, fd2);
    e = wait_blocked_by(fid, fd1);
    json_decref(e);
    e = get_endpoint(uid);
    assert_true(json_is_null(hk_jget(e, "blocked_by")));
    json_decref(e);

    /* lists carry it too */
    char *list = hk_fmt("/v1/tenants/%s/endpoints", tid);
    json_t *all = hk_list_all(&srv, key, list, 2, NULL);
    free(list);
    size_t i;
    json_t *item;
    bool seen = false;
    json_array_foreach(all, i, item)
    {
        const char *id = hk_jstr(item, "id");
        if (strcmp(id, fid) == 0) {
            seen = true;
            assert_string_equal(hk_jstr(item, "blocked_by.delivery_id"), fd1);
        } else if (strcmp(hk_jstr(item, "ordering"), "unordered") == 0) {
            assert_true(json_is_null(hk_jget(item, "blocked_by")));
        }
    }
    assert_true(seen);
    json_decref(all);

    struct hk_reply *r =
        hk_call(&srv, "POST", key, NULL, "/v1/tenants/%s/deliveries/%s/replay",
                tid, fd1);
    hk_expect(r, 202);
    hk_reply_free(r);
    wait_unblocked(fid, fd1, "succeeded");
    wait_unblocked(fid, fd2, "succeeded");
}

/* ---- skip ------------------------------------------------------------- */

static void test_skip(void **state)
{
    (void)state;
    const struct hk_rcv_resp fail = {.status = 503, .path = "/skip"};
    hk_rcv_set_default(rcv, &fail);
    char fid[HK_ID_LEN];
    mk_endpoint("/skip", FIFO, fid);
    char ev1[HK_ID_LEN], d1[HK_ID_LEN], ev2[HK_ID_LEN], d2[HK_ID_LEN];
    post_event(11, fid, ev1, d1);
    json_t *e = wait_blocked_by(fid, d1);
    long long attempts = hk_jint(e, "blocked_by.attempt_count", 0);
    json_decref(e);
    const struct hk_rcv_resp ok = {.status = 200, .path = "/skip"};
    hk_rcv_set_default(rcv, &ok);
    post_event(12, fid, ev2, d2);

    /* a read session may look but not skip */
    char *reader = hk_mk_session(&srv, tid, "{\"scope\":\"read\"}", NULL);
    struct hk_reply *r = hk_call(&srv, "POST", reader, NULL,
                                 "/v1/tenants/%s/deliveries/%s/skip", tid, d1);
    hk_expect_error(r, 403, "forbidden", NULL);
    hk_reply_free(r);
    free(reader);

    /* another tenant cannot tell it exists */
    char other[HK_ID_LEN];
    char *okey = hk_eng_tenant(&srv, "fifo-other", other);
    r = hk_call(&srv, "POST", okey, NULL, "/v1/tenants/%s/deliveries/%s/skip",
                other, d1);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "POST", okey, NULL, "/v1/tenants/%s/deliveries/%s/skip",
                tid, d1);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    free(okey);
    r = hk_call(&srv, "POST", key, NULL,
                "/v1/tenants/%s/deliveries/" NO_SUCH_ID "/skip", tid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "POST", key, "{\"why\":1}",
                "/v1/tenants/%s/deliveries/%s/skip", tid, d1);
    hk_expect_error(r, 422, "validation_failed", "why");
    hk_reply_free(r);
    char *st = delivery_status(d1);
    assert_string_equal(st, "pending");
    free(st);

    long long changes = hk_sql_int(&srv,
                                   "SELECT count(*) FROM hookd.changes"
                                   " WHERE tenant_id = $1 AND delivery_id = $2",
                                   tid, d1);
    r = hk_call(&srv, "POST", key, NULL, "/v1/tenants/%s/deliveries/%s/skip",
                tid, d1);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "id"), d1);
    assert_string_equal(hk_jstr(r->json, "status"), "failed");
    assert_string_equal(hk_jstr(r->json, "last_error"), "skipped");
    assert_true(json_is_null(hk_jget(r->json, "next_attempt_at")));
    assert_true(hk_is_rfc3339_ms(hk_jstr(r->json, "completed_at")));
    assert_int_equal(hk_jint(r->json, "attempt_count", -1), attempts);
    hk_reply_free(r);
    /* the live updates route hears of it */
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.changes"
                                " WHERE tenant_id = $1 AND delivery_id = $2",
                                tid, d1),
                     changes + 1);

    /* the next one goes, and the skipped one is never sent again */
    wait_unblocked(fid, d2, "succeeded");
    size_t sent = 0;
    for (size_t i = 0; i < hk_rcv_count_path(rcv, "/skip"); i++) {
        const char *id =
            hk_rcv_req_header(hk_rcv_get_path(rcv, "/skip", i), "webhook-id");
        if (id != NULL && strcmp(id, ev1) == 0)
            sent++;
    }
    assert_int_equal(sent, attempts);
    st = delivery_status(d1);
    assert_string_equal(st, "failed");
    free(st);

    /* neither an ended delivery nor a succeeded one can be skipped */
    r = hk_call(&srv, "POST", key, NULL, "/v1/tenants/%s/deliveries/%s/skip",
                tid, d1);
    hk_expect_error(r, 409, "conflict", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "POST", key, NULL, "/v1/tenants/%s/deliveries/%s/skip",
                tid, d2);
    hk_expect_error(r, 409, "conflict", NULL);
    hk_reply_free(r);
    st = delivery_status(d2);
    assert_string_equal(st, "succeeded");
    free(st);
}

static void test_skip_while_sending(void **state)
{
    (void)state;
    const struct hk_rcv_resp slow = {
        .status = 200, .delay_ms = 1500, .path = "/slow"};
    hk_rcv_set_default(rcv, &slow);
    char eid[HK_ID_LEN];
    mk_endpoint("/slow", NULL, eid);
    char ev[HK_ID_LEN], did[HK_ID_LEN];
    size_t before = hk_rcv_count_path(rcv, "/slow");
    post_event(21, eid, ev, did);
    assert_true(hk_rcv_wait_for_path(rcv, "/slow", before + 1, 20000));
    /* the receiver holds the request: the delivery is being sent (shown
     * within 50 ms of the claim) */
    int64_t shown = hk_wall_ms() + 1000;
    char *now;
    while (strcmp(now = delivery_status(did), "sending") != 0 &&
           hk_wall_ms() < shown) {
        free(now);
        hk_sleep_ms(10);
    }
    assert_string_equal(now, "sending");
    free(now);
    struct hk_reply *r = hk_call(&srv, "POST", key, NULL,
                                 "/v1/tenants/%s/deliveries/%s/skip", tid, did);
    hk_expect_error(r, 409, "conflict", NULL);
    assert_non_null(strstr(hk_jstr(r->json, "error.message"), "being sent"));
    hk_reply_free(r);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 20000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordering_default_and_patch),
        cmocka_unit_test(test_ordering_validation),
        cmocka_unit_test(test_blocked_then_replayed),
        cmocka_unit_test(test_skip),
        cmocka_unit_test(test_skip_while_sending),
    };
    int rc = cmocka_run_group_tests_name("api_fifo", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
