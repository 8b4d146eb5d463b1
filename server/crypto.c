/*
 * crypto.c - every OpenSSL call of hookd: the kernel-backed random source,
 * SHA-256, HMAC-SHA256, AES-256-GCM sealing of secrets at rest, base64 and
 * constant-time comparison. Callers get plain bytes and hk_result codes and
 * never see an OpenSSL type. Failures that can only mean a broken library
 * (a context that cannot be allocated, a cipher that will not initialise)
 * abort, like out-of-memory does.
 */
#include "crypto.h"
#include "log.h"

#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN 16

static void crypto_fatal(const char *what)
{
    hk_log_error("crypto failure", "op", what);
    abort();
}

/* The algorithms, fetched once: looking them up by name on every call
 * (what EVP_sha256(), EVP_aes_256_gcm() and the one-shot HMAC() do in
 * OpenSSL 3) cost more than hashing a webhook's body. HMAC calls copy the
 * keyless template and key the copy, so threads never share a context. */
static EVP_MD *sha256_md;
static EVP_CIPHER *aes_gcm;
static EVP_MAC_CTX *hmac_template;
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;

static void algs_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!sha256_md || !aes_gcm || !mac)
        crypto_fatal("fetching SHA256, AES-256-GCM and HMAC");
    hmac_template = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context keeps its own reference */
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end()};
    if (!hmac_template || EVP_MAC_CTX_set_params(hmac_template, params) != 1)
        crypto_fatal("HMAC SHA256 setup");
}

static void algs(void)
{
    if (pthread_once(&algs_once, algs_fetch) != 0)
        crypto_fatal("pthread_once");
}

void hk_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        if (RAND_bytes(p, chunk) != 1)
            crypto_fatal("RAND_bytes");
        p += chunk;
        n -= (size_t)chunk;
    }
}

void hk_sha256(const void *data, size_t n, unsigned char out[HK_SHA256_LEN])
{
    unsigned int len = 0;
    algs();
    if (EVP_Digest(data, n, out, &len, sha256_md, NULL) != 1 ||
        len != HK_SHA256_LEN)
        crypto_fatal("EVP_Digest");
}

void hk_sha256_hex(const void *data, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[HK_SHA256_LEN];
    hk_sha256(data, n, md);
    for (size_t i = 0; i < HK_SHA256_LEN; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[64] = '\0';
}

void hk_hmac_sha256_pieces(const void *key, size_t keylen,
                           const struct hk_piece *pieces, size_t n,
                           unsigned char out[HK_SHA256_LEN])
{
    static const unsigned char empty = 0;
    algs();
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(hmac_template);
    if (!ctx || EVP_MAC_init(ctx, keylen ? key : &empty, keylen, NULL) != 1)
        crypto_fatal("HMAC init");
    for (size_t i = 0; i < n; i++)
        if (pieces[i].len > 0 &&
            EVP_MAC_update(ctx, pieces[i].data, pieces[i].len) != 1)
            crypto_fatal("HMAC update");
    size_t len = 0;
    if (EVP_MAC_final(ctx, out, &len, HK_SHA256_LEN) != 1 ||
        len != HK_SHA256_LEN)
        crypto_fatal("HMAC final");
    EVP_MAC_CTX_free(ctx);
}

void hk_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                    unsigned char out[HK_SHA256_LEN])
{
    struct hk_piece whole = {data, n};
    hk_hmac_sha256_pieces(key, keylen, &whole, 1, out);
}

bool hk_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

char *hk_base64_encode(const void *data, size_t n)
{
    if (n > (size_t)INT_MAX / 4 * 3 - 3)
        crypto_fatal("base64 input too long");
    size_t outlen = 4 * ((n + 2) / 3);
    char *out = hk_malloc(outlen + 1);
    int w = EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    if (w < 0 || (size_t)w != outlen)
        crypto_fatal("EVP_EncodeBlock");
    out[outlen] = '\0';
    return out;
}

/* Value of one standard base64 character, -1 for anything else. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* A strict decoder of our own: EVP_DecodeBlock ignores whitespace, does not
 * report how much padding it saw and accepts stray bits, while callers here
 * want one spelling per value (secrets and cursors are compared as text). */
enum hk_result hk_base64_decode(const char *s, unsigned char **out,
                                size_t *outlen)
{
    size_t len = strlen(s);
    size_t pad = 0;
    while (pad < len && pad < 3 && s[len - 1 - pad] == '=')
        pad++;
    if (pad > 2)
        return HK_INVALID;
    if (pad > 0 && len % 4 != 0)
        return HK_INVALID;
    size_t body = len - pad;
    if (body % 4 == 1)
        return HK_INVALID;

    size_t n = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
    unsigned char *buf = hk_malloc(n + 1);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < body; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits of the last character must be zero. */
    if (acc != 0)
        goto bad;
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return HK_OK;
bad:
    free(buf);
    return HK_INVALID;
}

/* AES-256-GCM of plain under key into blob: nonce(12) | ciphertext | tag(16),
 * authenticating the n_ad pieces of associated data. */
static void gcm_seal(const unsigned char *key, const struct hk_piece *ad,
                     size_t n_ad, const void *plain, size_t n,
                     unsigned char *blob)
{
    hk_random_bytes(blob, GCM_NONCE_LEN);
    algs();
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        crypto_fatal("EVP_CIPHER_CTX_new");
    int len = 0;
    int fin = 0;
    if (EVP_EncryptInit_ex(ctx, aes_gcm, NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE_LEN, NULL) !=
            1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, blob) != 1)
        crypto_fatal("AES-GCM init");
    for (size_t i = 0; i < n_ad; i++) {
        int adl = 0;
        if (ad[i].len > 0 &&
            EVP_EncryptUpdate(ctx, NULL, &adl, ad[i].data, (int)ad[i].len) != 1)
            crypto_fatal("AES-GCM associated data");
    }
    if (n > 0 &&
        EVP_EncryptUpdate(ctx, blob + GCM_NONCE_LEN, &len, plain, (int)n) != 1)
        crypto_fatal("AES-GCM encrypt");
    if (EVP_EncryptFinal_ex(ctx, blob + GCM_NONCE_LEN + len, &fin) != 1 ||
        (size_t)(len + fin) != n)
        crypto_fatal("AES-GCM final");
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN,
                            blob + GCM_NONCE_LEN + n) != 1)
        crypto_fatal("AES-GCM tag");
    EVP_CIPHER_CTX_free(ctx);
}

/* Opens nonce | ciphertext | tag with the same associated data. */
static enum hk_result gcm_open(const unsigned char *key,
                               const struct hk_piece *ad, size_t n_ad,
                               const unsigned char *b, size_t bloblen,
                               unsigned char **out, size_t *outlen)
{
    if (bloblen < GCM_NONCE_LEN + GCM_TAG_LEN || bloblen > (size_t)INT_MAX)
        return HK_INVALID;
    size_t n = bloblen - GCM_NONCE_LEN - GCM_TAG_LEN;
    unsigned char tag[GCM_TAG_LEN];
    memcpy(tag, b + GCM_NONCE_LEN + n, GCM_TAG_LEN);
    unsigned char *plain = hk_malloc(n + 1);

    algs();
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        crypto_fatal("EVP_CIPHER_CTX_new");
    enum hk_result rc = HK_INVALID;
    int len = 0;
    int fin = 0;
    if (EVP_DecryptInit_ex(ctx, aes_gcm, NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE_LEN, NULL) !=
            1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, b) != 1)
        crypto_fatal("AES-GCM init");
    for (size_t i = 0; i < n_ad; i++) {
        int adl = 0;
        if (ad[i].len > 0 &&
            EVP_DecryptUpdate(ctx, NULL, &adl, ad[i].data, (int)ad[i].len) != 1)
            goto done;
    }
    if (n > 0 &&
        EVP_DecryptUpdate(ctx, plain, &len, b + GCM_NONCE_LEN, (int)n) != 1)
        goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag) != 1)
        crypto_fatal("AES-GCM set tag");
    /* The tag is checked here: any changed byte of nonce, ciphertext, tag
     * or associated data, or another key, makes this fail. */
    if (EVP_DecryptFinal_ex(ctx, plain + len, &fin) != 1)
        goto done;
    if ((size_t)(len + fin) != n)
        goto done;
    plain[n] = '\0';
    *out = plain;
    *outlen = n;
    plain = NULL;
    rc = HK_OK;
done:
    EVP_CIPHER_CTX_free(ctx);
    if (plain) {
        OPENSSL_cleanse(plain, n + 1);
        free(plain);
    }
    return rc;
}

void hk_seal(const unsigned char *key, const void *ad, size_t adlen,
             const void *plain, size_t n, unsigned char **out, size_t *outlen)
{
    if (n > INT_MAX - 1 - GCM_NONCE_LEN - GCM_TAG_LEN || adlen > INT_MAX)
        crypto_fatal("seal input too long");
    size_t total = 1 + GCM_NONCE_LEN + n + GCM_TAG_LEN;
    unsigned char *blob = hk_malloc(total);
    blob[0] = HK_SEAL_FORMAT;
    /* the format byte is authenticated too, so that a blob cannot be
     * passed off as another format */
    const struct hk_piece pieces[2] = {{blob, 1}, {ad, adlen}};
    gcm_seal(key, pieces, 2, plain, n, blob + 1);
    *out = blob;
    *outlen = total;
}

enum hk_result hk_open(const unsigned char *key, const void *ad, size_t adlen,
                       const void *blob, size_t bloblen, unsigned char **out,
                       size_t *outlen)
{
    const unsigned char *b = blob;
    if (bloblen < 1 || b[0] != HK_SEAL_FORMAT || adlen > INT_MAX)
        return HK_INVALID;
    const struct hk_piece pieces[2] = {{b, 1}, {ad, adlen}};
    return gcm_open(key, pieces, 2, b + 1, bloblen - 1, out, outlen);
}

enum hk_result hk_open_unbound(const unsigned char *key, const void *blob,
                               size_t bloblen, unsigned char **out,
                               size_t *outlen)
{
    return gcm_open(key, NULL, 0, blob, bloblen, out, outlen);
}

void hk_secret_binding(const char *tid, const char *eid,
                       char out[HK_SECRET_AD_LEN])
{
    snprintf(out, HK_SECRET_AD_LEN, "%.36s/%.36s", tid, eid);
}

/* Random bytes for what is shown anyway (ids, request ids): the same
 * generator, fetched a few hundred bytes at a time per thread, since one
 * call per id was a visible share of the dispatcher's and the API's time.
 * Secrets (keys, tokens, nonces) never come from here. */
#define PUBLIC_POOL 4096
static _Thread_local unsigned char public_pool[PUBLIC_POOL];
static _Thread_local size_t public_left;

void hk_random_public(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        if (public_left == 0) {
            hk_random_bytes(public_pool, sizeof(public_pool));
            public_left = sizeof(public_pool);
        }
        size_t take = n < public_left ? n : public_left;
        public_left -= take;
        memcpy(p, public_pool + public_left, take);
        p += take;
        n -= take;
    }
}

/* n characters from [A-Za-z0-9], each equally likely, drawing bytes from
 * draw (64 at a time). */
static void token_from(char *out, size_t n, void (*draw)(void *, size_t))
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    /* 248 = 4 * 62: bytes at or above it are dropped so every character is
     * equally likely. */
    unsigned char pool[64];
    size_t used = sizeof(pool);
    size_t i = 0;
    while (i < n) {
        if (used == sizeof(pool)) {
            draw(pool, sizeof(pool));
            used = 0;
        }
        unsigned char c = pool[used++];
        if (c < 248)
            out[i++] = alphabet[c % 62];
    }
    out[n] = '\0';
    OPENSSL_cleanse(pool, sizeof(pool));
}

void hk_random_token(char *out, size_t n)
{
    token_from(out, n, hk_random_bytes);
}

void hk_random_public_token(char *out, size_t n)
{
    token_from(out, n, hk_random_public);
}

void hk_cleanse_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, n);
    free(p);
}
