/*
 * send.c - the sender thread: it owns the curl multi handle (through
 * deliver.c) and the LISTEN connection. Each turn it starts what the
 * claimer claimed (through the lanes and the rate limits), asks for a
 * claim when work may have come or slots are free, sleeps in
 * curl_multi_poll with the LISTEN socket as an extra descriptor (a
 * NOTIFY from any API process wakes it; a one-second poll is only the
 * fallback for retries coming due), and queues finished attempts for the
 * recorder. It never waits for the database.
 */
#include "engine/engine.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 1000
#define MAX_COLLECT 512

/* Runs on the sender thread: starts what the claimer claimed. */
static void start_claimed(struct hk_dispatcher *d)
{
    size_t n;
    struct hk_job **jobs = hk_jobq_take_now(&d->claimed, &n);
    if (n == 0)
        return;
    /* a job claimed before its endpoint was given up is given back */
    pthread_mutex_lock(&d->claim_mu);
    for (size_t i = 0; i < n; i++)
        if (d->yielding != NULL &&
            strstr(d->yielding, jobs[i]->endpoint_id) != NULL) {
            hk_lanes_drop(d, jobs[i]);
            jobs[i] = NULL;
        }
    pthread_mutex_unlock(&d->claim_mu);
    for (size_t i = 0; i < n; i++)
        if (jobs[i] != NULL)
            hk_lanes_submit(d, jobs[i]);
    free(jobs);
}


/* Queues finished transfers for the recorder, and looks for work at
 * once: their slots are free. */
static void collect(struct hk_dispatcher *d)
{
    struct hk_job *done[MAX_COLLECT];
    size_t n;
    while ((n = hk_deliver_collect(d->deliver, done, MAX_COLLECT)) > 0) {
        for (size_t i = 0; i < n; i++) {
            hk_work_live_remove(d, done[i]);
            hk_lanes_done(d, done[i]->endpoint_id, done[i]);
        }
        hk_jobq_push(&d->outcomes, done, n);
        atomic_store(&d->woken, true);
    }
}



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
        if (!hk_notify_is_mine(nf->extra)) {
            if (hk_notify_unowned(nf->extra))
                atomic_store(&d->own_now, true);
            atomic_store(&d->fresh, true);
        }
        PQfreemem(nf);
    }
}


/* Frees claimed work that was never started: jobs held for their rate
 * limit, jobs waiting in lanes, and jobs the claimer claimed that were
 * not started yet. Their deliveries are pending and due: the endpoints'
 * next owners send them. Called once the claimer has stopped. */
static void drop_unstarted(struct hk_dispatcher *d)
{
    size_t nclaimed;
    struct hk_job **claimed = hk_jobq_take_now(&d->claimed, &nclaimed);
    for (size_t k = 0; k < nclaimed; k++)
        hk_work_release(claimed[k]);
    free(claimed);
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct hk_bucket *b = &d->buckets[i];
        for (size_t k = 0; k < b->nheld; k++) {
            hk_work_live_remove(d, b->held[k]);
            hk_work_release(b->held[k]);
        }
        b->nheld = 0;
    }
    for (size_t i = 0; i < LANE_BUCKETS; i++)
        for (struct hk_lane *l = d->lanes[i]; l != NULL; l = l->next)
            while (l->nwait > 0) {
                struct hk_job *j = hk_lanes_pop(l);
                hk_work_live_remove(d, j);
                hk_work_release(j);
                d->waiting--;
            }
}


void *hk_sender_loop(void *arg)
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
            hk_claimer_stop(d);
            drop_unstarted(d);
        }
        if (stopping && hk_deliver_in_flight(d->deliver) == 0)
            break;
        if (stopping && now > stop_deadline)
            break;
        if (!stopping) {
            /* the leases are known live again: start what waited for
             * them, whichever lane it waits in */
            if (d->held_back) {
                d->held_back = false;
                if (hk_lanes_owning(d))
                    hk_lanes_fill_all(d);
            }
            if (!d->listening && now - last_poll >= POLL_MS)
                listen_connect(d);
            start_claimed(d);
            bool due = now - last_poll >= POLL_MS;
            pthread_mutex_lock(&d->claim_mu);
            if (d->next_due_ms > 0 && hk_now_ms() >= d->next_due_ms) {
                d->next_due_ms = 0;
                due = true;
            }
            hk_lanes_drop_stopped(d);
            size_t held = hk_limits_held_count(d);
            hk_lanes_to_check(d, now, held);
            d->busy_local = hk_deliver_in_flight(d->deliver) + held;
            d->waiting_pub = d->waiting;
            /* woken stays set until a claim is made for it */
            bool fresh = atomic_exchange(&d->fresh, false);
            bool woken = atomic_load(&d->woken) &&
                         (d->claim_more || d->claim_again);
            if (due || fresh || woken) {
                d->claim_again = false;
                atomic_store(&d->woken, false);
                hk_lanes_claim_filters(d);
                hk_work_mine_reset(d);
                d->want_claim = true;
                pthread_cond_signal(&d->cl_cv);
                if (due)
                    last_poll = now;
            } else if (d->live_gen != d->mine_gen &&
                       now - d->mine_ms >= LANE_CHECK_MS) {
                /* what the claimer writes as held, and gives up by */
                hk_work_mine_reset(d);
            }
            pthread_mutex_unlock(&d->claim_mu);
        }
        int64_t hold_wait = hk_limits_release_held(d);
        hk_metrics_in_flight((long)hk_deliver_in_flight(d->deliver));
        int timeout = POLL_MS - (int)(hk_mono_ms() - last_poll);
        if (timeout < 0)
            timeout = 0;
        if (hold_wait >= 0 && hold_wait < timeout)
            timeout = (int)hold_wait;
        pthread_mutex_lock(&d->claim_mu);
        int64_t next_due = d->next_due_ms;
        pthread_mutex_unlock(&d->claim_mu);
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
    hk_recorder_stop(d); /* it writes what is left, then stops */
    return NULL;
}
