/* Placeholder until this resource lands: every route answers 404. */
#include "api.h"
#include "handlers.h"

int
h_executions(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_execution(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_execution_cancel(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_execution_approve(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_execution_reject(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_approvals(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

