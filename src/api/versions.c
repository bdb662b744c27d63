/* Placeholder until this resource lands: every route answers 404. */
#include "api.h"
#include "handlers.h"

int
h_versions(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_version(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_version_activate(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

int
h_version_archive(struct request_ctx *ctx)
{
	return http_send_error(ctx->req, 404, ERR_NOT_FOUND, NULL, "no route for %s", ctx->req->path);
}

