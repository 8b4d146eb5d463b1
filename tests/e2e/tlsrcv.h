/*
 * tlsrcv.h - HTTPS for the end-to-end tests: certificates made on the fly
 * with the OpenSSL API (a CA, certificates it signs or self-signed ones,
 * any host names, any validity window), written as PEM into the test's
 * own folder, and a TLS front (OpenSSL, a thread per connection) that
 * terminates HTTPS on 127.0.0.1 and passes each connection's bytes on to a
 * plain receiver (receiver.h), which records and answers as usual. The
 * front counts handshakes, resumed sessions and refused handshakes, and
 * keeps the last SNI name it saw. When the receiver closes a connection
 * (Connection: close, or a scripted drop), the front closes the TLS
 * connection too.
 */
#ifndef HK_E2E_TLSRCV_H
#define HK_E2E_TLSRCV_H

#include "receiver.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

/* A key and its certificate; hk_tls_id_free frees both (NULL is a no-op). */
struct hk_tls_id {
    EVP_PKEY *key;
    X509 *cert;
};
void hk_tls_id_free(struct hk_tls_id *id);

/* A new CA (ECDSA P-256, valid from an hour ago for a day) named cn.
 * NULL (with a line on stderr) on failure. */
struct hk_tls_id *hk_tls_ca_new(const char *cn);

/* A server certificate for the names in san (OpenSSL's form, e.g.
 * "DNS:localhost,IP:127.0.0.1"), signed by ca or self-signed when ca is
 * NULL, valid from now + from_s to now + until_s seconds. NULL (with a line
 * on stderr) on failure. */
struct hk_tls_id *hk_tls_cert_new(const struct hk_tls_id *ca, const char *cn,
                                  const char *san, long from_s, long until_s);

/* Writes the certificates of ids[0..n) as one PEM bundle to path (through
 * a temporary file and a rename, so that a reader never sees half of it).
 * Returns 0 or -1. */
int hk_tls_write_bundle(const char *path, const struct hk_tls_id *const *ids,
                        size_t n);

struct hk_tls_front;

/* Starts a TLS front on 127.0.0.1 and a free port that presents id and
 * passes every connection on to rcv. NULL (with a line on stderr) on
 * failure. */
struct hk_tls_front *hk_tls_front_start(struct hk_rcv *rcv,
                                        const struct hk_tls_id *id);
/* Closes the listener and every connection, and frees the front. NULL is a
 * no-op. */
void hk_tls_front_stop(struct hk_tls_front *f);
/* "https://<host>:<port><path>" in a heap string; caller frees. */
char *hk_tls_front_url(const struct hk_tls_front *f, const char *host,
                       const char *path);

/* From now on, every chunk the receiver answers with goes out as three TLS
 * records in one TCP segment (its first 4 bytes, then the rest in two
 * halves), as servers that write a response in pieces do: a client then
 * finds the later records already read from the socket when it has
 * processed the first, which held no whole header line. */
void hk_tls_front_split_answers(struct hk_tls_front *f);

/* Handshakes completed, of those resumed from an earlier session,
 * handshakes that failed (the client refused the certificate), and
 * answers sent in pieces (hk_tls_front_split_answers). */
struct hk_tls_counts {
    size_t handshakes;
    size_t resumed;
    size_t failed;
    size_t split_answers;
};
struct hk_tls_counts hk_tls_front_counts(struct hk_tls_front *f);
/* The SNI host name of the last completed handshake ("" for none), copied
 * into buf. */
void hk_tls_front_last_sni(struct hk_tls_front *f, char *buf, size_t len);

#endif
