/*
 * app.h - the process-wide context handed to every handler: settings, the
 * database pool, and a way to wake the local dispatcher after ingest.
 */
#ifndef HK_APP_H
#define HK_APP_H

#include "config.h"
#include "db.h"

struct hk_fanout;
struct hk_rate;

struct hk_app {
    struct hk_config *cfg;
    struct hk_db *db;
    const char *migrations_dir;
    /* Called after an ingest commits, to wake a dispatcher in this
     * process at once (NOTIFY reaches the others); unowned as in
     * hk_fanout_new. May be NULL. */
    void (*wake)(void *ctx, bool unowned);
    void *wake_ctx;
    /* Groups concurrent ingests into one commit; NULL writes each alone. */
    struct hk_fanout *fanout;
    /* The tenants' event-rate buckets (ratelimit.h); NULL: no rate limit. */
    struct hk_rate *rate;
};

#endif
