/* openai_*: Chat Completions request bodies and the streamed reply parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/providers/openai.h"

#define LLM_P(x) openai_##x
#include "llm_recorder.h"

static void
test_build_basic(void **state)
{
	(void)state;
	check_request("gpt-4o",
	    "{\"temperature\":0.2,\"max_tokens\":100,\"foo\":1,\"seed\":7,\"stop\":[\"x\"],"
	    "\"top_p\":null,\"stream\":false,\"model\":\"evil\",\"reasoning_effort\":\"low\","
	    "\"max_completion_tokens\":9}",
	    "sys", "[{\"role\":\"user\",\"content\":\"hi\"}]", NULL,
	    "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	    "\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
	    "{\"role\":\"user\",\"content\":\"hi\"}],"
	    "\"temperature\":0.2,\"max_tokens\":100,\"seed\":7,\"stop\":[\"x\"],"
	    "\"reasoning_effort\":\"low\",\"max_completion_tokens\":9}");
	/* No system, no params, empty tools: all omitted. */
	check_request("m", NULL, "", "[{\"role\":\"user\",\"content\":\"hi\"}]", "[]",
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
	check_request("m", "{}", NULL, "[]", NULL,
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	    "\"messages\":[]}");
}

static void
test_build_tools_and_history(void **state)
{
	(void)state;
	check_request("m", NULL, "be brief",
	    "[{\"role\":\"user\",\"content\":\"weather?\"},"
	    "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
	    "{\"id\":\"c1\",\"name\":\"get\",\"arguments\":{\"a\":1,\"s\":\"\\u00e9\"}},"
	    "{\"id\":\"c2\",\"name\":\"put\",\"arguments\":{}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"name\":\"get\",\"content\":\"r1\"},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":{\"ok\":true}},"
	    "{\"role\":\"assistant\",\"content\":\"let me check\",\"tool_calls\":["
	    "{\"id\":\"c3\",\"name\":\"get\"}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c3\",\"content\":\"\"},"
	    "{\"role\":\"assistant\",\"content\":\"done\"},"
	    "{\"role\":\"user\"}]",
	    "[{\"name\":\"get\",\"description\":\"G\",\"parameters\":{\"type\":\"object\","
	    "\"properties\":{\"a\":{\"type\":\"integer\"}}}},{\"name\":\"put\"}]",
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	    "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
	    "{\"role\":\"user\",\"content\":\"weather?\"},"
	    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
	    "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"get\","
	    "\"arguments\":\"{\\\"a\\\":1,\\\"s\\\":\\\"\\u00e9\\\"}\"}},"
	    "{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"put\","
	    "\"arguments\":\"{}\"}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"r1\"},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"{\\\"ok\\\":true}\"},"
	    "{\"role\":\"assistant\",\"content\":\"let me check\",\"tool_calls\":["
	    "{\"id\":\"c3\",\"type\":\"function\",\"function\":{\"name\":\"get\","
	    "\"arguments\":\"{}\"}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c3\",\"content\":\"\"},"
	    "{\"role\":\"assistant\",\"content\":\"done\"},"
	    "{\"role\":\"user\",\"content\":\"\"}],"
	    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get\",\"description\":"
	    "\"G\","
	    "\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}}},"
	    "{\"type\":\"function\",\"function\":{\"name\":\"put\","
	    "\"parameters\":{\"type\":\"object\",\"properties\":{}}}}]}");
	/* Arguments already given as text pass through as they are. */
	check_request("m", NULL, "",
	    "[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"x\",\"name\":\"f\","
	    "\"arguments\":\"{\\\"k\\\": 2}\"}]}]",
	    NULL,
	    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	    "\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
	    "{\"id\":\"x\",\"type\":\"function\",\"function\":{\"name\":\"f\","
	    "\"arguments\":\"{\\\"k\\\": 2}\"}}]}]}");
}

static void
check_refused(const char *model, const char *messages, const char *tools)
{
	json_t *m = load(messages), *t = tools ? load(tools) : NULL;
	struct llm_request rq = { model, NULL, "", m, t };

	assert_null(openai_build_request(&rq));
	json_decref(m);
	json_decref(t);
}

static void
test_build_refused(void **state)
{
	struct llm_request rq = { "m", NULL, "", NULL, NULL };

	(void)state;
	assert_null(openai_build_request(NULL));
	assert_null(openai_build_request(&rq));
	check_refused(NULL, "[]", NULL);
	check_refused("m", "{}", NULL);
	check_refused("m", "[1]", NULL);
	check_refused("m", "[{\"content\":\"x\"}]", NULL);
	check_refused("m", "[{\"role\":\"system\",\"content\":\"x\"}]", NULL);
	check_refused("m", "[{\"role\":\"assistant\",\"tool_calls\":[1]}]", NULL);
	check_refused("m", "[]", "[{\"description\":\"no name\"}]");
	check_refused("m", "[]", "[7]");
	{
		/* Invalid UTF-8 in the system prompt or model cannot become JSON. */
		json_t *m = load("[]");
		struct llm_request bad = { "m", NULL, "\xff", m, NULL };

		assert_null(openai_build_request(&bad));
		bad.system = "";
		bad.model = "\xc3";
		assert_null(openai_build_request(&bad));
		json_decref(m);
	}
}

/* --- streams -------------------------------------------------------------- */

static const char text_body[] =
    "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
    ": keep-alive\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"},"
    "\"finish_reason\":null}],\"usage\":null}\r\n\r\n"
    "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\\n\"},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":5,"
    "\"total_tokens\":105,\"prompt_tokens_details\":{\"cached_tokens\":64}}}\n\n"
    "data: [DONE]\n\n";

static const char text_want[] = "K:hmm|T:Hel|T:lo \xc3\xa9\n|U:100,64,0,5|D:stop|";

static const char tools_body[] =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,"
    "\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":"
    "{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"{\\\"ci\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\","
    "\"type\":\"function\",\"function\":{\"name\":\"search\",\"arguments\":"
    "\"{\\\"q\\\":\\\"\\\\u00\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"ty\\\":\\\"Pa\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":"
    "{\"arguments\":\"e9\\\"}\"}},{\"index\":0,\"function\":{\"arguments\":\"ris\\\"}\"}}]},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":20,"
    "\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n"
    "data: [DONE]\n\n";

static const char tools_want[] = "C:call_a,get_weather,{\"city\":\"Paris\"}|"
				 "C:call_b,search,{\"q\":\"\\u00e9\"}|"
				 "U:50,0,0,20|D:tool_calls|";

static void
test_stream_text_usage(void **state)
{
	(void)state;
	check_stream(text_body, 0, text_want);
	check_splits(text_body, text_want, 1);
}

static void
test_stream_parallel_tool_calls(void **state)
{
	(void)state;
	check_stream(tools_body, 0, tools_want);
	check_splits(tools_body, tools_want, 1);
}

static void
test_stream_tool_call_order(void **state)
{
	(void)state;
	/* Index 1 starts first; calls still fire in index order, and at [DONE]
	 * when no finish_reason came. Missing id, name and arguments get defaults. */
	check_stream("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"b\","
		     "\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}\n\n"
		     "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\","
		     "\"function\":{\"name\":\"f\"}}]}}]}\n\n"
		     "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":2,"
		     "\"function\":{\"arguments\":\"[1]\"}}]}}]}\n\n"
		     "data: [DONE]\n\n",
	    0, "C:a,f,{}|C:b,g,{}|C:call_2,,[1]|D:tool_calls|");
	/* Fragments without an index: an id starts a call, the rest continue it. */
	check_stream("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"a\","
		     "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\n\n"
		     "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{"
		     "\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n"
		     "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"b\","
		     "\"function\":{\"name\":\"g\"}}]}}]}\n\n"
		     "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
		     "data: [DONE]\n\n",
	    0, "C:a,f,{\"x\":1}|C:b,g,{}|D:tool_calls|");
	/* The same id or another name repeated in later fragments changes nothing. */
	check_stream("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\","
		     "\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]}}]}\n\n"
		     "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\","
		     "\"function\":{\"name\":\"q\",\"arguments\":\"}\"}}]}}]}\n\n"
		     "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
	    0, "C:a,f,{}|");
	/* Another id at an index in use starts a new call there (servers that put
	 * every call at index 0); later fragments of that index continue it. */
	check_stream("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\","
		     "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n"
		     "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"c\","
		     "\"function\":{\"name\":\"h\"}}]}}]}\n\n"
		     "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"b\","
		     "\"function\":{\"name\":\"g\",\"arguments\":\"[\"}}]}}]}\n\n"
		     "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
		     "\"function\":{\"arguments\":\"]\"}}]}}]}\n\n"
		     "data: [DONE]\n\n",
	    0, "C:a,f,{}|C:b,g,[]|C:c,h,{}|D:tool_calls|");
	/* At most 128 calls in one message. */
	{
		struct rec r = { NULL, 0 };
		struct openai_stream *s = stream_new(&r);
		char buf[160];
		int i, rc = 0, n;

		for (i = 0; i < 129 && rc == 0; i++) {
			n = snprintf(buf, sizeof(buf),
			    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
			    "\"id\":\"id%d\"}]}}]}\n\n",
			    i);
			assert_true(n > 0 && (size_t)n < sizeof(buf));
			rc = openai_stream_feed(s, buf, (size_t)n);
		}
		assert_int_equal(rc, -1);
		assert_int_equal(i, 129);
		assert_null(r.p);
		openai_stream_free(s);
	}
}

static void
test_stream_done_state(void **state)
{
	struct rec r = { NULL, 0 };
	struct openai_stream *s = stream_new(&r);
	const char *a = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";

	(void)state;
	assert_int_equal(openai_stream_feed(s, a, strlen(a)), 0);
	assert_int_equal(openai_stream_finished(s), 0);
	assert_int_equal(feed_str(s, "data: [DONE]"), 0);
	/* Not dispatched until the blank line. */
	assert_int_equal(openai_stream_finished(s), 0);
	assert_int_equal(feed_str(s, "\n\n"), 0);
	assert_int_equal(openai_stream_finished(s), 1);
	/* Anything after [DONE], even garbage, is ignored. */
	assert_int_equal(openai_stream_feed(s, a, strlen(a)), 0);
	assert_int_equal(feed_str(s, "data: {bad\n\n"), 0);
	assert_string_equal(r.p, "T:x|D:stop|");
	openai_stream_free(s);
	free(r.p);

	/* No [DONE]: nothing finishes, usage and done never fire. */
	check_stream(
	    "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"length\"}]}"
	    "\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}"
	    "\n\n",
	    0, "T:x|");
	check_stream(
	    "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"length\"}]}"
	    "\n\ndata: [DONE]\n\n",
	    0, "T:x|D:length|");
}

static void
test_stream_usage_variants(void **state)
{
	(void)state;
	/* Usage in every chunk (vLLM continuous stats): reported once, the last. */
	check_stream(
	    "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":{\"prompt_tokens\":"
	    "9,\"completion_tokens\":1}}\n\n"
	    "data: {\"choices\":[{\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}],"
	    "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
	    "\"prompt_tokens_details\":{\"cached_tokens\":3}}}\n\n"
	    "data: [DONE]\n\n",
	    0, "T:a|T:b|U:9,3,0,2|D:stop|");
	/* Odd values count as 0; null details are fine. */
	check_stream("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":-4,\"completion_tokens\":"
		     "\"7\",\"prompt_tokens_details\":null}}\n\ndata: [DONE]\n\n",
	    0, "U:0,0,0,0|D:stop|");
	/* Large counts survive up to the maximum per call (MONEY_TOKENS_MAX). */
	check_stream("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":90000000,"
		     "\"completion_tokens\":1,\"prompt_tokens_details\":{\"cached_tokens\":"
		     "80000000}}}\n\ndata: [DONE]\n\n",
	    0, "U:90000000,80000000,0,1|D:stop|");
	/*
	 * Absurd counts are clamped at the edge (issue 14, poison-pill runs):
	 * 9e18 tokens cost INT64_MAX nano-dollars and overflowed the rollup;
	 * cached tokens are part of the prompt and never exceed it.
	 */
	check_stream("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9000000000000000000,"
		     "\"completion_tokens\":9223372036854775807,\"prompt_tokens_details\":"
		     "{\"cached_tokens\":8000000000}}}\n\ndata: [DONE]\n\n",
	    0, "U:100000000,100000000,0,100000000|D:stop|");
	check_stream("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,"
		     "\"completion_tokens\":-9223372036854775807,\"prompt_tokens_details\":"
		     "{\"cached_tokens\":50}}}\n\ndata: [DONE]\n\n",
	    0, "U:10,10,0,0|D:stop|");
}

static void
test_stream_reasoning_synonym(void **state)
{
	(void)state;
	check_stream(
	    "data: {\"choices\":[{\"delta\":{\"reasoning\":\"r\",\"content\":\"c\"}}]}\n\n"
	    "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"a\",\"reasoning\":\"b\"}}]}"
	    "\n\ndata: {\"choices\":[{\"delta\":{\"reasoning_content\":null,\"content\":null}}]}"
	    "\n\n",
	    0, "K:r|T:c|K:a|");
}

static void
test_stream_error(void **state)
{
	(void)state;
	check_stream("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
		     "data: {\"error\":{\"message\":\"Rate limit\",\"type\":\"rate_limit_error\","
		     "\"code\":null}}\n\n",
	    0, "T:x|E:rate_limit_error: Rate limit|");
	check_stream("data: {\"error\":{\"message\":\"boom\"}}\n\n", 0, "E:boom|");
	check_stream("data: {\"error\":\"plain\"}\n\n", 0, "E:plain|");
	check_stream("data: {\"error\":{\"code\":500}}\n\n", 0, "E:{\"code\":500}|");
	/* event: error with the same shape, and "error": null is not an error. */
	check_stream(
	    "event: error\ndata: {\"error\":{\"message\":\"m\",\"type\":\"t\"}}\n\n", 0, "E:t: m|");
	check_stream("data: {\"error\":null,\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n", 0,
	    "T:ok|");
}

static void
test_stream_malformed(void **state)
{
	struct rec r = { NULL, 0 };
	struct openai_stream *s;

	(void)state;
	check_stream("data: {\"choices\":[\n\n", -1, "");
	check_stream("data: [1,2]\n\n", -1, "");
	check_stream("data: \"s\"\n\n", -1, "");
	check_stream("data: [DONE] \n\n", -1, "");
	check_stream(
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":128}]}}]}\n\n", -1, "");
	check_stream(
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":-1}]}}]}\n\n", -1, "");
	check_stream("data: {\"choices\":[{\"delta\":{\"tool_calls\":[7]}}]}\n\n", -1, "");
	/* Events before the bad one fired; the parser then stays failed. */
	s = stream_new(&r);
	assert_int_equal(
	    feed_str(s,
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {x}\n\n"
		"data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n"),
	    -1);
	assert_int_equal(feed_str(s, "data: [DONE]\n\n"), -1);
	assert_int_equal(openai_stream_finished(s), 0);
	assert_string_equal(r.p, "T:a|");
	openai_stream_free(s);
	free(r.p);
	/* Empty data and non-data lines are not malformed. */
	check_stream("data:\n\n{\"not\":\"sse\"}\n\nretry: 5\n\n", 0, "");
	/* \u0000 inside content is passed through with its length. */
	{
		struct rec r2 = { NULL, 0 };

		s = stream_new(&r2);
		assert_int_equal(
		    feed_str(
			s, "data: {\"choices\":[{\"delta\":{\"content\":\"a\\u0000b\"}}]}\n\n"),
		    0);
		assert_int_equal(r2.len, 6);
		assert_memory_equal(r2.p, "T:a\0b|", 6);
		openai_stream_free(s);
		free(r2.p);
	}
}

static void
test_stream_limits(void **state)
{
	struct rec r = { NULL, 0 };
	struct openai_stream *s;
	size_t frag = 512 * 1024, i;
	const char *head =
	    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
	    "{\"arguments\":\"";
	const char *tail = "\"}}]}}]}\n\n";
	char *big;
	int rc = 0;

	(void)state;
	/* One event over 1 MiB. */
	big = malloc(2 * 1024 * 1024);
	assert_non_null(big);
	memcpy(big, "data: \"", 7);
	memset(big + 7, 'a', 2 * 1024 * 1024 - 7);
	s = stream_new(&r);
	assert_int_equal(openai_stream_feed(s, big, 2 * 1024 * 1024), -1);
	openai_stream_free(s);

	/* One call's arguments over 4 MiB, in events that each fit. */
	s = stream_new(&r);
	for (i = 0; i < 10 && rc == 0; i++) {
		rc = openai_stream_feed(s, head, strlen(head));
		if (rc == 0) {
			memset(big, 'x', frag);
			rc = openai_stream_feed(s, big, frag);
		}
		if (rc == 0)
			rc = openai_stream_feed(s, tail, strlen(tail));
	}
	assert_int_equal(rc, -1);
	assert_int_equal(i, 9);
	assert_null(r.p);
	openai_stream_free(s);
	free(big);
}

static void
test_stream_null_callbacks(void **state)
{
	struct llm_events ev = { NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	struct openai_stream *s = openai_stream_new(&ev);

	(void)state;
	assert_non_null(s);
	assert_int_equal(openai_stream_feed(s, tools_body, strlen(tools_body)), 0);
	assert_int_equal(openai_stream_finished(s), 1);
	openai_stream_free(s);
	s = openai_stream_new(NULL);
	assert_non_null(s);
	assert_int_equal(openai_stream_feed(s, text_body, strlen(text_body)), 0);
	openai_stream_free(s);
	s = openai_stream_new(&ev);
	assert_int_equal(feed_str(s, "data: {\"error\":{}}\n\n"), 0);
	openai_stream_free(s);
	openai_stream_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_basic),
		cmocka_unit_test(test_build_tools_and_history),
		cmocka_unit_test(test_build_refused),
		cmocka_unit_test(test_stream_text_usage),
		cmocka_unit_test(test_stream_parallel_tool_calls),
		cmocka_unit_test(test_stream_tool_call_order),
		cmocka_unit_test(test_stream_done_state),
		cmocka_unit_test(test_stream_usage_variants),
		cmocka_unit_test(test_stream_reasoning_synonym),
		cmocka_unit_test(test_stream_error),
		cmocka_unit_test(test_stream_malformed),
		cmocka_unit_test(test_stream_limits),
		cmocka_unit_test(test_stream_null_callbacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
