#include "runops.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "evlog.h"

static const char runops_sql_lock[] =
    "SELECT id, session_id, status, cancel_requested, queued, prompt_tokens, cached_tokens,"
    " cache_write_tokens, completion_tokens, cost_nusd FROM runs"
    " WHERE workspace_id = ? AND id = ? FOR UPDATE";
static const char runops_sql_cancel_now[] =
    "UPDATE runs SET status = 'cancelled', cancel_requested = 1, cancelled_at = NOW(3),"
    " ended_at = NOW(3), runnable_at = NULL, owner = NULL, lease_token = NULL,"
    " lease_until = NULL, queued = 0, waiting_kind = NULL, updated_at = NOW(3)"
    " WHERE id = ?";
static const char runops_sql_cancel_request[] =
    "UPDATE runs SET cancel_requested = 1, updated_at = NOW(3) WHERE id = ?";
static const char runops_sql_lock_queued[] =
    "SELECT id FROM runs WHERE session_id = ?"
    " AND queued = 1 AND status = 'pending' ORDER BY id FOR UPDATE";
static const char runops_sql_cancel_queued[] =
    "UPDATE runs SET status = 'cancelled', cancel_requested = 1, cancelled_at = NOW(3),"
    " ended_at = NOW(3), runnable_at = NULL, owner = NULL, lease_token = NULL,"
    " lease_until = NULL, queued = 0, waiting_kind = NULL, updated_at = NOW(3)"
    " WHERE session_id = ? AND queued = 1 AND status = 'pending'";
static const char runops_sql_next_queued[] =
    "SELECT id FROM runs WHERE session_id = ? AND queued = 1 ORDER BY id LIMIT 1 FOR UPDATE";
static const char runops_sql_promote[] =
    "UPDATE runs SET queued = 0, runnable_at = NOW(3), updated_at = NOW(3) WHERE id = ?";
static const char runops_sql_set_active[] =
    "UPDATE sessions SET active_run_id = ?, updated_at = NOW(3) WHERE id = ?";

int
runops_lock(struct db *db, const char *workspace_id, const char *run_id, struct run_state *st)
{
	struct db_param p[2] = { dbp_str(workspace_id), dbp_str(run_id) };
	struct db_result *res;
	int found;

	memset(st, 0, sizeof(*st));
	if (db_query(db, runops_sql_lock, p, 2, &res) == -1)
		return -1;
	found = res->nrows > 0;
	if (found) {
		snprintf(st->id, sizeof(st->id), "%s", db_cell(res, 0, 0));
		snprintf(st->session_id, sizeof(st->session_id), "%s", db_cell(res, 0, 1));
		snprintf(st->status, sizeof(st->status), "%s", db_cell(res, 0, 2));
		st->cancel_requested = db_cell_int(res, 0, 3, 0) != 0;
		st->queued = db_cell_int(res, 0, 4, 0) != 0;
		st->prompt_tokens = db_cell_int(res, 0, 5, 0);
		st->cached_tokens = db_cell_int(res, 0, 6, 0);
		st->cache_write_tokens = db_cell_int(res, 0, 7, 0);
		st->completion_tokens = db_cell_int(res, 0, 8, 0);
		st->cost_nusd = db_cell_int(res, 0, 9, 0);
	}
	db_result_free(res);
	return found;
}

json_t *
runops_totals(const struct run_state *st)
{
	return json_pack("{s:{s:I, s:I, s:I, s:I, s:I}, s:f}", "usage", "prompt_tokens",
	    (json_int_t)st->prompt_tokens, "cached_tokens", (json_int_t)st->cached_tokens,
	    "cache_write_tokens", (json_int_t)st->cache_write_tokens, "completion_tokens",
	    (json_int_t)st->completion_tokens, "total_tokens",
	    (json_int_t)(st->prompt_tokens + st->completion_tokens), "cost_usd",
	    (double)st->cost_nusd / 1e9);
}

static int
runops_terminal(const char *s)
{
	return strcmp(s, "completed") == 0 || strcmp(s, "failed") == 0 ||
	    strcmp(s, "timeout") == 0 || strcmp(s, "cancelled") == 0 || strcmp(s, "rejected") == 0;
}

enum runops_result
runops_cancel(struct db *db, struct evlog_batch *b, struct run_state *st, const char *by)
{
	struct db_param p = dbp_str(st->id);
	json_t *data;
	int rc;

	if (strcmp(st->status, "cancelled") == 0)
		return RUNOPS_NOOP;
	if (runops_terminal(st->status))
		return RUNOPS_CONFLICT;
	if (strcmp(st->status, "running") == 0) {
		/* The executor drains the in-flight step, then ends the run. */
		if (st->cancel_requested)
			return RUNOPS_NOOP;
		if (db_query(db, runops_sql_cancel_request, &p, 1, NULL) == -1)
			return RUNOPS_ERROR;
		data = json_pack("{s:s}", "by", by != NULL ? by : "");
		rc = evlog_add(db, b, st->id, "run.cancel_requested", data, NULL);
		json_decref(data);
		st->cancel_requested = 1;
		return rc == 0 ? RUNOPS_DONE : RUNOPS_ERROR;
	}
	if (db_query(db, runops_sql_cancel_now, &p, 1, NULL) == -1)
		return RUNOPS_ERROR;
	data = runops_totals(st);
	rc = evlog_add(db, b, st->id, "run.cancelled", data, NULL);
	json_decref(data);
	if (rc == -1 || runops_release(db, b, st->id, NULL) == -1)
		return RUNOPS_ERROR;
	snprintf(st->status, sizeof(st->status), "cancelled");
	st->cancel_requested = 1;
	st->queued = 0;
	return RUNOPS_DONE;
}

int
runops_cancel_queued(struct db *db, struct evlog_batch *b, json_t *ids)
{
	struct db_param p = dbp_str(b->session_id);
	struct run_state zero;
	struct db_result *res;
	json_t *data;
	size_t n;
	int rc;

	if (db_query(db, runops_sql_lock_queued, &p, 1, &res) == -1)
		return -1;
	n = res->nrows;
	for (size_t r = 0; r < n; r++)
		json_array_append_new(ids, json_string(db_cell(res, r, 0)));
	db_result_free(res);
	if (n == 0)
		return 0;
	/* A queued run has never started: its totals are zero. */
	memset(&zero, 0, sizeof(zero));
	if ((data = runops_totals(&zero)) == NULL)
		return -1;
	rc = evlog_add_queued(db, b, "run.cancelled", data, (long long)n);
	json_decref(data);
	if (rc == -1 || db_query(db, runops_sql_cancel_queued, &p, 1, NULL) == -1)
		return -1;
	return db_affected(db) == n ? 0 : -1;
}

int
runops_release(struct db *db, struct evlog_batch *b, const char *run_id, int *promoted)
{
	struct db_param p[2];
	struct db_result *res;
	char next[ID_BUFSZ] = "";

	if (promoted != NULL)
		*promoted = 0;
	if (strcmp(b->active_run_id, run_id) != 0)
		return 0;
	p[0] = dbp_str(b->session_id);
	if (db_query(db, runops_sql_next_queued, p, 1, &res) == -1)
		return -1;
	if (res->nrows > 0)
		snprintf(next, sizeof(next), "%s", db_cell(res, 0, 0));
	db_result_free(res);
	if (next[0] != '\0') {
		p[0] = dbp_str(next);
		if (db_query(db, runops_sql_promote, p, 1, NULL) == -1)
			return -1;
		if (promoted != NULL)
			*promoted = 1;
	}
	p[0] = next[0] != '\0' ? dbp_str(next) : DBP_NULL();
	p[1] = dbp_str(b->session_id);
	if (db_query(db, runops_sql_set_active, p, 2, NULL) == -1)
		return -1;
	snprintf(b->active_run_id, sizeof(b->active_run_id), "%s", next);
	return 0;
}
