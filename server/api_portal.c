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
        char ad[HK_SECRET_AD_LEN];
        hk_secret_binding(req->params[0], req->params[1], ad);
        hk_seal(req->app->cfg->secret_key, ad, strlen(ad), secret,
                strlen(secret), &sealed, &sealed_len);
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
                      "This event type %s", msg);
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
                req->app->wake(req->app->wake_ctx, false);
            hk_resp_json(resp, 202, out);
        }
    }
    json_decref(body);
}

/* Reads an RFC 3339 time member or query value; 422 naming it if bad.
 * Times before 1970 (ids are time-ordered from the Unix epoch, so nothing
 * is older) or past year 9999 (out of RFC 3339) are refused. */
static bool time_value(const char *v, const char *field,
                       struct hk_resp *resp, int64_t *ms)
{
    if (v != NULL && hk_parse_time(v, ms) && *ms >= 0 &&
        *ms <= HK_TIME_MAX_MS)
        return true;
    if (v != NULL && hk_parse_time(v, ms)) {
        hk_resp_error(resp, 422, "validation_failed", field,
                      "%s must be between 1970-01-01T00:00:00Z and "
                      "9999-12-31T23:59:59.999Z",
                      field);
        return false;
    }
    hk_resp_error(resp, 422, "validation_failed", field,
                  "Enter a date and time like 2026-11-22T10:04:05Z");
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
            req->app->wake(req->app->wake_ctx, false);
        hk_resp_json(resp, 202, json_pack("{s:I}", "replayed", n));
    }
}

void hk_api_stats(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const allowed[] = {"since", "until", "endpoint_id",
                                          NULL};
    if (!hk_req_query_only(req, resp, allowed))
        return;
    int64_t now = hk_now_ms(), until_ms = now,
            since_ms = now - 24 * 3600 * 1000LL;
    const char *since = hk_req_query(req, "since");
    const char *until = hk_req_query(req, "until");
    if ((since != NULL && !time_value(since, "since", resp, &since_ms)) ||
        (until != NULL && !time_value(until, "until", resp, &until_ms)))
        return;
    if (since_ms > now) {
        hk_resp_error(resp, 422, "validation_failed", "since",
                      "Choose a start that is not in the future");
        return;
    }
    if (until_ms <= since_ms) {
        hk_resp_error(resp, 422, "validation_failed", "until",
                      "Choose an end after the start");
        return;
    }
    if (now - since_ms > 366LL * 24 * 3600 * 1000) {
        hk_resp_error(resp, 422, "validation_failed", "since",
                      "Choose a start within the last 366 days");
        return;
    }
    const char *eid = hk_req_query(req, "endpoint_id");
    if (eid != NULL && !hk_valid_uuid(eid)) {
        hk_resp_error(resp, 422, "validation_failed", "endpoint_id",
                      "This is not an endpoint id");
        return;
    }
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL || !hk_api_tenant_exists(req, resp, c))
        return;
    char from[40], to[40];
    hk_format_time(since_ms, from, sizeof(from));
    hk_format_time(until_ms, to, sizeof(to));
    const char *bucket =
        until_ms - since_ms <= 48LL * 3600 * 1000 ? "hour" : "day";
    json_t *out;
    enum hk_result rc =
        hk_store_stats(c, req->params[0], from, to, eid, bucket, &out);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "stats");
    else
        hk_resp_json(resp, 200, out);
}

/* ---- live updates ---- */

/* How far back each answer looks again before the moment the previous
 * one was taken: a change is stamped with the start of its transaction
 * and becomes visible at its commit, so one that committed just after an
 * answer, stamped just before it, is in the next answer rather than
 * lost. An object may therefore come back in two consecutive answers. */
#define CHANGES_OVERLAP_US (5 * 1000 * 1000LL)
#define CHANGES_LIMIT 250
#define CHANGES_WAIT_MAX 30
#define CHANGES_WAIT_DEFAULT 25

/* The opaque cursor: "<seen>.<since>.<after>": what changed at or after
 * seen (µs) makes a parked request answer; an answer holds what changed
 * after (since, after) in (updated_at, id) order ("-": no id). */
struct changes_cursor {
    int64_t seen_us;
    int64_t since_us;
    char after[37];
};

static bool parse_us(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 17)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool parse_cursor(const char *s, struct changes_cursor *cur)
{
    const char *d1 = strchr(s, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d2 == NULL || !parse_us(s, (size_t)(d1 - s), &cur->seen_us) ||
        !parse_us(d1 + 1, (size_t)(d2 - d1 - 1), &cur->since_us))
        return false;
    const char *id = d2 + 1;
    if (strcmp(id, "-") == 0)
        cur->after[0] = '\0';
    else if (hk_valid_uuid(id))
        snprintf(cur->after, sizeof(cur->after), "%s", id);
    else
        return false;
    int64_t now_us = hk_now_ms() * 1000;
    /* from this server (whose clock may differ from the database's a
     * little), and no older than the change log keeps */
    return cur->since_us <= cur->seen_us &&
           cur->seen_us <= now_us + 3600LL * 1000000 &&
           cur->since_us >= now_us - (HK_CHANGES_KEEP_S - 60) * 1000000LL;
}

static char *format_cursor(const struct changes_cursor *cur)
{
    return hk_asprintf("%lld.%lld.%s", (long long)cur->seen_us,
                       (long long)cur->since_us,
                       cur->after[0] ? cur->after : "-");
}

struct changes_wait {
    char tenant_id[37];
    int64_t seen_us;
};

/* The waiter's check: has anything of the tenant changed since seen? */
static bool changes_ready(void *ctx, struct hk_conn *c)
{
    const struct changes_wait *w = ctx;
    struct hk_changes ch;
    if (hk_store_changes(c, w->tenant_id, w->seen_us, NULL, w->seen_us, 1,
                         &ch) != HK_OK)
        return false;
    bool ready = ch.fresh || ch.has_more;
    hk_changes_cleanup(&ch);
    return ready;
}

static void changes_answer(struct hk_resp *resp, struct hk_changes *ch,
                           const struct changes_cursor *next, bool empty)
{
    char *cursor = format_cursor(next);
    json_t *out = json_pack("{s:o, s:o, s:s, s:b}", "deliveries",
                            empty ? json_array() : json_incref(ch->deliveries),
                            "endpoints",
                            empty ? json_array() : json_incref(ch->endpoints),
                            "cursor", cursor, "has_more", ch->has_more);
    free(cursor);
    hk_resp_json(resp, 200, out);
    resp->cache_control = "no-store";
}

void hk_api_changes(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const allowed[] = {"cursor", "wait", NULL};
    if (!hk_req_query_only(req, resp, allowed))
        return;
    long wait = CHANGES_WAIT_DEFAULT;
    const char *w = hk_req_query(req, "wait");
    if (w != NULL) {
        int64_t v;
        if (!parse_us(w, strlen(w), &v) || v > CHANGES_WAIT_MAX) {
            hk_resp_error(resp, 422, "validation_failed", "wait",
                          "Enter a whole number of seconds from 0 to 30");
            return;
        }
        wait = (long)v;
    }
    struct changes_cursor cur;
    const char *given = hk_req_query(req, "cursor");
    if (given != NULL && !parse_cursor(given, &cur)) {
        hk_resp_error(resp, 422, "validation_failed", "cursor",
                      "This cursor is unknown or too old; start again "
                      "without one");
        return;
    }
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL || !hk_api_tenant_exists(req, resp, c))
        return;
    struct hk_changes ch;
    /* without a cursor: nothing yet, and the cursor of now */
    int64_t since = given ? cur.since_us : INT64_C(253402300799000000);
    enum hk_result rc = hk_store_changes(
        c, req->params[0], since, given && cur.after[0] ? cur.after : NULL,
        given ? cur.seen_us : since, CHANGES_LIMIT, &ch);
    if (rc != HK_OK) {
        hk_resp_result(resp, rc, "changes");
        return;
    }
    struct changes_cursor next = {0};
    if (ch.has_more) {
        next.seen_us = next.since_us = ch.last_us;
        snprintf(next.after, sizeof(next.after), "%s", ch.last_id);
    } else {
        next.seen_us = ch.now_us;
        next.since_us = ch.now_us - CHANGES_OVERLAP_US;
    }
    if (given == NULL) {
        changes_answer(resp, &ch, &next, true);
    } else if (ch.fresh || ch.has_more || wait == 0 || req->park_expired) {
        changes_answer(resp, &ch, &next, false);
    } else {
        /* nothing new: wait for it without holding a thread */
        if (req->park_deadline == 0)
            req->park_deadline = hk_mono_ms() + wait * 1000;
        struct changes_wait *cw = hk_calloc(1, sizeof(*cw));
        snprintf(cw->tenant_id, sizeof(cw->tenant_id), "%.36s",
                 req->params[0]);
        cw->seen_us = cur.seen_us;
        hk_req_park(req, req->park_deadline, changes_ready, cw);
    }
    hk_changes_cleanup(&ch);
}
