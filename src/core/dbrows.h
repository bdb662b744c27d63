/*
 * Set-based statements: many rows in one round trip.
 *
 * MariaDB spends far more per statement (dispatch, locks, index setup) than
 * per row, so writers that touch many rows at once (the executor's group
 * commit) send one multi-row statement per table instead of one per row.
 *
 * A template is SQL text in four constant parts: head, one row's
 * placeholders, the separator between rows and the tail, e.g.
 *	"INSERT INTO t (a, b) VALUES ", "(?, ?)", ",", ""
 *	"SELECT id FROM t WHERE id IN (", "?", ",", ") FOR UPDATE"
 * Statements are built from those parts only (no input ever reaches SQL
 * text) for power-of-two row counts up to DBROWS_CHUNK_MAX, each its own
 * prepared statement, so a template costs at most eight of them. Rows are
 * sent in chunks of those sizes, also cut at DBROWS_CHUNK_BYTES of values so
 * a statement stays far below max_allowed_packet.
 */
#ifndef AGENTRUN_DBROWS_H
#define AGENTRUN_DBROWS_H

#include <stddef.h>

#include "db.h"

#define DBROWS_CHUNK_MAX 128
#define DBROWS_CHUNK_BYTES (1024 * 1024)
#define DBROWS_SIZES 8 /* 1, 2, 4 … 128 */

struct dbrows_template {
	const char *head; /* may hold nhead placeholders of its own */
	const char *row; /* one row: ncols placeholders */
	const char *sep;
	const char *tail;
	size_t nhead;
	size_t ncols;
	char *sql[DBROWS_SIZES]; /* built on first use, kept for the process; set atomically */
};

#define DBROWS_TEMPLATE(h, r, s, t, nh, nc)     \
	{                                       \
		(h), (r), (s), (t), (nh), (nc), \
		{                               \
			NULL                    \
		}                               \
	}

/* Rows waiting to be sent with one template. */
struct dbrows {
	struct dbrows_template *tpl; /* borrowed */
	struct db_param *p; /* nrows * ncols */
	size_t nrows, cap;
	size_t *bytes; /* bytes of each row's values */
	char **owned; /* strings freed by dbrows_free() */
	size_t nowned, owncap;
	int oom;
};

void dbrows_init(struct dbrows *r, struct dbrows_template *tpl);
void dbrows_free(struct dbrows *r);

/*
 * Appends a row: the ncols values are copied (strings are borrowed and must
 * outlive dbrows_exec(); hand ownership over with dbrows_keep()). 0 or -1
 * (out of memory; the set then refuses to run).
 */
int dbrows_add(struct dbrows *r, const struct db_param *values);

/* Takes ownership of s (freed by dbrows_free(), even on failure); returns s. */
char *dbrows_keep(struct dbrows *r, char *s);

/*
 * Sends every row, in order, in as few statements as the chunk limits
 * allow. head (nhead values) is bound before each chunk's rows. When on_res
 * is set, each chunk's result is passed to it (borrowed) and -1 from it
 * stops. *affected (may be NULL) receives the sum of affected rows.
 * 0 or -1 (db_last_err() tells why).
 */
int dbrows_exec(struct db *db, struct dbrows *r, const struct db_param *head,
    int (*on_res)(const struct db_result *res, void *arg), void *arg, unsigned long long *affected);

/*
 * Like dbrows_exec() for a SELECT: the chunks' rows, in order, in one new
 * result (*out, freed with db_result_free(); empty when there are no rows).
 * 0 or -1.
 */
int dbrows_query(
    struct db *db, struct dbrows *r, const struct db_param *head, struct db_result **out);

/* The SQL text for k rows (k a power of two ≤ DBROWS_CHUNK_MAX), or NULL. */
const char *dbrows_sql(struct dbrows_template *tpl, size_t k);

#endif
