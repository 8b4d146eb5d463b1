/*
 * trust.h - the certificate authorities that HTTPS deliveries trust: the
 * system's (OpenSSL's built-in bundle file and directory; SSL_CERT_FILE and
 * SSL_CERT_DIR are not read) plus the bundle named by HOOKD_CA_FILE, loaded
 * once into one X509 store that every TLS connection of the process
 * shares. A reload builds a new store beside the current one and swaps it
 * in only when it loaded; connections made before keep the store they got.
 * Callers never see OpenSSL types: deliver.c hands its SSL_CTX over as a
 * void pointer.
 */
#ifndef HK_TRUST_H
#define HK_TRUST_H

#include "common.h"

/* Builds the store from the system locations and ca_file (NULL for none)
 * and makes it the current one. On failure the current store stays, and
 * err gets "HOOKD_CA_FILE: why" (the file cannot be read, holds a block
 * that is not a valid certificate, or holds no certificate at all).
 * Safe from any thread. */
enum hk_result hk_trust_load(const char *ca_file, char *err,
                             size_t errlen) HK_MUST_CHECK;

/* The same with the system locations given (either may be NULL or absent
 * on disk: then nothing comes from it), for tests. */
enum hk_result hk_trust_load_from(const char *sys_file, const char *sys_dir,
                                  const char *ca_file, char *err,
                                  size_t errlen) HK_MUST_CHECK;

/* Checks ca_file (NULL for none) as hk_trust_load would, without
 * loading the system's CAs or changing the current store, and remembers
 * it as the file to load when a connection needs a store before any was
 * loaded: a start-up check that costs little before the API listens. */
enum hk_result hk_trust_check(const char *ca_file, char *err,
                              size_t errlen) HK_MUST_CHECK;

/* Certificates in the current store, and of those how many came from
 * the HOOKD_CA_FILE bundle; both 0 before the first load. */
void hk_trust_counts(size_t *total, size_t *from_ca_file);

/* Installs the current store (a reference to it) as ssl_ctx's, an
 * SSL_CTX *. When nothing was loaded yet, the system's CAs and the file
 * hk_trust_check last accepted are loaded first. Returns false when no store could be made. */
bool hk_trust_install(void *ssl_ctx) HK_MUST_CHECK;

/* Drops the current store (connections holding it keep it alive). */
void hk_trust_cleanup(void);

#endif
