/* Every API handler, one file per resource (or resource family). */
#ifndef AGENTRUN_API_HANDLERS_H
#define AGENTRUN_API_HANDLERS_H

struct request_ctx;

/* health.c */
int h_healthz(struct request_ctx *ctx);

/* apikeys.c: POST/GET /api/v1/api-keys, GET/DELETE /api/v1/api-keys/{id} */
int h_apikeys(struct request_ctx *ctx);
int h_apikey(struct request_ctx *ctx);

/* agents.c: POST/GET /api/v1/agents, GET/PATCH/DELETE /api/v1/agents/{id} */
int h_agents(struct request_ctx *ctx);
int h_agent(struct request_ctx *ctx);

/* versions.c: /api/v1/agents/{id}/versions[/{n}[/activate|/archive]] */
int h_versions(struct request_ctx *ctx);
int h_version(struct request_ctx *ctx);
int h_version_activate(struct request_ctx *ctx);
int h_version_archive(struct request_ctx *ctx);

/* byok.c: POST/GET /api/v1/routes, DELETE /api/v1/routes/{id} (admin) */
int h_byok_routes(struct request_ctx *ctx);
int h_byok_route(struct request_ctx *ctx);

/* sessions.c: POST/GET /api/v1/sessions, GET /api/v1/sessions/{id},
 * GET /api/v1/sessions/{id}/messages (threads alike) */
int h_sessions(struct request_ctx *ctx);
int h_session(struct request_ctx *ctx);
int h_session_messages(struct request_ctx *ctx);

/* runs_create.c: every way to create a run */
int h_runs_create(struct request_ctx *ctx); /* POST /api/v1/runs */
int h_agent_runs_create(struct request_ctx *ctx); /* POST /api/v1/agents/{id}/runs */
int h_version_runs_create(struct request_ctx *ctx); /* POST …/agents/{id}/versions/{n}/runs */
int h_thread_runs_create(struct request_ctx *ctx); /* POST /api/v1/threads/{id}/runs */
int h_session_message_post(struct request_ctx *ctx); /* POST /api/v1/sessions/{id}/messages */

/* runs.c: reading and steering runs */
int h_runs_list(struct request_ctx *ctx); /* GET /api/v1/runs */
int h_thread_runs_list(struct request_ctx *ctx); /* GET /api/v1/threads/{id}/runs */
int h_run(struct request_ctx *ctx); /* GET /api/v1/runs/{id} */
int h_run_cancel(struct request_ctx *ctx);
int h_run_input(struct request_ctx *ctx);
int h_run_approve(struct request_ctx *ctx);
int h_run_reject(struct request_ctx *ctx);
int h_session_cancel(struct request_ctx *ctx); /* POST /api/v1/sessions/{id}/cancel */

/* events.c: JSON event lists (SSE is agentrun-stream's) */
int h_run_events(struct request_ctx *ctx);
int h_session_events(struct request_ctx *ctx);

/* executions.c: the executions family's {data} envelope */
int h_executions(struct request_ctx *ctx);
int h_execution(struct request_ctx *ctx);
int h_execution_cancel(struct request_ctx *ctx);
int h_execution_approve(struct request_ctx *ctx);
int h_execution_reject(struct request_ctx *ctx);
int h_approvals(struct request_ctx *ctx);

/* analytics.c: costs, usage and billing of the caller's workspace; the price table */
int h_analytics_run_costs(struct request_ctx *ctx); /* GET /api/v1/analytics/runs/{id}/costs */
int h_analytics_usage(struct request_ctx *ctx); /* GET /api/v1/analytics/usage */
int h_analytics_billing(struct request_ctx *ctx); /* GET /api/v1/analytics/billing */
int h_models(struct request_ctx *ctx); /* GET /api/v1/models */

#endif
