/*
 * The API worker's route table: find any handler from its URL here.
 * Paths are matched after normalisation (/v1 → /api/v1, "{id}:cancel" →
 * "{id}/cancel"). Sessions and threads are one resource, served under both
 * names. Streaming (SSE, execute) is agentrun-stream's; nginx sends it there.
 */
#include "api.h"
#include "handlers.h"

#define G HTTP_GET
#define P HTTP_POST
#define SESSIONS(path) "/api/v1/sessions" path
#define THREADS(path) "/api/v1/threads" path

const struct route api_routes[] = {
	{ G, "/healthz", h_healthz, ROUTE_PUBLIC },

	{ P | G, "/api/v1/api-keys", h_apikeys, ROUTE_ADMIN },
	{ G | HTTP_DELETE, "/api/v1/api-keys/{id}", h_apikey, ROUTE_ADMIN },

	{ P | G, "/api/v1/routes", h_byok_routes, ROUTE_ADMIN },
	{ HTTP_DELETE, "/api/v1/routes/{id}", h_byok_route, ROUTE_ADMIN },

	{ P | G, "/api/v1/agents", h_agents, 0 },
	{ G | HTTP_PATCH | HTTP_DELETE, "/api/v1/agents/{id}", h_agent, 0 },
	{ P | G, "/api/v1/agents/{id}/versions", h_versions, 0 },
	{ G | HTTP_PATCH, "/api/v1/agents/{id}/versions/{n}", h_version, 0 },
	{ P, "/api/v1/agents/{id}/versions/{n}/activate", h_version_activate, 0 },
	{ P, "/api/v1/agents/{id}/versions/{n}/archive", h_version_archive, 0 },
	{ P, "/api/v1/agents/{id}/versions/{n}/runs", h_version_runs_create, 0 },
	{ P, "/api/v1/agents/{id}/runs", h_agent_runs_create, 0 },

	{ P, "/api/v1/runs", h_runs_create, 0 },
	{ G, "/api/v1/runs", h_runs_list, 0 },
	{ G, "/api/v1/runs/{id}", h_run, 0 },
	{ P, "/api/v1/runs/{id}/cancel", h_run_cancel, 0 },
	{ P, "/api/v1/runs/{id}/input", h_run_input, 0 },
	{ P, "/api/v1/runs/{id}/approve", h_run_approve, 0 },
	{ P, "/api/v1/runs/{id}/reject", h_run_reject, 0 },
	{ G, "/api/v1/runs/{id}/events", h_run_events, 0 },
	{ G, "/api/v1/runs/{id}/logs", h_run_events, 0 },

	{ P | G, SESSIONS(""), h_sessions, 0 },
	{ G, SESSIONS("/{id}"), h_session, 0 },
	{ G, SESSIONS("/{id}/messages"), h_session_messages, 0 },
	{ P, SESSIONS("/{id}/messages"), h_session_message_post, 0 },
	{ G, SESSIONS("/{id}/events"), h_session_events, 0 },
	{ P, SESSIONS("/{id}/cancel"), h_session_cancel, 0 },
	{ P, SESSIONS("/{id}/runs"), h_thread_runs_create, 0 },
	{ G, SESSIONS("/{id}/runs"), h_thread_runs_list, 0 },

	{ P | G, THREADS(""), h_sessions, 0 },
	{ G, THREADS("/{id}"), h_session, 0 },
	{ G, THREADS("/{id}/messages"), h_session_messages, 0 },
	{ P, THREADS("/{id}/messages"), h_session_message_post, 0 },
	{ G, THREADS("/{id}/events"), h_session_events, 0 },
	{ P, THREADS("/{id}/cancel"), h_session_cancel, 0 },
	{ P, THREADS("/{id}/runs"), h_thread_runs_create, 0 },
	{ G, THREADS("/{id}/runs"), h_thread_runs_list, 0 },

	{ G, "/api/v1/executions", h_executions, 0 },
	{ G, "/api/v1/executions/{id}", h_execution, 0 },
	{ P, "/api/v1/executions/{id}/cancel", h_execution_cancel, 0 },
	{ P, "/api/v1/executions/{id}/approve", h_execution_approve, 0 },
	{ P, "/api/v1/executions/{id}/reject", h_execution_reject, 0 },
	{ G, "/api/v1/approvals", h_approvals, 0 },

	{ G, "/api/v1/analytics/runs/{id}/costs", h_analytics_run_costs, 0 },
	{ G, "/api/v1/analytics/usage", h_analytics_usage, 0 },
	{ G, "/api/v1/analytics/billing", h_analytics_billing, 0 },
	{ G, "/api/v1/models", h_models, 0 },
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
