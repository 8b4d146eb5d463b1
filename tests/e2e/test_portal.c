/*
 * test_portal.c - end-to-end tests of the routes the tenant portal is
 * built on: portal sessions (scope, listing, revocation, sign-out, purge),
 * /v1/me, the portal's settings and frame headers, delivery filters,
 * replay of any delivery, the exact request body of an attempt, the live
 * updates route and the extended statistics. One hookd (serve) for the
 * file, with a receiver for its deliveries.
 */
#include "engine_util.h"
#include "harness.h"
#include "receiver.h"
#include "router.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;
static char tid[HK_ID_LEN];
static char *key; /* the tenant's API key */

#define NO_SUCH_ID "01890a5d-ac96-774b-bcce-b302099a8057"
#define READ_ONLY_MSG "this portal session can only read"

static int group_setup(void **state)
{
    (void)state;
    static const char *const env[] = {
        "HOOKD_PORTAL_NAME=Acme Webhooks", "HOOKD_PORTAL_ACCENT=#0a7c5a",
        "HOOKD_HTTP_THREADS=2", NULL};
    static const char *const types[] = {"invoice.paid", "user.signup", NULL};
    if (hk_group_start(&srv, env, &rcv, types) != 0)
        return -1;
    key = hk_eng_tenant(&srv, "portal", tid);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(key);
    key = NULL;
    return hk_group_finish(&srv, &rcv);
}

/* ---- sessions --------------------------------------------------------- */

static void test_session_create_scope(void **state)
{
    (void)state;
    struct hk_reply *r = hk_admin(&srv, "POST", "{\"scope\":\"read\"}",
                                  "/v1/tenants/%s/portal-sessions", tid);
    hk_expect(r, 201);
    assert_string_equal(hk_jstr(r->json, "scope"), "read");
    assert_true(hk_is_uuid7(hk_jstr(r->json, "id")));
    assert_true(hk_is_rfc3339_ms(hk_jstr(r->json, "created_at")));
    assert_true(hk_is_rfc3339_ms(hk_jstr(r->json, "expires_at")));
    assert_non_null(hk_jstr(r->json, "url"));
    hk_reply_free(r);
    r = hk_admin(&srv, "POST", NULL, "/v1/tenants/%s/portal-sessions", tid);
    hk_expect(r, 201);
    assert_string_equal(hk_jstr(r->json, "scope"), "write");
    hk_reply_free(r);
    const char *bad[] = {"{\"scope\":\"admin\"}", "{\"scope\":1}",
                         "{\"scope\":\"READ\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = hk_admin(&srv, "POST", bad[i], "/v1/tenants/%s/portal-sessions",
                     tid);
        hk_expect_error(r, 422, "validation_failed", "scope");
        hk_reply_free(r);
    }
}

static void test_me_shapes(void **state)
{
    (void)state;
    struct hk_reply *r = hk_admin(&srv, "GET", NULL, "/v1/me");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "role"), "admin");
    assert_null(hk_jget(r->json, "session"));
    hk_reply_free(r);

    r = hk_call(&srv, "GET", key, NULL, "/v1/me");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "role"), "tenant");
    assert_string_equal(hk_jstr(r->json, "tenant_id"), tid);
    assert_string_equal(hk_jstr(r->json, "tenant_name"), "portal");
    assert_null(hk_jget(r->json, "session"));
    hk_reply_free(r);

    char sid[HK_ID_LEN];
    char *tok = hk_mk_session(&srv, tid,
                              "{\"scope\":\"read\",\"ttl_seconds\":600}", sid);
    r = hk_call(&srv, "GET", tok, NULL, "/v1/me");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "role"), "tenant");
    assert_string_equal(hk_jstr(r->json, "tenant_id"), tid);
    assert_string_equal(hk_jstr(r->json, "tenant_name"), "portal");
    assert_string_equal(hk_jstr(r->json, "session.id"), sid);
    assert_string_equal(hk_jstr(r->json, "session.scope"), "read");
    assert_true(hk_is_rfc3339_ms(hk_jstr(r->json, "session.expires_at")));
    hk_reply_free(r);
    free(tok);
}

static bool listed(json_t *rows, const char *sid)
{
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v)
    {
        if (strcmp(hk_jstr(v, "id"), sid) == 0)
            return true;
    }
    return false;
}

static void test_session_list_and_revoke(void **state)
{
    (void)state;
    char t[HK_ID_LEN], s1[HK_ID_LEN], s2[HK_ID_LEN], s3[HK_ID_LEN];
    hk_mk_tenant(&srv, "sessions", t);
    char *a = hk_mk_session(&srv, t, NULL, s1);
    char *b = hk_mk_session(&srv, t, "{\"scope\":\"read\"}", s2);
    char *c = hk_mk_session(&srv, t, NULL, s3);
    /* an expired session is not listed (and no longer works) */
    char *sql = hk_fmt("UPDATE hookd.portal_sessions SET expires_at ="
                       " now() - interval '1 second' WHERE id = '%s'",
                       s3);
    free(hk_sql(&srv, sql));
    free(sql);
    char *path = hk_fmt("/v1/tenants/%s/portal-sessions", t);
    json_t *rows = hk_list_all(&srv, srv.admin_key, path, 1, NULL);
    assert_int_equal(json_array_size(rows), 2);
    /* newest first, never the token */
    assert_string_equal(hk_jstr(json_array_get(rows, 0), "id"), s2);
    assert_string_equal(hk_jstr(json_array_get(rows, 0), "scope"), "read");
    assert_string_equal(hk_jstr(json_array_get(rows, 1), "id"), s1);
    assert_true(hk_is_rfc3339_ms(hk_jstr(json_array_get(rows, 1),
                                         "created_at")));
    assert_true(hk_is_rfc3339_ms(hk_jstr(json_array_get(rows, 1),
                                         "expires_at")));
    assert_null(hk_jget(json_array_get(rows, 0), "token"));
    json_decref(rows);
    struct hk_reply *r = hk_call(&srv, "GET", c, NULL, "/v1/me");
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);

    /* operator only */
    r = hk_call(&srv, "GET", a, NULL, "%s", path);
    hk_expect_error(r, 403, "forbidden", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "DELETE", a, NULL, "%s/%s", path, s2);
    hk_expect_error(r, 403, "forbidden", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/portal-sessions",
                tid);
    hk_expect_error(r, 403, "forbidden", NULL);
    hk_reply_free(r);

    /* revoking one stops its token at once; the other keeps working */
    r = hk_call(&srv, "GET", b, NULL, "/v1/tenants/%s/endpoints", t);
    hk_expect(r, 200);
    hk_reply_free(r);
    r = hk_admin(&srv, "DELETE", NULL, "%s/%s", path, s2);
    hk_expect(r, 204);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", b, NULL, "/v1/tenants/%s/endpoints", t);
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", a, NULL, "/v1/tenants/%s/endpoints", t);
    hk_expect(r, 200);
    hk_reply_free(r);
    rows = hk_list_all(&srv, srv.admin_key, path, 0, NULL);
    assert_int_equal(json_array_size(rows), 1);
    assert_false(listed(rows, s2));
    json_decref(rows);

    /* unknown, twice, or another tenant's session: 404 */
    r = hk_admin(&srv, "DELETE", NULL, "%s/%s", path, s2);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_admin(&srv, "DELETE", NULL, "%s/" NO_SUCH_ID, path);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s/portal-sessions/%s",
                 tid, s1);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", a, NULL, "/v1/me");
    hk_expect(r, 200);
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL,
                 "/v1/tenants/" NO_SUCH_ID "/portal-sessions");
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    free(path);
    free(a);
    free(b);
    free(c);
}

static void test_sign_out(void **state)
{
    (void)state;
    const char *scopes[] = {"{\"scope\":\"write\"}", "{\"scope\":\"read\"}"};
    for (size_t i = 0; i < 2; i++) {
        char sid[HK_ID_LEN];
        char *tok = hk_mk_session(&srv, tid, scopes[i], sid);
        char *other = hk_mk_session(&srv, tid, scopes[i], NULL);
        struct hk_reply *r = hk_call(&srv, "DELETE", tok, NULL,
                                     "/v1/me/session");
        hk_expect(r, 204);
        hk_reply_free(r);
        r = hk_call(&srv, "GET", tok, NULL, "/v1/me");
        hk_expect_error(r, 401, "unauthorized", NULL);
        hk_reply_free(r);
        r = hk_call(&srv, "DELETE", tok, NULL, "/v1/me/session");
        hk_expect_error(r, 401, "unauthorized", NULL);
        hk_reply_free(r);
        /* only that session ended */
        r = hk_call(&srv, "GET", other, NULL, "/v1/me");
        hk_expect(r, 200);
        hk_reply_free(r);
        char *sql = hk_fmt("SELECT count(*) FROM hookd.portal_sessions"
                           " WHERE id = '%s'",
                           sid);
        assert_int_equal(hk_sql_int(&srv, sql), 0);
        free(sql);
        free(tok);
        free(other);
    }
    struct hk_reply *r = hk_admin(&srv, "DELETE", NULL, "/v1/me/session");
    hk_expect_error(r, 403, "forbidden", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "DELETE", key, NULL, "/v1/me/session");
    hk_expect_error(r, 403, "forbidden", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "DELETE", NULL, NULL, "/v1/me/session");
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);
}

/* Fills a route pattern with ids that exist: the tenant, then by the
 * segment before each {}. */
static char *fill(const char *pattern, const char *eid, const char *evid,
                  const char *did, const char *sid)
{
    char out[512] = "";
    char prev[64] = "";
    size_t used = 0;
    bool first = true;
    for (const char *p = pattern; *p != '\0';) {
        if (p[0] == '{' && p[1] == '}') {
            const char *v = NO_SUCH_ID;
            if (first)
                v = tid;
            else if (strcmp(prev, "endpoints") == 0)
                v = eid;
            else if (strcmp(prev, "events") == 0)
                v = evid;
            else if (strcmp(prev, "deliveries") == 0)
                v = did;
            else if (strcmp(prev, "portal-sessions") == 0)
                v = sid;
            else if (strcmp(prev, "event-types") == 0)
                v = "invoice.paid";
            first = false;
            used += (size_t)snprintf(out + used, sizeof out - used, "%s", v);
            p += 2;
            continue;
        }
        if (*p == '/' && p[1] != '{') {
            size_t n = strcspn(p + 1, "/");
            snprintf(prev, sizeof prev, "%.*s", (int)n, p + 1);
        }
        out[used++] = *p++;
        out[used] = '\0';
    }
    size_t n = strlen(out);
    if (n > 8 && strcmp(out + n - 8, "/changes") == 0)
        return hk_fmt("%s?wait=0", out);
    return strdup(out);
}

static void test_read_scope_every_route(void **state)
{
    (void)state;
    char eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN], sid[HK_ID_LEN];
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/read-scope", NULL, eid);
    hk_eng_event(&srv, key, tid, "invoice.paid", "{\"n\":1}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    char *tok = hk_mk_session(&srv, tid, "{\"scope\":\"read\"}", sid);
    int checked_writes = 0, checked_reads = 0;
    for (size_t i = 0; i < hk_routes_len; i++) {
        const struct hk_route *rt = &hk_routes[i];
        if (rt->access == HK_ACCESS_PUBLIC || rt->access == HK_ACCESS_SIGN_OUT)
            continue;
        char *path = fill(rt->pattern, eid, evid, did, sid);
        bool get = strcmp(rt->method, "GET") == 0;
        struct hk_reply *r = hk_call(&srv, rt->method, tok,
                                     get ? NULL : "{}", "%s", path);
        if (rt->access == HK_ACCESS_ADMIN) {
            hk_expect_error(r, 403, "forbidden", NULL);
        } else if (!get || rt->access == HK_ACCESS_SECRET) {
            hk_expect_error(r, 403, "forbidden", NULL);
            if (strcmp(hk_jstr(r->json, "error.message"), READ_ONLY_MSG) != 0)
                fail_msg("%s %s: message \"%s\"", rt->method, path,
                         hk_jstr(r->json, "error.message"));
            checked_writes++;
        } else {
            if (r->status != 200)
                fail_msg("%s %s answered %ld to a read session: %s",
                         rt->method, path, r->status, r->body);
            checked_reads++;
        }
        hk_reply_free(r);
        free(path);
    }
    assert_true(checked_writes >= 9);
    assert_true(checked_reads >= 10);
    /* nothing was changed by the refused writes */
    struct hk_reply *r = hk_call(&srv, "GET", key, NULL,
                                 "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    assert_true(json_is_true(hk_jget(r->json, "enabled")));
    hk_reply_free(r);
    /* a write session may read the secret */
    char *w = hk_mk_session(&srv, tid, NULL, NULL);
    r = hk_call(&srv, "GET", w, NULL, "/v1/tenants/%s/endpoints/%s/secret",
                tid, eid);
    hk_expect(r, 200);
    hk_reply_free(r);
    free(w);
    free(tok);
}

static void test_expired_sessions_purged(void **state)
{
    (void)state;
    char sid[HK_ID_LEN];
    char *tok = hk_mk_session(&srv, tid, NULL, sid);
    char *sql = hk_fmt("UPDATE hookd.portal_sessions SET expires_at ="
                       " now() - interval '1 second' WHERE id = '%s'",
                       sid);
    free(hk_sql(&srv, sql));
    free(sql);
    sql = hk_fmt("SELECT count(*) FROM hookd.portal_sessions WHERE id = '%s'",
                 sid);
    int64_t until = hk_wall_ms() + 15000;
    while (hk_sql_int(&srv, sql) != 0 && hk_wall_ms() < until)
        hk_sleep_ms(200);
    if (hk_sql_int(&srv, sql) != 0)
        fail_msg("an expired session was not purged within 15 s");
    free(sql);
    free(tok);
}

/* ---- portal settings -------------------------------------------------- */

static void test_portal_config_and_frame_headers(void **state)
{
    (void)state;
    struct hk_reply *r = hk_call(&srv, "GET", NULL, NULL, "/v1/portal/config");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "product_name"), "Acme Webhooks");
    assert_string_equal(hk_jstr(r->json, "accent_color"), "#0a7c5a");
    hk_reply_free(r);
    const char *paths[] = {"/portal/", "/portal/index.html", "/portal/nope",
                           "/portal"};
    for (size_t i = 0; i < 4; i++) {
        r = hk_call(&srv, "GET", NULL, NULL, "%s", paths[i]);
        const char *csp = hk_reply_header(r, "Content-Security-Policy");
        if (csp == NULL || strcmp(csp, "frame-ancestors 'none'") != 0)
            fail_msg("GET %s: Content-Security-Policy \"%s\"", paths[i],
                     csp ? csp : "(none)");
        assert_non_null(hk_reply_header(r, "X-Frame-Options"));
        assert_string_equal(hk_reply_header(r, "X-Frame-Options"), "DENY");
        hk_reply_free(r);
    }
    /* the API itself carries neither */
    r = hk_call(&srv, "GET", NULL, NULL, "/healthz");
    assert_null(hk_reply_header(r, "Content-Security-Policy"));
    hk_reply_free(r);

    /* another process with frame ancestors set, and a bad setting */
    struct hk_srv other = {0};
    static const char *const env[] = {
        "HOOKD_PORTAL_FRAME_ANCESTORS=https://app.example.com 'self'", NULL};
    assert_int_equal(hk_srv_start_peer(&other, &srv, "serve", env), 0);
    r = hk_call(&other, "GET", NULL, NULL, "/portal/");
    hk_expect(r, 200);
    assert_string_equal(hk_reply_header(r, "Content-Security-Policy"),
                        "frame-ancestors https://app.example.com 'self'");
    assert_null(hk_reply_header(r, "X-Frame-Options"));
    hk_reply_free(r);
    r = hk_call(&other, "GET", NULL, NULL, "/v1/portal/config");
    assert_string_equal(hk_jstr(r->json, "product_name"), "Acme Webhooks");
    hk_reply_free(r);
    assert_int_equal(hk_srv_stop(&other), 0);
    hk_srv_drop(&other);

    char *out = NULL;
    static const char *const bad[] = {"HOOKD_PORTAL_ACCENT=blue", NULL};
    int rc = hk_srv_exec(&srv, (const char *const[]){"serve", NULL}, bad,
                         &out);
    assert_int_not_equal(rc, 0);
    if (out == NULL || strstr(out, "HOOKD_PORTAL_ACCENT") == NULL)
        fail_msg("a bad accent did not stop start-up naming it: %s",
                 out ? out : "(no output)");
    free(out);
    out = NULL;
    rc = hk_srv_exec(&srv, (const char *const[]){"--help", NULL}, NULL, &out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "HOOKD_PORTAL_NAME"));
    assert_non_null(strstr(out, "HOOKD_PORTAL_ACCENT"));
    assert_non_null(strstr(out, "HOOKD_PORTAL_FRAME_ANCESTORS"));
    free(out);
}

/* ---- deliveries: filters ---------------------------------------------- */

/* The deliveries of the tenant matching query, as ids. */
static json_t *ids_of(const char *query)
{
    char *path = hk_fmt("/v1/tenants/%s/deliveries?%s", tid, query);
    json_t *rows = hk_list_all(&srv, key, path, 0, NULL);
    free(path);
    json_t *ids = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v)
    {
        json_array_append_new(ids, json_string(hk_jstr(v, "id")));
    }
    json_decref(rows);
    return ids;
}

static void expect_ids(const char *query, const char *const *want, size_t n)
{
    json_t *ids = ids_of(query);
    char *got = json_dumps(ids, JSON_COMPACT);
    bool ok = json_array_size(ids) == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = strcmp(json_string_value(json_array_get(ids, i)), want[i]) == 0;
    if (!ok)
        fail_msg("deliveries?%s gave %s, want %zu rows starting %s", query,
                 got, n, n ? want[0] : "-");
    free(got);
    json_decref(ids);
}

static void test_delivery_filters(void **state)
{
    (void)state;
    char eid[HK_ID_LEN], ea[HK_ID_LEN], eb[HK_ID_LEN], da[HK_ID_LEN],
        db[HK_ID_LEN];
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/filters", NULL, eid);
    char t0[40], t1[40], t2[40];
    snprintf(t0, sizeof t0, "%s", "");
    int64_t m0 = hk_wall_ms() - 1000;
    hk_sleep_ms(1100);
    hk_eng_event(&srv, key, tid, "invoice.paid", "{\"a\":1}", ea);
    hk_sleep_ms(1100);
    int64_t m1 = hk_wall_ms();
    hk_sleep_ms(1100);
    hk_eng_event(&srv, key, tid, "user.signup", "{\"b\":1}", eb);
    hk_sleep_ms(1100);
    int64_t m2 = hk_wall_ms();
    hk_eng_delivery_id(&srv, key, tid, ea, eid, da);
    hk_eng_delivery_id(&srv, key, tid, eb, eid, db);
    /* whole seconds in UTC, with Z and with an offset */
    time_t s0 = (time_t)(m0 / 1000), s1 = (time_t)(m1 / 1000),
           s2 = (time_t)(m2 / 1000 + 1);
    struct tm tm;
    gmtime_r(&s0, &tm);
    strftime(t0, sizeof t0, "%Y-%m-%dT%H:%M:%SZ", &tm);
    gmtime_r(&s1, &tm);
    strftime(t1, sizeof t1, "%Y-%m-%dT%H:%M:%SZ", &tm);
    s2 += 3600;
    gmtime_r(&s2, &tm);
    strftime(t2, sizeof t2, "%Y-%m-%dT%H:%M:%S+01:00", &tm);
    char *enc2 = hk_urlenc(t2);

    const char *both[] = {db, da}, *a[] = {da}, *b[] = {db};
    char *q = hk_fmt("endpoint_id=%s", eid);
    expect_ids(q, both, 2);
    free(q);
    q = hk_fmt("endpoint_id=%s&event_type=invoice.paid", eid);
    expect_ids(q, a, 1);
    free(q);
    q = hk_fmt("event_type=user.signup&endpoint_id=%s", eid);
    expect_ids(q, b, 1);
    free(q);
    q = hk_fmt("endpoint_id=%s&created_after=%s", eid, t1);
    expect_ids(q, b, 1);
    free(q);
    q = hk_fmt("endpoint_id=%s&created_before=%s", eid, t1);
    expect_ids(q, a, 1);
    free(q);
    q = hk_fmt("endpoint_id=%s&created_after=%s&created_before=%s", eid, t0,
               enc2);
    expect_ids(q, both, 2);
    free(q);
    q = hk_fmt("created_after=%s&created_before=%s", t1, t0);
    expect_ids(q, NULL, 0);
    free(q);
    /* search by event id (the webhook-id) or by delivery id */
    q = hk_fmt("search=%s&endpoint_id=%s", ea, eid);
    expect_ids(q, a, 1);
    free(q);
    q = hk_fmt("search=%s", db);
    expect_ids(q, b, 1);
    free(q);
    q = hk_fmt("search=%s&status=pending&event_type=user.signup", db);
    json_t *ids = ids_of(q); /* planned through the queue: no crash */
    json_decref(ids);
    free(q);
    q = hk_fmt("search=%s&event_type=invoice.paid", db);
    expect_ids(q, NULL, 0);
    free(q);
    free(enc2);

    static const char *const bad[][2] = {
        {"search=not-an-id", "search"},
        {"created_after=yesterday", "created_after"},
        {"created_before=2026-13-01T00:00:00Z", "created_before"},
        {"event_type=a..b", "event_type"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hk_reply *r = hk_call(&srv, "GET", key, NULL,
                                     "/v1/tenants/%s/deliveries?%s", tid,
                                     bad[i][0]);
        hk_expect_error(r, 422, "validation_failed", bad[i][1]);
        hk_reply_free(r);
    }
}

/* ---- attempts: the request as sent ------------------------------------ */

static void test_attempt_request_body(void **state)
{
    (void)state;
    char eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/exact-body",
                        "\"event_types\":[\"user.signup\"]", eid);
    /* spacing, key order, escapes and non-ASCII kept as posted */
    hk_eng_event(&srv, key, tid, "user.signup",
                 "{ \"z\" : 1,\"a\":[1.50, \"\\u00e9\\n\"], \"name\":\"Zoë\" }",
                 evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    assert_true(hk_rcv_wait_for_path(rcv, "/exact-body", 1, 10000));
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000));
    const struct hk_rcv_req *got = hk_rcv_get_path(rcv, "/exact-body", 0);
    assert_non_null(got);
    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 1);
    json_t *a = json_array_get(att, 0);
    assert_string_equal(hk_jstr(a, "request.method"), "POST");
    json_t *sent = hk_jget(a, "request.body");
    assert_true(json_is_string(sent));
    if (json_string_length(sent) != got->body_len ||
        memcmp(json_string_value(sent), got->body, got->body_len) != 0)
        fail_msg("request.body\n%s\nis not what the receiver got\n%s",
                 json_string_value(sent), got->body);
    assert_non_null(strstr(got->body, "\"Zoë\" }}"));
    json_decref(att);
}

/* ---- live updates ----------------------------------------------------- */

/* GET changes with cursor (NULL: none) and wait; asserts 200 and the
 * answer's shape. */
static struct hk_reply *changes(const char *token, const char *cursor,
                                int wait)
{
    char *enc = cursor ? hk_urlenc(cursor) : NULL;
    struct hk_reply *r =
        enc ? hk_call(&srv, "GET", token, NULL,
                      "/v1/tenants/%s/changes?cursor=%s&wait=%d", tid, enc,
                      wait)
            : hk_call(&srv, "GET", token, NULL, "/v1/tenants/%s/changes",
                      tid);
    free(enc);
    hk_expect(r, 200);
    assert_true(json_is_array(hk_jget(r->json, "deliveries")));
    assert_true(json_is_array(hk_jget(r->json, "endpoints")));
    assert_true(json_is_boolean(hk_jget(r->json, "has_more")));
    assert_non_null(hk_jstr(r->json, "cursor"));
    return r;
}

static json_t *find_id(json_t *arr, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(hk_jstr(v, "id"), id) == 0)
            return v;
    }
    return NULL;
}

/* Follows the feed from *cursor (updated) until the object id shows in
 * list ("deliveries" or "endpoints") with member key equal to want
 * (a string, or "true"/"false"); fails after timeout_ms. */
static void follow_until(const char *token, char **cursor, const char *list,
                         const char *id, const char *member, const char *want,
                         int timeout_ms)
{
    int64_t until = hk_wall_ms() + timeout_ms;
    for (;;) {
        struct hk_reply *r = changes(token, *cursor, 5);
        free(*cursor);
        *cursor = strdup(hk_jstr(r->json, "cursor"));
        json_t *o = find_id(hk_jget(r->json, list), id);
        json_t *v = o ? json_object_get(o, member) : NULL;
        bool ok = false;
        if (json_is_string(v))
            ok = strcmp(json_string_value(v), want) == 0;
        else if (json_is_boolean(v))
            ok = strcmp(want, json_is_true(v) ? "true" : "false") == 0;
        hk_reply_free(r);
        if (ok)
            return;
        if (hk_wall_ms() > until)
            fail_msg("the feed did not show %s %s with %s = %s in %d ms", list,
                     id, member, want, timeout_ms);
    }
}

static void test_changes_basics(void **state)
{
    (void)state;
    struct hk_reply *r = changes(key, NULL, 0);
    assert_int_equal(json_array_size(hk_jget(r->json, "deliveries")), 0);
    assert_int_equal(json_array_size(hk_jget(r->json, "endpoints")), 0);
    assert_false(json_is_true(hk_jget(r->json, "has_more")));
    char *cursor = strdup(hk_jstr(r->json, "cursor"));
    hk_reply_free(r);
    /* nothing changed: it waits, then answers empty */
    hk_sleep_ms(6000); /* past the overlap of the first answer */
    r = changes(key, cursor, 0);
    free(cursor);
    cursor = strdup(hk_jstr(r->json, "cursor"));
    hk_reply_free(r);
    int64_t t0 = hk_wall_ms();
    r = changes(key, cursor, 2);
    int64_t took = hk_wall_ms() - t0;
    if (took < 1800)
        fail_msg("with nothing new the answer came after %lld ms, not 2 s",
                 (long long)took);
    assert_int_equal(json_array_size(hk_jget(r->json, "deliveries")), 0);
    hk_reply_free(r);

    static const char *const bad[][2] = {
        {"cursor=abc", "cursor"},
        {"cursor=1.2.3", "cursor"},
        {"cursor=5.9.-", "cursor"}, /* since after seen */
        {"cursor=1000.1000.-", "cursor"}, /* far too old */
        {"wait=31", "wait"},
        {"wait=-1", "wait"},
        {"wait=soon", "wait"},
        {"since=1", "since"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/changes?%s", tid,
                    bad[i][0]);
        hk_expect_error(r, 422, "validation_failed", bad[i][1]);
        hk_reply_free(r);
    }
    /* another tenant's feed is not found */
    r = hk_call(&srv, "GET", key, NULL,
                "/v1/tenants/" NO_SUCH_ID "/changes?wait=0");
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    free(cursor);
}

struct poll_arg {
    const char *token;
    char *cursor;
    int wait;
    struct hk_reply *reply;
    int64_t done_ms;
};

static void *poll_thread(void *p)
{
    struct poll_arg *a = p;
    char *enc = hk_urlenc(a->cursor);
    a->reply = hk_call(&srv, "GET", a->token, NULL,
                       "/v1/tenants/%s/changes?cursor=%s&wait=%d", tid, enc,
                       a->wait);
    free(enc);
    a->done_ms = hk_wall_ms();
    return NULL;
}

static char *fresh_cursor(const char *token)
{
    struct hk_reply *r = changes(token, NULL, 0);
    char *c = strdup(hk_jstr(r->json, "cursor"));
    hk_reply_free(r);
    return c;
}

static void test_changes_new_delivery_and_completion(void **state)
{
    (void)state;
    char eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *tok = hk_mk_session(&srv, tid, "{\"scope\":\"read\"}", NULL);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/live",
                        "\"event_types\":[\"invoice.paid\"]", eid);
    /* a parked request answers as soon as the delivery is made */
    static struct poll_arg a;
    static pthread_t th;
    a = (struct poll_arg){tok, fresh_cursor(tok), 25, NULL, 0};
    pthread_create(&th, NULL, poll_thread, &a);
    hk_sleep_ms(1500);
    assert_int_equal(a.done_ms, 0); /* still waiting */
    int64_t sent = hk_wall_ms();
    static const struct hk_rcv_resp slow = {200, NULL, NULL, 1500, false,
                                            "/live"};
    hk_rcv_push(rcv, &slow);
    hk_eng_event(&srv, key, tid, "invoice.paid", "{\"live\":1}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    pthread_join(th, NULL);
    hk_expect(a.reply, 200);
    if (a.done_ms - sent > 10000)
        fail_msg("the parked request answered %lld ms after the event",
                 (long long)(a.done_ms - sent));
    /* the endpoint made just before may come too; the delivery must */
    json_t *d = find_id(hk_jget(a.reply->json, "deliveries"), did);
    if (d == NULL)
        fail_msg("the new delivery is not in %s", a.reply->body);
    char *cursor = strdup(hk_jstr(a.reply->json, "cursor"));
    hk_reply_free(a.reply);
    free(a.cursor);
    /* then its completion */
    follow_until(tok, &cursor, "deliveries", did, "status", "succeeded",
                 15000);
    /* a replay (a change without an attempt first) shows too */
    struct hk_reply *r = hk_call(&srv, "POST", key, NULL,
                                 "/v1/tenants/%s/deliveries/%s/replay", tid,
                                 did);
    hk_expect(r, 202);
    hk_reply_free(r);
    json_t *seen = NULL;
    int64_t until = hk_wall_ms() + 10000;
    while (seen == NULL && hk_wall_ms() < until) {
        r = changes(tok, cursor, 5);
        free(cursor);
        cursor = strdup(hk_jstr(r->json, "cursor"));
        json_t *o = find_id(hk_jget(r->json, "deliveries"), did);
        if (o != NULL)
            seen = json_incref(o);
        hk_reply_free(r);
    }
    if (seen == NULL)
        fail_msg("a replayed delivery did not show in the feed");
    json_decref(seen);
    free(cursor);
    free(tok);
}

static void test_changes_endpoint_disabled_by_410(void **state)
{
    (void)state;
    char eid[HK_ID_LEN], evid[HK_ID_LEN];
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/gone",
                        "\"event_types\":[\"user.signup\"]", eid);
    struct hk_reply *r = hk_call(&srv, "GET", key, NULL,
                                 "/v1/tenants/%s/endpoints/%s", tid, eid);
    char *before = strdup(hk_jstr(r->json, "updated_at"));
    hk_reply_free(r);
    char *cursor = fresh_cursor(key);
    hk_sleep_ms(20);
    static const struct hk_rcv_resp gone = {410, NULL, "gone", 0, false,
                                            "/gone"};
    hk_rcv_push(rcv, &gone);
    hk_eng_event(&srv, key, tid, "user.signup", "{\"x\":1}", evid);
    follow_until(key, &cursor, "endpoints", eid, "enabled", "false", 15000);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/endpoints/%s", tid,
                eid);
    assert_false(json_is_true(hk_jget(r->json, "enabled")));
    if (strcmp(hk_jstr(r->json, "updated_at"), before) <= 0)
        fail_msg("updated_at did not move when the engine disabled the "
                 "endpoint: %s then %s",
                 before, hk_jstr(r->json, "updated_at"));
    hk_reply_free(r);
    free(before);
    free(cursor);
}

static void test_changes_parked_do_not_block(void **state)
{
    (void)state;
    /* the server has 2 API threads: park three times as many polls */
    enum { N = 6 };
    /* static: a failed assertion leaves this frame while they run */
    static struct poll_arg a[N];
    static pthread_t th[N];
    char *cursor = fresh_cursor(key);
    hk_sleep_ms(6000); /* nothing left in the overlap */
    struct hk_reply *r = changes(key, cursor, 0);
    free(cursor);
    cursor = strdup(hk_jstr(r->json, "cursor"));
    hk_reply_free(r);
    for (int i = 0; i < N; i++) {
        a[i] = (struct poll_arg){key, cursor, 12, NULL, 0};
        pthread_create(&th[i], NULL, poll_thread, &a[i]);
    }
    hk_sleep_ms(1500);
    for (int i = 0; i < N; i++)
        assert_int_equal(a[i].done_ms, 0);
    /* other requests are answered while every poll is still parked */
    hk_expect_alive(&srv);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/endpoints", tid);
    hk_expect(r, 200);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", key, NULL, "/v1/me");
    hk_expect(r, 200);
    hk_reply_free(r);
    for (int i = 0; i < N; i++)
        if (a[i].done_ms != 0)
            fail_msg("a parked poll answered before its time");
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        hk_expect(a[i].reply, 200);
        assert_int_equal(
            json_array_size(hk_jget(a[i].reply->json, "deliveries")), 0);
        hk_reply_free(a[i].reply);
    }
    free(cursor);
}

/* ---- stats ------------------------------------------------------------ */

static json_t *stats_endpoint(json_t *st, const char *eid)
{
    size_t i;
    json_t *v;
    json_array_foreach(hk_jget(st, "endpoints"), i, v)
    {
        if (strcmp(hk_jstr(v, "endpoint_id"), eid) == 0)
            return v;
    }
    fail_msg("stats lack endpoint %s", eid);
    return NULL;
}

static void test_stats_extended(void **state)
{
    (void)state;
    char t[HK_ID_LEN], ok[HK_ID_LEN], bad[HK_ID_LEN], evid[HK_ID_LEN],
        d1[HK_ID_LEN], d2[HK_ID_LEN], d3[HK_ID_LEN];
    char *k = hk_eng_tenant(&srv, "stats", t);
    hk_eng_rcv_endpoint(&srv, k, t, rcv, "/stats-ok",
                        "\"event_types\":[\"invoice.paid\"]", ok);
    hk_eng_rcv_endpoint(&srv, k, t, rcv, "/stats-bad",
                        "\"event_types\":[\"user.signup\"]", bad);
    static const struct hk_rcv_resp slow_ok = {200, NULL, NULL, 120, false,
                                               "/stats-ok"};
    static const struct hk_rcv_resp boom = {500, NULL, "no", 0, false,
                                            "/stats-bad"};
    for (int i = 0; i < 2; i++)
        hk_rcv_push(rcv, &slow_ok);
    for (int i = 0; i < 4; i++)
        hk_rcv_push(rcv, &boom);
    hk_eng_event(&srv, k, t, "invoice.paid", "{}", evid);
    hk_eng_delivery_id(&srv, k, t, evid, ok, d1);
    hk_eng_event(&srv, k, t, "invoice.paid", "{}", evid);
    hk_eng_delivery_id(&srv, k, t, evid, ok, d2);
    hk_eng_event(&srv, k, t, "user.signup", "{}", evid);
    hk_eng_delivery_id(&srv, k, t, evid, bad, d3);
    json_decref(hk_eng_wait_status(&srv, k, t, d1, "succeeded", 10000));
    json_decref(hk_eng_wait_status(&srv, k, t, d2, "succeeded", 10000));
    json_decref(hk_eng_wait_status(&srv, k, t, d3, "failed", 20000));

    char since[40];
    time_t s0 = time(NULL) - 3 * 3600;
    struct tm tm;
    gmtime_r(&s0, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct hk_reply *r = hk_call(&srv, "GET", k, NULL,
                                 "/v1/tenants/%s/stats?since=%s", t, since);
    hk_expect(r, 200);
    json_t *st = r->json;
    assert_int_equal(hk_jint(st, "totals.succeeded", -1), 2);
    assert_int_equal(hk_jint(st, "totals.failed", -1), 1);
    assert_int_equal(hk_jint(st, "pending", -1), 0);
    long long p50 = hk_jint(st, "latency_p50_ms", -1);
    long long p95 = hk_jint(st, "latency_p95_ms", -1);
    if (p50 < 0 || p95 < p50)
        fail_msg("latency p50 %lld, p95 %lld", p50, p95);
    /* the slow answers (120 ms) are among the six attempts */
    if (p95 < 100)
        fail_msg("latency p95 %lld ms, below the receiver's 120 ms", p95);
    json_t *buckets = hk_jget(st, "buckets");
    assert_true(json_array_size(buckets) >= 4);
    json_t *last = json_array_get(buckets, json_array_size(buckets) - 1);
    json_t *first = json_array_get(buckets, 0);
    assert_true(json_is_integer(json_object_get(last, "latency_p50_ms")));
    assert_true(json_is_integer(json_object_get(last, "latency_p95_ms")));
    assert_true(json_is_null(json_object_get(first, "latency_p50_ms")));
    assert_true(json_is_null(json_object_get(first, "latency_p95_ms")));
    json_t *eo = stats_endpoint(st, ok), *eb = stats_endpoint(st, bad);
    assert_true(json_number_value(json_object_get(eo, "success_rate")) == 1.0);
    assert_true(json_is_null(json_object_get(eo, "last_failure_at")));
    assert_true(json_is_null(json_object_get(eo, "last_failure_error")));
    assert_true(json_number_value(json_object_get(eb, "success_rate")) == 0.0);
    assert_true(json_is_number(json_object_get(eb, "success_rate")));
    assert_true(hk_is_rfc3339_ms(hk_jstr(eb, "last_failure_at")));
    assert_string_equal(hk_jstr(eb, "last_failure_error"), "HTTP 500");
    hk_reply_free(r);

    /* until: a range before anything was made is empty */
    char until[40];
    time_t s1 = s0 + 3600;
    gmtime_r(&s1, &tm);
    strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
    r = hk_call(&srv, "GET", k, NULL, "/v1/tenants/%s/stats?since=%s&until=%s",
                t, since, until);
    hk_expect(r, 200);
    assert_int_equal(hk_jint(r->json, "totals.succeeded", -1), 0);
    assert_int_equal(json_array_size(hk_jget(r->json, "endpoints")), 0);
    assert_true(json_is_null(hk_jget(r->json, "latency_p50_ms")));
    assert_true(json_array_size(hk_jget(r->json, "buckets")) >= 1);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", k, NULL, "/v1/tenants/%s/stats?since=%s&until=%s",
                t, until, since);
    hk_expect_error(r, 422, "validation_failed", "until");
    hk_reply_free(r);
    r = hk_call(&srv, "GET", k, NULL, "/v1/tenants/%s/stats?until=later", t);
    hk_expect_error(r, 422, "validation_failed", "until");
    hk_reply_free(r);
    free(k);
}

/* The tenant's stats since `hours` ago, as token k; of endpoint eid alone
 * when it is not NULL, as the portal's endpoint page asks. */
static json_t *stats_since(const char *k, const char *t, int hours,
                           const char *eid)
{
    char since[40];
    time_t s0 = time(NULL) - hours * 3600;
    struct tm tm;
    gmtime_r(&s0, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (eid == NULL)
        return hk_get_json(&srv, k, "/v1/tenants/%s/stats?since=%s", t,
                           since);
    return hk_get_json(&srv, k, "/v1/tenants/%s/stats?since=%s&endpoint_id=%s",
                       t, since, eid);
}

/* An endpoint's last failure is its last failed attempt that started in
 * the range, whatever the age of its delivery: a delivery created more
 * than 24 hours ago (an in-order endpoint's oldest, say) that fails now
 * is named as the last failure in the day's stats, and listed for it,
 * though it is not among the deliveries the day's counts are of. Once its
 * attempts too are older than the range, the day holds nothing of the
 * endpoint; two days still hold both. */
static void test_stats_last_failure_of_older_delivery(void **state)
{
    (void)state;
    char t[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *k = hk_eng_tenant(&srv, "stats old", t);
    static const struct hk_rcv_resp down = {503, NULL, "down", 0, false,
                                            "/stats-old"};
    hk_rcv_set_default(rcv, &down);
    hk_eng_rcv_endpoint(&srv, k, t, rcv, "/stats-old",
                        "\"event_types\":[\"invoice.paid\"],"
                        "\"ordering\":\"fifo\"",
                        eid);
    hk_eng_event(&srv, k, t, "invoice.paid", "{}", evid);
    hk_eng_delivery_id(&srv, k, t, evid, eid, did);
    free(hk_sql(&srv,
                "UPDATE hookd.deliveries"
                " SET created_at = created_at - interval '25 hours'"
                " WHERE tenant_id = $1 AND id = $2",
                t, did));
    json_t *att = hk_eng_wait_attempts(&srv, k, t, did, 1, 15000);
    int64_t first_ms =
        hk_eng_time_ms(hk_jstr(json_array_get(att, 0), "started_at"));
    json_decref(att);

    for (int filtered = 0; filtered < 2; filtered++) {
        json_t *st = stats_since(k, t, 24, filtered ? eid : NULL);
        assert_int_equal(json_array_size(hk_jget(st, "endpoints")), 1);
        json_t *e = stats_endpoint(st, eid);
        assert_string_equal(hk_jstr(e, "last_failure_error"), "HTTP 503");
        int64_t at = hk_eng_time_ms(hk_jstr(e, "last_failure_at"));
        if (at < first_ms)
            fail_msg("last failure at %s, before the first attempt",
                     hk_jstr(e, "last_failure_at"));
        /* the counts are of deliveries created in the range */
        assert_int_equal(hk_jint(e, "succeeded", -1), 0);
        assert_int_equal(hk_jint(e, "failed", -1), 0);
        assert_int_equal(hk_jint(e, "pending", -1), 0);
        assert_true(json_is_null(json_object_get(e, "success_rate")));
        assert_int_equal(hk_jint(st, "totals.pending", -1), 0);
        assert_int_equal(hk_jint(st, "totals.failed", -1), 0);
        json_decref(st);
    }

    json_decref(hk_eng_wait_status(&srv, k, t, did, "failed", 20000));
    free(hk_sql(&srv,
                "UPDATE hookd.attempts"
                " SET started_at = started_at - interval '25 hours'"
                " WHERE tenant_id = $1 AND delivery_id = $2",
                t, did));
    json_t *st = stats_since(k, t, 24, NULL);
    assert_int_equal(json_array_size(hk_jget(st, "endpoints")), 0);
    json_decref(st);
    st = stats_since(k, t, 48, NULL);
    json_t *e = stats_endpoint(st, eid);
    assert_string_equal(hk_jstr(e, "last_failure_error"), "HTTP 503");
    assert_int_equal(hk_jint(e, "failed", -1), 1);
    json_decref(st);
    free(k);
}

/* ---- error messages --------------------------------------------------- */

static void expect_message(const char *body, const char *field,
                           const char *message)
{
    struct hk_reply *r = hk_call(&srv, "POST", key, body,
                                 "/v1/tenants/%s/endpoints", tid);
    hk_expect_error(r, 422, "validation_failed", field);
    const char *got = hk_jstr(r->json, "error.field");
    if (strcmp(got, field) != 0)
        fail_msg("%s: field %s, want %s", body, got, field);
    if (strcmp(hk_jstr(r->json, "error.message"), message) != 0)
        fail_msg("%s: message \"%s\", want \"%s\"", body,
                 hk_jstr(r->json, "error.message"), message);
    hk_reply_free(r);
}

static void test_error_messages_in_plain_words(void **state)
{
    (void)state;
    const char *absolute =
        "Enter an absolute URL starting with http:// or https://";
    expect_message("{\"url\":\"not a url\"}", "url", absolute);
    expect_message("{\"url\":\"example.com/hook\"}", "url", absolute);
    expect_message("{\"url\":\"\"}", "url", absolute);
    expect_message("{\"url\":\"https://a.example.com/x y\"}", "url",
                   "Remove the spaces and control characters from the URL");
    expect_message("{\"url\":\"https://example.com\","
                   "\"event_types\":[\"invoice.*x\"]}",
                   "event_types", "No event type matches \"invoice.*x\"");
    expect_message("{\"url\":\"https://example.com\","
                   "\"event_types\":[\"user.signup\",\"nope.never\"]}",
                   "event_types", "No event type matches \"nope.never\"");
    /* no message repeats its field's name as a code word */
    struct hk_reply *r = hk_call(&srv, "POST", key,
                                 "{\"url\":\"https://example.com\","
                                 "\"max_concurrency\":0}",
                                 "/v1/tenants/%s/endpoints", tid);
    hk_expect_error(r, 422, "validation_failed", "max_concurrency");
    assert_null(strstr(hk_jstr(r->json, "error.message"), "max_concurrency"));
    hk_reply_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_create_scope),
        cmocka_unit_test(test_me_shapes),
        cmocka_unit_test(test_session_list_and_revoke),
        cmocka_unit_test(test_sign_out),
        cmocka_unit_test(test_read_scope_every_route),
        cmocka_unit_test(test_expired_sessions_purged),
        cmocka_unit_test(test_portal_config_and_frame_headers),
        cmocka_unit_test(test_delivery_filters),
        cmocka_unit_test(test_attempt_request_body),
        cmocka_unit_test(test_changes_basics),
        cmocka_unit_test(test_changes_new_delivery_and_completion),
        cmocka_unit_test(test_changes_endpoint_disabled_by_410),
        cmocka_unit_test(test_changes_parked_do_not_block),
        cmocka_unit_test(test_stats_extended),
        cmocka_unit_test(test_stats_last_failure_of_older_delivery),
        cmocka_unit_test(test_error_messages_in_plain_words),
    };
    int rc = cmocka_run_group_tests_name("portal", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
