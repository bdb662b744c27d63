/* Bring-your-own-key routes, as other API modules (run creation) see them. */
#ifndef AGENTRUN_API_BYOK_H
#define AGENTRUN_API_BYOK_H

#include "../core/ids.h"

struct request_ctx;

/* What a run takes from its route (never the key: the executor opens that). */
struct byok_route {
	char id[ID_BUFSZ];
	char provider[32]; /* openai | anthropic | scripted */
	char model[256]; /* at most 255 bytes, as POST allows */
	char base_url[2049]; /* "" when none */
};

/*
 * 1 when route_id names a route of the caller's workspace that is not
 * deleted, 0 when it does not (or is not a well-formed id), -1 on a
 * database error (nothing sent: the caller answers). Borrows route_id.
 */
int byok_route_exists(struct request_ctx *ctx, const char *route_id);

/* The same lookup, filling out when found: 1, 0 or -1 as above. */
int byok_route_load(struct request_ctx *ctx, const char *route_id, struct byok_route *out);

#endif
