#include "api.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/db.h"
#include "../core/log.h"

int
api_db_failure(struct request_ctx *ctx, const char *what)
{
	return api_db_failure_of(ctx, what, db_last_err(ctx->db), db_last_errno(ctx->db));
}

int
api_db_failure_of(struct request_ctx *ctx, const char *what, enum db_err err, unsigned int err_no)
{
	int unknown = (ctx->outcome_unknown || db_outcome_unknown(ctx->db)) &&
	    strcmp(ctx->req->method, "GET") != 0 && strcmp(ctx->req->method, "HEAD") != 0;

	log_warnx("msg=\"database error\" op=%s errno=%u outcome_unknown=%d request_id=%s", what,
	    err_no, unknown, ctx->req->request_id);
	if (unknown)
		return http_send_error_h(ctx->req, 503, ERR_INTERNAL, "Retry-After: 1\r\n",
		    json_pack("{s:s}", "outcome", "unknown"),
		    "the database connection was lost after the request was sent: the outcome is "
		    "unknown; retry with the same Idempotency-Key (a create retried without one "
		    "may be made twice)");
	if (err == DB_ERR_TIMEOUT)
		return http_send_error_h(ctx->req, 503, ERR_INTERNAL, "Retry-After: 1\r\n", NULL,
		    "the database did not answer in time; nothing was changed, try again");
	if (err == DB_ERR_RETRY)
		return http_send_error_h(ctx->req, 503, ERR_INTERNAL, "Retry-After: 1\r\n", NULL,
		    "the database is unavailable, try again");
	return http_send_error(ctx->req, 500, ERR_INTERNAL, NULL, "internal error");
}

int
api_send_rows(struct request_ctx *ctx, struct db_result *res, api_row_view view)
{
	json_t *arr = json_array();

	for (size_t r = 0; r < res->nrows; r++)
		json_array_append_new(arr, view(res, r));
	db_result_free(res);
	return http_send_json(ctx->req, 200, arr);
}

static void
api_route(struct request_ctx *ctx)
{
	struct http_request *req = ctx->req;
	enum router_result rr;
	enum auth_result ar;
	unsigned allow;

	if (req->path[0] == '\0') {
		http_send_error(req, 404, ERR_NOT_FOUND, NULL, "no such route");
		return;
	}
	rr =
	    router_match(api_routes, api_routes_count, req->method, req->path, &ctx->match, &allow);
	if (rr == ROUTER_NOT_FOUND) {
		char esc[256];

		http_send_error(req, 404, ERR_NOT_FOUND, NULL, "no route for %s",
		    log_escape(esc, sizeof(esc), req->path));
		return;
	}
	if (rr == ROUTER_BAD_METHOD) {
		char methods[64], hdr[96];

		router_allow_header(allow, methods, sizeof(methods));
		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", methods);
		http_send_error_h(req, 405, ERR_METHOD_NOT_ALLOWED, hdr, NULL,
		    "method not allowed; allowed: %s", methods);
		return;
	}
	if (!(ctx->match.route->flags & ROUTE_PUBLIC)) {
		ar = auth_resolve_from(ctx->db, req->authorization, req->remote_addr, &ctx->auth);
		if (ar == AUTH_DB_ERROR) {
			api_db_failure(ctx, "auth");
			return;
		}
		if (ar == AUTH_THROTTLED) {
			http_send_error_h(req, 429, ERR_RATE_LIMIT, "Retry-After: 1\r\n",
			    json_pack("{s:s}", "limit", "api.unknown_keys_per_address"), "%s",
			    auth_result_message(ar));
			return;
		}
		if (ar != AUTH_OK) {
			http_send_error_h(req, 401, ERR_AUTHORIZATION,
			    "WWW-Authenticate: Bearer\r\n", NULL, "%s", auth_result_message(ar));
			return;
		}
		if ((ctx->match.route->flags & ROUTE_ADMIN) && ctx->auth.role != AUTH_ROLE_ADMIN) {
			http_send_error(
			    req, 403, ERR_AUTHORIZATION, NULL, "this route needs an admin key");
			return;
		}
	}
	ctx->match.route->handler(ctx);
}

void
api_dispatch(struct http_request *req, struct db *db, const struct config *cfg)
{
	struct request_ctx ctx;
	struct timespec t0, t1;
	char esc[256];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&ctx, 0, sizeof(ctx));
	ctx.req = req;
	ctx.db = db;
	ctx.cfg = cfg;
	/* Our own 503 before nginx gives up on the request (its 504 says nothing). */
	db_set_deadline(db, db_now_ms() + cfg->api_db_deadline_s * 1000);
	api_route(&ctx);
	db_set_deadline(db, 0);
	if (!req->responded)
		http_send_error(req, 500, ERR_INTERNAL, NULL, "internal error");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_debug("msg=request method=%s path=\"%s\" status=%d ms=%.3f request_id=%s", req->method,
	    log_escape(esc, sizeof(esc), req->path), req->status,
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
	    req->request_id);
}
