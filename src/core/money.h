/*
 * Money is integer nano-dollars (1 USD = 1e9 nusd); prices are nano-dollars
 * per million tokens. The cost of one model call (API.md §6):
 *   (prompt − cached − cache_written) × input + cached × cached_input
 *   + cache_written × cache_write + completion × output
 * divided by 1e6 and rounded half up, so cached tokens are never charged twice.
 */
#ifndef AGENTRUN_MONEY_H
#define AGENTRUN_MONEY_H

struct money_prices {
	long long input, cached_input, cache_write, output; /* nusd per Mtok */
};

struct money_usage {
	long long prompt, cached, cache_write, completion;
};

/* The cost in nano-dollars; negative parts (inconsistent counts) count as 0. */
long long money_cost_nusd(const struct money_usage *u, const struct money_prices *p);

/* ceil(nusd × credits_per_usd / 1e9): credits_used of the contract. */
long long money_credits(long long nusd, long long credits_per_usd);

#endif
