/*
 * work.c - a claimed delivery as a job deliver.c can send: the Standard
 * Webhooks envelope around the payload, the endpoint's headers and its
 * secrets opened, and the engine's notes on it (struct hk_job_meta). Also the
 * list of the jobs this dispatcher holds and has not finished (the live
 * list), from which claims learn which deliveries to step over.
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

/* The endpoint's headers, secrets and URL of like, a job of the same
 * claim and endpoint, copied: the claim gives each of an endpoint's
 * deliveries the same ones, and opening a secret costs an AES-GCM
 * decryption. */
static void copy_endpoint(struct hk_job *job, const struct hk_job *like)
{
    job->url = hk_strdup(like->url);
    if (like->nheaders > 0) {
        job->headers = hk_calloc(like->nheaders, sizeof(*job->headers));
        for (size_t i = 0; i < like->nheaders; i++) {
            job->headers[i].name = hk_strdup(like->headers[i].name);
            job->headers[i].value = hk_strdup(like->headers[i].value);
        }
        job->nheaders = like->nheaders;
    }
    job->secret = like->secret ? hk_strdup(like->secret) : NULL;
    job->prev_secret = like->prev_secret ? hk_strdup(like->prev_secret) : NULL;
}

struct hk_job *hk_work_from_claim(struct hk_dispatcher *d,
                                  const struct hk_claim *c,
                                  const struct hk_job *like)
{
    struct hk_job *job = hk_job_new();
    memcpy(job->tenant_id, c->tenant_id, sizeof(job->tenant_id));
    memcpy(job->delivery_id, c->delivery_id, sizeof(job->delivery_id));
    memcpy(job->endpoint_id, c->endpoint_id, sizeof(job->endpoint_id));
    memcpy(job->event_id, c->event_id, sizeof(job->event_id));
    memcpy(job->delivery_bin, c->delivery_bin, sizeof(job->delivery_bin));
    memcpy(job->endpoint_bin, c->endpoint_bin, sizeof(job->endpoint_bin));
    job->attempt_number = c->attempt_count + 1;
    if (like != NULL) {
        copy_endpoint(job, like);
    } else {
        job->url = hk_strdup(c->url);
        set_headers(job, c->headers);
        job->secret = open_secret(d, c, c->secret_enc, c->secret_len);
        if (c->prev_enc != NULL)
            job->prev_secret = open_secret(d, c, c->prev_enc, c->prev_len);
    }
    job->body = envelope(c, &job->body_len);
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

/* The jobs this dispatcher holds and has not finished (waiting in a
 * lane, held for a rate limit, or in flight), so that claims step over
 * their deliveries by id and count them against their endpoints' slots:
 * they stand at the head of their endpoint's queue, and a lane holds up
 * to HK_LANE_DEPTH times its max_concurrency. Sender thread only;
 * live_gen tells the sender when the list changed (see mine_reset). */
void hk_work_live_add(struct hk_dispatcher *d, struct hk_job *job)
{
    struct hk_job_meta *m = job->user;
    m->prev = NULL;
    m->next = d->live;
    if (d->live != NULL)
        ((struct hk_job_meta *)d->live->user)->prev = job;
    d->live = job;
    m->live = true;
    d->live_gen++;
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
    d->live_gen++;
}

void hk_work_ids_append(struct hk_job *const *jobs, size_t n,
                        struct hk_buf *ids, struct hk_buf *eps)
{
    for (size_t i = 0; i < n; i++) {
        hk_uuids_add(ids, jobs[i]->delivery_bin);
        if (eps != NULL)
            hk_uuids_add(eps, jobs[i]->endpoint_bin);
    }
}

/* Makes d->mine the deliveries of the live jobs, of those claimed but
 * not started yet (still in the claimed queue) and of the parked ones,
 * and d->mine_eps their endpoints; the claimer adds each claim's own
 * until the next reset, because it often runs the next claim before the
 * sender has taken the last one's jobs: without them, that claim would
 * take the same deliveries again. A delivery whose job finished stays in
 * the lists until the next reset: it is either recorded (no longer
 * pending, or not due) or in the claim's answered list anyway. One whose
 * job was dropped is stepped over until then. Sender thread, under
 * claim_mu. */
void hk_work_mine_reset(struct hk_dispatcher *d)
{
    hk_buf_reset(&d->mine);
    hk_buf_reset(&d->mine_eps);
    for (struct hk_job *j = d->live; j != NULL;
         j = ((struct hk_job_meta *)j->user)->next) {
        hk_uuids_add(&d->mine, j->delivery_bin);
        hk_uuids_add(&d->mine_eps, j->endpoint_bin);
    }
    hk_jobq_ids(&d->claimed, &d->mine, &d->mine_eps);
    int64_t now = hk_mono_ms();
    if (d->parked_ids.len > 0 && now >= d->parked_until) {
        hk_buf_reset(&d->parked_ids);
        hk_buf_reset(&d->parked_eps);
    }
    hk_buf_append(&d->mine, d->parked_ids.data, d->parked_ids.len);
    hk_buf_append(&d->mine_eps, d->parked_eps.data, d->parked_eps.len);
    d->mine_gen = d->live_gen;
    d->mine_ms = now;
    d->mine_dirty = true;
}

/* A delivery whose outcome the database refused stays pending and due:
 * without this, the next claim would send it again at once, and again
 * after each refusal. Parked deliveries are stepped over for PARK_MS
 * from the last one parked. */
#define PARK_MS 60000

void hk_work_park(struct hk_dispatcher *d, const struct hk_job *job)
{
    hk_uuids_add(&d->parked_ids, job->delivery_bin);
    hk_uuids_add(&d->parked_eps, job->endpoint_bin);
    d->parked_until = hk_mono_ms() + PARK_MS;
}

void hk_work_release(struct hk_job *job)
{
    free(job->user);
    job->user = NULL;
    hk_job_free(job);
}

