/*
 * API keys (admin only): POST/GET /api/v1/api-keys, GET/DELETE
 * /api/v1/api-keys/{id}. The secret is returned once, by POST; only its
 * SHA-256 is stored. DELETE revokes (idempotent) and returns the key.
 */
#include <string.h>

#include "../core/accounts.h"
#include "../core/apikey.h"
#include "../core/db.h"
#include "../core/jsonv.h"
#include "api.h"
#include "handlers.h"
#include "params.h"

_Static_assert(APIKEY_SHOWN_PREFIX_LEN == 8, "APIKEY_SHOWN_PREFIX_LEN_SQL must match");

/* Keys made before the prefix was cut to 8 characters still store 12: never show more. */
#define APIKEY_COLUMNS                                                                        \
	"id, name, role, LEFT(prefix, " APIKEY_SHOWN_PREFIX_LEN_SQL "), user_id, created_at," \
	" last_used_at, revoked_at"

static const char keys_sql_get[] =
    "SELECT " APIKEY_COLUMNS " FROM api_keys WHERE workspace_id = ? AND id = ?";
static const char keys_sql_list[] = "SELECT " APIKEY_COLUMNS " FROM api_keys WHERE workspace_id = ?"
				    " ORDER BY id DESC LIMIT ?";
static const char keys_sql_list_before[] =
    "SELECT " APIKEY_COLUMNS " FROM api_keys WHERE workspace_id = ? AND id < ?"
    " ORDER BY id DESC LIMIT ?";

/* The key object of row r; new reference. */
static json_t *
keys_view(const struct db_result *res, size_t r)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
	    jv_str(db_cell(res, r, 0)), "name", jv_str(db_cell(res, r, 1)), "role",
	    jv_str(db_cell(res, r, 2)), "prefix", jv_str(db_cell(res, r, 3)), "user_id",
	    jv_str(db_cell(res, r, 4)), "created_at", jv_time(db_cell(res, r, 5)), "last_used_at",
	    jv_time(db_cell(res, r, 6)), "revoked_at", jv_time(db_cell(res, r, 7)));
}

/* Loads one key of the caller's workspace: 1 found, 0 not, -1 error. */
static int
keys_load(struct request_ctx *ctx, const char *id, struct db_result **res)
{
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(id) };

	if (db_query(ctx->db, keys_sql_get, p, 2, res) == -1)
		return -1;
	return (*res)->nrows > 0;
}

static int
keys_create(struct request_ctx *ctx)
{
	static const char *const roles[] = { "admin", "member", NULL };
	char key_id[ID_BUFSZ], user_id[ID_BUFSZ], secret[APIKEY_SECRET_MAX];
	const char *name, *role, *uid, *email, *uname;
	struct db_result *res = NULL;
	json_t *body, *view;
	int rc = -1, found;

	if (http_json_body(ctx->req, &body, 1) == -1)
		return -1;
	if (params_string(ctx, body, "name", FIELD_NULLABLE, 200, &name) == -1 ||
	    params_enum(ctx, body, "role", FIELD_NULLABLE, roles, &role) == -1 ||
	    params_string(ctx, body, "user_id", FIELD_NULLABLE, ID_LEN, &uid) == -1 ||
	    params_string(ctx, body, "email", FIELD_NULLABLE, 254, &email) == -1 ||
	    params_string(ctx, body, "user_name", FIELD_NULLABLE, 200, &uname) == -1)
		goto out;
	if (role == NULL)
		role = "member";
	if (uid != NULL && email != NULL) {
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "email"), "give user_id or email, not both");
		goto out;
	}
	if (email != NULL && (email[0] == '\0' || strchr(email, '@') == NULL)) {
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "email"), "email: must be an e-mail address");
		goto out;
	}
	if (uid != NULL) {
		found = id_valid(uid)
		    ? accounts_user_find(ctx->db, ctx->auth.workspace_id, uid, NULL, user_id)
		    : 0;
		if (found == -1) {
			api_db_failure(ctx, "user_find");
			goto out;
		}
		if (found == 0) {
			http_send_error(
			    ctx->req, 404, ERR_NOT_FOUND, NULL, "user %s not found", uid);
			goto out;
		}
	} else if (email != NULL) {
		found = accounts_user_find(ctx->db, ctx->auth.workspace_id, NULL, email, user_id);
		if (found == 0 &&
		    accounts_user_create(ctx->db, ctx->auth.workspace_id, email, uname, user_id) ==
			0)
			found = 1;
		else if (found == 0 && db_last_err(ctx->db) == DB_ERR_DUPLICATE)
			/* A concurrent request created that user first: use it. */
			found = accounts_user_find(
			    ctx->db, ctx->auth.workspace_id, NULL, email, user_id);
		if (found != 1) {
			api_db_failure(ctx, "user_create");
			goto out;
		}
	} else
		memcpy(user_id, ctx->auth.user_id, sizeof(user_id));

	if (accounts_key_create(
		ctx->db, ctx->auth.workspace_id, user_id, name, role, key_id, secret) == -1 ||
	    keys_load(ctx, key_id, &res) != 1) {
		api_db_failure(ctx, "key_create");
		goto out;
	}
	view = keys_view(res, 0);
	json_object_set_new(view, "secret", json_string(secret));
	rc = http_send_json(ctx->req, 201, view);
out:
	db_result_free(res);
	json_decref(body);
	return rc;
}

static int
keys_list(struct request_ctx *ctx)
{
	struct list_params lp;
	struct db_result *res = NULL;
	struct db_param p[3];
	int n = 0;

	if (params_list(ctx, &lp) == -1)
		return -1;
	if (lp.has_before) {
		int found = keys_load(ctx, lp.before, &res);

		db_result_free(res);
		res = NULL;
		if (found == -1)
			return api_db_failure(ctx, "key_cursor");
		if (found == 0)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", "before"), "before: unknown cursor");
	}
	p[n++] = dbp_str(ctx->auth.workspace_id);
	if (lp.has_before)
		p[n++] = dbp_str(lp.before);
	p[n++] = DBP_INT(lp.limit);
	if (db_query(ctx->db, lp.has_before ? keys_sql_list_before : keys_sql_list, p, (size_t)n,
		&res) == -1)
		return api_db_failure(ctx, "key_list");
	return api_send_rows(ctx, res, keys_view);
}

int
h_apikeys(struct request_ctx *ctx)
{
	if (strcmp(ctx->req->method, "POST") == 0)
		return keys_create(ctx);
	return keys_list(ctx);
}

int
h_apikey(struct request_ctx *ctx)
{
	const char *id = ctx->match.params[0];
	struct db_result *res = NULL;
	int found, rc;

	if (!id_valid(id))
		return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "api key not found");
	if (strcmp(ctx->req->method, "DELETE") == 0) {
		found = accounts_key_revoke(ctx->db, ctx->auth.workspace_id, id);
		if (found == -1)
			return api_db_failure(ctx, "key_revoke");
	}
	found = keys_load(ctx, id, &res);
	if (found == -1)
		rc = api_db_failure(ctx, "key_get");
	else if (found == 0)
		rc =
		    http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "api key %s not found", id);
	else
		rc = http_send_json(ctx->req, 200, keys_view(res, 0));
	db_result_free(res);
	return rc;
}
