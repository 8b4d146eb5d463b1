/*
 * test_api_isolation.c - end-to-end tests of the wall between tenants and of
 * authentication, as docs/api.md and docs/design.md state them: a tenant token
 * on another tenant's path or object gets 404 on every route and changes
 * nothing; a tenant token on an operator-only route gets 403; no token or an
 * unknown one gets 401; a revoked key stops working at once. One hookd (serve)
 * for the file; tenants A and B each have a key and an endpoint aimed at an
 * in-process receiver, and B has an event and its delivery.
 */
#include "engine_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;
static char ta[HK_ID_LEN], tb[HK_ID_LEN]; /* tenants */
static char *ka, *kb;                     /* their API keys */
static char kida[HK_ID_LEN], kidb[HK_ID_LEN];
static char ea[HK_ID_LEN], eb[HK_ID_LEN];  /* their endpoints */
static char evb[HK_ID_LEN], db[HK_ID_LEN]; /* B's event and delivery */

static int group_setup(void **state)
{
    (void)state;
    static const char *const types[] = {"iso.event", NULL};
    if (hk_group_start(&srv, NULL, &rcv, types) != 0)
        return -1;
    hk_mk_tenant(&srv, "tenant A", ta);
    hk_mk_tenant(&srv, "tenant B", tb);
    ka = hk_mk_api_key(&srv, ta, kida);
    kb = hk_mk_api_key(&srv, tb, kidb);
    hk_eng_rcv_endpoint(&srv, ka, ta, rcv, "/a", NULL, ea);
    hk_eng_rcv_endpoint(&srv, kb, tb, rcv, "/b", NULL, eb);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(ka);
    free(kb);
    return hk_group_finish(&srv, &rcv);
}

/* B's event and its delivery, made once by the first test that needs
 * them (so that a failing ingest fails those tests only). */
static void need_b_event(void)
{
    if (db[0] != '\0')
        return;
    struct hk_reply *r =
        hk_call(&srv, "POST", kb,
                "{\"event_type\":\"iso.event\",\"payload\":{\"n\":1}}",
                "/v1/tenants/%s/events", tb);
    hk_expect(r, 202);
    const char *id = hk_jstr(r->json, "id");
    assert_non_null(id);
    snprintf(evb, sizeof evb, "%s", id);
    assert_int_equal(hk_jint(r->json, "deliveries", -1), 1);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", kb, NULL, "/v1/tenants/%s/deliveries?event_id=%s",
                tb, evb);
    hk_expect(r, 200);
    const char *did = hk_jstr(r->json, "data.0.id");
    assert_non_null(did);
    snprintf(db, sizeof db, "%s", did);
    hk_reply_free(r);
}

struct call {
    const char *method;
    char *path;       /* owned */
    const char *body; /* JSON or NULL */
};

static void expect_each(const char *token, struct call *calls, size_t n,
                        long status, const char *code)
{
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        struct hk_reply *r = hk_call(&srv, calls[i].method, token,
                                     calls[i].body, "%s", calls[i].path);
        const char *got = hk_jstr(r->json, "error.code");
        if (r->status != status || got == NULL || strcmp(got, code) != 0 ||
            hk_reply_header(r, "X-Request-Id") == NULL) {
            print_error("%s %s: expected %ld %s, got %ld %.300s\n",
                        calls[i].method, calls[i].path, status, code, r->status,
                        r->body);
            wrong++;
        }
        hk_reply_free(r);
        free(calls[i].path);
    }
    if (wrong > 0)
        fail_msg("%d of %zu requests were not answered %ld %s", wrong, n,
                 status, code);
}

static char *endpoint_snapshot(const char *tid, const char *eid)
{
    struct hk_reply *r =
        hk_admin(&srv, "GET", NULL, "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    char *s = strdup(r->body);
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s/endpoints/%s/secret", tid,
                 eid);
    hk_expect(r, 200);
    char *both = hk_fmt("%s %s", s, r->body);
    hk_reply_free(r);
    free(s);
    return both;
}

/* Every endpoint route, by B's path and by A's path with B's object, with
 * A's key: 404, and B's endpoint is untouched. */
static void test_endpoints_of_other_tenant(void **state)
{
    (void)state;
    char *before = endpoint_snapshot(tb, eb);
    long long count = hk_sql_int(
        &srv, "SELECT count(*) FROM hookd.endpoints WHERE tenant_id = $1::uuid",
        tb);
    const char *since = "{\"since\":\"2020-01-01T00:00:00.000Z\"}";
    const char *tenants[] = {tb, ta};
    struct call calls[32];
    size_t n = 0;
    calls[n++] = (struct call){"GET", hk_fmt("/v1/tenants/%s", tb), NULL};
    calls[n++] =
        (struct call){"GET", hk_fmt("/v1/tenants/%s/endpoints", tb), NULL};
    calls[n++] = (struct call){"POST", hk_fmt("/v1/tenants/%s/endpoints", tb),
                               "{\"url\":\"https://example.com/x\"}"};
    /* refused before validation: no hint that the tenant exists */
    calls[n++] = (struct call){"POST", hk_fmt("/v1/tenants/%s/endpoints", tb),
                               "{\"url\":\"nope\"}"};
    for (size_t i = 0; i < 2; i++) {
        const char *t = tenants[i];
        calls[n++] = (struct call){
            "GET", hk_fmt("/v1/tenants/%s/endpoints/%s", t, eb), NULL};
        calls[n++] = (struct call){
            "PATCH", hk_fmt("/v1/tenants/%s/endpoints/%s", t, eb),
            "{\"url\":\"https://attacker.example/\",\"enabled\":false}"};
        calls[n++] = (struct call){
            "GET", hk_fmt("/v1/tenants/%s/endpoints/%s/secret", t, eb), NULL};
        calls[n++] = (struct call){
            "POST", hk_fmt("/v1/tenants/%s/endpoints/%s/secret/rotate", t, eb),
            NULL};
        calls[n++] = (struct call){
            "POST", hk_fmt("/v1/tenants/%s/endpoints/%s/secret/rotate", t, eb),
            "{\"key\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}"};
        calls[n++] = (struct call){
            "POST", hk_fmt("/v1/tenants/%s/endpoints/%s/test", t, eb), NULL};
        calls[n++] = (struct call){
            "POST", hk_fmt("/v1/tenants/%s/endpoints/%s/recover", t, eb),
            since};
        calls[n++] = (struct call){
            "DELETE", hk_fmt("/v1/tenants/%s/endpoints/%s", t, eb), NULL};
    }
    expect_each(ka, calls, n, 404, "not_found");

    char *after = endpoint_snapshot(tb, eb);
    assert_string_equal(before, after);
    assert_int_equal(count, hk_sql_int(&srv,
                                       "SELECT count(*) FROM hookd.endpoints "
                                       "WHERE tenant_id = $1::uuid",
                                       tb));
    free(before);
    free(after);

    /* the other way round, briefly */
    n = 0;
    calls[n++] = (struct call){
        "GET", hk_fmt("/v1/tenants/%s/endpoints/%s", ta, ea), NULL};
    calls[n++] = (struct call){
        "GET", hk_fmt("/v1/tenants/%s/endpoints/%s/secret", tb, ea), NULL};
    calls[n++] = (struct call){
        "DELETE", hk_fmt("/v1/tenants/%s/endpoints/%s", tb, ea), NULL};
    expect_each(kb, calls, n, 404, "not_found");

    /* A's list shows A's endpoints only */
    char *path = hk_fmt("/v1/tenants/%s/endpoints", ta);
    json_t *all = hk_list_all(&srv, ka, path, 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(all, i, it)
    {
        assert_string_equal(hk_jstr(it, "tenant_id"), ta);
        assert_string_not_equal(hk_jstr(it, "id"), eb);
    }
    json_decref(all);
    free(path);
}

/* The admin key too must find an object only under its own tenant. */
static void test_admin_object_under_wrong_tenant(void **state)
{
    (void)state;
    struct call calls[8];
    size_t n = 0;
    calls[n++] = (struct call){
        "GET", hk_fmt("/v1/tenants/%s/endpoints/%s", ta, eb), NULL};
    calls[n++] = (struct call){
        "GET", hk_fmt("/v1/tenants/%s/endpoints/%s/secret", ta, eb), NULL};
    calls[n++] =
        (struct call){"PATCH", hk_fmt("/v1/tenants/%s/endpoints/%s", ta, eb),
                      "{\"description\":\"moved?\"}"};
    calls[n++] = (struct call){
        "DELETE", hk_fmt("/v1/tenants/%s/api-keys/%s", ta, kidb), NULL};
    expect_each(srv.admin_key, calls, n, 404, "not_found");
    /* B's key still works */
    struct hk_reply *r = hk_call(&srv, "GET", kb, NULL, "/v1/me");
    hk_expect(r, 200);
    hk_reply_free(r);

    need_b_event();
    n = 0;
    calls[n++] =
        (struct call){"GET", hk_fmt("/v1/tenants/%s/events/%s", ta, evb), NULL};
    calls[n++] = (struct call){
        "GET", hk_fmt("/v1/tenants/%s/deliveries/%s", ta, db), NULL};
    calls[n++] = (struct call){
        "GET", hk_fmt("/v1/tenants/%s/deliveries/%s/attempts", ta, db), NULL};
    calls[n++] = (struct call){
        "POST", hk_fmt("/v1/tenants/%s/deliveries/%s/replay", ta, db), NULL};
    expect_each(srv.admin_key, calls, n, 404, "not_found");
}

static void test_events_and_deliveries_of_other_tenant(void **state)
{
    (void)state;
    need_b_event();
    long long events = hk_sql_int(
        &srv, "SELECT count(*) FROM hookd.events WHERE tenant_id = $1::uuid",
        tb);
    long long deliveries = hk_sql_int(
        &srv,
        "SELECT count(*) FROM hookd.deliveries WHERE tenant_id = $1::uuid", tb);
    const char *tenants[] = {tb, ta};
    struct call calls[32];
    size_t n = 0;
    calls[n++] = (struct call){
        "POST", hk_fmt("/v1/tenants/%s/events", tb),
        "{\"event_type\":\"iso.event\",\"payload\":{\"forged\":true}}"};
    calls[n++] =
        (struct call){"GET", hk_fmt("/v1/tenants/%s/events", tb), NULL};
    calls[n++] =
        (struct call){"GET", hk_fmt("/v1/tenants/%s/deliveries", tb), NULL};
    calls[n++] = (struct call){
        "GET", hk_fmt("/v1/tenants/%s/deliveries?endpoint_id=%s", tb, eb),
        NULL};
    calls[n++] = (struct call){"GET", hk_fmt("/v1/tenants/%s/stats", tb), NULL};
    for (size_t i = 0; i < 2; i++) {
        const char *t = tenants[i];
        calls[n++] = (struct call){
            "GET", hk_fmt("/v1/tenants/%s/events/%s", t, evb), NULL};
        calls[n++] = (struct call){
            "GET", hk_fmt("/v1/tenants/%s/deliveries/%s", t, db), NULL};
        calls[n++] = (struct call){
            "GET", hk_fmt("/v1/tenants/%s/deliveries/%s/attempts", t, db),
            NULL};
        calls[n++] = (struct call){
            "POST", hk_fmt("/v1/tenants/%s/deliveries/%s/replay", t, db), NULL};
    }
    expect_each(ka, calls, n, 404, "not_found");
    assert_int_equal(events, hk_sql_int(&srv,
                                        "SELECT count(*) FROM hookd.events "
                                        "WHERE tenant_id = $1::uuid",
                                        tb));
    assert_int_equal(deliveries,
                     hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.deliveries "
                                "WHERE tenant_id = $1::uuid",
                                tb));

    /* A's own lists, filtered by B's ids, show nothing of B */
    const char *lists[] = {"events", "deliveries",
                           "deliveries?event_id=", "deliveries?endpoint_id="};
    for (size_t i = 0; i < 4; i++) {
        const char *arg = i == 2 ? evb : (i == 3 ? eb : "");
        char *path = hk_fmt("/v1/tenants/%s/%s%s", ta, lists[i], arg);
        json_t *all = hk_list_all(&srv, ka, path, 0, NULL);
        size_t k;
        json_t *it;
        json_array_foreach(all, k, it)
        {
            const char *tid = hk_jstr(it, "tenant_id");
            if (tid == NULL || strcmp(tid, ta) != 0)
                fail_msg("%s lists an item of another tenant", path);
        }
        if (i >= 2)
            assert_int_equal(json_array_size(all), 0);
        json_decref(all);
        free(path);
    }
    /* A's stats count none of B's deliveries */
    struct hk_reply *r =
        hk_call(&srv, "GET", ka, NULL, "/v1/tenants/%s/stats", ta);
    hk_expect(r, 200);
    json_t *eps = hk_jget(r->json, "endpoints");
    size_t k;
    json_t *it;
    json_array_foreach(eps, k, it)
    {
        assert_string_not_equal(hk_jstr(it, "endpoint_id"), eb);
    }
    hk_reply_free(r);
}

/* A tenant key on the operator's routes: 403, nothing changes. */
static void test_operator_routes_forbidden(void **state)
{
    (void)state;
    long long tenants = hk_sql_int(&srv, "SELECT count(*) FROM hookd.tenants");
    long long keys = hk_sql_int(&srv, "SELECT count(*) FROM hookd.api_keys");
    struct call calls[32];
    size_t n = 0;
    calls[n++] =
        (struct call){"POST", hk_fmt("/v1/tenants"), "{\"name\":\"sneaky\"}"};
    calls[n++] = (struct call){"GET", hk_fmt("/v1/tenants"), NULL};
    calls[n++] = (struct call){"GET", hk_fmt("/v1/tenants?limit=1"), NULL};
    calls[n++] = (struct call){"POST", hk_fmt("/v1/event-types"),
                               "{\"name\":\"sneaky.type\"}"};
    calls[n++] = (struct call){"PATCH", hk_fmt("/v1/event-types/iso.event"),
                               "{\"archived\":true}"};
    const char *tenants_[] = {ta, tb};
    const char *kids[] = {kida, kidb};
    for (size_t i = 0; i < 2; i++) {
        const char *t = tenants_[i];
        calls[n++] = (struct call){"PATCH", hk_fmt("/v1/tenants/%s", t),
                                   "{\"name\":\"renamed\"}"};
        calls[n++] = (struct call){"DELETE", hk_fmt("/v1/tenants/%s", t), NULL};
        calls[n++] = (struct call){"POST", hk_fmt("/v1/tenants/%s/api-keys", t),
                                   "{\"name\":\"more\"}"};
        calls[n++] =
            (struct call){"GET", hk_fmt("/v1/tenants/%s/api-keys", t), NULL};
        calls[n++] = (struct call){
            "DELETE", hk_fmt("/v1/tenants/%s/api-keys/%s", t, kids[i]), NULL};
        calls[n++] = (struct call){
            "POST", hk_fmt("/v1/tenants/%s/portal-sessions", t), NULL};
    }
    expect_each(ka, calls, n, 403, "forbidden");

    assert_int_equal(tenants,
                     hk_sql_int(&srv, "SELECT count(*) FROM hookd.tenants"));
    assert_int_equal(keys,
                     hk_sql_int(&srv, "SELECT count(*) FROM hookd.api_keys"));
    struct hk_reply *r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", ta);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "name"), "tenant A");
    hk_reply_free(r);
    r = hk_call(&srv, "GET", ka, NULL, "/v1/me");
    hk_expect(r, 200);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", kb, NULL, "/v1/me");
    hk_expect(r, 200);
    hk_reply_free(r);
    /* the event type list is open to any token, and iso.event is not
     * archived */
    json_t *all = hk_list_all(&srv, ka, "/v1/event-types", 0, NULL);
    bool found = false;
    size_t i;
    json_t *it;
    json_array_foreach(all, i, it)
    {
        if (strcmp(hk_jstr(it, "name"), "iso.event") == 0)
            found = true;
        assert_string_not_equal(hk_jstr(it, "name"), "sneaky.type");
    }
    assert_true(found);
    json_decref(all);
}

/* No token, a malformed header or an unknown token: 401 everywhere but
 * the public routes. */
static void test_missing_and_bad_tokens(void **state)
{
    (void)state;
    char *paths[] = {hk_fmt("/v1/tenants/%s/endpoints", ta),
                     hk_fmt("/v1/tenants/%s", ta),
                     hk_fmt("/v1/tenants"),
                     hk_fmt("/v1/me"),
                     hk_fmt("/v1/event-types"),
                     hk_fmt("/v1/tenants/%s/endpoints/%s/secret", ta, ea)};
    char *wrong_admin = hk_fmt("%sx", srv.admin_key);
    char *short_admin = strdup(srv.admin_key);
    short_admin[strlen(short_admin) - 1] = '\0';
    char *case_admin = strdup(srv.admin_key);
    for (char *p = case_admin; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    char *bad_ka = strdup(ka);
    char *last = bad_ka + strlen(bad_ka) - 1;
    *last = *last == 'A' ? 'B' : 'A';
    char *h_admin_noscheme = hk_fmt("Authorization: %s", srv.admin_key);
    char *h_basic = hk_fmt("Authorization: Basic %s", srv.admin_key);
    char *h_token = hk_fmt("Authorization: Token %s", ka);
    char *h_double = hk_fmt("Authorization: Bearer %s %s", ka, ka);
    const char *tokens[] = {NULL,        "",          "hk_",
                            "hk_bogus",  "hps_bogus", wrong_admin,
                            short_admin, case_admin,  bad_ka};
    const char *headers[] = {"Authorization: Bearer",
                             "Authorization:",
                             h_admin_noscheme,
                             h_basic,
                             h_token,
                             h_double};
    int wrong = 0;
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++) {
            struct hk_reply *r =
                hk_http(&srv, "GET", paths[p], tokens[t], NULL, NULL, 0, NULL);
            const char *code = hk_jstr(r->json, "error.code");
            if (r->status != 401 || code == NULL ||
                strcmp(code, "unauthorized") != 0) {
                print_error("GET %s with token \"%s\": %ld %.200s\n", paths[p],
                            tokens[t] ? tokens[t] : "(none)", r->status,
                            r->body);
                wrong++;
            }
            hk_reply_free(r);
        }
        for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++) {
            const char *xh[] = {headers[h], NULL};
            struct hk_reply *r =
                hk_http(&srv, "GET", paths[p], NULL, NULL, NULL, 0, xh);
            const char *code = hk_jstr(r->json, "error.code");
            if (r->status != 401 || code == NULL ||
                strcmp(code, "unauthorized") != 0) {
                print_error("GET %s with \"%s\": %ld %.200s\n", paths[p],
                            headers[h], r->status, r->body);
                wrong++;
            }
            hk_reply_free(r);
        }
    }
    /* writes too, and they change nothing */
    long long tenants = hk_sql_int(&srv, "SELECT count(*) FROM hookd.tenants");
    struct hk_reply *r =
        hk_call(&srv, "POST", NULL, "{\"name\":\"anon\"}", "/v1/tenants");
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "DELETE", "hk_bogus", NULL, "/v1/tenants/%s/endpoints/%s",
                ta, ea);
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);
    assert_int_equal(tenants,
                     hk_sql_int(&srv, "SELECT count(*) FROM hookd.tenants"));
    r = hk_call(&srv, "GET", ka, NULL, "/v1/tenants/%s/endpoints/%s", ta, ea);
    hk_expect(r, 200);
    hk_reply_free(r);

    /* the public routes need nothing */
    const char *open[] = {"/healthz", "/readyz", "/openapi.json", "/metrics"};
    for (size_t i = 0; i < 4; i++) {
        r = hk_call(&srv, "GET", NULL, NULL, "%s", open[i]);
        hk_expect(r, 200);
        hk_reply_free(r);
    }
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++)
        free(paths[p]);
    free(wrong_admin);
    free(short_admin);
    free(case_admin);
    free(bad_ka);
    free(h_admin_noscheme);
    free(h_basic);
    free(h_token);
    free(h_double);
    if (wrong > 0)
        fail_msg("%d requests with no or a bad token were not 401", wrong);
}

/* A deleted key fails on the very next request, even right after being
 * used (no cache may keep it alive). */
static void test_revoked_key_stops_at_once(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        char kid[HK_ID_LEN];
        char *k = hk_mk_api_key(&srv, ta, kid);
        for (int i = 0; i < 5; i++) {
            struct hk_reply *r =
                hk_call(&srv, "GET", k, NULL, "/v1/tenants/%s/endpoints", ta);
            hk_expect(r, 200);
            hk_reply_free(r);
        }
        struct hk_reply *r = hk_admin(&srv, "DELETE", NULL,
                                      "/v1/tenants/%s/api-keys/%s", ta, kid);
        hk_expect(r, 204);
        hk_reply_free(r);
        const char *paths[] = {"/v1/me", "/v1/event-types"};
        for (size_t i = 0; i < 2; i++) {
            r = hk_call(&srv, "GET", k, NULL, "%s", paths[i]);
            hk_expect_error(r, 401, "unauthorized", NULL);
            hk_reply_free(r);
        }
        r = hk_call(&srv, "GET", k, NULL, "/v1/tenants/%s/endpoints", ta);
        hk_expect_error(r, 401, "unauthorized", NULL);
        hk_reply_free(r);
        r = hk_call(&srv, "POST", k, "{\"url\":\"https://example.com/r\"}",
                    "/v1/tenants/%s/endpoints", ta);
        hk_expect_error(r, 401, "unauthorized", NULL);
        hk_reply_free(r);
        free(k);
    }
    /* the other keys are unaffected */
    struct hk_reply *r = hk_call(&srv, "GET", ka, NULL, "/v1/me");
    hk_expect(r, 200);
    hk_reply_free(r);

    /* a deleted tenant's keys die with it */
    char tc[HK_ID_LEN];
    hk_mk_tenant(&srv, "tenant C", tc);
    char *kc = hk_mk_api_key(&srv, tc, NULL);
    r = hk_call(&srv, "GET", kc, NULL, "/v1/tenants/%s", tc);
    hk_expect(r, 200);
    hk_reply_free(r);
    r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s", tc);
    hk_expect(r, 204);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", kc, NULL, "/v1/tenants/%s", tc);
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);
    free(kc);
}

/* A tenant works in its own tenant with its key. */
static void test_own_tenant_allowed(void **state)
{
    (void)state;
    struct hk_reply *r = hk_call(&srv, "GET", ka, NULL, "/v1/tenants/%s", ta);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "id"), ta);
    hk_reply_free(r);
    r = hk_call(&srv, "POST", ka, "{\"url\":\"https://example.com/own\"}",
                "/v1/tenants/%s/endpoints", ta);
    hk_expect(r, 201);
    assert_string_equal(hk_jstr(r->json, "tenant_id"), ta);
    char eid[HK_ID_LEN];
    snprintf(eid, sizeof eid, "%s", hk_jstr(r->json, "id"));
    hk_reply_free(r);
    r = hk_call(&srv, "GET", ka, NULL, "/v1/tenants/%s/endpoints/%s/secret", ta,
                eid);
    hk_expect(r, 200);
    hk_reply_free(r);
    r = hk_call(&srv, "DELETE", ka, NULL, "/v1/tenants/%s/endpoints/%s", ta,
                eid);
    hk_expect(r, 204);
    hk_reply_free(r);
}

/* A portal session token is walled in like a key. */
static void test_portal_session_isolation(void **state)
{
    (void)state;
    char *tok = hk_mk_session(&srv, ta, "{}", NULL);
    struct hk_reply *r =
        hk_call(&srv, "GET", tok, NULL, "/v1/tenants/%s/endpoints", ta);
    hk_expect(r, 200);
    hk_reply_free(r);
    struct call calls[8];
    size_t n = 0;
    calls[n++] = (struct call){"GET", hk_fmt("/v1/tenants/%s", tb), NULL};
    calls[n++] =
        (struct call){"GET", hk_fmt("/v1/tenants/%s/endpoints", tb), NULL};
    calls[n++] = (struct call){
        "GET", hk_fmt("/v1/tenants/%s/endpoints/%s", ta, eb), NULL};
    calls[n++] = (struct call){
        "GET", hk_fmt("/v1/tenants/%s/endpoints/%s/secret", tb, eb), NULL};
    expect_each(tok, calls, n, 404, "not_found");
    n = 0;
    calls[n++] = (struct call){"GET", hk_fmt("/v1/tenants"), NULL};
    calls[n++] = (struct call){"POST", hk_fmt("/v1/tenants/%s/api-keys", ta),
                               "{\"name\":\"from portal\"}"};
    calls[n++] = (struct call){
        "POST", hk_fmt("/v1/tenants/%s/portal-sessions", ta), NULL};
    expect_each(tok, calls, n, 403, "forbidden");
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints_of_other_tenant),
        cmocka_unit_test(test_admin_object_under_wrong_tenant),
        cmocka_unit_test(test_events_and_deliveries_of_other_tenant),
        cmocka_unit_test(test_operator_routes_forbidden),
        cmocka_unit_test(test_missing_and_bad_tokens),
        cmocka_unit_test(test_revoked_key_stops_at_once),
        cmocka_unit_test(test_own_tenant_allowed),
        cmocka_unit_test(test_portal_session_isolation),
    };
    int rc = cmocka_run_group_tests_name("api_isolation", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
