/*
 * The edge where token counts enter the executor: what a provider or the
 * scripted model reports is clamped here before anything is priced, summed
 * or written (llm.h). Pure: no I/O.
 */
#include "../../core/money.h"
#include "llm.h"

long long
llm_tokens_clamp(long long n)
{
	if (n < 0)
		return 0;
	return n > MONEY_TOKENS_MAX ? MONEY_TOKENS_MAX : n;
}

void
llm_usage_clamp(struct llm_usage *u)
{
	u->prompt_tokens = llm_tokens_clamp(u->prompt_tokens);
	u->cached_tokens = llm_tokens_clamp(u->cached_tokens);
	u->cache_write_tokens = llm_tokens_clamp(u->cache_write_tokens);
	u->completion_tokens = llm_tokens_clamp(u->completion_tokens);
	if (u->cached_tokens > u->prompt_tokens)
		u->cached_tokens = u->prompt_tokens;
	if (u->cache_write_tokens > u->prompt_tokens - u->cached_tokens)
		u->cache_write_tokens = u->prompt_tokens - u->cached_tokens;
}
