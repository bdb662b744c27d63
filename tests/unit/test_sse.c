/* sse_*: the incremental Server-Sent Events parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/providers/sse.h"

/* The events seen, as "<event>(<len>)<data>;" records. */
struct rec {
	char *p;
	size_t len;
	int count;
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
on_event(void *arg, const char *event, const char *data, size_t len)
{
	struct rec *r = arg;
	char head[64];
	int n;

	assert_int_equal(data[len], '\0');
	n = snprintf(head, sizeof(head), "%s(%zu)", event, len);
	assert_true(n > 0 && (size_t)n < sizeof(head));
	rec_put(r, head, (size_t)n);
	rec_put(r, data, len);
	rec_put(r, ";", 1);
	r->count++;
}

/* Parses the whole input in one call; returns sse_feed's result. */
static int
parse_all(const char *in, size_t n, size_t max, struct rec *r)
{
	struct sse_parser *p = sse_new(on_event, r, max);
	int rc;

	assert_non_null(p);
	rc = sse_feed(p, in, n);
	sse_free(p);
	return rc;
}

static void
check(const char *in, const char *want)
{
	struct rec r = { NULL, 0, 0 };

	assert_int_equal(parse_all(in, strlen(in), 0, &r), 0);
	assert_string_equal(r.p != NULL ? r.p : "", want);
	free(r.p);
}

static void
test_basic(void **state)
{
	(void)state;
	check("data: hello\n\n", "message(5)hello;");
	check("data:hello\n\n", "message(5)hello;");
	check("data:  two\n\n", "message(4) two;");
	check("event: ping\ndata: {}\n\n", "ping(2){};");
	check("data: a\n\ndata: b\n\n", "message(1)a;message(1)b;");
}

static void
test_multiline_and_fields(void **state)
{
	(void)state;
	check("data: one\ndata: two\ndata:three\n\n", "message(13)one\ntwo\nthree;");
	/* A field without a colon has an empty value. */
	check("data\n\n", "message(0);");
	check("data\ndata\n\n", "message(1)\n;");
	check("data: x\ndata\n\n", "message(2)x\n;");
	/* Comments, unknown fields, id and retry are ignored. */
	check(": keepalive\n\n", "");
	check(":\ndata: a\n: mid\ndata: b\n\n", "message(3)a\nb;");
	check("id: 7\nretry: 100\nfoo: bar\ndata: x\n\n", "message(1)x;");
	/* Field names are case-sensitive and exact. */
	check("Data: x\ndatax: y\ndata : z\n\n", "");
	/* Only the first colon splits. */
	check("data: a:b: c\n\n", "message(6)a:b: c;");
	/* The last event field wins; the type resets after each event. */
	check("event: a\nevent: b\ndata: 1\n\ndata: 2\n\n", "b(1)1;message(1)2;");
	/* An empty event field value means the default type. */
	check("event:\ndata: 1\n\n", "message(1)1;");
}

static void
test_no_data_no_event(void **state)
{
	(void)state;
	check("\n\n\n", "");
	check("event: x\n\ndata: y\n\n", "message(1)y;");
	/* Unterminated at the end: never dispatched. */
	check("data: x\n", "");
	check("data: x", "");
	check("data: x\n\ndata: y\n", "message(1)x;");
}

static void
test_line_ends(void **state)
{
	(void)state;
	check("data: a\r\n\r\n", "message(1)a;");
	check("data: a\r\r", "message(1)a;");
	check("data: a\rdata: b\r\n\n", "message(3)a\nb;");
	check("event: e\r\ndata: 1\rdata: 2\n\r\n", "e(3)1\n2;");
	/* CR LF is one end, LF CR is two. */
	check("data: a\n\r", "message(1)a;");
	check("data: a\r\n\rdata: b\n\n", "message(1)a;message(1)b;");
}

static void
test_bom_and_bytes(void **state)
{
	struct rec r = { NULL, 0, 0 };
	static const char nul[] = "data: a\0b\n\n";

	(void)state;
	check("\xEF\xBB\xBF"
	      "data: x\n\n",
	    "message(1)x;");
	/* Only at the very start. */
	check("data: x\n\n\xEF\xBB\xBF"
	      "data: y\n\n",
	    "message(1)x;");
	check("data: \xC3\xA9\n\n", "message(2)\xC3\xA9;");
	assert_int_equal(parse_all(nul, sizeof(nul) - 1, 0, &r), 0);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.len, strlen("message(3)") + 3 + 1);
	assert_memory_equal(r.p, "message(3)a\0b;", r.len);
	free(r.p);
}

static const char stream[] = "\xEF\xBB\xBF: hello\r\n"
			     "event: message_start\r\n"
			     "data: {\"a\":1}\r\n"
			     "\r\n"
			     "data: one\n"
			     "data:two\n"
			     "id: 3\n"
			     "\n"
			     "event: x\r"
			     "data\r"
			     "\r"
			     ":comment\n"
			     "\n"
			     "data: last\r\n"
			     "\r\n"
			     "data: tail-never";

static const char stream_want[] =
    "message_start(7){\"a\":1};message(7)one\ntwo;x(0);message(4)last;";

/* Every split into two pieces gives the same events. */
static void
test_split_two(void **state)
{
	size_t n = sizeof(stream) - 1, cut;

	(void)state;
	for (cut = 0; cut <= n; cut++) {
		struct rec r = { NULL, 0, 0 };
		struct sse_parser *p = sse_new(on_event, &r, 0);

		assert_non_null(p);
		assert_int_equal(sse_feed(p, stream, cut), 0);
		assert_int_equal(sse_feed(p, stream + cut, n - cut), 0);
		assert_string_equal(r.p, stream_want);
		sse_free(p);
		free(r.p);
	}
}

/* Every split into three pieces, and byte by byte. */
static void
test_split_three_and_bytes(void **state)
{
	size_t n = sizeof(stream) - 1, a, b, i;
	struct rec r = { NULL, 0, 0 };
	struct sse_parser *p;

	(void)state;
	for (a = 0; a <= n; a++) {
		for (b = a; b <= n; b++) {
			struct rec r3 = { NULL, 0, 0 };

			p = sse_new(on_event, &r3, 0);
			assert_non_null(p);
			assert_int_equal(sse_feed(p, stream, a), 0);
			assert_int_equal(sse_feed(p, stream + a, b - a), 0);
			assert_int_equal(sse_feed(p, stream + b, n - b), 0);
			assert_string_equal(r3.p, stream_want);
			sse_free(p);
			free(r3.p);
		}
	}
	p = sse_new(on_event, &r, 0);
	assert_non_null(p);
	for (i = 0; i < n; i++)
		assert_int_equal(sse_feed(p, stream + i, 1), 0);
	assert_int_equal(sse_feed(p, "", 0), 0);
	assert_string_equal(r.p, stream_want);
	sse_free(p);
	free(r.p);
}

static void
test_limits(void **state)
{
	struct rec r = { NULL, 0, 0 };
	struct sse_parser *p;

	(void)state;
	/* Exactly max bytes of data is fine; one more is not. */
	assert_int_equal(parse_all("data: 12345678\n\n", 16, 8, &r), 0);
	assert_string_equal(r.p, "message(8)12345678;");
	free(r.p);
	memset(&r, 0, sizeof(r));
	assert_int_equal(parse_all("data: 123456789\n\n", 17, 8, &r), -1);
	assert_int_equal(r.count, 0);
	/* The joining LFs count: 3 + 1 + 4 = 8 fits, 3 + 1 + 5 does not. */
	assert_int_equal(parse_all("data: abc\ndata: defg\n\n", 22, 8, &r), 0);
	assert_int_equal(r.count, 1);
	free(r.p);
	memset(&r, 0, sizeof(r));
	assert_int_equal(parse_all("data: abc\ndata: defgh\n\n", 23, 8, &r), -1);
	/* Many empty data lines add up too. */
	assert_int_equal(
	    parse_all("data\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata\ndata\n\n", 50, 8, &r),
	    -1);
	/* The bound holds per event, not per stream. */
	assert_int_equal(parse_all("data: 12345678\n\ndata: 12345678\n\n", 32, 8, &r), 0);
	assert_int_equal(r.count, 2);
	free(r.p);
	memset(&r, 0, sizeof(r));

	/* An endless line fails even when it never ends, and failure sticks. */
	p = sse_new(on_event, &r, 8);
	assert_non_null(p);
	{
		char junk[40];
		int i, rc = 0;

		memset(junk, ':', sizeof(junk));
		for (i = 0; i < 10 && rc == 0; i++)
			rc = sse_feed(p, junk, sizeof(junk));
		assert_int_equal(rc, -1);
		assert_true(i <= 3);
	}
	assert_int_equal(sse_feed(p, "\n\ndata: x\n\n", 11), -1);
	assert_int_equal(r.count, 0);
	sse_free(p);

	/* Not a split-dependent bound: byte by byte fails the same. */
	p = sse_new(on_event, &r, 8);
	assert_non_null(p);
	{
		const char *big = "data: 123456789\n\n";
		size_t i;
		int rc = 0;

		for (i = 0; big[i] != '\0' && rc == 0; i++)
			rc = sse_feed(p, big + i, 1);
		assert_int_equal(rc, -1);
	}
	sse_free(p);
	free(r.p);
}

static void
test_new_and_free(void **state)
{
	(void)state;
	assert_null(sse_new(NULL, NULL, 0));
	sse_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_multiline_and_fields),
		cmocka_unit_test(test_no_data_no_event),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_bom_and_bytes),
		cmocka_unit_test(test_split_two),
		cmocka_unit_test(test_split_three_and_bytes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_new_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
