/* Bring-your-own-key routes, as other API modules (run creation) see them. */
#ifndef AGENTRUN_API_BYOK_H
#define AGENTRUN_API_BYOK_H

struct request_ctx;

/*
 * 1 when route_id names a route of the caller's workspace that is not
 * deleted, 0 when it does not (or is not a well-formed id), -1 on a
 * database error (nothing sent: the caller answers). Borrows route_id.
 */
int byok_route_exists(struct request_ctx *ctx, const char *route_id);

#endif
