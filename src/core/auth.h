/* Resolves "Authorization: Bearer <key>" to the key's workspace, user and role. */
#ifndef AGENTRUN_AUTH_H
#define AGENTRUN_AUTH_H

#include "ids.h"

struct db;

enum auth_role {
	AUTH_ROLE_MEMBER,
	AUTH_ROLE_ADMIN
};

struct auth {
	char key_id[ID_BUFSZ];
	char workspace_id[ID_BUFSZ];
	char user_id[ID_BUFSZ];
	char user_name[256];
	char user_email[256];
	enum auth_role role;
};

enum auth_result {
	AUTH_OK = 0,
	AUTH_MISSING, /* no Authorization header */
	AUTH_MALFORMED, /* not "Bearer <well-formed key>" */
	AUTH_UNKNOWN, /* no such key, or revoked */
	AUTH_DB_ERROR,
	AUTH_THROTTLED, /* the client address used up its lookups of unknown keys (429) */
};

/*
 * Fills out from the header value (may be NULL). Borrows everything. In a
 * process that turned authcache on, a key resolved within its TTL is
 * answered from the cache, without a statement, and so is a key found
 * unknown within api.unknown_key_cache_ms; database errors are never cached.
 */
enum auth_result auth_resolve(struct db *db, const char *authorization, struct auth *out);

/*
 * auth_resolve() for a request from remote_addr (may be NULL): an address
 * that caused api.unknown_keys_per_address lookups finding no key in the
 * current second gets AUTH_THROTTLED, without a lookup, for the rest of it.
 */
enum auth_result auth_resolve_from(
    struct db *db, const char *authorization, const char *remote_addr, struct auth *out);

/* The client-facing sentence for a failed result (never names the key). */
const char *auth_result_message(enum auth_result r);

#endif
