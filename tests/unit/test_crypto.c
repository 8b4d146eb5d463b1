/*
 * test_crypto.c - unit tests of crypto.c against published vectors
 * (FIPS 180-2 SHA-256, RFC 4231 HMAC-SHA256, RFC 4648 base64) and of the
 * AES-256-GCM sealing: round trips, and refusal of a blob with any byte
 * changed (nonce, ciphertext, tag), cut short, or opened with another key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static void test_sha256(void **state)
{
    (void)state;
    char out[65];
    hk_sha256_hex("abc", 3, out);
    assert_string_equal(
        out,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hk_sha256_hex("", 0, out);
    assert_string_equal(
        out,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    unsigned char md[HK_SHA256_LEN];
    hk_sha256(two, strlen(two), md);
    hex(md, sizeof(md), out);
    assert_string_equal(
        out,
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hmac_rfc4231(void **state)
{
    (void)state;
    unsigned char mac[HK_SHA256_LEN];
    char out[65];

    /* Test case 1 */
    unsigned char key1[20];
    memset(key1, 0x0b, sizeof(key1));
    hk_hmac_sha256(key1, sizeof(key1), "Hi There", 8, mac);
    hex(mac, sizeof(mac), out);
    assert_string_equal(
        out,
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    /* Test case 2: a key shorter than the block */
    const char *data2 = "what do ya want for nothing?";
    hk_hmac_sha256("Jefe", 4, data2, strlen(data2), mac);
    hex(mac, sizeof(mac), out);
    assert_string_equal(
        out,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    /* Test case 6: a key longer than the block is hashed first */
    unsigned char key6[131];
    memset(key6, 0xaa, sizeof(key6));
    const char *data6 =
        "Test Using Larger Than Block-Size Key - Hash Key First";
    hk_hmac_sha256(key6, sizeof(key6), data6, strlen(data6), mac);
    hex(mac, sizeof(mac), out);
    assert_string_equal(
        out,
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* A message hashed in pieces, split anywhere and with empty pieces
 * between, has the MAC of the whole message. */
static void test_hmac_pieces_match_whole(void **state)
{
    (void)state;
    const char *key = "a key for pieces";
    const char *msg = "msg_2hQx.1614265330.{\"type\":\"user.created\"}";
    size_t n = strlen(msg);
    unsigned char whole[HK_SHA256_LEN], parts[HK_SHA256_LEN];
    hk_hmac_sha256(key, strlen(key), msg, n, whole);
    for (size_t cut = 0; cut <= n; cut++) {
        struct hk_piece p[] = {
            {msg, cut}, {"", 0}, {msg + cut, n - cut}, {NULL, 0}};
        hk_hmac_sha256_pieces(key, strlen(key), p, 4, parts);
        assert_memory_equal(parts, whole, sizeof(whole));
    }
    /* and a different split of a different message does not match */
    struct hk_piece other[] = {{msg, n - 1}};
    hk_hmac_sha256_pieces(key, strlen(key), other, 1, parts);
    assert_memory_not_equal(parts, whole, sizeof(whole));
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(hk_ct_equal("abcdef", "abcdef", 6));
    assert_false(hk_ct_equal("abcdef", "abcdeg", 6));
    assert_false(hk_ct_equal("xbcdef", "abcdef", 6));
    assert_true(hk_ct_equal("a", "b", 0));
}

static void test_base64_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10 */
    static const char *const plain[] = {"",     "f",     "fo",    "foo",
                                        "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < HK_ARRAY_LEN(plain); i++) {
        char *e = hk_base64_encode(plain[i], strlen(plain[i]));
        assert_string_equal(e, enc[i]);
        free(e);

        unsigned char *d = NULL;
        size_t n = 99;
        assert_int_equal(hk_base64_decode(enc[i], &d, &n), HK_OK);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(d, plain[i], n);
        assert_int_equal(d[n], '\0');
        free(d);
    }
    /* Padding is optional. */
    unsigned char *d = NULL;
    size_t n = 0;
    assert_int_equal(hk_base64_decode("Zm9vYg", &d, &n), HK_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(d, "foob", 4);
    free(d);
    assert_int_equal(hk_base64_decode("Zm9vYmE", &d, &n), HK_OK);
    assert_int_equal(n, 5);
    free(d);
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    unsigned char data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof(data); n++) {
        char *e = hk_base64_encode(data, n);
        assert_int_equal(strlen(e), 4 * ((n + 2) / 3));
        unsigned char *d = NULL;
        size_t dn = 0;
        assert_int_equal(hk_base64_decode(e, &d, &dn), HK_OK);
        assert_int_equal(dn, n);
        if (n)
            assert_memory_equal(d, data, n);
        free(d);
        free(e);
    }
}

static void test_base64_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Z",                    /* one character cannot carry a byte */
        "Zm9vY",                /* same, after a full group */
        "Zg=",                  /* padded but not to a multiple of 4 */
        "Z===",                 /* three padding characters */
        "Zm9v====", "Zm 9v",    /* whitespace */
        "Zm9v\n",   "Zm-_",     /* URL-safe alphabet is not standard base64 */
        "Zm9v!A==", "Zg==Zg==", /* padding in the middle */
        "=Zg=",     "Zh==", /* non-zero stray bits: not a canonical spelling */
        "Zm9=",     "====",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        unsigned char *d = NULL;
        size_t n = 0;
        if (hk_base64_decode(bad[i], &d, &n) != HK_INVALID)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_null(d);
    }
}

static const unsigned char key_a[HK_AES_KEY_LEN] = {
    0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
    0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
    0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
/* key_a with its last bit flipped. */
static const unsigned char key_b[HK_AES_KEY_LEN] = {
    0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
    0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
    0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf5};

#define AD "01890a5d-ac96-774b-bcce-b302099a8057/01890a5d-ac96-774b-bcce-b302099a8058"

/* A sealed secret opens only with the associated data it was sealed with:
 * copied to another endpoint's row (or another tenant's), it is refused;
 * a blob of the first format (no format byte, no associated data) opens
 * only through hk_open_unbound. */
static void test_seal_bound_to_its_row(void **state)
{
    (void)state;
    char ad1[HK_SECRET_AD_LEN], ad2[HK_SECRET_AD_LEN], ad3[HK_SECRET_AD_LEN];
    hk_secret_binding("01890a5d-ac96-774b-bcce-b302099a8057",
                      "01890a5d-ac96-774b-bcce-b302099a8058", ad1);
    assert_string_equal(ad1, AD);
    hk_secret_binding("01890a5d-ac96-774b-bcce-b302099a8057",
                      "01890a5d-ac96-774b-bcce-b302099a8059", ad2);
    hk_secret_binding("01890a5d-ac96-774b-bcce-b302099a8056",
                      "01890a5d-ac96-774b-bcce-b302099a8058", ad3);
    unsigned char *blob, *out = NULL;
    size_t bloblen, outlen;
    hk_seal(key_a, ad1, strlen(ad1), "whsec_x", 7, &blob, &bloblen);
    assert_int_equal(hk_open(key_a, ad2, strlen(ad2), blob, bloblen, &out,
                             &outlen),
                     HK_INVALID);
    assert_int_equal(hk_open(key_a, ad3, strlen(ad3), blob, bloblen, &out,
                             &outlen),
                     HK_INVALID);
    assert_int_equal(hk_open_unbound(key_a, blob, bloblen, &out, &outlen),
                     HK_INVALID);
    assert_int_equal(hk_open_unbound(key_a, blob + 1, bloblen - 1, &out,
                                     &outlen),
                     HK_INVALID);
    assert_null(out);
    assert_int_equal(hk_open(key_a, ad1, strlen(ad1), blob, bloblen, &out,
                             &outlen),
                     HK_OK);
    assert_memory_equal(out, "whsec_x", 7);
    free(out);
    /* a blob of another format byte is refused before any decryption */
    blob[0] = 1;
    assert_int_equal(hk_open(key_a, ad1, strlen(ad1), blob, bloblen, &out,
                             &outlen),
                     HK_INVALID);
    free(blob);
}

static void test_seal_round_trip(void **state)
{
    (void)state;
    static const char *const msgs[] = {"", "x", "whsec_MfKQ9r8GKYqrTwjUPD8IL",
                                       "a longer secret that spans more "
                                       "than one AES block of sixteen bytes"};
    for (size_t i = 0; i < HK_ARRAY_LEN(msgs); i++) {
        size_t n = strlen(msgs[i]);
        unsigned char *blob = NULL;
        size_t bloblen = 0;
        hk_seal(key_a, AD, strlen(AD), msgs[i], n, &blob, &bloblen);
        assert_int_equal(bloblen, 1 + 12 + n + 16);
        assert_int_equal(blob[0], HK_SEAL_FORMAT);
        if (n > 0)
            assert_memory_not_equal(blob + 13, msgs[i], n);

        unsigned char *out = NULL;
        size_t outlen = 0;
        assert_int_equal(hk_open(key_a, AD, strlen(AD), blob, bloblen, &out, &outlen), HK_OK);
        assert_int_equal(outlen, n);
        assert_string_equal((char *)out, msgs[i]);
        free(out);
        free(blob);
    }
}

static void test_seal_fresh_nonce(void **state)
{
    (void)state;
    unsigned char *b1, *b2;
    size_t n1, n2;
    hk_seal(key_a, AD, strlen(AD), "same", 4, &b1, &n1);
    hk_seal(key_a, AD, strlen(AD), "same", 4, &b2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_not_equal(b1, b2, n1);
    free(b1);
    free(b2);
}

static void test_open_detects_tampering(void **state)
{
    (void)state;
    const char *msg = "whsec_tamper-me-please-0123456789";
    size_t n = strlen(msg);
    unsigned char *blob;
    size_t bloblen;
    hk_seal(key_a, AD, strlen(AD), msg, n, &blob, &bloblen);

    /* Every byte position: format (0), nonce (1..12), ciphertext, tag
     * (last 16), and
     * for each a low-bit and a high-bit flip. */
    for (size_t i = 0; i < bloblen; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            blob[i] ^= (unsigned char)(1u << bit);
            unsigned char *out = NULL;
            size_t outlen = 0;
            if (hk_open(key_a, AD, strlen(AD), blob, bloblen, &out, &outlen) != HK_INVALID)
                fail_msg("flip of bit %d at byte %zu not detected", bit, i);
            assert_null(out);
            blob[i] ^= (unsigned char)(1u << bit);
        }
    }

    unsigned char *out = NULL;
    size_t outlen = 0;
    /* Wrong key. */
    assert_int_equal(hk_open(key_b, AD, strlen(AD), blob, bloblen, &out, &outlen), HK_INVALID);
    assert_null(out);
    /* Truncated: one byte short, and shorter than nonce + tag. */
    assert_int_equal(hk_open(key_a, AD, strlen(AD), blob, bloblen - 1, &out, &outlen),
                     HK_INVALID);
    assert_int_equal(hk_open(key_a, AD, strlen(AD), blob, 28, &out, &outlen), HK_INVALID);
    assert_int_equal(hk_open(key_a, AD, strlen(AD), blob, 0, &out, &outlen), HK_INVALID);
    assert_null(out);
    /* The untouched blob still opens. */
    assert_int_equal(hk_open(key_a, AD, strlen(AD), blob, bloblen, &out, &outlen), HK_OK);
    assert_int_equal(outlen, n);
    assert_memory_equal(out, msg, n);
    free(out);
    free(blob);
}

static void test_random(void **state)
{
    (void)state;
    unsigned char a[32], b[32];
    hk_random_bytes(a, sizeof(a));
    hk_random_bytes(b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));

    char tok[65];
    int seen[128] = {0};
    for (int round = 0; round < 50; round++) {
        hk_random_token(tok, 64);
        assert_int_equal(strlen(tok), 64);
        for (int i = 0; i < 64; i++) {
            char c = tok[i];
            assert_true((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9'));
            seen[(unsigned char)c] = 1;
        }
    }
    /* 3200 draws over 62 symbols: every one shows up. */
    int distinct = 0;
    for (int i = 0; i < 128; i++)
        distinct += seen[i];
    assert_int_equal(distinct, 62);
    hk_random_token(tok, 0);
    assert_string_equal(tok, "");
}

/* The pooled source hands out every byte once: draws that cross the
 * pool's refills never repeat a run of earlier bytes, and each byte value
 * turns up (4,000 bytes over 256 values). */
static void test_random_public(void **state)
{
    (void)state;
    enum { N = 4000, STEP = 10 };
    unsigned char *buf = calloc(N, 1);
    assert_non_null(buf);
    for (size_t i = 0; i < N; i += STEP)
        hk_random_public(buf + i, STEP);
    hk_random_public(buf, 700); /* longer than the pool */
    int seen[256] = {0};
    for (size_t i = 0; i < N; i++)
        seen[buf[i]] = 1;
    int distinct = 0;
    for (int i = 0; i < 256; i++)
        distinct += seen[i];
    assert_int_equal(distinct, 256);
    for (size_t i = 0; i + 16 <= N; i += 16)
        for (size_t j = i + 16; j + 16 <= N; j += 16)
            assert_memory_not_equal(buf + i, buf + j, 16);
    free(buf);

    char tok[25];
    hk_random_public_token(tok, 24);
    assert_int_equal(strlen(tok), 24);
    char again[25];
    hk_random_public_token(again, 24);
    assert_string_not_equal(tok, again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_hmac_pieces_match_whole),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_bad),
        cmocka_unit_test(test_seal_round_trip),
        cmocka_unit_test(test_seal_bound_to_its_row),
        cmocka_unit_test(test_seal_fresh_nonce),
        cmocka_unit_test(test_open_detects_tampering),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_random_public),
    };
    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
