/*
 * test_jsonspan.c - unit tests of jsonspan.c: the span it returns for
 * "payload" is exactly the bytes the client wrote, whatever surrounds them
 * (whitespace, nesting, strings full of braces and quotes, escaped keys,
 * payload first or last, scalars), a longer or differently escaped key
 * never matches, and an absent member is reported absent. Every body is
 * first checked to be valid JSON, as the function requires.
 */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "jsonspan.h"

/* Asserts that body is valid JSON and that member name spans exactly
 * want (NULL: absent). */
static void check(const char *body, const char *name, const char *want)
{
    json_error_t err;
    json_t *j = json_loads(body, JSON_DECODE_ANY, &err);
    if (j == NULL)
        fail_msg("test body is not JSON (%s): %s", err.text, body);
    json_decref(j);

    size_t start = (size_t)-1, end = (size_t)-1;
    bool found = hk_json_member_span(body, strlen(body), name, &start, &end);
    if (want == NULL) {
        if (found)
            fail_msg("\"%s\" found in %s as [%zu,%zu)", name, body, start, end);
        return;
    }
    if (!found)
        fail_msg("\"%s\" not found in %s", name, body);
    assert_true(start <= end);
    assert_true(end <= strlen(body));
    if (end - start != strlen(want) ||
        memcmp(body + start, want, end - start) != 0)
        fail_msg("\"%s\" in %s: got <%.*s>, want <%s>", name, body,
                 (int)(end - start), body + start, want);
}

/* The span of "payload" inside a body made of before + value + after. */
static void check_payload(const char *before, const char *value,
                          const char *after)
{
    char body[4096];
    int n = snprintf(body, sizeof(body), "%s%s%s", before, value, after);
    assert_true(n > 0 && (size_t)n < sizeof(body));
    check(body, "payload", value);
}

static void test_plain(void **state)
{
    (void)state;
    check_payload("{\"payload\":", "{\"a\":1}", "}");
    check_payload("{\"event_type\":\"x.y\",\"payload\":", "{\"a\":1}", "}");
    check_payload("{\"payload\":", "{\"a\":1}", ",\"event_type\":\"x.y\"}");
    check_payload("{\"payload\":", "{}", "}");
    check_payload("{\"payload\":", "[]", "}");
}

static void test_whitespace(void **state)
{
    (void)state;
    check_payload(" \t\r\n{ \n \"payload\" \t : \r\n ",
                  "{ \"a\" : [ 1 , 2 ] ,\n \"b\" : { } }", " \n} \n");
    check_payload("{\n  \"event_type\" : \"a\" ,\n  \"payload\"  :  ",
                  "[\n 1,\n 2\n]", "\n,\n \"z\" : null\n}");
    check_payload("{\"payload\":\t", "1.5e10", "\t}");
}

static void test_nested(void **state)
{
    (void)state;
    check_payload("{\"payload\":",
                  "{\"a\":{\"b\":{\"c\":[1,[2,[3,{\"d\":[]}]]]}},\"e\":[{}]}",
                  ",\"event_type\":\"t\"}");
    check_payload("{\"x\":{\"payload\":1},\"y\":[{\"payload\":2}],"
                  "\"payload\":",
                  "[[[[[[[[[[{\"deep\":true}]]]]]]]]]]", "}");
    /* a nested "payload" is not the top-level one */
    check("{\"data\":{\"payload\":1}}", "payload", NULL);
    check("{\"data\":[\"payload\",{\"payload\":{}}]}", "payload", NULL);
}

static void test_tricky_strings(void **state)
{
    (void)state;
    /* braces, brackets, commas, colons and quotes inside strings */
    check_payload("{\"a\":\"}{][,:\",\"payload\":",
                  "{\"s\":\"}}]]{{[[\",\"t\":\"a,b:c\"}", "}");
    check_payload("{\"a\":\"say \\\"hi\\\" }\",\"payload\":",
                  "{\"q\":\"\\\"}\\\"\",\"r\":[\"]\\\\\"]}",
                  ",\"b\":\"\\\\\"}");
    /* a string that ends in an escaped backslash */
    check_payload("{\"a\":\"\\\\\",\"payload\":", "\"\\\\\"", "}");
    check_payload("{\"payload\":", "\"with \\\"quotes\\\" and {braces}\"", "}");
    /* a key holding the text of another member */
    check_payload("{\"\\\"payload\\\":\":0,\"payload\":", "[1]", "}");
    /* unicode and other escapes inside the value are kept as written */
    check_payload("{\"payload\":", "{\"\\u00e9\":\"\\ud83d\\ude00\\n\\t\"}",
                  "}");
    check_payload("{\"payload\":", "{\"k\":\"h\xc3\xa9llo\"}", "}");
}

static void test_escaped_keys(void **state)
{
    (void)state;
    check_payload("{\"pay\\u006coad\":", "{\"a\":1}", "}");
    check_payload("{\"pay\\u006Coad\":", "[1,2]", "}");
    check_payload(
        "{\"\\u0070\\u0061\\u0079\\u006c\\u006f\\u0061\\u0064\":", "true", "}");
    check_payload("{\"payl\\/oad\":0,\"pay\\u006coad\":", "7", "}");
    /* an escaped key that decodes to something else */
    check("{\"pay\\u006doad\":1}", "payload", NULL);
    check("{\"p\\u00e1yload\":1}", "payload", NULL);
    /* escaped key then the real one: the escaped one comes first */
    check_payload("{\"\\u0070ayload\":", "\"first\"", ",\"x\":2}");
}

/* An escape must decode to its own character, not to the letter after
 * the backslash: "eve\nt" is "eve<LF>t", which is not "event". */
static void test_control_escapes_in_keys(void **state)
{
    (void)state;
    check("{\"eve\\nt\":1,\"event\":2}", "event", "2");
    check("{\"\\tag\":1,\"tag\":2}", "tag", "2");
    check("{\"\\bar\":1}", "bar", NULL);
    check("{\"a\\/b\":1}", "a/b", "1");
    check("{\"a\\\\b\":1}", "a\\b", "1");
    check("{\"a\\\"b\":1}", "a\"b", "1");
}

static void test_first_and_last(void **state)
{
    (void)state;
    check_payload("{\"payload\":", "{\"first\":1}",
                  ",\"a\":1,\"b\":[2],\"c\":{\"d\":3}}");
    check_payload(
        "{\"a\":1,\"b\":[2],\"c\":{\"d\":3},\"payload\":", "{\"last\":1}", "}");
    check_payload("{\"payload\":", "{\"only\":1}", "}");
}

static void test_scalars(void **state)
{
    (void)state;
    static const char *const values[] = {
        "0",       "-12",   "3.25",     "1e-7",     "-0.5E+3",
        "true",    "false", "null",     "\"\"",     "\"text\"",
        "\"a,b\"", "\"}\"", "\"\\\"\"", "\"\\\\\"", "\"\\u0041\"",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(values); i++) {
        check_payload("{\"payload\":", values[i], "}");
        check_payload("{\"payload\":", values[i], ",\"z\":0}");
        check_payload("{\"payload\" : ", values[i], " }");
        check_payload("{\"a\":[],\"payload\":", values[i], "\n}");
    }
}

static void test_lookalike_keys(void **state)
{
    (void)state;
    check("{\"payloads\":{\"a\":1}}", "payload", NULL);
    check("{\"payload_\":1,\"xpayload\":2,\"Payload\":3,\"PAYLOAD\":4,"
          "\"pay load\":5,\"paylo\":6}",
          "payload", NULL);
    check_payload("{\"payloads\":{\"a\":1},\"payload\":", "{\"b\":2}", "}");
    check_payload("{\"payloa\":0,\"payload\":", "[3]", ",\"payloadx\":4}");
    /* a key far longer than any name */
    check_payload("{\"payloadpayloadpayloadpayloadpayloadpayloadpayload\":0,"
                  "\"payload\":",
                  "5", "}");
}

static void test_absent(void **state)
{
    (void)state;
    check("{}", "payload", NULL);
    check(" { } ", "payload", NULL);
    check("{\"event_type\":\"a.b\"}", "payload", NULL);
    check("{\"a\":\"payload\",\"b\":[\"payload\"]}", "payload", NULL);
    /* not an object at all */
    check("[\"payload\",1]", "payload", NULL);
    check("\"payload\"", "payload", NULL);
    size_t s, e;
    assert_false(hk_json_member_span("", 0, "payload", &s, &e));
    /* the length bounds the scan: a member past n is not seen */
    const char *body = "{\"a\":1,\"payload\":2}";
    assert_false(hk_json_member_span(body, 7, "payload", &s, &e));
}

static void test_other_names(void **state)
{
    (void)state;
    const char *body = "{\"event_type\":\"invoice.paid\",\"payload\":{\"x\":1},"
                       "\"n\":-4}";
    check(body, "event_type", "\"invoice.paid\"");
    check(body, "n", "-4");
    check(body, "payload", "{\"x\":1}");
    check(body, "x", NULL);
}

/* hk_json_parse reads every valid JSON text: integers at the edges of
 * int64_t stay integers, those beyond become reals, strings keep their
 * digits and \u0000, and invalid text stays refused. */
static void test_parse_any_valid(void **state)
{
    (void)state;
    json_error_t err;
    const char *text =
        "{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
        "\"over\":9223372036854775808,\"under\":-9223372036854775809,"
        "\"zeros\":-0000000000000000000001,\"real\":1e400000000000000000000,"
        "\"s\":\"99999999999999999999\\\"\\u0000\",\"f\":123456789012345678901.5}";
    json_t *j = hk_json_parse(text, strlen(text), 0, &err);
    assert_null(j); /* -00...01: a leading zero is not JSON */
    text = "{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
           "\"over\":9223372036854775808,\"under\":-9223372036854775809,"
           "\"s\":\"99999999999999999999\\\"\\u0000\","
           "\"f\":123456789012345678901.5,\"e\":[1E+2,-0,0]}";
    j = hk_json_parse(text, strlen(text), 0, &err);
    if (j == NULL)
        fail_msg("refused: %s", err.text);
    assert_true(json_is_integer(json_object_get(j, "max")));
    assert_true(json_is_integer(json_object_get(j, "min")));
    assert_true(json_is_real(json_object_get(j, "over")));
    assert_true(json_real_value(json_object_get(j, "under")) ==
                -9223372036854775809.0);
    json_t *s = json_object_get(j, "s");
    assert_int_equal(json_string_length(s), 22);
    assert_memory_equal(json_string_value(s), "99999999999999999999\"\0", 22);
    assert_true(hk_json_has_nul(j));
    json_decref(j);
    /* a widened copy is not a way to smuggle text past the parser */
    const char bad[] = "{\"a\":99999999999999999999}\0{";
    assert_null(hk_json_parse(bad, sizeof bad - 1, 0, &err));
    assert_null(hk_json_parse("[99999999999999999999", 21, 0, &err));
    j = hk_json_parse("{\"k\":[\"x\"]}", 11, 0, &err);
    assert_non_null(j);
    assert_false(hk_json_has_nul(j));
    json_decref(j);
}

/* A raw NUL byte is not JSON anywhere, even where jansson would stop
 * reading a number at it. */
static void test_parse_refuses_raw_nul(void **state)
{
    (void)state;
    static const char *const bodies[] = {"{\"n\":1\0,\"m\":2}",
                                         "{\"n\":18446744073709551616\0}",
                                         "[1.5\0]", "{\"s\":\"a\0b\"}",
                                         "{\"n\":1}\0"};
    static const size_t lens[] = {14, 27, 6, 11, 8};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        json_error_t err;
        json_t *j = hk_json_parse(bodies[i], lens[i], 0, &err);
        if (j != NULL)
            fail_msg("body %zu with a NUL byte was accepted", i);
        assert_int_equal(json_error_code(&err), json_error_invalid_syntax);
    }
    /* the error names where the byte is, as jansson's errors do */
    json_error_t err;
    assert_null(hk_json_parse("{\n \"n\": 1\0}", 11, 0, &err));
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 8);
    assert_int_equal(err.position, 9);
    /* the escape is fine */
    json_t *j = hk_json_parse("{\"s\":\"a\\u0000b\"}", 16, 0, NULL);
    assert_non_null(j);
    json_decref(j);
}

/* A number beyond a double (1e400, a 400-digit integer, either sign) is
 * read, is no number to code that wants one, is no C string, may go in a
 * jsonb column, and is written back by hk_json_dumps as its exact text,
 * wherever it sits; numbers a double holds are untouched. */
static void test_beyond_double_kept(void **state)
{
    (void)state;
    char digits[401];
    memset(digits, '7', 400);
    digits[400] = '\0';
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fprintf(f, "{\"a\":1e400,\"b\":[-1.5E+999,%s,2],\"c\":{\"d\":-%s},"
               "\"s\":\"1e400\",\"n\":2.5}",
            digits, digits);
    fclose(f);
    json_error_t err;
    json_t *j = hk_json_parse(text, len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL)
        fail_msg("refused: %s", err.text);
    assert_false(json_is_number(json_object_get(j, "a")));
    assert_false(json_is_integer(json_object_get(j, "a")));
    assert_true(hk_json_has_nul(json_object_get(j, "a")));
    assert_true(hk_json_jsonb_storable(j));
    assert_true(json_is_real(json_object_get(j, "n")));
    char *out = hk_json_dumps(j, JSON_COMPACT);
    char *want = NULL;
    f = open_memstream(&want, &len);
    fprintf(f, "{\"a\":1e400,\"b\":[-1.5E+999,%s,2],\"c\":{\"d\":-%s},"
               "\"s\":\"1e400\",\"n\":2.5}",
            digits, digits);
    fclose(f);
    assert_string_equal(out, want);
    free(out);
    free(want);
    json_decref(j);
    /* a client's string cannot pass for such a number: the marker's tag
     * is drawn at random, and a string with \u0000 stays refused */
    const char *forged = "{\"m\":\"\\u0000:1e400\"}";
    j = hk_json_parse(forged, strlen(forged), 0, &err);
    assert_non_null(j);
    assert_false(hk_json_jsonb_storable(j));
    out = hk_json_dumps(j, JSON_COMPACT);
    assert_string_equal(out, "{\"m\":\"\\u0000:1e400\"}");
    free(out);
    json_decref(j);
    /* invalid text around a huge number is still refused */
    const char *bad = "{\"a\":1e400,}";
    assert_null(hk_json_parse(bad, strlen(bad), 0, &err));
    free(text);
}

/* Parses text (flags plus JSON_DECODE_ANY), asserts that hk_json_dumps
 * writes it back byte for byte, and returns the tree. */
static json_t *round_trip(const char *text)
{
    json_error_t err;
    json_t *j = hk_json_parse(text, strlen(text),
                              JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (j == NULL)
        fail_msg("refused %s: %s", text, err.text);
    char *out = hk_json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(out);
    assert_string_equal(out, text);
    free(out);
    return j;
}

/* A number that is not zero but too small for a double's normal range
 * (1e-400, which jansson reads as 0 without an error, or a subnormal
 * such as 7e-324, which a double would give back as 5e-324) is carried
 * like one too large: written back as its exact text, no number to code
 * that wants one, fine in a jsonb column. Zero with any exponent is
 * exact and stays a number, and so does the smallest normal double. */
static void test_below_double_kept(void **state)
{
    (void)state;
    json_t *j = round_trip("{\"a\":1e-400,\"b\":[-2.5E-999]}");
    assert_false(json_is_number(json_object_get(j, "a")));
    assert_false(json_is_number(json_array_get(json_object_get(j, "b"), 0)));
    assert_true(hk_json_has_nul(json_object_get(j, "a")));
    assert_true(hk_json_jsonb_storable(j));
    json_decref(j);

    /* 400 zeros after the point: the way PostgreSQL's jsonb writes
     * 1e-400 back */
    char digits[404];
    memcpy(digits, "0.", 2);
    memset(digits + 2, '0', 399);
    memcpy(digits + 401, "1", 2);
    j = round_trip(digits);
    assert_false(json_is_number(j));
    json_decref(j);

    j = round_trip("[7e-324,-1E-310,1e-400,0.5]");
    for (size_t i = 0; i < 3; i++)
        assert_false(json_is_number(json_array_get(j, i)));
    assert_true(json_real_value(json_array_get(j, 3)) == 0.5);
    json_decref(j);

    /* beside numbers too large, and integers beyond 64 bits (read as
     * the nearest double) */
    j = round_trip("{\"big\":1e400,\"tiny\":1e-400,\"z\":0.0}");
    assert_true(json_is_real(json_object_get(j, "z")));
    json_decref(j);
    const char *wide = "[1e-400,99999999999999999999]";
    j = hk_json_parse(wide, strlen(wide), 0, NULL);
    assert_false(json_is_number(json_array_get(j, 0)));
    assert_true(json_real_value(json_array_get(j, 1)) == 1e20);
    json_decref(j);

    /* zero is exact however it is written; the smallest normal double
     * is a double */
    static const char *const zeros[] = {"0e-400", "0.0e-9999", "-0E-500",
                                        "[0.000e-400,0]"};
    for (size_t i = 0; i < sizeof(zeros) / sizeof(zeros[0]); i++) {
        json_error_t err;
        j = hk_json_parse(zeros[i], strlen(zeros[i]), JSON_DECODE_ANY, &err);
        assert_non_null(j);
        json_t *v = json_is_array(j) ? json_array_get(j, 0) : j;
        if (!json_is_real(v) || json_real_value(v) != 0.0)
            fail_msg("%s is not read as the number 0", zeros[i]);
        assert_false(hk_json_has_nul(j));
        json_decref(j);
    }
    const char *smallest = "2.2250738585072014e-308";
    j = hk_json_parse(smallest, strlen(smallest), JSON_DECODE_ANY, NULL);
    assert_true(json_is_real(j));
    assert_true(json_real_value(j) == DBL_MIN);
    json_decref(j);
}

int main(void)
{
    hk_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_tricky_strings),
        cmocka_unit_test(test_escaped_keys),
        cmocka_unit_test(test_control_escapes_in_keys),
        cmocka_unit_test(test_first_and_last),
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_lookalike_keys),
        cmocka_unit_test(test_absent),
        cmocka_unit_test(test_other_names),
        cmocka_unit_test(test_parse_any_valid),
        cmocka_unit_test(test_beyond_double_kept),
        cmocka_unit_test(test_below_double_kept),
        cmocka_unit_test(test_parse_refuses_raw_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
