/*
 * receiver.h - an in-process webhook receiver for the end-to-end tests: an
 * HTTP server on 127.0.0.1 (libmicrohttpd, a thread per connection so that
 * a slow answer never holds up another) that records every request it gets
 * and answers from a script. Tests read what arrived, wait for it, check
 * how many requests were in flight at once, and dump the requests as JSON
 * for an outside signature verifier.
 */
#ifndef HK_E2E_RECEIVER_H
#define HK_E2E_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_rcv;

/* One scripted answer. status: the HTTP status (0 means 200). headers:
 * NULL-terminated "Name: value" lines (Retry-After, Location...), or NULL.
 * body: NUL-terminated, or NULL for none. delay_ms: wait this long before
 * answering (the request counts as in flight meanwhile). drop: close the
 * connection without answering. path: when not NULL, only a request to
 * this path (without the query) takes this entry. The receiver copies
 * everything it is given. */
struct hk_rcv_resp {
    int status;
    const char *const *headers;
    const char *body;
    int delay_ms;
    bool drop;
    const char *path;
};

/* One request as it arrived. Immutable once recorded; valid until
 * hk_rcv_clear or hk_rcv_stop. */
struct hk_rcv_hdr {
    char *name;
    char *value;
};
struct hk_rcv_req {
    size_t index; /* arrival order, from 0 */
    char *method;
    char *path;              /* without the query */
    char *uri;               /* as sent, query included */
    struct hk_rcv_hdr *hdrs; /* in the order sent, names as sent */
    size_t nhdrs;
    char *body; /* exact bytes, NUL-terminated */
    size_t body_len;
    int64_t arrival_ms; /* Unix ms when the headers arrived */
    int64_t body_ms;    /* Unix ms when the body was complete */
    int status;         /* what the script made it answer (0: drop) */
};

/* Starts a receiver on 127.0.0.1 and a free port; NULL (with a line on
 * stderr) on failure. Until told otherwise every request gets 200 with an
 * empty body. */
struct hk_rcv *hk_rcv_start(void);
/* Stops the server (scripted delays end at once) and frees everything,
 * the recorded requests included. NULL is a no-op. */
void hk_rcv_stop(struct hk_rcv *r);

int hk_rcv_port(const struct hk_rcv *r);
/* "http://127.0.0.1:<port>"; valid until hk_rcv_stop. */
const char *hk_rcv_base_url(const struct hk_rcv *r);
/* base URL + path in a heap string; caller frees. */
char *hk_rcv_url(const struct hk_rcv *r, const char *path);

/* Appends one answer to the script queue. Entries are taken in order by
 * the requests they match, when the request's body is complete. */
void hk_rcv_push(struct hk_rcv *r, const struct hk_rcv_resp *resp);
/* Replaces the whole queue with n answers. */
void hk_rcv_set_script(struct hk_rcv *r, const struct hk_rcv_resp *resps,
                       size_t n);
/* The answer when the queue has nothing for a request; with resp->path
 * set, the default for that path only (path defaults win over the global
 * one). */
void hk_rcv_set_default(struct hk_rcv *r, const struct hk_rcv_resp *resp);
/* Short form: push `times` answers of status (and no body). */
void hk_rcv_push_status(struct hk_rcv *r, int status, int times);

/* Number of requests recorded, in all or for one path. */
size_t hk_rcv_count(struct hk_rcv *r);
size_t hk_rcv_count_path(struct hk_rcv *r, const char *path);
/* Request i in arrival order, or NULL. */
const struct hk_rcv_req *hk_rcv_get(struct hk_rcv *r, size_t i);
/* The i-th request (from 0) that went to path, or NULL. */
const struct hk_rcv_req *hk_rcv_get_path(struct hk_rcv *r, const char *path,
                                         size_t i);
/* First header of that name, case-insensitive, or NULL. */
const char *hk_rcv_req_header(const struct hk_rcv_req *q, const char *name);
/* Waits until at least n requests (in all, or to path when not NULL) are
 * recorded; false on timeout. */
bool hk_rcv_wait_for_count(struct hk_rcv *r, size_t n, int timeout_ms);
bool hk_rcv_wait_for_path(struct hk_rcv *r, const char *path, size_t n,
                          int timeout_ms);
/* Requests being answered right now, and the most seen at once (overall
 * or, with a path, to that path). hk_rcv_reset_max starts counting anew. */
int hk_rcv_in_flight(struct hk_rcv *r);
int hk_rcv_max_concurrency_seen(struct hk_rcv *r);
int hk_rcv_max_concurrency_path(struct hk_rcv *r, const char *path);
void hk_rcv_reset_max(struct hk_rcv *r);
/* Forgets the recorded requests (pointers from hk_rcv_get die), the max
 * concurrency and the script queue; keeps the defaults. */
void hk_rcv_clear(struct hk_rcv *r);

/* Writes the recorded requests to file as a JSON array of
 * {"method","path","uri","arrival_ms","headers":{lower-case name: value},
 * "body": "<exact text>"}. Returns 0 or -1. */
int hk_rcv_dump_json(struct hk_rcv *r, const char *file);

#endif
