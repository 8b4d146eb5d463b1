/*
 * test_api_badinput.c - end-to-end tests of hookd against hostile and broken
 * input, as docs/api.md and docs/design.md require: every such request gets a
 * clear 4xx in the error shape (never a 5xx), changes nothing, and the server
 * still answers afterwards. Broken JSON, wrong content types, oversized bodies
 * (HOOKD_MAX_BODY is 32 KiB here, so that a 10,000-deep array still reaches the
 * parser), malformed ids, unknown fields and query parameters, SQL
 * metacharacters, invalid UTF-8, empty bodies, wrong methods, and garbage at
 * the HTTP level. One hookd (serve) for the file.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BODY 32768
#define NO_SUCH_ID "01890a5d-ac96-774b-bcce-b302099a8057"

static struct hk_srv srv;
static char tid[HK_ID_LEN];
static char eid[HK_ID_LEN];
static char *key;

static int group_setup(void **state)
{
    (void)state;
    const char *env[] = {"HOOKD_MAX_BODY=32768", NULL};
    static const char *const types[] = {"bad.input", NULL};
    if (hk_group_start(&srv, env, NULL, types) != 0)
        return -1;
    hk_mk_tenant(&srv, "badinput", tid);
    key = hk_mk_api_key(&srv, tid, NULL);
    hk_mk_endpoint(&srv, key, tid,
                   "{\"url\":\"https://example.com/bad\","
                   "\"event_types\":[\"hookd.ping\"]}",
                   eid);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(key);
    key = NULL;
    return hk_group_finish(&srv, NULL);
}

static long long count_tenants(void)
{
    return hk_sql_int(&srv, "SELECT count(*) FROM hookd.tenants");
}

/* Sends body (len bytes) with a JSON content type and the admin key. */
static struct hk_reply *send_json(const char *method, const char *path,
                                  const char *body, size_t len)
{
    return hk_http(&srv, method, path, srv.admin_key, "application/json", body,
                   len, NULL);
}

static void expect_400_or_422(const struct hk_reply *r)
{
    hk_expect_client_error(r);
    if (r->status != 400 && r->status != 422)
        fail_msg("expected 400 or 422, got %ld: %s", r->status, r->body);
}

/* ---- broken JSON ------------------------------------------------------ */

static void test_broken_json(void **state)
{
    (void)state;
    long long before = count_tenants();
    const char *broken[] = {
        "{\"name\":",
        "{\"name\":\"x\",}",
        "{'name':'x'}",
        "{name:\"x\"}",
        "{\"name\":\"x\"} trailing",
        "{\"name\":\"x\"}{\"name\":\"y\"}",
        "{\"name\":\"unterminated}",
        "{\"name\":\"bad \\q escape\"}",
        "{\"name\":NaN}",
        "{\"name\":\"x\",,\"metadata\":{}}",
        "{\"name\":\"x\"",
        "nul",
        "]",
        "{\"name\":\"x\",\"metadata\":{\"a\":01}}",
        "{\"name\":\"x\",\"metadata\":{\"a\":.5}}",
        "{\"name\":\"x\" \"metadata\":{}}",
        "\xef\xbb\xbf{\"name\":\"bom\"}x",
    };
    char *tpath = hk_fmt("/v1/tenants/%s", tid);
    char *epath = hk_fmt("/v1/tenants/%s/endpoints", tid);
    char *evpath = hk_fmt("/v1/tenants/%s/events", tid);
    const char *paths[][2] = {{"POST", "/v1/tenants"},
                              {"PATCH", tpath},
                              {"POST", epath},
                              {"POST", evpath},
                              {"POST", "/v1/event-types"}};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
            struct hk_reply *r = send_json(paths[p][0], paths[p][1], broken[i],
                                           strlen(broken[i]));
            if (r->status != 400)
                print_error("%s %s with body %s\n", paths[p][0], paths[p][1],
                            broken[i]);
            hk_expect_error(r, 400, "invalid_json", NULL);
            hk_reply_free(r);
        }
    }
    /* valid JSON that is not an object */
    const char *not_object[] = {
        "[]", "[{\"name\":\"x\"}]", "\"name\"", "42", "null", "true"};
    for (size_t i = 0; i < sizeof not_object / sizeof not_object[0]; i++) {
        struct hk_reply *r = send_json("POST", "/v1/tenants", not_object[i],
                                       strlen(not_object[i]));
        expect_400_or_422(r);
        hk_reply_free(r);
    }
    assert_int_equal(count_tenants(), before);
    struct hk_reply *r = hk_admin(&srv, "GET", NULL, "%s", tpath);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "name"), "badinput");
    hk_reply_free(r);
    free(tpath);
    free(epath);
    free(evpath);
    hk_expect_alive(&srv);
}

/* ---- content types ---------------------------------------------------- */

static void test_content_type(void **state)
{
    (void)state;
    long long before = count_tenants();
    const char *body = "{\"name\":\"ct\"}";
    const char *bad[] = {"text/plain",
                         "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x",
                         "application/xml",
                         "application/jsonx",
                         "application/json-patch+json",
                         "json",
                         "",
                         NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hk_reply *r = hk_http(&srv, "POST", "/v1/tenants", srv.admin_key,
                                     bad[i], body, strlen(body), NULL);
        if (r->status != 415)
            print_error("Content-Type \"%s\"\n", bad[i] ? bad[i] : "(none)");
        hk_expect_error(r, 415, "unsupported_media_type", NULL);
        hk_reply_free(r);
    }
    assert_int_equal(count_tenants(), before);
    /* on the other routes with a body too */
    char *paths[][2] = {
        {"PATCH", hk_fmt("/v1/tenants/%s", tid)},
        {"POST", hk_fmt("/v1/tenants/%s/endpoints", tid)},
        {"PATCH", hk_fmt("/v1/tenants/%s/endpoints/%s", tid, eid)},
        {"POST", hk_fmt("/v1/tenants/%s/events", tid)},
        {"POST", hk_fmt("/v1/tenants/%s/api-keys", tid)},
        {"POST", hk_fmt("/v1/event-types")},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct hk_reply *r =
            hk_http(&srv, paths[i][0], paths[i][1], srv.admin_key, "text/plain",
                    "{}", 2, NULL);
        if (r->status != 415)
            print_error("%s %s\n", paths[i][0], paths[i][1]);
        hk_expect_error(r, 415, "unsupported_media_type", NULL);
        hk_reply_free(r);
        free(paths[i][1]);
    }
    /* parameters on the media type are fine */
    const char *good[] = {"application/json; charset=utf-8",
                          "application/json;charset=UTF-8"};
    for (size_t i = 0; i < 2; i++) {
        struct hk_reply *r = hk_http(&srv, "POST", "/v1/tenants", srv.admin_key,
                                     good[i], body, strlen(body), NULL);
        hk_expect(r, 201);
        hk_reply_free(r);
    }
    hk_expect_alive(&srv);
}

/* ---- size limits ------------------------------------------------------ */

/* A JSON tenant body of exactly len bytes. */
static char *tenant_body_of(size_t len)
{
    const char *head = "{\"name\":\"big\",\"metadata\":{\"pad\":\"";
    const char *tail = "\"}}";
    size_t hl = strlen(head), tl = strlen(tail);
    assert_true(len > hl + tl);
    char *b = malloc(len + 1);
    memcpy(b, head, hl);
    memset(b + hl, 'a', len - hl - tl);
    memcpy(b + len - tl, tail, tl);
    b[len] = '\0';
    return b;
}

static void test_oversized_body(void **state)
{
    (void)state;
    long long before = count_tenants();
    /* 1 MiB announced by Content-Length: 413 without reading it all */
    size_t big = 1 << 20;
    char *body = tenant_body_of(big);
    char *head = hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                        "Authorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: %zu\r\n\r\n",
                        srv.port, srv.admin_key, big);
    size_t hl = strlen(head);
    char *req = malloc(hl + big);
    memcpy(req, head, hl);
    memcpy(req + hl, body, big);
    struct hk_reply *r = hk_raw(&srv, req, hl + big, 20000);
    hk_expect_error(r, 413, "payload_too_large", NULL);
    hk_reply_free(r);
    free(req);
    free(head);
    hk_expect_alive(&srv);

    /* 1 MiB in chunks, with no Content-Length and no last chunk: the 413
     * must come once the cap is passed, not after a body that never
     * ends */
    head = hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  "Authorization: Bearer %s\r\n"
                  "Content-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  srv.port, srv.admin_key);
    hl = strlen(head);
    size_t cap = hl + big + big / 1024 * 16 + 64, off = 0;
    req = malloc(cap);
    memcpy(req, head, hl);
    off = hl;
    for (size_t done = 0; done < big; done += 4096) {
        off += (size_t)snprintf(req + off, cap - off, "1000\r\n");
        memcpy(req + off, body + done, 4096);
        off += 4096;
        memcpy(req + off, "\r\n", 2);
        off += 2;
    }
    r = hk_raw(&srv, req, off, 20000);
    hk_expect_error(r, 413, "payload_too_large", NULL);
    const char *conn = hk_reply_header(r, "Connection");
    assert_non_null(conn);
    assert_int_equal(strcasecmp(conn, "close"), 0);
    hk_reply_free(r);
    free(req);
    free(head);
    hk_expect_alive(&srv);

    /* the same through libcurl, with and without Expect: 100-continue */
    const char *expect[] = {"Expect: 100-continue", NULL};
    r = hk_http(&srv, "POST", "/v1/tenants", srv.admin_key, "application/json",
                body, big, expect);
    hk_expect_error(r, 413, "payload_too_large", NULL);
    hk_reply_free(r);
    free(body);
    body = tenant_body_of(MAX_BODY * 2);
    r = send_json("POST", "/v1/tenants", body, MAX_BODY * 2);
    hk_expect_error(r, 413, "payload_too_large", NULL);
    hk_reply_free(r);
    free(body);
    /* on a tenant route too */
    body = tenant_body_of(MAX_BODY + 100);
    char *path = hk_fmt("/v1/tenants/%s/events", tid);
    r = hk_http(&srv, "POST", path, key, "application/json", body,
                MAX_BODY + 100, NULL);
    hk_expect_error(r, 413, "payload_too_large", NULL);
    hk_reply_free(r);
    free(path);
    free(body);
    assert_int_equal(count_tenants(), before);

    /* the cap is "at most": MAX_BODY bytes pass, one more does not */
    body = tenant_body_of(MAX_BODY + 1);
    r = send_json("POST", "/v1/tenants", body, MAX_BODY + 1);
    hk_expect_error(r, 413, "payload_too_large", NULL);
    hk_reply_free(r);
    free(body);
    assert_int_equal(count_tenants(), before);
    body = tenant_body_of(MAX_BODY);
    r = send_json("POST", "/v1/tenants", body, MAX_BODY);
    hk_expect(r, 201);
    hk_reply_free(r);
    free(body);
    hk_expect_alive(&srv);
}

/* ---- malformed ids ---------------------------------------------------- */

static void test_malformed_ids_in_path(void **state)
{
    (void)state;
    char longid[301];
    memset(longid, '7', 300);
    longid[300] = '\0';
    const char *ids[] = {"not-a-uuid",
                         "123",
                         "01890a5d-ac96-774b-bcce-b302099a805g",
                         "01890a5d-ac96-774b-bcce-b302099a80577",
                         "01890a5dac96774bbccdb302099a8057x",
                         "%00",
                         "%2e%2e",
                         "null",
                         "%27%20OR%20%271%27%3D%271",
                         "%3Bselect%201",
                         longid,
                         NO_SUCH_ID};
    int wrong = 0;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *paths[][2] = {
            {"GET", hk_fmt("/v1/tenants/%s", ids[i])},
            {"PATCH", hk_fmt("/v1/tenants/%s", ids[i])},
            {"DELETE", hk_fmt("/v1/tenants/%s", ids[i])},
            {"GET", hk_fmt("/v1/tenants/%s/endpoints", ids[i])},
            {"GET", hk_fmt("/v1/tenants/%s/endpoints/%s", tid, ids[i])},
            {"DELETE", hk_fmt("/v1/tenants/%s/endpoints/%s", tid, ids[i])},
            {"GET", hk_fmt("/v1/tenants/%s/endpoints/%s/secret", tid, ids[i])},
            {"GET", hk_fmt("/v1/tenants/%s/events/%s", tid, ids[i])},
            {"GET", hk_fmt("/v1/tenants/%s/deliveries/%s", tid, ids[i])},
            {"GET",
             hk_fmt("/v1/tenants/%s/deliveries/%s/attempts", tid, ids[i])},
            {"POST",
             hk_fmt("/v1/tenants/%s/deliveries/%s/replay", tid, ids[i])},
            {"DELETE", hk_fmt("/v1/tenants/%s/api-keys/%s", tid, ids[i])},
        };
        for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
            const char *body =
                strcmp(paths[p][0], "PATCH") == 0 ? "{\"name\":\"x\"}" : NULL;
            struct hk_reply *r = hk_call(&srv, paths[p][0], srv.admin_key, body,
                                         "%s", paths[p][1]);
            const char *code = hk_jstr(r->json, "error.code");
            if (r->status != 404 || code == NULL ||
                strcmp(code, "not_found") != 0) {
                print_error("%s %.120s: %ld %.200s\n", paths[p][0], paths[p][1],
                            r->status, r->body);
                wrong++;
            }
            hk_reply_free(r);
            free(paths[p][1]);
        }
    }
    if (wrong > 0)
        fail_msg("%d requests with a malformed id in the path were not 404",
                 wrong);
    hk_expect_alive(&srv);
}

static void test_malformed_ids_in_query_and_body(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"deliveries?endpoint_id=nope", "endpoint_id"},
        {"deliveries?event_id=nope", "event_id"},
        {"deliveries?event_id=%27%20OR%201%3D1--", "event_id"},
        {"deliveries?endpoint_id=" NO_SUCH_ID "x", "endpoint_id"},
        {"deliveries?status=bogus", "status"},
        {"deliveries?status=", "status"},
        {"stats?endpoint_id=nope", "endpoint_id"},
        {"stats?since=yesterday", "since"},
        {"stats?since=2026-13-45T99:00:00Z", "since"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hk_reply *r = hk_call(&srv, "GET", key, NULL,
                                     "/v1/tenants/%s/%s", tid, cases[i][0]);
        if (r->status != 422)
            print_error("GET .../%s\n", cases[i][0]);
        hk_expect_error(r, 422, "validation_failed", cases[i][1]);
        hk_reply_free(r);
    }
    /* a time that is not one, in a body */
    const char *since[] = {"{\"since\":\"not a time\"}", "{\"since\":5}",
                           "{\"since\":\"2026-02-30T00:00:00Z\"}", "{}"};
    for (size_t i = 0; i < sizeof since / sizeof since[0]; i++) {
        struct hk_reply *r =
            hk_call(&srv, "POST", key, since[i],
                    "/v1/tenants/%s/endpoints/%s/recover", tid, eid);
        hk_expect_error(r, 422, "validation_failed", "since");
        hk_reply_free(r);
    }
    hk_expect_alive(&srv);
}

/* ---- unknown fields and parameters ------------------------------------ */

static void test_unknown_fields(void **state)
{
    (void)state;
    char *t = hk_fmt("/v1/tenants/%s", tid);
    char *e = hk_fmt("/v1/tenants/%s/endpoints/%s", tid, eid);
    char *k = hk_fmt("/v1/tenants/%s/api-keys", tid);
    char *el = hk_fmt("/v1/tenants/%s/endpoints", tid);
    char *ev = hk_fmt("/v1/tenants/%s/events", tid);
    char *ps = hk_fmt("/v1/tenants/%s/portal-sessions", tid);
    char *rot = hk_fmt("%s/secret/rotate", e);
    char *tst = hk_fmt("%s/test", e);
    struct {
        const char *method, *path, *body, *field;
    } cases[] = {
        {"POST", "/v1/tenants", "{\"name\":\"x\",\"bogus\":1}", "bogus"},
        {"POST", "/v1/tenants", "{\"Name\":\"x\"}", "Name"},
        {"PATCH", t, "{\"nmae\":\"y\"}", "nmae"},
        {"POST", k, "{\"name\":\"k\",\"expires\":\"never\"}", "expires"},
        {"POST", "/v1/event-types", "{\"name\":\"u.f\",\"descr\":\"x\"}",
         "descr"},
        {"PATCH", "/v1/event-types/bad.input", "{\"desc\":\"x\"}", "desc"},
        {"POST", el, "{\"url\":\"https://e.example/\",\"urls\":[]}", "urls"},
        {"PATCH", e, "{\"enable\":true}", "enable"},
        {"POST", ev,
         "{\"event_type\":\"bad.input\",\"payload\":{},"
         "\"type\":\"x\"}",
         "type"},
        {"POST", ps, "{\"ttl\":60}", "ttl"},
        {"POST", rot, "{\"secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}",
         "secret"},
        {"POST", tst, "{\"type\":\"hookd.ping\"}", "type"},
    };
    long long before = count_tenants();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hk_reply *r =
            hk_admin(&srv, cases[i].method, cases[i].body, "%s", cases[i].path);
        if (r->status != 422)
            print_error("%s %s %s\n", cases[i].method, cases[i].path,
                        cases[i].body);
        hk_expect_error(r, 422, "validation_failed", cases[i].field);
        hk_reply_free(r);
    }
    assert_int_equal(count_tenants(), before);
    /* metadata is free-form: any member goes there */
    struct hk_reply *r = hk_admin(
        &srv, "POST",
        "{\"name\":\"meta\",\"metadata\":{\"anything\":{\"at\":[\"all\"]}}}",
        "/v1/tenants");
    hk_expect(r, 201);
    hk_reply_free(r);
    free(t);
    free(e);
    free(k);
    free(el);
    free(ev);
    free(ps);
    free(rot);
    free(tst);
    hk_expect_alive(&srv);
}

static void test_unknown_query_params(void **state)
{
    (void)state;
    struct {
        const char *path_fmt, *field;
    } cases[] = {
        {"/v1/tenants?foo=bar", "foo"},
        {"/v1/tenants?limit=2&bogus=1", "bogus"},
        {"/v1/tenants/%s?expand=keys", "expand"},
        {"/v1/tenants/%s/endpoints?limit=2&enabled=true", "enabled"},
        {"/v1/tenants/%s/endpoints/%s?x=1", "x"},
        {"/v1/tenants/%s/events?type=bad.input", "type"},
        {"/v1/tenants/%s/deliveries?state=failed", "state"},
        {"/v1/tenants/%s/api-keys?name=x", "name"},
        {"/v1/event-types?archived=true", "archived"},
        {"/v1/me?debug=1", "debug"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        /* the formats take the tenant and endpoint ids in that order */
        const char *f = cases[i].path_fmt;
        const char *p1 = strstr(f, "%s");
        const char *p2 = p1 ? strstr(p1 + 2, "%s") : NULL;
        if (p2)
            snprintf(path, sizeof path, "%.*s%s%.*s%s%s", (int)(p1 - f), f, tid,
                     (int)(p2 - p1 - 2), p1 + 2, eid, p2 + 2);
        else if (p1)
            snprintf(path, sizeof path, "%.*s%s%s", (int)(p1 - f), f, tid,
                     p1 + 2);
        else
            snprintf(path, sizeof path, "%s", f);
        struct hk_reply *r = hk_admin(&srv, "GET", NULL, "%s", path);
        if (r->status != 422)
            print_error("GET %s\n", path);
        hk_expect_error(r, 422, "validation_failed", cases[i].field);
        hk_reply_free(r);
    }
    /* on writes: refused, nothing made or changed */
    long long before = count_tenants();
    struct {
        const char *method;
        char *path;
        const char *body;
    } writes[] = {
        {"POST", hk_fmt("/v1/tenants?dry_run=1"), "{\"name\":\"dry\"}"},
        {"PATCH", hk_fmt("/v1/tenants/%s?dry_run=1", tid),
         "{\"name\":\"renamed\"}"},
        {"DELETE", hk_fmt("/v1/tenants/%s?dry_run=1", tid), NULL},
        {"POST", hk_fmt("/v1/tenants/%s/api-keys?dry_run=1", tid),
         "{\"name\":\"dry\"}"},
        {"POST", hk_fmt("/v1/event-types?dry_run=1"), "{\"name\":\"dry.run\"}"},
        {"POST", hk_fmt("/v1/tenants/%s/endpoints?dry_run=1", tid),
         "{\"url\":\"https://example.com/dry\"}"},
        {"PATCH", hk_fmt("/v1/tenants/%s/endpoints/%s?dry_run=1", tid, eid),
         "{\"description\":\"dry\"}"},
        {"POST", hk_fmt("/v1/tenants/%s/events?dry_run=1", tid),
         "{\"event_type\":\"bad.input\",\"payload\":{}}"},
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        struct hk_reply *r = hk_admin(&srv, writes[i].method, writes[i].body,
                                      "%s", writes[i].path);
        const char *field = hk_jstr(r->json, "error.field");
        if (r->status != 422 || field == NULL ||
            strcmp(field, "dry_run") != 0) {
            print_error("%s %s: %ld %.200s\n", writes[i].method, writes[i].path,
                        r->status, r->body);
            wrong++;
        }
        hk_reply_free(r);
        free(writes[i].path);
    }
    if (wrong > 0)
        fail_msg("%d writes with an unknown query parameter were not 422",
                 wrong);
    assert_int_equal(count_tenants(), before);
    struct hk_reply *r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "name"), "badinput");
    hk_reply_free(r);
    hk_expect_alive(&srv);
}

/* ---- SQL metacharacters ----------------------------------------------- */

static void test_sql_metacharacters(void **state)
{
    (void)state;
    const char *names[] = {
        "Robert'); DROP TABLE hookd.tenants;--",
        "' OR '1'='1",
        "\"; SELECT pg_sleep(5); --",
        "%_\\ LIKE '%'",
        "$1 $2 ::uuid ::text",
        "a\\'b\\\\",
        "/* comment */ -- x",
        "E'\\x41' || chr(65)",
        "\xf0\x9f\x99\x82 \xc3\xbc"
        "n\xc3\xaf"
        "c\xc3\xb6"
        "d\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int64_t t0 = hk_wall_ms();
        char *body = hk_jpack("{s:s}", "name", names[i]);
        struct hk_reply *r = hk_admin(&srv, "POST", body, "/v1/tenants");
        free(body);
        hk_expect(r, 201);
        assert_string_equal(hk_jstr(r->json, "name"), names[i]);
        char id[HK_ID_LEN];
        snprintf(id, sizeof id, "%s", hk_jstr(r->json, "id"));
        hk_reply_free(r);
        if (hk_wall_ms() - t0 > 4000)
            fail_msg("creating tenant \"%s\" took %lld ms", names[i],
                     (long long)(hk_wall_ms() - t0));
        r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", id);
        hk_expect(r, 200);
        assert_string_equal(hk_jstr(r->json, "name"), names[i]);
        hk_reply_free(r);
        char *stored = hk_sql(&srv,
                              "SELECT name FROM hookd.tenants "
                              "WHERE id = $1::uuid",
                              id);
        assert_non_null(stored);
        assert_string_equal(stored, names[i]);
        free(stored);
    }
    /* in an endpoint's description and header value */
    char *body = hk_jpack(
        "{s:s, s:s, s:{s:s}}", "url", "https://example.com/q?a='1'--",
        "description", names[0], "headers", "X-Quote", "it's \"quoted\"; DROP");
    struct hk_reply *r =
        hk_call(&srv, "POST", key, body, "/v1/tenants/%s/endpoints", tid);
    free(body);
    hk_expect(r, 201);
    assert_string_equal(hk_jstr(r->json, "description"), names[0]);
    assert_string_equal(hk_jstr(r->json, "url"),
                        "https://example.com/q?a='1'--");
    assert_string_equal(hk_jstr(r->json, "headers.X-Quote"),
                        "it's \"quoted\"; DROP");
    hk_reply_free(r);
    /* in query strings: no match, or refused; never a 5xx */
    const char *queries[] = {
        "events?event_type=x%27%20OR%20%271%27%3D%271",
        "events?event_type=%25",
        "deliveries?event_type=%27%3B%20DROP%20TABLE%20hookd.events%3B--",
        "endpoints?cursor=%27%20OR%201%3D1--",
        "endpoints?limit=1%3BDROP",
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/%s", tid,
                    queries[i]);
        if (r->status == 200) {
            if (i < 3)
                assert_int_equal(json_array_size(hk_jget(r->json, "data")), 0);
        } else {
            hk_expect_client_error(r);
        }
        hk_reply_free(r);
    }
    /* the tables are all still there */
    assert_true(count_tenants() > 0);
    assert_int_equal(hk_sql_int(&srv, "SELECT count(*) FROM "
                                      "information_schema.tables "
                                      "WHERE table_schema = 'hookd' AND "
                                      "table_name IN ('tenants', 'events', "
                                      "'endpoints', 'deliveries', "
                                      "'api_keys')"),
                     5);
    hk_expect_alive(&srv);
}

/* ---- deep nesting ----------------------------------------------------- */

static char *nested(const char *head, const char *open, const char *close,
                    int depth, const char *tail)
{
    size_t ol = strlen(open), cl = strlen(close);
    size_t n = strlen(head) + (ol + cl) * (size_t)depth + strlen(tail) + 1;
    char *b = malloc(n);
    size_t o = 0;
    memcpy(b, head, strlen(head));
    o += strlen(head);
    for (int i = 0; i < depth; i++, o += ol)
        memcpy(b + o, open, ol);
    for (int i = 0; i < depth; i++, o += cl)
        memcpy(b + o, close, cl);
    memcpy(b + o, tail, strlen(tail) + 1);
    return b;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    long long before = count_tenants();
    char *bodies[] = {
        nested("", "[", "]", 10000, ""),
        nested("{\"name\":\"deep\",\"metadata\":{\"a\":", "[", "]", 10000,
               "}}"),
        nested("{\"name\":\"deep\",\"metadata\":", "{\"a\":", "}", 5000, "}"),
    };
    for (size_t i = 0; i < 3; i++) {
        assert_true(strlen(bodies[i]) <= MAX_BODY);
        struct hk_reply *r =
            send_json("POST", "/v1/tenants", bodies[i], strlen(bodies[i]));
        expect_400_or_422(r);
        hk_reply_free(r);
        hk_expect_alive(&srv);
        free(bodies[i]);
    }
    assert_int_equal(count_tenants(), before);
    /* as an event payload, which is stored and sent byte for byte */
    char *body = nested("{\"event_type\":\"bad.input\",\"payload\":", "[", "]",
                        10000, "}");
    char *path = hk_fmt("/v1/tenants/%s/events", tid);
    struct hk_reply *r = hk_http(&srv, "POST", path, key, "application/json",
                                 body, strlen(body), NULL);
    expect_400_or_422(r);
    hk_reply_free(r);
    free(path);
    free(body);
    hk_expect_alive(&srv);
}

/* ---- invalid UTF-8 ---------------------------------------------------- */

static void test_invalid_utf8(void **state)
{
    (void)state;
    long long before = count_tenants();
    const char *bodies[] = {
        "{\"name\":\"\xff\xfe\"}",
        "{\"name\":\"\xc0\xaf\"}",
        "{\"name\":\"\xed\xa0\x80\"}",
        "{\"name\":\"abc\x80\"}",
        "{\"name\":\"\xf4\x90\x80\x80\"}",
        "{\"name\":\"\\ud800\"}",
        "{\"name\":\"\\udc00x\"}",
        "{\"name\":\"a\\u0000b\"}",
        "{\"name\":\"ok\",\"metadata\":{\"k\xff\":\"v\"}}",
        "{\"na\xffme\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct hk_reply *r =
            send_json("POST", "/v1/tenants", bodies[i], strlen(bodies[i]));
        if (r->status != 400 && r->status != 422)
            print_error("body %zu\n", i);
        expect_400_or_422(r);
        hk_reply_free(r);
    }
    assert_int_equal(count_tenants(), before);
    char *ep = hk_fmt("/v1/tenants/%s/endpoints", tid);
    char *ev = hk_fmt("/v1/tenants/%s/events", tid);
    const char *more[][2] = {
        {ep, "{\"url\":\"https://e.example/\",\"description\":\"\xc3\"}"},
        {ep, "{\"url\":\"https://e.example/\xff\"}"},
        {ep, "{\"url\":\"https://e.example/\",\"headers\":{\"X-A\":\"\xfe\"}}"},
        {ev, "{\"event_type\":\"bad.input\",\"payload\":{\"s\":\"\xff\"}}"},
        {ev, "{\"event_type\":\"bad.input\",\"payload\":\"\\ud800\"}"},
        {ev, "{\"event_type\":\"bad.\xff\",\"payload\":{}}"},
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        struct hk_reply *r =
            hk_http(&srv, "POST", more[i][0], key, "application/json",
                    more[i][1], strlen(more[i][1]), NULL);
        expect_400_or_422(r);
        hk_reply_free(r);
    }
    /* in the path and the query */
    struct hk_reply *r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%%FF%%FE");
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/events?cursor=%%FF",
                tid);
    hk_expect_client_error(r);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", key, NULL,
                "/v1/tenants/%s/events?event_type=%%C0%%AF", tid);
    if (r->status != 200)
        hk_expect_client_error(r);
    hk_reply_free(r);
    /* in a header the server echoes: answered, with some request id */
    const char *xh[] = {"X-Request-Id: \xff\xfe<script>\x01", NULL};
    r = hk_http(&srv, "GET", "/healthz", NULL, NULL, NULL, 0, xh);
    hk_expect(r, 200);
    assert_non_null(hk_reply_header(r, "X-Request-Id"));
    hk_reply_free(r);
    free(ep);
    free(ev);
    hk_expect_alive(&srv);
}

/* ---- empty bodies ----------------------------------------------------- */

static void test_empty_body_where_required(void **state)
{
    (void)state;
    long long before = count_tenants();
    char *paths[][2] = {
        {"POST", hk_fmt("/v1/tenants")},
        {"PATCH", hk_fmt("/v1/tenants/%s", tid)},
        {"POST", hk_fmt("/v1/tenants/%s/api-keys", tid)},
        {"POST", hk_fmt("/v1/event-types")},
        {"POST", hk_fmt("/v1/tenants/%s/endpoints", tid)},
        {"PATCH", hk_fmt("/v1/tenants/%s/endpoints/%s", tid, eid)},
        {"POST", hk_fmt("/v1/tenants/%s/events", tid)},
        {"POST", hk_fmt("/v1/tenants/%s/endpoints/%s/recover", tid, eid)},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        /* no body at all, an empty JSON body, and blanks */
        struct hk_reply *r = hk_http(&srv, paths[i][0], paths[i][1],
                                     srv.admin_key, NULL, NULL, 0, NULL);
        if (r->status != 400 && r->status != 422)
            print_error("%s %s without a body\n", paths[i][0], paths[i][1]);
        expect_400_or_422(r);
        hk_reply_free(r);
        r = hk_http(&srv, paths[i][0], paths[i][1], srv.admin_key,
                    "application/json", "", 0, NULL);
        if (r->status != 400 && r->status != 422)
            print_error("%s %s with an empty body\n", paths[i][0], paths[i][1]);
        expect_400_or_422(r);
        hk_reply_free(r);
        r = hk_http(&srv, paths[i][0], paths[i][1], srv.admin_key,
                    "application/json", " \r\n\t", 4, NULL);
        hk_expect_error(r, 400, "invalid_json", NULL);
        hk_reply_free(r);
        free(paths[i][1]);
    }
    assert_int_equal(count_tenants(), before);
    hk_expect_alive(&srv);
}

/* ---- methods ---------------------------------------------------------- */

static bool allow_has(const char *allow, const char *method)
{
    size_t n = strlen(method);
    const char *p = allow;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == n && strncmp(p, method, n) == 0)
            return true;
        p += len;
    }
    return false;
}

static void test_method_not_allowed(void **state)
{
    (void)state;
    struct {
        const char *method;
        char *path;
        const char *allow[4];
    } cases[] = {
        {"PUT", hk_fmt("/v1/tenants"), {"GET", "POST"}},
        {"DELETE", hk_fmt("/v1/tenants"), {"GET", "POST"}},
        {"PUT", hk_fmt("/v1/tenants/%s", tid), {"GET", "PATCH", "DELETE"}},
        {"POST", hk_fmt("/v1/tenants/%s", tid), {"GET", "PATCH", "DELETE"}},
        {"DELETE", hk_fmt("/v1/event-types"), {"GET", "POST"}},
        {"GET", hk_fmt("/v1/event-types/bad.input"), {"PATCH"}},
        {"PUT",
         hk_fmt("/v1/tenants/%s/endpoints/%s", tid, eid),
         {"GET", "PATCH", "DELETE"}},
        {"POST",
         hk_fmt("/v1/tenants/%s/endpoints/%s/secret", tid, eid),
         {"GET"}},
        {"DELETE", hk_fmt("/v1/tenants/%s/events", tid), {"GET", "POST"}},
        {"PATCH", hk_fmt("/v1/tenants/%s/api-keys", tid), {"GET", "POST"}},
        {"POST", hk_fmt("/healthz"), {"GET"}},
        {"DELETE", hk_fmt("/v1/me"), {"GET"}},
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hk_reply *r = hk_call(&srv, cases[i].method, srv.admin_key, NULL,
                                     "%s", cases[i].path);
        const char *code = hk_jstr(r->json, "error.code");
        const char *allow = hk_reply_header(r, "Allow");
        bool ok = r->status == 405 && code != NULL &&
                  strcmp(code, "method_not_allowed") == 0 && allow != NULL &&
                  !allow_has(allow, cases[i].method);
        for (size_t k = 0; ok && k < 4 && cases[i].allow[k]; k++)
            ok = allow_has(allow, cases[i].allow[k]);
        if (!ok) {
            print_error("%s %s: %ld, Allow: %s, %.200s\n", cases[i].method,
                        cases[i].path, r->status, allow ? allow : "(none)",
                        r->body);
            wrong++;
        }
        hk_reply_free(r);
        free(cases[i].path);
    }
    if (wrong > 0)
        fail_msg("%d wrong-method requests were not 405 with a fitting Allow",
                 wrong);
    hk_expect_alive(&srv);
}

/* ---- other nasties ---------------------------------------------------- */

static void test_numbers_and_types(void **state)
{
    (void)state;
    char *ep = hk_fmt("/v1/tenants/%s/endpoints", tid);
    const char *bodies[] = {
        "{\"url\":\"https://e.example/\",\"max_concurrency\":1e400}",
        "{\"url\":\"https://e.example/\",\"max_concurrency\":"
        "99999999999999999999}",
        "{\"url\":\"https://e.example/\",\"max_concurrency\":-0.0}",
        "{\"url\":\"https://e.example/\",\"rate_limit\":-9223372036854775808}",
        "{\"url\":\"https://e.example/\",\"rate_limit\":9223372036854775807}",
        "{\"url\":{\"$gt\":\"\"}}",
        "{\"url\":\"https://e.example/\",\"event_types\":[[\"a\"]]}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct hk_reply *r = hk_http(&srv, "POST", ep, key, "application/json",
                                     bodies[i], strlen(bodies[i]), NULL);
        /* a huge rate limit is a whole number >= 1: it may be taken */
        if (i == 4 && r->status == 201) {
            hk_reply_free(r);
            continue;
        }
        if (r->status != 400 && r->status != 422)
            print_error("body %s\n", bodies[i]);
        expect_400_or_422(r);
        hk_reply_free(r);
    }
    const char *tenants[] = {
        "{\"name\":\"n\",\"metadata\":{\"x\":1e999}}",
        "{\"name\":\"n\",\"metadata\":{\"x\":-1e999}}",
    };
    /* numbers beyond a double are valid JSON and metadata is the
     * client's data: kept (docs/limits.md, test_hardening.c) */
    for (size_t i = 0; i < 2; i++) {
        struct hk_reply *r =
            send_json("POST", "/v1/tenants", tenants[i], strlen(tenants[i]));
        hk_expect(r, 201);
        assert_non_null(strstr(r->body, i == 0 ? "\"x\":1000" : "\"x\":-1000"));
        hk_reply_free(r);
    }
    free(ep);
    hk_expect_alive(&srv);
}

/* true when the value of the first "payload" member in body is exactly
 * the text payload (the API writes ":" with or without spaces). */
static bool holds_payload(const char *body, const char *payload)
{
    const char *p = strstr(body, "\"payload\"");
    if (p == NULL)
        return false;
    p += strlen("\"payload\"");
    p += strspn(p, " :");
    size_t n = strlen(payload);
    return strncmp(p, payload, n) == 0 && p[n] != '\0' &&
           strchr(",} ", p[n]) != NULL;
}

/* A number not zero but too small for a double (1e-400) is valid JSON and
 * the client's data, like one too large: in metadata and an event type's
 * example it is stored and read back as that number (PostgreSQL's jsonb
 * writes it out in digits, 1e-400 as "0." and 399 zeros before a 1),
 * where it came back as 0.0; in a payload it is kept byte for byte. Zero
 * with any exponent stays the number 0, and where hookd reads a number
 * such a value is a 422 naming the field. */
static void test_numbers_below_double(void **state)
{
    (void)state;
    char zeros[999];
    memset(zeros, '0', sizeof zeros - 1);
    zeros[sizeof zeros - 1] = '\0';
    char *want_a = hk_fmt("\"a\":0.%.*s1", 399, zeros);
    char *want_b = hk_fmt("\"b\":[-0.%.*s25]", 998, zeros);

    const char *md = "{\"name\":\"tiny\",\"metadata\":{\"a\":1e-400,"
                     "\"b\":[-2.5E-999],\"z\":0e-400,\"y\":0.0e-9999}}";
    struct hk_reply *r = send_json("POST", "/v1/tenants", md, strlen(md));
    hk_expect(r, 201);
    char *mtid = hk_fmt("%s", hk_jstr(r->json, "id"));
    hk_reply_free(r);
    for (int i = 0; i < 2; i++) {
        r = i == 0 ? hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", mtid)
                   : hk_admin(&srv, "GET", NULL, "/v1/tenants?limit=200");
        hk_expect(r, 200);
        if (strstr(r->body, want_a) == NULL ||
            strstr(r->body, want_b) == NULL ||
            strstr(r->body, "\"z\":0.0") == NULL ||
            strstr(r->body, "\"y\":0.0") == NULL)
            fail_msg("metadata read back as %.300s", r->body);
        hk_reply_free(r);
    }

    r = hk_admin(&srv, "POST",
                 "{\"name\":\"bad.tiny\",\"example\":{\"a\":1e-400}}",
                 "/v1/event-types");
    hk_expect(r, 201);
    assert_non_null(strstr(r->body, want_a));
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/event-types?limit=200");
    hk_expect(r, 200);
    assert_non_null(strstr(r->body, want_a));
    hk_reply_free(r);

    const char *payload = "{\"a\":1e-400,\"b\":[-2.5E-999],\"z\":0e-400}";
    char *body = hk_fmt("{\"event_type\":\"bad.input\",\"payload\":%s}",
                        payload);
    r = hk_call(&srv, "POST", key, body, "/v1/tenants/%s/events", tid);
    hk_expect(r, 202);
    if (!holds_payload(r->body, payload))
        fail_msg("the answer to the post: %.500s", r->body);
    char *evid = hk_fmt("%s", hk_jstr(r->json, "id"));
    hk_reply_free(r);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/events/%s", tid, evid);
    hk_expect(r, 200);
    if (!holds_payload(r->body, payload))
        fail_msg("GET of the event: %.500s", r->body);
    hk_reply_free(r);

    r = hk_admin(&srv, "PATCH", "{\"limits\":{\"max_endpoints\":1e-400}}",
                 "/v1/tenants/%s", mtid);
    hk_expect_error(r, 422, "validation_failed", "limits.max_endpoints");
    hk_reply_free(r);

    /* beyond what PostgreSQL's numeric holds (16383 digits after the
     * point), either way: refused, and nothing is written */
    static const char *const beyond_numeric[] = {
        "{\"name\":\"tiny\",\"metadata\":{\"a\":1e-16384}}",
        "{\"name\":\"huge\",\"metadata\":{\"a\":1e400000}}"};
    long long before = count_tenants();
    for (size_t i = 0; i < 2; i++) {
        r = send_json("POST", "/v1/tenants", beyond_numeric[i],
                      strlen(beyond_numeric[i]));
        hk_expect_error(r, 422, "validation_failed", NULL);
        hk_reply_free(r);
    }
    assert_int_equal(count_tenants(), before);

    free(evid);
    free(body);
    free(mtid);
    free(want_b);
    free(want_a);
    hk_expect_alive(&srv);
}

/* Garbage at the HTTP level: whatever answers, it is not a 5xx and the
 * server lives on. */
static void test_http_garbage(void **state)
{
    (void)state;
    char *big_header = malloc(70000);
    memset(big_header, 'h', 69999);
    big_header[69999] = '\0';
    char *reqs[] = {
        hk_fmt("GARBAGE\r\n\r\n"),
        hk_fmt("GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"),
        hk_fmt(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
        hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
               "Content-Length: -1\r\n\r\n"),
        hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
               "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
               "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
               "0\r\n\r\n",
               srv.admin_key),
        hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
               "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
               srv.admin_key),
        hk_fmt("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n",
               big_header),
        hk_fmt("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", big_header),
        hk_fmt("GET /healthz HTTP/1.0\r\n\r\n"),
        hk_fmt("\r\n\r\n\r\n"),
        hk_fmt("GET /v1/tenants HTTP/1.1\r\nHost: x\r\n"
               "Authorization: Bearer %s\r\nAuthorization: Bearer hk_x\r\n\r\n",
               srv.admin_key),
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        struct hk_reply *r = hk_raw(&srv, reqs[i], strlen(reqs[i]), 2000);
        /* HTTP/9.9 may rightly get 505 Version Not Supported */
        if (r->status >= 500 && !(i == 1 && r->status == 505)) {
            print_error("raw request %zu answered %ld: %.200s\n", i, r->status,
                        r->body);
            wrong++;
        }
        hk_reply_free(r);
        free(reqs[i]);
        hk_expect_alive(&srv);
    }
    /* a body that never comes: the connection may wait, the server not */
    char *slow = hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                        "Authorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: 100\r\n\r\n{\"name\":",
                        srv.admin_key);
    struct hk_reply *r = hk_raw(&srv, slow, strlen(slow), 500);
    hk_reply_free(r);
    free(slow);
    hk_expect_alive(&srv);
    /* a path of 100 KB */
    char *longpath = malloc(100 * 1024 + 2);
    longpath[0] = '/';
    memset(longpath + 1, 'p', 100 * 1024);
    longpath[100 * 1024 + 1] = '\0';
    r = hk_http(&srv, "GET", longpath, srv.admin_key, NULL, NULL, 0, NULL);
    if (r->status >= 500) {
        print_error("a 100 KB path answered %ld\n", r->status);
        wrong++;
    }
    hk_reply_free(r);
    free(longpath);
    free(big_header);
    /* many query parameters: 300 are unknown parameters (422); 800 may be
     * too big for the server (414/431), but get an answer, and soon */
    for (int n = 300; n <= 800; n += 500) {
        char *q = malloc((size_t)n * 8 + 64);
        size_t o = (size_t)snprintf(q, 64, "/v1/tenants?limit=1");
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(q + o, 16, "&p%d=1", i);
        char *req = hk_fmt("GET %s HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer %s\r\n\r\n",
                           q, srv.admin_key);
        r = hk_raw(&srv, req, strlen(req), 10000);
        if (r->status == 0 || r->status >= 500) {
            print_error("GET /v1/tenants with %d query parameters (%zu "
                        "bytes): %ld %s\n",
                        n, o, r->status, r->err);
            wrong++;
        } else if (r->status != 414 && r->status != 431) {
            hk_expect_error(r, 422, "validation_failed", NULL);
        }
        hk_reply_free(r);
        free(req);
        free(q);
    }
    if (wrong > 0)
        fail_msg("%d garbage requests got a 5xx or no answer", wrong);
    hk_expect_alive(&srv);
}

/* The portal's files are served from HOOKD_WEB_DIR and nowhere else. */
static void test_path_traversal(void **state)
{
    (void)state;
    const char *paths[] = {
        "/portal/../../../../../../etc/passwd",
        "/portal/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/portal/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/portal/....//....//....//....//etc/passwd",
        "/portal/%252e%252e/%252e%252e/etc/passwd",
        "/portal/..\\..\\..\\..\\etc\\passwd",
        "/portal//etc/passwd",
        "/portal/%00../../../../etc/passwd",
        "/../../../../etc/passwd",
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *req = hk_fmt("GET %s HTTP/1.1\r\nHost: x\r\n"
                           "Connection: close\r\n\r\n",
                           paths[i]);
        struct hk_reply *r = hk_raw(&srv, req, strlen(req), 2000);
        if (r->status >= 500 || (r->body && strstr(r->body, "root:") != NULL)) {
            print_error("GET %s: %ld %.200s\n", paths[i], r->status, r->body);
            wrong++;
        }
        hk_reply_free(r);
        free(req);
    }
    if (wrong > 0)
        fail_msg("%d traversal attempts got through or failed the server",
                 wrong);
    hk_expect_alive(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broken_json),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_oversized_body),
        cmocka_unit_test(test_malformed_ids_in_path),
        cmocka_unit_test(test_malformed_ids_in_query_and_body),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_unknown_query_params),
        cmocka_unit_test(test_sql_metacharacters),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_empty_body_where_required),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_numbers_and_types),
        cmocka_unit_test(test_numbers_below_double),
        cmocka_unit_test(test_http_garbage),
        cmocka_unit_test(test_path_traversal),
    };
    int rc = cmocka_run_group_tests_name("api_badinput", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
