/*
 * test_engine.c - end-to-end tests of the delivery engine as docs/design.md and
 * docs/api.md state it: fan-out to the matching enabled endpoints only (and the
 * edges of the filter rules), the Standard Webhooks envelope with the
 * payload's exact bytes, the headers a receiver gets and their signature,
 * retries on the schedule, exhaustion and replay, Retry-After on 429 and
 * 503 (seconds and HTTP date), 410 Gone, redirects not followed, timeouts,
 * the 4 KiB response cap, max_concurrency, rate_limit, idempotency keys,
 * endpoint deletion (pending and in flight), the delivery list's filters
 * and pages, the wall between tenants, and a tenant deleted with a
 * request in flight. One hookd (serve) for the file with
 * HOOKD_RETRY_SCHEDULE=1s,1s (3 attempts in all) and
 * HOOKD_REQUEST_TIMEOUT=2s, and two receivers: every test has a tenant
 * and receiver paths of its own, so tests do not see each other's
 * traffic.
 */
#include "common.h"
#include "engine_util.h"
#include "sign.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;  /* where endpoints point */
static struct hk_rcv *rcv2; /* a redirect target that must hear nothing */

#define NO_SUCH_ID "01890a5d-ac96-774b-bcce-b302099a8057"

static int group_setup(void **state)
{
    (void)state;
    static const char *const env[] = {"HOOKD_RETRY_SCHEDULE=1s,1s",
                                      "HOOKD_REQUEST_TIMEOUT=2s", NULL};
    rcv = hk_rcv_start();
    rcv2 = hk_rcv_start();
    if (rcv == NULL || rcv2 == NULL)
        return -1;
    if (hk_srv_start(&srv, env) != 0)
        return -1;
    hk_mk_event_type(&srv, "order.created");
    hk_mk_event_type(&srv, "order.paid");
    hk_mk_event_type(&srv, "order.refund.issued");
    hk_mk_event_type(&srv, "user.signup");
    hk_mk_event_type(&srv, "misc.ping");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = hk_srv_finish(&srv);
    hk_rcv_stop(rcv);
    hk_rcv_stop(rcv2);
    rcv = rcv2 = NULL;
    return rc;
}

/* ---- helpers ------------------------------------------------------------ */

/* An endpoint on the receiver at path. */
static void ep_at(const char *key, const char *tid, const char *path,
                  const char *members, char *eid)
{
    char *url = hk_rcv_url(rcv, path);
    hk_eng_endpoint(&srv, key, tid, url, members, eid);
    free(url);
}

/* From now on every request to path gets this answer (one header line or
 * NULL, a body or NULL, after delay_ms). */
static void answer(const char *path, int status, const char *header,
                   const char *body, int delay_ms)
{
    const char *hdrs[] = {header, NULL};
    struct hk_rcv_resp a = {status, header ? hdrs : NULL, body, delay_ms, false,
                            path};
    hk_rcv_set_default(rcv, &a);
}

/* The next request to path gets this answer, once. */
static void answer_once(const char *path, int status, const char *header,
                        const char *body, int delay_ms)
{
    const char *hdrs[] = {header, NULL};
    struct hk_rcv_resp a = {status, header ? hdrs : NULL, body, delay_ms, false,
                            path};
    hk_rcv_push(rcv, &a);
}

static void wait_path(const char *path, size_t n, int timeout_ms)
{
    if (!hk_rcv_wait_for_path(rcv, path, n, timeout_ms))
        fail_msg("the receiver got %zu requests at %s within %d ms, "
                 "expected %zu",
                 hk_rcv_count_path(rcv, path), path, timeout_ms, n);
}

static struct hk_reply *replay(const char *key, const char *tid,
                               const char *did, const char *body)
{
    return hk_call(&srv, "POST", key, body,
                   "/v1/tenants/%s/deliveries/%s/replay", tid, did);
}

/* A header in a JSON object of headers, by name in any case. */
static const char *hdr_ci(json_t *obj, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (strcasecmp(k, name) == 0 && json_is_string(v))
            return json_string_value(v);
    }
    return NULL;
}

static bool is_null_member(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return v != NULL && json_is_null(v);
}

static void expect_time_member(json_t *obj, const char *name)
{
    const char *v = hk_jstr(obj, name);
    if (!hk_is_rfc3339_ms(v))
        fail_msg("%s is \"%s\", not an RFC 3339 time with milliseconds", name,
                 v ? v : "(missing or not a string)");
}

/* ---- fan-out ------------------------------------------------------------ */

/* One event type and which endpoints its event must reach: want holds one
 * character per endpoint, 'x' for a delivery and '.' for none. */
struct fan_row {
    const char *type;
    const char *want;
};

/* Posts one event per row and checks, through the API, that the event
 * answers with the right "deliveries" count, that its deliveries go to
 * exactly the endpoints marked (once each), and then that the receiver
 * hears exactly the marked events at each endpoint's path. */
static void check_fanout(const char *key, const char *tid,
                         const char *const *paths, char (*eid)[HK_ID_LEN],
                         size_t neps, const struct fan_row *rows,
                         size_t nrows)
{
    char(*evid)[HK_ID_LEN] = calloc(nrows, HK_ID_LEN);
    size_t *per_path = calloc(neps, sizeof(*per_path));
    assert_true(evid != NULL && per_path != NULL);
    for (size_t e = 0; e < nrows; e++) {
        assert_int_equal(strlen(rows[e].want), neps);
        int expected = 0;
        for (size_t i = 0; i < neps; i++)
            if (rows[e].want[i] == 'x') {
                expected++;
                per_path[i]++;
            }
        int n = hk_eng_event(&srv, key, tid, rows[e].type, "{\"k\":1}",
                             evid[e]);
        if (n != expected)
            fail_msg("event %s: \"deliveries\" is %d, expected %d",
                     rows[e].type, n, expected);
        /* the stored event says the same */
        struct hk_reply *r = hk_call(&srv, "GET", key, NULL,
                                     "/v1/tenants/%s/events/%s", tid, evid[e]);
        hk_expect(r, 200);
        assert_int_equal(hk_jint(r->json, "deliveries", -1), expected);
        hk_reply_free(r);
        /* and the deliveries are for exactly the matching endpoints */
        char *q = hk_fmt("event_id=%s", evid[e]);
        json_t *ds = hk_eng_deliveries(&srv, key, tid, q);
        free(q);
        assert_int_equal(json_array_size(ds), (size_t)expected);
        for (size_t i = 0; i < neps; i++) {
            int found = 0;
            size_t k;
            json_t *d;
            json_array_foreach(ds, k, d)
            {
                const char *de = hk_jstr(d, "endpoint_id");
                if (de != NULL && strcmp(de, eid[i]) == 0)
                    found++;
                assert_string_equal(hk_jstr(d, "event_id"), evid[e]);
                assert_string_equal(hk_jstr(d, "event_type"), rows[e].type);
            }
            if (found != (rows[e].want[i] == 'x'))
                fail_msg("event %s: endpoint %s got %d deliveries, "
                         "expected %d",
                         rows[e].type, paths[i], found,
                         rows[e].want[i] == 'x');
        }
        json_decref(ds);
    }

    /* the receiver hears exactly the matching events at each path */
    for (size_t i = 0; i < neps; i++)
        if (per_path[i] > 0)
            wait_path(paths[i], per_path[i], 10000);
    hk_sleep_ms(1500);
    for (size_t i = 0; i < neps; i++) {
        struct hk_eng_ids ids;
        hk_eng_ids_at(rcv, paths[i], &ids);
        if (ids.total != per_path[i])
            fail_msg("%s got %zu requests, expected %zu", paths[i], ids.total,
                     per_path[i]);
        for (size_t e = 0; e < nrows; e++)
            if (hk_eng_ids_has(&ids, evid[e]) != (rows[e].want[i] == 'x'))
                fail_msg("%s: event %s %s", paths[i], rows[e].type,
                         rows[e].want[i] == 'x' ? "missing"
                                                : "delivered by mistake");
        hk_eng_ids_free(&ids);
    }
    free(evid);
    free(per_path);
}

#define FAN_EPS 11

static void test_fanout_matches_filters(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "fanout", tid);
    static const char *const paths[FAN_EPS] = {
        "/fan/exact", "/fan/prefix",   "/fan/star",     "/fan/empty",
        "/fan/omitted", "/fan/user",   "/fan/two",      "/fan/deep",
        "/fan/disabled", "/fan/off-later", "/fan/deleted",
    };
    static const char *const members[FAN_EPS] = {
        "\"event_types\":[\"order.created\"]",
        "\"event_types\":[\"order.*\"]",
        "\"event_types\":[\"*\"]",
        "\"event_types\":[]",
        NULL,
        "\"event_types\":[\"user.signup\"]",
        "\"event_types\":[\"order.created\",\"user.signup\"]",
        "\"event_types\":[\"order.refund.*\"]",
        "\"event_types\":[\"*\"],\"enabled\":false",
        "\"event_types\":[\"*\"]",
        "\"event_types\":[\"*\"]",
    };
    /* which endpoint (column, in paths order) gets which event (row) */
    static const struct fan_row rows[] = {
        {"order.created",       "xxxxx.x...."},
        {"user.signup",         "..xxxxx...."},
        {"order.refund.issued", ".xxxx..x..."},
        {"misc.ping",           "..xxx......"},
    };
    char eid[FAN_EPS][HK_ID_LEN];
    for (int i = 0; i < FAN_EPS; i++)
        ep_at(key, tid, paths[i], members[i], eid[i]);
    struct hk_reply *r = hk_call(&srv, "PATCH", key, "{\"enabled\":false}",
                                 "/v1/tenants/%s/endpoints/%s", tid, eid[9]);
    hk_expect(r, 200);
    hk_reply_free(r);
    r = hk_call(&srv, "DELETE", key, NULL, "/v1/tenants/%s/endpoints/%s", tid,
                eid[10]);
    hk_expect(r, 204);
    hk_reply_free(r);
    check_fanout(key, tid, paths, eid, FAN_EPS, rows, HK_ARRAY_LEN(rows));
    free(key);
}

/* The edges of docs/api.md's filter rules, as fan-out (the SQL function
 * hookd.filter_matches) applies them: "invoice.*" needs "invoice." and
 * something after it, so neither "invoice" nor "invoicex.paid" nor
 * "invoices.paid" match; names are compared byte for byte (case counts,
 * and '_' is no LIKE wildcard); a prefix filter may be deeper than the
 * type; overlapping filters in one list make one delivery, not several. */
#define EDGE_EPS 11

static void test_fanout_filter_edges(void **state)
{
    (void)state;
    static const char *const types[] = {
        "invoice.paid",  "invoicex.paid", "invoice",       "invoices.paid",
        "xinvoice.paid", "invoice.paid.late", "invoice.x.y", "invoice.pai",
        "invoice-paid",  "in_voice.paid", "inXvoice.paid", "Invoice.paid",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(types); i++)
        hk_mk_event_type(&srv, types[i]);
    char tid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "filter-edges", tid);
    static const char *const paths[EDGE_EPS] = {
        "/fe/exact", "/fe/prefix", "/fe/star",  "/fe/empty",
        "/fe/bare",  "/fe/deep",   "/fe/under", "/fe/case",
        "/fe/overlap", "/fe/two",  "/fe/none",
    };
    static const char *const members[EDGE_EPS] = {
        "\"event_types\":[\"invoice.paid\"]",
        "\"event_types\":[\"invoice.*\"]",
        "\"event_types\":[\"*\"]",
        "\"event_types\":[]",
        "\"event_types\":[\"invoice\"]",
        "\"event_types\":[\"invoice.paid.*\"]",
        "\"event_types\":[\"in_voice.*\"]",
        "\"event_types\":[\"Invoice.*\"]",
        "\"event_types\":[\"invoice.paid\",\"invoice.*\",\"*\"]",
        "\"event_types\":[\"invoicex.paid\",\"invoice\"]",
        "\"event_types\":[\"nothing.*\"]",
    };
    /* columns: exact prefix star empty bare deep under case overlap two
     * none */
    static const struct fan_row rows[] = {
        {"invoice.paid",      "xxxx....x.."},
        {"invoicex.paid",     "..xx....xx."},
        {"invoice",           "..xxx...xx."},
        {"invoices.paid",     "..xx....x.."},
        {"xinvoice.paid",     "..xx....x.."},
        {"invoice.paid.late", ".xxx.x..x.."},
        {"invoice.x.y",       ".xxx....x.."},
        {"invoice.pai",       ".xxx....x.."},
        {"invoice-paid",      "..xx....x.."},
        {"in_voice.paid",     "..xx..x.x.."},
        {"inXvoice.paid",     "..xx....x.."},
        {"Invoice.paid",      "..xx...xx.."},
    };
    char eid[EDGE_EPS][HK_ID_LEN];
    for (int i = 0; i < EDGE_EPS; i++)
        ep_at(key, tid, paths[i], members[i], eid[i]);
    check_fanout(key, tid, paths, eid, EDGE_EPS, rows, HK_ARRAY_LEN(rows));
    free(key);
}

/* ---- what a receiver gets ------------------------------------------------ */

/* Odd whitespace, escapes, raw UTF-8 and number spellings that a parse and
 * re-serialise would change: the receiver must get these very bytes. */
static const char odd_payload[] =
    "{ \"b\" : [ 1 ,2.50, -0.0e0 , 1E+2,true,null ],\n\t\"s\":"
    "\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\/ \\u0041\"  ,"
    "\"raw\":\"\xc3\xbcn\xc3\xaf \xe2\x82\xac\", \"nested\" : {\"x\" : {}} ,"
    "\"e\":[ ]\r\n}";

static void test_envelope_and_headers(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], other[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "envelope", tid);
    ep_at(key, tid, "/env/hook?src=hookd&x=1",
          "\"event_types\":[\"order.paid\"],\"headers\":{\"X-Colour\":"
          "\"blue\",\"X-Api-Key\":\"k-123 456\"}",
          eid);
    ep_at(key, tid, "/env/other", "\"event_types\":[\"user.signup\"]", other);
    char *secret = hk_eng_secret(&srv, key, tid, eid);
    char *other_secret = hk_eng_secret(&srv, key, tid, other);
    assert_string_not_equal(secret, other_secret);

    char *body = hk_fmt("{\"event_type\" : \"order.paid\",\r\n  "
                        "\"payload\":  %s \n}",
                        odd_payload);
    struct hk_reply *r = hk_eng_post_body(&srv, key, tid, body, NULL);
    free(body);
    hk_expect(r, 202);
    assert_int_equal(hk_jint(r->json, "deliveries", -1), 1);
    char evid[HK_ID_LEN], created[64];
    snprintf(evid, sizeof evid, "%s", hk_jstr(r->json, "id"));
    snprintf(created, sizeof created, "%s", hk_jstr(r->json, "created_at"));
    assert_true(hk_is_rfc3339_ms(created));
    /* the API shows the payload as JSON equal to what was posted */
    json_t *want_payload = json_loads(odd_payload, 0, NULL);
    assert_non_null(want_payload);
    if (!json_equal(want_payload, hk_jget(r->json, "payload")))
        fail_msg("the event's payload differs from the one posted: %s",
                 r->body);
    json_decref(want_payload);
    /* and as the very bytes posted, as the receiver gets them */
    if (strstr(r->body, odd_payload) == NULL)
        fail_msg("the answer does not carry the payload's exact text: %s",
                 r->body);
    /* the answer to the POST is the event as stored, field for field */
    struct hk_reply *g =
        hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/events/%s", tid, evid);
    hk_expect(g, 200);
    if (!json_equal(r->json, g->json))
        fail_msg("POST answered\n  %s\nbut GET shows\n  %s", r->body,
                 g->body);
    assert_true(json_is_null(json_object_get(r->json, "idempotency_key")));
    hk_reply_free(g);
    hk_reply_free(r);

    wait_path("/env/hook", 1, 10000);
    int64_t now_s = hk_wall_ms() / 1000;
    const struct hk_rcv_req *q = hk_rcv_get_path(rcv, "/env/hook", 0);
    assert_string_equal(q->method, "POST");
    assert_string_equal(q->uri, "/env/hook?src=hookd&x=1");

    /* the body: the envelope around the exact payload bytes */
    char *expected = hk_fmt("{\"type\":\"order.paid\",\"timestamp\":\"%s\","
                            "\"data\":%s}",
                            created, odd_payload);
    if (q->body_len != strlen(expected) ||
        memcmp(q->body, expected, q->body_len) != 0)
        fail_msg("the receiver got the body\n  %s\nexpected\n  %s", q->body,
                 expected);
    free(expected);

    /* the headers: exactly the documented set */
    static const char *const allowed[] = {
        "Host",       "Content-Length",    "Content-Type",      "User-Agent",
        "webhook-id", "webhook-timestamp", "webhook-signature", "X-Colour",
        "X-Api-Key"};
    for (size_t i = 0; i < q->nhdrs; i++) {
        bool ok = false;
        for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++)
            ok = ok || strcasecmp(q->hdrs[i].name, allowed[k]) == 0;
        if (!ok)
            fail_msg("the receiver got an undocumented header %s: %s",
                     q->hdrs[i].name, q->hdrs[i].value);
        for (size_t k = i + 1; k < q->nhdrs; k++)
            if (strcasecmp(q->hdrs[i].name, q->hdrs[k].name) == 0)
                fail_msg("header %s sent twice", q->hdrs[i].name);
    }
    assert_string_equal(hk_rcv_req_header(q, "Content-Type"),
                        "application/json");
    assert_string_equal(hk_rcv_req_header(q, "User-Agent"),
                        "hookd/" HK_VERSION);
    assert_string_equal(hk_rcv_req_header(q, "webhook-id"), evid);
    assert_string_equal(hk_rcv_req_header(q, "X-Colour"), "blue");
    assert_string_equal(hk_rcv_req_header(q, "X-Api-Key"), "k-123 456");
    const char *ts = hk_rcv_req_header(q, "webhook-timestamp");
    assert_non_null(ts);
    char *end;
    long long t = strtoll(ts, &end, 10);
    if (*end != '\0' || t < now_s - 10 || t > now_s + 1)
        fail_msg("webhook-timestamp %s is not the Unix second of the "
                 "attempt (now %lld)",
                 ts, (long long)now_s);
    const char *sig = hk_rcv_req_header(q, "webhook-signature");
    assert_non_null(sig);
    if (strncmp(sig, "v1,", 3) != 0 || strchr(sig, ' ') != NULL)
        fail_msg("webhook-signature is \"%s\", expected one v1,<base64>", sig);
    if (!hk_eng_sig_ok(q, secret))
        fail_msg("the signature does not verify with the endpoint's secret");
    if (hk_eng_sig_ok(q, other_secret))
        fail_msg("the signature verifies with another endpoint's secret");
    if (hk_sign_verify(secret, evid, t + 1, q->body, q->body_len, sig))
        fail_msg("the signature does not cover the timestamp");

    /* the attempt records the request as sent */
    char did[HK_ID_LEN];
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000);
    json_decref(d);
    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 1);
    json_t *a0 = json_array_get(att, 0);
    char *url = hk_rcv_url(rcv, "/env/hook?src=hookd&x=1");
    assert_string_equal(hk_jstr(a0, "request.url"), url);
    free(url);
    json_t *rh = hk_jget(a0, "request.headers");
    assert_true(json_is_object(rh));
    assert_string_equal(hdr_ci(rh, "webhook-id"), evid);
    assert_string_equal(hdr_ci(rh, "webhook-timestamp"), ts);
    assert_string_equal(hdr_ci(rh, "X-Colour"), "blue");
    json_decref(att);

    /* the other endpoint heard nothing */
    assert_int_equal(hk_rcv_count_path(rcv, "/env/other"), 0);
    free(secret);
    free(other_secret);
    free(key);
}

/* ---- retries --------------------------------------------------------------
 */

static void test_retry_then_success(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "retry", tid);
    ep_at(key, tid, "/retry", NULL, eid);
    char *secret = hk_eng_secret(&srv, key, tid, eid);
    answer_once("/retry", 500, "X-Err: first", "oops one", 0);
    answer_once("/retry", 500, "X-Err: second", "oops two", 0);
    answer_once("/retry", 200, NULL, "fine", 0);
    assert_int_equal(
        hk_eng_event(&srv, key, tid, "order.created", "{\"r\":1}", evid), 1);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);

    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "succeeded", 15000);
    assert_int_equal(hk_jint(d, "attempt_count", -1), 3);
    assert_int_equal(hk_jint(d, "last_status_code", -1), 200);
    assert_true(is_null_member(d, "last_error"));
    expect_time_member(d, "completed_at");
    json_decref(d);

    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 3);
    static const int codes[] = {500, 500, 200};
    static const char *const bodies[] = {"oops one", "oops two", "fine"};
    static const char *const xerr[] = {"first", "second", NULL};
    int64_t prev_start = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *a = json_array_get(att, i);
        assert_true(hk_is_uuid7(hk_jstr(a, "id")));
        assert_string_equal(hk_jstr(a, "delivery_id"), did);
        assert_int_equal(hk_jint(a, "number", -1), (long long)i + 1);
        assert_int_equal(hk_jint(a, "status_code", -1), codes[i]);
        assert_true(is_null_member(a, "error"));
        assert_true(hk_jint(a, "duration_ms", -1) >= 0);
        expect_time_member(a, "started_at");
        assert_string_equal(hk_jstr(a, "response.body"), bodies[i]);
        assert_true(json_is_false(hk_jget(a, "response.truncated")));
        json_t *rh = hk_jget(a, "response.headers");
        assert_true(json_is_object(rh));
        const char *x = hdr_ci(rh, "X-Err");
        if (xerr[i] == NULL)
            assert_null(x);
        else
            assert_string_equal(x, xerr[i]);
        int64_t start = hk_eng_time_ms(hk_jstr(a, "started_at"));
        if (i > 0 && start - prev_start < 850)
            fail_msg("attempt %zu started %lld ms after the previous one; "
                     "the schedule says 1 s (+-10%%)",
                     i + 1, (long long)(start - prev_start));
        prev_start = start;
    }
    json_decref(att);

    /* the receiver saw the same webhook-id three times, each signed anew */
    assert_int_equal(hk_rcv_count_path(rcv, "/retry"), 3);
    long long first_ts = 0;
    for (size_t i = 0; i < 3; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, "/retry", i);
        assert_string_equal(hk_rcv_req_header(q, "webhook-id"), evid);
        assert_true(hk_eng_sig_ok(q, secret));
        long long ts =
            strtoll(hk_rcv_req_header(q, "webhook-timestamp"), NULL, 10);
        if (i == 0)
            first_ts = ts;
        else if (i == 2 && ts <= first_ts)
            fail_msg("the third attempt, 2 s after the first, carries "
                     "webhook-timestamp %lld, the first %lld: it must be "
                     "the time of the attempt",
                     ts, first_ts);
    }
    free(secret);
    free(key);
}

static void test_exhaustion_then_replay(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "exhaust", tid);
    ep_at(key, tid, "/exhaust", NULL, eid);
    answer("/exhaust", 500, NULL, "down", 0);
    hk_eng_event(&srv, key, tid, "order.created", "{\"x\":true}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);

    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "failed", 15000);
    assert_int_equal(hk_jint(d, "attempt_count", -1), 3);
    assert_int_equal(hk_jint(d, "last_status_code", -1), 500);
    expect_time_member(d, "completed_at");
    assert_true(is_null_member(d, "next_attempt_at"));
    json_decref(d);
    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(hk_jint(json_array_get(att, i), "status_code", -1),
                         500);
    json_decref(att);
    /* nothing more is tried once failed */
    hk_sleep_ms(1500);
    assert_int_equal(hk_rcv_count_path(rcv, "/exhaust"), 3);

    /* replay: pending again and due now, then sent with the same id */
    answer("/exhaust", 200, NULL, "back", 0);
    struct hk_reply *r = replay(key, tid, did, NULL);
    hk_expect(r, 202);
    assert_string_equal(hk_jstr(r->json, "id"), did);
    assert_string_equal(hk_jstr(r->json, "status"), "pending");
    expect_time_member(r->json, "next_attempt_at");
    hk_reply_free(r);
    d = hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000);
    assert_int_equal(hk_jint(d, "attempt_count", -1), 4);
    json_decref(d);
    att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(hk_jint(json_array_get(att, i), "number", -1),
                         (long long)i + 1);
    assert_int_equal(hk_jint(json_array_get(att, 3), "status_code", -1), 200);
    json_decref(att);

    /* a succeeded delivery can be replayed too, with an empty object */
    r = replay(key, tid, did, "{}");
    hk_expect(r, 202);
    hk_reply_free(r);
    att = hk_eng_wait_attempts(&srv, key, tid, did, 5, 10000);
    assert_int_equal(hk_jint(json_array_get(att, 4), "number", -1), 5);
    json_decref(att);
    d = hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000);
    json_decref(d);

    /* the attempts list pages oldest first like any list */
    char *path = hk_fmt("/v1/tenants/%s/deliveries/%s/attempts", tid, did);
    int pages = 0;
    att = hk_list_all(&srv, key, path, 2, &pages);
    free(path);
    assert_int_equal(json_array_size(att), 5);
    assert_int_equal(pages, 3);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(hk_jint(json_array_get(att, i), "number", -1),
                         (long long)i + 1);
    json_decref(att);

    assert_int_equal(hk_rcv_count_path(rcv, "/exhaust"), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(
            hk_rcv_req_header(hk_rcv_get_path(rcv, "/exhaust", i),
                              "webhook-id"),
            evid);
    free(key);
}

static void test_replay_conflicts(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char slow[HK_ID_LEN], later[HK_ID_LEN], dis[HK_ID_LEN], del[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "replay409", tid);
    static const char *const order = "\"event_types\":[\"order.paid\"]";
    static const char *const signup = "\"event_types\":[\"user.signup\"]";
    static const char *const ping = "\"event_types\":[\"misc.ping\"]";
    static const char *const refund = "\"event_types\":[\"order.created\"]";

    /* sending: the receiver holds the request for 1.5 s */
    ep_at(key, tid, "/r409/slow", order, slow);
    answer_once("/r409/slow", 200, NULL, NULL, 1500);
    hk_eng_event(&srv, key, tid, "order.paid", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, slow, did);
    wait_path("/r409/slow", 1, 10000);
    /* the dispatcher writes what it holds within 50 ms of a change */
    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "sending", 1000);
    json_decref(d);
    /* the list's status filter sees it as sending, not as pending */
    char *q = hk_fmt("endpoint_id=%s&status=sending", slow);
    json_t *ds = hk_eng_deliveries(&srv, key, tid, q);
    assert_int_equal(json_array_size(ds), 1);
    assert_string_equal(hk_jstr(json_array_get(ds, 0), "id"), did);
    json_decref(ds);
    free(q);
    q = hk_fmt("endpoint_id=%s&status=pending", slow);
    ds = hk_eng_deliveries(&srv, key, tid, q);
    assert_int_equal(json_array_size(ds), 0);
    json_decref(ds);
    free(q);
    struct hk_reply *r = replay(key, tid, did, NULL);
    hk_expect_error(r, 409, "conflict", NULL);
    assert_string_equal(hk_jstr(r->json, "error.message"),
                        "this delivery is being sent now");
    hk_reply_free(r);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000));

    /* pending: a 503 asked for two minutes */
    ep_at(key, tid, "/r409/later", signup, later);
    answer("/r409/later", 503, "Retry-After: 120", NULL, 0);
    hk_eng_event(&srv, key, tid, "user.signup", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, later, did);
    json_t *att = hk_eng_wait_attempts(&srv, key, tid, did, 1, 10000);
    d = hk_eng_wait_status(&srv, key, tid, did, "pending", 5000);
    int64_t next = hk_eng_time_ms(hk_jstr(d, "next_attempt_at"));
    int64_t started =
        hk_eng_time_ms(hk_jstr(json_array_get(att, 0), "started_at"));
    if (next - started < 119000)
        fail_msg("after 503 with Retry-After: 120 the next attempt is due "
                 "%lld ms after the first",
                 (long long)(next - started));
    const char *first = hk_jstr(json_array_get(att, 0), "id");
    char first_id[HK_ID_LEN];
    snprintf(first_id, sizeof first_id, "%s", first);
    json_decref(att);
    json_decref(d);
    /* "retry now": due at once, its attempt history and count kept */
    int64_t asked = hk_wall_ms();
    r = replay(key, tid, did, NULL);
    hk_expect(r, 202);
    assert_string_equal(hk_jstr(r->json, "status"), "pending");
    assert_int_equal(hk_jint(r->json, "attempt_count", -1), 1);
    if (hk_eng_time_ms(hk_jstr(r->json, "next_attempt_at")) > asked + 2000)
        fail_msg("a pending delivery replayed is due at %s, not now",
                 hk_jstr(r->json, "next_attempt_at"));
    hk_reply_free(r);
    att = hk_eng_wait_attempts(&srv, key, tid, did, 2, 10000);
    if (hk_wall_ms() - asked > 10000)
        fail_msg("the retry came %lld ms after it was asked for",
                 (long long)(hk_wall_ms() - asked));
    assert_string_equal(hk_jstr(json_array_get(att, 0), "id"), first_id);
    assert_int_equal(hk_jint(json_array_get(att, 1), "number", -1), 2);
    json_decref(att);
    d = hk_eng_wait_status(&srv, key, tid, did, "pending", 5000);
    assert_int_equal(hk_jint(d, "attempt_count", -1), 2);
    json_decref(d);

    /* disabled endpoint: 409; enabled again: 202 */
    ep_at(key, tid, "/r409/disabled", ping, dis);
    hk_eng_event(&srv, key, tid, "misc.ping", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, dis, did);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000));
    r = hk_call(&srv, "PATCH", key, "{\"enabled\":false}",
                "/v1/tenants/%s/endpoints/%s", tid, dis);
    hk_expect(r, 200);
    hk_reply_free(r);
    r = replay(key, tid, did, NULL);
    hk_expect_error(r, 409, "conflict", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "PATCH", key, "{\"enabled\":true}",
                "/v1/tenants/%s/endpoints/%s", tid, dis);
    hk_expect(r, 200);
    hk_reply_free(r);
    r = replay(key, tid, did, NULL);
    hk_expect(r, 202);
    hk_reply_free(r);
    wait_path("/r409/disabled", 2, 10000);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000));

    /* deleted endpoint: 409 */
    ep_at(key, tid, "/r409/deleted", refund, del);
    hk_eng_event(&srv, key, tid, "order.created", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, del, did);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000));
    r = hk_call(&srv, "DELETE", key, NULL, "/v1/tenants/%s/endpoints/%s", tid,
                del);
    hk_expect(r, 204);
    hk_reply_free(r);
    r = replay(key, tid, did, NULL);
    hk_expect_error(r, 409, "conflict", NULL);
    hk_reply_free(r);

    /* an unknown delivery is 404, not 409 */
    r = replay(key, tid, NO_SUCH_ID, NULL);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);

    /* tidy: the two-minute wait ends with the endpoint */
    r = hk_call(&srv, "DELETE", key, NULL, "/v1/tenants/%s/endpoints/%s", tid,
                later);
    hk_expect(r, 204);
    hk_reply_free(r);
    free(key);
}

static void test_retry_after_429(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "retry-after", tid);
    ep_at(key, tid, "/ra", NULL, eid);
    answer_once("/ra", 429, "Retry-After: 3", "slow down", 0);
    hk_eng_event(&srv, key, tid, "order.created", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    wait_path("/ra", 2, 15000);
    const struct hk_rcv_req *q0 = hk_rcv_get_path(rcv, "/ra", 0);
    const struct hk_rcv_req *q1 = hk_rcv_get_path(rcv, "/ra", 1);
    int64_t gap = q1->arrival_ms - q0->arrival_ms;
    if (gap < 3000)
        fail_msg("the retry after 429 with Retry-After: 3 came %lld ms after "
                 "the first attempt; it must wait at least 3 s",
                 (long long)gap);
    if (gap > 8000)
        fail_msg("the retry after Retry-After: 3 came only after %lld ms",
                 (long long)gap);
    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000);
    json_decref(d);
    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 2);
    assert_int_equal(hk_jint(json_array_get(att, 0), "status_code", -1), 429);
    assert_string_equal(hk_jstr(json_array_get(att, 0), "response.body"),
                        "slow down");
    assert_int_equal(hk_jint(json_array_get(att, 1), "status_code", -1), 200);
    json_decref(att);
    free(key);
}

/* 503 Service Unavailable with Retry-After, in both of its forms: delta
 * seconds, and an HTTP date (IMF-fixdate) a few seconds ahead. The retry
 * waits at least that long, not the schedule's 1 s. */
static void test_retry_after_503(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], secs[HK_ID_LEN], date[HK_ID_LEN];
    char ev_secs[HK_ID_LEN], ev_date[HK_ID_LEN];
    char did_secs[HK_ID_LEN], did_date[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "retry-after-503", tid);
    ep_at(key, tid, "/ra503/secs", "\"event_types\":[\"order.created\"]",
          secs);
    ep_at(key, tid, "/ra503/date", "\"event_types\":[\"order.paid\"]", date);
    answer_once("/ra503/secs", 503, "Retry-After: 3", "busy", 0);
    /* a whole second 5 s ahead: at least 4 s from now */
    time_t at = (time_t)(hk_wall_ms() / 1000) + 5;
    struct tm tm;
    gmtime_r(&at, &tm);
    char when[64], hdr[96];
    strftime(when, sizeof when, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(hdr, sizeof hdr, "Retry-After: %s", when);
    answer_once("/ra503/date", 503, hdr, "busy", 0);
    hk_eng_event(&srv, key, tid, "order.created", "{}", ev_secs);
    hk_eng_event(&srv, key, tid, "order.paid", "{}", ev_date);
    hk_eng_delivery_id(&srv, key, tid, ev_secs, secs, did_secs);
    hk_eng_delivery_id(&srv, key, tid, ev_date, date, did_date);
    wait_path("/ra503/secs", 2, 15000);
    wait_path("/ra503/date", 2, 15000);

    const struct hk_rcv_req *q0 = hk_rcv_get_path(rcv, "/ra503/secs", 0);
    const struct hk_rcv_req *q1 = hk_rcv_get_path(rcv, "/ra503/secs", 1);
    int64_t gap = q1->arrival_ms - q0->arrival_ms;
    if (gap < 3000)
        fail_msg("the retry after 503 with Retry-After: 3 came %lld ms after "
                 "the first attempt; it must wait at least 3 s",
                 (long long)gap);
    if (gap > 8000)
        fail_msg("the retry after Retry-After: 3 came only after %lld ms",
                 (long long)gap);

    q0 = hk_rcv_get_path(rcv, "/ra503/date", 0);
    q1 = hk_rcv_get_path(rcv, "/ra503/date", 1);
    int64_t due = (int64_t)at * 1000;
    if (q1->arrival_ms < due)
        fail_msg("after 503 with Retry-After: %s the retry came %lld ms "
                 "early (%lld ms after the first attempt)",
                 when, (long long)(due - q1->arrival_ms),
                 (long long)(q1->arrival_ms - q0->arrival_ms));
    if (q1->arrival_ms > due + 5000)
        fail_msg("the retry after Retry-After: %s came %lld ms after that "
                 "time",
                 when, (long long)(q1->arrival_ms - due));

    const char *const dids[] = {did_secs, did_date};
    for (int i = 0; i < 2; i++) {
        json_decref(
            hk_eng_wait_status(&srv, key, tid, dids[i], "succeeded", 10000));
        json_t *att = hk_eng_attempts(&srv, key, tid, dids[i]);
        assert_int_equal(json_array_size(att), 2);
        json_t *a0 = json_array_get(att, 0);
        assert_int_equal(hk_jint(a0, "status_code", -1), 503);
        assert_string_equal(hk_jstr(a0, "response.body"), "busy");
        assert_non_null(hdr_ci(hk_jget(a0, "response.headers"), "Retry-After"));
        assert_int_equal(hk_jint(json_array_get(att, 1), "status_code", -1),
                         200);
        json_decref(att);
    }
    free(key);
}

static void test_gone_disables_endpoint(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], gone[HK_ID_LEN], other[HK_ID_LEN];
    char ev_wait[HK_ID_LEN], evid[HK_ID_LEN], evid2[HK_ID_LEN];
    char did_wait[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "gone", tid);
    ep_at(key, tid, "/gone/it", NULL, gone);
    ep_at(key, tid, "/gone/other", NULL, other);

    /* a first delivery waits two minutes to be retried */
    answer_once("/gone/it", 503, "Retry-After: 120", NULL, 0);
    assert_int_equal(
        hk_eng_event(&srv, key, tid, "order.created", "{}", ev_wait), 2);
    hk_eng_delivery_id(&srv, key, tid, ev_wait, gone, did_wait);
    json_decref(hk_eng_wait_attempts(&srv, key, tid, did_wait, 1, 10000));
    json_decref(hk_eng_wait_status(&srv, key, tid, did_wait, "pending", 5000));

    /* the next one is answered 410 Gone: it fails at once */
    answer("/gone/it", 410, NULL, "gone for good", 0);
    assert_int_equal(hk_eng_event(&srv, key, tid, "order.created", "{}", evid),
                     2);
    hk_eng_delivery_id(&srv, key, tid, evid, gone, did);
    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "failed", 10000);
    assert_int_equal(hk_jint(d, "attempt_count", -1), 1);
    assert_int_equal(hk_jint(d, "last_status_code", -1), 410);
    json_decref(d);

    /* the endpoint is disabled, with a reason */
    int64_t deadline = hk_wall_ms() + 3000;
    for (;;) {
        struct hk_reply *r = hk_call(&srv, "GET", key, NULL,
                                     "/v1/tenants/%s/endpoints/%s", tid, gone);
        hk_expect(r, 200);
        bool disabled = json_is_false(hk_jget(r->json, "enabled"));
        const char *why = hk_jstr(r->json, "disabled_reason");
        if (disabled && why != NULL && why[0] != '\0') {
            hk_reply_free(r);
            break;
        }
        if (hk_wall_ms() > deadline)
            fail_msg("after 410 the endpoint is not disabled with a "
                     "reason: %s",
                     r->body);
        hk_reply_free(r);
        hk_sleep_ms(100);
    }
    /* and its waiting delivery ends failed: a disabled endpoint is never
     * claimed, so it would otherwise wait for ever */
    d = hk_eng_wait_status(&srv, key, tid, did_wait, "failed", 3000);
    expect_time_member(d, "completed_at");
    json_decref(d);

    /* a later event creates no delivery for it */
    assert_int_equal(hk_eng_event(&srv, key, tid, "order.created", "{}", evid2),
                     1);
    char *q = hk_fmt("endpoint_id=%s", gone);
    json_t *ds = hk_eng_deliveries(&srv, key, tid, q);
    free(q);
    assert_int_equal(json_array_size(ds), 2);
    assert_string_equal(hk_jstr(ds, "0.event_id"), evid);
    assert_string_equal(hk_jstr(ds, "1.event_id"), ev_wait);
    json_decref(ds);
    wait_path("/gone/other", 3, 10000);
    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 1);
    assert_int_equal(hk_jint(json_array_get(att, 0), "status_code", -1), 410);
    assert_string_equal(hk_jstr(json_array_get(att, 0), "response.body"),
                        "gone for good");
    json_decref(att);

    /* enabling it again clears the reason and resends nothing */
    struct hk_reply *r = hk_call(&srv, "PATCH", key, "{\"enabled\":true}",
                                 "/v1/tenants/%s/endpoints/%s", tid, gone);
    hk_expect(r, 200);
    assert_true(json_is_true(hk_jget(r->json, "enabled")));
    assert_true(is_null_member(r->json, "disabled_reason"));
    hk_reply_free(r);
    hk_sleep_ms(1500);
    assert_int_equal(hk_rcv_count_path(rcv, "/gone/it"), 2);
    free(key);
}

static void test_redirect_not_followed(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "redirect", tid);
    ep_at(key, tid, "/redir", NULL, eid);
    char *target = hk_rcv_url(rcv2, "/target");
    char *loc = hk_fmt("Location: %s", target);
    answer("/redir", 302, loc, "moved", 0);
    free(loc);
    hk_eng_event(&srv, key, tid, "order.created", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    /* a redirect is a failure: retried, then failed */
    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "failed", 15000);
    assert_int_equal(hk_jint(d, "last_status_code", -1), 302);
    json_decref(d);
    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 3);
    size_t i;
    json_t *a;
    json_array_foreach(att, i, a)
    {
        assert_int_equal(hk_jint(a, "status_code", -1), 302);
        assert_true(is_null_member(a, "error"));
        assert_string_equal(hdr_ci(hk_jget(a, "response.headers"), "Location"),
                            target);
    }
    json_decref(att);
    assert_int_equal(hk_rcv_count_path(rcv, "/redir"), 3);
    assert_int_equal(hk_rcv_count(rcv2), 0);
    free(target);
    free(key);
}

static void test_timeout(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "timeout", tid);
    ep_at(key, tid, "/timeout", NULL, eid);
    answer_once("/timeout", 200, NULL, "too late", 4000);
    hk_eng_event(&srv, key, tid, "order.created", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "succeeded", 15000);
    assert_int_equal(hk_jint(d, "attempt_count", -1), 2);
    json_decref(d);
    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 2);
    json_t *a0 = json_array_get(att, 0);
    if (!is_null_member(a0, "status_code"))
        fail_msg("a timed-out attempt has status_code %lld, not null",
                 hk_jint(a0, "status_code", -1));
    const char *err = hk_jstr(a0, "error");
    if (err == NULL || (strcasestr(err, "timeout") == NULL &&
                        strcasestr(err, "timed out") == NULL))
        fail_msg("the timed-out attempt's error does not say so: %s",
                 err ? err : "(null)");
    long long dur = hk_jint(a0, "duration_ms", -1);
    if (dur < 1800 || dur > 3900)
        fail_msg("the timed-out attempt took %lld ms; the timeout is 2 s", dur);
    json_t *a1 = json_array_get(att, 1);
    assert_int_equal(hk_jint(a1, "status_code", -1), 200);
    assert_true(is_null_member(a1, "error"));
    json_decref(att);
    free(key);
}

static void test_response_body_cap(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "bigbody", tid);
    ep_at(key, tid, "/big", NULL, eid);
    enum { BIG = 10 * 1024 };
    char *big = malloc(BIG + 1);
    assert_non_null(big);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)('a' + (i * 7 + i / 26) % 26);
    big[BIG] = '\0';
    answer("/big", 200, NULL, big, 0);
    hk_eng_event(&srv, key, tid, "order.created", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000));
    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 1);
    const char *body = hk_jstr(json_array_get(att, 0), "response.body");
    assert_non_null(body);
    if (strlen(body) != 4096 || memcmp(body, big, 4096) != 0)
        fail_msg("the stored response body has %zu bytes; expected the "
                 "first 4096 of 10240",
                 strlen(body));
    assert_true(
        json_is_true(hk_jget(json_array_get(att, 0), "response.truncated")));
    json_decref(att);
    free(big);

    /* bytes that are not UTF-8 are stored replaced, the rest kept */
    char eid2[HK_ID_LEN];
    ep_at(key, tid, "/badutf8", "\"event_types\":[\"misc.ping\"]", eid2);
    answer("/badutf8", 200, NULL, "ok \xff\xfe caf\xc3\xa9 \xc3 end", 0);
    hk_eng_event(&srv, key, tid, "misc.ping", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid2, did);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000));
    att = hk_eng_attempts(&srv, key, tid, did);
    body = hk_jstr(json_array_get(att, 0), "response.body");
    if (body == NULL || strncmp(body, "ok ", 3) != 0 ||
        strstr(body, " caf\xc3\xa9 ") == NULL ||
        strstr(body, "\xef\xbf\xbd") == NULL ||
        strcmp(body + strlen(body) - 4, " end") != 0)
        fail_msg("a body with invalid UTF-8 is stored as \"%s\"; expected "
                 "the text with U+FFFD in place of the bad bytes",
                 body ? body : "(null)");
    assert_true(
        json_is_false(hk_jget(json_array_get(att, 0), "response.truncated")));
    json_decref(att);
    free(key);
}

/* At a max_concurrency 1 endpoint the requests go out one at a time in
 * the order the events were sent, also while the dispatcher holds a
 * second delivery ahead to wait for the slot. */
static void test_one_at_a_time_keeps_order(void **state)
{
    (void)state;
    enum { N = 8 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[N][HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "one-at-a-time", tid);
    ep_at(key, tid, "/order", "\"max_concurrency\":1", eid);
    answer("/order", 200, NULL, NULL, 100);
    for (int i = 0; i < N; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        hk_eng_event(&srv, key, tid, "order.created", payload, evid[i]);
    }
    wait_path("/order", N, 15000);
    for (int i = 0; i < N; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, "/order", (size_t)i);
        const char *got = hk_rcv_req_header(q, "webhook-id");
        int was = -1;
        for (int k = 0; k < N && got != NULL; k++)
            if (strcmp(got, evid[k]) == 0)
                was = k;
        if (was != i)
            fail_msg("request %d to the endpoint was event %d; expected the "
                     "events in the order they were sent",
                     i, was);
    }
    assert_int_equal(hk_rcv_max_concurrency_path(rcv, "/order"), 1);
    free(key);
}

/* A queue behind an endpoint's only slot drains as its requests end, not
 * as the dispatcher's once-a-second poll comes round: a claim that filled
 * the endpoint's slots may have left work behind, so each request that
 * ends claims again (the claim says so, store_dispatch.c), while requests
 * ending after a claim that found nothing more do not. The events are all
 * posted while the first request is held for a second, so that no ingest
 * wakes the dispatcher while they drain: at the poll's pace they would
 * take a second for every two (one in flight, one waiting), N / 2 s. */
static void test_full_endpoint_claims_as_slots_free(void **state)
{
    (void)state;
    enum { N = 30 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "slots-free", tid);
    ep_at(key, tid, "/slots", "\"max_concurrency\":1", eid);
    answer("/slots", 204, NULL, NULL, 0);
    answer_once("/slots", 204, NULL, NULL, 1000);
    for (int i = 0; i < N; i++)
        hk_eng_event(&srv, key, tid, "order.created", "{}", NULL);
    int64_t posted = hk_wall_ms();
    wait_path("/slots", N, 30000);
    int64_t took = hk_wall_ms() - posted;
    print_message("%d deliveries to a max_concurrency 1 endpoint took %lld "
                  "ms after the last was posted\n",
                  N, (long long)took);
    if (took >= (N / 2) * 1000 / 2)
        fail_msg("%d deliveries took %lld ms: the queue drained at the "
                 "poll's pace",
                 N, (long long)took);
    assert_int_equal(hk_rcv_max_concurrency_path(rcv, "/slots"), 1);
    free(key);
}

/* An event posted to another hookd process (here an `hookd api` peer)
 * reaches the endpoint through its NOTIFY, at once, not at this process's
 * next once-a-second poll: a dispatcher passes over only the NOTIFYs of
 * its own process (the same ingests woke it directly). Each of N events,
 * posted a fifth of a second apart, must arrive within half a second;
 * at the poll's pace all N would do so about once in 2^N runs. */
static void test_peer_ingest_wakes_dispatcher(void **state)
{
    (void)state;
    enum { N = 10 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "peer-notify", tid);
    ep_at(key, tid, "/peer", NULL, eid);
    answer("/peer", 204, NULL, NULL, 0);
    struct hk_srv peer;
    assert_int_equal(hk_srv_start_peer(&peer, &srv, "api", NULL), 0);
    int64_t slowest = 0;
    for (int i = 0; i < N; i++) {
        int64_t posted = hk_wall_ms();
        hk_eng_event(&peer, key, tid, "order.created", "{}", NULL);
        wait_path("/peer", (size_t)i + 1, 5000);
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, "/peer", (size_t)i);
        if (q->arrival_ms - posted > slowest)
            slowest = q->arrival_ms - posted;
        hk_sleep_ms(200);
    }
    assert_int_equal(hk_srv_stop(&peer), 0);
    hk_srv_drop(&peer);
    print_message("the slowest of %d events posted to the peer arrived "
                  "%lld ms after its POST\n",
                  N, (long long)slowest);
    if (slowest >= 500)
        fail_msg("an event posted to another hookd process took %lld ms "
                 "to arrive: its NOTIFY did not wake this dispatcher",
                 (long long)slowest);
    free(key);
}

/* max_concurrency raised while a delivery waits in the dispatcher for the
 * endpoint's only slot: the waiting one goes out with the first of the
 * later deliveries the larger limit lets the next claim take, not after
 * them. Every request takes the receiver 1 s, the first 4 s. */
static void test_raised_max_concurrency_starts_the_waiting(void **state)
{
    (void)state;
    enum { N = 5 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[N][HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "raised-concurrency", tid);
    ep_at(key, tid, "/raised", "\"max_concurrency\":1", eid);
    answer("/raised", 200, NULL, NULL, 1000);
    answer_once("/raised", 200, NULL, NULL, 4000);
    hk_eng_event(&srv, key, tid, "order.created", "{\"i\":0}", evid[0]);
    hk_eng_event(&srv, key, tid, "order.created", "{\"i\":1}", evid[1]);
    wait_path("/raised", 1, 10000);
    /* the first is at the receiver, the second waits for its slot */
    hk_eng_wait_one_waiting(&srv, tid, eid);
    for (int i = 2; i < N; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        hk_eng_event(&srv, key, tid, "order.created", payload, evid[i]);
    }
    struct hk_reply *r =
        hk_call(&srv, "PATCH", key, "{\"max_concurrency\":4}",
                "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    hk_reply_free(r);
    wait_path("/raised", N, 15000);
    int64_t waited = -1, later = -1;
    for (size_t i = 0; i < N; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, "/raised", i);
        const char *got = hk_rcv_req_header(q, "webhook-id");
        for (int k = 1; k < N && got != NULL; k++) {
            if (strcmp(got, evid[k]) != 0)
                continue;
            if (k == 1)
                waited = q->arrival_ms;
            else if (later < 0 || q->arrival_ms < later)
                later = q->arrival_ms;
        }
    }
    if (waited < 0 || later < 0)
        fail_msg("not every event reached the endpoint");
    print_message("the waiting delivery arrived %lld ms after the first of "
                  "the later ones\n",
                  (long long)(waited - later));
    if (waited - later >= 500)
        fail_msg("the delivery that waited for the slot arrived %lld ms "
                 "after the first of the later ones: they overtook it",
                 (long long)(waited - later));
    free(key);
}

static void test_max_concurrency(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "concurrency", tid);
    ep_at(key, tid, "/conc", "\"max_concurrency\":2", eid);
    answer("/conc", 200, NULL, NULL, 300);
    enum { N = 20 };
    char evid[N][HK_ID_LEN];
    for (int i = 0; i < N; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        hk_eng_event(&srv, key, tid, "order.created", payload, evid[i]);
    }
    wait_path("/conc", N, 30000);
    int most = hk_rcv_max_concurrency_path(rcv, "/conc");
    print_message("max_concurrency 2: at most %d requests in flight at "
                  "once\n",
                  most);
    if (most > 2)
        fail_msg("the receiver saw %d requests in flight at once with "
                 "max_concurrency 2",
                 most);
    assert_true(most >= 1);
    char *q = hk_fmt("endpoint_id=%s&status=succeeded", eid);
    int64_t deadline = hk_wall_ms() + 10000;
    for (;;) {
        json_t *ds = hk_eng_deliveries(&srv, key, tid, q);
        size_t n = json_array_size(ds);
        json_decref(ds);
        if (n == N)
            break;
        if (hk_wall_ms() > deadline)
            fail_msg("%zu of %d deliveries succeeded", n, N);
        hk_sleep_ms(100);
    }
    free(q);
    struct hk_eng_ids ids;
    hk_eng_ids_at(rcv, "/conc", &ids);
    assert_int_equal(ids.n, N);
    assert_int_equal(ids.total, N);
    for (int i = 0; i < N; i++)
        assert_true(hk_eng_ids_has(&ids, evid[i]));
    hk_eng_ids_free(&ids);
    free(key);
}

/* Sends N events to the rate_limit 2 endpoint eid (on the receiver at
 * path, in tenant tid): a token bucket of 2 that refills 2 a second, so
 * after a burst of at most 2 the receiver hears no more than 2 requests a
 * second: any k consecutive requests span at least (k - 2) / 2 seconds.
 * All of them arrive, once each, and succeed. */
static void check_rate_limit(const char *key, const char *tid,
                             const char *eid, const char *path)
{
    enum { N = 10, RATE = 2, SLACK_MS = 250 };
    struct hk_reply *r =
        hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    assert_int_equal(hk_jint(r->json, "rate_limit", -1), RATE);
    hk_reply_free(r);
    char evid[N][HK_ID_LEN];
    for (int i = 0; i < N; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        hk_eng_event(&srv, key, tid, "order.created", payload, evid[i]);
    }
    wait_path(path, N, 30000);
    hk_sleep_ms(1000);
    assert_int_equal(hk_rcv_count_path(rcv, path), N);

    int64_t t[N];
    for (size_t i = 0; i < N; i++)
        t[i] = hk_rcv_get_path(rcv, path, i)->arrival_ms;
    print_message("rate_limit 2: %d requests over %lld ms\n", N,
                  (long long)(t[N - 1] - t[0]));
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + RATE; j < N; j++) {
            /* j - i + 1 requests need j - i + 1 - RATE refilled tokens */
            int64_t need = (int64_t)(j - i + 1 - RATE) * 1000 / RATE;
            int64_t span = t[j] - t[i];
            if (span < need - SLACK_MS)
                fail_msg("requests %zu to %zu (%zu of them) arrived within "
                         "%lld ms; rate_limit 2 allows that many only over "
                         "%lld ms",
                         i + 1, j + 1, j - i + 1, (long long)span,
                         (long long)need);
        }
    /* in any one second: at most the burst and one second's tokens */
    for (size_t i = 0; i < N; i++) {
        size_t k = i;
        while (k < N && t[k] - t[i] < 1000)
            k++;
        if (k - i > 2 * RATE)
            fail_msg("%zu requests within one second from request %zu",
                     k - i, i + 1);
    }

    struct hk_eng_ids ids;
    hk_eng_ids_at(rcv, path, &ids);
    assert_int_equal(ids.n, N);
    assert_int_equal(ids.total, N);
    for (int i = 0; i < N; i++)
        assert_true(hk_eng_ids_has(&ids, evid[i]));
    hk_eng_ids_free(&ids);
    char *q = hk_fmt("endpoint_id=%s&status=succeeded", eid);
    int64_t deadline = hk_wall_ms() + 10000;
    for (;;) {
        json_t *ds = hk_eng_deliveries(&srv, key, tid, q);
        size_t n = json_array_size(ds);
        json_decref(ds);
        if (n == N)
            break;
        if (hk_wall_ms() > deadline)
            fail_msg("%zu of %d rate-limited deliveries succeeded", n, N);
        hk_sleep_ms(100);
    }
    free(q);
}

static void test_rate_limit(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "rate-limit", tid);
    ep_at(key, tid, "/rate", "\"rate_limit\":2", eid);
    check_rate_limit(key, tid, eid, "/rate");
    free(key);
}

/* The dispatcher keeps a token bucket for each rate-limited endpoint it
 * has sent to lately, with no cap on how many: right after it has sent to
 * 1,100 other rate-limited endpoints, the limit of one more still holds. */
static void test_rate_limit_many_endpoints(void **state)
{
    (void)state;
    enum { OTHERS = 1100 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "rate-limit-many", tid);
    /* beyond the default of 100 endpoints a tenant may have */
    struct hk_reply *r =
        hk_admin(&srv, "PATCH", "{\"limits\":{\"max_endpoints\":2000}}",
                 "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    hk_reply_free(r);
    hk_mk_event_type(&srv, "rl.bulk");
    for (int i = 0; i < OTHERS; i++) {
        char other[HK_ID_LEN];
        ep_at(key, tid, "/rate-many/bulk",
              "\"event_types\":[\"rl.bulk\"],\"rate_limit\":1", other);
    }
    ep_at(key, tid, "/rate-many",
          "\"event_types\":[\"order.created\"],\"rate_limit\":2", eid);
    char bulk[HK_ID_LEN];
    hk_eng_event(&srv, key, tid, "rl.bulk", "{}", bulk);
    wait_path("/rate-many/bulk", OTHERS, 60000);
    check_rate_limit(key, tid, eid, "/rate-many");
    free(key);
}

static void test_idempotency(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], tid2[HK_ID_LEN], eid2[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "idem", tid);
    char *key2 = hk_eng_tenant(&srv, "idem-two", tid2);
    ep_at(key, tid, "/idem/one", NULL, eid);
    ep_at(key2, tid2, "/idem/two", NULL, eid2);
    static const char body[] =
        "{\"event_type\":\"order.created\",\"payload\":{\"n\":1}}";
    struct hk_reply *r = hk_eng_post_body(&srv, key, tid, body, "key-1");
    hk_expect(r, 202);
    assert_int_equal(hk_jint(r->json, "deliveries", -1), 1);
    assert_string_equal(hk_jstr(r->json, "idempotency_key"), "key-1");
    char first[HK_ID_LEN];
    snprintf(first, sizeof first, "%s", hk_jstr(r->json, "id"));
    char *first_body = strdup(r->body);
    hk_reply_free(r);

    /* the same key and body: 200, the first event, nothing new */
    r = hk_eng_post_body(&srv, key, tid, body, "key-1");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "id"), first);
    assert_int_equal(hk_jint(r->json, "deliveries", -1), 1);
    json_t *j = json_loads(first_body, 0, NULL);
    if (!json_equal(j, r->json))
        fail_msg("the repeated key answers\n  %s\nnot the first event\n  %s",
                 r->body, first_body);
    json_decref(j);
    free(first_body);
    hk_reply_free(r);

    /* the same key, another body: 409 */
    r = hk_eng_post_body(
        &srv, key, tid,
        "{\"event_type\":\"order.created\",\"payload\":{\"n\":2}}", "key-1");
    hk_expect_error(r, 409, "conflict", NULL);
    hk_reply_free(r);

    /* another key: a new event */
    r = hk_eng_post_body(&srv, key, tid, body, "key-2");
    hk_expect(r, 202);
    char second[HK_ID_LEN];
    snprintf(second, sizeof second, "%s", hk_jstr(r->json, "id"));
    assert_string_not_equal(first, second);
    hk_reply_free(r);

    /* keys belong to one tenant: the same key elsewhere is new */
    r = hk_eng_post_body(&srv, key2, tid2, body, "key-1");
    hk_expect(r, 202);
    assert_string_not_equal(hk_jstr(r->json, "id"), first);
    hk_reply_free(r);

    /* two events, two deliveries, two requests: the repeat made nothing */
    char *path = hk_fmt("/v1/tenants/%s/events", tid);
    json_t *evs = hk_list_all(&srv, key, path, 0, NULL);
    free(path);
    assert_int_equal(json_array_size(evs), 2);
    json_decref(evs);
    json_t *ds = hk_eng_deliveries(&srv, key, tid, NULL);
    assert_int_equal(json_array_size(ds), 2);
    json_decref(ds);
    wait_path("/idem/one", 2, 10000);
    wait_path("/idem/two", 1, 10000);
    hk_sleep_ms(1000);
    struct hk_eng_ids ids;
    hk_eng_ids_at(rcv, "/idem/one", &ids);
    assert_int_equal(ids.total, 2);
    assert_true(hk_eng_ids_has(&ids, first));
    assert_true(hk_eng_ids_has(&ids, second));
    hk_eng_ids_free(&ids);
    free(key);
    free(key2);
}

/* ---- endpoint deletion ----------------------------------------------------
 */

static void test_delete_endpoint_fails_pending(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[2][HK_ID_LEN], did[2][HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "delete", tid);
    ep_at(key, tid, "/del", NULL, eid);
    answer("/del", 503, "Retry-After: 120", NULL, 0);
    for (int i = 0; i < 2; i++) {
        hk_eng_event(&srv, key, tid, "order.created", "{}", evid[i]);
        hk_eng_delivery_id(&srv, key, tid, evid[i], eid, did[i]);
    }
    for (int i = 0; i < 2; i++) {
        json_decref(hk_eng_wait_attempts(&srv, key, tid, did[i], 1, 10000));
        json_t *d = hk_eng_wait_status(&srv, key, tid, did[i], "pending", 5000);
        json_decref(d);
    }
    struct hk_reply *r = hk_call(&srv, "DELETE", key, NULL,
                                 "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 204);
    hk_reply_free(r);
    for (int i = 0; i < 2; i++) {
        json_t *d = hk_eng_delivery(&srv, key, tid, did[i]);
        if (strcmp(hk_jstr(d, "status"), "failed") != 0)
            fail_msg("a pending delivery of a deleted endpoint is %s, not "
                     "failed",
                     hk_jstr(d, "status"));
        expect_time_member(d, "completed_at");
        assert_int_equal(hk_jint(d, "attempt_count", -1), 1);
        json_decref(d);
    }
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/endpoints/%s", tid,
                eid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    /* its history stays readable */
    json_t *att = hk_eng_attempts(&srv, key, tid, did[0]);
    assert_int_equal(json_array_size(att), 1);
    json_decref(att);
    hk_sleep_ms(1500);
    assert_int_equal(hk_rcv_count_path(rcv, "/del"), 2);
    free(key);
}

static void test_delete_endpoint_in_flight(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "delete-in-flight", tid);
    ep_at(key, tid, "/del/inflight", NULL, eid);
    answer("/del/inflight", 500, NULL, "late failure", 1000);
    hk_eng_event(&srv, key, tid, "order.created", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    wait_path("/del/inflight", 1, 10000);
    struct hk_reply *r = hk_call(&srv, "DELETE", key, NULL,
                                 "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 204);
    hk_reply_free(r);
    /* the attempt under way is recorded; the delivery is not tried again */
    json_t *att = hk_eng_wait_attempts(&srv, key, tid, did, 1, 10000);
    assert_int_equal(hk_jint(json_array_get(att, 0), "status_code", -1), 500);
    json_decref(att);
    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "failed", 3000);
    assert_int_equal(hk_jint(d, "attempt_count", -1), 1);
    json_decref(d);
    hk_sleep_ms(2000);
    assert_int_equal(hk_rcv_count_path(rcv, "/del/inflight"), 1);
    att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 1);
    json_decref(att);
    free(key);
}

/* ---- lists ----------------------------------------------------------------
 */

static size_t count_where(struct hk_srv *s, const char *key, const char *tid,
                          const char *query, const char *field,
                          const char *value)
{
    json_t *ds = hk_eng_deliveries(s, key, tid, query);
    size_t n = json_array_size(ds), k;
    json_t *d;
    json_array_foreach(ds, k, d)
    {
        if (field == NULL)
            break;
        const char *v = hk_jstr(d, field);
        if (v == NULL || strcmp(v, value) != 0)
            fail_msg("?%s returned a delivery with %s %s, expected %s", query,
                     field, v ? v : "(none)", value);
    }
    json_decref(ds);
    return n;
}

static void test_delivery_list_filters(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], one[HK_ID_LEN], two[HK_ID_LEN];
    char evid[5][HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "lists", tid);
    ep_at(key, tid, "/lf/one", "\"event_types\":[\"order.created\"]", one);
    ep_at(key, tid, "/lf/two", "\"event_types\":[\"*\"]", two);
    answer("/lf/two", 500, NULL, NULL, 0);
    for (int i = 0; i < 5; i++)
        hk_eng_event(&srv, key, tid, i < 3 ? "order.created" : "user.signup",
                     "{}", evid[i]);
    /* one: 3 succeeded; two: 5 failed after their 3 attempts */
    char *q1 = hk_fmt("endpoint_id=%s&status=succeeded", one);
    char *q2 = hk_fmt("endpoint_id=%s&status=failed", two);
    int64_t deadline = hk_wall_ms() + 20000;
    for (;;) {
        size_t a = count_where(&srv, key, tid, q1, NULL, NULL);
        size_t b = count_where(&srv, key, tid, q2, NULL, NULL);
        if (a == 3 && b == 5)
            break;
        if (hk_wall_ms() > deadline)
            fail_msg("%zu of 3 succeeded, %zu of 5 failed after 20 s", a, b);
        hk_sleep_ms(200);
    }
    free(q1);
    free(q2);

    assert_int_equal(count_where(&srv, key, tid, NULL, NULL, NULL), 8);
    assert_int_equal(
        count_where(&srv, key, tid, "status=succeeded", "endpoint_id", one), 3);
    assert_int_equal(
        count_where(&srv, key, tid, "status=failed", "endpoint_id", two), 5);
    assert_int_equal(count_where(&srv, key, tid, "status=pending", NULL, NULL),
                     0);
    assert_int_equal(count_where(&srv, key, tid, "status=sending", NULL, NULL),
                     0);
    char *q = hk_fmt("endpoint_id=%s", one);
    assert_int_equal(count_where(&srv, key, tid, q, "endpoint_id", one), 3);
    free(q);
    q = hk_fmt("endpoint_id=%s", NO_SUCH_ID);
    assert_int_equal(count_where(&srv, key, tid, q, NULL, NULL), 0);
    free(q);
    q = hk_fmt("event_id=%s", evid[0]);
    assert_int_equal(count_where(&srv, key, tid, q, "event_id", evid[0]), 2);
    free(q);
    q = hk_fmt("event_id=%s", evid[4]);
    assert_int_equal(count_where(&srv, key, tid, q, "endpoint_id", two), 1);
    free(q);
    assert_int_equal(count_where(&srv, key, tid, "event_type=user.signup",
                                 "event_type", "user.signup"),
                     2);
    assert_int_equal(count_where(&srv, key, tid,
                                 "status=failed&event_type=order.created",
                                 "endpoint_id", two),
                     3);
    q = hk_fmt("endpoint_id=%s&event_id=%s", one, evid[3]);
    assert_int_equal(count_where(&srv, key, tid, q, NULL, NULL), 0);
    free(q);

    /* pages: newest first, every item once */
    char *path = hk_fmt("/v1/tenants/%s/deliveries", tid);
    int pages = 0;
    json_t *paged = hk_list_all(&srv, key, path, 3, &pages);
    assert_int_equal(json_array_size(paged), 8);
    assert_int_equal(pages, 3);
    for (size_t i = 1; i < 8; i++) {
        const char *a = hk_jstr(json_array_get(paged, i - 1), "id");
        const char *b = hk_jstr(json_array_get(paged, i), "id");
        if (strcmp(a, b) <= 0)
            fail_msg("deliveries are not newest first: %s then %s", a, b);
    }
    json_t *whole = hk_list_all(&srv, key, path, 250, NULL);
    if (!json_equal(paged, whole))
        fail_msg("three pages of 3 differ from one page of 250");
    json_decref(whole);
    json_decref(paged);
    free(path);
    /* a filter holds across pages */
    path = hk_fmt("/v1/tenants/%s/deliveries?endpoint_id=%s", tid, two);
    paged = hk_list_all(&srv, key, path, 2, &pages);
    assert_int_equal(json_array_size(paged), 5);
    assert_int_equal(pages, 3);
    size_t k;
    json_t *d;
    json_array_foreach(paged, k, d)
        assert_string_equal(hk_jstr(d, "endpoint_id"), two);
    json_decref(paged);
    free(path);
    /* events by type */
    path = hk_fmt("/v1/tenants/%s/events?event_type=user.signup", tid);
    json_t *evs = hk_list_all(&srv, key, path, 0, NULL);
    free(path);
    assert_int_equal(json_array_size(evs), 2);
    assert_string_equal(hk_jstr(evs, "0.id"), evid[4]);
    assert_string_equal(hk_jstr(evs, "1.id"), evid[3]);
    json_decref(evs);

    /* bad filters are 422 with the field */
    static const struct {
        const char *query;
        const char *field;
    } bad[] = {
        {"status=done", "status"},    {"endpoint_id=xyz", "endpoint_id"},
        {"event_id=123", "event_id"}, {"event_type=no%20spaces", "event_type"},
        {"colour=blue", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hk_reply *r =
            hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/deliveries?%s", tid,
                    bad[i].query);
        hk_expect_error(r, 422, "validation_failed", bad[i].field);
        hk_reply_free(r);
    }
    free(key);
}

/* A tenant's pending deliveries, listed without an endpoint, come from
 * every endpoint's part of the queue, merged newest first across pages
 * (server/store_events.c, sql_delivery_list_queued). */
static void test_pending_list_spans_endpoints(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[3][HK_ID_LEN], evid[HK_ID_LEN];
    static const char *const paths[3] = {"/pl/a", "/pl/b", "/pl/c"};
    char *key = hk_eng_tenant(&srv, "pendlist", tid);
    for (int i = 0; i < 3; i++) {
        answer(paths[i], 503, "Retry-After: 120", NULL, 0);
        ep_at(key, tid, paths[i], "\"event_types\":[\"*\"]", eid[i]);
    }
    /* one endpoint also has a delivery that succeeded, which is not listed */
    char ok[HK_ID_LEN];
    ep_at(key, tid, "/pl/ok", "\"event_types\":[\"misc.ping\"]", ok);
    for (int i = 0; i < 7; i++)
        hk_eng_event(&srv, key, tid, i == 3 ? "misc.ping" : "order.created",
                     "{}", evid);
    for (int i = 0; i < 3; i++)
        wait_path(paths[i], 7, 15000);
    wait_path("/pl/ok", 1, 15000);
    char *q = hk_fmt("endpoint_id=%s&status=succeeded", ok);
    int64_t deadline = hk_wall_ms() + 10000;
    while (count_where(&srv, key, tid, q, NULL, NULL) != 1) {
        if (hk_wall_ms() > deadline)
            fail_msg("the delivery to /pl/ok did not succeed in 10 s");
        hk_sleep_ms(100);
    }
    free(q);
    deadline = hk_wall_ms() + 10000;
    while (count_where(&srv, key, tid, "status=pending", NULL, NULL) != 21) {
        if (hk_wall_ms() > deadline)
            fail_msg("%zu of 21 deliveries pending after their 503",
                     count_where(&srv, key, tid, "status=pending", NULL,
                                 NULL));
        hk_sleep_ms(100);
    }

    char *path = hk_fmt("/v1/tenants/%s/deliveries?status=pending", tid);
    int pages = 0;
    json_t *paged = hk_list_all(&srv, key, path, 4, &pages);
    assert_int_equal(json_array_size(paged), 21);
    assert_int_equal(pages, 6);
    int per[3] = {0, 0, 0};
    for (size_t i = 0; i < 21; i++) {
        json_t *d = json_array_get(paged, i);
        assert_string_equal(hk_jstr(d, "status"), "pending");
        for (int e = 0; e < 3; e++)
            per[e] += strcmp(hk_jstr(d, "endpoint_id"), eid[e]) == 0;
        if (i > 0 && strcmp(hk_jstr(json_array_get(paged, i - 1), "id"),
                            hk_jstr(d, "id")) <= 0)
            fail_msg("pending deliveries are not newest first at %zu", i);
    }
    for (int e = 0; e < 3; e++)
        assert_int_equal(per[e], 7);
    /* the same deliveries, in the same order, as the unfiltered list's
     * pending ones */
    json_t *all = hk_eng_deliveries(&srv, key, tid, NULL);
    size_t k, at = 0;
    json_t *d;
    json_array_foreach(all, k, d)
    {
        if (strcmp(hk_jstr(d, "endpoint_id"), ok) == 0)
            continue;
        if (at >= 21 || strcmp(hk_jstr(d, "id"),
                               hk_jstr(json_array_get(paged, at), "id")) != 0)
            fail_msg("the pending list differs from the whole list at %zu",
                     at);
        at++;
    }
    assert_int_equal(at, 21);
    json_decref(all);
    json_decref(paged);
    free(path);
    /* filters within the merged list: an event's, and one endpoint's */
    q = hk_fmt("status=pending&event_id=%s", evid);
    assert_int_equal(count_where(&srv, key, tid, q, "event_id", evid), 3);
    free(q);
    q = hk_fmt("status=pending&endpoint_id=%s", eid[1]);
    assert_int_equal(count_where(&srv, key, tid, q, "endpoint_id", eid[1]), 7);
    free(q);
    free(key);
}

/* ---- tenants --------------------------------------------------------------
 */

static void test_tenant_isolation(void **state)
{
    (void)state;
    char ta[HK_ID_LEN], tb[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN];
    char did[HK_ID_LEN];
    char *ka = hk_eng_tenant(&srv, "wall-a", ta);
    char *kb = hk_eng_tenant(&srv, "wall-b", tb);
    ep_at(ka, ta, "/wall/a", NULL, eid);
    hk_eng_event(&srv, ka, ta, "order.created", "{\"secret\":\"of a\"}", evid);
    hk_eng_delivery_id(&srv, ka, ta, evid, eid, did);
    json_decref(hk_eng_wait_status(&srv, ka, ta, did, "succeeded", 10000));

    /* B's key on A's path, and A's objects under B's path: 404 both */
    const char *const tids[] = {ta, tb};
    for (int i = 0; i < 2; i++) {
        const char *t = tids[i];
        struct hk_reply *r;
        r = hk_call(&srv, "GET", kb, NULL, "/v1/tenants/%s/events/%s", t, evid);
        hk_expect_error(r, 404, "not_found", NULL);
        hk_reply_free(r);
        r = hk_call(&srv, "GET", kb, NULL, "/v1/tenants/%s/deliveries/%s", t,
                    did);
        hk_expect_error(r, 404, "not_found", NULL);
        hk_reply_free(r);
        r = hk_call(&srv, "GET", kb, NULL,
                    "/v1/tenants/%s/deliveries/%s/attempts", t, did);
        hk_expect_error(r, 404, "not_found", NULL);
        hk_reply_free(r);
        r = replay(kb, t, did, NULL);
        hk_expect_error(r, 404, "not_found", NULL);
        hk_reply_free(r);
    }
    /* the admin key under the wrong tenant finds nothing either */
    struct hk_reply *r =
        hk_admin(&srv, "GET", NULL, "/v1/tenants/%s/deliveries/%s", tb, did);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "POST", kb,
                "{\"event_type\":\"order.created\",\"payload\":{}}",
                "/v1/tenants/%s/events", ta);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);

    /* B's lists do not show A's objects, even filtered by their ids */
    json_t *ds = hk_eng_deliveries(&srv, kb, tb, NULL);
    assert_int_equal(json_array_size(ds), 0);
    json_decref(ds);
    char *q = hk_fmt("event_id=%s", evid);
    ds = hk_eng_deliveries(&srv, kb, tb, q);
    free(q);
    assert_int_equal(json_array_size(ds), 0);
    json_decref(ds);
    char *path = hk_fmt("/v1/tenants/%s/events", tb);
    json_t *evs = hk_list_all(&srv, kb, path, 0, NULL);
    free(path);
    assert_int_equal(json_array_size(evs), 0);
    json_decref(evs);

    /* nothing B tried changed A's delivery */
    hk_sleep_ms(1200);
    json_t *d = hk_eng_delivery(&srv, ka, ta, did);
    assert_string_equal(hk_jstr(d, "status"), "succeeded");
    assert_int_equal(hk_jint(d, "attempt_count", -1), 1);
    json_decref(d);
    assert_int_equal(hk_rcv_count_path(rcv, "/wall/a"), 1);
    free(ka);
    free(kb);
}

/* ---- a tenant deleted mid-flight ------------------------------------------
 */

/* A tenant deleted while one of its requests is in flight takes its
 * deliveries with it; the outcome of that request has nowhere to go, and
 * must not stop the dispatcher from delivering everyone else's events.
 * Last in the file: when it fails, deliveries have stopped. */
static void test_tenant_deleted_in_flight(void **state)
{
    (void)state;
    char tx[HK_ID_LEN], ty[HK_ID_LEN], ex[HK_ID_LEN], ey[HK_ID_LEN];
    char evid[HK_ID_LEN], did[HK_ID_LEN];
    char *kx = hk_eng_tenant(&srv, "deleted-mid-flight", tx);
    char *ky = hk_eng_tenant(&srv, "bystander", ty);
    ep_at(kx, tx, "/tdel/doomed", NULL, ex);
    ep_at(ky, ty, "/tdel/bystander", NULL, ey);
    answer("/tdel/doomed", 200, NULL, NULL, 1000);
    hk_eng_event(&srv, kx, tx, "order.created", "{}", NULL);
    wait_path("/tdel/doomed", 1, 10000);
    /* its delivery is sending, and goes with the tenant at once, not
     * when the request ends (the receiver holds it for a second) */
    int64_t until = hk_wall_ms() + 3000;
    while (hk_eng_sending(&srv, tx, ex) != 1 && hk_wall_ms() < until)
        hk_sleep_ms(20);
    assert_int_equal(hk_eng_sending(&srv, tx, ex), 1);
    struct hk_reply *r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s", tx);
    hk_expect(r, 204);
    hk_reply_free(r);
    static const char *const tables[] = {"deliveries", "queue", NULL};
    hk_expect_no_tenant_rows(&srv, tx, tables);
    hk_sleep_ms(1500); /* the doomed request has finished by now */

    hk_eng_event(&srv, ky, ty, "order.created", "{}", evid);
    hk_eng_delivery_id(&srv, ky, ty, evid, ey, did);
    if (!hk_rcv_wait_for_path(rcv, "/tdel/bystander", 1, 10000)) {
        print_error("after a tenant was deleted with a request in flight, "
                    "another tenant's event is not delivered\n");
        hk_srv_print_log(&srv, 4000);
    }
    assert_int_equal(hk_rcv_count_path(rcv, "/tdel/bystander"), 1);
    json_decref(hk_eng_wait_status(&srv, ky, ty, did, "succeeded", 10000));
    free(kx);
    free(ky);
}

/* ---- concurrent ingest ----------------------------------------------------
 */

/* Events posted at the same moment share one statement (fanout.c); in such
 * a group, an event of a missing tenant or an archived type is still
 * answered as if it were alone, and the others are written once each with
 * their own deliveries. Several threads post a mix at once. */
#define GROUP_THREADS 8
#define GROUP_POSTS 24

struct group_poster {
    const char *t1, *t2, *ghost;
    int wrong; /* answers other than the one expected */
    int ok1, ok2;
};

static void *post_mix(void *arg)
{
    struct group_poster *g = arg;
    for (int i = 0; i < GROUP_POSTS; i++) {
        const char *tid = i % 4 == 3 ? g->ghost : i % 4 == 1 ? g->t2 : g->t1;
        const char *type = i % 4 == 2 ? "grp.old" : "grp.new";
        int want = i % 4 == 3 ? 404 : i % 4 == 2 ? 422 : 202;
        int deliveries = tid == g->t1 ? 2 : 1;
        char *body = hk_fmt("{\"event_type\":\"%s\",\"payload\":{\"i\":%d}}",
                            type, i);
        struct hk_reply *r = hk_admin(&srv, "POST", body,
                                      "/v1/tenants/%s/events", tid);
        free(body);
        if (r->status != want ||
            (want == 202 &&
             hk_jint(r->json, "deliveries", -1) != deliveries)) {
            print_error("POST to %s of %s: %ld %s\n", tid, type, r->status,
                        r->body ? r->body : "");
            g->wrong++;
        } else if (want == 202) {
            if (tid == g->t1)
                g->ok1++;
            else
                g->ok2++;
        }
        hk_reply_free(r);
    }
    return NULL;
}

static void test_concurrent_ingest_groups(void **state)
{
    (void)state;
    char t1[HK_ID_LEN], t2[HK_ID_LEN], eid[HK_ID_LEN];
    char *k1 = hk_eng_tenant(&srv, "group-one", t1);
    char *k2 = hk_eng_tenant(&srv, "group-two", t2);
    hk_mk_event_type(&srv, "grp.new");
    hk_mk_event_type(&srv, "grp.old");
    struct hk_reply *r = hk_admin(&srv, "PATCH", "{\"archived\":true}",
                                  "/v1/event-types/grp.old");
    hk_expect(r, 200);
    hk_reply_free(r);
    ep_at(k1, t1, "/grp/one-a", "\"event_types\":[\"grp.*\"]", eid);
    ep_at(k1, t1, "/grp/one-b", NULL, eid);
    ep_at(k2, t2, "/grp/two", "\"event_types\":[\"grp.new\"]", eid);
    static const char ghost[] = "01a23300-0000-7000-8000-000000000000";

    pthread_t th[GROUP_THREADS];
    struct group_poster g[GROUP_THREADS];
    for (int i = 0; i < GROUP_THREADS; i++) {
        g[i] = (struct group_poster){t1, t2, ghost, 0, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, post_mix, &g[i]), 0);
    }
    int wrong = 0, ok1 = 0, ok2 = 0;
    for (int i = 0; i < GROUP_THREADS; i++) {
        pthread_join(th[i], NULL);
        wrong += g[i].wrong;
        ok1 += g[i].ok1;
        ok2 += g[i].ok2;
    }
    assert_int_equal(wrong, 0);
    /* each accepted event written once, with exactly its deliveries */
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.events"
                                " WHERE tenant_id = $1",
                                t1),
                     ok1);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.events"
                                " WHERE tenant_id = $1",
                                t2),
                     ok2);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.deliveries"
                                " WHERE tenant_id = $1",
                                t1),
                     2 * ok1);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.deliveries"
                                " WHERE tenant_id = $1",
                                t2),
                     ok2);
    assert_true(hk_rcv_wait_for_path(rcv, "/grp/two", (size_t)ok2, 20000));
    free(k1);
    free(k2);
}

/* A tenant deleted while its events stream in: every POST is answered 202
 * or 404, and afterwards nothing of the tenant is left, not an event, a
 * delivery or an attempt, however the deletion and the ingests
 * interleaved. */
#define DEL_THREADS 4

struct del_poster {
    const char *tid;
    atomic_int *posted;
    int accepted, gone, wrong;
};

static void *post_until_gone(void *arg)
{
    struct del_poster *p = arg;
    for (int i = 0; i < 400 && p->gone < 5; i++) {
        struct hk_reply *r =
            hk_admin(&srv, "POST",
                     "{\"event_type\":\"del.race\",\"payload\":{}}",
                     "/v1/tenants/%s/events", p->tid);
        if (r->status == 202)
            p->accepted++;
        else if (r->status == 404)
            p->gone++;
        else {
            print_error("POST during deletion: %ld %s\n", r->status,
                        r->body ? r->body : "");
            p->wrong++;
        }
        atomic_fetch_add(p->posted, 1);
        hk_reply_free(r);
    }
    return NULL;
}

static void test_tenant_deleted_while_ingesting(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "deleted-mid-ingest", tid);
    hk_mk_event_type(&srv, "del.race");
    ep_at(key, tid, "/delrace/a", NULL, eid);
    ep_at(key, tid, "/delrace/b", "\"event_types\":[\"del.*\"]", eid);
    atomic_int posted = 0;
    pthread_t th[DEL_THREADS];
    struct del_poster p[DEL_THREADS];
    for (int i = 0; i < DEL_THREADS; i++) {
        p[i] = (struct del_poster){tid, &posted, 0, 0, 0};
        assert_int_equal(
            pthread_create(&th[i], NULL, post_until_gone, &p[i]), 0);
    }
    while (atomic_load(&posted) < 60)
        usleep(1000);
    struct hk_reply *r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 204);
    hk_reply_free(r);
    int accepted = 0, gone = 0, wrong = 0;
    for (int i = 0; i < DEL_THREADS; i++) {
        pthread_join(th[i], NULL);
        accepted += p[i].accepted;
        gone += p[i].gone;
        wrong += p[i].wrong;
    }
    assert_int_equal(wrong, 0);
    assert_true(accepted >= 60 / DEL_THREADS);
    assert_true(gone > 0);
    /* let the dispatcher finish whatever it had claimed */
    usleep(500 * 1000);
    static const char *const tables[] = {
        "events", "deliveries", "queue", "attempts", "endpoints", NULL};
    hk_expect_no_tenant_rows(&srv, tid, tables);
    free(key);
}

/* After a rotation the previous secret keeps signing beside the new one
 * (for 24 h), so a receiver still verifying with the old secret accepts
 * deliveries while it switches: one request, two signatures, one for each
 * secret. The claim hands the dispatcher both secrets of the endpoint. */
/* Rotates the endpoint's signing secret; returns the new one. */
static char *rotate_secret(const char *key, const char *tid, const char *eid)
{
    struct hk_reply *r = hk_call(&srv, "POST", key, "{}",
                                 "/v1/tenants/%s/endpoints/%s/secret/rotate",
                                 tid, eid);
    hk_expect(r, 200);
    char *secret = strdup(hk_jstr(r->json, "key"));
    assert_non_null(secret);
    hk_reply_free(r);
    return secret;
}

static void test_rotated_secret_signs_twice(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "rotation", tid);
    ep_at(key, tid, "/rotate/hook", NULL, eid);
    char *old_secret = hk_eng_secret(&srv, key, tid, eid);
    char *new_secret = rotate_secret(key, tid, eid);
    assert_string_not_equal(new_secret, old_secret);

    hk_eng_event(&srv, key, tid, "order.paid", "{\"n\":1}", evid);
    wait_path("/rotate/hook", 1, 10000);
    const struct hk_rcv_req *q = hk_rcv_get_path(rcv, "/rotate/hook", 0);
    const char *sig = hk_rcv_req_header(q, "webhook-signature");
    assert_non_null(sig);
    const char *space = strchr(sig, ' ');
    if (space == NULL || strchr(space + 1, ' ') != NULL)
        fail_msg("webhook-signature is \"%s\", expected two v1,<base64>",
                 sig);
    /* each secret verifies exactly one of the two */
    char *first = strndup(sig, (size_t)(space - sig));
    const char *second = space + 1;
    const char *ts = hk_rcv_req_header(q, "webhook-timestamp");
    assert_non_null(ts);
    int64_t t = strtoll(ts, NULL, 10);
    bool new_first = hk_sign_verify(new_secret, evid, t, q->body, q->body_len,
                                    first);
    bool old_second = hk_sign_verify(old_secret, evid, t, q->body,
                                     q->body_len, second);
    if (!new_first || !old_second)
        fail_msg("the signatures \"%s\" are not the new secret's then the "
                 "previous one's (new first: %d, previous second: %d)",
                 sig, new_first, old_second);
    free(first);
    free(new_secret);
    free(old_secret);
    free(key);
}

/* The deliveries of one endpoint that come in one claim share its URL,
 * headers and opened secrets (the dispatcher opens them once per claim),
 * and those of another endpoint in the same claim keep theirs: every
 * request carries its own endpoint's header and verifies with its own
 * endpoint's secrets, the rotated one's with both, and with no other's.
 * A recover makes each endpoint's failed deliveries due at once, so that
 * one claim takes several of each. */
static void test_one_claim_keeps_each_endpoints_secrets(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], ea[HK_ID_LEN], eb[HK_ID_LEN], evid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "oneclaim", tid);
    ep_at(key, tid, "/oneclaim/a",
          "\"event_types\":[\"order.paid\"],"
          "\"headers\":{\"X-Colour\":\"red\"}",
          ea);
    ep_at(key, tid, "/oneclaim/b",
          "\"event_types\":[\"order.paid\"],"
          "\"headers\":{\"X-Colour\":\"green\"}",
          eb);
    char *old_a = hk_eng_secret(&srv, key, tid, ea);
    char *sec_b = hk_eng_secret(&srv, key, tid, eb);
    char *new_a = rotate_secret(key, tid, ea);
    struct hk_reply *r;

    enum { EVENTS = 6 };
    answer("/oneclaim/a", 500, NULL, "down", 0);
    answer("/oneclaim/b", 500, NULL, "down", 0);
    char dids[2 * EVENTS][HK_ID_LEN];
    for (int i = 0; i < EVENTS; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"n\":%d}", i);
        hk_eng_event(&srv, key, tid, "order.paid", payload, evid);
        hk_eng_delivery_id(&srv, key, tid, evid, ea, dids[2 * i]);
        hk_eng_delivery_id(&srv, key, tid, evid, eb, dids[2 * i + 1]);
    }
    for (int i = 0; i < 2 * EVENTS; i++)
        json_decref(
            hk_eng_wait_status(&srv, key, tid, dids[i], "failed", 20000));
    answer("/oneclaim/a", 200, NULL, "ok", 0);
    answer("/oneclaim/b", 200, NULL, "ok", 0);
    const char *eps[2] = {ea, eb};
    for (int k = 0; k < 2; k++) {
        r = hk_call(&srv, "POST", key,
                    "{\"since\":\"2000-01-01T00:00:00Z\"}",
                    "/v1/tenants/%s/endpoints/%s/recover", tid, eps[k]);
        hk_expect(r, 202);
        assert_int_equal(hk_jint(r->json, "replayed", -1), EVENTS);
        hk_reply_free(r);
    }
    for (int i = 0; i < 2 * EVENTS; i++)
        json_decref(
            hk_eng_wait_status(&srv, key, tid, dids[i], "succeeded", 20000));

    /* three attempts each before the recover, one after */
    assert_int_equal(hk_rcv_count_path(rcv, "/oneclaim/a"), 4 * EVENTS);
    assert_int_equal(hk_rcv_count_path(rcv, "/oneclaim/b"), 4 * EVENTS);
    for (size_t i = 0; i < 4 * EVENTS; i++) {
        const struct hk_rcv_req *qa = hk_rcv_get_path(rcv, "/oneclaim/a", i);
        const struct hk_rcv_req *qb = hk_rcv_get_path(rcv, "/oneclaim/b", i);
        assert_string_equal(hk_rcv_req_header(qa, "X-Colour"), "red");
        assert_string_equal(hk_rcv_req_header(qb, "X-Colour"), "green");
        if (!hk_eng_sig_ok(qa, new_a) || !hk_eng_sig_ok(qa, old_a))
            fail_msg("request %zu to the rotated endpoint does not verify "
                     "with both of its secrets",
                     i);
        if (hk_eng_sig_ok(qa, sec_b))
            fail_msg("request %zu to one endpoint verifies with another's "
                     "secret",
                     i);
        if (!hk_eng_sig_ok(qb, sec_b))
            fail_msg("request %zu does not verify with its endpoint's secret",
                     i);
        if (hk_eng_sig_ok(qb, new_a) || hk_eng_sig_ok(qb, old_a))
            fail_msg("request %zu to one endpoint verifies with another's "
                     "secret",
                     i);
    }
    free(new_a);
    free(old_a);
    free(sec_b);
    free(key);
}

/* Every connection hookd holds names the part it serves, so that an
 * operator reading pg_stat_activity (and the benchmark, which splits the
 * database's CPU by part) can tell them apart; an application_name the
 * operator put in HOOKD_DATABASE_URL is kept. */
static void test_connections_named(void **state)
{
    (void)state;
    /* serve: the API's pool, the dispatcher's claimer, recorder and
     * LISTEN connections */
    const char *parts[] = {"hookd api", "hookd claimer", "hookd recorder",
                           "hookd listen"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        long long n = hk_sql_int(
            &srv,
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = $1",
            parts[i]);
        if (n < 1)
            fail_msg("no connection named \"%s\"", parts[i]);
    }

    char url[600];
    if (strncmp(srv.db_url, "postgresql://", 13) == 0)
        snprintf(url, sizeof(url), "%s?application_name=ops-console",
                 srv.db_url);
    else
        snprintf(url, sizeof(url), "%s application_name=ops-console",
                 srv.db_url);
    const char *const urls[] = {srv.db_url, url};
    const char *const want[] = {"hookd test", "ops-console"};
    for (int i = 0; i < 2; i++) {
        struct hk_conn *c = NULL;
        assert_int_equal(hk_conn_open(urls[i], "hookd test", &c), HK_OK);
        PGresult *r = NULL;
        const char *sql = "SELECT current_setting('application_name')";
        assert_int_equal(hk_db_query(c, sql, 0, NULL, &r), HK_OK);
        assert_string_equal(PQgetvalue(r, 0, 0), want[i]);
        PQclear(r);
        hk_conn_close(c);
    }
}

/* The batched statements send their rows as arrays in binary form
 * (struct hk_pgbin): PostgreSQL reads each kind back as the values that
 * went in, NULLs, numbers at their limits, quotes, backslashes, braces and
 * UTF-8 included, a jsonb element as JSON, and an empty array as empty. */
static void test_binary_arrays_reach_postgres(void **state)
{
    (void)state;
    static const char sql[] =
        "SELECT ($1::uuid[])[1]::text, ($1::uuid[])[2] IS NULL,"
        " $2::int4[]::text, $3::int8[]::text, ($4::text[])[1],"
        " ($4::text[])[2], ($4::text[])[3] IS NULL, ($4::text[])[4],"
        " ($5::jsonb[])[1] -> 'k' ->> 1, ($5::jsonb[])[2] IS NULL,"
        " $6::boolean[]::text, cardinality($7::uuid[])";
    static const unsigned types[7] = {HK_OID_UUID, HK_OID_INT4, HK_OID_INT8,
                                      HK_OID_TEXT, HK_OID_JSONB, HK_OID_BOOL,
                                      HK_OID_UUID};
    struct hk_pgbin a[7];
    for (int k = 0; k < 7; k++)
        hk_pgbin_init(&a[k], types[k]);
    hk_pgbin_uuid(&a[0], "0192A3B4-c5d6-7e8f-9a0b-1c2d3e4f5a6b");
    hk_pgbin_uuid(&a[0], NULL);
    hk_pgbin_int4(&a[1], INT32_MIN);
    hk_pgbin_int4(&a[1], 0);
    hk_pgbin_int4(&a[1], 7);
    hk_pgbin_int8(&a[2], INT64_MIN);
    hk_pgbin_int8(&a[2], 1700000000000LL);
    hk_pgbin_null(&a[2]);
    hk_pgbin_text(&a[3], "a\"b\\c,{} NULL");
    hk_pgbin_text(&a[3], "");
    hk_pgbin_text(&a[3], NULL);
    hk_pgbin_text(&a[3], "caf\xc3\xa9 \xe2\x82\xac");
    hk_pgbin_text(&a[4], "{\"k\": [1, \"x\\\"y\"]}");
    hk_pgbin_text(&a[4], NULL);
    hk_pgbin_bool(&a[5], true);
    hk_pgbin_bool(&a[5], false);
    struct hk_conn *c = NULL;
    assert_int_equal(hk_conn_open(srv.db_url, "hookd test", &c), HK_OK);
    PGresult *r = NULL;
    assert_int_equal(hk_db_query_arrays(c, sql, a, 7, &r), HK_OK);
    const char *const want[] = {
        "0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b",
        "t",
        "{-2147483648,0,7}",
        "{-9223372036854775808,1700000000000,NULL}",
        "a\"b\\c,{} NULL",
        "",
        "t",
        "caf\xc3\xa9 \xe2\x82\xac",
        "x\"y",
        "t",
        "{t,f}",
        "0",
    };
    assert_int_equal(PQnfields(r), 12);
    for (int i = 0; i < 12; i++)
        if (strcmp(PQgetvalue(r, 0, i), want[i]) != 0)
            fail_msg("column %d: \"%s\", expected \"%s\"", i + 1,
                     PQgetvalue(r, 0, i), want[i]);
    PQclear(r);
    /* an id that is not a uuid: refused, and nothing is sent */
    hk_pgbin_uuid(&a[6], "not-a-uuid");
    r = NULL;
    assert_int_equal(hk_db_query_arrays(c, sql, a, 7, &r), HK_INVALID);
    assert_null(r);
    hk_conn_close(c);
    for (int k = 0; k < 7; k++)
        hk_pgbin_cleanup(&a[k]);
}

/* An outcome can reach the record statement after its delivery moved on
 * (another owner took its endpoint and finished it): the attempt
 * was made, so it is recorded beside the delivery, whose state the late
 * outcome leaves alone. An outcome whose delivery does not exist (its
 * tenant was deleted meanwhile) is dropped without an error. Attempts
 * have no foreign key to their delivery; the record statement itself
 * keeps each attempt beside a delivery that exists (store_dispatch.c). */
static void test_late_outcome_recorded(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "late-outcome", tid);
    ep_at(key, tid, "/late/outcome", NULL, eid);
    hk_eng_event(&srv, key, tid, "order.created", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000));

    struct hk_conn *c = NULL;
    assert_int_equal(hk_conn_open(srv.db_url, "hookd test", &c), HK_OK);
    struct hk_outcome_row rows[2] = {
        {.tenant_id = tid, .delivery_id = did, .endpoint_id = eid,
         .number = 2, .cycle_attempts = 2, .started_at_ms = hk_now_ms(),
         .duration_ms = 3, .status_code = 500, .error = NULL,
         .url = "http://127.0.0.1/late/outcome", .request_headers = "{}",
         .response_headers = "{}", .response_body = "late",
         .new_status = "pending", .next_attempt_ms = hk_now_ms() + 5000},
        {.tenant_id = tid, .delivery_id = "01a23400-0000-7000-8000-000000000000",
         .endpoint_id = eid, .number = 1, .cycle_attempts = 1,
         .started_at_ms = hk_now_ms(), .duration_ms = 3, .status_code = 200,
         .url = "http://127.0.0.1/late/outcome", .request_headers = "{}",
         .new_status = "succeeded"},
    };
    /* a dispatcher that no longer owns the endpoint */
    assert_int_equal(
        hk_store_record(c, "01a23400-0000-7000-8000-0000000000ff", rows, 2),
        HK_OK);
    hk_conn_close(c);

    /* the late attempt is listed with the first; the delivery stays done */
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.attempts"
                                " WHERE tenant_id = $1 AND delivery_id = $2",
                                tid, did),
                     2);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.attempts"
                                " WHERE tenant_id = $1 AND delivery_id = $2"
                                " AND response_body = 'late'",
                                tid, did),
                     1);
    json_t *d = hk_eng_delivery(&srv, key, tid, did);
    assert_string_equal(hk_jstr(d, "status"), "succeeded");
    assert_int_equal(hk_jint(d, "attempt_count", -1), 1);
    json_decref(d);
    /* the outcome of a delivery that does not exist left nothing */
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.attempts"
                                " WHERE tenant_id = $1",
                                tid),
                     2);
    free(key);
}

/* The queue holds a row exactly while its delivery is pending, with the
 * delivery's due time, attempt count and cycle (migrations/0015_queue.sql),
 * whichever statement changes the delivery: claims read nothing else. The
 * delivery here belongs to no endpoint, so no claim takes it. */
#define QUEUE_MATCHES                                                        \
    "SELECT count(*) FROM hookd.queue q JOIN hookd.deliveries d"             \
    " ON d.tenant_id = q.tenant_id AND d.id = q.delivery_id"                 \
    " WHERE d.status = 'pending' AND q.endpoint_id = d.endpoint_id"          \
    " AND q.event_id = d.event_id AND q.next_attempt_at = d.next_attempt_at" \
    " AND q.attempt_count = d.attempt_count"                                 \
    " AND q.cycle_attempts = d.cycle_attempts"
static void test_queue_mirrors_pending(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "queue-mirror", tid);
    const char *did = "01a23400-0000-7000-8000-000000000a01";
    const char *q_of = "SELECT count(*) FROM hookd.queue"
                       " WHERE tenant_id = $1 AND delivery_id = $2";
    const char *matching = QUEUE_MATCHES " AND d.tenant_id = $1 AND d.id = $2";
    free(hk_sql(&srv,
                "INSERT INTO hookd.deliveries (tenant_id, id, event_id,"
                " endpoint_id, event_type, next_attempt_at) VALUES ($1, $2,"
                " hookd.uuid7(), hookd.uuid7(), 'order.created',"
                " now() + interval '1 hour') RETURNING 1",
                tid, did));
    assert_int_equal(hk_sql_int(&srv, matching, tid, did), 1);
    /* a retry moves its due time and counts */
    free(hk_sql(&srv,
                "UPDATE hookd.deliveries SET attempt_count = 1,"
                " cycle_attempts = 1, next_attempt_at = now() + interval"
                " '2 hours' WHERE tenant_id = $1 AND id = $2 RETURNING 1",
                tid, did));
    assert_int_equal(hk_sql_int(&srv, matching, tid, did), 1);
    /* success takes it out */
    free(hk_sql(&srv,
                "UPDATE hookd.deliveries SET status = 'succeeded',"
                " next_attempt_at = NULL, attempt_count = 2"
                " WHERE tenant_id = $1 AND id = $2 RETURNING 1",
                tid, did));
    assert_int_equal(hk_sql_int(&srv, q_of, tid, did), 0);
    /* a replay puts it back, at its new due time */
    free(hk_sql(&srv,
                "UPDATE hookd.deliveries SET status = 'pending',"
                " cycle_attempts = 0, next_attempt_at = now() + interval"
                " '3 hours' WHERE tenant_id = $1 AND id = $2 RETURNING 1",
                tid, did));
    assert_int_equal(hk_sql_int(&srv, matching, tid, did), 1);
    /* failure takes it out, and the failed list finds it */
    free(hk_sql(&srv,
                "UPDATE hookd.deliveries SET status = 'failed',"
                " next_attempt_at = NULL WHERE tenant_id = $1 AND id = $2"
                " RETURNING 1",
                tid, did));
    assert_int_equal(hk_sql_int(&srv, q_of, tid, did), 0);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.deliveries"
                                " WHERE tenant_id = $1 AND failed",
                                tid),
                     1);
    /* pending again, then deleted: the queue row goes with it */
    free(hk_sql(&srv,
                "UPDATE hookd.deliveries SET status = 'pending',"
                " next_attempt_at = now() + interval '1 hour'"
                " WHERE tenant_id = $1 AND id = $2 RETURNING 1",
                tid, did));
    assert_int_equal(hk_sql_int(&srv, q_of, tid, did), 1);
    free(hk_sql(&srv,
                "DELETE FROM hookd.deliveries WHERE tenant_id = $1"
                " AND id = $2 RETURNING 1",
                tid, did));
    assert_int_equal(hk_sql_int(&srv, q_of, tid, did), 0);

    /* and across everything the tests before this one did (deliveries
     * retried, exhausted, replayed, disabled, their endpoints and tenants
     * deleted), every pending delivery has its row and no row is left
     * over; counted in one statement, one snapshot, since the dispatcher
     * may still be recording retries of earlier tests meanwhile */
    char *counts = hk_sql(&srv,
                          "SELECT p || '/' || m || '/' || q FROM"
                          " (SELECT count(*) AS p FROM hookd.deliveries"
                          "  WHERE status = 'pending') a,"
                          " (" QUEUE_MATCHES ") AS b(m),"
                          " (SELECT count(*) AS q FROM hookd.queue) c");
    assert_non_null(counts);
    long long pending = strtoll(counts, NULL, 10);
    char want[64];
    snprintf(want, sizeof(want), "%lld/%lld/%lld", pending, pending, pending);
    assert_string_equal(counts, want);
    free(counts);
    free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanout_matches_filters),
        cmocka_unit_test(test_fanout_filter_edges),
        cmocka_unit_test(test_envelope_and_headers),
        cmocka_unit_test(test_retry_then_success),
        cmocka_unit_test(test_exhaustion_then_replay),
        cmocka_unit_test(test_replay_conflicts),
        cmocka_unit_test(test_retry_after_429),
        cmocka_unit_test(test_retry_after_503),
        cmocka_unit_test(test_gone_disables_endpoint),
        cmocka_unit_test(test_redirect_not_followed),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_response_body_cap),
        cmocka_unit_test(test_max_concurrency),
        cmocka_unit_test(test_one_at_a_time_keeps_order),
        cmocka_unit_test(test_full_endpoint_claims_as_slots_free),
        cmocka_unit_test(test_peer_ingest_wakes_dispatcher),
        cmocka_unit_test(test_raised_max_concurrency_starts_the_waiting),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_rate_limit_many_endpoints),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_concurrent_ingest_groups),
        cmocka_unit_test(test_tenant_deleted_while_ingesting),
        cmocka_unit_test(test_delete_endpoint_fails_pending),
        cmocka_unit_test(test_delete_endpoint_in_flight),
        cmocka_unit_test(test_delivery_list_filters),
        cmocka_unit_test(test_pending_list_spans_endpoints),
        cmocka_unit_test(test_late_outcome_recorded),
        cmocka_unit_test(test_connections_named),
        cmocka_unit_test(test_binary_arrays_reach_postgres),
        cmocka_unit_test(test_rotated_secret_signs_twice),
        cmocka_unit_test(test_one_claim_keeps_each_endpoints_secrets),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_tenant_deleted_in_flight),
        cmocka_unit_test(test_queue_mirrors_pending),
    };
    int rc = cmocka_run_group_tests_name("engine", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
