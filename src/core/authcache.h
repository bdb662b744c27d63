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
 * Successful resolutions live in one table, unknown key hashes in another
 * (the negative cache, api.unknown_key_cache_ms): a client repeating a
 * random or revoked token costs one lookup per TTL per worker instead of
 * one per request, and a flood of bad keys only ever evicts other bad
 * keys, never a good one. A key is never unknown before it exists (its
 * secret is 256 random bits nobody could have sent before), so a key
 * created a moment ago still works on its first request. Database errors
 * are never cached.
 */
#ifndef AGENTRUN_AUTHCACHE_H
#define AGENTRUN_AUTHCACHE_H

#include "apikey.h"

struct auth;

/* Slots per process, and how many one hash may probe (a set). */
#define AUTHCACHE_SLOTS 256
#define AUTHCACHE_WAYS 4
/* Unknown key hashes remembered per process (32 bytes + expiry each). */
#define AUTHCACHE_UNKNOWN_SLOTS 1024
/* Client addresses counted (lookups that found no key, this second); shared. */
#define AUTHCACHE_ADDR_SLOTS 4096

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

/* Turns the negative cache on with entries living ttl_ms (0 = off); empties it. */
void authcache_configure_unknown(long long ttl_ms);

/* The negative cache's TTL in ms, 0 when off. */
long long authcache_unknown_ttl_ms(void);

/* 1 when hash was found unknown less than the TTL before now_ms, else 0. */
int authcache_unknown(const unsigned char hash[APIKEY_HASH_LEN], long long now_ms);

/* Remembers that hash resolved to no live key at now_ms. No-op when off. */
void authcache_put_unknown(const unsigned char hash[APIKEY_HASH_LEN], long long now_ms);

/*
 * Lookups that found no key, per client address and second, counted in a
 * table shared like the generation counter (api.unknown_keys_per_address,
 * 0 = off). Distinct random tokens each miss the negative cache and nginx
 * cannot tell them from real keys, so this is what bounds the lookups one
 * address can cause with them. Addresses are hashed to slots: two that
 * collide share a count.
 */
void authcache_configure_addr_limit(long long per_s);

/* 1 when addr caused its limit of unknown-key lookups in now_ms's second. */
int authcache_addr_throttled(const char *addr, long long now_ms);

/* Counts one lookup by addr that found no key. */
void authcache_addr_unknown(const char *addr, long long now_ms);

/* Kills every entry in every process sharing the counter (no system call). */
void authcache_invalidate(void);

#endif
