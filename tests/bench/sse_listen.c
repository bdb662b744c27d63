/*
 * The fan-out benchmark's listeners: N SSE connections through nginx from
 * one epoll loop, each timestamping every event it receives.
 *
 * Delivery latency = receive time (CLOCK_REALTIME) - the event's created_at
 * from its payload ("created_at":"YYYY-MM-DDTHH:MM:SS.mmmZ", stamped by
 * MariaDB's NOW(3) when the event row is written, just before its commit).
 *
 * Phases: connect all N (at most -c connects in flight, so the listen
 * backlogs never overflow), then -W seconds of warm-up, then -d seconds of
 * measuring; only events received in the measuring window count. Progress
 * lines on stdout ("connected N SECONDS", "window start", "window end"), then
 * one JSON line with the figures. Requests are HTTP/1.0, so the body is the
 * raw event stream (no chunked encoding to undo).
 *
 * usage: sse_listen -p PORT -P PATH -k KEY -n N [-c PARALLEL] [-W WARMUP_S]
 *                   [-d DURATION_S] [-T CONNECT_TIMEOUT_S]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES (1024 * 1024) /* longer lines keep their first MiB */

enum cstate {
	C_IDLE,
	C_CONNECTING,
	C_SENT,
	C_STREAMING,
	C_DONE,
	C_FAILED
};

struct conn {
	int fd;
	enum cstate st;
	char *line; /* a partial line */
	size_t linelen, linecap;
	int header_done;
	int status;
	long events;
};

static double *lat; /* ms */
static size_t nlat, caplat;

static double
now_real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double
now_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "2026-11-23T11:59:10.138Z" -> ms since the epoch; < 0 when malformed. */
static double
parse_ts(const char *s)
{
	struct tm tm;
	int ms = 0;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -1;
	if (*end == '.') {
		int digits = 0;

		end++;
		while (*end >= '0' && *end <= '9') {
			if (digits < 3) {
				ms = ms * 10 + (*end - '0');
				digits++;
			}
			end++;
		}
		while (digits++ < 3)
			ms *= 10;
	}
	return (double)timegm(&tm) * 1e3 + ms;
}

static int measuring;
static long window_events, total_events;

static void
on_line(struct conn *c, const char *line, size_t n)
{
	static const char key[] = "\"created_at\":\"";
	const char *p;
	double created, recv_ms;

	if (!c->header_done) {
		if (c->status == 0 && n > 9 && strncmp(line, "HTTP/1.", 7) == 0)
			c->status = atoi(line + 9);
		if (n == 0 || (n == 1 && line[0] == '\r')) {
			c->header_done = 1;
			c->st = c->status == 200 ? C_STREAMING : C_FAILED;
		}
		return;
	}
	if (n < 6 || strncmp(line, "data: ", 6) != 0)
		return;
	c->events++;
	total_events++;
	if (!measuring)
		return;
	/* The last created_at on the line is the event's own (data may hold others). */
	p = NULL;
	for (const char *q = line;
	     (q = memmem(q, n - (size_t)(q - line), key, sizeof(key) - 1)) != NULL; q++)
		p = q;
	if (p == NULL)
		return;
	created = parse_ts(p + sizeof(key) - 1);
	if (created < 0)
		return;
	recv_ms = now_real_ms();
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 65536;
		lat = realloc(lat, caplat * sizeof(double));
		if (lat == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	lat[nlat++] = recv_ms - created;
	window_events++;
}

static void
on_data(struct conn *c, const char *buf, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(buf + i, '\n', n - i);
		size_t take = nl != NULL ? (size_t)(nl - (buf + i)) : n - i;

		if (c->linelen + take + 1 > c->linecap && c->linecap < LINE_MAX_BYTES) {
			size_t cap = c->linecap ? c->linecap : 512;

			while (cap < c->linelen + take + 1 && cap < LINE_MAX_BYTES)
				cap *= 2;
			if ((c->line = realloc(c->line, cap)) == NULL) {
				perror("realloc");
				exit(1);
			}
			c->linecap = cap;
		}
		if (c->linelen + take + 1 <= c->linecap) {
			memcpy(c->line + c->linelen, buf + i, take);
			c->linelen += take;
		}
		if (nl == NULL)
			return;
		c->line[c->linelen] = '\0';
		on_line(c, c->line, c->linelen);
		c->linelen = 0;
		i += take + 1;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double q)
{
	size_t i;

	if (nlat == 0)
		return -1;
	i = (size_t)(q * (double)(nlat - 1) + 0.5);
	return lat[i];
}

int
main(int argc, char **argv)
{
	const char *path = NULL, *key = NULL;
	int port = 0, n = 0, parallel = 128, opt, ep;
	double warmup = 1, duration = 10, connect_timeout = 120;
	struct conn *cs;
	struct rlimit rl;
	char req[4096];
	int reqlen, next = 0, inflight = 0, connected = 0, failed = 0, closed_early = 0;
	double t0, t_connected = -1, t_window = -1, t_end = -1;
	struct sockaddr_in sa;
	struct epoll_event evs[512];

	while ((opt = getopt(argc, argv, "p:P:k:n:c:W:d:T:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'P': path = optarg; break;
		case 'k': key = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'c': parallel = atoi(optarg); break;
		case 'W': warmup = atof(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'T': connect_timeout = atof(optarg); break;
		default: goto usage;
		}
	}
	if (port <= 0 || path == NULL || key == NULL || n <= 0 || parallel <= 0)
		goto usage;
	rl.rlim_cur = rl.rlim_max = (rlim_t)n + 256;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)n + 64) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	reqlen = snprintf(req, sizeof(req),
	    "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
	    "Accept: text/event-stream\r\n\r\n",
	    path, key);
	cs = calloc((size_t)n, sizeof(*cs));
	ep = epoll_create1(0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t0 = now_mono_s();

	for (;;) {
		double t = now_mono_s();
		int k;

		/* Open more connections while under the in-flight cap. */
		while (next < n && inflight < parallel) {
			struct conn *c = &cs[next];
			struct epoll_event ev;

			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (c->fd == -1) {
				fprintf(stderr, "sse_listen: socket: %s\n", strerror(errno));
				c->st = C_FAILED;
				failed++;
				next++;
				continue;
			}
			if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 &&
			    errno != EINPROGRESS) {
				c->st = C_FAILED;
				failed++;
				close(c->fd);
				next++;
				continue;
			}
			c->st = C_CONNECTING;
			ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
			ev.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
			inflight++;
			next++;
		}
		if (t_connected < 0 && next == n && inflight == 0) {
			t_connected = t;
			printf("connected %d %.3f\n", connected, t - t0);
			fflush(stdout);
		}
		if (t_connected < 0 && t - t0 > connect_timeout) {
			t_connected = t;
			printf("connected %d %.3f (timeout)\n", connected, t - t0);
			fflush(stdout);
		}
		if (t_connected >= 0 && t_window < 0 && t - t_connected >= warmup) {
			t_window = t;
			measuring = 1;
			printf("window start\n");
			fflush(stdout);
		}
		if (t_window >= 0 && t - t_window >= duration) {
			t_end = t;
			measuring = 0;
			printf("window end\n");
			fflush(stdout);
			break;
		}
		k = epoll_wait(ep, evs, 512, 20);
		for (int i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			char buf[65536];

			if (c->st == C_CONNECTING &&
			    (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				int err = 0;
				socklen_t len = sizeof(err);
				struct epoll_event ev;

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err != 0 ||
				    send(c->fd, req, (size_t)reqlen, MSG_NOSIGNAL) != reqlen) {
					c->st = C_FAILED;
					failed++;
					inflight--;
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					close(c->fd);
					continue;
				}
				c->st = C_SENT;
				ev.events = EPOLLIN | EPOLLRDHUP;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			for (;;) {
				ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

				if (r > 0) {
					enum cstate before = c->st;

					on_data(c, buf, (size_t)r);
					if (before == C_SENT && c->st == C_STREAMING) {
						connected++;
						inflight--;
					} else if (before == C_SENT && c->st == C_FAILED) {
						failed++;
						inflight--;
					}
					/*
					 * Less than a buffer: drained. epoll is level-triggered
					 * and says so again if more came; a second recv()
					 * only to hear EAGAIN would double the client's system
					 * calls, on the cores the server shares with it.
					 */
					if ((size_t)r < sizeof(buf))
						break;
					continue;
				}
				if (r == -1 && (errno == EAGAIN || errno == EINTR))
					break;
				/* closed */
				if (c->st == C_SENT) {
					failed++;
					inflight--;
				} else if (c->st == C_STREAMING)
					closed_early++;
				if (c->st != C_FAILED)
					c->st = C_DONE;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				break;
			}
		}
	}
	qsort(lat, nlat, sizeof(double), cmp_double);
	{
		double mean = 0;
		long min_ev = -1, max_ev = 0;

		for (size_t i = 0; i < nlat; i++)
			mean += lat[i];
		if (nlat > 0)
			mean /= (double)nlat;
		for (int i = 0; i < n; i++)
			if (cs[i].st == C_STREAMING) {
				if (min_ev < 0 || cs[i].events < min_ev)
					min_ev = cs[i].events;
				if (cs[i].events > max_ev)
					max_ev = cs[i].events;
			}
		printf("{\"listeners\":%d,\"connected\":%d,\"failed\":%d,\"closed_early\":%d,"
		       "\"connect_s\":%.3f,\"window_s\":%.3f,\"samples\":%zu,\"total_events\":%ld,"
		       "\"events_per_listener_min\":%ld,\"events_per_listener_max\":%ld,"
		       "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
		       "\"min_ms\":%.3f,\"mean_ms\":%.3f}\n",
		    n, connected, failed, closed_early, t_connected - t0, t_end - t_window, nlat,
		    total_events, min_ev, max_ev, pct(0.5), pct(0.9), pct(0.99),
		    nlat ? lat[nlat - 1] : -1, nlat ? lat[0] : -1, mean);
	}
	for (int i = 0; i < n; i++) {
		if (cs[i].fd > 0 &&
		    (cs[i].st == C_STREAMING || cs[i].st == C_SENT || cs[i].st == C_CONNECTING))
			close(cs[i].fd);
		free(cs[i].line);
	}
	free(cs);
	free(lat);
	return 0;
usage:
	fprintf(stderr,
	    "usage: sse_listen -p PORT -P PATH -k KEY -n N [-c PARALLEL] [-W WARMUP_S] "
	    "[-d DURATION_S] [-T CONNECT_TIMEOUT_S]\n");
	return 2;
}
