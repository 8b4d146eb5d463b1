/*
 * fanout.c - group ingest (see fanout.h). A request joins the queue; when
 * fewer than MAX_LEADERS groups are being written it leads at once, so a
 * quiet API adds no wait. While the leaders write, later requests queue
 * up; when one is done, it hands its lead to the first of them, which
 * writes every queued event in one statement
 * (hk_store_event_ingest_group). Each waiter has
 * its own condition variable, so a finished group wakes only its members.
 */
#include "fanout.h"

#include <pthread.h>
#include <stdlib.h>

/* Larger groups save little more and make each commit wait longer. */
#define MAX_GROUP 64
/* Groups written at once: while one waits for its commit to reach the
 * disk, the next is already being written. */
#define MAX_LEADERS 3

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
    int leaders;
};

struct hk_fanout *hk_fanout_new(void)
{
    struct hk_fanout *f = hk_calloc(1, sizeof(*f));
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

/* Called by the leader, holding mu: writes up to MAX_GROUP queued events
 * (its own first) on c, then wakes them and passes the lead on. */
static void lead(struct hk_fanout *f, struct hk_conn *c)
{
    struct waiter *group[MAX_GROUP];
    struct hk_ingest_item items[MAX_GROUP];
    size_t n = 0;
    while (f->head != NULL && n < MAX_GROUP) {
        group[n] = f->head;
        items[n] = f->head->item;
        f->head = f->head->next;
        n++;
    }
    if (f->head == NULL)
        f->tail = NULL;
    pthread_mutex_unlock(&f->mu);

    enum hk_result rc = hk_store_event_ingest_group(c, items, n);

    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < n; i++) {
        group[i]->item.inserted = rc == HK_OK && items[i].inserted;
        group[i]->item.out = rc == HK_OK ? items[i].out : NULL;
        group[i]->rc = rc;
        group[i]->state = DONE;
        pthread_cond_signal(&group[i]->cv);
    }
    if (f->head != NULL) {
        f->head->state = LEAD;
        pthread_cond_signal(&f->head->cv);
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
    if (f->leaders < MAX_LEADERS) {
        f->leaders++;
        w.state = LEAD;
    }
    for (;;) {
        if (w.state == LEAD)
            lead(f, c); /* our own event is the first of the group */
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
