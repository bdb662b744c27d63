/* anthropic_*: Messages API request bodies and the streamed reply parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/providers/anthropic.h"

#define LLM_P(x) anthropic_##x
#include "llm_recorder.h"

#define HI "[{\"role\":\"user\",\"content\":\"hi\"}]"
#define HEAD(max) "{\"model\":\"m\",\"stream\":true,\"max_tokens\":" #max ","
#define HI_MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static void
test_build_basic(void **state)
{
	(void)state;
	check_request("claude-x",
	    "{\"max_tokens\":1000,\"temperature\":0.5,\"top_p\":0.9,\"stop_sequences\":[\"X\"],"
	    "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":500},\"foo\":1,\"seed\":3,"
	    "\"stream\":false,\"top_k\":null,\"stop\":\"ignored\"}",
	    "sys", HI, NULL,
	    "{\"model\":\"claude-x\",\"stream\":true,\"max_tokens\":1000,\"system\":\"sys\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":0.5,"
	    "\"top_p\":0.9,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":500},"
	    "\"stop_sequences\":[\"X\"]}");
	/* max_tokens defaults unless a positive integer; no system when empty or NULL. */
	check_request("m", NULL, "", HI, NULL, HEAD(4096) HI_MSGS "}");
	check_request("m", "{}", NULL, HI, "[]", HEAD(4096) HI_MSGS "}");
	check_request("m", "{\"max_tokens\":\"100\"}", "", HI, NULL, HEAD(4096) HI_MSGS "}");
	check_request("m", "{\"max_tokens\":0}", "", HI, NULL, HEAD(4096) HI_MSGS "}");
	check_request("m", "{\"max_tokens\":1.5}", "", HI, NULL, HEAD(4096) HI_MSGS "}");
	check_request("m", "{\"max_tokens\":64000}", "", HI, NULL, HEAD(64000) HI_MSGS "}");
	/* "stop" stands in for stop_sequences; a string becomes an array. */
	check_request("m", "{\"stop\":\"END\"}", "", HI, NULL,
	    HEAD(4096) HI_MSGS ",\"stop_sequences\":[\"END\"]}");
	check_request("m", "{\"stop\":[\"a\",\"b\"],\"stop_sequences\":null}", "", HI, NULL,
	    HEAD(4096) HI_MSGS ",\"stop_sequences\":[\"a\",\"b\"]}");
}

static void
test_build_tools_and_history(void **state)
{
	(void)state;
	check_request("m", NULL, "be brief",
	    "[{\"role\":\"user\",\"content\":\"weather?\"},"
	    "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
	    "{\"id\":\"c1\",\"name\":\"get\",\"arguments\":{\"a\":1}},"
	    "{\"id\":\"c2\",\"name\":\"put\",\"arguments\":\"{\\\"b\\\":[2]}\"},"
	    "{\"id\":\"c3\",\"name\":\"nop\"},"
	    "{\"id\":\"c4\",\"name\":\"bad\",\"arguments\":\"[1]\"}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"name\":\"get\",\"content\":\"r1\"},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":{\"ok\":true}},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c3\"},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c4\",\"content\":\"r4\"},"
	    "{\"role\":\"user\",\"content\":\"and?\"},"
	    "{\"role\":\"assistant\",\"content\":\"checking\",\"tool_calls\":["
	    "{\"id\":\"c5\",\"name\":\"get\",\"arguments\":{}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"c5\",\"content\":\"r5\"},"
	    "{\"role\":\"assistant\",\"content\":\"done\"},"
	    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]}]",
	    "[{\"name\":\"get\",\"description\":\"G\",\"parameters\":{\"type\":\"object\","
	    "\"properties\":{\"a\":{\"type\":\"integer\"}}}},{\"name\":\"put\",\"parameters\":7}]",
	    "{\"model\":\"m\",\"stream\":true,\"max_tokens\":4096,\"system\":\"be brief\","
	    "\"messages\":["
	    "{\"role\":\"user\",\"content\":\"weather?\"},"
	    "{\"role\":\"assistant\",\"content\":["
	    "{\"type\":\"tool_use\",\"id\":\"c1\",\"name\":\"get\",\"input\":{\"a\":1}},"
	    "{\"type\":\"tool_use\",\"id\":\"c2\",\"name\":\"put\",\"input\":{\"b\":[2]}},"
	    "{\"type\":\"tool_use\",\"id\":\"c3\",\"name\":\"nop\",\"input\":{}},"
	    "{\"type\":\"tool_use\",\"id\":\"c4\",\"name\":\"bad\",\"input\":{}}]},"
	    "{\"role\":\"user\",\"content\":["
	    "{\"type\":\"tool_result\",\"tool_use_id\":\"c1\",\"content\":\"r1\"},"
	    "{\"type\":\"tool_result\",\"tool_use_id\":\"c2\",\"content\":\"{\\\"ok\\\":true}\"},"
	    "{\"type\":\"tool_result\",\"tool_use_id\":\"c3\",\"content\":\"\"},"
	    "{\"type\":\"tool_result\",\"tool_use_id\":\"c4\",\"content\":\"r4\"}]},"
	    "{\"role\":\"user\",\"content\":\"and?\"},"
	    "{\"role\":\"assistant\",\"content\":["
	    "{\"type\":\"text\",\"text\":\"checking\"},"
	    "{\"type\":\"tool_use\",\"id\":\"c5\",\"name\":\"get\",\"input\":{}}]},"
	    "{\"role\":\"user\",\"content\":["
	    "{\"type\":\"tool_result\",\"tool_use_id\":\"c5\",\"content\":\"r5\"}]},"
	    "{\"role\":\"assistant\",\"content\":\"done\"},"
	    "{\"role\":\"assistant\",\"content\":\"\"}],"
	    "\"tools\":[{\"name\":\"get\",\"description\":\"G\",\"input_schema\":{\"type\":"
	    "\"object\","
	    "\"properties\":{\"a\":{\"type\":\"integer\"}}}},"
	    "{\"name\":\"put\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}}]}");
	/* A tool result first, and results split by an assistant turn, stay apart. */
	check_request("m", NULL, "",
	    "[{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"1\"},"
	    "{\"role\":\"assistant\",\"content\":\"x\"},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"b\",\"content\":\"2\"}]",
	    NULL,
	    "{\"model\":\"m\",\"stream\":true,\"max_tokens\":4096,\"messages\":["
	    "{\"role\":\"user\",\"content\":["
	    "{\"type\":\"tool_result\",\"tool_use_id\":\"a\",\"content\":\"1\"}]},"
	    "{\"role\":\"assistant\",\"content\":\"x\"},"
	    "{\"role\":\"user\",\"content\":["
	    "{\"type\":\"tool_result\",\"tool_use_id\":\"b\",\"content\":\"2\"}]}]}");
}

static void
check_refused(const char *model, const char *messages, const char *tools)
{
	json_t *m = load(messages), *t = tools ? load(tools) : NULL;
	struct llm_request rq = { model, NULL, "", m, t };

	assert_null(anthropic_build_request(&rq));
	json_decref(m);
	json_decref(t);
}

static void
test_build_refused(void **state)
{
	struct llm_request rq = { "m", NULL, "", NULL, NULL };

	(void)state;
	assert_null(anthropic_build_request(NULL));
	assert_null(anthropic_build_request(&rq));
	check_refused(NULL, "[]", NULL);
	check_refused("m", "{}", NULL);
	check_refused("m", "[null]", NULL);
	check_refused("m", "[{\"role\":7}]", NULL);
	check_refused("m", "[{\"role\":\"system\",\"content\":\"x\"}]", NULL);
	check_refused("m", "[{\"role\":\"tool\"},{\"role\":\"developer\"}]", NULL);
	check_refused("m", "[{\"role\":\"assistant\",\"tool_calls\":[\"x\"]}]", NULL);
	check_refused("m", "[]", "[{\"description\":\"no name\"}]");
	check_refused("m", "[]", "[{\"name\":3}]");
	{
		json_t *m = load("[]");
		struct llm_request bad = { "m", NULL, "\xff", m, NULL };

		assert_null(anthropic_build_request(&bad));
		json_decref(m);
	}
}

/* --- streams -------------------------------------------------------------- */

static const char full_body[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
    "\"model\":\"c\",\"stop_reason\":null,\"usage\":{\"input_tokens\":25,"
    "\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":1000,"
    "\"output_tokens\":1}}}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me think\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"signature_delta\",\"signature\":\"c2ln\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n"
    "\n"
    "event: ping\r\n"
    "data: {\"type\": \"ping\"}\r\n"
    "\r\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking \\u00e9\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":2,"
    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\","
    "\"name\":\"get_weather\",\"input\":{}}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,"
    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,"
    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"loc\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,"
    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ation\\\": \\\"S\\\\u00e"
    "9\\\"}\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":2}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":3,"
    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_2\","
    "\"name\":\"noop\",\"input\":{}}}\n"
    "\n"
    ": a comment\r"
    "\r"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":3}\n"
    "\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n"
    "\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n"
    "\n";

static const char full_want[] = "K:Let me think|T:Checking \xc3\xa9|C:toolu_1,get_weather,"
				"{\"location\": \"S\\u00e9\"}|C:toolu_2,noop,{}|U:1125,"
				"1000,100,89|D:tool_use|";

static const char plain_body[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,"
    "\"output_tokens\":0}}}\n"
    "\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"Hi\"}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\" there\\n\"}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n"
    "\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
    "\"usage\":{\"output_tokens\":3}}\n"
    "\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n"
    "\n";

static const char stop_event[] = "event: message_stop\n"
				 "data: {\"type\":\"message_stop\"}\n"
				 "\n";

static void
test_stream_full(void **state)
{
	(void)state;
	check_stream(full_body, 0, full_want);
	check_splits(full_body, full_want, 1);
}

static void
test_stream_plain_text(void **state)
{
	(void)state;
	check_stream(plain_body, 0, "T:Hi|T: there\n|U:10,0,0,3|D:end_turn|");
	check_splits(plain_body, "T:Hi|T: there\n|U:10,0,0,3|D:end_turn|", 1);
}

static void
test_stream_edges(void **state)
{
	(void)state;
	/* No message_delta: end_turn; no message_start: no usage. */
	check_stream("event: message_stop\n"
		     "data: {\"type\":\"message_stop\"}\n"
		     "\n",
	    0, "D:end_turn|");
	/* message_delta usage replaces the counts it carries. */
	check_stream(
	    "event: message_start\n"
	    "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,"
	    "\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n"
	    "\n"
	    "event: message_delta\n"
	    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},"
	    "\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":3,"
	    "\"output_tokens\":7}}\n"
	    "\n"
	    "event: message_stop\n"
	    "data: {\"type\":\"message_stop\"}\n"
	    "\n",
	    0, "U:20,5,3,7|D:max_tokens|");
	/*
	 * Absurd counts are clamped one by one (their sum, the prompt, used to
	 * overflow) and then as a usage (issue 14, poison-pill runs).
	 */
	check_stream("event: message_start\n"
		     "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":"
		     "9223372036854775807,\"cache_read_input_tokens\":9223372036854775807,"
		     "\"cache_creation_input_tokens\":5,\"output_tokens\":-3}}}\n"
		     "\n"
		     "event: message_stop\n"
		     "data: {\"type\":\"message_stop\"}\n"
		     "\n",
	    0, "U:100000000,100000000,0,0|D:end_turn|");
	check_stream("event: message_start\n"
		     "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":"
		     "7,\"cache_read_input_tokens\":2,\"cache_creation_input_tokens\":1,"
		     "\"output_tokens\":400000000}}}\n"
		     "\n"
		     "event: message_stop\n"
		     "data: {\"type\":\"message_stop\"}\n"
		     "\n",
	    0, "U:10,2,1,100000000|D:end_turn|");
	/* The type comes from the data; the SSE event name only when data has none. */
	check_stream("event: whatever\n"
		     "data: {\"type\":\"message_stop\"}\n"
		     "\n",
	    0, "D:end_turn|");
	check_stream("event: message_stop\n"
		     "data: {}\n"
		     "\n",
	    0, "D:end_turn|");
	check_stream("data: {\"type\":\"message_stop\"}\n"
		     "\n",
	    0, "D:end_turn|");
	/* No type and no event name: the default "message" type is unknown, so ignored. */
	check_stream("data: {}\n"
		     "\n",
	    0, "");
	/* A tool_use block never stopped fires at message_stop, in index order; a
	 * non-empty start input is used when no deltas came. */
	check_stream("event: x\n"
		     "data: {\"type\":\"content_block_start\",\"index\":1,"
		     "\"content_block\":{\"type\":\"tool_use\",\"id\":\"b\","
		     "\"name\":\"g\",\"input\":{\"k\":1}}}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_start\",\"index\":0,"
		     "\"content_block\":{\"type\":\"tool_use\",\"id\":\"a\","
		     "\"name\":\"f\"}}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_delta\",\"index\":0,"
		     "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"[\"}}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"message_stop\"}\n"
		     "\n",
	    0, "C:a,f,[|C:b,g,{\"k\":1}|D:end_turn|");
	/* A restarted index forgets the earlier block. */
	check_stream(
	    "event: x\n"
	    "data: {\"type\":\"content_block_start\",\"index\":0,"
	    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"a\","
	    "\"name\":\"f\"}}\n"
	    "\n"
	    "event: x\n"
	    "data: {\"type\":\"content_block_delta\",\"index\":0,"
	    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"x\\\":1}\"}}\n"
	    "\n"
	    "event: x\n"
	    "data: {\"type\":\"content_block_start\",\"index\":0,"
	    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n"
	    "\n"
	    "event: x\n"
	    "data: {\"type\":\"content_block_stop\",\"index\":0}\n"
	    "\n"
	    "event: x\n"
	    "data: {\"type\":\"message_stop\"}\n"
	    "\n",
	    0, "D:end_turn|");
	/* Unknown events, block types and delta types are ignored; deltas for
	 * blocks never started or already stopped too. */
	check_stream("event: x\n"
		     "data: {\"type\":\"future_event\",\"index\":0}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_start\",\"index\":0,"
		     "\"content_block\":{\"type\":\"redacted_thinking\","
		     "\"data\":\"zz\"}}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_delta\",\"index\":0,"
		     "\"delta\":{\"type\":\"citations_delta\",\"citation\":{}}}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_delta\",\"index\":5,"
		     "\"delta\":{\"type\":\"text_delta\",\"text\":\"lost\"}}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_stop\",\"index\":0}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_delta\",\"index\":0,"
		     "\"delta\":{\"type\":\"text_delta\",\"text\":\"late\"}}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_stop\",\"index\":9}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_stop\",\"index\":-1}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_delta\",\"delta\":{}}\n"
		     "\n",
	    0, "");
	/* An input_json_delta on a text block adds nothing; a block start without
	 * content_block is an ignored block. */
	check_stream("event: x\n"
		     "data: {\"type\":\"content_block_start\",\"index\":0,"
		     "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_delta\",\"index\":0,"
		     "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_stop\",\"index\":0}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_start\",\"index\":1}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"content_block_delta\",\"index\":1,"
		     "\"delta\":{\"type\":\"text_delta\",\"text\":\"t\"}}\n"
		     "\n",
	    0, "T:t|");
}

static void
test_stream_error(void **state)
{
	(void)state;
	check_stream("event: error\n"
		     "data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
		     "\"message\":\"Overloaded\"}}\n"
		     "\n",
	    0, "E:overloaded_error: Overloaded|");
	check_stream("event: error\n"
		     "data: {\"type\":\"error\",\"error\":{\"message\":\"m\"}}\n"
		     "\n",
	    0, "E:m|");
	check_stream("event: error\n"
		     "data: {\"type\":\"error\",\"error\":\"s\"}\n"
		     "\n",
	    0, "E:s|");
	check_stream("event: error\n"
		     "data: {\"type\":\"error\",\"error\":{\"code\":1}}\n"
		     "\n",
	    0, "E:{\"code\":1}|");
	check_stream("event: error\n"
		     "data: {\"type\":\"error\"}\n"
		     "\n",
	    0, "E:error|");
	/* Errors do not end the stream. */
	check_stream("event: error\n"
		     "data: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
		     "\"message\":\"x\"}}\n"
		     "\n"
		     "event: x\n"
		     "data: {\"type\":\"message_stop\"}\n"
		     "\n",
	    0, "E:api_error: x|D:end_turn|");
}

static void
test_stream_done_state(void **state)
{
	struct rec r = { NULL, 0 };
	struct anthropic_stream *s = stream_new(&r);

	(void)state;
	assert_int_equal(anthropic_stream_finished(s), 0);
	assert_int_equal(feed_str(s, stop_event), 0);
	assert_int_equal(anthropic_stream_finished(s), 1);
	/* Anything after message_stop, even garbage, is ignored. */
	assert_int_equal(feed_str(s, "data: {garbage\n\n"), 0);
	assert_int_equal(feed_str(s, stop_event), 0);
	assert_string_equal(r.p, "D:end_turn|");
	anthropic_stream_free(s);
	free(r.p);
}

static void
test_stream_malformed(void **state)
{
	struct rec r = { NULL, 0 };
	struct anthropic_stream *s;

	(void)state;
	check_stream("data: {\"type\":\n"
		     "\n",
	    -1, "");
	check_stream("data: [1]\n"
		     "\n",
	    -1, "");
	check_stream("data: 1\n"
		     "\n",
	    -1, "");
	check_stream("event: x\n"
		     "data: {\"type\":\"content_block_start\",\"index\":256,"
		     "\"content_block\":{\"type\":\"text\"}}\n"
		     "\n",
	    -1, "");
	check_stream("event: x\n"
		     "data: {\"type\":\"content_block_start\",\"index\":-1,"
		     "\"content_block\":{\"type\":\"text\"}}\n"
		     "\n",
	    -1, "");
	check_stream("event: x\n"
		     "data: {\"type\":\"content_block_start\",\"index\":\"0\","
		     "\"content_block\":{\"type\":\"text\"}}\n"
		     "\n",
	    -1, "");
	check_stream(
	    "event: x\n"
	    "data: {\"type\":\"content_block_start\",\"content_block\":{\"type\":\"text\"}}\n"
	    "\n",
	    -1, "");
	/* Events before the bad one fired; the parser then stays failed. */
	s = stream_new(&r);
	assert_int_equal(feed_str(s,
			     "event: x\n"
			     "data: {\"type\":\"content_block_start\",\"index\":0,"
			     "\"content_block\":{\"type\":\"text\",\"text\":\"a\"}}\n"
			     "\n"
			     "data: nope\n"
			     "\n"
			     "event: x\n"
			     "data: {\"type\":\"message_stop\"}\n"
			     "\n"),
	    -1);
	assert_int_equal(feed_str(s, stop_event), -1);
	assert_int_equal(anthropic_stream_finished(s), 0);
	assert_string_equal(r.p, "T:a|");
	anthropic_stream_free(s);
	free(r.p);
}

static void
test_stream_limits(void **state)
{
	struct rec r = { NULL, 0 };
	struct anthropic_stream *s;
	size_t frag = 512 * 1024, i;
	const char *head = "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
			   "{\"type\":\"input_json_delta\",\"partial_json\":\"";
	const char *tail = "\"}}\n\n";
	char *big;
	int rc = 0;

	(void)state;
	/* One event over 1 MiB. */
	big = malloc(2 * 1024 * 1024);
	assert_non_null(big);
	memcpy(big, "data: \"", 7);
	memset(big + 7, 'a', 2 * 1024 * 1024 - 7);
	s = stream_new(&r);
	assert_int_equal(anthropic_stream_feed(s, big, 2 * 1024 * 1024), -1);
	anthropic_stream_free(s);

	/* One tool_use input over 4 MiB, in events that each fit. */
	s = stream_new(&r);
	assert_int_equal(feed_str(s,
			     "event: x\n"
			     "data: {\"type\":\"content_block_start\",\"index\":0,"
			     "\"content_block\":{\"type\":\"tool_use\",\"id\":\"a\","
			     "\"name\":\"f\"}}\n"
			     "\n"),
	    0);
	for (i = 0; i < 10 && rc == 0; i++) {
		rc = feed_str(s, head);
		if (rc == 0) {
			memset(big, 'x', frag);
			rc = anthropic_stream_feed(s, big, frag);
		}
		if (rc == 0)
			rc = feed_str(s, tail);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(i, 9);
	assert_null(r.p);
	anthropic_stream_free(s);
	free(big);
}

static void
test_stream_null_callbacks(void **state)
{
	struct llm_events ev = { NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	struct anthropic_stream *s = anthropic_stream_new(&ev);

	(void)state;
	assert_non_null(s);
	assert_int_equal(anthropic_stream_feed(s, full_body, strlen(full_body)), 0);
	assert_int_equal(anthropic_stream_finished(s), 1);
	anthropic_stream_free(s);
	s = anthropic_stream_new(NULL);
	assert_non_null(s);
	assert_int_equal(feed_str(s, "data: {\"type\":\"error\",\"error\":{}}\n\n"), 0);
	assert_int_equal(anthropic_stream_feed(s, full_body, strlen(full_body)), 0);
	anthropic_stream_free(s);
	anthropic_stream_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_basic),
		cmocka_unit_test(test_build_tools_and_history),
		cmocka_unit_test(test_build_refused),
		cmocka_unit_test(test_stream_full),
		cmocka_unit_test(test_stream_plain_text),
		cmocka_unit_test(test_stream_edges),
		cmocka_unit_test(test_stream_error),
		cmocka_unit_test(test_stream_done_state),
		cmocka_unit_test(test_stream_malformed),
		cmocka_unit_test(test_stream_limits),
		cmocka_unit_test(test_stream_null_callbacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
