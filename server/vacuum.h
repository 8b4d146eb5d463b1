/*
 * vacuum.h - the dispatcher's own vacuum of its hot tables. Every delivery
 * sent leaves a dead row in hookd.queue when its outcome is recorded (and
 * what its owner holds of a busy endpoint, a row of
 * hookd.endpoint_owners, is rewritten a few times a second), and each claim steps over the dead rows at the head
 * of an endpoint's queue until VACUUM removes them. Autovacuum looks at a
 * database once a minute on a server with stock settings: at thousands of
 * deliveries a second, hundreds of thousands of dead rows pile up between
 * two of its visits, and claims slow down as they do. So the dispatcher
 * counts the rows its records churn and, once enough have since the last
 * time, vacuums the two tables itself on a connection and a thread of its
 * own (VACUUM cannot run inside a transaction, and takes from a few
 * milliseconds to a second: no claim or record waits for it). It owns that
 * thread, its connection and the count; the statement is in
 * store_dispatch.c, and autovacuum keeps everything else (the large tables,
 * their statistics, giving the queue's empty pages back).
 *
 * The same thread and connection run one more chore of the caller's on a
 * timer: the dispatcher's sweeps (engine/sweep.c), which take tens of
 * milliseconds under load and would otherwise hold up the claims of every
 * endpoint while they run.
 */
#ifndef HK_VACUUM_H
#define HK_VACUUM_H

#include "common.h"

#include <stddef.h>

struct hk_vacuum;
struct hk_conn;

/* A chore run on the thread's connection every every_ms, the first time
 * at once, and sooner when asked (hk_vacuum_chore_soon). */
struct hk_vacuum_chore {
    void (*run)(struct hk_conn *c, void *ctx);
    void *ctx;
    int64_t every_ms;
};

/* Starts the thread, with chore (copied; NULL: none); its connection to
 * conninfo is opened when the first vacuum, analyze or chore is due (a
 * start-up, often a restart after a crash, waits for one connection
 * less). Free with hk_vacuum_stop. */
enum hk_result hk_vacuum_start(const char *conninfo,
                               const struct hk_vacuum_chore *chore,
                               struct hk_vacuum **out) HK_MUST_CHECK;
/* Has the chore run within ms from now, unless it is due sooner. Any
 * thread. */
void hk_vacuum_chore_soon(struct hk_vacuum *v, int64_t ms);
/* Counts rows that became dead in the hot tables (one per table for each
 * recorded attempt), and wakes the thread when enough have. Any thread. */
void hk_vacuum_churn(struct hk_vacuum *v, size_t rows);
/* Stops the thread, after the vacuum or chore running now if any, and
 * frees v.
 * NULL is a no-op. */
void hk_vacuum_stop(struct hk_vacuum *v);

#endif
