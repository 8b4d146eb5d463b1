/*
 * sign.h - Standard Webhooks v1: the body sent around an event's payload,
 * signatures and endpoint secrets ("whsec_" + base64 of random bytes).
 * Pure computation over crypto.h.
 */
#ifndef HK_SIGN_H
#define HK_SIGN_H

#include "common.h"

/* Appends the body a receiver gets for an event to b:
 * {"type":<type>,"timestamp":<time>,"data":<payload>}, with the payload's
 * exact bytes. type is a validated event type name ([A-Za-z0-9_.-]) and
 * time the RFC 3339 of the event's creation, so neither needs escaping.
 * The dispatcher sends this, and the API shows it as an attempt's request
 * body: one rule for both. */
void hk_webhook_body(const char *type, const char *time, const char *payload,
                     struct hk_buf *b);

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
