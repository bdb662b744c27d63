/*
 * Sessions (= threads): POST/GET /api/v1/sessions, GET /api/v1/sessions/{id}
 * and GET /api/v1/sessions/{id}/messages, each served under /api/v1/threads
 * too (routes.c). A session pins the agent version it was created on; its
 * row is also the event sequencer (last_seq) and the one-active-run slot
 * (active_run_id), which run creation and the executor maintain. Messages
 * are written by run creation and the executor; this file only reads them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/db.h"
#include "../core/jsonv.h"
#include "agentref.h"
#include "api.h"
#include "handlers.h"
#include "params.h"

#define SESSION_METADATA_MAX (64 * 1024)
/* Longer strings name no agent either, but are not worth a lookup. */
#define SESSION_REF_MAX 255

#define SESSION_COLUMNS                                                              \
	"id, agent_id, agent_version, agent_version_id, status, metadata, last_seq," \
	" active_run_id, created_at, updated_at, closed_at"
#define MESSAGE_COLUMNS "id, session_id, run_id, role, content, created_at"

static const char sess_sql_get[] =
    "SELECT " SESSION_COLUMNS " FROM sessions WHERE workspace_id = ? AND id = ?";
static const char sess_sql_insert[] =
    "INSERT INTO sessions (id, workspace_id, agent_id, agent_version, agent_version_id,"
    " metadata) VALUES (?, ?, ?, ?, ?, ?)";
/*
 * Lists: the agent filter picks the (workspace_id, agent_id, id) index; the
 * status filter is "? IS NULL OR status = ?" (NULL = any) on top.
 */
static const char sess_sql_list[] =
    "SELECT " SESSION_COLUMNS " FROM sessions WHERE workspace_id = ?"
    " AND (? IS NULL OR status = ?) ORDER BY id DESC LIMIT ?";
static const char sess_sql_list_before[] =
    "SELECT " SESSION_COLUMNS " FROM sessions WHERE workspace_id = ?"
    " AND (? IS NULL OR status = ?) AND id < ? ORDER BY id DESC LIMIT ?";
static const char sess_sql_list_agent[] =
    "SELECT " SESSION_COLUMNS " FROM sessions WHERE workspace_id = ? AND agent_id = ?"
    " AND (? IS NULL OR status = ?) ORDER BY id DESC LIMIT ?";
static const char sess_sql_list_agent_before[] =
    "SELECT " SESSION_COLUMNS " FROM sessions WHERE workspace_id = ? AND agent_id = ?"
    " AND (? IS NULL OR status = ?) AND id < ? ORDER BY id DESC LIMIT ?";

static const char msg_sql_exists[] =
    "SELECT 1 FROM messages WHERE workspace_id = ? AND session_id = ? AND id = ?";
static const char msg_sql_desc[] =
    "SELECT " MESSAGE_COLUMNS " FROM messages WHERE workspace_id = ? AND session_id = ?"
    " ORDER BY id DESC LIMIT ?";
static const char msg_sql_desc_before[] =
    "SELECT " MESSAGE_COLUMNS " FROM messages WHERE workspace_id = ? AND session_id = ?"
    " AND id < ? ORDER BY id DESC LIMIT ?";
static const char msg_sql_asc[] =
    "SELECT " MESSAGE_COLUMNS " FROM messages WHERE workspace_id = ? AND session_id = ?"
    " ORDER BY id ASC LIMIT ?";
static const char msg_sql_asc_after[] =
    "SELECT " MESSAGE_COLUMNS " FROM messages WHERE workspace_id = ? AND session_id = ?"
    " AND id > ? ORDER BY id ASC LIMIT ?";

/* The Session object of row r; new reference. */
static json_t *
sess_view(const struct db_result *res, size_t r)
{
	json_t *meta = jv_doc(db_cell(res, r, 5), res->len[r * res->ncols + 5]);

	if (!json_is_object(meta)) {
		json_decref(meta);
		meta = json_object();
	}
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
	    jv_str(db_cell(res, r, 0)), "thread_id", jv_str(db_cell(res, r, 0)), "agent_id",
	    jv_str(db_cell(res, r, 1)), "agent_version", jv_int(db_cell(res, r, 2)),
	    "agent_version_id", jv_str(db_cell(res, r, 3)), "status", jv_str(db_cell(res, r, 4)),
	    "metadata", meta, "last_seq", jv_int(db_cell(res, r, 6)), "active_run_id",
	    jv_str(db_cell(res, r, 7)), "created_at", jv_time(db_cell(res, r, 8)), "updated_at",
	    jv_time(db_cell(res, r, 9)), "closed_at", jv_time(db_cell(res, r, 10)));
}

/* The Message object of row r; new reference. */
static json_t *
msg_view(const struct db_result *res, size_t r)
{
	const char *content = db_cell(res, r, 4);

	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", jv_str(db_cell(res, r, 0)),
	    "session_id", jv_str(db_cell(res, r, 1)), "run_id", jv_str(db_cell(res, r, 2)), "role",
	    jv_str(db_cell(res, r, 3)), "content",
	    content != NULL ? json_stringn(content, res->len[r * res->ncols + 4]) : json_string(""),
	    "created_at", jv_time(db_cell(res, r, 5)));
}

/* Loads one session of the caller's workspace: 1 found, 0 not, -1 error. */
static int
sess_load(struct request_ctx *ctx, const char *id, struct db_result **res)
{
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(id) };

	*res = NULL;
	if (db_query(ctx->db, sess_sql_get, p, 2, res) == -1)
		return -1;
	return (*res)->nrows > 0;
}

/*
 * Loads the session named by the path ({id}) or sends 404 (malformed,
 * unknown and foreign ids alike). Returns 0 with *res set, or -1 after
 * sending the error.
 */
static int
sess_from_path(struct request_ctx *ctx, struct db_result **res)
{
	const char *id = ctx->match.params[0];
	int found;

	*res = NULL;
	if (!id_valid(id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "session not found"), -1;
	found = sess_load(ctx, id, res);
	if (found == 1)
		return 0;
	db_result_free(*res);
	*res = NULL;
	if (found == -1)
		return api_db_failure(ctx, "session_get"), -1;
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "session %s not found", id), -1;
}

static int
sess_create(struct request_ctx *ctx)
{
	struct agent_version av;
	const char *agent_id, *persona;
	char id[ID_BUFSZ], *meta_text = NULL;
	struct db_result *res = NULL;
	struct db_param p[6];
	json_t *body, *meta;
	int rc = -1, have_av = 0;

	if (http_json_body(ctx->req, &body, 1) == -1)
		return -1;
	if (params_string(ctx, body, "agent_id", FIELD_NULLABLE, SESSION_REF_MAX, &agent_id) ==
		-1 ||
	    params_string(ctx, body, "persona_id", FIELD_NULLABLE, SESSION_REF_MAX, &persona) ==
		-1 ||
	    params_object(ctx, body, "metadata", FIELD_NULLABLE, SESSION_METADATA_MAX, &meta) == -1)
		goto out;
	if (agent_id == NULL && persona == NULL) {
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "agent_id"), "agent_id or persona_id is required");
		goto out;
	}
	if (agent_id != NULL && persona != NULL) {
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "persona_id"),
		    "give agent_id or persona_id, not both");
		goto out;
	}
	if (agentref_resolve(ctx, agent_id, persona, json_object_get(body, "version"), 1, &av) ==
	    -1)
		goto out;
	have_av = 1;
	meta_text = meta != NULL ? json_dumps(meta, JSON_COMPACT) : strdup("{}");
	if (meta_text == NULL) {
		http_send_error(ctx->req, 500, ERR_INTERNAL, NULL, "internal error");
		goto out;
	}

	id_new(id);
	p[0] = dbp_str(id);
	p[1] = dbp_str(ctx->auth.workspace_id);
	p[2] = dbp_str(av.agent_id);
	p[3] = DBP_INT(av.version);
	p[4] = dbp_str(av.version_id);
	p[5] = dbp_str(meta_text);
	if (db_query(ctx->db, sess_sql_insert, p, 6, NULL) == -1) {
		api_db_failure(ctx, "session_insert");
		goto out;
	}
	if (sess_load(ctx, id, &res) != 1) {
		api_db_failure(ctx, "session_get");
		goto out;
	}
	rc = http_send_json(ctx->req, 201, sess_view(res, 0));
out:
	if (have_av)
		agentref_clear(&av);
	free(meta_text);
	db_result_free(res);
	json_decref(body);
	return rc;
}

static int
sess_list(struct request_ctx *ctx)
{
	static const char *const statuses[] = { "open", "closed", NULL };
	char agent_id[ID_BUFSZ], status[16];
	struct list_params lp;
	struct db_result *res = NULL;
	struct db_param p[6];
	const char *sql;
	int has_agent, has_status, n = 0;

	if (params_list(ctx, &lp) == -1)
		return -1;
	if ((has_agent = params_query_id(ctx, "agent_id", agent_id)) == -1)
		return -1;
	has_status = http_query_param(ctx->req->query, "status", status, sizeof(status));
	if (has_status == 1) {
		size_t i;

		for (i = 0; statuses[i] != NULL; i++)
			if (strcmp(status, statuses[i]) == 0)
				break;
		if (statuses[i] == NULL)
			has_status = -1;
	}
	if (has_status == -1)
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "status"), "status: must be open or closed");
	if (lp.has_before) {
		int found = sess_load(ctx, lp.before, &res);

		db_result_free(res);
		res = NULL;
		if (found == -1)
			return api_db_failure(ctx, "session_cursor");
		if (found == 0)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", "before"), "before: unknown cursor");
	}

	p[n++] = dbp_str(ctx->auth.workspace_id);
	if (has_agent == 1)
		p[n++] = dbp_str(agent_id);
	p[n++] = dbp_str(has_status == 1 ? status : NULL);
	p[n++] = dbp_str(has_status == 1 ? status : NULL);
	if (lp.has_before)
		p[n++] = dbp_str(lp.before);
	p[n++] = DBP_INT(lp.limit);
	if (has_agent == 1)
		sql = lp.has_before ? sess_sql_list_agent_before : sess_sql_list_agent;
	else
		sql = lp.has_before ? sess_sql_list_before : sess_sql_list;
	if (db_query(ctx->db, sql, p, (size_t)n, &res) == -1)
		return api_db_failure(ctx, "session_list");
	return api_send_rows(ctx, res, sess_view);
}

int
h_sessions(struct request_ctx *ctx)
{
	if (strcmp(ctx->req->method, "POST") == 0)
		return sess_create(ctx);
	return sess_list(ctx);
}

int
h_session(struct request_ctx *ctx)
{
	struct db_result *res;
	int rc;

	if (sess_from_path(ctx, &res) == -1)
		return -1;
	rc = http_send_json(ctx->req, 200, sess_view(res, 0));
	db_result_free(res);
	return rc;
}

/* 1 when id is a message of the session, 0 when not, -1 on error. */
static int
msg_exists(struct request_ctx *ctx, const char *session_id, const char *id)
{
	struct db_param p[3] = { dbp_str(ctx->auth.workspace_id), dbp_str(session_id),
		dbp_str(id) };
	struct db_result *res;
	int found;

	if (db_query(ctx->db, msg_sql_exists, p, 3, &res) == -1)
		return -1;
	found = res->nrows > 0;
	db_result_free(res);
	return found;
}

/*
 * GET /api/v1/sessions/{id}/messages: newest first with before=<message id>
 * (the canonical list), or order=asc (chronological) with after=<message id>.
 * Each order takes only its own cursor.
 */
int
h_session_messages(struct request_ctx *ctx)
{
	char sid[ID_BUFSZ], order[8], after[ID_BUFSZ];
	struct list_params lp;
	struct db_result *res;
	struct db_param p[4];
	const char *sql, *cursor, *cursor_name;
	int asc = 0, has_after, rc, n = 0;

	if (sess_from_path(ctx, &res) == -1)
		return -1;
	snprintf(sid, sizeof(sid), "%s", db_cell(res, 0, 0));
	db_result_free(res);
	res = NULL;

	if (params_list(ctx, &lp) == -1)
		return -1;
	rc = http_query_param(ctx->req->query, "order", order, sizeof(order));
	if (rc == 1) {
		if (strcmp(order, "asc") == 0)
			asc = 1;
		else if (strcmp(order, "desc") != 0)
			rc = -1;
	}
	if (rc == -1)
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "order"), "order: must be asc or desc");
	if ((has_after = params_query_id(ctx, "after", after)) == -1)
		return -1;
	if (asc && lp.has_before)
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "before"),
		    "before: not allowed with order=asc; use after");
	if (!asc && has_after == 1)
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "after"),
		    "after: only with order=asc; use before for newest-first pages");

	cursor = asc ? (has_after == 1 ? after : NULL) : (lp.has_before ? lp.before : NULL);
	cursor_name = asc ? "after" : "before";
	if (cursor != NULL) {
		int found = msg_exists(ctx, sid, cursor);

		if (found == -1)
			return api_db_failure(ctx, "message_cursor");
		if (found == 0)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", cursor_name), "%s: unknown cursor",
			    cursor_name);
	}
	p[n++] = dbp_str(ctx->auth.workspace_id);
	p[n++] = dbp_str(sid);
	if (cursor != NULL)
		p[n++] = dbp_str(cursor);
	p[n++] = DBP_INT(lp.limit);
	if (asc)
		sql = cursor != NULL ? msg_sql_asc_after : msg_sql_asc;
	else
		sql = cursor != NULL ? msg_sql_desc_before : msg_sql_desc;
	if (db_query(ctx->db, sql, p, (size_t)n, &res) == -1)
		return api_db_failure(ctx, "message_list");
	return api_send_rows(ctx, res, msg_view);
}
