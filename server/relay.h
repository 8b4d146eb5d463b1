/*
 * relay.h - the HTTP/1.1 relay in front of libmicrohttpd. Every client
 * connection is carried by the relay over a socketpair whose other end is
 * given to libmicrohttpd: the relay reads each request's line, headers and
 * chunk framing with hookd's own rules and limits, forwards the bytes
 * unchanged when they are sound, and answers what is not in hookd's JSON
 * error envelope itself, then closes the connection (docs/limits.md lists
 * what it refuses). Answers come back from libmicrohttpd byte for byte.
 * Requests go through one at a time: the next request of a kept-alive
 * connection is read only after the answer to the one before it has been
 * relayed whole, so a refusal never overtakes an earlier answer.
 *
 * The parsers below are pure functions over a byte buffer, so that they
 * can be unit-tested and fuzzed; relay.c's threads do the I/O around them.
 */
#ifndef HK_RELAY_H
#define HK_RELAY_H

#include "common.h"

#include <stdint.h>
#include <sys/socket.h>

/* The largest request line: beyond it, 414. */
#define HK_RELAY_LINE_MAX (8 * 1024)
/* The largest request head, line, headers and the blank line: beyond it,
 * 431. */
#define HK_RELAY_HEAD_MAX (16 * 1024)
/* Header fields one request may have: beyond it, 431. */
#define HK_RELAY_HEADERS_MAX 100
/* Hex digits of a chunk size (libmicrohttpd 0.9.75 takes at most 15),
 * and the largest trailer section of a chunked body: beyond them, 400. */
#define HK_RELAY_CHUNK_DIGITS_MAX 15
#define HK_RELAY_TRAILER_MAX 4096

/* What a parser says about the bytes it was given. */
enum hk_relay_verdict {
    HK_RELAY_MORE = 0, /* sound so far; more bytes are needed */
    HK_RELAY_DONE,     /* a whole head, or the end of a chunked body */
    HK_RELAY_REFUSE,   /* refused: the answer is in the refusal */
};

/* The answer to a refused request: status, the envelope's code and
 * message (static strings). */
struct hk_relay_refusal {
    int status;
    const char *code;
    const char *message;
};

enum hk_relay_body { HK_RELAY_NO_BODY = 0, HK_RELAY_LENGTH, HK_RELAY_CHUNKED };

/* A request head, as hk_relay_parse_head found it. */
struct hk_relay_head {
    size_t len; /* bytes of the head, from buf[0] to its blank line */
    char method[16];  /* truncated; "" when the request line is unreadable */
    char path[256];   /* the target without its query, truncated */
    bool is_head;     /* HEAD: the answer has no body */
    enum hk_relay_body body;
    uint64_t length; /* for HK_RELAY_LENGTH */
};

/* Reads the request head at the start of buf[0..len). DONE: *head is
 * filled and head->len bytes are the head (empty lines before the request
 * line, which RFC 9112 lets a server skip, included). MORE: the head is
 * not complete and nothing seen is wrong, nor over a limit. REFUSE: *why
 * says how to answer; head->method and head->path hold what could be read
 * of the request line, for the log. */
enum hk_relay_verdict hk_relay_parse_head(const char *buf, size_t len,
                                          struct hk_relay_head *head,
                                          struct hk_relay_refusal *why);

/* The reader of a chunked body (RFC 9112 section 7.1), fed in pieces. */
struct hk_relay_chunks {
    int state;
    uint64_t left;  /* bytes of the current chunk's data still to come */
    size_t trailer; /* bytes of the trailer section so far */
    int digits;     /* hex digits of the current chunk size */
};

void hk_relay_chunks_init(struct hk_relay_chunks *c);
/* Reads buf[0..len) of a chunked body. MORE: all len bytes belong to the
 * body and more are needed (*used = len). DONE: the body ends after
 * *used bytes (the rest is the next message). REFUSE: malformed, *why
 * says how to answer. Strict: sizes in hex without extensions, CRLF line
 * ends, trailer fields shaped like header fields. */
enum hk_relay_verdict hk_relay_chunks_feed(struct hk_relay_chunks *c,
                                           const char *buf, size_t len,
                                           size_t *used,
                                           struct hk_relay_refusal *why);

/* The framing of an answer libmicrohttpd wrote, from its head
 * buf[0..len) (which ends with its blank line). */
struct hk_relay_answer {
    int status;
    bool chunked;
    bool has_length;
    uint64_t length;
};
bool hk_relay_parse_answer(const char *buf, size_t len,
                           struct hk_relay_answer *out) HK_MUST_CHECK;

/* Renders a closing error answer as libmicrohttpd would: status line,
 * Date, Connection: close, Content-Type: application/json, Content-Length,
 * X-Request-Id, then the JSON text json. */
void hk_relay_render_closing(int status, const char *json,
                             const char *request_id, struct hk_buf *out);

/* The relay's threads. ---- */

struct hk_relay;

/* Called on a relay thread when the relay has refused a request whose
 * head libmicrohttpd already has (a malformed chunk in its body): the
 * relay has answered and logged it, and is about to close mhd_fd's
 * peer. */
typedef void (*hk_relay_refused_fn)(void *ctx, int mhd_fd);

/* The server each relay thread drives beside its connections (http.c's
 * libmicrohttpd daemon, run without threads of its own): a request is
 * relayed, read, handled and answered on one thread, never handed
 * between threads. Every call but open is made on the thread that owns
 * the server. */
struct hk_relay_server {
    /* Makes thread i's server; NULL after logging why. */
    void *(*open)(void *ctx, int i);
    /* A descriptor that is readable while the server has work. */
    int (*fd)(void *srv);
    /* Does what the server can do now, without waiting. */
    void (*run)(void *srv);
    /* Milliseconds until the server must run again; -1: no deadline. */
    int64_t (*timeout)(void *srv);
    /* Gives the server its end of a new connection, with the client's
     * address; on a failure the server closes fd. */
    void (*add)(void *srv, int fd, const struct sockaddr *addr,
                socklen_t len);
    /* Ends the server's requests, closes its ends and frees it. */
    void (*close)(void *srv);
};

/* Starts threads relay threads, each with a server of its own. Returns
 * NULL after logging why. */
struct hk_relay *hk_relay_start(int threads,
                                const struct hk_relay_server *server,
                                hk_relay_refused_fn refused, void *ctx);
/* Takes client_fd (non-blocking, accepted) and relays it to one thread's
 * server, giving the server the client's address. Returns false when out
 * of descriptors or memory (client_fd is then closed). */
bool hk_relay_add(struct hk_relay *r, int client_fd,
                  const struct sockaddr *addr, socklen_t len);
/* Closes the servers (their requests' ends), relays what is in flight for
 * up to grace_ms (connections whose server end has closed finish sending
 * their answers), then closes every connection, ends the threads and
 * frees r. NULL does nothing. */
void hk_relay_stop(struct hk_relay *r, int64_t grace_ms);

#endif
