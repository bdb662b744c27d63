/*
 * What every model provider adapter shares: a provider-neutral request and
 * the callbacks a stream parser fires while it reads a streamed reply.
 *
 * Adapters are pure: they build request bodies and parse response bodies,
 * and never touch the network or the database. The executor owns the HTTP
 * transfer and feeds the body bytes to the adapter's stream parser.
 *
 * Token counts follow API.md §6 whatever the provider: prompt_tokens is all
 * input tokens of the call, cache reads and writes included; cached_tokens
 * is the part read from the provider's cache; cache_write_tokens the part
 * written to it.
 */
#ifndef AGENTRUN_EXECUTOR_LLM_H
#define AGENTRUN_EXECUTOR_LLM_H

#include <stddef.h>

#include <jansson.h>

struct llm_usage {
	long long prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens;
};

/*
 * A count a provider reported, within 0..MONEY_TOKENS_MAX (core/money.h):
 * negative counts are 0, larger ones the maximum. Adapters clamp each count
 * as they read it, so sums of counts (Anthropic's prompt) cannot overflow.
 */
long long llm_tokens_clamp(long long n);

/*
 * Makes u a usage the executor can record (usage.c): every count within
 * 0..MONEY_TOKENS_MAX, cached_tokens at most prompt_tokens and
 * cache_write_tokens at most what prompt_tokens leaves beside them, since
 * both are parts of the prompt. Every adapter calls it before it reports a
 * usage; a provider's (or a script's) absurd figures then cost a bounded
 * amount instead of breaking the commit of the run and of its batch.
 */
void llm_usage_clamp(struct llm_usage *u);

/* One model call's request, provider-neutral. Borrowed pointers. */
struct llm_request {
	const char *model; /* model name */
	const json_t *params; /* model.params object or NULL; known keys only are passed */
	const char *system; /* system prompt, may be "" or NULL */
	const json_t *messages; /* array of {"role":"user"|"assistant"|"tool", "content": string,
	                           "tool_calls"?: [{"id","name","arguments": object}] (assistant),
	                           "tool_call_id"?: string, "name"?: string (tool)} */
	const json_t *tools; /* array of {"name","description","parameters": JSON Schema
	                           object}, may be empty or NULL */
};

/*
 * Callbacks a stream parser fires, in order: text and thinking deltas and
 * tool calls as they complete, then usage (at most once), then done (once).
 * error may come anywhere. Any callback may be NULL. arg is the caller's.
 * Strings are borrowed for the call only. A callback must not free the
 * parser that called it.
 */
struct llm_events {
	void *arg;
	void (*text)(void *arg, const char *s, size_t n); /* assistant text delta */
	void (*thinking)(void *arg, const char *s, size_t n); /* reasoning delta */
	/* Once per complete call; arguments_json is the model's text ("{}" when empty). */
	void (*tool_call)(void *arg, const char *id, const char *name, const char *arguments_json);
	void (*usage)(void *arg, const struct llm_usage *u); /* final token counts */
	/* End of message, with the provider's own reason: "stop", "tool_calls",
	 * "length" (OpenAI); "end_turn", "tool_use", "max_tokens" (Anthropic)… */
	void (*done)(void *arg, const char *finish_reason);
	/* An error event inside the stream: "<type>: <message>" or "<message>". */
	void (*error)(void *arg, const char *message);
};

#endif
