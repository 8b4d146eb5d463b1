/*
 * test_signatures.c - hookd's signatures checked by an implementation that
 * is not hookd's: two endpoints with their own secrets receive about twenty
 * deliveries (varied payloads, one retried so it is signed twice), the
 * requests are written with each endpoint's secret to a JSON file under
 * build/test-logs/, and tests/node/verify-signatures.mjs verifies them with
 * the official `standardwebhooks` npm package and checks that tampered
 * requests are rejected. A second file with one wrong secret must make the
 * verifier fail, so the check is known to bite. One hookd (serve) and one
 * receiver for the file.
 */
#include "engine_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;

static int group_setup(void **state)
{
    (void)state;
    static const char *const types[] = {"sig.one", "sig.two", NULL};
    return hk_group_start(&srv, NULL, &rcv, types);
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_group_finish(&srv, &rcv);
}

/* Appends every request the receiver got at path to arr, with secret (and
 * the other endpoint's secret, which must not verify them). */
static void add_messages(json_t *arr, const char *path, const char *secret,
                         const char *other_secret)
{
    for (size_t i = 0;; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, path, i);
        if (q == NULL)
            break;
        json_t *hdrs = json_object();
        for (size_t k = 0; k < q->nhdrs; k++) {
            char name[128];
            size_t n = strlen(q->hdrs[k].name);
            if (n >= sizeof name)
                n = sizeof name - 1;
            for (size_t c = 0; c < n; c++) {
                char ch = q->hdrs[k].name[c];
                name[c] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
            }
            name[n] = '\0';
            json_object_set_new(hdrs, name, json_string(q->hdrs[k].value));
        }
        json_t *body = json_stringn(q->body, q->body_len);
        if (body == NULL)
            fail_msg("request %zu at %s has a body that is not UTF-8", i, path);
        char *label = hk_fmt("%s #%zu (webhook-id %s)", path, i,
                             hk_rcv_req_header(q, "webhook-id"));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:o}",
                                             "label", label, "secret", secret,
                                             "other_secret", other_secret,
                                             "headers", hdrs, "body", body));
        free(label);
    }
}

static void write_json(json_t *messages, const char *file)
{
    json_t *doc = json_pack("{s:O}", "messages", messages);
    if (json_dump_file(doc, file, JSON_INDENT(2)) != 0)
        fail_msg("cannot write %s", file);
    json_decref(doc);
}

static int run_verifier(const char *file)
{
    char *script =
        hk_fmt("%s/tests/node/verify-signatures.mjs", srv.source_dir);
    char *node_path = hk_fmt("NODE_PATH=%s/tests/node_modules", srv.source_dir);
    const char *argv[] = {"node", script, file, NULL};
    const char *env[] = {node_path, NULL};
    int rc = hk_eng_run(argv, env, 60000);
    free(script);
    free(node_path);
    return rc;
}

static void test_official_verifier_accepts(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], ea[HK_ID_LEN], eb[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "signatures", tid);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/sig/a",
                        "\"event_types\":[\"*\"]", ea);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/sig/b?via=query",
                        "\"event_types\":[\"sig.one\"]", eb);
    char *sa = hk_eng_secret(&srv, key, tid, ea);
    char *sb = hk_eng_secret(&srv, key, tid, eb);
    assert_string_not_equal(sa, sb);

    /* one request to b fails first, so one event is signed twice */
    hk_rcv_push(
        rcv, &(struct hk_rcv_resp){500, NULL, "retry me", 0, false, "/sig/b"});
    static const char *const payloads[] = {
        "{}",
        "{\"a\":1}",
        "{ \"spaced\" :\t[1, 2 , 3 ]\n}",
        "{\"text\":\"caf\\u00e9 \\ud83d\\ude00 \\\"quoted\\\" \\\\ back\"}",
        "{\"raw\":\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6\"}",
        "[1,\"two\",{\"three\":3},null,true,false]",
        "{\"n\":-1.5e-3,\"big\":123456789012,\"zero\":0}",
        "{\"nested\":{\"deeper\":{\"deepest\":[{\"k\":\"v\"}]}}}",
        "{\"html\":\"<a href='x'>&amp;</a>\",\"slash\":\"\\/path\"}",
        "{\"ctrl\":\"tab\\tnl\\ncr\\r\"}",
        "{\"long\":"
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        "{\"last\":true}",
    };
    enum { NP = sizeof payloads / sizeof payloads[0] };
    size_t to_b = 0;
    for (size_t i = 0; i < NP; i++) {
        const char *type = i % 3 == 2 ? "sig.two" : "sig.one";
        to_b += strcmp(type, "sig.one") == 0;
        hk_eng_event(&srv, key, tid, type, payloads[i], NULL);
    }
    if (!hk_rcv_wait_for_path(rcv, "/sig/a", NP, 15000) ||
        !hk_rcv_wait_for_path(rcv, "/sig/b", to_b + 1, 15000))
        fail_msg("the receiver got %zu requests at /sig/a (expected %d) and "
                 "%zu at /sig/b (expected %zu)",
                 hk_rcv_count_path(rcv, "/sig/a"), (int)NP,
                 hk_rcv_count_path(rcv, "/sig/b"), to_b + 1);

    /* our own verifier agrees first */
    for (size_t i = 0; i < NP; i++)
        assert_true(hk_eng_sig_ok(hk_rcv_get_path(rcv, "/sig/a", i), sa));
    for (size_t i = 0; i < to_b + 1; i++)
        assert_true(hk_eng_sig_ok(hk_rcv_get_path(rcv, "/sig/b", i), sb));

    json_t *msgs = json_array();
    add_messages(msgs, "/sig/a", sa, sb);
    add_messages(msgs, "/sig/b", sb, sa);
    assert_true(json_array_size(msgs) >= 20);
    char *file =
        hk_fmt("%s/test_signatures-%ld.json", srv.log_dir, (long)getpid());
    write_json(msgs, file);
    int rc = run_verifier(file);
    if (rc != 0)
        fail_msg("node verify-signatures.mjs %s exited with %d", file, rc);

    /* the verifier bites: one message with the other endpoint's secret */
    json_t *bad = json_deep_copy(msgs);
    json_object_set_new(json_array_get(bad, 3), "secret", json_string(sb));
    char *bad_file = hk_fmt("%s/test_signatures-%ld-wrong-secret.json",
                            srv.log_dir, (long)getpid());
    write_json(bad, bad_file);
    print_message("a message with a wrong secret follows; the verifier must "
                  "reject it\n");
    rc = run_verifier(bad_file);
    if (rc != 1)
        fail_msg("the verifier exited with %d on a message signed with "
                 "another secret; expected 1",
                 rc);
    json_decref(bad);
    json_decref(msgs);
    free(bad_file);
    free(file);
    free(sa);
    free(sb);
    free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_official_verifier_accepts),
    };
    int rc = cmocka_run_group_tests_name("signatures", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
