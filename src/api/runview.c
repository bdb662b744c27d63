#include "runview.h"

#include <string.h>

#include "../core/db.h"
#include "../core/jsonv.h"
#include "../core/jsonw.h"
#include "../core/money.h"
#include "api.h"

static const char runview_sql_get[] =
    "SELECT " RUNVIEW_COLUMNS RUNVIEW_FROM " WHERE r.workspace_id = ? AND r.id = ?";

int
runview_terminal(const char *s)
{
	return strcmp(s, "completed") == 0 || strcmp(s, "failed") == 0 ||
	    strcmp(s, "timeout") == 0 || strcmp(s, "cancelled") == 0 || strcmp(s, "rejected") == 0;
}

int
runview_load(struct request_ctx *ctx, const char *run_id, struct db_result **res)
{
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(run_id) };

	*res = NULL;
	if (!id_valid(run_id))
		return 0;
	if (db_query(ctx->db, runview_sql_get, p, 2, res) == -1)
		return -1;
	if ((*res)->nrows == 0) {
		db_result_free(*res);
		*res = NULL;
		return 0;
	}
	return 1;
}

static const char *
rv(const struct db_result *res, size_t r, int c)
{
	return db_cell(res, r, (size_t)c);
}

static json_t *
rv_doc(const struct db_result *res, size_t r, int c)
{
	return jv_doc(rv(res, r, c), res->len[r * res->ncols + (size_t)c]);
}

static long long
rv_int(const struct db_result *res, size_t r, int c)
{
	return db_cell_int(res, r, (size_t)c, 0);
}

/* Nano-dollars as a JSON number of dollars (15 significant digits are exact here). */
static json_t *
rv_usd(long long nusd)
{
	return json_real((double)nusd / 1e9);
}

static json_t *
rv_error(const struct db_result *res, size_t r)
{
	if (rv(res, r, RVC_ERR_CODE) == NULL)
		return json_null();
	return json_pack("{s:s, s:s}", "code", rv(res, r, RVC_ERR_CODE), "message",
	    rv(res, r, RVC_ERR_MSG) != NULL ? rv(res, r, RVC_ERR_MSG) : "");
}

static long long
rv_duration(const struct db_result *res, size_t r)
{
	return rv(res, r, RVC_STARTED) == NULL ? 0 : rv_int(res, r, RVC_DURATION);
}

json_t *
runview_run(const struct db_result *res, size_t r, long long credits_per_usd)
{
	long long prompt = rv_int(res, r, RVC_PROMPT), cached = rv_int(res, r, RVC_CACHED);
	long long completion = rv_int(res, r, RVC_COMPLETION), cost = rv_int(res, r, RVC_COST);
	long long credits = money_credits(cost, credits_per_usd);
	json_t *o = json_object();

	json_object_set_new(o, "id", jv_str(rv(res, r, RVC_ID)));
	json_object_set_new(o, "run_id", jv_str(rv(res, r, RVC_ID)));
	json_object_set_new(o, "object", json_string("run"));
	json_object_set_new(o, "workspace_id", jv_str(rv(res, r, RVC_WS)));
	json_object_set_new(o, "agent_id", jv_str(rv(res, r, RVC_AGENT)));
	json_object_set_new(o, "agent_version", jv_int(rv(res, r, RVC_AGENT_VERSION)));
	json_object_set_new(o, "agent_version_id", jv_str(rv(res, r, RVC_AGENT_VERSION_ID)));
	json_object_set_new(o, "session_id", jv_str(rv(res, r, RVC_SESSION)));
	json_object_set_new(o, "thread_id", jv_str(rv(res, r, RVC_SESSION)));
	json_object_set_new(o, "runnable_id", jv_str(rv(res, r, RVC_AGENT)));
	json_object_set_new(o, "runnable_type", json_string("agent"));
	json_object_set_new(o, "parent_run_id", jv_str(rv(res, r, RVC_PARENT)));
	json_object_set_new(o, "experiment_id", jv_str(rv(res, r, RVC_EXPERIMENT)));
	json_object_set_new(o, "experiment_candidate_id", jv_str(rv(res, r, RVC_CANDIDATE)));
	json_object_set_new(o, "route_id", jv_str(rv(res, r, RVC_ROUTE)));
	json_object_set_new(o, "persona_id", jv_str(rv(res, r, RVC_PERSONA)));
	json_object_set_new(o, "model", jv_str(rv(res, r, RVC_MODEL)));
	json_object_set_new(o, "provider", jv_str(rv(res, r, RVC_PROVIDER)));
	json_object_set_new(o, "status", jv_str(rv(res, r, RVC_STATUS)));
	json_object_set_new(o, "cancel_requested", json_boolean(rv_int(res, r, RVC_CANCEL_REQ)));
	json_object_set_new(o, "error", rv_error(res, r));
	json_object_set_new(o, "input", rv_doc(res, r, RVC_INPUT));
	json_object_set_new(o, "output", rv_doc(res, r, RVC_OUTPUT));
	json_object_set_new(o, "metadata", rv_doc(res, r, RVC_METADATA));
	json_object_set_new(o, "usage",
	    json_pack("{s:I, s:I, s:I, s:I, s:I}", "prompt_tokens", (json_int_t)prompt,
		"cached_tokens", (json_int_t)cached, "cache_write_tokens",
		(json_int_t)rv_int(res, r, RVC_CACHE_WRITE), "completion_tokens",
		(json_int_t)completion, "total_tokens", (json_int_t)(prompt + completion)));
	json_object_set_new(o, "cost_usd", rv_usd(cost));
	json_object_set_new(o, "credits_used", json_integer(credits));
	json_object_set_new(
	    o, "cache_hit_rate", json_real(prompt > 0 ? (double)cached / (double)prompt : 0.0));
	json_object_set_new(o, "duration_ms", json_integer(rv_duration(res, r)));
	json_object_set_new(o, "steps", json_integer(rv_int(res, r, RVC_STEPS)));
	json_object_set_new(o, "attempts", json_integer(rv_int(res, r, RVC_ATTEMPTS)));
	json_object_set_new(o, "trace_id", jv_str(rv(res, r, RVC_TRACE)));
	json_object_set_new(o, "telemetry_span_id", jv_str(rv(res, r, RVC_SPAN)));
	json_object_set_new(o, "created_by_user_id", jv_str(rv(res, r, RVC_USER)));
	json_object_set_new(o, "created_by_user_name", jv_str(rv(res, r, RVC_USER_NAME)));
	json_object_set_new(o, "created_by_email", jv_str(rv(res, r, RVC_USER_EMAIL)));
	json_object_set_new(o, "created_at", jv_time(rv(res, r, RVC_CREATED)));
	json_object_set_new(o, "started_at", jv_time(rv(res, r, RVC_STARTED)));
	json_object_set_new(o, "completed_at", jv_time(rv(res, r, RVC_COMPLETED)));
	json_object_set_new(o, "failed_at", jv_time(rv(res, r, RVC_FAILED)));
	json_object_set_new(o, "cancelled_at", jv_time(rv(res, r, RVC_CANCELLED)));
	json_object_set_new(o, "updated_at", jv_time(rv(res, r, RVC_UPDATED)));
	return o;
}

static void
rw_doc(struct jw *w, const struct db_result *res, size_t r, int c)
{
	jw_doc(w, rv(res, r, c), res->len[r * res->ncols + (size_t)c]);
}

int
runview_run_write(const struct db_result *res, size_t r, long long credits_per_usd, struct jw *w)
{
	long long prompt = rv_int(res, r, RVC_PROMPT), cached = rv_int(res, r, RVC_CACHED);
	long long completion = rv_int(res, r, RVC_COMPLETION), cost = rv_int(res, r, RVC_COST);

	/* Same keys, same order, same values as runview_run(). */
	jw_lit(w, "{\"id\":");
	jw_str(w, rv(res, r, RVC_ID));
	jw_lit(w, ",\"run_id\":");
	jw_str(w, rv(res, r, RVC_ID));
	jw_lit(w, ",\"object\":\"run\",\"workspace_id\":");
	jw_str(w, rv(res, r, RVC_WS));
	jw_lit(w, ",\"agent_id\":");
	jw_str(w, rv(res, r, RVC_AGENT));
	jw_lit(w, ",\"agent_version\":");
	jw_int_cell(w, rv(res, r, RVC_AGENT_VERSION));
	jw_lit(w, ",\"agent_version_id\":");
	jw_str(w, rv(res, r, RVC_AGENT_VERSION_ID));
	jw_lit(w, ",\"session_id\":");
	jw_str(w, rv(res, r, RVC_SESSION));
	jw_lit(w, ",\"thread_id\":");
	jw_str(w, rv(res, r, RVC_SESSION));
	jw_lit(w, ",\"runnable_id\":");
	jw_str(w, rv(res, r, RVC_AGENT));
	jw_lit(w, ",\"runnable_type\":\"agent\",\"parent_run_id\":");
	jw_str(w, rv(res, r, RVC_PARENT));
	jw_lit(w, ",\"experiment_id\":");
	jw_str(w, rv(res, r, RVC_EXPERIMENT));
	jw_lit(w, ",\"experiment_candidate_id\":");
	jw_str(w, rv(res, r, RVC_CANDIDATE));
	jw_lit(w, ",\"route_id\":");
	jw_str(w, rv(res, r, RVC_ROUTE));
	jw_lit(w, ",\"persona_id\":");
	jw_str(w, rv(res, r, RVC_PERSONA));
	jw_lit(w, ",\"model\":");
	jw_str(w, rv(res, r, RVC_MODEL));
	jw_lit(w, ",\"provider\":");
	jw_str(w, rv(res, r, RVC_PROVIDER));
	jw_lit(w, ",\"status\":");
	jw_str(w, rv(res, r, RVC_STATUS));
	if (rv_int(res, r, RVC_CANCEL_REQ))
		jw_lit(w, ",\"cancel_requested\":true,\"error\":");
	else
		jw_lit(w, ",\"cancel_requested\":false,\"error\":");
	if (rv(res, r, RVC_ERR_CODE) == NULL)
		jw_lit(w, "null");
	else {
		jw_lit(w, "{\"code\":");
		jw_str(w, rv(res, r, RVC_ERR_CODE));
		jw_lit(w, ",\"message\":");
		jw_str(w, rv(res, r, RVC_ERR_MSG) != NULL ? rv(res, r, RVC_ERR_MSG) : "");
		jw_lit(w, "}");
	}
	jw_lit(w, ",\"input\":");
	rw_doc(w, res, r, RVC_INPUT);
	jw_lit(w, ",\"output\":");
	rw_doc(w, res, r, RVC_OUTPUT);
	jw_lit(w, ",\"metadata\":");
	rw_doc(w, res, r, RVC_METADATA);
	jw_lit(w, ",\"usage\":{\"prompt_tokens\":");
	jw_int(w, prompt);
	jw_lit(w, ",\"cached_tokens\":");
	jw_int(w, cached);
	jw_lit(w, ",\"cache_write_tokens\":");
	jw_int(w, rv_int(res, r, RVC_CACHE_WRITE));
	jw_lit(w, ",\"completion_tokens\":");
	jw_int(w, completion);
	jw_lit(w, ",\"total_tokens\":");
	jw_int(w, prompt + completion);
	jw_lit(w, "},\"cost_usd\":");
	jw_real(w, (double)cost / 1e9);
	jw_lit(w, ",\"credits_used\":");
	jw_int(w, money_credits(cost, credits_per_usd));
	jw_lit(w, ",\"cache_hit_rate\":");
	jw_real(w, prompt > 0 ? (double)cached / (double)prompt : 0.0);
	jw_lit(w, ",\"duration_ms\":");
	jw_int(w, rv_duration(res, r));
	jw_lit(w, ",\"steps\":");
	jw_int(w, rv_int(res, r, RVC_STEPS));
	jw_lit(w, ",\"attempts\":");
	jw_int(w, rv_int(res, r, RVC_ATTEMPTS));
	jw_lit(w, ",\"trace_id\":");
	jw_str(w, rv(res, r, RVC_TRACE));
	jw_lit(w, ",\"telemetry_span_id\":");
	jw_str(w, rv(res, r, RVC_SPAN));
	jw_lit(w, ",\"created_by_user_id\":");
	jw_str(w, rv(res, r, RVC_USER));
	jw_lit(w, ",\"created_by_user_name\":");
	jw_str(w, rv(res, r, RVC_USER_NAME));
	jw_lit(w, ",\"created_by_email\":");
	jw_str(w, rv(res, r, RVC_USER_EMAIL));
	jw_lit(w, ",\"created_at\":");
	jw_time(w, rv(res, r, RVC_CREATED));
	jw_lit(w, ",\"started_at\":");
	jw_time(w, rv(res, r, RVC_STARTED));
	jw_lit(w, ",\"completed_at\":");
	jw_time(w, rv(res, r, RVC_COMPLETED));
	jw_lit(w, ",\"failed_at\":");
	jw_time(w, rv(res, r, RVC_FAILED));
	jw_lit(w, ",\"cancelled_at\":");
	jw_time(w, rv(res, r, RVC_CANCELLED));
	jw_lit(w, ",\"updated_at\":");
	jw_time(w, rv(res, r, RVC_UPDATED));
	jw_lit(w, "}");
	return w->failed ? -1 : 0;
}

/* Row r, or every row as an array when all, with status. */
static int
runview_send(struct request_ctx *ctx, const struct db_result *res, size_t r, int all, int status)
{
	long long cpu = ctx->cfg->billing_credits_per_usd;
	char initial[RUNVIEW_WRITE_INITIAL];
	struct jw w;
	json_t *body;
	int rc;

	jw_init(&w, initial, sizeof(initial), RUNVIEW_WRITE_MAX);
	if (all) {
		jw_lit(&w, "[");
		for (size_t i = 0; i < res->nrows && !w.failed; i++) {
			if (i > 0)
				jw_lit(&w, ",");
			(void)runview_run_write(res, i, cpu, &w);
		}
		jw_lit(&w, "]");
	} else
		(void)runview_run_write(res, r, cpu, &w);
	if (!w.failed) {
		rc = http_send(ctx->req, status, NULL, "application/json", w.buf, w.len);
		jw_free(&w);
		return rc;
	}
	/* Not valid UTF-8, too big, out of memory: jansson decides, as it always did. */
	jw_free(&w);
	if (all) {
		body = json_array();
		for (size_t i = 0; i < res->nrows; i++)
			json_array_append_new(body, runview_run(res, i, cpu));
	} else
		body = runview_run(res, r, cpu);
	return http_send_json(ctx->req, status, body);
}

int
runview_send_run(struct request_ctx *ctx, const struct db_result *res, size_t r)
{
	return runview_send(ctx, res, r, 0, 200);
}

int
runview_send_run_as(struct request_ctx *ctx, const struct db_result *res, size_t r, int status)
{
	return runview_send(ctx, res, r, 0, status);
}

int
runview_send_runs(struct request_ctx *ctx, const struct db_result *res)
{
	return runview_send(ctx, res, 0, 1, 200);
}

json_t *
runview_execution(const struct db_result *res, size_t r)
{
	long long prompt = rv_int(res, r, RVC_PROMPT), completion = rv_int(res, r, RVC_COMPLETION);
	const char *err = rv(res, r, RVC_ERR_MSG);
	json_t *o = json_object();

	json_object_set_new(o, "id", jv_str(rv(res, r, RVC_ID)));
	json_object_set_new(o, "agent_id", jv_str(rv(res, r, RVC_AGENT)));
	json_object_set_new(o, "agent_version_id", jv_str(rv(res, r, RVC_AGENT_VERSION_ID)));
	json_object_set_new(o, "workspace_id", jv_str(rv(res, r, RVC_WS)));
	json_object_set_new(o, "user_id", jv_str(rv(res, r, RVC_USER)));
	json_object_set_new(o, "session_id", jv_str(rv(res, r, RVC_SESSION)));
	json_object_set_new(o, "status", jv_str(rv(res, r, RVC_STATUS)));
	json_object_set_new(o, "input", rv_doc(res, r, RVC_INPUT));
	json_object_set_new(o, "output", rv_doc(res, r, RVC_OUTPUT));
	json_object_set_new(o, "error",
	    rv(res, r, RVC_ERR_CODE) == NULL
		? json_null()
		: json_string(err != NULL && err[0] ? err : rv(res, r, RVC_ERR_CODE)));
	json_object_set_new(o, "metadata", rv_doc(res, r, RVC_METADATA));
	json_object_set_new(o, "token_usage",
	    json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)prompt, "completion_tokens",
		(json_int_t)completion, "total_tokens", (json_int_t)(prompt + completion)));
	json_object_set_new(o, "cost", rv_usd(rv_int(res, r, RVC_COST)));
	json_object_set_new(o, "duration_ms", json_integer(rv_duration(res, r)));
	json_object_set_new(o, "trace_id", jv_str(rv(res, r, RVC_TRACE)));
	json_object_set_new(o, "started_at", jv_time(rv(res, r, RVC_STARTED)));
	json_object_set_new(o, "completed_at", jv_time(rv(res, r, RVC_ENDED)));
	json_object_set_new(o, "created_at", jv_time(rv(res, r, RVC_CREATED)));
	return o;
}
