#include "xrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

/* A new op of the given kind at the end of r's queue, or NULL when out of memory. */
static struct xop *
xrun_op_new(struct xrun *r, enum xop_kind kind)
{
	struct xop *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->kind = kind;
	if (r->ops_tail != NULL)
		r->ops_tail->next = op;
	else
		r->ops = op;
	r->ops_tail = op;
	return op;
}

void
xrun_op(struct xrun *r, enum xop_kind kind, json_t *v)
{
	struct xop *op;

	if (v == NULL)
		return;
	if ((op = xrun_op_new(r, kind)) == NULL) {
		json_decref(v);
		return;
	}
	op->v = v;
}

char *
xrun_jw_text(struct jw *w)
{
	char *text;

	jw_raw(w, "", 1);
	if (w->failed) {
		jw_free(w);
		return NULL;
	}
	if (w->heap)
		return w->buf; /* ours now */
	text = malloc(w->len);
	if (text != NULL)
		memcpy(text, w->buf, w->len);
	return text;
}

void
xrun_event_text(struct xrun *r, const char *type, char *text)
{
	struct xop *op;

	if (text == NULL)
		return;
	if ((op = xrun_op_new(r, XOP_EVENT)) == NULL) {
		free(text);
		return;
	}
	op->text = text;
	snprintf(op->type, sizeof(op->type), "%s", type);
	/* Deltas coalesce (trailing edge); every other event commits at once. */
	if (strcmp(type, "message.delta") != 0 && strcmp(type, "thinking.delta") != 0)
		r->urgent = 1;
}

void
xrun_event(struct xrun *r, const char *type, json_t *data)
{
	char *text =
	    data != NULL ? json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(15)) : strdup("{}");

	json_decref(data);
	xrun_event_text(r, type, text);
}

char *
xrun_response_doc(const char *text, size_t n)
{
	struct jw w;

	jw_init(&w, NULL, 0, (size_t)-1);
	jw_lit(&w, "{\"response\":");
	jw_strn(&w, text, n);
	jw_lit(&w, "}");
	return xrun_jw_text(&w);
}

void
xrun_progress(struct xrun *r, const char *response, size_t n, int steps, int consume)
{
	char *doc = NULL;
	struct xop *op;

	if (response != NULL && (doc = xrun_response_doc(response, n)) == NULL)
		return;
	if ((op = xrun_op_new(r, XOP_PROGRESS)) == NULL) {
		free(doc);
		return;
	}
	op->text = doc;
	op->steps = steps;
	op->consume = consume;
}

void
xop_list_free(struct xop *ops)
{
	struct xop *next;

	for (; ops != NULL; ops = next) {
		next = ops->next;
		json_decref(ops->v);
		free(ops->text);
		free(ops);
	}
}

void
xrun_ops_clear(struct xrun *r)
{
	xop_list_free(r->ops);
	r->ops = r->ops_tail = NULL;
}

int
xrun_buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n, size_t max)
{
	if (*len + n + 1 > max)
		return -1;
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 256;
		char *nb;

		while (ncap < *len + n + 1)
			ncap *= 2;
		if (ncap > max)
			ncap = max;
		if ((nb = realloc(*buf, ncap)) == NULL)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

struct xrun_endpoint *
xrun_endpoint(struct xrun *r)
{
	if (r->ep == NULL)
		r->ep = calloc(1, sizeof(*r->ep));
	return r->ep;
}

void
xrun_free(struct xrun *r)
{
	if (r == NULL)
		return;
	xrun_ops_clear(r);
	json_decref(r->params);
	json_decref(r->tools);
	json_decref(r->approval_tools);
	json_decref(r->history);
	json_decref(r->input);
	json_decref(r->call);
	json_decref(r->tool_calls);
	free(r->system_prompt);
	free(r->resume_input);
	free(r->reqbody);
	free(r->out);
	free(r->thinking);
	free(r->resp);
	free(r->hop_url);
	json_decref(r->hop_tool_headers);
	if (r->headers != NULL)
		curl_slist_free_all(r->headers);
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	if (r->ep != NULL) {
		/* the api key never outlives the run in memory */
		sodium_memzero(r->ep, sizeof(*r->ep));
		free(r->ep);
	}
	free(r);
}

void
xrun_retry_after(struct xrun *r, const char *line, size_t n)
{
	static const char name[] = "retry-after:";
	size_t nlen = sizeof(name) - 1;
	char buf[32], *end;
	size_t len;
	double secs;

	if (n <= nlen || strncasecmp(line, name, nlen) != 0)
		return;
	len = n - nlen < sizeof(buf) - 1 ? n - nlen : sizeof(buf) - 1;
	memcpy(buf, line + nlen, len);
	buf[len] = '\0';
	/* Seconds only; an HTTP date is ignored (the back-off applies). */
	secs = strtod(buf, &end);
	if (end != buf && secs >= 0 && secs < 86400)
		r->retry_after_ms = (long)(secs * 1000);
}

size_t
xrun_header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	xrun_retry_after(arg, data, size * nmemb);
	return size * nmemb;
}
