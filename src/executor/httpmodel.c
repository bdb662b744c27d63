/*
 * OpenAI- and Anthropic-compatible model calls over HTTP: the request body
 * comes from the provider adapter (providers/openai.c, anthropic.c), the
 * streamed response is fed to its parser as it arrives, and the parser's
 * events go to the agent loop. Errors are sorted for the retry policy:
 * connect errors, timeouts, 408, 429 and 5xx are retried (Retry-After
 * honoured); other 4xx are not. Redirects are not followed. A route's
 * base_url is guarded like a tool URL (egress.h): an address the guard
 * refuses fails the run at once, without a retry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../core/log.h"
#include "egress.h"
#include "executor.h"
#include "loop.h"
#include "model.h"
#include "providers/anthropic.h"
#include "providers/openai.h"
#include "xrun.h"

#define HTTPMODEL_ERROR_BODY_MAX 4096
#define HTTPMODEL_CONNECT_TIMEOUT_S 10
/* A stream that sends nothing for this long is dead. */
#define HTTPMODEL_IDLE_TIMEOUT_S 120

static int
hm_is_anthropic(const struct xrun *r)
{
	return strcmp(r->provider, "anthropic") == 0;
}

static void
hm_ev_text(void *arg, const char *s, size_t n)
{
	model_text(arg, s, n);
}

static void
hm_ev_thinking(void *arg, const char *s, size_t n)
{
	model_thinking(arg, s, n);
}

static void
hm_ev_tool_call(void *arg, const char *id, const char *name, const char *args)
{
	model_tool_call(arg, id, name, args);
}

static void
hm_ev_usage(void *arg, const struct llm_usage *u)
{
	model_usage(arg, u);
}

static void
hm_ev_done(void *arg, const char *reason)
{
	(void)arg;
	(void)reason;
}

static void
hm_ev_error(void *arg, const char *message)
{
	struct xrun *r = arg;

	/* Reported when the transfer ends; the first one counts. */
	if (r->stream_error[0] == '\0')
		snprintf(r->stream_error, sizeof(r->stream_error), "%s",
		    message != NULL && *message ? message : "error event in the stream");
}

static void
hm_stream_free(struct xrun *r)
{
	if (r->stream == NULL)
		return;
	if (hm_is_anthropic(r))
		anthropic_stream_free(r->stream);
	else
		openai_stream_free(r->stream);
	r->stream = NULL;
}

static size_t
hm_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xrun *r = arg;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		/* An error body: keep the start of it for the message. */
		if (r->resp_too_big == 0 &&
		    xrun_buf_append(&r->resp, &r->resplen, &r->respcap, data, n,
			HTTPMODEL_ERROR_BODY_MAX) == -1)
			r->resp_too_big = 1;
		return n;
	}
	if (r->stream == NULL)
		return 0;
	if ((hm_is_anthropic(r) ? anthropic_stream_feed(r->stream, data, n)
				: openai_stream_feed(r->stream, data, n)) == -1)
		return 0; /* malformed stream: abort the transfer */
	return n;
}

static void
hm_done(void *arg, CURLcode rc, long status)
{
	struct xrun *r = arg;
	char msg[512];
	int finished = 0;

	if (r->stream != NULL)
		finished = hm_is_anthropic(r) ? anthropic_stream_finished(r->stream)
					      : openai_stream_finished(r->stream);
	if (rc == CURLE_OK && status == 200 && finished && r->stream_error[0] == '\0') {
		hm_stream_free(r);
		model_done(r);
		return;
	}
	if (rc != CURLE_OK && r->guard.refused) {
		/* Says no more than that: what else answers there is none of the tenant's business. */
		char ip[sizeof(r->guard.refused_ip) * 4];

		log_info("msg=\"outbound address refused\" run=%s call=model ip=%s", r->id,
		    log_escape(ip, sizeof(ip), r->guard.refused_ip));
		hm_stream_free(r);
		model_failed(r, 0, -1,
		    "refused: the route's base_url is not an allowed address (loopback, private or"
		    " link-local; see providers.allow_hosts)");
		return;
	}
	if (r->stream_error[0] != '\0')
		snprintf(msg, sizeof(msg), "provider stream error: %s", r->stream_error);
	else if (rc != CURLE_OK && status == 200)
		snprintf(msg, sizeof(msg), "the stream broke off: %s", curl_easy_strerror(rc));
	else if (rc != CURLE_OK)
		snprintf(msg, sizeof(msg), "cannot reach the provider: %s", curl_easy_strerror(rc));
	else if (status == 200)
		snprintf(msg, sizeof(msg), "the stream ended before the message did");
	else
		snprintf(msg, sizeof(msg), "HTTP %ld from the provider", status);
	hm_stream_free(r);
	model_failed(r,
	    rc != CURLE_OK || status == 200 || status == 408 || status == 429 || status >= 500,
	    r->retry_after_ms, msg);
}

int
httpmodel_start(struct xrun *r)
{
	struct llm_events ev = { r, hm_ev_text, hm_ev_thinking, hm_ev_tool_call, hm_ev_usage,
		hm_ev_done, hm_ev_error };
	struct llm_request rq;
	json_t *tools = json_array();
	char url[2200], hdr[4300];
	const char *path;
	size_t i;
	json_t *t;

	json_array_foreach(r->tools, i, t)
	{
		json_t *params = json_object_get(t, "parameters");

		json_array_append_new(tools,
		    json_pack("{s:O, s:s, s:O}", "name", json_object_get(t, "name"), "description",
			json_string_value(json_object_get(t, "description"))
			    ? json_string_value(json_object_get(t, "description"))
			    : "",
			"parameters", params != NULL ? params : json_null()));
	}
	rq = (struct llm_request){ r->model, r->params, r->system_prompt, r->history, tools };
	free(r->reqbody);
	r->reqbody = hm_is_anthropic(r) ? anthropic_build_request(&rq) : openai_build_request(&rq);
	json_decref(tools);
	if (r->reqbody == NULL) {
		model_failed(r, 0, -1, "cannot build the provider request");
		return -1;
	}
	path = hm_is_anthropic(r) ? "/v1/messages" : "/chat/completions";
	if (r->ep == NULL || r->ep->base_url[0] == '\0') {
		model_failed(r, 0, -1, "no base_url for this provider (route or server config)");
		return -1;
	}
	snprintf(url, sizeof(url), "%s%s", r->ep->base_url, path);
	r->stream =
	    hm_is_anthropic(r) ? (void *)anthropic_stream_new(&ev) : (void *)openai_stream_new(&ev);
	if (r->easy == NULL)
		r->easy = curl_easy_init();
	else
		curl_easy_reset(r->easy);
	if (r->headers != NULL)
		curl_slist_free_all(r->headers);
	r->headers = curl_slist_append(NULL, "Content-Type: application/json");
	r->headers = curl_slist_append(r->headers, "Accept: text/event-stream");
	/* No key, no key header: an empty one would still say which header the key goes in. */
	if (hm_is_anthropic(r)) {
		if (r->ep->api_key[0] != '\0') {
			snprintf(hdr, sizeof(hdr), "x-api-key: %s", r->ep->api_key);
			r->headers = curl_slist_append(r->headers, hdr);
		}
		r->headers = curl_slist_append(r->headers, "anthropic-version: 2023-06-01");
	} else if (r->ep->api_key[0] != '\0') {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", r->ep->api_key);
		r->headers = curl_slist_append(r->headers, hdr);
	}
	sodium_memzero(hdr, sizeof(hdr));
	if (r->easy == NULL || r->stream == NULL || r->headers == NULL) {
		hm_stream_free(r);
		model_failed(r, 1, -1, "out of memory");
		return -1;
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->reqbody);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, hm_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, xrun_header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, (long)HTTPMODEL_CONNECT_TIMEOUT_S);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, (long)HTTPMODEL_IDLE_TIMEOUT_S);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	/* A route's base_url is the tenant's choice; the operator's own is trusted (egress.h). */
	r->guard =
	    (struct egress){ .guarded = r->ep->guarded, .allow_private = r->ep->allow_private };
	egress_setopt(r->easy, &r->guard);
	if (loop_xfer_add(r->ex->loop, r->easy, hm_done, r) == -1) {
		hm_stream_free(r);
		model_failed(r, 1, -1, "cannot start the transfer");
		return -1;
	}
	return 0;
}

void
call_stop(struct xrun *r)
{
	if (r->timer != NULL) {
		loop_timer_cancel(r->ex->loop, r->timer);
		r->timer = NULL;
	}
	if (r->easy != NULL)
		loop_xfer_remove(r->ex->loop, r->easy);
	hm_stream_free(r);
}
