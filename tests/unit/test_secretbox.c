/* Unit tests for src/core/secretbox.c: sealing route API keys at rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/secretbox.h"

#define WS "01937a00-0000-7000-8000-000000000001"
#define WS2 "01937a00-0000-7000-8000-000000000002"
#define ROUTE "01937a00-0000-7000-8000-0000000000aa"
#define ROUTE2 "01937a00-0000-7000-8000-0000000000bb"
#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define PLAIN "sk-test-0123456789abcdef"

static void
load_key(unsigned char key[SECRETBOX_KEY_LEN])
{
	assert_int_equal(secretbox_key_from_hex(KEY_HEX, key), 0);
}

static void
test_key_from_hex(void **state)
{
	unsigned char key[SECRETBOX_KEY_LEN];
	char upper[] = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";

	(void)state;
	assert_int_equal(secretbox_key_from_hex(KEY_HEX, key), 0);
	for (int i = 0; i < SECRETBOX_KEY_LEN; i++)
		assert_int_equal(key[i], i);
	assert_int_equal(secretbox_key_from_hex(upper, key), 0);
	assert_int_equal(key[31], 0x1f);
}

static void
test_key_from_hex_rejects(void **state)
{
	unsigned char key[SECRETBOX_KEY_LEN];
	char bad[2 * SECRETBOX_KEY_LEN + 2];
	static const char *const cases[] = {
		"",
		"00",
		/* 63 and 65 characters */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0",
		/* 64 characters, one not hex */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
		"x00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"00010203 405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"00:102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		/* 128 characters: a 64-byte key is not a 32-byte key */
		KEY_HEX KEY_HEX,
	};

	(void)state;
	assert_int_equal(secretbox_key_from_hex(NULL, key), -1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(secretbox_key_from_hex(cases[i], key), -1);
	/* An embedded NUL shortens the string: too short. */
	memcpy(bad, KEY_HEX, sizeof(KEY_HEX));
	bad[10] = '\0';
	assert_int_equal(secretbox_key_from_hex(bad, key), -1);
}

static void
test_round_trip(void **state)
{
	unsigned char key[SECRETBOX_KEY_LEN], nonce[SECRETBOX_NONCE_LEN];
	unsigned char ct[sizeof(PLAIN) - 1 + SECRETBOX_TAG_LEN];
	unsigned char out[sizeof(PLAIN)];
	size_t len = sizeof(PLAIN) - 1;

	(void)state;
	load_key(key);
	assert_int_equal(
	    secretbox_seal(key, WS, ROUTE, (const unsigned char *)PLAIN, len, ct, nonce), 0);
	/* The ciphertext is not the plaintext. */
	assert_true(memcmp(ct, PLAIN, len) != 0);
	memset(out, 'x', sizeof(out));
	assert_int_equal(secretbox_open(key, WS, ROUTE, ct, sizeof(ct), nonce, out), 0);
	assert_memory_equal(out, PLAIN, len);
	assert_int_equal(out[len], '\0');
	assert_string_equal((const char *)out, PLAIN);
}

static void
test_round_trip_sizes(void **state)
{
	unsigned char key[SECRETBOX_KEY_LEN], nonce[SECRETBOX_NONCE_LEN];
	static unsigned char plain[4096], ct[4096 + SECRETBOX_TAG_LEN], out[4096 + 1];
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 63, 64, 65, 1000, 4080, 4096 };

	(void)state;
	load_key(key);
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		assert_int_equal(secretbox_seal(key, WS, ROUTE, plain, n, ct, nonce), 0);
		assert_int_equal(
		    secretbox_open(key, WS, ROUTE, ct, n + SECRETBOX_TAG_LEN, nonce, out), 0);
		if (n > 0)
			assert_memory_equal(out, plain, n);
		assert_int_equal(out[n], '\0');
	}
}

static void
test_wrong_additional_data(void **state)
{
	unsigned char key[SECRETBOX_KEY_LEN], nonce[SECRETBOX_NONCE_LEN];
	unsigned char ct[sizeof(PLAIN) - 1 + SECRETBOX_TAG_LEN];
	unsigned char out[sizeof(PLAIN)];
	size_t len = sizeof(PLAIN) - 1;

	(void)state;
	load_key(key);
	assert_int_equal(
	    secretbox_seal(key, WS, ROUTE, (const unsigned char *)PLAIN, len, ct, nonce), 0);
	/* Another workspace, another route, both swapped, a shifted separator. */
	assert_int_equal(secretbox_open(key, WS2, ROUTE, ct, sizeof(ct), nonce, out), -1);
	assert_int_equal(secretbox_open(key, WS, ROUTE2, ct, sizeof(ct), nonce, out), -1);
	assert_int_equal(secretbox_open(key, ROUTE, WS, ct, sizeof(ct), nonce, out), -1);
	assert_int_equal(secretbox_open(key, WS ":" ROUTE, "", ct, sizeof(ct), nonce, out), -1);
	assert_int_equal(secretbox_open(key, "", WS ":" ROUTE, ct, sizeof(ct), nonce, out), -1);
	assert_int_equal(secretbox_open(key, NULL, ROUTE, ct, sizeof(ct), nonce, out), -1);
	assert_int_equal(secretbox_open(key, WS, NULL, ct, sizeof(ct), nonce, out), -1);
	/* Nothing of the plaintext is left behind by a failed open. */
	assert_true(memmem(out, sizeof(out), "sk-test", 7) == NULL);
	/* The right ids still open it. */
	assert_int_equal(secretbox_open(key, WS, ROUTE, ct, sizeof(ct), nonce, out), 0);
}

static void
test_wrong_key(void **state)
{
	unsigned char key[SECRETBOX_KEY_LEN], other[SECRETBOX_KEY_LEN];
	unsigned char nonce[SECRETBOX_NONCE_LEN];
	unsigned char ct[sizeof(PLAIN) - 1 + SECRETBOX_TAG_LEN];
	unsigned char out[sizeof(PLAIN)];

	(void)state;
	load_key(key);
	memcpy(other, key, sizeof(other));
	other[0] ^= 1;
	assert_int_equal(secretbox_seal(key, WS, ROUTE, (const unsigned char *)PLAIN,
			     sizeof(PLAIN) - 1, ct, nonce),
	    0);
	assert_int_equal(secretbox_open(other, WS, ROUTE, ct, sizeof(ct), nonce, out), -1);
}

static void
test_tampering(void **state)
{
	unsigned char key[SECRETBOX_KEY_LEN], nonce[SECRETBOX_NONCE_LEN];
	unsigned char ct[sizeof(PLAIN) - 1 + SECRETBOX_TAG_LEN];
	unsigned char out[sizeof(PLAIN)];

	(void)state;
	load_key(key);
	assert_int_equal(secretbox_seal(key, WS, ROUTE, (const unsigned char *)PLAIN,
			     sizeof(PLAIN) - 1, ct, nonce),
	    0);
	/* Every single flipped bit of the ciphertext, tag included. */
	for (size_t i = 0; i < sizeof(ct); i++) {
		for (int bit = 0; bit < 8; bit++) {
			ct[i] ^= (unsigned char)(1u << bit);
			assert_int_equal(
			    secretbox_open(key, WS, ROUTE, ct, sizeof(ct), nonce, out), -1);
			ct[i] ^= (unsigned char)(1u << bit);
		}
	}
	/* Every byte of the nonce. */
	for (size_t i = 0; i < sizeof(nonce); i++) {
		nonce[i] ^= 0x80;
		assert_int_equal(secretbox_open(key, WS, ROUTE, ct, sizeof(ct), nonce, out), -1);
		nonce[i] ^= 0x80;
	}
	/* Truncated: one byte short, only the tag, shorter than a tag. */
	assert_int_equal(secretbox_open(key, WS, ROUTE, ct, sizeof(ct) - 1, nonce, out), -1);
	assert_int_equal(secretbox_open(key, WS, ROUTE, ct + sizeof(ct) - SECRETBOX_TAG_LEN,
			     SECRETBOX_TAG_LEN, nonce, out),
	    -1);
	assert_int_equal(secretbox_open(key, WS, ROUTE, ct, SECRETBOX_TAG_LEN - 1, nonce, out), -1);
	assert_int_equal(secretbox_open(key, WS, ROUTE, ct, 0, nonce, out), -1);
	/* Untouched, it still opens. */
	assert_int_equal(secretbox_open(key, WS, ROUTE, ct, sizeof(ct), nonce, out), 0);
	assert_string_equal((const char *)out, PLAIN);
}

static void
test_nonces_differ(void **state)
{
	unsigned char key[SECRETBOX_KEY_LEN];
	unsigned char n1[SECRETBOX_NONCE_LEN], n2[SECRETBOX_NONCE_LEN];
	unsigned char c1[sizeof(PLAIN) - 1 + SECRETBOX_TAG_LEN];
	unsigned char c2[sizeof(PLAIN) - 1 + SECRETBOX_TAG_LEN];
	unsigned char out[sizeof(PLAIN)];

	(void)state;
	load_key(key);
	assert_int_equal(
	    secretbox_seal(key, WS, ROUTE, (const unsigned char *)PLAIN, sizeof(PLAIN) - 1, c1, n1),
	    0);
	assert_int_equal(
	    secretbox_seal(key, WS, ROUTE, (const unsigned char *)PLAIN, sizeof(PLAIN) - 1, c2, n2),
	    0);
	assert_true(memcmp(n1, n2, sizeof(n1)) != 0);
	assert_true(memcmp(c1, c2, sizeof(c1)) != 0);
	/* Each opens only with its own nonce. */
	assert_int_equal(secretbox_open(key, WS, ROUTE, c1, sizeof(c1), n1, out), 0);
	assert_int_equal(secretbox_open(key, WS, ROUTE, c2, sizeof(c2), n2, out), 0);
	assert_int_equal(secretbox_open(key, WS, ROUTE, c1, sizeof(c1), n2, out), -1);
}

static void
test_seal_rejects_missing_ids(void **state)
{
	unsigned char key[SECRETBOX_KEY_LEN], nonce[SECRETBOX_NONCE_LEN];
	unsigned char ct[4 + SECRETBOX_TAG_LEN];
	char longid[400];

	(void)state;
	load_key(key);
	assert_int_equal(
	    secretbox_seal(key, NULL, ROUTE, (const unsigned char *)"abcd", 4, ct, nonce), -1);
	assert_int_equal(
	    secretbox_seal(key, WS, NULL, (const unsigned char *)"abcd", 4, ct, nonce), -1);
	/* Additional data that does not fit is refused, never truncated. */
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(
	    secretbox_seal(key, WS, longid, (const unsigned char *)"abcd", 4, ct, nonce), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_from_hex),
		cmocka_unit_test(test_key_from_hex_rejects),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_sizes),
		cmocka_unit_test(test_wrong_additional_data),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_nonces_differ),
		cmocka_unit_test(test_seal_rejects_missing_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
