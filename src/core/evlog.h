/*
 * The session event log. seq is allocated from sessions.last_seq under the
 * session row's lock in the same transaction as the inserts, so seq order is
 * commit order: a reader that saw seq N never later finds a new event below
 * N. Lock order everywhere: the session row first, then run rows.
 *
 * Usage, inside db_txn():
 *	evlog_begin(db, ws, session, &b)   -- SELECT … FOR UPDATE
 *	evlog_add(db, &b, run, "run.created", data, NULL)
 *	evlog_finish(db, &b)               -- UPDATE sessions SET last_seq
 */
#ifndef AGENTRUN_EVLOG_H
#define AGENTRUN_EVLOG_H

#include <jansson.h>

#include "ids.h"

struct db;

struct evlog_batch {
	char workspace_id[ID_BUFSZ];
	char session_id[ID_BUFSZ];
	long long last_seq; /* the session's last_seq when locked */
	long long next_seq; /* the seq the next evlog_add() takes */
	int session_open; /* status = 'open' */
	char active_run_id[ID_BUFSZ]; /* "" when none */
};

/*
 * Locks the session row and reads its counters. Returns 1 when the session
 * exists in the workspace, 0 when not, -1 on a database error.
 */
int evlog_begin(
    struct db *db, const char *workspace_id, const char *session_id, struct evlog_batch *b);

/*
 * Starts a batch, without a round trip, on a session the caller inserted
 * itself in this transaction with last_seq = reserved (its row lock is the
 * insert's): the next evlog_add() calls take seqs 1..reserved, and
 * evlog_finish() writes last_seq only when a different number was added.
 * The session is open and has no active run as far as the batch knows.
 */
void evlog_begin_new(
    struct evlog_batch *b, const char *workspace_id, const char *session_id, long long reserved);

/*
 * Appends one event. data is borrowed. *seq_out (may be NULL) receives its
 * seq, or 0 when the row was not inserted. Each write is made once by its
 * caller's transaction (the session lock): events carry no dedup key
 * (0009_events_dedup_index.sql). Returns 0 or -1.
 */
int evlog_add(struct db *db, struct evlog_batch *b, const char *run_id, const char *type,
    const json_t *data, long long *seq_out);

/*
 * Appends one event (type, data borrowed) to each of the session's queued
 * runs, in run id order, with one statement whatever their number. The
 * caller has locked those runs and counted them: expected. 0, or -1 (also
 * when another number of rows was inserted).
 */
int evlog_add_queued(
    struct db *db, struct evlog_batch *b, const char *type, const json_t *data, long long expected);

/* Stores the new last_seq (when anything was added). 0 or -1. */
int evlog_finish(struct db *db, struct evlog_batch *b);

#endif
