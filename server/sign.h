/*
 * sign.h - Standard Webhooks v1 signatures and endpoint secrets
 * ("whsec_" + base64 of random bytes). Pure computation over crypto.h.
 */
#ifndef HK_SIGN_H
#define HK_SIGN_H

#include "common.h"

/* A new endpoint secret: "whsec_" + base64 of 32 random bytes. Heap string. */
char *hk_secret_generate(void);
/* HK_OK when s is "whsec_" followed by base64 that decodes to 24..64 bytes. */
enum hk_result hk_secret_check(const char *s) HK_MUST_CHECK;

/* Computes "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" where key is
 * the base64-decoded part of secret after "whsec_". Returns a heap string,
 * or NULL when the secret is malformed. */
char *hk_sign(const char *secret, const char *msg_id, int64_t timestamp,
              const char *body, size_t body_len);

/* Verifies a webhook-signature header value (space-separated "v1,<b64>"
 * items; any match accepts) in constant time per candidate. */
bool hk_sign_verify(const char *secret, const char *msg_id, int64_t timestamp,
                    const char *body, size_t body_len, const char *header);

#endif
