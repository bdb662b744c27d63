/*
 * The stream worker's event loop and its routes.
 *
 *   GET  /api/v1/runs/{id}/events|logs          SSE of one run (closes after its end)
 *   GET  /api/v1/sessions|threads/{id}/events   SSE of a session (open while it is open)
 *   GET  /api/v1/executions/{id}/stream         execution frames
 *   POST /api/v1/agents/{id}/execute            sync (or async) execution
 *
 * nginx sends the event routes here only with Accept: text/event-stream;
 * reached any other way they are answered as JSON by asking agentrun-api.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../core/auth.h"
#include "../core/config.h"
#include "../core/db.h"
#include "../core/log.h"
#include "../core/router.h"
#include "frames.h"
#include "sendring.h"
#include "stream.h"

#define CONN_OUT_MAX (8 * 1024 * 1024) /* a listener this far behind is dropped */
#define CONN_IN_MAX (FCGI_PARAMS_MAX + FCGI_STDIN_MAX + 65536)
#define EXECUTE_TIMEOUT_DEFAULT_S 120
#define EXECUTE_TIMEOUT_MAX_S 3600
#define STREAMCAP_RETRY_AFTER "5" /* seconds: streams end at their own pace */

enum up_purpose {
	UP_RELAY,
	UP_CREATE,
	UP_FETCH_DONE,
	UP_FETCH_ACCEPTED
};

static void conn_free(struct sconn *c);

struct request_ctx {
	struct server *s;
	struct sconn *c;
	struct route_match match;
	struct auth auth;
};

static int r_run_events(struct request_ctx *ctx);
static int r_session_events(struct request_ctx *ctx);
static int r_execution_stream(struct request_ctx *ctx);
static int r_execute(struct request_ctx *ctx);

static const struct route stream_routes[] = {
	{ HTTP_GET, "/api/v1/runs/{id}/events", r_run_events, 0 },
	{ HTTP_GET, "/api/v1/runs/{id}/logs", r_run_events, 0 },
	{ HTTP_GET, "/api/v1/sessions/{id}/events", r_session_events, 0 },
	{ HTTP_GET, "/api/v1/threads/{id}/events", r_session_events, 0 },
	{ HTTP_GET, "/api/v1/executions/{id}/stream", r_execution_stream, 0 },
	{ HTTP_POST, "/api/v1/agents/{id}/execute", r_execute, 0 },
};

static const char srv_sql_run[] =
    "SELECT session_id, status FROM runs WHERE workspace_id = ? AND id = ?";
static const char srv_sql_session[] =
    "SELECT status FROM sessions WHERE workspace_id = ? AND id = ?";
static const char srv_sql_run_end[] =
    "SELECT status, output, error_code, error_message, prompt_tokens, completion_tokens,"
    " cost_nusd, (SELECT MAX(e.seq) FROM events e WHERE e.run_id = r.id)"
    " FROM runs r WHERE r.id = ?";

uint64_t
server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * EPOLLOUT is registered only while bytes wait in c->out (a send came back
 * short), so a delivery that goes out whole costs no epoll_ctl.
 */
static void
conn_watch_output(struct server *s, struct sconn *c)
{
	int want = c->out.len > 0;
	struct epoll_event ev = { EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0), { .ptr = c } };

	if (want == c->epollout)
		return;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->epollout = want;
}

/* Puts c on the list the loop flushes (or closes) at the end of the turn. */
static void
conn_pending(struct server *s, struct sconn *c)
{
	if (c->pending || c->dead)
		return;
	c->pending = 1;
	c->pnext = s->pending;
	s->pending = c;
}

/*
 * Drops c without unsubscribing it: it closes (and leaves its watch) at the
 * end of the turn. Safe while the hub walks a watch's listeners, which a
 * ring flush can interrupt to report on other connections.
 */
static void
conn_drop(struct server *s, struct sconn *c)
{
	c->failed = 1;
	c->state = SC_CLOSING;
	c->out.len = 0;
	conn_pending(s, c);
}

/*
 * Keeps the n bytes at rec that a send did not take, after anything queued
 * before them. sent: a send just came back short, so wait for EPOLLOUT.
 * 0, or -1 when c was dropped (too far behind).
 */
static int
conn_keep(struct server *s, struct sconn *c, const unsigned char *rec, size_t n, int sent)
{
	size_t at = c->out.len;

	if (fbuf_put(&c->out, rec, n) == -1) {
		log_warnx("msg=\"listener too far behind, dropping it\" request_id=%s",
		    c->req.request_id);
		conn_drop(s, c);
		return -1;
	}
	/* Whole records only reach here with another id: the direct send needs FRAMES_REQUEST_ID. */
	if (c->fcgi_id != FRAMES_REQUEST_ID)
		fcgi_set_request_id(c->out.p + at, n, c->fcgi_id);
	/* The socket is full (a send just came back short, or EPOLLOUT is awaited): wait for room. */
	if (sent || c->epollout)
		conn_watch_output(s, c);
	else
		conn_pending(s, c);
	return 0;
}

/* A ring send came back: what it did not take waits in c->out, as after a short send(). */
static void
conn_sent(void *ctx, void *tag, const void *p, size_t n, ssize_t res)
{
	struct server *s = ctx;
	struct sconn *c = tag;
	const unsigned char *rest = p;

	c->sending = 0;
	if (c->failed || res == (ssize_t)n)
		return;
	if (res < 0 && res != -EAGAIN) {
		conn_drop(s, c); /* nginx went away */
		return;
	}
	if (res > 0) {
		rest += res;
		n -= (size_t)res;
	}
	(void)conn_keep(s, c, rest, n, 1);
}

void
server_sends_flush(struct server *s)
{
	if (s->ring != NULL && sendring_queued(s->ring) > 0)
		sendring_flush(s->ring, conn_sent, s);
}

/* Lets c's queued ring send finish before anything else is written to c or its descriptor. */
static void
conn_settle(struct server *s, struct sconn *c)
{
	if (c->sending)
		server_sends_flush(s);
}

/* Unlinks c now; frees it after the loop turn (epoll may still name it). */
static void
conn_close(struct server *s, struct sconn *c)
{
	if (c->dead)
		return;
	conn_settle(s, c); /* a queued send must not reach the descriptor's next owner */
	streamcap_release(c);
	hub_unsubscribe(s, c);
	upstream_cancel(s, c);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	c->dead = 1;
	c->next = s->graveyard;
	s->graveyard = c;
}

static void
conn_reap(struct server *s)
{
	while (s->graveyard != NULL) {
		struct sconn *c = s->graveyard;

		s->graveyard = c->next;
		conn_free(c);
	}
}

static void
conn_free(struct sconn *c)
{
	fcgi_req_free(&c->fr);
	fbuf_free(&c->in);
	fbuf_free(&c->out);
	free(c->req.body);
	for (size_t i = 0; i < sizeof(c->params_store) / sizeof(c->params_store[0]); i++)
		free(c->params_store[i]);
	free(c);
}

/* Writes what it can now; the rest waits for EPOLLOUT. -1 when c is to be closed. */
static int
conn_flush(struct server *s, struct sconn *c)
{
	if (c->failed)
		return -1;
	conn_settle(s, c);
	while (c->out.len > 0) {
		ssize_t w = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);

		if (w > 0) {
			fbuf_consume(&c->out, (size_t)w);
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			break;
		return -1;
	}
	/* A caught-up listener holds no buffer: most deliveries never need one. */
	if (c->out.len == 0)
		fbuf_free(&c->out);
	conn_watch_output(s, c);
	if (c->out.len == 0 && c->state == SC_CLOSING)
		return -1; /* done: close */
	return 0;
}

void
sconn_fail(struct server *s, struct sconn *c)
{
	hub_unsubscribe(s, c);
	conn_drop(s, c);
}

int
sconn_write(struct server *s, struct sconn *c, const char *data, size_t n)
{
	if (c->failed)
		return -1;
	conn_settle(s, c);
	c->last_write_ms = server_now_ms();
	if (fcgi_put_stdout(&c->out, c->fcgi_id, data, n) == -1) {
		log_warnx("msg=\"listener too far behind, dropping it\" request_id=%s",
		    c->req.request_id);
		sconn_fail(s, c);
		return -1;
	}
	conn_pending(s, c);
	return 0;
}

int
sconn_put_records(struct server *s, struct sconn *c, const unsigned char *rec, size_t n)
{
	int sent = 0;

	if (c->failed)
		return -1;
	if (n == 0)
		return 0;
	conn_settle(s, c); /* one send per connection in the ring: a second could pass it */
	c->last_write_ms = s->now_ms;
	if (c->out.len == 0 && c->state == SC_STREAMING && c->fcgi_id == FRAMES_REQUEST_ID) {
		ssize_t w;

		if (s->ring != NULL) {
			if (sendring_full(s->ring))
				server_sends_flush(s);
			if (sendring_add(s->ring, c->fd, rec, n, c) == 0) {
				c->sending = 1;
				return 0;
			}
		}
		sent = 1;
		while ((w = send(c->fd, rec, n, MSG_NOSIGNAL)) == -1 && errno == EINTR)
			;
		if (w == (ssize_t)n)
			return 0;
		if (w == -1 && errno != EAGAIN) {
			sconn_fail(s, c); /* nginx went away */
			return -1;
		}
		if (w > 0) {
			rec += w;
			n -= (size_t)w;
		}
	}
	return conn_keep(s, c, rec, n, sent);
}

void
sconn_finish(struct server *s, struct sconn *c)
{
	conn_settle(s, c);
	hub_unsubscribe(s, c);
	if (c->state != SC_CLOSING && !c->failed)
		(void)fcgi_put_end(&c->out, c->fcgi_id, 0);
	c->state = SC_CLOSING;
	conn_pending(s, c);
}

static int
conn_http_write(void *ctx, const char *buf, size_t len)
{
	struct sconn *c = ctx;

	if (c->failed)
		return -1;
	conn_settle(c->srv, c);
	conn_pending(c->srv, c);
	return fcgi_put_stdout(&c->out, c->fcgi_id, buf, len);
}

/* Builds c->req from the FastCGI parameters (kept in params_store). */
static void
conn_request_init(struct sconn *c)
{
	static const char *const names[] = { "REQUEST_METHOD", "QUERY_STRING", "HTTP_AUTHORIZATION",
		"HTTP_ACCEPT", "HTTP_IDEMPOTENCY_KEY", "HTTP_LAST_EVENT_ID", "DOCUMENT_URI",
		"REQUEST_ID" };
	char *v[8];
	const char *uri;

	for (size_t i = 0; i < 8; i++)
		v[i] = c->params_store[i] = fcgi_param_get(&c->fr.params, names[i]);
	memset(&c->req, 0, sizeof(c->req));
	c->req.write = conn_http_write;
	c->req.write_ctx = c;
	c->req.method = v[0] != NULL ? v[0] : "GET";
	c->req.query = v[1] != NULL ? v[1] : "";
	c->req.authorization = v[2];
	c->req.accept = v[3];
	c->req.idempotency_key = v[4];
	c->req.last_event_id = v[5];
	uri = v[6];
	if (uri == NULL || uri[0] == '\0') {
		free(c->params_store[6]);
		uri = c->params_store[6] = fcgi_param_get(&c->fr.params, "REQUEST_URI");
	}
	if (uri == NULL || http_normalize_path(uri, c->req.path, sizeof(c->req.path)) == -1)
		c->req.path[0] = '\0';
	http_set_request_id(&c->req, v[7]);
	if (c->fr.body.len > 0 && (c->req.body = malloc(c->fr.body.len + 1)) != NULL) {
		memcpy(c->req.body, c->fr.body.p, c->fr.body.len);
		c->req.body[c->fr.body.len] = '\0';
		c->req.body_len = c->fr.body.len;
	}
}

static void
conn_sse_headers(struct server *s, struct sconn *c)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
	    "Status: 200 OK\r\n"
	    "Content-Type: text/event-stream\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "X-Request-Id: %s\r\n\r\n",
	    c->req.request_id);

	(void)sconn_write(s, c, head, (size_t)n);
	c->state = SC_STREAMING;
}

/* The SSE cursor: after_seq, else Last-Event-ID, else 0. -1 after a 400. */
static int
conn_cursor(struct request_ctx *ctx)
{
	struct sconn *c = ctx->c;
	char buf[32];
	const char *src = NULL;
	char *end;
	long long v;
	int rc = http_query_param(c->req.query, "after_seq", buf, sizeof(buf));

	if (rc == 1)
		src = buf;
	else if (rc == 0 && c->req.last_event_id != NULL && c->req.last_event_id[0] != '\0')
		src = c->req.last_event_id;
	c->cursor = 0;
	if (src == NULL && rc == 0)
		return 0;
	v = src != NULL ? strtoll(src, &end, 10) : -1;
	if (rc == -1 || src == NULL || *end != '\0' || end == src || v < 0)
		return http_send_error(&c->req, 400, ERR_INVALID_INPUT,
			   json_pack("{s:s}", "field", "after_seq"),
			   "after_seq / Last-Event-ID: must be a non-negative integer"),
		       -1;
	c->cursor = v;
	return 0;
}

static int
conn_wants_sse(const struct sconn *c)
{
	/* As nginx's map (~*): media types are case-insensitive (RFC 9110, 8.3.1). */
	return c->req.accept != NULL && strcasestr(c->req.accept, "text/event-stream") != NULL;
}

static void
relay_done(struct server *s, struct sconn *c, int status, const char *body, size_t len)
{
	if (status == 0)
		http_send_error(&c->req, 503, ERR_INTERNAL, NULL, "the API worker is unavailable");
	else
		http_send(&c->req, status, NULL, "application/json", body, len);
	sconn_finish(s, c);
}

/* JSON lists of events are the API worker's; ask it (only reached without nginx). */
static int
conn_relay_json(struct request_ctx *ctx)
{
	char path[HTTP_PATH_MAX + 1200];
	struct sconn *c = ctx->c;

	snprintf(
	    path, sizeof(path), "%s%s%s", c->req.path, c->req.query[0] ? "?" : "", c->req.query);
	c->up_purpose = UP_RELAY;
	c->state = SC_UPSTREAM;
	if (upstream_start(ctx->s, c, "GET", path, NULL, relay_done) == -1)
		relay_done(ctx->s, c, 0, "", 0);
	return 0;
}

/* Looks the run up in the caller's workspace: 1 found, 0 sent 404, -1 sent 5xx. */
static int
conn_load_run(struct request_ctx *ctx, char session_id[ID_BUFSZ], char status[24])
{
	const char *id = ctx->match.params[0];
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(id) };
	struct db_result *res;

	if (!id_valid(id))
		return http_send_error(
			   &ctx->c->req, 404, ERR_NOT_FOUND, NULL, "run %s not found", id),
		       0;
	if (db_query(ctx->s->db, srv_sql_run, p, 2, &res) == -1)
		return http_send_error_h(&ctx->c->req, 503, ERR_INTERNAL, "Retry-After: 1\r\n",
			   NULL, "the database is unavailable, try again"),
		       -1;
	if (res->nrows == 0) {
		db_result_free(res);
		return http_send_error(
			   &ctx->c->req, 404, ERR_NOT_FOUND, NULL, "run %s not found", id),
		       0;
	}
	snprintf(session_id, ID_BUFSZ, "%s", db_cell(res, 0, 0));
	snprintf(status, 24, "%s", db_cell(res, 0, 1));
	db_result_free(res);
	return 1;
}

static int
r_run_events(struct request_ctx *ctx)
{
	struct sconn *c = ctx->c;
	char session_id[ID_BUFSZ], status[24];

	if (!conn_wants_sse(c))
		return conn_relay_json(ctx);
	if (conn_cursor(ctx) == -1 || conn_load_run(ctx, session_id, status) != 1)
		return -1;
	memcpy(c->run_id, ctx->match.params[0], ID_BUFSZ - 1); /* a valid id: 36 chars */
	c->run_id[ID_BUFSZ - 1] = '\0';
	c->until_terminal = 1;
	c->frames = FRAMES_SSE;
	conn_sse_headers(ctx->s, c);
	if (hub_subscribe(ctx->s, c, ctx->auth.workspace_id, session_id) == -1)
		sconn_finish(ctx->s, c);
	return 0;
}

static int
r_session_events(struct request_ctx *ctx)
{
	struct sconn *c = ctx->c;
	const char *id = ctx->match.params[0];
	struct db_param p[2] = { dbp_str(ctx->auth.workspace_id), dbp_str(id) };
	struct db_result *res;
	int closed;

	if (!conn_wants_sse(c))
		return conn_relay_json(ctx);
	if (conn_cursor(ctx) == -1)
		return -1;
	if (!id_valid(id))
		return http_send_error(
		    &c->req, 404, ERR_NOT_FOUND, NULL, "session %s not found", id);
	if (db_query(ctx->s->db, srv_sql_session, p, 2, &res) == -1)
		return http_send_error_h(&c->req, 503, ERR_INTERNAL, "Retry-After: 1\r\n", NULL,
		    "the database is unavailable, try again");
	if (res->nrows == 0) {
		db_result_free(res);
		return http_send_error(
		    &c->req, 404, ERR_NOT_FOUND, NULL, "session %s not found", id);
	}
	closed = strcmp(db_cell(res, 0, 0), "closed") == 0;
	db_result_free(res);
	c->frames = FRAMES_SSE;
	conn_sse_headers(ctx->s, c);
	if (hub_subscribe(ctx->s, c, ctx->auth.workspace_id, id) == -1 || closed)
		sconn_finish(ctx->s, c); /* a closed session replays, then ends */
	return 0;
}

/* The one done/error frame of an execution that has already ended. */
static void
conn_final_frame(struct server *s, struct sconn *c, const char *run_id)
{
	struct db_param p = dbp_str(run_id);
	struct db_result *res;
	json_t *frame;
	const char *name;
	char *text;
	long long last_seq;

	if (db_query(s->db, srv_sql_run_end, &p, 1, &res) == -1 || res->nrows == 0) {
		db_result_free(res);
		return;
	}
	last_seq = db_cell_int(res, 0, 7, 0);
	if (db_cell(res, 0, 2) != NULL && strcmp(db_cell(res, 0, 0), "cancelled") != 0 &&
	    strcmp(db_cell(res, 0, 0), "rejected") != 0) {
		name = "error";
		frame = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "code",
		    db_cell(res, 0, 2), "message", db_cell(res, 0, 3) ? db_cell(res, 0, 3) : "");
	} else {
		long long pt = db_cell_int(res, 0, 4, 0), ct = db_cell_int(res, 0, 5, 0);
		json_t *out =
		    db_cell(res, 0, 1) != NULL ? json_loads(db_cell(res, 0, 1), 0, NULL) : NULL;

		name = "done";
		frame = json_pack("{s:s, s:s, s:o, s:{s:I, s:I, s:I}, s:f}", "type", "done",
		    "status", db_cell(res, 0, 0), "output", out != NULL ? out : json_null(),
		    "token_usage", "prompt_tokens", (json_int_t)pt, "completion_tokens",
		    (json_int_t)ct, "total_tokens", (json_int_t)(pt + ct), "cost",
		    (double)db_cell_int(res, 0, 6, 0) / 1e9);
	}
	db_result_free(res);
	if (frame == NULL)
		return;
	text = json_dumps(frame, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(frame);
	if (text != NULL) {
		/* Framed as live: the id is the seq of the run's last (terminal) event. */
		char head[96];
		int n = snprintf(head, sizeof(head), "id: %lld\nevent: %s\ndata: ", last_seq, name);

		(void)sconn_write(s, c, head, (size_t)n);
		(void)sconn_write(s, c, text, strlen(text));
		(void)sconn_write(s, c, "\n\n", 2);
		free(text);
	}
}

static int
r_execution_stream(struct request_ctx *ctx)
{
	struct sconn *c = ctx->c;
	char session_id[ID_BUFSZ], status[24];

	if (conn_cursor(ctx) == -1 || conn_load_run(ctx, session_id, status) != 1)
		return -1;
	memcpy(c->run_id, ctx->match.params[0], ID_BUFSZ - 1); /* a valid id: 36 chars */
	c->run_id[ID_BUFSZ - 1] = '\0';
	c->frames = FRAMES_EXECUTION;
	c->until_terminal = 1;
	conn_sse_headers(ctx->s, c);
	if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
	    strcmp(status, "timeout") == 0 || strcmp(status, "cancelled") == 0 ||
	    strcmp(status, "rejected") == 0) {
		conn_final_frame(ctx->s, c, c->run_id);
		sconn_finish(ctx->s, c);
		return 0;
	}
	if (hub_subscribe(ctx->s, c, ctx->auth.workspace_id, session_id) == -1)
		sconn_finish(ctx->s, c);
	return 0;
}

/* --- sync execution -------------------------------------------------------- */

static void exec_fetch(struct server *s, struct sconn *c, int final);

static void
exec_fetched(struct server *s, struct sconn *c, int status, const char *body, size_t len)
{
	int final = c->up_purpose == UP_FETCH_DONE;

	if (status != 200) {
		relay_done(s, c, status, body, len);
		return;
	}
	http_send(&c->req, final ? 200 : 202, NULL, "application/json", body, len);
	sconn_finish(s, c);
}

static void
exec_fetch(struct server *s, struct sconn *c, int final)
{
	char path[128];

	hub_unsubscribe(s, c);
	snprintf(path, sizeof(path), "/api/v1/executions/%s", c->exec_run_id);
	c->up_purpose = final ? UP_FETCH_DONE : UP_FETCH_ACCEPTED;
	c->state = SC_UPSTREAM;
	if (upstream_start(s, c, "GET", path, NULL, exec_fetched) == -1)
		relay_done(s, c, 0, "", 0);
}

static void
exec_created(struct server *s, struct sconn *c, int status, const char *body, size_t len)
{
	json_t *run;
	const char *id, *session;

	if (status != 201) {
		relay_done(s, c, status, body, len);
		return;
	}
	run = json_loadb(body, len, 0, NULL);
	id = json_string_value(json_object_get(run, "id"));
	session = json_string_value(json_object_get(run, "session_id"));
	if (id == NULL || session == NULL) {
		json_decref(run);
		relay_done(s, c, 0, "", 0);
		return;
	}
	snprintf(c->exec_run_id, sizeof(c->exec_run_id), "%s", id);
	if (c->async_mode) {
		json_decref(run);
		exec_fetch(s, c, 0);
		return;
	}
	/* Wait for the run's terminal event on its session's watch. */
	snprintf(c->run_id, sizeof(c->run_id), "%s", id);
	c->frames = FRAMES_NONE;
	c->until_terminal = 1;
	c->cursor = 0;
	c->state = SC_WAITING;
	if (hub_subscribe(s, c, c->workspace_id, session) == -1)
		exec_fetch(s, c, 0);
	json_decref(run);
}

static int
r_execute(struct request_ctx *ctx)
{
	struct sconn *c = ctx->c;
	json_t *body, *input, *metadata, *async, *timeout, *fwd;
	char *text;
	double secs = EXECUTE_TIMEOUT_DEFAULT_S;

	if (http_json_body(&c->req, &body, 1) == -1)
		return -1;
	input = json_object_get(body, "input");
	metadata = json_object_get(body, "metadata");
	async = json_object_get(body, "async_mode");
	timeout = json_object_get(body, "timeout_s");
	if (input != NULL && !json_is_object(input) && !json_is_null(input)) {
		json_decref(body);
		return http_send_error(&c->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "input"), "input: must be an object");
	}
	if (async != NULL && !json_is_boolean(async) && !json_is_null(async)) {
		json_decref(body);
		return http_send_error(&c->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", "async_mode"), "async_mode: must be a boolean");
	}
	if (timeout != NULL && !json_is_null(timeout)) {
		secs = json_is_number(timeout) ? json_number_value(timeout) : -1;
		if (secs <= 0 || secs > EXECUTE_TIMEOUT_MAX_S) {
			json_decref(body);
			return http_send_error(&c->req, 400, ERR_INVALID_INPUT,
			    json_pack("{s:s}", "field", "timeout_s"),
			    "timeout_s: a number of seconds in (0, %d]", EXECUTE_TIMEOUT_MAX_S);
		}
	}
	c->async_mode = json_is_true(async);
	c->deadline_ms = server_now_ms() + (uint64_t)(secs * 1000);
	snprintf(c->workspace_id, sizeof(c->workspace_id), "%s", ctx->auth.workspace_id);
	fwd = json_pack("{s:o}", "input",
	    input != NULL && !json_is_null(input) ? json_incref(input) : json_object());
	if (json_is_object(metadata))
		json_object_set(fwd, "metadata", metadata);
	text = json_dumps(fwd, JSON_COMPACT);
	json_decref(fwd);
	json_decref(body);
	{
		char path[HTTP_PATH_MAX];

		snprintf(path, sizeof(path), "/api/v1/agents/%s/runs", ctx->match.params[0]);
		c->up_purpose = UP_CREATE;
		c->state = SC_UPSTREAM;
		if (text == NULL ||
		    upstream_start(ctx->s, c, "POST", path, text, exec_created) == -1)
			relay_done(ctx->s, c, 0, "", 0);
	}
	free(text);
	return 0;
}

void
server_stream_ended(struct server *s, struct sconn *c)
{
	if (c->state == SC_WAITING) {
		exec_fetch(s, c, 1);
		return;
	}
	sconn_finish(s, c);
}

/* --- dispatch ---------------------------------------------------------------- */

/* Counts c against its key's and workspace's caps; -1 after a 429. */
static int
conn_take_place(struct server *s, struct sconn *c)
{
	enum streamcap_result r = streamcap_take(s, c);
	const char *setting;
	long long max;

	if (r == STREAMCAP_OK)
		return 0;
	setting =
	    r == STREAMCAP_KEY ? "stream.max_streams_per_key" : "stream.max_streams_per_workspace";
	max = r == STREAMCAP_KEY ? s->cfg->stream_max_streams_per_key
				 : s->cfg->stream_max_streams_per_workspace;
	log_info("msg=\"open streams capped\" limit=%s max=%lld key_id=%s workspace_id=%s "
		 "request_id=%s",
	    setting, max, c->key_id, c->workspace_id, c->req.request_id);
	http_send_error_h(&c->req, 429, ERR_RATE_LIMIT,
	    "Retry-After: " STREAMCAP_RETRY_AFTER "\r\n",
	    json_pack("{s:s, s:I}", "limit", setting, "max", (json_int_t)max),
	    "too many open streams for this %s (%s = %lld); close one or retry later",
	    r == STREAMCAP_KEY ? "API key" : "workspace", setting, max);
	return -1;
}

static void
conn_dispatch(struct server *s, struct sconn *c)
{
	struct request_ctx ctx;
	enum router_result rr;
	enum auth_result ar;
	unsigned allow;

	memset(&ctx, 0, sizeof(ctx));
	ctx.s = s;
	ctx.c = c;
	conn_request_init(c);
	c->state = SC_CLOSING; /* unless a handler keeps it open */
	if (c->fr.too_large) {
		http_send_error(&c->req, 413, ERR_PAYLOAD_TOO_LARGE, NULL,
		    "request body exceeds %d bytes", HTTP_BODY_MAX);
		goto done;
	}
	if (s->nconns > s->cfg->stream_max_connections) {
		http_send_error_h(&c->req, 503, ERR_INTERNAL, "Retry-After: 1\r\n", NULL,
		    "too many open streams on this worker (stream.max_connections)");
		goto done;
	}
	rr = router_match(stream_routes, sizeof(stream_routes) / sizeof(stream_routes[0]),
	    c->req.method, c->req.path, &ctx.match, &allow);
	if (rr == ROUTER_NOT_FOUND) {
		http_send_error(&c->req, 404, ERR_NOT_FOUND, NULL, "no such route");
		goto done;
	}
	if (rr == ROUTER_BAD_METHOD) {
		char methods[64], hdr[96];

		router_allow_header(allow, methods, sizeof(methods));
		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", methods);
		http_send_error_h(&c->req, 405, ERR_METHOD_NOT_ALLOWED, hdr, NULL,
		    "method not allowed; allowed: %s", methods);
		goto done;
	}
	ar = auth_resolve(s->db, c->req.authorization, &ctx.auth);
	if (ar == AUTH_DB_ERROR) {
		http_send_error_h(&c->req, 503, ERR_INTERNAL, "Retry-After: 1\r\n", NULL,
		    "the database is unavailable, try again");
		goto done;
	}
	if (ar != AUTH_OK) {
		http_send_error_h(&c->req, 401, ERR_AUTHORIZATION, "WWW-Authenticate: Bearer\r\n",
		    NULL, "%s", auth_result_message(ar));
		goto done;
	}
	snprintf(c->key_id, sizeof(c->key_id), "%s", ctx.auth.key_id);
	snprintf(c->workspace_id, sizeof(c->workspace_id), "%s", ctx.auth.workspace_id);
	if (conn_take_place(s, c) == -1)
		goto done;
	(void)ctx.match.route->handler(&ctx);
done:
	if (c->state == SC_CLOSING)
		sconn_finish(s, c);
}

static void
conn_read(struct server *s, struct sconn *c)
{
	unsigned char buf[16384];

	for (;;) {
		ssize_t r = read(c->fd, buf, sizeof(buf));
		size_t used;

		if (r > 0) {
			if (c->state != SC_READING)
				continue; /* nothing more is expected; keep the socket drained */
			if (fbuf_put(&c->in, buf, (size_t)r) == -1 ||
			    fcgi_req_feed(&c->fr, c->in.p, c->in.len, &used) == FCGI_PROTO_ERROR) {
				conn_close(s, c);
				return;
			}
			fbuf_consume(&c->in, used);
			if (c->fr.aborted) {
				conn_close(s, c);
				return;
			}
			if (c->fr.params_done && c->fr.stdin_done) {
				c->fcgi_id = c->fr.id;
				conn_dispatch(s, c);
				/* A long-held stream keeps only what it still needs. */
				fcgi_req_free(&c->fr);
				fbuf_free(&c->in);
				free(c->req.body);
				c->req.body = NULL;
				c->req.body_len = 0;
				if (conn_flush(s, c) == -1) {
					conn_close(s, c);
					return;
				}
			}
			continue;
		}
		if (r == 0) {
			/* nginx went away: the client left; release everything it held. */
			conn_close(s, c);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			conn_close(s, c);
		return;
	}
}

static void
server_accept(struct server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev;
		struct sconn *c;

		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("msg=accept");
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->kind = EP_CONN;
		c->srv = s;
		c->fd = fd;
		c->state = SC_READING;
		c->in.max = CONN_IN_MAX;
		c->out.max = CONN_OUT_MAX;
		c->last_write_ms = c->accepted_ms = server_now_ms();
		c->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = c;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
			conn_close(s, c);
	}
}

/*
 * Keep-alives on idle streams; sync executions past their timeout answer
 * 202; requests not received whole within stream.request_timeout_s close.
 */
static void
server_sweep(struct server *s, uint64_t now)
{
	uint64_t idle = (uint64_t)s->cfg->stream_keepalive_s * 1000;
	uint64_t request_timeout = (uint64_t)s->cfg->stream_request_timeout_s * 1000;
	struct sconn *c = s->conns, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (c->state == SC_STREAMING && now > c->last_write_ms &&
		    now - c->last_write_ms >= idle) {
			static const char ka[] = ": keep-alive\n\n";

			(void)sconn_write(s, c, ka, sizeof(ka) - 1);
			if (conn_flush(s, c) == -1)
				conn_close(s, c);
		} else if (c->state == SC_WAITING && now >= c->deadline_ms) {
			exec_fetch(s, c, 0);
		} else if (c->state == SC_READING && now >= c->accepted_ms + request_timeout) {
			/* Half a request (a stalled or hostile peer): nothing to answer. */
			log_info("msg=\"request not received in time, closing\" timeout_s=%lld",
			    s->cfg->stream_request_timeout_s);
			conn_close(s, c);
		}
	}
}

/* Flushes the connections written to in this turn; closes the finished and the dropped. */
static void
server_flush_all(struct server *s)
{
	while (s->pending != NULL) {
		struct sconn *c = s->pending;

		s->pending = c->pnext;
		c->pnext = NULL;
		c->pending = 0;
		if (!c->dead && conn_flush(s, c) == -1)
			conn_close(s, c);
	}
}

int server_run(struct server *s, volatile int *stop);

int
server_run(struct server *s, volatile int *stop)
{
	static struct {
		enum ep_kind kind;
	} listen_tag = { EP_LISTEN }, bell_tag = { EP_BELL };
	struct epoll_event ev, evs[256];

	if ((s->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	ev.events = EPOLLIN;
	ev.data.ptr = &listen_tag;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) == -1)
		return -1;
	if (s->bell_fd >= 0) {
		ev.data.ptr = &bell_tag;
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->bell_fd, &ev);
	}
	while (!*stop) {
		uint64_t now;
		int n = epoll_wait(s->epfd, evs, 256, 100), rang = 0;

		s->now_ms = server_now_ms();
		if (n == -1 && errno != EINTR) {
			log_warn("msg=epoll_wait");
			continue;
		}
		for (int i = 0; i < n; i++) {
			enum ep_kind kind = *(enum ep_kind *)evs[i].data.ptr;

			if (kind == EP_LISTEN)
				server_accept(s);
			else if (kind == EP_BELL) {
				char buf[64];

				while (recv(s->bell_fd, buf, sizeof(buf), 0) > 0)
					rang = 1;
			} else if (kind == EP_UPSTREAM) {
				if (!upstream_dead(evs[i].data.ptr))
					upstream_io(s, evs[i].data.ptr, evs[i].events);
			} else {
				struct sconn *c = evs[i].data.ptr;

				if (c->dead)
					continue;
				if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					conn_read(s, c);
				else if ((evs[i].events & EPOLLOUT) && conn_flush(s, c) == -1)
					conn_close(s, c);
			}
		}
		now = server_now_ms();
		if (s->watches != NULL &&
		    (rang || now - s->last_poll_ms >= (uint64_t)s->cfg->stream_poll_ms)) {
			s->last_poll_ms = now;
			hub_poll(s);
		}
		if (now - s->last_sweep_ms >= 100) {
			s->last_sweep_ms = now;
			server_sweep(s, now);
		}
		if (now - s->last_keycheck_ms >= KEYCHECK_MS) {
			s->last_keycheck_ms = now;
			keycheck_run(s);
		}
		server_flush_all(s);
		conn_reap(s);
		upstream_reap(s);
	}
	while (s->conns != NULL)
		conn_close(s, s->conns);
	s->pending = NULL;
	conn_reap(s);
	upstream_reap(s);
	return 0;
}
