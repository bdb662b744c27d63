/*
 * Set-based group commit: a batch of runs' ops in a fixed number of
 * statements per batch (each split into chunks of at most
 * DBROWS_CHUNK_MAX rows), instead of a dozen statements per run. MariaDB
 * spends far more per statement than per row, so this is what lets one
 * executor finish thousands of runs a second (docs/performance.md).
 *
 * Inside the caller's transaction, in this order (the API's lock order is
 * session row first, then run rows; here every chunk goes in id order):
 *  1. lock the batch's sessions and read their last_seq and active run;
 *  2. lock the batch's run rows and read their lease tokens: a run whose
 *     token changed was taken over by another executor (fencing) and its
 *     ops are dropped, as are the ops of a run whose session is gone;
 *  3. walk each live run's ops in queue order into row sets: events (seq
 *     from the session's counter, so seq order stays commit order),
 *     messages, steps, model calls (usage summed per usage_daily key), and
 *     one merged change per run row (start, progress, totals, status);
 *  4. send every row set;
 *  5. a run that ended hands its session to the session's oldest queued run;
 *  6. store each touched session's last_seq and active run;
 *  7. add the usage to usage_daily. Last, so its rows, which every writer
 *     lane and executor shares (one per workspace, day, agent, user and
 *     model), are locked only for the commit (writer.c).
 */
#include "wrbatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/db.h"
#include "../core/dbrows.h"
#include "../core/log.h"
#include "../core/money.h"
#include "xrun.h"

static struct dbrows_template wb_t_lock_sessions =
    DBROWS_TEMPLATE("SELECT id, workspace_id, last_seq, active_run_id FROM sessions WHERE id IN (",
	"?", ", ", ") FOR UPDATE", 0, 1);
static struct dbrows_template wb_t_lock_runs =
    DBROWS_TEMPLATE("SELECT id, lease_token, cancel_requested FROM runs WHERE id IN (", "?", ", ",
	") FOR UPDATE", 0, 1);
static struct dbrows_template wb_t_events = DBROWS_TEMPLATE(
    "INSERT INTO events (session_id, seq, workspace_id, run_id, type, data, created_at) VALUES ",
    "(?, ?, ?, ?, ?, ?, NOW(3))", ", ", "", 0, 6);
static struct dbrows_template wb_t_messages =
    DBROWS_TEMPLATE("INSERT IGNORE INTO messages (id, workspace_id, session_id, run_id, role,"
		    " content, tool_call_id, tool_name, tool_calls, dedup_key, created_at) VALUES ",
	"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(3))", ", ", "", 0, 10);
static struct dbrows_template wb_t_steps =
    DBROWS_TEMPLATE("INSERT IGNORE INTO steps (id, run_id, workspace_id, step_index, attempt, kind,"
		    " name, status, call_id, error_code, error_message, started_at, finished_at,"
		    " duration_ms) VALUES ",
	"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(3), NOW(3), ?)", ", ", "", 0, 12);
static struct dbrows_template wb_t_llm_seen =
    DBROWS_TEMPLATE("SELECT step_id FROM llm_calls WHERE step_id IN (", "?", ", ", ")", 0, 1);
static struct dbrows_template wb_t_llm = DBROWS_TEMPLATE(
    "INSERT IGNORE INTO llm_calls (id, workspace_id, run_id, step_id, session_id, agent_id,"
    " user_id, provider, model, prompt_tokens, cached_tokens, cache_write_tokens,"
    " completion_tokens, cost_nusd, priced, input_per_mtok_nusd, cached_input_per_mtok_nusd,"
    " cache_write_per_mtok_nusd, output_per_mtok_nusd, duration_ms, created_at) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(3))", ", ", "", 0, 20);
static struct dbrows_template wb_t_usage = DBROWS_TEMPLATE(
    "INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model, runs,"
    " calls, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, cost_nusd)"
    " VALUES ",
    "(?, UTC_DATE(), ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)", ", ",
    " ON DUPLICATE KEY UPDATE calls = calls + VALUES(calls),"
    " prompt_tokens = prompt_tokens + VALUES(prompt_tokens),"
    " cached_tokens = cached_tokens + VALUES(cached_tokens),"
    " cache_write_tokens = cache_write_tokens + VALUES(cache_write_tokens),"
    " completion_tokens = completion_tokens + VALUES(completion_tokens),"
    " cost_nusd = cost_nusd + VALUES(cost_nusd)",
    0, 11);
/*
 * One merged change per run row, joined from a derived table of the batch's
 * values. mode: 0 = still running, 1 = parked (waiting), 2 = terminal. Each
 * SET reads only v and the column it sets (multi-table UPDATE gives no
 * left-to-right guarantee), except that a parked run's runnable_at is its
 * deadline, so that it is claimed then and ends `timeout` (schema.md):
 * deadline_at as it was before this statement, or, when this batch also
 * starts the run, the same NOW(3) + timeout_s the start sets. The ascii columns get their values cast to
 * ascii_bin: a derived column whose rows mix NULL and text (a failed run
 * beside a completed one) is utf8mb4 text that IF() refuses to mix with an
 * ascii_bin column (error 1267), which failed the whole batch.
 */
static struct dbrows_template wb_t_runs = DBROWS_TEMPLATE("UPDATE runs r JOIN (",
    "SELECT ? AS id, ? AS start, ? AS timeout_s, ? AS output, ? AS steps, ? AS consume,"
    " ? AS pt, ? AS ct, ? AS cw, ? AS co, ? AS cost, ? AS mode, ? AS status,"
    " ? AS waiting_kind, ? AS waiting_call_id, ? AS waiting_prompt, ? AS error_code,"
    " ? AS error_message",
    " UNION ALL ",
    ") v ON r.id = v.id SET"
    " r.status = IF(v.mode > 0, v.status, IF(v.start > 0, 'running', r.status)),"
    " r.started_at = IF(v.start > 0, COALESCE(r.started_at, FROM_UNIXTIME(v.start / 1000)),"
    " r.started_at),"
    " r.deadline_at = IF(v.start > 0, COALESCE(r.deadline_at,"
    " FROM_UNIXTIME(v.start / 1000) + INTERVAL v.timeout_s SECOND), r.deadline_at),"
    " r.output = IF(v.mode = 2, v.output, COALESCE(v.output, r.output)),"
    " r.steps = r.steps + v.steps,"
    " r.resume_input = IF(v.consume = 1 OR v.mode = 2, NULL, r.resume_input),"
    " r.prompt_tokens = r.prompt_tokens + v.pt,"
    " r.cached_tokens = r.cached_tokens + v.ct,"
    " r.cache_write_tokens = r.cache_write_tokens + v.cw,"
    " r.completion_tokens = r.completion_tokens + v.co,"
    " r.cost_nusd = r.cost_nusd + v.cost,"
    " r.waiting_kind = IF(v.mode = 1, v.waiting_kind, IF(v.mode = 2, NULL, r.waiting_kind)),"
    " r.waiting_call_id = IF(v.mode = 1,"
    " CAST(v.waiting_call_id AS CHAR CHARACTER SET ascii) COLLATE ascii_bin,"
    " IF(v.mode = 2, NULL, r.waiting_call_id)),"
    " r.waiting_prompt = IF(v.mode = 1, v.waiting_prompt,"
    " IF(v.mode = 2, NULL, r.waiting_prompt)),"
    " r.error_code = IF(v.mode = 2,"
    " CAST(v.error_code AS CHAR CHARACTER SET ascii) COLLATE ascii_bin, r.error_code),"
    " r.error_message = IF(v.mode = 2, v.error_message, r.error_message),"
    " r.ended_at = IF(v.mode = 2, NOW(3), r.ended_at),"
    " r.completed_at = IF(v.mode = 2 AND v.status = 'completed', NOW(3), r.completed_at),"
    " r.failed_at = IF(v.mode = 2 AND v.status IN ('failed', 'timeout'), NOW(3), r.failed_at),"
    " r.cancelled_at = IF(v.mode = 2 AND v.status = 'cancelled', NOW(3), r.cancelled_at),"
    " r.owner = IF(v.mode > 0, NULL, r.owner),"
    " r.lease_token = IF(v.mode > 0, NULL, r.lease_token),"
    " r.lease_until = IF(v.mode > 0, NULL, r.lease_until),"
    " r.runnable_at = IF(v.mode = 1,"
    " COALESCE(r.deadline_at, NOW(3) + INTERVAL v.timeout_s SECOND),"
    " IF(v.mode = 2, NULL, r.runnable_at)),"
    " r.queued = IF(v.mode = 2, 0, r.queued),"
    " r.updated_at = NOW(3)",
    0, 18);
static struct dbrows_template wb_t_queued =
    DBROWS_TEMPLATE("SELECT session_id, id FROM runs WHERE queued = 1 AND session_id IN (", "?",
	", ", ") ORDER BY session_id, id FOR UPDATE", 0, 1);
static struct dbrows_template wb_t_promote =
    DBROWS_TEMPLATE("UPDATE runs SET queued = 0, runnable_at = NOW(3), updated_at = NOW(3)"
		    " WHERE id IN (",
	"?", ", ", ")", 0, 1);
static struct dbrows_template wb_t_sessions = DBROWS_TEMPLATE("UPDATE sessions s JOIN (",
    "SELECT ? AS id, ? AS last_seq, ? AS set_active, ? AS active_run_id", " UNION ALL ",
    ") v ON s.id = v.id SET s.last_seq = v.last_seq,"
    " s.active_run_id = IF(v.set_active = 1, NULLIF(v.active_run_id, ''), s.active_run_id),"
    " s.updated_at = NOW(3)",
    0, 4);

struct wb_session {
	const char *id; /* borrowed from a run */
	char workspace_id[ID_BUFSZ];
	int found;
	long long last_seq, next_seq;
	char active[ID_BUFSZ]; /* "" when none */
	int releasing; /* its active run ended in this batch */
	int set_active;
};

/* One run's merged change to its runs row. */
struct wb_run {
	struct xrun *r;
	struct xop *ops;
	struct wb_session *s;
	int locked; /* row found with this executor's lease token */
	int cancel; /* cancel_requested, as locked: an ending run ends cancelled */
	int start, consume, mode;
	long long steps;
	long long tot[5]; /* prompt, cached, cache_write, completion, cost */
	const char *output; /* JSON text (kept by the runs row set) */
	const char *status, *waiting_kind, *waiting_call_id, *waiting_prompt;
	const char *error_code, *error_message;
};

struct wb_llm {
	struct wb_run *w;
	const json_t *v;
	const char *step_id; /* kept by the llm row set */
	int seen; /* written before: counted before */
};

struct wb_usage {
	const char *ws, *agent, *user, *provider, *model; /* borrowed */
	long long v[6]; /* calls, prompt, cached, cache_write, completion, cost */
};

struct wb {
	struct wb_run *runs;
	struct wb_run **by_id;
	size_t n;
	struct wb_session *sess;
	size_t nsess;
	struct wb_llm *llm;
	size_t nllm;
	struct wb_usage *usage;
	size_t nusage, usagecap;
	struct dbrows events, messages, steps, llms;
};

static const char *
wb_str(const json_t *v, const char *key)
{
	return json_string_value(json_object_get(v, key));
}

static long long
wb_int(const json_t *v, const char *key)
{
	return json_integer_value(json_object_get(v, key));
}

/* A JSON member as compact text kept by rows; NULL when absent or null. */
static const char *
wb_json_text(struct dbrows *rows, const json_t *v, const char *key)
{
	json_t *m = json_object_get(v, key);

	if (m == NULL || json_is_null(m))
		return NULL;
	return dbrows_keep(
	    rows, json_dumps(m, JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY));
}

static const char *
wb_step_id(struct dbrows *rows, const struct xrun *r, const json_t *v)
{
	char id[96];

	snprintf(id, sizeof(id), "%s:%lld:%lld", r->id, wb_int(v, "step"), wb_int(v, "attempt"));
	return dbrows_keep(rows, strdup(id));
}

static int
wb_cmp_session(const void *key, const void *elem)
{
	return strcmp(key, ((const struct wb_session *)elem)->id);
}

static int
wb_cmp_run_ptr(const void *a, const void *b)
{
	return strcmp((*(struct wb_run *const *)a)->r->id, (*(struct wb_run *const *)b)->r->id);
}

static int
wb_cmp_run_key(const void *key, const void *elem)
{
	return strcmp(key, (*(struct wb_run *const *)elem)->r->id);
}

static int
wb_on_sessions(const struct db_result *res, void *arg)
{
	struct wb *b = arg;

	for (size_t i = 0; i < res->nrows; i++) {
		struct wb_session *s = bsearch(
		    db_cell(res, i, 0), b->sess, b->nsess, sizeof(*b->sess), wb_cmp_session);
		const char *active = db_cell(res, i, 3);

		if (s == NULL)
			continue;
		s->found = 1;
		snprintf(s->workspace_id, sizeof(s->workspace_id), "%s", db_cell(res, i, 1));
		s->last_seq = db_cell_int(res, i, 2, 0);
		s->next_seq = s->last_seq + 1;
		snprintf(s->active, sizeof(s->active), "%s", active != NULL ? active : "");
	}
	return 0;
}

static int
wb_on_runs(const struct db_result *res, void *arg)
{
	struct wb *b = arg;

	for (size_t i = 0; i < res->nrows; i++) {
		struct wb_run **w = bsearch(
		    db_cell(res, i, 0), b->by_id, b->n, sizeof(struct wb_run *), wb_cmp_run_key);
		const char *token = db_cell(res, i, 1);

		if (w != NULL && token != NULL && strcmp(token, (*w)->r->lease_token) == 0) {
			(*w)->locked = 1;
			(*w)->cancel = db_cell_int(res, i, 2, 0) != 0;
		}
	}
	return 0;
}

/* Steps 1 and 2: lock sessions, then runs; marks which runs may write. */
static int
wb_lock(struct db *db, struct wb *b)
{
	struct dbrows ids;
	int rc = -1;

	dbrows_init(&ids, &wb_t_lock_sessions);
	for (size_t i = 0; i < b->nsess; i++) {
		struct db_param p = dbp_str(b->sess[i].id);

		if (dbrows_add(&ids, &p) == -1)
			goto out;
	}
	if (dbrows_exec(db, &ids, NULL, wb_on_sessions, b, NULL) == -1)
		goto out;
	dbrows_free(&ids);
	/*
	 * Run rows in id order: the heartbeat's UPDATE (owner index, then
	 * primary key) locks this executor's runs in that order too.
	 */
	dbrows_init(&ids, &wb_t_lock_runs);
	for (size_t i = 0; i < b->n; i++) {
		struct wb_run *w = b->by_id[i];
		struct db_param p = dbp_str(w->r->id);

		if (!w->s->found || strcmp(w->s->workspace_id, w->r->workspace_id) != 0)
			continue;
		if (dbrows_add(&ids, &p) == -1)
			goto out;
	}
	rc = dbrows_exec(db, &ids, NULL, wb_on_runs, b, NULL);
out:
	dbrows_free(&ids);
	return rc;
}

/*
 * A run whose cancel was accepted (cancel_requested, read under the row
 * lock) ends cancelled even when its step finished before the executor's
 * cancel check saw the request: the API answered the cancel with the run
 * still running, so it must neither end completed nor park waiting for a
 * person (input, approval).
 */
static int
wb_cancel_wins(const struct wb_run *w, const char *status)
{
	return w->cancel && status != NULL &&
	    (strcmp(status, "completed") == 0 || strcmp(status, "waiting_for_input") == 0 ||
		strcmp(status, "awaiting_approval") == 0);
}

/* run.cancelled's data for a run that was about to park: its totals. */
static const char *
wb_cancelled_data(struct wb *b, const struct xrun *r)
{
	char buf[256];

	snprintf(buf, sizeof(buf),
	    "{\"usage\":{\"prompt_tokens\":%lld,\"cached_tokens\":%lld,"
	    "\"cache_write_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld},"
	    "\"cost_usd\":%.9f}",
	    (long long)r->prompt_tokens, (long long)r->cached_tokens,
	    (long long)r->cache_write_tokens, (long long)r->completion_tokens,
	    (long long)(r->prompt_tokens + r->completion_tokens), (double)r->cost_nusd / 1e9);
	return dbrows_keep(&b->events, strdup(buf));
}

static int
wb_event(struct wb *b, struct wb_run *w, const struct xop *op)
{
	struct db_param p[6];
	const char *type = op->type, *text = op->text;

	if (type != NULL && strncmp(type, "run.", 4) == 0 && wb_cancel_wins(w, type + 4)) {
		if (strcmp(type, "run.completed") != 0 &&
		    (text = wb_cancelled_data(b, w->r)) == NULL)
			return -1;
		type = "run.cancelled";
	}

	p[0] = dbp_str(w->r->session_id);
	p[1] = DBP_INT(w->s->next_seq++);
	p[2] = dbp_str(w->r->workspace_id);
	p[3] = dbp_str(w->r->id);
	p[4] = dbp_str(type);
	p[5] = dbp_str(text);
	return dbrows_add(&b->events, p);
}

static int
wb_message(struct wb *b, struct wb_run *w, const json_t *v)
{
	char id[ID_BUFSZ];
	const char *idk, *calls = wb_json_text(&b->messages, v, "tool_calls");
	struct db_param p[10];

	id_new(id);
	if ((idk = dbrows_keep(&b->messages, strdup(id))) == NULL)
		return -1;
	p[0] = dbp_str(idk);
	p[1] = dbp_str(w->r->workspace_id);
	p[2] = dbp_str(w->r->session_id);
	p[3] = dbp_str(w->r->id);
	p[4] = dbp_str(wb_str(v, "role"));
	p[5] = dbp_str(wb_str(v, "content") != NULL ? wb_str(v, "content") : "");
	p[6] = dbp_str(wb_str(v, "tool_call_id"));
	p[7] = dbp_str(wb_str(v, "tool_name"));
	p[8] = dbp_str(calls);
	p[9] = dbp_str(wb_str(v, "dedup"));
	return dbrows_add(&b->messages, p);
}

static int
wb_step(struct wb *b, struct wb_run *w, const json_t *v)
{
	const char *id = wb_step_id(&b->steps, w->r, v);
	struct db_param p[12];

	if (id == NULL)
		return -1;
	p[0] = dbp_str(id);
	p[1] = dbp_str(w->r->id);
	p[2] = dbp_str(w->r->workspace_id);
	p[3] = DBP_INT(wb_int(v, "step"));
	p[4] = DBP_INT(wb_int(v, "attempt"));
	p[5] = dbp_str(wb_str(v, "kind"));
	p[6] = dbp_str(wb_str(v, "name") != NULL ? wb_str(v, "name") : "");
	p[7] = dbp_str(wb_str(v, "status"));
	p[8] = dbp_str(wb_str(v, "call_id"));
	p[9] = dbp_str(wb_str(v, "error_code"));
	p[10] = dbp_str(wb_str(v, "error_message"));
	p[11] = DBP_INT(wb_int(v, "duration_ms"));
	return dbrows_add(&b->steps, p);
}

static void
wb_status(struct wb_run *w, const json_t *v, const char *text)
{
	if (json_is_true(json_object_get(v, "start"))) {
		w->start = 1;
		return;
	}
	w->status = wb_str(v, "status");
	if (!json_is_true(json_object_get(v, "terminal")) && !wb_cancel_wins(w, w->status)) {
		w->mode = 1;
		w->waiting_kind = wb_str(v, "waiting_kind");
		w->waiting_call_id = wb_str(v, "waiting_call_id");
		w->waiting_prompt = wb_str(v, "waiting_prompt");
		return;
	}
	w->mode = 2;
	if (wb_cancel_wins(w, w->status))
		w->status = "cancelled";
	w->error_code = wb_str(v, "error_code");
	w->error_message = wb_str(v, "error_message");
	/* The final output replaces any partial one, NULL included (advance.c). */
	w->output = text;
	/* The session's next queued run (if any) becomes active below. */
	if (strcmp(w->s->active, w->r->id) == 0)
		w->s->releasing = 1;
}

/* Step 3: one live run's ops, in queue order. Model calls wait in b->llm. */
static int
wb_collect(struct wb *b, struct wb_run *w)
{
	for (struct xop *op = w->ops; op != NULL; op = op->next) {
		int rc = 0;

		switch (op->kind) {
		case XOP_EVENT: rc = wb_event(b, w, op); break;
		case XOP_MESSAGE: rc = wb_message(b, w, op->v); break;
		case XOP_STEP: rc = wb_step(b, w, op->v); break;
		case XOP_LLM_CALL: {
			struct wb_llm *l = &b->llm[b->nllm];

			l->w = w;
			l->v = op->v;
			l->seen = 0;
			if ((l->step_id = wb_step_id(&b->llms, w->r, op->v)) == NULL)
				return -1;
			b->nllm++;
			break;
		}
		case XOP_PROGRESS:
			if (op->text != NULL)
				w->output = op->text;
			w->steps += op->steps;
			w->consume |= op->consume;
			break;
		case XOP_STATUS: wb_status(w, op->v, op->text); break;
		}
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
wb_cmp_llm_key(const void *key, const void *elem)
{
	return strcmp(key, (*(struct wb_llm *const *)elem)->step_id);
}

static int
wb_cmp_llm_ptr(const void *a, const void *b)
{
	return strcmp((*(struct wb_llm *const *)a)->step_id, (*(struct wb_llm *const *)b)->step_id);
}

struct wb_seen {
	struct wb_llm **sorted;
	size_t n;
};

static int
wb_on_seen(const struct db_result *res, void *arg)
{
	struct wb_seen *ws = arg;

	for (size_t i = 0; i < res->nrows; i++) {
		struct wb_llm **l = bsearch(
		    db_cell(res, i, 0), ws->sorted, ws->n, sizeof(struct wb_llm *), wb_cmp_llm_key);

		if (l != NULL)
			(*l)->seen = 1;
	}
	return 0;
}

/*
 * Marks model calls already recorded (a step re-sent after a lost commit
 * acknowledgement): their usage was counted when they were first written.
 */
static int
wb_llm_seen(struct db *db, struct wb *b)
{
	struct wb_seen ws = { NULL, b->nllm };
	struct dbrows ids;
	int rc = -1;

	if (b->nllm == 0)
		return 0;
	if ((ws.sorted = calloc(b->nllm, sizeof(struct wb_llm *))) == NULL)
		return -1;
	dbrows_init(&ids, &wb_t_llm_seen);
	for (size_t i = 0; i < b->nllm; i++) {
		struct db_param p = dbp_str(b->llm[i].step_id);

		ws.sorted[i] = &b->llm[i];
		if (dbrows_add(&ids, &p) == -1)
			goto out;
	}
	qsort(ws.sorted, ws.n, sizeof(struct wb_llm *), wb_cmp_llm_ptr);
	rc = dbrows_exec(db, &ids, NULL, wb_on_seen, &ws, NULL);
out:
	dbrows_free(&ids);
	free(ws.sorted);
	return rc;
}

static struct wb_usage *
wb_usage_slot(struct wb *b, const struct xrun *r, const char *provider, const char *model)
{
	for (size_t i = 0; i < b->nusage; i++) {
		struct wb_usage *u = &b->usage[i];

		if (strcmp(u->ws, r->workspace_id) == 0 && strcmp(u->agent, r->agent_id) == 0 &&
		    strcmp(u->user, r->user_id) == 0 && strcmp(u->provider, provider) == 0 &&
		    strcmp(u->model, model) == 0)
			return u;
	}
	if (b->nusage == b->usagecap) {
		size_t cap = b->usagecap ? b->usagecap * 2 : 8;
		struct wb_usage *u = realloc(b->usage, cap * sizeof(*u));

		if (u == NULL)
			return NULL;
		b->usage = u;
		b->usagecap = cap;
	}
	b->usage[b->nusage] =
	    (struct wb_usage){ r->workspace_id, r->agent_id, r->user_id, provider, model, { 0 } };
	return &b->usage[b->nusage++];
}

/* A new model call: its row, its usage_daily share and the run's totals. */
static int
wb_llm_row(struct wb *b, struct wb_llm *l)
{
	const struct xrun *r = l->w->r;
	const json_t *v = l->v, *prices = json_object_get(v, "prices");
	const char *provider = wb_str(v, "provider"), *model = wb_str(v, "model"), *id;
	long long add[5] = { wb_int(v, "prompt"), wb_int(v, "cached"), wb_int(v, "cache_write"),
		wb_int(v, "completion"), wb_int(v, "cost") };
	struct wb_usage *u;
	struct db_param p[20];
	char idbuf[ID_BUFSZ];

	id_new(idbuf);
	if ((id = dbrows_keep(&b->llms, strdup(idbuf))) == NULL)
		return -1;
	p[0] = dbp_str(id);
	p[1] = dbp_str(r->workspace_id);
	p[2] = dbp_str(r->id);
	p[3] = dbp_str(l->step_id);
	p[4] = dbp_str(r->session_id);
	p[5] = dbp_str(r->agent_id);
	p[6] = dbp_str(r->user_id);
	p[7] = dbp_str(provider);
	p[8] = dbp_str(model);
	for (size_t i = 0; i < 5; i++)
		p[9 + i] = DBP_INT(add[i]);
	p[14] = DBP_INT(json_is_true(json_object_get(v, "priced")));
	for (size_t i = 0; i < 4; i++)
		p[15 + i] = DBP_INT(json_integer_value(json_array_get(prices, i)));
	p[19] = DBP_INT(wb_int(v, "duration_ms"));
	if (dbrows_add(&b->llms, p) == -1)
		return -1;
	if ((u = wb_usage_slot(
		 b, r, provider != NULL ? provider : "", model != NULL ? model : "")) == NULL)
		return -1;
	/* Checked: a sum that does not fit fails this batch, then this run alone (writer.c). */
	if (money_add(&u->v[0], 1) == -1)
		return -1;
	for (size_t i = 0; i < 5; i++)
		if (money_add(&u->v[1 + i], add[i]) == -1 ||
		    money_add(&l->w->tot[i], add[i]) == -1) {
			log_warnx("msg=\"usage sum out of range\" run=%s", r->id);
			return -1;
		}
	return 0;
}

static int
wb_cmp_usage(const void *a, const void *b)
{
	const struct wb_usage *x = a, *y = b;
	int c;

	if ((c = strcmp(x->ws, y->ws)) != 0 || (c = strcmp(x->agent, y->agent)) != 0 ||
	    (c = strcmp(x->user, y->user)) != 0 || (c = strcmp(x->provider, y->provider)) != 0)
		return c;
	return strcmp(x->model, y->model);
}

/* usage_daily rows in key order, so two executors lock them in the same order. */
static int
wb_write_usage(struct db *db, struct wb *b)
{
	struct dbrows rows;
	int rc = -1;

	if (b->nusage == 0)
		return 0;
	qsort(b->usage, b->nusage, sizeof(*b->usage), wb_cmp_usage);
	dbrows_init(&rows, &wb_t_usage);
	for (size_t i = 0; i < b->nusage; i++) {
		const struct wb_usage *u = &b->usage[i];
		struct db_param p[11] = { dbp_str(u->ws), dbp_str(u->agent), dbp_str(u->user),
			dbp_str(u->provider), dbp_str(u->model) };

		for (size_t k = 0; k < 6; k++)
			p[5 + k] = DBP_INT(u->v[k]);
		if (dbrows_add(&rows, p) == -1)
			goto out;
	}
	rc = dbrows_exec(db, &rows, NULL, NULL, NULL, NULL);
out:
	dbrows_free(&rows);
	return rc;
}

/*
 * Whether the batch changes the run row. A streaming run's commits are
 * mostly deltas, events only: its row is left alone then (its partial
 * output is refreshed at most once a second, advance.c).
 */
static int
wb_run_changed(const struct wb_run *w)
{
	if (w->start || w->consume || w->mode != 0 || w->steps != 0 || w->output != NULL)
		return 1;
	for (size_t k = 0; k < 5; k++)
		if (w->tot[k] != 0)
			return 1;
	return 0;
}

static int
wb_write_runs(struct db *db, struct wb *b)
{
	struct dbrows rows;
	int rc = -1;

	dbrows_init(&rows, &wb_t_runs);
	for (size_t i = 0; i < b->n; i++) {
		const struct wb_run *w = &b->runs[i];
		struct db_param p[18];

		if (!w->locked || !wb_run_changed(w))
			continue;
		p[0] = dbp_str(w->r->id);
		/* The claim's start time: the executor's deadline counts from it too. */
		p[1] = DBP_INT(w->start ? w->r->started_unix_ms : 0);
		p[2] = DBP_INT(w->r->limits.timeout_s);
		p[3] = dbp_str(w->output);
		p[4] = DBP_INT(w->steps);
		p[5] = DBP_INT(w->consume);
		for (size_t k = 0; k < 5; k++)
			p[6 + k] = DBP_INT(w->tot[k]);
		p[11] = DBP_INT(w->mode);
		p[12] = dbp_str(w->status);
		p[13] = dbp_str(w->waiting_kind);
		p[14] = dbp_str(w->waiting_call_id);
		p[15] = dbp_str(w->waiting_prompt);
		p[16] = dbp_str(w->error_code);
		p[17] = dbp_str(w->error_message);
		if (dbrows_add(&rows, p) == -1)
			goto out;
	}
	rc = dbrows_exec(db, &rows, NULL, NULL, NULL, NULL);
out:
	dbrows_free(&rows);
	return rc;
}

/* The first queued run of each releasing session (rows come ordered). */
static int
wb_on_queued(const struct db_result *res, void *arg)
{
	struct wb *b = arg;

	for (size_t i = 0; i < res->nrows; i++) {
		struct wb_session *s = bsearch(
		    db_cell(res, i, 0), b->sess, b->nsess, sizeof(*b->sess), wb_cmp_session);

		if (s == NULL || !s->releasing || s->set_active)
			continue;
		s->set_active = 1;
		snprintf(s->active, sizeof(s->active), "%s", db_cell(res, i, 1));
	}
	return 0;
}

/* Step 5: ended runs hand their sessions on to the oldest queued run. */
static int
wb_release(struct db *db, struct wb *b)
{
	struct dbrows ids, promote;
	int rc = -1;

	dbrows_init(&ids, &wb_t_queued);
	dbrows_init(&promote, &wb_t_promote);
	for (size_t i = 0; i < b->nsess; i++) {
		struct db_param p = dbp_str(b->sess[i].id);

		if (b->sess[i].releasing && dbrows_add(&ids, &p) == -1)
			goto out;
	}
	if (ids.nrows == 0) {
		rc = 0;
		goto out;
	}
	if (dbrows_exec(db, &ids, NULL, wb_on_queued, b, NULL) == -1)
		goto out;
	for (size_t i = 0; i < b->nsess; i++) {
		struct wb_session *s = &b->sess[i];
		struct db_param p = dbp_str(s->active);

		if (!s->releasing)
			continue;
		if (!s->set_active) {
			/* Nothing queued: the session is free. */
			s->set_active = 1;
			s->active[0] = '\0';
		} else if (dbrows_add(&promote, &p) == -1)
			goto out;
	}
	rc = dbrows_exec(db, &promote, NULL, NULL, NULL, NULL);
out:
	dbrows_free(&ids);
	dbrows_free(&promote);
	return rc;
}

/* Step 6. */
static int
wb_write_sessions(struct db *db, struct wb *b)
{
	struct dbrows rows;
	int rc = -1;

	dbrows_init(&rows, &wb_t_sessions);
	for (size_t i = 0; i < b->nsess; i++) {
		const struct wb_session *s = &b->sess[i];
		struct db_param p[4];

		if (!s->found || (s->next_seq - 1 == s->last_seq && !s->set_active))
			continue;
		p[0] = dbp_str(s->id);
		p[1] = DBP_INT(s->next_seq - 1);
		p[2] = DBP_INT(s->set_active);
		p[3] = dbp_str(s->active);
		if (dbrows_add(&rows, p) == -1)
			goto out;
	}
	rc = dbrows_exec(db, &rows, NULL, NULL, NULL, NULL);
out:
	dbrows_free(&rows);
	return rc;
}

static int
wb_prepare(struct wb *b, const struct wrbatch_run *runs, size_t n)
{
	size_t nllm = 0;

	b->n = n;
	b->runs = calloc(n, sizeof(*b->runs));
	b->by_id = calloc(n, sizeof(struct wb_run *));
	b->sess = calloc(n, sizeof(*b->sess));
	for (size_t i = 0; i < n; i++)
		for (struct xop *op = runs[i].ops; op != NULL; op = op->next)
			nllm += op->kind == XOP_LLM_CALL;
	b->llm = calloc(nllm ? nllm : 1, sizeof(*b->llm));
	if (b->runs == NULL || b->by_id == NULL || b->sess == NULL || b->llm == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct wb_run *w = &b->runs[i];

		w->r = runs[i].r;
		w->ops = runs[i].ops;
		if (b->nsess == 0 || strcmp(b->sess[b->nsess - 1].id, w->r->session_id) != 0)
			b->sess[b->nsess++].id = w->r->session_id;
		w->s = &b->sess[b->nsess - 1];
		b->by_id[i] = w;
	}
	qsort(b->by_id, n, sizeof(struct wb_run *), wb_cmp_run_ptr);
	dbrows_init(&b->events, &wb_t_events);
	dbrows_init(&b->messages, &wb_t_messages);
	dbrows_init(&b->steps, &wb_t_steps);
	dbrows_init(&b->llms, &wb_t_llm);
	return 0;
}

static void
wb_free(struct wb *b)
{
	dbrows_free(&b->events);
	dbrows_free(&b->messages);
	dbrows_free(&b->steps);
	dbrows_free(&b->llms);
	free(b->runs);
	free(b->by_id);
	free(b->sess);
	free(b->llm);
	free(b->usage);
}

int
wrbatch_apply(struct db *db, const struct wrbatch_run *runs, size_t n, int *fenced)
{
	struct wb b;
	int rc = -1;

	memset(&b, 0, sizeof(b));
	if (wb_prepare(&b, runs, n) == -1 || wb_lock(db, &b) == -1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		fenced[i] = !b.runs[i].locked;
		if (b.runs[i].locked && wb_collect(&b, &b.runs[i]) == -1)
			goto out;
	}
	if (wb_llm_seen(db, &b) == -1)
		goto out;
	for (size_t i = 0; i < b.nllm; i++)
		if (!b.llm[i].seen && wb_llm_row(&b, &b.llm[i]) == -1)
			goto out;
	if (dbrows_exec(db, &b.events, NULL, NULL, NULL, NULL) == -1 ||
	    dbrows_exec(db, &b.messages, NULL, NULL, NULL, NULL) == -1 ||
	    dbrows_exec(db, &b.steps, NULL, NULL, NULL, NULL) == -1 ||
	    dbrows_exec(db, &b.llms, NULL, NULL, NULL, NULL) == -1 || wb_write_runs(db, &b) == -1 ||
	    wb_release(db, &b) == -1 || wb_write_sessions(db, &b) == -1 ||
	    wb_write_usage(db, &b) == -1)
		goto out;
	rc = 0;
out:
	wb_free(&b);
	return rc;
}
