/*
 * claim.c - the claimer thread, on the work connection: it runs the
 * ownership round (which endpoints this dispatcher sends to), claims due
 * deliveries of its endpoints when the sender asks (work may have come,
 * or slots are free), hands the jobs to the sender, checks whether the
 * endpoints of waiting jobs are still enabled and still its own, and
 * writes what it holds of each endpoint for the API's "sending". Nothing
 * else runs on this thread: every claim waits for the turn before it
 * (the periodic sweeps run on the vacuum thread, sweep.c). The claim's SQL
 * is store_dispatch.c's.
 */
#include "engine/engine.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What the dispatcher holds is written when it changed, at most this
 * often: the API's "sending" is that late at most. */
#define HOLD_MS 50
/* see check_lanes */
#define GONE_AFTER_MS 500
/* Endpoints of one claim whose jobs share their secrets (see claim). */
#define SAME_ENDPOINTS 64
/* A claimer turn longer than this is logged at debug level with where its
 * time went: every claim waits for the turn before it, so a long one is
 * what a fast endpoint's deliveries wait for beside a busy one
 * (docs/tls.md). */
#define SLOW_TURN_MS 20

/* Adds ids (a uuid[] literal) to the endpoints whose waiting jobs the
 * sender drops at its next turn. Called with claim_mu held. */
static void stopped_add(struct hk_dispatcher *d, const char *ids)
{
    if (d->stopped == NULL) {
        d->stopped = hk_strdup(ids);
        return;
    }
    struct hk_buf b;
    hk_buf_init(&b);
    hk_buf_printf(&b, "%s%s", d->stopped, ids); /* read with strstr */
    free(d->stopped);
    d->stopped = hk_buf_steal(&b);
}

/* Runs on the claimer thread: looks up the endpoints the dispatcher
 * thread listed. */
static void check_lanes(struct hk_dispatcher *d)
{
    pthread_mutex_lock(&d->claim_mu);
    char *tids = d->check_tids, *eids = d->check_eids;
    d->check_tids = d->check_eids = NULL;
    pthread_mutex_unlock(&d->claim_mu);
    char *stopped = NULL;
    if (eids != NULL &&
        hk_store_stopped_endpoints(d->work, d->owner, tids, eids, &stopped) !=
            HK_OK)
        stopped = NULL;
    free(tids);
    free(eids);
    if (stopped != NULL) {
        pthread_mutex_lock(&d->claim_mu);
        stopped_add(d, stopped);
        pthread_mutex_unlock(&d->claim_mu);
        free(stopped);
        hk_deliver_wakeup(d->deliver);
        /* once the sender has dropped their waiting jobs and what this
         * dispatcher holds is written again, those of an endpoint gone
         * away end failed (sweep.c) */
        hk_vacuum_chore_soon(d->vacuum, GONE_AFTER_MS);
    }
}

/* Runs on the claimer thread: writes what this dispatcher holds of each
 * endpoint it owns when that changed since the last write (at most every
 * HOLD_MS), for the API's "sending" (store.h, HK_SQL_SENDING). */
static void publish_held(struct hk_dispatcher *d, int64_t now)
{
    if (now - d->held_ms < HOLD_MS)
        return;
    struct hk_buf eps, ids;
    hk_buf_init(&eps);
    hk_buf_init(&ids);
    pthread_mutex_lock(&d->claim_mu);
    bool dirty = d->mine_dirty;
    d->mine_dirty = false;
    if (dirty) {
        hk_buf_append(&eps, d->mine_eps.data, d->mine_eps.len);
        hk_buf_append(&ids, d->mine.data, d->mine.len);
    }
    pthread_mutex_unlock(&d->claim_mu);
    /* the two lists are as long as each other: one after the other, they
     * say what was written */
    if (!dirty ||
        (d->held_pub_ok && d->held_pub.len == eps.len + ids.len &&
         (eps.len == 0 || memcmp(d->held_pub.data, eps.data, eps.len) == 0) &&
         (ids.len == 0 ||
          memcmp(d->held_pub.data + eps.len, ids.data, ids.len) == 0))) {
        hk_buf_cleanup(&eps);
        hk_buf_cleanup(&ids);
        return;
    }
    enum hk_result rc = hk_store_hold(d->work, d->owner, &eps, &ids);
    d->held_ms = now;
    hk_buf_reset(&d->held_pub);
    hk_buf_append(&d->held_pub, eps.data, eps.len);
    hk_buf_append(&d->held_pub, ids.data, ids.len);
    d->held_pub_ok = rc == HK_OK;
    if (rc != HK_OK) {
        hk_log_warn("could not write the deliveries this dispatcher holds; "
                    "the API may show them as pending meanwhile");
        pthread_mutex_lock(&d->claim_mu);
        d->mine_dirty = true; /* written again at the next turn */
        pthread_mutex_unlock(&d->claim_mu);
    }
    hk_buf_cleanup(&eps);
    hk_buf_cleanup(&ids);
}

/* The claim's exclude list: the endpoints the sender asked to leave out
 * (a uuid[] literal, or NULL) and those being given up. */
static char *exclude_with_yield(const struct hk_dispatcher *d,
                                const char *exclude)
{
    if (d->yield_eids == NULL)
        return exclude ? hk_strdup(exclude) : NULL;
    if (exclude == NULL)
        return hk_strdup(d->yield_eids);
    struct hk_buf b;
    hk_buf_init(&b);
    /* "{a,b}" and "{c}" make "{a,b,c}" */
    hk_buf_printf(&b, "%.*s,%s", (int)strlen(exclude) - 1, exclude,
                  d->yield_eids + 1);
    return hk_buf_steal(&b);
}

/* "{a,b,...}" of the endpoints v[from..n) (tenants, or ids). */
static char *owned_list(const struct hk_owned *o, size_t from, bool tenants)
{
    struct hk_buf b;
    hk_buf_init(&b);
    hk_buf_puts(&b, "{");
    for (size_t i = from; i < o->n; i++)
        hk_buf_printf(&b, "%s%s", i > from ? "," : "",
                      tenants ? o->v[i].tenant_id : o->v[i].endpoint_id);
    hk_buf_puts(&b, "}");
    return hk_buf_steal(&b);
}

/* "{...}" of the comma-separated ids in b, or NULL when it has none. */
static char *braced(const struct hk_buf *b)
{
    if (b->len == 0)
        return NULL;
    struct hk_buf out;
    hk_buf_init(&out);
    hk_buf_printf(&out, "{%s}", b->data);
    return hk_buf_steal(&out);
}

/* The endpoints this dispatcher holds something of, into held (16-byte
 * ids, repeated; the caller cleans it up): a job waiting, held or in
 * flight (the sender's last list, mine_eps) or an outcome not recorded
 * yet. */
static void held_endpoints(struct hk_dispatcher *d, struct hk_buf *held)
{
    struct hk_buf ids;
    hk_buf_init(held);
    hk_buf_init(&ids);
    pthread_mutex_lock(&d->claim_mu);
    hk_buf_append(held, d->mine_eps.data, d->mine_eps.len);
    pthread_mutex_unlock(&d->claim_mu);
    hk_jobq_ids(&d->outcomes, &ids, held);
    hk_buf_cleanup(&ids);
}

/* Splits the endpoints being given up (parallel literals *tids, *eids)
 * into those this dispatcher still holds something of, left in *tids and
 * *eids (NULL when none), and the others, returned in *free_tids and
 * *free_eids (NULL when none) (see held_endpoints). */
static void split_held(struct hk_dispatcher *d, char **tids, char **eids,
                       char **free_tids, char **free_eids)
{
    struct hk_buf held, kt, ke, ft, fe;
    held_endpoints(d, &held);
    hk_buf_init(&kt);
    hk_buf_init(&ke);
    hk_buf_init(&ft);
    hk_buf_init(&fe);
    const char *t = *tids + 1, *e = *eids + 1;
    while (*e != '\0' && *e != '}') {
        size_t tl = strcspn(t, ",}"), el = strcspn(e, ",}");
        char eid[40];
        snprintf(eid, sizeof(eid), "%.*s", (int)el, e);
        unsigned char key[HK_UUID_BYTES];
        /* an id that does not read is kept: given up at a later round */
        bool busy = !hk_uuid_bin(eid, key) || hk_uuids_has(&held, key);
        struct hk_buf *bt = busy ? &kt : &ft, *be = busy ? &ke : &fe;
        hk_buf_printf(bt, "%s%.*s", bt->len ? "," : "", (int)tl, t);
        hk_buf_printf(be, "%s%.*s", be->len ? "," : "", (int)el, e);
        t += tl + (t[tl] == ',');
        e += el + (e[el] == ',');
    }
    hk_buf_cleanup(&held);
    free(*tids);
    free(*eids);
    *tids = braced(&kt);
    *eids = braced(&ke);
    *free_tids = braced(&ft);
    *free_eids = braced(&fe);
    hk_buf_cleanup(&kt);
    hk_buf_cleanup(&ke);
    hk_buf_cleanup(&ft);
    hk_buf_cleanup(&fe);
}

/* Runs on the claimer thread: gives up the endpoints being given up that
 * this dispatcher holds nothing of any more; the rest wait for their
 * requests to end and be recorded, so that the next owner, which counts
 * only its own, never sends beside them. */
static void yield(struct hk_dispatcher *d)
{
    char *ft, *fe;
    split_held(d, &d->yield_tids, &d->yield_eids, &ft, &fe);
    if (fe != NULL &&
        hk_store_yield(d->work, d->owner, ft, fe) != HK_OK) {
        /* not given up: kept for the next round */
        if (d->yield_eids == NULL) {
            d->yield_tids = ft;
            d->yield_eids = fe;
            ft = fe = NULL;
        } else {
            struct hk_buf a, b;
            hk_buf_init(&a);
            hk_buf_init(&b);
            hk_buf_printf(&a, "%.*s,%s", (int)strlen(d->yield_tids) - 1,
                          d->yield_tids, ft + 1);
            hk_buf_printf(&b, "%.*s,%s", (int)strlen(d->yield_eids) - 1,
                          d->yield_eids, fe + 1);
            free(d->yield_tids);
            free(d->yield_eids);
            d->yield_tids = hk_buf_steal(&a);
            d->yield_eids = hk_buf_steal(&b);
        }
    }
    free(ft);
    free(fe);
    pthread_mutex_lock(&d->claim_mu);
    free(d->yielding);
    d->yielding = d->yield_eids ? hk_strdup(d->yield_eids) : NULL;
    pthread_mutex_unlock(&d->claim_mu);
}

/* Orders the endpoints this dispatcher owns so that those it holds
 * something of (held_endpoints) come first, each group in its order: one
 * over its share gives up the last of the list, and an idle endpoint
 * moves without a pause, where a busy one's deliveries would wait a round
 * or two for their new owner. */
static void busy_first(struct hk_dispatcher *d, struct hk_owned *o)
{
    struct hk_buf held;
    held_endpoints(d, &held);
    struct hk_owned_ep *sorted = hk_calloc(o->n, sizeof(*sorted));
    size_t nbusy = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < o->n; i++) {
            unsigned char key[HK_UUID_BYTES];
            bool busy = hk_uuid_bin(o->v[i].endpoint_id, key) &&
                        hk_uuids_has(&held, key);
            if (busy == (pass == 0))
                sorted[nbusy++] = o->v[i];
        }
    hk_buf_cleanup(&held);
    free(o->v);
    o->v = sorted;
}

/* Runs on the claimer thread: the ownership round (docs/engine.md,
 * "Ownership"). First the endpoints handed to the sender to give up a
 * round ago or more are given up, those it holds nothing of; then the
 * round renews, drops and takes, and tells the sender until when the
 * leases are live. A dispatcher owning more than its share gives up the
 * excess in two steps: the sender drops their waiting jobs and takes no
 * more of theirs now, and their rows go once their requests in flight
 * are recorded, a round later at the earliest, so that the next owner's
 * first request never meets one this dispatcher was still sending.
 * Returns whether the round took endpoints (a claim should follow). */
static bool own(struct hk_dispatcher *d, int64_t now)
{
    if (d->yield_eids != NULL && now - d->yield_ms >= OWN_ROUND_MS)
        yield(d);
    d->owned_at_ms = now;
    struct hk_owned o;
    enum hk_result rc = hk_store_own(d->work, d->owner, OWN_LEASE_MS, &o);
    d->own_cost_ms = hk_mono_ms() - now;
    if (rc != HK_OK)
        return false;
    atomic_store(&d->own_valid_ms,
                 now + OWN_LEASE_MS * 2 / 3 - OWN_MARGIN_MS);
    d->nowned = o.n;
    if (d->yield_eids == NULL && o.share > 0 && o.n > (size_t)o.share) {
        /* the last of the list: idle ones, then those taken last */
        busy_first(d, &o);
        d->yield_tids = owned_list(&o, (size_t)o.share, true);
        d->yield_eids = owned_list(&o, (size_t)o.share, false);
        d->yield_ms = now;
        pthread_mutex_lock(&d->claim_mu);
        free(d->yielding);
        d->yielding = hk_strdup(d->yield_eids);
        /* their waiting jobs are dropped as if the endpoints had stopped */
        stopped_add(d, d->yield_eids);
        pthread_mutex_unlock(&d->claim_mu);
        char s[16];
        snprintf(s, sizeof(s), "%zu", o.n - (size_t)o.share);
        hk_log_info("giving endpoints up to other dispatchers", "endpoints",
                    s);
        hk_deliver_wakeup(d->deliver);
    }
    bool taken = o.taken > 0;
    free(o.v);
    return taken;
}

/* Runs on the claimer thread: claims what the free slots allow and queues
 * the jobs for the sender thread to start. Requests answered but not
 * recorded yet (waiting for the recorder, or being written by it) free
 * their slots at once: the claim is told which deliveries they are. When
 * the recorder falls twice max_in_flight behind (it gathers up to
 * RECORD_BATCH while writing as many), claims wait for it. A lane holds
 * jobs only while its endpoint's slots are all busy, and no more than
 * (HK_LANE_DEPTH - 1) times them, so the jobs waiting in lanes stay below
 * max_in_flight; the claim's room keeps them there too, should an
 * endpoint's max_concurrency be lowered meanwhile. */
static void claim(struct hk_dispatcher *d, int *room_out, size_t *n_out)
{
    struct hk_buf ids;
    hk_buf_init(&ids);
    pthread_mutex_lock(&d->claim_mu);
    size_t busy = d->busy_local + hk_jobq_count(&d->claimed);
    size_t done = hk_jobq_count(&d->outcomes);
    int room = done >= 2 * (size_t)d->cfg->max_in_flight
                   ? 0
                   : d->cfg->max_in_flight - (int)busy;
    int lanes = d->cfg->max_in_flight - (int)d->waiting_pub;
    if (lanes < room)
        room = lanes;
    char *exclude = exclude_with_yield(d, d->exclude);
    char *cap_ids = d->cap_ids ? hk_strdup(d->cap_ids) : NULL;
    char *caps = d->caps ? hk_strdup(d->caps) : NULL;
    if (room > 0 && done > 0)
        hk_jobq_ids(&d->outcomes, &ids, NULL);
    struct hk_buf mine, mine_eps;
    hk_buf_init(&mine);
    hk_buf_init(&mine_eps);
    if (room > 0) {
        hk_buf_append(&mine, d->mine.data, d->mine.len);
        hk_buf_append(&mine_eps, d->mine_eps.data, d->mine_eps.len);
    }
    pthread_mutex_unlock(&d->claim_mu);

    struct hk_claim *claims = NULL;
    size_t n = 0;
    enum hk_result rc = HK_OK;
    bool more = true; /* nothing claimed for want of room: claim again */
    int64_t began_us = hk_trace_now_us();
    if (room > 0)
        rc = hk_store_claim(d->work, d->owner, room, exclude, cap_ids, caps,
                            &ids, &mine, &mine_eps, &claims, &n, &more);
    /* endpoints left out for their rate limit have work of their own */
    if (rc != HK_OK || exclude != NULL)
        more = true;
    free(exclude);
    free(cap_ids);
    free(caps);
    hk_buf_cleanup(&mine);
    hk_buf_cleanup(&mine_eps);
    hk_buf_cleanup(&ids);
    struct hk_job **jobs = NULL;
    if (rc == HK_OK && n > 0) {
        jobs = hk_calloc(n, sizeof(*jobs));
        /* the first job of each endpoint (up to SAME_ENDPOINTS of them)
         * lends the later ones its secrets and headers */
        const struct hk_job *firsts[SAME_ENDPOINTS];
        size_t nfirsts = 0;
        for (size_t i = 0; i < n; i++) {
            const struct hk_job *like = NULL;
            for (size_t k = 0; k < nfirsts && like == NULL; k++)
                if (memcmp(firsts[k]->endpoint_bin, claims[i].endpoint_bin,
                           HK_UUID_BYTES) == 0)
                    like = firsts[k];
            jobs[i] = hk_work_from_claim(d, &claims[i], like);
            jobs[i]->trace.claim_began_us = began_us;
            if (like == NULL && nfirsts < SAME_ENDPOINTS)
                firsts[nfirsts++] = jobs[i];
        }
    }
    hk_store_claims_free(claims, n);
    *room_out = room;
    *n_out = rc == HK_OK ? n : 0;

    hk_jobq_push(&d->claimed, jobs, n);
    pthread_mutex_lock(&d->claim_mu);
    if (jobs != NULL) {
        hk_work_ids_append(jobs, n, &d->mine, &d->mine_eps);
        d->mine_dirty = true;
    }
    d->claim_more = more;
    pthread_mutex_unlock(&d->claim_mu);
    free(jobs);
    /* work left behind: requests that ended meanwhile claim again */
    if (n > 0 || (more && atomic_load(&d->woken)))
        hk_deliver_wakeup(d->deliver);
}

/* How old the last ownership round must be before one that was asked
 * for (engine.h, OWN_ROUND_NOW_MS). */
static int64_t own_gap(const struct hk_dispatcher *d)
{
    if (!d->own_soon)
        return OWN_ROUND_MIN_MS;
    int64_t gap = 10 * d->own_cost_ms;
    return gap < OWN_ROUND_NOW_MS     ? OWN_ROUND_NOW_MS
           : gap > OWN_ROUND_MIN_MS ? OWN_ROUND_MIN_MS
                                    : gap;
}

/* Where a claimer turn's time went, in µs, for log_slow_turn. */
enum turn_step { T_OWN, T_CHECK, T_CLAIM, T_HOLD, T_STEPS };

static int64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* The µs since *t, which becomes now. */
static int64_t lap(int64_t *t)
{
    int64_t now = mono_us(), since = now - *t;
    *t = now;
    return since;
}

/* Logs a turn that took SLOW_TURN_MS or more: each step's ms, the room the
 * claim had (-1: no claim) and the jobs it brought. */
static void log_slow_turn(const int64_t us[T_STEPS], int64_t total_us,
                          int room, size_t claimed)
{
    if (total_us < SLOW_TURN_MS * 1000 || !hk_log_enabled(HK_LOG_DEBUG))
        return;
    char v[T_STEPS + 3][24];
    for (int i = 0; i < T_STEPS; i++)
        snprintf(v[i], sizeof(v[i]), "%.2f", (double)us[i] / 1000.0);
    snprintf(v[T_STEPS], sizeof(v[0]), "%.2f", (double)total_us / 1000.0);
    snprintf(v[T_STEPS + 1], sizeof(v[0]), "%d", room);
    snprintf(v[T_STEPS + 2], sizeof(v[0]), "%zu", claimed);
    hk_log_debug("slow claimer turn", "turn_ms", v[T_STEPS], "own_ms",
                 v[T_OWN], "check_ms", v[T_CHECK],
                 "claim_ms", v[T_CLAIM], "hold_ms", v[T_HOLD], "room",
                 v[T_STEPS + 1], "claimed", v[T_STEPS + 2]);
}

/* The claimer thread: claims whenever the dispatcher asks (an ingest or
 * a NOTIFY, slots freed while work may be left, a retry come due, the
 * one-second poll), and keeps ownership and what it holds on the side. */
void *hk_claimer_loop(void *arg)
{
    struct hk_dispatcher *d = arg;
    pthread_mutex_lock(&d->claim_mu);
    for (;;) {
        if (!d->want_claim && !d->cl_stop) {
            int64_t wait = 200;
            if (d->own_asked) {
                wait = d->owned_at_ms + own_gap(d) - hk_mono_ms();
                wait = wait < 1 ? 1 : wait > 200 ? 200 : wait;
            }
            if (d->mine_dirty && wait > HOLD_MS)
                wait = HOLD_MS; /* what it holds is written in time */
            struct timespec until = hk_jobq_deadline_in((long)wait);
            pthread_cond_timedwait(&d->cl_cv, &d->claim_mu, &until);
        }
        if (d->cl_stop)
            break;
        bool want = d->want_claim && !hk_jobq_failing(&d->outcomes);
        if (d->want_claim && !want)
            d->claim_again = true; /* claim once the recorder is back */
        d->want_claim = false;
        pthread_mutex_unlock(&d->claim_mu);

        int64_t us[T_STEPS] = {0}, began = mono_us(), t = began;
        int room = -1;
        size_t claimed = 0;
        int64_t now = hk_mono_ms();
        /* work may have come for an endpoint nobody owns: a round now,
         * or as soon as the last is old enough (own_gap) */
        if (atomic_exchange(&d->own_now, false))
            d->own_soon = true;
        bool round = now - d->owned_at_ms >= OWN_ROUND_MS;
        if (want || d->own_asked || d->own_soon) {
            if (now - d->owned_at_ms >= own_gap(d))
                round = true;
            else
                d->own_asked = true;
        }
        if (round && hk_conn_ensure(d->work)) {
            d->own_asked = false;
            d->own_soon = false;
            if (own(d, now))
                want = true;
        }
        us[T_OWN] = lap(&t);
        if (hk_conn_ensure(d->work))
            check_lanes(d);
        us[T_CHECK] = lap(&t);
        if (want && hk_conn_ensure(d->work))
            claim(d, &room, &claimed);
        us[T_CLAIM] = lap(&t);
        if (hk_conn_ensure(d->work))
            publish_held(d, hk_mono_ms());
        us[T_HOLD] = lap(&t);
        log_slow_turn(us, t - began, room, claimed);
        pthread_mutex_lock(&d->claim_mu);
    }
    pthread_mutex_unlock(&d->claim_mu);
    return NULL;
}

void hk_claimer_stop(struct hk_dispatcher *d)
{
    pthread_mutex_lock(&d->claim_mu);
    d->cl_stop = true;
    pthread_cond_signal(&d->cl_cv);
    pthread_mutex_unlock(&d->claim_mu);
    pthread_join(d->cl_thread, NULL);
}
