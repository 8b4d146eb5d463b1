/*
 * sweep.c - the dispatcher's periodic sweeps: deliveries of endpoints gone
 * away end failed, expired portal sessions and old entries of the change
 * log are deleted, and attempts older than the retention are pruned. They
 * run as the vacuum thread's chore (vacuum.h), on its connection, every
 * SWEEP_MS and soon after the claimer's check of the lanes found an
 * endpoint gone: under load a sweep takes tens of milliseconds, and on the
 * claimer's thread every endpoint's next claim would wait for it.
 */
#include "engine/engine.h"
#include "log.h"

#include <stdio.h>

/* How often old attempts are pruned (HOOKD_RETENTION_DAYS). */
#define PRUNE_MS (3600 * 1000)

void hk_sweep_run(struct hk_conn *c, void *arg)
{
    struct hk_dispatcher *d = arg;
    int n = 0;
    if (hk_store_fail_gone(c, &n) == HK_OK && n > 0) {
        char s[16];
        snprintf(s, sizeof(s), "%d", n);
        hk_log_info("deliveries of endpoints gone away ended failed",
                    "deliveries", s);
    }
    /* a session's token no longer works once it expires; its row goes
     * here rather than on the next request that presents it */
    if (hk_store_session_purge(c, &n) == HK_OK && n > 0) {
        char s[16];
        snprintf(s, sizeof(s), "%d", n);
        hk_log_info("expired portal sessions purged", "sessions", s);
    }
    if (hk_store_changes_purge(c) != HK_OK)
        hk_log_warn("cannot purge the change log of the live updates");
    int64_t now = hk_mono_ms();
    if (d->cfg->retention_days > 0 &&
        (d->pruned_ms == 0 || now - d->pruned_ms >= PRUNE_MS) &&
        hk_store_prune_attempts(c, d->cfg->retention_days, &n) == HK_OK)
        d->pruned_ms = now;
}
