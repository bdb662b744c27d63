/*
 * The executions family: GET /api/v1/executions (page/limit with
 * {"data", "meta"}), GET /api/v1/executions/{id} ({"data": Execution}),
 * POST /api/v1/executions/{id}/cancel|approve|reject and
 * GET /api/v1/approvals. An execution is a run seen through
 * runview_execution(); errors keep the standard error body.
 *
 * Cancel, approve and reject are the runs' transitions: these handlers
 * call runs.c's, which answer {"data": Execution} on these routes.
 */
#include <string.h>

#include "../core/db.h"
#include "api.h"
#include "handlers.h"
#include "params.h"
#include "runview.h"

#define EXEC_PAGE_MAX 1000000 /* keeps (page - 1) * limit far from overflow */
#define EXEC_STATUS_LIST_MAX 512

/*
 * Pages, newest first. With agent_id the (workspace_id, agent_id, id) index
 * leads; the status list is "? IS NULL OR FIND_IN_SET" (NULL = any). The
 * total counts with the same filters.
 */
#define EXEC_F_STATUS " AND (? IS NULL OR FIND_IN_SET(r.status, ?))"

static const char exec_sql_list[] =
    "SELECT " RUNVIEW_COLUMNS RUNVIEW_FROM " WHERE r.workspace_id = ?" EXEC_F_STATUS
    " ORDER BY r.id DESC LIMIT ? OFFSET ?";
static const char exec_sql_list_agent[] =
    "SELECT " RUNVIEW_COLUMNS RUNVIEW_FROM
    " WHERE r.workspace_id = ? AND r.agent_id = ?" EXEC_F_STATUS
    " ORDER BY r.id DESC LIMIT ? OFFSET ?";
static const char exec_sql_count[] =
    "SELECT COUNT(*) FROM runs r WHERE r.workspace_id = ?" EXEC_F_STATUS;
static const char exec_sql_count_agent[] =
    "SELECT COUNT(*) FROM runs r WHERE r.workspace_id = ? AND r.agent_id = ?" EXEC_F_STATUS;
/* ix_runs_ws_status_id (workspace_id, status, id) */
static const char exec_sql_approvals[] =
    "SELECT " RUNVIEW_COLUMNS RUNVIEW_FROM
    " WHERE r.workspace_id = ? AND r.status = 'awaiting_approval' AND r.id < ?"
    " ORDER BY r.id DESC LIMIT ?";

#define EXEC_NO_CURSOR "z" /* sorts above every id */

static const char *const exec_statuses[] = { "pending", "running", "completed", "failed", "timeout",
	"cancelled", "waiting_for_input", "awaiting_approval", "approved", "rejected", NULL };

int
h_executions(struct request_ctx *ctx)
{
	char agent_id[ID_BUFSZ], status[EXEC_STATUS_LIST_MAX];
	long long page, limit, total;
	struct db_result *res;
	struct db_param p[6];
	int has_agent, has_status;
	size_t n = 0;
	json_t *arr;

	if (params_query_int(ctx, "page", 1, EXEC_PAGE_MAX, 1, &page) == -1 ||
	    params_query_int(ctx, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, &limit) == -1 ||
	    (has_agent = params_query_id(ctx, "agent_id", agent_id)) == -1 ||
	    (has_status = params_query_csv(ctx, "status", exec_statuses, status, sizeof(status))) ==
		-1)
		return -1;

	p[n++] = dbp_str(ctx->auth.workspace_id);
	if (has_agent)
		p[n++] = dbp_str(agent_id);
	p[n++] = dbp_str(has_status ? status : NULL);
	p[n++] = dbp_str(has_status ? status : NULL);
	if (db_query(ctx->db, has_agent ? exec_sql_count_agent : exec_sql_count, p, n, &res) == -1)
		return api_db_failure(ctx, "execution_count");
	total = db_cell_int(res, 0, 0, 0);
	db_result_free(res);

	p[n++] = DBP_INT(limit);
	p[n++] = DBP_INT((page - 1) * limit);
	if (db_query(ctx->db, has_agent ? exec_sql_list_agent : exec_sql_list, p, n, &res) == -1)
		return api_db_failure(ctx, "execution_list");
	arr = json_array();
	for (size_t r = 0; r < res->nrows; r++)
		json_array_append_new(arr, runview_execution(res, r));
	db_result_free(res);
	return http_send_json(ctx->req, 200,
	    json_pack("{s:o, s:{s:I, s:I, s:I}}", "data", arr, "meta", "page", (json_int_t)page,
		"limit", (json_int_t)limit, "total", (json_int_t)total));
}

int
h_execution(struct request_ctx *ctx)
{
	const char *id = ctx->match.params[0];
	struct db_result *res;
	int found, rc;

	if (!id_valid(id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "execution not found");
	if ((found = runview_load(ctx, id, &res)) == -1)
		return api_db_failure(ctx, "execution_get");
	if (found == 0)
		return http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "execution %s not found", id);
	rc = http_send_json(ctx->req, 200, json_pack("{s:o}", "data", runview_execution(res, 0)));
	db_result_free(res);
	return rc;
}

int
h_execution_cancel(struct request_ctx *ctx)
{
	return h_run_cancel(ctx);
}

int
h_execution_approve(struct request_ctx *ctx)
{
	return h_run_approve(ctx);
}

int
h_execution_reject(struct request_ctx *ctx)
{
	return h_run_reject(ctx);
}

/* GET /api/v1/approvals: the canonical list of runs awaiting approval. */
int
h_approvals(struct request_ctx *ctx)
{
	struct list_params lp;
	struct db_result *res;
	struct db_param p[3];
	json_t *arr;
	int found;

	if (params_list(ctx, &lp) == -1)
		return -1;
	if (lp.has_before) {
		/* Any run of the workspace: the cursor's run may have been decided since. */
		found = runview_load(ctx, lp.before, &res);
		db_result_free(res);
		if (found == -1)
			return api_db_failure(ctx, "approval_cursor");
		if (found == 0)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", "before"), "before: unknown cursor");
	}
	p[0] = dbp_str(ctx->auth.workspace_id);
	p[1] = dbp_str(lp.has_before ? lp.before : EXEC_NO_CURSOR);
	p[2] = DBP_INT(lp.limit);
	if (db_query(ctx->db, exec_sql_approvals, p, 3, &res) == -1)
		return api_db_failure(ctx, "approval_list");
	arr = json_array();
	for (size_t r = 0; r < res->nrows; r++)
		json_array_append_new(arr, runview_run(res, r, ctx->cfg->billing_credits_per_usd));
	db_result_free(res);
	return http_send_json(ctx->req, 200, arr);
}
