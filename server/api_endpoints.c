/*
 * api_endpoints.c - a tenant's endpoints: create, list, get, patch, delete
 * and reading the signing secret. Every field is validated here and each
 * failure names its field (`headers.Host`); the secret is generated at
 * creation and sealed with HOOKD_SECRET_KEY before it reaches the store.
 */
#include "api.h"
#include "app.h"
#include "crypto.h"
#include "ids.h"
#include "jsonspan.h"
#include "sign.h"
#include "store.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILTERS 100
#define MAX_HEADERS 50

/* Parsed and checked create/patch fields; heap strings freed by
 * fields_cleanup. */
struct ep_input {
    struct hk_endpoint_fields f;
    char *event_types;
    char *headers;
    char maxc[16];
    char rate[16];
};

static void fields_cleanup(struct ep_input *in)
{
    free(in->event_types);
    free(in->headers);
}

/* A 422 for field. msg is a sentence of its own (it starts with a capital
 * letter), or what the field "must be", which then gets a plain subject
 * rather than the field's name as a code word. */
static bool invalid(struct hk_resp *resp, const char *field, const char *msg)
{
    if (msg[0] >= 'A' && msg[0] <= 'Z')
        hk_resp_error(resp, 422, "validation_failed", field, "%s", msg);
    else
        hk_resp_error(resp, 422, "validation_failed", field, "This %s", msg);
    return false;
}

static bool parse_event_types(struct hk_conn *c, json_t *v,
                              struct hk_resp *resp, struct ep_input *in)
{
    if (!json_is_array(v))
        return invalid(resp, "event_types", "must be a list of names");
    size_t n = json_array_size(v);
    if (n > MAX_FILTERS)
        return invalid(resp, "event_types", "has more than 100 entries");
    const char *items[MAX_FILTERS];
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        char msg[160], field[32];
        snprintf(field, sizeof(field), "event_types.%zu", i);
        if (!json_is_string(e) || hk_json_has_nul(e))
            return invalid(resp, field, "must be a string without \\u0000");
        items[i] = json_string_value(e);
        /* the picker shows this beside the list: name what was typed */
        if (!hk_valid_event_type_filter(items[i], msg, sizeof(msg))) {
            hk_resp_error(resp, 422, "validation_failed", "event_types",
                          "No event type matches \"%.128s\"", items[i]);
            return false;
        }
    }
    in->event_types = hk_store_text_array(items, n);
    json_t *unknown;
    enum hk_result rc = hk_store_event_types_unknown(c, in->event_types,
                                                     &unknown);
    if (rc != HK_OK) {
        hk_resp_result(resp, rc, "event types");
        return false;
    }
    if (json_array_size(unknown) > 0) {
        hk_resp_error(resp, 422, "validation_failed", "event_types",
                      "No event type matches \"%.128s\"",
                      json_string_value(json_array_get(unknown, 0)));
        json_decref(unknown);
        return false;
    }
    json_decref(unknown);
    return true;
}

static bool parse_headers(json_t *v, struct hk_resp *resp,
                          struct ep_input *in)
{
    if (!json_is_object(v))
        return invalid(resp, "headers", "must be an object of strings");
    if (json_object_size(v) > MAX_HEADERS)
        return invalid(resp, "headers", "has more than 50 entries");
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val)
    {
        char msg[160], field[300];
        snprintf(field, sizeof(field), "headers.%s", key);
        if (!hk_valid_header_name(key, msg, sizeof(msg)))
            return invalid(resp, field, msg);
        if (!json_is_string(val) || hk_json_has_nul(val))
            return invalid(resp, field, "must be a string without \\u0000");
        if (!hk_valid_header_value(json_string_value(val), msg, sizeof(msg)))
            return invalid(resp, field, msg);
    }
    in->headers = json_dumps(v, JSON_COMPACT);
    return true;
}

static bool parse_int_field(json_t *body, const char *key, long lo, long hi,
                            bool nullable, struct hk_resp *resp, char out[16],
                            bool *present, bool *is_null)
{
    json_t *v = json_object_get(body, key);
    *present = v != NULL;
    *is_null = false;
    if (v == NULL)
        return true;
    if (json_is_null(v) && nullable) {
        *is_null = true;
        return true;
    }
    char msg[80];
    snprintf(msg, sizeof(msg), "must be a whole number from %ld to %ld%s", lo,
             hi, nullable ? ", or null" : "");
    if (!json_is_integer(v) || json_integer_value(v) < lo ||
        json_integer_value(v) > hi)
        return invalid(resp, key, msg);
    snprintf(out, 16, "%lld", (long long)json_integer_value(v));
    return true;
}

/* Checks the body's fields; on create, url is required. */
static bool parse_fields(struct hk_req *req, struct hk_resp *resp,
                         struct hk_conn *c, json_t *body, bool create,
                         struct ep_input *in)
{
    struct hk_endpoint_fields *f = &in->f;
    char msg[160];
    if (!hk_api_opt_string(body, "url", resp, &f->url))
        return false;
    if (f->url == NULL && create)
        return invalid(resp, "url", "is required");
    if (f->url != NULL &&
        !hk_valid_url(f->url, req->app->cfg->allow_private_targets, msg,
                      sizeof(msg)))
        return invalid(resp, "url", msg);
    if (!hk_api_opt_string(body, "description", resp, &f->description))
        return false;
    if (f->description != NULL && strlen(f->description) > 2000)
        return invalid(resp, "description", "is longer than 2000 characters");
    if (f->description != NULL &&
        !hk_valid_utf8(f->description, strlen(f->description)))
        return invalid(resp, "description", "is not valid UTF-8");
    json_t *en = json_object_get(body, "enabled");
    if (en != NULL && !json_is_boolean(en))
        return invalid(resp, "enabled", "must be true or false");
    if (en != NULL)
        f->enabled = json_is_true(en) ? "true" : "false";
    bool present, is_null;
    if (!parse_int_field(body, "max_concurrency", 1, 100, false, resp,
                         in->maxc, &present, &is_null))
        return false;
    if (present)
        f->max_concurrency = in->maxc;
    if (!parse_int_field(body, "rate_limit", 1, 100000, true, resp, in->rate,
                         &present, &is_null))
        return false;
    f->set_rate_limit = present;
    if (present && !is_null)
        f->rate_limit = in->rate;
    json_t *o = json_object_get(body, "ordering");
    if (o != NULL) {
        f->ordering = json_string_value(o);
        if (f->ordering == NULL || hk_json_has_nul(o) ||
            (strcmp(f->ordering, "unordered") != 0 &&
             strcmp(f->ordering, "fifo") != 0))
            return invalid(resp, "ordering",
                           "Ordering must be \"unordered\" or \"fifo\"");
    }
    json_t *h = json_object_get(body, "headers");
    if (h != NULL && !parse_headers(h, resp, in))
        return false;
    f->headers = in->headers;
    json_t *et = json_object_get(body, "event_types");
    if (et != NULL && !parse_event_types(c, et, resp, in))
        return false;
    f->event_types = in->event_types;
    return true;
}

static const char *const endpoint_fields[] = {
    "url",        "description", "event_types", "enabled", "max_concurrency",
    "rate_limit", "headers",     "ordering",    NULL};

void hk_api_endpoint_create(struct hk_req *req, struct hk_resp *resp)
{
    json_t *body, *out;
    struct ep_input in = {0};
    if (!hk_req_json(req, resp, endpoint_fields, false, &body))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c != NULL && parse_fields(req, resp, c, body, true, &in)) {
        char *secret = hk_secret_generate();
        char eid[HK_UUID_STRLEN], ad[HK_SECRET_AD_LEN];
        unsigned char *sealed;
        size_t sealed_len;
        hk_uuid7(eid);
        hk_secret_binding(req->params[0], eid, ad);
        hk_seal(req->app->cfg->secret_key, ad, strlen(ad), secret,
                strlen(secret), &sealed, &sealed_len);
        long max;
        enum hk_result rc = hk_store_endpoint_insert(
            c, req->params[0], eid, &in.f, sealed, sealed_len, &max, &out);
        if (rc == HK_OK)
            hk_resp_json(resp, 201, out);
        else if (rc == HK_DENIED)
            hk_resp_error(resp, 409, "limit_reached", NULL,
                          "this tenant has its limit of %ld endpoints: "
                          "delete one, or ask the operator to raise "
                          "limits.max_endpoints",
                          max);
        else
            hk_resp_result(resp, rc, "tenant");
        free(sealed);
        free(secret);
    }
    fields_cleanup(&in);
    json_decref(body);
}

void hk_api_endpoint_list(struct hk_req *req, struct hk_resp *resp)
{
    int limit;
    char after[37];
    json_t *rows;
    if (!hk_api_page_params(req, resp, NULL, &limit, after))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL || !hk_api_tenant_exists(req, resp, c))
        return;
    enum hk_result rc = hk_store_endpoint_list(
        c, req->params[0], after[0] ? after : NULL, limit, &rows);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "endpoints");
    else
        hk_api_page_respond(resp, rows, limit, "id");
}

void hk_api_endpoint_get(struct hk_req *req, struct hk_resp *resp)
{
    json_t *out;
    if (!hk_api_path_id(req, resp, 1, "endpoint") ||
        !hk_req_query_only(req, resp, (const char *const[]){NULL}))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc =
        hk_store_endpoint_get(c, req->params[0], req->params[1], &out);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "endpoint");
    else
        hk_resp_json(resp, 200, out);
}

void hk_api_endpoint_patch(struct hk_req *req, struct hk_resp *resp)
{
    json_t *body, *out;
    struct ep_input in = {0};
    if (!hk_api_path_id(req, resp, 1, "endpoint"))
        return;
    if (!hk_req_json(req, resp, endpoint_fields, false, &body))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c != NULL && parse_fields(req, resp, c, body, false, &in)) {
        enum hk_result rc = hk_store_endpoint_update(c, req->params[0],
                                                     req->params[1], &in.f,
                                                     &out);
        if (rc == HK_OK)
            hk_resp_json(resp, 200, out);
        else
            hk_resp_result(resp, rc, "endpoint");
    }
    fields_cleanup(&in);
    json_decref(body);
}

void hk_api_endpoint_delete(struct hk_req *req, struct hk_resp *resp)
{
    if (!hk_api_path_id(req, resp, 1, "endpoint") ||
        !hk_req_query_only(req, resp, (const char *const[]){NULL}))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc =
        hk_store_endpoint_delete(c, req->params[0], req->params[1]);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "endpoint");
    else
        hk_resp_no_content(resp);
}

void hk_api_endpoint_secret(struct hk_req *req, struct hk_resp *resp)
{
    if (!hk_api_path_id(req, resp, 1, "endpoint") ||
        !hk_req_query_only(req, resp, (const char *const[]){NULL}))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    unsigned char *sealed, *plain;
    size_t sealed_len, plain_len;
    enum hk_result rc = hk_store_endpoint_secret(c, req->params[0],
                                                 req->params[1], &sealed,
                                                 &sealed_len);
    if (rc != HK_OK) {
        hk_resp_result(resp, rc, "endpoint");
        return;
    }
    char ad[HK_SECRET_AD_LEN];
    hk_secret_binding(req->params[0], req->params[1], ad);
    rc = hk_open(req->app->cfg->secret_key, ad, strlen(ad), sealed,
                 sealed_len, &plain, &plain_len);
    free(sealed);
    if (rc != HK_OK) {
        /* sealed under another HOOKD_SECRET_KEY, for another endpoint,
         * or altered on disk */
        hk_resp_error(resp, 500, "internal", NULL,
                      "the endpoint secret cannot be decrypted with the "
                      "configured HOOKD_SECRET_KEY");
        return;
    }
    hk_resp_json(resp, 200,
                 json_pack("{s:s%}", "key", (const char *)plain, plain_len));
    free(plain);
}
