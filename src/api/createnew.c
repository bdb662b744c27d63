/*
 * Group commit of new-session creates across requests.
 *
 * A create alone is one CALL run_create_new: five single-row writes in a
 * procedure and a commit, ~500 µs of MariaDB CPU on the create benchmark,
 * which made MariaDB the ceiling of POST /api/v1/runs. The same rows for 16
 * creates written set-based in one transaction cost it ~125 µs per create
 * (docs/performance.md). So an API worker with several request threads
 * (api.threads) hands these creates to one batching thread: whatever is
 * queued when it is free goes out together, while the next requests queue
 * behind it. A lone create is still one CALL, so an idle service answers as
 * fast as before and batches form only under load.
 *
 * The batch does what the procedure does, for every create in it: the
 * version check (one lookup per distinct agent), then sessions, runs (with
 * RETURNING: the responses need no re-read), messages and events as one
 * multi-row INSERT each, then usage_daily once per rollup key. If anything
 * in the batch fails, it is rolled back and each create is retried alone,
 * so one create's failure never fails the others; only a database that
 * cannot be reached fails them all at once (the API answers 503).
 */
#include "createnew.h"

#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/dbrows.h"
#include "../core/doorbell.h"
#include "../core/log.h"
#include "runview.h"

#define CN_CALL_TRIES 4
#define CN_BATCH_MAX 64
#define CN_CALL_SLOT_COL 40 /* run_create_new answers the slot after the Run's columns */
#define CN_ER_SIGNAL 1644 /* run_create_new: the version is not the active one */
#define CN_ER_LOCK_WAIT_TIMEOUT 1205
#define CN_ER_DEADLOCK 1213

static const char cn_sql_call[] =
    "CALL run_create_new(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " ?, ?, ?)";
/* The procedure's version check, for one agent: (not archived, highest active version). */
static const char cn_sql_verify[] =
    "SELECT EXISTS (SELECT 1 FROM agents a WHERE a.id = ? AND a.workspace_id = ?"
    " AND a.archived_at IS NULL), (SELECT MAX(x.version) FROM agent_versions x"
    " WHERE x.agent_id = ? AND x.status = 'active')";
static const char cn_sql_usage_slot0[] =
    "SET STATEMENT innodb_lock_wait_timeout = 0 FOR"
    " INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model, runs,"
    " calls, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, cost_nusd)"
    " VALUES (?, UTC_DATE(), ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0)"
    " ON DUPLICATE KEY UPDATE runs = runs + VALUES(runs)";
static const char cn_sql_usage_own[] =
    "INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model, slot,"
    " runs, calls, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens,"
    " cost_nusd) VALUES (?, UTC_DATE(), ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0)"
    " ON DUPLICATE KEY UPDATE runs = runs + VALUES(runs)";

/* The rows of 0008's procedure, many at a time (same columns, same constants). */
static struct dbrows_template cn_tpl_sessions =
    DBROWS_TEMPLATE(CN_SESSION_INSERT, CN_SESSION_ROW, ",", "", 0, 6);
static struct dbrows_template cn_tpl_runs = DBROWS_TEMPLATE(
    "INSERT INTO runs (id, workspace_id, agent_id, agent_version, agent_version_id,"
    " session_id, parent_run_id, experiment_id, experiment_candidate_id, route_id,"
    " persona_id, provider, model, status, input, metadata, trace_id, telemetry_span_id,"
    " created_by_user_id, created_by_key_id, idempotency_key, multitask, queued,"
    " runnable_at, created_at, updated_at) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, NULL, ?, 0,"
    " NOW(3), NOW(3), NOW(3))",
    ",", RUNVIEW_RETURNING, 0, 20);
static struct dbrows_template cn_tpl_messages =
    DBROWS_TEMPLATE(CN_MESSAGE_INSERT, CN_MESSAGE_ROW, ",", "", 0, 5);
static struct dbrows_template cn_tpl_events = DBROWS_TEMPLATE(
    "INSERT INTO events (session_id, seq, workspace_id, run_id, type, data, dedup_key,"
    " created_at) VALUES ",
    "(?, 1, ?, ?, 'run.created', ?, NULL, NOW(3))", ",", "", 0, 4);

long long
createnew_own_slot(void)
{
	return 1 + getpid() % 255;
}

long long
createnew_usage(struct db *db, const char *const key[5], long long n, int try0)
{
	struct db_param p[7];

	for (size_t i = 0; i < 5; i++)
		p[i] = dbp_str(key[i]);
	if (try0) {
		p[5] = DBP_INT(n);
		if (db_query(db, cn_sql_usage_slot0, p, 6, NULL) == 0)
			return 0;
		if (db_last_errno(db) != CN_ER_LOCK_WAIT_TIMEOUT)
			return -1;
	}
	p[5] = DBP_INT(createnew_own_slot());
	p[6] = DBP_INT(n);
	return db_query(db, cn_sql_usage_own, p, 7, NULL) == 0 ? p[5].i : -1;
}

void
createnew_run(struct db *db, struct createnew_job *job)
{
	job->out = CN_FAILED;
	for (int attempt = 0; attempt < CN_CALL_TRIES; attempt++) {
		db_result_free(job->view);
		job->view = NULL;
		int ok = db_query(db, cn_sql_call, job->p, CNP__COUNT, &job->view) == 0;

		job->maybe_committed |= !ok && db_outcome_unknown(db);
		if (ok) {
			if (job->view != NULL && job->view->nrows == 1) {
				job->out = CN_OK;
				job->slot = db_cell_int(job->view, 0, CN_CALL_SLOT_COL, 0);
			}
			break;
		}
		if (job->p[CNP_VERIFY].i && db_last_errno(db) == CN_ER_SIGNAL) {
			job->out = CN_STALE;
			break;
		}
		/* The ids are fresh: a duplicate is this job's own earlier, committed call. */
		if (db_last_err(db) == DB_ERR_DUPLICATE) {
			job->out = CN_DUPLICATE;
			break;
		}
		if (db_last_err(db) != DB_ERR_RETRY) {
			log_warnx("msg=\"run create failed\" errno=%u error=\"%s\"",
			    db_last_errno(db), db_errmsg(db));
			break;
		}
		log_info(
		    "msg=\"run create retry\" attempt=%d errno=%u", attempt + 1, db_last_errno(db));
	}
	if (job->out == CN_FAILED) {
		job->err = db_last_err(db) != DB_OK ? db_last_err(db) : DB_ERR_OTHER;
		job->err_no = db_last_errno(db);
	}
	if (job->out != CN_OK) {
		db_result_free(job->view);
		job->view = NULL;
	}
}

/* ---- one batch ------------------------------------------------------------ */

struct cn_batch {
	struct createnew_job *job[CN_BATCH_MAX];
	size_t n;
};

static int
cn_same(const struct createnew_job *a, const struct createnew_job *b, const int *params, size_t np)
{
	for (size_t i = 0; i < np; i++) {
		const struct db_param *x = &a->p[params[i]], *y = &b->p[params[i]];

		if (x->type != y->type || x->i != y->i || (x->s != NULL) != (y->s != NULL) ||
		    (x->s != NULL && strcmp(x->s, y->s) != 0))
			return 0;
	}
	return 1;
}

static const int cn_version_key[] = { CNP_WS, CNP_AGENT, CNP_VERSION };
static const int cn_usage_key[] = { CNP_WS, CNP_AGENT, CNP_USER, CNP_PROVIDER, CNP_MODEL };
#define CN_NKEY(k) (sizeof(k) / sizeof((k)[0]))

/* Marks the jobs whose version is no longer active CN_STALE; one lookup per agent. */
static int
cn_verify(struct db *db, struct cn_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct createnew_job *j = b->job[i];
		struct db_param p[3];
		struct db_result *res;
		size_t k;
		int ok;

		if (!j->p[CNP_VERIFY].i)
			continue;
		for (k = 0; k < i; k++)
			if (b->job[k]->p[CNP_VERIFY].i &&
			    cn_same(b->job[k], j, cn_version_key, CN_NKEY(cn_version_key)))
				break;
		if (k < i) {
			j->out = b->job[k]->out;
			continue;
		}
		p[0] = j->p[CNP_AGENT];
		p[1] = j->p[CNP_WS];
		p[2] = j->p[CNP_AGENT];
		if (db_query(db, cn_sql_verify, p, 3, &res) == -1)
			return -1;
		ok = res->nrows == 1 && db_cell_int(res, 0, 0, 0) == 1 &&
		    db_cell(res, 0, 1) != NULL && db_cell_int(res, 0, 1, -1) == j->p[CNP_VERSION].i;
		db_result_free(res);
		if (!ok)
			j->out = CN_STALE;
	}
	return 0;
}

/* Counts the batch's runs in usage_daily, one upsert per rollup key, last (as 0008 does). */
static int
cn_usage(struct db *db, struct cn_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct createnew_job *j = b->job[i];
		const char *key[5];
		long long n = 0, slot;
		size_t k;

		if (j->out != CN_OK)
			continue;
		for (k = 0; k < i; k++)
			if (b->job[k]->out == CN_OK &&
			    cn_same(b->job[k], j, cn_usage_key, CN_NKEY(cn_usage_key)))
				break;
		if (k < i)
			continue; /* counted with job k */
		for (k = i; k < b->n; k++)
			if (b->job[k]->out == CN_OK &&
			    cn_same(b->job[k], j, cn_usage_key, CN_NKEY(cn_usage_key)))
				n++;
		for (k = 0; k < 5; k++)
			key[k] = j->p[cn_usage_key[k]].s;
		if ((slot = createnew_usage(db, key, n, (int)j->p[CNP_TRY_SLOT0].i)) == -1)
			return -1;
		for (k = i; k < b->n; k++)
			if (b->job[k]->out == CN_OK &&
			    cn_same(b->job[k], j, cn_usage_key, CN_NKEY(cn_usage_key)))
				b->job[k]->slot = slot;
	}
	return 0;
}

/* Hands each RETURNING row to the job of its run id; -1 if one is missing. */
static int
cn_views(struct cn_batch *b, struct db_result *res)
{
	for (size_t r = 0; r < res->nrows; r++) {
		const char *id = db_cell(res, r, 0);

		for (size_t i = 0; id != NULL && i < b->n; i++) {
			struct createnew_job *j = b->job[i];

			if (j->out == CN_OK && j->view == NULL &&
			    strcmp(j->p[CNP_RUN].s, id) == 0) {
				if ((j->view = db_result_take_row(res, r)) == NULL)
					return -1;
				break;
			}
		}
	}
	for (size_t i = 0; i < b->n; i++)
		if (b->job[i]->out == CN_OK && b->job[i]->view == NULL)
			return -1;
	return 0;
}

static void
cn_batch_reset(struct cn_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		db_result_free(b->job[i]->view);
		b->job[i]->view = NULL;
		b->job[i]->out = CN_OK;
		b->job[i]->slot = 0;
	}
}

/* The batch's transaction (db_txn: re-runnable from the top). */
static int
cn_batch_txn(struct db *db, void *arg)
{
	struct cn_batch *b = arg;
	struct dbrows sessions, runs, messages, events;
	struct db_result *res = NULL;
	size_t written = 0;
	int rc = -1;

	cn_batch_reset(b);
	if (cn_verify(db, b) == -1)
		return -1;
	dbrows_init(&sessions, &cn_tpl_sessions);
	dbrows_init(&runs, &cn_tpl_runs);
	dbrows_init(&messages, &cn_tpl_messages);
	dbrows_init(&events, &cn_tpl_events);
	for (size_t i = 0; i < b->n; i++) {
		const struct db_param *p = b->job[i]->p;
		struct db_param row[20];

		if (b->job[i]->out != CN_OK)
			continue;
		written++;
		row[0] = p[CNP_SESSION];
		row[1] = p[CNP_WS];
		row[2] = p[CNP_AGENT];
		row[3] = p[CNP_VERSION];
		row[4] = p[CNP_VERSION_ID];
		row[5] = p[CNP_RUN];
		(void)dbrows_add(&sessions, row);
		row[0] = p[CNP_RUN];
		row[5] = p[CNP_SESSION];
		memcpy(row + 6, p + CNP_PARENT, (CNP_KEY - CNP_PARENT + 1) * sizeof(*row));
		row[19] = p[CNP_MULTITASK];
		(void)dbrows_add(&runs, row);
		row[0] = p[CNP_MESSAGE];
		row[1] = p[CNP_WS];
		row[2] = p[CNP_SESSION];
		row[3] = p[CNP_RUN];
		row[4] = p[CNP_TURN];
		(void)dbrows_add(&messages, row);
		row[0] = p[CNP_SESSION];
		row[1] = p[CNP_WS];
		row[2] = p[CNP_RUN];
		row[3] = p[CNP_EVENT];
		(void)dbrows_add(&events, row);
	}
	if (written == 0)
		rc = 0;
	else if (dbrows_exec(db, &sessions, NULL, NULL, NULL, NULL) == 0 &&
	    dbrows_query(db, &runs, NULL, &res) == 0 &&
	    dbrows_exec(db, &messages, NULL, NULL, NULL, NULL) == 0 &&
	    dbrows_exec(db, &events, NULL, NULL, NULL, NULL) == 0 && cn_usage(db, b) == 0)
		rc = cn_views(b, res);
	db_result_free(res);
	dbrows_free(&sessions);
	dbrows_free(&runs);
	dbrows_free(&messages);
	dbrows_free(&events);
	return rc;
}

/* 1 when the database cannot be reached (not a deadlock or lock wait) or time is up. */
static int
cn_unreachable(enum db_err err, unsigned int err_no)
{
	/* Past the requests' deadline, every create of the batch would fail the same way. */
	return err == DB_ERR_TIMEOUT ||
	    (err == DB_ERR_RETRY && err_no != CN_ER_LOCK_WAIT_TIMEOUT && err_no != CN_ER_DEADLOCK);
}

static void
cn_fail_all(struct cn_batch *b, size_t from, enum db_err err, unsigned int err_no, int maybe)
{
	for (size_t i = from; i < b->n; i++) {
		b->job[i]->out = CN_FAILED;
		b->job[i]->err = err;
		b->job[i]->err_no = err_no;
		b->job[i]->maybe_committed = maybe;
	}
}

static void
cn_commit(struct db *db, struct cn_batch *b)
{
	if (b->n == 1) {
		createnew_run(db, b->job[0]);
		return;
	}
	if (db_txn(db, cn_batch_txn, b) == 0)
		return;
	cn_batch_reset(b);
	if (cn_unreachable(db_last_err(db), db_last_errno(db))) {
		/* db_txn() retried already: every create would wait for the same answer. */
		log_warnx(
		    "msg=\"run create batch failed\" runs=%zu errno=%u", b->n, db_last_errno(db));
		cn_fail_all(b, 0, db_last_err(db), db_last_errno(db), db_outcome_unknown(db));
		return;
	}
	log_info("msg=\"run create batch failed, retrying each create alone\" runs=%zu "
		 "errno=%u",
	    b->n, db_last_errno(db));
	for (size_t i = 0; i < b->n; i++) {
		createnew_run(db, b->job[i]);
		if (b->job[i]->out == CN_FAILED &&
		    cn_unreachable(b->job[i]->err, b->job[i]->err_no)) {
			cn_fail_all(b, i + 1, b->job[i]->err, b->job[i]->err_no, 0);
			return;
		}
	}
}

/* ---- the batching thread ------------------------------------------------- */

static struct {
	pthread_t thread;
	struct db *db;
	void (*pause)(void), (*resume)(void); /* around a request thread's wait */
	/* copied at start: a reload may rewrite the config while this thread runs */
	char bell_executor[CONFIG_STR_MAX], bell_stream[CONFIG_STR_MAX];
	struct createnew_job *head, *tail; /* the queue, under cn_mu */
	int running, stopping;
} cn;
static pthread_mutex_t cn_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cn_todo_cv = PTHREAD_COND_INITIALIZER;

static void *
cn_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct cn_batch b;

		pthread_mutex_lock(&cn_mu);
		while (cn.head == NULL && !cn.stopping)
			pthread_cond_wait(&cn_todo_cv, &cn_mu);
		if (cn.head == NULL) {
			pthread_mutex_unlock(&cn_mu);
			break;
		}
		for (b.n = 0; cn.head != NULL && b.n < CN_BATCH_MAX; b.n++) {
			b.job[b.n] = cn.head;
			cn.head = cn.head->next;
		}
		if (cn.head == NULL)
			cn.tail = NULL;
		pthread_mutex_unlock(&cn_mu);

		log_debug("msg=\"run create batch\" runs=%zu", b.n);
		/* The earliest deadline of the batch's requests bounds its database work. */
		{
			long long deadline = 0;

			for (size_t i = 0; i < b.n; i++)
				if (b.job[i]->deadline_ms > 0 &&
				    (deadline == 0 || b.job[i]->deadline_ms < deadline))
					deadline = b.job[i]->deadline_ms;
			db_set_deadline(cn.db, deadline);
		}
		cn_commit(cn.db, &b);
		db_set_deadline(cn.db, 0);
		for (size_t i = 0; i < b.n; i++)
			if (b.job[i]->out == CN_OK) {
				doorbell_ring(cn.bell_executor);
				doorbell_ring(cn.bell_stream);
				break;
			}

		/* Under cn_mu: a waiter that sees done returns and destroys its job's cv. */
		pthread_mutex_lock(&cn_mu);
		for (size_t i = 0; i < b.n; i++) {
			b.job[i]->done = 1;
			pthread_cond_signal(&b.job[i]->done_cv);
		}
		pthread_mutex_unlock(&cn_mu);
	}
	return NULL;
}

int
createnew_batcher_start(const struct config *cfg, void (*pause)(void), void (*resume)(void))
{
	if ((cn.db = db_new(cfg)) == NULL)
		return -1;
	if (db_connect(cn.db) == -1) /* not fatal: it reconnects on first use */
		log_warnx("msg=\"database not reachable yet\" errno=%u", db_last_errno(cn.db));
	cn.pause = pause;
	cn.resume = resume;
	snprintf(cn.bell_executor, sizeof(cn.bell_executor), "%s", cfg->doorbell_executor);
	snprintf(cn.bell_stream, sizeof(cn.bell_stream), "%s", cfg->doorbell_stream);
	cn.stopping = 0;
	if (pthread_create(&cn.thread, NULL, cn_main, NULL) != 0) {
		db_free(cn.db);
		cn.db = NULL;
		return -1;
	}
	cn.running = 1;
	return 0;
}

int
createnew_batching(void)
{
	return cn.running;
}

void
createnew_submit(struct createnew_job *job)
{
	job->done = 0;
	job->next = NULL;
	pthread_cond_init(&job->done_cv, NULL);
	pthread_mutex_lock(&cn_mu);
	if (cn.tail != NULL)
		cn.tail->next = job;
	else
		cn.head = job;
	cn.tail = job;
	pthread_cond_signal(&cn_todo_cv);
	pthread_mutex_unlock(&cn_mu);

	/* Other requests of this worker run while this one waits for its commit. */
	cn.pause();
	pthread_mutex_lock(&cn_mu);
	while (!job->done)
		pthread_cond_wait(&job->done_cv, &cn_mu);
	pthread_mutex_unlock(&cn_mu);
	pthread_cond_destroy(&job->done_cv);
	cn.resume();
}

void
createnew_batcher_stop(void)
{
	if (!cn.running)
		return;
	pthread_mutex_lock(&cn_mu);
	cn.stopping = 1;
	pthread_cond_signal(&cn_todo_cv);
	pthread_mutex_unlock(&cn_mu);
	pthread_join(cn.thread, NULL);
	cn.running = 0;
	db_free(cn.db);
	cn.db = NULL;
}
