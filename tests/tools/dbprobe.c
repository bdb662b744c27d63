/*
 * dbprobe: drives src/core/db.c against a real MariaDB for the integration
 * suite (test_db_faults.py), where a fault needs the server's own protocol
 * and cannot be faked by wrapping functions.
 *
 *   dbprobe CONFIG midresult   a SELECT fails with a deadlock (1213) while
 *                              its rows are being sent, inside db_txn() and
 *                              alone; the retry and the next call answer
 *   dbprobe CONFIG sleep N     SELECT SLEEP(N): with database.io_timeout_s
 *                              below N the call fails instead of waiting
 *
 * Prints key=value lines on stdout; exits 0 when every step answered as it
 * should, 1 otherwise, 2 on usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/db.h"

#define PROBE_ROWS 5000
#define PROBE_FAIL_AT 3000

/*
 * Raises a deadlock when x reaches @probe_fail_at, once: the variable is
 * cleared first (user variables are not transactional), so the retry reads
 * every row.
 */
static const char SQL_FN[] =
    "CREATE OR REPLACE FUNCTION dbprobe_fail(x INT) RETURNS INT NOT DETERMINISTIC "
    "BEGIN "
    "IF x = @probe_fail_at THEN "
    "SET @probe_fail_at = 0; "
    "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, "
    "MESSAGE_TEXT = 'Deadlock found when trying to get lock (dbprobe)'; "
    "END IF; "
    "RETURN x; "
    "END";
static const char SQL_DROP_FN[] = "DROP FUNCTION IF EXISTS dbprobe_fail";
static const char SQL_ARM[] = "SET @probe_fail_at = 3000";
/* Wide rows so the failing one comes long after the first bytes were sent. */
static const char SQL_ROWS[] =
    "SELECT seq, dbprobe_fail(seq), REPEAT('x', 200) FROM seq_1_to_5000 WHERE seq <= ?";
static const char SQL_SLEEP[] = "SELECT SLEEP(?)";

struct probe_txn {
	int attempts;
	size_t rows;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
probe_read_rows(struct db *db, size_t *rows)
{
	struct db_param p[1] = { DBP_INT(PROBE_ROWS) };
	struct db_result *r = NULL;

	if (db_query(db, SQL_ROWS, p, 1, &r) == -1)
		return -1;
	*rows = r->nrows;
	db_result_free(r);
	return 0;
}

static int
probe_txn_fn(struct db *db, void *arg)
{
	struct probe_txn *t = arg;

	t->attempts++;
	return probe_read_rows(db, &t->rows) == -1 ? -1 : 0;
}

static int
probe_midresult(struct db *db)
{
	struct probe_txn t = { 0, 0 };
	size_t rows = 0;
	int rc, ok = 1;

	if (db_exec_text(db, SQL_FN) == -1) {
		printf("step=create_function ok=0 error=\"%s\"\n", db_errmsg(db));
		return 1;
	}
	/* In a transaction: the first attempt fails mid-result, db_txn re-runs it. */
	if (db_exec_text(db, SQL_ARM) == -1)
		return 1;
	rc = db_txn(db, probe_txn_fn, &t);
	printf("step=txn rc=%d attempts=%d rows=%zu\n", rc, t.attempts, t.rows);
	ok &= rc == 0 && t.attempts == 2 && t.rows == PROBE_ROWS;
	/* Alone: the call fails as retryable, and the next call answers. */
	if (db_exec_text(db, SQL_ARM) == -1)
		return 1;
	rc = probe_read_rows(db, &rows);
	printf("step=query rc=%d retryable=%d errno=%u\n", rc, db_last_err(db) == DB_ERR_RETRY,
	    db_last_errno(db));
	ok &= rc == -1 && db_last_err(db) == DB_ERR_RETRY;
	rows = 0;
	rc = probe_read_rows(db, &rows);
	printf("step=again rc=%d rows=%zu\n", rc, rows);
	ok &= rc == 0 && rows == PROBE_ROWS;
	(void)db_exec_text(db, SQL_DROP_FN);
	return ok ? 0 : 1;
}

static int
probe_sleep(struct db *db, long long seconds)
{
	struct db_param p[1] = { DBP_INT(seconds) };
	struct db_result *r = NULL;
	double t0 = now_s();
	int rc;

	rc = db_query(db, SQL_SLEEP, p, 1, &r);
	printf("step=sleep rc=%d retryable=%d errno=%u elapsed_ms=%.0f\n", rc,
	    db_last_err(db) == DB_ERR_RETRY, db_last_errno(db), (now_s() - t0) * 1000);
	db_result_free(r);
	return 0;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct db *db;
	char err[256];
	int rc = 2;

	if (argc < 3)
		goto usage;
	if (config_load(&cfg, argv[1], err, sizeof(err)) == -1) {
		fprintf(stderr, "dbprobe: %s\n", err);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	db_global_init();
	if ((db = db_new(&cfg)) == NULL)
		return 1;
	if (strcmp(argv[2], "midresult") == 0 && argc == 3)
		rc = probe_midresult(db);
	else if (strcmp(argv[2], "sleep") == 0 && argc == 4) {
		char *end;
		long long n = strtoll(argv[3], &end, 10);

		rc = (*end != '\0' || n < 0 || n > 600) ? 2 : probe_sleep(db, n);
	}
	db_free(db);
	if (rc != 2)
		return rc;
usage:
	fprintf(stderr, "usage: dbprobe CONFIG midresult | sleep SECONDS\n");
	return 2;
}
