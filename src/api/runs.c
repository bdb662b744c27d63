/* Placeholder until this resource lands: every route answers 404. */
#include "api.h"
#include "handlers.h"

int
h_runs_list(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_thread_runs_list(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_run(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_run_cancel(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_run_input(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_run_approve(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_run_reject(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_session_cancel(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

