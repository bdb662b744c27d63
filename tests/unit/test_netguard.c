/* netguard_*: classifying the addresses outbound tool requests may reach. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "executor/tools/netguard.h"

#define PUB NETGUARD_PUBLIC
#define LO NETGUARD_LOOPBACK
#define PRIV NETGUARD_PRIVATE
#define LL NETGUARD_LINKLOCAL
#define RES NETGUARD_OTHER_RESERVED

struct addr_case {
	const char *addr;
	enum netguard_class want;
};

static const char *const class_names[] = { "PUBLIC", "LOOPBACK", "PRIVATE", "LINKLOCAL",
	"OTHER_RESERVED" };

/* Fills ss from a textual IPv4 or IPv6 address. */
static void
make_addr(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(443);
		if (inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1)
			fail_msg("bad test address %s", text);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(80);
		if (inet_pton(AF_INET, text, &sin->sin_addr) != 1)
			fail_msg("bad test address %s", text);
	}
}

static void
check_table(const struct addr_case *t, size_t n)
{
	struct sockaddr_storage ss;
	enum netguard_class got;
	size_t i;

	for (i = 0; i < n; i++) {
		make_addr(t[i].addr, &ss);
		got = netguard_classify((const struct sockaddr *)&ss);
		if (got != t[i].want)
			fail_msg("%s: got %s, want %s", t[i].addr, class_names[got],
			    class_names[t[i].want]);
		/* allowed() follows the class in both modes. */
		assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 0), got == PUB);
		assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 1), got != RES);
	}
}

static const struct addr_case v4_cases[] = {
	/* public */
	{ "1.1.1.1", PUB },
	{ "8.8.8.8", PUB },
	{ "93.184.216.34", PUB },
	{ "1.0.0.0", PUB },
	{ "9.255.255.255", PUB },
	{ "11.0.0.0", PUB },
	{ "100.63.255.255", PUB },
	{ "100.128.0.0", PUB },
	{ "126.255.255.255", PUB },
	{ "128.0.0.0", PUB },
	{ "169.253.255.255", PUB },
	{ "169.255.0.0", PUB },
	{ "172.15.255.255", PUB },
	{ "172.32.0.0", PUB },
	{ "192.0.1.1", PUB },
	{ "192.0.3.0", PUB },
	{ "192.88.99.1", PUB },
	{ "192.167.255.255", PUB },
	{ "192.169.0.0", PUB },
	{ "198.17.255.255", PUB },
	{ "198.20.0.0", PUB },
	{ "198.51.99.255", PUB },
	{ "198.51.101.0", PUB },
	{ "203.0.112.255", PUB },
	{ "203.0.114.0", PUB },
	{ "223.255.255.255", PUB },
	/* loopback */
	{ "127.0.0.1", LO },
	{ "127.0.0.0", LO },
	{ "127.255.255.255", LO },
	{ "127.1.2.3", LO },
	/* private */
	{ "10.0.0.0", PRIV },
	{ "10.255.255.255", PRIV },
	{ "10.1.2.3", PRIV },
	{ "172.16.0.0", PRIV },
	{ "172.20.1.1", PRIV },
	{ "172.31.255.255", PRIV },
	{ "192.168.0.0", PRIV },
	{ "192.168.1.1", PRIV },
	{ "192.168.255.255", PRIV },
	{ "100.64.0.0", PRIV },
	{ "100.100.100.100", PRIV },
	{ "100.127.255.255", PRIV },
	{ "198.18.0.1", PRIV },
	{ "198.19.255.255", PRIV },
	/* link-local (incl. cloud metadata) */
	{ "169.254.0.0", LL },
	{ "169.254.169.254", LL },
	{ "169.254.255.255", LL },
	/* reserved */
	{ "0.0.0.0", RES },
	{ "0.1.2.3", RES },
	{ "0.255.255.255", RES },
	{ "192.0.0.0", RES },
	{ "192.0.0.170", RES },
	{ "192.0.2.1", RES },
	{ "198.51.100.7", RES },
	{ "203.0.113.255", RES },
	{ "224.0.0.0", RES },
	{ "224.0.0.251", RES },
	{ "239.255.255.250", RES },
	{ "240.0.0.0", RES },
	{ "250.1.2.3", RES },
	{ "255.255.255.254", RES },
	{ "255.255.255.255", RES },
};

static const struct addr_case v6_cases[] = {
	/* public: global unicast */
	{ "2606:4700:4700::1111", PUB },
	{ "2001:4860:4860::8888", PUB },
	{ "2a00:1450:4001:80b::200e", PUB },
	{ "2000::", PUB },
	{ "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PUB },
	{ "2001:200::1", PUB },
	{ "2001:db7:ffff::1", PUB },
	{ "2001:db9::1", PUB },
	{ "2003::1", PUB },
	/* loopback, unspecified */
	{ "::1", LO },
	{ "::", RES },
	/* IPv4-mapped: by the IPv4 */
	{ "::ffff:127.0.0.1", LO },
	{ "::ffff:10.0.0.1", PRIV },
	{ "::ffff:169.254.169.254", LL },
	{ "::ffff:8.8.8.8", PUB },
	{ "::ffff:0.0.0.0", RES },
	{ "::ffff:255.255.255.255", RES },
	{ "::ffff:7f00:1", LO },
	/* NAT64 64:ff9b::/96: by the IPv4 */
	{ "64:ff9b::8.8.8.8", PUB },
	{ "64:ff9b::127.0.0.1", LO },
	{ "64:ff9b::192.168.0.1", PRIV },
	{ "64:ff9b::a9fe:a9fe", LL },
	{ "64:ff9b::224.0.0.1", RES },
	/* but not its neighbours */
	{ "64:ff9b:0:0:0:1:808:808", RES },
	{ "64:ff9b:1::8.8.8.8", RES },
	{ "64:ff9a::8.8.8.8", RES },
	/* 6to4 2002::/16: by the embedded IPv4 */
	{ "2002:0808:0808::1", PUB },
	{ "2002:7f00:0001::1", LO },
	{ "2002:c0a8:0101::", PRIV },
	{ "2002:0a00:0001:ffff:ffff:ffff:ffff:ffff", PRIV },
	{ "2002:a9fe:a9fe::1", LL },
	{ "2002::", RES },
	{ "2002:e000::1", RES },
	/* IPv4-compatible (deprecated), and the rest of ::/96 */
	{ "::127.0.0.1", RES },
	{ "::8.8.8.8", RES },
	{ "::2", RES },
	/* IPv4-translated and other ::/8 forms */
	{ "::ffff:0:8.8.8.8", RES },
	{ "0:0:0:1::", RES },
	/* private */
	{ "fc00::", PRIV },
	{ "fd00::1", PRIV },
	{ "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PRIV },
	{ "fec0::1", PRIV },
	{ "feff::1", PRIV },
	/* link-local */
	{ "fe80::", LL },
	{ "fe80::1", LL },
	{ "febf:ffff::1", LL },
	/* reserved */
	{ "ff00::", RES },
	{ "ff02::1", RES },
	{ "ff05::1:3", RES },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RES },
	{ "100::", RES },
	{ "100::ffff:ffff:ffff:ffff", RES },
	{ "100:0:0:1::", RES },
	{ "2001::1", RES },
	{ "2001:0:4136:e378:8000:63bf:3fff:fdd2", RES },
	{ "2001:2::1", RES },
	{ "2001:10::1", RES },
	{ "2001:1ff:ffff::1", RES },
	{ "2001:db8::1", RES },
	{ "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", RES },
	/* outside 2000::/3 */
	{ "1000::1", RES },
	{ "4000::1", RES },
	{ "5f00::1", RES },
	{ "e000::1", RES },
	{ "fb00::1", RES },
};

static void
test_ipv4(void **state)
{
	(void)state;
	check_table(v4_cases, sizeof(v4_cases) / sizeof(v4_cases[0]));
}

static void
test_ipv6(void **state)
{
	(void)state;
	check_table(v6_cases, sizeof(v6_cases) / sizeof(v6_cases[0]));
}

/* Every IPv4 /8 agrees between the v4 form, its mapped and its NAT64 forms. */
static void
test_embedded_agree(void **state)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	unsigned int a, b;

	(void)state;
	for (a = 0; a < 256; a++) {
		for (b = 0; b < 256; b += 3) {
			uint8_t q[4] = { (uint8_t)a, (uint8_t)b, (uint8_t)(a ^ b), 1 };
			enum netguard_class c4;

			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			memcpy(&sin.sin_addr, q, 4);
			c4 = netguard_classify((const struct sockaddr *)&sin);

			memset(&sin6, 0, sizeof(sin6));
			sin6.sin6_family = AF_INET6;
			sin6.sin6_addr.s6_addr[10] = 0xff;
			sin6.sin6_addr.s6_addr[11] = 0xff;
			memcpy(&sin6.sin6_addr.s6_addr[12], q, 4);
			assert_int_equal(netguard_classify((const struct sockaddr *)&sin6), c4);

			memset(&sin6.sin6_addr, 0, 16);
			sin6.sin6_addr.s6_addr[1] = 0x64;
			sin6.sin6_addr.s6_addr[2] = 0xff;
			sin6.sin6_addr.s6_addr[3] = 0x9b;
			memcpy(&sin6.sin6_addr.s6_addr[12], q, 4);
			assert_int_equal(netguard_classify((const struct sockaddr *)&sin6), c4);

			memset(&sin6.sin6_addr, 0, 16);
			sin6.sin6_addr.s6_addr[0] = 0x20;
			sin6.sin6_addr.s6_addr[1] = 0x02;
			memcpy(&sin6.sin6_addr.s6_addr[2], q, 4);
			sin6.sin6_addr.s6_addr[15] = 0x42;
			assert_int_equal(netguard_classify((const struct sockaddr *)&sin6), c4);
		}
	}
}

static void
test_other_families(void **state)
{
	struct sockaddr_un sun;
	struct sockaddr_storage ss;

	(void)state;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(netguard_classify((const struct sockaddr *)&sun), RES);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&sun, 0), 0);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&sun, 1), 0);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNSPEC;
	assert_int_equal(netguard_classify((const struct sockaddr *)&ss), RES);
	assert_int_equal(netguard_classify(NULL), RES);
	assert_int_equal(netguard_allowed(NULL, 1), 0);
}

static void
test_allowed(void **state)
{
	struct sockaddr_storage ss;

	(void)state;
	make_addr("8.8.8.8", &ss);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 0), 1);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 1), 1);
	make_addr("127.0.0.1", &ss);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 0), 0);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 1), 1);
	make_addr("::ffff:169.254.169.254", &ss);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 0), 0);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 1), 1);
	make_addr("fd12::1", &ss);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 0), 0);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 7), 1);
	make_addr("0.0.0.0", &ss);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 1), 0);
	make_addr("::", &ss);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 1), 0);
	make_addr("255.255.255.255", &ss);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 1), 0);
	make_addr("ff02::1", &ss);
	assert_int_equal(netguard_allowed((const struct sockaddr *)&ss, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_embedded_agree),
		cmocka_unit_test(test_other_families),
		cmocka_unit_test(test_allowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
