/*
 * Money is integer nano-dollars (1 USD = 1e9 nusd); prices are nano-dollars
 * per million tokens. The cost of one model call (API.md §6):
 *   (prompt − cached − cache_written) × input + cached × cached_input
 *   + cache_written × cache_write + completion × output
 * divided by 1e6 and rounded half up, so cached tokens are never charged twice.
 */
#ifndef AGENTRUN_MONEY_H
#define AGENTRUN_MONEY_H

/*
 * The most tokens of each kind (prompt, cached, cache write, completion) that
 * one model call may report: 10^8, fifty times the largest context window
 * on offer. Every adapter clamps what a provider (or the scripted model)
 * reports to 0..MONEY_TOKENS_MAX (providers/llm.h), and the API refuses
 * scripted usage past it when a version is saved. At the highest price the
 * table accepts ($1000 per million tokens) one call then costs at most
 * 2 x 10^14 nusd, so a run's totals and a day's rollup stay far inside
 * BIGINT (docs/operations.md, "Usage figures and money sums").
 */
#define MONEY_TOKENS_MAX 100000000LL

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

/*
 * *acc += v, unless the sum does not fit in a long long: then -1 and *acc
 * is left alone. Money and token sums use it so that a sum too large to
 * represent is an error, never a wrapped (negative) number.
 */
int money_add(long long *acc, long long v);

/*
 * A sum as SQL returns it (SUM() of BIGINT is an exact DECIMAL, printed
 * without a fraction) into *out: 0, or -1 when text is not an integer or
 * does not fit in a long long. NULL (a sum over no rows) reads as 0. Sums
 * are read this way and never through CAST(… AS SIGNED), which saturates
 * at 2^63 - 1 with only a warning.
 */
int money_sum_parse(const char *text, long long *out);

#endif
