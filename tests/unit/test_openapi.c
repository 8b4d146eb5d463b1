/*
 * test_openapi.c - the embedded OpenAPI document (docs/openapi.json) and the
 * route table of router.c describe the same API: every route is documented
 * with its method and its path parameters, in order; every documented path
 * and method is routed; each operation's security matches the route's
 * access (no token, admin key only, any token, or a tenant's tokens, with a
 * "write" portal session where a "read" one is refused); and every
 * operation has a success answer, and an example for each JSON request
 * and answer, so that a client generated from the document is complete.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "openapi.h"
#include "router.h"

static json_t *doc;

static int load(void **state)
{
    (void)state;
    json_error_t e;
    doc = json_loadb((const char *)hk_openapi_doc, hk_openapi_doc_len, 0, &e);
    if (doc == NULL)
        fprintf(stderr, "docs/openapi.json: line %d: %s\n", e.line, e.text);
    return doc == NULL ? -1 : 0;
}

static int unload(void **state)
{
    (void)state;
    json_decref(doc);
    return 0;
}

/* The document's name for the {} after a literal segment; NULL if none. */
static const char *param_name(const char *seg, size_t len)
{
    static const struct {
        const char *seg, *name;
    } names[] = {{"tenants", "tid"},      {"api-keys", "kid"},
                 {"event-types", "name"}, {"endpoints", "eid"},
                 {"events", "evid"},      {"deliveries", "did"},
                 {"portal-sessions", "sid"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].seg) == len && strncmp(seg, names[i].seg, len) == 0)
            return names[i].name;
    return NULL;
}

/* "/v1/tenants/{}/endpoints/{}" -> "/v1/tenants/{tid}/endpoints/{eid}",
 * with the parameter names in order. */
static void doc_path(const char *pattern, char *out, size_t outlen,
                     const char *names[HK_MAX_PATH_PARAMS], int *nnames)
{
    size_t o = 0;
    const char *prev = "";
    size_t prevlen = 0;
    *nnames = 0;
    for (const char *p = pattern; *p != '\0';) {
        if (p[0] == '{' && p[1] == '}') {
            const char *name = param_name(prev, prevlen);
            if (name == NULL)
                fail_msg("%s: no parameter name after \"%.*s\"", pattern,
                         (int)prevlen, prev);
            assert_true(*nnames < HK_MAX_PATH_PARAMS);
            names[(*nnames)++] = name;
            int w = snprintf(out + o, outlen - o, "{%s}", name);
            assert_true(w > 0 && (size_t)w < outlen - o);
            o += (size_t)w;
            p += 2;
            continue;
        }
        if (p[0] == '/' && p[1] != '{') {
            prev = p + 1;
            prevlen = strcspn(prev, "/");
        }
        assert_true(o + 1 < outlen);
        out[o++] = *p++;
    }
    out[o] = '\0';
}

/* A parameter or other object, through its "$ref" when it has one. */
static json_t *deref(json_t *v)
{
    const char *ref = json_string_value(json_object_get(v, "$ref"));
    if (ref == NULL)
        return v;
    static const char prefix[] = "#/components/parameters/";
    if (strncmp(ref, prefix, sizeof(prefix) - 1) != 0)
        fail_msg("unexpected $ref %s", ref);
    json_t *p = json_object_get(
        json_object_get(json_object_get(doc, "components"), "parameters"),
        ref + sizeof(prefix) - 1);
    if (p == NULL)
        fail_msg("$ref %s names nothing", ref);
    return p;
}

static void lower(const char *method, char *out, size_t outlen)
{
    size_t n = strlen(method);
    assert_true(n < outlen);
    for (size_t k = 0; k <= n; k++)
        out[k] = (char)(method[k] >= 'A' && method[k] <= 'Z' ? method[k] + 32
                                                             : method[k]);
}

static json_t *operation_of(const struct hk_route *rt, char *path,
                            size_t pathlen, const char *names[], int *nnames)
{
    char method[16];
    doc_path(rt->pattern, path, pathlen, names, nnames);
    lower(rt->method, method, sizeof(method));
    json_t *item = json_object_get(json_object_get(doc, "paths"), path);
    json_t *op = json_object_get(item, method);
    if (!json_is_object(op))
        fail_msg("%s %s (route %s) is not in docs/openapi.json", rt->method,
                 path, rt->pattern);
    return op;
}

/* Every route is documented, with its path parameters in order. */
static void test_every_route_documented(void **state)
{
    (void)state;
    for (size_t i = 0; i < hk_routes_len; i++) {
        const struct hk_route *rt = &hk_routes[i];
        char path[512];
        const char *names[HK_MAX_PATH_PARAMS];
        int nnames, seen = 0;
        json_t *op = operation_of(rt, path, sizeof(path), names, &nnames);
        size_t k;
        json_t *pm;
        json_array_foreach(json_object_get(op, "parameters"), k, pm)
        {
            pm = deref(pm);
            const char *in = json_string_value(json_object_get(pm, "in"));
            if (in == NULL || strcmp(in, "path") != 0)
                continue;
            const char *name = json_string_value(json_object_get(pm, "name"));
            if (seen >= nnames || name == NULL ||
                strcmp(name, names[seen]) != 0 ||
                !json_is_true(json_object_get(pm, "required")))
                fail_msg("%s %s: path parameter %d is not the required "
                         "\"%s\"",
                         rt->method, path, seen,
                         seen < nnames ? names[seen] : "(none)");
            seen++;
        }
        if (seen != nnames)
            fail_msg("%s %s: %d path parameters documented, %d in the path",
                     rt->method, path, seen, nnames);
    }
}

/* Every documented path and method is routed. */
static void test_every_operation_routed(void **state)
{
    (void)state;
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op)
        {
            if (strcmp(method, "parameters") == 0 ||
                strcmp(method, "summary") == 0 ||
                strcmp(method, "description") == 0)
                continue;
            bool routed = false;
            for (size_t i = 0; i < hk_routes_len && !routed; i++) {
                char p[512], m[16];
                const char *names[HK_MAX_PATH_PARAMS];
                int nnames;
                doc_path(hk_routes[i].pattern, p, sizeof(p), names, &nnames);
                lower(hk_routes[i].method, m, sizeof(m));
                routed = strcmp(p, path) == 0 && strcmp(m, method) == 0;
            }
            if (!routed)
                fail_msg("docs/openapi.json documents %s %s, which no route "
                         "of router.c serves",
                         method, path);
        }
    }
}

/* The scopes the requirement of scheme asks for: NULL when the operation
 * does not take it, else "" or the first scope. */
static const char *requirement(json_t *security, const char *scheme)
{
    size_t i;
    json_t *req;
    json_array_foreach(security, i, req)
    {
        json_t *scopes = json_object_get(req, scheme);
        if (scopes == NULL)
            continue;
        if (json_object_size(req) != 1)
            fail_msg("a security requirement combines %s with another",
                     scheme);
        const char *first = json_string_value(json_array_get(scopes, 0));
        return first ? first : "";
    }
    return NULL;
}

/* Each operation's security is what router.c's access flag enforces. */
static void test_security_matches_access(void **state)
{
    (void)state;
    for (size_t i = 0; i < hk_routes_len; i++) {
        const struct hk_route *rt = &hk_routes[i];
        char path[512];
        const char *names[HK_MAX_PATH_PARAMS];
        int nnames;
        json_t *op = operation_of(rt, path, sizeof(path), names, &nnames);
        json_t *sec = json_object_get(op, "security");
        if (!json_is_array(sec))
            fail_msg("%s %s has no security", rt->method, path);
        const char *admin = requirement(sec, "adminKey");
        const char *key = requirement(sec, "tenantKey");
        const char *portal = requirement(sec, "portalSession");
        bool write_only = rt->access == HK_ACCESS_SECRET ||
                          (rt->access == HK_ACCESS_TENANT &&
                           strcmp(rt->method, "GET") != 0);
        bool ok;
        switch (rt->access) {
        case HK_ACCESS_PUBLIC:
            ok = json_array_size(sec) == 0;
            break;
        case HK_ACCESS_ADMIN:
            ok = json_array_size(sec) == 1 && admin && !admin[0];
            break;
        default:
            ok = json_array_size(sec) == 3 && admin && !admin[0] && key &&
                 !key[0] && portal &&
                 strcmp(portal, write_only ? "write" : "") == 0;
            break;
        }
        if (!ok)
            fail_msg("%s %s: security does not match the route's access %d",
                     rt->method, path, (int)rt->access);
    }
}

/* A JSON body (request or response) has a schema and an example. */
static void check_content(json_t *content, const char *what,
                          const char *method, const char *path)
{
    json_t *media = json_object_get(content, "application/json");
    if (media == NULL)
        media = json_object_get(content, "text/plain");
    if (!json_is_object(json_object_get(media, "schema")) ||
        json_object_get(media, "example") == NULL)
        fail_msg("%s %s: %s lacks a schema or an example", method, path,
                 what);
}

static void test_every_answer_described(void **state)
{
    (void)state;
    json_t *shared =
        json_object_get(json_object_get(doc, "components"), "responses");
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op)
        {
            json_t *body = json_object_get(op, "requestBody");
            if (body != NULL)
                check_content(json_object_get(body, "content"),
                              "the request body", method, path);
            bool success = false;
            const char *status;
            json_t *r;
            json_object_foreach(json_object_get(op, "responses"), status, r)
            {
                const char *ref =
                    json_string_value(json_object_get(r, "$ref"));
                if (ref != NULL)
                    r = json_object_get(shared, strrchr(ref, '/') + 1);
                if (r == NULL)
                    fail_msg("%s %s: response %s names nothing", method,
                             path, status);
                if (status[0] == '2')
                    success = true;
                if (strcmp(status, "204") != 0)
                    check_content(json_object_get(r, "content"), status,
                                  method, path);
            }
            if (!success)
                fail_msg("%s %s has no success answer", method, path);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_documented),
        cmocka_unit_test(test_every_operation_routed),
        cmocka_unit_test(test_security_matches_access),
        cmocka_unit_test(test_every_answer_described),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
