/*
 * test_api_endpoints.c - end-to-end tests of a tenant's endpoints as
 * docs/api.md states them: create, list, get, patch, delete, the signing secret
 * (whsec_, encrypted at rest), and the validation of every field with its
 * error.field. One hookd (serve) for the file, with one tenant, its API key
 * and a few event types made in the group setup.
 */
#include "engine_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;
static char tid[HK_ID_LEN];
static char *key; /* the tenant's API key */

#define NO_SUCH_ID "01890a5d-ac96-774b-bcce-b302099a8057"

static int group_setup(void **state)
{
    (void)state;
    static const char *const types[] = {"invoice.paid", "invoice.created",
                                        "user.signup", NULL};
    if (hk_group_start(&srv, NULL, NULL, types) != 0)
        return -1;
    key = hk_eng_tenant(&srv, "endpoints", tid);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(key);
    key = NULL;
    return hk_group_finish(&srv, NULL);
}

static void expect_time(json_t *obj, const char *k)
{
    const char *v = hk_jstr(obj, k);
    if (!hk_is_rfc3339_ms(v))
        fail_msg("%s is \"%s\", not RFC 3339 UTC with milliseconds", k,
                 v ? v : "(missing)");
}

/* POST body as the tenant; returns the reply. */
static struct hk_reply *create(const char *body)
{
    return hk_call(&srv, "POST", key, body, "/v1/tenants/%s/endpoints", tid);
}

static struct hk_reply *get_ep(const char *eid)
{
    return hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/endpoints/%s", tid,
                   eid);
}

static bool string_array_is(json_t *arr, const char *const *want, size_t n)
{
    if (!json_is_array(arr) || json_array_size(arr) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || strcmp(json_string_value(v), want[i]) != 0)
            return false;
    }
    return true;
}

/* ---- create, get, list ------------------------------------------------ */

static void test_create_minimal_defaults(void **state)
{
    (void)state;
    struct hk_reply *r = create("{\"url\":\"https://example.com/hooks\"}");
    hk_expect(r, 201);
    json_t *e = r->json;
    if (!hk_is_uuid7(hk_jstr(e, "id")))
        fail_msg("endpoint id is not a UUIDv7: %s", r->body);
    assert_string_equal(hk_jstr(e, "tenant_id"), tid);
    assert_string_equal(hk_jstr(e, "url"), "https://example.com/hooks");
    assert_string_equal(hk_jstr(e, "description"), "");
    assert_true(json_is_array(hk_jget(e, "event_types")));
    assert_int_equal(json_array_size(hk_jget(e, "event_types")), 0);
    assert_true(json_is_true(hk_jget(e, "enabled")));
    assert_non_null(json_object_get(e, "disabled_reason"));
    assert_true(json_is_null(hk_jget(e, "disabled_reason")));
    assert_int_equal(hk_jint(e, "max_concurrency", -1), 10);
    assert_non_null(json_object_get(e, "rate_limit"));
    assert_true(json_is_null(hk_jget(e, "rate_limit")));
    assert_true(json_is_object(hk_jget(e, "headers")));
    assert_int_equal(json_object_size(hk_jget(e, "headers")), 0);
    expect_time(e, "created_at");
    expect_time(e, "updated_at");
    /* the object never carries the signing secret */
    if (strstr(r->body, "whsec_") != NULL)
        fail_msg("the endpoint object shows the secret: %s", r->body);
    char eid[HK_ID_LEN];
    snprintf(eid, sizeof eid, "%s", hk_jstr(e, "id"));
    char *created = strdup(r->body);
    hk_reply_free(r);

    r = get_ep(eid);
    hk_expect(r, 200);
    json_t *first = json_loads(created, 0, NULL);
    if (!json_equal(first, r->json))
        fail_msg("GET differs from the POST answer:\n  %s\n  %s", created,
                 r->body);
    json_decref(first);
    free(created);
    hk_reply_free(r);

    /* the admin key reaches it too */
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "id"), eid);
    hk_reply_free(r);
}

static void test_create_full(void **state)
{
    (void)state;
    struct hk_reply *r = create(
        "{\"url\":\"http://127.0.0.1:9/in?x=1\",\"description\":\"billing\","
        "\"event_types\":[\"invoice.paid\",\"user.*\"],\"enabled\":false,"
        "\"max_concurrency\":3,\"rate_limit\":5,"
        "\"headers\":{\"X-Env\":\"test\",\"Authorization\":\"Bearer abc\"}}");
    hk_expect(r, 201);
    json_t *e = r->json;
    assert_string_equal(hk_jstr(e, "url"), "http://127.0.0.1:9/in?x=1");
    assert_string_equal(hk_jstr(e, "description"), "billing");
    const char *types[] = {"invoice.paid", "user.*"};
    assert_true(string_array_is(hk_jget(e, "event_types"), types, 2));
    assert_true(json_is_false(hk_jget(e, "enabled")));
    assert_int_equal(hk_jint(e, "max_concurrency", -1), 3);
    assert_int_equal(hk_jint(e, "rate_limit", -1), 5);
    assert_string_equal(hk_jstr(e, "headers.X-Env"), "test");
    assert_string_equal(hk_jstr(e, "headers.Authorization"), "Bearer abc");
    hk_reply_free(r);

    /* the bounds themselves are fine; "*" and an empty list match all */
    const char *ok[] = {
        "{\"url\":\"https://a.example/x\",\"max_concurrency\":1}",
        "{\"url\":\"https://a.example/x\",\"max_concurrency\":100}",
        "{\"url\":\"https://a.example/x\",\"rate_limit\":1}",
        "{\"url\":\"https://a.example/x\",\"rate_limit\":null}",
        "{\"url\":\"https://a.example/x\",\"event_types\":[\"*\"]}",
        "{\"url\":\"https://a.example/x\",\"event_types\":[]}",
        "{\"url\":\"https://a.example/x\",\"event_types\":[\"invoice.*\","
        "\"hookd.ping\"]}",
        "{\"url\":\"https://a.example:8443/x?a=1&b=2\"}",
        "{\"url\":\"http://[::1]:8080/x\"}",
        "{\"url\":\"https://a.example/x\",\"headers\":{}}",
        "{\"url\":\"https://a.example/x\",\"description\":\"\"}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        r = create(ok[i]);
        hk_expect(r, 201);
        hk_reply_free(r);
    }
    /* a 2048-character URL is the longest allowed */
    char url[2049];
    const char *head = "https://example.com/";
    size_t hl = strlen(head);
    memcpy(url, head, hl);
    memset(url + hl, 'a', 2048 - hl);
    url[2048] = '\0';
    char *body = hk_jpack("{s:s}", "url", url);
    r = create(body);
    hk_expect(r, 201);
    assert_string_equal(hk_jstr(r->json, "url"), url);
    hk_reply_free(r);
    free(body);
}

static void test_list(void **state)
{
    (void)state;
    char t2[HK_ID_LEN];
    hk_mk_tenant(&srv, "list-endpoints", t2);
    char ids[5][HK_ID_LEN];
    for (int i = 0; i < 5; i++) {
        char *body = hk_fmt("{\"url\":\"https://example.com/%d\"}", i);
        hk_mk_endpoint(&srv, NULL, t2, body, ids[i]);
        free(body);
        hk_sleep_ms(2);
    }
    char *path = hk_fmt("/v1/tenants/%s/endpoints", t2);
    int pages = 0;
    json_t *all = hk_list_all(&srv, srv.admin_key, path, 2, &pages);
    assert_int_equal(json_array_size(all), 5);
    assert_int_equal(pages, 3);
    for (int i = 0; i < 5; i++) {
        json_t *it = json_array_get(all, (size_t)i);
        assert_string_equal(hk_jstr(it, "id"), ids[4 - i]);
        assert_string_equal(hk_jstr(it, "tenant_id"), t2);
        char want[64];
        snprintf(want, sizeof want, "https://example.com/%d", 4 - i);
        assert_string_equal(hk_jstr(it, "url"), want);
    }
    json_decref(all);
    free(path);
    /* a tenant that does not exist has no endpoints to list or add to */
    struct hk_reply *r =
        hk_admin(&srv, "POST", "{\"url\":\"https://example.com/\"}",
                 "/v1/tenants/" NO_SUCH_ID "/endpoints");
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/" NO_SUCH_ID "/endpoints");
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
}

/* ---- patch, delete ---------------------------------------------------- */

static void test_patch(void **state)
{
    (void)state;
    char eid[HK_ID_LEN];
    hk_mk_endpoint(&srv, key, tid,
                   "{\"url\":\"https://example.com/p\",\"description\":\"d1\","
                   "\"event_types\":[\"invoice.paid\"],\"rate_limit\":7,"
                   "\"headers\":{\"X-A\":\"1\"}}",
                   eid);
    struct hk_reply *r = get_ep(eid);
    hk_expect(r, 200);
    char created[64];
    snprintf(created, sizeof created, "%s", hk_jstr(r->json, "created_at"));
    hk_reply_free(r);
    hk_sleep_ms(5);

    r = hk_call(&srv, "PATCH", key,
                "{\"url\":\"https://example.org/q\",\"max_concurrency\":42}",
                "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    json_t *e = r->json;
    assert_string_equal(hk_jstr(e, "id"), eid);
    assert_string_equal(hk_jstr(e, "url"), "https://example.org/q");
    assert_int_equal(hk_jint(e, "max_concurrency", -1), 42);
    /* untouched fields stay */
    assert_string_equal(hk_jstr(e, "description"), "d1");
    const char *t1[] = {"invoice.paid"};
    assert_true(string_array_is(hk_jget(e, "event_types"), t1, 1));
    assert_int_equal(hk_jint(e, "rate_limit", -1), 7);
    assert_string_equal(hk_jstr(e, "headers.X-A"), "1");
    assert_string_equal(hk_jstr(e, "created_at"), created);
    if (strcmp(hk_jstr(e, "updated_at"), created) <= 0)
        fail_msg("updated_at did not move on PATCH");
    hk_reply_free(r);

    r = hk_call(&srv, "PATCH", key,
                "{\"event_types\":[\"user.signup\",\"invoice.*\"],"
                "\"rate_limit\":null,\"headers\":{\"X-B\":\"2\"},"
                "\"description\":\"d2\"}",
                "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    e = r->json;
    const char *t2[] = {"user.signup", "invoice.*"};
    assert_true(string_array_is(hk_jget(e, "event_types"), t2, 2));
    assert_true(json_is_null(hk_jget(e, "rate_limit")));
    assert_string_equal(hk_jstr(e, "headers.X-B"), "2");
    assert_null(hk_jget(e, "headers.X-A"));
    assert_string_equal(hk_jstr(e, "description"), "d2");
    hk_reply_free(r);

    /* the change is stored */
    r = get_ep(eid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "url"), "https://example.org/q");
    assert_string_equal(hk_jstr(r->json, "description"), "d2");
    hk_reply_free(r);

    /* {} changes nothing */
    r = hk_call(&srv, "PATCH", key, "{}", "/v1/tenants/%s/endpoints/%s", tid,
                eid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "url"), "https://example.org/q");
    hk_reply_free(r);
}

static void test_enable_clears_disabled_reason(void **state)
{
    (void)state;
    char eid[HK_ID_LEN];
    hk_mk_endpoint(&srv, key, tid, "{\"url\":\"https://example.com/gone\"}",
                   eid);
    /* as the dispatcher would after a 410 */
    free(hk_sql(&srv,
                "UPDATE hookd.endpoints SET enabled = false, "
                "disabled_reason = 'receiver answered 410 Gone' "
                "WHERE tenant_id = $1::uuid AND id = $2::uuid",
                tid, eid));
    struct hk_reply *r = get_ep(eid);
    hk_expect(r, 200);
    assert_true(json_is_false(hk_jget(r->json, "enabled")));
    assert_string_equal(hk_jstr(r->json, "disabled_reason"),
                        "receiver answered 410 Gone");
    hk_reply_free(r);
    r = hk_call(&srv, "PATCH", key, "{\"enabled\":true}",
                "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    assert_true(json_is_true(hk_jget(r->json, "enabled")));
    assert_true(json_is_null(hk_jget(r->json, "disabled_reason")));
    hk_reply_free(r);
    r = get_ep(eid);
    hk_expect(r, 200);
    assert_true(json_is_null(hk_jget(r->json, "disabled_reason")));
    hk_reply_free(r);
    /* disabling by hand works and is undone the same way */
    r = hk_call(&srv, "PATCH", key, "{\"enabled\":false}",
                "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    assert_true(json_is_false(hk_jget(r->json, "enabled")));
    hk_reply_free(r);
}

static void test_delete(void **state)
{
    (void)state;
    char eid[HK_ID_LEN];
    hk_mk_endpoint(&srv, key, tid, "{\"url\":\"https://example.com/del\"}",
                   eid);
    struct hk_reply *r = hk_call(&srv, "DELETE", key, NULL,
                                 "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 204);
    assert_int_equal(r->body_len, 0);
    hk_reply_free(r);
    r = get_ep(eid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "PATCH", key, "{\"description\":\"x\"}",
                "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/endpoints/%s/secret",
                tid, eid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "DELETE", key, NULL, "/v1/tenants/%s/endpoints/%s", tid,
                eid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    char *path = hk_fmt("/v1/tenants/%s/endpoints", tid);
    json_t *all = hk_list_all(&srv, key, path, 250, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(all, i, it)
    {
        if (strcmp(hk_jstr(it, "id"), eid) == 0)
            fail_msg("a deleted endpoint is still listed");
    }
    json_decref(all);
    free(path);
    r = hk_call(&srv, "DELETE", key, NULL, "/v1/tenants/%s/endpoints/nope",
                tid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
}

/* ---- the secret ------------------------------------------------------- */

static int b64_decoded_len(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '+' || c == '/' ||
                  (c == '=' && i >= n - 2);
        if (!ok)
            return -1;
    }
    int pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    return (int)(n / 4 * 3) - pad;
}

static char *get_secret(const char *eid)
{
    struct hk_reply *r = hk_call(
        &srv, "GET", key, NULL, "/v1/tenants/%s/endpoints/%s/secret", tid, eid);
    hk_expect(r, 200);
    const char *k = hk_jstr(r->json, "key");
    if (k == NULL || strncmp(k, "whsec_", 6) != 0)
        fail_msg("secret answer is not {\"key\":\"whsec_...\"}: %s", r->body);
    int n = b64_decoded_len(k + 6);
    if (n < 24 || n > 64)
        fail_msg("secret %s: the base64 part is not 24-64 bytes (%d)", k, n);
    char *out = strdup(k);
    hk_reply_free(r);
    return out;
}

static void test_secret(void **state)
{
    (void)state;
    char e1[HK_ID_LEN], e2[HK_ID_LEN];
    hk_mk_endpoint(&srv, key, tid, "{\"url\":\"https://example.com/s1\"}", e1);
    hk_mk_endpoint(&srv, key, tid, "{\"url\":\"https://example.com/s2\"}", e2);
    char *s1 = get_secret(e1);
    char *s1b = get_secret(e1);
    char *s2 = get_secret(e2);
    assert_string_equal(s1, s1b);
    assert_string_not_equal(s1, s2);
    /* the admin key reads it too */
    struct hk_reply *r = hk_admin(
        &srv, "GET", NULL, "/v1/tenants/%s/endpoints/%s/secret", tid, e1);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "key"), s1);
    hk_reply_free(r);
    /* a PATCH leaves the secret alone */
    r = hk_call(&srv, "PATCH", key, "{\"url\":\"https://example.com/s1b\"}",
                "/v1/tenants/%s/endpoints/%s", tid, e1);
    hk_expect(r, 200);
    hk_reply_free(r);
    char *s1c = get_secret(e1);
    assert_string_equal(s1, s1c);

    /* encrypted at rest: neither the text nor the raw key bytes appear in
     * any column of the row */
    const char *secrets[] = {s1, s2};
    for (size_t i = 0; i < 2; i++) {
        const char *b64 = secrets[i] + 6;
        long long n = hk_sql_int(&srv,
                                 "SELECT count(*) FROM hookd.endpoints t "
                                 "WHERE strpos(t::text, $1) > 0 "
                                 "   OR strpos(t::text, $2) > 0",
                                 secrets[i], b64);
        if (n != 0)
            fail_msg("the secret %s is stored in plain text", secrets[i]);
        n = hk_sql_int(&srv,
                       "SELECT count(*) FROM hookd.endpoints t "
                       "WHERE position(decode($1, 'base64') IN t.secret_enc) "
                       "      > 0 "
                       "   OR position(decode($1, 'base64') IN "
                       "      coalesce(t.prev_secret_enc, ''::bytea)) > 0",
                       b64);
        if (n != 0)
            fail_msg("the raw key bytes of %s are stored unencrypted",
                     secrets[i]);
    }
    r = hk_call(&srv, "GET", key, NULL,
                "/v1/tenants/%s/endpoints/" NO_SUCH_ID "/secret", tid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    free(s1);
    free(s1b);
    free(s1c);
    free(s2);
}

/* The secret survives a restart of hookd (same HOOKD_SECRET_KEY): it is
 * decrypted from the database, not kept in memory. */
static void test_secret_after_restart(void **state)
{
    (void)state;
    char eid[HK_ID_LEN];
    hk_mk_endpoint(&srv, key, tid, "{\"url\":\"https://example.com/rs\"}", eid);
    char *before = get_secret(eid);
    assert_int_equal(hk_srv_restart(&srv), 0);
    char *after = get_secret(eid);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* ---- validation ------------------------------------------------------- */

struct bad_case {
    const char *body;
    const char *field;
};

static void expect_all_refused(const struct bad_case *cases, size_t n,
                               const char *method, const char *eid)
{
    for (size_t i = 0; i < n; i++) {
        struct hk_reply *r =
            eid ? hk_call(&srv, method, key, cases[i].body,
                          "/v1/tenants/%s/endpoints/%s", tid, eid)
                : create(cases[i].body);
        if (r->status != 422)
            print_error("case %zu: %s %s\n", i, method, cases[i].body);
        hk_expect_error(r, 422, "validation_failed", cases[i].field);
        hk_reply_free(r);
    }
}

static const struct bad_case url_cases[] = {
    {"{}", "url"},
    {"{\"url\":\"\"}", "url"},
    {"{\"url\":5}", "url"},
    {"{\"url\":null}", "url"},
    {"{\"url\":[\"https://example.com\"]}", "url"},
    {"{\"url\":\"example.com/hook\"}", "url"},
    {"{\"url\":\"//example.com/hook\"}", "url"},
    {"{\"url\":\"/hook\"}", "url"},
    {"{\"url\":\"ftp://example.com/hook\"}", "url"},
    {"{\"url\":\"file:///etc/passwd\"}", "url"},
    {"{\"url\":\"gopher://example.com/\"}", "url"},
    {"{\"url\":\"javascript:alert(1)\"}", "url"},
    {"{\"url\":\"http://\"}", "url"},
    {"{\"url\":\"https:///path\"}", "url"},
    {"{\"url\":\"https://user:pass@example.com/hook\"}", "url"},
    {"{\"url\":\"https://user@example.com/hook\"}", "url"},
    {"{\"url\":\"https://exa mple.com/hook\"}", "url"},
    {"{\"url\":\"https://example.com/ho\\nok\"}", "url"},
    {"{\"url\":\"https://example.com:99999/\"}", "url"},
};

static void test_validate_url(void **state)
{
    (void)state;
    expect_all_refused(url_cases, sizeof url_cases / sizeof url_cases[0],
                       "POST", NULL);
    /* one character over 2048 */
    char url[2050];
    const char *head = "https://example.com/";
    size_t hl = strlen(head);
    memcpy(url, head, hl);
    memset(url + hl, 'a', 2049 - hl);
    url[2049] = '\0';
    char *body = hk_jpack("{s:s}", "url", url);
    struct hk_reply *r = create(body);
    hk_expect_error(r, 422, "validation_failed", "url");
    hk_reply_free(r);
    free(body);
    /* the same rules on PATCH (skipping "{}", which is a valid PATCH) */
    char eid[HK_ID_LEN];
    hk_mk_endpoint(&srv, key, tid, "{\"url\":\"https://example.com/v\"}", eid);
    expect_all_refused(url_cases + 1,
                       sizeof url_cases / sizeof url_cases[0] - 1, "PATCH",
                       eid);
    r = get_ep(eid);
    assert_string_equal(hk_jstr(r->json, "url"), "https://example.com/v");
    hk_reply_free(r);
}

static const struct bad_case field_cases[] = {
    {"{\"url\":\"https://e.example/\",\"description\":5}", "description"},
    {"{\"url\":\"https://e.example/\",\"description\":[]}", "description"},
    {"{\"url\":\"https://e.example/\",\"enabled\":\"yes\"}", "enabled"},
    {"{\"url\":\"https://e.example/\",\"enabled\":1}", "enabled"},
    {"{\"url\":\"https://e.example/\",\"enabled\":null}", "enabled"},
    {"{\"url\":\"https://e.example/\",\"event_types\":\"invoice.paid\"}",
     "event_types*"},
    {"{\"url\":\"https://e.example/\",\"event_types\":[1]}", "event_types*"},
    {"{\"url\":\"https://e.example/\",\"event_types\":[null]}", "event_types*"},
    {"{\"url\":\"https://e.example/\",\"event_types\":{}}", "event_types*"},
    {"{\"url\":\"https://e.example/\",\"event_types\":[\"no.such.type\"]}",
     "event_types*"},
    {"{\"url\":\"https://e.example/\",\"event_types\":[\"invoice.paid\","
     "\"invoice.refunded\"]}",
     "event_types*"},
    {"{\"url\":\"https://e.example/\",\"event_types\":[\"\"]}", "event_types*"},
    {"{\"url\":\"https://e.example/\",\"event_types\":[\"invoice..*\"]}",
     "event_types*"},
    {"{\"url\":\"https://e.example/\",\"event_types\":[\"*.paid\"]}",
     "event_types*"},
    {"{\"url\":\"https://e.example/\",\"event_types\":[\"inv*\"]}",
     "event_types*"},
    {"{\"url\":\"https://e.example/\",\"event_types\":[\"invoice.**\"]}",
     "event_types*"},
    {"{\"url\":\"https://e.example/\",\"max_concurrency\":0}",
     "max_concurrency"},
    {"{\"url\":\"https://e.example/\",\"max_concurrency\":101}",
     "max_concurrency"},
    {"{\"url\":\"https://e.example/\",\"max_concurrency\":-1}",
     "max_concurrency"},
    {"{\"url\":\"https://e.example/\",\"max_concurrency\":2.5}",
     "max_concurrency"},
    {"{\"url\":\"https://e.example/\",\"max_concurrency\":\"5\"}",
     "max_concurrency"},
    {"{\"url\":\"https://e.example/\",\"max_concurrency\":null}",
     "max_concurrency"},
    {"{\"url\":\"https://e.example/\",\"max_concurrency\":4294967306}",
     "max_concurrency"},
    {"{\"url\":\"https://e.example/\",\"rate_limit\":0}", "rate_limit"},
    {"{\"url\":\"https://e.example/\",\"rate_limit\":-5}", "rate_limit"},
    {"{\"url\":\"https://e.example/\",\"rate_limit\":1.5}", "rate_limit"},
    {"{\"url\":\"https://e.example/\",\"rate_limit\":\"10\"}", "rate_limit"},
    {"{\"url\":\"https://e.example/\",\"rate_limit\":true}", "rate_limit"},
    {"{\"url\":\"https://e.example/\",\"rate_limit\":4294967297}",
     "rate_limit"},
    {"{\"url\":\"https://e.example/\",\"secret\":\"whsec_AAAA\"}", "secret"},
    {"{\"url\":\"https://e.example/\",\"tenant_id\":\"" NO_SUCH_ID "\"}",
     "tenant_id"},
    {"{\"url\":\"https://e.example/\",\"id\":\"" NO_SUCH_ID "\"}", "id"},
    {"{\"url\":\"https://e.example/\",\"disabled_reason\":\"x\"}",
     "disabled_reason"},
    {"{\"url\":\"https://e.example/\",\"eventTypes\":[]}", "eventTypes"},
};

static void test_validate_fields(void **state)
{
    (void)state;
    long long before = hk_sql_int(
        &srv, "SELECT count(*) FROM hookd.endpoints WHERE tenant_id = $1::uuid",
        tid);
    expect_all_refused(field_cases, sizeof field_cases / sizeof field_cases[0],
                       "POST", NULL);
    long long after = hk_sql_int(
        &srv, "SELECT count(*) FROM hookd.endpoints WHERE tenant_id = $1::uuid",
        tid);
    assert_int_equal(before, after);

    /* PATCH: each case without its url; a refused PATCH changes nothing,
     * not even the fields that were valid */
    char eid[HK_ID_LEN];
    hk_mk_endpoint(
        &srv, key, tid,
        "{\"url\":\"https://example.com/f\",\"description\":\"keep\","
        "\"max_concurrency\":4}",
        eid);
    for (size_t i = 0; i < sizeof field_cases / sizeof field_cases[0]; i++) {
        const char *prefix = "{\"url\":\"https://e.example/\",";
        size_t pl = strlen(prefix);
        assert_true(strncmp(field_cases[i].body, prefix, pl) == 0);
        const char *rest = field_cases[i].body + pl;
        char *body = hk_fmt("{%s,%s",
                            strstr(rest, "\"description\"")
                                ? "\"max_concurrency\":7"
                                : "\"description\":\"changed\"",
                            rest);
        struct hk_reply *r = hk_call(&srv, "PATCH", key, body,
                                     "/v1/tenants/%s/endpoints/%s", tid, eid);
        if (r->status != 422)
            print_error("PATCH %s\n", body);
        hk_expect_error(r, 422, "validation_failed", field_cases[i].field);
        hk_reply_free(r);
        free(body);
    }
    struct hk_reply *r = get_ep(eid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "description"), "keep");
    assert_int_equal(hk_jint(r->json, "max_concurrency", -1), 4);
    hk_reply_free(r);
}

static const struct bad_case header_cases[] = {
    {"{\"url\":\"https://e.example/\",\"headers\":[]}", "headers"},
    {"{\"url\":\"https://e.example/\",\"headers\":\"X-A: 1\"}", "headers"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Host\":\"evil\"}}",
     "headers.Host"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"host\":\"evil\"}}",
     "headers.host"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Content-Type\":"
     "\"text/plain\"}}",
     "headers.Content-Type"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"content-length\":"
     "\"0\"}}",
     "headers.content-length"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Content-Encoding\":"
     "\"gzip\"}}",
     "headers.Content-Encoding"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Connection\":"
     "\"close\"}}",
     "headers.Connection"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Keep-Alive\":"
     "\"timeout=5\"}}",
     "headers.Keep-Alive"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Transfer-Encoding\":"
     "\"chunked\"}}",
     "headers.Transfer-Encoding"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"TE\":\"trailers\"}}",
     "headers.TE"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Trailer\":\"X\"}}",
     "headers.Trailer"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Upgrade\":\"h2c\"}}",
     "headers.Upgrade"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Proxy-Authorization\":"
     "\"Basic eA==\"}}",
     "headers.Proxy-Authorization"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Proxy-Authenticate\":"
     "\"Basic\"}}",
     "headers.Proxy-Authenticate"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"webhook-id\":\"x\"}}",
     "headers.webhook-id"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"Webhook-Signature\":"
     "\"v1,x\"}}",
     "headers.Webhook-Signature"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"webhook-timestamp\":"
     "\"1\"}}",
     "headers.webhook-timestamp"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"X-A\":1}}", "headers.X-A"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"X-A\":null}}",
     "headers.X-A"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"X-A\":{\"b\":1}}}",
     "headers.X-A"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"X A\":\"v\"}}",
     "headers.X A"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"X:A\":\"v\"}}",
     "headers.X:A"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"\":\"v\"}}", "headers*"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"X-A\":\"a\\r\\n"
     "Injected: 1\"}}",
     "headers.X-A"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"X-A\":\"a\\nb\"}}",
     "headers.X-A"},
    {"{\"url\":\"https://e.example/\",\"headers\":{\"X-A\\r\\nB\":\"v\"}}",
     "headers*"},
};

static void test_validate_headers(void **state)
{
    (void)state;
    expect_all_refused(header_cases,
                       sizeof header_cases / sizeof header_cases[0], "POST",
                       NULL);
    char eid[HK_ID_LEN];
    hk_mk_endpoint(&srv, key, tid,
                   "{\"url\":\"https://example.com/h\",\"headers\":{\"X-Keep\":"
                   "\"1\"}}",
                   eid);
    for (size_t i = 0; i < sizeof header_cases / sizeof header_cases[0]; i++) {
        const char *prefix = "{\"url\":\"https://e.example/\",";
        char *body = hk_fmt("{%s", header_cases[i].body + strlen(prefix));
        struct hk_reply *r = hk_call(&srv, "PATCH", key, body,
                                     "/v1/tenants/%s/endpoints/%s", tid, eid);
        if (r->status != 422)
            print_error("PATCH %s\n", body);
        hk_expect_error(r, 422, "validation_failed", header_cases[i].field);
        hk_reply_free(r);
        free(body);
    }
    struct hk_reply *r = get_ep(eid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "headers.X-Keep"), "1");
    assert_int_equal(json_object_size(hk_jget(r->json, "headers")), 1);
    hk_reply_free(r);

    /* ordinary custom headers are fine, with their case kept */
    r = create("{\"url\":\"https://e.example/\",\"headers\":{\"X-Api-Key\":"
               "\"s3cr3t\",\"Authorization\":\"Bearer t\",\"x-trace\":"
               "\"a b;c=d\"}}");
    hk_expect(r, 201);
    assert_string_equal(hk_jstr(r->json, "headers.X-Api-Key"), "s3cr3t");
    assert_string_equal(hk_jstr(r->json, "headers.x-trace"), "a b;c=d");
    hk_reply_free(r);
}

/* With private targets not allowed, a literal private address may be
 * refused at creation (422 on url) or accepted (and refused at connect
 * time, which the delivery tests check); anything else is wrong. */
static void test_private_literal_when_not_allowed(void **state)
{
    (void)state;
    const char *env[] = {"HOOKD_ALLOW_PRIVATE_TARGETS=0", NULL};
    struct hk_srv peer;
    assert_int_equal(hk_srv_start_peer(&peer, &srv, "api", env), 0);
    const char *urls[] = {"http://127.0.0.1/x",   "http://10.1.2.3/x",
                          "http://192.168.0.1/x", "http://169.254.169.254/x",
                          "http://[::1]/x",       "http://0.0.0.0/x"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char *body = hk_jpack("{s:s}", "url", urls[i]);
        struct hk_reply *r =
            hk_call(&peer, "POST", key, body, "/v1/tenants/%s/endpoints", tid);
        if (r->status != 201)
            hk_expect_error(r, 422, "validation_failed", "url");
        hk_reply_free(r);
        free(body);
    }
    struct hk_reply *r =
        hk_call(&peer, "POST", key, "{\"url\":\"https://example.com/pub\"}",
                "/v1/tenants/%s/endpoints", tid);
    hk_expect(r, 201);
    hk_reply_free(r);
    assert_int_equal(hk_srv_stop(&peer), 0);
    hk_srv_drop(&peer);
}

static void test_malformed_ids(void **state)
{
    (void)state;
    const char *ids[] = {"not-a-uuid",
                         "12345",
                         "01890a5d-ac96-774b-bcce-b302099a805",
                         "01890a5d-ac96-774b-bcce-b302099a8057x",
                         "01890a5d-ac96-774b-bcce-b302099a805g",
                         "%27%20OR%20%271%27%3D%271",
                         NO_SUCH_ID};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        struct hk_reply *r = hk_call(
            &srv, "GET", key, NULL, "/v1/tenants/%s/endpoints/%s", tid, ids[i]);
        hk_expect_error(r, 404, "not_found", NULL);
        hk_reply_free(r);
        r = hk_call(&srv, "PATCH", key, "{\"description\":\"x\"}",
                    "/v1/tenants/%s/endpoints/%s", tid, ids[i]);
        hk_expect_error(r, 404, "not_found", NULL);
        hk_reply_free(r);
        r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s/endpoints", ids[i]);
        hk_expect_error(r, 404, "not_found", NULL);
        hk_reply_free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_minimal_defaults),
        cmocka_unit_test(test_create_full),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_patch),
        cmocka_unit_test(test_enable_clears_disabled_reason),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_validate_url),
        cmocka_unit_test(test_validate_fields),
        cmocka_unit_test(test_validate_headers),
        cmocka_unit_test(test_private_literal_when_not_allowed),
        cmocka_unit_test(test_malformed_ids),
        cmocka_unit_test(test_secret_after_restart),
    };
    int rc = cmocka_run_group_tests_name("api_endpoints", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
