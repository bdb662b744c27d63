/*
 * The executor's writers: group commit across runs, on writer threads.
 *
 * Every held run queues its outcomes as ops (xrun.h). writer_flush() takes
 * the ops of every run that has some and hands them, as one job per lane,
 * to the lane's thread, which commits them in one transaction on its own
 * database connection, written set-based by wrbatch.c: a fixed number of
 * multi-row statements per batch, sessions locked before runs (the API's
 * lock order), each in id order so two writers never lock in opposite
 * orders. A run whose lease_token no longer matches was taken by another
 * executor: its ops are dropped and the run abandoned (fencing). A batch
 * that fails for good is retried run by run, so one bad run cannot hold the
 * others back. A run whose ops fail alone on a data error (a CHECK, an out
 * of range sum, anything but a deadlock, a lock wait timeout or a lost
 * connection, which db_txn() retries and which say nothing about the run)
 * WRITER_MAX_DATA_ERRORS times in a row is ended failed with INTERNAL_ERROR
 * by a commit without those ops (advance_uncommittable()), so a poison run
 * neither holds its batch back nor comes back after its lease to fail again.
 *
 * Why threads: the loop's own work (claims, model streams, building the
 * next batch) and the database's work on commits then overlap, and MariaDB
 * works on claims and on each lane's commits on server threads of their
 * own. Why lanes (executor.writers, default 2): one connection commits one
 * transaction at a time, and with the executor's own work off that path
 * the one connection was the limit (docs/performance.md). A run's lane is
 * fixed by its session, so lanes never lock the same session or run rows
 * and a run's ops are committed in order; the rows they do share, the
 * usage_daily rollups, are written last in each transaction (wrbatch.c).
 *
 * The contract between the threads: one job per lane at a time. While a
 * job is out, only its writer thread reads its ops and the runs' fixed
 * fields (ids, lease token, limits); the loop thread appends new ops to
 * fresh lists and never frees a run marked flushing (executor_drop()
 * defers it). Outcomes are applied on the loop thread by writer_reap(),
 * after curl_multi_wakeup() ends the loop's wait.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "../core/db.h"
#include "../core/doorbell.h"
#include "../core/log.h"
#include "executor.h"
#include "loop.h"
#include "wrbatch.h"
#include "xrun.h"

#define WRITER_MAX_FAILED_FLUSHES 5
/* Tries of a run's ops alone that end in a data error before the run is ended. */
#define WRITER_MAX_DATA_ERRORS 3

struct wr_job {
	struct wrbatch_run *runs; /* sorted by session */
	int *pending; /* the run's step waited for this commit */
	int *fenced;
	int *failed; /* not committed: the ops go back to the run */
	unsigned int *errnum; /* failed alone on a data error: its number (else 0) */
	size_t n;
	unsigned int last_errno;
};

struct writer {
	struct executor *ex;
	int lane;
	struct db *db; /* the writer thread's own connection */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t todo_cv, done_cv;
	struct wr_job *todo; /* handed over, not yet taken (under mu) */
	struct wr_job *done; /* committed or failed, not yet reaped (under mu) */
	int stop; /* under mu */
	int busy; /* loop thread only: a job is out and not reaped */
};

static void
wr_job_free(struct wr_job *job)
{
	if (job == NULL)
		return;
	free(job->runs);
	free(job->pending);
	free(job->fenced);
	free(job->failed);
	free(job->errnum);
	free(job);
}

struct wr_slice {
	const struct wrbatch_run *runs;
	size_t n;
	int *fenced;
};

static int
wr_txn(struct db *db, void *arg)
{
	struct wr_slice *s = arg;

	return wrbatch_apply(db, s->runs, s->n, s->fenced) == -1 ? -1 : 0;
}

/*
 * Whether the failed transaction failed on what it wrote: not a deadlock, a
 * lock wait timeout or a lost connection (those are retried as they are),
 * nor a client-side error (2000-2999: out of memory, a connection problem).
 */
static int
wr_data_error(const struct db *db)
{
	unsigned int e = db_last_errno(db);

	return db_last_err(db) != DB_ERR_RETRY && !(e >= 2000 && e < 3000);
}

/* Writer thread: one transaction for the job, else one per run. */
static void
wr_commit(struct db *db, struct wr_job *job)
{
	struct wr_slice all = { job->runs, job->n, job->fenced };

	if (db_txn(db, wr_txn, &all) == 0)
		return;
	log_warnx("msg=\"batch commit failed, retrying run by run\" runs=%zu errno=%u error=\"%s\"",
	    job->n, db_last_errno(db), db_errmsg(db));
	for (size_t i = 0; i < job->n; i++) {
		struct wr_slice one = { &job->runs[i], 1, &job->fenced[i] };
		char esc[256];

		if (db_txn(db, wr_txn, &one) != 0) {
			job->failed[i] = 1;
			job->last_errno = db_last_errno(db);
			if (!wr_data_error(db))
				continue; /* a database away fails every run: logged above */
			job->errnum[i] = job->last_errno ? job->last_errno : 1;
			log_warnx("msg=\"run commit refused\" run=%s errno=%u error=\"%s\"",
			    job->runs[i].r->id, job->last_errno,
			    log_escape(esc, sizeof(esc), db_errmsg(db)));
		}
	}
}

static void *
wr_main(void *arg)
{
	struct writer *w = arg;

	for (;;) {
		struct wr_job *job;
		uint64_t t0;

		pthread_mutex_lock(&w->mu);
		while (w->todo == NULL && !w->stop)
			pthread_cond_wait(&w->todo_cv, &w->mu);
		job = w->todo;
		w->todo = NULL;
		pthread_mutex_unlock(&w->mu);
		if (job == NULL)
			break; /* stopping, nothing handed over */
		t0 = loop_now_ms();
		wr_commit(w->db, job);
		log_debug("msg=committed lane=%d runs=%zu ms=%llu", w->lane, job->n,
		    (unsigned long long)(loop_now_ms() - t0));
		pthread_mutex_lock(&w->mu);
		w->done = job;
		pthread_cond_signal(&w->done_cv);
		pthread_mutex_unlock(&w->mu);
		loop_wakeup(w->ex->loop);
	}
	return NULL;
}

static struct writer *
wr_lane_start(struct executor *ex, int lane)
{
	struct writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->ex = ex;
	w->lane = lane;
	if ((w->db = db_new(ex->cfg)) == NULL) {
		free(w);
		return NULL;
	}
	/* A lane frozen mid-commit (SIGSTOP, a paused VM) holds its runs' rows: see db.h. */
	db_set_idle_txn_timeout(w->db, ex->cfg->executor_lease_s);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->todo_cv, NULL);
	pthread_cond_init(&w->done_cv, NULL);
	if (pthread_create(&w->thread, NULL, wr_main, w) != 0) {
		db_free(w->db);
		free(w);
		return NULL;
	}
	return w;
}

int
writer_start(struct executor *ex)
{
	int n = (int)ex->cfg->executor_writers;

	if (n < 1)
		n = 1;
	if (n > WRITER_LANES_MAX)
		n = WRITER_LANES_MAX;
	for (int i = 0; i < n; i++) {
		if ((ex->writers[i] = wr_lane_start(ex, i)) == NULL) {
			writer_stop(ex);
			return -1;
		}
		ex->nwriters = i + 1;
	}
	return 0;
}

int
writer_lane_of(const struct executor *ex, const char *session_id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	if (ex->nwriters <= 1)
		return 0;
	for (const unsigned char *p = (const unsigned char *)session_id; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return (int)(h % (uint32_t)ex->nwriters);
}

int
writer_ready(const struct executor *ex)
{
	int idle = 0;

	for (int i = 0; i < ex->nwriters; i++)
		idle |= !ex->writers[i]->busy;
	if (!idle)
		return 0;
	for (const struct xrun *r = ex->runs; r != NULL; r = r->next)
		if ((r->commit_pending || r->urgent || (r->ops != NULL && r->phase != XR_MODEL)) &&
		    !ex->writers[r->lane]->busy)
			return 1;
	return 0;
}

/* Puts ops that did not commit back in front of the ones queued since. */
static void
wr_requeue(struct xrun *r, struct xop *ops)
{
	struct xop *last = ops;

	if (ops == NULL)
		return;
	while (last->next != NULL)
		last = last->next;
	last->next = r->ops;
	if (r->ops == NULL)
		r->ops_tail = last;
	r->ops = ops;
}

/* Loop thread: one run's outcome of the job. */
static void
wr_outcome(struct executor *ex, struct wr_job *job, size_t i)
{
	struct xrun *r = job->runs[i].r;

	r->flushing = 0;
	if (r->dropped) {
		xop_list_free(job->runs[i].ops);
		xrun_free(r);
		return;
	}
	if (job->failed[i]) {
		if (job->errnum[i] != 0 && ++r->data_errors >= WRITER_MAX_DATA_ERRORS) {
			/* Its own rows fail, alone, again and again: end it without them. */
			r->commit_pending = 0;
			advance_uncommittable(r, job->runs[i].ops, job->errnum[i]);
			return;
		}
		wr_requeue(r, job->runs[i].ops);
		r->commit_pending |= job->pending[i];
		if (++r->failed_flushes >= WRITER_MAX_FAILED_FLUSHES) {
			/*
			 * Give the run up, and its lease as soon as the database
			 * answers again (claim_release_abandoned): it resumes from
			 * its last commit then, not when its lease runs out.
			 */
			log_warnx("msg=\"cannot commit run, abandoning\" run=%s errno=%u", r->id,
			    job->last_errno);
			claim_abandon(ex, r);
			executor_drop(ex, r);
		}
		return;
	}
	xop_list_free(job->runs[i].ops);
	r->failed_flushes = 0;
	r->data_errors = 0;
	if (job->fenced[i]) {
		log_warnx("msg=\"lease lost, abandoning run\" run=%s", r->id);
		r->fenced = 1;
		executor_drop(ex, r);
		return;
	}
	if (job->pending[i])
		advance_committed(r);
}

static void
wr_lane_reap(struct writer *w)
{
	struct executor *ex = w->ex;
	struct wr_job *job;
	int committed = 0;

	if (!w->busy)
		return;
	pthread_mutex_lock(&w->mu);
	job = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	if (job == NULL)
		return;
	w->busy = 0;
	for (size_t i = 0; i < job->n; i++) {
		committed |= !job->failed[i];
		wr_outcome(ex, job, i);
	}
	if (committed)
		doorbell_ring(ex->cfg->doorbell_stream);
	wr_job_free(job);
}

void
writer_reap(struct executor *ex)
{
	for (int i = 0; i < ex->nwriters; i++)
		wr_lane_reap(ex->writers[i]);
}

/* Loop thread: blocks until the lane's job out (if any) is done, and reaps it. */
static void
wr_wait(struct writer *w)
{
	if (!w->busy)
		return;
	pthread_mutex_lock(&w->mu);
	while (w->done == NULL)
		pthread_cond_wait(&w->done_cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	wr_lane_reap(w);
}

static int
wr_by_session(const void *a, const void *b)
{
	const struct wrbatch_run *x = a, *y = b;

	return strcmp(x->r->session_id, y->r->session_id);
}

/* The job of every run of the lane holding ops (their ops detached), or NULL. */
static struct wr_job *
wr_take(struct executor *ex, int lane)
{
	struct wr_job *job;
	size_t cap = (size_t)ex->nruns;

	if (cap == 0 || (job = calloc(1, sizeof(*job))) == NULL)
		return NULL;
	job->runs = calloc(cap, sizeof(*job->runs));
	job->pending = calloc(cap, sizeof(*job->pending));
	job->fenced = calloc(cap, sizeof(*job->fenced));
	job->failed = calloc(cap, sizeof(*job->failed));
	job->errnum = calloc(cap, sizeof(*job->errnum));
	if (job->runs == NULL || job->pending == NULL || job->fenced == NULL ||
	    job->failed == NULL || job->errnum == NULL) {
		wr_job_free(job);
		return NULL;
	}
	for (struct xrun *r = ex->runs; r != NULL && job->n < cap; r = r->next)
		if (r->ops != NULL && r->lane == lane)
			job->runs[job->n++].r = r;
	if (job->n == 0) {
		wr_job_free(job);
		return NULL;
	}
	/* Sorted first: pending[i] and the ops belong to runs[i] as sorted. */
	qsort(job->runs, job->n, sizeof(*job->runs), wr_by_session);
	for (size_t i = 0; i < job->n; i++) {
		struct xrun *r = job->runs[i].r;

		job->runs[i].ops = r->ops;
		job->pending[i] = r->commit_pending;
		r->ops = r->ops_tail = NULL;
		r->commit_pending = 0;
		r->urgent = 0;
		r->flushing = 1;
	}
	return job;
}

int
writer_flush(struct executor *ex)
{
	int idle = 0;

	writer_reap(ex);
	for (int i = 0; i < ex->nwriters; i++)
		idle |= !ex->writers[i]->busy;
	if (!idle)
		return 0; /* ops keep gathering: the next jobs take them all */
	for (struct xrun *r = ex->runs; r != NULL; r = r->next)
		if (!ex->writers[r->lane]->busy) {
			advance_flush_deltas(r);
			if (r->ops == NULL)
				r->urgent = 0; /* nothing to commit: no reason to spin */
		}
	for (int i = 0; i < ex->nwriters; i++) {
		struct writer *w = ex->writers[i];
		struct wr_job *job;

		if (w->busy || (job = wr_take(ex, i)) == NULL)
			continue;
		ex->flushes++;
		w->busy = 1;
		pthread_mutex_lock(&w->mu);
		w->todo = job;
		pthread_cond_signal(&w->todo_cv);
		pthread_mutex_unlock(&w->mu);
	}
	return 0;
}

static void
wr_lane_stop(struct writer *w)
{
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->todo_cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->todo_cv);
	pthread_cond_destroy(&w->done_cv);
	db_free(w->db);
	free(w);
}

void
writer_stop(struct executor *ex)
{
	/* What is out, then what was queued since. */
	for (int i = 0; i < ex->nwriters; i++)
		wr_wait(ex->writers[i]);
	if (ex->nwriters > 0)
		(void)writer_flush(ex);
	for (int i = 0; i < ex->nwriters; i++)
		wr_wait(ex->writers[i]);
	for (int i = 0; i < ex->nwriters; i++) {
		wr_lane_stop(ex->writers[i]);
		ex->writers[i] = NULL;
	}
	ex->nwriters = 0;
}
