/*
 * evlog.c with a fake database (-Wl,--wrap=db_query,--wrap=db_affected):
 * the seqs a batch hands out and the statements it sends, in particular for
 * evlog_begin_new(), which must not read or lock the session it starts on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/db.h"
#include "core/evlog.h"

/* What the fake database saw. */
static int nqueries;
static long long last_int; /* the last DB_P_INT parameter: an event's seq or last_seq */
static char last_sql[512];

int __wrap_db_query(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
    struct db_result **res);
unsigned long long __wrap_db_affected(const struct db *db);

int
__wrap_db_query(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
    struct db_result **res)
{
	(void)db;
	nqueries++;
	snprintf(last_sql, sizeof(last_sql), "%s", sql);
	for (size_t i = 0; i < nparams; i++)
		if (params[i].type == DB_P_INT)
			last_int = params[i].i;
	if (res != NULL)
		*res = NULL;
	return 0;
}

unsigned long long
__wrap_db_affected(const struct db *db)
{
	(void)db;
	return 1;
}

static int
reset(void **state)
{
	(void)state;
	nqueries = 0;
	last_int = -1;
	last_sql[0] = '\0';
	return 0;
}

static void
test_new_session_first_event_needs_no_session_write(void **state)
{
	struct evlog_batch b;
	json_t *data = json_object();
	long long seq = 0;

	(void)state;
	evlog_begin_new(&b, "ws-1", "session-1", 1);
	assert_int_equal(nqueries, 0); /* no SELECT … FOR UPDATE */
	assert_string_equal(b.workspace_id, "ws-1");
	assert_string_equal(b.session_id, "session-1");
	assert_true(b.session_open);
	assert_string_equal(b.active_run_id, "");
	assert_int_equal(evlog_add(NULL, &b, "run-1", "run.created", data, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(last_int, 1);
	assert_non_null(strstr(last_sql, "INSERT IGNORE INTO events"));
	assert_int_equal(evlog_finish(NULL, &b), 0);
	assert_int_equal(nqueries, 1); /* last_seq = 1 was inserted with the session */
	json_decref(data);
}

static void
test_new_session_more_events_than_reserved(void **state)
{
	struct evlog_batch b;
	json_t *data = json_object();

	(void)state;
	evlog_begin_new(&b, "ws-1", "session-1", 1);
	assert_int_equal(evlog_add(NULL, &b, "run-1", "a", data, NULL), 0);
	assert_int_equal(evlog_add(NULL, &b, "run-1", "b", data, NULL), 0);
	assert_int_equal(last_int, 2);
	assert_int_equal(evlog_finish(NULL, &b), 0);
	assert_int_equal(nqueries, 3);
	assert_non_null(strstr(last_sql, "UPDATE sessions SET last_seq"));
	assert_int_equal(last_int, 2);
	assert_int_equal(b.last_seq, 2);
	json_decref(data);
}

static void
test_new_session_fewer_events_than_reserved(void **state)
{
	struct evlog_batch b;

	(void)state;
	evlog_begin_new(&b, "ws-1", "session-1", 1);
	assert_int_equal(evlog_finish(NULL, &b), 0);
	/* nothing was added: the reserved seq is given back */
	assert_int_equal(nqueries, 1);
	assert_int_equal(last_int, 0);
	assert_int_equal(b.last_seq, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_new_session_first_event_needs_no_session_write, reset),
		cmocka_unit_test_setup(test_new_session_more_events_than_reserved, reset),
		cmocka_unit_test_setup(test_new_session_fewer_events_than_reserved, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
