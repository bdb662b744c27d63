#include "money.h"

long long
money_cost_nusd(const struct money_usage *u, const struct money_prices *p)
{
	long long uncached = u->prompt - u->cached - u->cache_write;
	long long micro; /* nusd × 1e6: the sum before dividing by a million tokens */

	if (uncached < 0)
		uncached = 0;
	micro = uncached * p->input + (u->cached > 0 ? u->cached : 0) * p->cached_input +
	    (u->cache_write > 0 ? u->cache_write : 0) * p->cache_write +
	    (u->completion > 0 ? u->completion : 0) * p->output;
	return (micro + 500000) / 1000000;
}

long long
money_credits(long long nusd, long long credits_per_usd)
{
	if (nusd <= 0)
		return 0;
	return (nusd * credits_per_usd + 999999999LL) / 1000000000LL;
}
