/*
 * The set-based half of the executor's writer: applies the queued ops of a
 * batch of runs inside the caller's transaction with a fixed number of
 * multi-row statements per batch, not per run (see the top of wrbatch.c).
 */
#ifndef AGENTRUN_EXECUTOR_WRBATCH_H
#define AGENTRUN_EXECUTOR_WRBATCH_H

#include <stddef.h>

struct db;
struct xrun;

/*
 * Writes the ops of runs[0..n) (sorted by session id). fenced[i] is set to
 * 1 for a run whose lease was lost (or whose session is gone): its ops are
 * not written. Returns 0, or -1 on a database error (the caller rolls back).
 */
int wrbatch_apply(struct db *db, struct xrun **runs, size_t n, int *fenced);

#endif
