/*
 * agentrun-stream: one process, one epoll loop, many long-held requests.
 *
 * nginx hands each request over its own FastCGI connection (no keep-alive).
 * A connection is read until its request is whole, then dispatched
 * (server.c): an SSE stream subscribes to its session's watch (hub.c); a
 * sync execution delegates run creation to agentrun-api over FastCGI
 * (upstream.c) and waits on the watch for the run's end.
 *
 * Fan-out: one watch per session with listeners. On each wake-up (the
 * doorbell the executor and API ring after commits, or the poll timer) the
 * hub asks the database which watched sessions moved (sessions.last_seq,
 * one statement per 128 of them) and reads the new events of those once,
 * handing them to every listener: database work grows with sessions that
 * moved, not with listeners or idle sessions.
 */
#ifndef AGENTRUN_STREAM_H
#define AGENTRUN_STREAM_H

#include <stdint.h>

#include "../core/http.h"
#include "../core/ids.h"
#include "fcgi_proto.h"

struct config;
struct db;
struct watch;
struct upstream;
struct sendring;

/* What a connection is doing. */
enum sconn_state {
	SC_READING, /* the request is still arriving */
	SC_STREAMING, /* an SSE response is open */
	SC_WAITING, /* a sync execution waits for its run */
	SC_UPSTREAM, /* a request to agentrun-api is in flight */
	SC_CLOSING, /* the response is complete: close once written */
};

/* How events reach a listener: SSE frames, execution frames, or not at all (a waiter). */
enum sconn_frames {
	FRAMES_SSE,
	FRAMES_EXECUTION,
	FRAMES_NONE
};

/* Every epoll registration starts with one of these. */
enum ep_kind {
	EP_LISTEN,
	EP_BELL,
	EP_CONN,
	EP_UPSTREAM
};

/*
 * Fields are ordered by use: the first cache lines hold everything a
 * delivery and the keep-alive sweep touch (both walk thousands of these),
 * the request and the sync-execution state come after.
 */
struct sconn {
	enum ep_kind kind; /* EP_CONN */
	int dead; /* closed: freed at the end of the loop turn */
	int fd;
	enum sconn_state state;
	struct sconn *prev, *next; /* all connections (the sweep walks them) */

	/* a subscription */
	struct sconn *wnext;
	long long cursor; /* last seq sent */
	enum sconn_frames frames;
	int until_terminal; /* a run stream: close after the run's terminal event */
	int failed; /* dropped: nothing more is written; closed at the end of the turn */
	int epollout; /* EPOLLOUT is registered (only while out holds bytes) */
	int pending; /* on the server's pending list */
	int sending; /* a send of borrowed bytes waits in the server's ring */
	uint16_t fcgi_id; /* the FastCGI request id of the response */
	struct fbuf out;
	uint64_t last_write_ms;
	char run_id[ID_BUFSZ]; /* "" = the whole session */
	char key_id[ID_BUFSZ]; /* the API key that opened it (keycheck.c) */
	int capped; /* counted against its key and workspace (streamcap.c) */
	uint64_t accepted_ms; /* the request must arrive whole by stream.request_timeout_s */
	struct sconn *pnext;
	struct watch *watch;
	struct server *srv;

	struct fcgi_req fr;
	struct fbuf in;
	struct http_request req;
	char *params_store[8]; /* copies req points into */

	char workspace_id[ID_BUFSZ]; /* the key's workspace */

	/* a sync execution */
	char exec_run_id[ID_BUFSZ];
	uint64_t deadline_ms;
	int async_mode;
	struct upstream *up;
	int up_purpose; /* what the upstream answer is for (server.c) */
};

struct server {
	const struct config *cfg;
	struct db *db;
	int epfd, listen_fd, bell_fd;
	struct sconn *conns;
	long nconns;
	struct watch *watches;
	long nwatches;
	struct sconn *graveyard; /* closed connections, freed after the turn */
	struct sconn *pending; /* connections with output to try, or to close */
	struct sendring *ring; /* fan-out sends, one system call per batch; NULL: send() */
	struct upstream *up_graveyard;
	uint64_t now_ms; /* at the start of the loop turn */
	uint64_t last_poll_ms, last_sweep_ms, last_keycheck_ms;
	unsigned long long polls, queries, delivered;
};

/* server.c */
uint64_t server_now_ms(void);
/* Queues bytes as FastCGI STDOUT; the loop writes them out. 0 or -1. */
int sconn_write(struct server *s, struct sconn *c, const char *data, size_t n);
/*
 * Writes n bytes of whole FastCGI records made for request id
 * FRAMES_REQUEST_ID (borrowed): sent at once when nothing is queued for c,
 * the rest copied and left to the loop. 0, or -1 when c was dropped (too far
 * behind, or nginx went away).
 */
int sconn_put_records(struct server *s, struct sconn *c, const unsigned char *rec, size_t n);
/*
 * Sends everything queued in the ring and settles each connection (what a
 * send did not take waits in its out buffer). Called before the bytes the
 * ring borrows are freed.
 */
void server_sends_flush(struct server *s);
/* Drops c: unsubscribed now, nothing more written, closed at the end of the turn. */
void sconn_fail(struct server *s, struct sconn *c);
/* Ends the response (STDOUT end, END_REQUEST); the connection closes once flushed. */
void sconn_finish(struct server *s, struct sconn *c);

/* keycheck.c: how often open streams' keys are checked, and the check. */
#define KEYCHECK_MS 5000
/* Ends the streams (and waiting sync executions) whose API key was revoked. */
void keycheck_run(struct server *s);

/* streamcap.c: open streams per API key and per workspace (stream.max_streams_per_*). */
enum streamcap_result {
	STREAMCAP_OK = 0,
	STREAMCAP_KEY, /* the key holds stream.max_streams_per_key */
	STREAMCAP_WORKSPACE, /* the workspace holds stream.max_streams_per_workspace */
};
/* Counts c (its key_id and workspace_id set) unless a cap is reached. */
enum streamcap_result streamcap_take(struct server *s, struct sconn *c);
/* Gives c's place back (no-op when it was not counted). */
void streamcap_release(struct sconn *c);

/* hub.c */
/*
 * Subscribes c to session_id's watch and replays from c->cursor. Returns 0,
 * or -1 on a database error (nothing sent).
 */
int hub_subscribe(
    struct server *s, struct sconn *c, const char *workspace_id, const char *session_id);
void hub_unsubscribe(struct server *s, struct sconn *c);
/* One poll of every watched session; delivers new events. */
void hub_poll(struct server *s);
/* server.c: c's stream reached its end (terminal run event, closed session). */
void server_stream_ended(struct server *s, struct sconn *c);

/* upstream.c */
typedef void (*upstream_done_fn)(
    struct server *s, struct sconn *c, int status, const char *body, size_t len);
/*
 * Sends one request to agentrun-api (its api.listen socket) on c's behalf;
 * done fires once with the HTTP status and body (status 0 when the API
 * could not be reached). headers_from: c's request (auth, request id).
 */
int upstream_start(struct server *s, struct sconn *c, const char *method, const char *path,
    const char *body, upstream_done_fn done);
void upstream_cancel(struct server *s, struct sconn *c);
/* Frees upstreams finished during this loop turn. */
void upstream_reap(struct server *s);
int upstream_dead(const struct upstream *u);
/* Called by the loop for an upstream descriptor's events. */
void upstream_io(struct server *s, struct upstream *u, uint32_t events);

#endif
