/*
 * dbrows: the SQL text it builds, how it cuts rows into chunks, the values
 * each chunk binds, and merged results. db_query is replaced (--wrap) by a
 * recorder that answers each SELECT chunk with its bound ids as rows.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/core/dbrows.h"

#define MAX_CALLS 64

static struct {
	const char *sql;
	size_t nparams;
	long long first_int;
	char first_str[64];
	char last_str[64];
} calls[MAX_CALLS];
static size_t ncalls;
static int fail_at = -1;

int __wrap_db_query(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
    struct db_result **res);
unsigned long long __wrap_db_affected(const struct db *db);

static void
copy_param(char *dst, size_t n, const struct db_param *p)
{
	if (p->type == DB_P_STR)
		snprintf(dst, n, "%.*s", (int)p->len, p->s);
	else
		snprintf(dst, n, "%lld", p->i);
}

int
__wrap_db_query(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
    struct db_result **res)
{
	(void)db;
	assert_true(ncalls < MAX_CALLS);
	if ((int)ncalls == fail_at)
		return -1;
	calls[ncalls].sql = sql;
	calls[ncalls].nparams = nparams;
	calls[ncalls].first_int = params[0].i;
	copy_param(calls[ncalls].first_str, sizeof(calls[0].first_str), &params[0]);
	copy_param(calls[ncalls].last_str, sizeof(calls[0].last_str), &params[nparams - 1]);
	ncalls++;
	if (res != NULL) {
		/* One row per bound string value: the "ids" of an IN list. */
		struct db_result *r = calloc(1, sizeof(*r));

		assert_non_null(r);
		r->ncols = 1;
		r->cell = calloc(nparams, sizeof(char *));
		r->len = calloc(nparams, sizeof(unsigned long));
		for (size_t i = 0; i < nparams; i++) {
			if (params[i].type != DB_P_STR)
				continue;
			r->cell[r->nrows] = strndup(params[i].s, params[i].len);
			r->len[r->nrows] = params[i].len;
			r->nrows++;
		}
		*res = r;
	}
	return 0;
}

unsigned long long
__wrap_db_affected(const struct db *db)
{
	(void)db;
	return 3;
}

static int
reset(void **state)
{
	(void)state;
	memset(calls, 0, sizeof(calls));
	ncalls = 0;
	fail_at = -1;
	return 0;
}

static void
test_sql_text(void **state)
{
	struct dbrows_template t = DBROWS_TEMPLATE("INSERT INTO t (a, b) VALUES ", "(?, ?)", ", ",
	    " ON DUPLICATE KEY UPDATE b = VALUES(b)", 0, 2);
	const char *one, *four;

	(void)state;
	one = dbrows_sql(&t, 1);
	four = dbrows_sql(&t, 4);
	assert_string_equal(one,
	    "INSERT INTO t (a, b) VALUES (?, ?)"
	    " ON DUPLICATE KEY UPDATE b = VALUES(b)");
	assert_string_equal(four,
	    "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?), (?, ?)"
	    " ON DUPLICATE KEY UPDATE b = VALUES(b)");
	/* Built once: the same address, which the statement cache keys on. */
	assert_ptr_equal(dbrows_sql(&t, 4), four);
	assert_null(dbrows_sql(&t, 3));
	assert_null(dbrows_sql(&t, 0));
	assert_null(dbrows_sql(&t, DBROWS_CHUNK_MAX * 2));
	assert_non_null(dbrows_sql(&t, DBROWS_CHUNK_MAX));
	for (size_t i = 0; i < DBROWS_SIZES; i++)
		free(t.sql[i]);
}

static void
test_chunks_are_powers_of_two_in_order(void **state)
{
	static struct dbrows_template t =
	    DBROWS_TEMPLATE("UPDATE t SET x = ? WHERE id IN (", "?", ", ", ")", 1, 1);
	struct dbrows rows;
	struct db_param head = DBP_INT(42);
	char ids[300][16];
	unsigned long long affected;

	(void)state;
	dbrows_init(&rows, &t);
	for (int i = 0; i < 300; i++) {
		struct db_param p;

		snprintf(ids[i], sizeof(ids[i]), "id%03d", i);
		p = dbp_str(ids[i]);
		assert_int_equal(dbrows_add(&rows, &p), 0);
	}
	assert_int_equal(dbrows_exec(NULL, &rows, &head, NULL, NULL, &affected), 0);
	/* 300 = 128 + 128 + 32 + 8 + 4, sent in order, the head bound first each time. */
	assert_int_equal(ncalls, 5);
	assert_int_equal(calls[0].nparams, 129);
	assert_int_equal(calls[1].nparams, 129);
	assert_int_equal(calls[2].nparams, 33);
	assert_int_equal(calls[3].nparams, 9);
	assert_int_equal(calls[4].nparams, 5);
	for (size_t i = 0; i < ncalls; i++)
		assert_int_equal(calls[i].first_int, 42);
	assert_string_equal(calls[0].last_str, "id127");
	assert_string_equal(calls[2].last_str, "id287");
	assert_string_equal(calls[4].last_str, "id299");
	assert_int_equal(affected, 15);
	dbrows_free(&rows);
	for (size_t i = 0; i < DBROWS_SIZES; i++) {
		free(t.sql[i]);
		t.sql[i] = NULL;
	}
}

static void
test_chunks_cut_at_byte_cap(void **state)
{
	static struct dbrows_template t =
	    DBROWS_TEMPLATE("INSERT INTO t (doc) VALUES ", "(?)", ", ", "", 0, 1);
	size_t big = DBROWS_CHUNK_BYTES / 3 + 1;
	char *doc = malloc(big + 1);
	struct dbrows rows;

	(void)state;
	assert_non_null(doc);
	memset(doc, 'x', big);
	doc[big] = '\0';
	dbrows_init(&rows, &t);
	for (int i = 0; i < 4; i++) {
		struct db_param p = dbp_str(doc);

		assert_int_equal(dbrows_add(&rows, &p), 0);
	}
	/* Four rows of a third of the cap each: 2 + 2, never 4 in one. */
	assert_int_equal(dbrows_exec(NULL, &rows, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(ncalls, 2);
	assert_int_equal(calls[0].nparams, 2);
	assert_int_equal(calls[1].nparams, 2);
	dbrows_free(&rows);
	free(doc);
	for (size_t i = 0; i < DBROWS_SIZES; i++) {
		free(t.sql[i]);
		t.sql[i] = NULL;
	}
}

static void
test_query_merges_chunks_and_keep_frees(void **state)
{
	static struct dbrows_template t =
	    DBROWS_TEMPLATE("SELECT id FROM t WHERE id IN (", "?", ", ", ")", 0, 1);
	struct dbrows rows;
	struct db_result *res;

	(void)state;
	dbrows_init(&rows, &t);
	for (int i = 0; i < 131; i++) {
		char buf[16];
		struct db_param p;

		snprintf(buf, sizeof(buf), "r%d", i);
		p = dbp_str(dbrows_keep(&rows, strdup(buf)));
		assert_int_equal(dbrows_add(&rows, &p), 0);
	}
	assert_int_equal(dbrows_query(NULL, &rows, NULL, &res), 0);
	assert_int_equal(ncalls, 3); /* 128 + 2 + 1 */
	assert_int_equal(res->nrows, 131);
	assert_string_equal(db_cell(res, 0, 0), "r0");
	assert_string_equal(db_cell(res, 128, 0), "r128");
	assert_string_equal(db_cell(res, 130, 0), "r130");
	db_result_free(res);
	dbrows_free(&rows);
	for (size_t i = 0; i < DBROWS_SIZES; i++) {
		free(t.sql[i]);
		t.sql[i] = NULL;
	}
}

static void
test_empty_and_failure(void **state)
{
	static struct dbrows_template t =
	    DBROWS_TEMPLATE("SELECT id FROM t WHERE id IN (", "?", ", ", ")", 0, 1);
	struct dbrows rows;
	struct db_result *res = NULL;
	struct db_param p = dbp_str("a");

	(void)state;
	dbrows_init(&rows, &t);
	/* Nothing to send: no statement, an empty result. */
	assert_int_equal(dbrows_exec(NULL, &rows, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(dbrows_query(NULL, &rows, NULL, &res), 0);
	assert_int_equal(ncalls, 0);
	assert_non_null(res);
	assert_int_equal(res->nrows, 0);
	db_result_free(res);
	/* A failing chunk fails the whole set, and no result leaks. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(dbrows_add(&rows, &p), 0);
	fail_at = 1;
	assert_int_equal(dbrows_query(NULL, &rows, NULL, &res), -1);
	assert_null(res);
	dbrows_free(&rows);
	for (size_t i = 0; i < DBROWS_SIZES; i++) {
		free(t.sql[i]);
		t.sql[i] = NULL;
	}
}

/* Threads building the same template's texts at once (the executor's writer lanes). */
#define RACERS 4

struct racer {
	struct dbrows_template *t;
	pthread_barrier_t *go;
	const char *got[DBROWS_SIZES];
};

static void *
race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	for (size_t i = 0; i < DBROWS_SIZES; i++)
		r->got[i] = dbrows_sql(r->t, (size_t)1 << i);
	return NULL;
}

static void
test_threads_share_one_text(void **state)
{
	(void)state;
	for (int round = 0; round < 200; round++) {
		struct dbrows_template t =
		    DBROWS_TEMPLATE("INSERT INTO x (a) VALUES ", "(?)", ", ", "", 0, 1);
		struct racer rs[RACERS];
		pthread_t th[RACERS];
		pthread_barrier_t go;

		pthread_barrier_init(&go, NULL, RACERS);
		for (int k = 0; k < RACERS; k++) {
			rs[k] = (struct racer){ &t, &go, { NULL } };
			assert_int_equal(pthread_create(&th[k], NULL, race, &rs[k]), 0);
		}
		for (int k = 0; k < RACERS; k++)
			pthread_join(th[k], NULL);
		pthread_barrier_destroy(&go);
		/*
		 * Every thread got the one published text (a connection caches
		 * its statement by address), and the losers' copies were freed
		 * (LeakSanitizer checks that under ./scripts/test).
		 */
		for (size_t i = 0; i < DBROWS_SIZES; i++) {
			assert_non_null(t.sql[i]);
			for (int k = 0; k < RACERS; k++)
				assert_ptr_equal(rs[k].got[i], t.sql[i]);
			free(t.sql[i]);
		}
	}
}

/* db_result_take_row(): one row of a multi-row answer moves to its own result. */
static void
test_take_row_moves_one_row(void **state)
{
	struct db_result *r = calloc(1, sizeof(*r)), *one;
	const char *text[3][2] = { { "a", "1" }, { "b", NULL }, { "c", "3" } };

	(void)state;
	r->nrows = 3;
	r->ncols = 2;
	r->cell = calloc(6, sizeof(*r->cell));
	r->len = calloc(6, sizeof(*r->len));
	for (size_t i = 0; i < 3; i++)
		for (size_t c = 0; c < 2; c++)
			if (text[i][c] != NULL) {
				r->cell[i * 2 + c] = strdup(text[i][c]);
				r->len[i * 2 + c] = strlen(text[i][c]);
			}
	one = db_result_take_row(r, 1);
	assert_non_null(one);
	assert_int_equal(one->nrows, 1);
	assert_int_equal(one->ncols, 2);
	assert_string_equal(db_cell(one, 0, 0), "b");
	assert_null(db_cell(one, 0, 1));
	assert_int_equal(one->len[0], 1);
	/* the source keeps its other rows; the moved cells are gone from it */
	assert_null(r->cell[2]);
	assert_string_equal(db_cell(r, 0, 0), "a");
	assert_string_equal(db_cell(r, 2, 1), "3");
	db_result_free(one);
	db_result_free(r); /* ASan: no double free, no leak */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_sql_text, reset),
		cmocka_unit_test_setup(test_chunks_are_powers_of_two_in_order, reset),
		cmocka_unit_test_setup(test_chunks_cut_at_byte_cap, reset),
		cmocka_unit_test_setup(test_query_merges_chunks_and_keep_frees, reset),
		cmocka_unit_test_setup(test_empty_and_failure, reset),
		cmocka_unit_test(test_threads_share_one_text),
		cmocka_unit_test(test_take_row_moves_one_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
