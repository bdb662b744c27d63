#include "db.h"

#include <errno.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"

#define DB_STMT_CACHE_MAX 512
/*
 * Multi-row statements (dbrows.h) bind thousands of values; binds for up to
 * DB_PARAMS_STACK of them live on the stack, more are allocated.
 */
#define DB_PARAMS_STACK 64
#define DB_PARAMS_MAX 8192
#define DB_TXN_ATTEMPTS 5

struct db_stmt {
	const char *sql; /* cache key: the address of a static string */
	MYSQL_STMT *stmt;
};

struct db {
	const struct config *cfg; /* borrowed; outlives the handle */
	MYSQL *conn;
	int in_txn;
	struct db_stmt cache[DB_STMT_CACHE_MAX];
	size_t ncache;
	unsigned long long affected;
	unsigned int last_errno;
	enum db_err last_err;
	char errmsg[512];
	long long idle_txn_timeout_s; /* 0: none */
	long long deadline_ms; /* db_now_ms() time; 0: none */
	long long stmt_time_ms; /* the session's max_statement_time; 0: none */
	int outcome_unknown;
};

struct db_param
dbp_str(const char *s)
{
	if (s == NULL)
		return DBP_NULL();
	return DBP_STRN(s, strlen(s));
}

void
db_global_init(void)
{
	if (mysql_library_init(0, NULL, NULL) != 0)
		fatalx("msg=\"mysql_library_init failed\"");
}

struct db *
db_new(const struct config *cfg)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db != NULL)
		db->cfg = cfg;
	return db;
}

long long
db_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
db_set_deadline(struct db *db, long long at_ms)
{
	db->deadline_ms = at_ms > 0 ? at_ms : 0;
}

long long
db_deadline(const struct db *db)
{
	return db->deadline_ms;
}

int
db_outcome_unknown(const struct db *db)
{
	return db->outcome_unknown;
}

void
db_set_idle_txn_timeout(struct db *db, long long seconds)
{
	db->idle_txn_timeout_s = seconds > 0 ? seconds : 0;
}

static void
db_disconnect(struct db *db)
{
	for (size_t i = 0; i < db->ncache; i++)
		mysql_stmt_close(db->cache[i].stmt);
	db->ncache = 0;
	if (db->conn != NULL)
		mysql_close(db->conn);
	db->conn = NULL;
	db->in_txn = 0;
	db->stmt_time_ms = 0;
}

void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	db_disconnect(db);
	free(db);
}

static int
db_is_conn_error(unsigned int e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
	    e == CR_CONN_HOST_ERROR || e == ER_CONNECTION_KILLED || e == CR_COMMANDS_OUT_OF_SYNC;
}

static void
db_set_error(struct db *db, unsigned int e, const char *msg)
{
	db->last_errno = e;
	(void)log_escape(db->errmsg, sizeof(db->errmsg), msg != NULL ? msg : "");
	if (e == ER_STATEMENT_TIMEOUT)
		db->last_err = DB_ERR_TIMEOUT;
	else if (e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT || db_is_conn_error(e))
		db->last_err = DB_ERR_RETRY;
	else if (e == ER_DUP_ENTRY)
		db->last_err = DB_ERR_DUPLICATE;
	else
		db->last_err = DB_ERR_OTHER;
	if (db_is_conn_error(e)) {
		log_warnx("msg=\"database connection lost\" errno=%u", e);
		db_disconnect(db);
	}
}

/*
 * Past the deadline: fails the call. Else, when the session's
 * max_statement_time is over a second away from the time left, sets it to
 * that (the server then interrupts a statement at the deadline). 0 / -1.
 */
static int
db_deadline_check(struct db *db)
{
	long long left, want;
	char cmd[80];

	if (db->deadline_ms == 0) {
		if (db->stmt_time_ms == 0 || db->conn == NULL)
			return 0;
		want = 0; /* lift a limit left by an earlier deadline */
	} else {
		if ((left = db->deadline_ms - db_now_ms()) <= 0) {
			db->last_errno = ER_STATEMENT_TIMEOUT;
			db->last_err = DB_ERR_TIMEOUT;
			snprintf(db->errmsg, sizeof(db->errmsg), "deadline passed");
			return -1;
		}
		if (db->conn == NULL)
			return 0;
		want = left;
		if (db->stmt_time_ms != 0 && db->stmt_time_ms - want <= 1000 &&
		    want - db->stmt_time_ms <= 1000)
			return 0;
	}
	snprintf(cmd, sizeof(cmd), "SET SESSION max_statement_time = %lld.%03lld", want / 1000,
	    want % 1000);
	if (mysql_real_query(db->conn, cmd, strlen(cmd)) != 0) {
		db_set_error(db, mysql_errno(db->conn), mysql_error(db->conn));
		return -1;
	}
	db->stmt_time_ms = want;
	return 0;
}

int
db_connect(struct db *db)
{
	const struct config *c = db->cfg;
	unsigned int timeout = (unsigned int)c->db_connect_timeout_s;
	unsigned int io_timeout = (unsigned int)c->db_io_timeout_s;

	if (db->conn != NULL)
		return 0;
	if ((db->conn = mysql_init(NULL)) == NULL) {
		db_set_error(db, CR_OUT_OF_MEMORY, "out of memory");
		return -1;
	}
	mysql_optionsv(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	/*
	 * No call waits for ever: a server that stops answering (a wedged
	 * connection, a frozen host) fails the call as a lost connection.
	 */
	mysql_optionsv(db->conn, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
	mysql_optionsv(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
	mysql_optionsv(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* Times are UTC everywhere; claims want READ COMMITTED (no gap locks). */
	mysql_optionsv(db->conn, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
	mysql_optionsv(
	    db->conn, MYSQL_INIT_COMMAND, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
	if (db->idle_txn_timeout_s > 0) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "SET SESSION idle_transaction_timeout = %lld",
		    db->idle_txn_timeout_s);
		mysql_optionsv(db->conn, MYSQL_INIT_COMMAND, cmd); /* copied */
	}
	if (mysql_real_connect(db->conn, c->db_socket[0] ? NULL : c->db_host, c->db_user,
		c->db_password[0] ? c->db_password : NULL, c->db_name, (unsigned int)c->db_port,
		c->db_socket[0] ? c->db_socket : NULL, CLIENT_FOUND_ROWS) == NULL) {
		unsigned int e = mysql_errno(db->conn);
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", mysql_error(db->conn));
		mysql_close(db->conn);
		db->conn = NULL;
		db->last_errno = e;
		db->last_err = DB_ERR_RETRY;
		(void)log_escape(db->errmsg, sizeof(db->errmsg), msg);
		return -1;
	}
	return 0;
}

static MYSQL_STMT *
db_prepare(struct db *db, const char *sql)
{
	MYSQL_STMT *st;
	my_bool upd = 1;

	for (size_t i = 0; i < db->ncache; i++)
		if (db->cache[i].sql == sql)
			return db->cache[i].stmt;
	if ((st = mysql_stmt_init(db->conn)) == NULL) {
		db_set_error(db, mysql_errno(db->conn), mysql_error(db->conn));
		return NULL;
	}
	if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		unsigned int e = mysql_stmt_errno(st);
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", mysql_stmt_error(st));
		mysql_stmt_close(st);
		db_set_error(db, e, msg);
		return NULL;
	}
	mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &upd);
	if (db->ncache < DB_STMT_CACHE_MAX)
		db->cache[db->ncache++] = (struct db_stmt){ sql, st };
	else
		log_warnx("msg=\"statement cache full\" max=%d", DB_STMT_CACHE_MAX);
	return st;
}

/*
 * Closes st and drops it from the cache. For a statement whose execution
 * failed: after an error in the middle of its rows (a SELECT chosen as a
 * deadlock victim while the server sends them), the client library keeps
 * the statement in a state where its next mysql_stmt_execute first tries to
 * read the rest of the old result, which never comes, and waits for ever.
 * A fresh statement is prepared on the next use.
 */
static void
db_stmt_discard(struct db *db, MYSQL_STMT *st)
{
	for (size_t i = 0; i < db->ncache; i++)
		if (db->cache[i].stmt == st) {
			db->cache[i] = db->cache[--db->ncache];
			break;
		}
	mysql_stmt_close(st);
}

static void
db_stmt_release(struct db *db, MYSQL_STMT *st)
{
	/* Uncached statements (cache full) are closed after one use. */
	for (size_t i = 0; i < db->ncache; i++)
		if (db->cache[i].stmt == st) {
			mysql_stmt_free_result(st);
			return;
		}
	mysql_stmt_close(st);
}

/* Fetches every row as byte strings into a new result. */
static int
db_fetch_all(struct db *db, MYSQL_STMT *st, struct db_result **out)
{
	MYSQL_RES *meta = NULL;
	MYSQL_FIELD *fields;
	MYSQL_BIND *bind = NULL;
	unsigned long *lens = NULL;
	my_bool *nulls = NULL;
	struct db_result *r = NULL;
	size_t ncols = 0, cap = 0;
	int rc = -1;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	if ((meta = mysql_stmt_result_metadata(st)) == NULL) {
		*out = r; /* a statement without a result set */
		return 0;
	}
	if (mysql_stmt_store_result(st) != 0) {
		db_set_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		goto fail;
	}
	ncols = mysql_num_fields(meta);
	fields = mysql_fetch_fields(meta);
	r->ncols = ncols;
	bind = calloc(ncols, sizeof(*bind));
	lens = calloc(ncols, sizeof(*lens));
	nulls = calloc(ncols, sizeof(*nulls));
	if (ncols > 0 && (bind == NULL || lens == NULL || nulls == NULL))
		goto fail;
	for (size_t c = 0; c < ncols; c++) {
		bind[c].buffer_type = MYSQL_TYPE_STRING;
		bind[c].buffer_length = fields[c].max_length + 1;
		if ((bind[c].buffer = malloc(bind[c].buffer_length)) == NULL)
			goto fail;
		bind[c].length = &lens[c];
		bind[c].is_null = &nulls[c];
	}
	if (ncols > 0 && mysql_stmt_bind_result(st, bind) != 0) {
		db_set_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		goto fail;
	}
	for (;;) {
		int f = mysql_stmt_fetch(st);

		if (f == MYSQL_NO_DATA)
			break;
		if (f == 1) {
			db_set_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
			goto fail;
		}
		if (r->nrows == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **nc = realloc(r->cell, ncap * ncols * sizeof(*nc));
			unsigned long *nl;

			if (nc == NULL)
				goto fail;
			r->cell = nc;
			nl = realloc(r->len, ncap * ncols * sizeof(*nl));
			if (nl == NULL)
				goto fail;
			r->len = nl;
			cap = ncap;
		}
		for (size_t c = 0; c < ncols; c++) {
			size_t idx = r->nrows * ncols + c;

			r->len[idx] = 0;
			r->cell[idx] = NULL;
			if (nulls[c])
				continue;
			if ((r->cell[idx] = malloc(lens[c] + 1)) == NULL) {
				/* Keep the row consistent for db_result_free. */
				for (size_t k = c + 1; k < ncols; k++)
					r->cell[r->nrows * ncols + k] = NULL;
				r->nrows++;
				goto fail;
			}
			memcpy(r->cell[idx], bind[c].buffer, lens[c]);
			r->cell[idx][lens[c]] = '\0';
			r->len[idx] = lens[c];
		}
		r->nrows++;
	}
	*out = r;
	r = NULL;
	rc = 0;
fail:
	if (rc == -1 && db->last_err == DB_OK) {
		db->last_err = DB_ERR_OTHER;
		snprintf(db->errmsg, sizeof(db->errmsg), "out of memory reading a result");
	}
	for (size_t c = 0; bind != NULL && c < ncols; c++)
		free(bind[c].buffer);
	free(bind);
	free(lens);
	free(nulls);
	if (meta != NULL)
		mysql_free_result(meta);
	db_result_free(r);
	return rc;
}

static int
db_run(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
    struct db_result **res)
{
	MYSQL_BIND bind_stack[DB_PARAMS_STACK], *bind = bind_stack;
	unsigned long lens_stack[DB_PARAMS_STACK], *lens = lens_stack;
	MYSQL_STMT *st;
	int rc = -1;

	db->last_err = DB_OK;
	db->last_errno = 0;
	db->errmsg[0] = '\0';
	if (nparams > DB_PARAMS_MAX) {
		db_set_error(db, 0, "too many parameters");
		return -1;
	}
	if (db_deadline_check(db) == -1 || db_connect(db) == -1 || db_deadline_check(db) == -1)
		return -1;
	if ((st = db_prepare(db, sql)) == NULL)
		return -1;
	if (mysql_stmt_param_count(st) != nparams) {
		db_set_error(db, 0, "parameter count mismatch");
		db_stmt_release(db, st);
		return -1;
	}
	if (nparams > DB_PARAMS_STACK) {
		bind = malloc(nparams * sizeof(*bind));
		lens = malloc(nparams * sizeof(*lens));
		if (bind == NULL || lens == NULL) {
			db_set_error(db, 0, "out of memory");
			goto out;
		}
	}
	memset(bind, 0, sizeof(bind[0]) * (nparams ? nparams : 1));
	for (size_t i = 0; i < nparams; i++) {
		switch (params[i].type) {
		case DB_P_NULL: bind[i].buffer_type = MYSQL_TYPE_NULL; break;
		case DB_P_INT:
			bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
			bind[i].buffer = (void *)&params[i].i;
			break;
		case DB_P_STR:
		case DB_P_BLOB:
			bind[i].buffer_type =
			    params[i].type == DB_P_STR ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
			bind[i].buffer = (void *)params[i].s;
			lens[i] = (unsigned long)params[i].len;
			bind[i].buffer_length = lens[i];
			bind[i].length = &lens[i];
			break;
		}
	}
	if (nparams > 0 && mysql_stmt_bind_param(st, bind) != 0) {
		db_set_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		goto out;
	}
	if (mysql_stmt_execute(st) != 0) {
		unsigned int e = mysql_stmt_errno(st);

		/* Sent, then the connection went: the server may have run it. */
		if (!db->in_txn && db_is_conn_error(e) && e != CR_CONNECTION_ERROR &&
		    e != CR_CONN_HOST_ERROR)
			db->outcome_unknown = 1;
		db_set_error(db, e, mysql_stmt_error(st));
		goto out;
	}
	db->affected = mysql_stmt_affected_rows(st);
	if (res != NULL) {
		if (db_fetch_all(db, st, res) == -1)
			goto out;
	}
	/*
	 * A CALL answers its result set(s), then its own status (or an error
	 * raised after the rows): read them all, the first set into res.
	 */
	while (mysql_stmt_more_results(st)) {
		mysql_stmt_free_result(st);
		if (mysql_stmt_next_result(st) > 0) {
			db_set_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
			goto out;
		}
	}
	rc = 0;
out:
	if (bind != bind_stack) {
		free(bind);
		free(lens);
	}
	/*
	 * The connection may have been dropped (and the cache with it) on
	 * error; a statement that failed is never reused as it is.
	 */
	if (db->conn != NULL) {
		if (rc == 0)
			db_stmt_release(db, st);
		else
			db_stmt_discard(db, st);
	}
	return rc;
}

int
db_query(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
    struct db_result **res)
{
	int in_txn = db->in_txn;

	if (!in_txn)
		db->outcome_unknown = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (res != NULL)
			*res = NULL;
		if (db_run(db, sql, params, nparams, res) == 0)
			return 0;
		/* A CALL may have answered rows before the failure: never hand them out. */
		if (res != NULL) {
			db_result_free(*res);
			*res = NULL;
		}
		/* Outside a transaction a fresh connection may simply re-run it. */
		if (in_txn || db->last_err != DB_ERR_RETRY || db->conn != NULL)
			break;
	}
	return -1;
}

int
db_exec_text(struct db *db, const char *sql)
{
	db->last_err = DB_OK;
	if (db_deadline_check(db) == -1 || db_connect(db) == -1 || db_deadline_check(db) == -1)
		return -1;
	if (mysql_real_query(db->conn, sql, strlen(sql)) != 0) {
		db_set_error(db, mysql_errno(db->conn), mysql_error(db->conn));
		return -1;
	}
	/* Drain any result so the connection stays usable. */
	do {
		MYSQL_RES *r = mysql_store_result(db->conn);
		if (r != NULL)
			mysql_free_result(r);
	} while (mysql_next_result(db->conn) == 0);
	db->affected = mysql_affected_rows(db->conn);
	return 0;
}

unsigned long long
db_affected(const struct db *db)
{
	return db->affected;
}

enum db_err
db_last_err(const struct db *db)
{
	return db->last_err;
}

unsigned int
db_last_errno(const struct db *db)
{
	return db->last_errno;
}

const char *
db_errmsg(const struct db *db)
{
	return db->errmsg;
}

unsigned long
db_server_version(struct db *db)
{
	if (db_connect(db) == -1)
		return 0;
	return mysql_get_server_version(db->conn);
}

static void
db_backoff(int attempt)
{
	/* 10 ms, 20 ms, 40 ms … with full jitter. */
	unsigned int cap_us = 10000u << (attempt < 6 ? attempt : 6);
	unsigned int us = randombytes_uniform(cap_us) + 1000;
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
db_txn(struct db *db, int (*fn)(struct db *, void *), void *arg)
{
	db->outcome_unknown = 0;
	for (int attempt = 0; attempt < DB_TXN_ATTEMPTS; attempt++) {
		int rc;

		if (attempt > 0)
			db_backoff(attempt);
		/* Each attempt may have committed when the previous COMMIT was lost. */
		if (db_exec_text(db, "START TRANSACTION") == -1) {
			if (db->last_err == DB_ERR_RETRY)
				continue;
			return -1;
		}
		db->in_txn = 1;
		rc = fn(db, arg);
		if (rc == 0) {
			db->in_txn = 0;
			if (db_exec_text(db, "COMMIT") == 0) {
				db->outcome_unknown = 0;
				return 0;
			}
			/* A lost COMMIT is ambiguous; callers' writes are idempotent. */
			if (db->conn == NULL)
				db->outcome_unknown = 1;
			if (db->last_err == DB_ERR_RETRY)
				continue;
			return -1;
		}
		{
			enum db_err e = db->last_err;
			unsigned int en = db->last_errno;
			char msg[sizeof(db->errmsg)];

			memcpy(msg, db->errmsg, sizeof(msg));
			db->in_txn = 0;
			if (db->conn != NULL)
				(void)db_exec_text(db, "ROLLBACK");
			db->last_err = e;
			db->last_errno = en;
			memcpy(db->errmsg, msg, sizeof(msg));
		}
		if (rc > 0)
			return rc;
		if (db->last_err != DB_ERR_RETRY)
			return -1;
		log_info(
		    "msg=\"transaction retry\" attempt=%d errno=%u", attempt + 1, db->last_errno);
	}
	return -1;
}

const char *
db_cell(const struct db_result *r, size_t row, size_t col)
{
	if (r == NULL || row >= r->nrows || col >= r->ncols)
		return NULL;
	return r->cell[row * r->ncols + col];
}

long long
db_cell_int(const struct db_result *r, size_t row, size_t col, long long dflt)
{
	const char *s = db_cell(r, row, col);
	char *end;
	long long v;

	if (s == NULL)
		return dflt;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return dflt;
	return v;
}

void
db_result_free(struct db_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrows * r->ncols; i++)
		free(r->cell[i]);
	free(r->cell);
	free(r->len);
	free(r);
}

struct db_result *
db_result_take_row(struct db_result *r, size_t row)
{
	struct db_result *one;
	size_t nc = r->ncols;

	if ((one = calloc(1, sizeof(*one))) == NULL)
		return NULL;
	one->ncols = nc;
	one->cell = calloc(nc > 0 ? nc : 1, sizeof(*one->cell));
	one->len = calloc(nc > 0 ? nc : 1, sizeof(*one->len));
	if (one->cell == NULL || one->len == NULL) {
		db_result_free(one);
		return NULL;
	}
	memcpy(one->cell, r->cell + row * nc, nc * sizeof(*one->cell));
	memcpy(one->len, r->len + row * nc, nc * sizeof(*one->len));
	memset(r->cell + row * nc, 0, nc * sizeof(*r->cell));
	one->nrows = 1;
	return one;
}
