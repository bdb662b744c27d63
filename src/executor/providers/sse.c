/*
 * The line buffer holds the current, unterminated line across calls; a CR
 * that ends a line sets `cr` so that an LF arriving next, maybe in the next
 * call, is taken as part of the same line end. Fields are interpreted only
 * once their line is complete, so a split anywhere gives the same events.
 */
#include "sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SSE_LINE_SLACK 64 /* a line may be this much longer than an event: "data: " */

struct sse_buf {
	char *p;
	size_t len, cap;
};

struct sse_parser {
	void (*on_event)(void *, const char *, const char *, size_t);
	void *arg;
	size_t max;
	struct sse_buf line, data, event;
	int cr; /* the last line ended in CR: a next LF belongs to it */
	int started; /* the first line has been seen (a BOM may only start it) */
	int failed;
};

/* Appends n bytes and keeps the buffer NUL-terminated; -1 past limit bytes or on OOM. */
static int
sse_put(struct sse_buf *b, const char *s, size_t n, size_t limit)
{
	if (n > limit || b->len > limit - n)
		return -1;
	if (b->p == NULL || b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static void
sse_dispatch(struct sse_parser *p)
{
	if (p->data.len > 0) {
		/* Every data line added an LF; the last one is dropped. */
		p->data.p[--p->data.len] = '\0';
		p->on_event(
		    p->arg, p->event.len > 0 ? p->event.p : "message", p->data.p, p->data.len);
	}
	p->data.len = 0;
	p->event.len = 0;
}

/* Interprets one complete line (without its end). */
static int
sse_line(struct sse_parser *p, const char *l, size_t n)
{
	const char *colon, *v;
	size_t fn, vn;

	if (!p->started) {
		p->started = 1;
		if (n >= 3 && memcmp(l, "\xEF\xBB\xBF", 3) == 0) {
			l += 3;
			n -= 3;
		}
	}
	if (n == 0) {
		sse_dispatch(p);
		return 0;
	}
	if ((colon = memchr(l, ':', n)) == l)
		return 0; /* a comment */
	if (colon == NULL) {
		fn = n;
		v = l + n;
		vn = 0;
	} else {
		fn = (size_t)(colon - l);
		v = colon + 1;
		vn = n - fn - 1;
		if (vn > 0 && *v == ' ') {
			v++;
			vn--;
		}
	}
	if (fn == 4 && memcmp(l, "data", 4) == 0) {
		/* data.len + vn <= max: the event's data once the last LF is dropped. */
		if (sse_put(&p->data, v, vn, p->max) == -1 ||
		    sse_put(&p->data, "\n", 1, p->max + 1) == -1)
			return -1;
	} else if (fn == 5 && memcmp(l, "event", 5) == 0) {
		p->event.len = 0;
		if (sse_put(&p->event, v, vn, p->max) == -1)
			return -1;
	}
	return 0;
}

struct sse_parser *
sse_new(void (*on_event)(void *arg, const char *event, const char *data, size_t len), void *arg,
    size_t max_event_bytes)
{
	struct sse_parser *p;

	if (on_event == NULL)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->on_event = on_event;
	p->arg = arg;
	p->max = max_event_bytes ? max_event_bytes : SSE_EVENT_MAX_DEFAULT;
	if (p->max > SIZE_MAX / 4)
		p->max = SIZE_MAX / 4;
	return p;
}

int
sse_feed(struct sse_parser *p, const char *buf, size_t n)
{
	size_t i = 0, j;

	if (p->failed)
		return -1;
	while (i < n) {
		if (p->cr) {
			p->cr = 0;
			if (buf[i] == '\n') {
				i++;
				continue;
			}
		}
		for (j = i; j < n && buf[j] != '\r' && buf[j] != '\n'; j++)
			continue;
		if (sse_put(&p->line, buf + i, j - i, p->max + SSE_LINE_SLACK) == -1)
			goto fail;
		if (j == n)
			break;
		p->cr = buf[j] == '\r';
		i = j + 1;
		if (sse_line(p, p->line.p, p->line.len) == -1)
			goto fail;
		p->line.len = 0;
	}
	return 0;
fail:
	p->failed = 1;
	return -1;
}

void
sse_free(struct sse_parser *p)
{
	if (p == NULL)
		return;
	free(p->line.p);
	free(p->data.p);
	free(p->event.p);
	free(p);
}
