/*
 * api_admin.c - the operator's routes (tenants, API keys, event types),
 * GET /v1/me, and the helpers every handler shares: pagination, path ids
 * and optional string members.
 */
#include "api.h"
#include "app.h"
#include "auth.h"
#include "crypto.h"
#include "ids.h"
#include "jsonspan.h"
#include "store.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ---- */

bool hk_api_page_params(struct hk_req *req, struct hk_resp *resp,
                        const char *const *extra, int *limit, char after[37])
{
    const char *allowed[16] = {"limit", "cursor"};
    size_t n = 2;
    for (; extra != NULL && *extra != NULL && n < 15; extra++)
        allowed[n++] = *extra;
    allowed[n] = NULL;
    if (!hk_req_query_only(req, resp, allowed))
        return false;
    *limit = 50;
    after[0] = '\0';
    const char *l = hk_req_query(req, "limit");
    if (l != NULL) {
        char *end;
        long v = strtol(l, &end, 10);
        if (*l == '\0' || *end != '\0' || v < 1 || v > 250) {
            hk_resp_error(resp, 422, "validation_failed", "limit",
                          "limit must be a whole number from 1 to 250");
            return false;
        }
        *limit = (int)v;
    }
    const char *cur = hk_req_query(req, "cursor");
    if (cur != NULL && !hk_cursor_decode(cur, after)) {
        hk_resp_error(resp, 422, "validation_failed", "cursor",
                      "cursor is not one this API returned");
        return false;
    }
    return true;
}

void hk_api_page_respond(struct hk_resp *resp, json_t *rows, int limit,
                         const char *key)
{
    bool more = json_array_size(rows) > (size_t)limit;
    json_t *next = json_null();
    if (more) {
        json_array_remove(rows, (size_t)limit);
        json_t *last = json_array_get(rows, (size_t)limit - 1);
        char cur[128];
        hk_cursor_encode(json_string_value(json_object_get(last, key)), cur,
                         sizeof(cur));
        next = json_string(cur);
    }
    hk_resp_json(resp, 200,
                 json_pack("{s:o, s:b, s:o}", "data", rows, "has_more", more,
                           "next_cursor", next));
}

void hk_api_page_respond_text(struct hk_resp *resp,
                              const struct hk_text_rows *rows, int limit)
{
    bool more = rows->n > (size_t)limit;
    size_t n = more ? (size_t)limit : rows->n;
    struct hk_buf b;
    hk_buf_init(&b);
    hk_buf_puts(&b, "{\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            hk_buf_puts(&b, ",");
        hk_buf_puts(&b, rows->text[i]);
    }
    hk_buf_printf(&b, "],\"has_more\":%s,\"next_cursor\":",
                  more ? "true" : "false");
    if (more) {
        /* a cursor is URL-safe base64: nothing in it needs escaping */
        char cur[128];
        hk_cursor_encode(rows->key[n - 1], cur, sizeof(cur));
        hk_buf_printf(&b, "\"%s\"}", cur);
    } else {
        hk_buf_puts(&b, "null}");
    }
    hk_resp_raw(resp, 200, "application/json", &b);
}

bool hk_api_path_id(struct hk_req *req, struct hk_resp *resp, int index,
                    const char *what)
{
    if (index < req->nparams && hk_valid_uuid(req->params[index]))
        return true;
    hk_resp_error(resp, 404, "not_found", NULL, "%s not found", what);
    return false;
}

bool hk_api_opt_string(json_t *body, const char *key, struct hk_resp *resp,
                       const char **out)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (v == NULL)
        return true;
    if (!json_is_string(v)) {
        hk_resp_error(resp, 422, "validation_failed", key,
                      "%s must be a string", key);
        return false;
    }
    /* a C string ends at \u0000: the text after it would be dropped */
    if (hk_json_has_nul(v)) {
        hk_resp_error(resp, 422, "validation_failed", key,
                      "%s must not contain \\u0000", key);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

bool hk_api_jsonb_storable(json_t *v, const char *key, struct hk_resp *resp)
{
    if (v == NULL || hk_json_jsonb_storable(v))
        return true;
    hk_resp_error(resp, 422, "validation_failed", key,
                  "%s must not contain \\u0000 in a string", key);
    return false;
}

bool hk_api_tenant_exists(struct hk_req *req, struct hk_resp *resp,
                          struct hk_conn *c)
{
    if (req->auth.role == HK_ROLE_TENANT)
        return true; /* a tenant's token dies with its tenant */
    json_t *t;
    enum hk_result rc = hk_store_tenant_get(c, req->params[0], &t);
    json_decref(t);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "tenant");
    return rc == HK_OK;
}

static char *dump_or_null(json_t *v)
{
    return v ? hk_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* ---- /v1/me ---- */

void hk_api_me(struct hk_req *req, struct hk_resp *resp)
{
    if (!hk_req_query_only(req, resp, (const char *const[]){NULL}))
        return;
    if (req->auth.role == HK_ROLE_ADMIN) {
        hk_resp_json(resp, 200, json_pack("{s:s}", "role", "admin"));
        return;
    }
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    json_t *tenant;
    enum hk_result rc = hk_store_tenant_get(c, req->auth.tenant_id, &tenant);
    if (rc != HK_OK) {
        hk_resp_result(resp, rc, "tenant");
        return;
    }
    json_t *me = json_pack("{s:s, s:s, s:O}", "role", "tenant", "tenant_id",
                           req->auth.tenant_id, "tenant_name",
                           json_object_get(tenant, "name"));
    json_decref(tenant);
    if (req->auth.session_id[0] != '\0')
        json_object_set_new(
            me, "session",
            json_pack("{s:s, s:s, s:s}", "id", req->auth.session_id, "scope",
                      req->auth.read_only ? "read" : "write", "expires_at",
                      req->auth.session_expires_at));
    hk_resp_json(resp, 200, me);
}

/* ---- tenants ---- */

static bool tenant_fields(json_t *body, struct hk_resp *resp, bool create,
                          const char **name, char **metadata)
{
    *metadata = NULL;
    if (!hk_api_opt_string(body, "name", resp, name))
        return false;
    char msg[160];
    if (*name == NULL && create) {
        hk_resp_error(resp, 422, "validation_failed", "name",
                      "name is required");
        return false;
    }
    if (*name != NULL && !hk_valid_name(*name, msg, sizeof(msg))) {
        hk_resp_error(resp, 422, "validation_failed", "name", "This name %s",
                      msg);
        return false;
    }
    json_t *md = json_object_get(body, "metadata");
    if (md != NULL && !json_is_object(md)) {
        hk_resp_error(resp, 422, "validation_failed", "metadata",
                      "metadata must be a JSON object");
        return false;
    }
    if (!hk_api_jsonb_storable(md, "metadata", resp))
        return false;
    *metadata = dump_or_null(md);
    return true;
}

void hk_api_tenant_create(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const fields[] = {"name", "metadata", NULL};
    json_t *body, *out;
    const char *name;
    char *metadata;
    if (!hk_req_json(req, resp, fields, false, &body))
        return;
    if (tenant_fields(body, resp, true, &name, &metadata)) {
        struct hk_conn *c = hk_req_db(req, resp);
        enum hk_result rc = c ? hk_store_tenant_insert(c, name, metadata, &out)
                              : HK_DB;
        if (rc == HK_OK)
            hk_resp_json(resp, 201, out);
        else if (c != NULL)
            hk_resp_result(resp, rc, "tenant");
        free(metadata);
    }
    json_decref(body);
}

void hk_api_tenant_list(struct hk_req *req, struct hk_resp *resp)
{
    int limit;
    char after[37];
    json_t *rows;
    if (!hk_api_page_params(req, resp, NULL, &limit, after))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc =
        hk_store_tenant_list(c, after[0] ? after : NULL, limit, &rows);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "tenants");
    else
        hk_api_page_respond(resp, rows, limit, "id");
}

void hk_api_tenant_get(struct hk_req *req, struct hk_resp *resp)
{
    json_t *out;
    if (!hk_req_query_only(req, resp, (const char *const[]){NULL}))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc = hk_store_tenant_get(c, req->params[0], &out);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "tenant");
    else
        hk_resp_json(resp, 200, out);
}

/* The text of each limit to set, for hk_store_tenant_update. */
struct limits_text {
    char max_endpoints[16], events_per_second[16], max_payload_bytes[16];
};

/* Reads "limits" of a PATCH body into lim (docs/limits.md says each
 * limit's range, as the migration's checks do); false after answering. */
static bool limit_fields(json_t *body, struct hk_resp *resp,
                         struct hk_tenant_limits *lim, struct limits_text *t)
{
    static const struct {
        const char *key;
        long lo, hi;
        bool nullable;
    } known[] = {{"max_endpoints", 0, 100000, false},
                 {"events_per_second", 1, 1000000, false},
                 {"max_payload_bytes", 1, 64L * 1024 * 1024, true}};
    char *text[] = {t->max_endpoints, t->events_per_second,
                    t->max_payload_bytes};
    const char **dest[] = {&lim->max_endpoints, &lim->events_per_second,
                           &lim->max_payload_bytes};
    memset(lim, 0, sizeof(*lim));
    json_t *l = json_object_get(body, "limits");
    if (l == NULL)
        return true;
    if (!json_is_object(l)) {
        hk_resp_error(resp, 422, "validation_failed", "limits",
                      "limits must be an object");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(l, key, v)
    {
        size_t i = 0;
        while (i < HK_ARRAY_LEN(known) && strcmp(known[i].key, key) != 0)
            i++;
        char field[160];
        snprintf(field, sizeof(field), "limits.%.128s", key);
        if (i == HK_ARRAY_LEN(known)) {
            hk_resp_error(resp, 422, "validation_failed", field,
                          "unknown field");
            return false;
        }
        if (json_is_null(v) && known[i].nullable) {
            lim->set_max_payload = true;
            continue;
        }
        if (!json_is_integer(v) || json_integer_value(v) < known[i].lo ||
            json_integer_value(v) > known[i].hi) {
            hk_resp_error(resp, 422, "validation_failed", field,
                          "must be a whole number from %ld to %ld%s",
                          known[i].lo, known[i].hi,
                          known[i].nullable ? ", or null" : "");
            return false;
        }
        snprintf(text[i], 16, "%lld", (long long)json_integer_value(v));
        *dest[i] = text[i];
        if (known[i].nullable)
            lim->set_max_payload = true;
    }
    return true;
}

void hk_api_tenant_patch(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const fields[] = {"name", "metadata", "limits", NULL};
    json_t *body, *out;
    const char *name;
    char *metadata;
    struct hk_tenant_limits lim;
    struct limits_text lim_text;
    if (!hk_req_json(req, resp, fields, false, &body))
        return;
    if (limit_fields(body, resp, &lim, &lim_text) &&
        tenant_fields(body, resp, false, &name, &metadata)) {
        struct hk_conn *c = hk_req_db(req, resp);
        enum hk_result rc =
            c ? hk_store_tenant_update(c, req->params[0], name, metadata,
                                       &lim, &out)
              : HK_DB;
        if (rc == HK_OK)
            hk_resp_json(resp, 200, out);
        else if (c != NULL)
            hk_resp_result(resp, rc, "tenant");
        free(metadata);
    }
    json_decref(body);
}

void hk_api_tenant_delete(struct hk_req *req, struct hk_resp *resp)
{
    if (!hk_req_query_only(req, resp, (const char *const[]){NULL}))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc = hk_store_tenant_delete(c, req->params[0]);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "tenant");
    else
        hk_resp_no_content(resp);
}

/* ---- api keys ---- */

void hk_api_key_create(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const fields[] = {"name", NULL};
    json_t *body, *out;
    const char *name;
    char msg[160];
    if (!hk_req_json(req, resp, fields, false, &body))
        return;
    if (!hk_api_opt_string(body, "name", resp, &name))
        goto out;
    if (name == NULL || !hk_valid_name(name, msg, sizeof(msg))) {
        hk_resp_error(resp, 422, "validation_failed", "name", "This name %s",
                      name ? msg : "is required");
        goto out;
    }
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        goto out;
    char key[HK_KEY_LEN + 1], prefix[HK_KEY_PREFIX_LEN + 1];
    unsigned char hash[HK_SHA256_LEN];
    hk_auth_new_key(key, prefix, hash);
    enum hk_result rc =
        hk_store_key_insert(c, req->params[0], name, prefix, hash, &out);
    if (rc != HK_OK) {
        hk_resp_result(resp, rc, "tenant");
    } else {
        json_object_set_new(out, "key", json_string(key));
        hk_resp_json(resp, 201, out);
    }
out:
    json_decref(body);
}

void hk_api_key_list(struct hk_req *req, struct hk_resp *resp)
{
    int limit;
    char after[37];
    json_t *rows, *tenant;
    if (!hk_api_page_params(req, resp, NULL, &limit, after))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc = hk_store_tenant_get(c, req->params[0], &tenant);
    if (rc != HK_OK) {
        hk_resp_result(resp, rc, "tenant");
        return;
    }
    json_decref(tenant);
    rc = hk_store_key_list(c, req->params[0], after[0] ? after : NULL, limit,
                           &rows);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "api keys");
    else
        hk_api_page_respond(resp, rows, limit, "id");
}

void hk_api_key_delete(struct hk_req *req, struct hk_resp *resp)
{
    if (!hk_api_path_id(req, resp, 1, "api key"))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc = hk_store_key_delete(c, req->params[0], req->params[1]);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "api key");
    else
        hk_resp_no_content(resp);
}

/* ---- event types ---- */

static bool event_type_fields(json_t *body, struct hk_resp *resp,
                              const char **description, char **example,
                              bool *set_example, const char **archived)
{
    *example = NULL;
    *set_example = false;
    if (!hk_api_opt_string(body, "description", resp, description))
        return false;
    if (*description != NULL && strlen(*description) > 2000) {
        hk_resp_error(resp, 422, "validation_failed", "description",
                      "description is longer than 2000 characters");
        return false;
    }
    json_t *ex = json_object_get(body, "example");
    if (!hk_api_jsonb_storable(ex, "example", resp))
        return false;
    if (ex != NULL) {
        *set_example = true;
        if (!json_is_null(ex))
            *example = dump_or_null(ex);
    }
    json_t *ar = json_object_get(body, "archived");
    if (archived != NULL) {
        *archived = NULL;
        if (ar != NULL && !json_is_boolean(ar)) {
            hk_resp_error(resp, 422, "validation_failed", "archived",
                          "archived must be true or false");
            free(*example);
            *example = NULL;
            return false;
        }
        if (ar != NULL)
            *archived = json_is_true(ar) ? "true" : "false";
    }
    return true;
}

void hk_api_event_type_create(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const fields[] = {"name", "description", "example",
                                         NULL};
    json_t *body, *out;
    const char *name, *description;
    char *example;
    bool set_example;
    char msg[160];
    if (!hk_req_json(req, resp, fields, false, &body))
        return;
    if (!hk_api_opt_string(body, "name", resp, &name))
        goto out;
    if (name == NULL || !hk_valid_event_type_name(name, msg, sizeof(msg))) {
        hk_resp_error(resp, 422, "validation_failed", "name", "This name %s",
                      name ? msg : "is required");
        goto out;
    }
    if (!event_type_fields(body, resp, &description, &example, &set_example,
                           NULL))
        goto out;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c != NULL) {
        enum hk_result rc =
            hk_store_event_type_insert(c, name, description, example, &out);
        if (rc == HK_CONFLICT)
            hk_resp_error(resp, 409, "conflict", "name",
                          "an event type with this name exists");
        else if (rc != HK_OK)
            hk_resp_result(resp, rc, "event type");
        else
            hk_resp_json(resp, 201, out);
    }
    free(example);
out:
    json_decref(body);
}

void hk_api_event_type_patch(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const fields[] = {"description", "example", "archived",
                                         NULL};
    json_t *body, *out;
    const char *description, *archived;
    char *example;
    bool set_example;
    if (!hk_req_json(req, resp, fields, false, &body))
        return;
    if (event_type_fields(body, resp, &description, &example, &set_example,
                          &archived)) {
        struct hk_conn *c = hk_req_db(req, resp);
        if (c != NULL) {
            enum hk_result rc = hk_store_event_type_update(
                c, req->params[0], description, example, set_example,
                archived, &out);
            if (rc != HK_OK)
                hk_resp_result(resp, rc, "event type");
            else
                hk_resp_json(resp, 200, out);
        }
        free(example);
    }
    json_decref(body);
}

/* Event types are keyed by name, so their cursor carries the last name
 * (names are URL-safe by construction). */
void hk_api_event_type_list(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const allowed[] = {"limit", "cursor",
                                          "include_archived", NULL};
    if (!hk_req_query_only(req, resp, allowed))
        return;
    int limit = 50;
    const char *l = hk_req_query(req, "limit");
    if (l != NULL) {
        char *end;
        long v = strtol(l, &end, 10);
        if (*l == '\0' || *end != '\0' || v < 1 || v > 250) {
            hk_resp_error(resp, 422, "validation_failed", "limit",
                          "limit must be a whole number from 1 to 250");
            return;
        }
        limit = (int)v;
    }
    const char *ia = hk_req_query(req, "include_archived");
    if (ia != NULL && strcmp(ia, "true") != 0 && strcmp(ia, "false") != 0) {
        hk_resp_error(resp, 422, "validation_failed", "include_archived",
                      "include_archived must be true or false");
        return;
    }
    const char *after = NULL;
    const char *cur = hk_req_query(req, "cursor");
    if (cur != NULL) {
        char msg[160];
        if (strncmp(cur, "et_", 3) != 0 ||
            !hk_valid_event_type_name(cur + 3, msg, sizeof(msg))) {
            hk_resp_error(resp, 422, "validation_failed", "cursor",
                          "cursor is not one this API returned");
            return;
        }
        after = cur + 3;
    }
    struct hk_conn *c = hk_req_db(req, resp);
    json_t *rows;
    enum hk_result rc =
        c ? hk_store_event_type_list(c, ia && strcmp(ia, "true") == 0, after,
                                     limit, &rows)
          : HK_DB;
    if (c == NULL)
        return;
    if (rc != HK_OK) {
        hk_resp_result(resp, rc, "event types");
        return;
    }
    bool more = json_array_size(rows) > (size_t)limit;
    json_t *next = json_null();
    if (more) {
        json_array_remove(rows, (size_t)limit);
        const char *name = json_string_value(json_object_get(
            json_array_get(rows, (size_t)limit - 1), "name"));
        char *tok = hk_asprintf("et_%s", name ? name : "");
        next = json_string(tok);
        free(tok);
    }
    hk_resp_json(resp, 200,
                 json_pack("{s:o, s:b, s:o}", "data", rows, "has_more", more,
                           "next_cursor", next));
}
