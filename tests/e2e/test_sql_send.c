/*
 * test_sql_send.c - events sent from SQL inside the application's own
 * transaction (hookd.send_event, hookd.send_events; migration 0018 and
 * docs/send-from-sql.md), as an application does it: its own libpq
 * sessions, its own table beside hookd's, BEGIN ... COMMIT or ROLLBACK.
 * A rolled-back transaction or savepoint sends nothing; a committed one is
 * delivered once, signed, with the payload's exact bytes, and wakes the
 * dispatchers through NOTIFY only at commit (or, with wake_dispatchers 0,
 * sends no NOTIFY and is delivered all the same); idempotency keys are shared
 * with the API; a role granted hookd_publisher can send and can read,
 * change or call nothing else; every bad argument gets its documented
 * SQLSTATE and writes nothing; the bulk form; events sent while no hookd
 * runs are delivered when one starts. One hookd (serve) and a receiver;
 * beside them an API-only hookd on a database of its own, where nothing
 * is delivered, for comparing the rows each ingest path writes.
 */
#include "engine_util.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct hk_srv srv;
/* API only: deliveries stay as the ingest wrote them */
static struct hk_srv api_srv;
static struct hk_rcv *rcv;
/* a LOGIN role of this run, granted hookd_publisher */
static char app_role[64];

#define NOTIFY_PAYLOAD "hookd.send_event"

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* A session of the application on s's database as user (the harness's
 * user when NULL). */
static PGconn *app_connect(const struct hk_srv *s, const char *user)
{
    const char *keys[] = {"host", "port", "user", "dbname", "application_name",
                          NULL};
    const char *vals[] = {s->pg_host, s->pg_port,      user ? user : s->pg_user,
                          s->dbname,  "hookd-e2e-app", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to %s as %s: %s", s->dbname,
                 user ? user : s->pg_user, PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    return c;
}

/* Runs sql with the text parameters that follow (NULL-terminated;
 * HK_SQL_NULL for an SQL NULL) and returns its result. */
static PGresult *run_v(PGconn *c, const char *sql, va_list ap)
{
    const char *p[16];
    int n = 0;
    const char *v;
    while ((v = va_arg(ap, const char *)) != NULL && n < 16)
        p[n++] = v == HK_SQL_NULL ? NULL : v;
    return PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
}

/* The statement must succeed; returns the first value of its first row
 * (NULL when none; caller frees). */
#define sql_ok(c, ...) sql_ok_at(__FILE__, __LINE__, (c), __VA_ARGS__, NULL)
static char *sql_ok_at(const char *file, int line, PGconn *c, const char *sql,
                       ...)
{
    va_list ap;
    va_start(ap, sql);
    PGresult *r = run_v(c, sql, ap);
    va_end(ap);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        print_error("%s\n  failed: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
        _fail(file, line);
        return NULL;
    }
    char *out = NULL;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        out = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

/* The statement must fail with SQLSTATE state and a message that names
 * arg (the argument at fault). */
#define sql_fails(c, state, arg, ...)                                          \
    sql_fails_at(__FILE__, __LINE__, (c), (state), (arg), __VA_ARGS__, NULL)
static void sql_fails_at(const char *file, int line, PGconn *c,
                         const char *state, const char *arg, const char *sql,
                         ...)
{
    va_list ap;
    va_start(ap, sql);
    PGresult *r = run_v(c, sql, ap);
    va_end(ap);
    ExecStatusType st = PQresultStatus(r);
    const char *got = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    bool ok = st == PGRES_FATAL_ERROR && got != NULL &&
              strcmp(got, state) == 0 &&
              (arg == NULL || (msg != NULL && strstr(msg, arg) != NULL));
    if (!ok) {
        print_error("%s\n  wanted SQLSTATE %s naming \"%s\", got %s %s: %s\n",
                    sql, state, arg ? arg : "", PQresStatus(st),
                    got ? got : "-", msg ? msg : "(no error)");
        va_start(ap, sql);
        const char *v;
        for (int i = 1; (v = va_arg(ap, const char *)) != NULL; i++)
            print_error("  $%d = %s\n", i, v == HK_SQL_NULL ? "NULL" : v);
        va_end(ap);
        PQclear(r);
        _fail(file, line);
        return;
    }
    PQclear(r);
}

/* Notifications on hookd_work with hookd.send_event's payload that
 * arrive on l within wait_ms. */
static int send_notes(PGconn *l, int wait_ms)
{
    int n = 0;
    int64_t end = hk_wall_ms() + wait_ms;
    do {
        if (PQconsumeInput(l) == 0)
            fail_msg("the listening session broke: %s", PQerrorMessage(l));
        PGnotify *nf;
        while ((nf = PQnotifies(l)) != NULL) {
            if (strcmp(nf->relname, "hookd_work") == 0 &&
                strcmp(nf->extra, NOTIFY_PAYLOAD) == 0)
                n++;
            PQfreemem(nf);
        }
        if (n == 0)
            hk_sleep_ms(20);
    } while (n == 0 && hk_wall_ms() < end);
    return n;
}

static PGconn *listener(void)
{
    PGconn *l = app_connect(&srv, NULL);
    free(sql_ok(l, "LISTEN hookd_work"));
    return l;
}

/* What a webhook of event evid with this payload must carry, byte for
 * byte: the Standard Webhooks envelope around the payload. */
static char *expected_body(const char *evid, const char *type,
                           const char *payload)
{
    char *ts = hk_sql(&srv,
                      "SELECT hookd.rfc3339(created_at) FROM hookd.events"
                      " WHERE id = $1::uuid",
                      evid);
    assert_non_null(ts);
    char *b = hk_fmt("{\"type\":\"%s\",\"timestamp\":\"%s\",\"data\":%s}", type,
                     ts, payload);
    free(ts);
    return b;
}

static void expect_body(const struct hk_rcv_req *q, const char *evid,
                        const char *type, const char *payload,
                        const char *secret)
{
    assert_non_null(q);
    char *want = expected_body(evid, type, payload);
    if (q->body_len != strlen(want) || memcmp(q->body, want, q->body_len))
        fail_msg("the webhook body\n  %.*s\nis not\n  %s", (int)q->body_len,
                 q->body, want);
    free(want);
    if (!hk_eng_sig_ok(q, secret))
        fail_msg("the webhook of %s is not signed with its endpoint's secret",
                 evid);
    if (strcmp(hk_rcv_req_header(q, "webhook-id"), evid) != 0)
        fail_msg("webhook-id %s is not the event %s",
                 hk_rcv_req_header(q, "webhook-id"), evid);
}

/* A tenant with one endpoint for every type at the receiver's path. */
struct fixture {
    char tid[HK_ID_LEN];
    char eid[HK_ID_LEN];
    char *key;
    char *secret;
    char path[64];
};

static void fixture_init(struct fixture *f, const char *name)
{
    f->key = hk_eng_tenant(&srv, name, f->tid);
    snprintf(f->path, sizeof f->path, "/sql/%s", name);
    char *url = hk_rcv_url(rcv, f->path);
    hk_eng_endpoint(&srv, f->key, f->tid, url, NULL, f->eid);
    free(url);
    f->secret = hk_eng_secret(&srv, f->key, f->tid, f->eid);
}

static void fixture_cleanup(struct fixture *f)
{
    free(f->key);
    free(f->secret);
}

static const char send_sql[] = "SELECT hookd.send_event($1::uuid, $2, $3, $4)";

static int group_setup(void **state)
{
    (void)state;
    rcv = hk_rcv_start();
    if (rcv == NULL || hk_srv_start(&srv, NULL) != 0 ||
        hk_srv_start_role(&api_srv, "api", NULL) != 0)
        return -1;
    static const char *const types[] = {
        "sql.order", "sql.other", "sql.old", "rules",       "rules.a",
        "rules.a.b", "rulesx.y",  "nomatch", "other.thing", NULL};
    for (size_t i = 0; types[i] != NULL; i++) {
        hk_mk_event_type(&srv, types[i]);
        hk_mk_event_type(&api_srv, types[i]);
    }
    struct hk_reply *r = hk_admin(&srv, "PATCH", "{\"archived\":true}",
                                  "/v1/event-types/sql.old");
    hk_expect(r, 200);
    hk_reply_free(r);
    free(hk_sql(&srv, "CREATE TABLE public.app_orders (id text PRIMARY KEY)"));
    snprintf(app_role, sizeof app_role, "hookd_e2e_app_%d", (int)getpid());
    char *sql =
        hk_fmt("CREATE ROLE %s LOGIN IN ROLE hookd_publisher", app_role);
    free(hk_sql(&srv, sql));
    free(sql);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = hk_srv_finish(&srv);
    if (hk_srv_finish(&api_srv) != 0)
        rc = -1;
    hk_rcv_stop(rcv);
    rcv = NULL;
    /* the role outlives the databases: the cluster's */
    if (app_role[0] != '\0') {
        struct hk_srv any = {0};
        snprintf(any.pg_host, sizeof any.pg_host, "%s", srv.pg_host);
        snprintf(any.pg_port, sizeof any.pg_port, "%s", srv.pg_port);
        snprintf(any.pg_user, sizeof any.pg_user, "%s", srv.pg_user);
        snprintf(any.dbname, sizeof any.dbname, "postgres");
        PGconn *c = app_connect(&any, NULL);
        char *sql = hk_fmt("DROP ROLE IF EXISTS %s", app_role);
        PQclear(PQexec(c, sql));
        free(sql);
        PQfinish(c);
    }
    return rc;
}

static void test_rollback_sends_nothing(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "rollback");
    PGconn *l = listener();
    PGconn *app = app_connect(&srv, NULL);
    free(sql_ok(app, "BEGIN"));
    free(sql_ok(app, "INSERT INTO public.app_orders (id) VALUES ('ord-1')"));
    char *gone = sql_ok(app, send_sql, f.tid, "sql.order",
                        "{\"order\":\"ord-1\"}", HK_SQL_NULL);
    assert_true(hk_is_uuid7(gone));
    free(sql_ok(app, "ROLLBACK"));
    assert_int_equal(send_notes(l, 300), 0);

    assert_int_equal(hk_sql_int(&srv,
                                "SELECT (SELECT count(*) FROM hookd.events"
                                " WHERE tenant_id = $1::uuid)"
                                " + (SELECT count(*) FROM hookd.deliveries"
                                " WHERE tenant_id = $1::uuid)"
                                " + (SELECT count(*) FROM hookd.queue"
                                " WHERE tenant_id = $1::uuid)"
                                " + (SELECT count(*) FROM public.app_orders"
                                " WHERE id = 'ord-1')",
                                f.tid),
                     0);

    /* a committed event after it arrives alone */
    free(sql_ok(app, "BEGIN"));
    char *kept = sql_ok(app, send_sql, f.tid, "sql.order",
                        "{\"order\":\"ord-2\"}", HK_SQL_NULL);
    free(sql_ok(app, "COMMIT"));
    assert_true(hk_rcv_wait_for_path(rcv, f.path, 1, 15000));
    hk_sleep_ms(300);
    assert_int_equal(hk_rcv_count_path(rcv, f.path), 1);
    expect_body(hk_rcv_get_path(rcv, f.path, 0), kept, "sql.order",
                "{\"order\":\"ord-2\"}", f.secret);
    free(gone);
    free(kept);
    PQfinish(app);
    PQfinish(l);
    fixture_cleanup(&f);
}

static void test_commit_delivered_exact_and_signed(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "commit");
    /* what jsonb would change: spacing, key order and duplicates, numbers
     * beyond a double, "\u0000", trailing zeros; and raw UTF-8 */
    static const char payload[] =
        "{ \"total\" :\t1e400 ,\n  \"big\": 123456789012345678901234567890,"
        " \"price\": 1.10, \"b\": 1, \"a\": 2, \"a\": 3,"
        " \"nul\": \"\\u0000\", \"esc\": \"caf\\u00e9 \\ud83d\\ude00\","
        " \"raw\": \"\xc3\xa9t\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x93\xa6\" }";
    PGconn *l = listener();
    PGconn *app = app_connect(&srv, NULL);
    free(sql_ok(app, "BEGIN"));
    free(sql_ok(app, "INSERT INTO public.app_orders (id) VALUES ('ord-3')"));
    char *evid =
        sql_ok(app, send_sql, f.tid, "sql.order", payload, "ord-3-created");
    assert_true(hk_is_uuid7(evid));
    /* NOTIFY is the commit's: nobody is woken for an open transaction */
    assert_int_equal(send_notes(l, 300), 0);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.events"
                                " WHERE id = $1::uuid",
                                evid),
                     0);
    free(sql_ok(app, "COMMIT"));
    assert_int_equal(send_notes(l, 5000), 1);

    char *stored = hk_sql(&srv,
                          "SELECT payload FROM hookd.events"
                          " WHERE tenant_id = $1::uuid AND id = $2::uuid",
                          f.tid, evid);
    assert_string_equal(stored, payload);
    free(stored);
    assert_true(hk_rcv_wait_for_path(rcv, f.path, 1, 15000));
    expect_body(hk_rcv_get_path(rcv, f.path, 0), evid, "sql.order", payload,
                f.secret);
    free(evid);
    PQfinish(app);
    PQfinish(l);
    fixture_cleanup(&f);
}

/* wake_dispatchers 0: no NOTIFY, and the dispatchers' poll finds the
 * events all the same. */
static void test_without_wake_up(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "quiet");
    free(hk_sql(&srv, "UPDATE hookd.settings SET value = 0"
                      " WHERE name = 'wake_dispatchers'"));
    PGconn *l = listener();
    PGconn *app = app_connect(&srv, app_role);
    free(sql_ok(app, "BEGIN"));
    char *one =
        sql_ok(app, send_sql, f.tid, "sql.order", "{\"quiet\":1}", HK_SQL_NULL);
    char *many = sql_ok(app,
                        "SELECT (hookd.send_events(ARRAY[$1::uuid],"
                        " '{sql.order}', ARRAY[$2]))[1]",
                        f.tid, "{\"quiet\":2}");
    free(sql_ok(app, "COMMIT"));
    free(hk_sql(&srv, "UPDATE hookd.settings SET value = 1"
                      " WHERE name = 'wake_dispatchers'"));
    assert_int_equal(send_notes(l, 500), 0);
    assert_true(hk_rcv_wait_for_path(rcv, f.path, 2, 15000));
    for (size_t i = 0; i < 2; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, f.path, i);
        bool first = strcmp(hk_rcv_req_header(q, "webhook-id"), one) == 0;
        expect_body(q, first ? one : many, "sql.order",
                    first ? "{\"quiet\":1}" : "{\"quiet\":2}", f.secret);
    }
    free(one);
    free(many);
    PQfinish(app);
    PQfinish(l);
    fixture_cleanup(&f);
}

static void test_savepoint_rolled_back(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "savepoint");
    PGconn *app = app_connect(&srv, NULL);
    free(sql_ok(app, "BEGIN"));
    char *a = sql_ok(app, send_sql, f.tid, "sql.order", "{\"part\":\"a\"}",
                     HK_SQL_NULL);
    free(sql_ok(app, "SAVEPOINT part_b"));
    char *b =
        sql_ok(app, send_sql, f.tid, "sql.order", "{\"part\":\"b\"}", "part-b");
    free(sql_ok(app, "ROLLBACK TO SAVEPOINT part_b"));
    char *c = sql_ok(app, send_sql, f.tid, "sql.order", "{\"part\":\"c\"}",
                     HK_SQL_NULL);
    free(sql_ok(app, "COMMIT"));

    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.events"
                                " WHERE tenant_id = $1::uuid",
                                f.tid),
                     2);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.events"
                                " WHERE tenant_id = $1::uuid"
                                " AND (id = $2::uuid OR idempotency_key ="
                                " 'part-b')",
                                f.tid, b),
                     0);
    assert_true(hk_rcv_wait_for_path(rcv, f.path, 2, 15000));
    /* one more, committed after, to be sure nothing else was on its way */
    char *d = sql_ok(app, send_sql, f.tid, "sql.order", "{\"part\":\"d\"}",
                     HK_SQL_NULL);
    assert_true(hk_rcv_wait_for_path(rcv, f.path, 3, 15000));
    hk_sleep_ms(300);
    assert_int_equal(hk_rcv_count_path(rcv, f.path), 3);
    for (size_t i = 0; i < 3; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, f.path, i);
        const char *id = hk_rcv_req_header(q, "webhook-id");
        assert_string_not_equal(id, b);
        const char *part = strcmp(id, a) == 0   ? "{\"part\":\"a\"}"
                           : strcmp(id, c) == 0 ? "{\"part\":\"c\"}"
                                                : "{\"part\":\"d\"}";
        expect_body(q, id, "sql.order", part, f.secret);
    }
    free(a);
    free(b);
    free(c);
    free(d);
    PQfinish(app);
    fixture_cleanup(&f);
}

/* The API's answer to a POST of payload with key; its event id in evid. */
static long api_post(const struct fixture *f, const char *type,
                     const char *payload, const char *key, char *evid)
{
    char *body =
        hk_fmt("{\"event_type\":\"%s\",\"payload\":%s}", type, payload);
    struct hk_reply *r = hk_eng_post_body(&srv, f->key, f->tid, body, key);
    free(body);
    long status = r->status;
    if (evid != NULL)
        snprintf(evid, HK_ID_LEN, "%s",
                 hk_jstr(r->json, "id") ? hk_jstr(r->json, "id") : "");
    hk_reply_free(r);
    return status;
}

static void test_idempotency_shared_with_api(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "idem");
    PGconn *app = app_connect(&srv, NULL);
    static const char p1[] = "{\"invoice\": \"inv_1\"}";
    static const char p2[] = "{\"invoice\": \"inv_2\"}";

    /* SQL first, then the API with the same key */
    char *first = sql_ok(app, send_sql, f.tid, "sql.order", p1, "inv_1");
    char *again = sql_ok(app, send_sql, f.tid, "sql.order", p1, "inv_1");
    assert_string_equal(again, first);
    char via_api[HK_ID_LEN];
    assert_int_equal(api_post(&f, "sql.order", p1, "inv_1", via_api), 200);
    assert_string_equal(via_api, first);
    /* the same event in a body written otherwise is the same request */
    struct hk_reply *r = hk_eng_post_body(
        &srv, f.key, f.tid,
        "{ \"payload\":{\"invoice\": \"inv_1\"},\n\"event_type\":"
        "\"sql.order\" }",
        "inv_1");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "id"), first);
    hk_reply_free(r);
    assert_int_equal(api_post(&f, "sql.order", p2, "inv_1", NULL), 409);
    assert_int_equal(api_post(&f, "sql.other", p1, "inv_1", NULL), 409);

    /* the API first, then SQL */
    char api_first[HK_ID_LEN];
    assert_int_equal(api_post(&f, "sql.order", p2, "inv_2", api_first), 202);
    char *via_sql = sql_ok(app, send_sql, f.tid, "sql.order", p2, "inv_2");
    assert_string_equal(via_sql, api_first);
    sql_fails(app, "23505", "idempotency_key", send_sql, f.tid, "sql.order", p1,
              "inv_2");
    sql_fails(app, "23505", "idempotency_key", send_sql, f.tid, "sql.other", p2,
              "inv_2");

    /* one event per key, each delivered once */
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.events"
                                " WHERE tenant_id = $1::uuid",
                                f.tid),
                     2);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.deliveries"
                                " WHERE tenant_id = $1::uuid",
                                f.tid),
                     2);
    assert_true(hk_rcv_wait_for_path(rcv, f.path, 2, 15000));
    hk_sleep_ms(300);
    assert_int_equal(hk_rcv_count_path(rcv, f.path), 2);

    /* keys are per tenant: another tenant's inv_1 is its own event */
    struct fixture g;
    fixture_init(&g, "idem-other");
    char *other = sql_ok(app, send_sql, g.tid, "sql.order", p1, "inv_1");
    assert_string_not_equal(other, first);
    free(other);
    fixture_cleanup(&g);

    free(first);
    free(again);
    free(via_sql);
    PQfinish(app);
    fixture_cleanup(&f);
}

/* How an event was written, for comparing paths: its type, payload and
 * count, and each delivery (by endpoint, in endpoint order) with every
 * column an ingest sets and its queue row. */
static char *describe(const char *tid, const char *evid)
{
    return hk_sql(
        &api_srv,
        "SELECT format('%s %s n=%s ids7=%s [%s]', v.event_type, v.payload,"
        " v.delivery_count, bool_and(substr(d.id::text, 15, 1) = '7'),"
        " string_agg(format('%s %s %s/%s due=%s fresh=%s queued=%s',"
        "  d.endpoint_id, d.status, d.attempt_count, d.cycle_attempts,"
        "  d.next_attempt_at = v.created_at,"
        "  d.created_at = v.created_at AND d.updated_at = v.created_at"
        "  AND d.completed_at IS NULL AND d.last_status_code IS NULL"
        "  AND d.last_error IS NULL AND d.event_type = v.event_type"
        "  AND NOT d.failed,"
        "  q.endpoint_id = d.endpoint_id AND q.event_id = v.id"
        "  AND q.next_attempt_at = d.next_attempt_at"
        "  AND q.attempt_count = 0 AND q.cycle_attempts = 0),"
        "  ', ' ORDER BY d.endpoint_id))"
        " FROM hookd.events v LEFT JOIN hookd.deliveries d"
        " ON d.tenant_id = v.tenant_id AND d.event_id = v.id"
        " LEFT JOIN hookd.queue q"
        " ON q.tenant_id = d.tenant_id AND q.delivery_id = d.id"
        " WHERE v.tenant_id = $1::uuid AND v.id = $2::uuid"
        " GROUP BY v.event_type, v.payload, v.delivery_count",
        tid, evid);
}

static void test_same_rules_as_api(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    char *key = hk_eng_tenant(&api_srv, "rules", tid);
    /* filters, and the types each must match */
    static const struct {
        const char *members;
        unsigned matches; /* bit i: types[i] */
    } eps[] = {
        {"\"event_types\":[]", 0xf},
        {"\"event_types\":[\"*\"]", 0xf},
        {"\"event_types\":[\"rules.a\"]", 0x2},
        {"\"event_types\":[\"rules.*\"]", 0x6},
        {"\"event_types\":[\"rules.a.*\"]", 0x4},
        {"\"event_types\":[\"rulesx.*\"]", 0x8},
        {"\"event_types\":[\"other.thing\"]", 0x0},
        {"\"event_types\":[\"nomatch\",\"rules.a.b\"]", 0x4},
        {"\"event_types\":[\"rules\",\"rules.a\"]", 0x3},
        {"\"event_types\":[\"*\"],\"enabled\":false", 0x0},
        {"\"event_types\":[\"*\"]", 0x0}, /* deleted below */
    };
    static const char *const types[] = {"rules", "rules.a", "rules.a.b",
                                        "rulesx.y"};
    enum { NE = sizeof eps / sizeof eps[0], NT = 4 };
    char eid[NE][HK_ID_LEN];
    for (size_t i = 0; i < NE; i++)
        hk_eng_endpoint(&api_srv, key, tid, "http://127.0.0.1:9/rules",
                        eps[i].members, eid[i]);
    struct hk_reply *r =
        hk_call(&api_srv, "DELETE", key, NULL, "/v1/tenants/%s/endpoints/%s",
                tid, eid[NE - 1]);
    hk_expect(r, 204);
    hk_reply_free(r);

    PGconn *app = app_connect(&api_srv, NULL);
    for (size_t t = 0; t < NT; t++) {
        char *payload = hk_fmt("{ \"type\" : \"%s\" }", types[t]);
        char *body =
            hk_fmt("{\"event_type\":\"%s\",\"payload\":%s}", types[t], payload);
        char *idem = hk_fmt("rules-%zu", t);
        char ids[3][HK_ID_LEN];
        /* the API's grouped ingest, its ingest of one keyed event, SQL */
        r = hk_eng_post_body(&api_srv, key, tid, body, NULL);
        hk_expect(r, 202);
        snprintf(ids[0], HK_ID_LEN, "%s", hk_jstr(r->json, "id"));
        hk_reply_free(r);
        r = hk_eng_post_body(&api_srv, key, tid, body, idem);
        hk_expect(r, 202);
        snprintf(ids[1], HK_ID_LEN, "%s", hk_jstr(r->json, "id"));
        hk_reply_free(r);
        char *s = sql_ok(app, send_sql, tid, types[t], payload, HK_SQL_NULL);
        snprintf(ids[2], HK_ID_LEN, "%s", s);
        free(s);

        /* the endpoints the filter rules give */
        char *want = hk_fmt("{");
        for (size_t e = 0; e < NE; e++) {
            if (!(eps[e].matches & (1u << t)))
                continue;
            char *w = hk_fmt("%s%s%s", want, want[1] ? "," : "", eid[e]);
            free(want);
            want = w;
        }
        char *w = hk_fmt("%s}", want);
        free(want);
        want = w;
        char *desc[3];
        for (int p = 0; p < 3; p++) {
            assert_true(hk_is_uuid7(ids[p]));
            char *same = hk_sql(
                &api_srv,
                "SELECT COALESCE(array_agg(endpoint_id ORDER BY endpoint_id),"
                " '{}') = (SELECT array_agg(x ORDER BY x)"
                " FROM unnest($3::uuid[]) x)"
                " OR (cardinality($3::uuid[]) = 0 AND count(*) = 0)"
                " FROM hookd.deliveries"
                " WHERE tenant_id = $1::uuid AND event_id = $2::uuid",
                tid, ids[p], want);
            if (strcmp(same, "t") != 0)
                fail_msg("type %s through path %d went to other endpoints "
                         "than %s: %s",
                         types[t], p, want, describe(tid, ids[p]));
            free(same);
            desc[p] = describe(tid, ids[p]);
            assert_non_null(desc[p]);
        }
        if (strcmp(desc[0], desc[1]) != 0 || strcmp(desc[0], desc[2]) != 0)
            fail_msg("type %s written differently:\n  grouped API: %s\n"
                     "  keyed API:   %s\n  SQL:         %s",
                     types[t], desc[0], desc[1], desc[2]);
        for (int p = 0; p < 3; p++)
            free(desc[p]);
        free(want);
        free(idem);
        free(body);
        free(payload);
    }
    PQfinish(app);
    free(key);
}

static void test_publisher_role(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "publisher");
    /* the role is made once for the cluster; both databases migrated */
    assert_int_equal(hk_sql_int(&srv, "SELECT count(*) FROM pg_roles"
                                      " WHERE rolname = 'hookd_publisher'"
                                      " AND NOT rolcanlogin"),
                     1);
    assert_int_equal(hk_sql_int(&api_srv, "SELECT count(*) FROM"
                                          " hookd.schema_migrations"
                                          " WHERE version = 18"),
                     1);

    PGconn *app = app_connect(&srv, app_role);
    free(sql_ok(app, "BEGIN"));
    char *evid = sql_ok(app, send_sql, f.tid, "sql.order",
                        "{\"by\":\"publisher\"}", HK_SQL_NULL);
    char *ids = sql_ok(app,
                       "SELECT hookd.send_events(ARRAY[$1::uuid],"
                       " ARRAY['sql.order'], ARRAY['[2]'])",
                       f.tid);
    free(sql_ok(app, "COMMIT"));
    assert_true(hk_rcv_wait_for_path(rcv, f.path, 2, 15000));
    free(ids);

    /* every relation of the schema: not readable, not writable */
    PGconn *own = app_connect(&srv, NULL);
    PGresult *rels = PQexec(own, "SELECT c.relname FROM pg_class c"
                                 " WHERE c.relnamespace = 'hookd'::regnamespace"
                                 " AND c.relkind IN ('r', 'p', 'v', 'm', 'f',"
                                 " 'S') ORDER BY 1");
    assert_int_equal(PQresultStatus(rels), PGRES_TUPLES_OK);
    assert_true(PQntuples(rels) >= 12);
    for (int i = 0; i < PQntuples(rels); i++) {
        char *sql = hk_fmt("SELECT * FROM hookd.\"%s\" LIMIT 1",
                           PQgetvalue(rels, i, 0));
        sql_fails(app, "42501", NULL, sql);
        free(sql);
    }
    PQclear(rels);
    sql_fails(app, "42501", NULL,
              "UPDATE hookd.settings SET value = 1000000000");
    sql_fails(app, "42501", NULL,
              "DELETE FROM hookd.events WHERE tenant_id = $1::uuid", f.tid);

    /* every other function of the schema: not executable */
    PGresult *fns = PQexecParams(
        own,
        "SELECT p.oid::regprocedure::text,"
        " has_function_privilege($1, p.oid, 'EXECUTE')"
        " FROM pg_proc p WHERE p.pronamespace = 'hookd'::regnamespace",
        1, NULL, (const char *const[]){app_role}, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(fns), PGRES_TUPLES_OK);
    int granted = 0;
    for (int i = 0; i < PQntuples(fns); i++) {
        const char *fn = PQgetvalue(fns, i, 0);
        bool may = strcmp(PQgetvalue(fns, i, 1), "t") == 0;
        bool sender = strncmp(fn, "hookd.send_event(", 17) == 0 ||
                      strncmp(fn, "hookd.send_events(", 18) == 0;
        if (may != sender)
            fail_msg("%s: the publisher %s EXECUTE", fn, may ? "has" : "lacks");
        granted += may;
    }
    assert_int_equal(granted, 2);
    assert_true(PQntuples(fns) >= 8);
    PQclear(fns);
    sql_fails(app, "42501", NULL,
              "SELECT * FROM hookd.ingest_event($1::uuid, 'sql.order', '{}',"
              " NULL)",
              f.tid);
    sql_fails(app, "42501", NULL, "SELECT hookd.uuid7()");
    sql_fails(app, "42501", NULL,
              "SELECT hookd.filter_matches('{}', 'sql.order')");

    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.events"
                                " WHERE tenant_id = $1::uuid",
                                f.tid),
                     2);
    free(evid);
    PQfinish(own);
    PQfinish(app);
    fixture_cleanup(&f);
}

/* events, deliveries and queue rows in the whole database */
static long long rows_written(void)
{
    return hk_sql_int(&srv, "SELECT (SELECT count(*) FROM hookd.events)"
                            " + (SELECT count(*) FROM hookd.deliveries)"
                            " + (SELECT count(*) FROM hookd.queue)");
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "bad");
    PGconn *app = app_connect(&srv, app_role);
    char *first =
        sql_ok(app, send_sql, f.tid, "sql.order", "{\"n\":1}", "bad-used");
    free(first);
    free(hk_sql(&srv, "UPDATE hookd.settings SET value = 32"
                      " WHERE name = 'max_payload_bytes'"));
    /* exactly the limit passes */
    first = sql_ok(app, send_sql, f.tid, "sql.order",
                   "{\"pad\":\"0123456789012345678901\"}", HK_SQL_NULL);
    free(first);
    assert_true(hk_rcv_wait_for_path(rcv, f.path, 2, 15000));
    /* the receiver has both before their outcomes are written, which
     * removes their queue rows: count once they are */
    const char *pending = "SELECT count(*) FROM hookd.deliveries"
                          " WHERE tenant_id = $1 AND status = 'pending'";
    int64_t until = hk_wall_ms() + 15000;
    while (hk_sql_int(&srv, pending, f.tid) > 0 && hk_wall_ms() < until)
        hk_sleep_ms(20);
    assert_int_equal(hk_sql_int(&srv, pending, f.tid), 0);
    long long before = rows_written();

    static const char *const ghost = "00000000-0000-7000-8000-000000000000";
    char long_key[257];
    memset(long_key, 'k', 256);
    long_key[256] = '\0';
    static const struct {
        const char *state, *arg, *type, *payload, *key;
        bool null_tenant, ghost_tenant;
    } cases[] = {
        {"22004", "tenant_id", "sql.order", "{}", NULL, true, false},
        {"22004", "event_type", NULL, "{}", NULL, false, false},
        {"22004", "payload", "sql.order", NULL, NULL, false, false},
        {"23503", "tenant_id", "sql.order", "{}", NULL, false, true},
        {"23503", "event_type", "sql.nope", "{}", NULL, false, false},
        {"23503", "event_type", "not a type!", "{}", NULL, false, false},
        {"55000", "event_type", "sql.old", "{}", NULL, false, false},
        {"22P02", "payload", "sql.order", "", NULL, false, false},
        {"22P02", "payload", "sql.order", "{\"a\":", NULL, false, false},
        {"22P02", "payload", "sql.order", "{\"a\":1} x", NULL, false, false},
        {"22P02", "payload", "sql.order", "{'a':1}", NULL, false, false},
        {"22P02", "payload", "sql.order", "NaN", NULL, false, false},
        {"22P02", "payload", "sql.order", "[1,]", NULL, false, false},
        {"54000", "payload", "sql.order",
         "{\"pad\":\"01234567890123456789012\"}", NULL, false, false},
        {"22023", "idempotency_key", "sql.order", "{}", "", false, false},
        {"22023", "idempotency_key", "sql.order", "{}", "a\tb", false, false},
        {"22023", "idempotency_key", "sql.order", "{}", "cl\xc3\xa9", false,
         false},
        {"23505", "idempotency_key", "sql.order", "{\"n\":2}", "bad-used",
         false, false},
        {"23505", "idempotency_key", "sql.other", "{\"n\":1}", "bad-used",
         false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *tid = cases[i].null_tenant    ? HK_SQL_NULL
                          : cases[i].ghost_tenant ? ghost
                                                  : f.tid;
        sql_fails(app, cases[i].state, cases[i].arg, send_sql, tid,
                  cases[i].type ? cases[i].type : HK_SQL_NULL,
                  cases[i].payload ? cases[i].payload : HK_SQL_NULL,
                  cases[i].key ? cases[i].key : HK_SQL_NULL);
    }
    sql_fails(app, "22023", "idempotency_key", send_sql, f.tid, "sql.order",
              "{}", long_key);

    /* the bulk form names the element; nothing of the call is written */
    static const char bulk[] =
        "SELECT hookd.send_events($1::uuid[], $2::text[], $3::text[],"
        " $4::text[])";
    char *t3 = hk_fmt("{%s,%s,%s}", f.tid, f.tid, f.tid);
    char *t2 = hk_fmt("{%s,%s}", f.tid, f.tid);
    sql_fails(app, "22P02", "payloads[2]", bulk, t3,
              "{sql.order,sql.order,sql.order}", "{\"[1]\",\"[2\",\"[3]\"}",
              HK_SQL_NULL);
    sql_fails(app, "23503", "event_types[3]", bulk, t3,
              "{sql.order,sql.order,sql.nope}", "{\"[1]\",\"[2]\",\"[3]\"}",
              HK_SQL_NULL);
    sql_fails(app, "22004", "tenant_ids[1]", bulk, "{NULL}", "{sql.order}",
              "{\"[1]\"}", HK_SQL_NULL);
    sql_fails(app, "22023", "idempotency_keys[2]", bulk, t2,
              "{sql.order,sql.order}", "{\"[1]\",\"[2]\"}", "{ok,\"\"}");
    sql_fails(app, "2202E", "payloads", bulk, t3, "{sql.order,sql.order}",
              "{\"[1]\",\"[2]\",\"[3]\"}", HK_SQL_NULL);
    sql_fails(app, "2202E", "idempotency_keys", bulk, t2,
              "{sql.order,sql.order}", "{\"[1]\",\"[2]\"}", "{k}");
    sql_fails(app, "22004", "tenant_ids", bulk, HK_SQL_NULL, "{sql.order}",
              "{\"[1]\"}", HK_SQL_NULL);
    free(t3);
    free(t2);

    free(hk_sql(&srv, "UPDATE hookd.settings SET value = 262144"
                      " WHERE name = 'max_payload_bytes'"));
    assert_int_equal(rows_written(), before);
    PQfinish(app);
    fixture_cleanup(&f);
}

static void test_bulk(void **state)
{
    (void)state;
    struct fixture a, b;
    fixture_init(&a, "bulk-a");
    fixture_init(&b, "bulk-b");
    PGconn *app = app_connect(&srv, app_role);
    char *tids = hk_fmt("{%s,%s,%s,%s}", a.tid, a.tid, a.tid, b.tid);
    static const char *const payloads[] = {"{\"n\": 1}", "[ 2 ]", "[ 2 ]",
                                           "{\"n\": 1e400}"};
    PGresult *r =
        PQexecParams(app,
                     "SELECT unnest(hookd.send_events($1::uuid[],"
                     " '{sql.order,sql.other,sql.other,sql.order}',"
                     " ARRAY[$2, $3, $4, $5], '{NULL,bulk-1,bulk-1,bulk-1}'))",
                     5, NULL,
                     (const char *const[]){tids, payloads[0], payloads[1],
                                           payloads[2], payloads[3]},
                     NULL, NULL, 0);
    free(tids);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("send_events: %s", PQresultErrorMessage(r));
    assert_int_equal(PQntuples(r), 4);
    char ids[4][HK_ID_LEN];
    for (int i = 0; i < 4; i++) {
        snprintf(ids[i], HK_ID_LEN, "%s", PQgetvalue(r, i, 0));
        assert_true(hk_is_uuid7(ids[i]));
    }
    PQclear(r);
    /* the repeated key is the same event; the other tenant's its own */
    assert_string_equal(ids[2], ids[1]);
    assert_string_not_equal(ids[0], ids[1]);
    assert_string_not_equal(ids[3], ids[1]);

    assert_true(hk_rcv_wait_for_path(rcv, a.path, 2, 15000));
    assert_true(hk_rcv_wait_for_path(rcv, b.path, 1, 15000));
    hk_sleep_ms(300);
    assert_int_equal(hk_rcv_count_path(rcv, a.path), 2);
    assert_int_equal(hk_rcv_count_path(rcv, b.path), 1);
    for (size_t i = 0; i < 2; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, a.path, i);
        bool first = strcmp(hk_rcv_req_header(q, "webhook-id"), ids[0]) == 0;
        expect_body(q, first ? ids[0] : ids[1],
                    first ? "sql.order" : "sql.other",
                    first ? payloads[0] : payloads[1], a.secret);
    }
    expect_body(hk_rcv_get_path(rcv, b.path, 0), ids[3], "sql.order",
                payloads[3], b.secret);

    /* nothing to send: nothing written */
    char *none = sql_ok(app, "SELECT hookd.send_events('{}', '{}', '{}')");
    assert_string_equal(none, "{}");
    free(none);
    PQfinish(app);
    fixture_cleanup(&a);
    fixture_cleanup(&b);
}

/* Runs last: hookd is stopped while the events are sent. */
static void test_sent_while_hookd_down(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f, "down");
    assert_int_equal(hk_srv_stop(&srv), 0);
    PGconn *app = app_connect(&srv, app_role);
    free(sql_ok(app, "BEGIN"));
    char *one =
        sql_ok(app, send_sql, f.tid, "sql.order", "{\"while\":1}", HK_SQL_NULL);
    char *many = sql_ok(app,
                        "SELECT (hookd.send_events(ARRAY[$1::uuid],"
                        " '{sql.other}', ARRAY['{\"while\": 2}']))[1]",
                        f.tid);
    free(sql_ok(app, "COMMIT"));
    PQfinish(app);
    hk_sleep_ms(500);
    assert_int_equal(hk_rcv_count_path(rcv, f.path), 0);

    assert_int_equal(hk_srv_restart(&srv), 0);
    assert_true(hk_rcv_wait_for_path(rcv, f.path, 2, 20000));
    for (size_t i = 0; i < 2; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, f.path, i);
        bool first = strcmp(hk_rcv_req_header(q, "webhook-id"), one) == 0;
        expect_body(q, first ? one : many, first ? "sql.order" : "sql.other",
                    first ? "{\"while\":1}" : "{\"while\": 2}", f.secret);
    }
    free(one);
    free(many);
    fixture_cleanup(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollback_sends_nothing),
        cmocka_unit_test(test_commit_delivered_exact_and_signed),
        cmocka_unit_test(test_without_wake_up),
        cmocka_unit_test(test_savepoint_rolled_back),
        cmocka_unit_test(test_idempotency_shared_with_api),
        cmocka_unit_test(test_same_rules_as_api),
        cmocka_unit_test(test_publisher_role),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_bulk),
        cmocka_unit_test(test_sent_while_hookd_down),
    };
    return hk_exit_code(
        cmocka_run_group_tests(tests, group_setup, group_teardown));
}
