/* frames_* (the stream worker's event frames) and the record helpers of fcgi_proto. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/fcgi_proto.h"
#include "stream/frames.h"

#define RUN "run_0123456789abcdef0123456789abcdef"

/* Walks the records of buf: checks each header, concatenates the content. */
static char *
records_content(const struct fbuf *b, uint16_t id, int *nrec)
{
	char *out = calloc(1, b->len + 1);
	size_t off = 0, olen = 0;

	assert_non_null(out);
	*nrec = 0;
	while (off < b->len) {
		const unsigned char *h = b->p + off;
		size_t clen;

		assert_true(b->len - off >= FCGI_HEADER_LEN);
		assert_int_equal(h[0], FCGI_VERSION_1);
		assert_int_equal(h[1], FCGI_STDOUT);
		assert_int_equal((h[2] << 8) | h[3], id);
		clen = (size_t)((h[4] << 8) | h[5]);
		assert_true(clen > 0); /* an empty STDOUT record would end the stream */
		assert_int_equal(h[6], 0);
		assert_true(b->len - off - FCGI_HEADER_LEN >= clen);
		memcpy(out + olen, h + FCGI_HEADER_LEN, clen);
		olen += clen;
		off += FCGI_HEADER_LEN + clen;
		(*nrec)++;
	}
	return out;
}

static void
test_sse_frame(void **state)
{
	struct fbuf b = { 0 };
	struct frames_event ev = { 42, RUN, "message.delta", "{\"content\":\"hi\"}",
		"2026-11-23 10:00:00.123" };
	char *text;
	int nrec;

	(void)state;
	assert_int_equal(frames_sse(&b, 1, &ev), 0);
	text = records_content(&b, 1, &nrec);
	assert_int_equal(nrec, 1);
	assert_string_equal(text,
	    "id: 42\nevent: message.delta\ndata: {\"seq\":42,\"run_id\":\"" RUN "\","
	    "\"type\":\"message.delta\",\"data\":{\"content\":\"hi\"},"
	    "\"created_at\":\"2026-11-23T10:00:00.123Z\"}\n\n");
	free(text);
	fbuf_free(&b);
}

static void
test_sse_frame_session_event_appends(void **state)
{
	struct fbuf b = { 0 };
	struct frames_event e1 = { 7, NULL, "session.closed", "{}", "2026-01-02 03:04:05" };
	struct frames_event e2 = { 1234567890123LL, RUN, "run.started", "{}",
		"2026-01-02 03:04:05.5" };
	char *text;
	int nrec;

	(void)state;
	assert_int_equal(frames_sse(&b, 300, &e1), 0);
	assert_int_equal(frames_sse(&b, 300, &e2), 0);
	text = records_content(&b, 300, &nrec);
	assert_int_equal(nrec, 2);
	assert_string_equal(text,
	    "id: 7\nevent: session.closed\ndata: {\"seq\":7,\"run_id\":null,"
	    "\"type\":\"session.closed\",\"data\":{},\"created_at\":\"2026-01-02T03:04:05.000Z\"}"
	    "\n\n"
	    "id: 1234567890123\nevent: run.started\ndata: {\"seq\":1234567890123,\"run_id\":\"" RUN
	    "\",\"type\":\"run.started\",\"data\":{},\"created_at\":\"2026-01-02T03:04:05.500Z\"}"
	    "\n\n");
	free(text);
	fbuf_free(&b);
}

static void
test_sse_frame_over_64k_splits(void **state)
{
	size_t big = 200000;
	char *data = malloc(big + 3), *text, *expect;
	struct fbuf b = { 0 };
	struct frames_event ev = { 3, RUN, "tool.result", NULL, "2026-01-02 03:04:05.000" };
	int nrec, n;

	(void)state;
	assert_non_null(data);
	data[0] = '"';
	memset(data + 1, 'x', big);
	data[big + 1] = '"';
	data[big + 2] = '\0';
	ev.data = data;
	assert_int_equal(frames_sse(&b, 1, &ev), 0);
	text = records_content(&b, 1, &nrec);
	assert_int_equal(nrec, 4); /* ~200 KB in records of at most 65535 bytes */
	expect = malloc(big + 512);
	assert_non_null(expect);
	n = snprintf(expect, big + 512,
	    "id: 3\nevent: tool.result\ndata: "
	    "{\"seq\":3,\"run_id\":\"%s\",\"type\":\"tool.result\","
	    "\"data\":%s,\"created_at\":\"2026-01-02T03:04:05.000Z\"}\n\n",
	    RUN, data);
	assert_true(n > 0);
	assert_string_equal(text, expect);
	free(expect);
	free(text);
	free(data);
	fbuf_free(&b);
}

static void
test_sse_frame_full_buffer_leaves_it_unchanged(void **state)
{
	struct fbuf b = { 0 };
	struct frames_event ev = { 1, RUN, "message.delta", "{\"content\":\"hello\"}",
		"2026-01-02 03:04:05" };
	size_t before;

	(void)state;
	b.max = 200;
	assert_int_equal(frames_sse(&b, 1, &ev), 0);
	before = b.len;
	assert_int_equal(frames_sse(&b, 1, &ev), -1);
	assert_int_equal(b.len, before);
	fbuf_free(&b);
}

/* The execution frame of one event, as text ("" when none). */
static char *
exec_text(const char *type, const char *data)
{
	struct fbuf b = { 0 };
	struct frames_event ev = { 9, RUN, type, data, "2026-01-02 03:04:05" };
	char *text;
	int nrec;

	assert_int_equal(frames_execution(&b, 1, &ev), 0);
	text = records_content(&b, 1, &nrec);
	assert_true(nrec <= 1);
	fbuf_free(&b);
	return text;
}

static void
test_execution_frames(void **state)
{
	static const struct {
		const char *type, *data, *frame;
	} cases[] = {
		{ "message.delta", "{\"content\":\"hi\"}",
		    "id: 9\nevent: content\ndata: {\"type\":\"content\",\"content\":\"hi\"}\n\n" },
		{ "thinking.delta", "{\"content\":\"hm\"}",
		    "id: 9\nevent: thinking\ndata: "
		    "{\"type\":\"thinking\",\"content\":\"hm\"}\n\n" },
		{ "tool.call", "{\"call_id\":\"c1\",\"name\":\"get\",\"arguments\":{\"a\":1}}",
		    "id: 9\nevent: tool_start\ndata: {\"type\":\"tool_start\",\"call_id\":\"c1\","
		    "\"name\":\"get\",\"arguments\":{\"a\":1}}\n\n" },
		{ "tool.result", "{\"call_id\":\"c1\",\"name\":\"get\",\"output\":\"ok\"}",
		    "id: 9\nevent: tool_end\ndata: {\"type\":\"tool_end\",\"call_id\":\"c1\","
		    "\"name\":\"get\",\"output\":\"ok\"}\n\n" },
		{ "run.failed", "{\"error\":{\"code\":\"provider_error\",\"message\":\"boom\"}}",
		    "id: 9\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"code\":"
		    "\"provider_error\",\"message\":\"boom\"}}\n\n" },
		{ "run.completed",
		    "{\"output\":\"done\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,"
		    "\"total_tokens\":7},\"cost_usd\":0.5}",
		    "id: 9\nevent: done\ndata: {\"type\":\"done\",\"status\":\"completed\","
		    "\"output\":\"done\",\"token_usage\":{\"prompt_tokens\":3,\"completion_"
		    "tokens\":4,"
		    "\"total_tokens\":7},\"cost\":0.5}\n\n" },
		{ "run.started", "{}", "" },
		{ "message.completed", "{\"content\":\"x\"}", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = exec_text(cases[i].type, cases[i].data);

		assert_string_equal(text, cases[i].frame);
		free(text);
	}
}

static void
test_record_close_empty_removes_it(void **state)
{
	struct fbuf b = { 0 };
	size_t at;

	(void)state;
	assert_int_equal(fcgi_put_stdout(&b, 1, "ab", 2), 0);
	assert_int_equal(fcgi_record_open(&b, &at), 0);
	assert_int_equal(at, FCGI_HEADER_LEN + 2);
	assert_int_equal(fcgi_record_close(&b, at, FCGI_STDOUT, 1), 0);
	assert_int_equal(b.len, FCGI_HEADER_LEN + 2);
	fbuf_free(&b);
}

static void
test_set_request_id(void **state)
{
	struct fbuf b = { 0 };
	char *text;
	int nrec;

	(void)state;
	assert_int_equal(fcgi_put_stdout(&b, 1, "first", 5), 0);
	assert_int_equal(fcgi_put_stdout(&b, 1, "second", 6), 0);
	fcgi_set_request_id(b.p, b.len, 0x1234);
	text = records_content(&b, 0x1234, &nrec);
	assert_int_equal(nrec, 2);
	assert_string_equal(text, "firstsecond");
	free(text);
	/* A cut record at the end is left alone. */
	fcgi_set_request_id(b.p, b.len - 1, 7);
	assert_int_equal((b.p[2] << 8) | b.p[3], 7);
	assert_int_equal((b.p[15] << 8) | b.p[16], 0x1234);
	fbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sse_frame),
		cmocka_unit_test(test_sse_frame_session_event_appends),
		cmocka_unit_test(test_sse_frame_over_64k_splits),
		cmocka_unit_test(test_sse_frame_full_buffer_leaves_it_unchanged),
		cmocka_unit_test(test_execution_frames),
		cmocka_unit_test(test_record_close_empty_removes_it),
		cmocka_unit_test(test_set_request_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
