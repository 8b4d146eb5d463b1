/*
 * limits.c - endpoints' rate_limit in this dispatcher: a token bucket per
 * rate-limited endpoint, and the jobs held until a token comes. A job
 * whose slot lanes.c granted starts here at once or waits in its bucket;
 * the sender's loop releases held jobs as tokens come. Buckets are kept
 * only for endpoints sent to in about the last second.
 *
 * A bucket holds one token: requests are spaced 1/rate_limit s apart, so
 * that no one-second window at the receiver sees more than rate_limit of
 * them (rate_limit + 1 counting both ends); a bucket as deep as the rate
 * would let a second's worth go at once and as many again within the same
 * second. The endpoint's owner is the only dispatcher sending to it
 * (docs/engine.md, "Ownership"), so this holds for the endpoint as a
 * whole.
 */
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The endpoint's bucket, made full when it has none. Buckets with nothing
 * held that have filled up again are dropped by release_held, so there is
 * one for each rate-limited endpoint sent to in about the last second. */
static struct hk_bucket *bucket_for(struct hk_dispatcher *d, const char *eid,
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
    struct hk_bucket *b = &d->buckets[d->nbuckets++];
    memset(b, 0, sizeof(*b));
    snprintf(b->endpoint_id, sizeof(b->endpoint_id), "%s", eid);
    b->rate = rate;
    b->tokens = 1.0;
    b->refilled_ms = hk_mono_ms();
    return b;
}

static void bucket_refill(struct hk_bucket *b, int64_t now)
{
    double add = (double)(now - b->refilled_ms) * b->rate / 1000.0;
    b->tokens = b->tokens + add > 1.0 ? 1.0 : b->tokens + add;
    b->refilled_ms = now;
}

/* Starts a job now, or holds it until its endpoint's bucket has a token. */
void hk_limits_start(struct hk_dispatcher *d, struct hk_job *job)
{
    struct hk_job_meta *m = job->user;
    struct hk_bucket *b = m->rate_limit > 0
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

/* Starts held jobs whose tokens have come; returns ms until the next one
 * may start, or -1 when nothing is held. A bucket that holds nothing and
 * is full again is dropped: a new one would start the same. */
int64_t hk_limits_release_held(struct hk_dispatcher *d)
{
    int64_t now = hk_mono_ms(), wait = -1;
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct hk_bucket *b = &d->buckets[i];
        bucket_refill(b, now);
        while (b->nheld == 0 && b->tokens >= 1.0) {
            free(b->held);
            *b = d->buckets[--d->nbuckets];
            if (i == d->nbuckets)
                return wait;
            bucket_refill(b, now);
        }
        size_t started = 0;
        while (started < b->nheld && b->tokens >= 1.0 &&
               hk_lanes_owning(d)) {
            b->tokens -= 1.0;
            hk_deliver_add(d->deliver, b->held[started++]);
        }
        if (started > 0) {
            memmove(b->held, b->held + started,
                    (b->nheld - started) * sizeof(*b->held));
            b->nheld -= started;
        }
        if (b->nheld > 0) {
            /* a token waiting only for the leases to be known live again
             * is looked at with the lanes' check */
            int64_t ms = b->tokens >= 1.0
                             ? LANE_CHECK_MS
                             : (int64_t)((1.0 - b->tokens) * 1000.0 / b->rate) +
                                   1;
            if (wait < 0 || ms < wait)
                wait = ms;
        }
    }
    return wait;
}

size_t hk_limits_held_count(const struct hk_dispatcher *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nbuckets; i++)
        n += d->buckets[i].nheld;
    return n;
}
