/*
 * dispatcher.h - the delivery engine (docs/engine.md): owns a fair share
 * of the endpoints with due work (one dispatcher at a time sends to an
 * endpoint), claims their due deliveries within max_concurrency and
 * rate_limit, hands them to deliver.c, and writes outcomes
 * (attempt rows, retry times, final states) in batches. Sleeps in
 * curl_multi_poll with the LISTEN socket as an extra descriptor.
 */
#ifndef HK_DISPATCHER_H
#define HK_DISPATCHER_H

#include "config.h"

struct hk_dispatcher;

/* Connections a dispatcher keeps open: claims, records, LISTEN, vacuum. */
#define HK_DISPATCHER_CONNECTIONS 4

/* Connects (HK_DISPATCHER_CONNECTIONS) and starts the threads. */
enum hk_result hk_dispatcher_start(const struct hk_config *cfg,
                                   struct hk_dispatcher **out) HK_MUST_CHECK;
/* Wakes the thread to claim now (safe from any thread); unowned: work
 * came for an endpoint nobody owns, so the ownership round runs now too
 * (docs/engine.md, "Finding work"). */
void hk_dispatcher_wake(void *dispatcher, bool unowned);
/* Stops claiming, lets in-flight requests finish (up to the request
 * timeout), records them, gives up its endpoints (what was not started
 * is sent by their next owners), joins the thread and frees everything. */
void hk_dispatcher_stop(struct hk_dispatcher *d);

#endif
