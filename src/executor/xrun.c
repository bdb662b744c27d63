#include "xrun.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
xrun_op(struct xrun *r, enum xop_kind kind, json_t *v)
{
	struct xop *op;

	if (v == NULL)
		return;
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		json_decref(v);
		return;
	}
	op->kind = kind;
	op->v = v;
	if (r->ops_tail != NULL)
		r->ops_tail->next = op;
	else
		r->ops = op;
	r->ops_tail = op;
}

void
xrun_event(struct xrun *r, const char *type, json_t *data, const char *dedup)
{
	json_t *v =
	    json_pack("{s:s, s:o}", "type", type, "data", data != NULL ? data : json_object());

	if (v != NULL && dedup != NULL)
		json_object_set_new(v, "dedup", json_string(dedup));
	xrun_op(r, XOP_EVENT, v);
}

void
xop_list_free(struct xop *ops)
{
	struct xop *next;

	for (; ops != NULL; ops = next) {
		next = ops->next;
		json_decref(ops->v);
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
	if (r->headers != NULL)
		curl_slist_free_all(r->headers);
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	/* the api key never outlives the run in memory */
	memset(r->api_key, 0, sizeof(r->api_key));
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
