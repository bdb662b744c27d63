/*
 * money.c: the cost of a call, and the checked sums that analytics, reports
 * and the executor's batches add money and tokens with (issue 14: a sum
 * that cannot be represented is an error, never a wrapped number).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>

#include "core/money.h"

static void
test_add_checks_overflow(void **state)
{
	long long acc = 5;

	(void)state;
	assert_int_equal(money_add(&acc, 7), 0);
	assert_int_equal(acc, 12);
	acc = LLONG_MAX - 1;
	assert_int_equal(money_add(&acc, 1), 0);
	assert_true(acc == LLONG_MAX);
	assert_int_equal(money_add(&acc, 1), -1);
	assert_true(acc == LLONG_MAX); /* left alone */
	acc = LLONG_MIN;
	assert_int_equal(money_add(&acc, -1), -1);
	assert_true(acc == LLONG_MIN);
}

static void
test_sum_parse_range_checks(void **state)
{
	long long v = -1;

	(void)state;
	assert_int_equal(money_sum_parse("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(money_sum_parse(NULL, &v), 0); /* a sum over no rows */
	assert_true(v == 0);
	assert_int_equal(money_sum_parse("9223372036854775807", &v), 0);
	assert_true(v == LLONG_MAX);
	/* What SUM() of two large BIGINT rows prints: refused, not saturated or 0. */
	v = 42;
	assert_int_equal(money_sum_parse("12000000000000000000", &v), -1);
	assert_int_equal(money_sum_parse("9223372036854775808", &v), -1);
	assert_int_equal(money_sum_parse("-9223372036854775809", &v), -1);
	assert_int_equal(money_sum_parse("", &v), -1);
	assert_int_equal(money_sum_parse("12.5", &v), -1);
	assert_int_equal(money_sum_parse("1e3", &v), -1);
	assert_true(v == 42);
}

static void
test_cost_of_the_largest_call_fits(void **state)
{
	/* $1000 per million tokens, the most agentrunctl price set accepts. */
	struct money_prices p = { 1000000000000LL, 1000000000000LL, 1000000000000LL,
		1000000000000LL };
	struct money_usage u = { MONEY_TOKENS_MAX, 0, 0, MONEY_TOKENS_MAX };

	(void)state;
	/* 2 x 10^8 tokens x 10^6 nusd: 2 x 10^14, far inside BIGINT (docs/operations.md). */
	assert_true(money_cost_nusd(&u, &p) == 200000000000000LL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_checks_overflow),
		cmocka_unit_test(test_sum_parse_range_checks),
		cmocka_unit_test(test_cost_of_the_largest_call_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
