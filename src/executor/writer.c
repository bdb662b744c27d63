/*
 * The executor's only writer: group commit across runs.
 *
 * Every held run queues its outcomes as ops (xrun.h). writer_flush() commits
 * the ops of all runs in one transaction, written set-based by wrbatch.c: a
 * fixed number of multi-row statements per batch, sessions locked before
 * runs (the API's lock order), each in id order so two executors never lock
 * in opposite orders. A run whose lease_token no longer matches was taken by
 * another executor: its ops are dropped and the run abandoned (fencing). A
 * batch that fails for good is retried run by run, so one bad run cannot
 * hold the others back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "../core/db.h"
#include "../core/doorbell.h"
#include "../core/log.h"
#include "executor.h"
#include "wrbatch.h"
#include "xrun.h"

#define WRITER_MAX_FAILED_FLUSHES 5

struct wr_batch {
	struct xrun **runs;
	size_t n;
	int *fenced;
};

static int
wr_txn(struct db *db, void *arg)
{
	struct wr_batch *wb = arg;

	return wrbatch_apply(db, wb->runs, wb->n, wb->fenced) == -1 ? -1 : 0;
}

static int
wr_by_session(const void *a, const void *b)
{
	const struct xrun *x = *(struct xrun *const *)a, *y = *(struct xrun *const *)b;

	return strcmp(x->session_id, y->session_id);
}

/* After a commit: ops are durable; fenced runs are abandoned. */
static void
wr_committed(struct executor *ex, struct xrun *r, int fenced)
{
	xrun_ops_clear(r);
	r->failed_flushes = 0;
	if (fenced) {
		log_warnx("msg=\"lease lost, abandoning run\" run=%s", r->id);
		r->fenced = 1;
		advance_abort(r);
		executor_drop(ex, r);
		return;
	}
	if (r->commit_pending) {
		r->commit_pending = 0;
		advance_committed(r);
	}
}

int
writer_flush(struct executor *ex)
{
	struct xrun **runs = NULL;
	int *fenced = NULL;
	size_t n = 0, cap = (size_t)ex->nruns;
	struct wr_batch wb;
	int rc = 0;

	for (struct xrun *r = ex->runs; r != NULL; r = r->next)
		advance_flush_deltas(r);
	if (cap == 0)
		return 0;
	runs = calloc(cap, sizeof(struct xrun *));
	fenced = calloc(cap, sizeof(*fenced));
	if (runs == NULL || fenced == NULL) {
		free(runs);
		free(fenced);
		return -1;
	}
	for (struct xrun *r = ex->runs; r != NULL && n < cap; r = r->next)
		if (r->ops != NULL)
			runs[n++] = r;
	if (n == 0)
		goto out;
	qsort(runs, n, sizeof(struct xrun *), wr_by_session);
	wb = (struct wr_batch){ runs, n, fenced };
	ex->flushes++;
	if (db_txn(ex->db, wr_txn, &wb) == 0) {
		for (size_t i = 0; i < n; i++)
			wr_committed(ex, runs[i], fenced[i]);
	} else {
		log_warnx("msg=\"batch commit failed, retrying run by run\" runs=%zu errno=%u", n,
		    db_last_errno(ex->db));
		for (size_t i = 0; i < n; i++) {
			struct wr_batch one = { &runs[i], 1, &fenced[i] };

			if (db_txn(ex->db, wr_txn, &one) == 0) {
				wr_committed(ex, runs[i], fenced[i]);
				continue;
			}
			rc = -1;
			if (++runs[i]->failed_flushes >= WRITER_MAX_FAILED_FLUSHES) {
				/* Give the run up: its lease expires and it resumes elsewhere. */
				log_warnx("msg=\"cannot commit run, abandoning\" run=%s errno=%u",
				    runs[i]->id, db_last_errno(ex->db));
				advance_abort(runs[i]);
				executor_drop(ex, runs[i]);
			}
		}
	}
	doorbell_ring(ex->cfg->doorbell_stream);
out:
	free(runs);
	free(fenced);
	return rc;
}
