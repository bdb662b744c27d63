/*
 * A FastCGI client to agentrun-api, on the stream worker's event loop. The
 * stream worker does not create runs itself: a sync execution asks the API
 * worker, exactly as nginx would, so validation, idempotency and errors stay
 * in one place. One request per connection (no keep-alive), like nginx.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/log.h"
#include "stream.h"

#define UPSTREAM_RESPONSE_MAX (4 * 1024 * 1024)

struct upstream {
	enum ep_kind kind; /* EP_UPSTREAM */
	int dead;
	int fd;
	struct sconn *c;
	upstream_done_fn done;
	struct fbuf out;
	struct fbuf in; /* bytes read, not yet whole records */
	struct fcgi_resp resp;
	struct upstream *grave_next;
};

static int
up_connect(const char *listen)
{
	int fd;

	if (listen[0] == '/') {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(listen) >= sizeof(sun.sun_path))
			return -1;
		memcpy(sun.sun_path, listen, strlen(listen) + 1);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 &&
		    errno != EINPROGRESS && errno != EAGAIN) {
			close(fd);
			return -1;
		}
		return fd;
	} else {
		char host[CONFIG_STR_MAX], *colon;
		struct addrinfo hints, *ai = NULL;

		snprintf(host, sizeof(host), "%s", listen);
		if ((colon = strrchr(host, ':')) == NULL)
			return -1;
		*colon = '\0';
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host[0] ? host : "127.0.0.1", colon + 1, &hints, &ai) != 0)
			return -1;
		fd = socket(
		    ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd != -1 && connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno != EINPROGRESS) {
			close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
		return fd;
	}
}

/* Epoll may still hold an event for u in this turn: free it after the turn. */
static void
up_free(struct server *s, struct upstream *u)
{
	if (u->fd >= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, u->fd, NULL);
		close(u->fd);
		u->fd = -1;
	}
	fbuf_free(&u->out);
	fbuf_free(&u->in);
	fbuf_free(&u->resp.stdout_data);
	u->dead = 1;
	u->grave_next = s->up_graveyard;
	s->up_graveyard = u;
}

void
upstream_reap(struct server *s)
{
	while (s->up_graveyard != NULL) {
		struct upstream *u = s->up_graveyard;

		s->up_graveyard = u->grave_next;
		free(u);
	}
}

int
upstream_dead(const struct upstream *u)
{
	return u->dead;
}

/* Splits the CGI response into its status and body and reports it. */
static void
up_finish(struct server *s, struct upstream *u)
{
	struct sconn *c = u->c;
	upstream_done_fn done = u->done;
	const char *data = (const char *)u->resp.stdout_data.p;
	size_t len = u->resp.stdout_data.len, hend = 0;
	int status = 0;
	char *copy;

	for (size_t i = 0; i + 3 < len; i++)
		if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
			hend = i + 4;
			break;
		}
	if (hend > 0) {
		status = 200;
		for (size_t i = 0; i < hend;) {
			size_t eol = i;

			while (eol < hend && data[eol] != '\r')
				eol++;
			if (eol - i > 8 && strncasecmp(data + i, "Status: ", 8) == 0)
				status = (int)strtol(data + i + 8, NULL, 10);
			i = eol + 2;
		}
		if (status < 100 || status > 599)
			status = 0;
	}
	copy = malloc(len - hend + 1);
	if (copy != NULL) {
		memcpy(copy, data + hend, len - hend);
		copy[len - hend] = '\0';
	}
	c->up = NULL;
	up_free(s, u);
	done(s, c, copy != NULL ? status : 0, copy != NULL ? copy : "",
	    copy != NULL ? len - hend : 0);
	free(copy);
}

static void
up_fail(struct server *s, struct upstream *u)
{
	struct sconn *c = u->c;
	upstream_done_fn done = u->done;

	c->up = NULL;
	up_free(s, u);
	done(s, c, 0, "", 0);
}

void
upstream_io(struct server *s, struct upstream *u, uint32_t events)
{
	unsigned char buf[16384];

	if (u->out.len > 0 && (events & EPOLLOUT)) {
		ssize_t w = write(u->fd, u->out.p, u->out.len);

		if (w > 0)
			fbuf_consume(&u->out, (size_t)w);
		else if (w == -1 && errno != EAGAIN && errno != EINTR) {
			up_fail(s, u);
			return;
		}
		if (u->out.len == 0) {
			struct epoll_event ev = { EPOLLIN | EPOLLRDHUP, { .ptr = u } };

			epoll_ctl(s->epfd, EPOLL_CTL_MOD, u->fd, &ev);
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
		for (;;) {
			ssize_t r = read(u->fd, buf, sizeof(buf));
			size_t used;

			if (r > 0) {
				if (fbuf_put(&u->in, buf, (size_t)r) == -1 ||
				    fcgi_resp_feed(&u->resp, u->in.p, u->in.len, &used) ==
					FCGI_PROTO_ERROR) {
					up_fail(s, u);
					return;
				}
				fbuf_consume(&u->in, used);
				if (u->resp.ended) {
					up_finish(s, u);
					return;
				}
				continue;
			}
			if (r == 0) {
				if (u->resp.ended)
					up_finish(s, u);
				else
					up_fail(s, u);
				return;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				up_fail(s, u);
			return;
		}
	}
}

int
upstream_start(struct server *s, struct sconn *c, const char *method, const char *path,
    const char *body, upstream_done_fn done)
{
	struct upstream *u = calloc(1, sizeof(*u));
	struct fbuf params = { NULL, 0, 0, FCGI_PARAMS_MAX };
	char clen[24];
	size_t blen = body != NULL ? strlen(body) : 0;
	struct epoll_event ev;
	uint16_t id = 1;

	if (u == NULL)
		return -1;
	u->kind = EP_UPSTREAM;
	u->c = c;
	u->done = done;
	u->resp.stdout_data.max = UPSTREAM_RESPONSE_MAX;
	u->in.max = UPSTREAM_RESPONSE_MAX + 65536;
	const char *q = strchr(path, '?');
	char docuri[HTTP_PATH_MAX];

	snprintf(docuri, sizeof(docuri), "%.*s",
	    (int)(q != NULL ? (size_t)(q - path) : strlen(path)), path);
	snprintf(clen, sizeof(clen), "%zu", blen);
	if (fcgi_put_param(&params, "REQUEST_METHOD", method) == -1 ||
	    fcgi_put_param(&params, "REQUEST_URI", path) == -1 ||
	    fcgi_put_param(&params, "DOCUMENT_URI", docuri) == -1 ||
	    fcgi_put_param(&params, "QUERY_STRING", q != NULL ? q + 1 : "") == -1 ||
	    fcgi_put_param(&params, "SERVER_PROTOCOL", "HTTP/1.1") == -1 ||
	    fcgi_put_param(&params, "CONTENT_TYPE", "application/json") == -1 ||
	    fcgi_put_param(&params, "CONTENT_LENGTH", clen) == -1 ||
	    fcgi_put_param(&params, "REQUEST_ID", c->req.request_id) == -1 ||
	    (c->req.authorization != NULL &&
		fcgi_put_param(&params, "HTTP_AUTHORIZATION", c->req.authorization) == -1) ||
	    (c->req.idempotency_key != NULL &&
		fcgi_put_param(&params, "HTTP_IDEMPOTENCY_KEY", c->req.idempotency_key) == -1) ||
	    fcgi_put_begin(&u->out, id) == -1 ||
	    fcgi_put_stream(&u->out, FCGI_PARAMS, id, params.p, params.len) == -1 ||
	    fcgi_put_stream(&u->out, FCGI_PARAMS, id, NULL, 0) == -1 ||
	    (blen > 0 && fcgi_put_stream(&u->out, FCGI_STDIN, id, body, blen) == -1) ||
	    fcgi_put_stream(&u->out, FCGI_STDIN, id, NULL, 0) == -1) {
		fbuf_free(&params);
		up_free(s, u);
		return -1;
	}
	fbuf_free(&params);
	if ((u->fd = up_connect(s->cfg->api_listen)) == -1) {
		log_warn("msg=\"cannot reach agentrun-api\" listen=%s", s->cfg->api_listen);
		u->fd = -1;
		up_free(s, u);
		return -1;
	}
	ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = u;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, u->fd, &ev) == -1) {
		up_free(s, u);
		return -1;
	}
	c->up = u;
	return 0;
}

void
upstream_cancel(struct server *s, struct sconn *c)
{
	if (c->up != NULL) {
		up_free(s, c->up);
		c->up = NULL;
	}
}
