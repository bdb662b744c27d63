/*
 * The fan-out hub: one watch per session that has listeners.
 *
 * hub_poll() runs on every wake-up. For each watch it reads the session's
 * last_seq (one primary-key lookup); only when that moved does it read the
 * new events, once, and hand each to every listener of the watch. A new
 * listener first replays what it missed straight from the table (from its
 * cursor: after_seq / Last-Event-ID), then takes live events, skipping any
 * seq at or below its cursor — seq is allocated in commit order, so this
 * gives every event exactly once, with no gap and no repeat.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../core/db.h"
#include "../core/jsonv.h"
#include "../core/log.h"
#include "stream.h"

#define HUB_PAGE 1000

struct watch {
	char session_id[ID_BUFSZ];
	char workspace_id[ID_BUFSZ];
	long long fetched; /* events up to here were handed out */
	int closed; /* the session is closed */
	struct sconn *subs;
	struct watch *next;
};

static const char hub_sql_session[] = "SELECT last_seq, status FROM sessions WHERE id = ?";
static const char hub_sql_events[] = "SELECT seq, run_id, type, data, created_at FROM events"
				     " WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT 1000";
static const char hub_sql_run_events[] = "SELECT seq, run_id, type, data, created_at FROM events"
					 " WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT 1000";

static int
hub_terminal(const char *type)
{
	return strcmp(type, "run.completed") == 0 || strcmp(type, "run.failed") == 0 ||
	    strcmp(type, "run.timeout") == 0 || strcmp(type, "run.cancelled") == 0 ||
	    strcmp(type, "run.rejected") == 0;
}

/* An execution frame for one event, or NULL when the event has none. New reference. */
static json_t *
hub_execution_frame(const char *type, const json_t *d, const char **name)
{
	if (strcmp(type, "thinking.delta") == 0) {
		*name = "thinking";
		return json_pack(
		    "{s:s, s:O?}", "type", "thinking", "content", json_object_get(d, "content"));
	}
	if (strcmp(type, "message.delta") == 0) {
		*name = "content";
		return json_pack(
		    "{s:s, s:O?}", "type", "content", "content", json_object_get(d, "content"));
	}
	if (strcmp(type, "tool.call") == 0) {
		*name = "tool_start";
		return json_pack("{s:s, s:O?, s:O?, s:O?}", "type", "tool_start", "call_id",
		    json_object_get(d, "call_id"), "name", json_object_get(d, "name"), "arguments",
		    json_object_get(d, "arguments"));
	}
	if (strcmp(type, "tool.result") == 0) {
		*name = "tool_end";
		return json_pack("{s:s, s:O?, s:O?, s:O?}", "type", "tool_end", "call_id",
		    json_object_get(d, "call_id"), "name", json_object_get(d, "name"), "output",
		    json_object_get(d, "output"));
	}
	if (strcmp(type, "run.failed") == 0 || strcmp(type, "run.timeout") == 0) {
		json_t *err = json_object_get(d, "error");

		*name = "error";
		return json_pack("{s:s, s:{s:O?, s:O?}}", "type", "error", "error", "code",
		    json_object_get(err, "code"), "message", json_object_get(err, "message"));
	}
	if (hub_terminal(type)) {
		json_t *u = json_object_get(d, "usage");

		*name = "done";
		return json_pack("{s:s, s:s, s:O?, s:{s:O?, s:O?, s:O?}, s:O?}", "type", "done",
		    "status", type + 4, "output", json_object_get(d, "output"), "token_usage",
		    "prompt_tokens", json_object_get(u, "prompt_tokens"), "completion_tokens",
		    json_object_get(u, "completion_tokens"), "total_tokens",
		    json_object_get(u, "total_tokens"), "cost", json_object_get(d, "cost_usd"));
	}
	return NULL;
}

int
hub_emit(struct server *s, struct sconn *c, long long seq, const char *run_id, const char *type,
    const char *data_json, const char *created_at)
{
	char ts[40], head[160];
	int ended, n;

	if (seq <= c->cursor)
		return 0;
	if (c->run_id[0] != '\0' && (run_id == NULL || strcmp(run_id, c->run_id) != 0))
		return 0;
	c->cursor = seq;
	ended = c->until_terminal && hub_terminal(type);
	if (c->frames == FRAMES_NONE)
		return ended;
	if (c->frames == FRAMES_EXECUTION) {
		json_t *d = json_loads(data_json, 0, NULL), *frame;
		const char *name = NULL;
		char *text;

		frame = hub_execution_frame(type, d, &name);
		json_decref(d);
		if (frame == NULL)
			return ended;
		text = json_dumps(frame, JSON_COMPACT | JSON_REAL_PRECISION(15));
		json_decref(frame);
		if (text == NULL)
			return ended;
		n = snprintf(head, sizeof(head), "id: %lld\nevent: %s\ndata: ", seq, name);
		(void)sconn_write(s, c, head, (size_t)n);
		(void)sconn_write(s, c, text, strlen(text));
		(void)sconn_write(s, c, "\n\n", 2);
		free(text);
		s->delivered++;
		return ended;
	}
	/*
	 * The stored data is compact JSON (jansson escapes every control
	 * character), so no newline in a payload can start a new SSE field.
	 */
	jv_time_format(created_at, ts, sizeof(ts));
	n = snprintf(head, sizeof(head),
	    "id: %lld\nevent: %s\ndata: {\"seq\":%lld,\"run_id\":", seq, type, seq);
	(void)sconn_write(s, c, head, (size_t)n);
	if (run_id != NULL) {
		(void)sconn_write(s, c, "\"", 1);
		(void)sconn_write(s, c, run_id, strlen(run_id));
		(void)sconn_write(s, c, "\"", 1);
	} else
		(void)sconn_write(s, c, "null", 4);
	n = snprintf(head, sizeof(head), ",\"type\":\"%s\",\"data\":", type);
	(void)sconn_write(s, c, head, (size_t)n);
	(void)sconn_write(s, c, data_json, strlen(data_json));
	n = snprintf(head, sizeof(head), ",\"created_at\":\"%s\"}\n\n", ts);
	(void)sconn_write(s, c, head, (size_t)n);
	s->delivered++;
	return ended;
}

static struct watch *
hub_watch_get(struct server *s, const char *workspace_id, const char *session_id)
{
	struct watch *w;

	for (w = s->watches; w != NULL; w = w->next)
		if (strcmp(w->session_id, session_id) == 0)
			return w;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	snprintf(w->session_id, sizeof(w->session_id), "%s", session_id);
	snprintf(w->workspace_id, sizeof(w->workspace_id), "%s", workspace_id);
	w->fetched = -1; /* set from the session row on the first poll */
	w->next = s->watches;
	s->watches = w;
	s->nwatches++;
	return w;
}

/*
 * Watches without listeners are freed here, at the end of a poll, never
 * while events are being handed out (a listener may leave mid-delivery).
 */
static void
hub_sweep_idle(struct server *s)
{
	struct watch **pp = &s->watches;

	while (*pp != NULL) {
		struct watch *w = *pp;

		if (w->subs == NULL) {
			*pp = w->next;
			s->nwatches--;
			free(w);
		} else
			pp = &w->next;
	}
}

/* Replays c's missed events from the table. 1 when its stream ended, 0, -1 on error. */
static int
hub_replay(struct server *s, struct sconn *c, const char *session_id)
{
	for (;;) {
		struct db_param p[2];
		struct db_result *res;
		size_t n;

		p[0] = dbp_str(c->run_id[0] != '\0' ? c->run_id : session_id);
		p[1] = DBP_INT(c->cursor);
		s->queries++;
		if (db_query(s->db, c->run_id[0] != '\0' ? hub_sql_run_events : hub_sql_events, p,
			2, &res) == -1)
			return -1;
		n = res->nrows;
		for (size_t i = 0; i < n; i++)
			if (hub_emit(s, c, db_cell_int(res, i, 0, 0), db_cell(res, i, 1),
				db_cell(res, i, 2), db_cell(res, i, 3), db_cell(res, i, 4))) {
				db_result_free(res);
				return 1;
			}
		db_result_free(res);
		if (n < HUB_PAGE)
			return 0;
	}
}

int
hub_subscribe(struct server *s, struct sconn *c, const char *workspace_id, const char *session_id)
{
	struct watch *w;
	int rc;

	if ((rc = hub_replay(s, c, session_id)) != 0) {
		if (rc == 1)
			server_stream_ended(s, c);
		return rc == -1 ? -1 : 0;
	}
	if ((w = hub_watch_get(s, workspace_id, session_id)) == NULL)
		return -1;
	c->watch = w;
	c->wnext = w->subs;
	w->subs = c;
	/*
	 * A new watch goes live from where its first listener's replay stopped.
	 * An existing one never moves forward for a newcomer: its listeners
	 * still need what lies between; the newcomer skips it by its cursor.
	 */
	if (w->fetched < 0)
		w->fetched = c->cursor;
	return 0;
}

void
hub_unsubscribe(struct server *s, struct sconn *c)
{
	struct watch *w = c->watch;
	struct sconn **pp;

	if (w == NULL)
		return;
	for (pp = &w->subs; *pp != NULL; pp = &(*pp)->wnext)
		if (*pp == c) {
			*pp = c->wnext;
			break;
		}
	c->watch = NULL;
	c->wnext = NULL;
	(void)s;
}

/* Hands one page of new events to every listener; returns the rows read. */
static size_t
hub_deliver(struct server *s, struct watch *w)
{
	struct db_param p[2] = { dbp_str(w->session_id), DBP_INT(w->fetched) };
	struct db_result *res;
	size_t n;

	s->queries++;
	if (db_query(s->db, hub_sql_events, p, 2, &res) == -1) {
		log_warnx("msg=\"event poll failed\" errno=%u", db_last_errno(s->db));
		return 0;
	}
	n = res->nrows;
	for (size_t i = 0; i < n; i++) {
		long long seq = db_cell_int(res, i, 0, 0);
		struct sconn *c = w->subs, *next;

		for (; c != NULL; c = next) {
			next = c->wnext;
			if (hub_emit(s, c, seq, db_cell(res, i, 1), db_cell(res, i, 2),
				db_cell(res, i, 3), db_cell(res, i, 4)))
				server_stream_ended(s, c); /* may unsubscribe c */
		}
		w->fetched = seq;
		if (w->subs == NULL)
			break;
	}
	db_result_free(res);
	return n;
}

void
hub_poll(struct server *s)
{
	struct watch *w = s->watches, *next;

	s->polls++;
	for (; w != NULL; w = next) {
		struct db_param p = dbp_str(w->session_id);
		struct db_result *res;
		long long last;

		next = w->next;
		s->queries++;
		if (db_query(s->db, hub_sql_session, &p, 1, &res) == -1)
			continue;
		if (res->nrows == 0) {
			db_result_free(res);
			continue;
		}
		last = db_cell_int(res, 0, 0, 0);
		w->closed = strcmp(db_cell(res, 0, 1), "closed") == 0;
		db_result_free(res);
		if (w->fetched < 0)
			w->fetched = last;
		while (w->fetched < last && w->subs != NULL)
			if (hub_deliver(s, w) < HUB_PAGE)
				break;
		if (w->closed && w->fetched >= last) {
			/* A session stream ends with its session. */
			struct sconn *c = w->subs, *cn;

			for (; c != NULL; c = cn) {
				cn = c->wnext;
				if (c->run_id[0] == '\0')
					server_stream_ended(s, c);
			}
		}
	}
	hub_sweep_idle(s);
}
