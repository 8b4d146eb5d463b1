/*
 * ratelimit.c - the local half of each tenant's event-rate bucket: per
 * tenant, the tokens this process took from the shared bucket in
 * PostgreSQL and has not spent yet, the tenant's rate and payload limit as
 * of that take, and, after the database said the bucket is empty, the time
 * until it will not be (refusals until then ask nobody). The shared half,
 * the bucket's refill and take, is hookd.take_event_tokens (migration
 * 0020), called through store_admin.c.
 *
 * One entry per tenant that posted since the start, in a hash table under
 * one mutex; each entry has its own mutex and at most one take in flight,
 * which asks for a batch less what the process holds, so that a process
 * never holds more than one batch: across P processes a tenant's events
 * in any T seconds stay within rate * (T + 1) + P * batch (the bucket
 * holds one second of the rate). The take rides with an event to the
 * statement that writes it (hk_ingest's take_want): the event that finds
 * no token, which waits for it, or, before the tokens run low or reach
 * their hold, an event that spends one of them and so waits for nothing;
 * the tenant's other events wait only when none is held.
 */
#include "ratelimit.h"
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

struct entry {
    char tid[37];
    pthread_mutex_t mu;
    pthread_cond_t taken;  /* signalled when a take in flight ends */
    bool taking;           /* a take is in flight */
    long tokens;           /* taken, not spent */
    int64_t taken_at;      /* hk_mono_ms of the last take */
    int64_t blocked_until; /* no token in the database until then */
    long rate;             /* 0 until the first take */
    long max_payload;
    struct entry *next;
};

struct hk_rate {
    pthread_mutex_t mu;
    struct entry *buckets[BUCKETS];
};

struct hk_rate *hk_rate_new(void)
{
    struct hk_rate *r = hk_calloc(1, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void hk_rate_free(struct hk_rate *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        struct entry *e = r->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            pthread_mutex_destroy(&e->mu);
            pthread_cond_destroy(&e->taken);
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int hk_rate_batch(long rate)
{
    long b = rate / 50;
    return b < 1 ? 1 : (int)b;
}

static struct entry *entry_of(struct hk_rate *r, const char *tid)
{
    unsigned h = 2166136261u;
    for (const char *p = tid; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    pthread_mutex_lock(&r->mu);
    struct entry **head = &r->buckets[h % BUCKETS];
    struct entry *e = *head;
    while (e != NULL && strcmp(e->tid, tid) != 0)
        e = e->next;
    if (e == NULL) {
        e = hk_calloc(1, sizeof(*e));
        snprintf(e->tid, sizeof(e->tid), "%s", tid);
        pthread_mutex_init(&e->mu, NULL);
        pthread_cond_init(&e->taken, NULL);
        e->next = *head;
        *head = e;
    }
    pthread_mutex_unlock(&r->mu);
    return e;
}

enum hk_result hk_rate_reserve(struct hk_rate *r, const char *tid, bool carry,
                               struct hk_rate_ticket *t,
                               struct hk_rate_grant *g)
{
    g->retry_after_ms = 0;
    g->max_payload_bytes = 0;
    struct entry *e = entry_of(r, tid);
    t->entry = e;
    t->want = 0;
    pthread_mutex_lock(&e->mu);
    int64_t now = hk_mono_ms();
    if (e->tokens > 0 && now - e->taken_at >= HK_RATE_HOLD_MS)
        e->tokens = 0;
    /* none held while a take is in flight: its answer says whether there
     * are any */
    while (e->tokens == 0 && e->taking) {
        pthread_cond_wait(&e->taken, &e->mu);
        now = hk_mono_ms();
    }
    t->began_ms = now;
    if (e->tokens == 0 && now < e->blocked_until) {
        g->retry_after_ms = e->blocked_until - now;
        pthread_mutex_unlock(&e->mu);
        return HK_DENIED;
    }
    if (e->tokens == 0) {
        /* the very first take is one token: it tells the rate */
        t->want = e->rate > 0 ? hk_rate_batch(e->rate) : 1;
        e->taking = true;
        pthread_mutex_unlock(&e->mu);
        return HK_OK;
    }
    e->tokens--;
    g->max_payload_bytes = e->max_payload;
    long batch = hk_rate_batch(e->rate);
    /* Topped up before they run out or are dropped, by an event that
     * goes to be written anyway, so that no event of a busy tenant waits
     * for a take. */
    if (carry && !e->taking &&
        (e->tokens * 4 <= batch ||
         now - e->taken_at >= HK_RATE_HOLD_MS / 2) &&
        e->tokens < batch) {
        t->want = -(batch - e->tokens);
        e->taking = true;
    }
    pthread_mutex_unlock(&e->mu);
    return HK_OK;
}

enum hk_result hk_rate_settle(struct hk_rate_ticket *t,
                              const struct hk_rate_take *took,
                              struct hk_conn *c, const char *tid,
                              struct hk_rate_grant *g)
{
    struct entry *e = t->entry;
    struct hk_rate_take now_taken;
    enum hk_result rc = HK_OK;
    long want = t->want;
    g->retry_after_ms = 0;
    if (took == NULL) {
        rc = hk_store_tenant_take_tokens(c, tid, want < 0 ? -want : want,
                                         &now_taken);
        took = &now_taken;
    }
    pthread_mutex_lock(&e->mu);
    g->max_payload_bytes = e->max_payload;
    if (rc != HK_OK)
        goto out;
    e->rate = took->rate;
    e->max_payload = took->max_payload_bytes;
    g->max_payload_bytes = e->max_payload;
    if (want < 0) {
        /* held and granted are at most a batch together: the take asked
         * for a batch less what was held then, and some were spent since */
        if (took->granted > 0) {
            e->tokens += took->granted;
            e->taken_at = t->began_ms;
        } else {
            e->blocked_until =
                t->began_ms + (took->wait_ms > 0 ? took->wait_ms : 1);
        }
        goto out;
    }
    e->taken_at = t->began_ms;
    e->tokens = took->granted;
    if (took->granted <= 0) {
        e->tokens = 0;
        e->blocked_until =
            t->began_ms + (took->wait_ms > 0 ? took->wait_ms : 1);
        g->retry_after_ms = e->blocked_until - t->began_ms;
        rc = HK_DENIED;
        goto out;
    }
    e->tokens--;
out:
    t->want = 0;
    e->taking = false;
    pthread_cond_broadcast(&e->taken);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void hk_rate_cancel(struct hk_rate_ticket *t)
{
    if (t->want == 0)
        return;
    struct entry *e = t->entry;
    t->want = 0;
    pthread_mutex_lock(&e->mu);
    e->taking = false;
    pthread_cond_broadcast(&e->taken);
    pthread_mutex_unlock(&e->mu);
}
