/*
 * Agent versions: POST/GET /api/v1/agents/{id}/versions, GET/PATCH
 * …/versions/{n}, POST …/versions/{n}/activate and …/archive. Open to
 * member and admin keys alike.
 *
 * Every write locks the agent row first (SELECT … FOR UPDATE), then the
 * version row. The agent lock makes MAX(version)+1 safe for concurrent
 * creates (the unique (agent_id, version) key backs it up) and serialises
 * all writes to one agent's versions. New versions are drafts; only a
 * draft is editable (409 otherwise); activate and archive are idempotent
 * and bump the agent's updated_at when they change something. The
 * versions of an archived agent stay readable; writing to them is 409.
 */
#include <stdio.h>
#include <string.h>

#include "../core/db.h"
#include "api.h"
#include "handlers.h"
#include "params.h"
#include "versionspec.h"

#define VERSION_MAX 2147483647LL

#define VER_GET                                              \
	"SELECT " VERSIONSPEC_COLUMNS " FROM agent_versions" \
	" WHERE workspace_id = ? AND agent_id = ? AND version = ?"
#define VER_AGENT "SELECT archived_at IS NOT NULL FROM agents WHERE workspace_id = ? AND id = ?"

static const char ver_sql_agent[] = VER_AGENT;
static const char ver_sql_agent_lock[] = VER_AGENT " FOR UPDATE";
static const char ver_sql_get[] = VER_GET;
static const char ver_sql_get_lock[] = VER_GET " FOR UPDATE";
static const char ver_sql_next[] =
    "SELECT COALESCE(MAX(version), 0) + 1 FROM agent_versions WHERE agent_id = ?";
static const char ver_sql_cursor[] =
    "SELECT version FROM agent_versions WHERE workspace_id = ? AND agent_id = ? AND id = ?";
static const char ver_sql_list[] =
    "SELECT " VERSIONSPEC_COLUMNS " FROM agent_versions"
    " WHERE workspace_id = ? AND agent_id = ? ORDER BY version DESC LIMIT ?";
static const char ver_sql_list_before[] =
    "SELECT " VERSIONSPEC_COLUMNS " FROM agent_versions"
    " WHERE workspace_id = ? AND agent_id = ? AND version < ? ORDER BY version DESC LIMIT ?";
static const char ver_sql_activate[] =
    "UPDATE agent_versions SET status = 'active', activated_at = NOW(3), archived_at = NULL,"
    " updated_at = NOW(3) WHERE id = ?";
static const char ver_sql_archive[] =
    "UPDATE agent_versions SET status = 'archived', archived_at = NOW(3), updated_at = NOW(3)"
    " WHERE id = ?";
static const char ver_sql_touch_agent[] = "UPDATE agents SET updated_at = NOW(3) WHERE id = ?";

enum ver_op {
	VER_CREATE,
	VER_PATCH,
	VER_ACTIVATE,
	VER_ARCHIVE
};

/* Refusals from the transactions (db_txn's positive codes). */
enum {
	VER_AGENT_NOT_FOUND = 1,
	VER_AGENT_ARCHIVED,
	VER_NOT_FOUND,
	VER_NOT_DRAFT,
	VER_INVALID,
};

struct ver_write {
	struct request_ctx *ctx; /* for the route check inside a transaction */
	enum ver_op op;
	const char *workspace_id;
	const char *agent_id;
	long long n; /* the version number (CREATE: allocated) */
	const json_t *body; /* PATCH: the client's fields; borrowed */
	const json_t *spec; /* CREATE: the normalised version; borrowed */
	char id[ID_BUFSZ]; /* the version's id */
	char status[16]; /* VER_NOT_DRAFT: the status found */
	struct vspec_error err; /* VER_INVALID */
};

/* A positive decimal without sign or leading zero, up to VERSION_MAX. */
static int
ver_parse_n(const char *s, long long *n)
{
	size_t len = strlen(s);

	*n = 0;
	if (len == 0 || len > 10 || s[0] == '0')
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*n = *n * 10 + (s[i] - '0');
	}
	return *n <= VERSION_MAX ? 0 : -1;
}

/* Sends the refusal or failure rc of a transaction (or a check). Returns -1. */
static int
ver_refused(struct request_ctx *ctx, int rc, const struct ver_write *w)
{
	switch (rc) {
	case VER_AGENT_NOT_FOUND:
		http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "agent %s not found", w->agent_id);
		break;
	case VER_AGENT_ARCHIVED:
		http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
		    "agent %s is archived; its versions cannot be changed", w->agent_id);
		break;
	case VER_NOT_FOUND:
		http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL,
		    "version %lld of agent %s not found", w->n, w->agent_id);
		break;
	case VER_NOT_DRAFT:
		http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
		    "version %lld is %s; only a draft can be edited", w->n, w->status);
		break;
	case VER_INVALID: versionspec_send_error(ctx, &w->err); break;
	default: api_db_failure(ctx, "version_write"); break;
	}
	return -1;
}

/* The agent of the path, unlocked: 0, VER_AGENT_NOT_FOUND, VER_AGENT_ARCHIVED, -1. */
static int
ver_agent(struct db *db, const struct ver_write *w, int lock)
{
	struct db_param p[2] = { dbp_str(w->workspace_id), dbp_str(w->agent_id) };
	struct db_result *res;
	int rc;

	if (db_query(db, lock ? ver_sql_agent_lock : ver_sql_agent, p, 2, &res) == -1)
		return -1;
	if (res->nrows == 0)
		rc = VER_AGENT_NOT_FOUND;
	else
		rc = db_cell_int(res, 0, 0, 0) == 1 ? VER_AGENT_ARCHIVED : 0;
	db_result_free(res);
	return rc;
}

/*
 * Locks the agent (which must not be archived), then version w->n. On 0
 * *res holds the version row (the caller frees it) and w->id its id.
 */
static int
ver_lock(struct db *db, struct ver_write *w, struct db_result **res)
{
	struct db_param p[3] = { dbp_str(w->workspace_id), dbp_str(w->agent_id), DBP_INT(w->n) };
	int rc;

	*res = NULL;
	if ((rc = ver_agent(db, w, 1)) != 0)
		return rc;
	if (db_query(db, ver_sql_get_lock, p, 3, res) == -1)
		return -1;
	if ((*res)->nrows == 0) {
		db_result_free(*res);
		*res = NULL;
		return VER_NOT_FOUND;
	}
	snprintf(w->id, sizeof(w->id), "%s", db_cell(*res, 0, 0));
	snprintf(w->status, sizeof(w->status), "%s", db_cell(*res, 0, 3));
	return 0;
}

static int
ver_create_txn(struct db *db, void *arg)
{
	struct ver_write *w = arg;
	struct db_param p[1] = { dbp_str(w->agent_id) };
	struct db_result *res;
	int rc;

	if ((rc = ver_agent(db, w, 1)) != 0)
		return rc;
	if (db_query(db, ver_sql_next, p, 1, &res) == -1)
		return -1;
	w->n = db_cell_int(res, 0, 0, 1);
	db_result_free(res);
	return versionspec_insert(db, w->workspace_id, w->agent_id, w->n, w->spec, 0, w->id);
}

static int
ver_patch_txn(struct db *db, void *arg)
{
	struct ver_write *w = arg;
	struct db_result *res;
	json_t *base = NULL, *spec = NULL;
	int rc;

	if ((rc = ver_lock(db, w, &res)) != 0)
		return rc;
	if (strcmp(w->status, "draft") != 0) {
		rc = VER_NOT_DRAFT;
		goto out;
	}
	if ((base = versionspec_from_row(res, 0)) == NULL) {
		rc = -1;
		goto out;
	}
	rc = VER_INVALID;
	if (versionspec_normalize(w->body, base, "", &spec, &w->err) == -1)
		goto out;
	/* A stored route that was deleted since is only re-checked when the model changes. */
	if (json_object_get(w->body, "model") != NULL &&
	    (rc = versionspec_check_route(w->ctx, spec, "", &w->err)) != 0) {
		rc = rc == 1 ? VER_INVALID : -1;
		goto out;
	}
	rc = versionspec_update(db, w->id, spec);
out:
	json_decref(spec);
	json_decref(base);
	db_result_free(res);
	return rc;
}

static int
ver_status_txn(struct db *db, void *arg)
{
	struct ver_write *w = arg;
	const char *target = w->op == VER_ACTIVATE ? "active" : "archived";
	struct db_param p[1];
	struct db_result *res;
	int rc;

	if ((rc = ver_lock(db, w, &res)) != 0)
		return rc;
	db_result_free(res);
	if (strcmp(w->status, target) == 0)
		return 0; /* already there: unchanged */
	p[0] = dbp_str(w->id);
	if (db_query(db, w->op == VER_ACTIVATE ? ver_sql_activate : ver_sql_archive, p, 1, NULL) ==
	    -1)
		return -1;
	p[0] = dbp_str(w->agent_id);
	return db_query(db, ver_sql_touch_agent, p, 1, NULL);
}

/* Sends version w->n of the agent with status. */
static int
ver_send(struct request_ctx *ctx, int status, const struct ver_write *w)
{
	struct db_param p[3] = { dbp_str(w->workspace_id), dbp_str(w->agent_id), DBP_INT(w->n) };
	struct db_result *res;
	int rc;

	if (db_query(ctx->db, ver_sql_get, p, 3, &res) == -1)
		return api_db_failure(ctx, "version_get");
	if (res->nrows == 0)
		rc = ver_refused(ctx, VER_NOT_FOUND, w);
	else
		rc = http_send_json(ctx->req, status, versionspec_view(res, 0));
	db_result_free(res);
	return rc;
}

/*
 * Fills w from the path: the agent id and, when with_n, the version number.
 * -1 after sending 404 for a malformed one.
 */
static int
ver_path(struct request_ctx *ctx, struct ver_write *w, enum ver_op op, int with_n)
{
	memset(w, 0, sizeof(*w));
	w->ctx = ctx;
	w->op = op;
	w->workspace_id = ctx->auth.workspace_id;
	w->agent_id = ctx->match.params[0];
	if (!id_valid(w->agent_id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "agent not found"), -1;
	if (with_n && ver_parse_n(ctx->match.params[1], &w->n) == -1)
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "version not found"), -1;
	return 0;
}

static int
ver_create(struct request_ctx *ctx)
{
	struct ver_write w;
	json_t *body = NULL, *spec = NULL;
	int rc;

	if (ver_path(ctx, &w, VER_CREATE, 0) == -1)
		return -1;
	/* 404 for an unknown or foreign agent comes before anything about the body. */
	if ((rc = ver_agent(ctx->db, &w, 0)) != 0)
		return ver_refused(ctx, rc, &w);
	if (http_json_body(ctx->req, &body, 1) == -1)
		return -1;
	if (versionspec_normalize(body, NULL, "", &spec, &w.err) == -1) {
		rc = ver_refused(ctx, VER_INVALID, &w);
		goto out;
	}
	if ((rc = versionspec_check_route(ctx, spec, "", &w.err)) != 0) {
		rc = ver_refused(ctx, rc == 1 ? VER_INVALID : -1, &w);
		goto out;
	}
	w.spec = spec;
	if ((rc = db_txn(ctx->db, ver_create_txn, &w)) != 0) {
		rc = ver_refused(ctx, rc, &w);
		goto out;
	}
	rc = ver_send(ctx, 201, &w);
out:
	json_decref(spec);
	json_decref(body);
	return rc;
}

static int
ver_list(struct request_ctx *ctx)
{
	struct ver_write w;
	struct list_params lp;
	struct db_result *res = NULL;
	struct db_param p[4];
	long long before = 0;
	int n = 0, rc;

	if (ver_path(ctx, &w, VER_CREATE, 0) == -1)
		return -1;
	if ((rc = ver_agent(ctx->db, &w, 0)) == VER_AGENT_NOT_FOUND || rc == -1)
		return ver_refused(ctx, rc, &w);
	if (params_list(ctx, &lp) == -1)
		return -1;
	p[n++] = dbp_str(w.workspace_id);
	p[n++] = dbp_str(w.agent_id);
	if (lp.has_before) {
		p[n] = dbp_str(lp.before);
		if (db_query(ctx->db, ver_sql_cursor, p, 3, &res) == -1)
			return api_db_failure(ctx, "version_cursor");
		before = res->nrows > 0 ? db_cell_int(res, 0, 0, 0) : 0;
		db_result_free(res);
		res = NULL;
		if (before == 0)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", "before"),
			    "before: unknown cursor (the id of a version of this agent)");
		p[n++] = DBP_INT(before);
	}
	p[n++] = DBP_INT(lp.limit);
	if (db_query(ctx->db, lp.has_before ? ver_sql_list_before : ver_sql_list, p, (size_t)n,
		&res) == -1)
		return api_db_failure(ctx, "version_list");
	return api_send_rows(ctx, res, versionspec_view);
}

static int
ver_patch(struct request_ctx *ctx)
{
	struct ver_write w;
	json_t *body;
	int rc;

	if (ver_path(ctx, &w, VER_PATCH, 1) == -1)
		return -1;
	if ((rc = ver_agent(ctx->db, &w, 0)) == VER_AGENT_NOT_FOUND || rc == -1)
		return ver_refused(ctx, rc, &w);
	if (http_json_body(ctx->req, &body, 1) == -1)
		return -1;
	w.body = body;
	if ((rc = db_txn(ctx->db, ver_patch_txn, &w)) != 0)
		rc = ver_refused(ctx, rc, &w);
	else
		rc = ver_send(ctx, 200, &w);
	json_decref(body);
	return rc;
}

static int
ver_set_status(struct request_ctx *ctx, enum ver_op op)
{
	struct ver_write w;
	json_t *body;
	int rc;

	if (ver_path(ctx, &w, op, 1) == -1)
		return -1;
	/* No field is read, but a body that is sent must be a JSON object. */
	if (http_json_body(ctx->req, &body, 1) == -1)
		return -1;
	json_decref(body);
	if ((rc = db_txn(ctx->db, ver_status_txn, &w)) != 0)
		return ver_refused(ctx, rc, &w);
	return ver_send(ctx, 200, &w);
}

int
h_versions(struct request_ctx *ctx)
{
	if (strcmp(ctx->req->method, "POST") == 0)
		return ver_create(ctx);
	return ver_list(ctx);
}

int
h_version(struct request_ctx *ctx)
{
	struct ver_write w;

	if (strcmp(ctx->req->method, "PATCH") == 0)
		return ver_patch(ctx);
	if (ver_path(ctx, &w, VER_PATCH, 1) == -1)
		return -1;
	return ver_send(ctx, 200, &w);
}

int
h_version_activate(struct request_ctx *ctx)
{
	return ver_set_status(ctx, VER_ACTIVATE);
}

int
h_version_archive(struct request_ctx *ctx)
{
	return ver_set_status(ctx, VER_ARCHIVE);
}
