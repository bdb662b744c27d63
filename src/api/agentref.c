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

static const char ar_sql_agent_by_id[] =
    "SELECT id, archived_at IS NOT NULL FROM agents WHERE workspace_id = ? AND id = ?";
static const char ar_sql_agent_by_key[] =
    "SELECT id, archived_at IS NOT NULL FROM agents WHERE workspace_id = ? AND `key` = ?";
static const char ar_sql_version[] =
    "SELECT " AV_COLUMNS " FROM agent_versions v JOIN agents a ON a.id = v.agent_id"
    " WHERE v.workspace_id = ? AND v.agent_id = ? AND v.version = ?";
static const char ar_sql_active[] =
    "SELECT " AV_COLUMNS " FROM agent_versions v JOIN agents a ON a.id = v.agent_id"
    " WHERE v.workspace_id = ? AND v.agent_id = ? AND v.status = 'active'"
    " ORDER BY v.version DESC LIMIT 1";
static const char ar_sql_by_id[] =
    "SELECT " AV_COLUMNS " FROM agent_versions v JOIN agents a ON a.id = v.agent_id"
    " WHERE v.workspace_id = ? AND v.id = ?";

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

int
agentref_load_id(struct request_ctx *ctx, const char *version_id, struct agent_version *out)
{
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(version_id) };
	struct db_result *res;
	int found;

	if (db_query(ctx->db, ar_sql_by_id, p, 2, &res) == -1)
		return -1;
	found = res->nrows > 0;
	if (found)
		(void)ar_fill(res, out);
	db_result_free(res);
	return found;
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
	char key[256], aid[ID_BUFSZ];
	struct db_result *res = NULL;
	struct db_param p[3];
	long long want = 0;
	int archived, rc = -1;
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
	p[0] = dbp_str(ctx->auth.workspace_id);
	if (agent_id != NULL) {
		if (!id_valid(agent_id))
			return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL,
				   "agent %s not found", agent_id),
			       -1;
		p[1] = dbp_str(agent_id);
		if (db_query(ctx->db, ar_sql_agent_by_id, p, 2, &res) == -1)
			return api_db_failure(ctx, "agent_get"), -1;
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
		p[1] = dbp_str(key);
		if (db_query(ctx->db, ar_sql_agent_by_key, p, 2, &res) == -1)
			return api_db_failure(ctx, "agent_get"), -1;
	}
	if (res->nrows == 0) {
		db_result_free(res);
		return http_send_error(
			   ctx->req, 404, ERR_NOT_FOUND, NULL, "agent %s not found", label),
		       -1;
	}
	snprintf(aid, sizeof(aid), "%s", db_cell(res, 0, 0));
	archived = db_cell_int(res, 0, 1, 0) == 1;
	db_result_free(res);
	res = NULL;
	if (archived && runnable)
		return http_send_error(
			   ctx->req, 409, ERR_CONFLICT, NULL, "agent %s is archived", label),
		       -1;

	p[1] = dbp_str(aid);
	if (want > 0) {
		p[2] = DBP_INT(want);
		if (db_query(ctx->db, ar_sql_version, p, 3, &res) == -1)
			return api_db_failure(ctx, "version_get"), -1;
		if (res->nrows == 0) {
			http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL,
			    "version %lld of agent %s not found", want, label);
			goto out;
		}
	} else {
		if (db_query(ctx->db, ar_sql_active, p, 2, &res) == -1)
			return api_db_failure(ctx, "version_active"), -1;
		if (res->nrows == 0) {
			http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
			    "agent %s has no active version", label);
			goto out;
		}
	}
	(void)ar_fill(res, out);
	if (runnable && strcmp(out->status, "active") != 0) {
		http_send_error(ctx->req, 409, ERR_CONFLICT, NULL,
		    "version %lld of agent %s is %s, not active", out->version, label, out->status);
		agentref_clear(out);
		goto out;
	}
	rc = 0;
out:
	db_result_free(res);
	return rc;
}
