/*
 * Resolving which agent version a request means: agent_id or persona_id
 * ("key@version" or "key"), with an optional explicit version. Used by every
 * entry point that starts a session or a run.
 */
#ifndef AGENTRUN_API_AGENTREF_H
#define AGENTRUN_API_AGENTREF_H

#include <jansson.h>

#include "../core/ids.h"

struct request_ctx;

struct agent_version {
	char agent_id[ID_BUFSZ];
	char version_id[ID_BUFSZ];
	long long version;
	char status[16]; /* draft | active | archived */
	json_t *model; /* {provider, name, route_id?, params?} */
	char *system_prompt;
	char *prompt_template; /* NULL when none */
	json_t *input_schema; /* NULL when none */
	json_t *tools;
	json_t *limits;
	json_t *retry;
	json_t *approval;
};

/*
 * Finds the version. agent_id or persona (one of them non-NULL); version is
 * NULL or a JSON integer (an explicit version; a persona "key@n" sets it
 * too). Without a version, the agent's active version (the highest active).
 * With runnable set, a draft or archived version, an archived agent or an
 * agent without an active version is 409 CONFLICT.
 * Returns 0, or -1 after sending the error (400/404/409/5xx).
 * On success the caller frees out with agentref_clear().
 */
int agentref_resolve(struct request_ctx *ctx, const char *agent_id, const char *persona,
    const json_t *version, int runnable, struct agent_version *out);

/* Loads an exact version id (a session's pinned version). 1 found, 0 not, -1 error. */
int agentref_load_id(struct request_ctx *ctx, const char *version_id, struct agent_version *out);

/*
 * The agent's active version as this worker last resolved it (by agent_id,
 * without an explicit version), from the per-process caches, without a
 * query: a guess that may be stale. Whoever uses it must verify it in the
 * transaction it writes with (run_create_new does) and call
 * agentref_forget_active() and resolve again when it was stale.
 * Returns 1 (out filled, status "active"; free it with agentref_clear()) or 0.
 */
int agentref_guess_active(struct request_ctx *ctx, const char *agent_id, struct agent_version *out);

/* Drops the guess for the agent. */
void agentref_forget_active(struct request_ctx *ctx, const char *agent_id);

void agentref_clear(struct agent_version *av);

#endif
