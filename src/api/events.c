/*
 * Event lists as JSON: GET /api/v1/runs/{id}/events (and /logs) and
 * GET /api/v1/sessions/{id}/events (threads alike). SSE is
 * agentrun-stream's (nginx sends Accept: text/event-stream there); this
 * worker answers JSON whatever the Accept header says.
 *
 * A page is the events after the cursor in seq order:
 * {"data": [Event…], "last_seq": N, "has_more": bool}, where last_seq is
 * the seq of the last event given (the cursor itself on an empty page), so
 * the next call passes after_seq=last_seq. seq is commit order (evlog.h):
 * walking the cursor never skips or repeats an event.
 */
#include <limits.h>
#include <string.h>

#include "../core/db.h"
#include "../core/jsonv.h"
#include "api.h"
#include "handlers.h"
#include "params.h"

#define EVENTS_LIMIT_DEFAULT 100
#define EVENTS_LIMIT_MAX 1000

#define EVENT_COLUMNS "seq, run_id, type, data, created_at"

static const char events_sql_run_exists[] = "SELECT id FROM runs WHERE workspace_id = ? AND id = ?";
static const char events_sql_session_exists[] =
    "SELECT id FROM sessions WHERE workspace_id = ? AND id = ?";
/* ix_events_run_seq (run_id, seq) */
static const char events_sql_run[] =
    "SELECT " EVENT_COLUMNS " FROM events WHERE run_id = ? AND seq > ?"
    " ORDER BY seq LIMIT ?";
/* PRIMARY KEY (session_id, seq) */
static const char events_sql_session[] =
    "SELECT " EVENT_COLUMNS " FROM events WHERE session_id = ? AND seq > ?"
    " ORDER BY seq LIMIT ?";

/* Which log a request reads. */
struct events_source {
	const char *noun; /* for messages */
	const char *exists_sql; /* (workspace_id, id) → a row when visible */
	const char *list_sql; /* (id, after_seq, limit) → EVENT_COLUMNS */
};

static const struct events_source events_run = { "run", events_sql_run_exists, events_sql_run };
static const struct events_source events_session = { "session", events_sql_session_exists,
	events_sql_session };

/* The Event object of row r; new reference. */
static json_t *
events_view(const struct db_result *res, size_t r)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o}", "seq", (json_int_t)db_cell_int(res, r, 0, 0),
	    "run_id", jv_str(db_cell(res, r, 1)), "type", jv_str(db_cell(res, r, 2)), "data",
	    jv_doc(db_cell(res, r, 3), res->len[r * res->ncols + 3]), "created_at",
	    jv_time(db_cell(res, r, 4)));
}

static int
events_list(struct request_ctx *ctx, const struct events_source *src)
{
	const char *id = ctx->match.params[0];
	long long after, limit, last;
	struct db_param p[3];
	struct db_result *res;
	size_t n;
	json_t *arr;
	int found, has_more;

	if (!id_valid(id))
		return http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "%s not found", src->noun);
	if (params_query_int(ctx, "after_seq", 0, LLONG_MAX - 1, 0, &after) == -1 ||
	    params_query_int(ctx, "limit", 1, EVENTS_LIMIT_MAX, EVENTS_LIMIT_DEFAULT, &limit) == -1)
		return -1;

	p[0] = dbp_str(ctx->auth.workspace_id);
	p[1] = dbp_str(id);
	if (db_query(ctx->db, src->exists_sql, p, 2, &res) == -1)
		return api_db_failure(ctx, "events_owner");
	found = res->nrows > 0;
	db_result_free(res);
	if (!found)
		return http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "%s %s not found", src->noun, id);

	/* One more than asked tells whether there is more. */
	p[0] = dbp_str(id);
	p[1] = DBP_INT(after);
	p[2] = DBP_INT(limit + 1);
	if (db_query(ctx->db, src->list_sql, p, 3, &res) == -1)
		return api_db_failure(ctx, "events_list");
	n = res->nrows > (size_t)limit ? (size_t)limit : res->nrows;
	arr = json_array();
	last = after;
	for (size_t r = 0; r < n; r++) {
		json_array_append_new(arr, events_view(res, r));
		last = db_cell_int(res, r, 0, last);
	}
	has_more = res->nrows > n;
	db_result_free(res);
	return http_send_json(ctx->req, 200,
	    json_pack("{s:o, s:I, s:b}", "data", arr, "last_seq", (json_int_t)last, "has_more",
		has_more));
}

int
h_run_events(struct request_ctx *ctx)
{
	return events_list(ctx, &events_run);
}

int
h_session_events(struct request_ctx *ctx)
{
	return events_list(ctx, &events_session);
}
