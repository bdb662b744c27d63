/*
 * jsonw.c and runview_run_write(): the direct writer must give exactly the
 * bytes of json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(15)) of the
 * jansson tree runview_run() builds, for runs in every status, with nulls,
 * unicode, escapes, money and times, and for stored documents of every
 * shape (also generated at random); where jansson would fail, the writer
 * fails and runview_send_run() falls back to jansson.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/runview.h"
#include "core/config.h"
#include "core/db.h"
#include "core/jsonw.h"

#define NCOLS RVC__MAX

/* --- helpers ---------------------------------------------------------- */

/* What jansson makes of a stored document: its dump, or "null". New string. */
static char *
jansson_doc(const char *s, size_t len)
{
	json_t *v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	char *out;

	if (v == NULL)
		return strdup("null");
	out = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY);
	json_decref(v);
	assert_non_null(out);
	return out;
}

static void
check_doc(const char *s, size_t len)
{
	char *want = jansson_doc(s, len);
	struct jw w;

	jw_init(&w, NULL, 0, 1 << 20);
	jw_doc(&w, s, len);
	assert_false(w.failed);
	if (w.len != strlen(want) || memcmp(w.buf, want, w.len) != 0)
		fail_msg(
		    "document %.*s: jsonw %.*s, jansson %s", (int)len, s, (int)w.len, w.buf, want);
	/* What is copied as is must be what jansson writes. */
	if (jw_doc_canonical(s, len))
		assert_true(strlen(want) == len && memcmp(want, s, len) == 0);
	jw_free(&w);
	free(want);
}

static void
check_real(double v)
{
	json_t *j = json_real(v);
	char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	struct jw w;

	jw_init(&w, NULL, 0, 1024);
	jw_real(&w, v);
	assert_false(w.failed);
	if (w.len != strlen(want) || memcmp(w.buf, want, w.len) != 0)
		fail_msg("real %.17g: jsonw %.*s, jansson %s", v, (int)w.len, w.buf, want);
	jw_free(&w);
	free(want);
	json_decref(j);
}

static void
check_string(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	struct jw w;

	jw_init(&w, NULL, 0, 1 << 16);
	jw_strn(&w, s, n);
	if (j == NULL) {
		assert_true(w.failed); /* jansson refuses it: so must we */
	} else {
		char *want = json_dumps(j, JSON_ENCODE_ANY);

		assert_false(w.failed);
		assert_int_equal(w.len, strlen(want));
		assert_memory_equal(w.buf, want, w.len);
		free(want);
		json_decref(j);
	}
	jw_free(&w);
}

/* --- jsonw on its own ----------------------------------------------------- */

static void
test_strings(void **state)
{
	static const char *const cases[] = {
		"",
		"plain",
		"quote \" backslash \\ slash /",
		"\b\f\n\r\t",
		"\x01\x02\x1f\x7f",
		"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
		"\xc3",
		"\xc0\x80",
		"\xed\xa0\x80",
		"\xf4\x90\x80\x80",
		"\xe0\x9f\xbf",
		"\xf0\x8f\xbf\xbf",
		"\xff",
		"\x80",
		"tail \xe2\x82",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_string(cases[i], strlen(cases[i]));
	check_string("nul\0inside", 10);
	/* Every single byte, and every pair. */
	for (int a = 1; a < 256; a++) {
		char s[2] = { (char)a, 0 };

		check_string(s, 1);
		for (int b = 0; b < 256; b += 7) {
			char t[2] = { (char)a, (char)b };

			check_string(t, 2);
		}
	}
}

static void
test_ints_and_reals(void **state)
{
	static const double reals[] = { 0.0, -0.0, 1.0, 0.1, 0.5, 1e-5, 1e-4, 123.456, 1e15, 1e16,
		1e17, 1e21, 1e300, 1.5e-300, 5e-324, 0.30000000000000004, 1.0 / 3, 2.0 / 3,
		123456789.123456789, 9007199254740993.0, 0.000123, 100.0, 1e100 };
	struct jw w;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	(void)state;
	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
		check_real(reals[i]);
		check_real(-reals[i]);
	}
	/* Money as the view computes it, and random bit patterns. */
	for (long long n = 1; n < 4000000000000000000LL; n = n * 3 + 7)
		check_real((double)n / 1e9);
	for (int i = 0; i < 20000; i++) {
		double d;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(&d, &x, sizeof(d));
		if (isfinite(d))
			check_real(d);
		check_real((double)(x % 1000000) / (double)(x % 999 + 1));
	}
	jw_init(&w, NULL, 0, 1024);
	jw_real(&w, INFINITY);
	assert_true(w.failed);
	jw_free(&w);

	jw_init(&w, NULL, 0, 1024);
	jw_int(&w, 0);
	jw_lit(&w, ",");
	jw_int(&w, -1);
	jw_lit(&w, ",");
	jw_int(&w, 9223372036854775807LL);
	jw_lit(&w, ",");
	jw_int(&w, -9223372036854775807LL - 1);
	jw_lit(&w, ",");
	jw_int_cell(&w, "42");
	jw_lit(&w, ",");
	jw_int_cell(&w, "x");
	jw_lit(&w, ",");
	jw_int_cell(&w, NULL);
	jw_lit(&w, ",");
	jw_int_cell(&w, " 7tail");
	assert_false(w.failed);
	assert_int_equal(w.len,
	    strlen("0,-1,9223372036854775807,-9223372036854775808,42,null,"
		   "null,7"));
	assert_memory_equal(
	    w.buf, "0,-1,9223372036854775807,-9223372036854775808,42,null,null,7", w.len);
	jw_free(&w);
}

static void
test_docs(void **state)
{
	static const char *const docs[] = {
		"{}",
		"[]",
		"{\"message\":\"hello\"}",
		"{\"response\":\"hello there\"}",
		"{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":-12.5}}",
		"\"just a string\"",
		"42",
		"-0",
		"0",
		"-0.0",
		"1.0",
		"1.5",
		"1E2",
		"1e2",
		"100.0",
		"1e300",
		"1.5e300",
		"1e-400",
		"1e400",
		"0.1",
		"0.10",
		"123456789012345678",
		"1234567890123456789",
		"9223372036854775807",
		"9223372036854775808",
		"-9223372036854775808",
		"01",
		"{\"a\":1,\"a\":2}",
		"{\"b\":1,\"a\":2,\"b\":3}",
		"{ \"a\" : 1 }",
		" {}",
		"{} ",
		"[1 ,2]",
		"\"\\/\"",
		"\"\\u00e9\"",
		"\"\\u001f\"",
		"\"\\u001F\"",
		"\"\\u0000\"",
		"{\"a\\u0000b\":1}",
		"\"\\u000A\"",
		"\"\\n\\t\\\"\\\\\"",
		"\"\\ud83d\\ude00\"",
		"\"\xf0\x9f\x98\x80\"",
		"\"\xc3\"",
		"\"raw\x01\"",
		"{\"\xc3\xa9\":\"\xe6\x97\xa5\"}",
		"tru",
		"true",
		"nul",
		"{\"a\":}",
		"[1,]",
		"{\"a\":1,}",
		"[",
		"",
		"{\"k\":\"v\"}x",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"{\"x\":{\"x\":{\"x\":{\"x\":{\"x\":{\"x\":{\"x\":{\"x\":1}}}}}}}}",
	};
	char big[2048];
	size_t o = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		check_doc(docs[i], strlen(docs[i]));
	check_doc("\"a\0b\"", 5);
	/* More keys than the duplicate check holds. */
	big[o++] = '{';
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"k%d\":%d", i ? "," : "", i, i);
	big[o++] = '}';
	check_doc(big, o);
	/* The writer's common documents are copied, not re-parsed. */
	assert_true(jw_doc_canonical("{\"response\":\"hello there\"}", 26));
	assert_false(jw_doc_canonical("{ }", 3));
}

/* Random documents from a small grammar, mangled now and then. */
static uint64_t rnd = 88172645463325252ULL;

static unsigned
rand_u(unsigned n)
{
	rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
	return (unsigned)(rnd % n);
}

static void
gen(char *b, size_t *o, size_t cap, int depth)
{
	static const char *const atoms[] = { "0", "1", "-1", "-0", "12", "1.5", "0.1", "1e2",
		"1E+2", "2.50", "3.0", "true", "false", "null", "\"\"", "\"a\"", "\"b\"",
		"\"\\u001F\"", "\"\\u001f\"", "\"\\/\"", "\"\\n\"", "\"\xc3\xa9\"", "\"\\u00e9\"",
		"\"\\\"\"", "123456789012345678901", "1e-7", "-2.5e-3" };
	unsigned k = rand_u(depth > 4 ? 3 : 6);

	if (*o + 64 >= cap)
		k = 0;
	if (k < 3) {
		const char *a = atoms[rand_u(sizeof(atoms) / sizeof(atoms[0]))];

		*o += (size_t)snprintf(b + *o, cap - *o, "%s", a);
	} else if (k < 5) {
		unsigned n = rand_u(4);

		b[(*o)++] = '[';
		for (unsigned i = 0; i < n && *o + 64 < cap; i++) {
			if (i)
				b[(*o)++] = ',';
			gen(b, o, cap, depth + 1);
		}
		b[(*o)++] = ']';
	} else {
		unsigned n = rand_u(4);

		b[(*o)++] = '{';
		for (unsigned i = 0; i < n && *o + 64 < cap; i++) {
			if (i)
				b[(*o)++] = ',';
			*o += (size_t)snprintf(b + *o, cap - *o, "\"%c\":", "abcab"[rand_u(5)]);
			gen(b, o, cap, depth + 1);
		}
		b[(*o)++] = '}';
	}
}

static void
test_random_docs(void **state)
{
	char b[1024];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t o = 0;

		gen(b, &o, sizeof(b) - 8, 0);
		/* Sometimes a space, a cut or a stray byte. */
		switch (rand_u(8)) {
		case 0:
			if (o > 1) {
				size_t at = rand_u((unsigned)o);

				memmove(b + at + 1, b + at, o - at);
				b[at] = ' ';
				o++;
			}
			break;
		case 1: o = rand_u((unsigned)o + 1); break;
		case 2:
			if (o > 0)
				b[rand_u((unsigned)o)] = "{}[],:\"\\"[rand_u(8)];
			break;
		default: break;
		}
		check_doc(b, o);
	}
}

static void
test_growth_and_cap(void **state)
{
	char small[8];
	struct jw w;

	(void)state;
	jw_init(&w, small, sizeof(small), 100000);
	for (int i = 0; i < 1000; i++)
		jw_lit(&w, "0123456789");
	assert_false(w.failed);
	assert_int_equal(w.len, 10000);
	assert_true(w.heap);
	assert_memory_equal(w.buf + 9990, "0123456789", 10);
	jw_free(&w);

	jw_init(&w, small, sizeof(small), 16);
	jw_lit(&w, "0123456789");
	jw_lit(&w, "0123456789");
	assert_true(w.failed);
	jw_free(&w);
}

/* --- the Run object ------------------------------------------------------- */

struct row {
	const char *cell[NCOLS];
	size_t len[NCOLS]; /* 0: strlen */
};

static struct db_result *
make_rows(const struct row *rows, size_t nrows)
{
	struct db_result *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->nrows = nrows;
	r->ncols = NCOLS;
	r->cell = calloc(nrows * NCOLS + 1, sizeof(char *));
	r->len = calloc(nrows * NCOLS + 1, sizeof(unsigned long));
	assert_true(r->cell != NULL && r->len != NULL);
	for (size_t i = 0; i < nrows; i++)
		for (int c = 0; c < NCOLS; c++) {
			const char *v = rows[i].cell[c];
			size_t n, at = i * NCOLS + (size_t)c;

			if (v == NULL)
				continue;
			n = rows[i].len[c] ? rows[i].len[c] : strlen(v);
			r->cell[at] = malloc(n + 1);
			assert_non_null(r->cell[at]);
			memcpy(r->cell[at], v, n);
			r->cell[at][n] = '\0';
			r->len[at] = n;
		}
	return r;
}

static struct db_result *
make_result(const struct row *row)
{
	return make_rows(row, 1);
}

static void
base_row(struct row *row, const char *status)
{
	memset(row, 0, sizeof(*row));
	row->cell[RVC_ID] = "01a20848-db21-74de-bfc1-fbfb14793d01";
	row->cell[RVC_WS] = "01a20848-db21-74de-bfc1-fbfb14793d02";
	row->cell[RVC_AGENT] = "01a20848-db21-74de-bfc1-fbfb14793d03";
	row->cell[RVC_AGENT_VERSION] = "3";
	row->cell[RVC_AGENT_VERSION_ID] = "01a20848-db21-74de-bfc1-fbfb14793d04";
	row->cell[RVC_SESSION] = "01a20848-db21-74de-bfc1-fbfb14793d05";
	row->cell[RVC_MODEL] = "echo";
	row->cell[RVC_PROVIDER] = "scripted";
	row->cell[RVC_STATUS] = status;
	row->cell[RVC_CANCEL_REQ] = "0";
	row->cell[RVC_INPUT] = "{\"message\":\"hello\"}";
	row->cell[RVC_METADATA] = "{}";
	row->cell[RVC_PROMPT] = "6";
	row->cell[RVC_CACHED] = "0";
	row->cell[RVC_CACHE_WRITE] = "0";
	row->cell[RVC_COMPLETION] = "3";
	row->cell[RVC_COST] = "0";
	row->cell[RVC_STEPS] = "1";
	row->cell[RVC_ATTEMPTS] = "1";
	row->cell[RVC_TRACE] = "4bf92f3577b34da6a3ce929d0e0e4736";
	row->cell[RVC_USER] = "01a20848-db21-74de-bfc1-fbfb14793d06";
	row->cell[RVC_USER_NAME] = "Ada";
	row->cell[RVC_USER_EMAIL] = "ada@example.com";
	row->cell[RVC_CREATED] = "2026-11-23 10:00:00.123";
	row->cell[RVC_UPDATED] = "2026-11-23 10:00:01.500";
	row->cell[RVC_DURATION] = "1234";
}

struct capture {
	char buf[1 << 16];
	size_t len;
};

static int
capture_write(void *ctx, const char *buf, size_t len)
{
	struct capture *c = ctx;

	assert_true(c->len + len <= sizeof(c->buf));
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	return 0;
}

static struct capture fast, slow;
static struct config cfg;
static struct http_request req;
static struct request_ctx ctx;

static void
ctx_init(void)
{
	config_defaults(&cfg);
	memset(&req, 0, sizeof(req));
	snprintf(req.request_id, sizeof(req.request_id), "%s", "req-1");
	req.write = capture_write;
	memset(&ctx, 0, sizeof(ctx));
	ctx.req = &req;
	ctx.cfg = &cfg;
	fast.len = slow.len = 0;
}

/* Whole responses (headers and body) from the fast path and from jansson. */
static void
check_run(const struct row *row, int fast_expected)
{
	struct db_result *res = make_result(row);
	char initial[64];
	struct jw w;
	int rc;

	ctx_init();
	req.write_ctx = &fast;
	assert_int_equal(runview_send_run(&ctx, res, 0), 0);
	req.write_ctx = &slow;
	assert_int_equal(
	    http_send_json(&req, 200, runview_run(res, 0, cfg.billing_credits_per_usd)), 0);
	if (fast.len != slow.len || memcmp(fast.buf, slow.buf, fast.len) != 0)
		fail_msg("status %s:\nfast %.*s\njansson %.*s",
		    row->cell[RVC_STATUS] ? row->cell[RVC_STATUS] : "NULL", (int)fast.len, fast.buf,
		    (int)slow.len, slow.buf);
	/* The writer itself (a small start buffer: growth on the way). */
	jw_init(&w, initial, sizeof(initial), 1 << 20);
	rc = runview_run_write(res, 0, cfg.billing_credits_per_usd, &w);
	assert_int_equal(rc, fast_expected ? 0 : -1);
	jw_free(&w);
	db_result_free(res);
}

static void
test_run_every_status(void **state)
{
	static const char *const statuses[] = { "pending", "running", "waiting_for_input",
		"awaiting_approval", "approved", "completed", "failed", "timeout", "cancelled",
		"rejected" };
	struct row row;

	(void)state;
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		const char *s = statuses[i];

		base_row(&row, s);
		if (strcmp(s, "pending") != 0) {
			row.cell[RVC_STARTED] = "2026-11-23 10:00:00.200";
			row.cell[RVC_PERSONA] = "01a20848-db21-74de-bfc1-fbfb14793d07";
		}
		if (runview_terminal(s)) {
			row.cell[RVC_ENDED] = "2026-11-23 10:00:01.434";
			row.cell[RVC_OUTPUT] = "{\"response\":\"hello there\"}";
		}
		if (strcmp(s, "completed") == 0)
			row.cell[RVC_COMPLETED] = row.cell[RVC_ENDED];
		if (strcmp(s, "failed") == 0 || strcmp(s, "timeout") == 0) {
			row.cell[RVC_FAILED] = row.cell[RVC_ENDED];
			row.cell[RVC_ERR_CODE] =
			    strcmp(s, "failed") == 0 ? "PROVIDER_ERROR" : "TIMEOUT";
			row.cell[RVC_ERR_MSG] =
			    strcmp(s, "failed") == 0 ? "upstream said \"no\"\n" : NULL;
		}
		if (strcmp(s, "cancelled") == 0) {
			row.cell[RVC_CANCELLED] = row.cell[RVC_ENDED];
			row.cell[RVC_CANCEL_REQ] = "1";
		}
		if (strcmp(s, "rejected") == 0) {
			row.cell[RVC_ERR_CODE] = "REJECTED";
			row.cell[RVC_ERR_MSG] = "";
		}
		if (strcmp(s, "waiting_for_input") == 0)
			row.cell[RVC_PARENT] = "01a20848-db21-74de-bfc1-fbfb14793d08";
		if (strcmp(s, "approved") == 0) {
			row.cell[RVC_EXPERIMENT] = "01a20848-db21-74de-bfc1-fbfb14793d09";
			row.cell[RVC_CANDIDATE] = "01a20848-db21-74de-bfc1-fbfb14793d0a";
			row.cell[RVC_ROUTE] = "01a20848-db21-74de-bfc1-fbfb14793d0b";
		}
		check_run(&row, 1);
	}
}

static void
test_run_nulls(void **state)
{
	struct row row;

	(void)state;
	/* Every column NULL (what a LEFT JOIN and a bare row can give). */
	memset(&row, 0, sizeof(row));
	check_run(&row, 1);
	/* Each column NULL on its own. */
	for (int c = 0; c < NCOLS; c++) {
		base_row(&row, "running");
		row.cell[RVC_STARTED] = "2026-11-23 10:00:00";
		row.cell[c] = NULL;
		check_run(&row, 1);
	}
}

static void
test_run_unicode_escapes_money_times(void **state)
{
	static const char *const costs[] = { "0", "1", "999", "1000000", "2500000", "123456789",
		"999999999", "1000000000", "1234567890123", "9007199254740993",
		"4000000000000000000", "-5" };
	static const char *const times[] = { "2026-11-23 10:00:00", "2026-11-23 10:00:00.1",
		"2026-11-23 10:00:00.123456", "2026-11-23 10:00:00.", "2026-11-23",
		"2026-11-23 10:00:00.12x", "" };
	struct row row;

	(void)state;
	base_row(&row, "completed");
	row.cell[RVC_USER_NAME] =
	    "Zoë \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \"quoted\" back\\slash";
	row.cell[RVC_USER_EMAIL] = "tab\there\x01\x1f\x7f/slash";
	row.cell[RVC_MODEL] = "gpt-4o\n";
	row.cell[RVC_ERR_CODE] = "X";
	row.cell[RVC_ERR_MSG] = "line1\r\nline2 \xc3\xa9\b\f";
	row.cell[RVC_INPUT] =
	    "{\"message\":\"h\xc3\xa9llo \\\"w\\\" \\u001F\\n\",\"n\":[1,2.5,-3]}";
	row.cell[RVC_OUTPUT] = "{ \"response\" : \"spaced\\/\" , \"x\": 1E2}";
	row.cell[RVC_METADATA] = "{\"a\":1,\"a\":2}";
	check_run(&row, 1);
	/* Unparsable stored documents are null, as jv_doc() has them. */
	row.cell[RVC_INPUT] = "{not json";
	row.cell[RVC_OUTPUT] = "";
	check_run(&row, 1);

	for (size_t i = 0; i < sizeof(costs) / sizeof(costs[0]); i++) {
		base_row(&row, "completed");
		row.cell[RVC_COST] = costs[i];
		row.cell[RVC_PROMPT] = i % 2 ? "1000" : "0";
		row.cell[RVC_CACHED] = i % 3 ? "333" : "0";
		row.cell[RVC_CACHE_WRITE] = "7";
		check_run(&row, 1);
	}
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		base_row(&row, "completed");
		row.cell[RVC_CREATED] = times[i];
		row.cell[RVC_COMPLETED] = times[i];
		check_run(&row, 1);
	}
	base_row(&row, "running");
	row.cell[RVC_AGENT_VERSION] = "not a number";
	row.cell[RVC_PROMPT] = "9000000000000000000";
	check_run(&row, 1);
}

static void
test_run_invalid_utf8_falls_back(void **state)
{
	struct row row;

	(void)state;
	/* jansson drops such a field; the fallback keeps doing exactly that. */
	base_row(&row, "failed");
	row.cell[RVC_USER_NAME] = "bad \xff byte";
	check_run(&row, 0);
	base_row(&row, "failed");
	row.cell[RVC_ERR_CODE] = "E";
	row.cell[RVC_ERR_MSG] = "cut \xe6\x97";
	check_run(&row, 0);
}

/* The lists: an array of Run objects, as json_dumps of the jansson array. */
static void
check_list(const struct row *rows, size_t n)
{
	struct db_result *res = make_rows(rows, n);
	json_t *arr = json_array();

	ctx_init();
	req.write_ctx = &fast;
	assert_int_equal(runview_send_runs(&ctx, res), 0);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, runview_run(res, i, cfg.billing_credits_per_usd));
	req.write_ctx = &slow;
	assert_int_equal(http_send_json(&req, 200, arr), 0);
	if (fast.len != slow.len || memcmp(fast.buf, slow.buf, fast.len) != 0)
		fail_msg("list of %zu:\nfast %.*s\njansson %.*s", n, (int)fast.len, fast.buf,
		    (int)slow.len, slow.buf);
	db_result_free(res);
}

static void
test_run_lists(void **state)
{
	struct row rows[5];

	(void)state;
	memset(rows, 0, sizeof(rows));
	check_list(rows, 0);
	base_row(&rows[0], "pending");
	check_list(rows, 1);
	base_row(&rows[1], "completed");
	rows[1].cell[RVC_OUTPUT] = "{\"response\":\"caf\xc3\xa9\"}";
	base_row(&rows[2], "failed");
	rows[2].cell[RVC_ERR_CODE] = "E";
	rows[2].cell[RVC_ERR_MSG] = "tab\t";
	base_row(&rows[3], "running");
	rows[3].cell[RVC_INPUT] = "{ \"spaced\" : true }";
	check_list(rows, 4);
	/* One bad row sends the whole list down jansson's path: still identical. */
	base_row(&rows[4], "running");
	rows[4].cell[RVC_USER_NAME] = "bad \xff";
	check_list(rows, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_ints_and_reals),
		cmocka_unit_test(test_docs),
		cmocka_unit_test(test_random_docs),
		cmocka_unit_test(test_growth_and_cap),
		cmocka_unit_test(test_run_every_status),
		cmocka_unit_test(test_run_nulls),
		cmocka_unit_test(test_run_unicode_escapes_money_times),
		cmocka_unit_test(test_run_invalid_utf8_falls_back),
		cmocka_unit_test(test_run_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
