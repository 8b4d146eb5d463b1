/*
 * test_auth.c - unit tests of tenant API key making (hk_auth_new_key): the
 * key's shape (hk_ and 40 characters of [A-Za-z0-9]), the lookup prefix
 * that is stored beside it (its first 11 characters), the SHA-256 of the
 * whole key that is stored instead of it (checked against OpenSSL's own
 * digest, not hookd's), and that keys are fresh: no two alike among many,
 * nor two prefixes, and every character of the alphabet in use. Buffers
 * are heap blocks of exactly the documented sizes, so that a write past
 * them stops the test under AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "auth.h"
#include "crypto.h"

#define MANY 2000

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

struct made {
    char *key;
    char *prefix;
    unsigned char *hash;
};

static void make(struct made *m)
{
    m->key = malloc(HK_KEY_LEN + 1);
    m->prefix = malloc(HK_KEY_PREFIX_LEN + 1);
    m->hash = malloc(32);
    assert_true(m->key != NULL && m->prefix != NULL && m->hash != NULL);
    hk_auth_new_key(m->key, m->prefix, m->hash);
}

static void made_free(struct made *m)
{
    free(m->key);
    free(m->prefix);
    free(m->hash);
}

static void sha256_openssl(const void *data, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    assert_int_equal(EVP_Digest(data, n, out, &len, EVP_sha256(), NULL), 1);
    assert_int_equal(len, 32);
}

static void test_key_shape(void **state)
{
    (void)state;
    assert_int_equal(HK_KEY_LEN, 43);
    assert_int_equal(HK_KEY_PREFIX_LEN, 11);
    struct made m;
    make(&m);
    assert_int_equal(strlen(m.key), HK_KEY_LEN);
    assert_memory_equal(m.key, "hk_", 3);
    for (size_t i = 3; i < HK_KEY_LEN; i++)
        if (strchr(alphabet, m.key[i]) == NULL || m.key[i] == '\0')
            fail_msg("key character %zu is 0x%02x, not [A-Za-z0-9]: %s", i,
                     (unsigned char)m.key[i], m.key);
    made_free(&m);
}

static void test_prefix_is_start_of_key(void **state)
{
    (void)state;
    struct made m;
    make(&m);
    assert_int_equal(strlen(m.prefix), HK_KEY_PREFIX_LEN);
    assert_memory_equal(m.prefix, m.key, HK_KEY_PREFIX_LEN);
    assert_memory_equal(m.prefix, "hk_", 3);
    /* the prefix is a lookup handle, not the key */
    assert_true(strlen(m.prefix) < strlen(m.key));
    made_free(&m);
}

static void test_hash_is_sha256_of_whole_key(void **state)
{
    (void)state;
    struct made m;
    make(&m);
    unsigned char want[32], other[32];
    sha256_openssl(m.key, HK_KEY_LEN, want);
    assert_memory_equal(m.hash, want, 32);
    /* not of the prefix, nor of the key without hk_, nor with its NUL */
    sha256_openssl(m.prefix, HK_KEY_PREFIX_LEN, other);
    assert_memory_not_equal(m.hash, other, 32);
    sha256_openssl(m.key + 3, HK_KEY_LEN - 3, other);
    assert_memory_not_equal(m.hash, other, 32);
    sha256_openssl(m.key, HK_KEY_LEN + 1, other);
    assert_memory_not_equal(m.hash, other, 32);
    /* what auth.c computes for a presented token agrees */
    hk_sha256(m.key, strlen(m.key), other);
    assert_memory_equal(m.hash, other, 32);
    made_free(&m);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_keys_are_fresh(void **state)
{
    (void)state;
    struct made a, b;
    make(&a);
    make(&b);
    assert_string_not_equal(a.key, b.key);
    assert_memory_not_equal(a.hash, b.hash, 32);
    made_free(&a);
    made_free(&b);

    /* many keys: none alike, no prefix alike (8 random characters, so a
     * repeat among 2000 has odds near 1e-8), every character used */
    char **keys = calloc(MANY, sizeof(*keys));
    char **prefixes = calloc(MANY, sizeof(*prefixes));
    assert_true(keys != NULL && prefixes != NULL);
    size_t seen[128] = {0};
    for (size_t i = 0; i < MANY; i++) {
        struct made m;
        make(&m);
        unsigned char want[32];
        sha256_openssl(m.key, HK_KEY_LEN, want);
        assert_memory_equal(m.hash, want, 32);
        for (size_t k = 3; k < HK_KEY_LEN; k++)
            seen[(unsigned char)m.key[k] & 127]++;
        keys[i] = m.key;
        prefixes[i] = m.prefix;
        free(m.hash);
    }
    qsort(keys, MANY, sizeof(*keys), cmp_str);
    qsort(prefixes, MANY, sizeof(*prefixes), cmp_str);
    for (size_t i = 1; i < MANY; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0)
            fail_msg("the same key made twice: %s", keys[i]);
        if (strcmp(prefixes[i - 1], prefixes[i]) == 0)
            fail_msg("the same prefix made twice: %s", prefixes[i]);
    }
    /* 80000 characters over 62: about 1290 each; a character never or
     * seldom drawn means a broken alphabet or a biased draw */
    for (const char *c = alphabet; *c != '\0'; c++)
        if (seen[(unsigned char)*c] < 900 || seen[(unsigned char)*c] > 1700)
            fail_msg("'%c' drawn %zu times in %d keys, expected about %d", *c,
                     seen[(unsigned char)*c], MANY, MANY * 40 / 62);
    for (size_t i = 0; i < MANY; i++) {
        free(keys[i]);
        free(prefixes[i]);
    }
    free(keys);
    free(prefixes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_shape),
        cmocka_unit_test(test_prefix_is_start_of_key),
        cmocka_unit_test(test_hash_is_sha256_of_whole_key),
        cmocka_unit_test(test_keys_are_fresh),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
