/*
 * A per-process cache of API key resolutions (SHA-256 of the secret ->
 * key id, workspace, user, role, names), so a request that carries a key
 * seen within the last api.key_cache_ms costs no statement for auth.
 *
 * Off until authcache_configure() is called with a TTL > 0: only the API
 * workers turn it on. Entries are stamped with a generation; a revocation
 * made through the API bumps it (authcache_invalidate()) and every entry
 * stamped before the bump is dead at once, in every process that shares
 * the counter (the API master maps it with authcache_shared_init() before
 * forking its workers). A revocation made elsewhere (agentrunctl, another
 * host) takes effect when the entry expires: within the TTL.
 *
 * Only successful resolutions are stored: an unknown or revoked key always
 * costs its lookup (so a brute-forcer gains nothing, a key created a moment
 * ago works at once, and no flood of bad keys can evict the good ones).
 */
#ifndef AGENTRUN_AUTHCACHE_H
#define AGENTRUN_AUTHCACHE_H

#include "apikey.h"

struct auth;

/* Slots per process, and how many one hash may probe (a set). */
#define AUTHCACHE_SLOTS 256
#define AUTHCACHE_WAYS 4

/*
 * Maps the generation counter shared with every process forked after this
 * call (MAP_SHARED | MAP_ANONYMOUS). Once, in the parent, before fork.
 * Returns 0, or -1 (then the counter stays process-local).
 */
int authcache_shared_init(void);

/* 1 when the counter is shared (authcache_shared_init() succeeded). */
int authcache_is_shared(void);

/* Turns the cache on for this process with entries living ttl_ms (0 = off); empties it. */
void authcache_configure(long long ttl_ms);

/* The TTL in ms, 0 when the cache is off. */
long long authcache_ttl_ms(void);

/* A monotonic clock in ms (vDSO: no system call). */
long long authcache_now_ms(void);

/*
 * The current generation. Read it before the lookup whose result is then
 * stored with authcache_put(): a revocation that lands in between makes
 * the entry stale at once.
 */
unsigned long authcache_generation(void);

/* 1 and *out filled when hash has a live entry at now_ms, else 0. */
int authcache_get(const unsigned char hash[APIKEY_HASH_LEN], long long now_ms, struct auth *out);

/*
 * Stores a successful resolution read at now_ms under generation gen.
 * Borrows everything. No-op when the cache is off.
 */
void authcache_put(const unsigned char hash[APIKEY_HASH_LEN], const struct auth *a,
    unsigned long gen, long long now_ms);

/* Kills every entry in every process sharing the counter (no system call). */
void authcache_invalidate(void);

#endif
