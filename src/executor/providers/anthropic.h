/*
 * The Anthropic Messages API adapter: the streaming request body, and a
 * parser for the streamed response body.
 */
#ifndef AGENTRUN_EXECUTOR_ANTHROPIC_H
#define AGENTRUN_EXECUTOR_ANTHROPIC_H

#include "llm.h"

#define ANTHROPIC_MAX_TOKENS_DEFAULT 4096

struct anthropic_stream;

/*
 * Builds the JSON text of a streaming Messages request: model, "stream":
 * true, max_tokens (params.max_tokens when a positive integer, else
 * ANTHROPIC_MAX_TOKENS_DEFAULT), system (omitted when empty), messages
 * (assistant tool calls become tool_use blocks after a text block when the
 * content is non-empty; tool results become tool_result blocks of a user
 * message, consecutive ones merged into one), tools (omitted when none), and
 * the params keys temperature, top_p, stop_sequences (or else "stop", a
 * string or an array) and thinking when present. Borrows rq. Returns a new
 * string the caller frees, or NULL on out-of-memory or a malformed request
 * (no model, messages not an array, a message that is not an object with
 * role "user", "assistant" or "tool", a tool without a string name).
 */
char *anthropic_build_request(const struct llm_request *rq);

/*
 * Returns a new parser the caller frees with anthropic_stream_free(), or
 * NULL on out-of-memory. Copies *ev.
 */
struct anthropic_stream *anthropic_stream_new(const struct llm_events *ev);

/*
 * Parses n more bytes of the response body (SSE: message_start,
 * content_block_start/delta/stop, message_delta, message_stop, ping,
 * error), firing ev's callbacks: text and thinking deltas as they come, a
 * tool call at its block's content_block_stop, usage then done at
 * message_stop. Returns 0, or -1 on malformed input (data that is not a JSON
 * object, a block index out of range, an oversized event or tool input) or
 * out-of-memory; the parser then stays failed. Bytes after message_stop are
 * ignored.
 */
int anthropic_stream_feed(struct anthropic_stream *s, const char *buf, size_t n);

/* Returns 1 once message_stop was parsed, else 0. */
int anthropic_stream_finished(const struct anthropic_stream *s);

/* Frees the parser; NULL is allowed. */
void anthropic_stream_free(struct anthropic_stream *s);

#endif
