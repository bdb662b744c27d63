/*
 * Which addresses outbound tool requests may connect to (SSRF guard). The
 * executor classifies every address a host name resolves to, and the
 * address each connection actually uses, before sending anything.
 *
 *   LOOPBACK        127.0.0.0/8, ::1
 *   PRIVATE         10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT),
 *                   198.18/15 (benchmarking), fc00::/7 (ULA), fec0::/10
 *                   (deprecated site-local)
 *   LINKLOCAL       169.254/16, fe80::/10
 *   OTHER_RESERVED  0/8, 192.0.0/24, the TEST-NETs 192.0.2/24,
 *                   198.51.100/24, 203.0.113/24, 224/4 (multicast),
 *                   240/4 (incl. broadcast); ::, the rest of ::/96, 100::/64
 *                   (discard), 2001::/23 (IETF protocols, incl. Teredo),
 *                   2001:db8::/32 (documentation), 64:ff9b:1::/48 (local
 *                   NAT64), ff00::/8 (multicast), everything outside
 *                   2000::/3 not listed here; and any family but AF_INET and
 *                   AF_INET6
 *   PUBLIC          the rest
 *
 * IPv6 forms that carry an IPv4 address take that address's class:
 * IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d (/96), and 6to4
 * 2002:AABB:CCDD::/48.
 */
#ifndef AGENTRUN_EXECUTOR_NETGUARD_H
#define AGENTRUN_EXECUTOR_NETGUARD_H

#include <sys/socket.h>

enum netguard_class {
	NETGUARD_PUBLIC,
	NETGUARD_LOOPBACK,
	NETGUARD_PRIVATE,
	NETGUARD_LINKLOCAL,
	NETGUARD_OTHER_RESERVED,
};

/*
 * Borrows sa, which must be as long as its family says (sockaddr_in or
 * sockaddr_in6). NULL is OTHER_RESERVED.
 */
enum netguard_class netguard_classify(const struct sockaddr *sa);

/*
 * Returns 1 when sa may be connected to: it is PUBLIC, or allow_private is
 * set and it is not OTHER_RESERVED. Else 0.
 */
int netguard_allowed(const struct sockaddr *sa, int allow_private);

#endif
