/*
 * engine_util.h - helpers shared by the end-to-end tests of the delivery
 * engine (test_engine, test_guard, test_crash, test_signatures): a tenant
 * with its own key per test, endpoints and events in one call, waiting for
 * a delivery to reach a status or a number of attempts, reading attempts
 * and signing secrets, checking a received request's Standard Webhooks
 * signature, collecting the webhook-ids a receiver path saw, parsing the
 * API's times and running an outside program. Server and receiver control
 * are harness.h's and receiver.h's.
 */
#ifndef HK_E2E_ENGINE_UTIL_H
#define HK_E2E_ENGINE_UTIL_H

#include "harness.h"
#include "receiver.h"

/* A new tenant named name with an API key of its own; tid (HK_ID_LEN)
 * gets its id. Returns the key; caller frees. */
char *hk_eng_tenant(struct hk_srv *s, const char *name, char *tid);

/* Creates an endpoint {"url": url, <members>} as token, where members is
 * JSON object member text such as "\"event_types\":[\"a.b\"]" or NULL.
 * Asserts 201; eid (HK_ID_LEN) gets the id. */
void hk_eng_endpoint(struct hk_srv *s, const char *token, const char *tid,
                     const char *url, const char *members, char *eid);

/* The same with the URL of path at receiver rcv. */
void hk_eng_rcv_endpoint(struct hk_srv *s, const char *token, const char *tid,
                         struct hk_rcv *rcv, const char *path,
                         const char *members, char *eid);

/* POSTs body exactly as given to the tenant's events, with an
 * Idempotency-Key header when idem_key is not NULL. Caller frees. */
struct hk_reply *hk_eng_post_body(struct hk_srv *s, const char *token,
                                  const char *tid, const char *body,
                                  const char *idem_key);

/* POSTs {"event_type": type, "payload": payload} (payload is JSON text)
 * and asserts 202. evid (HK_ID_LEN, or NULL) gets the event id. Returns the
 * answer's "deliveries" count (-1 when absent). */
#define hk_eng_event(s, token, tid, type, payload, evid)                       \
    hk_eng_event_at(__FILE__, __LINE__, (s), (token), (tid), (type),           \
                    (payload), (evid))
int hk_eng_event_at(const char *file, int line, struct hk_srv *s,
                    const char *token, const char *tid, const char *type,
                    const char *payload, char *evid);

/* Every delivery of the tenant matching query (e.g. "event_id=..." or
 * NULL for all), walked through every page. Caller json_decref. */
json_t *hk_eng_deliveries(struct hk_srv *s, const char *token, const char *tid,
                          const char *query);

/* The one delivery of event evid to endpoint eid; fails the test unless
 * there is exactly one. did gets its id (HK_ID_LEN). */
#define hk_eng_delivery_id(s, token, tid, evid, eid, did)                      \
    hk_eng_delivery_id_at(__FILE__, __LINE__, (s), (token), (tid), (evid),     \
                          (eid), (did))
void hk_eng_delivery_id_at(const char *file, int line, struct hk_srv *s,
                           const char *token, const char *tid, const char *evid,
                           const char *eid, char *did);

/* GET of one delivery, asserting 200. Caller json_decref. */
json_t *hk_eng_delivery(struct hk_srv *s, const char *token, const char *tid,
                        const char *did);

/* Every attempt of a delivery, oldest first, through every page. Caller
 * json_decref. */
json_t *hk_eng_attempts(struct hk_srv *s, const char *token, const char *tid,
                        const char *did);

/* Polls the delivery (every 100 ms) until its status is want, and returns
 * it (caller json_decref). On timeout the test fails, showing the delivery
 * and its attempts as they last were. */
#define hk_eng_wait_status(s, token, tid, did, want, timeout_ms)               \
    hk_eng_wait_status_at(__FILE__, __LINE__, (s), (token), (tid), (did),      \
                          (want), (timeout_ms))
json_t *hk_eng_wait_status_at(const char *file, int line, struct hk_srv *s,
                              const char *token, const char *tid,
                              const char *did, const char *want,
                              int timeout_ms);

/* Polls until the delivery has at least n attempts recorded and returns
 * them (caller json_decref); fails the test on timeout. */
#define hk_eng_wait_attempts(s, token, tid, did, n, timeout_ms)                \
    hk_eng_wait_attempts_at(__FILE__, __LINE__, (s), (token), (tid), (did),    \
                            (n), (timeout_ms))
json_t *hk_eng_wait_attempts_at(const char *file, int line, struct hk_srv *s,
                                const char *token, const char *tid,
                                const char *did, size_t n, int timeout_ms);

/* The endpoint's signing secret from GET .../secret; caller frees. */
char *hk_eng_secret(struct hk_srv *s, const char *token, const char *tid,
                    const char *eid);

/* Unix ms of an RFC 3339 UTC time "2026-11-22T10:04:05.123Z" (the
 * fraction may be absent or of any length), or -1 when malformed. */
int64_t hk_eng_time_ms(const char *s);

/* true when the request carries webhook-id, webhook-timestamp and a
 * webhook-signature that verifies over its exact body with secret. */
bool hk_eng_sig_ok(const struct hk_rcv_req *q, const char *secret);

/* The webhook-ids a receiver path saw: sorted, unique, plus the total
 * number of requests (so total - n is the number of repeats). */
struct hk_eng_ids {
    char **v;
    size_t n;
    size_t total;
};
void hk_eng_ids_at(struct hk_rcv *r, const char *path, struct hk_eng_ids *out);
bool hk_eng_ids_has(const struct hk_eng_ids *ids, const char *id);
void hk_eng_ids_free(struct hk_eng_ids *ids);

/* Runs argv[0] (found on PATH) with argv, stdin from /dev/null and output
 * on this process's stderr, in extra environment entries "NAME=value"
 * (NULL-terminated, or NULL) added to this process's. Waits up to
 * timeout_ms; returns the exit status, 128+n for signal n, or -1 when it
 * could not run or timed out (then it is killed). */
int hk_eng_run(const char *const *argv, const char *const *extra_env,
               int timeout_ms);

/* The endpoint's deliveries the API shows as sending: its owner's
 * requests in flight and the deliveries waiting in its lane for a slot. */
long long hk_eng_sending(struct hk_srv *s, const char *tid, const char *eid);
/* Waits (up to 5 s) until a max_concurrency 1 endpoint with a request in
 * flight has a second delivery held, waiting in the dispatcher for its
 * slot; fails the test otherwise. */
void hk_eng_wait_one_waiting(struct hk_srv *s, const char *tid,
                             const char *eid);

/* An attempt's "timings" as the API shows them, checked: an object of
 * the five phases, each a number >= 0 (dns_ms, connect_ms, tls_ms,
 * ttfb_ms, total_ms in that order into ms), the total at least the time
 * to the first byte. Fails the test otherwise. */
#define hk_eng_timings(attempt, ms)                                            \
    hk_eng_timings_at(__FILE__, __LINE__, (attempt), (ms))
void hk_eng_timings_at(const char *file, int line, json_t *attempt,
                       double ms[5]);

#endif
