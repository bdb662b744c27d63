/*
 * Analytics and the price table: GET /api/v1/analytics/runs/{id}/costs,
 * GET /api/v1/analytics/usage, GET /api/v1/analytics/billing and
 * GET /api/v1/models. Any key of a workspace may read them; everything is
 * filtered by the caller's workspace (models are global).
 *
 * Exactness: money is summed in SQL as integers (nano-dollars, BIGINT
 * columns whose SUM is an exact DECIMAL, read as text and range-checked,
 * never cast back to BIGINT, which saturates) and totals are checked sums
 * of those integers here; dollars appear only in the JSON, as nusd / 1e9
 * next to the exact cost_nusd. A sum that does not fit in 64 bits is a
 * 500 INTERNAL_ERROR that says so, never a saturated or wrapped number. credits_used is computed from
 * each group's summed nano-dollars (and from the total's for totals), so
 * the credits of the groups may add up to a little more than the total's.
 *
 * Costs per run read llm_calls (the cost of each call was fixed when it was
 * recorded); usage and billing read the usage_daily rollup, where a run
 * counts on its creation day and a call's tokens and cost on the call's
 * day (both UTC), so a run that straddles midnight shows up on two days.
 */
#include <stdio.h>
#include <string.h>

#include "../core/db.h"
#include "../core/jsonv.h"
#include "../core/money.h"
#include "../core/utcday.h"
#include "api.h"
#include "handlers.h"

#define AN_SPAN_MAX_DAYS 366 /* longest from..to range, both ends included */
#define AN_DEFAULT_DAYS 30 /* the default range: the last 30 days ending today */

/*
 * A model is priced for a run when every call of it was. A call counts as
 * priced when its flag says so or when it recorded non-zero unit prices:
 * rows written while the executor stored the flag as 0 for every call
 * (its JSON boolean read as an integer) still tell priced calls apart by
 * the prices copied into them.
 */
#define AN_PRICED                                                                         \
	" MIN(priced <> 0 OR input_per_mtok_nusd <> 0 OR cached_input_per_mtok_nusd <> 0" \
	" OR cache_write_per_mtok_nusd <> 0 OR output_per_mtok_nusd <> 0)"

static const char an_sql_run[] = "SELECT id FROM runs WHERE workspace_id = ? AND id = ?";
static const char an_sql_run_costs[] =
    "SELECT provider, model, COUNT(*), SUM(prompt_tokens), SUM(cached_tokens),"
    " SUM(cache_write_tokens), SUM(completion_tokens), SUM(cost_nusd)," AN_PRICED
    " FROM llm_calls WHERE workspace_id = ? AND run_id = ? GROUP BY provider, model"
    " ORDER BY provider COLLATE utf8mb4_bin, model COLLATE utf8mb4_bin";

/*
 * usage_daily grouped by one key: the first column is the key, then the
 * sums in the order of enum an_col. Each reads the primary-key range
 * (workspace_id, day BETWEEN from AND to).
 */
#define AN_SUMS                                                           \
	" SUM(runs), SUM(calls), SUM(prompt_tokens), SUM(cached_tokens)," \
	" SUM(cache_write_tokens), SUM(completion_tokens), SUM(cost_nusd)"
#define AN_RANGE " FROM usage_daily WHERE workspace_id = ? AND day BETWEEN ? AND ?"

static const char an_sql_by_day[] =
    "SELECT DATE_FORMAT(day, '%Y-%m-%d')," AN_SUMS AN_RANGE " GROUP BY day ORDER BY day";
static const char an_sql_by_agent[] =
    "SELECT agent_id," AN_SUMS AN_RANGE " GROUP BY agent_id ORDER BY agent_id";
static const char an_sql_by_user[] =
    "SELECT user_id," AN_SUMS AN_RANGE " GROUP BY user_id ORDER BY user_id";
static const char an_sql_by_model[] = "SELECT CONCAT(provider, '/', model) AS k," AN_SUMS AN_RANGE
				      " GROUP BY provider, model ORDER BY k COLLATE utf8mb4_bin";

static const char an_sql_models[] =
    "SELECT provider, model, input_per_mtok_nusd, cached_input_per_mtok_nusd,"
    " cache_write_per_mtok_nusd, output_per_mtok_nusd, updated_at FROM models"
    " ORDER BY provider COLLATE utf8mb4_bin, model COLLATE utf8mb4_bin";

/* Columns of the grouped usage queries after the key. */
enum an_col {
	AN_RUNS,
	AN_CALLS,
	AN_PROMPT,
	AN_CACHED,
	AN_CACHE_WRITE,
	AN_COMPLETION,
	AN_COST,
	AN_COL__MAX
};

static const char *const an_col_names[AN_COL__MAX] = { "runs", "calls", "prompt_tokens",
	"cached_tokens", "cache_write_tokens", "completion_tokens", "cost_nusd" };

static const struct {
	const char *name;
	const char *sql;
} an_groups[] = {
	{ "day", an_sql_by_day },
	{ "agent", an_sql_by_agent },
	{ "model", an_sql_by_model },
	{ "user", an_sql_by_user },
};

/* Nano-dollars as a JSON number of dollars; new reference. */
static json_t *
an_usd(long long nusd)
{
	return json_real((double)nusd / 1e9);
}

/*
 * The sums of one group (or the totals) as JSON, after the field name:
 * value (stolen) when name is not NULL; new reference.
 */
static json_t *
an_sums_view(
    const char *name, json_t *value, const long long v[AN_COL__MAX], long long credits_per_usd)
{
	json_t *o = json_object();

	if (name != NULL)
		json_object_set_new(o, name, value);

	for (int c = 0; c < AN_COL__MAX; c++)
		json_object_set_new(o, an_col_names[c], json_integer(v[c]));
	json_object_set_new(o, "cost_usd", an_usd(v[AN_COST]));
	json_object_set_new(
	    o, "credits_used", json_integer(money_credits(v[AN_COST], credits_per_usd)));
	return o;
}

/*
 * Answers 500 for a sum too large for 64 bits (column name, or "total_" +
 * it): that much usage cannot be real (docs/operations.md), and a wrapped
 * or saturated figure on a bill is worse than none. Returns -1.
 */
static int
an_too_large(struct request_ctx *ctx, const char *what, int total)
{
	char field[40];

	snprintf(field, sizeof(field), "%s%s", total ? "total_" : "", what);
	return http_send_error(ctx->req, 500, ERR_INTERNAL, json_pack("{s:s}", "field", field),
	    "%s: the sum is too large to represent (more than 2^63 - 1); it cannot be reported",
	    field);
}

/*
 * Reads the sums of row r (columns 1…) into v and adds them to total.
 * Returns 0, or -1 after sending the error for a sum that does not fit.
 */
static int
an_row_sums(struct request_ctx *ctx, const struct db_result *res, size_t r,
    long long v[AN_COL__MAX], long long total[AN_COL__MAX])
{
	for (int c = 0; c < AN_COL__MAX; c++) {
		if (money_sum_parse(db_cell(res, r, (size_t)c + 1), &v[c]) == -1)
			return an_too_large(ctx, an_col_names[c], 0);
		if (money_add(&total[c], v[c]) == -1)
			return an_too_large(ctx, an_col_names[c], 1);
	}
	return 0;
}

/*
 * Reads from and to (UTC dates, inclusive) into day numbers. Defaults: to
 * is today, from is AN_DEFAULT_DAYS - 1 days before to. Returns 0, or -1
 * after sending 400 naming the parameter (a range error names from).
 */
static int
an_range(struct request_ctx *ctx, long *from, long *to)
{
	static const char *const names[2] = { "from", "to" };
	long *days[2] = { from, to };
	int given[2];

	for (int i = 0; i < 2; i++) {
		char buf[16];

		given[i] = http_query_param(ctx->req->query, names[i], buf, sizeof(buf));
		if (given[i] == 1 && utcday_parse(buf, days[i]) == -1)
			given[i] = -1;
		if (given[i] == -1)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
				   json_pack("{s:s}", "field", names[i]),
				   "%s: must be a date YYYY-MM-DD (UTC)", names[i]),
			       -1;
	}
	if (given[1] == 0)
		*to = utcday_today();
	if (given[0] == 0)
		*from = *to - (AN_DEFAULT_DAYS - 1);
	if (*from > *to)
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			   json_pack("{s:s}", "field", "from"), "from: must not be after to"),
		       -1;
	if (*to - *from + 1 > AN_SPAN_MAX_DAYS)
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			   json_pack("{s:s}", "field", "from"),
			   "from: the range from..to may span at most %d days", AN_SPAN_MAX_DAYS),
		       -1;
	return 0;
}

/* Runs one grouped usage query over from..to; -1 after sending the error. */
static int
an_query_range(struct request_ctx *ctx, const char *sql, const char *from, const char *to,
    struct db_result **res)
{
	struct db_param p[3] = { dbp_str(ctx->auth.workspace_id), dbp_str(from), dbp_str(to) };

	if (db_query(ctx->db, sql, p, 3, res) == -1)
		return api_db_failure(ctx, "usage_range"), -1;
	return 0;
}

int
h_analytics_usage(struct request_ctx *ctx)
{
	long long total[AN_COL__MAX] = { 0 }, v[AN_COL__MAX];
	long long credits_per_usd = ctx->cfg->billing_credits_per_usd;
	char from[UTCDAY_BUFSZ], to[UTCDAY_BUFSZ], group[16];
	struct db_result *res;
	json_t *groups, *body;
	long dfrom = 0, dto = 0;
	size_t g = 0;
	int rc;

	rc = http_query_param(ctx->req->query, "group_by", group, sizeof(group));
	if (rc == 1) {
		for (g = 0; g < sizeof(an_groups) / sizeof(an_groups[0]); g++)
			if (strcmp(group, an_groups[g].name) == 0)
				break;
		if (g == sizeof(an_groups) / sizeof(an_groups[0]))
			rc = -1;
	}
	if (rc == -1)
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "group_by"),
		    "group_by: must be day, agent, model or user");
	if (an_range(ctx, &dfrom, &dto) == -1)
		return -1;
	utcday_format(dfrom, from);
	utcday_format(dto, to);
	if (an_query_range(ctx, an_groups[g].sql, from, to, &res) == -1)
		return -1;

	groups = json_array();
	for (size_t r = 0; r < res->nrows; r++) {
		if (an_row_sums(ctx, res, r, v, total) == -1) {
			json_decref(groups);
			db_result_free(res);
			return -1;
		}
		json_array_append_new(
		    groups, an_sums_view("key", jv_str(db_cell(res, r, 0)), v, credits_per_usd));
	}
	db_result_free(res);
	body = json_pack("{s:s, s:s, s:s, s:o, s:o}", "from", from, "to", to, "group_by",
	    an_groups[g].name, "totals", an_sums_view(NULL, NULL, total, credits_per_usd), "groups",
	    groups);
	return http_send_json(ctx->req, 200, body);
}

int
h_analytics_billing(struct request_ctx *ctx)
{
	long long total[AN_COL__MAX] = { 0 }, v[AN_COL__MAX];
	long long credits_per_usd = ctx->cfg->billing_credits_per_usd;
	char from[UTCDAY_BUFSZ], to[UTCDAY_BUFSZ], date[UTCDAY_BUFSZ];
	struct db_result *res;
	json_t *days, *body;
	long dfrom = 0, dto = 0;
	size_t r = 0;

	if (an_range(ctx, &dfrom, &dto) == -1)
		return -1;
	utcday_format(dfrom, from);
	utcday_format(dto, to);
	if (an_query_range(ctx, an_sql_by_day, from, to, &res) == -1)
		return -1;

	/* Every day of the range, zeros where the rollup has no row (rows come ordered by day). */
	days = json_array();
	for (long d = dfrom; d <= dto; d++) {
		utcday_format(d, date);
		if (r < res->nrows &&
		    strcmp(db_cell(res, r, 0) ? db_cell(res, r, 0) : "", date) == 0) {
			if (an_row_sums(ctx, res, r++, v, total) == -1) {
				json_decref(days);
				db_result_free(res);
				return -1;
			}
		} else
			memset(v, 0, sizeof(v));
		json_array_append_new(
		    days, an_sums_view("date", json_string(date), v, credits_per_usd));
	}
	db_result_free(res);
	body = json_pack("{s:s, s:s, s:o, s:o, s:I, s:o}", "from", from, "to", to, "days", days,
	    "total_cost_usd", an_usd(total[AN_COST]), "total_cost_nusd", (json_int_t)total[AN_COST],
	    "totals", an_sums_view(NULL, NULL, total, credits_per_usd));
	return http_send_json(ctx->req, 200, body);
}

int
h_analytics_run_costs(struct request_ctx *ctx)
{
	const char *id = ctx->match.params[0];
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(id) };
	struct db_result *res;
	long long total = 0;
	json_t *models;
	int found;

	if (!id_valid(id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "run not found");
	if (db_query(ctx->db, an_sql_run, p, 2, &res) == -1)
		return api_db_failure(ctx, "run_get");
	found = res->nrows > 0;
	db_result_free(res);
	if (!found)
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "run %s not found", id);
	if (db_query(ctx->db, an_sql_run_costs, p, 2, &res) == -1)
		return api_db_failure(ctx, "run_costs");

	models = json_array();
	for (size_t r = 0; r < res->nrows; r++) {
		/* tokens: prompt, cached, cache_write, completion; then cost (columns 3-7) */
		static const char *const names[5] = { "prompt_tokens", "cached_tokens",
			"cache_write_tokens", "completion_tokens", "cost_nusd" };
		long long v[5];

		for (int c = 0; c < 5; c++)
			if (money_sum_parse(db_cell(res, r, (size_t)c + 3), &v[c]) == -1) {
				json_decref(models);
				db_result_free(res);
				return an_too_large(ctx, names[c], 0);
			}
		if (money_add(&total, v[4]) == -1) {
			json_decref(models);
			db_result_free(res);
			return an_too_large(ctx, "cost_nusd", 1);
		}
		json_array_append_new(models,
		    json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:b}", "provider",
			jv_str(db_cell(res, r, 0)), "model", jv_str(db_cell(res, r, 1)), "calls",
			(json_int_t)db_cell_int(res, r, 2, 0), "prompt_tokens", (json_int_t)v[0],
			"cached_tokens", (json_int_t)v[1], "cache_write_tokens", (json_int_t)v[2],
			"completion_tokens", (json_int_t)v[3], "cost_usd", an_usd(v[4]),
			"cost_nusd", (json_int_t)v[4], "priced", db_cell_int(res, r, 8, 1) != 0));
	}
	db_result_free(res);
	return http_send_json(ctx->req, 200,
	    json_pack("{s:s, s:o, s:I, s:o}", "run_id", id, "total_cost_usd", an_usd(total),
		"total_cost_nusd", (json_int_t)total, "models", models));
}

/* One row of the price table; new reference. */
static json_t *
an_model_view(const struct db_result *res, size_t r)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "provider",
	    jv_str(db_cell(res, r, 0)), "model", jv_str(db_cell(res, r, 1)), "input_per_mtok_usd",
	    an_usd(db_cell_int(res, r, 2, 0)), "cached_input_per_mtok_usd",
	    an_usd(db_cell_int(res, r, 3, 0)), "cache_write_per_mtok_usd",
	    an_usd(db_cell_int(res, r, 4, 0)), "output_per_mtok_usd",
	    an_usd(db_cell_int(res, r, 5, 0)), "updated_at", jv_time(db_cell(res, r, 6)));
}

int
h_models(struct request_ctx *ctx)
{
	struct db_result *res;

	if (db_query(ctx->db, an_sql_models, NULL, 0, &res) == -1)
		return api_db_failure(ctx, "models");
	return api_send_rows(ctx, res, an_model_view);
}
