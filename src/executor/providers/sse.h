/*
 * An incremental Server-Sent Events parser (the WHATWG "event stream"
 * interpretation): bytes may arrive split anywhere, lines end in LF, CRLF
 * or CR, "data" lines are joined with LF, comment lines (":…") and unknown
 * fields are ignored, a field without a colon has an empty value, one space
 * after the colon is dropped, a leading UTF-8 BOM is skipped, and an event
 * is dispatched at a blank line when it has data. An unterminated event at
 * the end of the stream is never dispatched. The "id" and "retry" fields are
 * ignored.
 */
#ifndef AGENTRUN_EXECUTOR_SSE_H
#define AGENTRUN_EXECUTOR_SSE_H

#include <stddef.h>

#define SSE_EVENT_MAX_DEFAULT (1024u * 1024)

struct sse_parser;

/*
 * on_event gets the event type ("message" when none was given) and the
 * data (len bytes, NUL-terminated too; may hold NUL bytes), both borrowed
 * for the call. max_event_bytes bounds an event's data and the length of
 * any one line (plus a small allowance for the field name); 0 means
 * SSE_EVENT_MAX_DEFAULT. Returns a new parser the caller frees with
 * sse_free(), or NULL on out-of-memory or a NULL on_event.
 */
struct sse_parser *sse_new(
    void (*on_event)(void *arg, const char *event, const char *data, size_t len), void *arg,
    size_t max_event_bytes);

/*
 * Parses n more bytes, firing on_event for each complete event. Returns 0,
 * or -1 when an event or line exceeds the bound or memory runs out; the
 * parser then stays failed and every later call returns -1.
 */
int sse_feed(struct sse_parser *p, const char *buf, size_t n);

/* Frees the parser; NULL is allowed. */
void sse_free(struct sse_parser *p);

#endif
