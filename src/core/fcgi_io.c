#include "fcgi_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int
fcgi_write(void *ctx, const char *buf, size_t len)
{
	FCGX_Request *fr = ctx;

	if (len > (size_t)0x7fffffff)
		return -1;
	return FCGX_PutStr(buf, (int)len, fr->out) == (int)len ? 0 : -1;
}

static const char *
fcgi_param(FCGX_Request *fr, const char *name)
{
	return FCGX_GetParam(name, fr->envp);
}

enum fcgi_read
fcgi_request_init(struct http_request *req, FCGX_Request *fr)
{
	const char *uri, *clen;
	long long want = 0;

	memset(req, 0, sizeof(*req));
	req->write = fcgi_write;
	req->write_ctx = fr;
	req->method = fcgi_param(fr, "REQUEST_METHOD");
	if (req->method == NULL)
		req->method = "GET";
	req->query = fcgi_param(fr, "QUERY_STRING");
	if (req->query == NULL)
		req->query = "";
	req->authorization = fcgi_param(fr, "HTTP_AUTHORIZATION");
	req->content_type = fcgi_param(fr, "CONTENT_TYPE");
	req->accept = fcgi_param(fr, "HTTP_ACCEPT");
	req->idempotency_key = fcgi_param(fr, "HTTP_IDEMPOTENCY_KEY");
	req->last_event_id = fcgi_param(fr, "HTTP_LAST_EVENT_ID");
	req->remote_addr = fcgi_param(fr, "REMOTE_ADDR");
	http_set_request_id(req,
	    fcgi_param(fr, "REQUEST_ID") != NULL ? fcgi_param(fr, "REQUEST_ID")
						 : fcgi_param(fr, "HTTP_X_REQUEST_ID"));
	/* nginx's $uri (after its /v1 rewrite) when given, else the raw URI. */
	uri = fcgi_param(fr, "DOCUMENT_URI");
	if (uri == NULL || uri[0] == '\0')
		uri = fcgi_param(fr, "REQUEST_URI");
	if (uri == NULL || http_normalize_path(uri, req->path, sizeof(req->path)) == -1)
		req->path[0] = '\0';

	if ((clen = fcgi_param(fr, "CONTENT_LENGTH")) != NULL && clen[0] != '\0') {
		char *end;

		errno = 0;
		want = strtoll(clen, &end, 10);
		if (errno != 0 || *end != '\0' || want < 0)
			return FCGI_READ_ERROR;
	}
	if (want > HTTP_BODY_MAX)
		return FCGI_READ_TOO_LARGE;
	if (want > 0) {
		int got;

		if ((req->body = malloc((size_t)want + 1)) == NULL)
			return FCGI_READ_ERROR;
		got = FCGX_GetStr(req->body, (int)want, fr->in);
		if (got != (int)want)
			return FCGI_READ_ERROR;
		req->body[want] = '\0';
		req->body_len = (size_t)want;
	}
	return FCGI_READ_OK;
}

void
fcgi_request_release(struct http_request *req)
{
	free(req->body);
	req->body = NULL;
	req->body_len = 0;
}

int
fcgi_listen(const char *listen, int backlog)
{
	int fd;

	if (listen[0] == '/') {
		if (unlink(listen) == -1 && errno != ENOENT) {
			log_warn("msg=\"cannot remove stale socket\" path=%s", listen);
			return -1;
		}
	}
	if ((fd = FCGX_OpenSocket(listen, backlog)) < 0) {
		log_warn("msg=\"cannot listen\" address=%s", listen);
		return -1;
	}
	/* nginx must reach the socket; other local users must not. */
	if (listen[0] == '/' && chmod(listen, 0660) == -1)
		log_warn("msg=\"chmod socket\" path=%s", listen);
	return fd;
}
