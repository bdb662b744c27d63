/* What every API handler gets: the request, this child's connection, the caller. */
#ifndef AGENTRUN_API_H
#define AGENTRUN_API_H

#include "../core/auth.h"
#include "../core/config.h"
#include "../core/db.h"
#include "../core/http.h"
#include "../core/router.h"

struct db;

struct request_ctx {
	struct http_request *req;
	struct db *db;
	const struct config *cfg;
	struct auth auth; /* filled unless the route is ROUTE_PUBLIC */
	struct route_match match;
	int outcome_unknown; /* a write on another connection may have committed (createnew) */
};

/* The route table (routes.c). */
extern const struct route api_routes[];
extern const size_t api_routes_count;

/* Routes, authenticates and runs one request; always sends a response. */
void api_dispatch(struct http_request *req, struct db *db, const struct config *cfg);

struct db_result;

/* Builds the JSON view of one row (new reference). */
typedef json_t *(*api_row_view)(const struct db_result *res, size_t row);

/* Sends the rows of res as a bare JSON array (200), each built by view. Frees res. */
int api_send_rows(struct request_ctx *ctx, struct db_result *res, api_row_view view);

/*
 * Sends the answer to a database failure and logs its detail: 503 with
 * Retry-After: 1 when the database is unavailable or did not answer within
 * api.db_deadline_s, and for a write whose outcome is unknown (its commit
 * was sent, then the connection was lost) a 503 that says so, with
 * details.outcome = "unknown"; else 500 INTERNAL_ERROR.
 */
int api_db_failure(struct request_ctx *ctx, const char *what);
/* The same for a failure seen on another connection (err, err_no of that one). */
int api_db_failure_of(
    struct request_ctx *ctx, const char *what, enum db_err err, unsigned int err_no);

#endif
