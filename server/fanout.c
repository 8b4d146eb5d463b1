/*
 * fanout.c - group ingest (see fanout.h). A request joins the queue; when
 * fewer groups are being written than the coordinator allows at once
 * (HK_FANOUT_LEADERS in hookd), it leads at once, so a quiet API adds no
 * wait. While the leaders write, later requests queue up; when one is
 * done, it hands its lead to the first of them still only queued, which
 * writes every queued event in one statement. A waiter that holds a lead
 * stays out of other groups until it writes its own: were it taken into
 * another group, its lead would be lost with it, and the groups written at
 * once would dwindle to one. Each waiter has its own condition variable,
 * so a finished group wakes only its members.
 */
#include "fanout.h"

#include <pthread.h>
#include <stdlib.h>

/* Larger groups save little more and make each commit wait longer. */
#define MAX_GROUP 64

enum state { QUEUED, LEAD, DONE };

struct waiter {
    struct hk_ingest_item item;
    enum state state;
    enum hk_result rc;
    pthread_cond_t cv;
    struct waiter *next;
};

struct hk_fanout {
    pthread_mutex_t mu;
    struct waiter *head, *tail;
    int leaders;     /* groups being written now */
    int max_leaders; /* at most this many */
    hk_fanout_write_fn write;
};

struct hk_fanout *hk_fanout_new(hk_fanout_write_fn write, int leaders)
{
    struct hk_fanout *f = hk_calloc(1, sizeof(*f));
    f->write = write;
    f->max_leaders = leaders > 0 ? leaders : 1;
    pthread_mutex_init(&f->mu, NULL);
    return f;
}

void hk_fanout_free(struct hk_fanout *f)
{
    if (f == NULL)
        return;
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* The first waiter that is only queued: one already handed a lead is
 * about to write its own group and must not be handed another (its
 * thread can lead only once at a time), nor taken into someone else's
 * group (its lead would be lost with it). */
static struct waiter *first_queued(struct hk_fanout *f)
{
    struct waiter *w = f->head;
    while (w != NULL && w->state != QUEUED)
        w = w->next;
    return w;
}

/* Called by the leader self, holding mu: takes up to MAX_GROUP queued
 * events in arrival order (its own among them unless more than that came
 * before it) and writes them on c; then wakes them, and if its own event
 * was written, passes the lead on to the first waiter still queued. */
static void lead(struct hk_fanout *f, struct hk_conn *c, struct waiter *self)
{
    struct waiter *group[MAX_GROUP];
    struct hk_ingest_item items[MAX_GROUP];
    size_t n = 0;
    struct waiter *prev = NULL, *w = f->head;
    while (w != NULL && n < MAX_GROUP) {
        struct waiter *next = w->next;
        if (w->state == LEAD && w != self) {
            prev = w; /* leads its own group */
        } else {
            if (prev != NULL)
                prev->next = next;
            else
                f->head = next;
            if (f->tail == w)
                f->tail = prev;
            group[n] = w;
            items[n] = w->item;
            n++;
        }
        w = next;
    }
    pthread_mutex_unlock(&f->mu);

    enum hk_result rc = f->write(c, items, n);

    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < n; i++) {
        group[i]->item.inserted = rc == HK_OK && items[i].inserted;
        group[i]->item.out = rc == HK_OK ? items[i].out : NULL;
        group[i]->rc = rc;
        group[i]->state = DONE;
        pthread_cond_signal(&group[i]->cv);
    }
    if (self->state != DONE)
        return; /* still queued: leads again, the lead stays its own */
    struct waiter *next = first_queued(f);
    if (next != NULL) {
        next->state = LEAD;
        pthread_cond_signal(&next->cv);
    } else {
        f->leaders--;
    }
}

enum hk_result hk_fanout_ingest(struct hk_fanout *f, struct hk_conn *c,
                                struct hk_ingest *in, json_t **out,
                                bool *created)
{
    if (f == NULL || in->idempotency_key != NULL)
        return hk_store_event_ingest(c, in, out, created);

    struct waiter w = {.item = {.in = in}, .state = QUEUED};
    pthread_cond_init(&w.cv, NULL);
    pthread_mutex_lock(&f->mu);
    if (f->tail != NULL)
        f->tail->next = &w;
    else
        f->head = &w;
    f->tail = &w;
    if (f->leaders < f->max_leaders) {
        f->leaders++;
        w.state = LEAD;
    }
    for (;;) {
        if (w.state == LEAD)
            lead(f, c, &w);
        if (w.state == DONE)
            break;
        pthread_cond_wait(&w.cv, &f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    pthread_cond_destroy(&w.cv);

    if (w.item.inserted) {
        /* written; an answer that cannot be read must not write it again */
        *out = w.item.out;
        *created = true;
        return w.item.out != NULL ? HK_OK : HK_INTERNAL;
    }
    if (w.rc == HK_DB)
        return HK_DB;
    /* Refused (unknown tenant or type), or the group as a whole was
     * refused (say a tenant deleted meanwhile): alone, to learn why. */
    return hk_store_event_ingest(c, in, out, created);
}
