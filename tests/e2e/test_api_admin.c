/*
 * test_api_admin.c - end-to-end tests of the operator's side of the API as
 * docs/api.md states it: tenants, API keys, event types, portal sessions,
 * /v1/me, /healthz, /readyz, /openapi.json, cursor pagination, the error
 * shape and X-Request-Id. One hookd (serve) on a fresh database for the
 * whole file; its exit must be clean.
 */
#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct hk_srv srv;

/* A well-formed UUIDv7 that no row has. */
#define NO_SUCH_ID "01890a5d-ac96-774b-bcce-b302099a8057"

static int group_setup(void **state)
{
    (void)state;
    return hk_srv_start(&srv, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_srv_finish(&srv);
}

/* true when the array of objects holds one whose key equals value. */
static bool has_item(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        const char *v = hk_jstr(it, key);
        if (v != NULL && strcmp(v, value) == 0)
            return true;
    }
    return false;
}

static void expect_time(json_t *obj, const char *key)
{
    const char *v = hk_jstr(obj, key);
    if (!hk_is_rfc3339_ms(v))
        fail_msg("%s is \"%s\", not RFC 3339 UTC with milliseconds", key,
                 v ? v : "(missing)");
}

/* ---- health, readiness, request ids --------------------------------- */

static void test_healthz_readyz(void **state)
{
    (void)state;
    struct hk_reply *r = hk_call(&srv, "GET", NULL, NULL, "/healthz");
    hk_expect(r, 200);
    assert_non_null(r->json);
    assert_string_equal(hk_jstr(r->json, "status"), "ok");
    assert_non_null(hk_reply_header(r, "X-Request-Id"));
    hk_reply_free(r);

    r = hk_call(&srv, "GET", NULL, NULL, "/readyz");
    hk_expect(r, 200);
    assert_non_null(hk_reply_header(r, "X-Request-Id"));
    hk_reply_free(r);

    /* no token needed, and a wrong one does not matter either */
    r = hk_call(&srv, "GET", "hk_not_a_key", NULL, "/healthz");
    hk_expect(r, 200);
    hk_reply_free(r);
}

static void test_request_id_on_every_response(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "reqid", tid);
    char *tpath = hk_fmt("/v1/tenants/%s", tid);
    struct {
        const char *method, *path, *token, *body;
        long status;
    } cases[] = {
        {"GET", "/healthz", NULL, NULL, 200},
        {"GET", "/v1/tenants", srv.admin_key, NULL, 200},
        {"POST", "/v1/tenants", srv.admin_key, "{\"name\":\"rid\"}", 201},
        {"GET", "/v1/tenants", NULL, NULL, 401},
        {"GET", "/v1/tenants/" NO_SUCH_ID, srv.admin_key, NULL, 404},
        {"POST", "/v1/tenants", srv.admin_key, "{\"name\":", 400},
        {"POST", "/v1/tenants", srv.admin_key, "{\"name\":\"\"}", 422},
        {"PUT", tpath, srv.admin_key, NULL, 405},
        {"DELETE", tpath, srv.admin_key, NULL, 204},
    };
    char *seen[16];
    size_t nseen = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* without an id of ours: the server makes one */
        struct hk_reply *r = hk_call(&srv, cases[i].method, cases[i].token,
                                     cases[i].body, "%s", cases[i].path);
        hk_expect(r, cases[i].status);
        const char *id = hk_reply_header(r, "X-Request-Id");
        if (id == NULL || id[0] == '\0')
            fail_msg("%s %s (%ld): no X-Request-Id", cases[i].method,
                     cases[i].path, r->status);
        for (size_t k = 0; k < nseen; k++)
            if (strcmp(seen[k], id) == 0)
                fail_msg("X-Request-Id %s given to two requests", id);
        seen[nseen++] = strdup(id);
        hk_reply_free(r);
    }
    for (size_t k = 0; k < nseen; k++)
        free(seen[k]);

    /* a client's id is echoed, on success and on errors alike */
    const char *mine[] = {"X-Request-Id: e2e-req-0001", NULL};
    const char *paths[] = {"/healthz", "/v1/me", "/v1/tenants/" NO_SUCH_ID};
    const char *tokens[] = {NULL, NULL, srv.admin_key};
    for (size_t i = 0; i < 3; i++) {
        struct hk_reply *r =
            hk_http(&srv, "GET", paths[i], tokens[i], NULL, NULL, 0, mine);
        const char *id = hk_reply_header(r, "X-Request-Id");
        if (id == NULL || strcmp(id, "e2e-req-0001") != 0)
            fail_msg("GET %s (%ld): X-Request-Id is \"%s\", not the one sent",
                     paths[i], r->status, id ? id : "(none)");
        hk_reply_free(r);
    }
    struct hk_reply *r = hk_http(&srv, "POST", "/v1/tenants", srv.admin_key,
                                 "text/plain", "{}", 2, mine);
    hk_expect_error(r, 415, "unsupported_media_type", NULL);
    assert_string_equal(hk_reply_header(r, "X-Request-Id"), "e2e-req-0001");
    hk_reply_free(r);
    free(tpath);
}

/* Links migrations first..last of src into dir; returns how many. */
static int link_migrations(const char *src, const char *dir, long first,
                           long last)
{
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *de;
    int linked = 0;
    while ((de = readdir(d)) != NULL) {
        long num = strtol(de->d_name, NULL, 10);
        if (num < first || num > last || strstr(de->d_name, ".sql") == NULL)
            continue;
        char *from = hk_fmt("%s/%s", src, de->d_name);
        char *to = hk_fmt("%s/%s", dir, de->d_name);
        assert_int_equal(symlink(from, to), 0);
        free(from);
        free(to);
        linked++;
    }
    closedir(d);
    return linked;
}

/* Migration 0013 moves each lease of a delivery being sent into the
 * leases table: a database that an earlier hookd left with requests in
 * flight keeps them in flight across the upgrade, and no other delivery
 * gains a lease. The database is migrated to 0012 from a directory that
 * holds only those files, given the three kinds of row, and migrated on
 * to 0023. Migration 0024 then drops the leases (an endpoint's owner
 * holds its deliveries since): the delivery that was being sent is
 * pending and due, for the next claim. */
static void test_migration_moves_leases(void **state)
{
    (void)state;
    struct hk_srv old = srv; /* for hk_sql on the other database only */
    snprintf(old.dbname, sizeof old.dbname, "%.59s_m12", srv.dbname);
    char *sql = hk_fmt("CREATE DATABASE %s", old.dbname);
    free(hk_sql(&srv, sql));
    free(sql);

    char dir[] = "/tmp/hookd-migr-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *src = hk_fmt("%s/migrations", srv.source_dir);
    assert_int_equal(link_migrations(src, dir, 1, 12), 12);

    char *url = hk_fmt("HOOKD_DATABASE_URL=postgresql://%s@%s:%s/%s",
                       srv.pg_user, srv.pg_host, srv.pg_port, old.dbname);
    char *mdir = hk_fmt("HOOKD_MIGRATIONS_DIR=%s", dir);
    const char *env12[] = {url, mdir, NULL};
    const char *migrate[] = {"migrate", NULL};
    char *out = NULL;
    int rc = hk_srv_exec(&srv, migrate, env12, &out);
    if (rc != 0)
        fail_msg("hookd migrate (to 0012) exited %d: %s", rc, out);
    free(out);

    static const char *const ins =
        "INSERT INTO hookd.deliveries (tenant_id, id, event_id, endpoint_id,"
        " event_type, status, next_attempt_at, lease_until, completed_at)"
        " VALUES ($1, gen_random_uuid(), gen_random_uuid(), $2, 'x.y', $3,"
        " CASE WHEN $3 = 'succeeded' THEN NULL ELSE now() END,"
        " CASE WHEN $3 = 'sending' THEN now() + interval '1 minute' END,"
        " CASE WHEN $3 = 'succeeded' THEN now() END) RETURNING id";
    static const char *const t = "018f0000-0000-7000-8000-000000000001";
    static const char *const ep = "018f0000-0000-7000-8000-000000000002";
    char *sending = hk_sql(&old, ins, t, ep, "sending");
    free(hk_sql(&old, ins, t, ep, "pending"));
    free(hk_sql(&old, ins, t, ep, "succeeded"));
    char *until = hk_sql(&old, "SELECT lease_until::text FROM"
                               " hookd.deliveries WHERE id = $1",
                         sending);

    /* the same directory, now to 0023 */
    assert_int_equal(link_migrations(src, dir, 13, 23), 11);
    rc = hk_srv_exec(&srv, migrate, env12, &out);
    if (rc != 0)
        fail_msg("hookd migrate (0013 to 0023) exited %d: %s", rc, out);
    free(out);

    assert_int_equal(hk_sql_int(&old, "SELECT count(*) FROM hookd.leases"), 1);
    char *leased = hk_sql(&old, "SELECT delivery_id::text || ' '"
                                " || endpoint_id::text || ' '"
                                " || lease_until::text FROM hookd.leases");
    char *want = hk_fmt("%s %s %s", sending, ep, until);
    assert_string_equal(leased, want);
    assert_int_equal(hk_sql_int(&old, "SELECT count(*) FROM hookd.deliveries"
                                      " WHERE status = 'pending'"),
                     2);
    assert_int_equal(hk_sql_int(&old, "SELECT count(*) FROM hookd.deliveries"
                                      " WHERE status = 'succeeded'"),
                     1);
    assert_int_equal(hk_sql_int(&old, "SELECT count(*) FROM"
                                      " information_schema.columns"
                                      " WHERE table_schema = 'hookd'"
                                      " AND table_name = 'deliveries'"
                                      " AND column_name = 'lease_until'"),
                     0);
    free(leased);
    free(want);
    free(until);

    const char *env[] = {url, NULL};
    rc = hk_srv_exec(&srv, migrate, env, &out);
    if (rc != 0)
        fail_msg("hookd migrate (0024 on) exited %d: %s", rc, out);
    free(out);
    assert_int_equal(hk_sql_int(&old, "SELECT count(*) FROM"
                                      " information_schema.tables"
                                      " WHERE table_schema = 'hookd'"
                                      " AND table_name = 'leases'"),
                     0);
    assert_int_equal(hk_sql_int(&old, "SELECT count(*) FROM hookd.queue"
                                      " WHERE delivery_id = $1"
                                      " AND next_attempt_at <= now()",
                                sending),
                     1);
    free(sending);

    sql = hk_fmt("DROP DATABASE %s WITH (FORCE)", old.dbname);
    free(hk_sql(&srv, sql));
    free(sql);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *f = hk_fmt("%s/%s", dir, de->d_name);
        unlink(f);
        free(f);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
    free(src);
    free(url);
    free(mdir);
}

/* /readyz and the API answer 503 while the database is gone; /healthz
 * does not care, and the process still stops cleanly. A second process
 * (api role) runs on a database of its own for this. */
static void test_readyz_not_ready(void **state)
{
    (void)state;
    char name[80];
    snprintf(name, sizeof name, "%s_gone", srv.dbname);
    char *sql = hk_fmt("CREATE DATABASE %s", name);
    free(hk_sql(&srv, sql));
    free(sql);
    char *url = hk_fmt("HOOKD_DATABASE_URL=postgresql://%s@%s:%s/%s",
                       srv.pg_user, srv.pg_host, srv.pg_port, name);
    const char *env[] = {url, NULL};
    const char *migrate[] = {"migrate", NULL};
    char *out = NULL;
    int rc = hk_srv_exec(&srv, migrate, env, &out);
    if (rc != 0)
        fail_msg("hookd migrate exited %d: %s", rc, out);
    free(out);
    struct hk_srv peer;
    assert_int_equal(hk_srv_start_peer(&peer, &srv, "api", env), 0);
    struct hk_reply *r = hk_call(&peer, "GET", NULL, NULL, "/readyz");
    hk_expect(r, 200);
    hk_reply_free(r);

    /* the database goes away under it */
    sql = hk_fmt("DROP DATABASE %s WITH (FORCE)", name);
    free(hk_sql(&srv, sql));
    free(sql);
    r = hk_call(&peer, "GET", NULL, NULL, "/readyz");
    hk_expect(r, 503);
    hk_reply_free(r);
    r = hk_call(&peer, "GET", peer.admin_key, NULL, "/v1/tenants");
    hk_expect_error(r, 503, "unavailable", NULL);
    hk_reply_free(r);
    r = hk_call(&peer, "POST", peer.admin_key, "{\"name\":\"x\"}",
                "/v1/tenants");
    hk_expect_error(r, 503, "unavailable", NULL);
    hk_reply_free(r);
    r = hk_call(&peer, "GET", NULL, NULL, "/healthz");
    hk_expect(r, 200);
    hk_reply_free(r);
    assert_int_equal(hk_srv_stop(&peer), 0);
    hk_srv_drop(&peer);
    free(url);
}

/* ---- /v1/me ----------------------------------------------------------- */

static void test_me(void **state)
{
    (void)state;
    struct hk_reply *r = hk_admin(&srv, "GET", NULL, "/v1/me");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "role"), "admin");
    hk_reply_free(r);

    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "me-tenant", tid);
    char *key = hk_mk_api_key(&srv, tid, NULL);
    r = hk_call(&srv, "GET", key, NULL, "/v1/me");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "role"), "tenant");
    assert_string_equal(hk_jstr(r->json, "tenant_id"), tid);
    hk_reply_free(r);

    r = hk_call(&srv, "GET", NULL, NULL, "/v1/me");
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", "hk_0000000000000000000000000000", NULL, "/v1/me");
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);
    free(key);
}

/* ---- tenants ---------------------------------------------------------- */

static void test_tenant_crud(void **state)
{
    (void)state;
    struct hk_reply *r =
        hk_admin(&srv, "POST",
                 "{\"name\":\"Acme Corp\",\"metadata\":{\"plan\":\"pro\"}}",
                 "/v1/tenants");
    hk_expect(r, 201);
    const char *id = hk_jstr(r->json, "id");
    if (!hk_is_uuid7(id))
        fail_msg("tenant id \"%s\" is not a canonical UUIDv7", id ? id : "");
    char tid[HK_ID_LEN];
    snprintf(tid, sizeof tid, "%s", id);
    assert_string_equal(hk_jstr(r->json, "name"), "Acme Corp");
    assert_string_equal(hk_jstr(r->json, "metadata.plan"), "pro");
    expect_time(r->json, "created_at");
    expect_time(r->json, "updated_at");
    char created[64];
    snprintf(created, sizeof created, "%s", hk_jstr(r->json, "created_at"));
    hk_reply_free(r);

    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "id"), tid);
    assert_string_equal(hk_jstr(r->json, "name"), "Acme Corp");
    assert_string_equal(hk_jstr(r->json, "metadata.plan"), "pro");
    assert_string_equal(hk_jstr(r->json, "created_at"), created);
    hk_reply_free(r);

    /* metadata defaults to {} */
    char t2[HK_ID_LEN];
    r = hk_admin(&srv, "POST", "{\"name\":\"plain\"}", "/v1/tenants");
    hk_expect(r, 201);
    assert_true(json_is_object(hk_jget(r->json, "metadata")));
    assert_int_equal(json_object_size(hk_jget(r->json, "metadata")), 0);
    snprintf(t2, sizeof t2, "%s", hk_jstr(r->json, "id"));
    hk_reply_free(r);

    /* PATCH name keeps metadata; PATCH metadata keeps the name */
    hk_sleep_ms(5);
    r = hk_admin(&srv, "PATCH", "{\"name\":\"Acme Inc\"}", "/v1/tenants/%s",
                 tid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "name"), "Acme Inc");
    assert_string_equal(hk_jstr(r->json, "metadata.plan"), "pro");
    assert_string_equal(hk_jstr(r->json, "created_at"), created);
    expect_time(r->json, "updated_at");
    if (strcmp(hk_jstr(r->json, "updated_at"), created) <= 0)
        fail_msg("updated_at %s did not move past created_at %s",
                 hk_jstr(r->json, "updated_at"), created);
    hk_reply_free(r);
    r = hk_admin(&srv, "PATCH", "{\"metadata\":{\"plan\":\"free\",\"n\":2}}",
                 "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "name"), "Acme Inc");
    assert_string_equal(hk_jstr(r->json, "metadata.plan"), "free");
    assert_int_equal(hk_jint(r->json, "metadata.n", -1), 2);
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "name"), "Acme Inc");
    assert_string_equal(hk_jstr(r->json, "metadata.plan"), "free");
    hk_reply_free(r);

    /* listed */
    json_t *all = hk_list_all(&srv, srv.admin_key, "/v1/tenants", 250, NULL);
    assert_true(has_item(all, "id", tid));
    assert_true(has_item(all, "id", t2));
    json_decref(all);

    /* a tenant token may read its own tenant */
    char *key = hk_mk_api_key(&srv, tid, NULL);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "id"), tid);
    hk_reply_free(r);

    /* DELETE: 204 with no body, then gone everywhere */
    r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 204);
    assert_int_equal(r->body_len, 0);
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", tid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s", tid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_admin(&srv, "PATCH", "{\"name\":\"x\"}", "/v1/tenants/%s", tid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    all = hk_list_all(&srv, srv.admin_key, "/v1/tenants", 250, NULL);
    assert_false(has_item(all, "id", tid));
    json_decref(all);
    /* its key went with it */
    r = hk_call(&srv, "GET", key, NULL, "/v1/me");
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);
    free(key);
}

static void test_tenant_delete_cascades(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    hk_mk_tenant(&srv, "cascade", tid);
    char *key = hk_mk_api_key(&srv, tid, NULL);
    hk_mk_endpoint(&srv, key, tid, "{\"url\":\"https://example.com/c\"}", eid);
    struct hk_reply *r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 204);
    hk_reply_free(r);
    static const char *const tables[] = {
        "api_keys", "endpoints", "events", "deliveries", "queue", NULL};
    hk_expect_no_tenant_rows(&srv, tid, tables);
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    free(key);
}

static void test_tenant_validation(void **state)
{
    (void)state;
    long long before = hk_sql_int(&srv, "SELECT count(*) FROM hookd.tenants");
    struct {
        const char *body, *field;
    } bad[] = {
        {"{}", "name"},
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":123}", "name"},
        {"{\"name\":null}", "name"},
        {"{\"name\":[\"a\"]}", "name"},
        {"{\"name\":\"ok\",\"metadata\":[1]}", "metadata"},
        {"{\"name\":\"ok\",\"metadata\":\"x\"}", "metadata"},
        {"{\"name\":\"ok\",\"nmae\":\"typo\"}", "nmae"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hk_reply *r = hk_admin(&srv, "POST", bad[i].body, "/v1/tenants");
        hk_expect_error(r, 422, "validation_failed", bad[i].field);
        hk_reply_free(r);
    }
    /* a very long name: refused, or kept whole; never a 5xx */
    char *longname = malloc(1001);
    memset(longname, 'n', 1000);
    longname[1000] = '\0';
    char *body = hk_jpack("{s:s}", "name", longname);
    struct hk_reply *r = hk_admin(&srv, "POST", body, "/v1/tenants");
    if (r->status == 201) {
        assert_string_equal(hk_jstr(r->json, "name"), longname);
        before++;
    } else {
        hk_expect_error(r, 422, "validation_failed", "name");
    }
    hk_reply_free(r);
    free(body);
    free(longname);
    long long after = hk_sql_int(&srv, "SELECT count(*) FROM hookd.tenants");
    assert_int_equal(after, before);

    /* PATCH validation, and a failed PATCH changes nothing */
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "patch-me", tid);
    const char *bad_patch[][2] = {
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":5}", "name"},
        {"{\"metadata\":[]}", "metadata"},
        {"{\"id\":\"" NO_SUCH_ID "\"}", "id"},
        {"{\"created_at\":\"2020-01-01T00:00:00.000Z\"}", "created_at"},
        {"{\"name\":\"changed\",\"metadata\":7}", "metadata"},
    };
    for (size_t i = 0; i < sizeof bad_patch / sizeof bad_patch[0]; i++) {
        r = hk_admin(&srv, "PATCH", bad_patch[i][0], "/v1/tenants/%s", tid);
        hk_expect_error(r, 422, "validation_failed", bad_patch[i][1]);
        hk_reply_free(r);
    }
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "name"), "patch-me");
    hk_reply_free(r);

    /* malformed and unknown ids in the path */
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/not-a-uuid");
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/" NO_SUCH_ID);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
}

/* ---- API keys --------------------------------------------------------- */

static void test_api_keys(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "keys", tid);
    struct hk_reply *r = hk_admin(&srv, "POST", "{\"name\":\"ci deploys\"}",
                                  "/v1/tenants/%s/api-keys", tid);
    hk_expect(r, 201);
    const char *key = hk_jstr(r->json, "key");
    const char *prefix = hk_jstr(r->json, "prefix");
    const char *kid = hk_jstr(r->json, "id");
    assert_non_null(key);
    assert_non_null(prefix);
    if (!hk_is_uuid7(kid))
        fail_msg("key id \"%s\" is not a UUIDv7", kid ? kid : "");
    assert_string_equal(hk_jstr(r->json, "name"), "ci deploys");
    expect_time(r->json, "created_at");
    if (strncmp(key, "hk_", 3) != 0)
        fail_msg("API key \"%s\" does not start with hk_", key);
    if (strlen(prefix) == 0 || strlen(prefix) >= strlen(key) ||
        strncmp(key, prefix, strlen(prefix)) != 0)
        fail_msg("prefix \"%s\" is not a proper prefix of the key", prefix);
    if (strlen(key) < 3 + 20)
        fail_msg("API key \"%s\" is too short to be unguessable", key);
    char *k = strdup(key), *p = strdup(prefix), *id = strdup(kid);
    hk_reply_free(r);

    /* shown once: the list has no key */
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s/api-keys", tid);
    hk_expect(r, 200);
    json_t *data = hk_jget(r->json, "data");
    assert_int_equal(json_array_size(data), 1);
    json_t *item = json_array_get(data, 0);
    assert_string_equal(hk_jstr(item, "id"), id);
    assert_string_equal(hk_jstr(item, "name"), "ci deploys");
    assert_string_equal(hk_jstr(item, "prefix"), p);
    expect_time(item, "created_at");
    assert_null(json_object_get(item, "key"));
    if (strstr(r->body, k + strlen(p)) != NULL)
        fail_msg("the key list holds the secret part of the key");
    hk_reply_free(r);

    /* stored hashed: no row of hookd.api_keys holds the key's text */
    long long n = hk_sql_int(&srv,
                             "SELECT count(*) FROM hookd.api_keys t "
                             "WHERE strpos(t::text, $1) > 0 "
                             "   OR strpos(encode(t.key_hash, 'escape'), "
                             "$1) > 0",
                             k + strlen(p));
    assert_int_equal(n, 0);
    /* what is stored is the prefix shown and SHA-256 of the whole key */
    n = hk_sql_int(&srv,
                   "SELECT count(*) FROM hookd.api_keys WHERE id = $1::uuid "
                   "AND prefix = $2 AND key_hash = sha256(convert_to($3, "
                   "'UTF8'))",
                   id, p, k);
    if (n != 1)
        fail_msg("the stored row of key %s does not hold its prefix %s and "
                 "the SHA-256 of the whole key",
                 id, p);

    /* it works, for this tenant */
    r = hk_call(&srv, "GET", k, NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    hk_reply_free(r);

    /* a second key; each works on its own */
    char kid2[HK_ID_LEN];
    char *k2 = hk_mk_api_key(&srv, tid, kid2);
    assert_string_not_equal(k, k2);

    /* revoked: 401 at once, the other key still works */
    r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s/api-keys/%s", tid, id);
    hk_expect(r, 204);
    assert_int_equal(r->body_len, 0);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", k, NULL, "/v1/me");
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", k2, NULL, "/v1/me");
    hk_expect(r, 200);
    hk_reply_free(r);
    r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s/api-keys/%s", tid, id);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s/api-keys", tid);
    hk_expect(r, 200);
    assert_int_equal(json_array_size(hk_jget(r->json, "data")), 1);
    assert_string_equal(hk_jstr(r->json, "data.0.id"), kid2);
    hk_reply_free(r);

    /* validation */
    const char *bad[][2] = {
        {"{}", "name"},
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":42}", "name"},
        {"{\"name\":\"x\",\"scopes\":[\"all\"]}", "scopes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = hk_admin(&srv, "POST", bad[i][0], "/v1/tenants/%s/api-keys", tid);
        hk_expect_error(r, 422, "validation_failed", bad[i][1]);
        hk_reply_free(r);
    }
    r = hk_admin(&srv, "POST", "{\"name\":\"x\"}",
                 "/v1/tenants/" NO_SUCH_ID "/api-keys");
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/" NO_SUCH_ID "/api-keys");
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s/api-keys/not-an-id",
                 tid);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    free(k);
    free(k2);
    free(p);
    free(id);
}

/* ---- event types ------------------------------------------------------ */

static json_t *find_event_type(json_t *list, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        const char *n = hk_jstr(it, "name");
        if (n != NULL && strcmp(n, name) == 0)
            return it;
    }
    return NULL;
}

static void test_event_types(void **state)
{
    (void)state;
    struct hk_reply *r = hk_admin(
        &srv, "POST",
        "{\"name\":\"invoice.paid\",\"description\":\"An invoice was paid.\","
        "\"example\":{\"amount\":1200,\"currency\":\"EUR\"}}",
        "/v1/event-types");
    hk_expect(r, 201);
    assert_string_equal(hk_jstr(r->json, "name"), "invoice.paid");
    assert_string_equal(hk_jstr(r->json, "description"),
                        "An invoice was paid.");
    assert_int_equal(hk_jint(r->json, "example.amount", -1), 1200);
    assert_true(json_is_false(hk_jget(r->json, "archived")));
    expect_time(r->json, "created_at");
    hk_reply_free(r);

    /* duplicate: 409 conflict */
    r = hk_admin(&srv, "POST", "{\"name\":\"invoice.paid\"}",
                 "/v1/event-types");
    hk_expect_error(r, 409, "conflict", NULL);
    hk_reply_free(r);

    /* the grammar: segments of [A-Za-z0-9_-] joined by dots, <= 128 */
    char n128[129], n129[130];
    memset(n128, 'a', 128);
    n128[128] = '\0';
    for (int i = 8; i < 128; i += 9)
        n128[i] = '.';
    memset(n129, 'b', 129);
    n129[129] = '\0';
    const char *good[] = {"user", "User_Signed-Up.v2", "a.b.c.d", "x-1.y_2",
                          n128};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *body = hk_jpack("{s:s}", "name", good[i]);
        r = hk_admin(&srv, "POST", body, "/v1/event-types");
        hk_expect(r, 201);
        assert_string_equal(hk_jstr(r->json, "name"), good[i]);
        hk_reply_free(r);
        free(body);
    }
    const char *bad[] = {
        "",         ".invoice",     "invoice.", "invoice..paid",
        "inv oice", "invoice/paid", "invoice*", "invoice.*",
        "*",        "caf\xc3\xa9",  "a;b",      "a'b",
        n129};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *body = hk_jpack("{s:s}", "name", bad[i]);
        r = hk_admin(&srv, "POST", body, "/v1/event-types");
        hk_expect_error(r, 422, "validation_failed", "name");
        hk_reply_free(r);
        free(body);
    }
    const char *badbody[][2] = {
        {"{}", "name"},
        {"{\"name\":7}", "name"},
        {"{\"name\":\"ok.desc\",\"description\":7}", "description"},
        {"{\"name\":\"ok.unknown\",\"archived\":true}", "archived"},
        {"{\"name\":\"ok.unknown\",\"schema\":{}}", "schema"},
    };
    for (size_t i = 0; i < sizeof badbody / sizeof badbody[0]; i++) {
        r = hk_admin(&srv, "POST", badbody[i][0], "/v1/event-types");
        hk_expect_error(r, 422, "validation_failed", badbody[i][1]);
        hk_reply_free(r);
    }

    /* the list: any token; hookd.ping is built in */
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "et-reader", tid);
    char *key = hk_mk_api_key(&srv, tid, NULL);
    json_t *list = hk_list_all(&srv, key, "/v1/event-types", 0, NULL);
    assert_non_null(find_event_type(list, "invoice.paid"));
    assert_non_null(find_event_type(list, "hookd.ping"));
    json_t *it = find_event_type(list, "invoice.paid");
    assert_string_equal(hk_jstr(it, "description"), "An invoice was paid.");
    assert_true(json_is_false(hk_jget(it, "archived")));
    json_decref(list);

    /* PATCH: description, example, archived */
    r = hk_admin(&srv, "PATCH",
                 "{\"description\":\"Paid in full.\",\"example\":[1,2]}",
                 "/v1/event-types/invoice.paid");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "name"), "invoice.paid");
    assert_string_equal(hk_jstr(r->json, "description"), "Paid in full.");
    assert_int_equal(json_array_size(hk_jget(r->json, "example")), 2);
    hk_reply_free(r);
    r = hk_admin(&srv, "PATCH", "{\"archived\":true}",
                 "/v1/event-types/invoice.paid");
    hk_expect(r, 200);
    assert_true(json_is_true(hk_jget(r->json, "archived")));
    assert_string_equal(hk_jstr(r->json, "description"), "Paid in full.");
    hk_reply_free(r);

    /* archived ones only with include_archived=true */
    list = hk_list_all(&srv, srv.admin_key, "/v1/event-types", 0, NULL);
    assert_null(find_event_type(list, "invoice.paid"));
    assert_non_null(find_event_type(list, "hookd.ping"));
    json_decref(list);
    list = hk_list_all(&srv, key, "/v1/event-types?include_archived=true", 0,
                       NULL);
    it = find_event_type(list, "invoice.paid");
    assert_non_null(it);
    assert_true(json_is_true(hk_jget(it, "archived")));
    json_decref(list);
    r = hk_admin(&srv, "PATCH", "{\"archived\":false}",
                 "/v1/event-types/invoice.paid");
    hk_expect(r, 200);
    assert_true(json_is_false(hk_jget(r->json, "archived")));
    hk_reply_free(r);

    /* PATCH errors */
    r = hk_admin(&srv, "PATCH", "{\"description\":\"x\"}",
                 "/v1/event-types/no.such.type");
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    r = hk_admin(&srv, "PATCH", "{\"name\":\"renamed\"}",
                 "/v1/event-types/invoice.paid");
    hk_expect_error(r, 422, "validation_failed", "name");
    hk_reply_free(r);
    r = hk_admin(&srv, "PATCH", "{\"archived\":\"yes\"}",
                 "/v1/event-types/invoice.paid");
    hk_expect_error(r, 422, "validation_failed", "archived");
    hk_reply_free(r);
    r = hk_admin(&srv, "PATCH", "{\"description\":null,\"x\":1}",
                 "/v1/event-types/invoice.paid");
    hk_expect_client_error(r);
    hk_reply_free(r);
    free(key);
}

/* ---- portal sessions -------------------------------------------------- */

static void test_portal_sessions(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "portal", tid);
    /* no body at all, and {} */
    char *path = hk_fmt("/v1/tenants/%s/portal-sessions", tid);
    int64_t t0 = hk_wall_ms();
    struct hk_reply *r =
        hk_http(&srv, "POST", path, srv.admin_key, NULL, NULL, 0, NULL);
    hk_expect(r, 201);
    const char *token = hk_jstr(r->json, "token");
    const char *url = hk_jstr(r->json, "url");
    assert_non_null(token);
    assert_non_null(url);
    if (strncmp(token, "hps_", 4) != 0)
        fail_msg("portal token \"%s\" does not start with hps_", token);
    char *want = hk_fmt("%s/portal/#token=%s", srv.base_url, token);
    assert_string_equal(url, want);
    free(want);
    expect_time(r->json, "expires_at");
    /* default ttl 3600 s: expires_at about an hour from now */
    char *sql = hk_fmt("SELECT (extract(epoch FROM '%s'::timestamptz) * 1000)"
                       "::bigint",
                       hk_jstr(r->json, "expires_at"));
    long long exp = hk_sql_int(&srv, sql);
    free(sql);
    if (exp < t0 + 3590 * 1000LL || exp > hk_wall_ms() + 3610 * 1000LL)
        fail_msg("expires_at is %lld ms from now, not about 3600 s", exp - t0);
    char *tok = strdup(token);
    hk_reply_free(r);

    /* the session token acts for its tenant */
    r = hk_call(&srv, "GET", tok, NULL, "/v1/me");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "role"), "tenant");
    assert_string_equal(hk_jstr(r->json, "tenant_id"), tid);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", tok, NULL, "/v1/tenants/%s/endpoints", tid);
    hk_expect(r, 200);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", tok, NULL, "/v1/tenants");
    hk_expect_error(r, 403, "forbidden", NULL);
    hk_reply_free(r);

    r = hk_admin(&srv, "POST", "{}", "%s", path);
    hk_expect(r, 201);
    hk_reply_free(r);
    r = hk_admin(&srv, "POST", "{\"ttl_seconds\":60}", "%s", path);
    hk_expect(r, 201);
    hk_reply_free(r);
    r = hk_admin(&srv, "POST", "{\"ttl_seconds\":86400}", "%s", path);
    hk_expect(r, 201);
    hk_reply_free(r);
    const char *bad[] = {"{\"ttl_seconds\":59}", "{\"ttl_seconds\":86401}",
                         "{\"ttl_seconds\":\"600\"}", "{\"ttl_seconds\":-1}",
                         "{\"ttl_seconds\":600.5}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = hk_admin(&srv, "POST", bad[i], "%s", path);
        hk_expect_error(r, 422, "validation_failed", "ttl_seconds");
        hk_reply_free(r);
    }
    r = hk_admin(&srv, "POST", NULL,
                 "/v1/tenants/" NO_SUCH_ID "/portal-sessions");
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
    /* a session dies with its tenant */
    r = hk_admin(&srv, "DELETE", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 204);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", tok, NULL, "/v1/me");
    hk_expect_error(r, 401, "unauthorized", NULL);
    hk_reply_free(r);
    free(tok);
    free(path);
}

/* ---- pagination ------------------------------------------------------- */

static void test_pagination_tenants(void **state)
{
    (void)state;
    enum { N = 53 };
    char ids[N][HK_ID_LEN];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "page-%02d", i);
        hk_mk_tenant(&srv, name, ids[i]);
        hk_sleep_ms(2);
    }
    for (int limit = 1; limit <= 7; limit += 3) {
        int pages = 0;
        json_t *all =
            hk_list_all(&srv, srv.admin_key, "/v1/tenants", limit, &pages);
        size_t total = json_array_size(all);
        assert_true(total >= N);
        assert_int_equal(pages, (total + (size_t)limit - 1) / (size_t)limit);
        /* every tenant once; newest first */
        for (size_t i = 0; i < total; i++) {
            const char *a = hk_jstr(json_array_get(all, i), "id");
            assert_non_null(a);
            for (size_t k = i + 1; k < total; k++) {
                const char *b = hk_jstr(json_array_get(all, k), "id");
                if (strcmp(a, b) == 0)
                    fail_msg("tenant %s listed twice (limit %d)", a, limit);
            }
        }
        int last = -1;
        for (int i = N - 1; i >= 0; i--) {
            int pos = -1;
            for (size_t k = 0; k < total; k++)
                if (strcmp(hk_jstr(json_array_get(all, k), "id"), ids[i]) == 0)
                    pos = (int)k;
            if (pos < 0)
                fail_msg("tenant %s missing from the pages (limit %d)", ids[i],
                         limit);
            if (pos <= last)
                fail_msg("tenants not newest first (limit %d)", limit);
            last = pos;
        }
        json_decref(all);
    }
    /* the default page is 50 */
    struct hk_reply *r = hk_admin(&srv, "GET", NULL, "/v1/tenants");
    hk_expect(r, 200);
    assert_int_equal(json_array_size(hk_jget(r->json, "data")), 50);
    assert_true(json_is_true(hk_jget(r->json, "has_more")));
    assert_true(json_is_string(hk_jget(r->json, "next_cursor")));
    hk_reply_free(r);
    /* 250 is the top */
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants?limit=250");
    hk_expect(r, 200);
    hk_reply_free(r);
    const char *badlimit[] = {
        "0", "251", "-1", "abc", "1.5", "", "99999999999999999999"};
    for (size_t i = 0; i < sizeof badlimit / sizeof badlimit[0]; i++) {
        r = hk_admin(&srv, "GET", NULL, "/v1/tenants?limit=%s", badlimit[i]);
        hk_expect_error(r, 422, "validation_failed", "limit");
        hk_reply_free(r);
    }
    const char *badcursor[] = {"garbage", "%27%20OR%201%3D1--", "AAAA",
                               NO_SUCH_ID};
    for (size_t i = 0; i < sizeof badcursor / sizeof badcursor[0]; i++) {
        r = hk_admin(&srv, "GET", NULL, "/v1/tenants?cursor=%s", badcursor[i]);
        if (r->status != 200)
            hk_expect_error(r, 422, "validation_failed", "cursor");
        hk_reply_free(r);
    }
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants?limit=2&sort=name");
    hk_expect_error(r, 422, "validation_failed", "sort");
    hk_reply_free(r);
}

static void test_pagination_keys_and_event_types(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "many-keys", tid);
    char kids[5][HK_ID_LEN];
    for (int i = 0; i < 5; i++) {
        free(hk_mk_api_key(&srv, tid, kids[i]));
        hk_sleep_ms(2);
    }
    char *path = hk_fmt("/v1/tenants/%s/api-keys", tid);
    int pages = 0;
    json_t *all = hk_list_all(&srv, srv.admin_key, path, 2, &pages);
    assert_int_equal(json_array_size(all), 5);
    assert_int_equal(pages, 3);
    for (int i = 0; i < 5; i++)
        assert_string_equal(hk_jstr(json_array_get(all, (size_t)i), "id"),
                            kids[4 - i]);
    json_decref(all);
    free(path);

    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "paged.type%d", i);
        hk_mk_event_type(&srv, name);
    }
    json_t *one =
        hk_list_all(&srv, srv.admin_key, "/v1/event-types", 250, NULL);
    json_t *paged =
        hk_list_all(&srv, srv.admin_key, "/v1/event-types", 2, &pages);
    assert_int_equal(json_array_size(paged), json_array_size(one));
    assert_true(pages >= 4);
    for (size_t i = 0; i < json_array_size(one); i++)
        assert_string_equal(hk_jstr(json_array_get(one, i), "name"),
                            hk_jstr(json_array_get(paged, i), "name"));
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "paged.type%d", i);
        assert_non_null(find_event_type(paged, name));
    }
    json_decref(one);
    json_decref(paged);
}

/* ---- errors ----------------------------------------------------------- */

static void test_error_shape(void **state)
{
    (void)state;
    struct hk_reply *r = hk_admin(&srv, "GET", NULL, "/v1/nothing-here");
    hk_expect_error(r, 404, "not_found", NULL);
    const char *ct = hk_reply_header(r, "Content-Type");
    if (ct == NULL || strncmp(ct, "application/json", 16) != 0)
        fail_msg("error Content-Type is \"%s\"", ct ? ct : "(none)");
    /* only code, message and field in "error" */
    const char *k;
    json_t *v;
    json_object_foreach(hk_jget(r->json, "error"), k, v)
    {
        if (strcmp(k, "code") != 0 && strcmp(k, "message") != 0 &&
            strcmp(k, "field") != 0)
            fail_msg("unexpected member error.%s", k);
    }
    hk_reply_free(r);
    r = hk_admin(&srv, "POST", "{\"name\":\"\"}", "/v1/tenants");
    hk_expect_error(r, 422, "validation_failed", "name");
    hk_reply_free(r);
}

/* ---- OpenAPI ---------------------------------------------------------- */

/* "/v1/tenants/{tenant_id}/x" -> "/v1/tenants/{}/x" */
static void normalize_path(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; in[i] != '\0' && o + 3 < cap; i++) {
        if (in[i] == '{') {
            out[o++] = '{';
            out[o++] = '}';
            while (in[i] != '\0' && in[i] != '}')
                i++;
            if (in[i] == '\0')
                break;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
}

static json_t *openapi_doc(void)
{
    struct hk_reply *r = hk_call(&srv, "GET", NULL, NULL, "/openapi.json");
    hk_expect(r, 200);
    if (r->json == NULL || !json_is_object(r->json))
        fail_msg("/openapi.json is not a JSON object");
    const char *ct = hk_reply_header(r, "Content-Type");
    if (ct == NULL || strstr(ct, "json") == NULL)
        fail_msg("/openapi.json Content-Type is \"%s\"", ct ? ct : "");
    const char *ver = hk_jstr(r->json, "openapi");
    if (ver == NULL || strncmp(ver, "3.1", 3) != 0)
        fail_msg("\"openapi\" is \"%s\", not 3.1.x", ver ? ver : "");
    assert_non_null(hk_jstr(r->json, "info.title"));
    assert_non_null(hk_jstr(r->json, "info.version"));
    assert_true(json_is_object(hk_jget(r->json, "paths")));
    json_t *doc = json_incref(r->json);
    hk_reply_free(r);
    return doc;
}

static void expect_routes(json_t *doc, const char *const routes[][2], size_t n)
{
    json_t *paths = json_object_get(doc, "paths");
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        char want[256];
        normalize_path(routes[i][1], want, sizeof want);
        json_t *item = NULL;
        const char *k;
        json_t *v;
        json_object_foreach(paths, k, v)
        {
            char got[256];
            normalize_path(k, got, sizeof got);
            if (strcmp(got, want) == 0)
                item = v;
        }
        if (item == NULL || json_object_get(item, routes[i][0]) == NULL) {
            print_error("openapi.json lacks %s %s\n", routes[i][0],
                        routes[i][1]);
            missing++;
        }
    }
    if (missing > 0)
        fail_msg("%d routes of docs/api.md are missing from /openapi.json",
                 missing);
}

static void test_openapi_operator_and_endpoint_routes(void **state)
{
    (void)state;
    static const char *const routes[][2] = {
        {"post", "/v1/tenants"},
        {"get", "/v1/tenants"},
        {"get", "/v1/tenants/{tid}"},
        {"patch", "/v1/tenants/{tid}"},
        {"delete", "/v1/tenants/{tid}"},
        {"post", "/v1/tenants/{tid}/api-keys"},
        {"get", "/v1/tenants/{tid}/api-keys"},
        {"delete", "/v1/tenants/{tid}/api-keys/{kid}"},
        {"post", "/v1/tenants/{tid}/portal-sessions"},
        {"get", "/v1/tenants/{tid}/portal-sessions"},
        {"delete", "/v1/tenants/{tid}/portal-sessions/{sid}"},
        {"post", "/v1/event-types"},
        {"patch", "/v1/event-types/{name}"},
        {"get", "/v1/event-types"},
        {"post", "/v1/tenants/{tid}/endpoints"},
        {"get", "/v1/tenants/{tid}/endpoints"},
        {"get", "/v1/tenants/{tid}/endpoints/{eid}"},
        {"patch", "/v1/tenants/{tid}/endpoints/{eid}"},
        {"delete", "/v1/tenants/{tid}/endpoints/{eid}"},
        {"get", "/v1/tenants/{tid}/endpoints/{eid}/secret"},
        {"post", "/v1/tenants/{tid}/endpoints/{eid}/secret/rotate"},
        {"post", "/v1/tenants/{tid}/endpoints/{eid}/test"},
        {"post", "/v1/tenants/{tid}/endpoints/{eid}/recover"},
    };
    json_t *doc = openapi_doc();
    expect_routes(doc, routes, sizeof routes / sizeof routes[0]);
    json_decref(doc);
}

static void test_openapi_event_delivery_and_other_routes(void **state)
{
    (void)state;
    static const char *const routes[][2] = {
        {"post", "/v1/tenants/{tid}/events"},
        {"get", "/v1/tenants/{tid}/events"},
        {"get", "/v1/tenants/{tid}/events/{evid}"},
        {"get", "/v1/tenants/{tid}/deliveries"},
        {"get", "/v1/tenants/{tid}/deliveries/{did}"},
        {"get", "/v1/tenants/{tid}/deliveries/{did}/attempts"},
        {"post", "/v1/tenants/{tid}/deliveries/{did}/replay"},
        {"get", "/v1/tenants/{tid}/stats"},
        {"get", "/v1/tenants/{tid}/changes"},
        {"get", "/healthz"},
        {"get", "/readyz"},
        {"get", "/metrics"},
        {"get", "/openapi.json"},
        {"get", "/v1/me"},
        {"delete", "/v1/me/session"},
        {"get", "/v1/portal/config"},
    };
    json_t *doc = openapi_doc();
    expect_routes(doc, routes, sizeof routes / sizeof routes[0]);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_readyz),
        cmocka_unit_test(test_readyz_not_ready),
        cmocka_unit_test(test_request_id_on_every_response),
        cmocka_unit_test(test_me),
        cmocka_unit_test(test_tenant_crud),
        cmocka_unit_test(test_tenant_delete_cascades),
        cmocka_unit_test(test_tenant_validation),
        cmocka_unit_test(test_api_keys),
        cmocka_unit_test(test_event_types),
        cmocka_unit_test(test_portal_sessions),
        cmocka_unit_test(test_pagination_tenants),
        cmocka_unit_test(test_pagination_keys_and_event_types),
        cmocka_unit_test(test_error_shape),
        cmocka_unit_test(test_openapi_operator_and_endpoint_routes),
        cmocka_unit_test(test_openapi_event_delivery_and_other_routes),
        cmocka_unit_test(test_migration_moves_leases),
    };
    int rc = cmocka_run_group_tests_name("api_admin", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
