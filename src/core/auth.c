#include "auth.h"

#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "authcache.h"
#include "db.h"

static const char auth_sql_lookup[] =
    "SELECT k.id, k.workspace_id, k.user_id, k.role, k.secret_hash, u.name, u.email,"
    " (k.last_used_at IS NULL OR k.last_used_at < NOW(3) - INTERVAL 60 SECOND)"
    " FROM api_keys k JOIN users u ON u.id = k.user_id"
    " WHERE k.secret_hash = ? AND k.revoked_at IS NULL";

/*
 * Touching last_used_at at most once a minute keeps reads free of writes.
 * It happens on a lookup, so with the cache on it lags by up to its TTL.
 */
static const char auth_sql_touch[] = "UPDATE api_keys SET last_used_at = NOW(3) WHERE id = ?";

static void
auth_copy(char *dst, size_t dstsz, const char *src)
{
	snprintf(dst, dstsz, "%s", src != NULL ? src : "");
}

enum auth_result
auth_resolve(struct db *db, const char *authorization, struct auth *out)
{
	return auth_resolve_from(db, authorization, NULL, out);
}

enum auth_result
auth_resolve_from(
    struct db *db, const char *authorization, const char *remote_addr, struct auth *out)
{
	unsigned char hash[APIKEY_HASH_LEN];
	char secret[APIKEY_SECRET_MAX];
	struct db_result *res = NULL;
	struct db_param p;
	const char *tok;
	size_t len;
	long long now;
	unsigned long gen;
	enum auth_result rc = AUTH_UNKNOWN;

	memset(out, 0, sizeof(*out));
	if (authorization == NULL || authorization[0] == '\0')
		return AUTH_MISSING;
	if ((tok = apikey_from_bearer(authorization, &len)) == NULL || len >= sizeof(secret))
		return AUTH_MALFORMED;
	memcpy(secret, tok, len);
	secret[len] = '\0';
	if (!apikey_well_formed(secret))
		return AUTH_MALFORMED;
	apikey_hash(secret, hash);
	now = authcache_now_ms();
	if (authcache_get(hash, now, out) == 1)
		return AUTH_OK;
	if (authcache_unknown(hash, now))
		return AUTH_UNKNOWN; /* asked within api.unknown_key_cache_ms: no lookup */
	if (authcache_addr_throttled(remote_addr, now))
		return AUTH_THROTTLED;
	/* Before the lookup: a revocation landing during it makes the entry stale. */
	gen = authcache_generation();
	p = DBP_BLOB(hash, sizeof(hash));
	if (db_query(db, auth_sql_lookup, &p, 1, &res) == -1)
		return AUTH_DB_ERROR;
	if (res->nrows == 1 && res->len[4] == APIKEY_HASH_LEN &&
	    apikey_hash_equal((const unsigned char *)db_cell(res, 0, 4), hash)) {
		auth_copy(out->key_id, sizeof(out->key_id), db_cell(res, 0, 0));
		auth_copy(out->workspace_id, sizeof(out->workspace_id), db_cell(res, 0, 1));
		auth_copy(out->user_id, sizeof(out->user_id), db_cell(res, 0, 2));
		out->role =
		    strcmp(db_cell(res, 0, 3), "admin") == 0 ? AUTH_ROLE_ADMIN : AUTH_ROLE_MEMBER;
		auth_copy(out->user_name, sizeof(out->user_name), db_cell(res, 0, 5));
		auth_copy(out->user_email, sizeof(out->user_email), db_cell(res, 0, 6));
		if (db_cell_int(res, 0, 7, 0) == 1) {
			struct db_param k = dbp_str(out->key_id);

			(void)db_query(db, auth_sql_touch, &k, 1, NULL);
		}
		authcache_put(hash, out, gen, now);
		rc = AUTH_OK;
	} else {
		authcache_put_unknown(hash, now);
		authcache_addr_unknown(remote_addr, now);
	}
	db_result_free(res);
	return rc;
}

const char *
auth_result_message(enum auth_result r)
{
	switch (r) {
	case AUTH_MISSING: return "missing Authorization: Bearer <api key> header";
	case AUTH_MALFORMED: return "malformed Authorization header: expected Bearer <api key>";
	case AUTH_UNKNOWN: return "unknown or revoked API key";
	case AUTH_DB_ERROR: return "authentication is unavailable, try again";
	case AUTH_THROTTLED:
		return "too many unknown API keys from this client address, try again in a second";
	default: return "";
	}
}
