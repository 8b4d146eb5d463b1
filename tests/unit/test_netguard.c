/*
 * test_netguard.c - unit tests of netguard.c: one table of IPv4 and IPv6
 * addresses with the class each must get, checked both from text and
 * through a struct sockaddr, plus the text parser's refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "netguard.h"

struct row {
    const char *addr;
    enum hk_addr_class want;
};

static const struct row table[] = {
    /* IPv4 public */
    {"8.8.8.8", HK_ADDR_PUBLIC},
    {"1.1.1.1", HK_ADDR_PUBLIC},
    {"93.184.216.34", HK_ADDR_PUBLIC},
    {"100.63.255.255", HK_ADDR_PUBLIC}, /* just below CGNAT */
    {"100.128.0.0", HK_ADDR_PUBLIC},    /* just above CGNAT */
    {"172.15.255.255", HK_ADDR_PUBLIC}, /* just below 172.16/12 */
    {"172.32.0.0", HK_ADDR_PUBLIC},     /* just above */
    {"198.17.255.255", HK_ADDR_PUBLIC}, /* just below 198.18/15 */
    {"198.20.0.0", HK_ADDR_PUBLIC},     /* just above */
    {"223.255.255.255", HK_ADDR_PUBLIC},
    {"192.0.3.1", HK_ADDR_PUBLIC},
    /* IPv4 special */
    {"0.0.0.0", HK_ADDR_UNSPECIFIED},
    {"0.1.2.3", HK_ADDR_UNSPECIFIED},
    {"127.0.0.1", HK_ADDR_LOOPBACK},
    {"127.255.255.254", HK_ADDR_LOOPBACK},
    {"10.0.0.1", HK_ADDR_PRIVATE},
    {"10.255.255.255", HK_ADDR_PRIVATE},
    {"172.16.0.1", HK_ADDR_PRIVATE},
    {"172.31.255.255", HK_ADDR_PRIVATE},
    {"192.168.1.1", HK_ADDR_PRIVATE},
    {"169.254.169.254", HK_ADDR_LINK_LOCAL}, /* cloud metadata */
    {"100.64.0.1", HK_ADDR_CGNAT},
    {"100.127.255.255", HK_ADDR_CGNAT},
    {"224.0.0.1", HK_ADDR_MULTICAST},
    {"239.255.255.250", HK_ADDR_MULTICAST},
    {"240.0.0.1", HK_ADDR_RESERVED},
    {"255.255.255.255", HK_ADDR_RESERVED},
    {"192.0.0.8", HK_ADDR_RESERVED},
    {"192.0.2.10", HK_ADDR_RESERVED},   /* TEST-NET-1 */
    {"198.51.100.7", HK_ADDR_RESERVED}, /* TEST-NET-2 */
    {"203.0.113.99", HK_ADDR_RESERVED}, /* TEST-NET-3 */
    {"198.18.0.1", HK_ADDR_RESERVED},   /* benchmarking */
    {"198.19.255.255", HK_ADDR_RESERVED},
    {"192.88.99.1", HK_ADDR_RESERVED},
    /* IPv6 plain */
    {"::", HK_ADDR_UNSPECIFIED},
    {"::1", HK_ADDR_LOOPBACK},
    {"2606:4700:4700::1111", HK_ADDR_PUBLIC},
    {"2001:4860:4860::8888", HK_ADDR_PUBLIC},
    {"2a00:1450:4001:80b::200e", HK_ADDR_PUBLIC},
    {"fc00::1", HK_ADDR_PRIVATE},
    {"fd12:3456:789a::1", HK_ADDR_PRIVATE},
    {"fec0::1", HK_ADDR_PRIVATE},
    {"fe80::1", HK_ADDR_LINK_LOCAL},
    {"febf:ffff::1", HK_ADDR_LINK_LOCAL},
    {"ff02::1", HK_ADDR_MULTICAST},
    {"ff05::1:3", HK_ADDR_MULTICAST},
    {"2001:db8::1", HK_ADDR_RESERVED}, /* documentation */
    {"3fff::1", HK_ADDR_RESERVED},     /* documentation */
    {"2001::1", HK_ADDR_RESERVED},     /* Teredo */
    {"2001:10::1", HK_ADDR_RESERVED},  /* ORCHID */
    {"100::1", HK_ADDR_RESERVED},      /* discard-only */
    {"4000::1", HK_ADDR_RESERVED},     /* outside 2000::/3 */
    {"::2", HK_ADDR_UNSPECIFIED},      /* compatible 0.0.0.2 */
    /* IPv6 forms carrying an IPv4 address */
    {"::ffff:127.0.0.1", HK_ADDR_LOOPBACK},
    {"::ffff:7f00:1", HK_ADDR_LOOPBACK},
    {"::ffff:10.1.2.3", HK_ADDR_PRIVATE},
    {"::ffff:169.254.169.254", HK_ADDR_LINK_LOCAL},
    {"::ffff:8.8.8.8", HK_ADDR_PUBLIC},
    {"::ffff:0.0.0.0", HK_ADDR_UNSPECIFIED},
    {"::ffff:0:10.0.0.1", HK_ADDR_PRIVATE}, /* IPv4-translated */
    {"::127.0.0.1", HK_ADDR_LOOPBACK},      /* IPv4-compatible */
    {"::192.168.0.1", HK_ADDR_PRIVATE},
    {"::8.8.8.8", HK_ADDR_RESERVED},          /* deprecated form */
    {"64:ff9b::127.0.0.1", HK_ADDR_LOOPBACK}, /* NAT64 */
    {"64:ff9b::a9fe:a9fe", HK_ADDR_LINK_LOCAL},
    {"64:ff9b::100.64.0.1", HK_ADDR_CGNAT},
    {"64:ff9b::8.8.8.8", HK_ADDR_PUBLIC},
    {"64:ff9b:1::1", HK_ADDR_PRIVATE},    /* local-use NAT64 */
    {"2002:7f00:1::1", HK_ADDR_LOOPBACK}, /* 6to4 of 127.0.0.1 */
    {"2002:c0a8:101::", HK_ADDR_PRIVATE}, /* 6to4 of 192.168.1.1 */
    {"2002:e000:1::", HK_ADDR_MULTICAST}, /* 6to4 of 224.0.0.1 */
    {"2002:808:808::1", HK_ADDR_PUBLIC},  /* 6to4 of 8.8.8.8 */
};

static void test_table_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < HK_ARRAY_LEN(table); i++) {
        enum hk_addr_class c = (enum hk_addr_class) - 1;
        if (!hk_netguard_classify_text(table[i].addr, &c))
            fail_msg("%s: not parsed", table[i].addr);
        if (c != table[i].want)
            fail_msg("%s: got %s, want %s", table[i].addr,
                     hk_netguard_class_name(c),
                     hk_netguard_class_name(table[i].want));
    }
}

static void test_table_sockaddr(void **state)
{
    (void)state;
    for (size_t i = 0; i < HK_ARRAY_LEN(table); i++) {
        enum hk_addr_class c;
        struct sockaddr_in sin;
        struct sockaddr_in6 sin6;
        memset(&sin, 0, sizeof(sin));
        memset(&sin6, 0, sizeof(sin6));
        if (inet_pton(AF_INET, table[i].addr, &sin.sin_addr) == 1) {
            sin.sin_family = AF_INET;
            sin.sin_port = htons(443);
            c = hk_netguard_classify((struct sockaddr *)&sin, sizeof(sin));
        } else {
            assert_int_equal(
                inet_pton(AF_INET6, table[i].addr, &sin6.sin6_addr), 1);
            sin6.sin6_family = AF_INET6;
            sin6.sin6_port = htons(443);
            c = hk_netguard_classify((struct sockaddr *)&sin6, sizeof(sin6));
        }
        if (c != table[i].want)
            fail_msg("%s: got %s, want %s", table[i].addr,
                     hk_netguard_class_name(c),
                     hk_netguard_class_name(table[i].want));
    }
}

static void test_odd_sockaddrs(void **state)
{
    (void)state;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    assert_int_equal(hk_netguard_classify((struct sockaddr *)&sun, sizeof(sun)),
                     HK_ADDR_RESERVED);
    /* A length too short for the family is not trusted. */
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, "8.8.8.8", &sin.sin_addr);
    assert_int_equal(hk_netguard_classify((struct sockaddr *)&sin, 4),
                     HK_ADDR_RESERVED);
    assert_int_equal(hk_netguard_classify(NULL, 0), HK_ADDR_RESERVED);
}

static void test_text_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",         "localhost",  "example.com", "256.1.1.1",    "1.2.3",
        "127.1",    "0x7f.0.0.1", "[::1]",       "fe80::1%eth0", ":::",
        "1.2.3.4 ",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        enum hk_addr_class c;
        if (hk_netguard_classify_text(bad[i], &c))
            fail_msg("parsed \"%s\"", bad[i]);
    }
    enum hk_addr_class c;
    assert_false(hk_netguard_classify_text(NULL, &c));
}

static void test_class_names(void **state)
{
    (void)state;
    assert_string_equal(hk_netguard_class_name(HK_ADDR_PUBLIC), "public");
    assert_string_equal(hk_netguard_class_name(HK_ADDR_LOOPBACK), "loopback");
    assert_string_equal(hk_netguard_class_name(HK_ADDR_RESERVED), "reserved");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_text),
        cmocka_unit_test(test_table_sockaddr),
        cmocka_unit_test(test_odd_sockaddrs),
        cmocka_unit_test(test_text_refusals),
        cmocka_unit_test(test_class_names),
    };
    return cmocka_run_group_tests_name("netguard", tests, NULL, NULL);
}
