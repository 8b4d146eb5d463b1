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

/* Tokens a process took and has not spent within this time are dropped,
 * so that no process spends tokens of a second long past. */
#define HK_RATE_HOLD_MS 1000

/* Spends one token of tenant tid's bucket for an event, taking a batch
 * from the database on c when the process holds none. HK_OK: spend it;
 * HK_DENIED: over the rate (g->retry_after_ms says for how long);
 * HK_NOT_FOUND: no such tenant; HK_DB: the database failed. */
enum hk_result hk_rate_take(struct hk_rate *r, struct hk_conn *c,
                            const char *tid,
                            struct hk_rate_grant *g) HK_MUST_CHECK;

/* The same in two steps, so that the batch can be taken by the statement
 * that writes the event (store.h, hk_ingest's take_want), in its
 * transaction, instead of in one of its own before it. */
struct hk_rate_ticket {
    void *entry;      /* the tenant's, held locked while want > 0 */
    long want;        /* 0: a token the process held was spent */
    int64_t began_ms; /* hk_mono_ms when the take began */
};

/* HK_OK with t->want 0: a token the process held is spent for the event
 * and g says the tenant's payload limit. HK_OK with t->want > 0: the
 * process holds none; t->want tokens are to be taken from the database,
 * and hk_rate_settle or hk_rate_cancel must follow (the tenant's other
 * events in this process wait until then, so that it never holds more
 * than one batch). HK_DENIED: over the rate, as hk_rate_take. */
enum hk_result hk_rate_reserve(struct hk_rate *r, const char *tid,
                               struct hk_rate_ticket *t,
                               struct hk_rate_grant *g) HK_MUST_CHECK;

/* Ends a take begun by hk_rate_reserve with what the database answered
 * (took), or, when nothing took the tokens (took NULL), by taking them now
 * on c; spends one for the event. Results as hk_rate_take. */
enum hk_result hk_rate_settle(struct hk_rate_ticket *t,
                              const struct hk_rate_take *took,
                              struct hk_conn *c, const char *tid,
                              struct hk_rate_grant *g) HK_MUST_CHECK;

/* Ends a take begun by hk_rate_reserve whose tokens were not taken (the
 * statement failed), changing nothing. */
void hk_rate_cancel(struct hk_rate_ticket *t);

/* Tokens taken from a bucket whose rate is rate (exposed for the tests). */
int hk_rate_batch(long rate);

#endif
