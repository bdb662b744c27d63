#include "money.h"

#include <errno.h>
#include <stdlib.h>

long long
money_cost_nusd(const struct money_usage *u, const struct money_prices *p)
{
	long long uncached = u->prompt - u->cached - u->cache_write;
	/* nusd × 1e6 before dividing by a million tokens: 128 bits, no overflow. */
	__int128 micro;

	if (uncached < 0)
		uncached = 0;
	micro = (__int128)uncached * p->input +
	    (__int128)(u->cached > 0 ? u->cached : 0) * p->cached_input +
	    (__int128)(u->cache_write > 0 ? u->cache_write : 0) * p->cache_write +
	    (__int128)(u->completion > 0 ? u->completion : 0) * p->output;
	micro = (micro + 500000) / 1000000;
	return micro > (__int128)0x7fffffffffffffffLL ? 0x7fffffffffffffffLL : (long long)micro;
}

long long
money_credits(long long nusd, long long credits_per_usd)
{
	__int128 c;

	if (nusd <= 0)
		return 0;
	c = ((__int128)nusd * credits_per_usd + 999999999LL) / 1000000000LL;
	return c > (__int128)0x7fffffffffffffffLL ? 0x7fffffffffffffffLL : (long long)c;
}

int
money_add(long long *acc, long long v)
{
	long long sum;

	if (__builtin_add_overflow(*acc, v, &sum))
		return -1;
	*acc = sum;
	return 0;
}

int
money_sum_parse(const char *text, long long *out)
{
	char *end;
	long long v;

	if (text == NULL) {
		*out = 0;
		return 0;
	}
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		return -1;
	*out = v;
	return 0;
}
