#include "accounts.h"

#include <string.h>

#include "authcache.h"
#include "db.h"

static const char acc_sql_ws_insert[] =
    "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, NOW(3))";
static const char acc_sql_ws_exists[] = "SELECT 1 FROM workspaces WHERE id = ?";
static const char acc_sql_user_insert[] =
    "INSERT INTO users (id, workspace_id, email, name, created_at) VALUES (?, ?, ?, ?, NOW(3))";
static const char acc_sql_user_by_id[] = "SELECT id FROM users WHERE workspace_id = ? AND id = ?";
static const char acc_sql_user_by_email[] =
    "SELECT id FROM users WHERE workspace_id = ? AND email = ?";
static const char acc_sql_key_insert[] =
    "INSERT INTO api_keys (id, workspace_id, user_id, name, role, prefix, secret_hash,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, NOW(3))";
static const char acc_sql_key_revoke_ws[] =
    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, NOW(3))"
    " WHERE workspace_id = ? AND id = ?";
static const char acc_sql_key_revoke_any[] =
    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, NOW(3)) WHERE id = ?";

int
accounts_workspace_create(struct db *db, const char *name, char id_out[ID_BUFSZ])
{
	struct db_param p[2];

	id_new(id_out);
	p[0] = dbp_str(id_out);
	p[1] = dbp_str(name);
	return db_query(db, acc_sql_ws_insert, p, 2, NULL);
}

int
accounts_workspace_exists(struct db *db, const char *workspace_id)
{
	struct db_result *res;
	struct db_param p = dbp_str(workspace_id);
	int found;

	if (db_query(db, acc_sql_ws_exists, &p, 1, &res) == -1)
		return -1;
	found = res->nrows > 0;
	db_result_free(res);
	return found;
}

int
accounts_user_create(struct db *db, const char *workspace_id, const char *email, const char *name,
    char id_out[ID_BUFSZ])
{
	struct db_param p[4];

	id_new(id_out);
	p[0] = dbp_str(id_out);
	p[1] = dbp_str(workspace_id);
	p[2] = dbp_str(email);
	p[3] = dbp_str(name != NULL ? name : "");
	return db_query(db, acc_sql_user_insert, p, 4, NULL);
}

int
accounts_user_find(struct db *db, const char *workspace_id, const char *user_id, const char *email,
    char id_out[ID_BUFSZ])
{
	struct db_result *res;
	struct db_param p[2];
	int found;

	p[0] = dbp_str(workspace_id);
	p[1] = dbp_str(user_id != NULL ? user_id : email);
	if (db_query(
		db, user_id != NULL ? acc_sql_user_by_id : acc_sql_user_by_email, p, 2, &res) == -1)
		return -1;
	found = res->nrows > 0;
	if (found)
		memcpy(id_out, db_cell(res, 0, 0), ID_BUFSZ - 1), id_out[ID_BUFSZ - 1] = '\0';
	db_result_free(res);
	return found;
}

int
accounts_key_create(struct db *db, const char *workspace_id, const char *user_id, const char *name,
    const char *role, char id_out[ID_BUFSZ], char secret_out[APIKEY_SECRET_MAX])
{
	unsigned char hash[APIKEY_HASH_LEN];
	struct db_param p[7];

	id_new(id_out);
	apikey_generate(secret_out);
	apikey_hash(secret_out, hash);
	p[0] = dbp_str(id_out);
	p[1] = dbp_str(workspace_id);
	p[2] = dbp_str(user_id);
	p[3] = dbp_str(name != NULL ? name : "");
	p[4] = dbp_str(role);
	p[5] = DBP_STRN(secret_out, APIKEY_SHOWN_PREFIX_LEN);
	p[6] = DBP_BLOB(hash, sizeof(hash));
	return db_query(db, acc_sql_key_insert, p, 7, NULL);
}

int
accounts_key_revoke(struct db *db, const char *workspace_id, const char *key_id)
{
	struct db_param p[2];

	if (workspace_id != NULL) {
		p[0] = dbp_str(workspace_id);
		p[1] = dbp_str(key_id);
		if (db_query(db, acc_sql_key_revoke_ws, p, 2, NULL) == -1)
			return -1;
	} else {
		p[0] = dbp_str(key_id);
		if (db_query(db, acc_sql_key_revoke_any, p, 1, NULL) == -1)
			return -1;
	}
	/* CLIENT_FOUND_ROWS: matched rows, so an already revoked key counts. */
	if (db_affected(db) == 0)
		return 0;
	/* Committed (autocommit): no API worker may serve the key from its cache now. */
	authcache_invalidate();
	return 1;
}
