/*
 * dispatcher.c - the delivery loop, on three threads. The dispatcher
 * thread owns the curl multi handle (through deliver.c) and the LISTEN
 * connection: each turn it starts what has been claimed and what the
 * endpoints' rate limits allow, sleeps in curl_multi_poll with the LISTEN
 * socket as an extra descriptor (so NOTIFY from any API process wakes it;
 * a one-second poll is only the fallback for retries coming due), and
 * queues finished attempts. The claimer thread, on the work connection,
 * claims whenever work may have come (an ingest, a NOTIFY, a retry come
 * due) or slots free up while the last claim may have left work behind,
 * and sweeps expired leases.
 * The recorder thread, on its own connection, writes finished attempts in
 * batched statements. So no database round trip ever stalls a transfer.
 * What the records churn in the queue and leases tables, vacuum.c's
 * thread vacuums on a fourth connection.
 * Outcomes that cannot be written (database away) are kept and written
 * later; claims pause meanwhile, and leases cover the rest: whatever this
 * process leaves behind, another dispatcher takes back when the lease
 * runs out.
 */
#include "dispatcher.h"
#include "crypto.h"
#include "deliver.h"
#include "engine/outcome.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "sign.h"
#include "store.h"
#include "vacuum.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 1000
#define SWEEP_MS 5000
#define PRUNE_MS (3600 * 1000)
#define LEASE_SLACK_MS 30000
#define MAX_COLLECT 512
/* The recorder waits up to RECORD_GATHER_MS for RECORD_BATCH outcomes:
 * a statement of a few rows costs nearly what one of a hundred does, and
 * no slot waits for it (claims free slots by delivery id). */
#define RECORD_GATHER_MS 10
#define RECORD_BATCH 200

/* A rate-limited endpoint's token bucket and the jobs waiting on it. */
struct bucket {
    char endpoint_id[37];
    int rate;
    double tokens;
    int64_t refilled_ms;
    struct hk_job **held;
    size_t nheld, capheld;
};

/* An endpoint's slots in this dispatcher: its requests started (or held
 * for its rate limit) and the claimed jobs waiting, in claim order, for
 * one of its max_concurrency slots. A claim gives this dispatcher up to
 * HK_LANE_DEPTH times max_concurrency leases at an endpoint no other
 * dispatcher is sending to (store.h), so that when a request ends the
 * next one starts at once instead of after the next claim. Lanes live in
 * a hash table by endpoint id while they hold anything. Every
 * LANE_CHECK_MS while jobs wait (in a lane, or held for a rate limit),
 * the claimer asks the database whether their endpoints are still
 * enabled; the waiting jobs of one disabled or deleted meanwhile are
 * dropped and their leases given back, so that at most the requests
 * already in flight reach it after that. */
#define LANE_BUCKETS 1024
#define LANE_CHECK_MS 100
struct lane {
    struct lane *next; /* in its hash chain */
    char tenant_id[37];
    char endpoint_id[37];
    int max_conc;
    int busy;
    /* While the endpoint's answers hold its requests in flight below
     * max_concurrency (engine/outcome.h), the lane stays, empty or not,
     * and is listed in the dispatcher's limited lanes. */
    bool adapting;
    struct hk_adapt adapt;
    struct hk_job **wait; /* a ring of capwait */
    size_t head, nwait, capwait;
};

struct hk_dispatcher {
    const struct hk_config *cfg;
    char owner[37]; /* this dispatcher's id on its leases */
    struct lane *lanes[LANE_BUCKETS];
    size_t waiting; /* jobs waiting in lanes */
    struct hk_conn *work;
    struct hk_conn *listen;
    struct hk_vacuum *vacuum; /* fed by the recorder */
    struct hk_deliver *deliver;
    struct hk_job *live; /* see live_add */
    pthread_t thread;
    atomic_bool stop;
    /* Set when work may have come (an ingest, a NOTIFY, a lease expired):
     * the next turn claims. woken is set when a request ends or outcomes
     * are written: slots are free, and the next turn claims only if the
     * last claim may have left work behind (claim_more); otherwise no new
     * claim could find anything until `fresh` is set again, and each
     * request that ends would cost a claim that finds nothing. */
    atomic_bool fresh;
    atomic_bool woken;
    bool listening;
    struct bucket *buckets;
    size_t nbuckets, capbuckets;
    struct lane **limited; /* the lanes adapting, see struct lane */
    size_t nlimited, caplimited;
    /* The recorder: a second thread with its own connection that writes
     * finished attempts while this one claims and sends, so that the two
     * statements of a turn run side by side. rec_mu guards what follows. */
    struct hk_conn *rec_conn;
    pthread_t rec_thread;
    pthread_mutex_t rec_mu;
    pthread_cond_t rec_cv;
    struct hk_job **unsaved; /* outcomes waiting for the recorder */
    size_t nunsaved, capunsaved;
    size_t writing;   /* outcomes the recorder is writing now */
    /* their deliveries, comma-separated, for claims */
    struct hk_buf writing_ids;
    bool rec_failing; /* its last write failed: the database is away */
    bool rec_stop;
    /* The claimer: a third thread that runs claims (and the housekeeping
     * sweeps) on the work connection, so that this one never waits for
     * the database and keeps every transfer moving meanwhile. rec_mu
     * guards these too. */
    pthread_t cl_thread;
    pthread_cond_t cl_cv;
    bool want_claim; /* set here when slots may be free or work is due */
    bool claim_more; /* the last claim may have left due work behind */
    bool claim_again; /* a claim was skipped: make it when woken */
    bool cl_stop;
    char *exclude;     /* endpoints with jobs held for their rate limit */
    /* endpoints whose requests in flight are held below max_concurrency,
     * and the leases this dispatcher may hold for each (a uuid[] and an
     * int[] literal, or NULL) */
    char *cap_ids, *caps;
    /* deliveries this dispatcher holds leases for and has not finished,
     * comma-separated (see mine_reset) */
    struct hk_buf mine;
    size_t busy_local; /* transfers in flight plus jobs held, published */
    size_t waiting_pub; /* jobs waiting in lanes, published */
    /* the lanes' check: endpoints with waiting jobs (two uuid[] literals,
     * handed to the claimer), those found stopped (handed back), and the
     * waiting jobs dropped for it, whose leases the claimer gives back
     * (comma-separated tenant and delivery ids) */
    char *check_tids, *check_eids;
    char *stopped;
    struct hk_buf drop_tids, drop_ids;
    int64_t checked_ms; /* dispatcher thread: when lanes were last sent */
    struct hk_job **claimed; /* claimed, waiting to be started here */
    size_t nclaimed, capclaimed;
    /* earliest retry the recorder scheduled (wall ms), 0 for none, so
     * that short retry delays do not wait for the next poll */
    int64_t next_due_ms;
};

/* CLOCK_REALTIME ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* ---- job construction ---- */

/* The Standard Webhooks envelope around the exact payload bytes. */
static char *envelope(const struct hk_claim *c, size_t *len)
{
    struct hk_buf b;
    hk_buf_init(&b);
    hk_webhook_body(c->event_type, c->event_time, c->payload, &b);
    *len = b.len;
    return hk_buf_steal(&b);
}

/* A secret of claim c's endpoint; NULL when it does not open there. */
static char *open_secret(const struct hk_dispatcher *d,
                         const struct hk_claim *c,
                         const unsigned char *sealed, size_t len)
{
    unsigned char *plain;
    size_t plain_len;
    char ad[HK_SECRET_AD_LEN];
    hk_secret_binding(c->tenant_id, c->endpoint_id, ad);
    if (hk_open(d->cfg->secret_key, ad, strlen(ad), sealed, len, &plain,
                &plain_len) != HK_OK)
        return NULL;
    return (char *)plain;
}

static void set_headers(struct hk_job *job, const char *text)
{
    json_t *h = json_loads(text, 0, NULL);
    size_t n = json_object_size(h);
    if (n > 0) {
        job->headers = hk_calloc(n, sizeof(*job->headers));
        const char *k;
        json_t *v;
        json_object_foreach(h, k, v)
        {
            if (!json_is_string(v))
                continue;
            job->headers[job->nheaders].name = hk_strdup(k);
            job->headers[job->nheaders].value =
                hk_strdup(json_string_value(v));
            job->nheaders++;
        }
    }
    json_decref(h);
}

struct job_meta {
    int cycle_attempts; /* before this attempt */
    int rate_limit;
    int max_conc;
    int64_t failing_since_ms; /* the endpoint's at the claim, 0: none */
    int conc; /* the endpoint's slots after this attempt if it changed them */
    int stored_conc; /* the endpoint's current_concurrency at the claim */
    /* in the dispatcher's list of live jobs (see live_add) */
    struct hk_job *prev, *next;
    bool live;
};

static struct hk_job *job_from_claim(struct hk_dispatcher *d,
                                     const struct hk_claim *c)
{
    struct hk_job *job = hk_job_new();
    memcpy(job->tenant_id, c->tenant_id, sizeof(job->tenant_id));
    memcpy(job->delivery_id, c->delivery_id, sizeof(job->delivery_id));
    memcpy(job->endpoint_id, c->endpoint_id, sizeof(job->endpoint_id));
    memcpy(job->event_id, c->event_id, sizeof(job->event_id));
    job->attempt_number = c->attempt_count + 1;
    job->url = hk_strdup(c->url);
    set_headers(job, c->headers);
    job->body = envelope(c, &job->body_len);
    job->secret = open_secret(d, c, c->secret_enc, c->secret_len);
    if (c->prev_enc != NULL)
        job->prev_secret = open_secret(d, c, c->prev_enc, c->prev_len);
    struct job_meta *m = hk_calloc(1, sizeof(*m));
    m->cycle_attempts = c->cycle_attempts;
    m->rate_limit = c->rate_limit;
    m->max_conc = c->max_concurrency;
    m->failing_since_ms = c->failing_since_ms;
    m->conc = -1;
    m->stored_conc = c->current_concurrency;
    job->user = m;
    return job;
}

/* The jobs this dispatcher holds leases for and has not finished (waiting
 * in a lane, held for a rate limit, or in flight), so that claims step
 * over their deliveries by id rather than probing each one's lease: they
 * stand at the head of their endpoint's queue, and a lane holds up to
 * HK_LANE_DEPTH times its max_concurrency. Dispatcher thread only. */
static void live_add(struct hk_dispatcher *d, struct hk_job *job)
{
    struct job_meta *m = job->user;
    m->prev = NULL;
    m->next = d->live;
    if (d->live != NULL)
        ((struct job_meta *)d->live->user)->prev = job;
    d->live = job;
    m->live = true;
}

static void live_remove(struct hk_dispatcher *d, struct hk_job *job)
{
    struct job_meta *m = job->user;
    if (m == NULL || !m->live)
        return;
    if (m->prev != NULL)
        ((struct job_meta *)m->prev->user)->next = m->next;
    else
        d->live = m->next;
    if (m->next != NULL)
        ((struct job_meta *)m->next->user)->prev = m->prev;
    m->live = false;
}

/* Appends "a,b,c" of the jobs' deliveries to ids. */
static void done_list(struct hk_job *const *jobs, size_t n,
                      struct hk_buf *ids)
{
    for (size_t i = 0; i < n; i++) {
        if (ids->len > 0 && ids->data[ids->len - 1] != '{')
            hk_buf_puts(ids, ",");
        hk_buf_puts(ids, jobs[i]->delivery_id);
    }
}

/* Makes d->mine the deliveries of the live jobs and of those claimed but
 * not started yet (still in d->claimed); the claimer adds each claim's
 * own until the next reset, because the claimer often runs the next
 * claim before the dispatcher has taken the last one's jobs: without
 * them, that claim would probe the leases of the deliveries it had just
 * taken, in both statements. A delivery whose job finished stays in
 * the list until the next reset: it is either recorded (no longer
 * pending) or in the claim's answered list anyway. One whose lease was
 * given back (its endpoint stopped) is stepped over until then, at most
 * until the next poll. Dispatcher thread, under rec_mu. */
static void mine_reset(struct hk_dispatcher *d)
{
    hk_buf_reset(&d->mine);
    for (struct hk_job *j = d->live; j != NULL;
         j = ((struct job_meta *)j->user)->next) {
        if (d->mine.len > 0)
            hk_buf_puts(&d->mine, ",");
        hk_buf_puts(&d->mine, j->delivery_id);
    }
    done_list(d->claimed, d->nclaimed, &d->mine);
}

static void job_release(struct hk_job *job)
{
    free(job->user);
    job->user = NULL;
    hk_job_free(job);
}

/* ---- rate limits ---- */

/* The endpoint's bucket, made full when it has none. Buckets with nothing
 * held that have filled up again are dropped by release_held, so there is
 * one for each rate-limited endpoint sent to in about the last second. */
static struct bucket *bucket_for(struct hk_dispatcher *d, const char *eid,
                                 int rate)
{
    for (size_t i = 0; i < d->nbuckets; i++)
        if (strcmp(d->buckets[i].endpoint_id, eid) == 0) {
            d->buckets[i].rate = rate;
            return &d->buckets[i];
        }
    if (d->nbuckets == d->capbuckets) {
        d->capbuckets = d->capbuckets ? 2 * d->capbuckets : 16;
        d->buckets =
            hk_realloc(d->buckets, d->capbuckets * sizeof(*d->buckets));
    }
    struct bucket *b = &d->buckets[d->nbuckets++];
    memset(b, 0, sizeof(*b));
    snprintf(b->endpoint_id, sizeof(b->endpoint_id), "%s", eid);
    b->rate = rate;
    b->tokens = rate;
    b->refilled_ms = hk_mono_ms();
    return b;
}

static void bucket_refill(struct bucket *b, int64_t now)
{
    double add = (double)(now - b->refilled_ms) * b->rate / 1000.0;
    b->tokens = b->tokens + add > b->rate ? b->rate : b->tokens + add;
    b->refilled_ms = now;
}

/* Starts a job now, or holds it until its endpoint's bucket has a token. */
static void start_job(struct hk_dispatcher *d, struct hk_job *job)
{
    struct job_meta *m = job->user;
    struct bucket *b = m->rate_limit > 0
                           ? bucket_for(d, job->endpoint_id, m->rate_limit)
                           : NULL;
    if (b != NULL) {
        bucket_refill(b, hk_mono_ms());
        if (b->nheld > 0 || b->tokens < 1.0) {
            if (b->nheld == b->capheld) {
                b->capheld = b->capheld ? 2 * b->capheld : 8;
                b->held = hk_realloc(b->held, b->capheld * sizeof(*b->held));
            }
            b->held[b->nheld++] = job;
            return;
        }
        b->tokens -= 1.0;
    }
    hk_deliver_add(d->deliver, job);
}

/* The endpoint's lane (NULL when it has none and create is false), and
 * where the pointer to it is kept, for unlinking. */
static struct lane *lane_find(struct hk_dispatcher *d, const char *eid,
                              bool create, struct lane ***at)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = eid; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    struct lane **pp = &d->lanes[h & (LANE_BUCKETS - 1)];
    while (*pp != NULL && strcmp((*pp)->endpoint_id, eid) != 0)
        pp = &(*pp)->next;
    if (*pp == NULL && create) {
        *pp = hk_calloc(1, sizeof(**pp));
        snprintf((*pp)->endpoint_id, sizeof((*pp)->endpoint_id), "%s", eid);
    }
    *at = pp;
    return *pp;
}

static void lane_push(struct lane *l, struct hk_job *job)
{
    if (l->nwait == l->capwait) {
        size_t cap = l->capwait ? 2 * l->capwait : 8;
        struct hk_job **w = hk_calloc(cap, sizeof(*w));
        for (size_t i = 0; i < l->nwait; i++)
            w[i] = l->wait[(l->head + i) % l->capwait];
        free(l->wait);
        l->wait = w;
        l->capwait = cap;
        l->head = 0;
    }
    l->wait[(l->head + l->nwait++) % l->capwait] = job;
}

static struct hk_job *lane_pop(struct lane *l)
{
    struct hk_job *job = l->wait[l->head];
    l->head = (l->head + 1) % l->capwait;
    l->nwait--;
    return job;
}

/* Starts the lane's waiting jobs, oldest first, while the endpoint has a
 * free slot here. */
/* The endpoint's slots in this dispatcher now. */
static int lane_limit(const struct lane *l)
{
    return l->adapting && l->adapt.limit < l->max_conc ? l->adapt.limit
                                                        : l->max_conc;
}

static void lane_fill(struct hk_dispatcher *d, struct lane *l)
{
    while (l->nwait > 0 && l->busy < lane_limit(l)) {
        d->waiting--;
        l->busy++;
        start_job(d, lane_pop(l));
    }
}

static void limited_set(struct hk_dispatcher *d, struct lane *l, bool on);

/* Queues a claimed job in its endpoint's lane and starts what the
 * endpoint's free slots allow, in claim order: a job never overtakes one
 * claimed before it for the same endpoint, even when max_concurrency was
 * raised in between. */
static void submit(struct hk_dispatcher *d, struct hk_job *job)
{
    struct job_meta *m = job->user;
    struct lane **at;
    struct lane *l = lane_find(d, job->endpoint_id, true, &at);
    live_add(d, job);
    memcpy(l->tenant_id, job->tenant_id, sizeof(l->tenant_id));
    /* a new lane of an endpoint held below its max (by this process
     * before, or another) starts where it was held */
    bool fresh = l->max_conc == 0;
    l->max_conc = m->max_conc;
    if (fresh && m->stored_conc > 0 && m->stored_conc < m->max_conc) {
        hk_adapt_init(&l->adapt, m->stored_conc);
        limited_set(d, l, true);
        hk_metrics_endpoint_concurrency(l->endpoint_id, m->stored_conc);
    }
    if (l->nwait == 0 && l->busy < lane_limit(l)) {
        l->busy++;
        start_job(d, job); /* nothing older waits: no need to queue it */
        return;
    }
    lane_push(l, job);
    d->waiting++;
    lane_fill(d, l);
}

static void drop_job(struct hk_dispatcher *d, struct hk_job *j);

/* Gives back the newest waiting jobs beyond what the lane's smaller limit
 * sends within their leases (HK_LANE_DEPTH rounds of requests): they are
 * due again at their place in the queue. */
static void lane_trim(struct hk_dispatcher *d, struct lane *l)
{
    int keep = HK_LANE_DEPTH * lane_limit(l) - l->busy;
    if (keep < 0)
        keep = 0;
    if (l->nwait <= (size_t)keep)
        return;
    pthread_mutex_lock(&d->rec_mu);
    while (l->nwait > (size_t)keep) {
        l->nwait--;
        d->waiting--;
        drop_job(d, l->wait[(l->head + l->nwait) % l->capwait]);
    }
    pthread_mutex_unlock(&d->rec_mu);
}

static void limited_set(struct hk_dispatcher *d, struct lane *l, bool on)
{
    if (on == l->adapting)
        return;
    l->adapting = on;
    if (on) {
        if (d->nlimited == d->caplimited) {
            d->caplimited = d->caplimited ? 2 * d->caplimited : 8;
            d->limited =
                hk_realloc(d->limited, d->caplimited * sizeof(*d->limited));
        }
        d->limited[d->nlimited++] = l;
        return;
    }
    for (size_t i = 0; i < d->nlimited; i++)
        if (d->limited[i] == l) {
            d->limited[i] = d->limited[--d->nlimited];
            break;
        }
}

/* Applies what a finished attempt says of the receiver's capacity
 * (engine/outcome.h) to its endpoint's slots here; a change is noted on
 * the job, for the recorder to write on the endpoint. */
static void lane_adapt(struct hk_dispatcher *d, struct lane *l,
                       struct hk_job *job)
{
    enum hk_pressure p = hk_outcome_pressure(
        hk_outcome_kind(job->out.status_code, job->out.error));
    if (p == HK_PRESSURE_HOLD || (p == HK_PRESSURE_GROW && !l->adapting))
        return;
    if (!l->adapting) {
        hk_adapt_init(&l->adapt, l->max_conc);
        limited_set(d, l, true);
    }
    if (!hk_adapt_apply(&l->adapt, p, job->out.started_at_ms, hk_now_ms(),
                        l->max_conc))
        return;
    bool full = l->adapt.limit >= l->max_conc;
    ((struct job_meta *)job->user)->conc = full ? 0 : l->adapt.limit;
    hk_metrics_endpoint_concurrency(l->endpoint_id, full ? 0 : l->adapt.limit);
    if (full)
        limited_set(d, l, false);
    else if (p == HK_PRESSURE_SHRINK)
        lane_trim(d, l);
}

/* A request to the endpoint ended (job, or NULL for a held job given
 * back): its answer adapts the endpoint's slots, a free slot starts the
 * next waiting job, and a lane left with nothing is dropped. */
static void lane_done(struct hk_dispatcher *d, const char *eid,
                      struct hk_job *job)
{
    struct lane **at;
    struct lane *l = lane_find(d, eid, false, &at);
    if (l == NULL)
        return;
    l->busy--;
    if (job != NULL)
        lane_adapt(d, l, job);
    lane_fill(d, l);
    if (l->busy <= 0 && l->nwait == 0 && !l->adapting) {
        *at = l->next;
        free(l->wait);
        free(l);
    }
}

static size_t held_count(const struct hk_dispatcher *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nbuckets; i++)
        n += d->buckets[i].nheld;
    return n;
}

static void check_add(struct hk_buf *t, struct hk_buf *e, const char *tid,
                      const char *eid)
{
    bool first = e->len == 1;
    hk_buf_printf(t, "%s%s", first ? "" : ",", tid);
    hk_buf_printf(e, "%s%s", first ? "" : ",", eid);
}

/* Hands the claimer the endpoints that have jobs waiting in their lane or
 * held for their rate limit (held of them), at most every LANE_CHECK_MS
 * and only once it has taken the last list. Called with rec_mu held. */
static void lanes_to_check(struct hk_dispatcher *d, int64_t now,
                           size_t held)
{
    if ((d->waiting == 0 && held == 0) || d->check_eids != NULL ||
        now - d->checked_ms < LANE_CHECK_MS)
        return;
    struct hk_buf t, e;
    hk_buf_init(&t);
    hk_buf_init(&e);
    hk_buf_puts(&t, "{");
    hk_buf_puts(&e, "{");
    for (size_t i = 0; i < LANE_BUCKETS; i++)
        for (struct lane *l = d->lanes[i]; l != NULL; l = l->next)
            if (l->nwait > 0)
                check_add(&t, &e, l->tenant_id, l->endpoint_id);
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct lane **at;
        struct lane *l = d->buckets[i].nheld > 0
                             ? lane_find(d, d->buckets[i].endpoint_id, false,
                                         &at)
                             : NULL;
        if (l != NULL && l->nwait == 0)
            check_add(&t, &e, l->tenant_id, l->endpoint_id);
    }
    hk_buf_puts(&t, "}");
    hk_buf_puts(&e, "}");
    d->check_tids = hk_buf_steal(&t);
    d->check_eids = hk_buf_steal(&e);
    d->checked_ms = now;
    pthread_cond_signal(&d->cl_cv);
}

/* Queues a job that will not be sent for the claimer to give back. */
static void drop_job(struct hk_dispatcher *d, struct hk_job *j)
{
    live_remove(d, j);
    hk_buf_printf(&d->drop_tids, "%s%s", d->drop_tids.len ? "," : "",
                  j->tenant_id);
    hk_buf_printf(&d->drop_ids, "%s%s", d->drop_ids.len ? "," : "",
                  j->delivery_id);
    job_release(j);
}

/* Drops the jobs waiting in the lanes, or held for the rate limits, of the
 * endpoints the claimer found stopped, and queues their deliveries for the
 * claimer to give back. Called with rec_mu held. */
static void lanes_drop_stopped(struct hk_dispatcher *d)
{
    if (d->stopped == NULL)
        return;
    for (size_t i = 0; i < LANE_BUCKETS; i++)
        for (struct lane *l = d->lanes[i]; l != NULL; l = l->next) {
            if (l->nwait == 0 || strstr(d->stopped, l->endpoint_id) == NULL)
                continue;
            while (l->nwait > 0) {
                drop_job(d, lane_pop(l));
                d->waiting--;
            }
        }
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct bucket *b = &d->buckets[i];
        if (b->nheld == 0 || strstr(d->stopped, b->endpoint_id) == NULL)
            continue;
        for (size_t k = 0; k < b->nheld; k++) {
            drop_job(d, b->held[k]);
            lane_done(d, b->endpoint_id, NULL); /* a held job had its slot */
        }
        b->nheld = 0;
    }
    free(d->stopped);
    d->stopped = NULL;
}

/* Runs on the claimer thread: looks up the endpoints the dispatcher
 * thread listed and gives back the leases of the jobs it dropped. */
static void check_lanes(struct hk_dispatcher *d)
{
    pthread_mutex_lock(&d->rec_mu);
    char *tids = d->check_tids, *eids = d->check_eids;
    d->check_tids = d->check_eids = NULL;
    struct hk_buf drop_t, drop_i;
    hk_buf_init(&drop_t);
    hk_buf_init(&drop_i);
    if (d->drop_ids.len > 0) {
        hk_buf_printf(&drop_t, "{%s}", d->drop_tids.data);
        hk_buf_printf(&drop_i, "{%s}", d->drop_ids.data);
        hk_buf_reset(&d->drop_tids);
        hk_buf_reset(&d->drop_ids);
    }
    pthread_mutex_unlock(&d->rec_mu);
    char *stopped = NULL;
    if (eids != NULL &&
        hk_store_stopped_endpoints(d->work, tids, eids, &stopped) != HK_OK)
        stopped = NULL;
    if (drop_i.len > 0 &&
        hk_store_release(d->work, drop_t.data, drop_i.data) != HK_OK)
        hk_log_warn("could not give back deliveries waiting for an endpoint "
                    "that was disabled; their leases will expire");
    free(tids);
    free(eids);
    hk_buf_cleanup(&drop_t);
    hk_buf_cleanup(&drop_i);
    if (stopped != NULL) {
        pthread_mutex_lock(&d->rec_mu);
        free(d->stopped);
        d->stopped = stopped;
        pthread_mutex_unlock(&d->rec_mu);
        hk_deliver_wakeup(d->deliver);
    }
}

/* Starts held jobs whose tokens have come; returns ms until the next one
 * may start, or -1 when nothing is held. A bucket that holds nothing and
 * is full again is dropped: a new one would start the same. */
static int64_t release_held(struct hk_dispatcher *d)
{
    int64_t now = hk_mono_ms(), wait = -1;
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct bucket *b = &d->buckets[i];
        bucket_refill(b, now);
        while (b->nheld == 0 && b->tokens >= b->rate) {
            free(b->held);
            *b = d->buckets[--d->nbuckets];
            if (i == d->nbuckets)
                return wait;
            bucket_refill(b, now);
        }
        size_t started = 0;
        while (started < b->nheld && b->tokens >= 1.0) {
            b->tokens -= 1.0;
            hk_deliver_add(d->deliver, b->held[started++]);
        }
        if (started > 0) {
            memmove(b->held, b->held + started,
                    (b->nheld - started) * sizeof(*b->held));
            b->nheld -= started;
        }
        if (b->nheld > 0) {
            int64_t ms = (int64_t)((1.0 - b->tokens) * 1000.0 / b->rate) + 1;
            if (wait < 0 || ms < wait)
                wait = ms;
        }
    }
    return wait;
}


/* Endpoints with held jobs get no new claims until those have started,
 * nor do those whose requests in flight are held below max_concurrency
 * and whose lane holds HK_LANE_DEPTH rounds of them already. The other
 * limited ones are listed with the leases this dispatcher may hold for
 * each (cap_ids, caps), so that a claim takes no more than their smaller
 * limit sends within its leases. Called with rec_mu held. */
static void claim_filters(struct hk_dispatcher *d)
{
    struct hk_buf b, ci, cv;
    bool any = false, capped = false;
    hk_buf_init(&b);
    hk_buf_init(&ci);
    hk_buf_init(&cv);
    hk_buf_puts(&b, "{");
    hk_buf_puts(&ci, "{");
    hk_buf_puts(&cv, "{");
    for (size_t i = 0; i < d->nbuckets; i++) {
        if (d->buckets[i].nheld == 0)
            continue;
        hk_buf_printf(&b, "%s%s", any ? "," : "", d->buckets[i].endpoint_id);
        any = true;
    }
    for (size_t i = 0; i < d->nlimited; i++) {
        const struct lane *l = d->limited[i];
        int cap = HK_LANE_DEPTH * lane_limit(l);
        if (l->busy + (int)l->nwait >= cap) {
            hk_buf_printf(&b, "%s%s", any ? "," : "", l->endpoint_id);
            any = true;
        } else {
            hk_buf_printf(&ci, "%s%s", capped ? "," : "", l->endpoint_id);
            hk_buf_printf(&cv, "%s%d", capped ? "," : "", cap);
            capped = true;
        }
    }
    hk_buf_puts(&b, "}");
    hk_buf_puts(&ci, "}");
    hk_buf_puts(&cv, "}");
    free(d->exclude);
    free(d->cap_ids);
    free(d->caps);
    d->exclude = any ? hk_buf_steal(&b) : NULL;
    d->cap_ids = capped ? hk_buf_steal(&ci) : NULL;
    d->caps = capped ? hk_buf_steal(&cv) : NULL;
    hk_buf_cleanup(&b);
    hk_buf_cleanup(&ci);
    hk_buf_cleanup(&cv);
}

/* ---- claiming ---- */

/* Runs on the claimer thread: claims what the free slots allow and queues
 * the jobs for the dispatcher thread to start. Requests answered but not
 * recorded yet (waiting for the recorder, or being written by it) free
 * their slots at once: the claim is told which deliveries they are. When
 * the recorder falls twice max_in_flight behind (it gathers up to
 * RECORD_BATCH while writing as many), claims wait for it. A lane holds
 * jobs only while its endpoint's slots are all busy, and no more than
 * (HK_LANE_DEPTH - 1) times them, so the jobs waiting in lanes stay below
 * max_in_flight; the claim's room keeps them there too, should an
 * endpoint's max_concurrency be lowered meanwhile. Leases last
 * HK_LANE_DEPTH request timeouts (and some slack): a job may wait in its
 * lane for one request's time before its own starts. */
static void claim(struct hk_dispatcher *d)
{
    struct hk_buf ids;
    hk_buf_init(&ids);
    pthread_mutex_lock(&d->rec_mu);
    size_t busy = d->busy_local + d->nclaimed;
    size_t done = d->nunsaved + d->writing;
    int room = done >= 2 * (size_t)d->cfg->max_in_flight
                   ? 0
                   : d->cfg->max_in_flight - (int)busy;
    int lanes = d->cfg->max_in_flight - (int)d->waiting_pub;
    if (lanes < room)
        room = lanes;
    char *exclude = d->exclude ? hk_strdup(d->exclude) : NULL;
    char *cap_ids = d->cap_ids ? hk_strdup(d->cap_ids) : NULL;
    char *caps = d->caps ? hk_strdup(d->caps) : NULL;
    if (room > 0 && done > 0) {
        hk_buf_puts(&ids, "{");
        if (d->writing > 0)
            hk_buf_puts(&ids, d->writing_ids.data);
        done_list(d->unsaved, d->nunsaved, &ids);
        hk_buf_puts(&ids, "}");
    }
    char *mine = NULL;
    if (d->mine.len > 0) {
        struct hk_buf b;
        hk_buf_init(&b);
        hk_buf_printf(&b, "{%s}", d->mine.data);
        mine = hk_buf_steal(&b);
    }
    pthread_mutex_unlock(&d->rec_mu);

    struct hk_claim *claims = NULL;
    size_t n = 0;
    enum hk_result rc = HK_OK;
    bool more = true; /* nothing claimed for want of room: claim again */
    if (room > 0)
        rc = hk_store_claim(d->work, d->owner, room,
                            HK_LANE_DEPTH * d->cfg->request_timeout_ms +
                                LEASE_SLACK_MS,
                            exclude, cap_ids, caps, ids.data, mine, &claims,
                            &n, &more);
    /* endpoints left out for their rate limit have work of their own */
    if (rc != HK_OK || exclude != NULL)
        more = true;
    free(exclude);
    free(cap_ids);
    free(caps);
    free(mine);
    hk_buf_cleanup(&ids);
    struct hk_job **jobs = NULL;
    if (rc == HK_OK && n > 0) {
        jobs = hk_calloc(n, sizeof(*jobs));
        for (size_t i = 0; i < n; i++)
            jobs[i] = job_from_claim(d, &claims[i]);
    }
    hk_store_claims_free(claims, n);

    pthread_mutex_lock(&d->rec_mu);
    if (jobs != NULL) {
        if (d->nclaimed + n > d->capclaimed) {
            d->capclaimed = (d->nclaimed + n) * 2;
            d->claimed =
                hk_realloc(d->claimed, d->capclaimed * sizeof(*d->claimed));
        }
        memcpy(d->claimed + d->nclaimed, jobs, n * sizeof(*jobs));
        d->nclaimed += n;
        done_list(jobs, n, &d->mine);
    }
    d->claim_more = more;
    pthread_mutex_unlock(&d->rec_mu);
    free(jobs);
    /* work left behind: requests that ended meanwhile claim again */
    if (n > 0 || (more && atomic_load(&d->woken)))
        hk_deliver_wakeup(d->deliver);
}

/* Runs on the dispatcher thread: starts what the claimer claimed. */
static void start_claimed(struct hk_dispatcher *d)
{
    pthread_mutex_lock(&d->rec_mu);
    struct hk_job **jobs = d->claimed;
    size_t n = d->nclaimed;
    d->claimed = NULL;
    d->nclaimed = d->capclaimed = 0;
    pthread_mutex_unlock(&d->rec_mu);
    for (size_t i = 0; i < n; i++)
        submit(d, jobs[i]);
    free(jobs);
}

/* ---- outcomes ---- */

/* Asks engine/outcome.c what a finished attempt means and fills the row
 * that writes it. */
static void judge(const struct hk_dispatcher *d, struct hk_job *job,
                  struct hk_outcome_row *row, struct hk_outcome_decision *dec)
{
    const struct hk_outcome *o = &job->out;
    struct job_meta *m = job->user;
    int cycle = m->cycle_attempts + 1;
    struct hk_outcome_in in = {
        .status_code = o->status_code,
        .error = o->error,
        .retry_after_ms = o->retry_after_ms,
        .cycle_attempts = cycle,
        .schedule = &d->cfg->retry,
        .jitter = (double)(rand() % 1000000) / 1000000.0,
        .now_ms = hk_now_ms(),
        .failing_since_ms = m->failing_since_ms,
        .disable_after_ms = d->cfg->disable_after_ms,
    };
    hk_outcome_decide(&in, dec);
    memset(row, 0, sizeof(*row));
    row->tenant_id = job->tenant_id;
    row->delivery_id = job->delivery_id;
    row->endpoint_id = job->endpoint_id;
    row->number = job->attempt_number;
    row->cycle_attempts = cycle;
    row->started_at_ms = o->started_at_ms;
    row->duration_ms = o->duration_ms;
    row->status_code = o->status_code;
    row->error = o->error;
    row->url = job->url;
    row->request_headers = o->request_headers;
    row->response_headers = o->response_headers;
    row->response_body = o->response_body;
    row->truncated = o->truncated;
    row->new_status = hk_outcome_status(dec->next);
    row->next_attempt_ms = dec->next_attempt_ms;
    row->stopped_status = hk_outcome_status(dec->next_if_stopped);
    row->remote_ip = o->remote_ip;
    row->timings = &o->timings;
    row->concurrency = m->conc;
}

/* What follows a written outcome: the retry timer, metrics, the endpoint
 * disabled when the outcome says so, the job freed. */
static void saved(struct hk_dispatcher *d, struct hk_job *job,
                  const struct hk_outcome_row *row,
                  const struct hk_outcome_decision *dec)
{
    /* a few ms late, so the database clock agrees it is due */
    int64_t t = row->next_attempt_ms + 5;
    pthread_mutex_lock(&d->rec_mu);
    if (t > 5 && (d->next_due_ms == 0 || t < d->next_due_ms))
        d->next_due_ms = t;
    pthread_mutex_unlock(&d->rec_mu);
    const char *what = row->new_status;
    hk_metrics_attempt(strcmp(what, "pending") == 0 ? "retry" : what,
                       job->out.duration_ms);
    if (dec->disable_endpoint) {
        if (hk_store_endpoint_disable(d->rec_conn, job->tenant_id,
                                      job->endpoint_id,
                                      dec->disable_reason) != HK_OK)
            hk_log_warn("could not disable endpoint", "endpoint_id",
                        job->endpoint_id);
        else
            hk_log_warn("endpoint disabled", "endpoint_id", job->endpoint_id,
                        "reason", dec->disable_reason);
    }
    job_release(job);
}

/* Writes the outcomes jobs[0..n) in one statement. When the database
 * refuses the batch itself (a data error, not a lost connection), they are
 * written one by one and any single one it refuses is logged and dropped,
 * so that one bad row never stops the dispatcher; its delivery's lease
 * expires and it is tried again. Returns how many could not be written
 * (the database is away): those are moved to the front of jobs. */
static size_t save(struct hk_dispatcher *d, struct hk_job **jobs, size_t n)
{
    if (n == 0 || !hk_conn_ensure(d->rec_conn))
        return n;
    struct hk_outcome_row *rows = hk_calloc(n, sizeof(*rows));
    struct hk_outcome_decision *dec = hk_calloc(n, sizeof(*dec));
    for (size_t i = 0; i < n; i++)
        judge(d, jobs[i], &rows[i], &dec[i]);
    size_t kept = 0, written = 0;
    enum hk_result rc = hk_store_record(d->rec_conn, rows, n);
    if (rc == HK_OK) {
        for (size_t i = 0; i < n; i++)
            saved(d, jobs[i], &rows[i], &dec[i]);
        written = n;
    } else if (rc == HK_INVALID) {
        for (size_t i = 0; i < n; i++) {
            struct hk_job *job = jobs[i];
            rc = hk_store_record(d->rec_conn, &rows[i], 1);
            if (rc == HK_OK) {
                saved(d, job, &rows[i], &dec[i]);
                written++;
            } else if (rc == HK_INVALID) {
                hk_log_warn("the database refused an attempt's outcome; "
                            "dropped, the lease will expire",
                            "delivery_id", job->delivery_id);
                job_release(job);
            } else {
                jobs[kept++] = job;
            }
        }
    } else {
        kept = n;
    }
    /* each left a dead lease and a dead (or moved) queue row */
    if (written > 0)
        hk_vacuum_churn(d->vacuum, written);
    free(rows);
    free(dec);
    return kept;
}

/* The recorder thread: takes every waiting outcome, writes them, wakes
 * the dispatcher (their slots are free now), and starts again. While the
 * database is away it keeps them and tries once a second; claims wait
 * meanwhile. Once stopped it makes one last attempt and leaves the rest
 * to lease expiry. */
static void *record_loop(void *arg)
{
    struct hk_dispatcher *d = arg;
    pthread_mutex_lock(&d->rec_mu);
    for (;;) {
        while (d->nunsaved == 0 && !d->rec_stop)
            pthread_cond_wait(&d->rec_cv, &d->rec_mu);
        if (d->nunsaved == 0)
            break;
        struct timespec gather = deadline_in(RECORD_GATHER_MS);
        while (d->nunsaved < RECORD_BATCH && !d->rec_stop && !d->rec_failing &&
               pthread_cond_timedwait(&d->rec_cv, &d->rec_mu, &gather) == 0)
            ;
        struct hk_job **jobs = d->unsaved;
        size_t n = d->nunsaved;
        d->unsaved = NULL;
        d->nunsaved = d->capunsaved = 0;
        d->writing = n;
        done_list(jobs, n, &d->writing_ids);
        pthread_mutex_unlock(&d->rec_mu);

        size_t kept = save(d, jobs, n);

        pthread_mutex_lock(&d->rec_mu);
        d->writing = 0;
        hk_buf_reset(&d->writing_ids);
        d->rec_failing = kept > 0;
        if (kept > 0) {
            /* back in front of what came meanwhile */
            size_t total = kept + d->nunsaved;
            jobs = hk_realloc(jobs, total * sizeof(*jobs));
            if (d->nunsaved > 0)
                memcpy(jobs + kept, d->unsaved,
                       d->nunsaved * sizeof(*jobs));
            free(d->unsaved);
            d->unsaved = jobs;
            d->nunsaved = d->capunsaved = total;
        } else {
            free(jobs);
        }
        pthread_mutex_unlock(&d->rec_mu);
        atomic_store(&d->woken, true);
        hk_deliver_wakeup(d->deliver);
        pthread_mutex_lock(&d->rec_mu);
        if (kept > 0) {
            if (d->rec_stop)
                break;
            struct timespec until = deadline_in(1000);
            pthread_cond_timedwait(&d->rec_cv, &d->rec_mu, &until);
        }
    }
    pthread_mutex_unlock(&d->rec_mu);
    return NULL;
}

/* Queues finished transfers for the recorder, and looks for work at
 * once: their slots are free. */
static void collect(struct hk_dispatcher *d)
{
    struct hk_job *done[MAX_COLLECT];
    size_t n;
    while ((n = hk_deliver_collect(d->deliver, done, MAX_COLLECT)) > 0) {
        for (size_t i = 0; i < n; i++) {
            live_remove(d, done[i]);
            lane_done(d, done[i]->endpoint_id, done[i]);
        }
        pthread_mutex_lock(&d->rec_mu);
        if (d->nunsaved + n > d->capunsaved) {
            d->capunsaved = (d->nunsaved + n) * 2;
            d->unsaved =
                hk_realloc(d->unsaved, d->capunsaved * sizeof(*d->unsaved));
        }
        memcpy(d->unsaved + d->nunsaved, done, n * sizeof(*done));
        d->nunsaved += n;
        pthread_mutex_unlock(&d->rec_mu);
        atomic_store(&d->woken, true);
    }
}

/* Tells the recorder there is work. */
static void kick_recorder(struct hk_dispatcher *d)
{
    pthread_mutex_lock(&d->rec_mu);
    if (d->nunsaved > 0)
        pthread_cond_signal(&d->rec_cv);
    pthread_mutex_unlock(&d->rec_mu);
}

/* ---- LISTEN ---- */

static void listen_connect(struct hk_dispatcher *d)
{
    if (d->listen == NULL &&
        hk_conn_open(d->cfg->database_url, "hookd listen", &d->listen) != HK_OK)
        return;
    if (!hk_conn_ensure(d->listen))
        return;
    d->listening =
        hk_db_exec(d->listen, "LISTEN hookd_work", 0, NULL, NULL) == HK_OK;
}

static void listen_drain(struct hk_dispatcher *d)
{
    if (PQconsumeInput(d->listen->pg) == 0) {
        d->listening = false;
        return;
    }
    PGnotify *nf;
    while ((nf = PQnotifies(d->listen->pg)) != NULL) {
        /* this process's ingests woke this dispatcher directly */
        if (strcmp(nf->extra, hk_notify_origin()) != 0)
            atomic_store(&d->fresh, true);
        PQfreemem(nf);
    }
}

/* ---- housekeeping ---- */

static void sweep(struct hk_dispatcher *d)
{
    int n = 0;
    if (hk_store_expire_leases(d->work, &n) == HK_OK && n > 0) {
        char s[16];
        snprintf(s, sizeof(s), "%d", n);
        hk_log_info("expired leases taken back", "deliveries", s);
        atomic_store(&d->fresh, true);
    }
    /* a session's token no longer works once it expires; its row goes
     * here rather than on the next request that presents it */
    if (hk_store_session_purge(d->work, &n) == HK_OK && n > 0) {
        char s[16];
        snprintf(s, sizeof(s), "%d", n);
        hk_log_info("expired portal sessions purged", "sessions", s);
    }
    if (hk_store_changes_purge(d->work) != HK_OK)
        hk_log_warn("cannot purge the change log of the live updates");
}

/* The claimer thread: claims whenever the dispatcher asks (an ingest or
 * a NOTIFY, slots freed while work may be left, a retry come due, the
 * one-second poll), and sweeps expired
 * leases and old attempts on the side. */
static void *claim_loop(void *arg)
{
    struct hk_dispatcher *d = arg;
    int64_t last_sweep = 0, last_prune = 0;
    pthread_mutex_lock(&d->rec_mu);
    for (;;) {
        if (!d->want_claim && !d->cl_stop) {
            struct timespec until = deadline_in(200);
            pthread_cond_timedwait(&d->cl_cv, &d->rec_mu, &until);
        }
        if (d->cl_stop)
            break;
        bool want = d->want_claim && !d->rec_failing;
        if (d->want_claim && !want)
            d->claim_again = true; /* claim once the recorder is back */
        d->want_claim = false;
        pthread_mutex_unlock(&d->rec_mu);

        int64_t now = hk_mono_ms();
        if (now - last_sweep >= SWEEP_MS && hk_conn_ensure(d->work)) {
            sweep(d);
            last_sweep = now;
        }
        if (d->cfg->retention_days > 0 && now - last_prune >= PRUNE_MS &&
            hk_conn_ensure(d->work)) {
            int n;
            if (hk_store_prune_attempts(d->work, d->cfg->retention_days,
                                        &n) == HK_OK)
                last_prune = now;
        }
        if (hk_conn_ensure(d->work))
            check_lanes(d);
        if (want && hk_conn_ensure(d->work))
            claim(d);
        pthread_mutex_lock(&d->rec_mu);
    }
    pthread_mutex_unlock(&d->rec_mu);
    return NULL;
}

static void stop_recorder(struct hk_dispatcher *d)
{
    pthread_mutex_lock(&d->rec_mu);
    d->rec_stop = true;
    pthread_cond_signal(&d->rec_cv);
    pthread_mutex_unlock(&d->rec_mu);
    pthread_join(d->rec_thread, NULL);
}

static void stop_claimer(struct hk_dispatcher *d)
{
    pthread_mutex_lock(&d->rec_mu);
    d->cl_stop = true;
    pthread_cond_signal(&d->cl_cv);
    pthread_mutex_unlock(&d->rec_mu);
    pthread_join(d->cl_thread, NULL);
}

/* Gives back claimed work that was never started: jobs held for their
 * rate limit, and jobs the claimer claimed that were not started yet.
 * Called once the claimer has stopped. */
static void release_unstarted(struct hk_dispatcher *d)
{
    struct hk_buf t, ids;
    hk_buf_init(&t);
    hk_buf_init(&ids);
    hk_buf_puts(&t, "{");
    hk_buf_puts(&ids, "{");
    size_t n = 0;
    for (size_t k = 0; k < d->nclaimed; k++, n++) {
        hk_buf_printf(&t, "%s%s", n ? "," : "", d->claimed[k]->tenant_id);
        hk_buf_printf(&ids, "%s%s", n ? "," : "", d->claimed[k]->delivery_id);
        job_release(d->claimed[k]);
    }
    d->nclaimed = 0;
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct bucket *b = &d->buckets[i];
        for (size_t k = 0; k < b->nheld; k++, n++) {
            hk_buf_printf(&t, "%s%s", n ? "," : "", b->held[k]->tenant_id);
            hk_buf_printf(&ids, "%s%s", n ? "," : "", b->held[k]->delivery_id);
            live_remove(d, b->held[k]);
            job_release(b->held[k]);
        }
        b->nheld = 0;
    }
    for (size_t i = 0; i < LANE_BUCKETS; i++)
        for (struct lane *l = d->lanes[i]; l != NULL; l = l->next)
            while (l->nwait > 0) {
                struct hk_job *j = lane_pop(l);
                hk_buf_printf(&t, "%s%s", n ? "," : "", j->tenant_id);
                hk_buf_printf(&ids, "%s%s", n ? "," : "", j->delivery_id);
                live_remove(d, j);
                job_release(j);
                d->waiting--;
                n++;
            }
    if (d->drop_ids.len > 0) {
        hk_buf_printf(&t, "%s%s", n ? "," : "", d->drop_tids.data);
        hk_buf_printf(&ids, "%s%s", n ? "," : "", d->drop_ids.data);
        hk_buf_reset(&d->drop_tids);
        hk_buf_reset(&d->drop_ids);
        n++;
    }
    hk_buf_puts(&t, "}");
    hk_buf_puts(&ids, "}");
    if (n > 0 && hk_conn_ensure(d->work) &&
        hk_store_release(d->work, t.data, ids.data) != HK_OK)
        hk_log_warn("could not release deliveries; their leases will "
                    "expire");
    hk_buf_cleanup(&t);
    hk_buf_cleanup(&ids);
}

/* ---- the loop ---- */

static void *run(void *arg)
{
    struct hk_dispatcher *d = arg;
    int64_t last_poll = 0;
    int64_t stop_deadline = 0;
    listen_connect(d);
    for (;;) {
        int64_t now = hk_mono_ms();
        bool stopping = atomic_load(&d->stop);
        if (stopping && stop_deadline == 0) {
            stop_deadline = now + d->cfg->request_timeout_ms + 1000;
            stop_claimer(d);
            release_unstarted(d);
        }
        if (stopping && hk_deliver_in_flight(d->deliver) == 0)
            break;
        if (stopping && now > stop_deadline)
            break;
        if (!stopping) {
            if (!d->listening && now - last_poll >= POLL_MS)
                listen_connect(d);
            start_claimed(d);
            bool due = now - last_poll >= POLL_MS;
            pthread_mutex_lock(&d->rec_mu);
            if (d->next_due_ms > 0 && hk_now_ms() >= d->next_due_ms) {
                d->next_due_ms = 0;
                due = true;
            }
            lanes_drop_stopped(d);
            size_t held = held_count(d);
            lanes_to_check(d, now, held);
            d->busy_local = hk_deliver_in_flight(d->deliver) + held;
            d->waiting_pub = d->waiting;
            /* woken stays set until a claim is made for it */
            bool fresh = atomic_exchange(&d->fresh, false);
            bool woken = atomic_load(&d->woken) &&
                         (d->claim_more || d->claim_again);
            if (due || fresh || woken) {
                d->claim_again = false;
                atomic_store(&d->woken, false);
                claim_filters(d);
                mine_reset(d);
                d->want_claim = true;
                pthread_cond_signal(&d->cl_cv);
                if (due)
                    last_poll = now;
            }
            pthread_mutex_unlock(&d->rec_mu);
        }
        kick_recorder(d);
        int64_t hold_wait = release_held(d);
        hk_metrics_in_flight((long)hk_deliver_in_flight(d->deliver));
        int timeout = POLL_MS - (int)(hk_mono_ms() - last_poll);
        if (timeout < 0)
            timeout = 0;
        if (hold_wait >= 0 && hold_wait < timeout)
            timeout = (int)hold_wait;
        pthread_mutex_lock(&d->rec_mu);
        int64_t next_due = d->next_due_ms;
        pthread_mutex_unlock(&d->rec_mu);
        if (next_due > 0) {
            int64_t until = next_due - hk_now_ms();
            if (until < timeout)
                timeout = until < 0 ? 0 : (int)until;
        }
        /* jobs waiting or held: their endpoints are checked every
         * LANE_CHECK_MS */
        if ((d->waiting > 0 || hold_wait >= 0) && timeout > LANE_CHECK_MS)
            timeout = LANE_CHECK_MS;
        if (stopping)
            timeout = 100;
        bool extra = false;
        int fd = d->listening ? PQsocket(d->listen->pg) : -1;
        hk_deliver_poll(d->deliver, fd, timeout, &extra);
        if (extra)
            listen_drain(d);
        collect(d);
    }
    collect(d);
    stop_recorder(d); /* it writes what is left, then stops */
    return NULL;
}

enum hk_result hk_dispatcher_start(const struct hk_config *cfg,
                                   struct hk_dispatcher **out)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct hk_dispatcher *d = hk_calloc(1, sizeof(*d));
    d->cfg = cfg;
    hk_uuid7(d->owner);
    *out = NULL;
    if (hk_conn_open(cfg->database_url, "hookd claimer", &d->work) != HK_OK) {
        free(d);
        curl_global_cleanup();
        return HK_DB;
    }
    hk_conn_generic_plans(d->work);
    hk_conn_async_commit(d->work);
    if (hk_conn_open(cfg->database_url, "hookd recorder", &d->rec_conn) !=
        HK_OK) {
        hk_conn_close(d->work);
        free(d);
        curl_global_cleanup();
        return HK_DB;
    }
    hk_conn_generic_plans(d->rec_conn);
    if (hk_vacuum_start(cfg->database_url, &d->vacuum) != HK_OK) {
        hk_conn_close(d->rec_conn);
        hk_conn_close(d->work);
        free(d);
        curl_global_cleanup();
        return HK_INTERNAL;
    }
    pthread_mutex_init(&d->rec_mu, NULL);
    pthread_cond_init(&d->rec_cv, NULL);
    pthread_cond_init(&d->cl_cv, NULL);
    struct hk_deliver_opts opts = {
        .timeout_ms = cfg->request_timeout_ms,
        .allow_private = cfg->allow_private_targets,
        .max_host_connections = 0,
    };
    d->deliver = hk_deliver_new(&opts);
    atomic_store(&d->fresh, true);
    d->claim_more = true;
    srand((unsigned)hk_now_ms());
    bool recorder = false, claimer = false;
    if (pthread_create(&d->rec_thread, NULL, record_loop, d) != 0)
        goto fail;
    recorder = true;
    if (pthread_create(&d->cl_thread, NULL, claim_loop, d) != 0)
        goto fail;
    claimer = true;
    if (pthread_create(&d->thread, NULL, run, d) != 0)
        goto fail;
    *out = d;
    return HK_OK;
fail:
    if (claimer)
        stop_claimer(d);
    if (recorder)
        stop_recorder(d);
    hk_deliver_free(d->deliver);
    hk_vacuum_stop(d->vacuum);
    hk_conn_close(d->rec_conn);
    hk_conn_close(d->work);
    pthread_mutex_destroy(&d->rec_mu);
    pthread_cond_destroy(&d->rec_cv);
    pthread_cond_destroy(&d->cl_cv);
    free(d);
    curl_global_cleanup();
    return HK_INTERNAL;
}

void hk_dispatcher_wake(void *dispatcher)
{
    struct hk_dispatcher *d = dispatcher;
    atomic_store(&d->fresh, true);
    hk_deliver_wakeup(d->deliver);
}

void hk_dispatcher_stop(struct hk_dispatcher *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->stop, true);
    hk_deliver_wakeup(d->deliver);
    pthread_join(d->thread, NULL);
    /* what could not be written is left to lease expiry */
    for (size_t i = 0; i < d->nunsaved; i++)
        job_release(d->unsaved[i]);
    free(d->unsaved);
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (size_t k = 0; k < d->buckets[i].nheld; k++)
            job_release(d->buckets[i].held[k]);
        free(d->buckets[i].held);
    }
    free(d->buckets);
    for (size_t i = 0; i < LANE_BUCKETS; i++)
        while (d->lanes[i] != NULL) {
            struct lane *l = d->lanes[i];
            d->lanes[i] = l->next;
            while (l->nwait > 0)
                job_release(lane_pop(l));
            free(l->wait);
            free(l);
        }
    hk_deliver_free(d->deliver);
    hk_vacuum_stop(d->vacuum); /* after the recorder, which feeds it */
    hk_conn_close(d->listen);
    hk_conn_close(d->rec_conn);
    hk_conn_close(d->work);
    pthread_mutex_destroy(&d->rec_mu);
    pthread_cond_destroy(&d->rec_cv);
    pthread_cond_destroy(&d->cl_cv);
    free(d->exclude);
    free(d->cap_ids);
    free(d->caps);
    free(d->limited);
    hk_buf_cleanup(&d->mine);
    free(d->claimed);
    hk_buf_cleanup(&d->writing_ids);
    hk_buf_cleanup(&d->drop_tids);
    hk_buf_cleanup(&d->drop_ids);
    free(d->check_tids);
    free(d->check_eids);
    free(d->stopped);
    free(d);
    curl_global_cleanup();
}
