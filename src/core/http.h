/*
 * One HTTP request as the FastCGI glue hands it over, and the writers for
 * its response. Independent of libfcgi so it can be unit-tested: bytes go
 * out through req->write.
 */
#ifndef AGENTRUN_HTTP_H
#define AGENTRUN_HTTP_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>

#include "errors.h"

#define HTTP_PATH_MAX 1024
#define HTTP_REQID_MAX 129
#define HTTP_BODY_MAX (1024 * 1024)

typedef int (*http_write_fn)(void *ctx, const char *buf, size_t len);

struct http_request {
	const char *method;
	char path[HTTP_PATH_MAX]; /* normalised routing path, no query */
	const char *query; /* raw query string, "" when none; borrowed */
	const char *authorization;
	const char *content_type;
	const char *accept;
	const char *idempotency_key;
	const char *last_event_id;
	const char *remote_addr;
	char request_id[HTTP_REQID_MAX];
	char *body; /* owned, NUL-terminated; NULL when none */
	size_t body_len;
	http_write_fn write;
	void *write_ctx;
	int status; /* what was sent, for the access log */
	int responded; /* a response (or its headers) went out */
};

/*
 * Turns a raw URI path into the routing path: drops the query, serves
 * "/v1/x" as "/api/v1/x", turns a last segment "id:verb" into "id/verb" and
 * drops one trailing slash. Returns 0, or -1 when it does not fit or is not
 * an absolute path.
 */
int http_normalize_path(const char *raw, char *out, size_t outsz);

/* Uses given when it is 1–128 of [A-Za-z0-9._:-], else a new UUIDv7. */
void http_set_request_id(struct http_request *req, const char *given);

/*
 * Finds name in a query string and URL-decodes its value into out.
 * Returns 1 when found, 0 when absent, -1 when malformed or too long.
 */
int http_query_param(const char *query, const char *name, char *out, size_t outsz);

/* Sends a whole response; extra_headers is "Name: value\r\n"… or NULL. */
int http_send(struct http_request *req, int status, const char *extra_headers,
    const char *content_type, const char *body, size_t len);

/* Sends body as JSON. Steals body (even on failure). */
int http_send_json(struct http_request *req, int status, json_t *body);
int http_send_json_h(struct http_request *req, int status, const char *extra_headers, json_t *body);

/*
 * Sends the contract's error body. details is stolen (NULL = {}).
 * The message must never hold SQL, secrets or a stack.
 */
int http_send_error(struct http_request *req, int status, enum err_code code, json_t *details,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int http_send_error_h(struct http_request *req, int status, enum err_code code,
    const char *extra_headers, json_t *details, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The two above, for callers that have a va_list. */
int http_send_verror(struct http_request *req, int status, enum err_code code,
    const char *extra_headers, json_t *details, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/*
 * Parses the body as a JSON object into *out (a new reference). On failure
 * sends 400 INVALID_INPUT (or 413) and returns -1. An empty body is an
 * empty object when empty_ok, else an error.
 */
int http_json_body(struct http_request *req, json_t **out, int empty_ok);

#endif
