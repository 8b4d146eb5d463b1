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
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN 16

static void crypto_fatal(const char *what)
{
    hk_log_error("crypto failure", "op", what);
    abort();
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
    if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1 ||
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

void hk_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                    unsigned char out[HK_SHA256_LEN])
{
    static const unsigned char empty = 0;
    unsigned int len = 0;
    if (keylen > INT_MAX)
        crypto_fatal("HMAC key too long");
    if (!HMAC(EVP_sha256(), keylen ? key : &empty, (int)keylen,
              n ? data : &empty, n, out, &len) ||
        len != HK_SHA256_LEN)
        crypto_fatal("HMAC");
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

void hk_seal(const unsigned char *key, const void *plain, size_t n,
             unsigned char **out, size_t *outlen)
{
    if (n > INT_MAX - GCM_NONCE_LEN - GCM_TAG_LEN)
        crypto_fatal("seal input too long");
    size_t total = GCM_NONCE_LEN + n + GCM_TAG_LEN;
    unsigned char *blob = hk_malloc(total);
    hk_random_bytes(blob, GCM_NONCE_LEN);

    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        crypto_fatal("EVP_CIPHER_CTX_new");
    int len = 0;
    int fin = 0;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE_LEN, NULL) !=
            1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, blob) != 1)
        crypto_fatal("AES-GCM init");
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
    *out = blob;
    *outlen = total;
}

enum hk_result hk_open(const unsigned char *key, const void *blob,
                       size_t bloblen, unsigned char **out, size_t *outlen)
{
    if (bloblen < GCM_NONCE_LEN + GCM_TAG_LEN || bloblen > (size_t)INT_MAX)
        return HK_INVALID;
    const unsigned char *b = blob;
    size_t n = bloblen - GCM_NONCE_LEN - GCM_TAG_LEN;
    unsigned char tag[GCM_TAG_LEN];
    memcpy(tag, b + GCM_NONCE_LEN + n, GCM_TAG_LEN);
    unsigned char *plain = hk_malloc(n + 1);

    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        crypto_fatal("EVP_CIPHER_CTX_new");
    enum hk_result rc = HK_INVALID;
    int len = 0;
    int fin = 0;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE_LEN, NULL) !=
            1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, b) != 1)
        crypto_fatal("AES-GCM init");
    if (n > 0 &&
        EVP_DecryptUpdate(ctx, plain, &len, b + GCM_NONCE_LEN, (int)n) != 1)
        goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag) != 1)
        crypto_fatal("AES-GCM set tag");
    /* The tag is checked here: any changed byte of nonce, ciphertext or
     * tag, or another key, makes this fail. */
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

void hk_random_token(char *out, size_t n)
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
            hk_random_bytes(pool, sizeof(pool));
            used = 0;
        }
        unsigned char c = pool[used++];
        if (c < 248)
            out[i++] = alphabet[c % 62];
    }
    out[n] = '\0';
    OPENSSL_cleanse(pool, sizeof(pool));
}
