/*
 * The built-in `scripted` provider (API.md §6): no network, streams like a
 * real one through loop timers. `echo` answers the rendered user turn;
 * `script` plays model.params.turns, one turn per model call of the run
 * (failed calls included, so a {"fail": {"times": n}} turn covers n calls
 * and survives a crash: the position comes from the run's committed steps).
 * model.params.chunk_ms spaces the streamed words.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "executor.h"
#include "loop.h"
#include "model.h"
#include "xrun.h"

/* The turn that model call number `call` (0-based) plays, or NULL past the end. */
static const json_t *
scripted_turn(const json_t *turns, long long call)
{
	size_t i;
	json_t *t;

	json_array_foreach(turns, i, t)
	{
		json_t *fail = json_object_get(t, "fail");
		long long covers = 1;

		if (json_is_object(fail)) {
			covers = json_integer_value(json_object_get(fail, "times"));
			if (covers < 1)
				covers = 1;
		}
		if (call < covers)
			return t;
		call -= covers;
	}
	return NULL;
}

/* The user turn echo answers: the last user message of the conversation. */
static const char *
scripted_echo_text(const struct xrun *r)
{
	for (size_t i = json_array_size(r->history); i > 0; i--) {
		json_t *m = json_array_get(r->history, i - 1);

		if (strcmp(json_string_value(json_object_get(m, "role")), "user") == 0)
			return json_string_value(json_object_get(m, "content"));
	}
	return "";
}

static long long
scripted_chunk_ms(const struct xrun *r)
{
	json_t *v = json_object_get(r->params, "chunk_ms");

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

static void scripted_tick(void *arg);

/* Emits the next word (with its trailing blanks); done when none is left. */
static void
scripted_tick(void *arg)
{
	struct xrun *r = arg;
	const char *s = r->scripted_text + r->scripted_pos;
	size_t n;
	long long chunk_ms = scripted_chunk_ms(r);

	r->timer = NULL;
	if (r->phase != XR_MODEL)
		return;
	if (*s == '\0') {
		model_done(r);
		return;
	}
	/* Without chunk_ms the whole reply goes in one tick. */
	if (chunk_ms == 0)
		n = strlen(s);
	else {
		n = strcspn(s, " \n\t");
		n += strspn(s + n, " \n\t");
	}
	model_text(r, s, n);
	r->scripted_pos += n;
	r->timer = loop_timer_add(r->ex->loop, (uint64_t)chunk_ms, scripted_tick, r);
}

int
scripted_start(struct xrun *r)
{
	const json_t *turn = NULL, *fail, *usage, *tc;
	const char *thinking;

	r->scripted_pos = 0;
	r->scripted_text = "";
	if (strcmp(r->model, "echo") == 0)
		r->scripted_text = scripted_echo_text(r);
	else if (strcmp(r->model, "script") == 0) {
		turn = scripted_turn(json_object_get(r->params, "turns"), r->model_calls);
		if (turn != NULL && (fail = json_object_get(turn, "fail")) != NULL) {
			long long status = json_integer_value(json_object_get(fail, "status"));
			json_t *ra = json_object_get(fail, "retry_after_s");
			char msg[64];

			snprintf(msg, sizeof(msg), "HTTP %lld from the scripted model", status);
			model_failed(r, status == 429 || status == 408 || status >= 500,
			    json_is_number(ra) ? (long)(json_number_value(ra) * 1000) : -1, msg);
			return -1;
		}
		if (turn != NULL && json_is_string(json_object_get(turn, "content")))
			r->scripted_text = json_string_value(json_object_get(turn, "content"));
	} else {
		model_failed(r, 0, -1, "unknown scripted model (use \"echo\" or \"script\")");
		return -1;
	}
	if (turn != NULL) {
		if ((thinking = json_string_value(json_object_get(turn, "thinking"))) != NULL)
			model_thinking(r, thinking, strlen(thinking));
		if (json_is_object(tc = json_object_get(turn, "tool_call"))) {
			json_t *a = json_object_get(tc, "arguments");
			char *args = a != NULL ? json_dumps(a, JSON_COMPACT) : strdup("{}");

			model_tool_call(
			    r, NULL, json_string_value(json_object_get(tc, "name")), args);
			free(args);
		}
		if (json_is_object(usage = json_object_get(turn, "usage"))) {
			struct llm_usage u = {
				json_integer_value(json_object_get(usage, "prompt_tokens")),
				json_integer_value(json_object_get(usage, "cached_tokens")),
				json_integer_value(json_object_get(usage, "cache_write_tokens")),
				json_integer_value(json_object_get(usage, "completion_tokens")),
			};

			/* Versions saved before the API refused absurd figures still hold them. */
			llm_usage_clamp(&u);
			model_usage(r, &u);
		}
	}
	r->timer = loop_timer_add(r->ex->loop, (uint64_t)scripted_chunk_ms(r), scripted_tick, r);
	return r->timer != NULL ? 0 : -1;
}
