/*
 * tlsrcv.c - certificates made with the OpenSSL API, and a TLS front for
 * the tests' receiver: an acceptor thread, and a thread per connection
 * that completes the handshake, connects to the plain receiver and relays
 * bytes both ways until either side closes. Live connections are listed so
 * that stopping the front can shut them down and wait for their threads.
 * What arrives is the plain receiver's to record; this file counts only
 * handshakes, and the answers it split into records when asked to.
 */
#include "tlsrcv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 256

/* ---- certificates ----------------------------------------------------- */

void hk_tls_id_free(struct hk_tls_id *id)
{
    if (id == NULL)
        return;
    EVP_PKEY_free(id->key);
    X509_free(id->cert);
    free(id);
}

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return false;
    bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for a new P-256 key: named cn, issued by ca (self-signed
 * when NULL), valid [now + from_s, now + until_s], with the extensions of
 * a CA or of a server for san. */
static struct hk_tls_id *make_id(const struct hk_tls_id *ca, const char *cn,
                                 const char *san, bool is_ca, long from_s,
                                 long until_s)
{
    struct hk_tls_id *id = calloc(1, sizeof(*id));
    unsigned char serial[8];
    BIGNUM *bn = NULL;
    bool ok = id != NULL && (id->key = EVP_EC_gen("P-256")) != NULL &&
              (id->cert = X509_new()) != NULL &&
              RAND_bytes(serial, sizeof(serial)) == 1;
    if (ok) {
        serial[0] &= 0x7f; /* a positive serial number */
        X509 *x = id->cert;
        X509 *issuer = ca ? ca->cert : x;
        X509_NAME *name = X509_get_subject_name(x);
        ok = X509_set_version(x, 2) == 1 &&
             (bn = BN_bin2bn(serial, sizeof(serial), NULL)) != NULL &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
             X509_gmtime_adj(X509_getm_notBefore(x), from_s) != NULL &&
             X509_gmtime_adj(X509_getm_notAfter(x), until_s) != NULL &&
             X509_set_pubkey(x, id->key) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        (const unsigned char *)cn, -1, -1,
                                        0) == 1 &&
             X509_set_issuer_name(x, X509_get_subject_name(issuer)) == 1 &&
             add_ext(x, issuer, NID_subject_key_identifier, "hash");
        if (ok && is_ca)
            ok = add_ext(x, issuer, NID_basic_constraints,
                         "critical,CA:TRUE") &&
                 add_ext(x, issuer, NID_key_usage,
                         "critical,keyCertSign,cRLSign");
        if (ok && !is_ca)
            ok = add_ext(x, issuer, NID_basic_constraints, "CA:FALSE") &&
                 add_ext(x, issuer, NID_ext_key_usage, "serverAuth") &&
                 add_ext(x, issuer, NID_subject_alt_name, san);
        if (ok && ca != NULL)
            ok = add_ext(x, issuer, NID_authority_key_identifier, "keyid");
        if (ok)
            ok = X509_sign(x, ca ? ca->key : id->key, EVP_sha256()) > 0;
    }
    BN_free(bn);
    if (!ok) {
        fprintf(stderr, "tlsrcv: cannot make the certificate %s: ", cn);
        ERR_print_errors_fp(stderr);
        hk_tls_id_free(id);
        return NULL;
    }
    return id;
}

struct hk_tls_id *hk_tls_ca_new(const char *cn)
{
    return make_id(NULL, cn, NULL, true, -3600, 86400);
}

struct hk_tls_id *hk_tls_cert_new(const struct hk_tls_id *ca, const char *cn,
                                  const char *san, long from_s, long until_s)
{
    return make_id(ca, cn, san, false, from_s, until_s);
}

int hk_tls_write_bundle(const char *path, const struct hk_tls_id *const *ids,
                        size_t n)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "tlsrcv: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = PEM_write_X509(f, ids[i]->cert) == 1;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "tlsrcv: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

/* ---- the front -------------------------------------------------------- */

struct hk_tls_front {
    SSL_CTX *ctx;
    int lfd;
    int port;
    int rcv_port;
    int stop_pipe[2];
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* a connection thread ended */
    int conns[MAX_CONNS];  /* sockets of live connections, -1 when free */
    size_t live;           /* connection threads running */
    struct hk_tls_counts counts;
    char last_sni[256];
    atomic_bool split; /* hk_tls_front_split_answers */
};

struct conn {
    struct hk_tls_front *f;
    int fd;
    int slot;
};

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static int connect_plain(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void set_cork(int fd, int on)
{
    (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

/* Sends n bytes of the receiver's answer over ssl: one record, or when the
 * front splits answers, three records held back by TCP_CORK until all are
 * written, so that they reach the client together: the first SPLIT_HEAD
 * bytes (less than a whole header line), then the rest in two halves. */
#define SPLIT_HEAD 4
static bool send_answer(struct hk_tls_front *f, int fd, SSL *ssl,
                        const char *p, size_t n)
{
    if (!atomic_load(&f->split) || n < SPLIT_HEAD + 2)
        return SSL_write(ssl, p, (int)n) == (int)n;
    size_t cut[4] = {0, SPLIT_HEAD, SPLIT_HEAD + (n - SPLIT_HEAD) / 2, n};
    set_cork(fd, 1);
    bool ok = true;
    for (int i = 0; i < 3 && ok; i++) {
        int len = (int)(cut[i + 1] - cut[i]);
        ok = SSL_write(ssl, p + cut[i], len) == len;
    }
    set_cork(fd, 0);
    if (ok) {
        pthread_mutex_lock(&f->mu);
        f->counts.split_answers++;
        pthread_mutex_unlock(&f->mu);
    }
    return ok;
}

/* Relays one connection: TLS on c->fd, plain to the receiver. */
static void *conn_thread(void *arg)
{
    struct conn *c = arg;
    struct hk_tls_front *f = c->f;
    SSL *ssl = SSL_new(f->ctx);
    int pfd = -1;
    bool shook = false;
    if (ssl != NULL && SSL_set_fd(ssl, c->fd) == 1 && SSL_accept(ssl) == 1) {
        shook = true;
        const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        pthread_mutex_lock(&f->mu);
        f->counts.handshakes++;
        if (SSL_session_reused(ssl))
            f->counts.resumed++;
        snprintf(f->last_sni, sizeof(f->last_sni), "%s", sni ? sni : "");
        pthread_mutex_unlock(&f->mu);
        pfd = connect_plain(f->rcv_port);
    } else {
        pthread_mutex_lock(&f->mu);
        f->counts.failed++;
        pthread_mutex_unlock(&f->mu);
    }
    char buf[16384];
    while (pfd >= 0) {
        struct pollfd p[2] = {{c->fd, POLLIN, 0}, {pfd, POLLIN, 0}};
        if (SSL_pending(ssl) == 0 && poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (SSL_pending(ssl) > 0 || (p[0].revents & (POLLIN | POLLHUP))) {
            int n = SSL_read(ssl, buf, sizeof(buf));
            if (n <= 0 || !write_all(pfd, buf, (size_t)n))
                break;
            continue;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(pfd, buf, sizeof(buf));
            if (n <= 0 || !send_answer(f, c->fd, ssl, buf, (size_t)n))
                break;
        }
        if (p[0].revents & POLLERR)
            break;
    }
    if (shook)
        SSL_shutdown(ssl);
    SSL_free(ssl);
    if (pfd >= 0)
        close(pfd);
    pthread_mutex_lock(&f->mu);
    f->conns[c->slot] = -1;
    close(c->fd);
    f->live--;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    ERR_clear_error();
    free(c);
    return NULL;
}

static void *accept_thread(void *arg)
{
    struct hk_tls_front *f = arg;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    for (;;) {
        struct pollfd p[2] = {{f->lfd, POLLIN, 0}, {f->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&f->mu);
        int slot = -1;
        for (int i = 0; i < MAX_CONNS && slot < 0; i++)
            if (f->conns[i] < 0)
                slot = i;
        struct conn *c = slot >= 0 ? malloc(sizeof(*c)) : NULL;
        pthread_t t;
        if (c != NULL) {
            *c = (struct conn){f, fd, slot};
            f->conns[slot] = fd;
            f->live++;
            if (pthread_create(&t, &at, conn_thread, c) != 0) {
                f->conns[slot] = -1;
                f->live--;
                free(c);
                c = NULL;
            }
        }
        pthread_mutex_unlock(&f->mu);
        if (c == NULL)
            close(fd);
    }
    pthread_attr_destroy(&at);
    return NULL;
}

struct hk_tls_front *hk_tls_front_start(struct hk_rcv *rcv,
                                        const struct hk_tls_id *id)
{
    struct hk_tls_front *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->lfd = -1;
    f->stop_pipe[0] = f->stop_pipe[1] = -1;
    for (int i = 0; i < MAX_CONNS; i++)
        f->conns[i] = -1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->rcv_port = hk_rcv_port(rcv);
    /* a client that hangs up on a refused certificate must not take the
     * test down with SIGPIPE when OpenSSL writes its last alert */
    signal(SIGPIPE, SIG_IGN);
    f->ctx = SSL_CTX_new(TLS_server_method());
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    bool ok = f->ctx != NULL &&
              SSL_CTX_use_certificate(f->ctx, id->cert) == 1 &&
              SSL_CTX_use_PrivateKey(f->ctx, id->key) == 1 &&
              pipe2(f->stop_pipe, O_CLOEXEC) == 0 &&
              (f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
              bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              listen(f->lfd, 128) == 0 &&
              getsockname(f->lfd, (struct sockaddr *)&a, &alen) == 0;
    if (ok) {
        f->port = ntohs(a.sin_port);
        ok = pthread_create(&f->acceptor, NULL, accept_thread, f) == 0;
    }
    if (!ok) {
        fprintf(stderr, "tlsrcv: cannot start a TLS front: %s\n",
                strerror(errno));
        ERR_print_errors_fp(stderr);
        if (f->lfd >= 0)
            close(f->lfd);
        if (f->stop_pipe[0] >= 0) {
            close(f->stop_pipe[0]);
            close(f->stop_pipe[1]);
        }
        SSL_CTX_free(f->ctx);
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        free(f);
        return NULL;
    }
    return f;
}

void hk_tls_front_stop(struct hk_tls_front *f)
{
    if (f == NULL)
        return;
    if (write(f->stop_pipe[1], "x", 1) != 1)
        fprintf(stderr, "tlsrcv: cannot wake the acceptor\n");
    pthread_join(f->acceptor, NULL);
    close(f->lfd);
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < MAX_CONNS; i++)
        if (f->conns[i] >= 0)
            shutdown(f->conns[i], SHUT_RDWR);
    while (f->live > 0)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    close(f->stop_pipe[0]);
    close(f->stop_pipe[1]);
    SSL_CTX_free(f->ctx);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

char *hk_tls_front_url(const struct hk_tls_front *f, const char *host,
                       const char *path)
{
    size_t n = strlen(host) + strlen(path) + 32;
    char *u = malloc(n);
    if (u == NULL)
        abort();
    snprintf(u, n, "https://%s:%d%s", host, f->port, path);
    return u;
}

void hk_tls_front_split_answers(struct hk_tls_front *f)
{
    atomic_store(&f->split, true);
}

struct hk_tls_counts hk_tls_front_counts(struct hk_tls_front *f)
{
    pthread_mutex_lock(&f->mu);
    struct hk_tls_counts c = f->counts;
    pthread_mutex_unlock(&f->mu);
    return c;
}

void hk_tls_front_last_sni(struct hk_tls_front *f, char *buf, size_t len)
{
    pthread_mutex_lock(&f->mu);
    snprintf(buf, len, "%s", f->last_sni);
    pthread_mutex_unlock(&f->mu);
}
