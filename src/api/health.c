/*
 * GET /healthz: no auth. What a load balancer needs to know about this
 * worker: can it read, and can it write?
 *
 * Reads: SELECT 1. Writes: an UPDATE of the runs table that matches no row.
 * It changes nothing and locks no row, but it needs what every create
 * needs: the table's write metadata lock (refused while someone holds
 * FLUSH TABLES WITH READ LOCK, a backup lock or LOCK TABLES runs) and a
 * server that accepts writes (a read_only replica after a failover answers
 * error 1290). It waits at most a second for a lock, so /healthz answers
 * "writes blocked" instead of hanging behind the lock like the creates.
 *
 * The answer is cached for HEALTH_CACHE_MS: at most one check (two
 * statements) per second per worker, however often it is asked, so
 * unauthenticated traffic cannot turn /healthz into database load. The
 * cache is a static: handlers run one at a time in a worker (reqthreads.h),
 * so it needs no lock.
 */
#include <time.h>

#include "api.h"
#include "handlers.h"

#include "../core/db.h"

#define HEALTH_CACHE_MS 1000

static const char health_sql_ping[] = "SELECT 1";
static const char health_sql_write[] =
    "SET STATEMENT lock_wait_timeout = 1, innodb_lock_wait_timeout = 1 FOR"
    " UPDATE runs SET updated_at = updated_at WHERE id = ''";

enum health_state {
	HEALTH_OK,
	HEALTH_WRITES_BLOCKED, /* reads answer, writes do not */
	HEALTH_DB_UNREACHABLE,
};

static struct {
	int valid;
	long long at_ms;
	enum health_state state;
} health_cache;

static long long
health_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum health_state
health_check(struct db *db)
{
	struct db_result *res = NULL;

	if (db_query(db, health_sql_ping, NULL, 0, &res) == -1)
		return HEALTH_DB_UNREACHABLE;
	db_result_free(res);
	if (db_query(db, health_sql_write, NULL, 0, NULL) == -1)
		return db_last_err(db) == DB_ERR_RETRY && db_last_errno(db) != 1205
		    ? HEALTH_DB_UNREACHABLE
		    : HEALTH_WRITES_BLOCKED;
	return HEALTH_OK;
}

/*
 * 200 {"status":"ok","db":"ok","writes":"ok"}; otherwise 503 with
 * Retry-After: 1 and "db":"unreachable" or "writes":"blocked".
 */
int
h_healthz(struct request_ctx *ctx)
{
	long long now = health_now_ms();

	if (!health_cache.valid || now - health_cache.at_ms >= HEALTH_CACHE_MS) {
		health_cache.state = health_check(ctx->db);
		/* Stamped after the check: a check that waited is not repeated at once. */
		health_cache.at_ms = health_now_ms();
		health_cache.valid = 1;
	}
	switch (health_cache.state) {
	case HEALTH_OK:
		return http_send_json(ctx->req, 200,
		    json_pack("{s:s, s:s, s:s}", "status", "ok", "db", "ok", "writes", "ok"));
	case HEALTH_WRITES_BLOCKED:
		return http_send_json_h(ctx->req, 503, "Retry-After: 1\r\n",
		    json_pack("{s:s, s:s, s:s}", "status", "unavailable", "db", "ok", "writes",
			"blocked"));
	case HEALTH_DB_UNREACHABLE:
	default:
		return http_send_json_h(ctx->req, 503, "Retry-After: 1\r\n",
		    json_pack("{s:s, s:s, s:s}", "status", "unavailable", "db", "unreachable",
			"writes", "unknown"));
	}
}
