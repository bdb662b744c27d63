/*
 * Claiming runs and keeping their leases.
 *
 * A claim is one short READ COMMITTED transaction: SELECT … FOR UPDATE SKIP
 * LOCKED over the claimable index (runnable_at <= now), then a fresh
 * lease_token, owner and lease_until on each row taken. runnable_at moves to
 * the lease end too, so the same query picks the run up again when this
 * executor dies and its lease runs out: no sweeper is needed. The claim
 * touches runs only (never sessions), so it cannot deadlock with the API's
 * session-then-run lock order; the visible transition (run.started, status
 * running) is the writer's first commit for the run.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "../core/db.h"
#include "../core/dbrows.h"
#include "../core/jsonv.h"
#include "../core/log.h"
#include "../core/secretbox.h"
#include "egress.h"
#include "executor.h"
#include "loop.h"
#include "xrun.h"

#define CLAIM_LOOKAHEAD 4

static const char claim_sql_pick[] = "SELECT id, workspace_id FROM runs WHERE runnable_at <= NOW(3)"
				     " ORDER BY runnable_at LIMIT ? FOR UPDATE SKIP LOCKED";
/*
 * The runs taken, all in one statement per chunk (dbrows.h). A run that
 * still has an owner was held by an executor whose lease expired (it died,
 * froze, or gave the run up because it could not commit it): that pick-up
 * is a takeover, counted before owner is overwritten (MariaDB assigns a
 * single-table UPDATE's columns left to right). Parked and released runs
 * have no owner, so answering or approving a run is not one.
 */
static struct dbrows_template claim_t_take = DBROWS_TEMPLATE(
    "UPDATE runs SET takeovers = takeovers + (owner IS NOT NULL), owner = ?, lease_token = ?,"
    " lease_until = NOW(3) + INTERVAL ? SECOND, runnable_at = NOW(3) + INTERVAL ? SECOND,"
    " attempts = attempts + 1 WHERE id IN (",
    "?", ", ", ")", 4, 1);
static const char claim_sql_heartbeat[] =
    "UPDATE runs SET lease_until = NOW(3) + INTERVAL ? SECOND,"
    " runnable_at = NOW(3) + INTERVAL ? SECOND WHERE owner = ? AND lease_token IS NOT NULL";
static const char claim_sql_cancels[] =
    "SELECT id FROM runs WHERE owner = ? AND cancel_requested = 1";
/* One run given back untouched (its route could not be read): claimed again in a second. */
static const char claim_sql_release_one[] =
    "UPDATE runs SET owner = NULL, lease_token = NULL, lease_until = NULL,"
    " runnable_at = NOW(3) + INTERVAL 1 SECOND WHERE id = ? AND lease_token = ?";
/*
 * A run this executor gave up because it could not commit (claim_abandon):
 * runnable at once, and counted as a takeover, as the lease running out
 * would have been, so a run that can never commit still meets
 * executor.max_takeovers instead of coming back every 200 ms forever.
 */
static const char claim_sql_release_abandoned[] =
    "UPDATE runs SET takeovers = takeovers + 1, owner = NULL, lease_token = NULL,"
    " lease_until = NULL, runnable_at = NOW(3) WHERE id = ? AND lease_token = ?";
static const char claim_sql_release_all[] =
    "UPDATE runs SET owner = NULL, lease_token = NULL, lease_until = NULL,"
    " runnable_at = NOW(3) WHERE owner = ?";
/*
 * A claim's runs are loaded in three set-based reads by primary key (the
 * ids just taken, the lease token as a guard), their sessions' messages by
 * session: no per-run statement, and no plan that depends on how many runs
 * this executor already holds.
 */
static struct dbrows_template claim_t_load = DBROWS_TEMPLATE(
    "SELECT r.workspace_id, r.session_id, r.agent_id, r.created_by_user_id, r.status,"
    " r.input, r.resume_input, r.cancel_requested, r.steps, r.prompt_tokens,"
    " r.cached_tokens, r.cache_write_tokens, r.completion_tokens, r.cost_nusd, r.attempts,"
    " r.route_id, r.provider, r.model,"
    " CAST(UNIX_TIMESTAMP(COALESCE(r.started_at, NOW(3))) * 1000 AS SIGNED),"
    " v.model, v.system_prompt, v.tools, v.limits, v.retry, v.approval"
    " , r.id, r.takeovers FROM runs r JOIN agent_versions v ON v.id = r.agent_version_id"
    " WHERE r.owner = ? AND r.lease_token = ? AND r.id IN (",
    "?", ", ", ")", 2, 1);
static struct dbrows_template claim_t_messages =
    DBROWS_TEMPLATE("SELECT m.role, m.content, m.tool_calls, m.tool_call_id, m.tool_name, m.run_id,"
		    " m.session_id, m.id FROM messages m WHERE m.session_id IN (",
	"?", ", ", ")", 0, 1);
static struct dbrows_template claim_t_model_calls = DBROWS_TEMPLATE(
    "SELECT s.run_id, SUM(s.kind = 'llm'), MAX(IF(s.step_index = r.steps, s.attempt, 0))"
    " FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.id IN (",
    "?", ", ", ") GROUP BY s.run_id", 0, 1);
/*
 * For runs picked up again: the highest attempt of their current step that
 * was started, finished or not. An attempt cut short by a crash or a lost
 * lease left its step.started and deltas in the log but no steps row, so
 * the resumed attempt is numbered past it (and marked, advance.c).
 */
static struct dbrows_template claim_t_started = DBROWS_TEMPLATE(
    "SELECT e.run_id, MAX(CAST(JSON_VALUE(e.data, '$.attempt') AS SIGNED)) FROM events e"
    " JOIN runs r ON r.id = e.run_id WHERE e.type = 'step.started'"
    " AND CAST(JSON_VALUE(e.data, '$.step') AS SIGNED) = r.steps AND e.run_id IN (",
    "?", ", ", ") GROUP BY e.run_id", 0, 1);
static const char claim_sql_route[] =
    "SELECT base_url, api_key_ciphertext, api_key_nonce, deleted_at IS NOT NULL FROM routes"
    " WHERE workspace_id = ? AND id = ?";

/* Runs held per workspace: counted once per claim, not once per candidate. */
struct claim_wsload {
	char ws[ID_BUFSZ];
	long long n;
};

struct claim_batch {
	struct executor *ex;
	int want;
	int n;
	char ids[CLAIM_BATCH_MAX][ID_BUFSZ];
	char ws[CLAIM_BATCH_MAX][ID_BUFSZ];
	char token[ID_BUFSZ];
	struct claim_wsload *load; /* distinct workspaces of held + taken runs */
	size_t nload, loadcap;
};

/* The load slot of workspace ws (added at 0 when new), or NULL on OOM. */
static struct claim_wsload *
claim_ws_slot(struct claim_batch *cb, const char *ws)
{
	for (size_t i = 0; i < cb->nload; i++)
		if (strcmp(cb->load[i].ws, ws) == 0)
			return &cb->load[i];
	if (cb->nload == cb->loadcap) {
		size_t cap = cb->loadcap ? cb->loadcap * 2 : 8;
		struct claim_wsload *l = realloc(cb->load, cap * sizeof(*l));

		if (l == NULL)
			return NULL;
		cb->load = l;
		cb->loadcap = cap;
	}
	snprintf(cb->load[cb->nload].ws, ID_BUFSZ, "%s", ws);
	cb->load[cb->nload].n = 0;
	return &cb->load[cb->nload++];
}

/* Counts the held runs per workspace (a claim transaction may be re-run). */
static int
claim_ws_count(struct claim_batch *cb)
{
	const struct xrun *last = NULL;
	struct claim_wsload *slot = NULL;

	cb->nload = 0;
	for (const struct xrun *r = cb->ex->runs; r != NULL; r = r->next) {
		/* Runs of one workspace tend to sit together: skip the search. */
		if (last == NULL || strcmp(last->workspace_id, r->workspace_id) != 0)
			if ((slot = claim_ws_slot(cb, r->workspace_id)) == NULL)
				return -1;
		slot->n++;
		last = r;
	}
	return 0;
}

/* Taken already in this claim (a second pass sees its own locked rows again). */
static int
claim_taken(const struct claim_batch *cb, const char *id)
{
	for (int i = 0; i < cb->n; i++)
		if (strcmp(cb->ids[i], id) == 0)
			return 1;
	return 0;
}

static int
claim_txn(struct db *db, void *arg)
{
	struct claim_batch *cb = arg;
	struct executor *ex = cb->ex;
	struct db_result *res;
	struct db_param p[4];
	struct dbrows take;
	long long lease = ex->cfg->executor_lease_s;
	int rc;

	cb->n = 0;
	if (claim_ws_count(cb) == -1)
		return -1;
	id_new(cb->token);
	dbrows_init(&take, &claim_t_take);
	/*
	 * Lock only what we take; look further (a second, wider pass) only when
	 * a workspace at its concurrency limit hid the others' runs behind its
	 * own. Rows passed over stay locked until this short transaction ends.
	 */
	for (int pass = 0; pass < 2 && cb->n < cb->want; pass++) {
		int skipped = 0;

		p[0] = DBP_INT(pass == 0 ? cb->want : cb->want * CLAIM_LOOKAHEAD);
		if (db_query(db, claim_sql_pick, p, 1, &res) == -1) {
			dbrows_free(&take);
			return -1;
		}
		for (size_t i = 0; i < res->nrows && cb->n < cb->want; i++) {
			const char *id = db_cell(res, i, 0), *ws = db_cell(res, i, 1);
			struct claim_wsload *load = claim_ws_slot(cb, ws);
			struct db_param idp;

			if (load == NULL)
				break;
			if (pass > 0 && claim_taken(cb, id))
				continue;
			if (load->n >= ex->cfg->executor_workspace_concurrency) {
				skipped = 1;
				continue;
			}
			load->n++;
			snprintf(cb->ids[cb->n], ID_BUFSZ, "%s", id);
			snprintf(cb->ws[cb->n], ID_BUFSZ, "%s", ws);
			idp = dbp_str(cb->ids[cb->n]);
			if (dbrows_add(&take, &idp) == -1)
				break;
			cb->n++;
		}
		/* Fewer rows than asked for: there is nothing further to see. */
		if (!skipped || res->nrows < (size_t)p[0].i)
			pass = 2;
		db_result_free(res);
	}
	p[0] = dbp_str(ex->owner);
	p[1] = dbp_str(cb->token);
	p[2] = DBP_INT(lease);
	p[3] = DBP_INT(lease);
	rc = dbrows_exec(db, &take, p, NULL, NULL, NULL);
	dbrows_free(&take);
	return rc;
}

static json_t *
claim_doc(const struct db_result *res, size_t row, size_t col)
{
	const char *s = db_cell(res, row, col);

	return s != NULL ? jv_doc(s, res->len[row * res->ncols + col]) : json_null();
}

/*
 * The version's documents (model, tools, limits, retry, approval: load
 * columns 19-24), parsed once for a run of claims of the same version: a
 * batch of runs of one agent would otherwise parse the same JSON hundreds
 * of times (a tenth of the executor's instructions). The text is compared
 * in full, so a different version, or an edited draft, is parsed anew. The
 * documents are shared by the runs (new references) and never modified.
 */
#define CLAIM_MEMO_FIRST 19
#define CLAIM_MEMO_COLS 6
static struct {
	char *text;
	size_t len;
	json_t *doc;
} claim_memo[CLAIM_MEMO_COLS];

static json_t *
claim_version_doc(const struct db_result *res, size_t row, size_t col)
{
	const char *s = db_cell(res, row, col);
	size_t len = res->len[row * res->ncols + col], k = col - CLAIM_MEMO_FIRST;
	char *copy;
	json_t *doc;

	if (s == NULL || k >= CLAIM_MEMO_COLS)
		return claim_doc(res, row, col);
	if (claim_memo[k].doc != NULL && claim_memo[k].len == len &&
	    memcmp(claim_memo[k].text, s, len) == 0)
		return json_incref(claim_memo[k].doc);
	doc = jv_doc(s, len);
	if ((copy = malloc(len + 1)) == NULL)
		return doc;
	memcpy(copy, s, len);
	copy[len] = '\0';
	free(claim_memo[k].text);
	json_decref(claim_memo[k].doc);
	claim_memo[k].text = copy;
	claim_memo[k].len = len;
	claim_memo[k].doc = json_incref(doc);
	return doc;
}

static long long
claim_jint(const json_t *obj, const char *key, long long dflt)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (long long)json_real_value(v);
	return dflt;
}

/*
 * Earlier runs of the session may have stopped between a tool call and its
 * result (cancelled, failed). Providers refuse such a history, so each
 * unanswered call gets a stand-in result right after its assistant turn.
 */
static void
claim_close_dangling(struct xrun *r)
{
	for (size_t i = 0; i < r->own_from; i++) {
		json_t *m = json_array_get(r->history, i), *calls, *call;
		size_t k, at = i + 1;

		calls = json_object_get(m, "tool_calls");
		json_array_foreach(calls, k, call)
		{
			const char *id = json_string_value(json_object_get(call, "id"));
			int answered = 0;

			for (size_t j = i + 1; j < r->own_from && !answered; j++) {
				const char *tid = json_string_value(
				    json_object_get(json_array_get(r->history, j), "tool_call_id"));

				answered = tid != NULL && id != NULL && strcmp(tid, id) == 0;
			}
			if (answered)
				continue;
			json_array_insert_new(r->history, at++,
			    json_pack("{s:s, s:s, s:s?, s:O?}", "role", "tool", "content",
				"(no result: that run ended before the call was made)",
				"tool_call_id", id, "name", json_object_get(call, "name")));
			r->own_from++;
		}
	}
}

/*
 * The batch's messages in (session, id) order, sorted here rather than by
 * the server: an ORDER BY over LONGTEXT rows makes MariaDB sort through an
 * on-disk temporary table (tens of milliseconds for a large batch).
 */
struct claim_msgs {
	const struct db_result *res;
	size_t *order; /* row numbers, sorted */
};

static const struct db_result *claim_sort_res;

static int
claim_cmp_msg(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(db_cell(claim_sort_res, x, 6), db_cell(claim_sort_res, y, 6));

	return c != 0 ? c : strcmp(db_cell(claim_sort_res, x, 7), db_cell(claim_sort_res, y, 7));
}

static int
claim_msgs_sort(struct claim_msgs *m, const struct db_result *res)
{
	m->res = res;
	if ((m->order = calloc(res->nrows ? res->nrows : 1, sizeof(*m->order))) == NULL)
		return -1;
	for (size_t i = 0; i < res->nrows; i++)
		m->order[i] = i;
	claim_sort_res = res;
	qsort(m->order, res->nrows, sizeof(*m->order), claim_cmp_msg);
	claim_sort_res = NULL;
	return 0;
}

/* Position in m->order of the session's first message (nrows when none). */
static size_t
claim_msgs_first(const struct claim_msgs *m, const char *session_id)
{
	size_t lo = 0, hi = m->res->nrows;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(db_cell(m->res, m->order[mid], 6), session_id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A session's messages in the order a run's model sees them: each message
 * under its turn (a run's messages form one turn, keyed by the id of the
 * run's first message; a message of no run is a turn of its own), turns in
 * the order they were taken, a turn's messages in the order they were
 * written.
 */
struct claim_turnmsg {
	const char *run; /* the message's run, NULL for none */
	const char *turn; /* id of the turn's first message */
	size_t row; /* row in the batch's messages */
};

static int
claim_cmp_run(const void *a, const void *b)
{
	const struct claim_turnmsg *x = a, *y = b;
	int c = x->run == NULL || y->run == NULL ? (x->run != NULL) - (y->run != NULL)
						 : strcmp(x->run, y->run);

	return c != 0 ? c : (x->row > y->row) - (x->row < y->row);
}

static int
claim_cmp_turn(const void *a, const void *b)
{
	const struct claim_turnmsg *x = a, *y = b;
	int c = strcmp(x->turn, y->turn);

	return c != 0 ? c : (x->row > y->row) - (x->row < y->row);
}

/* One message of the batch as the providers take it (llm.h). */
static json_t *
claim_message(const struct db_result *res, size_t i)
{
	const char *role = db_cell(res, i, 0);
	const char *content = db_cell(res, i, 1);
	json_t *m =
	    json_pack("{s:s, s:s}", "role", role, "content", content != NULL ? content : "");

	if (strcmp(role, "assistant") == 0 && db_cell(res, i, 2) != NULL) {
		json_t *calls = jv_doc(db_cell(res, i, 2), res->len[i * res->ncols + 2]);

		if (json_is_array(calls) && json_array_size(calls) > 0)
			json_object_set(m, "tool_calls", calls);
		json_decref(calls);
	}
	if (strcmp(role, "tool") == 0) {
		json_object_set_new(m, "tool_call_id", jv_str(db_cell(res, i, 3)));
		json_object_set_new(m, "name", jv_str(db_cell(res, i, 4)));
	}
	return m;
}

/*
 * Sorts the session's n messages (tm, rows in id order) into turns and
 * returns r's own turn (NULL when r has no message yet).
 */
static const char *
claim_turns(struct claim_turnmsg *tm, size_t n, const struct db_result *res,
    const struct claim_msgs *msgs, const char *run_id)
{
	const char *own = NULL;

	qsort(tm, n, sizeof(*tm), claim_cmp_run);
	for (size_t j = 0; j < n; j++) {
		const char *id = db_cell(res, msgs->order[tm[j].row], 7);

		if (tm[j].run == NULL || j == 0 || tm[j - 1].run == NULL ||
		    strcmp(tm[j].run, tm[j - 1].run) != 0)
			tm[j].turn = id; /* the first message of its turn */
		else
			tm[j].turn = tm[j - 1].turn;
		if (tm[j].run != NULL && strcmp(tm[j].run, run_id) == 0)
			own = tm[j].turn;
	}
	qsort(tm, n, sizeof(*tm), claim_cmp_turn);
	return own;
}

/*
 * The conversation of run r as it stood when r started, then r's own turn:
 * every earlier turn whole (an earlier run's reply stays under its own user
 * turn even when it was written after r's user turn was queued), no later
 * turn (runs queued behind r, messages posted while r runs), and r's own
 * messages last. Deriving r's next step from the session's last message
 * instead took an earlier run's reply for r's (docs/api.md, "Transcript").
 */
static void
claim_history(struct xrun *r, const struct claim_msgs *msgs)
{
	const struct db_result *res = msgs->res;
	size_t from = claim_msgs_first(msgs, r->session_id), to = from;
	struct claim_turnmsg *tm;
	const char *own_turn;
	int own_seen = 0;

	r->history = json_array();
	r->own_from = 0;
	while (to < res->nrows && strcmp(db_cell(res, msgs->order[to], 6), r->session_id) == 0)
		to++;
	if (to == from || (tm = calloc(to - from, sizeof(*tm))) == NULL)
		return;
	for (size_t k = from; k < to; k++) {
		tm[k - from].run = db_cell(res, msgs->order[k], 5);
		tm[k - from].row = k;
	}
	own_turn = claim_turns(tm, to - from, res, msgs, r->id);
	for (size_t j = 0; j < to - from; j++) {
		size_t i = msgs->order[tm[j].row];
		int own = tm[j].run != NULL && strcmp(tm[j].run, r->id) == 0;

		if (own_turn != NULL && strcmp(tm[j].turn, own_turn) > 0)
			break; /* a later turn, and all after it */
		if (own && !own_seen) {
			own_seen = 1;
			r->own_from = json_array_size(r->history);
		}
		if (own && strcmp(db_cell(res, i, 0), "assistant") == 0)
			r->own_turns++;
		json_array_append_new(r->history, claim_message(res, i));
	}
	free(tm);
	if (!own_seen)
		r->own_from = json_array_size(r->history);
	claim_close_dangling(r);
}

/* What claim_route found. */
enum claim_route_rc {
	CLAIM_ROUTE_OK,
	CLAIM_ROUTE_UNUSABLE, /* deleted, missing or its key does not open: r->ep_error says */
	CLAIM_ROUTE_DB_ERROR,
};

/*
 * Loads the run's route into its endpoint: the route's base_url (empty when
 * it names none) and its key, opened with the master key. A deleted route
 * is gone for runs too, and a key that does not open is never replaced by
 * another: both leave r->ep_error set, and the run fails at its next model
 * step (advance.c).
 */
static enum claim_route_rc
claim_route(struct executor *ex, struct xrun *r, const char *route_id)
{
	struct db_param p[2] = { dbp_str(r->workspace_id), dbp_str(route_id) };
	struct xrun_endpoint *ep;
	struct db_result *res;
	enum claim_route_rc rc = CLAIM_ROUTE_UNUSABLE;

	if (db_query(ex->db, claim_sql_route, p, 2, &res) == -1)
		return CLAIM_ROUTE_DB_ERROR;
	if (res->nrows == 0 || db_cell_int(res, 0, 3, 0) != 0) {
		snprintf(r->ep_error, sizeof(r->ep_error), "the run's route %s %s", route_id,
		    res->nrows == 0 ? "does not exist" : "was deleted");
		goto out;
	}
	if ((ep = xrun_endpoint(r)) == NULL) {
		rc = CLAIM_ROUTE_DB_ERROR; /* out of memory: claimed again later */
		goto out;
	}
	{
		const char *url = db_cell(res, 0, 0);
		const char *ct = db_cell(res, 0, 1);
		const char *nonce = db_cell(res, 0, 2);
		size_t ctlen = res->len[1];

		if (url != NULL)
			snprintf(ep->base_url, sizeof(ep->base_url), "%s", url);
		if (ct == NULL) {
			rc = CLAIM_ROUTE_OK;
			goto out;
		}
		if (nonce != NULL && ex->have_master_key && ctlen > SECRETBOX_TAG_LEN &&
		    ctlen - SECRETBOX_TAG_LEN < sizeof(ep->api_key) &&
		    res->len[2] == SECRETBOX_NONCE_LEN &&
		    secretbox_open(ex->master_key, r->workspace_id, route_id,
			(const unsigned char *)ct, ctlen, (const unsigned char *)nonce,
			(unsigned char *)ep->api_key) == 0) {
			ep->api_key[ctlen - SECRETBOX_TAG_LEN] = '\0';
			rc = CLAIM_ROUTE_OK;
			goto out;
		}
		log_warnx("msg=\"route key does not open\" run=%s route=%s", r->id, route_id);
		snprintf(r->ep_error, sizeof(r->ep_error),
		    "the api_key of route %s cannot be decrypted by this executor (%s); store"
		    " the key again",
		    route_id,
		    ex->have_master_key ? "sealed under another security.master_key, or altered"
					: "it has no usable security.master_key");
	}
out:
	db_result_free(res);
	return rc;
}

/* The operator's endpoint of each provider ([openai], [anthropic]). */
static const struct claim_provider {
	const char *name;
	size_t url, key; /* offsets in struct config */
} claim_providers[] = {
	{ "openai", offsetof(struct config, openai_base_url),
	    offsetof(struct config, openai_api_key) },
	{ "anthropic", offsetof(struct config, anthropic_base_url),
	    offsetof(struct config, anthropic_api_key) },
};

/*
 * Completes the run's endpoint. The operator's key goes only to the
 * operator's own base URL: a run without a route, or whose route names no
 * base_url or exactly the operator's, may use it (the route's own key comes
 * first); a route naming any other base_url uses its own key or none, and
 * its calls are guarded (egress.h), with private addresses only for hosts
 * on providers.allow_hosts.
 */
static void
claim_endpoint(struct executor *ex, struct xrun *r)
{
	const char *url = "", *key = "";
	struct xrun_endpoint *ep;

	for (size_t i = 0; i < sizeof(claim_providers) / sizeof(claim_providers[0]); i++)
		if (strcmp(r->provider, claim_providers[i].name) == 0) {
			url = (const char *)ex->cfg + claim_providers[i].url;
			key = (const char *)ex->cfg + claim_providers[i].key;
		}
	if (r->ep == NULL && url[0] == '\0' && key[0] == '\0')
		return; /* nothing to call: scripted, or a provider without a default */
	if ((ep = xrun_endpoint(r)) == NULL)
		return; /* the call fails for want of a base_url */
	if (ep->base_url[0] == '\0')
		snprintf(ep->base_url, sizeof(ep->base_url), "%s", url);
	else if (!egress_same_base(ep->base_url, url)) {
		ep->guarded = 1;
		ep->allow_private =
		    egress_host_listed(ex->cfg->providers_allow_hosts, ep->base_url);
		return;
	}
	if (ep->api_key[0] == '\0')
		snprintf(ep->api_key, sizeof(ep->api_key), "%s", key);
}

/*
 * Builds the xrun of row `row` of a claim batch (res), with its messages
 * (msgs), step counts (cnt) and started attempts (started, may be NULL)
 * from the batch's other loads.
 */
static struct xrun *
claim_fill(struct executor *ex, const char *token, const struct db_result *res, size_t row,
    const struct claim_msgs *msgs, const struct db_result *cnt, const struct db_result *started)
{
	const char *id = db_cell(res, row, 25);
	struct xrun *r;
	json_t *model, *limits, *retry, *approval;
	char route_id[ID_BUFSZ] = "";
	const char *s;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->ex = ex;
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->lease_token, sizeof(r->lease_token), "%s", token);
	snprintf(r->workspace_id, sizeof(r->workspace_id), "%s", db_cell(res, row, 0));
	snprintf(r->session_id, sizeof(r->session_id), "%s", db_cell(res, row, 1));
	snprintf(r->agent_id, sizeof(r->agent_id), "%s", db_cell(res, row, 2));
	snprintf(r->user_id, sizeof(r->user_id), "%s", db_cell(res, row, 3));
	r->approved = strcmp(db_cell(res, row, 4), "approved") == 0;
	r->input = claim_doc(res, row, 5);
	if ((s = db_cell(res, row, 6)) != NULL)
		r->resume_input = strdup(s);
	r->cancel_requested = db_cell_int(res, row, 7, 0) != 0;
	r->step = db_cell_int(res, row, 8, 0);
	r->prompt_tokens = db_cell_int(res, row, 9, 0);
	r->cached_tokens = db_cell_int(res, row, 10, 0);
	r->cache_write_tokens = db_cell_int(res, row, 11, 0);
	r->completion_tokens = db_cell_int(res, row, 12, 0);
	r->tokens = r->prompt_tokens + r->completion_tokens;
	r->cost_nusd = db_cell_int(res, row, 13, 0);
	r->pickup = db_cell_int(res, row, 14, 1);
	r->takeovers = db_cell_int(res, row, 26, 0);
	snprintf(r->provider, sizeof(r->provider), "%s", db_cell(res, row, 16));
	snprintf(r->model, sizeof(r->model), "%s", db_cell(res, row, 17));

	model = claim_version_doc(res, row, 19);
	/* The run's route (it overrode the model at creation), else the version's. */
	if (db_cell(res, row, 15) != NULL)
		snprintf(route_id, sizeof(route_id), "%s", db_cell(res, row, 15));
	else if (json_is_string(json_object_get(model, "route_id")))
		snprintf(route_id, sizeof(route_id), "%s",
		    json_string_value(json_object_get(model, "route_id")));
	r->params = json_incref(json_object_get(model, "params"));
	if (!json_is_object(r->params)) {
		json_decref(r->params);
		r->params = json_object();
	}
	json_decref(model);
	r->system_prompt = strdup(db_cell(res, row, 20) != NULL ? db_cell(res, row, 20) : "");
	r->tools = claim_version_doc(res, row, 21);
	if (!json_is_array(r->tools)) {
		json_decref(r->tools);
		r->tools = json_array();
	}
	limits = claim_version_doc(res, row, 22);
	r->limits.max_steps = claim_jint(limits, "max_steps", 20);
	r->limits.max_tokens = claim_jint(limits, "max_tokens", 200000);
	r->limits.timeout_s = claim_jint(limits, "timeout_s", 600);
	{
		json_t *c = json_object_get(limits, "max_cost_usd");

		r->limits.max_cost_nusd = json_is_number(c)
		    ? (long long)(json_number_value(c) * 1e9 + 0.5)
		    : 5000000000LL;
	}
	json_decref(limits);
	retry = claim_version_doc(res, row, 23);
	r->retry.max_attempts = claim_jint(retry, "max_attempts", 3);
	r->retry.initial_backoff_ms = claim_jint(retry, "initial_backoff_ms", 500);
	r->retry.max_backoff_ms = claim_jint(retry, "max_backoff_ms", 30000);
	r->retry.multiplier = json_is_number(json_object_get(retry, "multiplier"))
	    ? json_number_value(json_object_get(retry, "multiplier"))
	    : 2.0;
	json_decref(retry);
	approval = claim_version_doc(res, row, 24);
	r->approval_required = json_is_true(json_object_get(approval, "required"));
	r->approval_tools = json_incref(json_object_get(approval, "before_tools"));
	if (!json_is_array(r->approval_tools)) {
		json_decref(r->approval_tools);
		r->approval_tools = json_array();
	}
	json_decref(approval);
	r->started_unix_ms = db_cell_int(res, row, 18, 0);
	r->deadline_unix_ms = r->started_unix_ms + r->limits.timeout_s * 1000;
	if (route_id[0] != '\0' && claim_route(ex, r, route_id) == CLAIM_ROUTE_DB_ERROR) {
		/*
		 * Never a call without its route's rules: not started, and given
		 * back, since the heartbeat renews every lease of this owner, held
		 * or not (when even that fails, it waits for this executor's end).
		 */
		struct db_param p[2] = { dbp_str(r->id), dbp_str(r->lease_token) };

		log_warnx("msg=\"cannot load the run's route\" run=%s errno=%u", r->id,
		    db_last_errno(ex->db));
		if (db_query(ex->db, claim_sql_release_one, p, 2, NULL) == -1)
			log_warnx("msg=\"cannot give the run back\" run=%s errno=%u", r->id,
			    db_last_errno(ex->db));
		xrun_free(r);
		return NULL;
	}
	if (r->ep_error[0] == '\0')
		claim_endpoint(ex, r);
	claim_history(r, msgs);
	for (size_t i = 0; cnt != NULL && i < cnt->nrows; i++)
		if (strcmp(db_cell(cnt, i, 0), r->id) == 0) {
			r->model_calls = db_cell_int(cnt, i, 1, 0);
			r->attempt_base = (int)db_cell_int(cnt, i, 2, 0);
		}
	for (size_t i = 0; started != NULL && i < started->nrows; i++)
		if (strcmp(db_cell(started, i, 0), r->id) == 0) {
			int a = (int)db_cell_int(started, i, 1, 0);

			if (a > r->attempt_base) {
				r->aborted_attempt = a;
				r->attempt_base = a;
			}
		}
	return r;
}

static int
claim_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The batch's runs (*res), their sessions' messages, their step counts and,
 * for runs picked up before, their started attempts (*started, NULL when
 * none was).
 */
static int
claim_load(struct executor *ex, const struct claim_batch *cb, struct db_result **res,
    struct db_result **msgs, struct db_result **cnt, struct db_result **started)
{
	struct db_param head[2] = { dbp_str(ex->owner), dbp_str(cb->token) };
	struct dbrows load, sess, calls, resumed;
	size_t nresumed = 0;
	const char **sids = NULL;
	size_t nsids = 0;
	int rc = -1;

	dbrows_init(&load, &claim_t_load);
	dbrows_init(&sess, &claim_t_messages);
	dbrows_init(&calls, &claim_t_model_calls);
	dbrows_init(&resumed, &claim_t_started);
	for (int i = 0; i < cb->n; i++) {
		struct db_param id = dbp_str(cb->ids[i]);

		if (dbrows_add(&load, &id) == -1 || dbrows_add(&calls, &id) == -1)
			goto out;
	}
	if (dbrows_query(ex->db, &load, head, res) == -1 ||
	    dbrows_query(ex->db, &calls, NULL, cnt) == -1)
		goto out;
	for (size_t i = 0; i < (*res)->nrows; i++) {
		struct db_param id = dbp_str(db_cell(*res, i, 25));

		if (db_cell_int(*res, i, 14, 1) <= 1)
			continue; /* a first pick-up: no attempt was started before */
		if (dbrows_add(&resumed, &id) == -1)
			goto out;
		nresumed++;
	}
	if (nresumed > 0 && dbrows_query(ex->db, &resumed, NULL, started) == -1)
		goto out;
	/* Each session once, so no chunk returns a message another one did. */
	if ((sids = calloc((*res)->nrows + 1, sizeof(*sids))) == NULL)
		goto out;
	for (size_t i = 0; i < (*res)->nrows; i++)
		sids[i] = db_cell(*res, i, 1);
	qsort(sids, (*res)->nrows, sizeof(*sids), claim_cmp_str);
	for (size_t i = 0; i < (*res)->nrows; i++) {
		struct db_param id = dbp_str(sids[i]);

		if (nsids > 0 && strcmp(sids[nsids - 1], sids[i]) == 0)
			continue;
		sids[nsids++] = sids[i];
		if (dbrows_add(&sess, &id) == -1)
			goto out;
	}
	rc = dbrows_query(ex->db, &sess, NULL, msgs);
out:
	free(sids);
	dbrows_free(&load);
	dbrows_free(&sess);
	dbrows_free(&calls);
	dbrows_free(&resumed);
	return rc;
}

int
claim_runs(struct executor *ex)
{
	struct claim_batch cb;
	int room = (int)ex->cfg->executor_capacity - ex->nruns, rc;
	uint64_t t0;

	if (room <= 0)
		return 0;
	memset(&cb, 0, sizeof(cb));
	cb.ex = ex;
	/*
	 * A quarter of the capacity at a time (at least 16): while the writer
	 * commits one batch's steps, the loop claims and starts the next, so
	 * claims and commits overlap instead of taking turns.
	 */
	cb.want = (int)(ex->cfg->executor_capacity / 4);
	if (cb.want < 16)
		cb.want = 16;
	if (cb.want > CLAIM_BATCH_MAX)
		cb.want = CLAIM_BATCH_MAX;
	if (cb.want > room)
		cb.want = room;
	t0 = loop_now_ms();
	rc = db_txn(ex->db, claim_txn, &cb);
	free(cb.load);
	if (rc != 0) {
		log_warnx("msg=\"claim failed\" errno=%u", db_last_errno(ex->db));
		return 0;
	}
	if (cb.n == 0)
		return 0;
	{
		struct db_result *res = NULL, *msgs = NULL, *cnt = NULL, *started = NULL;
		struct claim_msgs sorted = { NULL, NULL };

		if (claim_load(ex, &cb, &res, &msgs, &cnt, &started) == -1 ||
		    claim_msgs_sort(&sorted, msgs) == -1) {
			/* The leases expire and the runs are claimed again. */
			log_warnx("msg=\"cannot load claimed runs\" runs=%d errno=%u", cb.n,
			    db_last_errno(ex->db));
			db_result_free(res);
			db_result_free(msgs);
			db_result_free(cnt);
			db_result_free(started);
			return 0;
		}
		for (size_t i = 0; i < res->nrows; i++) {
			struct xrun *r = claim_fill(ex, cb.token, res, i, &sorted, cnt, started);

			if (r == NULL)
				continue;
			executor_hold(ex, r);
			ex->claimed++;
			log_debug(
			    "msg=claimed run=%s pickup=%lld step=%lld", r->id, r->pickup, r->step);
			advance_arm_deadline(r);
			advance(r);
		}
		free(sorted.order);
		log_debug(
		    "msg=claim runs=%d ms=%llu", cb.n, (unsigned long long)(loop_now_ms() - t0));
		db_result_free(res);
		db_result_free(msgs);
		db_result_free(cnt);
		db_result_free(started);
	}
	return cb.n;
}

void
claim_heartbeat(struct executor *ex)
{
	struct db_param p[3];

	if (ex->nruns == 0)
		return;
	p[0] = DBP_INT(ex->cfg->executor_lease_s);
	p[1] = DBP_INT(ex->cfg->executor_lease_s);
	p[2] = dbp_str(ex->owner);
	if (db_query(ex->db, claim_sql_heartbeat, p, 3, NULL) == -1)
		log_warnx("msg=\"heartbeat failed\" errno=%u", db_last_errno(ex->db));
}

void
claim_check_cancels(struct executor *ex)
{
	struct db_param p = dbp_str(ex->owner);
	struct db_result *res;

	if (ex->nruns == 0)
		return;
	if (db_query(ex->db, claim_sql_cancels, &p, 1, &res) == -1)
		return;
	for (size_t i = 0; i < res->nrows; i++)
		for (struct xrun *r = ex->runs; r != NULL; r = r->next)
			if (strcmp(r->id, db_cell(res, i, 0)) == 0)
				advance_cancel(r);
	db_result_free(res);
}

void
claim_release_all(struct executor *ex)
{
	struct db_param p = dbp_str(ex->owner);

	if (db_query(ex->db, claim_sql_release_all, &p, 1, NULL) == -1)
		log_warnx("msg=\"release on shutdown failed\" errno=%u", db_last_errno(ex->db));
}

void
claim_abandon(struct executor *ex, const struct xrun *r)
{
	if (ex->nabandoned == ex->abandoned_cap) {
		size_t cap = ex->abandoned_cap ? ex->abandoned_cap * 2 : 16;
		struct executor_lease *l = realloc(ex->abandoned, cap * sizeof(*l));

		if (l == NULL) {
			log_warnx("msg=\"out of memory, run waits for its lease to expire\" run=%s",
			    r->id);
			return;
		}
		ex->abandoned = l;
		ex->abandoned_cap = cap;
	}
	snprintf(ex->abandoned[ex->nabandoned].id, ID_BUFSZ, "%s", r->id);
	snprintf(ex->abandoned[ex->nabandoned].token, ID_BUFSZ, "%s", r->lease_token);
	ex->nabandoned++;
}

void
claim_release_abandoned(struct executor *ex)
{
	size_t done = 0;

	while (done < ex->nabandoned) {
		const struct executor_lease *l = &ex->abandoned[done];
		struct db_param p[2] = { dbp_str(l->id), dbp_str(l->token) };

		if (db_query(ex->db, claim_sql_release_abandoned, p, 2, NULL) == -1)
			break; /* still down: the rest wait for the next try */
		/* 0 rows: the lease expired and another executor holds the run. */
		log_info("msg=\"abandoned run released\" run=%s taken=%d", l->id,
		    db_affected(ex->db) == 0);
		done++;
	}
	if (done == 0)
		return;
	memmove(
	    ex->abandoned, ex->abandoned + done, (ex->nabandoned - done) * sizeof(*ex->abandoned));
	ex->nabandoned -= done;
	ex->want_claim = 1; /* they are claimable now, here too */
}
