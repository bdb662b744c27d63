/* Every API handler, one per resource (or resource family) file. */
#ifndef AGENTRUN_API_HANDLERS_H
#define AGENTRUN_API_HANDLERS_H

struct request_ctx;

/* health.c */
int h_healthz(struct request_ctx *ctx);

/* apikeys.c: POST/GET /api/v1/api-keys, GET/DELETE /api/v1/api-keys/{id} */
int h_apikeys(struct request_ctx *ctx);
int h_apikey(struct request_ctx *ctx);

#endif
