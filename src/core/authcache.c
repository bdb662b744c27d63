/*
 * The cache is a small set-associative table in each process: a hash picks
 * a set of AUTHCACHE_WAYS slots; a new entry takes a free, dead or the
 * soonest-expiring slot of its set. Only keys that resolved are stored and
 * a SHA-256 cannot be steered, so no client chooses what gets evicted.
 *
 * The negative cache is a second table of the same shape holding only
 * hashes and expiry times, so bad keys compete only with bad keys. It
 * ignores the generation: a revocation only makes keys unknown.
 *
 * The generation counter is one word in a shared anonymous mapping: a
 * check is an atomic load, a revocation an atomic increment. No lock: a
 * reader racing with a bump either sees the old value (and the request
 * began before the revocation answered) or the new one.
 */
#include "authcache.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "auth.h"

#define AUTHCACHE_SETS (AUTHCACHE_SLOTS / AUTHCACHE_WAYS)

struct authcache_entry {
	unsigned char hash[APIKEY_HASH_LEN];
	unsigned long generation;
	long long expires_ms; /* 0: empty */
	struct auth auth;
};

struct authcache_unknown_entry {
	unsigned char hash[APIKEY_HASH_LEN];
	long long expires_ms; /* 0: empty */
};

#define AUTHCACHE_UNKNOWN_SETS (AUTHCACHE_UNKNOWN_SLOTS / AUTHCACHE_WAYS)

static struct authcache_entry authcache_slots[AUTHCACHE_SLOTS];
static struct authcache_unknown_entry authcache_unknown_slots[AUTHCACHE_UNKNOWN_SLOTS];
static long long authcache_ttl, authcache_unknown_ttl, authcache_addr_max;
/* Per slot: the second (low 32 bits of now / 1000) << 32 | lookups that found nothing. */
static atomic_ullong authcache_local_addr[AUTHCACHE_ADDR_SLOTS];
static atomic_ullong *authcache_addr = authcache_local_addr;
static atomic_ulong authcache_local_gen;
static atomic_ulong *authcache_gen = &authcache_local_gen;

int
authcache_shared_init(void)
{
	void *p;

	if (authcache_gen != &authcache_local_gen)
		return 0;
	p = mmap(
	    NULL, sizeof(atomic_ulong), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	authcache_gen = p;
	atomic_init(authcache_gen, atomic_load(&authcache_local_gen));
	p = mmap(NULL, sizeof(authcache_local_addr), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		authcache_addr = p; /* zero-filled: every slot empty */
	return 0;
}

int
authcache_is_shared(void)
{
	return authcache_gen != &authcache_local_gen;
}

void
authcache_configure(long long ttl_ms)
{
	authcache_ttl = ttl_ms > 0 ? ttl_ms : 0;
	memset(authcache_slots, 0, sizeof(authcache_slots));
}

long long
authcache_ttl_ms(void)
{
	return authcache_ttl;
}

long long
authcache_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned long
authcache_generation(void)
{
	return atomic_load_explicit(authcache_gen, memory_order_acquire);
}

static struct authcache_entry *
authcache_set(const unsigned char hash[APIKEY_HASH_LEN])
{
	size_t set = ((size_t)hash[0] | (size_t)hash[1] << 8) % AUTHCACHE_SETS;

	return &authcache_slots[set * AUTHCACHE_WAYS];
}

static int
authcache_live(const struct authcache_entry *e, long long now_ms, unsigned long gen)
{
	return e->expires_ms != 0 && now_ms < e->expires_ms && e->generation == gen;
}

int
authcache_get(const unsigned char hash[APIKEY_HASH_LEN], long long now_ms, struct auth *out)
{
	struct authcache_entry *set;
	unsigned long gen;

	if (authcache_ttl == 0)
		return 0;
	set = authcache_set(hash);
	gen = authcache_generation();
	for (size_t i = 0; i < AUTHCACHE_WAYS; i++) {
		struct authcache_entry *e = &set[i];

		if (authcache_live(e, now_ms, gen) && apikey_hash_equal(e->hash, hash)) {
			*out = e->auth;
			return 1;
		}
	}
	return 0;
}

void
authcache_put(const unsigned char hash[APIKEY_HASH_LEN], const struct auth *a, unsigned long gen,
    long long now_ms)
{
	struct authcache_entry *set, *victim = NULL;
	unsigned long cur;

	if (authcache_ttl == 0)
		return;
	set = authcache_set(hash);
	cur = authcache_generation();
	for (size_t i = 0; i < AUTHCACHE_WAYS && victim == NULL; i++)
		if (memcmp(set[i].hash, hash, APIKEY_HASH_LEN) == 0 && set[i].expires_ms != 0)
			victim = &set[i];
	for (size_t i = 0; i < AUTHCACHE_WAYS && victim == NULL; i++)
		if (!authcache_live(&set[i], now_ms, cur))
			victim = &set[i];
	if (victim == NULL) {
		victim = &set[0];
		for (size_t i = 1; i < AUTHCACHE_WAYS; i++)
			if (set[i].expires_ms < victim->expires_ms)
				victim = &set[i];
	}
	memcpy(victim->hash, hash, APIKEY_HASH_LEN);
	victim->generation = gen;
	victim->expires_ms = now_ms + authcache_ttl;
	victim->auth = *a;
}

void
authcache_invalidate(void)
{
	atomic_fetch_add_explicit(authcache_gen, 1, memory_order_acq_rel);
}

void
authcache_configure_unknown(long long ttl_ms)
{
	authcache_unknown_ttl = ttl_ms > 0 ? ttl_ms : 0;
	memset(authcache_unknown_slots, 0, sizeof(authcache_unknown_slots));
}

long long
authcache_unknown_ttl_ms(void)
{
	return authcache_unknown_ttl;
}

static struct authcache_unknown_entry *
authcache_unknown_set(const unsigned char hash[APIKEY_HASH_LEN])
{
	size_t set = ((size_t)hash[0] | (size_t)hash[1] << 8) % AUTHCACHE_UNKNOWN_SETS;

	return &authcache_unknown_slots[set * AUTHCACHE_WAYS];
}

int
authcache_unknown(const unsigned char hash[APIKEY_HASH_LEN], long long now_ms)
{
	struct authcache_unknown_entry *set;

	if (authcache_unknown_ttl == 0)
		return 0;
	set = authcache_unknown_set(hash);
	for (size_t i = 0; i < AUTHCACHE_WAYS; i++)
		if (set[i].expires_ms != 0 && now_ms < set[i].expires_ms &&
		    apikey_hash_equal(set[i].hash, hash))
			return 1;
	return 0;
}

void
authcache_put_unknown(const unsigned char hash[APIKEY_HASH_LEN], long long now_ms)
{
	struct authcache_unknown_entry *set, *victim;

	if (authcache_unknown_ttl == 0)
		return;
	set = authcache_unknown_set(hash);
	victim = &set[0];
	/* The same hash, else the soonest-expiring (dead and empty slots first). */
	for (size_t i = 0; i < AUTHCACHE_WAYS; i++) {
		if (memcmp(set[i].hash, hash, APIKEY_HASH_LEN) == 0 && set[i].expires_ms != 0) {
			victim = &set[i];
			break;
		}
		if (set[i].expires_ms < victim->expires_ms)
			victim = &set[i];
	}
	memcpy(victim->hash, hash, APIKEY_HASH_LEN);
	victim->expires_ms = now_ms + authcache_unknown_ttl;
}

void
authcache_configure_addr_limit(long long per_s)
{
	authcache_addr_max = per_s > 0 ? per_s : 0;
}

static atomic_ullong *
authcache_addr_slot(const char *addr)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return &authcache_addr[h % AUTHCACHE_ADDR_SLOTS];
}

int
authcache_addr_throttled(const char *addr, long long now_ms)
{
	unsigned long long v, sec = (unsigned long long)(now_ms / 1000) & 0xffffffffull;

	if (authcache_addr_max == 0 || addr == NULL)
		return 0;
	v = atomic_load_explicit(authcache_addr_slot(addr), memory_order_relaxed);
	return (v >> 32) == sec && (long long)(v & 0xffffffffull) >= authcache_addr_max;
}

void
authcache_addr_unknown(const char *addr, long long now_ms)
{
	unsigned long long sec = (unsigned long long)(now_ms / 1000) & 0xffffffffull, v, next;
	atomic_ullong *slot;

	if (authcache_addr_max == 0 || addr == NULL)
		return;
	slot = authcache_addr_slot(addr);
	v = atomic_load_explicit(slot, memory_order_relaxed);
	do {
		if ((v >> 32) != sec)
			next = sec << 32 | 1;
		else if ((v & 0xffffffffull) < 0xffffffffull)
			next = v + 1;
		else
			return;
	} while (!atomic_compare_exchange_weak_explicit(
	    slot, &v, next, memory_order_relaxed, memory_order_relaxed));
}
