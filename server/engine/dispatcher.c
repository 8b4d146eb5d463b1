/*
 * dispatcher.c - starts and stops the delivery engine (docs/engine.md):
 * its connections (claims, records, LISTEN, vacuum) and its threads, the
 * sender (send.c), the claimer (claim.c), the recorder (record.c) and the
 * vacuum thread that also runs the sweeps (sweep.c). Whatever a stopped
 * dispatcher leaves behind is pending in the database: the endpoints'
 * next owners send it.
 */
#include "dispatcher.h"
#include "engine/engine.h"
#include "log.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

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
    struct hk_vacuum_chore sweeps = {hk_sweep_run, d, SWEEP_MS};
    if (hk_vacuum_start(cfg->database_url, &sweeps, &d->vacuum) != HK_OK) {
        hk_conn_close(d->rec_conn);
        hk_conn_close(d->work);
        free(d);
        curl_global_cleanup();
        return HK_INTERNAL;
    }
    pthread_mutex_init(&d->claim_mu, NULL);
    hk_jobq_init(&d->outcomes);
    hk_jobq_init(&d->claimed);
    pthread_cond_init(&d->cl_cv, NULL);
    struct hk_deliver_opts opts = {
        .timeout_ms = cfg->request_timeout_ms,
        .allow_private = cfg->allow_private_targets,
        .max_host_connections = 0,
        .threads = cfg->send_threads,
    };
    d->deliver = hk_deliver_new(&opts);
    atomic_store(&d->fresh, true);
    d->claim_more = true;
    srand((unsigned)hk_now_ms());
    bool recorder = false, claimer = false;
    if (pthread_create(&d->rec_thread, NULL, hk_recorder_loop, d) != 0)
        goto fail;
    recorder = true;
    if (pthread_create(&d->cl_thread, NULL, hk_claimer_loop, d) != 0)
        goto fail;
    claimer = true;
    if (pthread_create(&d->thread, NULL, hk_sender_loop, d) != 0)
        goto fail;
    *out = d;
    /* the id on its rows of hookd.dispatchers and hookd.endpoint_owners */
    hk_log_info("dispatcher started", "dispatcher_id", d->owner);
    return HK_OK;
fail:
    if (claimer)
        hk_claimer_stop(d);
    if (recorder)
        hk_recorder_stop(d);
    hk_deliver_free(d->deliver);
    hk_vacuum_stop(d->vacuum);
    hk_conn_close(d->rec_conn);
    hk_conn_close(d->work);
    pthread_mutex_destroy(&d->claim_mu);
    pthread_cond_destroy(&d->cl_cv);
    hk_jobq_cleanup(&d->outcomes, hk_work_release);
    hk_jobq_cleanup(&d->claimed, hk_work_release);
    free(d);
    curl_global_cleanup();
    return HK_INTERNAL;
}

void hk_dispatcher_wake(void *dispatcher, bool unowned)
{
    struct hk_dispatcher *d = dispatcher;
    if (unowned)
        atomic_store(&d->own_now, true);
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
    /* its endpoints go to the other dispatchers now rather than when
     * their leases run out */
    if (hk_conn_ensure(d->work) && hk_store_disown(d->work, d->owner) != HK_OK)
        hk_log_warn("could not give up this dispatcher's endpoints; others "
                    "take them when their leases run out");
    /* what could not be written is sent again by the next owner */
    hk_jobq_cleanup(&d->outcomes, hk_work_release);
    hk_jobq_cleanup(&d->claimed, hk_work_release);
    for (size_t i = 0; i < d->nbuckets; i++) {
        for (size_t k = 0; k < d->buckets[i].nheld; k++)
            hk_work_release(d->buckets[i].held[k]);
        free(d->buckets[i].held);
    }
    free(d->buckets);
    for (size_t i = 0; i < LANE_BUCKETS; i++)
        while (d->lanes[i] != NULL) {
            struct hk_lane *l = d->lanes[i];
            d->lanes[i] = l->next;
            while (l->nwait > 0)
                hk_work_release(hk_lanes_pop(l));
            free(l->wait);
            free(l);
        }
    hk_deliver_free(d->deliver);
    hk_vacuum_stop(d->vacuum); /* after the recorder, which feeds it */
    hk_conn_close(d->listen);
    hk_conn_close(d->rec_conn);
    hk_conn_close(d->work);
    pthread_mutex_destroy(&d->claim_mu);
    pthread_cond_destroy(&d->cl_cv);
    free(d->exclude);
    free(d->cap_ids);
    free(d->caps);
    free(d->limited);
    hk_buf_cleanup(&d->mine);
    hk_buf_cleanup(&d->mine_eps);
    hk_buf_cleanup(&d->parked_ids);
    hk_buf_cleanup(&d->parked_eps);
    hk_buf_cleanup(&d->held_pub);
    free(d->check_tids);
    free(d->check_eids);
    free(d->stopped);
    free(d->yielding);
    free(d->yield_tids);
    free(d->yield_eids);
    free(d);
    curl_global_cleanup();
}
