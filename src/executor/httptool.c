/*
 * HTTP tools (API.md §2): POST {"run_id","call_id","name","arguments"} to the
 * tool's url with Idempotency-Key "<run_id>:<call_id>", so a call sent again
 * after a crash has its effect once. Tool URLs are the tenant's choice, so
 * every transfer is guarded (egress.h): the address is checked when
 * connecting and again before each request, and no connection is shared
 * with another transfer; loopback, private and link-local ranges are
 * refused unless tools.allow_private is set. The response (JSON, else text)
 * is the tool result; it is capped at tools.max_response_bytes.
 *
 * Redirects (301, 302, 303, 307, 308; at most HTTPTOOL_MAX_REDIRECTS) are
 * followed here, one guarded transfer per hop, rather than by curl: the
 * tool's own headers (often its credentials) go only to the tool URL's
 * origin, and from the first hop that leaves it they are dropped for good.
 * curl would send them to every hop. The body is POSTed again on each hop,
 * as before, and timeout_ms bounds all hops together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "../core/log.h"
#include "egress.h"
#include "executor.h"
#include "loop.h"
#include "model.h"
#include "xrun.h"

#define HTTPTOOL_MAX_REDIRECTS 3
#define HTTPTOOL_DEFAULT_TIMEOUT_MS 30000

static int ht_send(struct xrun *r);

static size_t
ht_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xrun *r = arg;
	size_t n = size * nmemb;

	if (xrun_buf_append(&r->resp, &r->resplen, &r->respcap, data, n,
		(size_t)r->ex->cfg->tools_max_response_bytes + 1) == -1) {
		r->resp_too_big = 1;
		return 0; /* abort: the body is over the cap */
	}
	return n;
}

/* 1 when status is a redirect this module follows. */
static int
ht_is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/*
 * Starts the next hop of a redirect: 1 when it started (or failed and was
 * reported), 0 when the response is no redirect to follow.
 */
static int
ht_follow(struct xrun *r, long status)
{
	char *next = NULL;
	char *copy;

	if (!ht_is_redirect(status) ||
	    curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || next == NULL)
		return 0;
	if (r->hops >= HTTPTOOL_MAX_REDIRECTS) {
		tool_failed(r, 1, -1, "cannot reach the tool: more than 3 redirects");
		return 1;
	}
	if ((copy = strdup(next)) == NULL) {
		tool_failed(r, 1, -1, "out of memory");
		return 1;
	}
	if (r->hop_same_origin && !egress_same_origin(r->hop_url, copy))
		r->hop_same_origin = 0;
	free(r->hop_url);
	r->hop_url = copy;
	r->hops++;
	(void)ht_send(r);
	return 1;
}

static void
ht_done(void *arg, CURLcode rc, long status)
{
	struct xrun *r = arg;
	char msg[256];
	json_t *out;

	if (rc != CURLE_OK && r->guard.refused) {
		char ip[sizeof(r->guard.refused_ip) * 4];

		log_info("msg=\"outbound address refused\" run=%s call=tool hop=%d ip=%s", r->id,
		    r->hops, log_escape(ip, sizeof(ip), r->guard.refused_ip));
		tool_done(r,
		    json_string("refused: the tool's address is not allowed "
				"(loopback, private or link-local; see tools.allow_private)"),
		    1);
		return;
	}
	if (r->resp_too_big == 1) {
		snprintf(msg, sizeof(msg), "the tool's response exceeds %lld bytes",
		    r->ex->cfg->tools_max_response_bytes);
		tool_done(r, json_string(msg), 1);
		return;
	}
	if (rc != CURLE_OK) {
		snprintf(msg, sizeof(msg), "cannot reach the tool: %s", curl_easy_strerror(rc));
		tool_failed(r, 1, r->retry_after_ms, msg);
		return;
	}
	if (ht_follow(r, status))
		return;
	if (status == 408 || status == 429 || status >= 500) {
		snprintf(msg, sizeof(msg), "HTTP %ld from the tool", status);
		tool_failed(r, 1, r->retry_after_ms, msg);
		return;
	}
	out = r->resp != NULL ? json_loadb(r->resp, r->resplen, JSON_DECODE_ANY, NULL) : NULL;
	if (out == NULL)
		out = json_stringn(r->resp != NULL ? r->resp : "", r->resplen);
	if (out == NULL) /* not UTF-8 */
		out = json_string("(the tool answered bytes that are not UTF-8 text)");
	/* Other 4xx are not retried: the model sees the error and may adapt. */
	tool_done(r, out, status < 200 || status >= 300);
}

/* The request headers of the hop in flight (r->headers); -1 when out of memory. */
static int
ht_headers(struct xrun *r)
{
	const char *call_id = json_string_value(json_object_get(r->call, "id"));
	const char *name;
	json_t *value;
	char hdr[1024];

	if (r->headers != NULL)
		curl_slist_free_all(r->headers);
	r->headers = curl_slist_append(NULL, "Content-Type: application/json");
	snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s:%s", r->id, call_id ? call_id : "");
	if (r->headers != NULL)
		r->headers = curl_slist_append(r->headers, hdr);
	if (r->hop_same_origin)
		json_object_foreach(r->hop_tool_headers, name, value)
		{
			struct curl_slist *l;

			if (r->headers == NULL || !json_is_string(value) ||
			    snprintf(hdr, sizeof(hdr), "%s: %s", name, json_string_value(value)) >=
				(int)sizeof(hdr))
				continue;
			if ((l = curl_slist_append(r->headers, hdr)) == NULL) {
				curl_slist_free_all(r->headers);
				r->headers = NULL;
			} else
				r->headers = l;
		}
	return r->headers != NULL ? 0 : -1;
}

/* Sends the hop in flight (r->hop_url). 0, or -1 after reporting the failure. */
static int
ht_send(struct xrun *r)
{
	uint64_t now = loop_now_ms();
	long left = r->hop_deadline_ms > now ? (long)(r->hop_deadline_ms - now) : 1L;

	if (r->easy == NULL)
		r->easy = curl_easy_init();
	else
		curl_easy_reset(r->easy);
	if (r->easy == NULL || ht_headers(r) == -1) {
		tool_failed(r, 1, -1, "out of memory");
		return -1;
	}
	r->resplen = 0;
	r->resp_too_big = 0;
	r->retry_after_ms = -1;
	curl_easy_setopt(r->easy, CURLOPT_URL, r->hop_url);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->reqbody);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, ht_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, xrun_header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, left);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	r->guard =
	    (struct egress){ .guarded = 1, .allow_private = r->ex->cfg->tools_allow_private };
	egress_setopt(r->easy, &r->guard);
	if (loop_xfer_add(r->ex->loop, r->easy, ht_done, r) == -1) {
		tool_failed(r, 1, -1, "cannot start the transfer");
		return -1;
	}
	return 0;
}

int
httptool_start(struct xrun *r, const json_t *tool, const json_t *call)
{
	const char *url = json_string_value(json_object_get(tool, "url"));
	long long timeout_ms = json_integer_value(json_object_get(tool, "timeout_ms"));
	json_t *body;

	if (url == NULL) {
		tool_done(r, json_string("the tool has no url"), 1);
		return -1;
	}
	body = json_pack("{s:s, s:s?, s:O?, s:O?}", "run_id", r->id, "call_id",
	    json_string_value(json_object_get(call, "id")), "name", json_object_get(call, "name"),
	    "arguments", json_object_get(call, "arguments"));
	free(r->reqbody);
	r->reqbody = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	free(r->hop_url);
	r->hop_url = strdup(url);
	json_decref(r->hop_tool_headers);
	r->hop_tool_headers = json_incref(json_object_get(tool, "headers"));
	r->hops = 0;
	r->hop_same_origin = 1;
	r->hop_deadline_ms =
	    loop_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : HTTPTOOL_DEFAULT_TIMEOUT_MS);
	if (r->reqbody == NULL || r->hop_url == NULL) {
		tool_failed(r, 1, -1, "out of memory");
		return -1;
	}
	return ht_send(r);
}
