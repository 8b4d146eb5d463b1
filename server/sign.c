/*
 * sign.c - Standard Webhooks v1: endpoint secrets ("whsec_" + base64 of the
 * key bytes), the signature "v1,<base64 HMAC-SHA256(key, id.ts.body)>" and
 * the verifier of a webhook-signature header. Pure computation over
 * crypto.c; the caller decides which secrets sign and the clock tolerance.
 */
#include "sign.h"
#include "crypto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_PREFIX "whsec_"
#define SECRET_PREFIX_LEN 6
#define SECRET_MIN_BYTES 24
#define SECRET_MAX_BYTES 64

char *hk_secret_generate(void)
{
    unsigned char key[32];
    hk_random_bytes(key, sizeof(key));
    char *b64 = hk_base64_encode(key, sizeof(key));
    char *s = hk_asprintf(SECRET_PREFIX "%s", b64);
    free(b64);
    return s;
}

/* Decodes the key part of a secret; false when s is not "whsec_<base64>"
 * with at least one key byte. */
static bool secret_key(const char *s, unsigned char **key, size_t *keylen)
{
    if (!s || strncmp(s, SECRET_PREFIX, SECRET_PREFIX_LEN) != 0)
        return false;
    if (hk_base64_decode(s + SECRET_PREFIX_LEN, key, keylen) != HK_OK)
        return false;
    if (*keylen == 0) {
        free(*key);
        return false;
    }
    return true;
}

enum hk_result hk_secret_check(const char *s)
{
    unsigned char *key;
    size_t keylen;
    if (!secret_key(s, &key, &keylen))
        return HK_INVALID;
    bool ok = keylen >= SECRET_MIN_BYTES && keylen <= SECRET_MAX_BYTES;
    explicit_bzero(key, keylen);
    free(key);
    return ok ? HK_OK : HK_INVALID;
}

/* HMAC over "msg_id.timestamp.body" into mac; false on a bad secret. */
static bool compute_mac(const char *secret, const char *msg_id,
                        int64_t timestamp, const char *body, size_t body_len,
                        unsigned char mac[HK_SHA256_LEN])
{
    unsigned char *key;
    size_t keylen;
    if (!secret_key(secret, &key, &keylen))
        return false;
    char head[192]; /* "msg_id.timestamp." without a copy of the body */
    int hn = snprintf(head, sizeof(head), "%s.%" PRId64 ".", msg_id,
                      timestamp);
    char *long_head = NULL;
    if (hn < 0 || (size_t)hn >= sizeof(head))
        long_head = hk_asprintf("%s.%" PRId64 ".", msg_id, timestamp);
    const char *h = long_head ? long_head : head;
    struct hk_piece parts[] = {{h, strlen(h)}, {body, body_len}};
    hk_hmac_sha256_pieces(key, keylen, parts, 2, mac);
    free(long_head);
    explicit_bzero(key, keylen);
    free(key);
    return true;
}

char *hk_sign(const char *secret, const char *msg_id, int64_t timestamp,
              const char *body, size_t body_len)
{
    unsigned char mac[HK_SHA256_LEN];
    if (!compute_mac(secret, msg_id, timestamp, body, body_len, mac))
        return NULL;
    char *b64 = hk_base64_encode(mac, sizeof(mac));
    char *sig = hk_asprintf("v1,%s", b64);
    free(b64);
    return sig;
}

bool hk_sign_verify(const char *secret, const char *msg_id, int64_t timestamp,
                    const char *body, size_t body_len, const char *header)
{
    if (!header)
        return false;
    unsigned char mac[HK_SHA256_LEN];
    if (!compute_mac(secret, msg_id, timestamp, body, body_len, mac))
        return false;

    bool found = false;
    const char *p = header;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        /* Only v1 items count; other versions (v1a, ...) are skipped. */
        if (n > 3 && n < 128 && memcmp(p, "v1,", 3) == 0) {
            char item[128];
            memcpy(item, p + 3, n - 3);
            item[n - 3] = '\0';
            unsigned char *cand;
            size_t candlen;
            if (hk_base64_decode(item, &cand, &candlen) == HK_OK) {
                if (candlen == HK_SHA256_LEN &&
                    hk_ct_equal(cand, mac, HK_SHA256_LEN))
                    found = true;
                free(cand);
            }
        }
        p += n;
    }
    return found;
}

void hk_webhook_body(const char *type, const char *time, const char *payload,
                     struct hk_buf *b)
{
    hk_buf_puts(b, "{\"type\":\"");
    hk_buf_puts(b, type);
    hk_buf_puts(b, "\",\"timestamp\":\"");
    hk_buf_puts(b, time);
    hk_buf_puts(b, "\",\"data\":");
    hk_buf_puts(b, payload);
    hk_buf_puts(b, "}");
}
