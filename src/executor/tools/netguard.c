/*
 * Address classification for the outbound guard: tables of prefixes,
 * first match wins, so more specific prefixes come first.
 */
#include "netguard.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct netguard_v4 {
	uint32_t net;
	unsigned int bits;
	enum netguard_class class;
};

struct netguard_v6 {
	uint8_t net[16];
	unsigned int bits;
	enum netguard_class class;
};

static const struct netguard_v4 netguard_v4_table[] = {
	{ 0x00000000u, 8, NETGUARD_OTHER_RESERVED }, /* 0/8 "this network" */
	{ 0x7f000000u, 8, NETGUARD_LOOPBACK }, /* 127/8 */
	{ 0x0a000000u, 8, NETGUARD_PRIVATE }, /* 10/8 */
	{ 0x64400000u, 10, NETGUARD_PRIVATE }, /* 100.64/10 CGNAT */
	{ 0xa9fe0000u, 16, NETGUARD_LINKLOCAL }, /* 169.254/16 */
	{ 0xac100000u, 12, NETGUARD_PRIVATE }, /* 172.16/12 */
	{ 0xc0000000u, 24, NETGUARD_OTHER_RESERVED }, /* 192.0.0/24 IETF protocols */
	{ 0xc0000200u, 24, NETGUARD_OTHER_RESERVED }, /* 192.0.2/24 TEST-NET-1 */
	{ 0xc0a80000u, 16, NETGUARD_PRIVATE }, /* 192.168/16 */
	{ 0xc6120000u, 15, NETGUARD_PRIVATE }, /* 198.18/15 benchmarking */
	{ 0xc6336400u, 24, NETGUARD_OTHER_RESERVED }, /* 198.51.100/24 TEST-NET-2 */
	{ 0xcb007100u, 24, NETGUARD_OTHER_RESERVED }, /* 203.0.113/24 TEST-NET-3 */
	{ 0xe0000000u, 4, NETGUARD_OTHER_RESERVED }, /* 224/4 multicast */
	{ 0xf0000000u, 4, NETGUARD_OTHER_RESERVED }, /* 240/4, 255.255.255.255 */
};

static const struct netguard_v6 netguard_v6_table[] = {
	/* ::/128 and ::1/128 are exact; the rest of ::/96 (IPv4-compatible) is reserved. */
	{ { 0 }, 128, NETGUARD_OTHER_RESERVED }, { { [15] = 1 }, 128, NETGUARD_LOOPBACK },
	{ { 0 }, 96, NETGUARD_OTHER_RESERVED },
	{ { 0x01, 0x00 }, 64, NETGUARD_OTHER_RESERVED }, /* 100::/64 */
	{ { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48,
	    NETGUARD_OTHER_RESERVED }, /* 64:ff9b:1::/48 */
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, NETGUARD_OTHER_RESERVED }, /* 2001:db8::/32 */
	{ { 0x20, 0x01, 0x00, 0x00 }, 23, NETGUARD_OTHER_RESERVED }, /* 2001::/23 */
	{ { 0xfc }, 7, NETGUARD_PRIVATE }, /* fc00::/7 */
	{ { 0xfe, 0x80 }, 10, NETGUARD_LINKLOCAL }, /* fe80::/10 */
	{ { 0xfe, 0xc0 }, 10, NETGUARD_PRIVATE }, /* fec0::/10 */
	{ { 0xff }, 8, NETGUARD_OTHER_RESERVED }, /* ff00::/8 */
};

static const uint8_t netguard_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
static const uint8_t netguard_nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

static enum netguard_class
netguard_v4(uint32_t a)
{
	size_t i;

	for (i = 0; i < sizeof(netguard_v4_table) / sizeof(netguard_v4_table[0]); i++) {
		const struct netguard_v4 *t = &netguard_v4_table[i];
		uint32_t mask = 0xffffffffu << (32 - t->bits);

		if ((a & mask) == t->net)
			return t->class;
	}
	return NETGUARD_PUBLIC;
}

static uint32_t
netguard_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int
netguard_prefix(const uint8_t *a, const uint8_t *net, unsigned int bits)
{
	unsigned int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, net, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[whole] ^ net[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static enum netguard_class
netguard_v6(const uint8_t *a)
{
	size_t i;

	/* Forms carrying an IPv4 address take its class. */
	if (memcmp(a, netguard_mapped, 12) == 0 || memcmp(a, netguard_nat64, 12) == 0)
		return netguard_v4(netguard_be32(a + 12));
	if (a[0] == 0x20 && a[1] == 0x02)
		return netguard_v4(netguard_be32(a + 2));
	for (i = 0; i < sizeof(netguard_v6_table) / sizeof(netguard_v6_table[0]); i++) {
		const struct netguard_v6 *t = &netguard_v6_table[i];

		if (netguard_prefix(a, t->net, t->bits))
			return t->class;
	}
	/* Only 2000::/3 is allocated for global unicast. */
	if ((a[0] & 0xe0) != 0x20)
		return NETGUARD_OTHER_RESERVED;
	return NETGUARD_PUBLIC;
}

enum netguard_class
netguard_classify(const struct sockaddr *sa)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	if (sa == NULL)
		return NETGUARD_OTHER_RESERVED;
	/* Copies: the caller's storage may be a plain struct sockaddr buffer. */
	switch (sa->sa_family) {
	case AF_INET: memcpy(&sin, sa, sizeof(sin)); return netguard_v4(ntohl(sin.sin_addr.s_addr));
	case AF_INET6: memcpy(&sin6, sa, sizeof(sin6)); return netguard_v6(sin6.sin6_addr.s6_addr);
	default: return NETGUARD_OTHER_RESERVED;
	}
}

int
netguard_allowed(const struct sockaddr *sa, int allow_private)
{
	enum netguard_class c = netguard_classify(sa);

	if (c == NETGUARD_PUBLIC)
		return 1;
	return allow_private && c != NETGUARD_OTHER_RESERVED;
}
