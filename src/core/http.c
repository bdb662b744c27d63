#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"

int
http_normalize_path(const char *raw, char *out, size_t outsz)
{
	size_t n, o = 0;
	const char *rest;
	char *last, *colon;

	if (raw == NULL || raw[0] != '/')
		return -1;
	n = strcspn(raw, "?#");
	rest = raw;
	if (n >= 4 && strncmp(raw, "/v1/", 4) == 0) {
		static const char api[] = "/api";

		if (sizeof(api) - 1 >= outsz)
			return -1;
		memcpy(out, api, sizeof(api) - 1);
		o = sizeof(api) - 1;
	} else if (n == 3 && strncmp(raw, "/v1", 3) == 0) {
		return http_normalize_path("/api/v1", out, outsz);
	}
	if (o + n >= outsz)
		return -1;
	memcpy(out + o, rest, n);
	o += n;
	out[o] = '\0';
	if (o > 1 && out[o - 1] == '/')
		out[--o] = '\0';
	/* "…/runs/{id}:cancel" is served as "…/runs/{id}/cancel". */
	last = strrchr(out, '/');
	if (last != NULL && (colon = strchr(last, ':')) != NULL && colon > last + 1 &&
	    colon[1] != '\0' &&
	    strspn(colon + 1, "abcdefghijklmnopqrstuvwxyz") == strlen(colon + 1))
		*colon = '/';
	return 0;
}

void
http_set_request_id(struct http_request *req, const char *given)
{
	static const char ok[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";
	size_t n;

	if (given != NULL && (n = strlen(given)) > 0 && n < HTTP_REQID_MAX &&
	    strspn(given, ok) == n) {
		memcpy(req->request_id, given, n + 1);
		return;
	}
	id_new(req->request_id);
}

static int
http_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
http_query_param(const char *query, const char *name, char *out, size_t outsz)
{
	size_t nlen = strlen(name);
	const char *p = query;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, '&');
		size_t seglen = end ? (size_t)(end - p) : strlen(p);

		if (seglen >= nlen && strncmp(p, name, nlen) == 0 &&
		    (seglen == nlen || p[nlen] == '=')) {
			const char *v = seglen == nlen ? p + nlen : p + nlen + 1;
			const char *vend = p + seglen;
			size_t o = 0;

			for (; v < vend; v++) {
				char c = *v;

				if (c == '%') {
					int hi, lo;

					if (vend - v < 3 || (hi = http_hexval(v[1])) < 0 ||
					    (lo = http_hexval(v[2])) < 0)
						return -1;
					c = (char)(hi * 16 + lo);
					v += 2;
				} else if (c == '+')
					c = ' ';
				if (c == '\0' || o + 1 >= outsz)
					return -1;
				out[o++] = c;
			}
			out[o] = '\0';
			return 1;
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

int
http_send(struct http_request *req, int status, const char *extra_headers, const char *content_type,
    const char *body, size_t len)
{
	char head[2048];
	int n;

	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "X-Request-Id: %s\r\n"
	    "Cache-Control: no-store\r\n"
	    "%s\r\n",
	    status, err_status_reason(status), content_type, len, req->request_id,
	    extra_headers != NULL ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	req->status = status;
	req->responded = 1;
	if (req->write(req->write_ctx, head, (size_t)n) == -1)
		return -1;
	if (len > 0 && req->write(req->write_ctx, body, len) == -1)
		return -1;
	return 0;
}

int
http_send_json_h(struct http_request *req, int status, const char *extra_headers, json_t *body)
{
	char *text;
	int rc;

	if (body == NULL) {
		static const char oom[] = "{\"error\":{\"code\":\"INTERNAL_ERROR\","
					  "\"message\":\"out of memory\",\"details\":{}}}";

		return http_send(req, 500, NULL, "application/json", oom, sizeof(oom) - 1);
	}
	text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(body);
	if (text == NULL)
		return -1;
	rc = http_send(req, status, extra_headers, "application/json", text, strlen(text));
	free(text);
	return rc;
}

int
http_send_json(struct http_request *req, int status, json_t *body)
{
	return http_send_json_h(req, status, NULL, body);
}

/*
 * Makes s valid UTF-8 in place: an invalid or cut-off sequence (vsnprintf
 * may truncate inside a character; a path may hold any byte) becomes '?',
 * so the error body can always be built.
 */
static void
http_utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p != '\0') {
		size_t n, i;
		unsigned int cp;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 2, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			n = 3, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			n = 4, cp = *p & 0x07;
		else {
			*p++ = '?';
			continue;
		}
		for (i = 1; i < n && (p[i] & 0xc0) == 0x80; i++)
			cp = (cp << 6) | (p[i] & 0x3f);
		if (i < n || (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

int
http_send_verror(struct http_request *req, int status, enum err_code code,
    const char *extra_headers, json_t *details, const char *fmt, va_list ap)
{
	char msg[512];
	json_t *body;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	http_utf8_clean(msg);
	body = json_pack("{s:{s:s, s:s, s:o, s:s}}", "error", "code", err_code_name(code),
	    "message", msg, "details", details != NULL ? details : json_object(), "request_id",
	    req->request_id);
	return http_send_json_h(req, status, extra_headers, body);
}

int
http_send_error(
    struct http_request *req, int status, enum err_code code, json_t *details, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = http_send_verror(req, status, code, NULL, details, fmt, ap);
	va_end(ap);
	return rc;
}

int
http_send_error_h(struct http_request *req, int status, enum err_code code,
    const char *extra_headers, json_t *details, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = http_send_verror(req, status, code, extra_headers, details, fmt, ap);
	va_end(ap);
	return rc;
}

int
http_json_body(struct http_request *req, json_t **out, int empty_ok)
{
	json_error_t jerr;
	json_t *v;

	*out = NULL;
	if (req->body_len > HTTP_BODY_MAX) {
		http_send_error(req, 413, ERR_PAYLOAD_TOO_LARGE, NULL,
		    "request body exceeds %d bytes", HTTP_BODY_MAX);
		return -1;
	}
	if (req->body == NULL || req->body_len == 0) {
		if (empty_ok) {
			*out = json_object();
			return *out != NULL ? 0 : -1;
		}
		http_send_error(
		    req, 400, ERR_INVALID_INPUT, NULL, "request body must be a JSON object");
		return -1;
	}
	v = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (v == NULL) {
		http_send_error(req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:i, s:i}", "line", jerr.line, "column", jerr.column),
		    "malformed JSON at line %d column %d", jerr.line, jerr.column);
		return -1;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		http_send_error(
		    req, 400, ERR_INVALID_INPUT, NULL, "request body must be a JSON object");
		return -1;
	}
	*out = v;
	return 0;
}
