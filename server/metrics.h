/*
 * metrics.h - process counters for /metrics in Prometheus text format:
 * HTTP requests by route and status and their durations by route, events
 * ingested, attempts and deliveries by outcome, the attempt latency
 * histogram, requests to endpoints in flight and the queue depth (which
 * the caller reads from the database). Thread-safe.
 */
#ifndef HK_METRICS_H
#define HK_METRICS_H

#include "common.h"

/* route: a string that lives as long as the process (a route pattern);
 * method: the request's, counted as "other" unless HTTP defines it. */
void hk_metrics_request(const char *route, const char *method, int status,
                        int64_t duration_ms);
void hk_metrics_event_ingested(int deliveries);
/* outcome: "succeeded", "retry", "failed"; succeeded and failed also count
 * the delivery as ended with that outcome. */
void hk_metrics_attempt(const char *outcome, int64_t duration_ms);
void hk_metrics_in_flight(long n);
/* The requests in flight endpoint_id may have now in this process, when
 * its answers hold them below max_concurrency; n <= 0 when it is back at
 * its max (it leaves the series). */
void hk_metrics_endpoint_concurrency(const char *endpoint_id, int n);
/* Appends the exposition text; queue_depth < 0 is left out. */
void hk_metrics_render(struct hk_buf *out, long long queue_depth);

#endif
