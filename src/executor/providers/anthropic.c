/*
 * Anthropic Messages streaming. The body is SSE; each event's data is a
 * JSON object whose "type" names it (the SSE event name is used only when
 * it has none):
 *
 *   message_start        message.usage: input_tokens, cache_read_input_tokens,
 *                        cache_creation_input_tokens, output_tokens
 *   content_block_start  index, content_block: text | thinking | tool_use (id, name)
 *   content_block_delta  index, delta: text_delta.text, thinking_delta.thinking,
 *                        input_json_delta.partial_json (signature_delta ignored)
 *   content_block_stop   index: a tool_use block fires its call here
 *   message_delta        delta.stop_reason, usage.output_tokens (cumulative)
 *   message_stop         usage, then done
 *   ping                 ignored; unknown types are ignored too
 *   error                error: {type, message}
 *
 * Usage (API.md §6): prompt = input + cache reads + cache writes; cached =
 * cache reads; cache_write = cache writes; completion = the last
 * output_tokens. A message_delta's usage replaces any count it carries.
 * A tool_use block still open at message_stop fires there, in index order.
 */
#include "anthropic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

#define ANTHROPIC_EVENT_MAX (1024u * 1024) /* one event */
#define ANTHROPIC_INPUT_MAX (4u * 1024 * 1024) /* one tool_use block's input JSON */
#define ANTHROPIC_BLOCKS_MAX 256 /* content blocks in one message */

enum anthropic_kind {
	AK_NONE, /* not started, or stopped */
	AK_TEXT,
	AK_THINKING,
	AK_TOOL,
	AK_OTHER, /* redacted_thinking, server tools…: deltas ignored */
};

struct anthropic_block {
	enum anthropic_kind kind;
	char *id, *name;
	char *seed; /* content_block.input when it was a non-empty object */
	char *json; /* input_json_delta fragments */
	size_t len, cap;
};

struct anthropic_stream {
	struct llm_events ev;
	struct sse_parser *sse;
	struct anthropic_block *blocks;
	size_t nblocks;
	long long input, cache_read, cache_write, output;
	int have_usage;
	char *stop_reason;
	int finished;
	int failed;
};

/* --- request ------------------------------------------------------------ */

/* Returns a new reference: a message content as a JSON string. */
static json_t *
anthropic_content(const json_t *v)
{
	json_t *s;
	char *text;

	if (v == NULL || json_is_null(v))
		return json_string("");
	if (json_is_string(v))
		return json_deep_copy(v);
	if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return NULL;
	s = json_string(text);
	free(text);
	return s;
}

/* Returns a new reference: a string member copied, or "" when it is not a string. */
static json_t *
anthropic_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_deep_copy(v) : json_string("");
}

/* Returns a new reference: a tool call's arguments as an object ({} when unusable). */
static json_t *
anthropic_input(const json_t *v)
{
	json_t *o;

	if (json_is_object(v))
		return json_deep_copy(v);
	if (json_is_string(v) &&
	    (o = json_loadb(json_string_value(v), json_string_length(v), 0, NULL)) != NULL) {
		if (json_is_object(o))
			return o;
		json_decref(o);
	}
	return json_object();
}

/* Returns a new reference: an assistant message with tool_use blocks, or NULL. */
static json_t *
anthropic_assistant_calls(const json_t *m, const json_t *calls)
{
	json_t *o, *blocks, *b;
	const json_t *content = json_object_get(m, "content"), *c;
	size_t i;

	if ((o = json_object()) == NULL)
		return NULL;
	if (json_object_set_new(o, "role", json_string("assistant")) == -1 ||
	    json_object_set_new(o, "content", json_array()) == -1)
		goto fail;
	blocks = json_object_get(o, "content");
	if (content != NULL && !json_is_null(content) &&
	    !(json_is_string(content) && json_string_length(content) == 0)) {
		if ((b = json_object()) == NULL)
			goto fail;
		if (json_object_set_new(b, "type", json_string("text")) == -1 ||
		    json_object_set_new(b, "text", anthropic_content(content)) == -1) {
			json_decref(b);
			goto fail;
		}
		if (json_array_append_new(blocks, b) == -1) /* steals b even on failure */
			goto fail;
	}
	json_array_foreach(calls, i, c)
	{
		if (!json_is_object(c) || (b = json_object()) == NULL)
			goto fail;
		if (json_object_set_new(b, "type", json_string("tool_use")) == -1 ||
		    json_object_set_new(b, "id", anthropic_str(c, "id")) == -1 ||
		    json_object_set_new(b, "name", anthropic_str(c, "name")) == -1 ||
		    json_object_set_new(
			b, "input", anthropic_input(json_object_get(c, "arguments"))) == -1) {
			json_decref(b);
			goto fail;
		}
		if (json_array_append_new(blocks, b) == -1) /* steals b even on failure */
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* Returns a new reference: a tool_result block, or NULL. */
static json_t *
anthropic_tool_result(const json_t *m)
{
	json_t *b;

	if ((b = json_object()) == NULL)
		return NULL;
	if (json_object_set_new(b, "type", json_string("tool_result")) == -1 ||
	    json_object_set_new(b, "tool_use_id", anthropic_str(m, "tool_call_id")) == -1 ||
	    json_object_set_new(b, "content", anthropic_content(json_object_get(m, "content"))) ==
		-1) {
		json_decref(b);
		return NULL;
	}
	return b;
}

/* Appends the messages in the Messages API form to out (borrowed). */
static int
anthropic_messages(json_t *out, const json_t *messages)
{
	json_t *results = NULL; /* borrowed: the blocks of the open tool_result message */
	json_t *o;
	const json_t *m, *calls;
	const char *role;
	size_t i;

	json_array_foreach(messages, i, m)
	{
		if (!json_is_object(m) ||
		    (role = json_string_value(json_object_get(m, "role"))) == NULL)
			return -1;
		if (strcmp(role, "tool") == 0) {
			if (results == NULL) {
				if (json_array_append_new(out,
					json_pack("{s:s, s:[]}", "role", "user", "content")) == -1)
					return -1;
				results = json_object_get(
				    json_array_get(out, json_array_size(out) - 1), "content");
			}
			if (json_array_append_new(results, anthropic_tool_result(m)) == -1)
				return -1;
			continue;
		}
		results = NULL;
		if (strcmp(role, "user") == 0) {
			o = json_pack("{s:s, s:o}", "role", "user", "content",
			    anthropic_content(json_object_get(m, "content")));
		} else if (strcmp(role, "assistant") == 0) {
			calls = json_object_get(m, "tool_calls");
			if (json_is_array(calls) && json_array_size(calls) > 0)
				o = anthropic_assistant_calls(m, calls);
			else
				o = json_pack("{s:s, s:o}", "role", "assistant", "content",
				    anthropic_content(json_object_get(m, "content")));
		} else
			return -1;
		if (json_array_append_new(out, o) == -1)
			return -1;
	}
	return 0;
}

/* Returns a new reference: one tool definition in the Messages API form, or NULL. */
static json_t *
anthropic_tool(const json_t *t)
{
	json_t *o, *schema;
	const json_t *v;

	if (!json_is_object(t) || !json_is_string(json_object_get(t, "name")))
		return NULL;
	if ((o = json_object()) == NULL)
		return NULL;
	if (json_object_set_new(o, "name", json_deep_copy(json_object_get(t, "name"))) == -1)
		goto fail;
	if (json_is_string(v = json_object_get(t, "description")) &&
	    json_object_set_new(o, "description", json_deep_copy(v)) == -1)
		goto fail;
	if (json_is_object(v = json_object_get(t, "parameters")))
		schema = json_deep_copy(v);
	else
		schema = json_pack("{s:s, s:{}}", "type", "object", "properties");
	if (json_object_set_new(o, "input_schema", schema) == -1)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* Copies the known params keys that the Messages API takes. */
static int
anthropic_params(json_t *root, const json_t *params)
{
	static const char *const keys[] = { "temperature", "top_p", "thinking", NULL };
	const char *const *k;
	const json_t *v;
	json_t *stops;

	for (k = keys; *k != NULL; k++) {
		if ((v = json_object_get(params, *k)) == NULL || json_is_null(v))
			continue;
		if (json_object_set_new(root, *k, json_deep_copy(v)) == -1)
			return -1;
	}
	if ((v = json_object_get(params, "stop_sequences")) == NULL || json_is_null(v))
		v = json_object_get(params, "stop");
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if ((stops = json_array()) == NULL)
			return -1;
		if (json_array_append_new(stops, json_deep_copy(v)) == -1) {
			json_decref(stops);
			return -1;
		}
	} else
		stops = json_deep_copy(v);
	return json_object_set_new(root, "stop_sequences", stops);
}

char *
anthropic_build_request(const struct llm_request *rq)
{
	json_t *root, *tools;
	const json_t *v, *t;
	json_int_t max_tokens = ANTHROPIC_MAX_TOKENS_DEFAULT;
	char *text = NULL;
	size_t i;

	if (rq == NULL || rq->model == NULL || !json_is_array(rq->messages))
		return NULL;
	v = json_object_get(rq->params, "max_tokens");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		max_tokens = json_integer_value(v);
	if ((root = json_object()) == NULL)
		return NULL;
	if (json_object_set_new(root, "model", json_string(rq->model)) == -1 ||
	    json_object_set_new(root, "stream", json_true()) == -1 ||
	    json_object_set_new(root, "max_tokens", json_integer(max_tokens)) == -1)
		goto out;
	if (rq->system != NULL && rq->system[0] != '\0' &&
	    json_object_set_new(root, "system", json_string(rq->system)) == -1)
		goto out;
	if (json_object_set_new(root, "messages", json_array()) == -1 ||
	    anthropic_messages(json_object_get(root, "messages"), rq->messages) == -1)
		goto out;
	if (json_is_array(rq->tools) && json_array_size(rq->tools) > 0) {
		if (json_object_set_new(root, "tools", json_array()) == -1)
			goto out;
		tools = json_object_get(root, "tools");
		json_array_foreach(rq->tools, i, t)
		{
			if (json_array_append_new(tools, anthropic_tool(t)) == -1)
				goto out;
		}
	}
	if (json_is_object(rq->params) && anthropic_params(root, rq->params) == -1)
		goto out;
	text = json_dumps(root, JSON_COMPACT);
out:
	json_decref(root);
	return text;
}

/* --- stream ------------------------------------------------------------- */

/* Sets *dst to a non-negative integer member when present. */
static void
anthropic_count(const json_t *o, const char *key, long long *dst)
{
	const json_t *v = json_object_get(o, key);

	/* Clamped one by one: their sum is the prompt (llm.h). */
	if (json_is_integer(v))
		*dst = llm_tokens_clamp(json_integer_value(v));
}

static void
anthropic_block_clear(struct anthropic_block *b)
{
	free(b->id);
	free(b->name);
	free(b->seed);
	free(b->json);
	memset(b, 0, sizeof(*b));
}

/* Returns the block at the event's index, growing the table; NULL when out of range. */
static struct anthropic_block *
anthropic_block_at(struct anthropic_stream *s, const json_t *root, int grow)
{
	const json_t *v = json_object_get(root, "index");
	json_int_t idx;

	if (!json_is_integer(v) || (idx = json_integer_value(v)) < 0 || idx >= ANTHROPIC_BLOCKS_MAX)
		return NULL;
	if ((size_t)idx >= s->nblocks) {
		struct anthropic_block *nb;

		if (!grow)
			return NULL;
		if ((nb = reallocarray(s->blocks, (size_t)idx + 1, sizeof(*nb))) == NULL)
			return NULL;
		memset(nb + s->nblocks, 0, ((size_t)idx + 1 - s->nblocks) * sizeof(*nb));
		s->blocks = nb;
		s->nblocks = (size_t)idx + 1;
	}
	return &s->blocks[idx];
}

static void
anthropic_fire_tool(struct anthropic_stream *s, struct anthropic_block *b)
{
	const char *args = "{}";

	if (b->len > 0)
		args = b->json;
	else if (b->seed != NULL)
		args = b->seed;
	if (s->ev.tool_call != NULL)
		s->ev.tool_call(s->ev.arg, b->id ? b->id : "", b->name ? b->name : "", args);
	anthropic_block_clear(b);
}

static int
anthropic_block_start(struct anthropic_stream *s, const json_t *root)
{
	struct anthropic_block *b;
	const json_t *cb = json_object_get(root, "content_block"), *v;
	const char *type, *str;
	char *seed;

	if ((b = anthropic_block_at(s, root, 1)) == NULL)
		return -1;
	anthropic_block_clear(b);
	type = json_string_value(json_object_get(cb, "type"));
	if (type == NULL)
		b->kind = AK_OTHER;
	else if (strcmp(type, "text") == 0) {
		b->kind = AK_TEXT;
		v = json_object_get(cb, "text");
		if (json_is_string(v) && json_string_length(v) > 0 && s->ev.text != NULL)
			s->ev.text(s->ev.arg, json_string_value(v), json_string_length(v));
	} else if (strcmp(type, "thinking") == 0) {
		b->kind = AK_THINKING;
		v = json_object_get(cb, "thinking");
		if (json_is_string(v) && json_string_length(v) > 0 && s->ev.thinking != NULL)
			s->ev.thinking(s->ev.arg, json_string_value(v), json_string_length(v));
	} else if (strcmp(type, "tool_use") == 0) {
		b->kind = AK_TOOL;
		if ((str = json_string_value(json_object_get(cb, "id"))) != NULL &&
		    (b->id = strdup(str)) == NULL)
			return -1;
		if ((str = json_string_value(json_object_get(cb, "name"))) != NULL &&
		    (b->name = strdup(str)) == NULL)
			return -1;
		v = json_object_get(cb, "input");
		if (json_is_object(v) && json_object_size(v) > 0) {
			if ((seed = json_dumps(v, JSON_COMPACT)) == NULL)
				return -1;
			b->seed = seed;
		}
	} else
		b->kind = AK_OTHER;
	return 0;
}

static int
anthropic_append(struct anthropic_block *b, const char *str, size_t n)
{
	if (n > ANTHROPIC_INPUT_MAX || b->len > ANTHROPIC_INPUT_MAX - n)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->json, cap)) == NULL)
			return -1;
		b->json = np;
		b->cap = cap;
	}
	memcpy(b->json + b->len, str, n);
	b->len += n;
	b->json[b->len] = '\0';
	return 0;
}

static int
anthropic_block_delta(struct anthropic_stream *s, const json_t *root)
{
	struct anthropic_block *b;
	const json_t *d = json_object_get(root, "delta"), *v;
	const char *type;

	/* A delta for a block never started carries nothing we can place. */
	if ((b = anthropic_block_at(s, root, 0)) == NULL || b->kind == AK_NONE)
		return 0;
	if ((type = json_string_value(json_object_get(d, "type"))) == NULL)
		return 0;
	if (strcmp(type, "text_delta") == 0) {
		v = json_object_get(d, "text");
		if (json_is_string(v) && json_string_length(v) > 0 && s->ev.text != NULL)
			s->ev.text(s->ev.arg, json_string_value(v), json_string_length(v));
	} else if (strcmp(type, "thinking_delta") == 0) {
		v = json_object_get(d, "thinking");
		if (json_is_string(v) && json_string_length(v) > 0 && s->ev.thinking != NULL)
			s->ev.thinking(s->ev.arg, json_string_value(v), json_string_length(v));
	} else if (strcmp(type, "input_json_delta") == 0 && b->kind == AK_TOOL) {
		v = json_object_get(d, "partial_json");
		if (json_is_string(v) && json_string_length(v) > 0 &&
		    anthropic_append(b, json_string_value(v), json_string_length(v)) == -1)
			return -1;
	}
	return 0;
}

static void
anthropic_error(struct anthropic_stream *s, const json_t *e)
{
	const char *type, *msg;
	char *text, buf[1024];

	if (s->ev.error == NULL)
		return;
	if (json_is_string(e)) {
		s->ev.error(s->ev.arg, json_string_value(e));
		return;
	}
	type = json_string_value(json_object_get(e, "type"));
	msg = json_string_value(json_object_get(e, "message"));
	if (msg != NULL && type != NULL && *type != '\0') {
		int len = snprintf(buf, sizeof(buf), "%s: %s", type, msg);

		/* A truncated message is still worth reporting. */
		s->ev.error(s->ev.arg, len < 0 ? msg : buf);
	} else if (msg != NULL)
		s->ev.error(s->ev.arg, msg);
	else {
		text = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
		s->ev.error(s->ev.arg, text != NULL ? text : "error");
		free(text);
	}
}

static void
anthropic_stop(struct anthropic_stream *s)
{
	struct llm_usage u;
	size_t i;

	for (i = 0; i < s->nblocks; i++) {
		if (s->blocks[i].kind == AK_TOOL)
			anthropic_fire_tool(s, &s->blocks[i]);
	}
	s->finished = 1;
	if (s->have_usage && s->ev.usage != NULL) {
		u.prompt_tokens = s->input + s->cache_read + s->cache_write;
		u.cached_tokens = s->cache_read;
		u.cache_write_tokens = s->cache_write;
		u.completion_tokens = s->output;
		llm_usage_clamp(&u);
		s->ev.usage(s->ev.arg, &u);
	}
	if (s->ev.done != NULL)
		s->ev.done(s->ev.arg, s->stop_reason != NULL ? s->stop_reason : "end_turn");
}

static void
anthropic_usage(struct anthropic_stream *s, const json_t *u)
{
	if (!json_is_object(u))
		return;
	anthropic_count(u, "input_tokens", &s->input);
	anthropic_count(u, "cache_read_input_tokens", &s->cache_read);
	anthropic_count(u, "cache_creation_input_tokens", &s->cache_write);
	anthropic_count(u, "output_tokens", &s->output);
	s->have_usage = 1;
}

/* Handles one parsed event; -1 when it is malformed. */
static int
anthropic_event(struct anthropic_stream *s, const char *event, const json_t *root)
{
	struct anthropic_block *b;
	const char *type, *str;

	if (!json_is_object(root))
		return -1;
	if ((type = json_string_value(json_object_get(root, "type"))) == NULL)
		type = event;
	if (strcmp(type, "message_start") == 0)
		anthropic_usage(s, json_object_get(json_object_get(root, "message"), "usage"));
	else if (strcmp(type, "content_block_start") == 0)
		return anthropic_block_start(s, root);
	else if (strcmp(type, "content_block_delta") == 0)
		return anthropic_block_delta(s, root);
	else if (strcmp(type, "content_block_stop") == 0) {
		if ((b = anthropic_block_at(s, root, 0)) != NULL) {
			if (b->kind == AK_TOOL)
				anthropic_fire_tool(s, b);
			else
				anthropic_block_clear(b);
		}
	} else if (strcmp(type, "message_delta") == 0) {
		str = json_string_value(
		    json_object_get(json_object_get(root, "delta"), "stop_reason"));
		if (str != NULL) {
			free(s->stop_reason);
			if ((s->stop_reason = strdup(str)) == NULL)
				return -1;
		}
		anthropic_usage(s, json_object_get(root, "usage"));
	} else if (strcmp(type, "message_stop") == 0)
		anthropic_stop(s);
	else if (strcmp(type, "error") == 0)
		anthropic_error(s, json_object_get(root, "error"));
	return 0;
}

static void
anthropic_on_event(void *arg, const char *event, const char *data, size_t len)
{
	struct anthropic_stream *s = arg;
	json_t *root;

	if (s->failed || s->finished || len == 0)
		return;
	if ((root = json_loadb(data, len, JSON_ALLOW_NUL, NULL)) == NULL) {
		s->failed = 1;
		return;
	}
	if (anthropic_event(s, event, root) == -1)
		s->failed = 1;
	json_decref(root);
}

struct anthropic_stream *
anthropic_stream_new(const struct llm_events *ev)
{
	struct anthropic_stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (ev != NULL)
		s->ev = *ev;
	if ((s->sse = sse_new(anthropic_on_event, s, ANTHROPIC_EVENT_MAX)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

int
anthropic_stream_feed(struct anthropic_stream *s, const char *buf, size_t n)
{
	if (s->failed)
		return -1;
	if (s->finished)
		return 0;
	if (sse_feed(s->sse, buf, n) == -1)
		s->failed = 1;
	return s->failed ? -1 : 0;
}

int
anthropic_stream_finished(const struct anthropic_stream *s)
{
	return s->finished;
}

void
anthropic_stream_free(struct anthropic_stream *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nblocks; i++)
		anthropic_block_clear(&s->blocks[i]);
	free(s->blocks);
	free(s->stop_reason);
	sse_free(s->sse);
	free(s);
}
