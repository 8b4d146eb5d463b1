/*
 * test_claim.c - the dispatcher's claim, called directly on a database
 * where no dispatcher runs (hookd api only), so that one claim takes
 * deliveries of several events to several endpoints at once: every
 * delivery claimed comes back with its own endpoint's URL, headers and
 * sealed secrets (the current one, and the previous one only where a
 * rotation left one signing) and its own event's type, payload and time,
 * each exactly once. Only the dispatcher that owns an endpoint claims its
 * deliveries (docs/engine.md, "Ownership"), and it steps over the ones it
 * says it holds, which the API then shows as sending. The ingest says
 * when it gave work to an endpoint nobody owns.
 */
#include "common.h"
#include "engine_util.h"
#include "ids.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;

static int group_setup(void **state)
{
    (void)state;
    if (hk_srv_start_role(&srv, "api", NULL) != 0)
        return -1;
    hk_mk_event_type(&srv, "order.created");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_srv_finish(&srv);
}

static char *hex(const unsigned char *b, size_t n)
{
    char *s = hk_malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", b[i]);
    return s;
}

enum { NEP = 3, NEV = 4 };

static void test_claim_answers_each_delivery_with_its_own(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[NEP][HK_ID_LEN], evid[NEV][HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "claim", tid);
    static const char *const members[NEP] = {
        "\"headers\":{\"X-Which\":\"a\"}",
        NULL,
        "\"headers\":{\"X-Which\":\"c\",\"X-Other\":\"2\"}",
    };
    char url[NEP][64];
    for (int k = 0; k < NEP; k++) {
        snprintf(url[k], sizeof url[k], "http://127.0.0.1:9/claim/%c?n=%d",
                 'a' + k, k);
        hk_eng_endpoint(&srv, key, tid, url[k], members[k], eid[k]);
    }
    /* the middle endpoint's old secret still signs for a day */
    struct hk_reply *r =
        hk_call(&srv, "POST", key, "{}",
                "/v1/tenants/%s/endpoints/%s/secret/rotate", tid, eid[1]);
    hk_expect(r, 200);
    hk_reply_free(r);

    char payload[NEV][64], created[NEV][64];
    for (int v = 0; v < NEV; v++) {
        snprintf(payload[v], sizeof payload[v], "{\"n\": %d, \"s\":\"%.*s\"}",
                 v, v + 1, "xyzw");
        char *body = hk_fmt("{\"event_type\":\"order.created\",\"payload\":%s}",
                            payload[v]);
        r = hk_eng_post_body(&srv, key, tid, body, NULL);
        free(body);
        hk_expect(r, 202);
        assert_int_equal(hk_jint(r->json, "deliveries", -1), NEP);
        snprintf(evid[v], sizeof evid[v], "%s", hk_jstr(r->json, "id"));
        snprintf(created[v], sizeof created[v], "%s",
                 hk_jstr(r->json, "created_at"));
        hk_reply_free(r);
    }

    struct hk_conn *c = NULL;
    assert_int_equal(hk_conn_open(srv.db_url, "hookd test", &c), HK_OK);
    char owner[HK_UUID_STRLEN], other[HK_UUID_STRLEN];
    hk_uuid7(owner);
    hk_uuid7(other);
    struct hk_claim *cl = NULL;
    size_t n = 0;
    bool more = false;
    /* a dispatcher claims only for the endpoints it owns */
    assert_int_equal(hk_store_claim(c, owner, 100, NULL, NULL, NULL, NULL,
                                    NULL, NULL, &cl, &n, &more),
                     HK_OK);
    assert_int_equal(n, 0);
    /* alone, it owns all three: they have due work */
    struct hk_owned o;
    assert_int_equal(hk_store_own(c, owner, 60000, &o), HK_OK);
    assert_int_equal(o.n, NEP);
    assert_int_equal(o.taken, NEP);
    free(o.v);
    /* another dispatcher comes: its fair share is two of three, but
     * nobody lets go of an endpoint before its lease runs out */
    assert_int_equal(hk_store_own(c, other, 60000, &o), HK_OK);
    assert_int_equal(o.n, 0);
    assert_int_equal(o.share, 2);
    free(o.v);
    assert_int_equal(hk_store_claim(c, other, 100, NULL, NULL, NULL, NULL,
                                    NULL, NULL, &cl, &n, &more),
                     HK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(hk_store_claim(c, owner, 100, NULL, NULL, NULL, NULL,
                                    NULL, NULL, &cl, &n, &more),
                     HK_OK);
    assert_int_equal(n, NEP * NEV);

    /* what the owner holds, as the engine tells claims and the API */
    struct hk_buf held_ids, held_eps;
    hk_buf_init(&held_ids);
    hk_buf_init(&held_eps);
    bool seen[NEP][NEV] = {{false}};
    for (size_t i = 0; i < n; i++) {
        const struct hk_claim *x = &cl[i];
        int k = 0, v = 0;
        while (k < NEP && strcmp(x->endpoint_id, eid[k]) != 0)
            k++;
        while (v < NEV && strcmp(x->event_id, evid[v]) != 0)
            v++;
        if (k == NEP || v == NEV)
            fail_msg("claimed a delivery of endpoint %s, event %s: not ours",
                     x->endpoint_id, x->event_id);
        if (seen[k][v])
            fail_msg("endpoint %d, event %d claimed twice", k, v);
        seen[k][v] = true;
        /* the claim gives each id as bytes too, as the engine keeps them */
        unsigned char u[HK_UUID_BYTES];
        assert_true(hk_uuid_bin(x->delivery_id, u));
        assert_memory_equal(u, x->delivery_bin, HK_UUID_BYTES);
        assert_true(hk_uuid_bin(x->endpoint_id, u));
        assert_memory_equal(u, x->endpoint_bin, HK_UUID_BYTES);
        hk_uuids_add(&held_ids, x->delivery_bin);
        hk_uuids_add(&held_eps, x->endpoint_bin);
        assert_string_equal(x->tenant_id, tid);
        char *did = hk_sql(&srv,
                           "SELECT id FROM hookd.deliveries WHERE tenant_id = "
                           "$1 AND event_id = $2 AND endpoint_id = $3",
                           tid, evid[v], eid[k]);
        assert_non_null(did);
        assert_string_equal(x->delivery_id, did);
        free(did);

        /* the endpoint's own settings */
        if (strcmp(x->url, url[k]) != 0)
            fail_msg("the delivery to endpoint %d came with URL %s, not %s",
                     k, x->url, url[k]);
        char *want_headers = hk_sql(
            &srv, "SELECT headers::text FROM hookd.endpoints WHERE id = $1",
            eid[k]);
        assert_string_equal(x->headers, want_headers);
        free(want_headers);
        char *got = hex(x->secret_enc, x->secret_len);
        char *want = hk_sql(&srv,
                            "SELECT encode(secret_enc, 'hex') FROM "
                            "hookd.endpoints WHERE id = $1",
                            eid[k]);
        if (strcmp(got, want) != 0)
            fail_msg("the delivery to endpoint %d came with another "
                     "endpoint's sealed secret",
                     k);
        free(got);
        free(want);
        if (k == 1) {
            assert_non_null(x->prev_enc);
            got = hex(x->prev_enc, x->prev_len);
            want = hk_sql(&srv,
                          "SELECT encode(prev_secret_enc, 'hex') FROM "
                          "hookd.endpoints WHERE id = $1",
                          eid[k]);
            assert_string_equal(got, want);
            free(got);
            free(want);
        } else if (x->prev_enc != NULL) {
            fail_msg("endpoint %d was never rotated but its delivery came "
                     "with a previous secret",
                     k);
        }
        assert_int_equal(x->max_concurrency, 10);

        /* the event's own type, payload text and time */
        assert_string_equal(x->event_type, "order.created");
        if (strcmp(x->payload, payload[v]) != 0)
            fail_msg("the delivery of event %d came with payload \"%s\", "
                     "not \"%s\"",
                     v, x->payload, payload[v]);
        assert_string_equal(x->event_time, created[v]);
        assert_int_equal(x->attempt_count, 0);
    }
    hk_store_claims_free(cl, n);

    char *one = hk_sql(&srv,
                       "SELECT id FROM hookd.deliveries WHERE tenant_id = $1"
                       " AND endpoint_id = $2 LIMIT 1",
                       tid, eid[0]);

    /* a claim writes nothing: told nothing, it finds them all again */
    assert_int_equal(hk_store_claim(c, owner, 100, NULL, NULL, NULL, NULL,
                                    NULL, NULL, &cl, &n, &more),
                     HK_OK);
    assert_int_equal(n, NEP * NEV);
    hk_store_claims_free(cl, n);
    /* told what its owner holds, it finds nothing, and knows it */
    assert_int_equal(hk_store_claim(c, owner, 100, NULL, NULL, NULL, NULL,
                                    &held_ids, &held_eps, &cl, &n,
                                    &more),
                     HK_OK);
    assert_int_equal(n, 0);
    assert_false(more);
    /* the same for answers not recorded yet */
    assert_int_equal(hk_store_claim(c, owner, 100, NULL, NULL, NULL,
                                    &held_ids, NULL, NULL, &cl, &n,
                                    &more),
                     HK_OK);
    assert_int_equal(n, 0);
    /* what it holds counts against max_concurrency (10, twice that
     * waiting in its lane without a rate_limit): with 20 held at the
     * first endpoint, none of it comes; the other two give theirs */
    struct hk_buf ids20, eps20;
    hk_buf_init(&ids20);
    hk_buf_init(&eps20);
    unsigned char ep0[HK_UUID_BYTES];
    assert_true(hk_uuid_bin(eid[0], ep0));
    for (int i = 0; i < 20; i++) {
        char x[HK_UUID_STRLEN];
        unsigned char u[HK_UUID_BYTES];
        hk_uuid7(x);
        assert_true(hk_uuid_bin(x, u));
        hk_uuids_add(&ids20, u);
        hk_uuids_add(&eps20, ep0);
    }
    assert_int_equal(hk_store_claim(c, owner, 100, NULL, NULL, NULL, NULL,
                                    &ids20, &eps20, &cl, &n, &more),
                     HK_OK);
    assert_int_equal(n, (NEP - 1) * NEV);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(cl[i].endpoint_id, eid[0]);
    assert_true(more); /* the first endpoint's work is left */
    hk_store_claims_free(cl, n);
    hk_buf_cleanup(&ids20);
    hk_buf_cleanup(&eps20);

    /* the API shows what the owner holds as sending, and only that */
    struct hk_reply *d =
        hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/deliveries/%s", tid,
                one);
    hk_expect(d, 200);
    assert_string_equal(hk_jstr(d->json, "status"), "pending");
    hk_reply_free(d);
    assert_int_equal(hk_store_hold(c, owner, &held_eps, &held_ids),
                     HK_OK);
    d = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/deliveries/%s", tid,
                one);
    hk_expect(d, 200);
    assert_string_equal(hk_jstr(d->json, "status"), "sending");
    hk_reply_free(d);
    /* another dispatcher cannot write what it does not own */
    assert_int_equal(hk_store_hold(c, other, NULL, NULL), HK_OK);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.endpoint_owners"
                                " WHERE tenant_id = $1"
                                " AND cardinality(holding) = $2",
                                tid, "4"),
                     NEP);
    /* it holds nothing any more: pending again */
    assert_int_equal(hk_store_hold(c, owner, NULL, NULL), HK_OK);
    d = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/deliveries/%s", tid,
                one);
    hk_expect(d, 200);
    assert_string_equal(hk_jstr(d->json, "status"), "pending");
    hk_reply_free(d);
    free(one);
    hk_buf_cleanup(&held_ids);
    hk_buf_cleanup(&held_eps);
    hk_conn_close(c);
    free(key);
}

/* One ownership round, checked: it answers n endpoints owned, taken of
 * them newly, and the fair share share. Returns the answer. */
static struct hk_owned round_of(struct hk_conn *c, const char *who, size_t n,
                                size_t taken, int share)
{
    struct hk_owned o;
    assert_int_equal(hk_store_own(c, who, 60000, &o), HK_OK);
    if (o.n != n || o.taken != taken || o.share != share)
        fail_msg("the round answered %zu owned (%zu taken), share %d; "
                 "expected %zu (%zu taken), share %d",
                 o.n, o.taken, o.share, n, taken, share);
    return o;
}

/* The lease decisions of the ownership round (docs/engine.md,
 * "Ownership"), on four endpoints with due work: a lone dispatcher takes
 * all; a second one's share is two, which the first gives up (the engine
 * yields the excess) and the second takes; a dispatcher no longer seen
 * loses its endpoints once their leases run out; endpoints with nothing
 * pending and nothing held lately, and disabled ones, are let go. */
static void test_ownership_rounds(void **state)
{
    (void)state;
    enum { N = 4 };
    char tid[HK_ID_LEN], eid[N][HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "rounds", tid);
    /* the other tests' endpoints have no work left to share */
    free(hk_sql(&srv, "UPDATE hookd.deliveries SET status = 'failed',"
                      " completed_at = now(), next_attempt_at = NULL"
                      " WHERE status = 'pending' RETURNING 1"));
    for (int k = 0; k < N; k++)
        hk_eng_endpoint(&srv, key, tid, "http://127.0.0.1:9/rounds", NULL,
                        eid[k]);
    hk_eng_event(&srv, key, tid, "order.created", "{}", NULL);
    /* no dispatcher runs here: the rounds below are the only ones */
    free(hk_sql(&srv, "WITH a AS (DELETE FROM hookd.endpoint_owners)"
                      " DELETE FROM hookd.dispatchers RETURNING 1"));
    struct hk_conn *c = NULL;
    assert_int_equal(hk_conn_open(srv.db_url, "hookd test", &c), HK_OK);
    char a[HK_UUID_STRLEN], b[HK_UUID_STRLEN];
    hk_uuid7(a);
    hk_uuid7(b);

    struct hk_owned o = round_of(c, a, N, N, N);
    free(o.v);
    o = round_of(c, b, 0, 0, 2);
    free(o.v);
    /* a's next round finds it over its share of two */
    o = round_of(c, a, N, 0, 2);
    struct hk_buf ts, es;
    hk_buf_init(&ts);
    hk_buf_init(&es);
    hk_buf_printf(&ts, "{%s,%s}", o.v[2].tenant_id, o.v[3].tenant_id);
    hk_buf_printf(&es, "{%s,%s}", o.v[2].endpoint_id, o.v[3].endpoint_id);
    free(o.v);
    assert_int_equal(hk_store_yield(c, a, ts.data, es.data), HK_OK);
    hk_buf_cleanup(&ts);
    hk_buf_cleanup(&es);
    o = round_of(c, b, 2, 2, 2);
    free(o.v);
    o = round_of(c, a, 2, 0, 2);
    free(o.v);

    /* a dies: no longer seen, its leases run out; b takes its two */
    free(hk_sql(&srv,
                "WITH s AS (UPDATE hookd.dispatchers"
                " SET seen_at = now() - interval '1 minute' WHERE id = $1)"
                " UPDATE hookd.endpoint_owners"
                " SET lease_until = now() - interval '1 second'"
                " WHERE owner = $1 RETURNING 1",
                a));
    o = round_of(c, b, N, 2, N);
    free(o.v);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.endpoint_owners"
                                " WHERE tenant_id = $1 AND owner = $2",
                                tid, b),
                     N);

    /* a disabled endpoint is let go, and one with nothing pending once
     * its lease would need renewing (until then it stays, for the next
     * event to find its owner) */
    free(hk_sql(&srv,
                "UPDATE hookd.endpoints SET enabled = false"
                " WHERE tenant_id = $1 AND id = $2 RETURNING 1",
                tid, eid[0]));
    o = round_of(c, b, N - 1, 0, N - 1);
    free(o.v);
    free(hk_sql(&srv,
                "UPDATE hookd.deliveries SET status = 'succeeded',"
                " completed_at = now(), next_attempt_at = NULL"
                " WHERE tenant_id = $1 AND endpoint_id = $2 RETURNING 1",
                tid, eid[1]));
    o = round_of(c, b, N - 1, 0, N - 1);
    free(o.v);
    /* due for renewal, but what its owner holds there changed within a
     * third of the lease (held_at, here its take): it stays */
    free(hk_sql(&srv,
                "UPDATE hookd.endpoint_owners"
                " SET lease_until = now() + interval '1 second'"
                " WHERE tenant_id = $1 AND endpoint_id = $2 RETURNING 1",
                tid, eid[1]));
    o = round_of(c, b, N - 1, 0, N - 1);
    free(o.v);
    free(hk_sql(&srv,
                "UPDATE hookd.endpoint_owners"
                " SET lease_until = now() + interval '1 second',"
                " held_at = now() - interval '1 minute'"
                " WHERE tenant_id = $1 AND endpoint_id = $2 RETURNING 1",
                tid, eid[1]));
    o = round_of(c, b, N - 2, 0, N - 2);
    free(o.v);
    /* stopping gives up everything */
    assert_int_equal(hk_store_disown(c, b), HK_OK);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.endpoint_owners"
                                " WHERE owner = $1",
                                b),
                     0);
    hk_conn_close(c);
    free(key);
}

/* An outcome from a dispatcher that no longer owns the delivery's
 * endpoint (its lease ran out and another dispatcher took the endpoint
 * and may be sending the delivery again) is written as an attempt but
 * leaves the delivery alone; the owner's outcome is what counts. */
static void test_late_outcome_of_a_previous_owner(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "previous owner", tid);
    hk_eng_endpoint(&srv, key, tid, "http://127.0.0.1:9/previous", NULL, eid);
    hk_eng_event(&srv, key, tid, "order.created", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    struct hk_conn *c = NULL;
    assert_int_equal(hk_conn_open(srv.db_url, "hookd test", &c), HK_OK);
    char now_owner[HK_UUID_STRLEN], before[HK_UUID_STRLEN];
    hk_uuid7(now_owner);
    hk_uuid7(before);
    free(hk_sql(&srv,
                "INSERT INTO hookd.endpoint_owners (tenant_id, endpoint_id,"
                " owner, lease_until)"
                " VALUES ($1, $2, $3, now() + interval '1 minute')"
                " RETURNING 1",
                tid, eid, now_owner));
    struct hk_outcome_row late = {
        .tenant_id = tid, .delivery_id = did, .endpoint_id = eid,
        .number = 1, .cycle_attempts = 1, .started_at_ms = hk_now_ms(),
        .duration_ms = 3, .status_code = 410,
        .url = "http://127.0.0.1:9/previous", .request_headers = "{}",
        .response_headers = "{}", .response_body = "late",
        .new_status = "failed", .stopped_status = "failed",
        .concurrency = -1};
    assert_int_equal(hk_store_record(c, before, &late, 1), HK_OK);
    const char *status = "SELECT status FROM hookd.deliveries"
                         " WHERE tenant_id = $1 AND id = $2";
    char *st = hk_sql(&srv, status, tid, did);
    assert_string_equal(st, "pending");
    free(st);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.attempts"
                                " WHERE tenant_id = $1 AND delivery_id = $2",
                                tid, did),
                     1);
    /* the current owner's outcome */
    struct hk_outcome_row now = late;
    now.number = 2;
    now.cycle_attempts = 2;
    now.status_code = 200;
    now.response_body = "ok";
    now.new_status = "succeeded";
    assert_int_equal(hk_store_record(c, now_owner, &now, 1), HK_OK);
    st = hk_sql(&srv, status, tid, did);
    assert_string_equal(st, "succeeded");
    free(st);
    hk_conn_close(c);
    free(key);
}

/* A delivery ended without an attempt while its request was in flight
 * (skipped here; a disabled or deleted endpoint does the same) becomes
 * succeeded when that request succeeded: the receiver has it. A failed
 * request leaves it as it was ended, with the attempt in its history. */
static void test_outcome_after_the_delivery_ended(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[2][HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "ended in flight", tid);
    hk_eng_endpoint(&srv, key, tid, "http://127.0.0.1:9/ended", NULL, eid);
    struct hk_conn *c = NULL;
    assert_int_equal(hk_conn_open(srv.db_url, "hookd test", &c), HK_OK);
    char owner[HK_UUID_STRLEN];
    hk_uuid7(owner);
    const char *status = "SELECT status || ' ' || COALESCE(last_error, '-')"
                         " FROM hookd.deliveries"
                         " WHERE tenant_id = $1 AND id = $2";
    for (int k = 0; k < 2; k++) {
        hk_eng_event(&srv, key, tid, "order.created", "{}", evid);
        hk_eng_delivery_id(&srv, key, tid, evid, eid, did[k]);
        struct hk_reply *r =
            hk_call(&srv, "POST", key, "", "/v1/tenants/%s/deliveries/%s/skip",
                    tid, did[k]);
        hk_expect(r, 200);
        hk_reply_free(r);
        struct hk_outcome_row o = {
            .tenant_id = tid, .delivery_id = did[k], .endpoint_id = eid,
            .number = 1, .cycle_attempts = 1, .started_at_ms = hk_now_ms(),
            .duration_ms = 3, .status_code = k == 0 ? 200 : 500,
            .url = "http://127.0.0.1:9/ended", .request_headers = "{}",
            .response_headers = "{}", .response_body = "",
            .new_status = k == 0 ? "succeeded" : "pending",
            .stopped_status = k == 0 ? "succeeded" : "failed",
            .next_attempt_ms = hk_now_ms() + 60000, .concurrency = -1};
        assert_int_equal(hk_store_record(c, owner, &o, 1), HK_OK);
        assert_int_equal(hk_sql_int(&srv,
                                    "SELECT count(*) FROM hookd.attempts"
                                    " WHERE tenant_id = $1"
                                    " AND delivery_id = $2",
                                    tid, did[k]),
                         1);
    }
    char *st = hk_sql(&srv, status, tid, did[0]);
    assert_string_equal(st, "succeeded -");
    free(st);
    st = hk_sql(&srv, status, tid, did[1]);
    assert_string_equal(st, "failed skipped");
    free(st);
    hk_conn_close(c);
    free(key);
}

/* Ingests n events of type `type` for tenant tid in one group, as the
 * API's writer does; returns whether the group said that an endpoint it
 * gave a delivery to has no owner. */
static bool group_unowned(struct hk_conn *c, const char *tid,
                          const char *type, size_t n)
{
    struct hk_ingest in[4];
    struct hk_ingest_item items[4];
    assert_true(n <= 4);
    for (size_t i = 0; i < n; i++) {
        in[i] = (struct hk_ingest){.tenant_id = tid, .event_type = type,
                                   .payload = "{}", .payload_bytes = 2};
        items[i] = (struct hk_ingest_item){.in = &in[i], .unowned = true};
    }
    assert_int_equal(hk_store_event_ingest_group(c, items, n), HK_OK);
    for (size_t i = 0; i < n; i++) {
        assert_true(items[i].inserted);
        assert_int_equal(items[i].unowned, items[0].unowned);
    }
    return items[0].unowned;
}

/* The same for one event with an idempotency key, through
 * hookd.ingest_event; created: whether it was written now. */
static bool single_unowned(struct hk_conn *c, const char *tid,
                           const char *type, const char *key, bool created)
{
    struct hk_ingest in = {.tenant_id = tid, .event_type = type,
                           .payload = "{}", .idempotency_key = key,
                           .unowned = true};
    json_t *out = NULL;
    bool made = false;
    assert_int_equal(hk_store_event_ingest(c, &in, &out, &made), HK_OK);
    assert_int_equal(made, created);
    json_decref(out);
    return in.unowned;
}

/* The ingest tells the dispatchers when it gave work to an endpoint with
 * no owner under a live lease, so that they take it at once rather than
 * at the ownership round's usual pace (docs/engine.md, "The round"); an
 * endpoint owned under a live lease, or an event that gave no endpoint
 * work, says nothing. */
static void test_ingest_says_when_an_endpoint_has_no_owner(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], a[HK_ID_LEN], b[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "unowned", tid);
    hk_mk_event_type(&srv, "order.shipped");
    hk_eng_endpoint(&srv, key, tid, "http://127.0.0.1:9/unowned/a",
                    "\"event_types\":[\"order.created\"]", a);
    hk_eng_endpoint(&srv, key, tid, "http://127.0.0.1:9/unowned/b",
                    "\"event_types\":[\"order.created\"]", b);
    struct hk_conn *c = NULL;
    assert_int_equal(hk_conn_open(srv.db_url, "hookd test", &c), HK_OK);
    char owner[HK_UUID_STRLEN];
    hk_uuid7(owner);

    assert_true(group_unowned(c, tid, "order.created", 3));
    assert_true(single_unowned(c, tid, "order.created", "k1", true));
    /* a type no endpoint takes: no delivery, nothing to take */
    assert_false(group_unowned(c, tid, "order.shipped", 2));
    assert_false(single_unowned(c, tid, "order.shipped", "k2", true));
    const char *own = "INSERT INTO hookd.endpoint_owners (tenant_id,"
                      " endpoint_id, owner, lease_until)"
                      " VALUES ($1, $2, $3, now() + interval '1 minute')"
                      " RETURNING 1";
    free(hk_sql(&srv, own, tid, a, owner));
    /* one of the two is still nobody's */
    assert_true(group_unowned(c, tid, "order.created", 1));
    free(hk_sql(&srv, own, tid, b, owner));
    assert_false(group_unowned(c, tid, "order.created", 4));
    assert_false(single_unowned(c, tid, "order.created", "k3", true));
    /* a lease run out is no owner */
    free(hk_sql(&srv,
                "UPDATE hookd.endpoint_owners"
                " SET lease_until = now() - interval '1 second'"
                " WHERE tenant_id = $1 AND endpoint_id = $2 RETURNING 1",
                tid, b));
    assert_true(group_unowned(c, tid, "order.created", 2));
    assert_true(single_unowned(c, tid, "order.created", "k4", true));
    /* a key seen before writes nothing: nothing new to take */
    assert_false(single_unowned(c, tid, "order.created", "k1", false));
    free(hk_sql(&srv,
                "WITH a AS (DELETE FROM hookd.endpoint_owners"
                " WHERE tenant_id = $1 RETURNING 1) SELECT count(*) FROM a",
                tid));
    hk_conn_close(c);
    free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_answers_each_delivery_with_its_own),
        cmocka_unit_test(test_ownership_rounds),
        cmocka_unit_test(test_late_outcome_of_a_previous_owner),
        cmocka_unit_test(test_outcome_after_the_delivery_ended),
        cmocka_unit_test(test_ingest_says_when_an_endpoint_has_no_owner),
    };
    return hk_exit_code(
        cmocka_run_group_tests(tests, group_setup, group_teardown));
}
