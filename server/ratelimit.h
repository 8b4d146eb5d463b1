/*
 * ratelimit.h - each tenant's event rate (events_per_second), one token
 * bucket shared by every hookd api process. The bucket lives in
 * PostgreSQL (hookd.tenant_rate); a process takes tokens from it in
 * batches of a fiftieth of the tenant's rate (at least one) and spends them
 * locally, so the row is written a few dozen times a second at most, never
 * once per event. docs/limits.md states the bound this gives.
 */
#ifndef HK_RATELIMIT_H
#define HK_RATELIMIT_H

#include "common.h"
#include "db.h"
#include "store.h"

struct hk_rate;

/* The process's buckets; hk_rate_free(NULL) does nothing. */
struct hk_rate *hk_rate_new(void);
void hk_rate_free(struct hk_rate *r);

/* What hk_rate_take learnt of the tenant's limits, as of its last batch
 * (at most HK_RATE_HOLD_MS old). */
struct hk_rate_grant {
    int64_t retry_after_ms; /* on HK_DENIED: when a token will be there */
    long max_payload_bytes; /* 0: no limit of the tenant's own */
};

/* Tokens a process holds are dropped once this long has passed from the
 * last take that granted it any (timed from when the event that carried
 * that take began); a take tops up what is held and so restarts the time
 * for all of it. A process that stops posting thus keeps no tokens of a
 * second long past to spend in a burst later. */
#define HK_RATE_HOLD_MS 1000

/* Spending a token for an event, in two steps, so that a batch is taken
 * by the statement that writes an event (store.h, hk_ingest's
 * take_want), in its transaction, rather than in one of its own before it.
 * One take at a time is in flight per tenant and process, and it takes at
 * most a batch less what the process holds: a process never holds more
 * than one batch. */
struct hk_rate_ticket {
    void *entry;      /* the tenant's */
    long want;        /* see hk_rate_reserve */
    int64_t began_ms; /* hk_mono_ms when the take began */
};

/* Asks a token of tenant tid's bucket for an event. HK_DENIED: over the
 * rate (g->retry_after_ms says for how long). HK_OK with t->want:
 *   0    a token the process held is spent; g says the payload limit;
 *   < 0  the same, and the event is to carry a take of -want tokens
 *        (the process's tokens are running low or getting old; only when
 *        carry is true, for an event written in a group);
 *   > 0  the process holds none: want tokens are to be taken with the
 *        event, which may be written only if one was granted.
 * After want != 0, hk_rate_settle or hk_rate_cancel must follow: until
 * then the tenant's events in this process that find no token wait. */
enum hk_result hk_rate_reserve(struct hk_rate *r, const char *tid, bool carry,
                               struct hk_rate_ticket *t,
                               struct hk_rate_grant *g) HK_MUST_CHECK;

/* Ends a take with what the database answered (took), or, when nothing
 * took the tokens (took NULL), by taking them now on c. For want > 0 it
 * spends one for the event: HK_OK, HK_DENIED (over the rate, none
 * granted), HK_NOT_FOUND (no such tenant), HK_DB; for want < 0 the
 * tokens are added to those held and the result is HK_OK. */
enum hk_result hk_rate_settle(struct hk_rate_ticket *t,
                              const struct hk_rate_take *took,
                              struct hk_conn *c, const char *tid,
                              struct hk_rate_grant *g) HK_MUST_CHECK;

/* Ends a take whose tokens were not taken (its statement failed, or the
 * event it rode with was written alone), changing nothing. */
void hk_rate_cancel(struct hk_rate_ticket *t);

/* Tokens taken from a bucket whose rate is rate (exposed for the tests). */
int hk_rate_batch(long rate);

#endif
