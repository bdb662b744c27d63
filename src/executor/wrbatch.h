/*
 * The set-based half of the executor's writer: applies the queued ops of a
 * batch of runs inside the caller's transaction with a fixed number of
 * multi-row statements per batch, not per run (see the top of wrbatch.c).
 */
#ifndef AGENTRUN_EXECUTOR_WRBATCH_H
#define AGENTRUN_EXECUTOR_WRBATCH_H

#include <stddef.h>

struct db;
struct xop;
struct xrun;

/*
 * One run's share of a batch: the run (only its fields fixed while it is
 * held are read: ids, lease token, limits) and its ops, detached from it.
 */
struct wrbatch_run {
	struct xrun *r;
	struct xop *ops;
};

/*
 * Writes the ops of runs[0..n) (sorted by session id). fenced[i] is set to
 * 1 for a run whose lease was lost (or whose session is gone): its ops are
 * not written. Returns 0, or -1 on a database error (the caller rolls back).
 * Runs on the writer thread: touches nothing but its arguments and db.
 */
int wrbatch_apply(struct db *db, const struct wrbatch_run *runs, size_t n, int *fenced);

#endif
