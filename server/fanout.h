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

/* Groups written at once: while one waits for its commit to reach the
 * disk, the next is already being written. More than two only made each
 * commit wait for the others' (measured with `make bench`). */
#define HK_FANOUT_LEADERS 2

/* What writes one group: hk_store_event_ingest_group's contract. */
typedef enum hk_result (*hk_fanout_write_fn)(struct hk_conn *c,
                                             struct hk_ingest_item *items,
                                             size_t n);

/* A new, empty group coordinator writing its groups with write
 * (hk_store_event_ingest_group in hookd); free with hk_fanout_free. */
struct hk_fanout *hk_fanout_new(hk_fanout_write_fn write);
void hk_fanout_free(struct hk_fanout *f);

/* hk_store_event_ingest with the same contract, through a group when f is
 * not NULL and the event has no idempotency key. c is the caller's own
 * connection: the thread that leads a group writes it on its connection
 * while the others wait. */
enum hk_result hk_fanout_ingest(struct hk_fanout *f, struct hk_conn *c,
                                struct hk_ingest *in, json_t **out,
                                bool *created) HK_MUST_CHECK;

#endif
