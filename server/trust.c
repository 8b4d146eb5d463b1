/*
 * trust.c - the process's trusted certificate authorities, in one OpenSSL
 * X509 store. libcurl, left to itself on Debian (a CA bundle file and a CA
 * directory both configured), parses the whole system bundle again for
 * every new TLS connection; hookd instead tells curl to load nothing and
 * installs this store, already parsed, into each connection's SSL_CTX
 * (deliver.c does that through its SSL_CTX callback). The store holds the
 * system bundle's certificates and looks up the system directory by
 * subject hash (OpenSSL's compiled-in locations, so that an environment
 * variable cannot change what hookd trusts), then adds HOOKD_CA_FILE's:
 * an internal CA is trusted beside the public ones, not instead of them.
 * What a connection checks with the store (chain, expiry, host name) is
 * curl's and OpenSSL's business.
 */
#include "trust.h"
#include "log.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char *checked_file;    /* under mu: the CA file hk_trust_check saw */
static X509_STORE *current;   /* under mu */
static size_t current_total;  /* under mu */
static size_t current_extra;  /* under mu */

/* Writes "HOOKD_CA_FILE: <fmt>" into err. */
static void ca_file_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ca_file_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    int n = snprintf(err, errlen, "HOOKD_CA_FILE: ");
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* OpenSSL's reason for the last failure, or a fallback; clears the queue. */
static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "not a PEM certificate bundle";
}

/* Adds every certificate of the PEM bundle at path to store; *added gets
 * how many. Returns false with msg ("cannot read ...", "... is not a valid
 * PEM bundle: ...") when the file cannot be read or a PEM block in it does
 * not parse. Text around the PEM blocks is ignored, as in every CA bundle
 * with comments. */
static bool add_bundle(X509_STORE *store, const char *path, size_t *added,
                       char *msg, size_t msglen)
{
    struct stat st;
    *added = 0;
    if (stat(path, &st) != 0) {
        snprintf(msg, msglen, "cannot read \"%s\": %s", path, strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(msg, msglen, "\"%s\" is not a regular file", path);
        return false;
    }
    errno = 0;
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        snprintf(msg, msglen, "cannot read \"%s\": %s", path,
                 strerror(errno ? errno : EACCES));
        ERR_clear_error();
        return false;
    }
    STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (infos == NULL) {
        snprintf(msg, msglen, "\"%s\" is not a valid PEM bundle: %s", path,
                 openssl_reason());
        return false;
    }
    bool ok = true;
    for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *xi = sk_X509_INFO_value(infos, i);
        if (xi->x509 == NULL)
            continue;
        if (X509_STORE_add_cert(store, xi->x509) != 1) {
            snprintf(msg, msglen, "\"%s\": a certificate cannot be added: %s",
                     path, openssl_reason());
            ok = false;
            break;
        }
        (*added)++;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    return ok;
}

/* Certificates held in memory by the store (the directory's are counted
 * once a connection has looked them up). */
static size_t store_count(X509_STORE *store)
{
    size_t n = 0;
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
        if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) ==
            X509_LU_X509)
            n++;
    return n;
}

/* Builds a store from the system locations and ca_file; on failure err
 * gets "HOOKD_CA_FILE: why" and *out is NULL. */
static enum hk_result build(const char *sys_file, const char *sys_dir,
                            const char *ca_file, X509_STORE **out,
                            size_t *total, size_t *from_ca_file, char *err,
                            size_t errlen)
{
    *out = NULL;
    X509_STORE *store = X509_STORE_new();
    if (store == NULL) {
        hk_log_error("out of memory", "where", "X509_STORE_new");
        abort();
    }
    /* What curl sets on a store it loads itself: a certificate in the
     * store ends the chain there even when it is an intermediate, and
     * trusted certificates are preferred over ones the peer sent. */
    X509_STORE_set_flags(store,
                         X509_V_FLAG_TRUSTED_FIRST | X509_V_FLAG_PARTIAL_CHAIN);

    size_t n = 0, extra = 0;
    char msg[600];
    struct stat st;
    if (sys_file != NULL && stat(sys_file, &st) == 0 &&
        !add_bundle(store, sys_file, &n, msg, sizeof(msg)))
        hk_log_warn("the system CA bundle could not be read in full",
                    "error", msg);
    if (sys_dir != NULL && stat(sys_dir, &st) == 0 && S_ISDIR(st.st_mode) &&
        X509_STORE_load_path(store, sys_dir) != 1)
        hk_log_warn("the system CA directory cannot be used", "directory",
                    sys_dir, "error", openssl_reason());
    if (ca_file != NULL) {
        if (!add_bundle(store, ca_file, &extra, msg, sizeof(msg))) {
            ca_file_error(err, errlen, "%s", msg);
            X509_STORE_free(store);
            return HK_INVALID;
        }
        if (extra == 0) {
            ca_file_error(err, errlen,
                          "\"%s\" holds no certificate (expected PEM "
                          "blocks of BEGIN CERTIFICATE)",
                          ca_file);
            X509_STORE_free(store);
            return HK_INVALID;
        }
    }
    *out = store;
    *total = store_count(store);
    *from_ca_file = extra;
    return HK_OK;
}

enum hk_result hk_trust_load_from(const char *sys_file, const char *sys_dir,
                                  const char *ca_file, char *err,
                                  size_t errlen)
{
    X509_STORE *store;
    size_t total, extra;
    if (build(sys_file, sys_dir, ca_file, &store, &total, &extra, err,
              errlen) != HK_OK)
        return HK_INVALID;
    pthread_mutex_lock(&mu);
    X509_STORE *old = current;
    current = store;
    current_total = total;
    current_extra = extra;
    pthread_mutex_unlock(&mu);
    X509_STORE_free(old);
    return HK_OK;
}

enum hk_result hk_trust_check(const char *ca_file, char *err, size_t errlen)
{
    X509_STORE *store = NULL;
    size_t total, extra;
    enum hk_result rc =
        build(NULL, NULL, ca_file, &store, &total, &extra, err, errlen);
    X509_STORE_free(store);
    if (rc == HK_OK) {
        pthread_mutex_lock(&mu);
        free(checked_file);
        checked_file = ca_file ? strdup(ca_file) : NULL;
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

enum hk_result hk_trust_load(const char *ca_file, char *err, size_t errlen)
{
    return hk_trust_load_from(X509_get_default_cert_file(),
                              X509_get_default_cert_dir(), ca_file, err,
                              errlen);
}

void hk_trust_counts(size_t *total, size_t *from_ca_file)
{
    pthread_mutex_lock(&mu);
    *total = current_total;
    *from_ca_file = current_extra;
    pthread_mutex_unlock(&mu);
}

bool hk_trust_install(void *ssl_ctx)
{
    pthread_mutex_lock(&mu);
    bool none = current == NULL;
    char *file = none && checked_file ? strdup(checked_file) : NULL;
    pthread_mutex_unlock(&mu);
    enum hk_result rc = none ? hk_trust_load(file, NULL, 0) : HK_OK;
    free(file);
    if (rc != HK_OK)
        return false;
    pthread_mutex_lock(&mu);
    X509_STORE *store = current;
    bool ok = store != NULL && X509_STORE_up_ref(store) == 1;
    pthread_mutex_unlock(&mu);
    if (ok)
        SSL_CTX_set_cert_store(ssl_ctx, store); /* takes the reference */
    return ok;
}

void hk_trust_cleanup(void)
{
    pthread_mutex_lock(&mu);
    X509_STORE *old = current;
    current = NULL;
    current_total = current_extra = 0;
    free(checked_file);
    checked_file = NULL;
    pthread_mutex_unlock(&mu);
    X509_STORE_free(old);
}
