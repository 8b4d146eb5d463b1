/*
 * crypto.h - the only door to OpenSSL: random bytes, SHA-256, HMAC-SHA256,
 * AES-256-GCM sealing of secrets at rest, base64 and constant-time compare.
 * No I/O besides the kernel's random source.
 */
#ifndef HK_CRYPTO_H
#define HK_CRYPTO_H

#include "common.h"

#define HK_SHA256_LEN 32
#define HK_AES_KEY_LEN 32

/* Fills buf with n cryptographically random bytes; aborts if the kernel's
 * source fails (there is no safe way to continue). */
void hk_random_bytes(void *buf, size_t n);
/* Random bytes from the same source for values that are made public
 * anyway (ids): served from a per-thread pool, so cheap per call. Never
 * for keys, tokens or nonces. */
void hk_random_public(void *buf, size_t n);

void hk_sha256(const void *data, size_t n, unsigned char out[HK_SHA256_LEN]);
/* Lower-case hex of SHA-256, out must hold 65 bytes. */
void hk_sha256_hex(const void *data, size_t n, char out[65]);
void hk_hmac_sha256(const void *key, size_t keylen, const void *data,
                    size_t n, unsigned char out[HK_SHA256_LEN]);
/* One piece of a message that is hashed as the pieces joined in order. */
struct hk_piece {
    const void *data;
    size_t len;
};
/* HMAC-SHA256 of the n pieces joined, without joining them. */
void hk_hmac_sha256_pieces(const void *key, size_t keylen,
                           const struct hk_piece *pieces, size_t n,
                           unsigned char out[HK_SHA256_LEN]);

/* true when the n bytes at a and b are equal; time depends only on n. */
bool hk_ct_equal(const void *a, const void *b, size_t n);

/* Standard base64 with padding. Returns a heap string the caller frees. */
char *hk_base64_encode(const void *data, size_t n);
/* Decodes standard base64 (padding optional, no whitespace). On success
 * returns HK_OK and a heap buffer *out (caller frees) of *outlen bytes;
 * HK_INVALID on any bad character or length. */
enum hk_result hk_base64_decode(const char *s, unsigned char **out,
                                size_t *outlen) HK_MUST_CHECK;

/* AES-256-GCM sealing of secrets at rest, bound to where they belong.
 * hk_seal makes a heap blob (caller frees *out):
 *   HK_SEAL_FORMAT (1 byte) | nonce (12) | ciphertext | tag (16)
 * authenticating the format byte and ad[0..adlen) (for an endpoint secret,
 * hk_secret_binding of its tenant and endpoint), so that a blob copied to
 * another row does not open there. Key is HK_AES_KEY_LEN bytes. */
#define HK_SEAL_FORMAT 2
void hk_seal(const unsigned char *key, const void *ad, size_t adlen,
             const void *plain, size_t n, unsigned char **out,
             size_t *outlen);
/* Opens a blob made by hk_seal with the same ad; HK_INVALID if it is of
 * another format, was tampered with, belongs elsewhere or the key is
 * wrong. *out is a heap buffer with a NUL after *outlen bytes. */
enum hk_result hk_open(const unsigned char *key, const void *ad, size_t adlen,
                       const void *blob, size_t bloblen, unsigned char **out,
                       size_t *outlen) HK_MUST_CHECK;
/* Opens a blob of the first format, nonce | ciphertext | tag without
 * associated data: only to re-seal it (hk_migrate_reseal). */
enum hk_result hk_open_unbound(const unsigned char *key, const void *blob,
                               size_t bloblen, unsigned char **out,
                               size_t *outlen) HK_MUST_CHECK;
/* The associated data of an endpoint's secrets: "<tenant id>/<endpoint
 * id>". */
#define HK_SECRET_AD_LEN 74
void hk_secret_binding(const char *tid, const char *eid,
                       char out[HK_SECRET_AD_LEN]);

/* Overwrites n bytes at p and frees it (NULL is a no-op): for plain
 * secrets. */
void hk_cleanse_free(void *p, size_t n);

/* Random token of n characters from [A-Za-z0-9] into out (n+1 bytes). */
void hk_random_token(char *out, size_t n);
/* The same from hk_random_public: for request ids, never for secrets. */
void hk_random_public_token(char *out, size_t n);

#endif
