/*
 * netguard.h - classifies socket addresses so the dispatcher can refuse to
 * connect inward: loopback, private, link-local, CGNAT, multicast,
 * unspecified, reserved, and IPv4-mapped / NAT64 / 6to4 forms of them.
 * Pure functions, no I/O.
 */
#ifndef HK_NETGUARD_H
#define HK_NETGUARD_H

#include "common.h"
#include <sys/socket.h>

enum hk_addr_class {
    HK_ADDR_PUBLIC = 0,
    HK_ADDR_LOOPBACK,
    HK_ADDR_PRIVATE,     /* RFC 1918, fc00::/7 unique local */
    HK_ADDR_LINK_LOCAL,  /* 169.254/16, fe80::/10 */
    HK_ADDR_CGNAT,       /* 100.64/10 */
    HK_ADDR_MULTICAST,   /* 224/4, ff00::/8 */
    HK_ADDR_UNSPECIFIED, /* 0.0.0.0/8, :: */
    HK_ADDR_RESERVED     /* 240/4, broadcast, documentation, benchmarking, etc. */
};

enum hk_addr_class hk_netguard_classify(const struct sockaddr *sa,
                                        socklen_t len);
/* Same, from a textual IPv4 or IPv6 address; false if s is not one. */
bool hk_netguard_classify_text(const char *s, enum hk_addr_class *out);
/* Human name of a class, e.g. "loopback". */
const char *hk_netguard_class_name(enum hk_addr_class c);

#endif
