/*
 * utcday.c: UTC dates as day numbers, the from/to parameters of the
 * analytics endpoints and agentrunctl report.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "core/utcday.h"

static long
parse_ok(const char *s)
{
	long d = -1;

	assert_int_equal(utcday_parse(s, &d), 0);
	return d;
}

static void
test_known_days(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("1970-01-01"), 0);
	assert_int_equal(parse_ok("1970-01-02"), 1);
	assert_int_equal(parse_ok("2000-03-01"), 11017);
	assert_int_equal(parse_ok("2026-11-23"), 20780);
	assert_int_equal(parse_ok("9999-12-31"), 2932896);
	assert_int_equal(utcday_from_ymd(2024, 2, 29) + 1, parse_ok("2024-03-01"));
}

static void
test_calendar(void **state)
{
	static const char *const bad[] = { "", "2026", "2026-1-01", "2026-01-1", "2026-13-01",
		"2026-00-10", "2026-01-00", "2026-01-32", "2026-02-29", "2100-02-29", "1900-03-01",
		"1969-12-31", "2026/01/01", "2026-01-01T00:00:00Z", " 2026-01-01", "2026-01-01 ",
		"+026-01-01", "2026-0a-01", "20260101", "2026-01-011", NULL };
	long d;

	(void)state;
	parse_ok("2024-02-29");
	parse_ok("2000-02-29");
	parse_ok("2026-04-30");
	for (size_t i = 0; bad[i] != NULL; i++) {
		d = 7;
		assert_int_equal(utcday_parse(bad[i], &d), -1);
		assert_int_equal(d, 0);
	}
	assert_int_equal(utcday_parse(NULL, &d), -1);
}

/* Every day from 1970 to 2200 formats and parses back to itself, in order. */
static void
test_round_trip(void **state)
{
	char out[UTCDAY_BUFSZ], prev[UTCDAY_BUFSZ] = "";
	long last = utcday_from_ymd(2200, 12, 31);

	(void)state;
	for (long d = 0; d <= last; d++) {
		long back;

		utcday_format(d, out);
		assert_int_equal(strlen(out), 10);
		assert_int_equal(utcday_parse(out, &back), 0);
		assert_int_equal(back, d);
		assert_true(strcmp(prev, out) < 0);
		memcpy(prev, out, sizeof(prev));
	}
	utcday_format(parse_ok("2024-12-31") + 1, out);
	assert_string_equal(out, "2025-01-01");
}

static void
test_of_time(void **state)
{
	(void)state;
	assert_int_equal(utcday_of_time(0), 0);
	assert_int_equal(utcday_of_time(86399), 0);
	assert_int_equal(utcday_of_time(86400), 1);
	assert_int_equal(utcday_of_time(-1), -1);
	/* 2026-11-23T23:59:59Z and the next second */
	assert_int_equal(utcday_of_time((time_t)20780 * 86400 + 86399), 20780);
	assert_int_equal(utcday_of_time((time_t)20781 * 86400), 20781);
	assert_true(utcday_today() >= 20000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_days),
		cmocka_unit_test(test_calendar),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_of_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
