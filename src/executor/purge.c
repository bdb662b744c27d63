/*
 * Housekeeping on a thread of its own: expired rows go, a little at a time.
 *
 * Idempotency keys are kept 24 hours (docs/api.md); every create with an
 * Idempotency-Key adds a row, so without a purge the table only grows.
 * Every PURGE_EVERY_MS this thread deletes expired rows in batches of
 * executor.purge_batch (DELETE … LIMIT n on ix_idempotency_expires: each
 * statement locks few rows for a short time, so creates are never held
 * behind a long delete), at most PURGE_BATCHES_MAX batches per round, with a
 * short pause between batches; a backlog is worked off over the next
 * rounds. Several executors may purge at once: they delete disjoint rows or
 * wait a moment for each other, and either way the rows go.
 *
 * Why a thread: the loop thread must never wait for the database on work
 * that is not a run's (STYLE.md, "Blocking on a loop"). This thread has its
 * own connection (one more per executor: docs/operations.md) and touches
 * nothing of the loop's; it sleeps on a condition variable that
 * purge_stop() signals.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "../core/config.h"
#include "../core/db.h"
#include "../core/log.h"
#include "executor.h"

#define PURGE_EVERY_MS 5000
#define PURGE_BATCHES_MAX 20 /* per round */
#define PURGE_PAUSE_MS 20 /* between batches of a round */

struct purge {
	const struct config *cfg;
	struct db *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop; /* under mu */
};

static const char purge_sql_idempotency[] =
    "DELETE FROM idempotency_keys WHERE expires_at < NOW(3) LIMIT ?";

/* Waits ms, or less when told to stop; 1 when told to stop. */
static int
purge_wait(struct purge *p, long ms)
{
	struct timespec until;
	int stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->mu);
	while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &until) != ETIMEDOUT)
		;
	stop = p->stop;
	pthread_mutex_unlock(&p->mu);
	return stop;
}

/* One round: batches while they come back full. */
static void
purge_round(struct purge *p)
{
	struct db_param lim = DBP_INT(p->cfg->executor_purge_batch);
	unsigned long long total = 0;

	for (int i = 0; i < PURGE_BATCHES_MAX; i++) {
		unsigned long long n;

		if (db_query(p->db, purge_sql_idempotency, &lim, 1, NULL) == -1) {
			log_warnx("msg=\"idempotency key purge failed\" errno=%u error=\"%s\"",
			    db_last_errno(p->db), db_errmsg(p->db));
			break;
		}
		n = db_affected(p->db);
		total += n;
		if (n < (unsigned long long)p->cfg->executor_purge_batch ||
		    purge_wait(p, PURGE_PAUSE_MS))
			break;
	}
	if (total > 0)
		log_info("msg=\"expired idempotency keys purged\" rows=%llu", total);
}

static void *
purge_main(void *arg)
{
	struct purge *p = arg;

	do
		purge_round(p);
	while (!purge_wait(p, PURGE_EVERY_MS));
	return NULL;
}

int
purge_start(struct executor *ex)
{
	struct purge *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->cfg = ex->cfg;
	if ((p->db = db_new(ex->cfg)) == NULL) {
		free(p);
		return -1;
	}
	/* A frozen executor must not keep rows locked (as its other connections). */
	db_set_idle_txn_timeout(p->db, ex->cfg->executor_lease_s);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (pthread_create(&p->thread, NULL, purge_main, p) != 0) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		db_free(p->db);
		free(p);
		return -1;
	}
	ex->purge = p;
	return 0;
}

void
purge_stop(struct executor *ex)
{
	struct purge *p = ex->purge;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	db_free(p->db);
	free(p);
	ex->purge = NULL;
}
