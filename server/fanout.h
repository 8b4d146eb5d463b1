/*
 * fanout.h - group ingest: events posted at the same moment on different
 * API threads are written by one statement and one commit instead of one
 * each, so that a busy API pays PostgreSQL's per-transaction cost once per
 * group. Every request still answers only after its own event and its
 * deliveries are committed. Events with an Idempotency-Key go alone, as
 * do events whose group could not be written.
 */
#ifndef HK_FANOUT_H
#define HK_FANOUT_H

#include "db.h"
#include "store.h"

struct hk_fanout;

/* Writer threads, so groups hookd writes at once. One: while a group
 * commits, the requests arriving meanwhile gather into the next, which is
 * then twice as large as with two groups in flight, and PostgreSQL pays
 * its per-statement and per-commit cost once for all of them; more writers
 * only make each commit wait for the others'. */
#define HK_FANOUT_WRITERS 1

/* What writes one group: hk_store_event_ingest_group's contract. */
typedef enum hk_result (*hk_fanout_write_fn)(struct hk_conn *c,
                                             struct hk_ingest_item *items,
                                             size_t n);

/* A new, empty group coordinator writing its groups with write
 * (hk_store_event_ingest_group in hookd) on `writers` (>= 1) threads of
 * its own (HK_FANOUT_WRITERS in hookd), so at most that many groups at
 * once; NULL when no thread could be started. Each thread writes on a
 * connection of its own to conninfo (with generic plans) when it can be
 * made, else on the group's first poster's; conninfo NULL: always the
 * poster's. hk_fanout_free stops them, once nobody posts any more. A group
 * that wrote any delivery calls wake(wake_ctx, unowned) once, when it
 * has committed and before its posters are answered, and marks each of
 * its events woken (in->woken): the dispatchers are woken once a group,
 * not once an event, and each wake-up costs a claim. unowned: an
 * endpoint of the group has no owner (hk_ingest_item). wake may be NULL. */
struct hk_fanout *hk_fanout_new(hk_fanout_write_fn write, int writers,
                                const char *conninfo,
                                void (*wake)(void *ctx, bool unowned),
                                void *wake_ctx);
void hk_fanout_free(struct hk_fanout *f);

/* hk_store_event_ingest with the same contract, through a group when f is
 * not NULL and the event has no idempotency key. c is the caller's own
 * connection, idle while its thread waits for the answer: a group is
 * written on its first poster's when the writer has no connection of its
 * own. An event with in->take_want is written only by a group statement
 * that takes its tokens with it (hk_store_event_ingest_group); when its
 * group did not write it, or it cannot go in a group, nothing of it is
 * written and the result is HK_DENIED, with in->taken and in->take saying
 * whether and what that statement took (HK_DB when the group failed). */
enum hk_result hk_fanout_ingest(struct hk_fanout *f, struct hk_conn *c,
                                struct hk_ingest *in, json_t **out,
                                bool *created) HK_MUST_CHECK;

#endif
