/*
 * record.c - the recorder thread, on its own connection: it takes the
 * finished attempts the sender queued, asks engine/outcome.c what each
 * means, writes them in batched statements (store_dispatch.c), disables
 * the endpoints the outcomes say to, and tells the sender when retries
 * come due. While the database is away it keeps the outcomes and tries
 * again each second; claims wait meanwhile.
 */
#include "engine/engine.h"
#include "log.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

/* The recorder waits up to RECORD_GATHER_MS for RECORD_BATCH outcomes:
 * a statement of a few rows costs nearly what one of a hundred does, and
 * no slot waits for it (claims free slots by delivery id). */
#define RECORD_GATHER_MS 10
#define RECORD_BATCH 200

/* Asks engine/outcome.c what a finished attempt means and fills the row
 * that writes it. */
static void judge(const struct hk_dispatcher *d, struct hk_job *job,
                  struct hk_outcome_row *row, struct hk_outcome_decision *dec)
{
    const struct hk_outcome *o = &job->out;
    struct hk_job_meta *m = job->user;
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
    pthread_mutex_lock(&d->claim_mu);
    if (t > 5 && (d->next_due_ms == 0 || t < d->next_due_ms))
        d->next_due_ms = t;
    pthread_mutex_unlock(&d->claim_mu);
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
    hk_work_release(job);
}

/* Writes the outcomes jobs[0..n) in one statement. When the database
 * refuses the batch itself (a data error, not a lost connection), they are
 * written one by one and any single one it refuses is logged and dropped,
 * so that one bad row never stops the dispatcher; its delivery stays
 * pending and is tried again once it is no longer parked (work.c). Returns how many could not be written
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
    /* a fifo endpoint's next delivery is due once this one is written */
    bool fifo = false;
    for (size_t i = 0; i < n && !fifo; i++)
        fifo = ((struct hk_job_meta *)jobs[i]->user)->fifo;
    enum hk_result rc = hk_store_record(d->rec_conn, d->owner, rows, n);
    if (rc == HK_OK) {
        for (size_t i = 0; i < n; i++)
            saved(d, jobs[i], &rows[i], &dec[i]);
        written = n;
    } else if (rc == HK_INVALID) {
        for (size_t i = 0; i < n; i++) {
            struct hk_job *job = jobs[i];
            rc = hk_store_record(d->rec_conn, d->owner, &rows[i], 1);
            if (rc == HK_OK) {
                saved(d, job, &rows[i], &dec[i]);
                written++;
            } else if (rc == HK_INVALID) {
                hk_log_warn("the database refused an attempt's outcome; "
                            "dropped, the delivery will be tried again",
                            "delivery_id", job->delivery_id);
                pthread_mutex_lock(&d->claim_mu);
                hk_work_park(d, job);
                pthread_mutex_unlock(&d->claim_mu);
                hk_work_release(job);
            } else {
                jobs[kept++] = job;
            }
        }
    } else {
        kept = n;
    }
    /* each left a dead (or moved) queue row */
    if (written > 0)
        hk_vacuum_churn(d->vacuum, written);
    if (written > 0 && fifo)
        atomic_store(&d->fresh, true);
    free(rows);
    free(dec);
    return kept;
}

/* The recorder thread: takes every waiting outcome, writes them, wakes
 * the sender (their slots are free now), and starts again. While the
 * database is away it keeps them and tries once a second; claims wait
 * meanwhile. Once the queue is closed it writes what is left once and
 * leaves the rest pending, for the endpoints' next owners. */
void *hk_recorder_loop(void *arg)
{
    struct hk_dispatcher *d = arg;
    for (;;) {
        size_t n;
        struct hk_job **jobs =
            hk_jobq_take_batch(&d->outcomes, RECORD_BATCH, RECORD_GATHER_MS, &n);
        if (n == 0)
            break;
        size_t kept = save(d, jobs, n);
        hk_jobq_settle(&d->outcomes, kept);
        atomic_store(&d->woken, true);
        hk_deliver_wakeup(d->deliver);
        if (kept > 0 && !hk_jobq_pause(&d->outcomes, 1000))
            break;
    }
    return NULL;
}

void hk_recorder_stop(struct hk_dispatcher *d)
{
    hk_jobq_close(&d->outcomes);
    pthread_join(d->rec_thread, NULL);
}
