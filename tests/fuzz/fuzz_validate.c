/*
 * fuzz_validate.c - validate.c's rules on arbitrary strings: endpoint URLs,
 * header names and values, display names, UUID text, event type names and
 * filters. The first byte picks the rule, the rest is the text. Beyond not
 * crashing, what a rule accepts must be what the rest of hookd relies on:
 * a URL libcurl parses to the same kind of host and that names no
 * inward address, a header that cannot split a request, a name that is
 * UTF-8, a UUID libuuid reads back to the same text, an event type that
 * its own filters and patterns match.
 */
#include "fuzz.h"

#include "common.h"
#include "netguard.h"
#include "validate.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <strings.h>
#include <uuid/uuid.h>

static bool is_ip_literal(const char *h, enum hk_addr_class *cls)
{
    char buf[256];
    size_t n = strlen(h);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        if (n - 2 >= sizeof(buf))
            return false;
        memcpy(buf, h + 1, n - 2);
        buf[n - 2] = '\0';
        h = buf;
    }
    return hk_netguard_classify_text(h, cls);
}

/* A URL hk_valid_url accepts: libcurl (which delivers to it) parses it, as
 * http or https, and the host it will connect to is not an inward address
 * written literally. */
static void check_url(const char *s)
{
    char msg[256];
    bool ok = hk_valid_url(s, false, msg, sizeof(msg));
    bool ok_private = hk_valid_url(s, true, msg, sizeof(msg));
    FUZZ_CHECK(!ok || ok_private,
               "refused only when private targets are "
               "allowed: %s",
               s);
    if (!ok_private)
        return;
    FUZZ_CHECK(strncasecmp(s, "http://", 7) == 0 ||
                   strncasecmp(s, "https://", 8) == 0,
               "accepted scheme: %s", s);
    for (const char *p = s; *p; p++)
        FUZZ_CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f,
                   "accepted byte 0x%02x", (unsigned char)*p);
    CURLU *u = curl_url();
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, s, 0);
    FUZZ_CHECK(rc == CURLUE_OK, "libcurl refuses an accepted URL (%d): %s",
               (int)rc, s);
    char *host = NULL, *user = NULL;
    FUZZ_CHECK(curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK,
               "libcurl finds no host in %s", s);
    FUZZ_CHECK(curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_OK,
               "user info accepted in %s", s);
    enum hk_addr_class cls;
    if (ok && is_ip_literal(host, &cls))
        FUZZ_CHECK(cls == HK_ADDR_PUBLIC, "URL %s reaches %s, a %s address", s,
                   host, hk_netguard_class_name(cls));
    if (ok) {
        size_t n = strlen(host);
        while (n > 0 && host[n - 1] == '.')
            n--;
        FUZZ_CHECK(!(n >= 9 && strncasecmp(host + n - 9, "localhost", 9) == 0 &&
                     (n == 9 || host[n - 10] == '.')),
                   "URL %s names localhost", s);
    }
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(u);
}

static void check_header(const char *name, const char *value)
{
    char msg[256];
    if (hk_valid_header_name(name, msg, sizeof(msg))) {
        size_t n = strlen(name);
        FUZZ_CHECK(n > 0 && n <= 256, "name of %zu bytes", n);
        FUZZ_CHECK(strpbrk(name, " \t\r\n:()<>@,;\\\"/[]?={}") == NULL,
                   "name with a separator: %s", name);
        FUZZ_CHECK(strncasecmp(name, "webhook-", 8) != 0 &&
                       strncasecmp(name, "content-", 8) != 0 &&
                       strcasecmp(name, "host") != 0 &&
                       strcasecmp(name, "transfer-encoding") != 0 &&
                       strcasecmp(name, "connection") != 0,
                   "reserved header accepted: %s", name);
    }
    if (hk_valid_header_value(value, msg, sizeof(msg))) {
        FUZZ_CHECK(strlen(value) <= 4096, "value too long");
        for (const char *p = value; *p; p++)
            FUZZ_CHECK(
                (unsigned char)*p == '\t' ||
                    ((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f),
                "value byte 0x%02x", (unsigned char)*p);
    }
}

static void check_name(const char *s)
{
    char msg[256];
    if (!hk_valid_name(s, msg, sizeof(msg)))
        return;
    size_t n = strlen(s);
    FUZZ_CHECK(n >= 1 && n <= 200, "name of %zu bytes", n);
    FUZZ_CHECK(hk_valid_utf8(s, n), "name is not UTF-8");
    for (const char *p = s; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f,
                   "control byte 0x%02x in a name", (unsigned char)*p);
}

static void check_uuid(const char *s)
{
    if (!hk_valid_uuid(s))
        return;
    uuid_t u;
    FUZZ_CHECK(uuid_parse(s, u) == 0, "libuuid refuses %s", s);
    char back[37];
    uuid_unparse_lower(u, back);
    FUZZ_CHECK(strcmp(back, s) == 0, "%s reads back as %s", s, back);
}

/* The patterns of a type, as the array literal ingest binds, each match
 * the type, and every filter the type satisfies is one of them. */
static void check_event_type(const char *s)
{
    char msg[256];
    bool name = hk_valid_event_type_name(s, msg, sizeof(msg));
    bool filter = hk_valid_event_type_filter(s, msg, sizeof(msg));
    if (!name)
        return;
    FUZZ_CHECK(filter, "a valid name is not a valid filter: %s", s);
    FUZZ_CHECK(strlen(s) <= 128, "name too long");
    FUZZ_CHECK(hk_filter_matches(s, s) && hk_filter_matches("*", s),
               "%s does not match itself", s);
    struct hk_buf b;
    hk_buf_init(&b);
    hk_event_type_patterns(s, &b);
    hk_buf_append(&b, "", 1);
    char *list = b.data;
    size_t len = strlen(list);
    FUZZ_CHECK(len >= 2 && list[0] == '{' && list[len - 1] == '}',
               "patterns %s", list);
    list[len - 1] = '\0';
    int count = 0;
    for (char *tok = strtok(list + 1, ","); tok; tok = strtok(NULL, ",")) {
        size_t tn = strlen(tok);
        FUZZ_CHECK(tn >= 2 && tok[0] == '"' && tok[tn - 1] == '"', "element %s",
                   tok);
        tok[tn - 1] = '\0';
        FUZZ_CHECK(hk_valid_event_type_filter(tok + 1, msg, sizeof(msg)),
                   "pattern %s is not a valid filter", tok + 1);
        FUZZ_CHECK(hk_filter_matches(tok + 1, s), "pattern %s misses %s",
                   tok + 1, s);
        count++;
    }
    int dots = 0;
    for (const char *p = s; *p; p++)
        dots += *p == '.';
    FUZZ_CHECK(count == 2 + dots, "%d patterns for %s", count, s);
    hk_buf_cleanup(&b);
}

static void check_filter(const char *f, const char *type)
{
    char msg[256];
    if (!hk_valid_event_type_filter(f, msg, sizeof(msg)) ||
        !hk_valid_event_type_name(type, msg, sizeof(msg)))
        return;
    /* the database matches by the patterns: they must agree with
     * hk_filter_matches */
    struct hk_buf b;
    hk_buf_init(&b);
    hk_event_type_patterns(type, &b);
    hk_buf_append(&b, "", 1);
    char want[160];
    snprintf(want, sizeof(want), "\"%s\"", f);
    bool listed = strstr(b.data, want) != NULL;
    FUZZ_CHECK(listed == hk_filter_matches(f, type),
               "filter %s and type %s: patterns %s", f, type, b.data);
    hk_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = fuzz_str(data + 1, size - 1);
    char *sep;
    switch (data[0] % 6) {
    case 0:
        check_url(s);
        break;
    case 1:
        /* "name\nvalue" */
        sep = strchr(s, '\n');
        if (sep != NULL) {
            *sep = '\0';
            check_header(s, sep + 1);
        } else {
            check_header(s, s);
        }
        break;
    case 2:
        check_name(s);
        break;
    case 3:
        check_uuid(s);
        break;
    case 4:
        check_event_type(s);
        break;
    default:
        /* "filter type" */
        sep = strchr(s, ' ');
        if (sep != NULL) {
            *sep = '\0';
            check_filter(s, sep + 1);
        }
        break;
    }
    free(s);
    return 0;
}
