#include "api.h"
#include "handlers.h"

#include "../core/db.h"

static const char health_sql_ping[] = "SELECT 1";

/* GET /healthz: no auth; 503 when the database does not answer. */
int
h_healthz(struct request_ctx *ctx)
{
	struct db_result *res = NULL;

	if (db_query(ctx->db, health_sql_ping, NULL, 0, &res) == -1)
		return http_send_json_h(ctx->req, 503, "Retry-After: 1\r\n",
		    json_pack("{s:s, s:s}", "status", "unavailable", "db", "unreachable"));
	db_result_free(res);
	return http_send_json(ctx->req, 200, json_pack("{s:s, s:s}", "status", "ok", "db", "ok"));
}
