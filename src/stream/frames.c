/*
 * SSE and execution frames of events. The stored data is compact JSON
 * (jansson escapes every control character), so no newline in a payload can
 * start a new SSE field.
 */
#include "frames.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../core/jsonv.h"

int
frames_terminal(const char *type)
{
	return strcmp(type, "run.completed") == 0 || strcmp(type, "run.failed") == 0 ||
	    strcmp(type, "run.timeout") == 0 || strcmp(type, "run.cancelled") == 0 ||
	    strcmp(type, "run.rejected") == 0;
}

/* Appends the strings in order. 0, or -1 when out is full. */
static int
frames_puts(struct fbuf *out, const char *const *parts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fbuf_put(out, parts[i], strlen(parts[i])) == -1)
			return -1;
	return 0;
}

/* The decimal digits of v into buf (at least 21 bytes): snprintf's %lld, without printf. */
static const char *
frames_int(long long v, char *buf, size_t bufsz)
{
	size_t i = bufsz;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	buf[--i] = '\0';
	do {
		buf[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		buf[--i] = '-';
	return buf + i;
}

int
frames_sse(struct fbuf *out, uint16_t id, const struct frames_event *ev)
{
	char ts[40], num[24];
	const char *seq = frames_int(ev->seq, num, sizeof(num));
	const char *parts[] = { "id: ", seq, "\nevent: ", ev->type, "\ndata: {\"seq\":", seq,
		ev->run_id != NULL ? ",\"run_id\":\"" : ",\"run_id\":null",
		ev->run_id != NULL ? ev->run_id : "", ev->run_id != NULL ? "\"" : "",
		",\"type\":\"", ev->type, "\",\"data\":", ev->data != NULL ? ev->data : "null",
		",\"created_at\":\"", ts, "\"}\n\n" };
	size_t at;

	jv_time_format(ev->created_at, ts, sizeof(ts));
	if (fcgi_record_open(out, &at) == -1)
		return -1;
	if (frames_puts(out, parts, sizeof(parts) / sizeof(parts[0])) == -1) {
		out->len = at;
		return -1;
	}
	return fcgi_record_close(out, at, FCGI_STDOUT, id);
}

/* The execution frame of an event, or NULL when it has none. New reference. */
static json_t *
frames_execution_json(const char *type, const json_t *d, const char **name)
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
	if (frames_terminal(type)) {
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
frames_execution(struct fbuf *out, uint16_t id, const struct frames_event *ev)
{
	json_t *d, *frame;
	const char *name = NULL;
	char *text;
	size_t at;
	int rc = 0;

	d = ev->data != NULL ? json_loads(ev->data, 0, NULL) : NULL;
	frame = frames_execution_json(ev->type, d, &name);
	json_decref(d);
	if (frame == NULL)
		return 0;
	text = json_dumps(frame, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(frame);
	if (text == NULL)
		return 0; /* as before: an event jansson cannot serialise gets no frame */
	{
		char num[24];
		const char *parts[] = { "id: ", frames_int(ev->seq, num, sizeof(num)),
			"\nevent: ", name, "\ndata: ", text, "\n\n" };

		if (fcgi_record_open(out, &at) == -1)
			rc = -1;
		else if (frames_puts(out, parts, sizeof(parts) / sizeof(parts[0])) == -1) {
			out->len = at;
			rc = -1;
		} else
			rc = fcgi_record_close(out, at, FCGI_STDOUT, id);
	}
	free(text);
	return rc;
}
