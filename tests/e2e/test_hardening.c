/*
 * test_hardening.c - end-to-end tests of what docs/limits.md promises:
 * every valid JSON value is accepted and read back (numbers past 64-bit
 * integers, \u0000 in payload strings, delivered byte for byte), a value a
 * jsonb column cannot hold is a 422 naming its field, dates outside the
 * range hookd stores are a 422 naming their field, and per-tenant limits
 * hold. One hookd (serve) and one receiver for the file.
 */
#include "engine_util.h"

#include "crypto.h"
#include "db.h"

#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;

static int group_setup(void **state)
{
    (void)state;
    static const char *const types[] = {"hard.one", NULL};
    return hk_group_start(&srv, NULL, &rcv, types);
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_group_finish(&srv, &rcv);
}

/* true when the list route at path (admin key) holds an item whose field
 * key equals value. */
static bool listed(const char *path, const char *key, const char *value)
{
    json_t *all = hk_list_all(&srv, srv.admin_key, path, 0, NULL);
    bool found = false;
    size_t i;
    json_t *it;
    json_array_foreach(all, i, it)
    {
        const char *v = json_string_value(json_object_get(it, key));
        if (v != NULL && strcmp(v, value) == 0)
            found = true;
    }
    json_decref(all);
    return found;
}

static double real_at(const struct hk_reply *r, const char *path)
{
    json_t *v = hk_jget(r->json, path);
    if (!json_is_number(v))
        fail_msg("%s is not a number in %s", path, r->body);
    return json_number_value(v);
}

/* ---- 1: numbers past 64-bit integers ---------------------------------- */

static void test_large_numbers_in_metadata(void **state)
{
    (void)state;
    struct hk_reply *r = hk_admin(
        &srv, "POST",
        "{\"name\":\"bignum\",\"metadata\":{\"n\":1e19,\"k\":3,"
        "\"u\":18446744073709551615,\"neg\":-9223372036854775809,"
        "\"s\":\"12345678901234567890\"}}",
        "/v1/tenants");
    hk_expect(r, 201);
    char tid[HK_ID_LEN];
    snprintf(tid, sizeof tid, "%s", hk_jstr(r->json, "id"));
    assert_true(real_at(r, "metadata.n") == 1e19);
    assert_int_equal(hk_jint(r->json, "metadata.k", -1), 3);
    assert_true(real_at(r, "metadata.u") == 18446744073709551615.0);
    assert_true(real_at(r, "metadata.neg") == -9223372036854775809.0);
    assert_string_equal(hk_jstr(r->json, "metadata.s"),
                        "12345678901234567890");
    hk_reply_free(r);

    /* the row reads back, alone and in the list, as the operator and as
     * the tenant's own key */
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_true(real_at(r, "metadata.n") == 1e19);
    hk_reply_free(r);
    char *key = hk_mk_api_key(&srv, tid, NULL);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    hk_reply_free(r);
    free(key);
    assert_true(listed("/v1/tenants", "id", tid));

    /* a PATCH writes and answers */
    r = hk_admin(&srv, "PATCH", "{\"metadata\":{\"m\":1e308}}",
                 "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_true(real_at(r, "metadata.m") == 1e308);
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    assert_true(real_at(r, "metadata.m") == 1e308);
    hk_reply_free(r);
}

static void test_large_numbers_in_example(void **state)
{
    (void)state;
    struct hk_reply *r = hk_admin(
        &srv, "POST", "{\"name\":\"hard.big\",\"example\":{\"v\":1e308}}",
        "/v1/event-types");
    hk_expect(r, 201);
    assert_true(real_at(r, "example.v") == 1e308);
    hk_reply_free(r);
    assert_true(listed("/v1/event-types", "name", "hard.big"));
    r = hk_admin(&srv, "PATCH", "{\"example\":-1e19}",
                 "/v1/event-types/hard.big");
    hk_expect(r, 200);
    assert_true(real_at(r, "example") == -1e19);
    hk_reply_free(r);
    assert_true(listed("/v1/event-types", "name", "hard.big"));
}

/* ---- 2: \u0000 ---------------------------------------------------------- */

static void test_nul_in_payload_delivered(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "nul", tid);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/nul", NULL, eid);
    const char *payload =
        "{\"s\":\"a\\u0000b\",\"big\":123456789012345678901234567890}";
    hk_eng_event(&srv, key, tid, "hard.one", payload, evid);
    if (!hk_rcv_wait_for_path(rcv, "/nul", 1, 20000))
        fail_msg("the event with \\u0000 was not delivered");
    const struct hk_rcv_req *q = hk_rcv_get_path(rcv, "/nul", 0);
    char *want = hk_fmt("\"data\":%s}", payload);
    if (q->body_len < strlen(want) ||
        strcmp(q->body + q->body_len - strlen(want), want) != 0)
        fail_msg("delivered body %s does not end with %s", q->body, want);
    free(want);

    /* the event reads back, alone and listed, and a retry with the same
     * Idempotency-Key answers the first event */
    struct hk_reply *r =
        hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/events/%s", tid, evid);
    hk_expect(r, 200);
    json_t *s = hk_jget(r->json, "payload.s");
    assert_true(json_is_string(s));
    assert_int_equal(json_string_length(s), 3);
    assert_memory_equal(json_string_value(s), "a\0b", 3);
    hk_reply_free(r);
    char *path = hk_fmt("/v1/tenants/%s/events", tid);
    json_t *all = hk_list_all(&srv, key, path, 0, NULL);
    assert_int_equal(json_array_size(all), 1);
    json_decref(all);
    free(path);
    char *body = hk_fmt("{\"event_type\":\"hard.one\",\"payload\":%s}", payload);
    for (int i = 0; i < 2; i++) {
        r = hk_eng_post_body(&srv, key, tid, body, "nul-key");
        hk_expect(r, i == 0 ? 202 : 200);
        hk_reply_free(r);
    }
    free(body);
    free(key);
}

/* True when the text holds "payload":<payload>. */
static void expect_payload_text(const char *what, const char *text,
                                const char *payload)
{
    char *want = hk_fmt("\"payload\":%s", payload);
    char *want_sp = hk_fmt("\"payload\" : %s", payload);
    if (strstr(text, want) == NULL && strstr(text, want_sp) == NULL)
        fail_msg("%s: %s does not hold the payload %s", what, text, payload);
    free(want);
    free(want_sp);
}

/* A payload's numbers are the tenant's data, whatever their size: an
 * integer of 25 digits, a decimal with a trailing zero and an exponent
 * as written are read back (alone, listed, and as the answer to a
 * repeated Idempotency-Key) as the exact text posted, not as jansson
 * prints a double; and an event sent from SQL with a number beyond a
 * double's range (1e400) reads back too, where it was a 500. */
static void test_payload_numbers_read_back_exactly(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "numbers", tid);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/numbers", NULL, eid);
    const char *payload = "{\"big\":1234567890123456789012345,"
                          "\"price\":1.10,\"e\":1E+2,\"list\":[0.5e1, 2]}";
    hk_eng_event(&srv, key, tid, "hard.one", payload, evid);
    struct hk_reply *r =
        hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/events/%s", tid, evid);
    hk_expect(r, 200);
    expect_payload_text("GET of the event", r->body, payload);
    assert_string_equal(hk_jstr(r->json, "id"), evid);
    hk_reply_free(r);
    char *body = hk_fmt("{\"event_type\":\"hard.one\",\"payload\":%s}",
                        payload);
    for (int i = 0; i < 2; i++) {
        r = hk_eng_post_body(&srv, key, tid, body, "numbers-key");
        hk_expect(r, i == 0 ? 202 : 200);
        expect_payload_text("a post with a key", r->body, payload);
        assert_true(hk_is_uuid7(hk_jstr(r->json, "id")));
        assert_string_equal(hk_jstr(r->json, "idempotency_key"),
                            "numbers-key");
        hk_reply_free(r);
    }
    free(body);

    const char *huge = "{\"huge\":1e400,\"tiny\":-1E-400}";
    char *sent = hk_sql(&srv, "SELECT hookd.send_event($1::uuid, $2, $3)",
                        tid, "hard.one", huge);
    assert_non_null(sent);
    if (!hk_rcv_wait_for_path(rcv, "/numbers", 3, 20000))
        fail_msg("the events were not all delivered");
    bool delivered = false;
    for (int i = 0; i < 3; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, "/numbers", i);
        delivered = delivered || strstr(q->body, huge) != NULL;
    }
    assert_true(delivered);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/events/%s", tid, sent);
    hk_expect(r, 200);
    expect_payload_text("GET of the event sent from SQL", r->body, huge);
    hk_reply_free(r);
    /* the list (its text: a JSON reader with doubles cannot hold 1e400) */
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/events?limit=2", tid);
    hk_expect(r, 200);
    expect_payload_text("the list of events", r->body, huge);
    assert_non_null(strstr(r->body, "\"has_more\":true"));
    const char *cur = strstr(r->body, "\"next_cursor\":\"");
    assert_non_null(cur);
    cur += strlen("\"next_cursor\":\"");
    char *cursor = hk_fmt("%.*s", (int)strcspn(cur, "\""), cur);
    hk_reply_free(r);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/events?limit=2&cursor=%s",
                tid, cursor);
    hk_expect(r, 200);
    assert_int_equal(json_array_size(hk_jget(r->json, "data")), 1);
    assert_false(json_is_true(hk_jget(r->json, "has_more")));
    assert_true(json_is_null(hk_jget(r->json, "next_cursor")));
    hk_reply_free(r);
    free(cursor);
    free(sent);
    free(key);
}

/* The text of the value of "id" in a body (a reply holding a number
 * beyond a double is no JSON that the harness's reader takes). */
static char *id_in(const char *body)
{
    const char *p = strstr(body, "\"id\":\"");
    if (p == NULL)
        fail_msg("no id in %s", body);
    p += strlen("\"id\":\"");
    return hk_fmt("%.*s", (int)strcspn(p, "\""), p);
}

/* Numbers beyond a double (1e400, 400 digits) are valid JSON: in a
 * payload they are accepted, delivered and read back as posted; in
 * metadata and an event type's example they are stored and read back as
 * the same number (PostgreSQL's jsonb writes 1e400 out in digits); where
 * hookd reads a number (a limit, an endpoint's concurrency) they are a
 * 422 naming the field. They were refused as invalid JSON. */
static void test_numbers_beyond_double(void **state)
{
    (void)state;
    char digits[401], zeros[401];
    memset(digits, '9', 400);
    digits[400] = '\0';
    memset(zeros, '0', 400);
    zeros[400] = '\0';
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "beyond", tid);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/beyond", NULL, eid);

    char *payload = hk_fmt("{\"huge\":1e400,\"neg\":-2.5E+999,\"long\":%s}",
                           digits);
    char *body = hk_fmt("{\"event_type\":\"hard.one\",\"payload\":%s}",
                        payload);
    struct hk_reply *r = hk_eng_post_body(&srv, key, tid, body, NULL);
    hk_expect(r, 202);
    expect_payload_text("the answer to the post", r->body, payload);
    char *evid = id_in(r->body);
    hk_reply_free(r);
    if (!hk_rcv_wait_for_path(rcv, "/beyond", 1, 20000))
        fail_msg("the event was not delivered");
    char *data = hk_fmt("\"data\":%s}", payload);
    assert_non_null(strstr(hk_rcv_get_path(rcv, "/beyond", 0)->body, data));
    free(data);
    r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/events/%s", tid, evid);
    hk_expect(r, 200);
    expect_payload_text("GET of the event", r->body, payload);
    hk_reply_free(r);

    char *md = hk_fmt("{\"name\":\"beyond-md\",\"metadata\":{\"n\":1e400,"
                      "\"l\":[-%s]}}",
                      digits);
    r = hk_admin(&srv, "POST", md, "/v1/tenants");
    hk_expect(r, 201);
    char *mtid = id_in(r->body);
    char *want = hk_fmt("\"n\":1%s", zeros);
    char *want_l = hk_fmt("\"l\":[-%s]", digits);
    assert_non_null(strstr(r->body, want));
    assert_non_null(strstr(r->body, want_l));
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/tenants/%s", mtid);
    hk_expect(r, 200);
    assert_non_null(strstr(r->body, want));
    assert_non_null(strstr(r->body, want_l));
    hk_reply_free(r);

    r = hk_admin(&srv, "POST",
                 "{\"name\":\"hard.beyond\",\"example\":{\"v\":-1e400}}",
                 "/v1/event-types");
    hk_expect(r, 201);
    char *want_v = hk_fmt("\"v\":-1%s", zeros);
    assert_non_null(strstr(r->body, want_v));
    hk_reply_free(r);
    r = hk_admin(&srv, "GET", NULL, "/v1/event-types?limit=200");
    hk_expect(r, 200);
    assert_non_null(strstr(r->body, want_v));
    hk_reply_free(r);

    r = hk_admin(&srv, "PATCH", "{\"limits\":{\"max_endpoints\":1e400}}",
                 "/v1/tenants/%s", tid);
    hk_expect_error(r, 422, "validation_failed", "limits.max_endpoints");
    hk_reply_free(r);
    r = hk_call(&srv, "PATCH", key, "{\"max_concurrency\":1e400}",
                "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect_error(r, 422, "validation_failed", "max_concurrency");
    hk_reply_free(r);

    free(want);
    free(want_l);
    free(want_v);
    free(mtid);
    free(md);
    free(evid);
    free(body);
    free(payload);
    free(key);
}

/* A string with \u0000 where hookd needs a C string or a jsonb value is
 * a 422 naming the field, and nothing is written. */
static void test_nul_refused_where_not_storable(void **state)
{
    (void)state;
    long long before =
        hk_sql_int(&srv, "SELECT count(*) FROM hookd.tenants");
    struct hk_reply *r =
        hk_admin(&srv, "POST", "{\"name\":\"a\\u0000b\"}", "/v1/tenants");
    hk_expect_error(r, 422, "validation_failed", "name");
    hk_reply_free(r);
    r = hk_admin(&srv, "POST",
                 "{\"name\":\"m\",\"metadata\":{\"x\":[\"\\u0000\"]}}",
                 "/v1/tenants");
    hk_expect_error(r, 422, "validation_failed", "metadata");
    hk_reply_free(r);
    assert_int_equal(hk_sql_int(&srv, "SELECT count(*) FROM hookd.tenants"),
                     before);
    r = hk_admin(&srv, "POST", "{\"name\":\"hard.nul\",\"example\":\"\\u0000\"}",
                 "/v1/event-types");
    hk_expect_error(r, 422, "validation_failed", "example");
    hk_reply_free(r);

    char tid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "nulfields", tid);
    const char *bodies[][2] = {
        {"{\"url\":\"https://example.com/a\\u0000b\"}", "url"},
        {"{\"url\":\"https://example.com/\",\"headers\":{\"X-A\":\"a\\u0000\"}}",
         "headers.X-A"},
        {"{\"url\":\"https://example.com/\",\"event_types\":[\"hard.one\\u0000x\"]}",
         "event_types.0"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        r = hk_call(&srv, "POST", key, bodies[i][0],
                    "/v1/tenants/%s/endpoints", tid);
        hk_expect_error(r, 422, "validation_failed", bodies[i][1]);
        hk_reply_free(r);
    }
    r = hk_call(&srv, "POST", key,
                "{\"event_type\":\"hard.one\\u0000\",\"payload\":{}}",
                "/v1/tenants/%s/events", tid);
    hk_expect_error(r, 422, "validation_failed", "event_type");
    hk_reply_free(r);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.endpoints"
                                " WHERE tenant_id = $1",
                                tid),
                     0);
    free(key);
}

/* ---- 4: dates out of range -------------------------------------------- */

static void test_dates_out_of_range(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "dates", tid);
    hk_eng_endpoint(&srv, key, tid, "https://example.com/dates", NULL, eid);
    const char *bad[] = {
        "0000-01-01T00:00:00Z",      "0001-01-01T00:00:00Z",
        "0000-01-01T00:00:00+01:00", "1969-12-31T23:59:59.999Z",
        "9999-12-31T23:59:59-01:00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *body = hk_fmt("{\"since\":\"%s\"}", bad[i]);
        struct hk_reply *r = hk_call(&srv, "POST", key, body,
                                     "/v1/tenants/%s/endpoints/%s/recover",
                                     tid, eid);
        if (r->status != 422)
            print_error("recover since %s\n", bad[i]);
        hk_expect_error(r, 422, "validation_failed", "since");
        hk_reply_free(r);
        free(body);
        char *q = hk_urlenc(bad[i]);
        r = hk_call(&srv, "GET", key, NULL, "/v1/tenants/%s/stats?since=%s",
                    tid, q);
        hk_expect_error(r, 422, "validation_failed", "since");
        hk_reply_free(r);
        free(q);
    }
    struct hk_reply *r = hk_call(&srv, "POST", key,
                                 "{\"since\":\"1970-01-01T00:00:00Z\"}",
                                 "/v1/tenants/%s/endpoints/%s/recover", tid,
                                 eid);
    hk_expect(r, 202);
    hk_reply_free(r);
    free(key);
}

/* A data exception from PostgreSQL (class 22) is the input's fault: the
 * store reports it as invalid input (422), never as the database being
 * unavailable (503). */
static void test_data_exception_is_invalid(void **state)
{
    (void)state;
    struct hk_conn *c;
    assert_int_equal(hk_conn_open(srv.db_url, "test", &c), HK_OK);
    const char *bad[][2] = {{"SELECT $1::date", "0000-01-01"},
                            {"SELECT $1::int", "99999999999"},
                            {"SELECT $1::jsonb", "\"\\u0000\""},
                            {"SELECT 1 / $1::int", "0"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p[1] = {bad[i][1]};
        PGresult *r = NULL;
        enum hk_result rc = hk_db_query(c, bad[i][0], 1, p, &r);
        if (rc != HK_INVALID)
            fail_msg("%s with %s: result %d, want invalid", bad[i][0],
                     bad[i][1], (int)rc);
        assert_null(r);
    }
    hk_conn_close(c);
}

/* ---- 8: sealed secrets bound to their row ----------------------------- */

static char *endpoint_secret(const char *key, const char *tid,
                             const char *eid, long want_status)
{
    struct hk_reply *r = hk_call(&srv, "GET", key, NULL,
                                 "/v1/tenants/%s/endpoints/%s/secret", tid,
                                 eid);
    if (r->status != want_status)
        fail_msg("GET secret of %s: %ld, want %ld: %s", eid, r->status,
                 want_status, r->body);
    char *k = hk_jstr(r->json, "key") ? strdup(hk_jstr(r->json, "key")) : NULL;
    hk_reply_free(r);
    return k;
}

/* A ciphertext copied into another endpoint's row (of the same tenant or
 * another) does not open there: the API refuses to show it and the
 * dispatcher does not sign with it. */
static void test_swapped_ciphertext_refused(void **state)
{
    (void)state;
    char t1[HK_ID_LEN], t2[HK_ID_LEN], a[HK_ID_LEN], b[HK_ID_LEN],
        c[HK_ID_LEN];
    char *k1 = hk_eng_tenant(&srv, "seal1", t1);
    char *k2 = hk_eng_tenant(&srv, "seal2", t2);
    hk_eng_endpoint(&srv, k1, t1, "https://example.com/a", NULL, a);
    hk_eng_endpoint(&srv, k1, t1, "https://example.com/b", NULL, b);
    hk_eng_endpoint(&srv, k2, t2, "https://example.com/c", NULL, c);
    char *sa = endpoint_secret(k1, t1, a, 200);
    assert_non_null(sa);
    /* rotate a, so that its previous secret is swapped too */
    struct hk_reply *r = hk_call(&srv, "POST", k1, NULL,
                                 "/v1/tenants/%s/endpoints/%s/secret/rotate",
                                 t1, a);
    hk_expect(r, 200);
    hk_reply_free(r);
    free(hk_sql(&srv,
                "UPDATE hookd.endpoints SET (secret_enc, prev_secret_enc) ="
                " (SELECT secret_enc, prev_secret_enc FROM hookd.endpoints"
                " WHERE id = $1) WHERE id = $2 OR id = $3 RETURNING 1",
                a, b, c));
    char *sb = endpoint_secret(k1, t1, b, 500);
    assert_null(sb);
    char *sc = endpoint_secret(k2, t2, c, 500);
    assert_null(sc);
    /* the endpoint's own row still opens */
    char *sa2 = endpoint_secret(k1, t1, a, 200);
    assert_non_null(sa2);
    free(sa);
    free(sa2);
    free(k1);
    free(k2);
}

/* A blob of the first format: nonce | ciphertext | tag, no associated
 * data, as hookd sealed secrets before they were bound to their row. */
static char *first_format_hex(const char *plain)
{
    unsigned char key[32], nonce[12], tag[16], ct[256];
    size_t klen = 0;
    unsigned char *raw = NULL;
    assert_int_equal(hk_base64_decode(srv.secret_key, &raw, &klen), HK_OK);
    assert_int_equal(klen, 32);
    memcpy(key, raw, 32);
    free(raw);
    for (int i = 0; i < 12; i++)
        nonce[i] = (unsigned char)(i * 7 + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0, n = (int)strlen(plain);
    assert_true(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce));
    assert_true(EVP_EncryptUpdate(ctx, ct, &len, (const unsigned char *)plain,
                                  n));
    assert_true(EVP_EncryptFinal_ex(ctx, ct + len, &fin));
    assert_true(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag));
    EVP_CIPHER_CTX_free(ctx);
    char *hex = calloc(1, 2 * (12 + (size_t)n + 16) + 1);
    size_t o = 0;
    for (int i = 0; i < 12; i++, o += 2)
        snprintf(hex + o, 3, "%02x", nonce[i]);
    for (int i = 0; i < n; i++, o += 2)
        snprintf(hex + o, 3, "%02x", ct[i]);
    for (int i = 0; i < 16; i++, o += 2)
        snprintf(hex + o, 3, "%02x", tag[i]);
    return hex;
}

/* `hookd migrate` re-seals secrets of the first format (current and
 * previous) once: they open afterwards, bound to their row, and a second
 * run finds nothing to do. Without HOOKD_SECRET_KEY it refuses to leave
 * such secrets behind. */
static void test_migrate_reseals_first_format(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "reseal", tid);
    hk_eng_endpoint(&srv, key, tid, "https://example.com/reseal", NULL, eid);
    const char *plain = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const char *prev = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    char *h1 = first_format_hex(plain), *h2 = first_format_hex(prev);
    free(hk_sql(&srv,
                "UPDATE hookd.endpoints SET secret_enc = decode($1, 'hex'),"
                " prev_secret_enc = decode($2, 'hex'), prev_secret_expires_at"
                " = now() + interval '1 hour', secret_format = 1"
                " WHERE id = $3 RETURNING 1",
                h1, h2, eid));
    free(h1);
    free(h2);
    assert_null(endpoint_secret(key, tid, eid, 500));

    const char *migrate[] = {"migrate", NULL};
    const char *nokey[] = {"HOOKD_SECRET_KEY", NULL};
    char *out = NULL;
    if (hk_srv_exec(&srv, migrate, nokey, &out) == 0)
        fail_msg("migrate without HOOKD_SECRET_KEY left first-format "
                 "secrets behind: %s", out);
    free(out);
    out = NULL;
    int rc = hk_srv_exec(&srv, migrate, NULL, &out);
    if (rc != 0 || strstr(out, "\"secrets_resealed\":\"1\"") == NULL)
        fail_msg("migrate: exit %d: %s", rc, out);
    free(out);
    out = NULL;
    rc = hk_srv_exec(&srv, migrate, NULL, &out);
    if (rc != 0 || strstr(out, "\"secrets_resealed\":\"0\"") == NULL)
        fail_msg("second migrate: exit %d: %s", rc, out);
    free(out);
    char *got = endpoint_secret(key, tid, eid, 200);
    assert_string_equal(got, plain);
    free(got);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT secret_format FROM hookd.endpoints"
                                " WHERE id = $1 AND get_byte(prev_secret_enc,"
                                " 0) = 2 AND get_byte(secret_enc, 0) = 2",
                                eid),
                     2);
    free(key);
}

/* ---- 3: many query parameters ---------------------------------------- */

/* libmicrohttpd never answered a request whose query parameters overflow
 * its per-connection memory (about 950 of them), even on /healthz: such a
 * request is answered 414 in the envelope, at once. */
static void test_many_query_parameters_answered(void **state)
{
    (void)state;
    const int counts[] = {201, 950, 1000, 3000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        int n = counts[c];
        char *q = malloc((size_t)n * 4 + 64);
        size_t o = (size_t)snprintf(q, 64, "/healthz?a=1");
        for (int i = 1; i < n; i++)
            o += (size_t)snprintf(q + o, 8, "&a=%d", i % 10);
        char *req = hk_fmt("GET %s HTTP/1.1\r\nHost: x\r\n\r\n", q);
        int64_t t0 = hk_wall_ms();
        struct hk_reply *r = hk_raw(&srv, req, strlen(req), 10000);
        if (r->status == 0)
            fail_msg("GET /healthz with %d query parameters: no answer "
                     "after %lld ms (%s)",
                     n, (long long)(hk_wall_ms() - t0), r->err);
        hk_expect_error(r, 414, "uri_too_long", NULL);
        hk_reply_free(r);
        free(req);
        free(q);
    }
    /* at the cap, the request is served as usual */
    char *q = malloc(200 * 4 + 64);
    size_t o = (size_t)snprintf(q, 64, "/v1/me?a=1");
    for (int i = 1; i < 200; i++)
        o += (size_t)snprintf(q + o, 8, "&a=%d", i % 10);
    struct hk_reply *r = hk_http(&srv, "GET", q, srv.admin_key, NULL, NULL, 0,
                                 NULL);
    hk_expect_error(r, 422, "validation_failed", "a");
    hk_reply_free(r);
    free(q);
    hk_expect_alive(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_numbers_in_metadata),
        cmocka_unit_test(test_large_numbers_in_example),
        cmocka_unit_test(test_nul_in_payload_delivered),
        cmocka_unit_test(test_payload_numbers_read_back_exactly),
        cmocka_unit_test(test_numbers_beyond_double),
        cmocka_unit_test(test_nul_refused_where_not_storable),
        cmocka_unit_test(test_dates_out_of_range),
        cmocka_unit_test(test_data_exception_is_invalid),
        cmocka_unit_test(test_swapped_ciphertext_refused),
        cmocka_unit_test(test_migrate_reseals_first_format),
        cmocka_unit_test(test_many_query_parameters_answered),
    };
    return hk_exit_code(
        cmocka_run_group_tests(tests, group_setup, group_teardown));
}
