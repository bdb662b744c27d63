/*
 * Reading and steering runs: GET /api/v1/runs, GET /api/v1/runs/{id},
 * GET /api/v1/sessions/{id}/runs, POST /api/v1/runs/{id}/cancel, /input,
 * /approve, /reject and POST /api/v1/sessions/{id}/cancel (threads alike).
 *
 * Every transition is one db_txn(): the run's session row is locked first
 * (evlog_begin), then the run row (runops_lock); the run changes and its
 * event is appended under that lock, and both doorbells ring after the
 * commit. Cancel and the hand-over of the session slot are runops' (the
 * executor shares them); input, approve and reject are API-only and live
 * here.
 *
 * The executions family (executions.c) steers through these same
 * handlers: on its routes the answer is {"data": Execution} instead of
 * {"ok": true, …Run}.
 */
#include <stdio.h>
#include <string.h>

#include "../core/db.h"
#include "../core/doorbell.h"
#include "../core/evlog.h"
#include "../core/log.h"
#include "../core/runops.h"
#include "api.h"
#include "handlers.h"
#include "params.h"
#include "runview.h"

#define RUNS_CONTENT_MAX (32 * 1024) /* input content, approval comments */
#define RUNS_EXPERIMENT_MAX 1024 /* bytes of an experiment_id filter */
#define RUNS_STATUS_LIST_MAX 512 /* bytes of a status= list */
#define RUNS_NO_CURSOR "z" /* sorts above every id */

static const char runs_sql_session_of[] =
    "SELECT session_id FROM runs WHERE workspace_id = ? AND id = ?";
static const char runs_sql_session_exists[] =
    "SELECT id FROM sessions WHERE workspace_id = ? AND id = ?";
static const char runs_sql_input[] =
    "UPDATE runs SET status = 'running', runnable_at = NOW(3), resume_input = ?,"
    " waiting_kind = NULL, waiting_call_id = NULL, waiting_prompt = NULL,"
    " updated_at = NOW(3) WHERE id = ?";
static const char runs_sql_approve[] =
    "UPDATE runs SET status = 'approved', runnable_at = NOW(3), waiting_kind = NULL,"
    " waiting_call_id = NULL, waiting_prompt = NULL, updated_at = NOW(3) WHERE id = ?";
static const char runs_sql_reject[] =
    "UPDATE runs SET status = 'rejected', ended_at = NOW(3), runnable_at = NULL,"
    " owner = NULL, lease_token = NULL, lease_until = NULL, waiting_kind = NULL,"
    " waiting_call_id = NULL, waiting_prompt = NULL, updated_at = NOW(3) WHERE id = ?";
static const char runs_sql_close[] =
    "UPDATE sessions SET status = 'closed', closed_at = NOW(3), updated_at = NOW(3)"
    " WHERE id = ?";

/*
 * The run list. An equality filter on session, parent, experiment or agent
 * (the first given, in that order) leads the WHERE clause so that its
 * (workspace_id, X, id) index serves the range and the order; the others
 * are "? IS NULL OR …" (NULL = any) and the status list is FIND_IN_SET.
 * before is always bound (RUNS_NO_CURSOR when absent).
 * Bind order: workspace, the leading value, the other filters' pairs in
 * enum runs_filter order, the status pair, before, limit.
 */
enum runs_filter {
	RF_SESSION,
	RF_PARENT,
	RF_EXPERIMENT,
	RF_AGENT,
	RF__MAX
};

#define RUNS_LIST_HEAD "SELECT " RUNVIEW_COLUMNS RUNVIEW_FROM " WHERE r.workspace_id = ?"
#define RUNS_F_SESSION " AND (? IS NULL OR r.session_id = ?)"
#define RUNS_F_PARENT " AND (? IS NULL OR r.parent_run_id = ?)"
#define RUNS_F_EXPERIMENT " AND (? IS NULL OR r.experiment_id = ?)"
#define RUNS_F_AGENT " AND (? IS NULL OR r.agent_id = ?)"
#define RUNS_LIST_TAIL                                              \
	" AND (? IS NULL OR FIND_IN_SET(r.status, ?)) AND r.id < ?" \
	" ORDER BY r.id DESC LIMIT ?"

static const char runs_sql_list[] =
    RUNS_LIST_HEAD RUNS_F_SESSION RUNS_F_PARENT RUNS_F_EXPERIMENT RUNS_F_AGENT RUNS_LIST_TAIL;
static const char runs_sql_list_session[] = RUNS_LIST_HEAD
    " AND r.session_id = ?" RUNS_F_PARENT RUNS_F_EXPERIMENT RUNS_F_AGENT RUNS_LIST_TAIL;
static const char runs_sql_list_parent[] = RUNS_LIST_HEAD
    " AND r.parent_run_id = ?" RUNS_F_SESSION RUNS_F_EXPERIMENT RUNS_F_AGENT RUNS_LIST_TAIL;
static const char runs_sql_list_experiment[] = RUNS_LIST_HEAD
    " AND r.experiment_id = ?" RUNS_F_SESSION RUNS_F_PARENT RUNS_F_AGENT RUNS_LIST_TAIL;
static const char runs_sql_list_agent[] = RUNS_LIST_HEAD
    " AND r.agent_id = ?" RUNS_F_SESSION RUNS_F_PARENT RUNS_F_EXPERIMENT RUNS_LIST_TAIL;

/* By the leading filter; RF__MAX = none. */
static const char *const runs_list_sql[RF__MAX + 1] = {
	[RF_SESSION] = runs_sql_list_session,
	[RF_PARENT] = runs_sql_list_parent,
	[RF_EXPERIMENT] = runs_sql_list_experiment,
	[RF_AGENT] = runs_sql_list_agent,
	[RF__MAX] = runs_sql_list,
};

static const char *const runs_filter_names[RF__MAX] = {
	[RF_SESSION] = "session_id",
	[RF_PARENT] = "parent_run_id",
	[RF_EXPERIMENT] = "experiment_id",
	[RF_AGENT] = "agent_id",
};

static const char *const runs_statuses[] = { "pending", "running", "completed", "failed", "timeout",
	"cancelled", "waiting_for_input", "awaiting_approval", "approved", "rejected", NULL };

/* Codes a transaction callback returns to refuse (db_txn rolls back). */
enum {
	RUNS_TXN_NOT_FOUND = 1,
	RUNS_TXN_CONFLICT = 2
};

enum runs_op {
	RUNS_OP_CANCEL,
	RUNS_OP_INPUT,
	RUNS_OP_APPROVE,
	RUNS_OP_REJECT
};

/* One steering request, as the transaction sees it. Everything is borrowed. */
struct runs_steer {
	enum runs_op op;
	const char *workspace_id;
	const char *run_id;
	const char *user_id;
	const char *text; /* input content or approval comment; NULL = none */
	char status[24]; /* the run's status when locked (for a 409) */
	int changed; /* a transition was committed */
};

/* POST /api/v1/sessions/{id}/cancel, as the transaction sees it. */
struct runs_close {
	const char *workspace_id;
	const char *session_id;
	const char *user_id;
	json_t *cancelled; /* borrowed array, refilled on every attempt */
	int changed;
};

/* 1 on the executions family's steering routes (executions.c). */
static int
runs_execution_route(const struct request_ctx *ctx)
{
	int (*h)(struct request_ctx *) = ctx->match.route->handler;

	return h == h_execution_cancel || h == h_execution_approve || h == h_execution_reject;
}

static const char *
runs_noun(const struct request_ctx *ctx)
{
	return runs_execution_route(ctx) ? "execution" : "run";
}

/*
 * Reads the session of a run of the workspace into out, without locking.
 * 1 found, 0 not, -1 database error.
 */
static int
runs_session_of(struct db *db, const char *workspace_id, const char *run_id, char out[ID_BUFSZ])
{
	struct db_param p[2] = { dbp_str(workspace_id), dbp_str(run_id) };
	struct db_result *res;
	int found;

	if (db_query(db, runs_sql_session_of, p, 2, &res) == -1)
		return -1;
	found = res->nrows > 0;
	if (found)
		snprintf(out, ID_BUFSZ, "%s", db_cell(res, 0, 0));
	db_result_free(res);
	return found;
}

/* 1 when the session is in the workspace, 0 when not, -1 on error. */
static int
runs_session_exists(struct request_ctx *ctx, const char *session_id)
{
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(session_id) };
	struct db_result *res;
	int found;

	if (db_query(ctx->db, runs_sql_session_exists, p, 2, &res) == -1)
		return -1;
	found = res->nrows > 0;
	db_result_free(res);
	return found;
}

/*
 * A string field that counts as run content: at most 32 KiB, 413 beyond
 * (400 for a wrong type). *out borrows from body.
 */
static int
runs_text(struct request_ctx *ctx, json_t *body, const char *name, int flags, const char **out)
{
	json_t *v = json_object_get(body, name);

	*out = NULL;
	if (json_is_string(v) && json_string_length(v) > RUNS_CONTENT_MAX)
		return http_send_error(ctx->req, 413, ERR_PAYLOAD_TOO_LARGE,
			   json_pack("{s:s}", "field", name), "%s: must be at most %d bytes", name,
			   RUNS_CONTENT_MAX),
		       -1;
	return params_string(ctx, body, name, flags, RUNS_CONTENT_MAX, out);
}

/*
 * The list behind GET /api/v1/runs and GET /api/v1/sessions/{id}/runs.
 * session (may be NULL) is the path's session, which replaces the
 * session_id filter.
 */
static int
runs_list(struct request_ctx *ctx, const char *session)
{
	char ids[RF__MAX][ID_BUFSZ], experiment[RUNS_EXPERIMENT_MAX];
	char status[RUNS_STATUS_LIST_MAX];
	const char *val[RF__MAX] = { NULL };
	struct db_param p[2 + 2 * RF__MAX + 4];
	struct list_params lp;
	struct db_result *res;
	int f, lead, has_status, rc;
	size_t n = 0;

	if (params_list(ctx, &lp) == -1)
		return -1;
	for (f = 0; f < RF__MAX; f++) {
		if (f == RF_SESSION && session != NULL) {
			val[f] = session;
			continue;
		}
		if (f == RF_EXPERIMENT) {
			rc = http_query_param(
			    ctx->req->query, runs_filter_names[f], experiment, sizeof(experiment));
			if (rc == -1)
				return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
				    json_pack("{s:s}", "field", runs_filter_names[f]),
				    "%s: malformed or too long", runs_filter_names[f]);
			if (rc == 1)
				val[f] = experiment;
			continue;
		}
		if ((rc = params_query_id(ctx, runs_filter_names[f], ids[f])) == -1)
			return -1;
		if (rc == 1)
			val[f] = ids[f];
	}
	if ((has_status = params_query_csv(ctx, "status", runs_statuses, status, sizeof(status))) ==
	    -1)
		return -1;
	if (lp.has_before) {
		char unused[ID_BUFSZ];

		rc = runs_session_of(ctx->db, ctx->auth.workspace_id, lp.before, unused);
		if (rc == -1)
			return api_db_failure(ctx, "run_cursor");
		if (rc == 0)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", "before"), "before: unknown cursor");
	}

	for (lead = 0; lead < RF__MAX && val[lead] == NULL; lead++)
		continue;
	p[n++] = dbp_str(ctx->auth.workspace_id);
	if (lead < RF__MAX)
		p[n++] = dbp_str(val[lead]);
	for (f = 0; f < RF__MAX; f++) {
		if (f == lead)
			continue;
		p[n++] = dbp_str(val[f]);
		p[n++] = dbp_str(val[f]);
	}
	p[n++] = dbp_str(has_status == 1 ? status : NULL);
	p[n++] = dbp_str(has_status == 1 ? status : NULL);
	p[n++] = dbp_str(lp.has_before ? lp.before : RUNS_NO_CURSOR);
	p[n++] = DBP_INT(lp.limit);
	if (db_query(ctx->db, runs_list_sql[lead], p, n, &res) == -1)
		return api_db_failure(ctx, "run_list");
	rc = runview_send_runs(ctx, res);
	db_result_free(res);
	return rc;
}

int
h_runs_list(struct request_ctx *ctx)
{
	return runs_list(ctx, NULL);
}

int
h_thread_runs_list(struct request_ctx *ctx)
{
	const char *id = ctx->match.params[0];
	int found;

	if (!id_valid(id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "session not found");
	if ((found = runs_session_exists(ctx, id)) == -1)
		return api_db_failure(ctx, "session_get");
	if (found == 0)
		return http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "session %s not found", id);
	return runs_list(ctx, id);
}

int
h_run(struct request_ctx *ctx)
{
	const char *id = ctx->match.params[0];
	struct db_result *res;
	int found, rc;

	if (!id_valid(id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "run not found");
	if ((found = runview_load(ctx, id, &res)) == -1)
		return api_db_failure(ctx, "run_get");
	if (found == 0)
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "run %s not found", id);
	rc = runview_send_run(ctx, res, 0);
	db_result_free(res);
	return rc;
}

/* waiting_for_input → running with the answer for the executor. */
static enum runops_result
runs_input(struct db *db, struct evlog_batch *b, struct run_state *st, const char *content)
{
	struct db_param p[2] = { dbp_str(content), dbp_str(st->id) };
	json_t *data;
	int rc;

	if (strcmp(st->status, "waiting_for_input") != 0)
		return RUNOPS_CONFLICT;
	if (db_query(db, runs_sql_input, p, 2, NULL) == -1)
		return RUNOPS_ERROR;
	data = json_pack("{s:s}", "content", content);
	rc = evlog_add(db, b, st->id, "input.received", data, NULL);
	json_decref(data);
	return rc == 0 ? RUNOPS_DONE : RUNOPS_ERROR;
}

/* awaiting_approval → approved (runnable again). */
static enum runops_result
runs_approve(
    struct db *db, struct evlog_batch *b, struct run_state *st, const char *by, const char *comment)
{
	struct db_param p = dbp_str(st->id);
	json_t *data;
	int rc;

	if (strcmp(st->status, "awaiting_approval") != 0)
		return RUNOPS_CONFLICT;
	if (db_query(db, runs_sql_approve, &p, 1, NULL) == -1)
		return RUNOPS_ERROR;
	data = json_pack("{s:s, s:o}", "by", by, "comment",
	    comment != NULL ? json_string(comment) : json_null());
	rc = evlog_add(db, b, st->id, "run.approved", data, NULL);
	json_decref(data);
	return rc == 0 ? RUNOPS_DONE : RUNOPS_ERROR;
}

/* awaiting_approval → rejected (terminal); the session slot moves on. */
static enum runops_result
runs_reject(struct db *db, struct evlog_batch *b, struct run_state *st, const char *comment)
{
	struct db_param p = dbp_str(st->id);
	json_t *data;
	int rc;

	if (strcmp(st->status, "awaiting_approval") != 0)
		return RUNOPS_CONFLICT;
	if (db_query(db, runs_sql_reject, &p, 1, NULL) == -1)
		return RUNOPS_ERROR;
	if ((data = runops_totals(st)) == NULL)
		return RUNOPS_ERROR;
	json_object_set_new(data, "comment", comment != NULL ? json_string(comment) : json_null());
	rc = evlog_add(db, b, st->id, "run.rejected", data, NULL);
	json_decref(data);
	if (rc == -1 || runops_release(db, b, st->id, NULL) == -1)
		return RUNOPS_ERROR;
	return RUNOPS_DONE;
}

/*
 * The transaction of one steering request (db_txn callback): session lock,
 * run lock, transition, events. 0 committed (maybe a no-op), a
 * RUNS_TXN_* refusal, or -1.
 */
static int
runs_steer_txn(struct db *db, void *arg)
{
	struct runs_steer *s = arg;
	char session[ID_BUFSZ];
	struct evlog_batch b;
	struct run_state st;
	enum runops_result r = RUNOPS_ERROR;
	int found;

	s->changed = 0;
	s->status[0] = '\0';
	/* Lock order: the session first, so its id is read before any lock. */
	if ((found = runs_session_of(db, s->workspace_id, s->run_id, session)) != 1)
		return found == 0 ? RUNS_TXN_NOT_FOUND : -1;
	if ((found = evlog_begin(db, s->workspace_id, session, &b)) != 1)
		return found == 0 ? RUNS_TXN_NOT_FOUND : -1;
	if ((found = runops_lock(db, s->workspace_id, s->run_id, &st)) != 1)
		return found == 0 ? RUNS_TXN_NOT_FOUND : -1;
	if (strcmp(st.session_id, session) != 0) {
		/* runs.session_id never changes; this is a broken row. */
		log_warnx("msg=\"run moved session\" run_id=%s", s->run_id);
		return -1;
	}
	snprintf(s->status, sizeof(s->status), "%s", st.status);
	switch (s->op) {
	case RUNS_OP_CANCEL: r = runops_cancel(db, &b, &st, s->user_id); break;
	case RUNS_OP_INPUT: r = runs_input(db, &b, &st, s->text); break;
	case RUNS_OP_APPROVE: r = runs_approve(db, &b, &st, s->user_id, s->text); break;
	case RUNS_OP_REJECT: r = runs_reject(db, &b, &st, s->text); break;
	}
	if (r == RUNOPS_ERROR)
		return -1;
	if (r == RUNOPS_CONFLICT)
		return RUNS_TXN_CONFLICT;
	if (evlog_finish(db, &b) == -1)
		return -1;
	s->changed = r == RUNOPS_DONE;
	return 0;
}

/* After a committed change: wake the executor and the stream worker. */
static void
runs_ring(struct request_ctx *ctx)
{
	doorbell_ring(ctx->cfg->doorbell_executor);
	doorbell_ring(ctx->cfg->doorbell_stream);
}

/* Answers a steering request with the run as it is now. */
static int
runs_steer_answer(struct request_ctx *ctx, const char *id)
{
	struct db_result *res;
	json_t *body;
	int found, rc;

	found = runview_load(ctx, id, &res);
	if (found == -1)
		return api_db_failure(ctx, "run_get");
	if (found == 0)
		return http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "%s %s not found", runs_noun(ctx), id);
	if (runs_execution_route(ctx))
		body = json_pack("{s:o}", "data", runview_execution(res, 0));
	else {
		body = json_pack("{s:b}", "ok", 1);
		json_object_update_new(
		    body, runview_run(res, 0, ctx->cfg->billing_credits_per_usd));
	}
	rc = http_send_json(ctx->req, 200, body);
	db_result_free(res);
	return rc;
}

/* Validates the request, runs the transition and answers it. */
static int
runs_steer(struct request_ctx *ctx, enum runs_op op)
{
	struct runs_steer s;
	json_t *body = NULL;
	const char *id = ctx->match.params[0];
	int rc = -1;

	if (!id_valid(id))
		return http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "%s not found", runs_noun(ctx));
	if (http_json_body(ctx->req, &body, op != RUNS_OP_INPUT) == -1)
		return -1;
	memset(&s, 0, sizeof(s));
	s.op = op;
	s.workspace_id = ctx->auth.workspace_id;
	s.run_id = id;
	s.user_id = ctx->auth.user_id;
	if (op == RUNS_OP_INPUT && runs_text(ctx, body, "content", FIELD_REQUIRED, &s.text) == -1)
		goto out;
	if ((op == RUNS_OP_APPROVE || op == RUNS_OP_REJECT) &&
	    runs_text(ctx, body, "comment", FIELD_NULLABLE, &s.text) == -1)
		goto out;

	switch (db_txn(ctx->db, runs_steer_txn, &s)) {
	case 0: break;
	case RUNS_TXN_NOT_FOUND:
		rc = http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "%s %s not found", runs_noun(ctx), id);
		goto out;
	case RUNS_TXN_CONFLICT:
		rc = http_send_error(ctx->req, 409, ERR_CONFLICT,
		    json_pack("{s:s}", "status", s.status), "%s %s is %s: cannot %s it",
		    runs_noun(ctx), id, s.status,
		    op == RUNS_OP_CANCEL        ? "cancel"
			: op == RUNS_OP_INPUT   ? "give input to"
			: op == RUNS_OP_APPROVE ? "approve"
						: "reject");
		goto out;
	default: rc = api_db_failure(ctx, "run_steer"); goto out;
	}
	if (s.changed)
		runs_ring(ctx);
	if (op == RUNS_OP_INPUT)
		rc = http_send_json(ctx->req, 200, json_pack("{s:b}", "ok", 1));
	else
		rc = runs_steer_answer(ctx, id);
out:
	json_decref(body);
	return rc;
}

int
h_run_cancel(struct request_ctx *ctx)
{
	return runs_steer(ctx, RUNS_OP_CANCEL);
}

int
h_run_input(struct request_ctx *ctx)
{
	return runs_steer(ctx, RUNS_OP_INPUT);
}

int
h_run_approve(struct request_ctx *ctx)
{
	return runs_steer(ctx, RUNS_OP_APPROVE);
}

int
h_run_reject(struct request_ctx *ctx)
{
	return runs_steer(ctx, RUNS_OP_REJECT);
}

/*
 * Cancels one run of the session being closed; appends its id to
 * c->cancelled (at the front when first) when this request cancelled it
 * or asked its executor to. 0 or -1.
 */
static int
runs_close_one(
    struct db *db, struct evlog_batch *b, struct runs_close *c, const char *run_id, int first)
{
	struct run_state st;
	enum runops_result r;
	int found;

	if ((found = runops_lock(db, c->workspace_id, run_id, &st)) != 1)
		return found;
	if (strcmp(st.session_id, c->session_id) != 0)
		return 0;
	if ((r = runops_cancel(db, b, &st, c->user_id)) == RUNOPS_ERROR)
		return -1;
	if (r == RUNOPS_DONE) {
		if (first)
			json_array_insert_new(c->cancelled, 0, json_string(st.id));
		else
			json_array_append_new(c->cancelled, json_string(st.id));
	}
	return 0;
}

/*
 * The transaction of POST /api/v1/sessions/{id}/cancel (db_txn callback).
 * The queued runs end first, all at once (runops_cancel_queued(): a fixed
 * number of statements however long the queue), so that cancelling the
 * active run has nothing to hand the session slot to. A closed session is
 * left as it is.
 */
static int
runs_close_txn(struct db *db, void *arg)
{
	struct runs_close *c = arg;
	struct db_param p = dbp_str(c->session_id);
	struct evlog_batch b;
	char active[ID_BUFSZ];
	int found;

	c->changed = 0;
	json_array_clear(c->cancelled);
	if ((found = evlog_begin(db, c->workspace_id, c->session_id, &b)) != 1)
		return found == 0 ? RUNS_TXN_NOT_FOUND : -1;
	if (!b.session_open)
		return 0;
	if (runops_cancel_queued(db, &b, c->cancelled) == -1)
		return -1;
	snprintf(active, sizeof(active), "%s", b.active_run_id);
	if (active[0] != '\0' && runs_close_one(db, &b, c, active, 1) == -1)
		return -1;
	if (db_query(db, runs_sql_close, &p, 1, NULL) == -1 || evlog_finish(db, &b) == -1)
		return -1;
	c->changed = 1;
	return 0;
}

int
h_session_cancel(struct request_ctx *ctx)
{
	const char *id = ctx->match.params[0];
	struct runs_close c;
	json_t *body;
	int rc;

	if (!id_valid(id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "session not found");
	/* No field is read, but a body that is sent must be a JSON object. */
	if (http_json_body(ctx->req, &body, 1) == -1)
		return -1;
	json_decref(body);
	memset(&c, 0, sizeof(c));
	c.workspace_id = ctx->auth.workspace_id;
	c.session_id = id;
	c.user_id = ctx->auth.user_id;
	if ((c.cancelled = json_array()) == NULL)
		return http_send_error(ctx->req, 500, ERR_INTERNAL, NULL, "internal error");
	rc = db_txn(ctx->db, runs_close_txn, &c);
	if (rc != 0) {
		json_decref(c.cancelled);
		if (rc == RUNS_TXN_NOT_FOUND)
			return http_send_error(
			    ctx->req, 404, ERR_NOT_FOUND, NULL, "session %s not found", id);
		return api_db_failure(ctx, "session_cancel");
	}
	if (c.changed)
		runs_ring(ctx);
	return http_send_json(ctx->req, 200,
	    json_pack("{s:b, s:s, s:s, s:o}", "ok", 1, "session_id", id, "status", "closed",
		"cancelled_run_ids", c.cancelled));
}
