/*
 * http.c and errors.c: path normalisation, query parameters, request ids,
 * the response writers (captured through a fake req->write) and the
 * request body parser with its 400/413 answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errors.h"
#include "core/http.h"
#include "core/ids.h"

#define SINK_MAX 16384

/* Collects what http_send writes. */
struct sink {
	char buf[SINK_MAX];
	size_t len;
	int calls;
	int fail; /* make every write fail */
};

/* A parsed response: pointers into the sink, which stays NUL-terminated. */
struct response {
	int status;
	const char *head; /* from "Status:" to the blank line */
	size_t headlen;
	const char *body;
	size_t bodylen;
};

static int
sink_write(void *ctx, const char *buf, size_t len)
{
	struct sink *s = ctx;

	s->calls++;
	if (s->fail || len >= sizeof(s->buf) - s->len)
		return -1;
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return 0;
}

static void
req_init(struct http_request *req, struct sink *s)
{
	memset(s, 0, sizeof(*s));
	memset(req, 0, sizeof(*req));
	req->method = "POST";
	req->query = "";
	req->write = sink_write;
	req->write_ctx = s;
	http_set_request_id(req, "req-1");
}

/* Splits the captured bytes into head and body and checks the framing. */
static void
parse_response(const struct sink *s, struct response *r)
{
	const char *end;

	memset(r, 0, sizeof(*r));
	assert_true(s->len > 0);
	assert_int_equal(strncmp(s->buf, "Status: ", 8), 0);
	r->status = atoi(s->buf + 8);
	end = strstr(s->buf, "\r\n\r\n");
	assert_non_null(end);
	r->head = s->buf;
	r->headlen = (size_t)(end - s->buf) + 2; /* keeps the last header's CRLF */
	r->body = end + 4;
	r->bodylen = s->len - (size_t)(r->body - s->buf);
}

/*
 * Copies the value of header name into out; 1 when present. Names are
 * matched at line starts only, so a value cannot fake a header.
 */
static int
header_value(const struct response *r, const char *name, char *out, size_t outsz)
{
	size_t nlen = strlen(name);
	const char *p = r->head, *end = r->head + r->headlen;

	while (p < end) {
		const char *eol = strstr(p, "\r\n");

		assert_non_null(eol);
		if ((size_t)(eol - p) > nlen + 1 && strncasecmp(p, name, nlen) == 0 &&
		    p[nlen] == ':' && p[nlen + 1] == ' ') {
			size_t vlen = (size_t)(eol - p) - nlen - 2;

			assert_true(vlen < outsz);
			memcpy(out, p + nlen + 2, vlen);
			out[vlen] = '\0';
			return 1;
		}
		p = eol + 2;
	}
	return 0;
}

/*
 * Checks status line, Content-Type, Content-Length, X-Request-Id and the
 * contract's error body; returns the body's "error" object (a borrowed
 * reference into *root, which the caller decrefs).
 */
static json_t *
check_error(const struct sink *s, int status, const char *code, const char *reqid, json_t **root)
{
	struct response r;
	char line[64], val[256];
	json_error_t jerr;
	json_t *err;

	parse_response(s, &r);
	snprintf(line, sizeof(line), "Status: %d %s\r\n", status, err_status_reason(status));
	assert_int_equal(strncmp(s->buf, line, strlen(line)), 0);
	assert_int_equal(r.status, status);
	assert_true(header_value(&r, "Content-Type", val, sizeof(val)));
	assert_string_equal(val, "application/json");
	assert_true(header_value(&r, "Content-Length", val, sizeof(val)));
	assert_int_equal(strtoull(val, NULL, 10), r.bodylen);
	assert_true(header_value(&r, "X-Request-Id", val, sizeof(val)));
	assert_string_equal(val, reqid);

	*root = json_loadb(r.body, r.bodylen, 0, &jerr);
	assert_non_null(*root);
	assert_true(json_is_object(*root));
	err = json_object_get(*root, "error");
	assert_true(json_is_object(err));
	assert_string_equal(json_string_value(json_object_get(err, "code")), code);
	assert_true(json_is_string(json_object_get(err, "message")));
	assert_true(json_is_object(json_object_get(err, "details")));
	assert_string_equal(json_string_value(json_object_get(err, "request_id")), reqid);
	return err;
}

/* --- http_normalize_path ------------------------------------------------ */

static void
test_normalize_path(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "/api/v1/runs", "/api/v1/runs" },
		{ "/v1/runs", "/api/v1/runs" },
		{ "/v1", "/api/v1" },
		{ "/v1/", "/api/v1" },
		{ "/v1?limit=1", "/api/v1" },
		{ "/v1x", "/v1x" },
		{ "/api/v1/runs/", "/api/v1/runs" },
		{ "/api/v1/runs?limit=10&after=x", "/api/v1/runs" },
		{ "/api/v1/runs/?limit=10", "/api/v1/runs" },
		{ "/api/v1/runs#frag", "/api/v1/runs" },
		{ "/api/v1/runs/abc:cancel", "/api/v1/runs/abc/cancel" },
		{ "/v1/runs/abc:cancel", "/api/v1/runs/abc/cancel" },
		{ "/api/v1/runs/abc:cancel?x=1", "/api/v1/runs/abc/cancel" },
		{ "/api/v1/runs/abc:cancel/", "/api/v1/runs/abc/cancel" },
		/* Only a last segment "id:verb" with a lowercase verb is rewritten. */
		{ "/api/v1/runs/abc:", "/api/v1/runs/abc:" },
		{ "/api/v1/runs/:cancel", "/api/v1/runs/:cancel" },
		{ "/api/v1/runs/abc:Cancel", "/api/v1/runs/abc:Cancel" },
		{ "/api/v1/runs/abc:can-cel", "/api/v1/runs/abc:can-cel" },
		{ "/api/v1/a:b/c", "/api/v1/a:b/c" },
		{ "/", "/" },
		{ "/?x=1", "/" },
		{ "/healthz", "/healthz" },
	};
	char out[HTTP_PATH_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		assert_int_equal(http_normalize_path(cases[i].in, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].want);
	}
}

static void
test_normalize_path_bad(void **state)
{
	char big[HTTP_PATH_MAX + 16];
	char out[HTTP_PATH_MAX];

	(void)state;
	assert_int_equal(http_normalize_path("api/v1/runs", out, sizeof(out)), -1);
	assert_int_equal(http_normalize_path("v1/runs", out, sizeof(out)), -1);
	assert_int_equal(http_normalize_path("", out, sizeof(out)), -1);
	assert_int_equal(http_normalize_path("http://x/api", out, sizeof(out)), -1);
	assert_int_equal(http_normalize_path(NULL, out, sizeof(out)), -1);

	/* Too long for out. */
	big[0] = '/';
	memset(big + 1, 'a', sizeof(big) - 2);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(http_normalize_path(big, out, sizeof(out)), -1);

	/* Exactly outsz - 1 bytes fit; one more does not. */
	assert_int_equal(http_normalize_path("/api/v1/runs/ab", out, 16), 0);
	assert_string_equal(out, "/api/v1/runs/ab");
	assert_int_equal(http_normalize_path("/api/v1/runs/abc", out, 16), -1);

	/* The "/api" prefix counts against the size. */
	assert_int_equal(http_normalize_path("/v1/runs/ab", out, 16), 0);
	assert_string_equal(out, "/api/v1/runs/ab");
	assert_int_equal(http_normalize_path("/v1/runs/abc", out, 16), -1);
	assert_int_equal(http_normalize_path("/v1/x", out, 4), -1);

	/* The query does not count. */
	assert_int_equal(http_normalize_path("/api/v1/runs/ab?long=query", out, 16), 0);
	assert_string_equal(out, "/api/v1/runs/ab");
}

/* --- http_query_param --------------------------------------------------- */

static void
test_query_param(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(http_query_param("limit=10&after=abc", "limit", out, sizeof(out)), 1);
	assert_string_equal(out, "10");
	assert_int_equal(http_query_param("limit=10&after=abc", "after", out, sizeof(out)), 1);
	assert_string_equal(out, "abc");
	assert_int_equal(http_query_param("limit=10&after=abc", "before", out, sizeof(out)), 0);
	assert_int_equal(http_query_param("", "limit", out, sizeof(out)), 0);
	assert_int_equal(http_query_param(NULL, "limit", out, sizeof(out)), 0);

	/* Empty values, with and without '='. */
	assert_int_equal(http_query_param("limit=&x=1", "limit", out, sizeof(out)), 1);
	assert_string_equal(out, "");
	assert_int_equal(http_query_param("x=1&limit", "limit", out, sizeof(out)), 1);
	assert_string_equal(out, "");

	/* Empty segments are skipped. */
	assert_int_equal(http_query_param("a=1&&b=2", "b", out, sizeof(out)), 1);
	assert_string_equal(out, "2");

	/* The first occurrence wins. */
	assert_int_equal(http_query_param("a=1&a=2", "a", out, sizeof(out)), 1);
	assert_string_equal(out, "1");
}

static void
test_query_param_prefix(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(http_query_param("limitx=1", "limit", out, sizeof(out)), 0);
	assert_int_equal(http_query_param("xlimit=1", "limit", out, sizeof(out)), 0);
	assert_int_equal(http_query_param("limi=1", "limit", out, sizeof(out)), 0);
	assert_int_equal(http_query_param("limitx=1&limit=2", "limit", out, sizeof(out)), 1);
	assert_string_equal(out, "2");
	assert_int_equal(http_query_param("a=limit=3", "limit", out, sizeof(out)), 0);
}

static void
test_query_param_decode(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(http_query_param("q=a%20b%2Fc", "q", out, sizeof(out)), 1);
	assert_string_equal(out, "a b/c");
	assert_int_equal(http_query_param("q=%2f%2F", "q", out, sizeof(out)), 1);
	assert_string_equal(out, "//");
	assert_int_equal(http_query_param("q=a+b+", "q", out, sizeof(out)), 1);
	assert_string_equal(out, "a b ");
	assert_int_equal(http_query_param("q=%2B", "q", out, sizeof(out)), 1);
	assert_string_equal(out, "+");
	assert_int_equal(http_query_param("q=%26&r=1", "q", out, sizeof(out)), 1);
	assert_string_equal(out, "&");
	assert_int_equal(http_query_param("q=%C3%A9", "q", out, sizeof(out)), 1);
	assert_string_equal(out, "\xc3\xa9");
	assert_int_equal(http_query_param("q=a%3Db", "q", out, sizeof(out)), 1);
	assert_string_equal(out, "a=b");
}

static void
test_query_param_malformed(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(http_query_param("q=%zz", "q", out, sizeof(out)), -1);
	assert_int_equal(http_query_param("q=%2", "q", out, sizeof(out)), -1);
	assert_int_equal(http_query_param("q=%", "q", out, sizeof(out)), -1);
	assert_int_equal(http_query_param("q=a%g1", "q", out, sizeof(out)), -1);
	/* "%2" followed by the next parameter must not borrow its bytes. */
	assert_int_equal(http_query_param("q=%2&1=x", "q", out, sizeof(out)), -1);
	/* NUL cannot be smuggled into a C string. */
	assert_int_equal(http_query_param("q=a%00b", "q", out, sizeof(out)), -1);
	/* A malformed value elsewhere does not matter. */
	assert_int_equal(http_query_param("r=%zz&q=1", "q", out, sizeof(out)), 1);
	assert_string_equal(out, "1");
}

static void
test_query_param_too_long(void **state)
{
	char out[4];

	(void)state;
	assert_int_equal(http_query_param("q=abc", "q", out, sizeof(out)), 1);
	assert_string_equal(out, "abc");
	assert_int_equal(http_query_param("q=abcd", "q", out, sizeof(out)), -1);
	/* Decoded length counts, not encoded. */
	assert_int_equal(http_query_param("q=%41%42%43", "q", out, sizeof(out)), 1);
	assert_string_equal(out, "ABC");
	assert_int_equal(http_query_param("q=%41%42%43%44", "q", out, sizeof(out)), -1);
}

/* --- http_set_request_id ------------------------------------------------ */

static void
test_request_id_kept(void **state)
{
	struct http_request req;
	char id[HTTP_REQID_MAX];

	(void)state;
	memset(&req, 0, sizeof(req));
	http_set_request_id(&req, "abc-123.x:Y_z");
	assert_string_equal(req.request_id, "abc-123.x:Y_z");

	http_set_request_id(&req, "0193a1b2-c3d4-7abc-bfff-ffffffffffff");
	assert_string_equal(req.request_id, "0193a1b2-c3d4-7abc-bfff-ffffffffffff");

	/* 128 bytes is the longest kept. */
	memset(id, 'a', HTTP_REQID_MAX - 1);
	id[HTTP_REQID_MAX - 1] = '\0';
	http_set_request_id(&req, id);
	assert_string_equal(req.request_id, id);
}

static void
test_request_id_replaced(void **state)
{
	static const char *const bad[] = {
		"has space",
		"",
		"a\r\nX-Evil: 1",
		"semi;colon",
		"quote\"",
		"slash/",
		"caf\xc3\xa9",
	};
	struct http_request req;
	char big[201];

	(void)state;
	memset(&req, 0, sizeof(req));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		http_set_request_id(&req, bad[i]);
		assert_true(id_valid(req.request_id));
		assert_int_equal(req.request_id[14], '7');
	}

	http_set_request_id(&req, NULL);
	assert_true(id_valid(req.request_id));

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	http_set_request_id(&req, big);
	assert_true(id_valid(req.request_id));

	/* 129 bytes: one too many. */
	big[HTTP_REQID_MAX] = '\0';
	http_set_request_id(&req, big);
	assert_true(id_valid(req.request_id));
}

/* --- http_send and friends ---------------------------------------------- */

static void
test_send(void **state)
{
	struct http_request req;
	struct response r;
	struct sink s;
	char val[64];

	(void)state;
	req_init(&req, &s);
	assert_int_equal(
	    http_send(&req, 200, "X-One: 1\r\nX-Two: 2\r\n", "text/plain", "hello", 5), 0);
	assert_int_equal(req.status, 200);
	assert_true(req.responded);
	parse_response(&s, &r);
	assert_int_equal(strncmp(s.buf, "Status: 200 OK\r\n", 16), 0);
	assert_true(header_value(&r, "Content-Type", val, sizeof(val)));
	assert_string_equal(val, "text/plain");
	assert_true(header_value(&r, "Content-Length", val, sizeof(val)));
	assert_string_equal(val, "5");
	assert_true(header_value(&r, "X-Request-Id", val, sizeof(val)));
	assert_string_equal(val, "req-1");
	assert_true(header_value(&r, "X-One", val, sizeof(val)));
	assert_string_equal(val, "1");
	assert_true(header_value(&r, "X-Two", val, sizeof(val)));
	assert_string_equal(val, "2");
	assert_int_equal(r.bodylen, 5);
	assert_memory_equal(r.body, "hello", 5);

	/* No body: headers only, Content-Length 0. */
	req_init(&req, &s);
	assert_int_equal(http_send(&req, 204, NULL, "application/json", NULL, 0), 0);
	parse_response(&s, &r);
	assert_int_equal(strncmp(s.buf, "Status: 204 No Content\r\n", 24), 0);
	assert_true(header_value(&r, "Content-Length", val, sizeof(val)));
	assert_string_equal(val, "0");
	assert_int_equal(r.bodylen, 0);
}

static void
test_send_write_fails(void **state)
{
	struct http_request req;
	struct sink s;

	(void)state;
	req_init(&req, &s);
	s.fail = 1;
	assert_int_equal(http_send(&req, 200, NULL, "text/plain", "x", 1), -1);
	assert_int_equal(s.calls, 1);
}

static void
test_send_json(void **state)
{
	struct http_request req;
	struct response r;
	struct sink s;
	json_t *root;
	char val[64];

	(void)state;
	req_init(&req, &s);
	assert_int_equal(http_send_json(&req, 201, json_pack("{s:i, s:s}", "a", 1, "b", "x")), 0);
	parse_response(&s, &r);
	assert_int_equal(r.status, 201);
	assert_true(header_value(&r, "Content-Type", val, sizeof(val)));
	assert_string_equal(val, "application/json");
	root = json_loadb(r.body, r.bodylen, 0, NULL);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "a")), 1);
	assert_string_equal(json_string_value(json_object_get(root, "b")), "x");
	json_decref(root);

	req_init(&req, &s);
	assert_int_equal(http_send_json_h(&req, 200, "ETag: \"v1\"\r\n", json_object()), 0);
	parse_response(&s, &r);
	assert_true(header_value(&r, "ETag", val, sizeof(val)));
	assert_string_equal(val, "\"v1\"");

	/* A NULL body (a failed constructor) becomes a 500. */
	req_init(&req, &s);
	http_send_json(&req, 200, NULL);
	parse_response(&s, &r);
	assert_int_equal(r.status, 500);
	assert_int_equal(req.status, 500);
	root = json_loadb(r.body, r.bodylen, 0, NULL);
	assert_non_null(root);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(root, "error"), "code")),
	    "INTERNAL_ERROR");
	json_decref(root);
}

static void
test_send_error(void **state)
{
	struct http_request req;
	struct sink s;
	json_t *root, *err;

	(void)state;
	req_init(&req, &s);
	assert_int_equal(
	    http_send_error(&req, 404, ERR_NOT_FOUND, NULL, "run %s not found", "abc"), 0);
	assert_int_equal(strncmp(s.buf, "Status: 404 Not Found\r\n", 23), 0);
	assert_int_equal(req.status, 404);
	assert_true(req.responded);
	err = check_error(&s, 404, "RESOURCE_NOT_FOUND", "req-1", &root);
	assert_string_equal(
	    json_string_value(json_object_get(err, "message")), "run abc not found");
	assert_int_equal(json_object_size(json_object_get(err, "details")), 0);
	json_decref(root);
}

static void
test_send_error_details(void **state)
{
	struct http_request req;
	struct sink s;
	json_t *root, *err, *details;

	(void)state;
	req_init(&req, &s);
	http_set_request_id(&req, NULL);
	assert_int_equal(http_send_error(&req, 400, ERR_INVALID_INPUT,
			     json_pack("{s:s}", "field", "model"), "%s is required", "model"),
	    0);
	err = check_error(&s, 400, "INVALID_INPUT", req.request_id, &root);
	assert_true(id_valid(req.request_id));
	details = json_object_get(err, "details");
	assert_string_equal(json_string_value(json_object_get(details, "field")), "model");
	assert_string_equal(
	    json_string_value(json_object_get(err, "message")), "model is required");
	json_decref(root);
}

static void
test_send_error_h(void **state)
{
	struct http_request req;
	struct response r;
	struct sink s;
	json_t *root;
	char val[64];

	(void)state;
	req_init(&req, &s);
	assert_int_equal(http_send_error_h(&req, 405, ERR_METHOD_NOT_ALLOWED, "Allow: GET\r\n",
			     NULL, "method %s not allowed", "PUT"),
	    0);
	assert_int_equal(strncmp(s.buf, "Status: 405 Method Not Allowed\r\n", 32), 0);
	check_error(&s, 405, "METHOD_NOT_ALLOWED", "req-1", &root);
	parse_response(&s, &r);
	assert_true(header_value(&r, "Allow", val, sizeof(val)));
	assert_string_equal(val, "GET");
	json_decref(root);
}

/*
 * KNOWN BUG (src/core/http.c, http_send_verror): the message is cut at 511
 * bytes by vsnprintf, which can split a UTF-8 sequence; json_pack then
 * rejects the string and the client gets a 500 "out of memory" instead of
 * the 400 the caller asked for.
 */
static void
test_send_error_long_utf8(void **state)
{
	struct http_request req;
	struct sink s;
	json_t *root, *err;
	char name[1201];
	const char *msg;

	(void)state;
	for (size_t i = 0; i + 2 < sizeof(name); i += 2)
		memcpy(name + i, "\xc3\xa9", 2); /* "é" */
	name[sizeof(name) - 1] = '\0';
	req_init(&req, &s);
	/* 511 bytes of two-byte characters: the cut lands inside one. */
	http_send_error(&req, 400, ERR_INVALID_INPUT, NULL, "%s", name);
	err = check_error(&s, 400, "INVALID_INPUT", "req-1", &root);
	msg = json_string_value(json_object_get(err, "message"));
	assert_true(strlen(msg) > 0 && strlen(msg) < 512);
	json_decref(root);
}

/*
 * KNOWN BUG (src/core/http.c, http_send_verror): the same happens when the
 * message echoes bytes that are not UTF-8, e.g. src/api/dispatch.c's
 * "no route for %s" with a path nginx decoded from "/%ff": the 404 becomes
 * a 500 "out of memory".
 */
static void
test_send_error_invalid_utf8(void **state)
{
	struct http_request req;
	struct sink s;
	json_t *root;

	(void)state;
	req_init(&req, &s);
	http_send_error(&req, 404, ERR_NOT_FOUND, NULL, "no route for %s", "/\xff");
	check_error(&s, 404, "RESOURCE_NOT_FOUND", "req-1", &root);
	json_decref(root);
}

/* --- http_json_body ----------------------------------------------------- */

/* Points req's body at a heap copy of text (the request owns its body). */
static void
req_body(struct http_request *req, const char *text)
{
	req->body_len = strlen(text);
	req->body = malloc(req->body_len + 1);
	assert_non_null(req->body);
	memcpy(req->body, text, req->body_len + 1);
}

static void
test_json_body_ok(void **state)
{
	struct http_request req;
	struct sink s;
	json_t *v = NULL;

	(void)state;
	req_init(&req, &s);
	req_body(&req, "{\"a\": 1, \"b\": [true, null]}");
	assert_int_equal(http_json_body(&req, &v, 0), 0);
	assert_true(json_is_object(v));
	assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
	assert_false(req.responded);
	assert_int_equal(s.len, 0);
	json_decref(v);
	free(req.body);
}

static void
test_json_body_empty(void **state)
{
	struct http_request req;
	struct sink s;
	json_t *v = NULL, *root, *stale;

	(void)state;
	req_init(&req, &s);
	assert_int_equal(http_json_body(&req, &v, 1), 0);
	assert_true(json_is_object(v));
	assert_int_equal(json_object_size(v), 0);
	assert_int_equal(s.len, 0);
	json_decref(v);

	/* A zero-length (not NULL) body is empty too. */
	req_init(&req, &s);
	req_body(&req, "");
	assert_int_equal(http_json_body(&req, &v, 1), 0);
	assert_int_equal(json_object_size(v), 0);
	json_decref(v);
	free(req.body);

	/* *out is cleared on failure. */
	req_init(&req, &s);
	stale = json_object();
	v = stale;
	assert_int_equal(http_json_body(&req, &v, 0), -1);
	assert_null(v);
	json_decref(stale);
	check_error(&s, 400, "INVALID_INPUT", "req-1", &root);
	json_decref(root);
}

static void
test_json_body_malformed(void **state)
{
	static const char *const bad[] = {
		"{",
		"{\"a\":}",
		"not json",
		"   ",
		"{\"a\":1} trailing",
		"{'a':1}",
		"{\"a\":1,}",
	};
	struct http_request req;
	struct sink s;
	json_t *v, *root, *err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req_init(&req, &s);
		req_body(&req, bad[i]);
		v = NULL;
		assert_int_equal(http_json_body(&req, &v, 1), -1);
		assert_null(v);
		assert_int_equal(req.status, 400);
		err = check_error(&s, 400, "INVALID_INPUT", "req-1", &root);
		assert_true(
		    json_is_integer(json_object_get(json_object_get(err, "details"), "line")));
		json_decref(root);
		free(req.body);
	}
}

static void
test_json_body_not_object(void **state)
{
	static const char *const bad[] = { "[1, 2]", "\"s\"", "1", "null", "true" };
	struct http_request req;
	struct sink s;
	json_t *v, *root;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req_init(&req, &s);
		req_body(&req, bad[i]);
		v = NULL;
		/* Scalars need JSON_DECODE_ANY to parse at all: either way a 400. */
		assert_int_equal(http_json_body(&req, &v, 1), -1);
		assert_null(v);
		check_error(&s, 400, "INVALID_INPUT", "req-1", &root);
		json_decref(root);
		free(req.body);
	}
}

static void
test_json_body_duplicate_keys(void **state)
{
	struct http_request req;
	struct sink s;
	json_t *v = NULL, *root;

	(void)state;
	req_init(&req, &s);
	req_body(&req, "{\"a\": 1, \"a\": 2}");
	assert_int_equal(http_json_body(&req, &v, 0), -1);
	assert_null(v);
	check_error(&s, 400, "INVALID_INPUT", "req-1", &root);
	json_decref(root);
	free(req.body);
}

static void
test_json_body_too_large(void **state)
{
	struct http_request req;
	struct sink s;
	json_t *v = NULL, *root;

	(void)state;
	req_init(&req, &s);
	req.body_len = HTTP_BODY_MAX + 1;
	req.body = malloc(req.body_len + 1);
	assert_non_null(req.body);
	memset(req.body, ' ', req.body_len);
	req.body[0] = '{';
	req.body[req.body_len - 1] = '}';
	req.body[req.body_len] = '\0';
	assert_int_equal(http_json_body(&req, &v, 0), -1);
	assert_null(v);
	check_error(&s, 413, "PAYLOAD_TOO_LARGE", "req-1", &root);
	json_decref(root);
	free(req.body);
}

/* --- errors.c ----------------------------------------------------------- */

static void
test_err_codes(void **state)
{
	static const struct {
		enum err_code code;
		const char *name;
		int status;
	} want[] = {
		{ ERR_INVALID_INPUT, "INVALID_INPUT", 400 },
		{ ERR_AUTHORIZATION, "AUTHORIZATION_ERROR", 401 },
		{ ERR_NOT_FOUND, "RESOURCE_NOT_FOUND", 404 },
		{ ERR_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 405 },
		{ ERR_CONFLICT, "CONFLICT", 409 },
		{ ERR_PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", 413 },
		{ ERR_RATE_LIMIT, "RATE_LIMIT_EXCEEDED", 429 },
		{ ERR_TIMEOUT, "TIMEOUT", 504 },
		{ ERR_INTERNAL, "INTERNAL_ERROR", 500 },
		{ ERR_PROVIDER, "PROVIDER_ERROR", 502 },
		{ ERR_TOOL, "TOOL_ERROR", 502 },
		{ ERR_LIMIT_EXCEEDED, "LIMIT_EXCEEDED", 409 },
	};

	(void)state;
	/* Every code is listed once: a new one must be added here too. */
	assert_int_equal(sizeof(want) / sizeof(want[0]), ERR__MAX);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_string_equal(err_code_name(want[i].code), want[i].name);
		assert_int_equal(err_code_status(want[i].code), want[i].status);
		/* Every status a code maps to has a reason phrase. */
		assert_string_not_equal(err_status_reason(want[i].status), "Unknown");
	}
	assert_string_equal(err_code_name(ERR__MAX), "INTERNAL_ERROR");
	assert_int_equal(err_code_status(ERR__MAX), 500);
	assert_string_equal(err_code_name((enum err_code)(-1)), "INTERNAL_ERROR");
	assert_int_equal(err_code_status((enum err_code)(-1)), 500);
}

static void
test_status_reason(void **state)
{
	(void)state;
	assert_string_equal(err_status_reason(200), "OK");
	assert_string_equal(err_status_reason(201), "Created");
	assert_string_equal(err_status_reason(204), "No Content");
	assert_string_equal(err_status_reason(400), "Bad Request");
	assert_string_equal(err_status_reason(401), "Unauthorized");
	assert_string_equal(err_status_reason(403), "Forbidden");
	assert_string_equal(err_status_reason(404), "Not Found");
	assert_string_equal(err_status_reason(405), "Method Not Allowed");
	assert_string_equal(err_status_reason(409), "Conflict");
	assert_string_equal(err_status_reason(413), "Payload Too Large");
	assert_string_equal(err_status_reason(429), "Too Many Requests");
	assert_string_equal(err_status_reason(500), "Internal Server Error");
	assert_string_equal(err_status_reason(503), "Service Unavailable");
	assert_string_equal(err_status_reason(599), "Unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize_path),
		cmocka_unit_test(test_normalize_path_bad),
		cmocka_unit_test(test_query_param),
		cmocka_unit_test(test_query_param_prefix),
		cmocka_unit_test(test_query_param_decode),
		cmocka_unit_test(test_query_param_malformed),
		cmocka_unit_test(test_query_param_too_long),
		cmocka_unit_test(test_request_id_kept),
		cmocka_unit_test(test_request_id_replaced),
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_send_write_fails),
		cmocka_unit_test(test_send_json),
		cmocka_unit_test(test_send_error),
		cmocka_unit_test(test_send_error_details),
		cmocka_unit_test(test_send_error_h),
		cmocka_unit_test(test_send_error_long_utf8),
		cmocka_unit_test(test_send_error_invalid_utf8),
		cmocka_unit_test(test_json_body_ok),
		cmocka_unit_test(test_json_body_empty),
		cmocka_unit_test(test_json_body_malformed),
		cmocka_unit_test(test_json_body_not_object),
		cmocka_unit_test(test_json_body_duplicate_keys),
		cmocka_unit_test(test_json_body_too_large),
		cmocka_unit_test(test_err_codes),
		cmocka_unit_test(test_status_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
