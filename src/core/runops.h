/*
 * State changes of runs that the API worker and the executor share. Every
 * function runs inside a db_txn() whose session row is already locked by
 * evlog_begin() (lock order: session, then run), and appends its events to
 * that batch, so each transition is one transaction with its event.
 */
#ifndef AGENTRUN_RUNOPS_H
#define AGENTRUN_RUNOPS_H

#include <jansson.h>

#include "ids.h"

struct db;
struct evlog_batch;

struct run_state {
	char id[ID_BUFSZ];
	char session_id[ID_BUFSZ];
	char status[24];
	int cancel_requested;
	int queued;
	long long prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens;
	long long cost_nusd;
};

enum runops_result {
	RUNOPS_DONE = 0, /* the transition happened */
	RUNOPS_NOOP, /* already in the asked-for state: nothing written */
	RUNOPS_CONFLICT, /* the run's state does not allow it */
	RUNOPS_ERROR = -1, /* database error */
};

/* Locks the run row (FOR UPDATE). 1 found, 0 not in the workspace, -1 error. */
int runops_lock(struct db *db, const char *workspace_id, const char *run_id, struct run_state *st);

/*
 * Cancels: pending, queued, waiting_for_input, awaiting_approval and
 * approved runs end now (run.cancelled); a running run gets
 * cancel_requested and run.cancel_requested for its executor. NOOP for a
 * cancelled run or a repeated request, CONFLICT for another terminal run.
 * by is the user id recorded in run.cancel_requested.
 */
enum runops_result runops_cancel(
    struct db *db, struct evlog_batch *b, struct run_state *st, const char *by);

/*
 * Cancels every queued run of the locked session (b) at once, with a fixed
 * number of statements whatever their number (closing a session with a
 * long queue stays short): each gets run.cancelled, as runops_cancel()
 * would write it. Appends their ids, in queue order, to ids (borrowed).
 * The active run is not touched. 0 or -1.
 */
int runops_cancel_queued(struct db *db, struct evlog_batch *b, json_t *ids);

/*
 * The run no longer holds its session: when it was the active run, the
 * oldest queued run of the session becomes active and runnable.
 * *promoted (may be NULL) receives 1 when a run was promoted. 0 or -1.
 */
int runops_release(struct db *db, struct evlog_batch *b, const char *run_id, int *promoted);

/* The {usage, cost_usd} part of a terminal event's data (new reference). */
json_t *runops_totals(const struct run_state *st);

#endif
