/*
 * authcache.c and its use by auth_resolve(): TTL, generations (also across
 * fork), eviction inside a set, and that only successful resolutions are
 * cached. db_query is replaced with -Wl,--wrap=db_query by a fake that
 * counts lookups and answers from one configured row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/apikey.h"
#include "core/auth.h"
#include "core/authcache.h"
#include "core/db.h"

#define KEY_A "ar_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_x"
#define KEY_B "ar_bbcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_x"

/* --- the fake database --------------------------------------------------- */

static int fake_queries; /* lookups (SELECT) seen */
static int fake_touches; /* last_used_at updates seen */
static int fake_fail; /* next lookup fails */
static char fake_known[APIKEY_SECRET_MAX]; /* the one key the fake knows */
static const char *fake_touch_due = "0";

static char *
fake_dup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int __wrap_db_query(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
    struct db_result **res);

int
__wrap_db_query(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
    struct db_result **res)
{
	unsigned char known[APIKEY_HASH_LEN];
	const char *cells[8] = { "01a20848-db21-74de-bfc1-fbfb14793d01",
		"01a20848-db21-74de-bfc1-fbfb14793d02", "01a20848-db21-74de-bfc1-fbfb14793d03",
		"admin", NULL, "Ada", "ada@example.com", fake_touch_due };
	struct db_result *r;

	(void)db;
	if (strncmp(sql, "UPDATE", 6) == 0) {
		fake_touches++;
		return 0;
	}
	assert_int_equal(nparams, 1);
	assert_int_equal(params[0].len, APIKEY_HASH_LEN);
	fake_queries++;
	if (fake_fail) {
		fake_fail = 0;
		return -1;
	}
	r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->ncols = 8;
	r->cell = calloc(8, sizeof(char *));
	r->len = calloc(8, sizeof(unsigned long));
	assert_true(r->cell != NULL && r->len != NULL);
	apikey_hash(fake_known, known);
	if (fake_known[0] != '\0' && memcmp(params[0].s, known, APIKEY_HASH_LEN) == 0) {
		r->nrows = 1;
		for (size_t c = 0; c < 8; c++) {
			const char *v = c == 4 ? (const char *)known : cells[c];
			size_t n = c == 4 ? APIKEY_HASH_LEN : strlen(v);

			r->cell[c] = fake_dup(v, n);
			r->len[c] = n;
		}
	}
	*res = r;
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	fake_queries = fake_touches = fake_fail = 0;
	fake_touch_due = "0";
	snprintf(fake_known, sizeof(fake_known), "%s", KEY_A);
	authcache_configure(1000);
	authcache_configure_unknown(0);
	return 0;
}

static void
fill_auth(struct auth *a, const char *ws)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->key_id, sizeof(a->key_id), "%s", "k");
	snprintf(a->workspace_id, sizeof(a->workspace_id), "%s", ws);
	snprintf(a->user_id, sizeof(a->user_id), "%s", "u");
	snprintf(a->user_name, sizeof(a->user_name), "%s", "Ada Lovelace");
	snprintf(a->user_email, sizeof(a->user_email), "%s", "ada@example.com");
	a->role = AUTH_ROLE_ADMIN;
}

/* A hash in set (b0, b1) that differs from others by its last byte. */
static void
hash_in_set(unsigned char h[APIKEY_HASH_LEN], unsigned char b0, unsigned char b1, unsigned char id)
{
	memset(h, 0x5a, APIKEY_HASH_LEN);
	h[0] = b0;
	h[1] = b1;
	h[APIKEY_HASH_LEN - 1] = id;
}

/* --- the cache alone ----------------------------------------------------- */

static void
test_off_stores_nothing(void **state)
{
	unsigned char h[APIKEY_HASH_LEN];
	struct auth a, got;

	(void)state;
	authcache_configure(0);
	assert_int_equal(authcache_ttl_ms(), 0);
	hash_in_set(h, 1, 2, 3);
	fill_auth(&a, "ws");
	authcache_put(h, &a, authcache_generation(), 1000);
	assert_int_equal(authcache_get(h, 1001, &got), 0);
}

static void
test_ttl(void **state)
{
	unsigned char h[APIKEY_HASH_LEN], other[APIKEY_HASH_LEN];
	struct auth a, got;

	(void)state;
	hash_in_set(h, 1, 2, 3);
	hash_in_set(other, 1, 2, 4);
	fill_auth(&a, "ws-ttl");
	authcache_put(h, &a, authcache_generation(), 5000);
	memset(&got, 0, sizeof(got));
	assert_int_equal(authcache_get(h, 5000, &got), 1);
	assert_memory_equal(&got, &a, sizeof(a));
	assert_int_equal(authcache_get(h, 5999, &got), 1);
	assert_int_equal(authcache_get(other, 5500, &got), 0);
	/* Expired at exactly put time + TTL. */
	assert_int_equal(authcache_get(h, 6000, &got), 0);
	/* Re-configuring empties the cache. */
	authcache_put(h, &a, authcache_generation(), 7000);
	authcache_configure(1000);
	assert_int_equal(authcache_get(h, 7001, &got), 0);
}

static void
test_generation(void **state)
{
	unsigned char h[APIKEY_HASH_LEN];
	struct auth a, got;
	unsigned long before;

	(void)state;
	hash_in_set(h, 9, 9, 9);
	fill_auth(&a, "ws-gen");
	authcache_put(h, &a, authcache_generation(), 1000);
	assert_int_equal(authcache_get(h, 1001, &got), 1);
	authcache_invalidate();
	assert_int_equal(authcache_get(h, 1002, &got), 0);
	/* A lookup that began before a revocation is not stored as live. */
	before = authcache_generation();
	authcache_invalidate();
	authcache_put(h, &a, before, 1003);
	assert_int_equal(authcache_get(h, 1004, &got), 0);
	authcache_put(h, &a, authcache_generation(), 1005);
	assert_int_equal(authcache_get(h, 1006, &got), 1);
}

static void
test_set_eviction(void **state)
{
	unsigned char h[AUTHCACHE_WAYS + 1][APIKEY_HASH_LEN];
	struct auth a, got;
	unsigned long gen = authcache_generation();

	(void)state;
	fill_auth(&a, "ws-evict");
	/* WAYS + 1 keys in one set, the first put earliest: it goes. */
	for (int i = 0; i <= AUTHCACHE_WAYS; i++) {
		hash_in_set(h[i], 7, 0, (unsigned char)i);
		authcache_put(h[i], &a, gen, 1000 + i);
	}
	assert_int_equal(authcache_get(h[0], 1100, &got), 0);
	for (int i = 1; i <= AUTHCACHE_WAYS; i++)
		assert_int_equal(authcache_get(h[i], 1100, &got), 1);
	/* Refreshing a present key reuses its slot: nothing else is evicted. */
	authcache_put(h[1], &a, gen, 1200);
	for (int i = 1; i <= AUTHCACHE_WAYS; i++)
		assert_int_equal(authcache_get(h[i], 1201, &got), 1);
	/* A dead slot is taken before a live one. */
	authcache_put(h[0], &a, gen, 2003); /* h[2], h[3] died at 2002, 2003 */
	assert_int_equal(authcache_get(h[0], 2003, &got), 1);
	assert_int_equal(authcache_get(h[1], 2003, &got), 1); /* lives until 2200 */
}

static void
test_shared_across_fork(void **state)
{
	unsigned char h[APIKEY_HASH_LEN];
	struct auth a, got;
	unsigned long gen;
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(authcache_shared_init(), 0);
	assert_int_equal(authcache_shared_init(), 0); /* idempotent */
	assert_true(authcache_is_shared());
	hash_in_set(h, 3, 3, 3);
	fill_auth(&a, "ws-fork");
	gen = authcache_generation();
	authcache_put(h, &a, gen, 1000);
	assert_int_equal(authcache_get(h, 1001, &got), 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Another worker revokes: no system call reaches the parent, memory does. */
		authcache_invalidate();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(authcache_generation(), gen + 1);
	assert_int_equal(authcache_get(h, 1002, &got), 0);
}

/* --- auth_resolve() with the cache --------------------------------------- */

static void
test_resolve_hits_cache(void **state)
{
	struct auth a, b;

	(void)state;
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_A, &a), AUTH_OK);
	assert_int_equal(fake_queries, 1);
	assert_string_equal(a.workspace_id, "01a20848-db21-74de-bfc1-fbfb14793d02");
	assert_int_equal(a.role, AUTH_ROLE_ADMIN);
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_A, &b), AUTH_OK);
	assert_int_equal(fake_queries, 1);
	assert_memory_equal(&a, &b, sizeof(a));
	/* A revocation in this process (or any sharing the counter): asked again. */
	authcache_invalidate();
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_A, &b), AUTH_OK);
	assert_int_equal(fake_queries, 2);
	/* Cache off: every request asks. */
	authcache_configure(0);
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_A, &b), AUTH_OK);
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_A, &b), AUTH_OK);
	assert_int_equal(fake_queries, 4);
}

static void
test_resolve_never_caches_failures(void **state)
{
	struct auth a;

	(void)state;
	/* With the negative cache off, every unknown attempt costs its lookup. */
	authcache_configure_unknown(0);
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_B, &a), AUTH_UNKNOWN);
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_B, &a), AUTH_UNKNOWN);
	assert_int_equal(fake_queries, 2);
	/* The key is created: it works on the very next request. */
	snprintf(fake_known, sizeof(fake_known), "%s", KEY_B);
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_B, &a), AUTH_OK);
	assert_int_equal(fake_queries, 3);
	/* A database error is not remembered either. */
	fake_fail = 1;
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_A, &a), AUTH_DB_ERROR);
	snprintf(fake_known, sizeof(fake_known), "%s", KEY_A);
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_A, &a), AUTH_OK);
	assert_int_equal(fake_queries, 5);
	/* Malformed or missing: rejected without a lookup. */
	assert_int_equal(auth_resolve(NULL, "Bearer ar_short", &a), AUTH_MALFORMED);
	assert_int_equal(auth_resolve(NULL, NULL, &a), AUTH_MISSING);
	assert_int_equal(fake_queries, 5);
}

/*
 * Issue 14 item 7: an unknown key is remembered for a short while, so a
 * client repeating a random token costs one lookup per TTL, not one per
 * request; a database error is never remembered as "unknown".
 */
static void
test_resolve_remembers_unknown_keys(void **state)
{
	unsigned char h[AUTHCACHE_UNKNOWN_SLOTS + AUTHCACHE_WAYS][APIKEY_HASH_LEN];
	struct auth a;
	long long now;

	(void)state;
	authcache_configure_unknown(60000);
	assert_int_equal(authcache_unknown_ttl_ms(), 60000);
	for (int i = 0; i < 50; i++)
		assert_int_equal(auth_resolve(NULL, "Bearer " KEY_B, &a), AUTH_UNKNOWN);
	assert_int_equal(fake_queries, 1);
	/* Known keys are not affected. */
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_A, &a), AUTH_OK);
	assert_int_equal(fake_queries, 2);
	/* A failed lookup is not an answer. */
	authcache_configure(0);
	authcache_configure_unknown(60000);
	fake_fail = 1;
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_B, &a), AUTH_DB_ERROR);
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_B, &a), AUTH_UNKNOWN);
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_B, &a), AUTH_UNKNOWN);
	assert_int_equal(fake_queries, 4);

	/* The table itself: TTL, and a bounded size (a flood only evicts unknowns). */
	now = 1000;
	hash_in_set(h[0], 1, 1, 1);
	assert_int_equal(authcache_unknown(h[0], now), 0);
	authcache_put_unknown(h[0], now);
	assert_int_equal(authcache_unknown(h[0], now + 59999), 1);
	assert_int_equal(authcache_unknown(h[0], now + 60000), 0);
	for (size_t i = 0; i < AUTHCACHE_UNKNOWN_SLOTS + AUTHCACHE_WAYS; i++) {
		hash_in_set(h[i], (unsigned char)i, (unsigned char)(i >> 8), 2);
		authcache_put_unknown(h[i], now + (long long)i);
	}
	assert_int_equal(authcache_unknown(h[0], now + 2000), 0); /* evicted: oldest of its set */
	assert_int_equal(authcache_unknown(h[AUTHCACHE_UNKNOWN_SLOTS], now + 2000), 1);
	/* Off: nothing is remembered. */
	authcache_configure_unknown(0);
	authcache_put_unknown(h[1], now);
	assert_int_equal(authcache_unknown(h[1], now), 0);
}

static void
test_resolve_touch_only_on_lookup(void **state)
{
	struct auth a;

	(void)state;
	fake_touch_due = "1";
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_A, &a), AUTH_OK);
	assert_int_equal(auth_resolve(NULL, "Bearer " KEY_A, &a), AUTH_OK);
	assert_int_equal(fake_touches, 1);
}

/*
 * Issue 14 item 7: distinct random keys each miss the negative cache; one
 * client address may cause api.unknown_keys_per_address lookups finding
 * nothing per second, then gets AUTH_THROTTLED without a lookup until the
 * second ends. Other addresses, and keys already cached, are not held back.
 */
static void
test_unknown_keys_per_address(void **state)
{
	char key[APIKEY_SECRET_MAX], header[96];
	struct auth a;
	long long sec;
	int i;

	(void)state;
	authcache_configure_addr_limit(3);
	/* Wait for the start of a second: the window must not turn mid-test. */
	while (authcache_now_ms() % 1000 > 500)
		;
	sec = authcache_now_ms() / 1000;
	assert_int_equal(auth_resolve_from(NULL, "Bearer " KEY_A, "10.0.0.1", &a), AUTH_OK);
	for (i = 0; i < 3; i++) {
		apikey_generate(key);
		snprintf(header, sizeof(header), "Bearer %s", key);
		assert_int_equal(auth_resolve_from(NULL, header, "10.0.0.1", &a), AUTH_UNKNOWN);
	}
	assert_int_equal(fake_queries, 4);
	apikey_generate(key);
	snprintf(header, sizeof(header), "Bearer %s", key);
	assert_int_equal(auth_resolve_from(NULL, header, "10.0.0.1", &a), AUTH_THROTTLED);
	assert_int_equal(fake_queries, 4);
	/* A key in the cache still works; another address is not held back. */
	assert_int_equal(auth_resolve_from(NULL, "Bearer " KEY_A, "10.0.0.1", &a), AUTH_OK);
	assert_int_equal(auth_resolve_from(NULL, header, "10.0.0.2", &a), AUTH_UNKNOWN);
	assert_int_equal(fake_queries, 5);
	assert_string_equal(auth_result_message(AUTH_THROTTLED),
	    "too many unknown API keys from this client address, try again in a second");
	/* The next second starts afresh. */
	assert_int_equal(authcache_addr_throttled("10.0.0.1", sec * 1000 + 999), 1);
	assert_int_equal(authcache_addr_throttled("10.0.0.1", (sec + 1) * 1000), 0);
	/* Off: never throttled. */
	authcache_configure_addr_limit(0);
	assert_int_equal(authcache_addr_throttled("10.0.0.1", sec * 1000 + 999), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_off_stores_nothing, setup),
		cmocka_unit_test_setup(test_ttl, setup),
		cmocka_unit_test_setup(test_generation, setup),
		cmocka_unit_test_setup(test_set_eviction, setup),
		cmocka_unit_test_setup(test_shared_across_fork, setup),
		cmocka_unit_test_setup(test_resolve_hits_cache, setup),
		cmocka_unit_test_setup(test_resolve_never_caches_failures, setup),
		cmocka_unit_test_setup(test_resolve_touch_only_on_lookup, setup),
		cmocka_unit_test_setup(test_resolve_remembers_unknown_keys, setup),
		cmocka_unit_test_setup(test_unknown_keys_per_address, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
