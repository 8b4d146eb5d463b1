/*
 * fuzz_secret.c - the parsers of secrets and signatures: base64 (endpoint
 * secrets, HOOKD_SECRET_KEY), endpoint secrets ("whsec_..."), the
 * webhook-signature header a receiver checks with hk_sign_verify, and the
 * sealed blobs hk_open reads back from the database. The first byte picks
 * which. Base64 that decodes re-encodes to the same text; a secret that
 * passes its check signs, and verifies its own signature; a header
 * verifies only when it carries that signature; a blob that hk_seal did
 * not make never opens, and one it made opens only with its own
 * associated data.
 */
#include "fuzz.h"

#include "common.h"
#include "crypto.h"
#include "sign.h"

static void check_base64(const char *s)
{
    unsigned char *out;
    size_t n;
    if (hk_base64_decode(s, &out, &n) != HK_OK)
        return;
    char *again = hk_base64_encode(out, n);
    size_t len = strlen(s);
    /* padding is optional on input */
    size_t cmp = strlen(again);
    while (cmp > 0 && again[cmp - 1] == '=' && cmp > len)
        cmp--;
    FUZZ_CHECK(cmp == len && memcmp(again, s, len) == 0,
               "\"%s\" decodes to %zu bytes that encode as \"%s\"", s, n,
               again);
    free(again);
    free(out);
}

static void check_secret(const char *secret, const char *header)
{
    static const char body[] = "{\"type\":\"a.b\",\"data\":{}}";
    const char *id = "msg_2b1hT8mXkqzv0Q";
    int64_t ts = 1764806400;
    char *sig = hk_sign(secret, id, ts, body, sizeof(body) - 1);
    bool ok = hk_secret_check(secret) == HK_OK;
    if (ok)
        FUZZ_CHECK(sig != NULL, "a valid secret does not sign");
    if (sig == NULL) {
        FUZZ_CHECK(
            !hk_sign_verify(secret, id, ts, body, sizeof(body) - 1, header),
            "a secret that cannot sign verifies %s", header);
        return;
    }
    FUZZ_CHECK(strncmp(sig, "v1,", 3) == 0, "signature %s", sig);
    FUZZ_CHECK(hk_sign_verify(secret, id, ts, body, sizeof(body) - 1, sig),
               "own signature refused");
    char *two = hk_asprintf("v1a,xyz v1,%s %s", header, sig);
    FUZZ_CHECK(hk_sign_verify(secret, id, ts, body, sizeof(body) - 1, two),
               "own signature refused after other items: %s", two);
    free(two);
    /* the fuzzed header verifies only when it holds the signature as one
     * of its space-separated items, with or without base64's padding */
    size_t sl = strlen(sig), bare = sl;
    while (bare > 0 && sig[bare - 1] == '=')
        bare--;
    bool holds = false;
    for (const char *p = header; (p = strstr(p, "v1,")) != NULL; p++) {
        size_t n = strcspn(p, " ");
        if ((p == header || p[-1] == ' ') &&
            ((n == sl && memcmp(p, sig, sl) == 0) ||
             (n == bare && memcmp(p, sig, bare) == 0)))
            holds = true;
    }
    bool verified =
        hk_sign_verify(secret, id, ts, body, sizeof(body) - 1, header);
    FUZZ_CHECK(verified == holds, "header \"%s\" %s for %s", header,
               verified ? "verifies" : "is refused", sig);
    FUZZ_CHECK(!hk_sign_verify(secret, id, ts + 1, body, sizeof(body) - 1, sig),
               "signature verifies another timestamp");
    free(sig);
}

static void check_sealed(const uint8_t *blob, size_t n)
{
    static const unsigned char key[HK_AES_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
    char ad[HK_SECRET_AD_LEN];
    hk_secret_binding("01890a5d-ac96-774b-bcce-b302099a8057",
                      "01890a5d-ac96-774b-bcce-b302099a8058", ad);
    unsigned char *out = NULL;
    size_t outlen;
    FUZZ_CHECK(hk_open(key, ad, strlen(ad), blob, n, &out, &outlen) ==
                   HK_INVALID,
               "a forged blob of %zu bytes opens", n);
    FUZZ_CHECK(hk_open_unbound(key, blob, n, &out, &outlen) == HK_INVALID,
               "a forged unbound blob of %zu bytes opens", n);
    /* the bytes as a secret: sealed, they open with their own binding only */
    unsigned char *sealed;
    size_t sealed_len;
    hk_seal(key, ad, strlen(ad), blob, n, &sealed, &sealed_len);
    FUZZ_CHECK(hk_open(key, ad, strlen(ad), sealed, sealed_len, &out,
                       &outlen) == HK_OK &&
                   outlen == n && memcmp(out, blob, n) == 0 && out[n] == '\0',
               "a sealed secret does not open to itself");
    hk_cleanse_free(out, outlen);
    char other[HK_SECRET_AD_LEN];
    hk_secret_binding("01890a5d-ac96-774b-bcce-b302099a8057",
                      "01890a5d-ac96-774b-bcce-b302099a8059", other);
    FUZZ_CHECK(hk_open(key, other, strlen(other), sealed, sealed_len, &out,
                       &outlen) == HK_INVALID,
               "a sealed secret opens in another endpoint's row");
    free(sealed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = fuzz_str(data + 1, size - 1);
    char *sep;
    switch (data[0] % 3) {
    case 0:
        check_base64(s);
        break;
    case 1:
        /* "secret\nheader" */
        sep = strchr(s, '\n');
        if (sep != NULL)
            *sep++ = '\0';
        check_secret(s, sep != NULL ? sep : "");
        break;
    default:
        check_sealed(data + 1, size - 1);
        break;
    }
    free(s);
    return 0;
}
