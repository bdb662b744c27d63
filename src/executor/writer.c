/*
 * The executor's only writer: group commit across runs.
 *
 * Every held run queues its outcomes as ops (xrun.h). writer_flush() commits
 * the ops of all runs in one transaction: per run, the session row is
 * locked first (evlog_begin: seq order is commit order, and the API's lock
 * order is session then run), the lease is checked (a run whose lease_token
 * no longer matches was taken by another executor: its ops are dropped and
 * the run abandoned — fencing), then the ops apply in order. Runs are
 * visited in session order so two executors never lock in opposite orders.
 * A batch that fails for good is retried run by run, so one bad run cannot
 * hold the others back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "../core/db.h"
#include "../core/doorbell.h"
#include "../core/evlog.h"
#include "../core/log.h"
#include "../core/runops.h"
#include "executor.h"
#include "xrun.h"

#define WRITER_MAX_FAILED_FLUSHES 5

static const char wr_sql_fence[] =
    "UPDATE runs SET updated_at = NOW(3) WHERE id = ? AND lease_token = ?";
static const char wr_sql_start[] =
    "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, NOW(3)),"
    " deadline_at = COALESCE(deadline_at, NOW(3) + INTERVAL ? SECOND)"
    " WHERE id = ? AND lease_token = ?";
static const char wr_sql_message[] =
    "INSERT IGNORE INTO messages (id, workspace_id, session_id, run_id, role, content,"
    " tool_call_id, tool_name, tool_calls, dedup_key, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(3))";
static const char wr_sql_step[] =
    "INSERT IGNORE INTO steps (id, run_id, workspace_id, step_index, attempt, kind, name,"
    " status, call_id, error_code, error_message, started_at, finished_at, duration_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(3), NOW(3), ?)";
static const char wr_sql_llm[] =
    "INSERT IGNORE INTO llm_calls (id, workspace_id, run_id, step_id, session_id, agent_id,"
    " user_id, provider, model, prompt_tokens, cached_tokens, cache_write_tokens,"
    " completion_tokens, cost_nusd, priced, input_per_mtok_nusd, cached_input_per_mtok_nusd,"
    " cache_write_per_mtok_nusd, output_per_mtok_nusd, duration_ms, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(3))";
static const char wr_sql_usage[] =
    "INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model, runs,"
    " calls, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, cost_nusd)"
    " VALUES (?, UTC_DATE(), ?, ?, ?, ?, 0, 1, ?, ?, ?, ?, ?)"
    " ON DUPLICATE KEY UPDATE calls = calls + 1,"
    " prompt_tokens = prompt_tokens + VALUES(prompt_tokens),"
    " cached_tokens = cached_tokens + VALUES(cached_tokens),"
    " cache_write_tokens = cache_write_tokens + VALUES(cache_write_tokens),"
    " completion_tokens = completion_tokens + VALUES(completion_tokens),"
    " cost_nusd = cost_nusd + VALUES(cost_nusd)";
static const char wr_sql_totals[] =
    "UPDATE runs SET prompt_tokens = prompt_tokens + ?, cached_tokens = cached_tokens + ?,"
    " cache_write_tokens = cache_write_tokens + ?, completion_tokens = completion_tokens + ?,"
    " cost_nusd = cost_nusd + ? WHERE id = ? AND lease_token = ?";
static const char wr_sql_progress[] =
    "UPDATE runs SET output = COALESCE(?, output), steps = steps + ?,"
    " resume_input = IF(? = 1, NULL, resume_input) WHERE id = ? AND lease_token = ?";
static const char wr_sql_wait[] =
    "UPDATE runs SET status = ?, waiting_kind = ?, waiting_call_id = ?, waiting_prompt = ?,"
    " owner = NULL, lease_token = NULL, lease_until = NULL, runnable_at = NULL"
    " WHERE id = ? AND lease_token = ?";
static const char wr_sql_terminal[] =
    "UPDATE runs SET status = ?, error_code = ?, error_message = ?,"
    " output = COALESCE(?, output), ended_at = NOW(3),"
    " completed_at = IF(? = 'completed', NOW(3), completed_at),"
    " failed_at = IF(? IN ('failed', 'timeout'), NOW(3), failed_at),"
    " cancelled_at = IF(? = 'cancelled', NOW(3), cancelled_at),"
    " owner = NULL, lease_token = NULL, lease_until = NULL, runnable_at = NULL, queued = 0,"
    " waiting_kind = NULL, waiting_call_id = NULL, waiting_prompt = NULL, resume_input = NULL"
    " WHERE id = ? AND lease_token = ?";

static const char *
wr_str(const json_t *v, const char *key)
{
	return json_string_value(json_object_get(v, key));
}

static long long
wr_int(const json_t *v, const char *key)
{
	return json_integer_value(json_object_get(v, key));
}

/* A JSON member as compact text (new string), NULL when absent or null. */
static char *
wr_json_text(const json_t *v, const char *key)
{
	json_t *m = json_object_get(v, key);

	if (m == NULL || json_is_null(m))
		return NULL;
	return json_dumps(m, JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY);
}

static int
wr_message(struct db *db, struct xrun *r, const json_t *v)
{
	char id[ID_BUFSZ], *calls = wr_json_text(v, "tool_calls");
	struct db_param p[10];
	int rc;

	id_new(id);
	p[0] = dbp_str(id);
	p[1] = dbp_str(r->workspace_id);
	p[2] = dbp_str(r->session_id);
	p[3] = dbp_str(r->id);
	p[4] = dbp_str(wr_str(v, "role"));
	p[5] = dbp_str(wr_str(v, "content") != NULL ? wr_str(v, "content") : "");
	p[6] = dbp_str(wr_str(v, "tool_call_id"));
	p[7] = dbp_str(wr_str(v, "tool_name"));
	p[8] = dbp_str(calls);
	p[9] = dbp_str(wr_str(v, "dedup"));
	rc = db_query(db, wr_sql_message, p, 10, NULL);
	free(calls);
	return rc;
}

static int
wr_step(struct db *db, struct xrun *r, const json_t *v)
{
	char id[96];
	struct db_param p[12];

	snprintf(id, sizeof(id), "%s:%lld:%lld", r->id, wr_int(v, "step"), wr_int(v, "attempt"));
	p[0] = dbp_str(id);
	p[1] = dbp_str(r->id);
	p[2] = dbp_str(r->workspace_id);
	p[3] = DBP_INT(wr_int(v, "step"));
	p[4] = DBP_INT(wr_int(v, "attempt"));
	p[5] = dbp_str(wr_str(v, "kind"));
	p[6] = dbp_str(wr_str(v, "name") != NULL ? wr_str(v, "name") : "");
	p[7] = dbp_str(wr_str(v, "status"));
	p[8] = dbp_str(wr_str(v, "call_id"));
	p[9] = dbp_str(wr_str(v, "error_code"));
	p[10] = dbp_str(wr_str(v, "error_message"));
	p[11] = DBP_INT(wr_int(v, "duration_ms"));
	return db_query(db, wr_sql_step, p, 12, NULL);
}

/* The call row; usage_daily and the run's totals only when the row is new. */
static int
wr_llm(struct db *db, struct xrun *r, const json_t *v)
{
	char id[ID_BUFSZ], step_id[96];
	struct db_param p[20];
	const json_t *prices = json_object_get(v, "prices");
	long long pt = wr_int(v, "prompt"), ct = wr_int(v, "cached"), cw = wr_int(v, "cache_write"),
		  co = wr_int(v, "completion"), cost = wr_int(v, "cost");

	id_new(id);
	snprintf(step_id, sizeof(step_id), "%s:%lld:%lld", r->id, wr_int(v, "step"),
	    wr_int(v, "attempt"));
	p[0] = dbp_str(id);
	p[1] = dbp_str(r->workspace_id);
	p[2] = dbp_str(r->id);
	p[3] = dbp_str(step_id);
	p[4] = dbp_str(r->session_id);
	p[5] = dbp_str(r->agent_id);
	p[6] = dbp_str(r->user_id);
	p[7] = dbp_str(wr_str(v, "provider"));
	p[8] = dbp_str(wr_str(v, "model"));
	p[9] = DBP_INT(pt);
	p[10] = DBP_INT(ct);
	p[11] = DBP_INT(cw);
	p[12] = DBP_INT(co);
	p[13] = DBP_INT(cost);
	p[14] = DBP_INT(json_is_true(json_object_get(v, "priced")));
	for (size_t i = 0; i < 4; i++)
		p[15 + i] = DBP_INT(json_integer_value(json_array_get(prices, i)));
	p[19] = DBP_INT(wr_int(v, "duration_ms"));
	if (db_query(db, wr_sql_llm, p, 20, NULL) == -1)
		return -1;
	if (db_affected(db) != 1)
		return 0; /* written before: counted before */
	p[0] = dbp_str(r->workspace_id);
	p[1] = dbp_str(r->agent_id);
	p[2] = dbp_str(r->user_id);
	p[3] = dbp_str(wr_str(v, "provider"));
	p[4] = dbp_str(wr_str(v, "model"));
	p[5] = DBP_INT(pt);
	p[6] = DBP_INT(ct);
	p[7] = DBP_INT(cw);
	p[8] = DBP_INT(co);
	p[9] = DBP_INT(cost);
	if (db_query(db, wr_sql_usage, p, 10, NULL) == -1)
		return -1;
	p[0] = DBP_INT(pt);
	p[1] = DBP_INT(ct);
	p[2] = DBP_INT(cw);
	p[3] = DBP_INT(co);
	p[4] = DBP_INT(cost);
	p[5] = dbp_str(r->id);
	p[6] = dbp_str(r->lease_token);
	return db_query(db, wr_sql_totals, p, 7, NULL);
}

static int
wr_progress(struct db *db, struct xrun *r, const json_t *v)
{
	char *out = wr_json_text(v, "output");
	struct db_param p[5];
	int rc;

	p[0] = dbp_str(out);
	p[1] = DBP_INT(wr_int(v, "steps"));
	p[2] = DBP_INT(json_is_true(json_object_get(v, "consume_input")));
	p[3] = dbp_str(r->id);
	p[4] = dbp_str(r->lease_token);
	rc = db_query(db, wr_sql_progress, p, 5, NULL);
	free(out);
	return rc;
}

static int
wr_status(struct db *db, struct xrun *r, struct evlog_batch *b, const json_t *v)
{
	const char *status = wr_str(v, "status");
	struct db_param p[10];
	char *out;
	int rc;

	if (json_is_true(json_object_get(v, "start"))) {
		p[0] = DBP_INT(r->limits.timeout_s);
		p[1] = dbp_str(r->id);
		p[2] = dbp_str(r->lease_token);
		return db_query(db, wr_sql_start, p, 3, NULL);
	}
	if (!json_is_true(json_object_get(v, "terminal"))) {
		p[0] = dbp_str(status);
		p[1] = dbp_str(wr_str(v, "waiting_kind"));
		p[2] = dbp_str(wr_str(v, "waiting_call_id"));
		p[3] = dbp_str(wr_str(v, "waiting_prompt"));
		p[4] = dbp_str(r->id);
		p[5] = dbp_str(r->lease_token);
		return db_query(db, wr_sql_wait, p, 6, NULL);
	}
	out = wr_json_text(v, "output");
	p[0] = dbp_str(status);
	p[1] = dbp_str(wr_str(v, "error_code"));
	p[2] = dbp_str(wr_str(v, "error_message"));
	p[3] = dbp_str(out);
	p[4] = dbp_str(status);
	p[5] = dbp_str(status);
	p[6] = dbp_str(status);
	p[7] = dbp_str(r->id);
	p[8] = dbp_str(r->lease_token);
	rc = db_query(db, wr_sql_terminal, p, 9, NULL);
	free(out);
	if (rc == -1)
		return -1;
	/* The session's next queued run (if any) becomes runnable. */
	return runops_release(db, b, r->id, NULL);
}

/* The run's queued events, in queue order, in as few statements as possible. */
static int
wr_events(struct db *db, struct xrun *r, struct evlog_batch *b)
{
	const char *types[EVLOG_MULTI_MAX];
	const json_t *datas[EVLOG_MULTI_MAX];
	size_t n = 0;

	for (struct xop *op = r->ops; op != NULL; op = op->next) {
		if (op->kind != XOP_EVENT)
			continue;
		types[n] = wr_str(op->v, "type");
		datas[n] = json_object_get(op->v, "data");
		if (++n == EVLOG_MULTI_MAX) {
			if (evlog_add_many(db, b, r->id, n, types, datas) == -1)
				return -1;
			n = 0;
		}
	}
	return n > 0 ? evlog_add_many(db, b, r->id, n, types, datas) : 0;
}

/* Applies one run's ops inside the caller's transaction. 0, 1 (fenced) or -1. */
static int
wr_apply_run(struct db *db, struct xrun *r)
{
	struct evlog_batch b;
	struct db_param p[2] = { dbp_str(r->id), dbp_str(r->lease_token) };
	int found;

	if ((found = evlog_begin(db, r->workspace_id, r->session_id, &b)) == -1)
		return -1;
	if (found == 0)
		return 1;
	if (db_query(db, wr_sql_fence, p, 2, NULL) == -1)
		return -1;
	if (db_affected(db) != 1)
		return 1;
	for (struct xop *op = r->ops; op != NULL; op = op->next) {
		int rc = 0;

		switch (op->kind) {
		case XOP_EVENT:
			/* Events go in together below, in order, in multi-row INSERTs. */
			break;
		case XOP_MESSAGE: rc = wr_message(db, r, op->v); break;
		case XOP_STEP: rc = wr_step(db, r, op->v); break;
		case XOP_LLM_CALL: rc = wr_llm(db, r, op->v); break;
		case XOP_PROGRESS: rc = wr_progress(db, r, op->v); break;
		case XOP_STATUS: rc = wr_status(db, r, &b, op->v); break;
		}
		if (rc == -1)
			return -1;
	}
	if (wr_events(db, r, &b) == -1)
		return -1;
	return evlog_finish(db, &b);
}

struct wr_batch {
	struct xrun **runs;
	size_t n;
	int *fenced;
};

static int
wr_txn(struct db *db, void *arg)
{
	struct wr_batch *wb = arg;

	for (size_t i = 0; i < wb->n; i++) {
		int rc = wr_apply_run(db, wb->runs[i]);

		if (rc == -1)
			return -1;
		wb->fenced[i] = rc == 1;
	}
	return 0;
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
