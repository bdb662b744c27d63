/*
 * A kcgi-style route table: each process keeps one static array of
 * {methods, pattern, handler, flags}; a pattern is a path whose "{name}"
 * segments match one non-empty segment. struct request_ctx is defined by
 * the process that owns the table; the router never looks inside it.
 */
#ifndef AGENTRUN_ROUTER_H
#define AGENTRUN_ROUTER_H

#include <stddef.h>

#define ROUTE_PARAMS_MAX 4
#define ROUTE_PARAM_LEN 128

enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_POST = 1 << 1,
	HTTP_PUT = 1 << 2,
	HTTP_PATCH = 1 << 3,
	HTTP_DELETE = 1 << 4,
};

/* Route flags. */
#define ROUTE_PUBLIC 0x1 /* no API key needed */
#define ROUTE_ADMIN 0x2 /* admin role only */

struct request_ctx;

struct route {
	unsigned methods;
	const char *pattern;
	int (*handler)(struct request_ctx *);
	unsigned flags;
};

struct route_match {
	const struct route *route;
	size_t nparams;
	char params[ROUTE_PARAMS_MAX][ROUTE_PARAM_LEN];
};

enum router_result {
	ROUTER_OK = 0,
	ROUTER_NOT_FOUND = -1,
	ROUTER_BAD_METHOD = -2
};

/* 0 when the method name is unknown. */
unsigned router_method(const char *name);

/*
 * Finds the route for method and path. On ROUTER_BAD_METHOD *allow holds
 * the methods the path does answer.
 */
enum router_result router_match(const struct route *table, size_t n, const char *method,
    const char *path, struct route_match *m, unsigned *allow);

/* Writes "GET, POST" for a method mask. */
void router_allow_header(unsigned methods, char *out, size_t outsz);

#endif
