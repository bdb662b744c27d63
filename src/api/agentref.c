/*
 * Resolution is two steps. One light query names the agent and the version
 * a request means (ids, status, the agent's archived flag: no JSON). The
 * version's content (model, prompts, schema, tools, limits…, parsed) then
 * comes from a per-process cache keyed by version id, or from the database
 * on a miss. Caching is exact because a version's content never changes
 * once it leaves 'draft' (versionspec.c updates drafts only; activate and
 * archive change the status, which the light query always reads fresh):
 * drafts are never cached. So a version published a moment ago is seen by
 * the very next request, and no invalidation is needed.
 *
 * Run creation may skip even the light query: agentref_guess_active()
 * offers the version this worker last found active for the agent, and the
 * creating transaction checks it is still the agent's active version (and
 * the agent not archived) before writing anything.
 */
#include "agentref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/db.h"
#include "../core/jsonv.h"
#include "api.h"

#define AV_COLUMNS                                                                            \
	"v.agent_id, v.id, v.version, v.status, v.model, v.system_prompt, v.prompt_template," \
	" v.input_schema, v.tools, v.limits, v.retry, v.approval, a.archived_at IS NOT NULL"

/*
 * The light queries: agent id, archived flag, then the version's id and
 * status (NULL when the agent has no such version). By agent id or key,
 * with an explicit version number (its parameter comes first) or the
 * agent's active version (the highest active one).
 */
#define AR_LIGHT "SELECT a.id, a.archived_at IS NOT NULL, v.id, v.status FROM agents a"
#define AR_JOIN_NUMBER                                                   \
	" LEFT JOIN agent_versions v ON v.workspace_id = a.workspace_id" \
	" AND v.agent_id = a.id AND v.version = ?"
#define AR_JOIN_ACTIVE                                                             \
	" LEFT JOIN agent_versions v ON v.id = (SELECT x.id FROM agent_versions x" \
	" WHERE x.workspace_id = a.workspace_id AND x.agent_id = a.id"             \
	" AND x.status = 'active' ORDER BY x.version DESC LIMIT 1)"
static const char ar_sql_id_number[] =
    AR_LIGHT AR_JOIN_NUMBER " WHERE a.workspace_id = ? AND a.id = ?";
static const char ar_sql_id_active[] =
    AR_LIGHT AR_JOIN_ACTIVE " WHERE a.workspace_id = ? AND a.id = ?";
static const char ar_sql_key_number[] =
    AR_LIGHT AR_JOIN_NUMBER " WHERE a.workspace_id = ? AND a.`key` = ?";
static const char ar_sql_key_active[] =
    AR_LIGHT AR_JOIN_ACTIVE " WHERE a.workspace_id = ? AND a.`key` = ?";
static const char ar_sql_status[] =
    "SELECT status FROM agent_versions WHERE workspace_id = ? AND id = ?";
static const char ar_sql_by_id[] =
    "SELECT " AV_COLUMNS " FROM agent_versions v JOIN agents a ON a.id = v.agent_id"
    " WHERE v.workspace_id = ? AND v.id = ?";

/*
 * Parsed content of non-draft versions, per process (an API worker serves
 * one request at a time). Replaced least recently used first; the entries
 * own their references.
 */
#define AR_CACHE_MAX 64
static struct {
	struct agent_version av;
	unsigned long long used; /* 0: empty */
} ar_cache[AR_CACHE_MAX];
static unsigned long long ar_clock;

/* Per process: the active version last resolved for (workspace, agent). */
#define AR_ACTIVE_MAX 64
static struct {
	char workspace_id[ID_BUFSZ];
	char agent_id[ID_BUFSZ];
	char version_id[ID_BUFSZ];
	unsigned long long used; /* 0: empty */
} ar_active[AR_ACTIVE_MAX];

void
agentref_clear(struct agent_version *av)
{
	json_decref(av->model);
	json_decref(av->input_schema);
	json_decref(av->tools);
	json_decref(av->limits);
	json_decref(av->retry);
	json_decref(av->approval);
	free(av->system_prompt);
	free(av->prompt_template);
	memset(av, 0, sizeof(*av));
}

static json_t *
ar_doc(const struct db_result *res, size_t col, int nullable)
{
	const char *s = db_cell(res, 0, col);

	if (s == NULL)
		return nullable ? NULL : json_object();
	return jv_doc(s, res->len[col]);
}

/* Fills av from row 0; returns the "agent archived" flag. */
static int
ar_fill(const struct db_result *res, struct agent_version *av)
{
	const char *tpl = db_cell(res, 0, 6);

	memset(av, 0, sizeof(*av));
	snprintf(av->agent_id, sizeof(av->agent_id), "%s", db_cell(res, 0, 0));
	snprintf(av->version_id, sizeof(av->version_id), "%s", db_cell(res, 0, 1));
	av->version = db_cell_int(res, 0, 2, 0);
	snprintf(av->status, sizeof(av->status), "%s", db_cell(res, 0, 3));
	av->model = ar_doc(res, 4, 0);
	av->system_prompt = strdup(db_cell(res, 0, 5) != NULL ? db_cell(res, 0, 5) : "");
	av->prompt_template = tpl != NULL ? strdup(tpl) : NULL;
	av->input_schema = ar_doc(res, 7, 1);
	if (av->input_schema != NULL && json_is_null(av->input_schema)) {
		json_decref(av->input_schema);
		av->input_schema = NULL;
	}
	av->tools = ar_doc(res, 8, 0);
	av->limits = ar_doc(res, 9, 0);
	av->retry = ar_doc(res, 10, 0);
	av->approval = ar_doc(res, 11, 0);
	return db_cell_int(res, 0, 12, 0) == 1;
}

/* dst becomes a copy of src sharing its JSON values; 0, or -1 (dst cleared) on OOM. */
static int
ar_copy(struct agent_version *dst, const struct agent_version *src)
{
	*dst = *src;
	json_incref(dst->model);
	json_incref(dst->input_schema);
	json_incref(dst->tools);
	json_incref(dst->limits);
	json_incref(dst->retry);
	json_incref(dst->approval);
	dst->system_prompt = strdup(src->system_prompt);
	dst->prompt_template = src->prompt_template != NULL ? strdup(src->prompt_template) : NULL;
	if (dst->system_prompt == NULL ||
	    (src->prompt_template != NULL && dst->prompt_template == NULL)) {
		agentref_clear(dst);
		return -1;
	}
	return 0;
}

/* Fills out from the cache (with status set); 1 hit, 0 miss. */
static int
ar_cache_get(const char *version_id, const char *status, struct agent_version *out)
{
	for (size_t i = 0; i < AR_CACHE_MAX; i++) {
		if (ar_cache[i].used == 0 || strcmp(ar_cache[i].av.version_id, version_id) != 0)
			continue;
		if (ar_copy(out, &ar_cache[i].av) == -1)
			return 0;
		ar_cache[i].used = ++ar_clock;
		snprintf(out->status, sizeof(out->status), "%s", status);
		return 1;
	}
	return 0;
}

/* Keeps a copy of av when its content can no longer change (not a draft). */
static void
ar_cache_put(const struct agent_version *av)
{
	size_t victim = 0;

	if (strcmp(av->status, "draft") == 0)
		return;
	for (size_t i = 0; i < AR_CACHE_MAX; i++) {
		if (ar_cache[i].used == 0) {
			victim = i;
			break;
		}
		if (ar_cache[i].used < ar_cache[victim].used)
			victim = i;
	}
	if (ar_cache[victim].used != 0)
		agentref_clear(&ar_cache[victim].av);
	ar_cache[victim].used = 0;
	if (ar_copy(&ar_cache[victim].av, av) == 0)
		ar_cache[victim].used = ++ar_clock;
}

/*
 * The content of version_id, whose status the caller just read: from the
 * cache, else loaded (and cached). 1 found, 0 not, -1 database error.
 */
static int
ar_content(
    struct request_ctx *ctx, const char *version_id, const char *status, struct agent_version *out)
{
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(version_id) };
	struct db_result *res;
	int found;

	memset(out, 0, sizeof(*out));
	if (strcmp(status, "draft") != 0 && ar_cache_get(version_id, status, out))
		return 1;
	if (db_query(ctx->db, ar_sql_by_id, p, 2, &res) == -1)
		return -1;
	found = res->nrows > 0;
	if (found) {
		(void)ar_fill(res, out);
		ar_cache_put(out);
	}
	db_result_free(res);
	return found;
}

/* The ar_active entry of (workspace, agent), or NULL. */
static size_t
ar_active_find(const char *workspace_id, const char *agent_id, int *found)
{
	size_t victim = 0;

	*found = 0;
	for (size_t i = 0; i < AR_ACTIVE_MAX; i++) {
		if (ar_active[i].used != 0 && strcmp(ar_active[i].agent_id, agent_id) == 0 &&
		    strcmp(ar_active[i].workspace_id, workspace_id) == 0) {
			*found = 1;
			return i;
		}
		if (ar_active[i].used < ar_active[victim].used)
			victim = i;
	}
	return victim; /* an empty entry, or the least recently used */
}

static void
ar_active_put(const char *workspace_id, const struct agent_version *av)
{
	int found;
	size_t i = ar_active_find(workspace_id, av->agent_id, &found);

	snprintf(ar_active[i].workspace_id, sizeof(ar_active[i].workspace_id), "%s", workspace_id);
	snprintf(ar_active[i].agent_id, sizeof(ar_active[i].agent_id), "%s", av->agent_id);
	snprintf(ar_active[i].version_id, sizeof(ar_active[i].version_id), "%s", av->version_id);
	ar_active[i].used = ++ar_clock;
}

int
agentref_guess_active(struct request_ctx *ctx, const char *agent_id, struct agent_version *out)
{
	int found;
	size_t i = ar_active_find(ctx->auth.workspace_id, agent_id, &found);

	memset(out, 0, sizeof(*out));
	if (!found || !ar_cache_get(ar_active[i].version_id, "active", out))
		return 0;
	ar_active[i].used = ++ar_clock;
	return 1;
}

void
agentref_forget_active(struct request_ctx *ctx, const char *agent_id)
{
	int found;
	size_t i = ar_active_find(ctx->auth.workspace_id, agent_id, &found);

	if (found)
		ar_active[i].used = 0;
}

int
agentref_load_id(struct request_ctx *ctx, const char *version_id, struct agent_version *out)
{
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(version_id) };
	struct db_result *res;
	char status[sizeof(out->status)];
	int found;

	memset(out, 0, sizeof(*out));
	if (db_query(ctx->db, ar_sql_status, p, 2, &res) == -1)
		return -1;
	found = res->nrows > 0;
	if (found)
		snprintf(status, sizeof(status), "%s", db_cell(res, 0, 0));
	db_result_free(res);
	if (!found)
		return 0;
	return ar_content(ctx, version_id, status, out);
}

/* Splits "key@n" into key and n; 0, or -1 when n is not a positive integer. */
static int
ar_split_persona(const char *persona, char *key, size_t keysz, long long *version)
{
	const char *at = strchr(persona, '@');
	size_t klen = at != NULL ? (size_t)(at - persona) : strlen(persona);
	char *end;

	*version = 0;
	if (klen == 0 || klen >= keysz)
		return -1;
	memcpy(key, persona, klen);
	key[klen] = '\0';
	if (at == NULL)
		return 0;
	*version = strtoll(at + 1, &end, 10);
	if (end == at + 1 || *end != '\0' || *version < 1 || *version > 0x7fffffff)
		return -1;
	return 0;
}

int
agentref_resolve(struct request_ctx *ctx, const char *agent_id, const char *persona,
    const json_t *version, int runnable, struct agent_version *out)
{
	char key[256], vid[ID_BUFSZ], status[sizeof(out->status)];
	struct db_result *res = NULL;
	struct db_param p[3];
	const char *sql;
	long long want = 0;
	size_t np = 0;
	int archived, found, has_version;
	const char *label = agent_id != NULL ? agent_id : persona;

	memset(out, 0, sizeof(*out));
	if (version != NULL && !json_is_null(version)) {
		if (!json_is_integer(version) || json_integer_value(version) < 1 ||
		    json_integer_value(version) > 0x7fffffff)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
				   json_pack("{s:s}", "field", "version"),
				   "version: must be a positive integer"),
			       -1;
		want = json_integer_value(version);
	}
	if (agent_id != NULL) {
		if (!id_valid(agent_id))
			return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL,
				   "agent %s not found", agent_id),
			       -1;
	} else {
		long long pv;

		if (persona == NULL || ar_split_persona(persona, key, sizeof(key), &pv) == -1)
			return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
				   json_pack("{s:s}", "field", "persona_id"),
				   "persona_id: must be \"key\" or \"key@version\""),
			       -1;
		if (pv > 0) {
			if (want > 0 && want != pv)
				return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
					   json_pack("{s:s}", "field", "version"),
					   "version: disagrees with persona_id"),
				       -1;
			want = pv;
		}
	}
	if (want > 0) {
		p[np++] = DBP_INT(want);
		sql = agent_id != NULL ? ar_sql_id_number : ar_sql_key_number;
	} else
		sql = agent_id != NULL ? ar_sql_id_active : ar_sql_key_active;
	p[np++] = dbp_str(ctx->auth.workspace_id);
	p[np++] = dbp_str(agent_id != NULL ? agent_id : key);
	if (db_query(ctx->db, sql, p, np, &res) == -1)
		return api_db_failure(ctx, "agent_get"), -1;
	if (res->nrows == 0) {
		db_result_free(res);
		return http_send_error(
			   ctx->req, 404, ERR_NOT_FOUND, NULL, "agent %s not found", label),
		       -1;
	}
	archived = db_cell_int(res, 0, 1, 0) == 1;
	has_version = db_cell(res, 0, 2) != NULL;
	if (has_version) {
		snprintf(vid, sizeof(vid), "%s", db_cell(res, 0, 2));
		snprintf(status, sizeof(status), "%s", db_cell(res, 0, 3));
	}
	db_result_free(res);
	if (archived && runnable)
		return http_send_error(
			   ctx->req, 409, ERR_CONFLICT, NULL, "agent %s is archived", label),
		       -1;
	/* A version gone between the two reads is reported as never found. */
	if (has_version && (found = ar_content(ctx, vid, status, out)) != 1) {
		if (found == -1)
			return api_db_failure(ctx, "version_get"), -1;
		has_version = 0;
	}
	if (!has_version) {
		if (want > 0)
			return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL,
				   "version %lld of agent %s not found", want, label),
			       -1;
		return http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
			   "agent %s has no active version", label),
		       -1;
	}
	if (runnable && strcmp(out->status, "active") != 0) {
		http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
		    "version %lld of agent %s is %s, not active", out->version, label, out->status);
		agentref_clear(out);
		return -1;
	}
	if (agent_id != NULL && want == 0 && !archived)
		ar_active_put(ctx->auth.workspace_id, out);
	return 0;
}
