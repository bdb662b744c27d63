/*
 * router.c: matching a method and a normalised path against a small
 * kcgi-style table, parameter extraction, 404 versus 405 and the Allow
 * header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/router.h"

static int
h(struct request_ctx *c)
{
	(void)c;
	return 0;
}

enum {
	R_HEALTH,
	R_RUNS,
	R_RUN,
	R_RUN_DELETE,
	R_RUN_CANCEL,
	R_VERSION,
	R__MAX
};

static const struct route table[R__MAX] = {
	[R_HEALTH] = { HTTP_GET, "/healthz", h, ROUTE_PUBLIC },
	[R_RUNS] = { HTTP_GET | HTTP_POST, "/api/v1/runs", h, 0 },
	[R_RUN] = { HTTP_GET, "/api/v1/runs/{id}", h, 0 },
	/* Same pattern again: its methods join the first entry's. */
	[R_RUN_DELETE] = { HTTP_DELETE, "/api/v1/runs/{id}", h, ROUTE_ADMIN },
	[R_RUN_CANCEL] = { HTTP_POST, "/api/v1/runs/{id}/cancel", h, 0 },
	[R_VERSION] = { HTTP_GET | HTTP_PATCH, "/api/v1/agents/{id}/versions/{n}", h, 0 },
};

/* router_match() over the whole table. */
static enum router_result
match(const char *method, const char *path, struct route_match *m, unsigned *allow)
{
	memset(m, 0, sizeof(*m));
	*allow = 0xdead;
	return router_match(table, R__MAX, method, path, m, allow);
}

static void
test_method(void **state)
{
	(void)state;
	assert_int_equal(router_method("GET"), HTTP_GET);
	assert_int_equal(router_method("POST"), HTTP_POST);
	assert_int_equal(router_method("PUT"), HTTP_PUT);
	assert_int_equal(router_method("PATCH"), HTTP_PATCH);
	assert_int_equal(router_method("DELETE"), HTTP_DELETE);
	assert_int_equal(router_method("HEAD"), 0);
	assert_int_equal(router_method("OPTIONS"), 0);
	assert_int_equal(router_method("get"), 0); /* methods are case-sensitive */
	assert_int_equal(router_method("GETX"), 0);
	assert_int_equal(router_method(""), 0);
	assert_int_equal(router_method(NULL), 0);
}

static void
test_exact(void **state)
{
	struct route_match m;
	unsigned allow;

	(void)state;
	assert_int_equal(match("GET", "/api/v1/runs", &m, &allow), ROUTER_OK);
	assert_ptr_equal(m.route, &table[R_RUNS]);
	assert_int_equal(m.nparams, 0);

	assert_int_equal(match("POST", "/api/v1/runs", &m, &allow), ROUTER_OK);
	assert_ptr_equal(m.route, &table[R_RUNS]);

	assert_int_equal(match("GET", "/healthz", &m, &allow), ROUTER_OK);
	assert_ptr_equal(m.route, &table[R_HEALTH]);
	assert_int_equal(m.route->flags, ROUTE_PUBLIC);
	assert_ptr_equal(m.route->handler, h);
}

static void
test_params(void **state)
{
	struct route_match m;
	unsigned allow;

	(void)state;
	assert_int_equal(
	    match("GET", "/api/v1/runs/0193a1b2-c3d4-7abc-bfff-ffffffffffff", &m, &allow),
	    ROUTER_OK);
	assert_ptr_equal(m.route, &table[R_RUN]);
	assert_int_equal(m.nparams, 1);
	assert_string_equal(m.params[0], "0193a1b2-c3d4-7abc-bfff-ffffffffffff");

	assert_int_equal(match("POST", "/api/v1/runs/abc/cancel", &m, &allow), ROUTER_OK);
	assert_ptr_equal(m.route, &table[R_RUN_CANCEL]);
	assert_int_equal(m.nparams, 1);
	assert_string_equal(m.params[0], "abc");

	assert_int_equal(match("PATCH", "/api/v1/agents/ag1/versions/42", &m, &allow), ROUTER_OK);
	assert_ptr_equal(m.route, &table[R_VERSION]);
	assert_int_equal(m.nparams, 2);
	assert_string_equal(m.params[0], "ag1");
	assert_string_equal(m.params[1], "42");

	/* A later entry with the same pattern answers its own method. */
	assert_int_equal(match("DELETE", "/api/v1/runs/xyz", &m, &allow), ROUTER_OK);
	assert_ptr_equal(m.route, &table[R_RUN_DELETE]);
	assert_int_equal(m.route->flags, ROUTE_ADMIN);
	assert_string_equal(m.params[0], "xyz");
}

static void
test_param_length(void **state)
{
	char path[64 + ROUTE_PARAM_LEN + 8];
	struct route_match m;
	unsigned allow;
	size_t o;

	(void)state;
	/* ROUTE_PARAM_LEN - 1 bytes fit with the NUL... */
	o = (size_t)snprintf(path, sizeof(path), "/api/v1/runs/");
	memset(path + o, 'a', ROUTE_PARAM_LEN - 1);
	path[o + ROUTE_PARAM_LEN - 1] = '\0';
	assert_int_equal(match("GET", path, &m, &allow), ROUTER_OK);
	assert_int_equal(strlen(m.params[0]), ROUTE_PARAM_LEN - 1);

	/* ...one more does not match at all rather than being cut. */
	memset(path + o, 'a', ROUTE_PARAM_LEN);
	path[o + ROUTE_PARAM_LEN] = '\0';
	assert_int_equal(match("GET", path, &m, &allow), ROUTER_NOT_FOUND);
}

static void
test_not_found(void **state)
{
	static const char *const paths[] = {
		"/api/v1/nothing",
		"/api/v1/run",
		"/api/v1/runsx",
		"/api/v1",
		"/",
		"",
		"/API/V1/RUNS",
		"/api/v1/runs/", /* empty {id} */
		"/api/v1/runs//cancel", /* empty {id} */
		"/api/v1/runs/abc/extra", /* trailing extra segment */
		"/api/v1/runs/abc/cancel/x",
		"/api/v1/runs/abc/",
		"/api/v1/agents/a/versions/",
		"/api/v1/agents//versions/1",
		"/api/v1/agents/a/versions/3/x",
		"/healthz/",
	};
	struct route_match m;
	unsigned allow;

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_int_equal(match("GET", paths[i], &m, &allow), ROUTER_NOT_FOUND);
		assert_int_equal(allow, 0);
		/* The same with a method no route answers. */
		assert_int_equal(match("POST", paths[i], &m, &allow) == ROUTER_OK, 0);
	}
}

static void
test_bad_method(void **state)
{
	struct route_match m;
	unsigned allow;

	(void)state;
	assert_int_equal(match("PUT", "/api/v1/runs", &m, &allow), ROUTER_BAD_METHOD);
	assert_int_equal(allow, HTTP_GET | HTTP_POST);

	/* The allow mask joins every entry whose pattern matches. */
	assert_int_equal(match("PATCH", "/api/v1/runs/abc", &m, &allow), ROUTER_BAD_METHOD);
	assert_int_equal(allow, HTTP_GET | HTTP_DELETE);

	assert_int_equal(match("GET", "/api/v1/runs/abc/cancel", &m, &allow), ROUTER_BAD_METHOD);
	assert_int_equal(allow, HTTP_POST);

	/* A method the router does not know is still a 405 on a known path. */
	assert_int_equal(match("HEAD", "/api/v1/runs", &m, &allow), ROUTER_BAD_METHOD);
	assert_int_equal(allow, HTTP_GET | HTTP_POST);
	assert_int_equal(match("get", "/api/v1/runs", &m, &allow), ROUTER_BAD_METHOD);
	assert_int_equal(match(NULL, "/api/v1/runs", &m, &allow), ROUTER_BAD_METHOD);
}

static void
test_allow_header(void **state)
{
	char out[64];

	(void)state;
	router_allow_header(HTTP_GET | HTTP_POST, out, sizeof(out));
	assert_string_equal(out, "GET, POST");

	router_allow_header(HTTP_POST, out, sizeof(out));
	assert_string_equal(out, "POST");

	router_allow_header(HTTP_DELETE | HTTP_GET, out, sizeof(out));
	assert_string_equal(out, "GET, DELETE");

	router_allow_header(
	    HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE, out, sizeof(out));
	assert_string_equal(out, "GET, POST, PUT, PATCH, DELETE");

	memset(out, 'x', sizeof(out));
	router_allow_header(0, out, sizeof(out));
	assert_string_equal(out, "");
}

static void
test_allow_header_small(void **state)
{
	static const char full[] = "GET, POST, PUT, PATCH, DELETE";
	unsigned all = HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE;
	char out[sizeof(full) + 1];

	(void)state;
	/* Any buffer size gives a NUL-terminated prefix, never an overrun. */
	for (size_t sz = 1; sz <= sizeof(out); sz++) {
		memset(out, 'x', sizeof(out));
		router_allow_header(all, out, sz);
		assert_true(memchr(out, '\0', sz) != NULL);
		assert_true(strlen(out) < sz);
		assert_memory_equal(out, full, strlen(out));
		if (sz < sizeof(out))
			assert_int_equal(out[sz], 'x');
	}

	/* Zero size writes nothing. */
	out[0] = 'x';
	router_allow_header(all, out, 0);
	assert_int_equal(out[0], 'x');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_method),
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_param_length),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_bad_method),
		cmocka_unit_test(test_allow_header),
		cmocka_unit_test(test_allow_header_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
