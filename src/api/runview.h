/*
 * The Run object (API.md §2) and the executions family's Execution view,
 * built from one row selected with RUNVIEW_COLUMNS / RUNVIEW_FROM.
 */
#ifndef AGENTRUN_API_RUNVIEW_H
#define AGENTRUN_API_RUNVIEW_H

#include <jansson.h>
#include <stddef.h>

struct db_result;
struct jw;
struct request_ctx;

/* Stack space runview_send_run() starts with: a typical Run fits (~1.6 KB). */
#define RUNVIEW_WRITE_INITIAL 4096
/* Past this the response is built with jansson (no cap), as before. */
#define RUNVIEW_WRITE_MAX (64 * 1024 * 1024)

/* Column order is fixed: runview.c reads cells by these positions. */
#define RUNVIEW_COLUMNS                                                                   \
	"r.id, r.workspace_id, r.agent_id, r.agent_version, r.agent_version_id,"          \
	" r.session_id, r.parent_run_id, r.experiment_id, r.experiment_candidate_id,"     \
	" r.route_id, r.persona_id, r.model, r.status, r.cancel_requested, r.error_code," \
	" r.error_message, r.input, r.output, r.metadata, r.prompt_tokens,"               \
	" r.cached_tokens, r.cache_write_tokens, r.completion_tokens, r.cost_nusd,"       \
	" r.steps, r.attempts, r.trace_id, r.telemetry_span_id, r.created_by_user_id,"    \
	" u.name, u.email, r.created_at, r.started_at, r.completed_at, r.failed_at,"      \
	" r.cancelled_at, r.updated_at, r.provider, r.ended_at,"                          \
	" TIMESTAMPDIFF(MICROSECOND, r.started_at, COALESCE(r.ended_at, NOW(3))) DIV 1000"
#define RUNVIEW_FROM " FROM runs r LEFT JOIN users u ON u.id = r.created_by_user_id"
/*
 * The same columns as the RETURNING list of an INSERT INTO runs, read from
 * the rows as inserted: runview_run() builds a created run's response from
 * them exactly as GET /api/v1/runs/{id} would from its SELECT.
 */
#define RUNVIEW_RETURNING                                                                      \
	" RETURNING id, workspace_id, agent_id, agent_version, agent_version_id, session_id,"  \
	" parent_run_id, experiment_id, experiment_candidate_id, route_id, persona_id, model," \
	" status, cancel_requested, error_code, error_message, input, output, metadata,"       \
	" prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, cost_nusd,"     \
	" steps, attempts, trace_id, telemetry_span_id, created_by_user_id,"                   \
	" (SELECT u.name FROM users u WHERE u.id = runs.created_by_user_id),"                  \
	" (SELECT u.email FROM users u WHERE u.id = runs.created_by_user_id),"                 \
	" created_at, started_at, completed_at, failed_at, cancelled_at, updated_at,"          \
	" provider, ended_at,"                                                                 \
	" TIMESTAMPDIFF(MICROSECOND, started_at, COALESCE(ended_at, NOW(3))) DIV 1000"

/* Column positions in a row selected with RUNVIEW_COLUMNS. */
enum runview_col {
	RVC_ID,
	RVC_WS,
	RVC_AGENT,
	RVC_AGENT_VERSION,
	RVC_AGENT_VERSION_ID,
	RVC_SESSION,
	RVC_PARENT,
	RVC_EXPERIMENT,
	RVC_CANDIDATE,
	RVC_ROUTE,
	RVC_PERSONA,
	RVC_MODEL,
	RVC_STATUS,
	RVC_CANCEL_REQ,
	RVC_ERR_CODE,
	RVC_ERR_MSG,
	RVC_INPUT,
	RVC_OUTPUT,
	RVC_METADATA,
	RVC_PROMPT,
	RVC_CACHED,
	RVC_CACHE_WRITE,
	RVC_COMPLETION,
	RVC_COST,
	RVC_STEPS,
	RVC_ATTEMPTS,
	RVC_TRACE,
	RVC_SPAN,
	RVC_USER,
	RVC_USER_NAME,
	RVC_USER_EMAIL,
	RVC_CREATED,
	RVC_STARTED,
	RVC_COMPLETED,
	RVC_FAILED,
	RVC_CANCELLED,
	RVC_UPDATED,
	RVC_PROVIDER,
	RVC_ENDED,
	RVC_DURATION,
	RVC__MAX
};

/* The Run object of row r (new reference). credits_per_usd from the config. */
json_t *runview_run(const struct db_result *res, size_t r, long long credits_per_usd);

/*
 * Appends the Run object of row r to w: byte for byte what json_dumps of
 * runview_run() gives, without building it. 0, or -1 when w failed (a cell
 * that is not valid UTF-8, past w's cap, out of memory): then the caller
 * uses runview_run(), which decides such cases as it always has.
 */
int runview_run_write(
    const struct db_result *res, size_t r, long long credits_per_usd, struct jw *w);

/* Sends 200 with the Run object of row r (the single-run GET). Borrows res. */
int runview_send_run(struct request_ctx *ctx, const struct db_result *res, size_t r);

/*
 * The same with another status: a create answers 201 with the Run it wrote,
 * written straight into the response (json_dumps of the jansson tree was
 * ~60% of an API worker's instructions per create).
 */
int runview_send_run_as(struct request_ctx *ctx, const struct db_result *res, size_t r, int status);

/* Sends 200 with every row's Run object in an array (the lists). Borrows res. */
int runview_send_runs(struct request_ctx *ctx, const struct db_result *res);

/* The Execution view of row r (new reference). */
json_t *runview_execution(const struct db_result *res, size_t r);

/*
 * Loads one run of the caller's workspace. 1 found (*res holds it), 0 not
 * found, -1 database error. The caller frees *res.
 */
int runview_load(struct request_ctx *ctx, const char *run_id, struct db_result **res);

/* 1 when status is terminal (completed, failed, timeout, cancelled, rejected). */
int runview_terminal(const char *status);

#endif
