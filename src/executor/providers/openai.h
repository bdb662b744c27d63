/*
 * The OpenAI Chat Completions adapter (any compatible endpoint): the
 * streaming request body, and a parser for the streamed response body.
 */
#ifndef AGENTRUN_EXECUTOR_OPENAI_H
#define AGENTRUN_EXECUTOR_OPENAI_H

#include "llm.h"

struct openai_stream;

/*
 * Builds the JSON text of a streaming Chat Completions request: model,
 * "stream": true, "stream_options": {"include_usage": true}, messages (the
 * system prompt first when non-empty), tools (omitted when none), and the
 * params keys temperature, top_p, max_tokens, max_completion_tokens, stop,
 * seed and reasoning_effort when present. Borrows rq. Returns a new string
 * the caller frees, or NULL on out-of-memory or a malformed request (no
 * model, messages not an array, a message that is not an object with role
 * "user", "assistant" or "tool", a tool without a string name).
 */
char *openai_build_request(const struct llm_request *rq);

/*
 * Returns a new parser the caller frees with openai_stream_free(), or NULL
 * on out-of-memory. Copies *ev.
 */
struct openai_stream *openai_stream_new(const struct llm_events *ev);

/*
 * Parses n more bytes of the response body ("data: {chunk}" lines, then
 * "data: [DONE]"), firing ev's callbacks. Tool calls are assembled per index
 * and fire in index order when a finish_reason arrives (or at [DONE]);
 * usage and done fire at [DONE]. Returns 0, or -1 on malformed input (a
 * data line that is not a JSON object, a tool call index out of range, an
 * oversized event or tool call) or out-of-memory; the parser then stays
 * failed. Bytes after [DONE] are ignored.
 */
int openai_stream_feed(struct openai_stream *s, const char *buf, size_t n);

/* Returns 1 once [DONE] was parsed, else 0. */
int openai_stream_finished(const struct openai_stream *s);

/* Frees the parser; NULL is allowed. */
void openai_stream_free(struct openai_stream *s);

#endif
