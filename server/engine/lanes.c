/*
 * lanes.c - an endpoint's slots in this dispatcher (its lane): the
 * requests in flight, the claimed jobs waiting in claim order for a slot,
 * and how many slots the endpoint's answers allow now (adaptive
 * concurrency, engine/outcome.h). It also turns the lanes' state into
 * what the claimer needs: the endpoints to leave out of claims or to cap,
 * the endpoints whose waiting jobs must be checked, and the jobs to give
 * back when their endpoint stopped.
 */
#include "engine/engine.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a lane held below its max stays once it holds nothing. */
#define LANE_IDLE_MS 60000

/* The endpoint's lane (NULL when it has none and create is false), and
 * where the pointer to it is kept, for unlinking. */
static struct hk_lane *lane_find(struct hk_dispatcher *d, const char *eid,
                              bool create, struct hk_lane ***at)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = eid; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    struct hk_lane **pp = &d->lanes[h & (LANE_BUCKETS - 1)];
    while (*pp != NULL && strcmp((*pp)->endpoint_id, eid) != 0)
        pp = &(*pp)->next;
    if (*pp == NULL && create) {
        *pp = hk_calloc(1, sizeof(**pp));
        snprintf((*pp)->endpoint_id, sizeof((*pp)->endpoint_id), "%s", eid);
    }
    *at = pp;
    return *pp;
}

static void lane_push(struct hk_lane *l, struct hk_job *job)
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

struct hk_job *hk_lanes_pop(struct hk_lane *l)
{
    struct hk_job *job = l->wait[l->head];
    l->head = (l->head + 1) % l->capwait;
    l->nwait--;
    return job;
}

/* Starts the lane's waiting jobs, oldest first, while the endpoint has a
 * free slot here. */
/* The endpoint's slots in this dispatcher now. */
static int lane_limit(const struct hk_lane *l)
{
    return l->adapting && l->adapt.limit < l->max_conc ? l->adapt.limit
                                                        : l->max_conc;
}

bool hk_lanes_owning(struct hk_dispatcher *d)
{
    if (hk_mono_ms() < atomic_load(&d->own_valid_ms))
        return true;
    d->held_back = true;
    return false;
}

static void lane_fill(struct hk_dispatcher *d, struct hk_lane *l)
{
    while (l->nwait > 0 && l->busy < lane_limit(l) && hk_lanes_owning(d)) {
        d->waiting--;
        l->busy++;
        hk_limits_start(d, hk_lanes_pop(l));
    }
}

static void limited_set(struct hk_dispatcher *d, struct hk_lane *l, bool on);

/* Queues a claimed job in its endpoint's lane and starts what the
 * endpoint's free slots allow, in claim order: a job never overtakes one
 * claimed before it for the same endpoint, even when max_concurrency was
 * raised in between. */
void hk_lanes_submit(struct hk_dispatcher *d, struct hk_job *job)
{
    struct hk_job_meta *m = job->user;
    struct hk_lane **at;
    struct hk_lane *l = lane_find(d, job->endpoint_id, true, &at);
    hk_work_live_add(d, job);
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
    if (l->adapting &&
        l->busy + (int)l->nwait >= HK_LANE_DEPTH * lane_limit(l)) {
        /* more than HK_LANE_DEPTH rounds of the smaller limit: back to
         * its place in the queue */
        pthread_mutex_lock(&d->claim_mu);
        hk_lanes_drop(d, job);
        pthread_mutex_unlock(&d->claim_mu);
        return;
    }
    if (l->nwait == 0 && l->busy < lane_limit(l) && hk_lanes_owning(d)) {
        l->busy++;
        hk_limits_start(d, job); /* nothing older waits: no need to queue it */
        return;
    }
    lane_push(l, job);
    d->waiting++;
    lane_fill(d, l);
}

void hk_lanes_fill_all(struct hk_dispatcher *d)
{
    for (size_t i = 0; i < LANE_BUCKETS; i++)
        for (struct hk_lane *l = d->lanes[i]; l != NULL; l = l->next)
            lane_fill(d, l);
}

/* Gives back the newest waiting jobs beyond HK_LANE_DEPTH rounds of the
 * lane's smaller limit: they are due again at their place in the queue. */
static void lane_trim(struct hk_dispatcher *d, struct hk_lane *l)
{
    int keep = HK_LANE_DEPTH * lane_limit(l) - l->busy;
    if (keep < 0)
        keep = 0;
    if (l->nwait <= (size_t)keep)
        return;
    pthread_mutex_lock(&d->claim_mu);
    while (l->nwait > (size_t)keep) {
        l->nwait--;
        d->waiting--;
        hk_lanes_drop(d, l->wait[(l->head + l->nwait) % l->capwait]);
    }
    pthread_mutex_unlock(&d->claim_mu);
}

static void limited_set(struct hk_dispatcher *d, struct hk_lane *l, bool on)
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
static void lane_adapt(struct hk_dispatcher *d, struct hk_lane *l,
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
    ((struct hk_job_meta *)job->user)->conc = full ? 0 : l->adapt.limit;
    hk_metrics_endpoint_concurrency(l->endpoint_id, full ? 0 : l->adapt.limit);
    if (full)
        limited_set(d, l, false);
    else if (p == HK_PRESSURE_SHRINK)
        lane_trim(d, l);
}

/* A request to the endpoint ended (job, or NULL for a held job given
 * back): its answer adapts the endpoint's slots, a free slot starts the
 * next waiting job, and a lane left with nothing is dropped. */
void hk_lanes_done(struct hk_dispatcher *d, const char *eid,
                      struct hk_job *job)
{
    struct hk_lane **at;
    struct hk_lane *l = lane_find(d, eid, false, &at);
    if (l == NULL)
        return;
    l->busy--;
    if (job != NULL)
        lane_adapt(d, l, job);
    lane_fill(d, l);
    if (l->busy <= 0 && l->nwait == 0) {
        if (!l->adapting) {
            *at = l->next;
            free(l->wait);
            free(l);
        } else {
            l->idle_ms = hk_mono_ms();
        }
    }
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
 * and only once it has taken the last list. Called with claim_mu held. */
void hk_lanes_to_check(struct hk_dispatcher *d, int64_t now,
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
        for (struct hk_lane *l = d->lanes[i]; l != NULL; l = l->next)
            if (l->nwait > 0)
                check_add(&t, &e, l->tenant_id, l->endpoint_id);
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct hk_lane **at;
        struct hk_lane *l = d->buckets[i].nheld > 0
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

/* Drops a job that will not be sent: its delivery is pending and due,
 * and the next claim of the endpoint's owner takes it again. */
void hk_lanes_drop(struct hk_dispatcher *d, struct hk_job *j)
{
    hk_work_live_remove(d, j);
    hk_work_release(j);
}

/* Drops the jobs waiting in the lanes, or held for the rate limits, of the
 * endpoints the claimer found stopped. Called with claim_mu held. */
void hk_lanes_drop_stopped(struct hk_dispatcher *d)
{
    if (d->stopped == NULL)
        return;
    for (size_t i = 0; i < LANE_BUCKETS; i++)
        for (struct hk_lane *l = d->lanes[i]; l != NULL; l = l->next) {
            if (l->nwait == 0 || strstr(d->stopped, l->endpoint_id) == NULL)
                continue;
            while (l->nwait > 0) {
                hk_lanes_drop(d, hk_lanes_pop(l));
                d->waiting--;
            }
        }
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct hk_bucket *b = &d->buckets[i];
        if (b->nheld == 0 || strstr(d->stopped, b->endpoint_id) == NULL)
            continue;
        for (size_t k = 0; k < b->nheld; k++) {
            hk_lanes_drop(d, b->held[k]);
            hk_lanes_done(d, b->endpoint_id, NULL); /* a held job had its slot */
        }
        b->nheld = 0;
    }
    free(d->stopped);
    d->stopped = NULL;
}

/* Endpoints with held jobs get no new claims until those have started,
 * nor do those whose requests in flight are held below max_concurrency
 * and whose lane holds HK_LANE_DEPTH rounds of them already. The other
 * limited ones are listed with the deliveries this dispatcher may hold
 * for each (cap_ids, caps), so that a claim takes no more than
 * HK_LANE_DEPTH rounds of their smaller limit. Called with claim_mu held. */
void hk_lanes_claim_filters(struct hk_dispatcher *d)
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
    int64_t now = hk_mono_ms();
    for (size_t i = 0; i < d->nlimited; i++) {
        struct hk_lane *l = d->limited[i];
        if (l->busy <= 0 && l->nwait == 0 && now - l->idle_ms > LANE_IDLE_MS) {
            /* idle: its limit waits on the endpoint, where the next lane
             * for it starts from */
            struct hk_lane **at;
            lane_find(d, l->endpoint_id, false, &at);
            *at = l->next;
            limited_set(d, l, false);
            hk_metrics_endpoint_concurrency(l->endpoint_id, 0);
            free(l->wait);
            free(l);
            i--; /* limited_set moved the last lane here */
            continue;
        }
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

