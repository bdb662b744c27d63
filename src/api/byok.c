/*
 * Bring-your-own-key routes (admin only): POST/GET /api/v1/routes, DELETE
 * /api/v1/routes/{id}. A route names a provider, a model, a base URL and
 * optionally the caller's provider API key. The key is write-only: it is
 * sealed with secretbox (XChaCha20-Poly1305 under security.master_key, the
 * additional data "<workspace_id>:<route_id>", so the route id is made
 * before sealing) and never returned, logged or echoed; has_api_key says
 * whether one is stored. DELETE is soft (deleted_at): a deleted route is
 * gone from the list and from run creation, but its row stays for the runs
 * that used it.
 */
#include "byok.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/db.h"
#include "../core/jsonv.h"
#include "../core/log.h"
#include "../core/secretbox.h"
#include "api.h"
#include "handlers.h"
#include "params.h"

#define ROUTE_NAME_MAX 255
#define ROUTE_MODEL_MAX 255
#define ROUTE_URL_MAX 2048
/* routes.api_key_ciphertext is VARBINARY(4096) and holds the tag too. */
#define ROUTE_API_KEY_MAX (4096 - SECRETBOX_TAG_LEN)

#define ROUTE_COLUMNS \
	"id, name, provider, model, base_url, api_key_ciphertext IS NOT NULL, created_at"

static const char routes_sql_get[] =
    "SELECT " ROUTE_COLUMNS " FROM routes WHERE workspace_id = ? AND id = ?"
    " AND deleted_at IS NULL";
/* Also a deleted route: the view DELETE answers with, and list cursors. */
static const char routes_sql_get_any[] =
    "SELECT " ROUTE_COLUMNS " FROM routes WHERE workspace_id = ? AND id = ?";
static const char routes_sql_list[] =
    "SELECT " ROUTE_COLUMNS " FROM routes WHERE workspace_id = ? AND deleted_at IS NULL"
    " ORDER BY id DESC LIMIT ?";
static const char routes_sql_list_before[] =
    "SELECT " ROUTE_COLUMNS " FROM routes WHERE workspace_id = ? AND deleted_at IS NULL"
    " AND id < ? ORDER BY id DESC LIMIT ?";
static const char routes_sql_insert[] =
    "INSERT INTO routes (id, workspace_id, name, provider, model, base_url,"
    " api_key_ciphertext, api_key_nonce) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
static const char routes_sql_delete[] =
    "UPDATE routes SET deleted_at = NOW(3) WHERE workspace_id = ? AND id = ?"
    " AND deleted_at IS NULL";
static const char routes_sql_exists[] =
    "SELECT 1 FROM routes WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL";

/* The Route object of row r; new reference. */
static json_t *
byok_view(const struct db_result *res, size_t r)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "id", jv_str(db_cell(res, r, 0)),
	    "name", jv_str(db_cell(res, r, 1)), "provider", jv_str(db_cell(res, r, 2)), "model",
	    jv_str(db_cell(res, r, 3)), "base_url", jv_str(db_cell(res, r, 4)), "has_api_key",
	    db_cell_int(res, r, 5, 0) == 1, "created_at", jv_time(db_cell(res, r, 6)));
}

/* Loads one route of the caller's workspace (sql: get or get_any): 1, 0, -1. */
static int
byok_load(struct request_ctx *ctx, const char *sql, const char *id, struct db_result **res)
{
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(id) };

	*res = NULL;
	if (db_query(ctx->db, sql, p, 2, res) == -1)
		return -1;
	return (*res)->nrows > 0;
}

/* 1 when s is an absolute http(s) URL with a host, in printable ASCII. */
static int
byok_url_ok(const char *s)
{
	const char *rest;

	if (strncasecmp(s, "https://", 8) == 0)
		rest = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		rest = s + 7;
	else
		return 0;
	if (*rest == '\0' || strchr("/?#@:", *rest) != NULL)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static const char *
byok_default_url(const char *provider)
{
	if (strcmp(provider, "openai") == 0)
		return "https://api.openai.com/v1";
	if (strcmp(provider, "anthropic") == 0)
		return "https://api.anthropic.com";
	return NULL; /* scripted: no network */
}

/*
 * Seals api_key for route id of the caller's workspace into a new buffer
 * (*ct, *ctlen; the caller frees it) and nonce. Returns 0, or -1 after
 * sending the error (503 without a usable master key, 500 otherwise).
 */
static int
byok_seal(struct request_ctx *ctx, const char *id, const char *api_key, unsigned char **ct,
    size_t *ctlen, unsigned char nonce[SECRETBOX_NONCE_LEN])
{
	unsigned char key[SECRETBOX_KEY_LEN];
	size_t len = strlen(api_key);
	int rc = -1;

	*ct = NULL;
	*ctlen = 0;
	if (ctx->cfg->security_master_key[0] == '\0')
		return http_send_error(ctx->req, 503, ERR_INTERNAL, NULL,
			   "this server has no security.master_key configured, so it cannot store "
			   "an"
			   " api_key; create the route without one or ask the operator to set it"),
		       -1;
	if (secretbox_key_from_hex(ctx->cfg->security_master_key, key) == -1) {
		log_warnx("msg=\"security.master_key is not 64 hex characters\" request_id=%s",
		    ctx->req->request_id);
		return http_send_error(ctx->req, 503, ERR_INTERNAL, NULL,
			   "this server's security.master_key is not usable, so it cannot store an"
			   " api_key"),
		       -1;
	}
	if ((*ct = malloc(len + SECRETBOX_TAG_LEN)) == NULL) {
		http_send_error(ctx->req, 500, ERR_INTERNAL, NULL, "internal error");
		goto out;
	}
	if (secretbox_seal(key, ctx->auth.workspace_id, id, (const unsigned char *)api_key, len,
		*ct, nonce) == -1) {
		log_warnx(
		    "msg=\"sealing a route api_key failed\" request_id=%s", ctx->req->request_id);
		http_send_error(ctx->req, 500, ERR_INTERNAL, NULL, "internal error");
		free(*ct);
		*ct = NULL;
		goto out;
	}
	*ctlen = len + SECRETBOX_TAG_LEN;
	rc = 0;
out:
	sodium_memzero(key, sizeof(key));
	return rc;
}

static int
byok_create(struct request_ctx *ctx)
{
	static const char *const providers[] = { "openai", "anthropic", "scripted", NULL };
	unsigned char nonce[SECRETBOX_NONCE_LEN], *ct = NULL;
	const char *name, *provider, *model, *base_url, *api_key;
	char id[ID_BUFSZ];
	struct db_result *res = NULL;
	struct db_param p[8];
	size_t ctlen = 0;
	json_t *body;
	int rc = -1;

	if (http_json_body(ctx->req, &body, 1) == -1)
		return -1;
	if (params_string(ctx, body, "name", FIELD_NULLABLE, ROUTE_NAME_MAX, &name) == -1 ||
	    params_enum(ctx, body, "provider", FIELD_REQUIRED, providers, &provider) == -1 ||
	    params_string(ctx, body, "model", FIELD_REQUIRED, ROUTE_MODEL_MAX, &model) == -1 ||
	    params_string(ctx, body, "base_url", FIELD_NULLABLE, ROUTE_URL_MAX, &base_url) == -1 ||
	    params_string(ctx, body, "api_key", FIELD_NULLABLE, ROUTE_API_KEY_MAX, &api_key) == -1)
		goto out;
	if (model[0] == '\0') {
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "model"), "model: must not be empty");
		goto out;
	}
	if (base_url == NULL)
		base_url = byok_default_url(provider);
	else if (!byok_url_ok(base_url)) {
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "base_url"),
		    "base_url: must be an absolute http:// or https:// URL");
		goto out;
	}
	if (api_key != NULL && api_key[0] == '\0') {
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "api_key"),
		    "api_key: must not be empty (omit it to store no key)");
		goto out;
	}

	/* The id is part of the additional data, so it comes first. */
	id_new(id);
	if (api_key != NULL && byok_seal(ctx, id, api_key, &ct, &ctlen, nonce) == -1)
		goto out;
	p[0] = dbp_str(id);
	p[1] = dbp_str(ctx->auth.workspace_id);
	p[2] = dbp_str(name != NULL ? name : "");
	p[3] = dbp_str(provider);
	p[4] = dbp_str(model);
	p[5] = dbp_str(base_url);
	p[6] = ct != NULL ? DBP_BLOB(ct, ctlen) : DBP_NULL();
	p[7] = ct != NULL ? DBP_BLOB(nonce, sizeof(nonce)) : DBP_NULL();
	if (db_query(ctx->db, routes_sql_insert, p, 8, NULL) == -1) {
		api_db_failure(ctx, "route_insert");
		goto out;
	}
	if (byok_load(ctx, routes_sql_get, id, &res) != 1) {
		api_db_failure(ctx, "route_get");
		goto out;
	}
	rc = http_send_json(ctx->req, 201, byok_view(res, 0));
out:
	free(ct);
	db_result_free(res);
	json_decref(body);
	return rc;
}

static int
byok_list(struct request_ctx *ctx)
{
	struct list_params lp;
	struct db_result *res = NULL;
	struct db_param p[3];
	int n = 0;

	if (params_list(ctx, &lp) == -1)
		return -1;
	if (lp.has_before) {
		/* A route deleted since the previous page still marks the place. */
		int found = byok_load(ctx, routes_sql_get_any, lp.before, &res);

		db_result_free(res);
		res = NULL;
		if (found == -1)
			return api_db_failure(ctx, "route_cursor");
		if (found == 0)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", "before"), "before: unknown cursor");
	}
	p[n++] = dbp_str(ctx->auth.workspace_id);
	if (lp.has_before)
		p[n++] = dbp_str(lp.before);
	p[n++] = DBP_INT(lp.limit);
	if (db_query(ctx->db, lp.has_before ? routes_sql_list_before : routes_sql_list, p,
		(size_t)n, &res) == -1)
		return api_db_failure(ctx, "route_list");
	return api_send_rows(ctx, res, byok_view);
}

int
h_byok_routes(struct request_ctx *ctx)
{
	if (strcmp(ctx->req->method, "POST") == 0)
		return byok_create(ctx);
	return byok_list(ctx);
}

/* DELETE /api/v1/routes/{id}: soft delete; a second DELETE is 404. */
int
h_byok_route(struct request_ctx *ctx)
{
	const char *id = ctx->match.params[0];
	struct db_param p[2];
	struct db_result *res = NULL;
	int found, rc;

	if (!id_valid(id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "route not found");
	p[0] = dbp_str(ctx->auth.workspace_id);
	p[1] = dbp_str(id);
	if (db_query(ctx->db, routes_sql_delete, p, 2, NULL) == -1)
		return api_db_failure(ctx, "route_delete");
	if (db_affected(ctx->db) == 0)
		return http_send_error(
		    ctx->req, 404, ERR_NOT_FOUND, NULL, "route %s not found", id);
	found = byok_load(ctx, routes_sql_get_any, id, &res);
	if (found == 1)
		rc = http_send_json(ctx->req, 200, byok_view(res, 0));
	else
		rc = api_db_failure(ctx, "route_get");
	db_result_free(res);
	return rc;
}

int
byok_route_load(struct request_ctx *ctx, const char *route_id, struct byok_route *out)
{
	struct db_result *res = NULL;
	int found;

	memset(out, 0, sizeof(*out));
	if (route_id == NULL || !id_valid(route_id))
		return 0;
	if ((found = byok_load(ctx, routes_sql_get, route_id, &res)) == 1) {
		snprintf(out->id, sizeof(out->id), "%s", db_cell(res, 0, 0));
		snprintf(out->provider, sizeof(out->provider), "%s", db_cell(res, 0, 2));
		snprintf(out->model, sizeof(out->model), "%s", db_cell(res, 0, 3));
		if (db_cell(res, 0, 4) != NULL)
			snprintf(out->base_url, sizeof(out->base_url), "%s", db_cell(res, 0, 4));
	}
	db_result_free(res);
	return found;
}

int
byok_route_exists(struct request_ctx *ctx, const char *route_id)
{
	struct db_param p[2];
	struct db_result *res = NULL;
	int found;

	if (route_id == NULL || !id_valid(route_id))
		return 0;
	p[0] = dbp_str(ctx->auth.workspace_id);
	p[1] = dbp_str(route_id);
	if (db_query(ctx->db, routes_sql_exists, p, 2, &res) == -1)
		return -1;
	found = res->nrows > 0;
	db_result_free(res);
	return found;
}
