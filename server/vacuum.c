/*
 * vacuum.c - the dispatcher's own vacuum of hookd.queue and
 * hookd.endpoint_owners
 * (see vacuum.h for why). Two counts under a mutex, fed by the recorder;
 * a thread that sleeps until one of them makes a vacuum or an analyze due,
 * or the caller's chore is due, then runs it on its own connection.
 */
#include "vacuum.h"
#include "db.h"
#include "log.h"
#include "store.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* Dead rows in the two tables since the last vacuum that make the next
 * one: as many as autovacuum's per-table thresholds in
 * migrations/0015_queue.sql. */
#define VACUUM_ROWS 2000
/* A vacuum of the two tables reads all of their indexes: when the queue
 * holds a large backlog, that is a few tens of megabytes, so vacuums are
 * spaced out, at most two a second. At 10,000 deliveries a second that
 * leaves 5,000 dead rows in each table at most. */
#define VACUUM_GAP_MS 500
/* The queue swings from empty to a backlog of millions and back, and the
 * claims' plans are made from its statistics: made while it was empty,
 * they walk a large queue for every endpoint, and a claim that should take
 * a millisecond takes a hundred. Autovacuum analyzes it once a minute at
 * most on a stock server; the dispatcher does it every ANALYZE_GAP_MS
 * while it records anything (a sample of 30,000 rows at most, and a new
 * plan for the claims and records). */
#define ANALYZE_GAP_MS 10000

struct hk_vacuum {
    char *conninfo;
    struct hk_conn *conn; /* opened at the first vacuum or analyze */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t churn;   /* dead rows since the last vacuum began */
    size_t changed; /* rows changed since the last analyze began */
    struct hk_vacuum_chore chore;
    int64_t chore_at; /* monotonic ms the chore is next due; 0: no chore */
    bool stop;
};

/* CLOCK_REALTIME ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* The ms until a vacuum, an analyze or the chore is due (0: one is now),
 * or -1 when none will be until the counts grow. */
static int64_t due_in(const struct hk_vacuum *v, int64_t now,
                      int64_t since_vacuum, int64_t since_analyze)
{
    int64_t wait = -1;
    if (v->chore_at > 0)
        wait = v->chore_at <= now ? 0 : v->chore_at - now;
    if (v->churn >= VACUUM_ROWS) {
        int64_t g = since_vacuum >= VACUUM_GAP_MS
                        ? 0
                        : VACUUM_GAP_MS - since_vacuum;
        if (wait < 0 || g < wait)
            wait = g;
    }
    if (v->changed > 0) {
        int64_t a = since_analyze >= ANALYZE_GAP_MS
                        ? 0
                        : ANALYZE_GAP_MS - since_analyze;
        if (wait < 0 || a < wait)
            wait = a;
    }
    return wait;
}

static void *vacuum_loop(void *arg)
{
    struct hk_vacuum *v = arg;
    /* when the last vacuum and analyze began (monotonic ms) */
    int64_t vacuumed = hk_mono_ms() - VACUUM_GAP_MS;
    int64_t analyzed = hk_mono_ms() - ANALYZE_GAP_MS;
    bool failing = false;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        int64_t now = hk_mono_ms();
        int64_t wait = due_in(v, now, now - vacuumed, now - analyzed);
        if (v->stop)
            break;
        if (wait != 0) {
            if (wait < 0) {
                pthread_cond_wait(&v->cv, &v->mu);
            } else {
                struct timespec until = deadline_in(wait);
                pthread_cond_timedwait(&v->cv, &v->mu, &until);
            }
            continue;
        }
        bool vacuum = v->churn >= VACUUM_ROWS &&
                      now - vacuumed >= VACUUM_GAP_MS;
        bool analyze = v->changed > 0 && now - analyzed >= ANALYZE_GAP_MS;
        if (vacuum) {
            v->churn = 0;
            vacuumed = now;
        }
        if (analyze) {
            v->changed = 0;
            analyzed = now;
        }
        bool chore = v->chore_at > 0 && v->chore_at <= now;
        if (chore)
            v->chore_at = now + v->chore.every_ms;
        pthread_mutex_unlock(&v->mu);
        if (v->conn == NULL &&
            hk_conn_open(v->conninfo, "hookd vacuum", &v->conn) != HK_OK)
            v->conn = NULL;
        bool up = v->conn != NULL && hk_conn_ensure(v->conn);
        if (chore && up)
            v->chore.run(v->conn, v->chore.ctx);
        if (vacuum || analyze) {
            bool ok = up && hk_store_vacuum_hot(v->conn, vacuum, analyze) ==
                                HK_OK;
            /* once per outage: the recorder's own errors say the rest */
            if (!ok && !failing)
                hk_log_warn("could not vacuum hookd.queue and "
                            "hookd.endpoint_owners; autovacuum is left to do it");
            failing = !ok;
        }
        pthread_mutex_lock(&v->mu);
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

enum hk_result hk_vacuum_start(const char *conninfo,
                               const struct hk_vacuum_chore *chore,
                               struct hk_vacuum **out)
{
    *out = NULL;
    struct hk_vacuum *v = hk_calloc(1, sizeof(*v));
    v->conninfo = hk_strdup(conninfo);
    if (chore != NULL && chore->run != NULL && chore->every_ms > 0) {
        v->chore = *chore;
        v->chore_at = hk_mono_ms();
    }
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    if (pthread_create(&v->thread, NULL, vacuum_loop, v) != 0) {
        pthread_mutex_destroy(&v->mu);
        pthread_cond_destroy(&v->cv);
        free(v->conninfo);
        free(v);
        return HK_INTERNAL;
    }
    *out = v;
    return HK_OK;
}

void hk_vacuum_churn(struct hk_vacuum *v, size_t rows)
{
    pthread_mutex_lock(&v->mu);
    bool first = v->changed == 0;
    v->churn += rows;
    v->changed += rows;
    if (v->churn >= VACUUM_ROWS || first)
        pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

void hk_vacuum_chore_soon(struct hk_vacuum *v, int64_t ms)
{
    pthread_mutex_lock(&v->mu);
    int64_t at = hk_mono_ms() + ms;
    if (v->chore_at > 0 && at < v->chore_at) {
        v->chore_at = at;
        pthread_cond_signal(&v->cv);
    }
    pthread_mutex_unlock(&v->mu);
}

void hk_vacuum_stop(struct hk_vacuum *v)
{
    if (v == NULL)
        return;
    pthread_mutex_lock(&v->mu);
    v->stop = true;
    pthread_cond_signal(&v->cv);
    pthread_mutex_unlock(&v->mu);
    pthread_join(v->thread, NULL);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->cv);
    hk_conn_close(v->conn);
    free(v->conninfo);
    free(v);
}
