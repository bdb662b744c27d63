/*
 * The bytes a listener receives for one event, as ready FastCGI STDOUT
 * records: an SSE frame (run, session and thread streams) or an execution
 * frame (/executions/{id}/stream). Pure functions: the hub formats each event
 * once per batch with these and hands the same bytes to every listener.
 */
#ifndef AGENTRUN_STREAM_FRAMES_H
#define AGENTRUN_STREAM_FRAMES_H

#include <stdint.h>

#include "fcgi_proto.h"

/* nginx numbers every FastCGI request 1 (one request per connection). */
#define FRAMES_REQUEST_ID 1

/* One row of the events table, as the database returns it (borrowed strings). */
struct frames_event {
	long long seq;
	const char *run_id; /* NULL for a session event */
	const char *type;
	const char *data; /* compact JSON */
	const char *created_at; /* "YYYY-MM-DD hh:mm:ss.fff" */
};

/* 1 when the event type ends its run. */
int frames_terminal(const char *type);

/*
 * Appends ev's SSE frame to out as one STDOUT record (more past 64 KiB) for
 * request id. 0, or -1 when out is full (out unchanged).
 */
int frames_sse(struct fbuf *out, uint16_t id, const struct frames_event *ev);

/*
 * Appends ev's execution frame to out the same way, or nothing when the
 * event has no execution frame. 0, or -1 (out unchanged).
 */
int frames_execution(struct fbuf *out, uint16_t id, const struct frames_event *ev);

#endif
