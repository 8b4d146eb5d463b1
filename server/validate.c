/*
 * validate.c - the input rules the API handlers share: event type names and
 * filters (and how a filter matches a type), endpoint URLs, extra header
 * names and values, canonical UUID text, display names and UTF-8. Pure
 * functions: each returns true or writes a short message (without the field
 * name, which the caller knows) for the 422 body.
 */
#include "validate.h"
#include "netguard.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EVENT_TYPE_MAX 128
#define URL_MAX 2048
#define HEADER_NAME_MAX 256
#define HEADER_VALUE_MAX 4096
#define NAME_MAX_BYTES 200

static bool fail(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *msg, size_t msglen, const char *fmt, ...)
{
    if (msg && msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool is_segment_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Segments of [A-Za-z0-9_-] joined by single dots, over n bytes. */
static bool dotted_segments(const char *s, size_t n)
{
    if (n == 0)
        return false;
    size_t seg = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (seg == 0)
                return false;
            seg = 0;
        } else if (is_segment_char(c)) {
            seg++;
        } else {
            return false;
        }
    }
    return seg > 0;
}

bool hk_valid_event_type_name(const char *s, char *msg, size_t msglen)
{
    if (!s || !*s)
        return fail(msg, msglen, "must not be empty");
    size_t n = strlen(s);
    if (n > EVENT_TYPE_MAX)
        return fail(msg, msglen, "must be at most %d characters",
                    EVENT_TYPE_MAX);
    if (!dotted_segments(s, n))
        return fail(msg, msglen,
                    "must be segments of letters, digits, '_' or '-' "
                    "joined by '.'");
    return true;
}

bool hk_valid_event_type_filter(const char *s, char *msg, size_t msglen)
{
    if (!s || !*s)
        return fail(msg, msglen, "must not be empty");
    if (strcmp(s, "*") == 0)
        return true;
    size_t n = strlen(s);
    if (n > EVENT_TYPE_MAX)
        return fail(msg, msglen, "must be at most %d characters",
                    EVENT_TYPE_MAX);
    if (n > 2 && s[n - 1] == '*' && s[n - 2] == '.') {
        if (!dotted_segments(s, n - 2))
            return fail(msg, msglen,
                        "a wildcard must be an event type prefix followed "
                        "by '.*'");
        return true;
    }
    if (strchr(s, '*'))
        return fail(msg, msglen,
                    "'*' may only stand alone or end a filter as '.*'");
    return hk_valid_event_type_name(s, msg, msglen);
}

bool hk_filter_matches(const char *f, const char *type)
{
    if (!f || !type)
        return false;
    if (strcmp(f, "*") == 0)
        return true;
    size_t n = strlen(f);
    if (n >= 2 && f[n - 1] == '*' && f[n - 2] == '.') {
        /* "invoice.*" keeps its dot, so "invoices.paid" and "invoice"
         * do not match, and something must follow the dot. */
        return strncmp(f, type, n - 1) == 0 && type[n - 1] != '\0';
    }
    return strcmp(f, type) == 0;
}

void hk_event_type_patterns(const char *type, struct hk_buf *out)
{
    /* Every filter entry that can match "a.b.c": "*", the name itself,
     * and "a.*", "a.b.*" for each dot. Names hold no quote or backslash
     * (hk_valid_event_type_name), so the elements need no escaping. */
    hk_buf_puts(out, "{\"*\",\"");
    hk_buf_puts(out, type);
    hk_buf_puts(out, "\"");
    for (const char *p = type; *p; p++) {
        if (*p != '.')
            continue;
        hk_buf_puts(out, ",\"");
        hk_buf_append(out, type, (size_t)(p - type) + 1);
        hk_buf_puts(out, "*\"");
    }
    hk_buf_puts(out, "}");
}

static bool is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* Refuses a host that names an inward address without any DNS lookup:
 * literal IPv4 in every form the resolver accepts ("127.1", "0x7f.1",
 * "2130706433"), literal IPv6, and the reserved name localhost. */
static bool host_allowed(const char *host, bool v6, char *msg, size_t msglen)
{
    char h[256];
    size_t n = strlen(host);
    if (n >= sizeof(h))
        return fail(msg, msglen, "The URL's host name is too long");
    memcpy(h, host, n + 1);
    if (n > 1 && h[n - 1] == '.')
        h[--n] = '\0';

    enum hk_addr_class cls = HK_ADDR_PUBLIC;
    if (v6) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, h, &a6) != 1)
            return fail(msg, msglen, "The URL's host is not a valid IPv6 address");
        (void)hk_netguard_classify_text(h, &cls);
    } else {
        struct in_addr a4;
        size_t i = 0;
        while (h[i] &&
               (h[i] == '.' || h[i] == 'x' || h[i] == 'X' ||
                (h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f') ||
                (h[i] >= 'A' && h[i] <= 'F')))
            i++;
        bool numeric = h[i] == '\0' && h[0] >= '0' && h[0] <= '9';
        if (numeric && inet_aton(h, &a4)) {
            char text[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &a4, text, sizeof(text));
            (void)hk_netguard_classify_text(text, &cls);
        } else {
            const char *lh = "localhost";
            size_t lhn = strlen(lh);
            if (strcasecmp(h, lh) == 0 || (n > lhn && h[n - lhn - 1] == '.' &&
                                           strcasecmp(h + n - lhn, lh) == 0))
                cls = HK_ADDR_LOOPBACK;
        }
    }
    if (cls != HK_ADDR_PUBLIC)
        return fail(msg, msglen, "The URL's host is not a public address (%s)",
                    hk_netguard_class_name(cls));
    return true;
}

bool hk_valid_url(const char *s, bool allow_private, char *msg, size_t msglen)
{
    if (!s || !*s)
        return fail(msg, msglen, "Enter an absolute URL starting with http:// or https://");
    size_t n = strlen(s);
    if (n > URL_MAX)
        return fail(msg, msglen, "Shorten the URL to at most %d characters", URL_MAX);
    /* what is not a URL at all is told so before its characters are */
    const char *p;
    if (strncasecmp(s, "http://", 7) == 0)
        p = s + 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        p = s + 8;
    else
        return fail(msg, msglen,
                    "Enter an absolute URL starting with http:// or https://");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f)
            return fail(msg, msglen,
                        "Remove the spaces and control characters from the "
                        "URL");
        if (c >= 0x80)
            return fail(msg, msglen,
                        "Percent-encode the URL's non-ASCII characters");
    }

    size_t alen = strcspn(p, "/?#");
    if (memchr(p, '@', alen))
        return fail(msg, msglen, "Remove the user name and password from the URL");
    if (alen == 0)
        return fail(msg, msglen, "Add a host name after http:// or https://");

    char host[256];
    const char *port = NULL;
    size_t portlen = 0;
    bool v6 = false;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close)
            return fail(msg, msglen, "The URL's host has an unclosed '['");
        size_t hl = (size_t)(close - p - 1);
        if (hl == 0 || hl >= sizeof(host))
            return fail(msg, msglen, "The URL's host is not a valid IPv6 address");
        memcpy(host, p + 1, hl);
        host[hl] = '\0';
        v6 = true;
        const char *after = close + 1;
        size_t rest = alen - (size_t)(after - p);
        if (rest > 0) {
            if (*after != ':')
                return fail(msg, msglen, "Remove what follows the URL's host before its path");
            port = after + 1;
            portlen = rest - 1;
        }
    } else {
        const char *colon = memchr(p, ':', alen);
        size_t hl = colon ? (size_t)(colon - p) : alen;
        if (hl == 0)
            return fail(msg, msglen, "Add a host name after http:// or https://");
        if (hl >= sizeof(host))
            return fail(msg, msglen, "The URL's host name is too long");
        for (size_t i = 0; i < hl; i++)
            if (!is_host_char((unsigned char)p[i]))
                return fail(msg, msglen, "The URL's host has a character "
                                         "that is not allowed");
        memcpy(host, p, hl);
        host[hl] = '\0';
        if (colon) {
            port = colon + 1;
            portlen = alen - hl - 1;
        }
    }
    if (port) {
        if (portlen == 0 || portlen > 5)
            return fail(msg, msglen, "Use a port from 1 to 65535");
        long v = 0;
        for (size_t i = 0; i < portlen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return fail(msg, msglen, "Use a port from 1 to 65535");
            v = v * 10 + (port[i] - '0');
        }
        if (v < 1 || v > 65535)
            return fail(msg, msglen, "Use a port from 1 to 65535");
    }
    if (!v6 && strspn(host, ".") == strlen(host))
        return fail(msg, msglen, "Add a host name after http:// or https://");
    /* A host name's labels are never empty (one trailing dot, the root,
     * is fine): "localhost.." would otherwise pass the localhost check
     * below. */
    if (!v6 && (host[0] == '.' || strstr(host, "..") != NULL))
        return fail(msg, msglen,
                    "Remove the empty part between dots from the URL's host");
    if (v6) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return fail(msg, msglen, "The URL's host is not a valid IPv6 address");
    }
    if (!allow_private && !host_allowed(host, v6, msg, msglen))
        return false;
    return true;
}

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Headers hookd or libcurl set themselves, or that change how the message
 * is framed or routed: a tenant may not override them. */
static const char *const refused_headers[] = {
    "Host",
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "TE",
    "Trailer",
    "Trailers",
    "Transfer-Encoding",
    "Upgrade",
    "User-Agent",
    "Expect",
};

bool hk_valid_header_name(const char *s, char *msg, size_t msglen)
{
    if (!s || !*s)
        return fail(msg, msglen, "header name must not be empty");
    size_t n = strlen(s);
    if (n > HEADER_NAME_MAX)
        return fail(msg, msglen, "header name must be at most %d characters",
                    HEADER_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return fail(msg, msglen,
                        "header name has a character that is not allowed");
    for (size_t i = 0; i < HK_ARRAY_LEN(refused_headers); i++)
        if (strcasecmp(s, refused_headers[i]) == 0)
            return fail(msg, msglen, "header %s is set by hookd",
                        refused_headers[i]);
    if (strncasecmp(s, "Content-", 8) == 0)
        return fail(msg, msglen, "Content-* headers are set by hookd");
    if (strncasecmp(s, "webhook-", 8) == 0)
        return fail(msg, msglen, "webhook-* headers are set by hookd");
    return true;
}

bool hk_valid_header_value(const char *s, char *msg, size_t msglen)
{
    if (!s)
        return fail(msg, msglen, "header value must be a string");
    size_t n = strlen(s);
    if (n > HEADER_VALUE_MAX)
        return fail(msg, msglen, "header value must be at most %d characters",
                    HEADER_VALUE_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n')
            return fail(msg, msglen, "header value must not contain CR or LF");
        if (c != '\t' && (c < 0x20 || c > 0x7e))
            return fail(msg, msglen, "header value must be printable ASCII");
    }
    return true;
}

bool hk_valid_uuid(const char *s)
{
    if (!s)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return s[36] == '\0';
}

bool hk_valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        uint32_t min;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
            min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
            min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

bool hk_valid_name(const char *s, char *msg, size_t msglen)
{
    if (!s || !*s)
        return fail(msg, msglen, "must not be empty");
    size_t n = strlen(s);
    if (n > NAME_MAX_BYTES)
        return fail(msg, msglen, "must be at most %d bytes", NAME_MAX_BYTES);
    if (!hk_valid_utf8(s, n))
        return fail(msg, msglen, "must be valid UTF-8");
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return fail(msg, msglen, "must not contain control characters");
        /* C1 controls U+0080..U+009F are encoded as C2 80..C2 9F. */
        if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return fail(msg, msglen, "must not contain control characters");
    }
    return true;
}
