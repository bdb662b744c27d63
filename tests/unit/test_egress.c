/*
 * egress_*: the pure parts of the outbound guard: the per-request address
 * check (the text CURLINFO_PRIMARY_IP gives), the providers.allow_hosts
 * list, and the URL comparisons that decide the operator's base URL and a
 * redirect's change of origin.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "executor/egress.h"

static void
test_ip_allowed(void **state)
{
	(void)state;
	assert_int_equal(egress_ip_allowed("8.8.8.8", 0), 1);
	assert_int_equal(egress_ip_allowed("2606:4700::1111", 0), 1);
	assert_int_equal(egress_ip_allowed("127.0.0.1", 0), 0);
	assert_int_equal(egress_ip_allowed("127.0.0.1", 1), 1);
	assert_int_equal(egress_ip_allowed("::1", 0), 0);
	assert_int_equal(egress_ip_allowed("::ffff:10.0.0.1", 0), 0);
	assert_int_equal(egress_ip_allowed("169.254.169.254", 0), 0);
	assert_int_equal(egress_ip_allowed("fe80::1%eth0", 0), 0);
	assert_int_equal(egress_ip_allowed("fe80::1%eth0", 1), 1);
	/* reserved stays refused even where private addresses are allowed */
	assert_int_equal(egress_ip_allowed("0.0.0.0", 1), 0);
	assert_int_equal(egress_ip_allowed("ff02::1", 1), 0);
	/* anything that is not an address is refused */
	assert_int_equal(egress_ip_allowed(NULL, 1), 0);
	assert_int_equal(egress_ip_allowed("", 1), 0);
	assert_int_equal(egress_ip_allowed("%eth0", 1), 0);
	assert_int_equal(egress_ip_allowed("localhost", 1), 0);
	assert_int_equal(egress_ip_allowed("8.8.8.8.8", 1), 0);
	assert_int_equal(egress_ip_allowed("[::1]", 1), 0);
}

static void
test_host_listed(void **state)
{
	static const char list[] = "gw.internal, 10.1.2.3:8443 [fd00::5]\tLLM.corp:80";

	(void)state;
	assert_int_equal(egress_host_listed(list, "http://gw.internal/v1"), 1);
	assert_int_equal(egress_host_listed(list, "https://GW.Internal:9999/v1"), 1);
	assert_int_equal(egress_host_listed(list, "https://10.1.2.3:8443/v1"), 1);
	assert_int_equal(egress_host_listed(list, "https://10.1.2.3/v1"), 0);
	assert_int_equal(egress_host_listed(list, "http://[fd00::5]:1234/"), 1);
	assert_int_equal(egress_host_listed(list, "http://llm.corp/v1"), 1);
	assert_int_equal(egress_host_listed(list, "https://llm.corp/v1"), 0);
	/* not a suffix match, not a prefix match, not the user part */
	assert_int_equal(egress_host_listed(list, "http://evil.gw.internal/"), 0);
	assert_int_equal(egress_host_listed(list, "http://gw.internal.evil.com/"), 0);
	assert_int_equal(egress_host_listed(list, "http://gw.internal@evil.com/"), 0);
	assert_int_equal(egress_host_listed(list, "http://10.1.2.4:8443/"), 0);
	assert_int_equal(egress_host_listed(list, "not a url"), 0);
	assert_int_equal(egress_host_listed("", "http://gw.internal/"), 0);
	assert_int_equal(egress_host_listed(NULL, "http://gw.internal/"), 0);
}

static void
test_list_check(void **state)
{
	char err[128];

	(void)state;
	assert_int_equal(egress_list_check("", err, sizeof(err)), 0);
	assert_int_equal(egress_list_check(" , ", err, sizeof(err)), 0);
	assert_int_equal(
	    egress_list_check("gw.internal, 10.0.0.1:8080 [::1]:1", err, sizeof(err)), 0);
	assert_int_equal(egress_list_check("gw, http://x/", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "http://x/"));
	assert_int_equal(egress_list_check("gw/v1", err, sizeof(err)), -1);
	assert_int_equal(egress_list_check("user@gw", err, sizeof(err)), -1);
	assert_int_equal(egress_list_check("gw:99999", err, sizeof(err)), -1);
	assert_int_equal(egress_list_check("gw?x", err, sizeof(err)), -1);
	assert_int_equal(egress_list_check("gw#x", err, sizeof(err)), -1);
}

static void
test_same_base_and_origin(void **state)
{
	(void)state;
	assert_int_equal(
	    egress_same_base("https://api.openai.com/v1", "https://api.openai.com/v1/"), 1);
	assert_int_equal(
	    egress_same_base("https://api.openai.com/v1", "https://api.openai.com/v2"), 0);
	assert_int_equal(egress_same_base("http://gw/", "http://gw"), 1);
	assert_int_equal(egress_same_base("", ""), 0);
	assert_int_equal(egress_same_base("/", ""), 0);

	assert_int_equal(egress_same_origin("http://a.test/x", "http://A.test:80/y?z"), 1);
	assert_int_equal(egress_same_origin("http://a.test/x", "https://a.test/x"), 0);
	assert_int_equal(egress_same_origin("http://a.test/x", "http://a.test:8080/x"), 0);
	assert_int_equal(egress_same_origin("http://a.test/x", "http://b.test/x"), 0);
	assert_int_equal(egress_same_origin("http://a.test/x", "::"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip_allowed),
		cmocka_unit_test(test_host_listed),
		cmocka_unit_test(test_list_check),
		cmocka_unit_test(test_same_base_and_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
