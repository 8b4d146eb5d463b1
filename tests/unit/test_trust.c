/*
 * test_trust.c - unit tests of trust.c: the store of trusted CAs is the
 * system's certificates plus HOOKD_CA_FILE's (added, duplicates merged,
 * comments around PEM blocks ignored), a bundle that cannot be used is
 * refused with "HOOKD_CA_FILE: why" (by the start-up check too) and
 * leaves the store in use as it was,
 * and every TLS context gets the same store until a reload, after which
 * contexts made before keep theirs. Bundles are written to a temp folder
 * from two fixed self-signed certificates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "trust.h"

#define CERT_ONE                                                               \
    "-----BEGIN CERTIFICATE-----\n"                                            \
    "MIIBmjCCAT+gAwIBAgIUC8HnJ1FtQ3TBesBau9vXyjA87sMwCgYIKoZIzj0EAwIw\n"       \
    "ITEfMB0GA1UEAwwWaG9va2QgdW5pdCB0ZXN0IENBIG9uZTAgFw0yNjEyMDQwOTAy\n"       \
    "MzBaGA8yMTI2MTExMDA5MDIzMFowITEfMB0GA1UEAwwWaG9va2QgdW5pdCB0ZXN0\n"       \
    "IENBIG9uZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABL5PePZo74346Hz7L0zO\n"       \
    "9430iP7dW5VxXUdwYOeURbVM0xIvLaoDRojXYojQdQYad2nBBLEROc0GKrqAU9JP\n"       \
    "WLajUzBRMB0GA1UdDgQWBBSW/h9QD06qjmsjv/7w0fGE+rx16jAfBgNVHSMEGDAW\n"       \
    "gBSW/h9QD06qjmsjv/7w0fGE+rx16jAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49\n"       \
    "BAMCA0kAMEYCIQDuk9r5/oOQ3Rbfa9wc6IlKKNfcpwIu6mac4iWbeNLC5gIhAJgc\n"       \
    "rxkKQlJlaqtrG8UGMob1VPguPzbDcXo2UaNlT4Oo\n"                               \
    "-----END CERTIFICATE-----\n"
#define CERT_TWO                                                               \
    "-----BEGIN CERTIFICATE-----\n"                                            \
    "MIIBmTCCAT+gAwIBAgIUYJdXSiGLR5X19/kPb6Q9kEkgGjcwCgYIKoZIzj0EAwIw\n"       \
    "ITEfMB0GA1UEAwwWaG9va2QgdW5pdCB0ZXN0IENBIHR3bzAgFw0yNjEyMDQwOTAy\n"       \
    "MzBaGA8yMTI2MTExMDA5MDIzMFowITEfMB0GA1UEAwwWaG9va2QgdW5pdCB0ZXN0\n"       \
    "IENBIHR3bzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABB7dXzUhCKMxiXW23iFT\n"       \
    "dkeDZYT9Q+BtQsxrUME+qiOol50dYw6jHvNTpf7yxl4U2EYSBDEPLGd1gffZ5kA/\n"       \
    "cS6jUzBRMB0GA1UdDgQWBBR69J8HWCEG2x86yDTHVKcsTtI5WDAfBgNVHSMEGDAW\n"       \
    "gBR69J8HWCEG2x86yDTHVKcsTtI5WDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49\n"       \
    "BAMCA0gAMEUCIQCqCZVJ+f40sh9ABJKqLdCwBxpvLHP9WPMLfzKw4lH3MwIgatxV\n"       \
    "80Wt6OcZxHoiLF4OInosCBx28/U+fiVccf4xYY4=\n"                               \
    "-----END CERTIFICATE-----\n"

static char dir[] = "/tmp/hookd-trust-XXXXXX";

/* A file in the temp folder holding text; returns its path (static). */
static const char *file_with(const char *name, const char *text)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static void expect_counts(size_t total, size_t extra)
{
    size_t t, x;
    hk_trust_counts(&t, &x);
    assert_int_equal(t, total);
    assert_int_equal(x, extra);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hk_trust_cleanup();
    static const char *const names[] = {"sys.pem",  "one.pem",    "both.pem",
                                        "text.pem", "broken.pem", "comments.pem"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static void test_ca_file_adds_to_system(void **state)
{
    (void)state;
    char err[512];
    const char *sys = file_with("sys.pem", CERT_ONE);
    const char *extra = file_with("one.pem", CERT_TWO);
    assert_int_equal(hk_trust_load_from(sys, NULL, extra, err, sizeof(err)),
                     HK_OK);
    expect_counts(2, 1);
    /* the same certificate in both counts once */
    const char *same = file_with("both.pem", CERT_ONE CERT_TWO);
    assert_int_equal(hk_trust_load_from(sys, NULL, same, err, sizeof(err)),
                     HK_OK);
    expect_counts(2, 2);
    /* no system bundle on this machine: the CA file alone */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/no-system.pem", dir);
    assert_int_equal(
        hk_trust_load_from(missing, missing, extra, err, sizeof(err)), HK_OK);
    expect_counts(1, 1);
    /* no HOOKD_CA_FILE: the system's alone */
    assert_int_equal(hk_trust_load_from(sys, NULL, NULL, err, sizeof(err)),
                     HK_OK);
    expect_counts(1, 0);
}

static void test_comments_around_blocks(void **state)
{
    (void)state;
    char err[512];
    const char *f = file_with("comments.pem",
                              "# internal CA, rotated yearly\n" CERT_ONE
                              "\nsome text between\n" CERT_TWO "# end\n");
    assert_int_equal(hk_trust_load_from(NULL, NULL, f, err, sizeof(err)),
                     HK_OK);
    expect_counts(2, 2);
}

/* A bundle that cannot be used: HK_INVALID with want in err, and the
 * store in use (2 certificates, 1 from the file) stays. */
static void expect_refused(const char *path, const char *want)
{
    char err[512];
    const char *sys = file_with("sys.pem", CERT_ONE);
    const char *good = file_with("one.pem", CERT_TWO);
    assert_int_equal(hk_trust_load_from(sys, NULL, good, err, sizeof(err)),
                     HK_OK);
    assert_int_equal(hk_trust_load_from(sys, NULL, path, err, sizeof(err)),
                     HK_INVALID);
    if (strncmp(err, "HOOKD_CA_FILE: ", 15) != 0 || strstr(err, want) == NULL ||
        strstr(err, path) == NULL)
        fail_msg("loading %s: \"%s\", want HOOKD_CA_FILE, the path and "
                 "\"%s\"",
                 path, err, want);
    expect_counts(2, 1);
    /* the start-up check says the same and leaves the store alone */
    assert_int_equal(hk_trust_check(path, err, sizeof(err)), HK_INVALID);
    if (strstr(err, want) == NULL)
        fail_msg("checking %s: \"%s\", want \"%s\"", path, err, want);
    assert_int_equal(hk_trust_check(good, err, sizeof(err)), HK_OK);
    expect_counts(2, 1);
}

static void test_unusable_bundles_refused(void **state)
{
    (void)state;
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
    expect_refused(missing, "No such file or directory");
    expect_refused(file_with("text.pem", "no certificate here\n"),
                   "holds no certificate");
    expect_refused(file_with("broken.pem", "-----BEGIN CERTIFICATE-----\n"
                                           "bm90IGEgY2VydGlmaWNhdGU=\n"
                                           "-----END CERTIFICATE-----\n"),
                   "is not a valid PEM bundle");
    expect_refused(dir, "is not a regular file");
}

static void test_contexts_share_one_store_per_load(void **state)
{
    (void)state;
    char err[512];
    const char *sys = file_with("sys.pem", CERT_ONE);
    assert_int_equal(hk_trust_load_from(sys, NULL, NULL, err, sizeof(err)),
                     HK_OK);
    SSL_CTX *a = SSL_CTX_new(TLS_client_method());
    SSL_CTX *b = SSL_CTX_new(TLS_client_method());
    assert_true(hk_trust_install(a));
    assert_true(hk_trust_install(b));
    X509_STORE *first = SSL_CTX_get_cert_store(a);
    assert_ptr_equal(first, SSL_CTX_get_cert_store(b));
    assert_int_equal(sk_X509_OBJECT_num(X509_STORE_get0_objects(first)), 1);

    /* a reload: new contexts get the new store, a's keeps the old one */
    const char *extra = file_with("one.pem", CERT_TWO);
    assert_int_equal(hk_trust_load_from(sys, NULL, extra, err, sizeof(err)),
                     HK_OK);
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    assert_true(hk_trust_install(c));
    assert_ptr_not_equal(SSL_CTX_get_cert_store(c), first);
    assert_int_equal(
        sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(c))),
        2);
    assert_int_equal(sk_X509_OBJECT_num(X509_STORE_get0_objects(first)), 1);
    SSL_CTX_free(a);
    SSL_CTX_free(b);
    SSL_CTX_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ca_file_adds_to_system),
        cmocka_unit_test(test_comments_around_blocks),
        cmocka_unit_test(test_unusable_bundles_refused),
        cmocka_unit_test(test_contexts_share_one_store_per_load),
    };
    return cmocka_run_group_tests_name("trust", tests, setup, teardown);
}
