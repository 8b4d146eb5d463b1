/*
 * harness.c - runs hookd for the end-to-end tests: creates and drops the
 * throwaway databases, spawns hookd processes with a clean environment and
 * a log file each, waits for them to answer, stops them and reports an
 * unclean exit (an ASan leak report is one). Also the HTTP clients (libcurl
 * easy, and raw sockets for what libcurl will not send), the libpq query
 * helper, the cmocka assertions on API answers, the helpers that create
 * tenants, keys, event types, endpoints and portal sessions, and the group
 * fixture (hookd, a receiver, event types) most test files start with. The
 * webhook receiver is receiver.c's.
 */
#include "harness.h"
#include "receiver.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 20000
#define EXEC_TIMEOUT_MS 60000
#define HTTP_TIMEOUT_MS 30000
#define LOG_TAIL_BYTES 16384

const char hk_sql_null_marker[] = "<SQL NULL>";

static int db_counter;
static int unclean_exits;
static int exec_counter;

/* ---- small helpers ---------------------------------------------------- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "harness: out of memory\n");
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "harness: out of memory\n");
        abort();
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *p = xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

static char *vfmt(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
static char *vfmt(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    char *p = xmalloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *hk_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = vfmt(fmt, ap);
    va_end(ap);
    return p;
}

char *hk_urlenc(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = xmalloc(n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

void hk_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int64_t hk_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hk_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void random_bytes(unsigned char *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "harness: getrandom failed: %s\n", strerror(errno));
            abort();
        }
        got += (size_t)r;
    }
}

static void base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

static char *read_file_tail(const char *path, size_t max_bytes)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    if (size < 0)
        size = 0;
    long from = (size_t)size > max_bytes ? size - (long)max_bytes : 0;
    fseek(f, from, SEEK_SET);
    size_t want = (size_t)(size - from);
    char *buf = xmalloc(want + 1);
    size_t got = fread(buf, 1, want, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

void hk_srv_print_log(const struct hk_srv *s, size_t max_bytes)
{
    if (s->log_path[0] == '\0')
        return;
    char *tail = read_file_tail(s->log_path, max_bytes);
    fprintf(stderr,
            "---- %s (last %zu bytes at most) ----\n%s\n---- end of log ----\n",
            s->log_path, max_bytes, tail ? tail : "(cannot read)");
    free(tail);
}

/* ---- environment ------------------------------------------------------ */

struct envlist {
    char **v;
    size_t n;
    size_t cap;
};

static void env_put(struct envlist *e, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t namelen = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], entry, namelen) == 0 && e->v[i][namelen] == '=') {
            free(e->v[i]);
            if (eq) {
                e->v[i] = xstrdup(entry);
            } else {
                e->v[i] = e->v[e->n - 1];
                e->n--;
            }
            return;
        }
    }
    if (eq == NULL)
        return;
    if (e->n + 2 > e->cap) {
        e->cap = e->cap ? e->cap * 2 : 32;
        e->v = xrealloc(e->v, e->cap * sizeof *e->v);
    }
    e->v[e->n++] = xstrdup(entry);
    e->v[e->n] = NULL;
}

static void env_putf(struct envlist *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void env_putf(struct envlist *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = vfmt(fmt, ap);
    va_end(ap);
    env_put(e, p);
    free(p);
}

static void env_free(struct envlist *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
    memset(e, 0, sizeof *e);
}

static void build_env(const struct hk_srv *s, const char *const *extra,
                      struct envlist *e)
{
    static const char *const pass[] = {"ASAN_OPTIONS",   "UBSAN_OPTIONS",
                                       "LSAN_OPTIONS",   "ASAN_SYMBOLIZER_PATH",
                                       "TSAN_OPTIONS",   "HOOKD_TEST_RUN",
                                       NULL};
    const char *path = getenv("PATH");
    env_putf(e, "PATH=%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (size_t i = 0; pass[i] != NULL; i++) {
        const char *v = getenv(pass[i]);
        if (v != NULL)
            env_putf(e, "%s=%s", pass[i], v);
    }
    env_putf(e, "HOOKD_DATABASE_URL=%s", s->db_url);
    env_putf(e, "HOOKD_LISTEN=127.0.0.1:%d", s->port);
    env_putf(e, "HOOKD_PUBLIC_URL=http://127.0.0.1:%d", s->port);
    env_putf(e, "HOOKD_ADMIN_KEY=%s", s->admin_key);
    env_putf(e, "HOOKD_SECRET_KEY=%s", s->secret_key);
    env_put(e, "HOOKD_ALLOW_PRIVATE_TARGETS=1");
    env_put(e, "HOOKD_RETRY_SCHEDULE=1s,1s,1s");
    env_put(e, "HOOKD_REQUEST_TIMEOUT=2s");
    env_put(e, "HOOKD_LOG_LEVEL=info");
    env_putf(e, "HOOKD_WEB_DIR=%s/web", s->source_dir);
    env_putf(e, "HOOKD_MIGRATIONS_DIR=%s/migrations", s->source_dir);
    for (size_t i = 0; s->extra_env && s->extra_env[i]; i++)
        env_put(e, s->extra_env[i]);
    for (size_t i = 0; extra && extra[i]; i++)
        env_put(e, extra[i]);
}

static char **copy_strv(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = xmalloc((n + 1) * sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    out[n] = NULL;
    return out;
}

static char **concat_strv(char *const *a, const char *const *b)
{
    size_t na = 0, nb = 0;
    while (a && a[na])
        na++;
    while (b && b[nb])
        nb++;
    char **out = xmalloc((na + nb + 1) * sizeof *out);
    for (size_t i = 0; i < na; i++)
        out[i] = xstrdup(a[i]);
    for (size_t i = 0; i < nb; i++)
        out[na + i] = xstrdup(b[i]);
    out[na + nb] = NULL;
    return out;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* ---- processes -------------------------------------------------------- */

/* fork + exec with the output appended to log_path. The child dies with
 * the test process (PR_SET_PDEATHSIG) so a crashed test leaves no server
 * behind. Only async-signal-safe calls run between fork and exec. */
static pid_t spawn(const char *bin, char *const argv[], char *const envp[],
                   const char *log_path, const char *cwd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork failed: %s\n", strerror(errno));
        return -1;
    }
    if (pid > 0)
        return pid;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul >= 0)
        dup2(nul, 0);
    if (cwd != NULL && chdir(cwd) != 0)
        _exit(126);
    execve(bin, argv, envp);
    static const char msg[] = "harness: execve of hookd failed\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
}

/* Waits up to timeout_ms; returns the raw wait status or -1 (still
 * running after the timeout). */
static int wait_ms(pid_t pid, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return 0;
        if (mono_ms() >= deadline)
            return -1;
        hk_sleep_ms(20);
    }
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

static const char *prog_name(void)
{
    return program_invocation_short_name;
}

static void make_log_path(struct hk_srv *s, const char *what)
{
    snprintf(s->log_path, sizeof s->log_path, "%s/%s-%s-%s-p%d-%d.log",
             s->log_dir, prog_name(), s->dbname, what, s->port, s->starts);
    unlink(s->log_path);
}

/* Runs bin with args in s's environment, output to log_path. */
static int run_sync(struct hk_srv *s, const char *const *args,
                    const char *const *extra, const char *log_path,
                    int timeout_ms)
{
    struct envlist env = {0};
    build_env(s, extra, &env);
    size_t nargs = 0;
    while (args && args[nargs])
        nargs++;
    char **argv = xmalloc((nargs + 2) * sizeof *argv);
    argv[0] = s->bin;
    for (size_t i = 0; i < nargs; i++)
        argv[i + 1] = (char *)args[i];
    argv[nargs + 1] = NULL;
    pid_t pid = spawn(s->bin, argv, env.v, log_path, s->source_dir);
    free(argv);
    env_free(&env);
    if (pid < 0)
        return -1;
    int st = wait_ms(pid, timeout_ms);
    if (st == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fprintf(stderr, "harness: %s %s timed out after %d ms\n", s->bin,
                args && args[0] ? args[0] : "", timeout_ms);
        return -1;
    }
    return decode_status(st);
}

int hk_srv_exec(struct hk_srv *s, const char *const *args,
                const char *const *extra_env, char **output)
{
    char path[4600];
    snprintf(path, sizeof path, "%s/%s-%s-exec-%d.log", s->log_dir, prog_name(),
             s->dbname[0] ? s->dbname : "nodb", ++exec_counter);
    unlink(path);
    int rc = run_sync(s, args, extra_env, path, EXEC_TIMEOUT_MS);
    if (output != NULL) {
        char *text = read_file_tail(path, 1 << 20);
        *output = text ? text : xstrdup("");
    }
    return rc;
}

/* ---- database --------------------------------------------------------- */

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *pg_connect(const struct hk_srv *s, const char *dbname)
{
    const char *keys[] = {
        "host", "port", "user", "dbname", "connect_timeout", "application_name",
        NULL};
    const char *vals[] = {s->pg_host, s->pg_port,  s->pg_user, dbname,
                          "10",       "hookd-e2e", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr,
                "harness: cannot connect to PostgreSQL at %s:%s as %s "
                "(db %s): %s",
                s->pg_host, s->pg_port, s->pg_user, dbname, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    return c;
}

/* Sessions on s's database that a dispatcher opened to LISTEN for work
 * (hookd names its connections by part: db.h); -1 when it cannot ask. */
static long listen_sessions(const struct hk_srv *s)
{
    PGconn *c = pg_connect(s, s->dbname);
    if (c == NULL)
        return -1;
    const char *p[1] = {s->dbname};
    PGresult *r = PQexecParams(c,
                               "SELECT count(*) FROM pg_stat_activity"
                               " WHERE datname = $1"
                               " AND application_name = 'hookd listen'",
                               1, NULL, p, NULL, NULL, 0);
    long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                 ? strtol(PQgetvalue(r, 0, 0), NULL, 10)
                 : -1;
    PQclear(r);
    PQfinish(c);
    return n;
}

static int admin_sql(const struct hk_srv *s, const char *sql)
{
    PGconn *c = pg_connect(s, "postgres");
    if (c == NULL)
        return -1;
    PGresult *r = PQexec(c, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "harness: %s: %s", sql, PQerrorMessage(c));
        rc = -1;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

static int create_db(struct hk_srv *s)
{
    snprintf(s->dbname, sizeof s->dbname, "hookd_e2e_%ld_%d", (long)getpid(),
             db_counter++);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)",
             s->dbname);
    if (admin_sql(s, sql) != 0)
        return -1;
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", s->dbname);
    if (admin_sql(s, sql) != 0)
        return -1;
    if (s->pg_host[0] == '/')
        snprintf(s->db_url, sizeof s->db_url,
                 "host=%s port=%s user=%s dbname=%s", s->pg_host, s->pg_port,
                 s->pg_user, s->dbname);
    else
        snprintf(s->db_url, sizeof s->db_url, "postgresql://%s@%s:%s/%s",
                 s->pg_user, s->pg_host, s->pg_port, s->dbname);
    s->owns_db = true;
    return 0;
}

static void drop_db(struct hk_srv *s)
{
    if (!s->owns_db || s->dbname[0] == '\0')
        return;
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)",
             s->dbname);
    admin_sql(s, sql);
    s->owns_db = false;
}

static char *sql_v(const char *file, int line, struct hk_srv *s,
                   const char *sql, va_list ap, bool *isnull)
{
    const char *params[32];
    int n = 0;
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL) {
        if (n == 32) {
            print_error("hk_sql: more than 32 parameters\n");
            _fail(file, line);
            return NULL;
        }
        params[n++] = p == HK_SQL_NULL ? NULL : p;
    }
    PGconn *c = pg_connect(s, s->dbname);
    if (c == NULL) {
        print_error("hk_sql: no connection to %s\n", s->dbname);
        _fail(file, line);
        return NULL;
    }
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        char *msg = xstrdup(PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        print_error("hk_sql: %s\n  failed: %s\n", sql, msg);
        free(msg);
        _fail(file, line);
        return NULL;
    }
    char *out = NULL;
    *isnull = true;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0 &&
        !PQgetisnull(r, 0, 0)) {
        out = xstrdup(PQgetvalue(r, 0, 0));
        *isnull = false;
    }
    PQclear(r);
    PQfinish(c);
    return out;
}

char *hk_sql_at(const char *file, int line, struct hk_srv *s, const char *sql,
                ...)
{
    va_list ap;
    va_start(ap, sql);
    bool isnull;
    char *out = sql_v(file, line, s, sql, ap, &isnull);
    va_end(ap);
    return out;
}

void hk_expect_no_tenant_rows_at(const char *file, int line, struct hk_srv *s,
                                 const char *tid, const char *const *tables)
{
    bool left = false;
    for (size_t i = 0; tables[i] != NULL; i++) {
        char *sql = hk_fmt("SELECT count(*) FROM hookd.%s"
                           " WHERE tenant_id = $1::uuid",
                           tables[i]);
        long long n = hk_sql_int_at(file, line, s, sql, tid,
                                    (const char *)NULL);
        free(sql);
        if (n != 0) {
            print_error("hookd.%s still holds %lld rows of tenant %s\n",
                        tables[i], n, tid);
            left = true;
        }
    }
    if (left)
        _fail(file, line);
}

long long hk_sql_int_at(const char *file, int line, struct hk_srv *s,
                        const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    bool isnull = true;
    char *out = sql_v(file, line, s, sql, ap, &isnull);
    va_end(ap);
    if (out == NULL) {
        print_error("hk_sql_int: %s\n  gave no value\n", sql);
        _fail(file, line);
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(out, &end, 10);
    if (errno != 0 || *end != '\0' || end == out) {
        print_error("hk_sql_int: %s\n  gave \"%s\", not an integer\n", sql,
                    out);
        free(out);
        _fail(file, line);
        return 0;
    }
    free(out);
    return v;
}

/* ---- HTTP client (libcurl) -------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

static void reply_add_header(struct hk_reply *r, const char *name, size_t nlen,
                             const char *value, size_t vlen)
{
    r->hdrs = xrealloc(r->hdrs, (r->nhdrs + 1) * sizeof *r->hdrs);
    char *n = xmalloc(nlen + 1);
    memcpy(n, name, nlen);
    n[nlen] = '\0';
    char *v = xmalloc(vlen + 1);
    memcpy(v, value, vlen);
    v[vlen] = '\0';
    r->hdrs[r->nhdrs].name = n;
    r->hdrs[r->nhdrs].value = v;
    r->nhdrs++;
}

static void reply_clear_headers(struct hk_reply *r)
{
    for (size_t i = 0; i < r->nhdrs; i++) {
        free(r->hdrs[i].name);
        free(r->hdrs[i].value);
    }
    free(r->hdrs);
    r->hdrs = NULL;
    r->nhdrs = 0;
}

/* Parses one header line; a status line starts a new header block (after
 * a 100 Continue). */
static void reply_header_line(struct hk_reply *r, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        reply_clear_headers(r);
        return;
    }
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vlen = len - nlen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    reply_add_header(r, line, nlen, v, vlen);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    size_t n = size * nitems;
    reply_header_line(ud, buf, n);
    return n;
}

struct body_acc {
    char *data;
    size_t len;
    size_t cap;
};

static void acc_append(struct body_acc *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static size_t on_body(char *buf, size_t size, size_t nitems, void *ud)
{
    size_t n = size * nitems;
    acc_append(ud, buf, n);
    return n;
}

static void reply_finish_body(struct hk_reply *r, struct body_acc *b)
{
    if (b->data == NULL)
        acc_append(b, "", 0);
    r->body = b->data;
    r->body_len = b->len;
    r->json = NULL;
    if (r->body_len > 0) {
        json_error_t jerr;
        size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
        r->json = json_loadb(r->body, r->body_len, flags, &jerr);
        /* an event's payload may hold integers past 64 bits, which hookd
         * echoes as sent */
        if (r->json == NULL &&
            json_error_code(&jerr) == json_error_numeric_overflow)
            r->json = json_loadb(r->body, r->body_len,
                                 flags | JSON_DECODE_INT_AS_REAL, &jerr);
    }
}

static struct hk_reply *reply_new(struct hk_srv *s, const char *method,
                                  const char *target)
{
    struct hk_reply *r = xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    copy_str(r->method, sizeof r->method, method);
    r->target = xstrdup(target);
    r->srv = s;
    return r;
}

const char *hk_reply_header(const struct hk_reply *r, const char *name)
{
    for (size_t i = 0; r && i < r->nhdrs; i++)
        if (strcasecmp(r->hdrs[i].name, name) == 0)
            return r->hdrs[i].value;
    return NULL;
}

void hk_reply_free(struct hk_reply *r)
{
    if (r == NULL)
        return;
    reply_clear_headers(r);
    free(r->body);
    free(r->target);
    json_decref(r->json);
    free(r);
}

static struct hk_reply *http_url(struct hk_srv *s, const char *base,
                                 const char *method, const char *path,
                                 const char *token, const char *content_type,
                                 const char *body, size_t body_len,
                                 const char *const *extra_headers,
                                 long timeout_ms)
{
    pthread_once(&curl_once, curl_init_once);
    struct hk_reply *r = reply_new(s, method, path);
    struct body_acc acc = {0};
    char *url = hk_fmt("%s%s", base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char *auth = NULL;
    if (c == NULL) {
        copy_str(r->err, sizeof r->err, "curl_easy_init failed");
        goto done;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &acc);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    bool has_expect = false;
    for (size_t i = 0; extra_headers && extra_headers[i]; i++)
        if (strncasecmp(extra_headers[i], "Expect:", 7) == 0)
            has_expect = true;
    if (!has_expect)
        hl = curl_slist_append(hl, "Expect:");
    if (content_type != NULL) {
        char *h = hk_fmt("Content-Type: %s", content_type);
        hl = curl_slist_append(hl, h);
        free(h);
    } else {
        hl = curl_slist_append(hl, "Content-Type:");
    }
    if (token != NULL) {
        auth = hk_fmt("Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    for (size_t i = 0; extra_headers && extra_headers[i]; i++)
        hl = curl_slist_append(hl, extra_headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(r->err, sizeof r->err, "%s", curl_easy_strerror(rc));
        long st = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        r->status = st;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    }
done:
    reply_finish_body(r, &acc);
    curl_slist_free_all(hl);
    if (c != NULL)
        curl_easy_cleanup(c);
    free(auth);
    free(url);
    return r;
}

struct hk_reply *hk_http(struct hk_srv *s, const char *method, const char *path,
                         const char *token, const char *content_type,
                         const char *body, size_t body_len,
                         const char *const *extra_headers)
{
    return http_url(s, s->base_url, method, path, token, content_type, body,
                    body_len, extra_headers, HTTP_TIMEOUT_MS);
}

static struct hk_reply *vcall(struct hk_srv *s, const char *method,
                              const char *token, const char *body,
                              const char *path_fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
static struct hk_reply *vcall(struct hk_srv *s, const char *method,
                              const char *token, const char *body,
                              const char *path_fmt, va_list ap)
{
    char *path = vfmt(path_fmt, ap);
    struct hk_reply *r =
        hk_http(s, method, path, token, body ? "application/json" : NULL, body,
                body ? strlen(body) : 0, NULL);
    free(path);
    return r;
}

struct hk_reply *hk_call(struct hk_srv *s, const char *method,
                         const char *token, const char *body,
                         const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    struct hk_reply *r = vcall(s, method, token, body, path_fmt, ap);
    va_end(ap);
    return r;
}

struct hk_reply *hk_admin(struct hk_srv *s, const char *method,
                          const char *body, const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    struct hk_reply *r = vcall(s, method, s->admin_key, body, path_fmt, ap);
    va_end(ap);
    return r;
}

/* ---- HTTP client (raw sockets) ---------------------------------------- */

/* Parses buf as one HTTP response (after any 1xx ones). Returns true and
 * fills r when it is complete (or when eof ends a body without length). */
static bool parse_raw(const char *buf, size_t len, bool eof, struct hk_reply *r)
{
    size_t off = 0;
    for (;;) {
        const char *end = memmem(buf + off, len - off, "\r\n\r\n", 4);
        if (end == NULL)
            return false;
        size_t head_end = (size_t)(end - buf) + 4;
        long status = 0;
        if (sscanf(buf + off, "HTTP/%*d.%*d %ld", &status) != 1)
            return false;
        if (status >= 100 && status < 200) {
            off = head_end;
            continue;
        }
        reply_clear_headers(r);
        const char *line = memchr(buf + off, '\n', head_end - off);
        while (line != NULL && (size_t)(line - buf) + 1 < head_end - 2) {
            const char *ls = line + 1;
            const char *le = memchr(ls, '\n', (size_t)(buf + head_end - ls));
            if (le == NULL)
                break;
            reply_header_line(r, ls, (size_t)(le - ls));
            line = le;
        }
        r->status = status;
        struct body_acc acc = {0};
        const char *cl = hk_reply_header(r, "Content-Length");
        const char *te = hk_reply_header(r, "Transfer-Encoding");
        const char *b = buf + head_end;
        size_t blen = len - head_end;
        bool complete = false;
        if (strcmp(r->method, "HEAD") == 0 || status == 204 || status == 304) {
            complete = true;
        } else if (te != NULL && strcasestr(te, "chunked") != NULL) {
            size_t p = 0;
            for (;;) {
                const char *crlf = memmem(b + p, blen - p, "\r\n", 2);
                if (crlf == NULL)
                    break;
                unsigned long sz = strtoul(b + p, NULL, 16);
                size_t data = (size_t)(crlf - b) + 2;
                if (sz == 0) {
                    complete = true;
                    break;
                }
                if (data + sz + 2 > blen)
                    break;
                acc_append(&acc, b + data, sz);
                p = data + sz + 2;
            }
        } else if (cl != NULL) {
            size_t want = (size_t)strtoull(cl, NULL, 10);
            if (blen >= want) {
                acc_append(&acc, b, want);
                complete = true;
            }
        } else {
            acc_append(&acc, b, blen);
            complete = eof;
        }
        if (!complete && !eof) {
            free(acc.data);
            return false;
        }
        free(r->body);
        json_decref(r->json);
        reply_finish_body(r, &acc);
        return true;
    }
}

struct hk_reply *hk_raw(struct hk_srv *s, const void *data, size_t len,
                        int timeout_ms)
{
    char method[16] = "RAW";
    size_t ml = strcspn((const char *)data, " \r\n");
    if (ml > 0 && ml < sizeof method && ml <= len) {
        memcpy(method, data, ml);
        method[ml] = '\0';
    }
    struct hk_reply *r = reply_new(s, method, "(raw request)");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(r->err, sizeof r->err, "socket: %s", strerror(errno));
        return r;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)s->port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(r->err, sizeof r->err, "connect: %s", strerror(errno));
        close(fd);
        return r;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct body_acc in = {0};
    size_t sent = 0;
    bool writing = len > 0, eof = false, done = false;
    int64_t deadline = mono_ms() + timeout_ms;
    while (!done) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            snprintf(r->err, sizeof r->err, "timed out after %d ms",
                     timeout_ms);
            break;
        }
        struct pollfd p = {fd, (short)(POLLIN | (writing ? POLLOUT : 0)), 0};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[65536];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                acc_append(&in, buf, (size_t)n);
                /* the server answered: stop sending the rest */
                writing = false;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                if (n < 0 && in.len == 0)
                    snprintf(r->err, sizeof r->err, "recv: %s",
                             strerror(errno));
                eof = true;
            }
            if (in.len > 0 && parse_raw(in.data, in.len, eof, r))
                done = true;
            else if (eof)
                break;
        }
        if (writing && (p.revents & POLLOUT)) {
            ssize_t n =
                send(fd, (const char *)data + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += (size_t)n;
                if (sent == len)
                    writing = false;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                writing = false;
            }
        }
    }
    if (!done && r->err[0] == '\0')
        snprintf(r->err, sizeof r->err,
                 "no complete HTTP response (%zu bytes received)", in.len);
    if (r->body == NULL) {
        struct body_acc empty = {0};
        reply_finish_body(r, &empty);
    }
    free(in.data);
    close(fd);
    return r;
}

/* ---- starting and stopping -------------------------------------------- */

static int load_settings(struct hk_srv *s)
{
    const char *bin = getenv("HOOKD_BIN");
    if (bin == NULL || bin[0] == '\0') {
        fprintf(stderr, "harness: HOOKD_BIN is not set: it must name the "
                        "hookd binary to test (e.g. build/asan/hookd)\n");
        return -1;
    }
    struct stat st;
    if (stat(bin, &st) != 0 || !S_ISREG(st.st_mode) || access(bin, X_OK) != 0) {
        fprintf(stderr,
                "harness: HOOKD_BIN=%s is not an executable file "
                "(build it with `make build/asan/hookd`)\n",
                bin);
        return -1;
    }
    copy_str(s->bin, sizeof s->bin, bin);
    const char *src = getenv("HOOKD_SOURCE_DIR");
    copy_str(s->source_dir, sizeof s->source_dir, src && src[0] ? src : ".");
    const char *v = getenv("HOOKD_TEST_PGHOST");
    copy_str(s->pg_host, sizeof s->pg_host, v && v[0] ? v : "127.0.0.1");
    v = getenv("HOOKD_TEST_PGPORT");
    copy_str(s->pg_port, sizeof s->pg_port, v && v[0] ? v : "5432");
    v = getenv("HOOKD_TEST_PGUSER");
    copy_str(s->pg_user, sizeof s->pg_user, v && v[0] ? v : "postgres");
    char build[4200];
    snprintf(build, sizeof build, "%s/build", s->source_dir);
    mkdir(build, 0755);
    snprintf(s->log_dir, sizeof s->log_dir, "%s/build/test-logs",
             s->source_dir);
    if (mkdir(s->log_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "harness: cannot create %s: %s\n", s->log_dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

static void make_keys(struct hk_srv *s)
{
    unsigned char raw[32];
    random_bytes(raw, 24);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < 24; i++) {
        s->admin_key[2 * i] = hex[raw[i] >> 4];
        s->admin_key[2 * i + 1] = hex[raw[i] & 15];
    }
    s->admin_key[48] = '\0';
    random_bytes(raw, 32);
    base64(raw, 32, s->secret_key);
}

/* Status of GET base/healthz with a short timeout; 0 when no answer. */
static long health_status(struct hk_srv *s)
{
    struct hk_reply *r = http_url(s, s->base_url, "GET", "/healthz", NULL, NULL,
                                  NULL, 0, NULL, 1000);
    long st = r->status;
    hk_reply_free(r);
    return st;
}

/* Spawns s->role and waits until it answers (or, for dispatch, until it
 * has stayed up for 2 s). */
static int launch(struct hk_srv *s)
{
    s->starts++;
    snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%d", s->port);
    make_log_path(s, s->role);
    /* `hookd dispatch` serves no HTTP: it is up once its LISTEN session
     * is, one more than the database had before it started */
    bool dispatch = strcmp(s->role, "dispatch") == 0;
    long listening = dispatch ? listen_sessions(s) : -1;
    if (dispatch && listening < 0)
        return -1;
    struct envlist env = {0};
    build_env(s, NULL, &env);
    char *argv[] = {s->bin, s->role, NULL};
    pid_t pid = spawn(s->bin, argv, env.v, s->log_path, s->source_dir);
    env_free(&env);
    if (pid < 0)
        return -1;
    s->pid = pid;
    int64_t t0 = mono_ms();
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            s->pid = 0;
            fprintf(stderr,
                    "harness: `hookd %s` exited with status %d during "
                    "start-up (log %s)\n",
                    s->role, decode_status(st), s->log_path);
            hk_srv_print_log(s, LOG_TAIL_BYTES);
            return -1;
        }
        if (dispatch ? listen_sessions(s) > listening
                     : health_status(s) == 200) {
            s->was_up = true;
            return 0;
        }
        if (mono_ms() - t0 >= START_TIMEOUT_MS) {
            fprintf(stderr,
                    "harness: `hookd %s` was not up (%s) within %d ms "
                    "(log %s)\n",
                    s->role, dispatch ? "no LISTEN session" : "GET /healthz",
                    START_TIMEOUT_MS, s->log_path);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            s->pid = 0;
            hk_srv_print_log(s, LOG_TAIL_BYTES);
            return -1;
        }
        hk_sleep_ms(50);
    }
}

int hk_srv_start_role(struct hk_srv *s, const char *role,
                      const char *const *extra_env)
{
    memset(s, 0, sizeof *s);
    if (load_settings(s) != 0)
        return -1;
    copy_str(s->role, sizeof s->role, role);
    make_keys(s);
    s->extra_env = copy_strv(extra_env);
    s->port = hk_free_port();
    if (s->port <= 0) {
        fprintf(stderr, "harness: no free TCP port on 127.0.0.1\n");
        goto fail;
    }
    if (create_db(s) != 0) {
        fprintf(stderr, "harness: cannot create the test database (is "
                        "PostgreSQL running? HOOKD_TEST_PGHOST/PGPORT/"
                        "PGUSER)\n");
        goto fail;
    }
    s->starts++;
    make_log_path(s, "migrate");
    const char *args[] = {"migrate", NULL};
    int rc = run_sync(s, args, NULL, s->log_path, EXEC_TIMEOUT_MS);
    s->starts--;
    if (rc != 0) {
        fprintf(stderr, "harness: `hookd migrate` exited with %d (log %s)\n",
                rc, s->log_path);
        hk_srv_print_log(s, LOG_TAIL_BYTES);
        goto fail;
    }
    if (launch(s) != 0)
        goto fail;
    return 0;
fail:
    hk_srv_drop(s);
    return -1;
}

int hk_srv_start(struct hk_srv *s, const char *const *extra_env)
{
    return hk_srv_start_role(s, "serve", extra_env);
}

int hk_srv_start_peer(struct hk_srv *peer, const struct hk_srv *base,
                      const char *role, const char *const *extra_env)
{
    memset(peer, 0, sizeof *peer);
    copy_str(peer->bin, sizeof peer->bin, base->bin);
    copy_str(peer->source_dir, sizeof peer->source_dir, base->source_dir);
    copy_str(peer->log_dir, sizeof peer->log_dir, base->log_dir);
    copy_str(peer->dbname, sizeof peer->dbname, base->dbname);
    copy_str(peer->db_url, sizeof peer->db_url, base->db_url);
    copy_str(peer->pg_host, sizeof peer->pg_host, base->pg_host);
    copy_str(peer->pg_port, sizeof peer->pg_port, base->pg_port);
    copy_str(peer->pg_user, sizeof peer->pg_user, base->pg_user);
    copy_str(peer->admin_key, sizeof peer->admin_key, base->admin_key);
    copy_str(peer->secret_key, sizeof peer->secret_key, base->secret_key);
    copy_str(peer->role, sizeof peer->role, role);
    peer->owns_db = false;
    peer->extra_env = concat_strv(base->extra_env, extra_env);
    peer->port = hk_free_port();
    if (peer->port <= 0 || launch(peer) != 0) {
        hk_srv_drop(peer);
        return -1;
    }
    return 0;
}

bool hk_srv_alive(struct hk_srv *s)
{
    if (s->pid <= 0)
        return false;
    int st;
    pid_t w = waitpid(s->pid, &st, WNOHANG);
    if (w == s->pid) {
        fprintf(stderr, "harness: `hookd %s` has exited with status %d\n",
                s->role, decode_status(st));
        s->pid = 0;
        return false;
    }
    return true;
}

int hk_srv_stop(struct hk_srv *s)
{
    if (s->pid <= 0) {
        fprintf(stderr, "harness: hk_srv_stop: `hookd %s` is not running\n",
                s->role);
        hk_srv_print_log(s, LOG_TAIL_BYTES);
        return -1;
    }
    kill(s->pid, SIGTERM);
    int st = wait_ms(s->pid, STOP_TIMEOUT_MS);
    int rc;
    if (st == -1) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        fprintf(stderr,
                "harness: `hookd %s` did not exit within %d ms of "
                "SIGTERM; killed\n",
                s->role, STOP_TIMEOUT_MS);
        rc = -1;
    } else {
        rc = decode_status(st);
        if (rc != 0)
            fprintf(stderr,
                    "harness: `hookd %s` exited with status %d "
                    "after SIGTERM\n",
                    s->role, rc);
    }
    s->pid = 0;
    if (rc != 0)
        hk_srv_print_log(s, LOG_TAIL_BYTES);
    return rc;
}

void hk_srv_kill9(struct hk_srv *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

int hk_srv_restart(struct hk_srv *s)
{
    if (s->pid > 0 && hk_srv_stop(s) != 0)
        return -1;
    return launch(s);
}

void hk_srv_drop(struct hk_srv *s)
{
    hk_srv_kill9(s);
    drop_db(s);
    free_strv(s->extra_env);
    s->extra_env = NULL;
}

int hk_srv_finish(struct hk_srv *s)
{
    if (!s->was_up) {
        /* the group setup failed to start it and said why */
        hk_srv_drop(s);
        return 0;
    }
    int rc = hk_srv_stop(s);
    hk_srv_drop(s);
    if (rc != 0) {
        unclean_exits++;
        fprintf(stderr,
                "harness: unclean exit of hookd (%d) at the end "
                "of the group: the test program fails\n",
                rc);
        return -1;
    }
    return 0;
}

int hk_exit_code(int cmocka_rc)
{
    if (cmocka_rc != 0 || unclean_exits != 0) {
        /* A failed assertion leaves its replies unfreed; skip the leak
         * report of this process then, it would only bury the failure. */
        fflush(NULL);
        _exit(1);
    }
    return 0;
}

/* ---- assertions ------------------------------------------------------- */

static void report_reply(const struct hk_reply *r)
{
    print_error("  request: %s %s\n  status: %ld%s%s\n  body: %.2000s\n",
                r->method, r->target ? r->target : "?", r->status,
                r->err[0] ? "  error: " : "", r->err, r->body ? r->body : "");
    if (r->srv != NULL && (r->status == 0 || r->status >= 500) &&
        !hk_srv_alive(r->srv))
        hk_srv_print_log(r->srv, LOG_TAIL_BYTES);
}

void hk_expect_at(const char *file, int line, const struct hk_reply *r,
                  long status)
{
    if (r->status == status)
        return;
    print_error("expected status %ld, got %ld\n", status, r->status);
    report_reply(r);
    _fail(file, line);
}

/* "x" matches x; "x*" matches x and x.anything. */
static bool field_matches(const char *want, const char *got)
{
    if (got == NULL)
        return false;
    size_t n = strlen(want);
    if (n > 0 && want[n - 1] == '*') {
        n--;
        return strncmp(want, got, n) == 0 && (got[n] == '\0' || got[n] == '.');
    }
    return strcmp(want, got) == 0;
}

void hk_expect_error_at(const char *file, int line, const struct hk_reply *r,
                        long status, const char *code, const char *field)
{
    const char *why = NULL;
    json_t *err = r->json ? json_object_get(r->json, "error") : NULL;
    json_t *msg = err ? json_object_get(err, "message") : NULL;
    const char *got_code = hk_jstr(r->json, "error.code");
    const char *got_field = hk_jstr(r->json, "error.field");
    if (r->status != status)
        why = "wrong status";
    else if (r->json == NULL || !json_is_object(r->json))
        why = "body is not a JSON object";
    else if (!json_is_object(err))
        why = "no \"error\" object";
    else if (got_code == NULL || strcmp(got_code, code) != 0)
        why = "wrong error.code";
    else if (!json_is_string(msg) || json_string_length(msg) == 0)
        why = "error.message missing or empty";
    else if (field != NULL && !field_matches(field, got_field))
        why = "wrong error.field";
    else if (hk_reply_header(r, "X-Request-Id") == NULL)
        why = "no X-Request-Id header";
    if (why == NULL)
        return;
    print_error("%s: expected %ld %s%s%s, got %ld %s%s%s\n", why, status, code,
                field ? " field " : "", field ? field : "", r->status,
                got_code ? got_code : "(no code)", got_field ? " field " : "",
                got_field ? got_field : "");
    report_reply(r);
    _fail(file, line);
}

void hk_expect_client_error_at(const char *file, int line,
                               const struct hk_reply *r)
{
    const char *why = NULL;
    const char *code = hk_jstr(r->json, "error.code");
    const char *msg = hk_jstr(r->json, "error.message");
    if (r->status < 400 || r->status > 499)
        why = "expected a 4xx status";
    else if (code == NULL || code[0] == '\0')
        why = "no error.code";
    else if (msg == NULL || msg[0] == '\0')
        why = "no error.message";
    else if (hk_reply_header(r, "X-Request-Id") == NULL)
        why = "no X-Request-Id header";
    if (why == NULL)
        return;
    print_error("%s\n", why);
    report_reply(r);
    _fail(file, line);
}

void hk_expect_alive_at(const char *file, int line, struct hk_srv *s)
{
    struct hk_reply *r = http_url(s, s->base_url, "GET", "/healthz", NULL, NULL,
                                  NULL, 0, NULL, 10000);
    long st = r->status;
    if (st != 200) {
        print_error("server no longer answers GET /healthz\n");
        report_reply(r);
        if (hk_srv_alive(s))
            hk_srv_print_log(s, LOG_TAIL_BYTES);
    }
    hk_reply_free(r);
    if (st != 200)
        _fail(file, line);
}

/* ---- creation helpers ------------------------------------------------- */

static void take_id(struct hk_reply *r, const char *what, char *id)
{
    const char *v = hk_jstr(r->json, "id");
    if (v == NULL) {
        print_error("%s: the answer has no string \"id\"\n", what);
        report_reply(r);
        hk_reply_free(r);
        fail();
        return;
    }
    copy_str(id, HK_ID_LEN, v);
}

/* A created credential's string member name (copied: caller frees) and,
 * when id is not NULL, its id; r is freed. A missing member fails the
 * test. */
static char *take_secret(struct hk_reply *r, const char *what,
                         const char *name, char *id)
{
    const char *v = hk_jstr(r->json, name);
    if (v == NULL) {
        print_error("%s: the answer has no string \"%s\"\n", what, name);
        report_reply(r);
        hk_reply_free(r);
        fail();
        return NULL;
    }
    char *out = xstrdup(v);
    if (id != NULL)
        take_id(r, what, id);
    hk_reply_free(r);
    return out;
}

static char *dump_compact(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s == NULL) {
        fprintf(stderr, "harness: json_dumps failed\n");
        abort();
    }
    return s;
}

void hk_mk_tenant(struct hk_srv *s, const char *name, char *id)
{
    char *body = dump_compact(json_pack("{s:s}", "name", name));
    struct hk_reply *r = hk_admin(s, "POST", body, "/v1/tenants");
    free(body);
    hk_expect(r, 201);
    take_id(r, "POST /v1/tenants", id);
    hk_reply_free(r);
}

char *hk_mk_api_key(struct hk_srv *s, const char *tid, char *kid)
{
    struct hk_reply *r = hk_admin(s, "POST", "{\"name\":\"e2e key\"}",
                                  "/v1/tenants/%s/api-keys", tid);
    hk_expect(r, 201);
    return take_secret(r, "POST api-keys", "key", kid);
}

void hk_mk_event_type(struct hk_srv *s, const char *name)
{
    char *body = dump_compact(json_pack("{s:s}", "name", name));
    struct hk_reply *r = hk_admin(s, "POST", body, "/v1/event-types");
    free(body);
    if (r->status != 409)
        hk_expect(r, 201);
    hk_reply_free(r);
}

void hk_mk_endpoint(struct hk_srv *s, const char *token, const char *tid,
                    const char *body, char *id)
{
    struct hk_reply *r = hk_call(s, "POST", token ? token : s->admin_key, body,
                                 "/v1/tenants/%s/endpoints", tid);
    hk_expect(r, 201);
    take_id(r, "POST endpoints", id);
    hk_reply_free(r);
}

void hk_set_limits(struct hk_srv *s, const char *tid, const char *limits)
{
    char *body = hk_fmt("{\"limits\":%s}", limits);
    struct hk_reply *r = hk_admin(s, "PATCH", body, "/v1/tenants/%s", tid);
    hk_expect(r, 200);
    hk_reply_free(r);
    free(body);
}

char *hk_mk_session(struct hk_srv *s, const char *tid, const char *body,
                    char *sid)
{
    struct hk_reply *r =
        hk_admin(s, "POST", body, "/v1/tenants/%s/portal-sessions", tid);
    hk_expect(r, 201);
    return take_secret(r, "POST portal-sessions", "token", sid);
}

json_t *hk_get_json(struct hk_srv *s, const char *token, const char *path_fmt,
                    ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    struct hk_reply *r = vcall(s, "GET", token, NULL, path_fmt, ap);
    va_end(ap);
    hk_expect(r, 200);
    json_t *j = json_incref(r->json);
    hk_reply_free(r);
    return j;
}

/* ---- the group fixture ------------------------------------------------ */

int hk_group_start(struct hk_srv *s, const char *const *extra_env,
                   struct hk_rcv **rcv, const char *const *types)
{
    if (rcv != NULL && (*rcv = hk_rcv_start()) == NULL)
        return -1;
    if (hk_srv_start(s, extra_env) != 0) {
        if (rcv != NULL) {
            hk_rcv_stop(*rcv);
            *rcv = NULL;
        }
        return -1;
    }
    for (size_t i = 0; types != NULL && types[i] != NULL; i++)
        hk_mk_event_type(s, types[i]);
    return 0;
}

int hk_group_finish(struct hk_srv *s, struct hk_rcv **rcv)
{
    int rc = hk_srv_finish(s);
    if (rcv != NULL) {
        hk_rcv_stop(*rcv);
        *rcv = NULL;
    }
    return rc;
}

/* ---- lists ---------------------------------------------------------- */

json_t *hk_list_all_at(const char *file, int line, struct hk_srv *s,
                       const char *token, const char *path, int limit,
                       int *pages)
{
    json_t *all = json_array();
    char *cursor = NULL;
    int n = 0;
    for (;;) {
        char *enc = cursor ? hk_urlenc(cursor) : NULL;
        const char *sep = strchr(path, '?') ? "&" : "?";
        char *target;
        if (limit > 0 && enc)
            target = hk_fmt("%s%slimit=%d&cursor=%s", path, sep, limit, enc);
        else if (limit > 0)
            target = hk_fmt("%s%slimit=%d", path, sep, limit);
        else if (enc)
            target = hk_fmt("%s%scursor=%s", path, sep, enc);
        else
            target = hk_fmt("%s", path);
        free(enc);
        struct hk_reply *r =
            hk_http(s, "GET", target, token, NULL, NULL, 0, NULL);
        free(target);
        n++;
        const char *why = NULL;
        json_t *data = hk_jget(r->json, "data");
        json_t *more = hk_jget(r->json, "has_more");
        json_t *next = hk_jget(r->json, "next_cursor");
        if (r->status != 200)
            why = "status is not 200";
        else if (!json_is_array(data))
            why = "no \"data\" array";
        else if (!json_is_boolean(more))
            why = "no boolean \"has_more\"";
        else if (next == NULL)
            why = "no \"next_cursor\" member";
        else if (json_is_true(more) && !json_is_string(next))
            why = "has_more is true but next_cursor is not a string";
        else if (json_is_false(more) && !json_is_null(next))
            why = "next_cursor is not null on the last page";
        else if (limit > 0 && json_array_size(data) > (size_t)limit)
            why = "more items than limit";
        else if (json_is_true(more) && json_array_size(data) == 0)
            why = "an empty page says has_more";
        else if (n > 10000)
            why = "more than 10000 pages: the cursor does not advance";
        if (why != NULL) {
            print_error("list %s, page %d: %s\n", path, n, why);
            report_reply(r);
            hk_reply_free(r);
            free(cursor);
            json_decref(all);
            _fail(file, line);
            return NULL;
        }
        json_array_extend(all, data);
        free(cursor);
        cursor = json_is_true(more) ? xstrdup(json_string_value(next)) : NULL;
        hk_reply_free(r);
        if (cursor == NULL)
            break;
    }
    if (pages != NULL)
        *pages = n;
    return all;
}

char *hk_jpack(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_error_t jerr;
    json_t *j = json_vpack_ex(&jerr, 0, fmt, ap);
    va_end(ap);
    if (j == NULL) {
        fprintf(stderr, "harness: hk_jpack(\"%s\"): %s\n", fmt, jerr.text);
        abort();
    }
    return dump_compact(j);
}

/* ---- JSON lookups ----------------------------------------------------- */

json_t *hk_jget(json_t *root, const char *path)
{
    json_t *cur = root;
    const char *p = path;
    while (cur != NULL && *p != '\0') {
        size_t n = strcspn(p, ".");
        char key[256];
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, key);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(key, &end, 10);
            if (*end != '\0' || end == key)
                return NULL;
            cur = json_array_get(cur, i);
        } else {
            return NULL;
        }
        p += n;
        if (*p == '.')
            p++;
    }
    return cur;
}

const char *hk_jstr(json_t *root, const char *path)
{
    json_t *v = hk_jget(root, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

long long hk_jint(json_t *root, const char *path, long long def)
{
    json_t *v = hk_jget(root, path);
    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

bool hk_is_uuid7(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-'
                 : !(isdigit((unsigned char)s[i]) ||
                     (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return s[14] == '7' && strchr("89ab", s[19]) != NULL;
}

bool hk_is_rfc3339_ms(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (s == NULL || strlen(s) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return false;
    }
    return true;
}
