/*
 * queue.c - the hand-off between two of the engine's threads (queue.h):
 * a list of jobs, its lock and its condition variable, and the batch a
 * consumer has taken and not yet settled. It knows nothing of what the
 * jobs are for.
 */
#include "engine/queue.h"

#include <stdlib.h>
#include <string.h>

/* Appends the jobs' deliveries to ids, and their endpoints to eps unless
 * NULL (16-byte ids, ids.h). */
static void append_ids(struct hk_job *const *jobs, size_t n,
                       struct hk_buf *ids, struct hk_buf *eps)
{
    for (size_t i = 0; i < n; i++) {
        hk_uuids_add(ids, jobs[i]->delivery_bin);
        if (eps != NULL)
            hk_uuids_add(eps, jobs[i]->endpoint_bin);
    }
}

void hk_jobq_init(struct hk_jobq *q)
{
    memset(q, 0, sizeof(*q));
    hk_buf_init(&q->taken_ids);
    hk_buf_init(&q->taken_eps);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
}

void hk_jobq_cleanup(struct hk_jobq *q, void (*release)(struct hk_job *))
{
    if (release != NULL)
        for (size_t i = 0; i < q->n; i++)
            release(q->v[i]);
    free(q->v);
    free(q->taken);
    hk_buf_cleanup(&q->taken_ids);
    hk_buf_cleanup(&q->taken_eps);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

static void reserve(struct hk_jobq *q, size_t more)
{
    if (q->n + more <= q->cap)
        return;
    q->cap = (q->n + more) * 2;
    q->v = hk_realloc(q->v, q->cap * sizeof(*q->v));
}

void hk_jobq_push(struct hk_jobq *q, struct hk_job *const *jobs, size_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&q->mu);
    reserve(q, n);
    memcpy(q->v + q->n, jobs, n * sizeof(*jobs));
    q->n += n;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Moves the waiting list out; called with mu held. */
static struct hk_job **take_all(struct hk_jobq *q, size_t *n)
{
    struct hk_job **jobs = q->v;
    *n = q->n;
    q->v = NULL;
    q->n = q->cap = 0;
    return jobs;
}

struct hk_job **hk_jobq_take_now(struct hk_jobq *q, size_t *n)
{
    pthread_mutex_lock(&q->mu);
    struct hk_job **jobs = take_all(q, n);
    pthread_mutex_unlock(&q->mu);
    return jobs;
}

struct hk_job **hk_jobq_take_batch(struct hk_jobq *q, size_t batch,
                                   long gather_ms, size_t *n)
{
    pthread_mutex_lock(&q->mu);
    while (q->n == 0 && !q->closed)
        pthread_cond_wait(&q->cv, &q->mu);
    struct timespec gather = hk_jobq_deadline_in(gather_ms);
    while (q->n > 0 && q->n < batch && !q->closed && !q->failing &&
           pthread_cond_timedwait(&q->cv, &q->mu, &gather) == 0)
        ;
    q->taken = take_all(q, &q->ntaken);
    append_ids(q->taken, q->ntaken, &q->taken_ids, &q->taken_eps);
    *n = q->ntaken;
    struct hk_job **jobs = q->taken;
    pthread_mutex_unlock(&q->mu);
    return jobs;
}

void hk_jobq_settle(struct hk_jobq *q, size_t kept)
{
    pthread_mutex_lock(&q->mu);
    struct hk_job **jobs = q->taken;
    q->taken = NULL;
    q->ntaken = 0;
    hk_buf_reset(&q->taken_ids);
    hk_buf_reset(&q->taken_eps);
    q->failing = kept > 0;
    if (kept > 0) {
        /* back in front of what came meanwhile */
        size_t total = kept + q->n;
        jobs = hk_realloc(jobs, total * sizeof(*jobs));
        if (q->n > 0)
            memcpy(jobs + kept, q->v, q->n * sizeof(*jobs));
        free(q->v);
        q->v = jobs;
        q->n = q->cap = total;
    } else {
        free(jobs);
    }
    pthread_mutex_unlock(&q->mu);
}

bool hk_jobq_pause(struct hk_jobq *q, long ms)
{
    pthread_mutex_lock(&q->mu);
    bool open = !q->closed;
    if (open) {
        struct timespec until = hk_jobq_deadline_in(ms);
        pthread_cond_timedwait(&q->cv, &q->mu, &until);
    }
    pthread_mutex_unlock(&q->mu);
    return open;
}

void hk_jobq_close(struct hk_jobq *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

size_t hk_jobq_count(struct hk_jobq *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->n + q->ntaken;
    pthread_mutex_unlock(&q->mu);
    return n;
}

bool hk_jobq_failing(struct hk_jobq *q)
{
    pthread_mutex_lock(&q->mu);
    bool f = q->failing;
    pthread_mutex_unlock(&q->mu);
    return f;
}

size_t hk_jobq_ids(struct hk_jobq *q, struct hk_buf *ids, struct hk_buf *eps)
{
    pthread_mutex_lock(&q->mu);
    hk_buf_append(ids, q->taken_ids.data, q->taken_ids.len);
    if (eps != NULL)
        hk_buf_append(eps, q->taken_eps.data, q->taken_eps.len);
    append_ids(q->v, q->n, ids, eps);
    size_t n = q->n + q->ntaken;
    pthread_mutex_unlock(&q->mu);
    return n;
}

struct timespec hk_jobq_deadline_in(long ms)
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
