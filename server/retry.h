/*
 * retry.h - the retry schedule (parsing "5s,5m,30m,2h"), jitter, and the
 * Retry-After header. Pure functions, no I/O.
 */
#ifndef HK_RETRY_H
#define HK_RETRY_H

#include "common.h"

#define HK_RETRY_MAX_STEPS 32

struct hk_retry_schedule {
    int n;                               /* delays after attempt 1..n */
    int64_t delay_ms[HK_RETRY_MAX_STEPS];
};

/* Parses a comma-separated list of durations, each a positive integer with
 * unit ms, s, m, h or d. HK_INVALID on anything else or > MAX_STEPS. */
enum hk_result hk_retry_parse(const char *s,
                              struct hk_retry_schedule *out) HK_MUST_CHECK;
/* Parses one duration like "15s" or "5d" into ms. */
bool hk_duration_parse(const char *s, int64_t *ms);

/* Delay before the next attempt after `attempts` failed attempts in this
 * cycle (1-based), with +-10% jitter from rnd in [0,1). Returns -1 when the
 * schedule is exhausted. */
int64_t hk_retry_next_delay(const struct hk_retry_schedule *s, int attempts,
                            double rnd);

/* Parses a Retry-After value (delta seconds or an HTTP date) relative to
 * now_ms; returns the delay in ms, or -1 when absent/unparseable. Caps at
 * 7 days. */
int64_t hk_retry_after_parse(const char *value, int64_t now_ms);

#endif
