/*
 * notify.c - the coalescing NOTIFY sender (see notify.h). Pokes set a flag
 * under a mutex; the thread waits on a condition variable, sends one
 * NOTIFY for every burst of pokes, then rests COALESCE_MS so that a
 * stream of ingests costs a few hundred notifications a second at most.
 */
#include "notify.h"
#include "db.h"
#include "ids.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COALESCE_MS 2

struct hk_notifier {
    struct hk_conn *conn;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool pending;
    bool unowned; /* of the pending NOTIFY */
    bool stop;
};

static char origin[HK_UUID_STRLEN];
static pthread_once_t origin_once = PTHREAD_ONCE_INIT;

static void origin_init(void)
{
    hk_uuid7(origin);
}

const char *hk_notify_origin(void)
{
    pthread_once(&origin_once, origin_init);
    return origin;
}

static void *run(void *arg)
{
    struct hk_notifier *n = arg;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        while (!n->pending && !n->stop)
            pthread_cond_wait(&n->cv, &n->mu);
        bool send = n->pending, stop = n->stop, unowned = n->unowned;
        n->pending = false;
        n->unowned = false;
        pthread_mutex_unlock(&n->mu);
        char payload[HK_UUID_STRLEN + 8];
        snprintf(payload, sizeof(payload), "%s%s", hk_notify_origin(),
                 unowned ? " own" : "");
        if (send && hk_conn_ensure(n->conn) &&
            hk_db_query(n->conn, "SELECT pg_notify('hookd_work', $1)", 1,
                        (const char *const[]){payload}, NULL) != HK_OK)
            hk_log_warn("NOTIFY failed; other dispatchers poll instead");
        if (stop)
            break;
        struct timespec ts = {0, COALESCE_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

enum hk_result hk_notifier_start(const char *conninfo, struct hk_notifier **out)
{
    struct hk_notifier *n = hk_calloc(1, sizeof(*n));
    *out = NULL;
    if (hk_conn_open(conninfo, "hookd notify", &n->conn) != HK_OK) {
        free(n);
        return HK_DB;
    }
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    if (pthread_create(&n->thread, NULL, run, n) != 0) {
        pthread_mutex_destroy(&n->mu);
        pthread_cond_destroy(&n->cv);
        hk_conn_close(n->conn);
        free(n);
        return HK_INTERNAL;
    }
    *out = n;
    return HK_OK;
}

void hk_notifier_poke(struct hk_notifier *n, bool unowned)
{
    pthread_mutex_lock(&n->mu);
    n->unowned = n->unowned || unowned;
    if (!n->pending) {
        n->pending = true;
        pthread_cond_signal(&n->cv);
    }
    pthread_mutex_unlock(&n->mu);
}

bool hk_notify_is_mine(const char *payload)
{
    const char *o = hk_notify_origin();
    size_t len = strlen(o);
    return strncmp(payload, o, len) == 0 &&
           (payload[len] == '\0' || payload[len] == ' ');
}

bool hk_notify_unowned(const char *payload)
{
    const char *sp = strchr(payload, ' ');
    return sp != NULL && strcmp(sp + 1, "own") == 0;
}

void hk_notifier_stop(struct hk_notifier *n)
{
    if (n == NULL)
        return;
    pthread_mutex_lock(&n->mu);
    n->stop = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->thread, NULL);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    hk_conn_close(n->conn);
    free(n);
}
