/*
 * test_sign.c - unit tests of sign.c: the published Standard Webhooks
 * vector, headers carrying several signatures, rejection of a wrong secret,
 * body, id or timestamp, and the shape rules of endpoint secrets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "sign.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define TS 1614265330
#define BODY "{\"test\": 2432232314}"
#define SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define OTHER_SECRET "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static void test_published_vector(void **state)
{
    (void)state;
    char *sig = hk_sign(SECRET, MSG_ID, TS, BODY, strlen(BODY));
    assert_non_null(sig);
    assert_string_equal(sig, SIG);
    free(sig);
    assert_true(hk_sign_verify(SECRET, MSG_ID, TS, BODY, strlen(BODY), SIG));
}

/* A message id longer than sign.c's stack buffer for "id.timestamp." is
 * signed over the same content: HMAC of "id.ts.body" with the secret's
 * key, computed here by hand. */
static void test_long_message_id(void **state)
{
    (void)state;
    char id[400];
    memset(id, 'm', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    char *sig = hk_sign(SECRET, id, TS, BODY, strlen(BODY));
    assert_non_null(sig);

    unsigned char *key;
    size_t keylen;
    assert_int_equal(hk_base64_decode(SECRET + 6, &key, &keylen), HK_OK);
    char *content = hk_asprintf("%s.%d.%s", id, TS, BODY);
    unsigned char mac[HK_SHA256_LEN];
    hk_hmac_sha256(key, keylen, content, strlen(content), mac);
    char *b64 = hk_base64_encode(mac, sizeof(mac));
    char *want = hk_asprintf("v1,%s", b64);
    assert_string_equal(sig, want);
    assert_true(hk_sign_verify(SECRET, id, TS, BODY, strlen(BODY), sig));
    id[0] = 'n';
    assert_false(hk_sign_verify(SECRET, id, TS, BODY, strlen(BODY), sig));
    free(want);
    free(b64);
    free(content);
    free(key);
    free(sig);
}

static void test_verify_rejects_changes(void **state)
{
    (void)state;
    size_t n = strlen(BODY);
    assert_false(hk_sign_verify(OTHER_SECRET, MSG_ID, TS, BODY, n, SIG));
    assert_false(hk_sign_verify(SECRET, "msg_other", TS, BODY, n, SIG));
    assert_false(hk_sign_verify(SECRET, MSG_ID, TS + 1, BODY, n, SIG));
    assert_false(
        hk_sign_verify(SECRET, MSG_ID, TS, "{\"test\": 2432232315}", n, SIG));
    /* The body length counts: a prefix of the body is another message. */
    assert_false(hk_sign_verify(SECRET, MSG_ID, TS, BODY, n - 1, SIG));
    /* One changed base64 character of the signature. */
    assert_false(
        hk_sign_verify(SECRET, MSG_ID, TS, BODY, n,
                       "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="));
    /* Other versions, truncations and garbage. */
    assert_false(
        hk_sign_verify(SECRET, MSG_ID, TS, BODY, n,
                       "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    assert_false(
        hk_sign_verify(SECRET, MSG_ID, TS, BODY, n,
                       "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    assert_false(hk_sign_verify(SECRET, MSG_ID, TS, BODY, n, "v1,g0hM9SsE"));
    assert_false(hk_sign_verify(SECRET, MSG_ID, TS, BODY, n, "v1,"));
    assert_false(hk_sign_verify(SECRET, MSG_ID, TS, BODY, n, ""));
    assert_false(hk_sign_verify(SECRET, MSG_ID, TS, BODY, n, NULL));
}

static void test_multi_signature_header(void **state)
{
    (void)state;
    size_t n = strlen(BODY);
    char *other = hk_sign(OTHER_SECRET, MSG_ID, TS, BODY, n);
    assert_non_null(other);
    assert_string_not_equal(other, SIG);

    /* During a rotation both secrets sign; either verifier accepts. */
    char *header = hk_asprintf("%s %s", other, SIG);
    assert_true(hk_sign_verify(SECRET, MSG_ID, TS, BODY, n, header));
    assert_true(hk_sign_verify(OTHER_SECRET, MSG_ID, TS, BODY, n, header));
    free(header);

    header = hk_asprintf("%s  %s ", SIG, other);
    assert_true(hk_sign_verify(SECRET, MSG_ID, TS, BODY, n, header));
    assert_true(hk_sign_verify(OTHER_SECRET, MSG_ID, TS, BODY, n, header));
    free(header);

    /* Unknown versions beside a good v1 do not spoil it. */
    header = hk_asprintf("v1a,abcd %s", SIG);
    assert_true(hk_sign_verify(SECRET, MSG_ID, TS, BODY, n, header));
    free(header);

    /* A third secret matches neither. */
    const char *third = "whsec_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    header = hk_asprintf("%s %s", other, SIG);
    assert_false(hk_sign_verify(third, MSG_ID, TS, BODY, n, header));
    free(header);
    free(other);
}

static void test_malformed_secret(void **state)
{
    (void)state;
    size_t n = strlen(BODY);
    static const char *const bad[] = {
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",        /* no prefix */
        "whsec_",                                  /* no key */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",  /* bad character */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwA", /* bad length */
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        char *sig = hk_sign(bad[i], MSG_ID, TS, BODY, n);
        if (sig) {
            free(sig);
            fail_msg("signed with \"%s\"", bad[i]);
        }
        assert_false(hk_sign_verify(bad[i], MSG_ID, TS, BODY, n, SIG));
        assert_int_equal(hk_secret_check(bad[i]), HK_INVALID);
    }
    assert_null(hk_sign(NULL, MSG_ID, TS, BODY, n));
}

static void test_secret_check(void **state)
{
    (void)state;
    assert_int_equal(hk_secret_check(SECRET), HK_OK); /* 24 bytes */
    /* 23 bytes is too short, 64 is the most, 65 too long. */
    unsigned char key[65];
    memset(key, 7, sizeof(key));
    size_t lens[] = {23, 24, 32, 64, 65};
    enum hk_result want[] = {HK_INVALID, HK_OK, HK_OK, HK_OK, HK_INVALID};
    for (size_t i = 0; i < HK_ARRAY_LEN(lens); i++) {
        char *b64 = hk_base64_encode(key, lens[i]);
        char *s = hk_asprintf("whsec_%s", b64);
        assert_int_equal(hk_secret_check(s), want[i]);
        free(s);
        free(b64);
    }
    assert_int_equal(hk_secret_check(NULL), HK_INVALID);
}

static void test_secret_generate(void **state)
{
    (void)state;
    char *a = hk_secret_generate();
    char *b = hk_secret_generate();
    assert_int_equal(strncmp(a, "whsec_", 6), 0);
    assert_int_equal(strlen(a), 6 + 44);
    assert_int_equal(hk_secret_check(a), HK_OK);
    assert_string_not_equal(a, b);

    /* A generated secret signs and verifies. */
    char *sig = hk_sign(a, "msg_1", 1700000000, "{}", 2);
    assert_non_null(sig);
    assert_true(hk_sign_verify(a, "msg_1", 1700000000, "{}", 2, sig));
    assert_false(hk_sign_verify(b, "msg_1", 1700000000, "{}", 2, sig));
    free(sig);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_vector),
        cmocka_unit_test(test_long_message_id),
        cmocka_unit_test(test_verify_rejects_changes),
        cmocka_unit_test(test_multi_signature_header),
        cmocka_unit_test(test_malformed_secret),
        cmocka_unit_test(test_secret_check),
        cmocka_unit_test(test_secret_generate),
    };
    return cmocka_run_group_tests_name("sign", tests, NULL, NULL);
}
