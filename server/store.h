/*
 * store.h - every runtime query of hookd, grouped by resource in
 * store_*.c. Rows leave PostgreSQL already shaped as the API's JSON
 * objects (json_build_object), so one representation serves the API, the
 * portal and the tests. The tenant id is the first argument of every
 * tenant function and the first filter of every tenant query.
 *
 * Lists: `after` is the id of the last row of the previous page or NULL;
 * `limit` rows at most come back, plus one more when there is a next page
 * (the API layer trims it). Objects returned through json_t ** belong to
 * the caller (json_decref).
 */
#ifndef HK_STORE_H
#define HK_STORE_H

#include "db.h"
#include "ids.h"

#include <jansson.h>

/* The status the API shows for the deliveries row d: a pending, due
 * delivery that its endpoint's owner holds (waiting in its lane, or in
 * flight), unchanged since the owner wrote so, is being sent
 * (migrations/0024_endpoint_holding.sql). */
#define HK_SQL_SENDING                                                     \
    "(d.next_attempt_at <= now() AND EXISTS (SELECT 1"                     \
    " FROM hookd.endpoint_owners k WHERE k.tenant_id = d.tenant_id"        \
    " AND k.endpoint_id = d.endpoint_id AND k.lease_until > now()"         \
    " AND d.id = ANY (k.holding) AND d.updated_at < k.held_at))"
#define HK_SQL_DELIVERY_STATUS                                            \
    "(CASE WHEN d.status = 'pending' AND " HK_SQL_SENDING                   \
    " THEN 'sending' ELSE d.status END)"

/* What a fifo endpoint e waits for (docs/api.md, ordered delivery): its
 * head, the pending delivery of lowest id, when that head has failed an
 * attempt and waits for its retry rather than being sent; NULL otherwise
 * and for every unordered endpoint. The head is one probe of the queue's
 * key, (tenant_id, endpoint_id, delivery_id)
 * (migrations/0026_queue_key.sql), so a list of endpoints costs one probe
 * per fifo endpoint, not a walk of its backlog. The range on endpoint_id,
 * checked after the LIMIT, is deliberate: it leaves the planner only the
 * key's order, where an equality lets it read the endpoint's rows through
 * another index of the queue and sort them, its whole backlog. */
#define HK_SQL_ENDPOINT_BLOCKED_BY                                         \
    "(CASE WHEN e.ordering = 'fifo' THEN (SELECT json_build_object("      \
    " 'delivery_id', d.id, 'event_id', d.event_id,"                      \
    " 'attempt_count', d.attempt_count,"                                  \
    " 'next_attempt_at', hookd.rfc3339(d.next_attempt_at),"               \
    " 'last_status_code', d.last_status_code, 'last_error', d.last_error)" \
    " FROM (SELECT h.endpoint_id, h.delivery_id FROM hookd.queue h"       \
    "  WHERE h.tenant_id = e.tenant_id AND h.endpoint_id >= e.id"         \
    "  ORDER BY h.endpoint_id, h.delivery_id LIMIT 1) head"               \
    " JOIN hookd.deliveries d ON d.tenant_id = e.tenant_id"               \
    "  AND d.id = head.delivery_id"                                       \
    " WHERE head.endpoint_id = e.id"                                      \
    "  AND d.status = 'pending' AND d.attempt_count > 0"                  \
    "  AND d.next_attempt_at > now() AND NOT " HK_SQL_SENDING ") END)"

/* The API's delivery object of the deliveries row d, and its endpoint
 * object of the endpoints row e. */
#define HK_SQL_DELIVERY_JSON                                                        \
    "json_build_object('id', d.id, 'tenant_id', d.tenant_id,"                \
    " 'event_id', d.event_id, 'endpoint_id', d.endpoint_id,"                 \
    " 'event_type', d.event_type, 'status', " HK_SQL_DELIVERY_STATUS ","     \
    " 'attempt_count', d.attempt_count,"                                     \
    " 'next_attempt_at', hookd.rfc3339(d.next_attempt_at),"                  \
    " 'last_status_code', d.last_status_code, 'last_error', d.last_error,"   \
    " 'created_at', hookd.rfc3339(d.created_at),"                            \
    " 'updated_at', hookd.rfc3339(d.updated_at),"                            \
    " 'completed_at', hookd.rfc3339(d.completed_at))"

#define HK_SQL_ENDPOINT_JSON                                                              \
    "json_build_object('id', e.id, 'tenant_id', e.tenant_id, 'url', e.url,"  \
    " 'description', e.description, 'event_types', to_json(e.event_types),"  \
    " 'enabled', e.enabled, 'disabled_reason', e.disabled_reason,"           \
    " 'max_concurrency', e.max_concurrency,"                                  \
    " 'current_concurrency', LEAST(COALESCE(e.current_concurrency,"          \
    " e.max_concurrency), e.max_concurrency), 'rate_limit', e.rate_limit,"    \
    " 'headers', e.headers, 'ordering', e.ordering,"                          \
    " 'blocked_by', " HK_SQL_ENDPOINT_BLOCKED_BY ","                          \
    " 'created_at', hookd.rfc3339(e.created_at),"                            \
    " 'updated_at', hookd.rfc3339(e.updated_at))"

/* Shared helpers: run sql and return the single json column of the first
 * row (HK_NOT_FOUND without rows) or of every row as an array. */
enum hk_result hk_store_one(struct hk_conn *c, const char *sql, int n,
                            const char *const *p, json_t **out) HK_MUST_CHECK;
enum hk_result hk_store_many(struct hk_conn *c, const char *sql, int n,
                             const char *const *p,
                             json_t **out) HK_MUST_CHECK;
/* Rows of JSON text exactly as PostgreSQL rendered them, never parsed
 * (an event's payload holds whatever numbers its sender wrote, 1e400
 * included), each with the key a cursor carries. Caller's storage:
 * hk_text_rows_cleanup frees the rows. */
struct hk_text_rows {
    size_t n;
    char **text;
    char **key;
};
void hk_text_rows_cleanup(struct hk_text_rows *rows);
/* Runs sql, whose columns are the row's JSON text and its key. */
enum hk_result hk_store_many_text(struct hk_conn *c, const char *sql, int n,
                                  const char *const *p,
                                  struct hk_text_rows *out) HK_MUST_CHECK;
/* Formats a C string list as a PostgreSQL text[] literal; caller frees. */
char *hk_store_text_array(const char *const *items, size_t n);
/* A PostgreSQL text[] literal built element by element, for parameters
 * of a few elements (the batched statements send theirs in binary form,
 * see struct hk_pgbin): elements are quoted and escaped, NULL is SQL NULL. hk_pgarr_done returns
 * the literal (the caller frees it); the builder is then spent. */
struct hk_pgarr {
    struct hk_buf b;
};
void hk_pgarr_init(struct hk_pgarr *a);
void hk_pgarr_text(struct hk_pgarr *a, const char *s);
char *hk_pgarr_done(struct hk_pgarr *a);

/* tenants */
enum hk_result hk_store_tenant_insert(struct hk_conn *c, const char *name,
                                      const char *metadata,
                                      json_t **out) HK_MUST_CHECK;
enum hk_result hk_store_tenant_list(struct hk_conn *c, const char *after,
                                    int limit, json_t **out) HK_MUST_CHECK;
enum hk_result hk_store_tenant_get(struct hk_conn *c, const char *tid,
                                   json_t **out) HK_MUST_CHECK;
/* A tenant's limits to set (docs/limits.md); NULL strings keep the
 * current value, except that set_max_payload with max_payload_bytes NULL
 * removes the tenant's own payload limit. */
struct hk_tenant_limits {
    const char *max_endpoints;
    const char *events_per_second;
    const char *max_payload_bytes;
    bool set_max_payload;
};
enum hk_result hk_store_tenant_update(struct hk_conn *c, const char *tid,
                                      const char *name, const char *metadata,
                                      const struct hk_tenant_limits *lim,
                                      json_t **out) HK_MUST_CHECK;
/* What hookd.take_event_tokens answered (ratelimit.c). */
struct hk_rate_take {
    long granted;
    long rate;
    long max_payload_bytes; /* 0: none of the tenant's own */
    long wait_ms;
};
/* Takes up to want tokens of tenant tid's event-rate bucket; HK_NOT_FOUND
 * when there is no such tenant. */
enum hk_result hk_store_tenant_take_tokens(struct hk_conn *c, const char *tid,
                                           long want,
                                           struct hk_rate_take *out)
    HK_MUST_CHECK;
enum hk_result hk_store_tenant_delete(struct hk_conn *c,
                                      const char *tid) HK_MUST_CHECK;

/* api keys: the key itself is made by the caller, only its hash and
 * prefix are stored. */
enum hk_result hk_store_key_insert(struct hk_conn *c, const char *tid,
                                   const char *name, const char *prefix,
                                   const unsigned char hash[32],
                                   json_t **out) HK_MUST_CHECK;
enum hk_result hk_store_key_list(struct hk_conn *c, const char *tid,
                                 const char *after, int limit,
                                 json_t **out) HK_MUST_CHECK;
enum hk_result hk_store_key_delete(struct hk_conn *c, const char *tid,
                                   const char *kid) HK_MUST_CHECK;
/* Finds the key whose prefix and hash match; fills tenant and key ids.
 * Updates last_used_at when it is more than a minute old. */
enum hk_result hk_store_key_authenticate(struct hk_conn *c,
                                         const char *prefix,
                                         const unsigned char hash[32],
                                         char tid[37],
                                         char kid[37]) HK_MUST_CHECK;

/* event types (global) */
enum hk_result hk_store_event_type_insert(struct hk_conn *c, const char *name,
                                          const char *description,
                                          const char *example,
                                          json_t **out) HK_MUST_CHECK;
/* NULL arguments leave the column as it is; archived is "true"/"false". */
enum hk_result hk_store_event_type_update(struct hk_conn *c, const char *name,
                                          const char *description,
                                          const char *example,
                                          bool set_example,
                                          const char *archived,
                                          json_t **out) HK_MUST_CHECK;
/* Ordered newest first by (created_at, name); after is a name. */
enum hk_result hk_store_event_type_list(struct hk_conn *c,
                                        bool include_archived,
                                        const char *after, int limit,
                                        json_t **out) HK_MUST_CHECK;
/* Names among the filter entries (a text[] literal) that are neither
 * wildcards nor known types, as a JSON array. */
enum hk_result hk_store_event_types_unknown(struct hk_conn *c,
                                            const char *names,
                                            json_t **out) HK_MUST_CHECK;

/* endpoints */
struct hk_endpoint_fields {
    const char *url;
    const char *description;
    const char *event_types; /* text[] literal */
    const char *enabled;     /* "true"/"false" */
    const char *max_concurrency;
    const char *rate_limit;  /* NULL to keep; see set_rate_limit */
    bool set_rate_limit;     /* on update: rate_limit (maybe NULL) applies */
    const char *headers;     /* JSON object text */
    const char *ordering;    /* "unordered" or "fifo" */
};
/* id is made by the caller (hk_uuid7): the secret is sealed to it.
 * HK_DENIED when the tenant already has its max_endpoints endpoints (that
 * limit in *max_endpoints); concurrent inserts for one tenant are
 * serialised, so the limit holds. */
enum hk_result hk_store_endpoint_insert(struct hk_conn *c, const char *tid,
                                        const char *id,
                                        const struct hk_endpoint_fields *f,
                                        const unsigned char *secret_enc,
                                        size_t secret_len, long *max_endpoints,
                                        json_t **out) HK_MUST_CHECK;
enum hk_result hk_store_endpoint_list(struct hk_conn *c, const char *tid,
                                      const char *after, int limit,
                                      json_t **out) HK_MUST_CHECK;
enum hk_result hk_store_endpoint_get(struct hk_conn *c, const char *tid,
                                     const char *eid,
                                     json_t **out) HK_MUST_CHECK;
enum hk_result hk_store_endpoint_update(struct hk_conn *c, const char *tid,
                                        const char *eid,
                                        const struct hk_endpoint_fields *f,
                                        json_t **out) HK_MUST_CHECK;
/* Soft-deletes the endpoint; its pending deliveries end failed. */
enum hk_result hk_store_endpoint_delete(struct hk_conn *c, const char *tid,
                                        const char *eid) HK_MUST_CHECK;
/* The sealed secret; *out is a heap buffer the caller frees. */
enum hk_result hk_store_endpoint_secret(struct hk_conn *c, const char *tid,
                                        const char *eid, unsigned char **out,
                                        size_t *outlen) HK_MUST_CHECK;

/* An endpoint's secrets as sealed in the first format (crypto.h). */
struct hk_sealed_row {
    char tenant_id[HK_UUID_STRLEN];
    char endpoint_id[HK_UUID_STRLEN];
    unsigned char *secret;
    size_t secret_len;
    unsigned char *prev; /* NULL when none */
    size_t prev_len;
};
/* Up to 200 endpoints (deleted ones too) whose secrets are of the first
 * format, in (tenant, id) order after the given pair (NULLs: from the
 * start). *out is freed with hk_store_sealed_rows_free. */
enum hk_result hk_store_secrets_first_format(struct hk_conn *c,
                                             const char *after_tid,
                                             const char *after_eid,
                                             struct hk_sealed_row **out,
                                             size_t *n) HK_MUST_CHECK;
void hk_store_sealed_rows_free(struct hk_sealed_row *rows, size_t n);
/* Replaces old's secrets with their re-sealed blobs (prev NULL for none)
 * and marks the row of the current format; *done is false when the row
 * changed meanwhile (a rotation) and was left alone. */
enum hk_result hk_store_secret_reseal(struct hk_conn *c,
                                      const struct hk_sealed_row *old,
                                      const unsigned char *secret,
                                      size_t secret_len,
                                      const unsigned char *prev,
                                      size_t prev_len,
                                      bool *done) HK_MUST_CHECK;

/* events, deliveries, attempts */
struct hk_ingest {
    const char *tenant_id;
    const char *event_type;
    const char *payload;          /* exact JSON text of the payload */
    const char *idempotency_key;  /* or NULL */
    const char *refused; /* set on HK_INVALID: why the type is refused */
    bool woken; /* its group woke the dispatchers (fanout.c) */
    /* hk_store_event_ingest: an endpoint it was fanned out to has no
     * owner under a live lease (hk_dispatcher_wake) */
    bool unowned;
    /* Tokens of the tenant's event-rate bucket to take in the statement
     * that writes the event (ratelimit.h, hk_rate_reserve), so that the
     * take and the event share one round trip and one commit; 0: none;
     * > 0: the event may be written only with a token granted; < 0: a
     * top-up of -take_want, the event having spent a token held.
     * payload_bytes is the payload's size as posted, which that statement
     * holds against the tenant's max_payload_bytes. taken: the statement
     * took them, and take is what hookd.take_event_tokens answered. */
    long take_want;
    size_t payload_bytes;
    bool taken;
    struct hk_rate_take take;
    /* Set when a group wrote it (hk_fanout_ingest's out is then NULL):
     * what only the database knew, for the answer (api_events.c) */
    char id[HK_UUID_STRLEN];
    char stored_tenant_id[HK_UUID_STRLEN]; /* as PostgreSQL writes it */
    char created_at[40];
    long deliveries;
};
/* Inserts the event and its fan-out deliveries with hookd.ingest_event,
 * the ingest hookd.send_event shares (the caller wakes the dispatchers).
 * *created is false when the idempotency key was seen before with the
 * same event type and payload (out is then the first event);
 * HK_CONFLICT when it was seen with another type or payload; HK_NOT_FOUND
 * without the tenant; HK_INVALID with in->refused set when the event type
 * is unknown or archived. */
enum hk_result hk_store_event_ingest(struct hk_conn *c,
                                     struct hk_ingest *in,
                                     json_t **out,
                                     bool *created) HK_MUST_CHECK;
/* One event of a group ingest. */
struct hk_ingest_item {
    struct hk_ingest *in; /* without an idempotency key; its id,
                             stored_tenant_id, created_at and deliveries
                             are set when inserted */
    bool inserted;        /* the event and its deliveries were written */
    bool unowned; /* set on every item of a group that gave a delivery to
                     an endpoint with no owner under a live lease */
};
/* Inserts the events of items[0..n) and the fan-out of each in one
 * statement, so that they share one commit. An item whose tenant is
 * missing or whose type is unknown or archived is left not inserted:
 * hk_store_event_ingest says why. An item with take_want first takes
 * that many tokens (its absolute value) of its tenant's bucket, in the
 * same statement (at most one such item per tenant); with take_want > 0
 * it is inserted only when a token was granted and its payload is within
 * the tenant's max_payload_bytes; its taken and take say what the take
 * answered. On any error nothing was written and nothing taken. */
enum hk_result hk_store_event_ingest_group(struct hk_conn *c,
                                           struct hk_ingest_item *items,
                                           size_t n) HK_MUST_CHECK;
/* Events as JSON text, the payload as stored (see struct hk_text_rows). */
enum hk_result hk_store_event_list(struct hk_conn *c, const char *tid,
                                   const char *event_type, const char *after,
                                   int limit,
                                   struct hk_text_rows *out) HK_MUST_CHECK;
enum hk_result hk_store_event_get(struct hk_conn *c, const char *tid,
                                  const char *evid,
                                  struct hk_buf *out) HK_MUST_CHECK;

struct hk_delivery_filter {
    const char *status;
    const char *endpoint_id;
    const char *event_id;
    const char *event_type;
    const char *created_after;  /* RFC 3339, inclusive */
    const char *created_before; /* RFC 3339, exclusive */
    const char *search;         /* a delivery id or an event id */
};
enum hk_result hk_store_delivery_list(struct hk_conn *c, const char *tid,
                                      const struct hk_delivery_filter *f,
                                      const char *after, int limit,
                                      json_t **out) HK_MUST_CHECK;
enum hk_result hk_store_delivery_get(struct hk_conn *c, const char *tid,
                                     const char *did,
                                     json_t **out) HK_MUST_CHECK;
/* The event type, event time (RFC 3339) and payload of a delivery's
 * event, appended to the caller's buffers: what its body is made of
 * (hk_webhook_body). HK_NOT_FOUND without the delivery. */
enum hk_result hk_store_delivery_event(struct hk_conn *c, const char *tid,
                                       const char *did, struct hk_buf *type,
                                       char time[40],
                                       struct hk_buf *payload) HK_MUST_CHECK;
/* Oldest first; after is the id of the last attempt seen. */
enum hk_result hk_store_attempt_list(struct hk_conn *c, const char *tid,
                                     const char *did, const char *after,
                                     int limit, json_t **out) HK_MUST_CHECK;
/* Makes a delivery due now: a finished one goes back to pending with a
 * fresh retry cycle, a pending one keeps its cycle and attempt history.
 * HK_CONFLICT when its endpoint is disabled or deleted, or when it is
 * being sent (then *sending is true). */
enum hk_result hk_store_delivery_replay(struct hk_conn *c, const char *tid,
                                        const char *did, json_t **out,
                                        bool *sending) HK_MUST_CHECK;

/* Ends a pending delivery that is not being sent as failed, with
 * last_error "skipped", and answers it. HK_CONFLICT when it is being sent
 * or has finished (status then holds "sending", "succeeded" or "failed"),
 * HK_NOT_FOUND when the tenant has no such delivery. */
enum hk_result hk_store_delivery_skip(struct hk_conn *c, const char *tid,
                                      const char *did, json_t **out,
                                      char status[16]) HK_MUST_CHECK;

/* How long hookd.changes keeps a row, and so how old a live updates
 * cursor may be. */
#define HK_CHANGES_KEEP_S 3600
/* What changed for the tenant since since_us (µs since the epoch; after,
 * when not NULL, is the id of the last delivery already seen at exactly
 * since_us): deliveries in the order of their updated_at, at most limit
 * (has_more when there were more; last_us and last_id are those of the
 * last one returned), and endpoints, each in its current state. fresh is
 * true when one of them changed at or after seen_us; now_us is the
 * database's clock. The caller frees with hk_changes_cleanup. */
struct hk_changes {
    json_t *deliveries;
    json_t *endpoints;
    bool has_more;
    bool fresh;
    int64_t now_us;
    int64_t last_us;
    char last_id[37];
};
enum hk_result hk_store_changes(struct hk_conn *c, const char *tid,
                                int64_t since_us, const char *after,
                                int64_t seen_us, int limit,
                                struct hk_changes *out) HK_MUST_CHECK;
void hk_changes_cleanup(struct hk_changes *ch);
/* Deletes hookd.changes rows older than HK_CHANGES_KEEP_S. */
enum hk_result hk_store_changes_purge(struct hk_conn *c) HK_MUST_CHECK;

/* Counts for /metrics: pending+sending rows. */
enum hk_result hk_store_queue_depth(struct hk_conn *c,
                                    long long *depth) HK_MUST_CHECK;

/* ---- the dispatcher's queries (store_dispatch.c) ---- */

/* One claimed delivery with what is needed to send it. */
struct hk_claim {
    char tenant_id[37];
    char delivery_id[37];
    char event_id[37];
    char endpoint_id[37];
    unsigned char delivery_bin[HK_UUID_BYTES]; /* the two ids as bytes */
    unsigned char endpoint_bin[HK_UUID_BYTES];
    int attempt_count;  /* attempts made before this one */
    int cycle_attempts; /* of those, since the last replay */
    int rate_limit;     /* 0 when none */
    int max_concurrency; /* the endpoint's, at the claim */
    int64_t failing_since_ms; /* the endpoint's, at the claim; 0: none */
    /* the endpoint's current_concurrency at the claim, 0 when it is
     * max_concurrency */
    int current_concurrency;
    bool fifo; /* the endpoint's ordering is fifo */
    char *url;
    char *headers;      /* JSON object text */
    unsigned char *secret_enc;
    size_t secret_len;
    unsigned char *prev_enc; /* NULL unless a rotated-out key still signs */
    size_t prev_len;
    char *event_type;
    char *payload;
    char event_time[40]; /* RFC 3339 of the event's created_at */
};
/* How many of an endpoint's max_concurrency its owner may hold when the
 * endpoint has no rate_limit: the deliveries beyond its slots wait in the
 * owner's lane for the endpoint and start as its requests end, so a freed
 * slot does not wait for the next claim. */
#define HK_LANE_DEPTH 2
#define HK_STR_(x) #x
#define HK_STR(x) HK_STR_(x)

/* Claims up to limit due deliveries, fairly, of the enabled endpoints the
 * caller (owner) owns under a live lease (hk_store_own), visited in turns
 * by tenant in random order. It only reads: while the caller owns an
 * endpoint, no other dispatcher claims its deliveries. live_ids names the
 * deliveries the caller holds and has not finished, and live_eps their
 * endpoints, in the same order; done_ids the deliveries of requests that
 * have their answer but whose outcome may not be recorded yet (each a
 * list of 16-byte ids, ids.h, or NULL for none). The claim steps over
 * both, and counts the held ones less the answered ones against each
 * endpoint's slots: max_concurrency (HK_LANE_DEPTH times it without a
 * rate_limit), rate_limit per claim, and one, the head of its queue in
 * delivery order, for a fifo endpoint. Endpoints listed in exclude (a
 * uuid[] literal or NULL) are skipped; those of cap_ids (a uuid[]
 * literal, or NULL) get no more than the matching number of caps (an
 * int[] literal) held at once: their answers hold their requests in
 * flight below max_concurrency. *out is an array the caller frees with
 * hk_store_claims_free. *more is false when the claim took every due
 * delivery it could see (none is left until more is ingested, a retry
 * comes due or slots free up at an endpoint that had none), true when
 * some may be left (the limit, or an endpoint's slots, ran out, or the
 * claim failed). */
enum hk_result hk_store_claim(struct hk_conn *c, const char *owner,
                              int limit, const char *exclude,
                              const char *cap_ids, const char *caps,
                              const struct hk_buf *done_ids,
                              const struct hk_buf *live_ids,
                              const struct hk_buf *live_eps,
                              struct hk_claim **out,
                              size_t *n, bool *more) HK_MUST_CHECK;
void hk_store_claims_free(struct hk_claim *claims, size_t n);

/* One finished attempt and the state its delivery moves to. */
struct hk_timings; /* deliver.h */
struct hk_outcome_row {
    const char *tenant_id;
    const char *delivery_id;
    const char *endpoint_id;
    int number;                 /* attempt number, 1-based */
    int cycle_attempts;         /* after this attempt */
    int64_t started_at_ms;
    int duration_ms;
    int status_code;            /* 0: no response */
    const char *error;
    const char *url;
    const char *request_headers;  /* JSON text */
    const char *response_headers; /* JSON text or NULL */
    const char *response_body;
    bool truncated;
    const char *new_status;     /* pending, succeeded or failed */
    int64_t next_attempt_ms;    /* when pending */
    /* what the delivery becomes instead when its endpoint was deleted or
     * disabled while the request was in flight */
    const char *stopped_status;
    const char *remote_ip;      /* "" when none */
    const struct hk_timings *timings; /* microseconds, deliver.h */
    /* the endpoint's requests in flight after this attempt when it
     * changed them (0: back to max_concurrency), -1 when unchanged */
    int concurrency;
};
/* Writes attempts and delivery states of a batch in one statement, as
 * engine/outcome.c decided them, for the endpoints owner still owns (a
 * late outcome is written as an attempt only). Also keeps
 * each endpoint's failing_since clock (cleared by a success, set by a
 * batch of failures) and its current_concurrency. */
enum hk_result hk_store_record(struct hk_conn *c, const char *owner,
                               const struct hk_outcome_row *rows,
                               size_t n) HK_MUST_CHECK;
/* Disables an endpoint with a reason; its pending deliveries end failed. */
enum hk_result hk_store_endpoint_disable(struct hk_conn *c, const char *tid,
                                         const char *eid,
                                         const char *reason) HK_MUST_CHECK;
/* Ends failed the pending deliveries of endpoints deleted, or disabled
 * by hookd, that no live owner holds; *n counts them. */
enum hk_result hk_store_fail_gone(struct hk_conn *c, int *n) HK_MUST_CHECK;
/* Writes what owner holds of each endpoint it owns (the API's
 * "sending"): two lists of 16-byte ids (ids.h), parallel, of the
 * endpoints and the deliveries (NULL for none). */
enum hk_result hk_store_hold(struct hk_conn *c, const char *owner,
                             const struct hk_buf *endpoint_ids,
                             const struct hk_buf *delivery_ids) HK_MUST_CHECK;
/* Of the endpoints named by two parallel uuid[] literals (tenant, id),
 * the ones that owner may no longer send to: disabled, deleted, gone with
 * their tenant, or no longer owned by owner under a live lease.
 * *out is "{id,...}" (caller frees), or NULL for none. */
enum hk_result hk_store_stopped_endpoints(struct hk_conn *c,
                                          const char *owner,
                                          const char *tenant_ids,
                                          const char *endpoint_ids,
                                          char **out) HK_MUST_CHECK;
/* The endpoints a dispatcher owns (docs/engine.md, "Ownership"). */
struct hk_owned_ep {
    char tenant_id[37];
    char endpoint_id[37];
};
struct hk_owned {
    struct hk_owned_ep *v; /* caller frees */
    size_t n;
    int share; /* the endpoints each live dispatcher should own */
    size_t taken; /* of v, those taken by this round */
};
/* The ownership round of dispatcher owner with endpoint leases of
 * lease_ms: marks it alive, gives up its endpoints without pending work,
 * renews the rest, takes unowned endpoints with due work up to its fair
 * share, and answers what it owns now. */
enum hk_result hk_store_own(struct hk_conn *c, const char *owner,
                            int64_t lease_ms,
                            struct hk_owned *out) HK_MUST_CHECK;
/* Gives up owner's endpoints named by two parallel uuid[] literals. */
enum hk_result hk_store_yield(struct hk_conn *c, const char *owner,
                              const char *tenant_ids,
                              const char *endpoint_ids) HK_MUST_CHECK;
/* Gives up all of owner's endpoints and its row among the dispatchers. */
enum hk_result hk_store_disown(struct hk_conn *c,
                               const char *owner) HK_MUST_CHECK;
/* The current values of the server settings names[0..n) (pg_settings,
 * so as this session sees them: a database's or a role's own settings
 * included) into values[0..n), each a heap string the caller frees, NULL
 * for a name the server does not know. */
enum hk_result hk_store_server_settings(struct hk_conn *c,
                                        const char *const *names, size_t n,
                                        char **values) HK_MUST_CHECK;
/* Which of hookd's hot tables (the queue and the endpoints' owners) this
 * session's role may not vacuum, as "hookd.queue, hookd.endpoint_owners"
 * (caller frees), or NULL when it may vacuum both. */
enum hk_result hk_store_not_vacuumable(struct hk_conn *c,
                                       char **tables) HK_MUST_CHECK;
/* Vacuums the dispatcher's hot tables, the queue and the endpoints'
 * owners (see
 * vacuum.h), and/or analyzes them (at least one of the two), skipping one
 * that another vacuum holds at the moment. Not in a transaction: c must
 * be a connection of its own, outside any. A role that does not own them
 * gets a warning from the server and changes nothing (pgcheck.h reports
 * it at start). */
enum hk_result hk_store_vacuum_hot(struct hk_conn *c, bool vacuum,
                                   bool analyze) HK_MUST_CHECK;
/* Deletes attempts older than days, at most 10,000 per call. */
enum hk_result hk_store_prune_attempts(struct hk_conn *c, int days,
                                       int *n) HK_MUST_CHECK;

/* ---- portal sessions, rotation, test events, recover, stats
 * (store_portal.c) ---- */

/* Stores a session token's hash with its scope ("read" or "write");
 * *out is the session object {id, scope, created_at, expires_at}. */
enum hk_result hk_store_session_insert(struct hk_conn *c, const char *tid,
                                       const unsigned char hash[32],
                                       int ttl_seconds, const char *scope,
                                       json_t **out) HK_MUST_CHECK;
/* A live (neither expired nor revoked) session, found by its token. */
struct hk_session {
    char tenant_id[37];
    char id[37];
    bool read_only;
    char expires_at[40];
};
enum hk_result hk_store_session_authenticate(
    struct hk_conn *c, const unsigned char hash[32],
    struct hk_session *out) HK_MUST_CHECK;
/* A tenant's live sessions, newest first; after is a session id. */
enum hk_result hk_store_session_list(struct hk_conn *c, const char *tid,
                                     const char *after, int limit,
                                     json_t **out) HK_MUST_CHECK;
/* Revokes a session: its token stops working at once. HK_NOT_FOUND when
 * the tenant has no such session. */
enum hk_result hk_store_session_delete(struct hk_conn *c, const char *tid,
                                       const char *sid) HK_MUST_CHECK;
/* Deletes expired sessions; *n counts them. */
enum hk_result hk_store_session_purge(struct hk_conn *c,
                                      int *n) HK_MUST_CHECK;
/* Moves the current sealed secret to "previous" for 24 hours and stores
 * the new one; *prev_expires_at receives when the old one stops. */
enum hk_result hk_store_endpoint_rotate(struct hk_conn *c, const char *tid,
                                        const char *eid,
                                        const unsigned char *sealed,
                                        size_t sealed_len,
                                        char prev_expires_at[40]) HK_MUST_CHECK;
/* Makes an event of type `type` with payload and one delivery to eid
 * alone, whatever its filter. HK_NOT_FOUND without the endpoint,
 * HK_CONFLICT when it is disabled, HK_INVALID for an unknown type. */
enum hk_result hk_store_endpoint_test(struct hk_conn *c, const char *tid,
                                      const char *eid, const char *type,
                                      const char *payload,
                                      json_t **delivery) HK_MUST_CHECK;
/* Failed deliveries of eid created since `since` go back to pending, due
 * now; *n counts them. HK_CONFLICT when the endpoint is disabled. */
enum hk_result hk_store_endpoint_recover(struct hk_conn *c, const char *tid,
                                         const char *eid, const char *since,
                                         long long *n) HK_MUST_CHECK;
/* The stats object of docs/api.md for deliveries created from `since` to
 * `until` (RFC 3339), optionally of one endpoint; bucket is "hour" or
 * "day". */
enum hk_result hk_store_stats(struct hk_conn *c, const char *tid,
                              const char *since, const char *until,
                              const char *endpoint_id, const char *bucket,
                              json_t **out) HK_MUST_CHECK;

#endif
