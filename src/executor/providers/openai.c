/*
 * OpenAI Chat Completions streaming. The body is SSE; each event's data is
 * one JSON chunk:
 *
 *   {"choices":[{"index":0,"delta":{"content":"Hi","reasoning_content":"…",
 *     "tool_calls":[{"index":0,"id":"call_1","type":"function",
 *       "function":{"name":"f","arguments":"{\"a\""}}]},
 *     "finish_reason":null}],"usage":null}
 *
 * then, with stream_options.include_usage, a chunk with empty choices and
 * the usage, then "[DONE]". A tool call's id and name come in its first
 * fragment and its arguments text is split across fragments of the same
 * index; calls are buffered per index and fire, in index order, when the
 * choice's finish_reason arrives (or at [DONE] if it never does). The last
 * usage seen and done fire at [DONE], so done is always the last callback.
 * "reasoning" is taken as a synonym of "reasoning_content" (some
 * compatible servers use it). Only choices[0] is read.
 */
#include "openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

#define OPENAI_EVENT_MAX (1024u * 1024) /* one chunk */
#define OPENAI_ARGS_MAX (4u * 1024 * 1024) /* one tool call's arguments */
#define OPENAI_CALLS_MAX 128 /* tool calls in one message */

/* One tool call being assembled; calls are kept in order of arrival. */
struct openai_call {
	json_int_t index; /* the provider's tool_calls[].index */
	char *id, *name;
	char *args;
	size_t len, cap;
};

struct openai_stream {
	struct llm_events ev;
	struct sse_parser *sse;
	struct openai_call *calls;
	size_t ncalls;
	int any_calls; /* a tool call fired */
	char *finish;
	struct llm_usage usage;
	int have_usage;
	int finished;
	int failed;
};

static const char *const openai_param_keys[] = { "temperature", "top_p", "max_tokens",
	"max_completion_tokens", "stop", "seed", "reasoning_effort", NULL };

/* --- request ------------------------------------------------------------ */

/* Returns a new reference: a message content as a JSON string. */
static json_t *
openai_content(const json_t *v)
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

/* Returns a new reference: the tool call's arguments as JSON text in a string. */
static json_t *
openai_arguments(const json_t *v)
{
	json_t *s;
	char *text;

	if (v == NULL || json_is_null(v))
		return json_string("{}");
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
openai_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_deep_copy(v) : json_string("");
}

/* Returns a new reference: the OpenAI form of an assistant's tool_calls, or NULL. */
static json_t *
openai_tool_calls(const json_t *calls)
{
	json_t *out, *tc = NULL, *fn = NULL;
	const json_t *c;
	size_t i;

	if ((out = json_array()) == NULL)
		return NULL;
	json_array_foreach(calls, i, c)
	{
		if (!json_is_object(c))
			goto fail;
		if ((tc = json_object()) == NULL || (fn = json_object()) == NULL)
			goto fail;
		if (json_object_set_new(tc, "id", openai_str(c, "id")) == -1 ||
		    json_object_set_new(tc, "type", json_string("function")) == -1 ||
		    json_object_set_new(fn, "name", openai_str(c, "name")) == -1 ||
		    json_object_set_new(
			fn, "arguments", openai_arguments(json_object_get(c, "arguments"))) == -1)
			goto fail;
		if (json_object_set_new(tc, "function", fn) == -1) {
			fn = NULL;
			goto fail;
		}
		fn = NULL;
		if (json_array_append_new(out, tc) == -1) {
			tc = NULL;
			goto fail;
		}
		tc = NULL;
	}
	return out;
fail:
	json_decref(fn);
	json_decref(tc);
	json_decref(out);
	return NULL;
}

/* Returns a new reference: one message in the OpenAI form, or NULL. */
static json_t *
openai_message(const json_t *m)
{
	json_t *o;
	const json_t *calls;
	const char *role;

	if (!json_is_object(m) || (role = json_string_value(json_object_get(m, "role"))) == NULL)
		return NULL;
	if ((o = json_object()) == NULL)
		return NULL;
	if (strcmp(role, "user") == 0) {
		if (json_object_set_new(o, "role", json_string("user")) == -1 ||
		    json_object_set_new(
			o, "content", openai_content(json_object_get(m, "content"))) == -1)
			goto fail;
	} else if (strcmp(role, "assistant") == 0) {
		const json_t *content = json_object_get(m, "content");

		calls = json_object_get(m, "tool_calls");
		if (json_object_set_new(o, "role", json_string("assistant")) == -1)
			goto fail;
		if (json_is_array(calls) && json_array_size(calls) > 0) {
			/* With tool calls, no text is null rather than "". */
			if (content == NULL || json_is_null(content) ||
			    (json_is_string(content) && json_string_length(content) == 0)) {
				if (json_object_set_new(o, "content", json_null()) == -1)
					goto fail;
			} else if (json_object_set_new(o, "content", openai_content(content)) == -1)
				goto fail;
			if (json_object_set_new(o, "tool_calls", openai_tool_calls(calls)) == -1)
				goto fail;
		} else if (json_object_set_new(o, "content", openai_content(content)) == -1)
			goto fail;
	} else if (strcmp(role, "tool") == 0) {
		if (json_object_set_new(o, "role", json_string("tool")) == -1 ||
		    json_object_set_new(o, "tool_call_id", openai_str(m, "tool_call_id")) == -1 ||
		    json_object_set_new(
			o, "content", openai_content(json_object_get(m, "content"))) == -1)
			goto fail;
	} else
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* Returns a new reference: one tool definition in the OpenAI form, or NULL. */
static json_t *
openai_tool(const json_t *t)
{
	json_t *o = NULL, *fn = NULL, *params;
	const json_t *v;

	if (!json_is_object(t) || !json_is_string(json_object_get(t, "name")))
		return NULL;
	if ((o = json_object()) == NULL || (fn = json_object()) == NULL)
		goto fail;
	if (json_object_set_new(fn, "name", json_deep_copy(json_object_get(t, "name"))) == -1)
		goto fail;
	if (json_is_string(v = json_object_get(t, "description")) &&
	    json_object_set_new(fn, "description", json_deep_copy(v)) == -1)
		goto fail;
	if (json_is_object(v = json_object_get(t, "parameters")))
		params = json_deep_copy(v);
	else
		params = json_pack("{s:s, s:{}}", "type", "object", "properties");
	if (json_object_set_new(fn, "parameters", params) == -1)
		goto fail;
	if (json_object_set_new(o, "type", json_string("function")) == -1)
		goto fail;
	if (json_object_set_new(o, "function", fn) == -1) {
		fn = NULL;
		goto fail;
	}
	return o;
fail:
	json_decref(fn);
	json_decref(o);
	return NULL;
}

char *
openai_build_request(const struct llm_request *rq)
{
	json_t *root = NULL, *msgs, *tools, *v;
	const json_t *m;
	const char *const *k;
	char *text = NULL;
	size_t i;

	if (rq == NULL || rq->model == NULL || !json_is_array(rq->messages))
		return NULL;
	if ((root = json_object()) == NULL)
		return NULL;
	if (json_object_set_new(root, "model", json_string(rq->model)) == -1 ||
	    json_object_set_new(root, "stream", json_true()) == -1 ||
	    json_object_set_new(root, "stream_options", json_pack("{s:b}", "include_usage", 1)) ==
		-1)
		goto out;

	if (json_object_set_new(root, "messages", json_array()) == -1)
		goto out;
	msgs = json_object_get(root, "messages");
	if (rq->system != NULL && rq->system[0] != '\0' &&
	    json_array_append_new(
		msgs, json_pack("{s:s, s:s}", "role", "system", "content", rq->system)) == -1)
		goto out;
	json_array_foreach(rq->messages, i, m)
	{
		if (json_array_append_new(msgs, openai_message(m)) == -1)
			goto out;
	}

	if (json_is_array(rq->tools) && json_array_size(rq->tools) > 0) {
		if (json_object_set_new(root, "tools", json_array()) == -1)
			goto out;
		tools = json_object_get(root, "tools");
		json_array_foreach(rq->tools, i, m)
		{
			if (json_array_append_new(tools, openai_tool(m)) == -1)
				goto out;
		}
	}

	for (k = openai_param_keys; json_is_object(rq->params) && *k != NULL; k++) {
		if ((v = json_object_get(rq->params, *k)) == NULL || json_is_null(v))
			continue;
		if (json_object_set_new(root, *k, json_deep_copy(v)) == -1)
			goto out;
	}
	text = json_dumps(root, JSON_COMPACT);
out:
	json_decref(root);
	return text;
}

/* --- stream ------------------------------------------------------------- */

static long long
openai_count(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? llm_tokens_clamp(json_integer_value(v)) : 0;
}

static void
openai_call_clear(struct openai_call *c)
{
	free(c->id);
	free(c->name);
	free(c->args);
	memset(c, 0, sizeof(*c));
}

/* Fires every buffered tool call in index order (ties in order of arrival) and forgets them. */
static void
openai_flush_calls(struct openai_stream *s)
{
	struct openai_call tmp;
	char fallback[32];
	size_t i, j;

	/* A stable insertion sort: at most OPENAI_CALLS_MAX calls. */
	for (i = 1; i < s->ncalls; i++) {
		tmp = s->calls[i];
		for (j = i; j > 0 && s->calls[j - 1].index > tmp.index; j--)
			s->calls[j] = s->calls[j - 1];
		s->calls[j] = tmp;
	}
	for (i = 0; i < s->ncalls; i++) {
		struct openai_call *c = &s->calls[i];
		const char *id = c->id;

		if (id == NULL) {
			/* Some compatible servers send no id; the executor needs one. */
			(void)snprintf(fallback, sizeof(fallback), "call_%zu", i);
			id = fallback;
		}
		s->any_calls = 1;
		if (s->ev.tool_call != NULL)
			s->ev.tool_call(
			    s->ev.arg, id, c->name ? c->name : "", c->len > 0 ? c->args : "{}");
		openai_call_clear(c);
	}
	s->ncalls = 0;
}

static int
openai_args_put(struct openai_call *c, const char *str, size_t n)
{
	if (n > OPENAI_ARGS_MAX || c->len > OPENAI_ARGS_MAX - n)
		return -1;
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 256;
		char *np;

		while (cap < c->len + n + 1)
			cap *= 2;
		if ((np = realloc(c->args, cap)) == NULL)
			return -1;
		c->args = np;
		c->cap = cap;
	}
	memcpy(c->args + c->len, str, n);
	c->len += n;
	c->args[c->len] = '\0';
	return 0;
}

/*
 * Adds one tool_calls[] fragment to the latest call of its index. A
 * fragment with a new id at an index already holding another id starts a
 * new call (some servers put every call at index 0); one without an index
 * starts a call when it has an id and else continues the latest call.
 */
static int
openai_fragment(struct openai_stream *s, const json_t *f)
{
	struct openai_call *c = NULL, *nc;
	const json_t *fn, *v;
	json_int_t idx;
	const char *id, *str;
	size_t i;

	if (!json_is_object(f))
		return -1;
	if ((id = json_string_value(json_object_get(f, "id"))) != NULL && *id == '\0')
		id = NULL;
	v = json_object_get(f, "index");
	if (json_is_integer(v)) {
		idx = json_integer_value(v);
		if (idx < 0 || idx >= OPENAI_CALLS_MAX)
			return -1;
		for (i = s->ncalls; i > 0 && c == NULL; i--) {
			if (s->calls[i - 1].index == idx)
				c = &s->calls[i - 1];
		}
		if (c != NULL && id != NULL && c->id != NULL && strcmp(c->id, id) != 0)
			c = NULL;
	} else {
		idx = s->ncalls > 0 ? s->calls[s->ncalls - 1].index : 0;
		if (id != NULL && s->ncalls > 0)
			idx++;
		else if (s->ncalls > 0)
			c = &s->calls[s->ncalls - 1];
	}
	if (c == NULL) {
		if (s->ncalls >= OPENAI_CALLS_MAX)
			return -1;
		if ((nc = reallocarray(s->calls, s->ncalls + 1, sizeof(*nc))) == NULL)
			return -1;
		s->calls = nc;
		c = &s->calls[s->ncalls++];
		memset(c, 0, sizeof(*c));
		c->index = idx;
	}
	if (id != NULL && c->id == NULL && (c->id = strdup(id)) == NULL)
		return -1;
	fn = json_object_get(f, "function");
	if ((str = json_string_value(json_object_get(fn, "name"))) != NULL && *str != '\0' &&
	    c->name == NULL && (c->name = strdup(str)) == NULL)
		return -1;
	v = json_object_get(fn, "arguments");
	if (json_is_string(v) && json_string_length(v) > 0)
		return openai_args_put(c, json_string_value(v), json_string_length(v));
	return 0;
}

static void
openai_error(struct openai_stream *s, const json_t *e)
{
	const char *type, *msg;
	char *text = NULL, buf[1024];

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
openai_done(struct openai_stream *s)
{
	openai_flush_calls(s);
	s->finished = 1;
	if (s->have_usage && s->ev.usage != NULL) {
		llm_usage_clamp(&s->usage);
		s->ev.usage(s->ev.arg, &s->usage);
	}
	if (s->ev.done != NULL)
		s->ev.done(s->ev.arg,
		    s->finish != NULL  ? s->finish
			: s->any_calls ? "tool_calls"
				       : "stop");
}

/* Handles one parsed chunk; -1 when it is malformed. */
static int
openai_chunk(struct openai_stream *s, const json_t *root)
{
	const json_t *choice, *delta, *v, *u;
	const char *str;
	size_t i;

	if (!json_is_object(root))
		return -1;
	if ((v = json_object_get(root, "error")) != NULL && !json_is_null(v)) {
		openai_error(s, v);
		return 0;
	}
	choice = json_array_get(json_object_get(root, "choices"), 0);
	if (json_is_object(choice)) {
		delta = json_object_get(choice, "delta");
		v = json_object_get(delta, "reasoning_content");
		if (!json_is_string(v))
			v = json_object_get(delta, "reasoning");
		if (json_is_string(v) && json_string_length(v) > 0 && s->ev.thinking != NULL)
			s->ev.thinking(s->ev.arg, json_string_value(v), json_string_length(v));
		v = json_object_get(delta, "content");
		if (json_is_string(v) && json_string_length(v) > 0 && s->ev.text != NULL)
			s->ev.text(s->ev.arg, json_string_value(v), json_string_length(v));
		v = json_object_get(delta, "tool_calls");
		if (json_is_array(v)) {
			const json_t *f;

			json_array_foreach(v, i, f)
			{
				if (openai_fragment(s, f) == -1)
					return -1;
			}
		}
		if ((str = json_string_value(json_object_get(choice, "finish_reason"))) != NULL) {
			free(s->finish);
			if ((s->finish = strdup(str)) == NULL)
				return -1;
			openai_flush_calls(s);
		}
	}
	if (json_is_object(u = json_object_get(root, "usage"))) {
		s->usage.prompt_tokens = openai_count(u, "prompt_tokens");
		s->usage.completion_tokens = openai_count(u, "completion_tokens");
		s->usage.cached_tokens =
		    openai_count(json_object_get(u, "prompt_tokens_details"), "cached_tokens");
		s->usage.cache_write_tokens = 0;
		s->have_usage = 1;
	}
	return 0;
}

static void
openai_on_event(void *arg, const char *event, const char *data, size_t len)
{
	struct openai_stream *s = arg;
	json_t *root;

	(void)event;
	if (s->failed || s->finished || len == 0)
		return;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		openai_done(s);
		return;
	}
	if ((root = json_loadb(data, len, JSON_ALLOW_NUL, NULL)) == NULL) {
		s->failed = 1;
		return;
	}
	if (openai_chunk(s, root) == -1)
		s->failed = 1;
	json_decref(root);
}

struct openai_stream *
openai_stream_new(const struct llm_events *ev)
{
	struct openai_stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (ev != NULL)
		s->ev = *ev;
	if ((s->sse = sse_new(openai_on_event, s, OPENAI_EVENT_MAX)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

int
openai_stream_feed(struct openai_stream *s, const char *buf, size_t n)
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
openai_stream_finished(const struct openai_stream *s)
{
	return s->finished;
}

void
openai_stream_free(struct openai_stream *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ncalls; i++)
		openai_call_clear(&s->calls[i]);
	free(s->calls);
	free(s->finish);
	sse_free(s->sse);
	free(s);
}
