/*
 * agentrunctl report / price / reporting-user: what admins run for costs.
 *
 *   report billing|usage  sums the report views (sql/migrations/0003) over a
 *                         range of UTC days, like GET /api/v1/analytics/…
 *                         but for one workspace or all of them.
 *   price set|list        the price table; a change updates `models` and
 *                         appends to `model_price_history` in one
 *                         transaction. Recorded llm_calls keep their cost.
 *   reporting-user create a MariaDB account that may SELECT the report views
 *                         and nothing else.
 *
 * Money is integer nano-dollars end to end: prices are parsed from decimal
 * text and sums are printed as decimal text (usd.c), never through floats;
 * a sum too large for 64 bits is an error (exit 1), never a wrapped number
 * (except the JSON format's cost_usd numbers, which sit beside the exact
 * cost_nusd as in the API).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/accounts.h"
#include "../core/config.h"
#include "../core/db.h"
#include "../core/money.h"
#include "../core/usd.h"
#include "../core/utcday.h"
#include "ctl.h"

#define REP_SPAN_MAX_DAYS 366 /* as the analytics endpoints */
#define REP_DEFAULT_DAYS 30
#define REP_PRICE_MAX_NUSD 1000000000000LL /* $1000 per million tokens */
#define REP_MODEL_MAX 255 /* bytes, models.model */
#define REP_USER_MAX 32
#define REP_HOST_MAX 60
#define REP_PASSWORD_MIN 8
#define REP_PASSWORD_MAX 128
#define REP_PASSWORD_BYTES 24 /* generated: 48 hex characters */
#define REP_SQL_MAX 512
#define REP_DEFAULT_USER "agentrun_reports"

/* MariaDB error numbers the account commands explain. */
#define REP_ER_CANNOT_USER 1396 /* CREATE USER of an existing account */
#define REP_ER_DBACCESS_DENIED 1044
#define REP_ER_ACCESS_DENIED 1045
#define REP_ER_TABLEACCESS_DENIED 1142
#define REP_ER_SPECIFIC_ACCESS_DENIED 1227
#define REP_ER_NO_SUCH_TABLE 1146

/* The views of 0003_reports.sql: what a reporting user may read. */
static const char *const rep_views[] = { "report_billing_daily", "report_usage_by_model",
	"report_usage_by_agent", "report_usage_by_user", "report_run_costs", "report_top_runs",
	"report_agent_reliability", "report_run_durations", NULL };

/*
 * Sums over from..to of one view grouped by one key: the key, then the
 * columns of enum rep_col. "? IS NULL OR workspace_id = ?" is the optional
 * workspace; the views push both conditions into their own grouping.
 * The sums come back as exact DECIMAL text and are range-checked
 * (money_sum_parse), never cast to BIGINT, which saturates silently.
 */
#define REP_SUMS                                                          \
	" SUM(runs), SUM(calls), SUM(prompt_tokens), SUM(cached_tokens)," \
	" SUM(cache_write_tokens), SUM(completion_tokens), SUM(cost_nusd)"
#define REP_WHERE " WHERE (? IS NULL OR workspace_id = ?) AND day BETWEEN ? AND ?"

static const char rep_sql_by_day[] =
    "SELECT DATE_FORMAT(day, '%Y-%m-%d')," REP_SUMS " FROM report_billing_daily" REP_WHERE
    " GROUP BY day ORDER BY day";
static const char rep_sql_by_agent[] =
    "SELECT agent_id," REP_SUMS " FROM report_usage_by_agent" REP_WHERE
    " GROUP BY agent_id ORDER BY agent_id";
static const char rep_sql_by_model[] =
    "SELECT CONCAT(provider, '/', model) AS k," REP_SUMS " FROM report_usage_by_model" REP_WHERE
    " GROUP BY provider, model ORDER BY k COLLATE utf8mb4_bin";
static const char rep_sql_by_user[] =
    "SELECT user_id," REP_SUMS " FROM report_usage_by_user" REP_WHERE
    " GROUP BY user_id ORDER BY user_id";
static const char rep_sql_by_workspace[] =
    "SELECT workspace_id," REP_SUMS " FROM report_billing_daily" REP_WHERE
    " GROUP BY workspace_id ORDER BY workspace_id";

static const char rep_sql_price_get[] =
    "SELECT input_per_mtok_nusd, cached_input_per_mtok_nusd, cache_write_per_mtok_nusd,"
    " output_per_mtok_nusd FROM models WHERE provider = ? AND model = ? FOR UPDATE";
static const char rep_sql_price_upsert[] =
    "INSERT INTO models (provider, model, input_per_mtok_nusd, cached_input_per_mtok_nusd,"
    " cache_write_per_mtok_nusd, output_per_mtok_nusd, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))"
    " ON DUPLICATE KEY UPDATE input_per_mtok_nusd = VALUES(input_per_mtok_nusd),"
    " cached_input_per_mtok_nusd = VALUES(cached_input_per_mtok_nusd),"
    " cache_write_per_mtok_nusd = VALUES(cache_write_per_mtok_nusd),"
    " output_per_mtok_nusd = VALUES(output_per_mtok_nusd), updated_at = UTC_TIMESTAMP(3)";
static const char rep_sql_price_history[] =
    "INSERT INTO model_price_history (provider, model, input_per_mtok_nusd,"
    " cached_input_per_mtok_nusd, cache_write_per_mtok_nusd, output_per_mtok_nusd,"
    " effective_from, recorded_at, note)"
    " VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), 'agentrunctl price set')";
static const char rep_sql_price_list[] =
    "SELECT provider, model, input_per_mtok_nusd, cached_input_per_mtok_nusd,"
    " cache_write_per_mtok_nusd, output_per_mtok_nusd FROM models"
    " ORDER BY provider COLLATE utf8mb4_bin, model COLLATE utf8mb4_bin";

enum rep_col {
	REP_RUNS,
	REP_CALLS,
	REP_PROMPT,
	REP_CACHED,
	REP_CACHE_WRITE,
	REP_COMPLETION,
	REP_COST,
	REP_COL__MAX
};

static const char *const rep_col_names[REP_COL__MAX] = { "runs", "calls", "prompt_tokens",
	"cached_tokens", "cache_write_tokens", "completion_tokens", "cost_nusd" };

static const struct {
	const char *name;
	const char *key_name; /* the key column's header */
	const char *sql;
} rep_groups[] = {
	{ "day", "day", rep_sql_by_day },
	{ "agent", "agent_id", rep_sql_by_agent },
	{ "model", "model", rep_sql_by_model },
	{ "user", "user_id", rep_sql_by_user },
	{ "workspace", "workspace_id", rep_sql_by_workspace },
};

enum rep_format {
	REP_TABLE,
	REP_CSV,
	REP_JSON
};

/* One row of a report: its key and sums. */
struct rep_row {
	char key[REP_MODEL_MAX + 40];
	long long v[REP_COL__MAX];
};

struct rep_report {
	int billing; /* else usage */
	size_t group; /* index into rep_groups */
	enum rep_format format;
	char from[UTCDAY_BUFSZ], to[UTCDAY_BUFSZ];
	const char *workspace; /* NULL = every workspace */
	long long credits_per_usd;
	struct rep_row *rows;
	size_t nrows;
	long long total[REP_COL__MAX];
};

/*
 * "--name value" options. Every argument from `from` on must be one of
 * known followed by a value, each at most once; values[i] is known[i]'s
 * (NULL when absent). Returns 0, or -1 after saying what is wrong.
 */
static int
rep_opts(int argc, char **argv, int from, const char *const *known, const char **values)
{
	size_t n = 0;

	while (known[n] != NULL)
		values[n++] = NULL;
	for (int i = from; i < argc; i += 2) {
		size_t k;

		for (k = 0; k < n; k++)
			if (strcmp(argv[i], known[k]) == 0)
				break;
		if (k == n || i + 1 >= argc || values[k] != NULL) {
			fprintf(stderr, "agentrunctl: unexpected argument \"%s\"\n", argv[i]);
			return -1;
		}
		values[k] = argv[i + 1];
	}
	return 0;
}

/* Index of s in the NULL-terminated choices, or -1. */
static int
rep_choice(const char *s, const char *const *choices)
{
	for (int i = 0; choices[i] != NULL; i++)
		if (strcmp(s, choices[i]) == 0)
			return i;
	return -1;
}

static int
rep_db_error(struct db *db, const char *what)
{
	fprintf(stderr, "agentrunctl: %s: %s\n", what, db_errmsg(db));
	if (db_last_errno(db) == REP_ER_NO_SUCH_TABLE)
		fprintf(
		    stderr, "agentrunctl: the report views are missing: run agentrunctl migrate\n");
	return CTL_ERR;
}

/* --- report ------------------------------------------------------------------ */

/* from/to as the analytics endpoints take them; 0, or -1 after a message. */
static int
rep_range(const char *from_s, const char *to_s, struct rep_report *rp)
{
	long from, to;

	if (to_s != NULL && utcday_parse(to_s, &to) == -1) {
		fprintf(stderr, "agentrunctl: --to must be a date YYYY-MM-DD (UTC)\n");
		return -1;
	}
	if (to_s == NULL)
		to = utcday_today();
	if (from_s != NULL && utcday_parse(from_s, &from) == -1) {
		fprintf(stderr, "agentrunctl: --from must be a date YYYY-MM-DD (UTC)\n");
		return -1;
	}
	if (from_s == NULL)
		from = to - (REP_DEFAULT_DAYS - 1);
	if (from > to) {
		fprintf(stderr, "agentrunctl: --from must not be after --to\n");
		return -1;
	}
	if (to - from + 1 > REP_SPAN_MAX_DAYS) {
		fprintf(stderr, "agentrunctl: --from..--to may span at most %d days\n",
		    REP_SPAN_MAX_DAYS);
		return -1;
	}
	utcday_format(from, rp->from);
	utcday_format(to, rp->to);
	return 0;
}

/* Runs the report's query into rp->rows (billing: every day of the range). */
static int
rep_load(struct db *db, struct rep_report *rp)
{
	struct db_param p[4] = { dbp_str(rp->workspace), dbp_str(rp->workspace), dbp_str(rp->from),
		dbp_str(rp->to) };
	struct db_result *res;
	long from, to;
	size_t r = 0, n;

	if (db_query(db, rep_groups[rp->group].sql, p, 4, &res) == -1)
		return rep_db_error(db, "report"), -1;
	(void)utcday_parse(rp->from, &from);
	(void)utcday_parse(rp->to, &to);
	n = rp->billing ? (size_t)(to - from + 1) : res->nrows;
	if ((rp->rows = calloc(n > 0 ? n : 1, sizeof(*rp->rows))) == NULL) {
		db_result_free(res);
		fprintf(stderr, "agentrunctl: out of memory\n");
		return -1;
	}
	rp->nrows = n;
	for (size_t i = 0; i < n; i++) {
		struct rep_row *row = &rp->rows[i];
		int take = 1;

		if (rp->billing) {
			char date[UTCDAY_BUFSZ];

			utcday_format(from + (long)i, date);
			snprintf(row->key, sizeof(row->key), "%s", date);
			take = r < res->nrows && db_cell(res, r, 0) != NULL &&
			    strcmp(db_cell(res, r, 0), date) == 0;
		} else
			snprintf(row->key, sizeof(row->key), "%s",
			    db_cell(res, r, 0) != NULL ? db_cell(res, r, 0) : "");
		if (!take)
			continue;
		for (int c = 0; c < REP_COL__MAX; c++) {
			int bad_row =
			    money_sum_parse(db_cell(res, r, (size_t)c + 1), &row->v[c]) == -1;

			if (bad_row || money_add(&rp->total[c], row->v[c]) == -1) {
				/* A bill that reads 2^63 - 1, or a negative one, is worse than none. */
				fprintf(stderr,
				    "agentrunctl: report: %s of %s: the sum is too large to "
				    "represent "
				    "(more than 2^63 - 1); nothing is printed\n",
				    rep_col_names[c], bad_row ? row->key : "the total");
				db_result_free(res);
				return -1;
			}
		}
		r++;
	}
	db_result_free(res);
	return 0;
}

/* The sums as JSON (the API's shape) after name: key when name is not NULL; new reference. */
static json_t *
rep_sums_json(
    const char *name, const char *key, const long long v[REP_COL__MAX], long long credits_per_usd)
{
	json_t *o = json_object();

	if (name != NULL)
		json_object_set_new(o, name, json_string(key));
	for (int c = 0; c < REP_COL__MAX; c++)
		json_object_set_new(o, rep_col_names[c], json_integer(v[c]));
	json_object_set_new(o, "cost_usd", json_real((double)v[REP_COST] / 1e9));
	json_object_set_new(
	    o, "credits_used", json_integer(money_credits(v[REP_COST], credits_per_usd)));
	return o;
}

static int
rep_print_json(const struct rep_report *rp)
{
	json_t *rows = json_array(), *body;
	char *text;

	for (size_t i = 0; i < rp->nrows; i++) {
		json_array_append_new(rows,
		    rep_sums_json(rp->billing ? "date" : "key", rp->rows[i].key, rp->rows[i].v,
			rp->credits_per_usd));
	}
	body = json_pack("{s:s, s:s, s:o}", "from", rp->from, "to", rp->to, "workspace_id",
	    rp->workspace != NULL ? json_string(rp->workspace) : json_null());
	json_object_set_new(
	    body, "totals", rep_sums_json(NULL, NULL, rp->total, rp->credits_per_usd));
	if (rp->billing) {
		json_object_set_new(body, "days", rows);
		json_object_set_new(
		    body, "total_cost_usd", json_real((double)rp->total[REP_COST] / 1e9));
		json_object_set_new(body, "total_cost_nusd", json_integer(rp->total[REP_COST]));
	} else {
		json_object_set_new(body, "group_by", json_string(rep_groups[rp->group].name));
		json_object_set_new(body, "groups", rows);
	}
	text = json_dumps(body, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
	json_decref(body);
	if (text == NULL) {
		fprintf(stderr, "agentrunctl: out of memory\n");
		return CTL_ERR;
	}
	printf("%s\n", text);
	free(text);
	return CTL_OK;
}

/* The printed cells of one row: key, the sums, cost_usd, credits_used. */
#define REP_CELLS (REP_COL__MAX + 3)

static void
rep_cells(const char *key, const long long v[REP_COL__MAX], long long credits_per_usd,
    char cells[REP_CELLS][REP_MODEL_MAX + 40])
{
	char usd[USD_BUFSZ];

	snprintf(cells[0], sizeof(cells[0]), "%s", key);
	for (int c = 0; c < REP_COL__MAX; c++)
		snprintf(cells[c + 1], sizeof(cells[0]), "%lld", v[c]);
	usd_format_nusd(v[REP_COST], usd);
	snprintf(cells[REP_COL__MAX + 1], sizeof(cells[0]), "%s", usd);
	snprintf(cells[REP_COL__MAX + 2], sizeof(cells[0]), "%lld",
	    money_credits(v[REP_COST], credits_per_usd));
}

static void
rep_header(const struct rep_report *rp, const char *hdr[REP_CELLS])
{
	hdr[0] = rp->billing ? "date" : rep_groups[rp->group].key_name;
	for (int c = 0; c < REP_COL__MAX; c++)
		hdr[c + 1] = rep_col_names[c];
	hdr[REP_COL__MAX + 1] = "cost_usd";
	hdr[REP_COL__MAX + 2] = "credits_used";
}

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static void
rep_csv_field(const char *s, int last)
{
	if (strpbrk(s, ",\"\r\n") == NULL)
		fputs(s, stdout);
	else {
		putchar('"');
		for (; *s != '\0'; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	}
	fputs(last ? "\r\n" : ",", stdout);
}

static int
rep_print_csv(const struct rep_report *rp)
{
	char cells[REP_CELLS][REP_MODEL_MAX + 40];
	const char *hdr[REP_CELLS];

	rep_header(rp, hdr);
	for (int c = 0; c < REP_CELLS; c++)
		rep_csv_field(hdr[c], c == REP_CELLS - 1);
	for (size_t i = 0; i < rp->nrows; i++) {
		rep_cells(rp->rows[i].key, rp->rows[i].v, rp->credits_per_usd, cells);
		for (int c = 0; c < REP_CELLS; c++)
			rep_csv_field(cells[c], c == REP_CELLS - 1);
	}
	return CTL_OK;
}

/* Aligned columns, numbers to the right, then a "total" row. */
static int
rep_print_table(const struct rep_report *rp)
{
	char cells[REP_CELLS][REP_MODEL_MAX + 40];
	const char *hdr[REP_CELLS];
	int width[REP_CELLS];

	rep_header(rp, hdr);
	for (int c = 0; c < REP_CELLS; c++)
		width[c] = (int)strlen(hdr[c]);
	for (size_t i = 0; i <= rp->nrows; i++) {
		if (i < rp->nrows)
			rep_cells(rp->rows[i].key, rp->rows[i].v, rp->credits_per_usd, cells);
		else
			rep_cells("total", rp->total, rp->credits_per_usd, cells);
		for (int c = 0; c < REP_CELLS; c++)
			if ((int)strlen(cells[c]) > width[c])
				width[c] = (int)strlen(cells[c]);
	}
	for (int c = 0; c < REP_CELLS; c++)
		printf(c == 0 ? "%-*s" : "  %*s", width[c], hdr[c]);
	putchar('\n');
	for (size_t i = 0; i <= rp->nrows; i++) {
		if (i < rp->nrows)
			rep_cells(rp->rows[i].key, rp->rows[i].v, rp->credits_per_usd, cells);
		else
			rep_cells("total", rp->total, rp->credits_per_usd, cells);
		for (int c = 0; c < REP_CELLS; c++)
			printf(c == 0 ? "%-*s" : "  %*s", width[c], cells[c]);
		putchar('\n');
	}
	return CTL_OK;
}

static int
rep_usage(void)
{
	fprintf(stderr,
	    "usage: agentrunctl report billing|usage [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
	    "           [--workspace ID] [--group-by day|agent|model|user|workspace]\n"
	    "           [--format table|csv|json]\n");
	return CTL_USAGE;
}

int
ctl_report(struct db *db, int argc, char **argv)
{
	static const char *const known[] = { "--from", "--to", "--workspace", "--group-by",
		"--format", NULL };
	static const char *const kinds[] = { "billing", "usage", NULL };
	static const char *const formats[] = { "table", "csv", "json", NULL };
	const char *opt[5];
	struct rep_report rp;
	int kind, fmt = REP_TABLE, rc;

	memset(&rp, 0, sizeof(rp));
	if (argc < 2 || (kind = rep_choice(argv[1], kinds)) == -1 ||
	    rep_opts(argc, argv, 2, known, opt) == -1)
		return rep_usage();
	rp.billing = kind == 0;
	if (opt[3] != NULL) {
		for (rp.group = 0; rp.group < sizeof(rep_groups) / sizeof(rep_groups[0]);
		     rp.group++)
			if (strcmp(opt[3], rep_groups[rp.group].name) == 0)
				break;
		if (rp.group == sizeof(rep_groups) / sizeof(rep_groups[0]) ||
		    (rp.billing && rp.group != 0)) {
			fprintf(stderr,
			    rp.billing ? "agentrunctl: billing is by day; use report "
					 "usage --group-by\n"
				       : "agentrunctl: unknown --group-by\n");
			return rep_usage();
		}
	}
	if (opt[4] != NULL && (fmt = rep_choice(opt[4], formats)) == -1)
		return rep_usage();
	rp.format = (enum rep_format)fmt;
	if (rep_range(opt[0], opt[1], &rp) == -1)
		return CTL_USAGE;
	rp.workspace = opt[2];
	if (rp.workspace != NULL) {
		int ex = id_valid(rp.workspace) ? accounts_workspace_exists(db, rp.workspace) : 0;

		if (ex == -1)
			return rep_db_error(db, "report");
		if (ex == 0) {
			fprintf(stderr, "agentrunctl: workspace %s not found\n", rp.workspace);
			return CTL_ERR;
		}
	}
	rp.credits_per_usd = ctl_cfg->billing_credits_per_usd;
	if (rep_load(db, &rp) == -1) {
		free(rp.rows);
		return CTL_ERR;
	}
	if (rp.format == REP_JSON)
		rc = rep_print_json(&rp);
	else if (rp.format == REP_CSV)
		rc = rep_print_csv(&rp);
	else
		rc = rep_print_table(&rp);
	free(rp.rows);
	if (fflush(stdout) != 0)
		rc = CTL_ERR;
	return rc;
}

/* --- price ------------------------------------------------------------------- */

struct rep_price {
	const char *provider, *model;
	long long nusd[4]; /* input, cached input, cache write, output per Mtok */
	int unchanged;
};

/* In a transaction: compare, upsert, append history (db_txn re-runs it on deadlock). */
static int
rep_price_txn(struct db *db, void *arg)
{
	struct rep_price *pr = arg;
	struct db_param p[6] = { dbp_str(pr->provider), dbp_str(pr->model) };
	struct db_result *res;
	int same;

	if (db_query(db, rep_sql_price_get, p, 2, &res) == -1)
		return -1;
	same = res->nrows > 0;
	for (size_t c = 0; same && c < 4; c++)
		same = db_cell_int(res, 0, c, -1) == pr->nusd[c];
	db_result_free(res);
	pr->unchanged = same;
	if (same)
		return 0;
	for (size_t c = 0; c < 4; c++)
		p[2 + c] = DBP_INT(pr->nusd[c]);
	if (db_query(db, rep_sql_price_upsert, p, 6, NULL) == -1 ||
	    db_query(db, rep_sql_price_history, p, 6, NULL) == -1)
		return -1;
	return 0;
}

/* A price with at most 2 decimals shown, more only when it has them ("0.075"). */
static void
rep_price_text(long long nusd, char out[USD_BUFSZ])
{
	size_t n;

	usd_format_nusd(nusd, out);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '0' && out[n - 3] != '.')
		out[--n] = '\0';
}

static int
rep_price_list(struct db *db)
{
	struct db_result *res;
	char v[4][USD_BUFSZ];

	if (db_query(db, rep_sql_price_list, NULL, 0, &res) == -1)
		return rep_db_error(db, "price list");
	printf("%-10s  %-32s  %12s  %12s  %12s  %12s\n", "provider", "model", "input", "cached",
	    "cache_write", "output");
	for (size_t r = 0; r < res->nrows; r++) {
		for (size_t c = 0; c < 4; c++)
			rep_price_text(db_cell_int(res, r, c + 2, 0), v[c]);
		printf("%-10s  %-32s  %12s  %12s  %12s  %12s\n", db_cell(res, r, 0),
		    db_cell(res, r, 1), v[0], v[1], v[2], v[3]);
	}
	db_result_free(res);
	fprintf(stderr, "agentrunctl: prices in USD per million tokens\n");
	return CTL_OK;
}

/* A model name: 1–255 bytes, no control characters. */
static int
rep_model_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > REP_MODEL_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int
ctl_price(struct db *db, int argc, char **argv)
{
	static const char *const providers[] = { "openai", "anthropic", "scripted", NULL };
	static const char *const names[4] = { "INPUT", "CACHED", "CACHE_WRITE", "OUTPUT" };
	struct rep_price pr;

	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return rep_price_list(db);
	if (argc != 8 || strcmp(argv[1], "set") != 0) {
		fprintf(stderr,
		    "usage: agentrunctl price set PROVIDER MODEL INPUT CACHED CACHE_WRITE OUTPUT\n"
		    "       agentrunctl price list\n"
		    "prices are USD per million tokens, as decimals (e.g. 2.50 0.075)\n");
		return CTL_USAGE;
	}
	memset(&pr, 0, sizeof(pr));
	pr.provider = argv[2];
	pr.model = argv[3];
	if (rep_choice(pr.provider, providers) == -1) {
		fprintf(stderr, "agentrunctl: PROVIDER must be openai, anthropic or scripted\n");
		return CTL_USAGE;
	}
	if (!rep_model_ok(pr.model)) {
		fprintf(stderr,
		    "agentrunctl: MODEL must be 1 to %d bytes without control "
		    "characters\n",
		    REP_MODEL_MAX);
		return CTL_USAGE;
	}
	for (int i = 0; i < 4; i++)
		if (usd_parse_nusd(argv[4 + i], REP_PRICE_MAX_NUSD, &pr.nusd[i]) == -1) {
			fprintf(stderr,
			    "agentrunctl: %s must be a decimal number of US dollars per million "
			    "tokens from 0 to 1000, at most 9 decimals (e.g. 2.50)\n",
			    names[i]);
			return CTL_USAGE;
		}
	if (db_txn(db, rep_price_txn, &pr) != 0)
		return rep_db_error(db, "price set");
	if (pr.unchanged)
		fprintf(stderr, "agentrunctl: %s/%s: unchanged\n", pr.provider, pr.model);
	else
		fprintf(stderr,
		    "agentrunctl: %s/%s: price set; model calls recorded from now on use it "
		    "(executors reload prices within seconds), recorded costs keep theirs\n",
		    pr.provider, pr.model);
	return CTL_OK;
}

/* --- reporting-user ------------------------------------------------------------ */

/* 1 when every byte of s is in allowed and its length is within min..max. */
static int
rep_charset_ok(const char *s, const char *allowed, size_t min, size_t max)
{
	size_t n = strlen(s);

	return n >= min && n <= max && strspn(s, allowed) == n;
}

#define REP_ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/*
 * Runs one account statement. Account names and passwords cannot be bound
 * parameters in CREATE USER / GRANT, so these few statements are text:
 * every piece was checked against a strict character set first (no quote,
 * backslash or space can reach the SQL). Returns 0 or -1.
 */
static int
rep_exec(struct db *db, const char *sql)
{
	return db_exec_text(db, sql);
}

static int
rep_account_error(struct db *db, const char *user, const char *host)
{
	unsigned e = db_last_errno(db);

	if (e == REP_ER_CANNOT_USER)
		fprintf(stderr,
		    "agentrunctl: the account '%s'@'%s' already exists (DROP USER it first, or "
		    "choose another --name)\n",
		    user, host);
	else if (e == REP_ER_SPECIFIC_ACCESS_DENIED || e == REP_ER_DBACCESS_DENIED ||
	    e == REP_ER_ACCESS_DENIED || e == REP_ER_TABLEACCESS_DENIED)
		fprintf(stderr,
		    "agentrunctl: reporting-user create: %s\n"
		    "agentrunctl: this needs the CREATE USER and GRANT OPTION privileges, which "
		    "the service's database user lacks: run it with -c CONFIG whose [database] "
		    "user is an administrator (docs/reports.md)\n",
		    db_errmsg(db));
	else
		rep_db_error(db, "reporting-user create");
	return CTL_ERR;
}

int
ctl_reporting_user(struct db *db, int argc, char **argv)
{
	static const char *const known[] = { "--name", "--host", "--password", NULL };
	char sql[REP_SQL_MAX], generated[REP_PASSWORD_BYTES * 2 + 1];
	const char *opt[3], *user, *host, *password;
	size_t i;

	if (argc < 2 || strcmp(argv[1], "create") != 0 ||
	    rep_opts(argc, argv, 2, known, opt) == -1) {
		fprintf(stderr,
		    "usage: agentrunctl reporting-user create [--name NAME] "
		    "[--host HOST] [--password PASSWORD]\n");
		return CTL_USAGE;
	}
	user = opt[0] != NULL ? opt[0] : REP_DEFAULT_USER;
	host = opt[1] != NULL ? opt[1] : "localhost";
	if (!rep_charset_ok(user, REP_ALNUM "_", 1, REP_USER_MAX)) {
		fprintf(
		    stderr, "agentrunctl: NAME must be 1 to %d of A-Z a-z 0-9 _\n", REP_USER_MAX);
		return CTL_USAGE;
	}
	if (!rep_charset_ok(host, REP_ALNUM "._%:-", 1, REP_HOST_MAX)) {
		fprintf(stderr, "agentrunctl: HOST must be 1 to %d of A-Z a-z 0-9 . _ %% : -\n",
		    REP_HOST_MAX);
		return CTL_USAGE;
	}
	if (opt[2] != NULL) {
		password = opt[2];
		if (!rep_charset_ok(password, REP_ALNUM "_.,:;=+-*/!?#%@^~()[]{}", REP_PASSWORD_MIN,
			REP_PASSWORD_MAX)) {
			fprintf(stderr,
			    "agentrunctl: PASSWORD must be %d to %d characters of A-Z a-z 0-9 and "
			    "_.,:;=+-*/!?#%%@^~()[]{} (no quotes, backslashes or spaces)\n",
			    REP_PASSWORD_MIN, REP_PASSWORD_MAX);
			return CTL_USAGE;
		}
	} else {
		id_random_hex(generated, REP_PASSWORD_BYTES);
		password = generated;
	}

	snprintf(
	    sql, sizeof(sql), "CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", user, host, password);
	if (rep_exec(db, sql) == -1)
		return rep_account_error(db, user, host);
	/* Unqualified names: the views of the configured database. */
	for (i = 0; rep_views[i] != NULL; i++) {
		snprintf(
		    sql, sizeof(sql), "GRANT SELECT ON %s TO '%s'@'%s'", rep_views[i], user, host);
		if (rep_exec(db, sql) == -1)
			break;
	}
	if (rep_views[i] != NULL) {
		rep_account_error(db, user, host);
		/* Leave no half-made account behind. */
		snprintf(sql, sizeof(sql), "DROP USER '%s'@'%s'", user, host);
		if (rep_exec(db, sql) == -1)
			fprintf(stderr, "agentrunctl: could not drop '%s'@'%s' again: %s\n", user,
			    host, db_errmsg(db));
		return CTL_ERR;
	}
	fprintf(stderr,
	    "agentrunctl: created '%s'@'%s': SELECT on %zu report views, nothing else; its "
	    "password follows\n",
	    user, host, i);
	printf("%s\n", password);
	return fflush(stdout) == 0 ? CTL_OK : CTL_ERR;
}
