/*
 * jsonspan.c - JSON text as hookd reads it. hk_json_member_span finds where
 * a top-level member's value lies in the raw text of a JSON object, so that
 * hookd can store and send a payload as the exact bytes the client posted;
 * it trusts that the text was already validated and never recurses, so
 * depth costs nothing. hk_json_parse is the one way hookd parses JSON it
 * did not build itself (request bodies, rows from PostgreSQL), so that a
 * valid text is never refused for jansson's sake.
 */
#include "jsonspan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
                     s[i] == '\r'))
        i++;
    return i;
}

/* i is at an opening quote; returns the index after the closing one. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i < n && s[i] == '"')
        return skip_string(s, i, n);
    if (i < n && (s[i] == '{' || s[i] == '[')) {
        size_t depth = 0;
        while (i < n) {
            if (s[i] == '"') {
                i = skip_string(s, i, n);
                continue;
            }
            if (s[i] == '{' || s[i] == '[')
                depth++;
            else if (s[i] == '}' || s[i] == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return n;
    }
    while (i < n && strchr(",}] \t\r\n", s[i]) == NULL)
        i++;
    return i;
}

/* Decodes a short JSON string key starting at the quote at i into out;
 * false when it is longer than outlen - 1 or holds a non-ASCII escape. */
static bool decode_key(const char *s, size_t i, size_t end, char *out,
                       size_t outlen)
{
    size_t o = 0;
    for (i++; i + 1 < end; i++) {
        char ch = s[i];
        if (ch == '\\') {
            i++;
            if (s[i] == 'u' && i + 4 < end) {
                char hex[5] = {s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0};
                long v = strtol(hex, NULL, 16);
                if (v <= 0 || v > 0x7f)
                    return false;
                ch = (char)v;
                i += 4;
            } else {
                static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
                const char *k = strchr(from, s[i]);
                ch = k != NULL ? to[k - from] : s[i];
            }
        }
        if (o + 1 >= outlen)
            return false;
        out[o++] = ch;
    }
    out[o] = '\0';
    return true;
}

bool hk_json_member_span(const char *s, size_t n, const char *name,
                        size_t *start, size_t *end)
{
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{')
        return false;
    i++;
    for (;;) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '"')
            return false;
        size_t kend = skip_string(s, i, n);
        char key[32];
        bool match = decode_key(s, i, kend, key, sizeof(key)) &&
                     strcmp(key, name) == 0;
        i = skip_ws(s, kend, n);
        if (i >= n || s[i] != ':')
            return false;
        i = skip_ws(s, i + 1, n);
        size_t vend = skip_value(s, i, n);
        if (match) {
            *start = i;
            *end = vend;
            return true;
        }
        i = skip_ws(s, vend, n);
        if (i >= n || s[i] != ',')
            return false;
        i++;
    }
}


/* true when the integer literal s[0..n) (an optional '-' and digits) lies
 * outside int64_t. */
static bool int_overflows(const char *s, size_t n)
{
    bool neg = n > 0 && s[0] == '-';
    size_t d = neg ? 1 : 0;
    while (d < n - 1 && s[d] == '0')
        d++;
    size_t digits = n - d;
    const char *lim = neg ? "9223372036854775808" : "9223372036854775807";
    if (digits != 19)
        return digits > 19;
    return memcmp(s + d, lim, 19) > 0;
}

/* A copy of s[0..n) in which every integer literal outside int64_t gets a
 * ".0", so that jansson reads it as a real. Strings are copied as they
 * are. */
static char *widen_integers(const char *s, size_t n, size_t *len)
{
    struct hk_buf b;
    hk_buf_init(&b);
    size_t i = 0;
    while (i < n) {
        if (s[i] == '"') {
            size_t e = skip_string(s, i, n);
            hk_buf_append(&b, s + i, e - i);
            i = e;
            continue;
        }
        if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
            size_t e = i + 1;
            while (e < n && s[e] >= '0' && s[e] <= '9')
                e++;
            hk_buf_append(&b, s + i, e - i);
            bool fraction = e < n && strchr(".eE", s[e]) != NULL;
            if (!fraction && int_overflows(s + i, e - i))
                hk_buf_append(&b, ".0", 2);
            i = e;
            /* the rest of a real (fraction, exponent) is copied as it is */
            while (i < n && strchr(".eE+-0123456789", s[i]) != NULL)
                hk_buf_append(&b, s + i++, 1);
            continue;
        }
        hk_buf_append(&b, s + i, 1);
        i++;
    }
    *len = b.len;
    return hk_buf_steal(&b);
}

json_t *hk_json_parse(const char *s, size_t n, size_t flags,
                      json_error_t *err)
{
    json_error_t local;
    if (err == NULL)
        err = &local;
    flags |= JSON_ALLOW_NUL;
    /* A raw NUL byte is never valid JSON (in a string it must be escaped),
     * but jansson reads one right after a number as the number's end:
     * {"n":1<NUL>} would be accepted, and its payload cut short where
     * PostgreSQL takes it as a C string. */
    const char *nul = memchr(s, '\0', n);
    if (nul != NULL) {
        memset(err, 0, sizeof(*err));
        snprintf(err->text, sizeof(err->text), "NUL byte in JSON text");
        err->text[JSON_ERROR_TEXT_LENGTH - 1] = json_error_invalid_syntax;
        snprintf(err->source, sizeof(err->source), "<buffer>");
        err->position = (int)(nul - s);
        err->line = 1;
        err->column = 1;
        for (const char *p = s; p < nul; p++) {
            err->column = *p == '\n' ? 1 : err->column + 1;
            err->line += *p == '\n';
        }
        return NULL;
    }
    json_t *j = json_loadb(s, n, flags, err);
    if (j != NULL || json_error_code(err) != json_error_numeric_overflow)
        return j;
    size_t len;
    char *wide = widen_integers(s, n, &len);
    j = json_loadb(wide, len, flags, err);
    free(wide);
    return j;
}

bool hk_json_has_nul(const json_t *v)
{
    if (json_is_string(v))
        return memchr(json_string_value(v), '\0', json_string_length(v)) !=
               NULL;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (hk_json_has_nul(json_array_get(v, i)))
                return true;
        return false;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        if (hk_json_has_nul(val))
            return true;
    }
    return false;
}
