/*
 * The API worker's route table: find any handler from its URL here.
 * Streaming routes (SSE, execute) are served by agentrun-stream; nginx
 * sends them there.
 */
#include "api.h"
#include "handlers.h"

const struct route api_routes[] = {
	{ HTTP_GET, "/healthz", h_healthz, ROUTE_PUBLIC },

	{ HTTP_POST | HTTP_GET, "/api/v1/api-keys", h_apikeys, ROUTE_ADMIN },
	{ HTTP_DELETE | HTTP_GET, "/api/v1/api-keys/{id}", h_apikey, ROUTE_ADMIN },
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
