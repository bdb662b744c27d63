/*
 * usd.c: decimal dollars to nano-dollars and back, exactly (agentrunctl
 * price set parses with it; reports print with it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "core/usd.h"

#define MAX_NUSD 1000000000000LL /* $1000 */

static long long
parse_ok(const char *s)
{
	long long v = -1;

	assert_int_equal(usd_parse_nusd(s, MAX_NUSD, &v), 0);
	return v;
}

static void
parse_bad(const char *s)
{
	long long v = 12345;

	assert_int_equal(usd_parse_nusd(s, MAX_NUSD, &v), -1);
	assert_int_equal(v, 0);
}

static void
test_parse_prices(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("0"), 0);
	assert_int_equal(parse_ok("2"), 2000000000LL);
	assert_int_equal(parse_ok("2.5"), 2500000000LL);
	assert_int_equal(parse_ok("2.50"), 2500000000LL);
	assert_int_equal(parse_ok("0.075"), 75000000LL);
	assert_int_equal(parse_ok(".5"), 500000000LL);
	assert_int_equal(parse_ok("3.75"), 3750000000LL);
	assert_int_equal(parse_ok("0.000000001"), 1);
	assert_int_equal(parse_ok("1.230000000"), 1230000000LL);
	assert_int_equal(parse_ok("007.1"), 7100000000LL);
	/* 0.1 + 0.2 style values that floats get wrong stay exact */
	assert_int_equal(parse_ok("0.3"), 300000000LL);
	assert_int_equal(parse_ok("18.75"), 18750000000LL);
}

static void
test_parse_limits(void **state)
{
	long long v;

	(void)state;
	assert_int_equal(parse_ok("1000"), MAX_NUSD);
	assert_int_equal(parse_ok("1000.000000000"), MAX_NUSD);
	parse_bad("1000.000000001");
	parse_bad("1001");
	parse_bad("99999999999999999999999999");
	parse_bad("99999999999999999999999999.5");
	assert_int_equal(usd_parse_nusd("9223372036.854775807", LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MAX);
	assert_int_equal(usd_parse_nusd("9223372036.854775808", LLONG_MAX, &v), -1);
	assert_int_equal(usd_parse_nusd("9223372037", LLONG_MAX, &v), -1);
	assert_int_equal(usd_parse_nusd("0.5", 0, &v), -1);
}

static void
test_parse_rejects(void **state)
{
	static const char *const bad[] = { "", ".", "2.", "-1", "+1", "1e3", "1,5", " 1", "1 ",
		"0x10", "1.0000000001", "1.0000000000", "1..2", "1.2.3", "abc", "1.5$", "NaN",
		"inf", NULL };
	long long v;

	(void)state;
	for (size_t i = 0; bad[i] != NULL; i++)
		parse_bad(bad[i]);
	assert_int_equal(usd_parse_nusd(NULL, MAX_NUSD, &v), -1);
}

static void
test_format(void **state)
{
	char out[USD_BUFSZ];

	(void)state;
	usd_format_nusd(0, out);
	assert_string_equal(out, "0.000000000");
	usd_format_nusd(1585000, out);
	assert_string_equal(out, "0.001585000");
	usd_format_nusd(2500000000LL, out);
	assert_string_equal(out, "2.500000000");
	usd_format_nusd(1, out);
	assert_string_equal(out, "0.000000001");
	usd_format_nusd(-1500000000LL, out);
	assert_string_equal(out, "-1.500000000");
	usd_format_nusd(LLONG_MAX, out);
	assert_string_equal(out, "9223372036.854775807");
	usd_format_nusd(LLONG_MIN, out);
	assert_string_equal(out, "-9223372036.854775808");
}

static void
test_round_trip(void **state)
{
	static const long long vals[] = { 0, 1, 999999999, 1000000000, 123456789012LL, 75000000,
		MAX_NUSD };
	char out[USD_BUFSZ];
	long long v;

	(void)state;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		usd_format_nusd(vals[i], out);
		assert_int_equal(usd_parse_nusd(out, MAX_NUSD, &v), 0);
		assert_true(v == vals[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_prices),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
