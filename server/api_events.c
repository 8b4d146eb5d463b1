/*
 * api_events.c - ingest (POST events), the read side of events, deliveries
 * and attempts, replay and skip. The payload is stored and later sent as the
 * exact bytes the client posted: after jansson has validated the body,
 * jsonspan.c finds the top-level "payload" member in the raw text, so
 * nothing is re-serialised.
 */
#include "api.h"
#include "app.h"
#include "fanout.h"
#include "jsonspan.h"
#include "metrics.h"
#include "ratelimit.h"
#include "sign.h"
#include "store.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool valid_idempotency_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x20 || k[i] > 0x7e)
            return false;
    return true;
}

/* The answer for an event written in a group (store.h, hk_ingest):
 * rendered as text, not built as a tree and serialised, since its payload
 * is the exact text the request sent (GET shows it so too) and the rest
 * are ids, a count and a time. The event type needs no escaping: it is
 * letters, digits, '_', '-' and '.' (hk_valid_event_type_name). */
static void respond_grouped(struct hk_resp *resp, const struct hk_ingest *in,
                            const char *payload, size_t payload_len)
{
    struct hk_buf b;
    hk_buf_init(&b);
    hk_buf_printf(&b,
                  "{\"id\":\"%s\",\"tenant_id\":\"%s\",\"event_type\":"
                  "\"%s\",\"payload\":",
                  in->id, in->stored_tenant_id, in->event_type);
    hk_buf_append(&b, payload, payload_len);
    hk_buf_printf(&b,
                  ",\"idempotency_key\":null,\"deliveries\":%ld,"
                  "\"created_at\":\"%s\"}",
                  in->deliveries, in->created_at);
    hk_resp_raw(resp, 202, "application/json", &b);
}

/* The wall clock in µs, as the attempt timeline's (deliver.c). */
static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The tenant's event rate and payload limit (docs/limits.md), once a
 * token of its bucket has been asked for the event (rc, g): over the rate
 * 429, then the payload's size, as posted, against the tenant's
 * max_payload_bytes (payload_len 0: not checked yet). False after
 * answering. */
static bool within_limits(struct hk_resp *resp, enum hk_result rc,
                          const struct hk_rate_grant *g, size_t payload_len)
{
    if (rc == HK_DENIED) {
        resp->retry_after = (int)((g->retry_after_ms + 999) / 1000);
        hk_resp_error(resp, 429, "rate_limited", NULL,
                      "this tenant posts more events per second than its "
                      "limit (limits.events_per_second); retry after %d s",
                      resp->retry_after);
        return false;
    }
    if (rc != HK_OK) {
        hk_resp_result(resp, rc, "tenant");
        return false;
    }
    if (g->max_payload_bytes > 0 &&
        payload_len > (size_t)g->max_payload_bytes) {
        hk_resp_error(resp, 413, "payload_too_large", "payload",
                      "the payload is %zu bytes, larger than this tenant's "
                      "limit of %ld (limits.max_payload_bytes)",
                      payload_len, g->max_payload_bytes);
        return false;
    }
    return true;
}

/* Writes the event once the tenant's limits allow it. When this process
 * holds a token of the tenant's bucket, one is spent and the event goes
 * in the next group, carrying a take of more tokens when they run low
 * (ratelimit.h). When it holds none, the batch is taken by the group
 * statement that writes the event, in its transaction: one round trip
 * and one commit, where a take of its own would add both before the
 * event's (an event with an Idempotency-Key, written alone, still takes
 * first). Whatever that statement did not decide (the group failed, the
 * tenant is missing, the type is refused) goes the way of a take of its
 * own, then the event alone, so the answers are those of that way. False
 * after answering; else *rc is hk_fanout_ingest's. *take says where the
 * token came from, and *limited_us (when not 0) is set to when the event
 * went to be written, for the debug log's timeline. */
static bool ingest_within_limits(struct hk_req *req, struct hk_resp *resp,
                                 struct hk_conn *c, struct hk_ingest *in,
                                 json_t **out, bool *created,
                                 enum hk_result *rc, const char **take,
                                 int64_t *limited_us)
{
    *take = "held";
    struct hk_rate_ticket t = {0};
    struct hk_rate_grant g = {0};
    const char *tid = req->params[0];
    if (req->app->rate != NULL) {
        *rc = hk_rate_reserve(req->app->rate, tid,
                              in->idempotency_key == NULL, &t, &g);
        if (!within_limits(resp, *rc, &g,
                           t.want > 0 ? 0 : in->payload_bytes)) {
            hk_rate_cancel(&t); /* a top-up this event was to carry */
            return false;
        }
    }
    if (t.want > 0 && in->idempotency_key != NULL) {
        *take = "own";
        *rc = hk_rate_settle(&t, NULL, c, tid, &g);
        if (!within_limits(resp, *rc, &g, in->payload_bytes))
            return false;
    }
    in->take_want = t.want;
    if (*limited_us != 0)
        *limited_us = wall_us();
    *rc = hk_fanout_ingest(req->app->fanout, c, in, out, created);
    in->take_want = 0;
    if (t.want == 0)
        return true;
    if (t.want < 0 || (*rc != HK_OK && *rc != HK_DENIED)) {
        /* a top-up: the event's fate is its own, whatever the take's */
        if (t.want < 0)
            *take = "held_topping_up";
        if (in->taken) {
            enum hk_result trc = hk_rate_settle(&t, &in->take, c, tid, &g);
            (void)trc;
        } else {
            hk_rate_cancel(&t);
        }
        return true;
    }
    bool written = *rc == HK_OK;
    *take = in->taken ? "with_event" : "own";
    *rc = hk_rate_settle(&t, in->taken ? &in->take : NULL, c, tid, &g);
    if (written) {
        /* its own statement granted the token it was written with */
        *rc = HK_OK;
        return true;
    }
    if (!within_limits(resp, *rc, &g, in->payload_bytes))
        return false;
    *rc = hk_fanout_ingest(req->app->fanout, c, in, out, created);
    return true;
}

/* The answer for an event written alone: the event the store read back,
 * with the payload as the exact text posted (for a repeated key, the
 * first event's payload is that same text), not as jansson would print
 * its numbers again. Takes the reference to ev. */
static void respond_with_payload(struct hk_resp *resp, int status, json_t *ev,
                                 const char *payload, size_t payload_len)
{
    json_object_del(ev, "payload");
    char *text = hk_json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    struct hk_buf b;
    hk_buf_init(&b);
    /* the object's text without its closing brace, then the payload */
    size_t n = text != NULL ? strlen(text) : 0;
    if (n >= 2)
        hk_buf_append(&b, text, n - 1);
    else
        hk_buf_puts(&b, "{");
    hk_buf_puts(&b, b.len > 1 ? ",\"payload\":" : "\"payload\":");
    hk_buf_append(&b, payload, payload_len);
    hk_buf_puts(&b, "}");
    free(text);
    hk_resp_raw(resp, status, "application/json", &b);
}

/* The debug log's line for one event written: when its handler began
 * (the body read), when the tenant's rate let it go to be written (for a
 * token taken by the statement that writes it: when it went), when its
 * answer was ready, and where the token it was
 * written with came from (held by the process, taken by the statement
 * that wrote it, or by a statement of its own before), so that with the
 * client's send time and the event's created_at (its transaction's start)
 * an operator can tell the API's threads from its statements. */
static void log_ingest_timeline(const char *event_id, int64_t handler_us,
                                int64_t limited_us, const char *take)
{
    char v[3][24];
    snprintf(v[0], sizeof(v[0]), "%lld", (long long)handler_us);
    snprintf(v[1], sizeof(v[1]), "%lld", (long long)limited_us);
    snprintf(v[2], sizeof(v[2]), "%lld", (long long)wall_us());
    hk_log_debug("ingest timeline", "event_id", event_id, "handler_us", v[0],
                 "limited_us", v[1], "answered_us", v[2], "take", take);
}

void hk_api_event_create(struct hk_req *req, struct hk_resp *resp)
{
    int64_t handler_us = hk_log_enabled(HK_LOG_DEBUG) ? wall_us() : 0;
    static const char *const fields[] = {"event_type", "payload", NULL};
    json_t *body, *out = NULL;
    char msg[160];
    if (!hk_req_query_only(req, resp, (const char *const[]){NULL}) ||
        !hk_req_json(req, resp, fields, false, &body))
        return;
    const char *type;
    size_t ps, pe;
    if (!hk_api_opt_string(body, "event_type", resp, &type))
        goto out;
    if (type == NULL || !hk_valid_event_type_name(type, msg, sizeof(msg))) {
        hk_resp_error(resp, 422, "validation_failed", "event_type",
                      "This event type %s", type ? msg : "is required");
        goto out;
    }
    if (json_object_get(body, "payload") == NULL ||
        !hk_json_member_span(req->body, req->body_len, "payload", &ps, &pe)) {
        hk_resp_error(resp, 422, "validation_failed", "payload",
                      "payload is required");
        goto out;
    }
    const char *key = hk_req_header(req, "Idempotency-Key");
    if (key != NULL && !valid_idempotency_key(key)) {
        hk_resp_error(resp, 400, "bad_request", "Idempotency-Key",
                      "Idempotency-Key must be 1 to 255 printable ASCII "
                      "characters");
        goto out;
    }
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        goto out;
    char *payload = hk_strndup(req->body + ps, pe - ps);
    struct hk_ingest in = {.tenant_id = req->params[0],
                           .event_type = type,
                           .payload = payload,
                           .payload_bytes = pe - ps,
                           .idempotency_key = key};
    bool created = false;
    enum hk_result rc;
    const char *take;
    int64_t limited_us = handler_us;
    if (!ingest_within_limits(req, resp, c, &in, &out, &created, &rc,
                              &take, &limited_us)) {
        /* answered */
    } else if (rc == HK_CONFLICT) {
        hk_resp_error(resp, 409, "conflict", "Idempotency-Key",
                      "this Idempotency-Key was used with another "
                      "event_type or payload");
    } else if (rc == HK_INVALID && in.refused != NULL) {
        hk_resp_error(resp, 422, "validation_failed", "event_type",
                      "This event type %s", in.refused);
    } else if (rc != HK_OK) {
        hk_resp_result(resp, rc, "tenant");
    } else {
        if (created) {
            int n = out != NULL ? (int)json_integer_value(
                                      json_object_get(out, "deliveries"))
                                : (int)in.deliveries;
            hk_metrics_event_ingested(n);
            if (n > 0 && req->app->wake != NULL && !in.woken)
                req->app->wake(req->app->wake_ctx, in.unowned);
        }
        if (created && handler_us != 0)
            log_ingest_timeline(
                out != NULL ? json_string_value(json_object_get(out, "id"))
                            : in.id,
                handler_us, limited_us, take);
        if (out != NULL)
            respond_with_payload(resp, created ? 202 : 200, out, payload,
                                 pe - ps);
        else
            respond_grouped(resp, &in, payload, pe - ps);
    }
    free(payload);
out:
    json_decref(body);
}

void hk_api_event_list(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const extra[] = {"event_type", NULL};
    int limit;
    char after[37], msg[160];
    struct hk_text_rows rows = {0};
    if (!hk_api_page_params(req, resp, extra, &limit, after))
        return;
    const char *type = hk_req_query(req, "event_type");
    if (type != NULL && !hk_valid_event_type_name(type, msg, sizeof(msg))) {
        hk_resp_error(resp, 422, "validation_failed", "event_type",
                      "This event type %s", msg);
        return;
    }
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL || !hk_api_tenant_exists(req, resp, c))
        return;
    enum hk_result rc = hk_store_event_list(
        c, req->params[0], type, after[0] ? after : NULL, limit, &rows);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "events");
    else
        hk_api_page_respond_text(resp, &rows, limit);
    hk_text_rows_cleanup(&rows);
}

void hk_api_event_get(struct hk_req *req, struct hk_resp *resp)
{
    if (!hk_api_path_id(req, resp, 1, "event") ||
        !hk_req_query_only(req, resp, (const char *const[]){NULL}))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    struct hk_buf out;
    hk_buf_init(&out);
    enum hk_result rc =
        hk_store_event_get(c, req->params[0], req->params[1], &out);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "event");
    else
        hk_resp_raw(resp, 200, "application/json", &out);
    hk_buf_cleanup(&out);
}

static bool uuid_query(struct hk_req *req, struct hk_resp *resp,
                       const char *name, const char **out)
{
    *out = hk_req_query(req, name);
    if (*out == NULL || hk_valid_uuid(*out))
        return true;
    hk_resp_error(resp, 422, "validation_failed", name, "%s must be an id",
                  name);
    return false;
}

/* An optional RFC 3339 query value, normalised into buf (40 bytes). */
static bool time_query(struct hk_req *req, struct hk_resp *resp,
                       const char *name, char *buf, const char **out)
{
    const char *v = hk_req_query(req, name);
    int64_t ms;
    *out = NULL;
    if (v == NULL)
        return true;
    if (!hk_parse_time(v, &ms)) {
        hk_resp_error(resp, 422, "validation_failed", name,
                      "Enter a date and time like 2026-11-22T10:04:05Z");
        return false;
    }
    hk_format_time(ms, buf, 40);
    *out = buf;
    return true;
}

void hk_api_delivery_list(struct hk_req *req, struct hk_resp *resp)
{
    static const char *const extra[] = {
        "status",        "endpoint_id",    "event_id", "event_type",
        "created_after", "created_before", "search",   NULL};
    int limit;
    char after[37], msg[160];
    json_t *rows;
    struct hk_delivery_filter f = {0};
    if (!hk_api_page_params(req, resp, extra, &limit, after))
        return;
    f.status = hk_req_query(req, "status");
    if (f.status != NULL && strcmp(f.status, "pending") != 0 &&
        strcmp(f.status, "sending") != 0 &&
        strcmp(f.status, "succeeded") != 0 &&
        strcmp(f.status, "failed") != 0) {
        hk_resp_error(resp, 422, "validation_failed", "status",
                      "status must be pending, sending, succeeded or "
                      "failed");
        return;
    }
    if (!uuid_query(req, resp, "endpoint_id", &f.endpoint_id) ||
        !uuid_query(req, resp, "event_id", &f.event_id))
        return;
    f.event_type = hk_req_query(req, "event_type");
    if (f.event_type != NULL &&
        !hk_valid_event_type_name(f.event_type, msg, sizeof(msg))) {
        hk_resp_error(resp, 422, "validation_failed", "event_type",
                      "This event type %s", msg);
        return;
    }
    char after_t[40], before_t[40];
    if (!time_query(req, resp, "created_after", after_t, &f.created_after) ||
        !time_query(req, resp, "created_before", before_t,
                    &f.created_before) ||
        !uuid_query(req, resp, "search", &f.search))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL || !hk_api_tenant_exists(req, resp, c))
        return;
    enum hk_result rc = hk_store_delivery_list(
        c, req->params[0], &f, after[0] ? after : NULL, limit, &rows);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "deliveries");
    else
        hk_api_page_respond(resp, rows, limit, "id");
}

void hk_api_delivery_get(struct hk_req *req, struct hk_resp *resp)
{
    json_t *out;
    if (!hk_api_path_id(req, resp, 1, "delivery") ||
        !hk_req_query_only(req, resp, (const char *const[]){NULL}))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc =
        hk_store_delivery_get(c, req->params[0], req->params[1], &out);
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "delivery");
    else
        hk_resp_json(resp, 200, out);
}

/* Adds request.method and request.body, the exact body that was sent
 * (every attempt of a delivery sends the same one), to each attempt. */
static enum hk_result add_request_body(struct hk_conn *c, const char *tid,
                                       const char *did, json_t *rows)
{
    struct hk_buf type, payload, body;
    char time[40];
    hk_buf_init(&type);
    hk_buf_init(&payload);
    hk_buf_init(&body);
    enum hk_result rc =
        hk_store_delivery_event(c, tid, did, &type, time, &payload);
    if (rc == HK_OK) {
        hk_webhook_body(type.data, time, payload.data, &body);
        size_t i;
        json_t *a;
        json_array_foreach(rows, i, a)
        {
            json_t *rq = json_object_get(a, "request");
            json_object_set_new(rq, "method", json_string("POST"));
            json_object_set_new(rq, "body",
                                json_stringn(body.data, body.len));
        }
    }
    hk_buf_cleanup(&type);
    hk_buf_cleanup(&payload);
    hk_buf_cleanup(&body);
    return rc;
}

void hk_api_attempt_list(struct hk_req *req, struct hk_resp *resp)
{
    int limit;
    char after[37];
    json_t *rows;
    if (!hk_api_path_id(req, resp, 1, "delivery") ||
        !hk_api_page_params(req, resp, NULL, &limit, after))
        return;
    struct hk_conn *c = hk_req_db(req, resp);
    if (c == NULL)
        return;
    enum hk_result rc =
        hk_store_attempt_list(c, req->params[0], req->params[1],
                              after[0] ? after : NULL, limit, &rows);
    if (rc == HK_OK && json_array_size(rows) > 0) {
        rc = add_request_body(c, req->params[0], req->params[1], rows);
        if (rc != HK_OK)
            json_decref(rows);
    }
    if (rc != HK_OK)
        hk_resp_result(resp, rc, "delivery");
    else
        hk_api_page_respond(resp, rows, limit, "id");
}

/* What every action on one delivery (replay, skip) reads first: the
 * delivery id in the path, no query, and no body or an empty JSON object.
 * Returns the request's database connection, or NULL once the answer is
 * set. */
static struct hk_conn *delivery_action(struct hk_req *req, struct hk_resp *resp)
{
    json_t *body;
    if (!hk_api_path_id(req, resp, 1, "delivery") ||
        !hk_req_query_only(req, resp, (const char *const[]){NULL}) ||
        !hk_req_json(req, resp, (const char *const[]){NULL}, true, &body))
        return NULL;
    json_decref(body);
    return hk_req_db(req, resp);
}

/* The answer to an action that changed the delivery's place in the queue:
 * the dispatchers are woken so that they read it again now. */
static void delivery_acted(struct hk_req *req, struct hk_resp *resp, int status,
                           json_t *out)
{
    if (req->app->wake != NULL)
        req->app->wake(req->app->wake_ctx, false);
    hk_resp_json(resp, status, out);
}

void hk_api_delivery_replay(struct hk_req *req, struct hk_resp *resp)
{
    json_t *out;
    struct hk_conn *c = delivery_action(req, resp);
    if (c == NULL)
        return;
    bool sending;
    enum hk_result rc = hk_store_delivery_replay(c, req->params[0],
                                                 req->params[1], &out,
                                                 &sending);
    if (rc == HK_CONFLICT && sending) {
        hk_resp_error(resp, 409, "conflict", NULL,
                      "this delivery is being sent now");
    } else if (rc == HK_CONFLICT) {
        hk_resp_error(resp, 409, "conflict", NULL,
                      "the delivery cannot be replayed: its endpoint is "
                      "disabled or deleted");
    } else if (rc != HK_OK) {
        hk_resp_result(resp, rc, "delivery");
    } else {
        delivery_acted(req, resp, 202, out);
    }
}

void hk_api_delivery_skip(struct hk_req *req, struct hk_resp *resp)
{
    json_t *out;
    struct hk_conn *c = delivery_action(req, resp);
    if (c == NULL)
        return;
    char status[16];
    enum hk_result rc = hk_store_delivery_skip(c, req->params[0],
                                               req->params[1], &out, status);
    if (rc == HK_CONFLICT && strcmp(status, "sending") == 0) {
        hk_resp_error(resp, 409, "conflict", NULL,
                      "this delivery is being sent now: skip it once its "
                      "attempt has ended, if it is still pending");
    } else if (rc == HK_CONFLICT) {
        hk_resp_error(resp, 409, "conflict", NULL,
                      "only a pending delivery can be skipped; this one "
                      "has %s",
                      status);
    } else if (rc != HK_OK) {
        hk_resp_result(resp, rc, "delivery");
    } else {
        delivery_acted(req, resp, 200, out);
    }
}
