/*
 * The agent version document: validating and normalising a version body,
 * and the agent_versions columns it is stored in (one place for the
 * mapping, used by agents.c for POST /agents {version} and by versions.c).
 *
 * A normalised spec is an object with every field present, defaults filled
 * in and unknown fields dropped:
 *   {model: {provider, name, route_id (string|null), params (object)},
 *    system_prompt, prompt_template (string|null), input_schema (object|null),
 *    tools: [...], limits: {...}, retry: {...}, approval: {...}}
 */
#ifndef AGENTRUN_API_VERSIONSPEC_H
#define AGENTRUN_API_VERSIONSPEC_H

#include <jansson.h>
#include <stddef.h>

#include "../core/ids.h"

struct db;
struct db_result;
struct request_ctx;

#define VSPEC_FIELD_MAX 384
#define VSPEC_MESSAGE_MAX 512

struct vspec_error {
	char field[VSPEC_FIELD_MAX]; /* dotted path, e.g. "tools[1].url" */
	char message[VSPEC_MESSAGE_MAX]; /* "tools[1].url: must be …"; never echoes a value */
};

/* The columns of a Version, in the order versionspec_view() reads them. */
#define VERSIONSPEC_COLUMNS                                                                   \
	"id, agent_id, version, status, model, system_prompt, prompt_template, input_schema," \
	" tools, limits, retry, approval, created_at, updated_at, activated_at, archived_at"

/*
 * Normalises body (borrowed) merged over base (borrowed; a normalised spec,
 * or NULL for a new version, where model is then required): each top-level
 * field present in body, null included, replaces base's. prefix ("" or e.g.
 * "version.") goes before every field path. Pure: no I/O.
 * Returns 0 with *out a new reference, or -1 with err filled and *out NULL.
 */
int versionspec_normalize(const json_t *body, const json_t *base, const char *prefix, json_t **out,
    struct vspec_error *err);

/* Sends 400 INVALID_INPUT with details.field. Returns -1 (handler convention). */
int versionspec_send_error(struct request_ctx *ctx, const struct vspec_error *err);

/*
 * Checks that spec's model.route_id, if any, names a route of the caller's
 * workspace that is not deleted (byok_route_exists). 0 when fine (or no
 * route_id); 1 when not, with err filled (field prefix + "model.route_id");
 * -1 on a database error (nothing sent). Usable inside a db_txn on ctx->db.
 */
int versionspec_check_route(
    struct request_ctx *ctx, const json_t *spec, const char *prefix, struct vspec_error *err);

/*
 * Inserts a version from a normalised spec (borrowed): a draft, or active
 * (activated_at set) when active. id receives the new version id.
 * 0, or -1 (see db_last_err: DB_ERR_DUPLICATE when the number is taken).
 */
int versionspec_insert(struct db *db, const char *workspace_id, const char *agent_id,
    long long version, const json_t *spec, int active, char id[ID_BUFSZ]);

/* Replaces the stored fields of a draft version id (updated_at bumps). 0 / -1. */
int versionspec_update(struct db *db, const char *version_id, const json_t *spec);

/* Loads version id of the workspace into *res: 1 found, 0 not, -1 error. */
int versionspec_load(
    struct db *db, const char *workspace_id, const char *version_id, struct db_result **res);

/* The Version object of row r of a VERSIONSPEC_COLUMNS result; new reference. */
json_t *versionspec_view(const struct db_result *res, size_t r);

/* The stored spec of row r of a VERSIONSPEC_COLUMNS result; new reference. */
json_t *versionspec_from_row(const struct db_result *res, size_t r);

#endif
