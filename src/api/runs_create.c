/*
 * Every way to create a run: POST /api/v1/runs, /agents/{id}/runs,
 * /agents/{id}/versions/{n}/runs, /threads/{id}/runs and
 * /sessions/{id}/messages. Each entry point parses its own body into a
 * struct run_request; runs_create() then does the rest in one transaction:
 *
 *   idempotency key → session (new, or the given one, locked) → the one
 *   active run rule (409 / enqueue / interrupt) → the run row → the user
 *   turn as a message → run.created → the session's counters → the run
 *   counted in usage_daily
 *
 * and, after the commit, rings the executor's and the stream's doorbells.
 *
 * A new session needs no read-back: its row is inserted already holding its
 * active run and the seq of run.created (no SELECT … FOR UPDATE, no UPDATE
 * sessions), and the run's INSERT … RETURNING gives the Run object's
 * columns, so the response needs no re-read. The usage_daily upsert never
 * waits on a rollup row another transaction holds (see rc_usage()).
 *
 * The common case, a new session without an Idempotency-Key, is one round
 * trip: rc_create_new() calls the procedure run_create_new
 * (sql/migrations/0008_run_create_verify.sql), which does what rc_txn() does
 * for a new session, in its own transaction; under load, the worker's
 * batching thread writes the same rows for many such creates in one
 * transaction (createnew.c). For a run from an agent_id alone the
 * agent version is even taken from the worker's cache and verified by the
 * procedure (rc_may_guess()). Every other case runs rc_txn() in db_txn().
 * Keep the two in step: the integration tests compare each entry point's
 * answer with GET /api/v1/runs/{id} and the rows written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../core/db.h"
#include "../core/doorbell.h"
#include "../core/evlog.h"
#include "../core/jsonschema.h"
#include "../core/jsonv.h"
#include "../core/log.h"
#include "../core/prompt.h"
#include "../core/runops.h"
#include "agentref.h"
#include "api.h"
#include "byok.h"
#include "createnew.h"
#include "handlers.h"
#include "params.h"
#include "runview.h"

#define RUN_CONTENT_MAX (32 * 1024)
#define RUN_METADATA_MAX (64 * 1024)
#define RUN_IDEM_KEY_MAX 255
#define RUN_CREATE_TRIES 4

static const char rc_sql_idem_get[] =
    "SELECT request_hash, run_id, status_code, expires_at > NOW(3) FROM idempotency_keys"
    " WHERE workspace_id = ? AND idem_key = ? FOR UPDATE";
static const char rc_sql_idem_delete[] =
    "DELETE FROM idempotency_keys WHERE workspace_id = ? AND idem_key = ?";
static const char rc_sql_idem_insert[] =
    "INSERT INTO idempotency_keys (workspace_id, idem_key, request_hash, run_id, status_code,"
    " created_at, expires_at) VALUES (?, ?, ?, ?, 201, NOW(3), NOW(3) + INTERVAL 24 HOUR)";
static const char rc_sql_session_insert[] = CN_SESSION_INSERT CN_SESSION_ROW;
/* Counts no further than the cap (ix_runs_session_queue): a long queue costs no more. */
static const char rc_sql_queued_count[] =
    "SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE session_id = ? AND queued = 1 LIMIT ?) q";
static const char rc_sql_session_active[] =
    "UPDATE sessions SET active_run_id = ?, updated_at = NOW(3) WHERE id = ?";
static const char rc_sql_run_insert[] =
    "INSERT INTO runs (id, workspace_id, agent_id, agent_version, agent_version_id,"
    " session_id, parent_run_id, experiment_id, experiment_candidate_id, route_id,"
    " persona_id, provider, model, status, input, metadata, trace_id, telemetry_span_id,"
    " created_by_user_id, created_by_key_id, idempotency_key, multitask, queued,"
    " runnable_at, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " IF(? = 1, NULL, NOW(3)), NOW(3), NOW(3))" RUNVIEW_RETURNING;
static const char rc_sql_message_insert[] = CN_MESSAGE_INSERT CN_MESSAGE_ROW;
/* How long a worker keeps to its own slot of a key after finding slot 0 locked. */
#define RC_USAGE_SPREAD_NS 1000000000LL
#define RC_USAGE_SPREAD_KEYS 16 /* keys remembered per worker */
static const char rc_sql_parent[] = "SELECT 1 FROM runs WHERE workspace_id = ? AND id = ?";
static const char rc_sql_session_version[] =
    "SELECT agent_version_id, status FROM sessions WHERE workspace_id = ? AND id = ?";

/* What an entry point asks for; everything borrowed from the request body. */
struct run_request {
	const char *agent_id;
	const char *persona_id;
	const json_t *version; /* explicit version, or NULL */
	long long pinned_version; /* the versions/{n}/runs path, else 0 */
	const char *session_id; /* an existing session, or NULL for a new one */
	int use_session_version; /* run the session's pinned version */
	json_t *input; /* owned: the run input */
	const json_t *metadata;
	const char *route_id;
	const char *parent_run_id;
	const char *experiment_id;
	const char *experiment_candidate_id;
	const char *multitask; /* reject | enqueue | interrupt */
	const char *message; /* the user turn as given (sessions/messages), or NULL */
};

/* State shared between runs_create() and its transaction. */
struct run_txn {
	struct request_ctx *ctx;
	struct run_request *rr;
	struct agent_version av;
	char provider[64];
	char model[256];
	char run_id[ID_BUFSZ];
	char session_id[ID_BUFSZ];
	char message_id[ID_BUFSZ];
	char trace_id[33];
	char span_id[17];
	char *user_turn;
	char *input_text;
	char *metadata_text;
	unsigned char req_hash[crypto_hash_sha256_BYTES];
	const char *idem_key;
	int guessed; /* av is agentref_guess_active()'s, to be verified */
	/* outcomes */
	int replay; /* an idempotent replay of run_id */
	int rung; /* the batching thread rang the doorbells after its commit */
	int idem_status; /* its status code */
	struct db_result *view; /* the inserted run's columns (not on a replay) */
	enum db_err fail_err; /* set when the failure was on the batching thread's connection */
	unsigned int fail_errno;
};

/* Transaction outcomes other than 0 / -1 (application refusals). */
enum {
	RC_IDEM_CONFLICT = 1,
	RC_SESSION_GONE,
	RC_SESSION_CLOSED,
	RC_SESSION_BUSY,
	RC_QUEUE_FULL,
	RC_AGENT_STALE, /* the guessed agent version was not the active one */
};

static int
rc_idempotency(struct db *db, struct run_txn *t)
{
	struct request_ctx *ctx = t->ctx;
	struct db_param p[4];
	struct db_result *res;
	int live, same;

	p[0] = dbp_str(ctx->auth.workspace_id);
	p[1] = dbp_str(t->idem_key);
	if (db_query(db, rc_sql_idem_get, p, 2, &res) == -1)
		return -1;
	if (res->nrows > 0) {
		live = db_cell_int(res, 0, 3, 0) == 1;
		same = res->len[0] == sizeof(t->req_hash) &&
		    sodium_memcmp(db_cell(res, 0, 0), t->req_hash, sizeof(t->req_hash)) == 0;
		if (live) {
			int rc = 0;

			if (!same)
				rc = RC_IDEM_CONFLICT;
			else {
				t->replay = 1;
				t->idem_status = (int)db_cell_int(res, 0, 2, 201);
				snprintf(t->run_id, sizeof(t->run_id), "%s",
				    db_cell(res, 0, 1) != NULL ? db_cell(res, 0, 1) : "");
			}
			db_result_free(res);
			return rc;
		}
		db_result_free(res);
		if (db_query(db, rc_sql_idem_delete, p, 2, NULL) == -1)
			return -1;
	} else
		db_result_free(res);
	p[2] = DBP_BLOB(t->req_hash, sizeof(t->req_hash));
	p[3] = dbp_str(t->run_id);
	return db_query(db, rc_sql_idem_insert, p, 4, NULL);
}

/* Inserts a new session whose active run is t->run_id, with seq 1 taken. */
static int
rc_new_session(struct db *db, struct run_txn *t)
{
	struct db_param p[6];

	id_new(t->session_id);
	p[0] = dbp_str(t->session_id);
	p[1] = dbp_str(t->ctx->auth.workspace_id);
	p[2] = dbp_str(t->av.agent_id);
	p[3] = DBP_INT(t->av.version);
	p[4] = dbp_str(t->av.version_id);
	p[5] = dbp_str(t->run_id);
	return db_query(db, rc_sql_session_insert, p, 6, NULL);
}

static long long
rc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A rollup key (workspace, agent, user, provider, model) as a 64-bit FNV-1a hash. */
static unsigned long long
rc_usage_key(const char *const parts[5])
{
	unsigned long long h = 14695981039346656037ULL;

	for (size_t i = 0; i < 5; i++) {
		for (const char *c = parts[i] != NULL ? parts[i] : ""; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL; /* separator: no byte of UTF-8 text */
	}
	return h;
}

/* Recently contended rollup keys, per process (handlers run one at a time: worker.c). */
static struct {
	unsigned long long key;
	long long until;
} rc_spread[RC_USAGE_SPREAD_KEYS];

/* 1 when the rollup key goes to this worker's own slot without trying slot 0. */
static int
rc_spread_get(unsigned long long key)
{
	size_t k = key % RC_USAGE_SPREAD_KEYS;

	return rc_spread[k].key == key && rc_now_ns() < rc_spread[k].until;
}

/* Slot 0 of key was found locked: keep to the own slot for RC_USAGE_SPREAD_NS. */
static void
rc_spread_set(unsigned long long key)
{
	size_t k = key % RC_USAGE_SPREAD_KEYS;

	rc_spread[k].key = key;
	rc_spread[k].until = rc_now_ns() + RC_USAGE_SPREAD_NS;
}

static unsigned long long
rc_usage_key_of(const struct run_txn *t)
{
	const char *parts[5] = { t->ctx->auth.workspace_id, t->av.agent_id, t->ctx->auth.user_id,
		t->provider, t->model };

	return rc_usage_key(parts);
}

/*
 * Counts the run in usage_daily: in the key's slot 0 row when that row is
 * free, else in this worker's own slot, and keeps to its own slot for that
 * key for RC_USAGE_SPREAD_NS, so concurrent creates of one key do not queue
 * on one row lock. Keys nobody contends for keep their single slot 0 row.
 * 0 or -1.
 */
static int
rc_usage(struct db *db, struct run_txn *t)
{
	struct request_ctx *ctx = t->ctx;
	unsigned long long key = rc_usage_key_of(t);
	const char *parts[5] = { ctx->auth.workspace_id, t->av.agent_id, ctx->auth.user_id,
		t->provider, t->model };
	int try0 = !rc_spread_get(key);
	long long slot = createnew_usage(db, parts, 1, try0);

	if (slot == -1)
		return -1;
	if (try0 && slot != 0)
		rc_spread_set(key);
	return 0;
}

/*
 * The run's own columns, parent_run_id … created_by_key_id, in the order
 * both the run INSERT and run_create_new() take them. Fills 13 params.
 */
static size_t
rc_run_columns(const struct run_txn *t, struct db_param *p)
{
	const struct run_request *rr = t->rr;
	const struct request_ctx *ctx = t->ctx;
	size_t n = 0;

	p[n++] = dbp_str(rr->parent_run_id);
	p[n++] = dbp_str(rr->experiment_id);
	p[n++] = dbp_str(rr->experiment_candidate_id);
	p[n++] = dbp_str(rr->route_id);
	p[n++] = dbp_str(rr->persona_id);
	p[n++] = dbp_str(t->provider);
	p[n++] = dbp_str(t->model);
	p[n++] = dbp_str(t->input_text);
	p[n++] = dbp_str(t->metadata_text);
	p[n++] = dbp_str(t->trace_id);
	p[n++] = dbp_str(t->span_id);
	p[n++] = dbp_str(ctx->auth.user_id);
	p[n++] = dbp_str(ctx->auth.key_id);
	return n;
}

/*
 * rc_txn() for a new session without an Idempotency-Key: the statements of
 * run_create_new, alone (one CALL) or in this worker's next group commit
 * (createnew.c). t->view receives the Run's columns. A retry that finds its
 * run already there (an earlier attempt committed, its answer was lost)
 * answers that run. 0, -1, or RC_AGENT_STALE when t->guessed and the guess
 * was wrong (nothing written).
 */
static int
rc_create_new(struct run_txn *t)
{
	struct request_ctx *ctx = t->ctx;
	struct run_request *rr = t->rr;
	struct createnew_job job;
	unsigned long long key;
	json_t *data;
	char *event;
	size_t n = 0;
	int rc = -1, try0;

	id_new(t->run_id);
	id_new(t->session_id);
	id_new(t->message_id);
	data = json_pack("{s:s, s:b}", "status", "pending", "queued", 0);
	event = json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(data);
	if (event == NULL)
		return -1;
	key = rc_usage_key_of(t);
	try0 = !rc_spread_get(key);
	memset(&job, 0, sizeof(job));
	job.deadline_ms = db_deadline(ctx->db);
	job.p[n++] = dbp_str(ctx->auth.workspace_id);
	job.p[n++] = dbp_str(t->run_id);
	job.p[n++] = dbp_str(t->session_id);
	job.p[n++] = dbp_str(t->message_id);
	job.p[n++] = dbp_str(t->av.agent_id);
	job.p[n++] = DBP_INT(t->av.version);
	job.p[n++] = dbp_str(t->av.version_id);
	n += rc_run_columns(t, job.p + n);
	job.p[n++] = dbp_str(rr->multitask);
	job.p[n++] = dbp_str(t->user_turn);
	job.p[n++] = dbp_str(event);
	job.p[n++] = DBP_INT(try0);
	job.p[n++] = DBP_INT(createnew_own_slot());
	job.p[n++] = DBP_INT(t->guessed);
	if (createnew_batching()) {
		createnew_submit(&job);
		t->rung = job.out == CN_OK;
	} else
		createnew_run(ctx->db, &job);
	switch (job.out) {
	case CN_OK:
		db_result_free(t->view);
		t->view = job.view;
		rc = 0;
		if (try0 && job.slot != 0)
			rc_spread_set(key);
		break;
	case CN_STALE: rc = t->guessed ? RC_AGENT_STALE : -1; break;
	case CN_DUPLICATE: rc = runview_load(ctx, t->run_id, &t->view) == 1 ? 0 : -1; break;
	case CN_FAILED:
		t->fail_err = job.err;
		t->fail_errno = job.err_no;
		ctx->outcome_unknown = job.maybe_committed;
		break;
	}
	free(event);
	return rc;
}

/* Inserts the run; t->view receives its columns as inserted. */
static int
rc_insert_run(struct db *db, struct run_txn *t, int queued)
{
	struct request_ctx *ctx = t->ctx;
	struct run_request *rr = t->rr;
	struct db_param p[23];
	size_t n = 0;

	p[n++] = dbp_str(t->run_id);
	p[n++] = dbp_str(ctx->auth.workspace_id);
	p[n++] = dbp_str(t->av.agent_id);
	p[n++] = DBP_INT(t->av.version);
	p[n++] = dbp_str(t->av.version_id);
	p[n++] = dbp_str(t->session_id);
	n += rc_run_columns(t, p + n);
	p[n++] = dbp_str(t->idem_key);
	p[n++] = dbp_str(rr->multitask);
	p[n++] = DBP_INT(queued);
	p[n++] = DBP_INT(queued);
	db_result_free(t->view);
	t->view = NULL;
	if (db_query(db, rc_sql_run_insert, p, n, &t->view) == -1)
		return -1;
	if (t->view->nrows != 1)
		return -1;
	return 0;
}

/*
 * 0 when the locked session's queue has room for one more run
 * (api.max_queued_runs_per_session), RC_QUEUE_FULL when not, -1.
 */
static int
rc_queue_room(struct db *db, struct run_txn *t)
{
	long long max = t->ctx->cfg->api_max_queued_runs_per_session;
	struct db_param p[2] = { dbp_str(t->session_id), DBP_INT(max) };
	struct db_result *res;
	long long n;

	if (db_query(db, rc_sql_queued_count, p, 2, &res) == -1)
		return -1;
	n = db_cell_int(res, 0, 0, 0);
	db_result_free(res);
	return n >= max ? RC_QUEUE_FULL : 0;
}

/* The one transaction of a run's creation. Re-runnable from the top. */
static int
rc_txn(struct db *db, void *arg)
{
	struct run_txn *t = arg;
	struct request_ctx *ctx = t->ctx;
	struct run_request *rr = t->rr;
	struct evlog_batch b;
	struct db_param p[5];
	json_t *data;
	int found, queued = 0, rc;

	t->replay = 0;
	id_new(t->run_id);
	if (t->idem_key != NULL && (rc = rc_idempotency(db, t)) != 0)
		return rc;
	if (t->replay)
		return 0;

	if (rr->session_id == NULL) {
		/* Nothing to lock or check: the session is new and is the run's. */
		if (rc_new_session(db, t) == -1)
			return -1;
		evlog_begin_new(&b, ctx->auth.workspace_id, t->session_id, 1);
		if (rc_insert_run(db, t, 0) == -1)
			return -1;
		goto turn;
	}
	snprintf(t->session_id, sizeof(t->session_id), "%s", rr->session_id);
	if ((found = evlog_begin(db, ctx->auth.workspace_id, t->session_id, &b)) == -1)
		return -1;
	if (found == 0)
		return RC_SESSION_GONE;
	if (!b.session_open)
		return RC_SESSION_CLOSED;

	/* At most one active run per session. */
	if (b.active_run_id[0] != '\0') {
		if (strcmp(rr->multitask, "reject") == 0)
			return RC_SESSION_BUSY;
		if (strcmp(rr->multitask, "interrupt") == 0) {
			struct run_state st;

			found = runops_lock(db, ctx->auth.workspace_id, b.active_run_id, &st);
			if (found == -1)
				return -1;
			if (found == 1 &&
			    runops_cancel(db, &b, &st, ctx->auth.user_id) == RUNOPS_ERROR)
				return -1;
		}
		queued = b.active_run_id[0] != '\0';
		if (queued && (rc = rc_queue_room(db, t)) != 0)
			return rc;
	}

	if (rc_insert_run(db, t, queued) == -1)
		return -1;
	if (!queued) {
		p[0] = dbp_str(t->run_id);
		p[1] = dbp_str(t->session_id);
		if (db_query(db, rc_sql_session_active, p, 2, NULL) == -1)
			return -1;
	}
turn:
	id_new(t->message_id);
	p[0] = dbp_str(t->message_id);
	p[1] = dbp_str(ctx->auth.workspace_id);
	p[2] = dbp_str(t->session_id);
	p[3] = dbp_str(t->run_id);
	p[4] = dbp_str(t->user_turn);
	if (db_query(db, rc_sql_message_insert, p, 5, NULL) == -1)
		return -1;
	data = json_pack("{s:s, s:b}", "status", "pending", "queued", queued);
	rc = evlog_add(db, &b, t->run_id, "run.created", data, NULL);
	json_decref(data);
	if (rc == -1 || evlog_finish(db, &b) == -1)
		return -1;
	/* Last: a rollup row stays locked only from here to the COMMIT. */
	return rc_usage(db, t);
}

/* The request hash an Idempotency-Key is bound to: method, path and body. */
static void
rc_request_hash(struct request_ctx *ctx, unsigned char out[crypto_hash_sha256_BYTES])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(
	    &st, (const unsigned char *)ctx->req->method, strlen(ctx->req->method));
	crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
	crypto_hash_sha256_update(
	    &st, (const unsigned char *)ctx->req->path, strlen(ctx->req->path));
	crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
	if (ctx->req->body != NULL)
		crypto_hash_sha256_update(
		    &st, (const unsigned char *)ctx->req->body, ctx->req->body_len);
	crypto_hash_sha256_final(&st, out);
}

static int
rc_idem_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > RUN_IDEM_KEY_MAX)
		return 0;
	for (const char *p = k; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return 1;
}

/* Validates what depends on the resolved version and the workspace. 0 or -1 (sent). */
static int
rc_check(struct run_txn *t)
{
	struct request_ctx *ctx = t->ctx;
	struct run_request *rr = t->rr;
	struct db_result *res;
	struct db_param p[2];
	const char *prov = json_string_value(json_object_get(t->av.model, "provider"));
	const char *name = json_string_value(json_object_get(t->av.model, "name"));

	snprintf(t->provider, sizeof(t->provider), "%s", prov != NULL ? prov : "");
	snprintf(t->model, sizeof(t->model), "%s", name != NULL ? name : "");
	p[0] = dbp_str(ctx->auth.workspace_id);
	if (rr->route_id != NULL) {
		struct byok_route route;
		int found = byok_route_load(ctx, rr->route_id, &route);

		if (found == -1)
			return api_db_failure(ctx, "route_get"), -1;
		if (found == 0)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
				   json_pack("{s:s}", "field", "route_id"),
				   "route_id: no such route"),
			       -1;
		/* A route overrides the version's model for this run. */
		snprintf(t->provider, sizeof(t->provider), "%s", route.provider);
		snprintf(t->model, sizeof(t->model), "%s", route.model);
	}
	if (rr->parent_run_id != NULL) {
		int found = 0;

		if (id_valid(rr->parent_run_id)) {
			p[1] = dbp_str(rr->parent_run_id);
			if (db_query(ctx->db, rc_sql_parent, p, 2, &res) == -1)
				return api_db_failure(ctx, "parent_get"), -1;
			found = res->nrows > 0;
			db_result_free(res);
		}
		if (!found)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
				   json_pack("{s:s}", "field", "parent_run_id"),
				   "parent_run_id: no such run"),
			       -1;
	}
	if (t->av.input_schema != NULL) {
		json_t *violations = json_array();
		int n = jsonschema_validate(t->av.input_schema, rr->input, violations);

		if (n != 0) {
			if (n < 0) {
				json_decref(violations);
				return http_send_error(
					   ctx->req, 500, ERR_INTERNAL, NULL, "internal error"),
				       -1;
			}
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
				   json_pack(
				       "{s:s, s:o}", "field", "input", "violations", violations),
				   "input does not match the agent version's input_schema (%d "
				   "violation%s)",
				   n, n == 1 ? "" : "s"),
			       -1;
		}
		json_decref(violations);
	}
	return 0;
}

/*
 * Whether the agent version may be guessed from this worker's cache
 * (agentref_guess_active()) and verified by run_create_new: a new session
 * from an agent_id without a version, and nothing else in the request whose
 * checks could answer differently had the version been resolved first (an
 * input_schema, a route, a parent run: see rc_prepare()).
 */
static int
rc_may_guess(const struct run_txn *t)
{
	const struct run_request *rr = t->rr;

	return rr->session_id == NULL && !rr->use_session_version && t->idem_key == NULL &&
	    rr->agent_id != NULL && rr->persona_id == NULL &&
	    (rr->version == NULL || json_is_null(rr->version)) && rr->pinned_version == 0 &&
	    rr->route_id == NULL && rr->parent_run_id == NULL;
}

/* Resolves t->av from the database: rr's agent, or its session's version. 0, or -1 (sent). */
static int
rc_resolve(struct run_txn *t)
{
	struct request_ctx *ctx = t->ctx;
	struct run_request *rr = t->rr;
	struct db_result *res = NULL;

	if (rr->use_session_version) {
		struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(rr->session_id) };
		char vid[ID_BUFSZ];
		int found;

		if (db_query(ctx->db, rc_sql_session_version, p, 2, &res) == -1)
			return api_db_failure(ctx, "session_get"), -1;
		if (res->nrows == 0) {
			db_result_free(res);
			return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL,
				   "session %s not found", rr->session_id),
			       -1;
		}
		snprintf(vid, sizeof(vid), "%s", db_cell(res, 0, 0));
		db_result_free(res);
		if ((found = agentref_load_id(ctx, vid, &t->av)) != 1) {
			if (found == -1)
				return api_db_failure(ctx, "version_get"), -1;
			return http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
				   "the session's agent version no longer exists"),
			       -1;
		}
		if (strcmp(t->av.status, "active") != 0)
			return http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
				   "the session's agent version %lld is %s, not active",
				   t->av.version, t->av.status),
			       -1;
	} else {
		json_t *pinned = rr->pinned_version > 0 ? json_integer(rr->pinned_version) : NULL;
		int r = agentref_resolve(ctx, rr->agent_id, rr->persona_id,
		    pinned != NULL ? pinned : rr->version, 1, &t->av);

		json_decref(pinned);
		if (r == -1)
			return -1;
	}
	return 0;
}

/*
 * Resolves the agent version (t->av), checks the request against it and
 * renders the user turn (t->user_turn); what it held before is released.
 * guess: take agentref_guess_active()'s version when it has no input_schema
 * (t->guessed is then set; run_create_new verifies it). 0, or -1 after
 * sending the error.
 */
static int
rc_prepare(struct run_txn *t, int guess)
{
	struct request_ctx *ctx = t->ctx;
	struct run_request *rr = t->rr;

	agentref_clear(&t->av);
	free(t->user_turn);
	t->user_turn = NULL;
	t->guessed = 0;
	if (guess && agentref_guess_active(ctx, rr->agent_id, &t->av) == 1) {
		if (t->av.input_schema == NULL)
			t->guessed = 1;
		else
			agentref_clear(&t->av);
	}
	if (!t->guessed && rc_resolve(t) == -1)
		return -1;
	if (rc_check(t) == -1)
		return -1;
	t->user_turn = rr->message != NULL ? strdup(rr->message)
					   : prompt_render_user(t->av.prompt_template, rr->input);
	if (t->user_turn == NULL)
		return http_send_error(ctx->req, 500, ERR_INTERNAL, NULL, "out of memory"), -1;
	return 0;
}

/*
 * Creates the run rr describes and answers 201 (or the idempotent replay,
 * or the error). extra (stolen, may be NULL) is merged into the response.
 * rr->input is consumed.
 */
static int
runs_create(struct request_ctx *ctx, struct run_request *rr, json_t *extra)
{
	struct run_txn t;
	struct db_result *res = NULL;
	json_t *view;
	int rc = -1, tries;

	memset(&t, 0, sizeof(t));
	t.ctx = ctx;
	t.rr = rr;
	if (ctx->req->idempotency_key != NULL) {
		if (!rc_idem_key_ok(ctx->req->idempotency_key)) {
			http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", "Idempotency-Key"),
			    "Idempotency-Key: 1 to %d printable ASCII characters",
			    RUN_IDEM_KEY_MAX);
			goto out;
		}
		t.idem_key = ctx->req->idempotency_key;
		rc_request_hash(ctx, t.req_hash);
	}
	if (rc_prepare(&t, rc_may_guess(&t)) == -1)
		goto out;
	id_random_hex(t.trace_id, 16);
	id_random_hex(t.span_id, 8);
	t.input_text = json_dumps(rr->input, JSON_COMPACT | JSON_REAL_PRECISION(15));
	t.metadata_text = rr->metadata != NULL
	    ? json_dumps(rr->metadata, JSON_COMPACT | JSON_REAL_PRECISION(15))
	    : strdup("{}");
	if (t.input_text == NULL || t.metadata_text == NULL) {
		http_send_error(ctx->req, 500, ERR_INTERNAL, NULL, "out of memory");
		goto out;
	}

	/* A concurrent first use of the same Idempotency-Key loses the insert: re-run. */
	if (rr->session_id == NULL && t.idem_key == NULL) {
		rc = rc_create_new(&t);
		if (rc == RC_AGENT_STALE) {
			agentref_forget_active(ctx, t.av.agent_id);
			if (rc_prepare(&t, 0) == -1)
				goto out;
			rc = rc_create_new(&t);
		}
	} else
		for (tries = 0; tries < RUN_CREATE_TRIES; tries++) {
			rc = db_txn(ctx->db, rc_txn, &t);
			if (!(rc == -1 && db_last_err(ctx->db) == DB_ERR_DUPLICATE &&
				t.idem_key != NULL))
				break;
		}
	switch (rc) {
	case 0: break;
	case RC_IDEM_CONFLICT:
		http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
		    "Idempotency-Key was already used with a different request");
		goto out;
	case RC_SESSION_GONE:
		http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "session %s not found", t.session_id);
		goto out;
	case RC_SESSION_CLOSED:
		http_send_error(
		    ctx->req, 409, ERR_CONFLICT, NULL, "session %s is closed", t.session_id);
		goto out;
	case RC_SESSION_BUSY:
		http_send_error(ctx->req, 409, ERR_CONFLICT,
		    json_pack("{s:s}", "session_id", t.session_id),
		    "session %s already has an active run; send \"multitask\": \"enqueue\" or "
		    "\"interrupt\"",
		    t.session_id);
		goto out;
	case RC_QUEUE_FULL:
		http_send_error(ctx->req, 409, ERR_CONFLICT,
		    json_pack("{s:s, s:I, s:s}", "session_id", t.session_id, "queued",
			(json_int_t)ctx->cfg->api_max_queued_runs_per_session, "limit",
			"api.max_queued_runs_per_session"),
		    "session %s already has %lld queued runs (api.max_queued_runs_per_session); "
		    "wait for them to start or cancel some",
		    t.session_id, ctx->cfg->api_max_queued_runs_per_session);
		goto out;
	default:
		if (t.fail_err != DB_OK)
			api_db_failure_of(ctx, "run_create", t.fail_err, t.fail_errno);
		else
			api_db_failure(ctx, "run_create");
		goto out;
	}
	rc = -1;
	if (!t.replay) {
		if (!t.rung) {
			doorbell_ring(ctx->cfg->doorbell_executor);
			doorbell_ring(ctx->cfg->doorbell_stream);
		}
		res = t.view;
		t.view = NULL;
	} else if (runview_load(ctx, t.run_id, &res) != 1) {
		api_db_failure(ctx, "run_get");
		goto out;
	}
	if (extra == NULL) {
		rc = runview_send_run_as(ctx, res, 0, t.replay ? t.idem_status : 201);
		goto out;
	}
	view = runview_run(res, 0, ctx->cfg->billing_credits_per_usd);
	json_object_update(view, extra);
	if (!t.replay && rr->message != NULL)
		json_object_set_new(view, "message_id", json_string(t.message_id));
	rc = http_send_json(ctx->req, t.replay ? t.idem_status : 201, view);
out:
	json_decref(extra);
	db_result_free(res);
	db_result_free(t.view);
	agentref_clear(&t.av);
	free(t.user_turn);
	free(t.input_text);
	free(t.metadata_text);
	json_decref(rr->input);
	rr->input = NULL;
	return rc;
}

/* A string field that counts as run content: at most 32 KiB (413 beyond). */
static int
rc_content(struct request_ctx *ctx, json_t *obj, const char *name, int flags, const char **out)
{
	json_t *v = json_object_get(obj, name);

	if (json_is_string(v) && json_string_length(v) > RUN_CONTENT_MAX)
		return http_send_error(ctx->req, 413, ERR_PAYLOAD_TOO_LARGE,
			   json_pack("{s:s}", "field", name), "%s: at most %d bytes", name,
			   RUN_CONTENT_MAX),
		       -1;
	return params_string(ctx, obj, name, flags, RUN_CONTENT_MAX, out);
}

/*
 * The input's own content fields obey the same limit; the error names the
 * field that was too large ("input.prompt", or "config.prompt" when the
 * body used the alias), as the message does.
 */
static int
rc_input_limits(struct request_ctx *ctx, json_t *input, const char *base)
{
	static const char *const fields[] = { "prompt", "message", "content" };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *v = json_object_get(input, fields[i]);
		char field[32];

		if (!json_is_string(v) || json_string_length(v) <= RUN_CONTENT_MAX)
			continue;
		snprintf(field, sizeof(field), "%s.%s", base, fields[i]);
		return http_send_error(ctx->req, 413, ERR_PAYLOAD_TOO_LARGE,
			   json_pack("{s:s}", "field", field), "%s: at most %d bytes", field,
			   RUN_CONTENT_MAX),
		       -1;
	}
	return 0;
}

/*
 * Parses the fields every creating body may carry into rr (borrowing from
 * body). allow_agent: agent_id / persona_id / version are read.
 * Returns 0, or -1 after sending 400/413.
 */
static int
rc_parse_common(struct request_ctx *ctx, json_t *body, struct run_request *rr, int allow_agent)
{
	static const char *const modes[] = { "reject", "enqueue", "interrupt", NULL };
	const char *prompt = NULL, *content = NULL;
	json_t *in;

	if (allow_agent) {
		if (params_string(ctx, body, "agent_id", FIELD_NULLABLE, 64, &rr->agent_id) == -1 ||
		    params_string(ctx, body, "persona_id", FIELD_NULLABLE, 255, &rr->persona_id) ==
			-1)
			return -1;
		rr->version = json_object_get(body, "version");
	}
	if (params_string(ctx, body, "session_id", FIELD_NULLABLE, 64, &rr->session_id) == -1 ||
	    params_string(ctx, body, "route_id", FIELD_NULLABLE, 64, &rr->route_id) == -1 ||
	    params_string(ctx, body, "parent_run_id", FIELD_NULLABLE, 64, &rr->parent_run_id) ==
		-1 ||
	    params_string(ctx, body, "experiment_id", FIELD_NULLABLE, 255, &rr->experiment_id) ==
		-1 ||
	    params_string(ctx, body, "experiment_candidate_id", FIELD_NULLABLE, 255,
		&rr->experiment_candidate_id) == -1 ||
	    params_enum(ctx, body, "multitask", FIELD_NULLABLE, modes, &rr->multitask) == -1 ||
	    rc_content(ctx, body, "prompt", FIELD_NULLABLE, &prompt) == -1 ||
	    rc_content(ctx, body, "content", FIELD_NULLABLE, &content) == -1)
		return -1;
	if (rr->multitask == NULL)
		rr->multitask = "reject";
	if (rr->session_id != NULL && !id_valid(rr->session_id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "session %s not found",
			   rr->session_id),
		       -1;

	rr->metadata = json_object_get(body, "metadata");
	if (rr->metadata != NULL && json_is_null(rr->metadata))
		rr->metadata = NULL;
	if (rr->metadata != NULL) {
		char *text;
		size_t len;

		if (!json_is_object(rr->metadata))
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
				   json_pack("{s:s}", "field", "metadata"),
				   "metadata: must be an object"),
			       -1;
		text = json_dumps(rr->metadata, JSON_COMPACT);
		len = text != NULL ? strlen(text) : 0;
		free(text);
		if (len > RUN_METADATA_MAX)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
				   json_pack("{s:s}", "field", "metadata"),
				   "metadata: at most %d bytes of JSON", RUN_METADATA_MAX),
			       -1;
	}

	/* input, else config (its alias), else prompt / content as the user turn. */
	in = json_object_get(body, "input");
	if (in == NULL || json_is_null(in))
		in = json_object_get(body, "config");
	if (in != NULL && !json_is_null(in)) {
		if (!json_is_object(in))
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
				   json_pack("{s:s}", "field",
				       json_object_get(body, "input") ? "input" : "config"),
				   "input: must be a JSON object"),
			       -1;
		if (rc_input_limits(ctx, in, json_object_get(body, "input") ? "input" : "config") ==
		    -1)
			return -1;
		rr->input = json_deep_copy(in);
		if (prompt != NULL && json_object_get(rr->input, "prompt") == NULL)
			json_object_set_new(rr->input, "prompt", json_string(prompt));
	} else if (prompt != NULL)
		rr->input = json_pack("{s:s}", "prompt", prompt);
	else if (content != NULL)
		rr->input = json_pack("{s:s}", "message", content);
	else
		rr->input = json_object();
	if (rr->input == NULL)
		return http_send_error(ctx->req, 500, ERR_INTERNAL, NULL, "out of memory"), -1;
	return 0;
}

static int
rc_need_agent(struct request_ctx *ctx, struct run_request *rr)
{
	if (rr->agent_id != NULL && rr->persona_id != NULL)
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			   json_pack("{s:s}", "field", "persona_id"),
			   "give agent_id or persona_id, not both"),
		       -1;
	if (rr->agent_id == NULL && rr->persona_id == NULL)
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			   json_pack("{s:s}", "field", "agent_id"),
			   "agent_id or persona_id is required"),
		       -1;
	return 0;
}

/* The entry points that differ only in where the agent and session come from. */
enum rc_entry {
	RC_ENTRY_RUNS,
	RC_ENTRY_AGENT,
	RC_ENTRY_VERSION,
	RC_ENTRY_THREAD
};

static int
rc_entry(struct request_ctx *ctx, enum rc_entry kind)
{
	const char *path_id = ctx->match.params[0];
	struct run_request rr;
	long long n = 0;
	json_t *body;
	int rc = -1;

	memset(&rr, 0, sizeof(rr));
	if (kind == RC_ENTRY_VERSION) {
		char *end;

		n = strtoll(ctx->match.params[1], &end, 10);
		if (*end != '\0' || n < 1 || n > 0x7fffffff)
			return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL,
			    "version %s not found", ctx->match.params[1]);
	}
	if (kind == RC_ENTRY_THREAD && !id_valid(path_id))
		return http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "thread %s not found", path_id);
	/* Only POST /api/v1/runs needs a body: it must name its agent. */
	if (http_json_body(ctx->req, &body, kind != RC_ENTRY_RUNS) == -1)
		return -1;
	if (rc_parse_common(ctx, body, &rr, kind != RC_ENTRY_VERSION) == -1)
		goto out;
	switch (kind) {
	case RC_ENTRY_RUNS:
		/* With only a session_id, the run takes the session's version. */
		rr.use_session_version =
		    rr.agent_id == NULL && rr.persona_id == NULL && rr.session_id != NULL;
		if (!rr.use_session_version && rc_need_agent(ctx, &rr) == -1)
			goto out;
		break;
	case RC_ENTRY_AGENT:
		rr.agent_id = path_id;
		rr.persona_id = NULL;
		break;
	case RC_ENTRY_VERSION:
		rr.agent_id = path_id;
		rr.pinned_version = n;
		break;
	case RC_ENTRY_THREAD:
		/* The thread's own agent version unless a persona is named. */
		rr.session_id = path_id;
		rr.use_session_version = rr.agent_id == NULL && rr.persona_id == NULL;
		if (!rr.use_session_version && rc_need_agent(ctx, &rr) == -1)
			goto out;
		break;
	}
	rc = runs_create(ctx, &rr, NULL);
out:
	json_decref(rr.input);
	json_decref(body);
	return rc;
}

int
h_runs_create(struct request_ctx *ctx)
{
	return rc_entry(ctx, RC_ENTRY_RUNS);
}

int
h_agent_runs_create(struct request_ctx *ctx)
{
	return rc_entry(ctx, RC_ENTRY_AGENT);
}

int
h_version_runs_create(struct request_ctx *ctx)
{
	return rc_entry(ctx, RC_ENTRY_VERSION);
}

int
h_thread_runs_create(struct request_ctx *ctx)
{
	return rc_entry(ctx, RC_ENTRY_THREAD);
}

static const char rc_sql_message_only[] =
    "INSERT INTO messages (id, workspace_id, session_id, run_id, role, content, created_at)"
    " VALUES (?, ?, ?, NULL, 'user', ?, NOW(3))";
static const char rc_sql_message_time[] = "SELECT created_at FROM messages WHERE id = ?";

struct rc_message_txn {
	struct request_ctx *ctx;
	const char *session_id;
	const char *content;
	char message_id[ID_BUFSZ];
	char created_at[40]; /* the row's DATETIME(3) text */
};

/* run: false — only the user turn is appended (under the session lock). */
static int
rc_message_txn(struct db *db, void *arg)
{
	struct rc_message_txn *m = arg;
	struct evlog_batch b;
	struct db_param p[4];
	struct db_result *res = NULL;
	int found;

	if ((found = evlog_begin(db, m->ctx->auth.workspace_id, m->session_id, &b)) != 1)
		return found == 0 ? RC_SESSION_GONE : -1;
	if (!b.session_open)
		return RC_SESSION_CLOSED;
	id_new(m->message_id);
	p[0] = dbp_str(m->message_id);
	p[1] = dbp_str(m->ctx->auth.workspace_id);
	p[2] = dbp_str(m->session_id);
	p[3] = dbp_str(m->content);
	if (db_query(db, rc_sql_message_only, p, 4, NULL) == -1)
		return -1;
	if (db_query(db, rc_sql_message_time, p, 1, &res) == -1)
		return -1;
	if (res->nrows == 1 && db_cell(res, 0, 0) != NULL)
		snprintf(m->created_at, sizeof(m->created_at), "%s", db_cell(res, 0, 0));
	db_result_free(res);
	return 0;
}

int
h_session_message_post(struct request_ctx *ctx)
{
	struct run_request rr;
	const char *content = NULL;
	json_t *body, *run;
	int rc = -1;

	memset(&rr, 0, sizeof(rr));
	if (!id_valid(ctx->match.params[0]))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "session %s not found",
		    ctx->match.params[0]);
	if (http_json_body(ctx->req, &body, 0) == -1)
		return -1;
	run = json_object_get(body, "run");
	if (run != NULL && !json_is_boolean(run) && !json_is_null(run)) {
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "run"), "run: must be a boolean");
		goto out;
	}
	if (rc_content(ctx, body, "content", FIELD_REQUIRED, &content) == -1)
		goto out;
	if (json_is_false(run)) {
		struct rc_message_txn m = { ctx, ctx->match.params[0], content, "", "" };

		rc = db_txn(ctx->db, rc_message_txn, &m);
		if (rc == RC_SESSION_GONE)
			rc = http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL,
			    "session %s not found", m.session_id);
		else if (rc == RC_SESSION_CLOSED)
			rc = http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
			    "session %s is closed", m.session_id);
		else if (rc != 0)
			rc = api_db_failure(ctx, "message_create");
		else
			/* The Message object; message_id (= id) as answered before. */
			rc = http_send_json(ctx->req, 201,
			    json_pack("{s:s, s:s, s:s, s:n, s:s, s:s, s:o}", "id", m.message_id,
				"message_id", m.message_id, "session_id", m.session_id, "run_id",
				"role", "user", "content", content, "created_at",
				jv_time(m.created_at[0] != '\0' ? m.created_at : NULL)));
		goto out;
	}
	if (rc_parse_common(ctx, body, &rr, 0) == 0) {
		rr.session_id = ctx->match.params[0];
		rr.use_session_version = 1;
		rr.message = content;
		rc = runs_create(ctx, &rr, json_object());
	}
out:
	json_decref(rr.input);
	json_decref(body);
	return rc;
}
