/*
 * apikey.c: secret generation and shape, the SHA-256 that is stored, the
 * constant-time comparison and the Bearer parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/apikey.h"

/* "ar_" + 43 base64url characters. */
#define SECRET_LEN 46
#define GOOD "ar_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_x"

/* Lowercase hex of n bytes into buf (2n + 1 bytes). */
static const char *
hex(const unsigned char *b, size_t n, char *buf)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = digits[b[i] >> 4];
		buf[2 * i + 1] = digits[b[i] & 0xf];
	}
	buf[2 * n] = '\0';
	return buf;
}

static void
test_generate(void **state)
{
	char a[APIKEY_SECRET_MAX], b[APIKEY_SECRET_MAX];

	(void)state;
	memset(a, 0, sizeof(a));
	apikey_generate(a);
	assert_true(apikey_well_formed(a));
	assert_int_equal(strlen(a), SECRET_LEN);
	assert_int_equal(strncmp(a, APIKEY_PREFIX, strlen(APIKEY_PREFIX)), 0);
	assert_int_equal(strncmp(a, "ar_", 3), 0);
	assert_int_equal(strspn(a + 3,
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			     "0123456789-_"),
	    SECRET_LEN - 3);

	apikey_generate(b);
	assert_true(apikey_well_formed(b));
	assert_string_not_equal(a, b);
}

static void
test_generate_many(void **state)
{
	char prev[APIKEY_SECRET_MAX], cur[APIKEY_SECRET_MAX];

	(void)state;
	apikey_generate(prev);
	for (int i = 0; i < 1000; i++) {
		apikey_generate(cur);
		assert_true(apikey_well_formed(cur));
		assert_string_not_equal(cur, prev);
		memcpy(prev, cur, sizeof(prev));
	}
}

static void
test_well_formed(void **state)
{
	static const char *const bad[] = {
		"",
		"ar_",
		"ar",
		"AR_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_x", /* prefix case */
		"sk_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_x", /* wrong prefix */
		"ar-abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_x",
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_xyz", /* no prefix */
		"ar_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_", /* 42: short */
		"ar_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_xy", /* 44: long */
		"ar_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123+/x", /* standard base64 */
		"ar_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_=", /* padding */
		"ar_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_ ",
		"ar_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_.",
		"ar_abcdefghijklmnopqrstuvwxyzABCDEFGHI\303\2510123-_", /* non-ASCII */
		" ar_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_x",
	};

	(void)state;
	assert_true(apikey_well_formed(GOOD));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(apikey_well_formed(bad[i]));
	assert_false(apikey_well_formed(NULL));
}

static void
test_hash_vectors(void **state)
{
	unsigned char out[APIKEY_HASH_LEN];
	char buf[2 * APIKEY_HASH_LEN + 1];

	(void)state;
	/* FIPS 180-2 SHA-256 test vectors. */
	apikey_hash("abc", out);
	assert_string_equal(hex(out, sizeof(out), buf),
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	apikey_hash("", out);
	assert_string_equal(hex(out, sizeof(out), buf),
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	apikey_hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", out);
	assert_string_equal(hex(out, sizeof(out), buf),
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void
test_hash_equal(void **state)
{
	unsigned char a[APIKEY_HASH_LEN], b[APIKEY_HASH_LEN];
	char secret[APIKEY_SECRET_MAX];

	(void)state;
	apikey_generate(secret);
	apikey_hash(secret, a);
	apikey_hash(secret, b);
	assert_true(apikey_hash_equal(a, b));

	/* A difference in the first or the last byte is seen. */
	b[0] ^= 0x01;
	assert_false(apikey_hash_equal(a, b));
	b[0] ^= 0x01;
	b[APIKEY_HASH_LEN - 1] ^= 0x80;
	assert_false(apikey_hash_equal(a, b));

	/* Different secrets hash differently. */
	secret[3] = secret[3] == 'A' ? 'B' : 'A';
	apikey_hash(secret, b);
	assert_false(apikey_hash_equal(a, b));
}

static void
test_from_bearer(void **state)
{
	const char *h, *tok;
	size_t len;

	(void)state;
	h = "Bearer x";
	len = 0;
	tok = apikey_from_bearer(h, &len);
	assert_ptr_equal(tok, h + 7);
	assert_int_equal(len, 1);

	h = "Bearer " GOOD;
	tok = apikey_from_bearer(h, &len);
	assert_non_null(tok);
	assert_int_equal(len, SECRET_LEN);
	assert_memory_equal(tok, GOOD, SECRET_LEN);

	/* The scheme is case-insensitive (RFC 7235). */
	tok = apikey_from_bearer("bearer x", &len);
	assert_non_null(tok);
	assert_int_equal(len, 1);
	assert_int_equal(*tok, 'x');
	tok = apikey_from_bearer("BEARER xyz", &len);
	assert_non_null(tok);
	assert_int_equal(len, 3);
	assert_memory_equal(tok, "xyz", 3);

	/* Extra spaces before the token are skipped. */
	tok = apikey_from_bearer("Bearer   tok", &len);
	assert_non_null(tok);
	assert_int_equal(len, 3);
	assert_memory_equal(tok, "tok", 3);
}

static void
test_from_bearer_bad(void **state)
{
	static const char *const bad[] = {
		"Basic x",
		"Basic dXNlcjpwYXNz",
		"Bearer",
		"Bearer ",
		"Bearer    ",
		"Bearerx",
		"Bearer a b",
		"Bearer a\tb",
		"Bearer a\t",
		"Token x",
		"",
		" Bearer x",
	};
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(apikey_from_bearer(bad[i], &len));
	assert_null(apikey_from_bearer(NULL, &len));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_generate_many),
		cmocka_unit_test(test_well_formed),
		cmocka_unit_test(test_hash_vectors),
		cmocka_unit_test(test_hash_equal),
		cmocka_unit_test(test_from_bearer),
		cmocka_unit_test(test_from_bearer_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
