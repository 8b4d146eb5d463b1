/*
 * fuzz_json.c - hk_json_parse and hk_json_member_span on arbitrary bytes.
 * hk_json_parse promises to read every valid JSON text: the input is also
 * checked against RFC 8259's grammar by the small recognizer below, and a
 * text the grammar accepts must parse (lone surrogate escapes, keys with
 * \u0000 and nesting deeper than jansson's limit are the documented
 * exceptions; numbers beyond a double's range are read). What parses must
 * survive a dump and a re-parse unchanged, and in an object every short
 * top-level member hk_json_member_span finds must be the exact text of the
 * value the tree holds.
 */
#include "fuzz.h"

#include "common.h"
#include "jsonspan.h"
#include "validate.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>

/* ---- RFC 8259 recognizer ---- */

struct rd {
    const char *s;
    size_t n, i;
    int depth;
    bool exception; /* valid, but outside what hk_json_parse promises */
};

/* jansson's JSON_PARSER_DEFAULT_MAX_DEPTH is 2048: stay clear of its
 * exact counting */
#define MAX_DEPTH 2000

static void ws(struct rd *r)
{
    while (r->i < r->n && strchr(" \t\r\n", r->s[r->i]) != NULL &&
           r->s[r->i] != '\0')
        r->i++;
}

static bool lit(struct rd *r, const char *w)
{
    size_t k = strlen(w);
    if (r->n - r->i < k || memcmp(r->s + r->i, w, k) != 0)
        return false;
    r->i += k;
    return true;
}

static int hex4(struct rd *r)
{
    if (r->n - r->i < 4)
        return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = r->s[r->i + (size_t)k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    r->i += 4;
    return v;
}

/* A string; its raw bytes' UTF-8 is checked over the whole text (RFC 8259
 * section 8.1). */
static bool string(struct rd *r, bool key)
{
    if (r->i >= r->n || r->s[r->i] != '"')
        return false;
    r->i++;
    while (r->i < r->n) {
        unsigned char c = (unsigned char)r->s[r->i];
        if (c == '"') {
            r->i++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c != '\\') {
            r->i++;
            continue;
        }
        r->i++;
        if (r->i >= r->n)
            return false;
        char e = r->s[r->i++];
        if (strchr("\"\\/bfnrt", e) != NULL && e != '\0')
            continue;
        if (e != 'u')
            return false;
        int v = hex4(r);
        if (v < 0)
            return false;
        if (v == 0 && key)
            r->exception = true;
        if (v >= 0xDC00 && v <= 0xDFFF) {
            r->exception = true; /* lone low surrogate */
        } else if (v >= 0xD800 && v <= 0xDBFF) {
            if (r->n - r->i >= 6 && r->s[r->i] == '\\' &&
                r->s[r->i + 1] == 'u') {
                r->i += 2;
                int lo = hex4(r);
                if (lo < 0)
                    return false;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    r->exception = true;
            } else {
                r->exception = true;
            }
        }
    }
    return false;
}

static bool number(struct rd *r)
{
    size_t i = r->i;
    if (i < r->n && r->s[i] == '-')
        i++;
    if (i >= r->n)
        return false;
    if (r->s[i] == '0') {
        i++;
    } else if (r->s[i] >= '1' && r->s[i] <= '9') {
        while (i < r->n && r->s[i] >= '0' && r->s[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < r->n && r->s[i] == '.') {
        i++;
        size_t d = i;
        while (i < r->n && r->s[i] >= '0' && r->s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < r->n && (r->s[i] == 'e' || r->s[i] == 'E')) {
        i++;
        if (i < r->n && (r->s[i] == '+' || r->s[i] == '-'))
            i++;
        size_t d = i;
        while (i < r->n && r->s[i] >= '0' && r->s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    /* numbers beyond a double's range are read too (docs/limits.md) */
    r->i = i;
    return true;
}

static bool value(struct rd *r);

static bool members(struct rd *r, char close, bool object)
{
    if (++r->depth > MAX_DEPTH)
        r->exception = true;
    r->i++;
    ws(r);
    if (r->i < r->n && r->s[r->i] == close) {
        r->i++;
        r->depth--;
        return true;
    }
    for (;;) {
        if (object) {
            if (!string(r, true))
                return false;
            ws(r);
            if (r->i >= r->n || r->s[r->i] != ':')
                return false;
            r->i++;
            ws(r);
        }
        if (!value(r))
            return false;
        ws(r);
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            ws(r);
            continue;
        }
        if (r->i < r->n && r->s[r->i] == close) {
            r->i++;
            r->depth--;
            return true;
        }
        return false;
    }
}

static bool value(struct rd *r)
{
    if (r->i >= r->n || r->exception)
        return false;
    switch (r->s[r->i]) {
    case '{':
        return members(r, '}', true);
    case '[':
        return members(r, ']', false);
    case '"':
        return string(r, false);
    case 't':
        return lit(r, "true");
    case 'f':
        return lit(r, "false");
    case 'n':
        return lit(r, "null");
    default:
        return number(r);
    }
}

/* true: valid JSON that hk_json_parse must read. */
static bool grammar_accepts(const char *s, size_t n, bool *exception)
{
    struct rd r = {s, n, 0, 0, false};
    ws(&r);
    bool ok = value(&r);
    ws(&r);
    *exception = r.exception;
    return ok && r.i == n && !r.exception && hk_valid_utf8(s, n);
}

/* ---- properties ---- */

/* The span of each top-level member whose key hk_json_member_span can
 * look up (short ASCII names) holds exactly the tree's value. */
static void check_spans(const char *s, size_t n, json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (strlen(key) >= 32)
            continue;
        bool ascii = true;
        for (const char *p = key; *p; p++)
            ascii = ascii && (unsigned char)*p < 0x80;
        if (!ascii)
            continue;
        size_t a, b;
        FUZZ_CHECK(hk_json_member_span(s, n, key, &a, &b),
                   "member \"%s\" not found", key);
        FUZZ_CHECK(a < b && b <= n, "span [%zu,%zu) of %zu", a, b, n);
        json_error_t err;
        json_t *sub = hk_json_parse(s + a, b - a, JSON_DECODE_ANY, &err);
        FUZZ_CHECK(sub != NULL, "span of \"%s\" (%.*s) does not parse: %s", key,
                   (int)(b - a), s + a, err.text);
        FUZZ_CHECK(json_equal(sub, v), "span of \"%s\" is another value", key);
        json_decref(sub);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        hk_json_init();
        init = true;
    }
    const char *s = (const char *)data;
    json_error_t err;
    json_t *j = hk_json_parse(s, size, JSON_DECODE_ANY, &err);
    bool exception;
    bool valid = grammar_accepts(s, size, &exception);
    FUZZ_CHECK(!valid || j != NULL, "valid JSON refused: %s (line %d col %d)",
               err.text, err.line, err.column);
    if (j == NULL)
        return 0;
    /* jansson accepts nothing the grammar refuses */
    FUZZ_CHECK(valid || exception, "invalid JSON accepted");

    char *dump = hk_json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    if (dump != NULL) {
        /* a real may dump as an integer-looking literal that re-parses as
         * an integer of equal value: compare by re-dumping */
        json_t *again =
            hk_json_parse(dump, strlen(dump), JSON_DECODE_ANY, &err);
        FUZZ_CHECK(again != NULL, "own dump does not parse: %s", err.text);
        char *dump2 = hk_json_dumps(again, JSON_ENCODE_ANY | JSON_COMPACT);
        FUZZ_CHECK(dump2 != NULL && strcmp(dump, dump2) == 0,
                   "dump changes on re-parse");
        free(dump2);
        json_decref(again);
        free(dump);
    }
    /* the API parses bodies refusing duplicate keys, and hk_json_member_span
     * relies on that: it finds the first */
    json_t *unique = hk_json_parse(s, size, JSON_REJECT_DUPLICATES, &err);
    if (json_is_object(unique) && !exception)
        check_spans(s, size, unique);
    json_decref(unique);
    (void)hk_json_has_nul(j);
    json_decref(j);
    return 0;
}
