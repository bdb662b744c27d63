/*
 * ids.c: UUIDv7 layout, ordering and validation, random hex; plus the two
 * small formatters every response and log line goes through:
 * jv_time_format (jsonv.c) and log_escape (log.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/syscall.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/ids.h"
#include "core/jsonv.h"
#include "core/log.h"

#define HEX_LOWER "0123456789abcdef"

/*
 * A stoppable clock. Makefile.am links this test without -Wl,--wrap, so
 * the test binary interposes clock_gettime itself: while fake_clock_on,
 * CLOCK_REALTIME reads fake_clock_ms; otherwise the kernel's clock.
 */
static int fake_clock_on;
static uint64_t fake_clock_ms;

int
clock_gettime(clockid_t clk, struct timespec *ts)
{
	if (fake_clock_on && clk == CLOCK_REALTIME) {
		ts->tv_sec = (time_t)(fake_clock_ms / 1000);
		ts->tv_nsec = (long)(fake_clock_ms % 1000) * 1000000L;
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, clk, ts);
}

/* The 48-bit millisecond field of an id. */
static uint64_t
id_ms(const char *id)
{
	char hex[13];

	memcpy(hex, id, 8);
	memcpy(hex + 8, id + 9, 4);
	hex[12] = '\0';
	return strtoull(hex, NULL, 16);
}

/* The 12-bit rand_a field (the per-millisecond counter of id_new). */
static unsigned
id_rand_a(const char *id)
{
	char hex[4];

	memcpy(hex, id + 15, 3);
	hex[3] = '\0';
	return (unsigned)strtoul(hex, NULL, 16);
}

static void
test_id_new_shape(void **state)
{
	char id[ID_BUFSZ];

	(void)state;
	for (int i = 0; i < 100; i++) {
		memset(id, 'x', sizeof(id));
		id_new(id);
		assert_int_equal(strlen(id), ID_LEN);
		assert_true(id_valid(id));
		assert_int_equal(id[14], '7'); /* version */
		assert_non_null(strchr("89ab", id[19])); /* RFC 9562 variant */
	}
}

static void
test_id_new_clock(void **state)
{
	char id[ID_BUFSZ];
	uint64_t ms, now;

	(void)state;
	now = (uint64_t)time(NULL) * 1000u;
	id_new(id);
	ms = id_ms(id);
	/* The timestamp is the wall clock in ms (allowing for slack either side). */
	assert_true(ms + 5000 >= now && ms <= now + 5000);
}

static void
test_id_new_increasing(void **state)
{
	char prev[ID_BUFSZ], cur[ID_BUFSZ];

	(void)state;
	id_new(prev);
	for (int i = 0; i < 10000; i++) {
		id_new(cur);
		assert_true(id_valid(cur));
		if (strcmp(prev, cur) >= 0)
			fail_msg("id %d not increasing: %s then %s", i, prev, cur);
		memcpy(prev, cur, sizeof(prev));
	}
}

/*
 * With the clock stopped every id falls in one millisecond: rand_a counts
 * up by one, and when its 12 bits run out the timestamp borrows from the
 * next millisecond. Then the clock steps back: ids keep increasing.
 */
static void
test_id_new_frozen_clock(void **state)
{
	char prev[ID_BUFSZ], cur[ID_BUFSZ];
	int borrowed = 0;

	(void)state;
	/*
	 * Ahead of every earlier id, so the first one starts a new millisecond;
	 * only a little, so ids made afterwards stay close to the wall clock.
	 */
	fake_clock_ms = (uint64_t)time(NULL) * 1000u + 2000;
	fake_clock_on = 1;
	id_new(prev);
	assert_int_equal(id_ms(prev), fake_clock_ms);
	assert_true(id_rand_a(prev) < 0x800); /* starts in the low half */
	for (int i = 0; i < 10000; i++) {
		id_new(cur);
		if (strcmp(prev, cur) >= 0) {
			fake_clock_on = 0;
			fail_msg("id %d not increasing: %s then %s", i, prev, cur);
		}
		if (id_ms(cur) == id_ms(prev))
			assert_int_equal(id_rand_a(cur), id_rand_a(prev) + 1);
		else {
			/* A borrow happens only once the counter is used up. */
			assert_int_equal(id_rand_a(prev), 0xfff);
			assert_int_equal(id_ms(cur), id_ms(prev) + 1);
			assert_true(id_rand_a(cur) < 0x800);
			borrowed++;
		}
		memcpy(prev, cur, sizeof(prev));
	}
	/* 10000 ids need at least two borrows of 2048+ ids... */
	assert_true(borrowed >= 2);

	/* ...and a clock stepping back does not reorder them. */
	fake_clock_ms -= 60000;
	id_new(cur);
	fake_clock_on = 0;
	assert_true(strcmp(prev, cur) < 0);
	assert_int_equal(id_ms(cur), id_ms(prev));
}

static void
test_id_from_parts(void **state)
{
	static const unsigned char zero[8] = { 0 };
	static const unsigned char ones[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char seq[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
	char id[ID_BUFSZ];

	(void)state;
	id_from_parts(id, UINT64_C(0x0193a1b2c3d4), 0, zero);
	assert_string_equal(id, "0193a1b2-c3d4-7000-8000-000000000000");

	id_from_parts(id, UINT64_C(0x0193a1b2c3d4), 0xabc, ones);
	assert_string_equal(id, "0193a1b2-c3d4-7abc-bfff-ffffffffffff");

	/* The variant takes the top two bits of rand_b's first byte. */
	id_from_parts(id, UINT64_C(0x0193a1b2c3d4), 0x123, seq);
	assert_string_equal(id, "0193a1b2-c3d4-7123-8123-456789abcdef");

	/* rand_a keeps 12 bits; the clock keeps 48. */
	id_from_parts(id, UINT64_C(0x0193a1b2c3d4), 0xffff, zero);
	assert_string_equal(id, "0193a1b2-c3d4-7fff-8000-000000000000");
	id_from_parts(id, UINT64_C(0xffff000000000001), 0, zero);
	assert_string_equal(id, "00000000-0001-7000-8000-000000000000");
	id_from_parts(id, 0, 0, zero);
	assert_string_equal(id, "00000000-0000-7000-8000-000000000000");
	assert_true(id_valid(id));

	/* Ordering follows the clock, then rand_a. */
	{
		char a[ID_BUFSZ], b[ID_BUFSZ];

		id_from_parts(a, 1000, 0xfff, ones);
		id_from_parts(b, 1001, 0, zero);
		assert_true(strcmp(a, b) < 0);
		id_from_parts(a, 1000, 5, ones);
		id_from_parts(b, 1000, 6, zero);
		assert_true(strcmp(a, b) < 0);
	}
}

static void
test_id_valid(void **state)
{
	static const char *const good[] = {
		"0193a1b2-c3d4-7abc-bfff-ffffffffffff",
		"123e4567-e89b-42d3-a456-426614174000", /* any version */
		"00000000-0000-0000-0000-000000000000",
	};
	static const char *const bad[] = {
		"0193A1B2-C3D4-7ABC-BFFF-FFFFFFFFFFFF", /* uppercase */
		"0193a1b2-c3d4-7abc-bfff-fffffffffffF",
		"0193a1b2c3d4-7abc-bfff-ffffffffffff-", /* dashes moved */
		"0193a1b2-c3d47-abc-bfff-ffffffffffff",
		"0193a1b2_c3d4_7abc_bfff_ffffffffffff",
		"0193a1b2c3d47abcbfffffffffffffff", /* no dashes */
		"0193a1b2-c3d4-7abc-bfff-fffffffffff", /* 35 */
		"0193a1b2-c3d4-7abc-bfff-fffffffffffff", /* 37 */
		"{0193a1b2-c3d4-7abc-bfff-ffffffffffff}",
		"0193a1b2-c3d4-7abc-bfff-fffffffffffg",
		"0193a1b2-c3d4-7abc-bfff-ffffffffff f",
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(id_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(id_valid(bad[i]));
	assert_false(id_valid(NULL));
}

static void
test_random_hex(void **state)
{
	char a[2 * 32 + 1], b[2 * 32 + 1];

	(void)state;
	memset(a, 'x', sizeof(a));
	id_random_hex(a, 8);
	assert_int_equal(strlen(a), 16);
	assert_int_equal(strspn(a, HEX_LOWER), 16);
	assert_int_equal(a[17], 'x'); /* nothing past the NUL */

	id_random_hex(a, 16);
	id_random_hex(b, 16);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, HEX_LOWER), 32);
	assert_string_not_equal(a, b);

	id_random_hex(a, 32);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(strspn(a, HEX_LOWER), 64);

	id_random_hex(a, 0);
	assert_string_equal(a, "");
}

/* --- jv_time_format (jsonv.c) ------------------------------------------- */

static void
test_time_format(void **state)
{
	char out[40];
	json_t *v;

	(void)state;
	jv_time_format("2026-11-23 10:00:00.123", out, sizeof(out));
	assert_string_equal(out, "2026-11-23T10:00:00.123Z");
	jv_time_format("2026-11-23 10:00:00", out, sizeof(out));
	assert_string_equal(out, "2026-11-23T10:00:00.000Z");
	jv_time_format("2026-11-23 10:00:00.1", out, sizeof(out));
	assert_string_equal(out, "2026-11-23T10:00:00.100Z");
	jv_time_format("2026-11-23 10:00:00.123456", out, sizeof(out));
	assert_string_equal(out, "2026-11-23T10:00:00.123Z");
	jv_time_format("1999-01-02 03:04:05.006", out, sizeof(out));
	assert_string_equal(out, "1999-01-02T03:04:05.006Z");

	/* The documented minimum size is enough. */
	jv_time_format("2026-11-23 10:00:00.123", out, 25);
	assert_string_equal(out, "2026-11-23T10:00:00.123Z");

	memset(out, 'x', sizeof(out));
	jv_time_format(NULL, out, sizeof(out));
	assert_string_equal(out, "");
	jv_time_format("2026-11-23", out, sizeof(out));
	assert_string_equal(out, "");

	v = jv_time("2026-11-23 10:00:00.5");
	assert_string_equal(json_string_value(v), "2026-11-23T10:00:00.500Z");
	json_decref(v);
	v = jv_time(NULL);
	assert_true(json_is_null(v));
	json_decref(v);
}

/* --- log_escape (log.c) ------------------------------------------------- */

static void
test_log_escape(void **state)
{
	char out[128];

	(void)state;
	assert_ptr_equal(log_escape(out, sizeof(out), "plain text 123"), out);
	assert_string_equal(out, "plain text 123");

	log_escape(out, sizeof(out), "a\"b\\c");
	assert_string_equal(out, "a\\x22b\\x5cc");

	/* A value cannot end the line or the quoted field. */
	log_escape(out, sizeof(out), "x\r\nlevel=warn msg=\"forged\"");
	assert_string_equal(out, "x\\x0d\\x0alevel=warn msg=\\x22forged\\x22");
	assert_null(strchr(out, '\n'));

	log_escape(out, sizeof(out), "\x01\t\x1f\x7f");
	assert_string_equal(out, "\\x01\\x09\\x1f\\x7f");

	/* Bytes >= 0x80 are escaped one by one. */
	log_escape(out, sizeof(out), "caf\xc3\xa9 \xff");
	assert_string_equal(out, "caf\\xc3\\xa9 \\xff");

	/* Printable ASCII other than '"' and '\\' passes. */
	log_escape(out, sizeof(out), " !#$%&'()*+,-./:;<=>?@[]^_`{|}~");
	assert_string_equal(out, " !#$%&'()*+,-./:;<=>?@[]^_`{|}~");

	log_escape(out, sizeof(out), "");
	assert_string_equal(out, "");
	memset(out, 'x', sizeof(out));
	log_escape(out, sizeof(out), NULL);
	assert_string_equal(out, "");
}

static void
test_log_escape_truncate(void **state)
{
	char out[16];

	(void)state;
	memset(out, 'x', sizeof(out));
	log_escape(out, 5, "abcdef");
	assert_string_equal(out, "abcd");
	assert_int_equal(out[5], 'x');

	/* An escape is never cut in half. */
	log_escape(out, 6, "ab\ncd");
	assert_string_equal(out, "ab");
	log_escape(out, 7, "ab\ncd");
	assert_string_equal(out, "ab\\x0a");
	log_escape(out, 5, "\n");
	assert_string_equal(out, "\\x0a");
	log_escape(out, 4, "\n");
	assert_string_equal(out, "");

	/* Every size gives a NUL-terminated prefix of the full escape. */
	for (size_t sz = 1; sz <= sizeof(out); sz++) {
		static const char full[] = "a\\x22\\xffbc";

		memset(out, 'x', sizeof(out));
		log_escape(out, sz, "a\"\377bc");
		assert_true(strlen(out) < sz);
		assert_memory_equal(out, full, strlen(out));
		if (sz < sizeof(out))
			assert_int_equal(out[sz], 'x');
	}

	/* dstsz 0 writes nothing. */
	out[0] = 'x';
	log_escape(out, 0, "abc");
	assert_int_equal(out[0], 'x');
	log_escape(out, 1, "abc");
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_new_shape),
		cmocka_unit_test(test_id_new_clock),
		cmocka_unit_test(test_id_new_increasing),
		cmocka_unit_test(test_id_new_frozen_clock),
		cmocka_unit_test(test_id_from_parts),
		cmocka_unit_test(test_id_valid),
		cmocka_unit_test(test_random_hex),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_log_escape),
		cmocka_unit_test(test_log_escape_truncate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
