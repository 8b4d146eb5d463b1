/*
 * work.c - a claimed delivery as a job deliver.c can send: the Standard
 * Webhooks envelope around the payload, the endpoint's headers and its
 * secrets opened, and the engine's notes on it (struct hk_job_meta). Also the
 * list of the jobs this dispatcher holds leases for and has not finished
 * (the live list), from which claims learn which deliveries to step over.
 * What a job becomes after it is sent is record.c's.
 */
#include "engine/engine.h"
#include "crypto.h"
#include "sign.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

struct hk_job *hk_work_from_claim(struct hk_dispatcher *d,
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
    struct hk_job_meta *m = hk_calloc(1, sizeof(*m));
    m->cycle_attempts = c->cycle_attempts;
    m->rate_limit = c->rate_limit;
    m->max_conc = c->max_concurrency;
    m->failing_since_ms = c->failing_since_ms;
    m->conc = -1;
    m->stored_conc = c->current_concurrency;
    m->fifo = c->fifo;
    job->user = m;
    return job;
}

/* The jobs this dispatcher holds leases for and has not finished (waiting
 * in a lane, held for a rate limit, or in flight), so that claims step
 * over their deliveries by id rather than probing each one's lease: they
 * stand at the head of their endpoint's queue, and a lane holds up to
 * HK_LANE_DEPTH times its max_concurrency. Sender thread only. */
void hk_work_live_add(struct hk_dispatcher *d, struct hk_job *job)
{
    struct hk_job_meta *m = job->user;
    m->prev = NULL;
    m->next = d->live;
    if (d->live != NULL)
        ((struct hk_job_meta *)d->live->user)->prev = job;
    d->live = job;
    m->live = true;
}

void hk_work_live_remove(struct hk_dispatcher *d, struct hk_job *job)
{
    struct hk_job_meta *m = job->user;
    if (m == NULL || !m->live)
        return;
    if (m->prev != NULL)
        ((struct hk_job_meta *)m->prev->user)->next = m->next;
    else
        d->live = m->next;
    if (m->next != NULL)
        ((struct hk_job_meta *)m->next->user)->prev = m->prev;
    m->live = false;
}

/* Appends "a,b,c" of the jobs' deliveries to ids. */
void hk_work_ids_append(struct hk_job *const *jobs, size_t n,
                      struct hk_buf *ids)
{
    for (size_t i = 0; i < n; i++) {
        if (ids->len > 0 && ids->data[ids->len - 1] != '{')
            hk_buf_puts(ids, ",");
        hk_buf_puts(ids, jobs[i]->delivery_id);
    }
}

/* Makes d->mine the deliveries of the live jobs and of those claimed but
 * not started yet (still in the claimed queue); the claimer adds each claim's
 * own until the next reset, because the claimer often runs the next
 * claim before the dispatcher has taken the last one's jobs: without
 * them, that claim would probe the leases of the deliveries it had just
 * taken, in both statements. A delivery whose job finished stays in
 * the list until the next reset: it is either recorded (no longer
 * pending) or in the claim's answered list anyway. One whose lease was
 * given back (its endpoint stopped) is stepped over until then, at most
 * until the next poll. Sender thread, under claim_mu. */
void hk_work_mine_reset(struct hk_dispatcher *d)
{
    hk_buf_reset(&d->mine);
    for (struct hk_job *j = d->live; j != NULL;
         j = ((struct hk_job_meta *)j->user)->next) {
        if (d->mine.len > 0)
            hk_buf_puts(&d->mine, ",");
        hk_buf_puts(&d->mine, j->delivery_id);
    }
    if (d->mine.len > 0)
        hk_buf_puts(&d->mine, ",");
    hk_jobq_ids(&d->claimed, &d->mine);
}

void hk_work_release(struct hk_job *job)
{
    free(job->user);
    job->user = NULL;
    hk_job_free(job);
}

