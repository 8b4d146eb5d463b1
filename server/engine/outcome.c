/*
 * outcome.c - the rules of an attempt's outcome (outcome.h): the
 * delivery's next state, the endpoint's disabling and the pressure on its
 * requests in flight. It owns no state and does no I/O; the recorder
 * (record.c) asks it about each finished attempt and writes the answer,
 * and the lanes (lanes.c) apply the pressure.
 */
#include "engine/outcome.h"

#include <stdio.h>
#include <string.h>

enum hk_attempt_kind hk_outcome_kind(int status_code, const char *error)
{
    if (status_code >= 200 && status_code < 300)
        return HK_ATTEMPT_OK;
    if (status_code == 410)
        return HK_ATTEMPT_GONE;
    if (status_code == 429 || status_code == 503)
        return HK_ATTEMPT_THROTTLED;
    if (status_code > 0)
        return HK_ATTEMPT_STATUS;
    /* deliver.c's texts: "timeout after ..." when the whole request ran
     * out of time (also while reading the answer), "connect timeout ..."
     * when the connection never came up; "refused to connect to ..." from
     * the address guard */
    if (error != NULL && strncmp(error, "timeout", 7) == 0)
        return HK_ATTEMPT_TIMEOUT;
    if (error != NULL && strncmp(error, "refused to connect to ", 22) == 0)
        return HK_ATTEMPT_REFUSED;
    return HK_ATTEMPT_NETWORK;
}

enum hk_pressure hk_outcome_pressure(enum hk_attempt_kind kind)
{
    switch (kind) {
    case HK_ATTEMPT_OK:
        return HK_PRESSURE_GROW;
    case HK_ATTEMPT_THROTTLED:
    case HK_ATTEMPT_TIMEOUT:
        return HK_PRESSURE_SHRINK;
    default:
        return HK_PRESSURE_HOLD;
    }
}

const char *hk_outcome_status(enum hk_delivery_next next)
{
    switch (next) {
    case HK_NEXT_SUCCEEDED:
        return "succeeded";
    case HK_NEXT_RETRY:
        return "pending";
    default:
        return "failed";
    }
}

void hk_outcome_decide(const struct hk_outcome_in *in,
                       struct hk_outcome_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = hk_outcome_kind(in->status_code, in->error);
    out->pressure = hk_outcome_pressure(out->kind);
    if (out->kind == HK_ATTEMPT_OK) {
        /* delivered: whatever happened to the endpoint meanwhile */
        out->next = out->next_if_stopped = HK_NEXT_SUCCEEDED;
        return;
    }
    /* every other outcome ends the delivery when its endpoint stopped
     * (disabled or deleted) while the request was in flight */
    out->next_if_stopped = HK_NEXT_FAILED;
    if (out->kind == HK_ATTEMPT_GONE) {
        out->next = HK_NEXT_FAILED;
        out->disable_endpoint = true;
        out->disable_reason = "the endpoint answered 410 Gone";
        return;
    }
    /* failing_since is set by the first recorded failure after a success
     * and cleared by the next success: this attempt failed too, so every
     * delivery has failed since then */
    if (in->failing_since_ms > 0 && in->disable_after_ms > 0 &&
        in->now_ms - in->failing_since_ms >= in->disable_after_ms) {
        char since[32];
        hk_format_time(in->failing_since_ms, since, sizeof(since));
        snprintf(out->reason_buf, sizeof(out->reason_buf),
                 "every delivery failed since %s", since);
        out->next = HK_NEXT_FAILED;
        out->disable_endpoint = true;
        out->disable_reason = out->reason_buf;
        return;
    }
    int64_t delay =
        hk_retry_next_delay(in->schedule, in->cycle_attempts, in->jitter);
    if (delay < 0) {
        out->next = HK_NEXT_FAILED;
        return;
    }
    /* a receiver that says when to come back is not called before */
    if (out->kind == HK_ATTEMPT_THROTTLED && in->retry_after_ms > delay)
        delay = in->retry_after_ms;
    out->next = HK_NEXT_RETRY;
    out->next_attempt_ms = in->now_ms + delay;
}

void hk_adapt_init(struct hk_adapt *a, int max)
{
    a->limit = max < 1 ? 1 : max;
    a->grow_credit = 0;
    a->shrunk_ms = 0;
}

bool hk_adapt_apply(struct hk_adapt *a, enum hk_pressure p, int64_t started_ms,
                    int64_t now_ms, int max)
{
    if (max < 1)
        max = 1;
    int before = a->limit;
    if (a->limit > max)
        a->limit = max;
    if (p == HK_PRESSURE_SHRINK) {
        if (a->shrunk_ms == 0 || started_ms >= a->shrunk_ms) {
            a->limit = a->limit / 2 > 1 ? a->limit / 2 : 1;
            a->grow_credit = 0;
            a->shrunk_ms = now_ms;
        }
    } else if (p == HK_PRESSURE_GROW && a->limit < max) {
        if (++a->grow_credit >= a->limit) {
            a->limit++;
            a->grow_credit = 0;
        }
    }
    return a->limit != before;
}
