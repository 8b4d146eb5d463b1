/*
 * api_ops.c - the routes an operator's tooling uses: /healthz (the process
 * runs), /readyz (the database answers and the schema is current),
 * /metrics (Prometheus text) and /openapi.json, which is generated from
 * the route table itself so that it always lists every route that exists.
 */
#include "api.h"
#include "app.h"
#include "metrics.h"
#include "migrate.h"
#include "router.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hk_api_healthz(struct hk_req *req, struct hk_resp *resp)
{
    (void)req;
    hk_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

void hk_api_readyz(struct hk_req *req, struct hk_resp *resp)
{
    struct hk_conn *c = req->db ? req->db : hk_db_acquire(req->app->db);
    req->db = c;
    if (c == NULL) {
        hk_resp_error(resp, 503, "unavailable", NULL,
                      "the database is unavailable");
        return;
    }
    enum hk_result rc = hk_migrate_check(c, req->app->migrations_dir);
    if (rc == HK_CONFLICT)
        hk_resp_error(resp, 503, "unavailable", NULL,
                      "the database schema is behind: run `hookd migrate`");
    else if (rc != HK_OK)
        hk_resp_error(resp, 503, "unavailable", NULL,
                      "the database is unavailable");
    else
        hk_resp_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

void hk_api_metrics(struct hk_req *req, struct hk_resp *resp)
{
    long long depth = -1;
    struct hk_conn *c = hk_db_acquire(req->app->db);
    req->db = c;
    if (c != NULL && hk_store_queue_depth(c, &depth) != HK_OK)
        depth = -1;
    struct hk_buf b;
    hk_buf_init(&b);
    hk_metrics_render(&b, depth);
    hk_resp_raw(resp, 200, "text/plain; version=0.0.4", &b);
}

/* The name of a {} placeholder from the literal segment before it. */
static const char *param_name(const char *prev)
{
    static const struct {
        const char *seg, *name;
    } names[] = {{"tenants", "tid"},       {"api-keys", "kid"},
                 {"event-types", "name"},  {"endpoints", "eid"},
                 {"events", "evid"},       {"deliveries", "did"},
                 {"portal-sessions", "sid"}};
    for (size_t i = 0; i < HK_ARRAY_LEN(names); i++)
        if (strcmp(prev, names[i].seg) == 0)
            return names[i].name;
    return "id";
}

/* "/v1/tenants/{}/endpoints/{}" -> "/v1/tenants/{tid}/endpoints/{eid}"
 * and the list of its path parameters. */
static char *openapi_path(const char *pattern, json_t *params)
{
    struct hk_buf b;
    hk_buf_init(&b);
    char prev[64] = "";
    const char *s = pattern;
    while (*s != '\0') {
        if (s[0] == '{' && s[1] == '}') {
            const char *name = param_name(prev);
            hk_buf_printf(&b, "{%s}", name);
            json_array_append_new(
                params, json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name,
                                  "in", "path", "required", 1, "schema",
                                  "type", "string"));
            s += 2;
            continue;
        }
        if (*s == '/' && s[1] != '{') {
            size_t len = strcspn(s + 1, "/");
            if (len < sizeof(prev)) {
                memcpy(prev, s + 1, len);
                prev[len] = '\0';
            }
        }
        hk_buf_append(&b, s, 1);
        s++;
    }
    return hk_buf_steal(&b);
}

static const char *access_text(enum hk_access a)
{
    switch (a) {
    case HK_ACCESS_PUBLIC:
        return "No token.";
    case HK_ACCESS_ANY:
        return "Any valid token.";
    case HK_ACCESS_ADMIN:
        return "The operator's admin key.";
    case HK_ACCESS_SECRET:
        return "The admin key, or a token of this tenant other than a "
               "read-only portal session.";
    case HK_ACCESS_SIGN_OUT:
        return "A portal session token (it ends that session).";
    default:
        return "The admin key, or a token of this tenant.";
    }
}

void hk_api_openapi(struct hk_req *req, struct hk_resp *resp)
{
    (void)req;
    json_t *paths = json_object();
    for (size_t i = 0; i < hk_routes_len; i++) {
        const struct hk_route *r = &hk_routes[i];
        json_t *params = json_array();
        char *path = openapi_path(r->pattern, params);
        json_t *item = json_object_get(paths, path);
        if (item == NULL) {
            item = json_object();
            json_object_set_new(paths, path, item);
        }
        char method[16];
        size_t n = strlen(r->method);
        for (size_t k = 0; k < n && k < sizeof(method) - 1; k++)
            method[k] = (char)(r->method[k] | 0x20);
        method[n < sizeof(method) - 1 ? n : sizeof(method) - 1] = '\0';
        json_t *op = json_pack(
            "{s:s, s:s, s:o, s:{s:{s:s}, s:{s:s}}}", "summary", path,
            "description", access_text(r->access), "parameters", params,
            "responses", "2XX", "description", "Success", "default",
            "description", "An error: {\"error\": {code, message, field}}");
        if (r->access != HK_ACCESS_PUBLIC)
            json_object_set_new(op, "security",
                                json_pack("[{s:[]}]", "bearer"));
        if (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PATCH") == 0)
            json_object_set_new(
                op, "requestBody",
                json_pack("{s:{s:{s:{s:s}}}}", "content", "application/json",
                          "schema", "type", "object"));
        json_object_set_new(item, method, op);
        free(path);
    }
    json_t *doc = json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:{s:s, s:s}}}}", "openapi",
        "3.1.0", "info", "title", "hookd", "version", HK_VERSION,
        "description", "Multi-tenant webhook delivery service.", "paths",
        paths, "components", "securitySchemes", "bearer", "type", "http",
        "scheme", "bearer");
    hk_resp_json(resp, 200, doc);
}
