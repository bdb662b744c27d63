/* Placeholder until this resource lands: every route answers 404. */
#include "api.h"
#include "handlers.h"

int
h_run_events(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_session_events(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

