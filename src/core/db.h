/*
 * MariaDB access: one connection per process (or per forked child), opened
 * after fork. Statements are prepared once per connection and cached by the
 * address of their SQL text, so each module keeps its SQL as named static
 * strings in one place. Every value goes through a bound parameter: no SQL
 * is ever built from input.
 *
 * No MYSQL_OPT_RECONNECT: a lost connection is closed here and reopened
 * explicitly by the next call; db_txn() re-runs a whole transaction after a
 * deadlock, a lock wait timeout or a lost connection.
 */
#ifndef AGENTRUN_DB_H
#define AGENTRUN_DB_H

#include <stddef.h>

struct config;
struct db;

enum db_ptype {
	DB_P_NULL,
	DB_P_STR,
	DB_P_INT,
	DB_P_BLOB
};

struct db_param {
	enum db_ptype type;
	const char *s; /* DB_P_STR / DB_P_BLOB; borrowed */
	size_t len;
	long long i;
};

#define DBP_NULL() ((struct db_param){ DB_P_NULL, NULL, 0, 0 })
#define DBP_INT(v) ((struct db_param){ DB_P_INT, NULL, 0, (long long)(v) })
#define DBP_STRN(p, n) ((struct db_param){ DB_P_STR, (p), (n), 0 })
#define DBP_BLOB(p, n) ((struct db_param){ DB_P_BLOB, (const char *)(p), (n), 0 })
/* A NULL string binds SQL NULL. */
struct db_param dbp_str(const char *s);

/* Rows of nullable byte strings; cells are NUL-terminated for convenience. */
struct db_result {
	size_t nrows;
	size_t ncols;
	char **cell; /* nrows * ncols; NULL for SQL NULL */
	unsigned long *len; /* byte lengths */
};

/* What went wrong, for callers that must tell a retry from a failure. */
enum db_err {
	DB_OK = 0,
	DB_ERR_RETRY, /* deadlock, lock wait timeout, lost connection: re-run */
	DB_ERR_DUPLICATE, /* unique key violated (1062) */
	DB_ERR_TIMEOUT, /* the deadline (db_set_deadline) passed: not re-run */
	DB_ERR_OTHER,
};

/* Once per process, before any thread or connection. */
void db_global_init(void);

/* Returns a new handle (connected lazily on first use), or NULL on OOM. */
struct db *db_new(const struct config *cfg);
void db_free(struct db *db);
/*
 * From the next (re)connect on, MariaDB rolls back a transaction of this
 * connection left idle for seconds and closes the connection
 * (idle_transaction_timeout), releasing its row locks. For processes that
 * hold leases: a frozen holder (SIGSTOP, a paused VM) must not keep the rows
 * that others take over once its lease expires locked, because claims skip
 * locked rows. 0 = never (the default).
 */
void db_set_idle_txn_timeout(struct db *db, long long seconds);

/*
 * A deadline for the calls that follow, as db_now_ms() time (0: none). A
 * statement, a connect or a transaction attempt that would start past it
 * fails with DB_ERR_TIMEOUT, and the server interrupts a statement still
 * running at the deadline (max_statement_time, error 1969, also while it
 * waits for a lock), so the calls end within about a second of it. The
 * session's max_statement_time is changed only when it is more than a
 * second away from the time left: a request that starts with its whole
 * budget costs no extra statement. For request handlers: an answer of our
 * own before the proxy's gives up (docs/operations.md).
 */
void db_set_deadline(struct db *db, long long at_ms);
/* The deadline set (0: none). */
long long db_deadline(const struct db *db);
/* Monotonic milliseconds, the clock of db_set_deadline(). */
long long db_now_ms(void);
/*
 * 1 when the last failed call may have been committed all the same: a
 * COMMIT or a statement outside a transaction whose connection was lost
 * after it was sent. Reset by every call.
 */
int db_outcome_unknown(const struct db *db);

/* Connects now if not connected. 0 / -1 with db_errmsg(). */
int db_connect(struct db *db);

/*
 * Runs one prepared statement. res (may be NULL) receives a new result the
 * caller frees with db_result_free(). Outside a transaction a lost
 * connection is reopened and the statement re-run once.
 * Returns 0 or -1; see db_last_err().
 */
int db_query(struct db *db, const char *sql, const struct db_param *params, size_t nparams,
    struct db_result **res);

/* Runs text SQL without parameters (migrations, session settings only). */
int db_exec_text(struct db *db, const char *sql);

unsigned long long db_affected(const struct db *db);
enum db_err db_last_err(const struct db *db);
unsigned int db_last_errno(const struct db *db);
/*
 * The server's message: log it, never send it to a client. It is kept
 * escaped as log_escape() does (server messages quote values they were
 * given: a duplicate key, a string it could not convert), so it goes into a
 * log line as is.
 */
const char *db_errmsg(const struct db *db);
/* "major.minor" of the server as one number, e.g. 101106 for 10.11.6. */
unsigned long db_server_version(struct db *db);

/*
 * Runs fn(db, arg) inside a transaction and commits when it returns 0.
 * fn returning < 0 after a retryable database error re-runs the whole
 * transaction (up to 5 times, jittered back-off); fn returning > 0 rolls
 * back and returns that value (an application-level refusal).
 * Returns 0, fn's positive code, or -1.
 */
int db_txn(struct db *db, int (*fn)(struct db *, void *), void *arg);

const char *db_cell(const struct db_result *r, size_t row, size_t col);
long long db_cell_int(const struct db_result *r, size_t row, size_t col, long long dflt);
void db_result_free(struct db_result *r);
/*
 * Moves row of r into a new one-row result (its cells in r become NULL), so
 * the rows of one multi-row answer can go to different owners. NULL on OOM.
 */
struct db_result *db_result_take_row(struct db_result *r, size_t row);

#endif
