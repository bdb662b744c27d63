/*
 * Workspaces, users and API keys: the SQL for these tables, shared by the
 * API worker (api-keys endpoints) and agentrunctl.
 */
#ifndef AGENTRUN_ACCOUNTS_H
#define AGENTRUN_ACCOUNTS_H

#include "apikey.h"
#include "ids.h"

struct db;

/* Each returns 0, or -1 with the database error in db. */
int accounts_workspace_create(struct db *db, const char *name, char id_out[ID_BUFSZ]);
int accounts_user_create(struct db *db, const char *workspace_id, const char *email,
    const char *name, char id_out[ID_BUFSZ]);

/* 1 found (id_out filled), 0 not found, -1 error. */
int accounts_user_find(struct db *db, const char *workspace_id, const char *user_id,
    const char *email, char id_out[ID_BUFSZ]);
int accounts_workspace_exists(struct db *db, const char *workspace_id);

/* Creates a key; secret_out receives the only copy of the secret. */
int accounts_key_create(struct db *db, const char *workspace_id, const char *user_id,
    const char *name, const char *role, char id_out[ID_BUFSZ], char secret_out[APIKEY_SECRET_MAX]);

/* Revokes a key (idempotent). workspace_id NULL = any workspace (the CLI).
 * Returns 1 when the key exists, 0 when not, -1 on error. A revocation
 * empties the key caches of every process sharing the counter (authcache.h);
 * other processes stop honouring the key within their cache's TTL. */
int accounts_key_revoke(struct db *db, const char *workspace_id, const char *key_id);

#endif
