/*
 * What the provider parser tests (test_openai.c, test_anthropic.c) share: a
 * recorder of the llm_events callbacks as "X:…|" records, and the checks
 * that feed a stream body whole, split in two everywhere and byte by byte,
 * or build a request body. Include it after defining LLM_P(x) as the
 * provider's prefix (e.g. openai_##x) and including its header.
 */
#ifndef AGENTRUN_TESTS_LLM_RECORDER_H
#define AGENTRUN_TESTS_LLM_RECORDER_H

/* --- a recorder of the callbacks, as "X:…|" records ------------------------ */

struct rec {
	char *p;
	size_t len;
};

static void
rec_put(struct rec *r, const char *s, size_t n)
{
	char *np = realloc(r->p, r->len + n + 1);

	assert_non_null(np);
	r->p = np;
	memcpy(r->p + r->len, s, n);
	r->len += n;
	r->p[r->len] = '\0';
}

static void
rec_str(struct rec *r, const char *s)
{
	rec_put(r, s, strlen(s));
}

static void
on_text(void *arg, const char *s, size_t n)
{
	rec_str(arg, "T:");
	rec_put(arg, s, n);
	rec_str(arg, "|");
}

static void
on_thinking(void *arg, const char *s, size_t n)
{
	rec_str(arg, "K:");
	rec_put(arg, s, n);
	rec_str(arg, "|");
}

static void
on_tool_call(void *arg, const char *id, const char *name, const char *args)
{
	rec_str(arg, "C:");
	rec_str(arg, id);
	rec_str(arg, ",");
	rec_str(arg, name);
	rec_str(arg, ",");
	rec_str(arg, args);
	rec_str(arg, "|");
}

static void
on_usage(void *arg, const struct llm_usage *u)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "U:%lld,%lld,%lld,%lld|", u->prompt_tokens,
	    u->cached_tokens, u->cache_write_tokens, u->completion_tokens);

	assert_true(n > 0 && (size_t)n < sizeof(buf));
	rec_str(arg, buf);
}

static void
on_done(void *arg, const char *reason)
{
	rec_str(arg, "D:");
	rec_str(arg, reason);
	rec_str(arg, "|");
}

static void
on_error(void *arg, const char *msg)
{
	rec_str(arg, "E:");
	rec_str(arg, msg);
	rec_str(arg, "|");
}

static int
feed_str(struct LLM_P(stream) * s, const char *text)
{
	return LLM_P(stream_feed)(s, text, strlen(text));
}

static struct LLM_P(stream) * stream_new(struct rec *r)
{
	struct llm_events ev = { r, on_text, on_thinking, on_tool_call, on_usage, on_done,
		on_error };
	struct LLM_P(stream) *s = LLM_P(stream_new)(&ev);

	assert_non_null(s);
	return s;
}

/* Feeds the body in one piece and checks the record and the result. */
static void
check_stream(const char *body, int want_rc, const char *want)
{
	struct rec r = { NULL, 0 };
	struct LLM_P(stream) *s = stream_new(&r);

	assert_int_equal(LLM_P(stream_feed)(s, body, strlen(body)), want_rc);
	assert_string_equal(r.p != NULL ? r.p : "", want);
	LLM_P(stream_free)(s);
	free(r.p);
}

/* Every two-piece split, and byte by byte, give the same record and end state. */
static void
check_splits(const char *body, const char *want, int want_finished)
{
	size_t n = strlen(body), cut, i;

	for (cut = 0; cut <= n; cut++) {
		struct rec r = { NULL, 0 };
		struct LLM_P(stream) *s = stream_new(&r);

		assert_int_equal(LLM_P(stream_feed)(s, body, cut), 0);
		assert_int_equal(LLM_P(stream_feed)(s, body + cut, n - cut), 0);
		assert_string_equal(r.p != NULL ? r.p : "", want);
		assert_int_equal(LLM_P(stream_finished)(s), want_finished);
		LLM_P(stream_free)(s);
		free(r.p);
	}
	{
		struct rec r = { NULL, 0 };
		struct LLM_P(stream) *s = stream_new(&r);

		for (i = 0; i < n; i++)
			assert_int_equal(LLM_P(stream_feed)(s, body + i, 1), 0);
		assert_string_equal(r.p != NULL ? r.p : "", want);
		assert_int_equal(LLM_P(stream_finished)(s), want_finished);
		LLM_P(stream_free)(s);
		free(r.p);
	}
}

/* --- request bodies ------------------------------------------------------- */

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, 0, &err);

	if (v == NULL)
		fail_msg("bad test JSON at %d: %s", err.position, err.text);
	return v;
}

static void
check_request(const char *model, const char *params, const char *system, const char *messages,
    const char *tools, const char *want)
{
	json_t *p = params ? load(params) : NULL, *m = load(messages);
	json_t *t = tools ? load(tools) : NULL, *w = load(want), *got;
	struct llm_request rq = { model, p, system, m, t };
	char *text = LLM_P(build_request)(&rq);

	assert_non_null(text);
	got = load(text);
	if (!json_equal(got, w))
		fail_msg("got %s", text);
	free(text);
	json_decref(got);
	json_decref(w);
	json_decref(t);
	json_decref(m);
	json_decref(p);
}

#endif
