/*
 * HTTP tools (API.md §2): POST {"run_id","call_id","name","arguments"} to the
 * tool's url with Idempotency-Key "<run_id>:<call_id>", so a call sent again
 * after a crash has its effect once. The address actually connected to is
 * checked in curl's open-socket callback (after DNS, on every redirect), so
 * neither a DNS answer nor a redirect reaches loopback, private or
 * link-local ranges unless tools.allow_private is set. The response (JSON,
 * else text) is the tool result; it is capped at tools.max_response_bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../core/config.h"
#include "../core/log.h"
#include "executor.h"
#include "loop.h"
#include "model.h"
#include "tools/netguard.h"
#include "xrun.h"

#define HTTPTOOL_MAX_REDIRECTS 3L

static curl_socket_t
ht_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct xrun *r = arg;

	(void)purpose;
	if (!netguard_allowed(&addr->addr, r->ex->cfg->tools_allow_private)) {
		r->resp_too_big = 3; /* marks "address refused" */
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

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

static void
ht_done(void *arg, CURLcode rc, long status)
{
	struct xrun *r = arg;
	char msg[256];
	json_t *out;

	if (r->resp_too_big == 3) {
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

int
httptool_start(struct xrun *r, const json_t *tool, const json_t *call)
{
	const char *url = json_string_value(json_object_get(tool, "url"));
	long long timeout_ms = json_integer_value(json_object_get(tool, "timeout_ms"));
	const char *call_id = json_string_value(json_object_get(call, "id"));
	json_t *body, *headers = json_object_get(tool, "headers");
	const char *name;
	json_t *value;
	char hdr[1024];

	if (url == NULL) {
		tool_done(r, json_string("the tool has no url"), 1);
		return -1;
	}
	body = json_pack("{s:s, s:s?, s:O?, s:O?}", "run_id", r->id, "call_id", call_id, "name",
	    json_object_get(call, "name"), "arguments", json_object_get(call, "arguments"));
	free(r->reqbody);
	r->reqbody = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (r->easy == NULL)
		r->easy = curl_easy_init();
	else
		curl_easy_reset(r->easy);
	if (r->headers != NULL)
		curl_slist_free_all(r->headers);
	r->headers = curl_slist_append(NULL, "Content-Type: application/json");
	snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s:%s", r->id, call_id ? call_id : "");
	r->headers = curl_slist_append(r->headers, hdr);
	json_object_foreach(headers, name, value) if (json_is_string(value) &&
	    snprintf(hdr, sizeof(hdr), "%s: %s", name, json_string_value(value)) < (int)sizeof(hdr))
	    r->headers = curl_slist_append(r->headers, hdr);
	if (r->easy == NULL || r->reqbody == NULL || r->headers == NULL) {
		tool_failed(r, 1, -1, "out of memory");
		return -1;
	}
	r->resplen = 0;
	r->resp_too_big = 0;
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->reqbody);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, ht_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, xrun_header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETFUNCTION, ht_opensocket);
	curl_easy_setopt(r->easy, CURLOPT_OPENSOCKETDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? (long)timeout_ms : 30000L);
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(r->easy, CURLOPT_MAXREDIRS, HTTPTOOL_MAX_REDIRECTS);
	curl_easy_setopt(r->easy, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	if (loop_xfer_add(r->ex->loop, r->easy, ht_done, r) == -1) {
		tool_failed(r, 1, -1, "cannot start the transfer");
		return -1;
	}
	return 0;
}
