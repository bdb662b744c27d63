/*
 * Agents: POST/GET /api/v1/agents, GET/PATCH/DELETE /api/v1/agents/{id}.
 * Open to member and admin keys alike.
 *
 * key is a slug unique in the workspace (the unique index decides: a
 * duplicate is 409). POST may carry a version body, which becomes version 1
 * (a draft, or active with "activate": true) in the same transaction.
 * DELETE archives: archived_at is set once, the agent stays readable, and
 * PATCH on it is 409. active_version is the highest-numbered active version.
 */
#include <stdio.h>
#include <string.h>

#include "../core/db.h"
#include "../core/jsonv.h"
#include "api.h"
#include "handlers.h"
#include "params.h"
#include "versionspec.h"

#define AGENT_KEY_MAX 128
#define AGENT_NAME_MAX 255
#define AGENT_DESCRIPTION_MAX 65535 /* a TEXT column */

#define AGENT_COLUMNS                                         \
	"a.id, a.`key`, a.name, a.description,"               \
	" (SELECT MAX(v.version) FROM agent_versions v"       \
	"  WHERE v.agent_id = a.id AND v.status = 'active')," \
	" a.created_at, a.updated_at, a.archived_at"

static const char agents_sql_get[] =
    "SELECT " AGENT_COLUMNS " FROM agents a WHERE a.workspace_id = ? AND a.id = ?";
static const char agents_sql_list[] =
    "SELECT " AGENT_COLUMNS " FROM agents a WHERE a.workspace_id = ?"
    " AND (? = 1 OR a.archived_at IS NULL) ORDER BY a.id DESC LIMIT ?";
static const char agents_sql_list_before[] =
    "SELECT " AGENT_COLUMNS " FROM agents a WHERE a.workspace_id = ?"
    " AND (? = 1 OR a.archived_at IS NULL) AND a.id < ? ORDER BY a.id DESC LIMIT ?";
static const char agents_sql_insert[] =
    "INSERT INTO agents (id, workspace_id, `key`, name, description) VALUES (?, ?, ?, ?, ?)";
static const char agents_sql_lock[] =
    "SELECT archived_at IS NOT NULL FROM agents WHERE workspace_id = ? AND id = ? FOR UPDATE";
static const char agents_sql_update[] =
    "UPDATE agents SET `key` = COALESCE(?, `key`), name = COALESCE(?, name),"
    " description = COALESCE(?, description), updated_at = NOW(3) WHERE id = ?";
static const char agents_sql_archive[] =
    "UPDATE agents SET archived_at = NOW(3), updated_at = NOW(3)"
    " WHERE workspace_id = ? AND id = ? AND archived_at IS NULL";

/* Refusals from the transactions (db_txn's positive codes). */
enum {
	AGENT_NOT_FOUND = 1,
	AGENT_ARCHIVED
};

struct agent_write {
	const char *workspace_id;
	char id[ID_BUFSZ];
	const char *key;
	const char *name;
	const char *description;
	const json_t *spec; /* POST: the version to create, or NULL */
	int activate;
	char version_id[ID_BUFSZ];
};

/* The Agent object of row r; new reference. */
static json_t *
agents_view(const struct db_result *res, size_t r)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
	    jv_str(db_cell(res, r, 0)), "key", jv_str(db_cell(res, r, 1)), "name",
	    jv_str(db_cell(res, r, 2)), "description", jv_str(db_cell(res, r, 3)), "active_version",
	    jv_int(db_cell(res, r, 4)), "created_at", jv_time(db_cell(res, r, 5)), "updated_at",
	    jv_time(db_cell(res, r, 6)), "archived_at", jv_time(db_cell(res, r, 7)));
}

/* Loads one agent of the caller's workspace: 1 found, 0 not, -1 error. */
static int
agents_load(struct request_ctx *ctx, const char *id, struct db_result **res)
{
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(id) };

	if (db_query(ctx->db, agents_sql_get, p, 2, res) == -1)
		return -1;
	return (*res)->nrows > 0;
}

/* ^[a-z0-9][a-z0-9_.-]{0,127}$ */
static int
agents_key_ok(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > AGENT_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = key[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '_' || c == '.' || c == '-'))
			continue;
		return 0;
	}
	return 1;
}

/* Reads key, name and description (all optional here); -1 after a 400. */
static int
agents_fields(struct request_ctx *ctx, json_t *body, struct agent_write *w)
{
	if (params_string(ctx, body, "key", FIELD_NULLABLE, AGENT_KEY_MAX, &w->key) == -1 ||
	    params_string(ctx, body, "name", FIELD_NULLABLE, AGENT_NAME_MAX, &w->name) == -1 ||
	    params_string(ctx, body, "description", FIELD_NULLABLE, AGENT_DESCRIPTION_MAX,
		&w->description) == -1)
		return -1;
	if (w->key != NULL && !agents_key_ok(w->key))
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			   json_pack("{s:s}", "field", "key"),
			   "key: must be 1 to %d of a-z 0-9 _ . - starting with a letter or digit",
			   AGENT_KEY_MAX),
		       -1;
	return 0;
}

/* Sends the agent id (200, or 201 with the version just made). */
static int
agents_send(struct request_ctx *ctx, int status, const char *id, const char *version_id)
{
	struct db_result *res = NULL, *vres = NULL;
	json_t *view;
	int rc;

	if (agents_load(ctx, id, &res) != 1) {
		rc = api_db_failure(ctx, "agent_get");
		goto out;
	}
	view = agents_view(res, 0);
	if (version_id != NULL && version_id[0] != '\0') {
		if (versionspec_load(ctx->db, ctx->auth.workspace_id, version_id, &vres) != 1) {
			json_decref(view);
			rc = api_db_failure(ctx, "version_get");
			goto out;
		}
		json_object_set_new(view, "version", versionspec_view(vres, 0));
	}
	rc = http_send_json(ctx->req, status, view);
out:
	db_result_free(res);
	db_result_free(vres);
	return rc;
}

static int
agents_create_txn(struct db *db, void *arg)
{
	struct agent_write *w = arg;
	struct db_param p[5];

	id_new(w->id);
	p[0] = dbp_str(w->id);
	p[1] = dbp_str(w->workspace_id);
	p[2] = dbp_str(w->key);
	p[3] = dbp_str(w->name);
	p[4] = dbp_str(w->description);
	if (db_query(db, agents_sql_insert, p, 5, NULL) == -1)
		return -1;
	w->version_id[0] = '\0';
	if (w->spec != NULL &&
	    versionspec_insert(
		db, w->workspace_id, w->id, 1, w->spec, w->activate, w->version_id) == -1)
		return -1;
	return 0;
}

static int
agents_create(struct request_ctx *ctx)
{
	struct agent_write w;
	struct vspec_error verr;
	json_t *body, *vbody, *spec = NULL;
	int rc = -1, found;

	memset(&w, 0, sizeof(w));
	w.workspace_id = ctx->auth.workspace_id;
	if (http_json_body(ctx->req, &body, 0) == -1)
		return -1;
	if (agents_fields(ctx, body, &w) == -1 ||
	    params_bool(ctx, body, "activate", FIELD_NULLABLE, &w.activate) == -1)
		goto out;
	if (w.key == NULL) {
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "key"), "key: is required");
		goto out;
	}
	if (w.name == NULL)
		w.name = w.key;
	if (w.description == NULL)
		w.description = "";
	vbody = json_object_get(body, "version");
	if (vbody != NULL && !json_is_null(vbody)) {
		if (!json_is_object(vbody)) {
			http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", "version"), "version: must be an object");
			goto out;
		}
		if (versionspec_normalize(vbody, NULL, "version.", &spec, &verr) == -1) {
			versionspec_send_error(ctx, &verr);
			goto out;
		}
		found = versionspec_check_route(ctx, spec, "version.", &verr);
		if (found == -1) {
			api_db_failure(ctx, "route_get");
			goto out;
		}
		if (found == 1) {
			versionspec_send_error(ctx, &verr);
			goto out;
		}
	} else if (w.activate) {
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "activate"), "activate: needs a version");
		goto out;
	}
	w.spec = spec;
	if (db_txn(ctx->db, agents_create_txn, &w) == -1) {
		if (db_last_err(ctx->db) == DB_ERR_DUPLICATE)
			http_send_error(ctx->req, 409, ERR_CONFLICT,
			    json_pack("{s:s}", "field", "key"),
			    "an agent with key \"%s\" already exists in this workspace", w.key);
		else
			api_db_failure(ctx, "agent_create");
		goto out;
	}
	rc = agents_send(ctx, 201, w.id, w.version_id);
out:
	json_decref(spec);
	json_decref(body);
	return rc;
}

static int
agents_list(struct request_ctx *ctx)
{
	struct list_params lp;
	struct db_result *res = NULL;
	struct db_param p[4];
	int n = 0, archived;

	if (params_list(ctx, &lp) == -1 ||
	    params_query_bool(ctx, "include_archived", 0, &archived) == -1)
		return -1;
	if (lp.has_before) {
		int found = agents_load(ctx, lp.before, &res);

		db_result_free(res);
		res = NULL;
		if (found == -1)
			return api_db_failure(ctx, "agent_cursor");
		if (found == 0)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", "before"), "before: unknown cursor");
	}
	p[n++] = dbp_str(ctx->auth.workspace_id);
	p[n++] = DBP_INT(archived);
	if (lp.has_before)
		p[n++] = dbp_str(lp.before);
	p[n++] = DBP_INT(lp.limit);
	if (db_query(ctx->db, lp.has_before ? agents_sql_list_before : agents_sql_list, p,
		(size_t)n, &res) == -1)
		return api_db_failure(ctx, "agent_list");
	return api_send_rows(ctx, res, agents_view);
}

/* Locks the agent row: 0, AGENT_NOT_FOUND, AGENT_ARCHIVED, or -1. */
static int
agents_lock(struct db *db, const char *workspace_id, const char *id)
{
	struct db_param p[2] = { dbp_str(workspace_id), dbp_str(id) };
	struct db_result *res;
	int rc;

	if (db_query(db, agents_sql_lock, p, 2, &res) == -1)
		return -1;
	if (res->nrows == 0)
		rc = AGENT_NOT_FOUND;
	else
		rc = db_cell_int(res, 0, 0, 0) == 1 ? AGENT_ARCHIVED : 0;
	db_result_free(res);
	return rc;
}

static int
agents_patch_txn(struct db *db, void *arg)
{
	struct agent_write *w = arg;
	struct db_param p[4];
	int rc;

	if ((rc = agents_lock(db, w->workspace_id, w->id)) != 0)
		return rc;
	p[0] = dbp_str(w->key);
	p[1] = dbp_str(w->name);
	p[2] = dbp_str(w->description);
	p[3] = dbp_str(w->id);
	return db_query(db, agents_sql_update, p, 4, NULL);
}

static int
agents_patch(struct request_ctx *ctx, const char *id)
{
	struct agent_write w;
	json_t *body;
	int rc = -1;

	memset(&w, 0, sizeof(w));
	w.workspace_id = ctx->auth.workspace_id;
	memcpy(w.id, id, sizeof(w.id)); /* id_valid: exactly ID_LEN characters */
	if (http_json_body(ctx->req, &body, 1) == -1)
		return -1;
	if (agents_fields(ctx, body, &w) == -1)
		goto out;
	switch (db_txn(ctx->db, agents_patch_txn, &w)) {
	case 0: rc = agents_send(ctx, 200, id, NULL); break;
	case AGENT_NOT_FOUND:
		http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "agent %s not found", id);
		break;
	case AGENT_ARCHIVED:
		http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
		    "agent %s is archived and cannot be edited", id);
		break;
	default:
		if (db_last_err(ctx->db) == DB_ERR_DUPLICATE)
			http_send_error(ctx->req, 409, ERR_CONFLICT,
			    json_pack("{s:s}", "field", "key"),
			    "an agent with key \"%s\" already exists in this workspace", w.key);
		else
			api_db_failure(ctx, "agent_update");
		break;
	}
out:
	json_decref(body);
	return rc;
}

int
h_agents(struct request_ctx *ctx)
{
	if (strcmp(ctx->req->method, "POST") == 0)
		return agents_create(ctx);
	return agents_list(ctx);
}

int
h_agent(struct request_ctx *ctx)
{
	const char *id = ctx->match.params[0];
	struct db_result *res = NULL;
	int found, rc;

	if (!id_valid(id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "agent not found");
	if (strcmp(ctx->req->method, "PATCH") == 0)
		return agents_patch(ctx, id);
	if (strcmp(ctx->req->method, "DELETE") == 0) {
		struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(id) };

		if (db_query(ctx->db, agents_sql_archive, p, 2, NULL) == -1)
			return api_db_failure(ctx, "agent_archive");
	}
	found = agents_load(ctx, id, &res);
	if (found == -1)
		rc = api_db_failure(ctx, "agent_get");
	else if (found == 0)
		rc = http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "agent %s not found", id);
	else
		rc = http_send_json(ctx->req, 200, agents_view(res, 0));
	db_result_free(res);
	return rc;
}
