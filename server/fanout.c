/*
 * fanout.c - group ingest (see fanout.h). A request joins the queue and
 * waits; a writer thread takes every queued event (up to MAX_GROUP) and
 * writes them in one statement, then answers them and takes the next
 * group at once: while it writes, later requests queue up. Were the
 * waiting threads to write in turn instead, each group would wait for the
 * next writer's thread to be woken and scheduled, which on a busy machine
 * is a large share of a group's time. A quiet API adds only the hand-over
 * to the writer and back. Each waiter has its own condition variable, so a
 * finished group wakes only its members.
 * Each writer has a database connection of its own, outside the API's
 * pool, that keeps one generic plan of the group statement: on the
 * posters' pool connections each one would plan it again, five times
 * before settling and again after every ANALYZE of the tables it writes.
 * While that connection cannot be made, a group is written on the
 * connection of its first poster, whose thread is waiting and not using
 * it (never on another pool connection: a small pool would deadlock).
 */
#include "fanout.h"

#include <pthread.h>
#include <stdlib.h>

/* Larger groups save little more and make each commit wait longer. */
#define MAX_GROUP 64
/* How long a writer writes on its posters' connections after its own
 * could not be made, before it tries again. */
#define RECONNECT_MS 1000

struct waiter {
    struct hk_ingest_item item;
    struct hk_conn *c; /* the poster's connection, idle while it waits */
    bool done;
    enum hk_result rc;
    pthread_cond_t cv;
    struct waiter *next;
};

struct hk_fanout {
    pthread_mutex_t mu;
    pthread_cond_t work; /* signalled when the queue is no longer empty */
    struct waiter *head, *tail;
    bool stop;
    int nwriters;
    pthread_t *writers;
    hk_fanout_write_fn write;
    void (*wake)(void *ctx, bool unowned);
    void *wake_ctx;
    char *conninfo; /* for the writers' own connections; NULL: none */
};

/* A writer thread's own connection. */
struct writer_conn {
    struct hk_conn *c;
    int64_t retry_ms; /* when to try to make it again, after a failure */
};

/* The connection to write a group on: the writer's own when it is (or can
 * now be) made, else the group's first poster's. */
static struct hk_conn *group_conn(struct hk_fanout *f, struct writer_conn *w,
                                  struct hk_conn *poster)
{
    if (f->conninfo == NULL || hk_mono_ms() < w->retry_ms)
        return poster;
    if (w->c == NULL &&
        hk_conn_open(f->conninfo, "hookd api", &w->c) == HK_OK)
        hk_conn_generic_plans(w->c);
    if (w->c != NULL && hk_conn_ensure(w->c))
        return w->c;
    w->retry_ms = hk_mono_ms() + RECONNECT_MS;
    return poster;
}

/* Called by a writer holding mu, with a non-empty queue: takes up to
 * MAX_GROUP queued events in arrival order, writes them, and answers
 * them; returns holding mu. */
static void write_group(struct hk_fanout *f, struct writer_conn *wc)
{
    struct waiter *group[MAX_GROUP];
    struct hk_ingest_item items[MAX_GROUP];
    size_t n = 0;
    while (f->head != NULL && n < MAX_GROUP) {
        struct waiter *w = f->head;
        f->head = w->next;
        group[n] = w;
        items[n] = w->item;
        n++;
    }
    if (f->head == NULL)
        f->tail = NULL;
    pthread_mutex_unlock(&f->mu);

    enum hk_result rc = f->write(group_conn(f, wc, group[0]->c), items, n);
    bool woke = false, unowned = false;
    for (size_t i = 0; rc == HK_OK && i < n; i++) {
        woke = woke || (items[i].inserted && items[i].in->deliveries > 0);
        unowned = unowned || items[i].unowned;
    }
    if (woke && f->wake != NULL)
        f->wake(f->wake_ctx, unowned);

    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < n; i++) {
        group[i]->item.in->woken = woke && items[i].inserted;
        group[i]->item.inserted = rc == HK_OK && items[i].inserted;
        group[i]->rc = rc;
        group[i]->done = true;
        pthread_cond_signal(&group[i]->cv);
    }
}

static void *writer(void *arg)
{
    struct hk_fanout *f = arg;
    struct writer_conn wc = {0};
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (f->head == NULL && !f->stop)
            pthread_cond_wait(&f->work, &f->mu);
        if (f->head == NULL)
            break; /* stopping, and nothing is left to write */
        write_group(f, &wc);
    }
    pthread_mutex_unlock(&f->mu);
    if (wc.c != NULL)
        hk_conn_close(wc.c);
    return NULL;
}

struct hk_fanout *hk_fanout_new(hk_fanout_write_fn write, int writers,
                                const char *conninfo,
                                void (*wake)(void *ctx, bool unowned),
                                void *wake_ctx)
{
    struct hk_fanout *f = hk_calloc(1, sizeof(*f));
    f->write = write;
    f->conninfo = conninfo ? hk_strdup(conninfo) : NULL;
    f->wake = wake;
    f->wake_ctx = wake_ctx;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->work, NULL);
    int want = writers > 0 ? writers : 1;
    f->writers = hk_calloc((size_t)want, sizeof(*f->writers));
    while (f->nwriters < want &&
           pthread_create(&f->writers[f->nwriters], NULL, writer, f) == 0)
        f->nwriters++;
    if (f->nwriters == 0) {
        /* without a writer every event goes alone */
        free(f->writers);
        free(f->conninfo);
        pthread_cond_destroy(&f->work);
        pthread_mutex_destroy(&f->mu);
        free(f);
        return NULL;
    }
    return f;
}

void hk_fanout_free(struct hk_fanout *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_broadcast(&f->work);
    pthread_mutex_unlock(&f->mu);
    for (int i = 0; i < f->nwriters; i++)
        pthread_join(f->writers[i], NULL);
    free(f->writers);
    free(f->conninfo);
    pthread_cond_destroy(&f->work);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

enum hk_result hk_fanout_ingest(struct hk_fanout *f, struct hk_conn *c,
                                struct hk_ingest *in, json_t **out,
                                bool *created)
{
    *out = NULL;
    *created = false;
    in->taken = false;
    /* an event that takes its tokens is only ever written by a group
     * statement that takes them with it */
    bool takes = in->take_want > 0;
    if (takes && (f == NULL || in->idempotency_key != NULL))
        return HK_DENIED;
    if (f == NULL || in->idempotency_key != NULL)
        return hk_store_event_ingest(c, in, out, created);

    struct waiter w = {.item = {.in = in}, .c = c};
    pthread_cond_init(&w.cv, NULL);
    pthread_mutex_lock(&f->mu);
    if (f->stop) {
        pthread_mutex_unlock(&f->mu);
        pthread_cond_destroy(&w.cv);
        return takes ? HK_DENIED : hk_store_event_ingest(c, in, out, created);
    }
    if (f->tail != NULL)
        f->tail->next = &w;
    else
        f->head = &w;
    f->tail = &w;
    pthread_cond_signal(&f->work);
    while (!w.done)
        pthread_cond_wait(&w.cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    pthread_cond_destroy(&w.cv);

    if (w.item.inserted) {
        /* written: the answer is rendered from in (store.h) */
        *out = NULL;
        *created = true;
        return HK_OK;
    }
    if (w.rc == HK_DB)
        return HK_DB;
    if (takes)
        return HK_DENIED; /* the caller decides with in->taken, in->take */
    /* Refused (unknown tenant or type), or the group as a whole was
     * refused (say a tenant deleted meanwhile): alone, to learn why. */
    return hk_store_event_ingest(c, in, out, created);
}
