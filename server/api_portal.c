/*
 * api_portal.c - the routes the portal is built on: portal sessions (a
 * signed-in link for a tenant's developers), secret rotation, test events,
 * recovering failed deliveries, and delivery statistics.
 */
#include "api.h"
#include "app.h"
#include "crypto.h"
#include "sign.h"
#include "store.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_TOKEN_LEN 44 /* "hps_" + 40 */

void hk_api_session_create(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const fields[] = {"ttl_seconds", "scope", NULL};
    json_t *body;
    if (!hk_req_json(req, resp, fields, true, &body))
        return;
    json_t *ttl = json_object_get(body, "ttl_seconds");
    long long secs = 3600;
    if (ttl != NULL) {
        if (!json_is_integer(ttl) || json_integer_value(ttl) < 60 ||
            json_integer_value(ttl) > 86400) {
            hk_resp_error(resp, 422, "validation_failed", "ttl_seconds",
                          "Enter a whole number of seconds from 60 to "
                          "86400 (24 hours)");
            json_decref(body);
            return;
        }
        secs = json_integer_value(ttl);
    }
    const char *given;
    if (!hk_api_opt_string(body, "scope", resp, &given)) {
        json_decref(body);
        return;
    }
    const char *scope = "write";
    if (given != NULL && strcmp(given, "read") == 0)
        scope = "read";
    else if (given != NULL && strcmp(given, "write") != 0) {
        hk_resp_error(resp, 422, "validation_failed", "scope",
                      "Choose \"read\" or \"write\"");
        json_decref(body);
        return;
    }
    json_decref(body);
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    char token[SESSION_TOKEN_LEN + 1];
    unsigned char hash[HK_SHA256_LEN];
    memcpy(token, "hps_", 4);
    hk_random_token(token + 4, SESSION_TOKEN_LEN - 4);
    hk_sha256(token, SESSION_TOKEN_LEN, hash);
    json_t *out;
    enum hk_result rc = hk_store_session_insert(c, req->params[0], hash,
                                                (int)secs, scope, &out);
    if (rc != HK_OK) {
        hk_resp_result(resp, rc, "tenant");
        return;
    }
    /* the token rides in the fragment, which browsers never send */
    char *url = hk_asprintf("%s/portal/#token=%s", req->app->cfg->public_url,
                            token);
    json_object_set_new(out, "token", json_string(token));
    json_object_set_new(out, "url", json_string(url));
    free(url);
    hk_resp_json(resp, 201, out);
}

void hk_api_session_list(struct hk_req *req, struct hk_resp *resp)
{
    int limit;
    char after[37];
    json_t *rows;
    if (!hk_api_page_params(req, resp, NULL, &limit, after))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL || !hk_api_tenant_exists(req, resp, c))
        return;
    enum hk_result rc = hk_store_session_list(
        c, req->params[0], after[0] ? after : NULL, limit, &rows);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "sessions");
    else
        hk_api_page_respond(resp, rows, limit, "id");
}

void hk_api_session_delete(struct hk_req *req, struct hk_resp *resp)
{
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc =
        hk_store_session_delete(c, req->params[0], req->params[1]);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "portal session");
    else
        hk_resp_no_content(resp);
}

void hk_api_me_session_delete(struct hk_req *req, struct hk_resp *resp)
{
    if (req->auth.session_id[0] == '\0') {
        hk_resp_error(resp, 403, "forbidden", NULL,
                      "only a portal session can sign out; API keys are "
                      "deleted through their own route");
        return;
    }
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc = hk_store_session_delete(c, req->auth.tenant_id,
                                                req->auth.session_id);
    /* signed out twice at once: the session is gone either way */
    if (rc != HK_OK && rc != HK_NOT_FOUND)
        hk_resp_result(resp, rc, "portal session");
    else
        hk_resp_no_content(resp);
}

void hk_api_portal_config(struct hk_req *req, struct hk_resp *resp)
{
    if (!hk_req_query_only(req, resp, (const char *const[]){NULL}))
        return;
    const struct hk_config *cfg = req->app->cfg;
    hk_resp_json(resp, 200,
                 json_pack("{s:s, s:s}", "product_name", cfg->portal_name,
                           "accent_color", cfg->portal_accent));
    resp->cache_control = "no-cache";
}

void hk_api_endpoint_rotate(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const fields[] = {"key", NULL};
    json_t *body;
    if (!hk_req_json(req, resp, fields, true, &body))
        return;
    const char *given;
    if (!hk_api_opt_string(body, "key", resp, &given)) {
        json_decref(body);
        return;
    }
    if (given != NULL && hk_secret_check(given) != HK_OK) {
        hk_resp_error(resp, 422, "validation_failed", "key",
                      "key must be whsec_ followed by base64 of 24 to 64 "
                      "bytes");
        json_decref(body);
        return;
    }
    char *secret = given ? hk_strdup(given) : hk_secret_generate();
    json_decref(body);
    struct hk_conn *c = hk_req_db(req, resp);
    if (c != NULL) {
        unsigned char *sealed;
        size_t sealed_len;
        char prev[40];
        hk_seal(req->app->cfg->secret_key, secret, strlen(secret), &sealed,
                &sealed_len);
        enum hk_result rc = hk_store_endpoint_rotate(
            c, req->params[0], req->params[1], sealed, sealed_len, prev);
        if (rc != HK_OK)
            hk_resp_result(resp, rc, "endpoint");
        else
            hk_resp_json(resp, 200,
                         json_pack("{s:s, s:s}", "key", secret,
                                   "previous_expires_at", prev));
        free(sealed);
    }
    free(secret);
}

void hk_api_endpoint_test(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const fields[] = {"event_type", NULL};
    json_t *body, *out;
    char msg[160];
    if (!hk_req_json(req, resp, fields, true, &body))
        return;
    const char *type;
    if (!hk_api_opt_string(body, "event_type", resp, &type)) {
        json_decref(body);
        return;
    }
    if (type == NULL)
        type = "hookd.ping";
    if (!hk_valid_event_type_name(type, msg, sizeof(msg))) {
        hk_resp_error(resp, 422, "validation_failed", "event_type",
                      "event_type %s", msg);
        json_decref(body);
        return;
    }
    struct hk_conn *c = hk_req_db(req, resp);
    if (c != NULL) {
        char *payload = hk_asprintf(
            "{\"message\":\"a test event sent by hookd\","
            "\"endpoint_id\":\"%s\"}",
            req->params[1]);
        enum hk_result rc = hk_store_endpoint_test(
            c, req->params[0], req->params[1], type, payload, &out);
        free(payload);
        if (rc == HK_INVALID)
            hk_resp_error(resp, 422, "validation_failed", "event_type",
                          "event_type is not a known event type");
        else if (rc == HK_CONFLICT)
            hk_resp_error(resp, 409, "conflict", NULL,
                          "the endpoint is disabled");
        else if (rc != HK_OK)
            hk_resp_result(resp, rc, "endpoint");
        else {
            if (req->app->wake != NULL)
                req->app->wake(req->app->wake_ctx);
            hk_resp_json(resp, 202, out);
        }
    }
    json_decref(body);
}

/* Reads an RFC 3339 time member or query value; 422 naming it if bad. */
static bool time_value(const char *v, const char *field,
                       struct hk_resp *resp, int64_t *ms)
{
    if (v != NULL && hk_parse_time(v, ms))
        return true;
    hk_resp_error(resp, 422, "validation_failed", field,
                  "%s must be an RFC 3339 time like "
                  "2026-11-22T10:04:05.123Z",
                  field);
    return false;
}

void hk_api_endpoint_recover(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const fields[] = {"since", NULL};
    json_t *body;
    if (!hk_req_json(req, resp, fields, false, &body))
        return;
    const char *since;
    int64_t ms;
    if (!hk_api_opt_string(body, "since", resp, &since) ||
        !time_value(since, "since", resp, &ms)) {
        json_decref(body);
        return;
    }
    char when[40];
    hk_format_time(ms, when, sizeof(when));
    json_decref(body);
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    long long n;
    enum hk_result rc = hk_store_endpoint_recover(c, req->params[0],
                                                  req->params[1], when, &n);
    if (rc == HK_CONFLICT) {
        hk_resp_error(resp, 409, "conflict", NULL,
                      "the endpoint is disabled: enable it first");
    } else if (rc != HK_OK) {
        hk_resp_result(resp, rc, "endpoint");
    } else {
        if (n > 0 && req->app->wake != NULL)
            req->app->wake(req->app->wake_ctx);
        hk_resp_json(resp, 202, json_pack("{s:I}", "replayed", n));
    }
}

void hk_api_stats(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const allowed[] = {"since", "endpoint_id", NULL};
    if (!hk_req_query_only(req, resp, allowed))
        return;
    int64_t now = hk_now_ms(), since_ms = now - 24 * 3600 * 1000LL;
    const char *since = hk_req_query(req, "since");
    if (since != NULL && !time_value(since, "since", resp, &since_ms))
        return;
    if (since_ms > now) {
        hk_resp_error(resp, 422, "validation_failed", "since",
                      "since must not be in the future");
        return;
    }
    if (now - since_ms > 366LL * 24 * 3600 * 1000) {
        hk_resp_error(resp, 422, "validation_failed", "since",
                      "since must be within the last 366 days");
        return;
    }
    const char *eid = hk_req_query(req, "endpoint_id");
    if (eid != NULL && !hk_valid_uuid(eid)) {
        hk_resp_error(resp, 422, "validation_failed", "endpoint_id",
                      "endpoint_id must be an id");
        return;
    }
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL || !hk_api_tenant_exists(req, resp, c))
        return;
    char when[40];
    hk_format_time(since_ms, when, sizeof(when));
    const char *bucket = now - since_ms <= 48LL * 3600 * 1000 ? "hour" : "day";
    json_t *out;
    enum hk_result rc =
        hk_store_stats(c, req->params[0], when, eid, bucket, &out);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "stats");
    else
        hk_resp_json(resp, 200, out);
}
