/*
 * test_router.c - unit tests of router.c over the real route table: every
 * pattern matches a concrete path (and not with a trailing slash) and
 * captures its ids in order, unknown paths are not found, a known path
 * with the wrong method yields the exact Allow list, over-long and empty
 * segments never match, no row repeats another, and a short Allow buffer
 * is never overrun.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"

#define PATH_MAX_LEN 1024

/* The i-th id used in concrete paths: a distinct canonical UUIDv7. */
static void sample_id(int i, char out[37])
{
    snprintf(out, 37, "0190a6b4-%04x-7abc-8def-%012x", 0x1000 + i, 0xa0000 + i);
}

/* Replaces each {} of pattern by the next sample id (or by seg, when seg
 * is not NULL); returns the number of placeholders. */
static int concrete(const char *pattern, const char *seg, char *out,
                    size_t outlen)
{
    size_t o = 0;
    int n = 0;
    for (const char *p = pattern; *p != '\0';) {
        char id[37];
        const char *piece;
        size_t len;
        if (p[0] == '{' && p[1] == '}') {
            sample_id(n, id);
            piece = seg != NULL ? seg : id;
            len = strlen(piece);
            p += 2;
            n++;
        } else {
            piece = p;
            len = 1;
            p++;
        }
        assert_true(o + len < outlen);
        memcpy(out + o, piece, len);
        o += len;
    }
    out[o] = '\0';
    return n;
}

/* The methods the table offers for pattern, in table order, joined like
 * an Allow header. */
static void allow_for(const char *pattern, char *out, size_t outlen)
{
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < hk_routes_len; i++) {
        if (strcmp(hk_routes[i].pattern, pattern) != 0)
            continue;
        int w = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "",
                         hk_routes[i].method);
        assert_true(w > 0 && (size_t)w < outlen - used);
        used += (size_t)w;
    }
}

static enum hk_result route(const char *method, const char *path,
                            const struct hk_route **r,
                            char params[HK_MAX_PATH_PARAMS][129], int *nparams,
                            char *allow, size_t allowlen)
{
    *nparams = -1;
    return hk_router_match(method, path, r, params, nparams, allow, allowlen);
}

static void test_every_route_matches(void **state)
{
    (void)state;
    assert_true(hk_routes_len > 0);
    for (size_t i = 0; i < hk_routes_len; i++) {
        const struct hk_route *want = &hk_routes[i];
        char path[PATH_MAX_LEN];
        int n = concrete(want->pattern, NULL, path, sizeof(path));
        assert_true(n <= HK_MAX_PATH_PARAMS);
        const struct hk_route *r = NULL;
        char params[HK_MAX_PATH_PARAMS][129];
        int nparams;
        char allow[128];
        enum hk_result rc = route(want->method, path, &r, params, &nparams,
                                  allow, sizeof(allow));
        if (rc != HK_OK)
            fail_msg("%s %s: %s", want->method, path, hk_result_str(rc));
        if (r != want)
            fail_msg("%s %s matched row \"%s %s\"", want->method, path,
                     r ? r->method : "-", r ? r->pattern : "-");
        assert_int_equal(nparams, n);
        for (int k = 0; k < n; k++) {
            char id[37];
            sample_id(k, id);
            assert_string_equal(params[k], id);
        }
        /* a trailing slash is another path: "/x/%00" arrives as "/x/" and
         * must not reach the list route */
        size_t len = strlen(path);
        assert_true(len + 1 < sizeof(path));
        path[len] = '/';
        path[len + 1] = '\0';
        rc = route(want->method, path, &r, params, &nparams, allow,
                   sizeof(allow));
        if (rc == HK_OK)
            fail_msg("%s %s matched with a trailing slash", want->method,
                     path);
    }
}

static void test_captures_in_order(void **state)
{
    (void)state;
    const struct hk_route *r = NULL;
    char params[HK_MAX_PATH_PARAMS][129];
    int nparams;
    char allow[128];
    const char *tid = "0190a6b4-1111-7111-8111-111111111111";
    const char *did = "0190a6b4-2222-7222-8222-222222222222";
    char path[256];
    snprintf(path, sizeof(path), "/v1/tenants/%s/deliveries/%s/attempts", tid,
             did);
    assert_int_equal(
        route("GET", path, &r, params, &nparams, allow, sizeof(allow)), HK_OK);
    assert_non_null(r);
    assert_string_equal(r->pattern, "/v1/tenants/{}/deliveries/{}/attempts");
    assert_int_equal(nparams, 2);
    assert_string_equal(params[0], tid);
    assert_string_equal(params[1], did);

    /* the router captures any segment; a malformed id is the
     * handler's or auth's business (404 there) */
    assert_int_equal(route("GET", "/v1/tenants/not-a-uuid", &r, params,
                           &nparams, allow, sizeof(allow)),
                     HK_OK);
    assert_string_equal(r->pattern, "/v1/tenants/{}");
    assert_int_equal(nparams, 1);
    assert_string_equal(params[0], "not-a-uuid");

    /* no placeholder: zero captures */
    assert_int_equal(
        route("GET", "/healthz", &r, params, &nparams, allow, sizeof(allow)),
        HK_OK);
    assert_string_equal(r->pattern, "/healthz");
    assert_int_equal(nparams, 0);
}

static void test_unknown_paths(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "",
        "/",
        "//",
        "/v1",
        "/v1/",
        "/v1/tenant",
        "/v1/tenantsx",
        "/V1/TENANTS",
        "/healthzz",
        "/healthz//",
        "/healthz/x",
        "//healthz",
        "/v1/tenants//",
        "/v1/tenants//endpoints",
        "/v1/tenants//endpoints/",
        "/v1/tenants/0190a6b4-1111-7111-8111-111111111111//",
        "/v1/tenants/0190a6b4-1111-7111-8111-111111111111/nothing",
        "/v1/tenants/0190a6b4-1111-7111-8111-111111111111/endpoints//secret",
        "/v1/tenants/0190a6b4-1111-7111-8111-111111111111/endpoints/"
        "0190a6b4-2222-7222-8222-222222222222/secret/extra",
        "/v1/event-types/a/b",
        "/v2/tenants",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(paths); i++) {
        for (int m = 0; m < 3; m++) {
            static const char *const methods[] = {"GET", "POST", "DELETE"};
            const struct hk_route *r = &hk_routes[0];
            char params[HK_MAX_PATH_PARAMS][129];
            int nparams;
            char allow[128];
            enum hk_result rc = route(methods[m], paths[i], &r, params,
                                      &nparams, allow, sizeof(allow));
            if (rc != HK_NOT_FOUND)
                fail_msg("%s \"%s\": %s", methods[m], paths[i],
                         hk_result_str(rc));
            assert_null(r);
            assert_string_equal(allow, "");
        }
    }
}

static void test_wrong_method(void **state)
{
    (void)state;
    const struct hk_route *r;
    char params[HK_MAX_PATH_PARAMS][129];
    int nparams;
    char allow[128];
    const char *tid = "0190a6b4-1111-7111-8111-111111111111";
    char path[256];

    snprintf(path, sizeof(path), "/v1/tenants/%s", tid);
    assert_int_equal(
        route("POST", path, &r, params, &nparams, allow, sizeof(allow)),
        HK_CONFLICT);
    assert_null(r);
    assert_string_equal(allow, "GET, PATCH, DELETE");

    snprintf(path, sizeof(path), "/v1/tenants/%s", tid);
    assert_int_equal(
        route("PUT", path, &r, params, &nparams, allow, sizeof(allow)),
        HK_CONFLICT);
    assert_string_equal(allow, "GET, PATCH, DELETE");

    assert_int_equal(route("DELETE", "/v1/tenants", &r, params, &nparams, allow,
                           sizeof(allow)),
                     HK_CONFLICT);
    assert_string_equal(allow, "POST, GET");

    assert_int_equal(
        route("POST", "/healthz", &r, params, &nparams, allow, sizeof(allow)),
        HK_CONFLICT);
    assert_string_equal(allow, "GET");

    /* methods are case-sensitive, like HTTP's */
    assert_int_equal(
        route("get", "/healthz", &r, params, &nparams, allow, sizeof(allow)),
        HK_CONFLICT);
    assert_string_equal(allow, "GET");

    /* every pattern: a method it does not offer gives exactly the table's
     * methods for it, in table order */
    for (size_t i = 0; i < hk_routes_len; i++) {
        char want[128];
        allow_for(hk_routes[i].pattern, want, sizeof(want));
        concrete(hk_routes[i].pattern, NULL, path, sizeof(path));
        enum hk_result rc =
            route("OPTIONS", path, &r, params, &nparams, allow, sizeof(allow));
        if (rc != HK_CONFLICT)
            fail_msg("OPTIONS %s: %s", path, hk_result_str(rc));
        assert_string_equal(allow, want);
    }
}

static void test_segment_length(void **state)
{
    (void)state;
    const struct hk_route *r;
    char params[HK_MAX_PATH_PARAMS][129];
    int nparams;
    char allow[128];
    char seg[200], path[512];

    memset(seg, 'a', 128);
    seg[128] = '\0';
    concrete("/v1/tenants/{}", seg, path, sizeof(path));
    assert_int_equal(
        route("GET", path, &r, params, &nparams, allow, sizeof(allow)), HK_OK);
    assert_int_equal(nparams, 1);
    assert_int_equal(strlen(params[0]), 128);
    assert_string_equal(params[0], seg);

    memset(seg, 'a', 129);
    seg[129] = '\0';
    static const char *const patterns[] = {
        "/v1/tenants/{}",
        "/v1/tenants/{}/endpoints",
        "/v1/tenants/{}/endpoints/{}",
        "/v1/event-types/{}",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(patterns); i++) {
        concrete(patterns[i], seg, path, sizeof(path));
        for (int m = 0; m < 2; m++) {
            enum hk_result rc = route(m ? "GET" : "PATCH", path, &r, params,
                                      &nparams, allow, sizeof(allow));
            if (rc != HK_NOT_FOUND)
                fail_msg("129-byte segment in %s: %s", patterns[i],
                         hk_result_str(rc));
        }
    }

    /* only the over-long one spoils the match */
    char ok_id[37];
    sample_id(0, ok_id);
    snprintf(path, sizeof(path), "/v1/tenants/%s/endpoints/%s", ok_id, seg);
    assert_int_equal(
        route("GET", path, &r, params, &nparams, allow, sizeof(allow)),
        HK_NOT_FOUND);
    snprintf(path, sizeof(path), "/v1/tenants/%s/endpoints/%s", seg, ok_id);
    assert_int_equal(
        route("GET", path, &r, params, &nparams, allow, sizeof(allow)),
        HK_NOT_FOUND);
}

static void test_no_duplicate_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < hk_routes_len; i++) {
        assert_non_null(hk_routes[i].method);
        assert_non_null(hk_routes[i].pattern);
        assert_non_null(hk_routes[i].fn);
        assert_true(hk_routes[i].pattern[0] == '/');
        for (size_t j = i + 1; j < hk_routes_len; j++)
            if (strcmp(hk_routes[i].method, hk_routes[j].method) == 0 &&
                strcmp(hk_routes[i].pattern, hk_routes[j].pattern) == 0)
                fail_msg("rows %zu and %zu are both %s %s", i, j,
                         hk_routes[i].method, hk_routes[i].pattern);
    }
}

/* A tenant-scoped route must have a tenant id to check. */
static void test_tenant_access_has_tenant_id(void **state)
{
    (void)state;
    for (size_t i = 0; i < hk_routes_len; i++)
        if (hk_routes[i].access == HK_ACCESS_TENANT &&
            strncmp(hk_routes[i].pattern, "/v1/tenants/{}", 14) != 0)
            fail_msg("%s %s is tenant-scoped without a tenant id",
                     hk_routes[i].method, hk_routes[i].pattern);
}

static void test_short_allow_buffer(void **state)
{
    (void)state;
    const struct hk_route *r;
    char params[HK_MAX_PATH_PARAMS][129];
    int nparams;
    char path[256];
    concrete("/v1/tenants/{}", NULL, path, sizeof(path));
    for (size_t len = 1; len <= 24; len++) {
        char buf[32];
        memset(buf, 'x', sizeof(buf));
        assert_int_equal(route("PUT", path, &r, params, &nparams, buf, len),
                         HK_CONFLICT);
        assert_true(memchr(buf, '\0', len) != NULL);
        for (size_t k = len; k < sizeof(buf); k++)
            assert_int_equal(buf[k], 'x');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_matches),
        cmocka_unit_test(test_captures_in_order),
        cmocka_unit_test(test_unknown_paths),
        cmocka_unit_test(test_wrong_method),
        cmocka_unit_test(test_segment_length),
        cmocka_unit_test(test_no_duplicate_rows),
        cmocka_unit_test(test_tenant_access_has_tenant_id),
        cmocka_unit_test(test_short_allow_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
