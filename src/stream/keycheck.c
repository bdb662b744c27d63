/*
 * Open streams end when their API key is revoked.
 *
 * A stream is authenticated once, when it opens, and may stay open for an
 * hour; without this a key revoked meanwhile (a leaked one, say) would keep
 * reading its workspace's events. Every KEYCHECK_MS the worker asks which
 * of the keys behind its open streams are still live (one statement per
 * 128 distinct keys, whatever the number of streams) and ends the streams
 * of the others, as a finished stream ends; the client's reconnect is then
 * refused with 401. A database error changes nothing: the next check
 * retries.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/dbrows.h"
#include "../core/errors.h"
#include "../core/http.h"
#include "../core/log.h"
#include "stream.h"

static struct dbrows_template keycheck_t_live = DBROWS_TEMPLATE(
    "SELECT id FROM api_keys WHERE revoked_at IS NULL AND id IN (", "?", ", ", ")", 0, 1);

/* Streams and sync executions: what holds a connection open on an old authentication. */
static int
keycheck_held(const struct sconn *c)
{
	return !c->dead && c->key_id[0] != '\0' &&
	    (c->state == SC_STREAMING || c->state == SC_WAITING);
}

static int
keycheck_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when id is among the n sorted live ids. */
static int
keycheck_live(const char *id, char *const *live, size_t n)
{
	return bsearch(&id, live, n, sizeof(*live), keycheck_cmp) != NULL;
}

void
keycheck_run(struct server *s)
{
	const char **ids = NULL;
	char **live = NULL;
	struct db_result *res = NULL;
	struct dbrows rows;
	size_t n = 0, distinct = 0;
	struct sconn *c, *next;
	long ended = 0;

	if (s->nconns <= 0)
		return;
	if ((ids = malloc((size_t)s->nconns * sizeof(*ids))) == NULL)
		return;
	for (c = s->conns; c != NULL; c = c->next)
		if (keycheck_held(c) && n < (size_t)s->nconns)
			ids[n++] = c->key_id;
	if (n == 0)
		goto out;
	qsort(ids, n, sizeof(*ids), keycheck_cmp);
	dbrows_init(&rows, &keycheck_t_live);
	for (size_t i = 0; i < n; i++) {
		struct db_param p = dbp_str(ids[i]);

		if (i > 0 && strcmp(ids[i], ids[i - 1]) == 0)
			continue;
		distinct++;
		(void)dbrows_add(&rows, &p);
	}
	s->queries++;
	if (dbrows_query(s->db, &rows, NULL, &res) == -1) {
		dbrows_free(&rows);
		log_warnx("msg=\"key check failed\" errno=%u", db_last_errno(s->db));
		goto out;
	}
	dbrows_free(&rows);
	if (res->nrows == distinct)
		goto out; /* every key is live */
	if ((live = malloc((res->nrows > 0 ? res->nrows : 1) * sizeof(*live))) == NULL)
		goto out;
	for (size_t r = 0; r < res->nrows; r++)
		live[r] = res->cell[r * res->ncols];
	qsort(live, res->nrows, sizeof(*live), keycheck_cmp);
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (!keycheck_held(c) || keycheck_live(c->key_id, live, res->nrows))
			continue;
		/* A waiting sync execution has sent nothing yet: it gets the 401. */
		if (c->state == SC_WAITING)
			http_send_error_h(&c->req, 401, ERR_AUTHORIZATION,
			    "WWW-Authenticate: Bearer\r\n", NULL, "the API key was revoked");
		sconn_finish(s, c);
		ended++;
	}
	log_info("msg=\"streams of revoked keys ended\" streams=%ld", ended);
out:
	free(live);
	db_result_free(res);
	free(ids);
}
