/*
 * The fan-out hub: one watch per session that has listeners.
 *
 * hub_poll() runs on every wake-up. It reads every watched session's
 * last_seq and status at once (one statement per 128 watches); only for a
 * session whose last_seq moved does it read the new events, once, and hand
 * each to every listener of the watch. A new
 * listener first replays what it missed straight from the table (from its
 * cursor: after_seq / Last-Event-ID), then takes live events, skipping any
 * seq at or below its cursor — seq is allocated in commit order, so this
 * gives every event exactly once, with no gap and no repeat.
 *
 * Each event is formatted once per batch, not once per listener: into ready
 * FastCGI STDOUT records (frames.c), one record per event, for SSE and, when
 * a listener wants them, for execution frames. A listener's share of a batch
 * is then one contiguous span of those bytes (its events are consecutive
 * unless it follows one run of a busy session), which server.c sends as is
 * when nothing is queued for it: one send per listener per batch, no copy.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/db.h"
#include "../core/dbrows.h"
#include "../core/log.h"
#include "frames.h"
#include "stream.h"

#define HUB_PAGE 1000
#define HUB_BATCH_BYTES (1024 * 1024) /* a batch stops growing here */
#define HUB_BATCH_MAX (64 * 1024 * 1024) /* a frame that does not fit drops who needs it */

struct watch {
	char session_id[ID_BUFSZ];
	char workspace_id[ID_BUFSZ];
	long long fetched; /* events up to here were handed out */
	int closed; /* the session is closed */
	struct sconn *subs;
	struct watch *next;
};

/* Every watched session's counters: one statement per 128 watches, whatever their number. */
static struct dbrows_template hub_t_sessions = DBROWS_TEMPLATE(
    "SELECT id, last_seq, status FROM sessions WHERE id IN (", "?", ", ", ")", 0, 1);
enum hub_session_col {
	HUB_SC_ID,
	HUB_SC_LAST_SEQ,
	HUB_SC_STATUS,
	HUB_SC__MAX
};
static const char hub_sql_events[] = "SELECT seq, run_id, type, data, created_at FROM events"
				     " WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT 1000";
static const char hub_sql_run_events[] = "SELECT seq, run_id, type, data, created_at FROM events"
					 " WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT 1000";

/*
 * A batch: consecutive rows of one query result, formatted once per kind of
 * frame and handed to every listener. mark[i] says where the records of
 * events before i end in buf, and how many of them had a frame or could not
 * be formatted, so a listener's run of events is one span of buf.
 */
struct hub_mark {
	size_t end, frames, bad;
};

struct hub_fmt {
	int built;
	struct fbuf buf;
	struct hub_mark *mark; /* n + 1 */
};

struct hub_batch {
	const struct db_result *res;
	size_t first, n; /* rows [first, first + n) of res */
	long long *seq;
	unsigned char *terminal;
	struct hub_fmt fmt[2]; /* FRAMES_SSE, FRAMES_EXECUTION */
};

static void
hub_row(const struct hub_batch *b, size_t i, struct frames_event *ev)
{
	size_t r = b->first + i;

	ev->seq = b->seq[i];
	ev->run_id = db_cell(b->res, r, 1);
	ev->type = db_cell(b->res, r, 2);
	ev->data = db_cell(b->res, r, 3);
	ev->created_at = db_cell(b->res, r, 4);
}

/* Takes rows from first on, up to about HUB_BATCH_BYTES of data (at least one). 0 / -1. */
static int
hub_batch_init(struct hub_batch *b, const struct db_result *res, size_t first)
{
	size_t bytes = 0, n = 0;

	memset(b, 0, sizeof(*b));
	b->res = res;
	b->first = first;
	while (first + n < res->nrows && (n == 0 || bytes < HUB_BATCH_BYTES)) {
		const char *data = db_cell(res, first + n, 3);

		bytes += 256 + (data != NULL ? strlen(data) : 0);
		n++;
	}
	b->n = n;
	b->seq = calloc(n, sizeof(*b->seq));
	b->terminal = calloc(n, 1);
	if (b->seq == NULL || b->terminal == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		b->seq[i] = db_cell_int(res, first + i, 0, 0);
		b->terminal[i] = (unsigned char)frames_terminal(db_cell(res, first + i, 2));
	}
	return 0;
}

/* The ring's queued sends borrow the batch's records: they go out first. */
static void
hub_batch_free(struct server *s, struct hub_batch *b)
{
	server_sends_flush(s);
	for (size_t k = 0; k < 2; k++) {
		fbuf_free(&b->fmt[k].buf);
		free(b->fmt[k].mark);
	}
	free(b->seq);
	free(b->terminal);
}

/* The batch's records of one kind, formatted on first use. NULL when out of memory. */
static struct hub_fmt *
hub_batch_fmt(struct hub_batch *b, enum sconn_frames kind)
{
	struct hub_fmt *f = &b->fmt[kind == FRAMES_EXECUTION ? 1 : 0];
	size_t bad = 0;

	if (f->built)
		return f;
	if ((f->mark = calloc(b->n + 1, sizeof(*f->mark))) == NULL)
		return NULL;
	f->buf.max = HUB_BATCH_MAX;
	for (size_t i = 0; i < b->n; i++) {
		struct frames_event ev;
		size_t before = f->buf.len;
		int rc;

		hub_row(b, i, &ev);
		rc = kind == FRAMES_EXECUTION ? frames_execution(&f->buf, FRAMES_REQUEST_ID, &ev)
					      : frames_sse(&f->buf, FRAMES_REQUEST_ID, &ev);
		if (rc == -1) {
			log_warnx("msg=\"event too large to stream\" seq=%lld", ev.seq);
			bad++;
		}
		f->mark[i + 1].end = f->buf.len;
		f->mark[i + 1].frames = f->mark[i].frames + (f->buf.len > before);
		f->mark[i + 1].bad = bad;
	}
	f->built = 1;
	return f;
}

/* Queues events [from, to) of b for c. 0, or -1 when c was dropped. */
static int
hub_put(struct server *s, struct hub_batch *b, struct sconn *c, size_t from, size_t to)
{
	struct hub_fmt *f;
	const struct hub_mark *a, *z;

	if (c->frames == FRAMES_NONE || from == to)
		return 0;
	if ((f = hub_batch_fmt(b, c->frames)) == NULL) {
		sconn_fail(s, c);
		return -1;
	}
	a = &f->mark[from];
	z = &f->mark[to];
	if (z->bad > a->bad) {
		log_warnx("msg=\"listener cannot take an event, dropping it\" request_id=%s",
		    c->req.request_id);
		sconn_fail(s, c);
		return -1;
	}
	s->delivered += z->frames - a->frames;
	return sconn_put_records(s, c, f->buf.p + a->end, z->end - a->end);
}

/*
 * Hands c the events of b it has not seen (seq above its cursor, of its run
 * if it follows one), stopping after its run's terminal event when it
 * waits for one. 1 when that ended c's stream, else 0.
 */
static int
hub_give(struct server *s, struct hub_batch *b, struct sconn *c)
{
	size_t i, from = SIZE_MAX;
	int ended = 0;

	for (i = 0; i < b->n && !ended; i++) {
		const char *run_id;

		if (b->seq[i] <= c->cursor ||
		    (c->run_id[0] != '\0' &&
			((run_id = db_cell(b->res, b->first + i, 1)) == NULL ||
			    strcmp(run_id, c->run_id) != 0))) {
			if (from != SIZE_MAX && hub_put(s, b, c, from, i) == -1)
				return 0;
			from = SIZE_MAX;
			continue;
		}
		c->cursor = b->seq[i];
		if (from == SIZE_MAX)
			from = i;
		ended = c->until_terminal && b->terminal[i];
	}
	if (from != SIZE_MAX && hub_put(s, b, c, from, i) == -1)
		return 0;
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
		for (size_t i = 0; i < n;) {
			struct hub_batch b;
			int ended;

			if (hub_batch_init(&b, res, i) == -1) {
				hub_batch_free(s, &b);
				db_result_free(res);
				return -1;
			}
			ended = hub_give(s, &b, c);
			i += b.n;
			hub_batch_free(s, &b);
			if (ended || c->failed) {
				db_result_free(res);
				return ended;
			}
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
	if (c->failed)
		return 0; /* dropped during the replay: closes at the end of the turn */
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
	for (size_t i = 0; i < n && w->subs != NULL;) {
		struct hub_batch b;
		struct sconn *c, *next;

		if (hub_batch_init(&b, res, i) == -1) {
			/* Out of memory: leave fetched where it is; the next poll retries. */
			hub_batch_free(s, &b);
			db_result_free(res);
			return 0;
		}
		for (c = w->subs; c != NULL; c = next) {
			next = c->wnext;
			if (hub_give(s, &b, c))
				server_stream_ended(s, c); /* may unsubscribe c */
		}
		w->fetched = b.seq[b.n - 1];
		i += b.n;
		hub_batch_free(s, &b);
	}
	db_result_free(res);
	return n;
}

/* Orders row indices of a sessions result by id (qsort_r context: the result). */
static int
hub_row_cmp(const void *a, const void *b, void *arg)
{
	const struct db_result *res = arg;

	return strcmp(db_cell(res, *(const size_t *)a, HUB_SC_ID),
	    db_cell(res, *(const size_t *)b, HUB_SC_ID));
}

/* The row of session_id in res (rows sorted by id through idx), or -1. */
static long
hub_row_of(const struct db_result *res, const size_t *idx, const char *session_id)
{
	size_t lo = 0, hi = res->nrows;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(db_cell(res, idx[mid], HUB_SC_ID), session_id);

		if (c == 0)
			return (long)idx[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * Reads every watched session's last_seq and status in one statement per
 * 128 watches (the cost of a poll no longer grows by one query per watched
 * session: issue 14 measured 6,551 idle SELECTs/s at 2,000). 0, or -1 (a
 * database error or out of memory: the poll is skipped, the next retries).
 */
static int
hub_read_sessions(struct server *s, struct db_result **res, size_t **idx)
{
	struct dbrows rows;
	struct watch *w;
	int rc;

	*res = NULL;
	*idx = NULL;
	dbrows_init(&rows, &hub_t_sessions);
	for (w = s->watches; w != NULL; w = w->next) {
		struct db_param p = dbp_str(w->session_id);

		(void)dbrows_add(&rows, &p);
	}
	s->queries += (rows.nrows + DBROWS_CHUNK_MAX - 1) / DBROWS_CHUNK_MAX;
	rc = dbrows_query(s->db, &rows, NULL, res);
	dbrows_free(&rows);
	if (rc == -1) {
		log_warnx("msg=\"session poll failed\" errno=%u", db_last_errno(s->db));
		return -1;
	}
	if ((*idx = malloc(((*res)->nrows + 1) * sizeof(**idx))) == NULL) {
		db_result_free(*res);
		*res = NULL;
		return -1;
	}
	for (size_t r = 0; r < (*res)->nrows; r++)
		(*idx)[r] = r;
	qsort_r(*idx, (*res)->nrows, sizeof(**idx), hub_row_cmp, *res);
	return 0;
}

void
hub_poll(struct server *s)
{
	struct watch *w, *next;
	struct db_result *res;
	size_t *idx;

	s->polls++;
	if (s->watches == NULL || hub_read_sessions(s, &res, &idx) == -1) {
		hub_sweep_idle(s);
		return;
	}
	for (w = s->watches; w != NULL; w = next) {
		long row = hub_row_of(res, idx, w->session_id);
		long long last;

		next = w->next;
		if (row < 0)
			continue;
		last = db_cell_int(res, (size_t)row, HUB_SC_LAST_SEQ, 0);
		w->closed = strcmp(db_cell(res, (size_t)row, HUB_SC_STATUS), "closed") == 0;
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
	free(idx);
	db_result_free(res);
	hub_sweep_idle(s);
}
