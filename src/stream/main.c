/*
 * agentrun-stream: the FastCGI worker for requests that stay open — SSE
 * streams, execution frames, sync execution — in one event loop (server.c),
 * with one shared poller fanning each session's new events out to every
 * listener (hub.c). SIGTERM ends every open stream and exits.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/resource.h>

#include "../core/config.h"
#include "../core/daemon.h"
#include "../core/db.h"
#include "../core/doorbell.h"
#include "../core/fcgi_io.h"
#include "../core/log.h"
#include "sendring.h"
#include "stream.h"

/* Sends per system call: ~1,000 amortise its entry and exit to nothing. */
#define STREAM_RING_ENTRIES 1024

int server_run(struct server *s, volatile int *stop);

static volatile int stream_stop;

static void
stream_on_term(int sig)
{
	(void)sig;
	stream_stop = 1;
}

int
main(int argc, char **argv)
{
	struct daemon_opts opts;
	static struct config cfg;
	static struct server srv;
	int flags;

	daemon_start("agentrun-stream", argc, argv, &opts, &cfg, NULL);
	if (opts.pidfile == NULL && cfg.stream_pidfile[0] != '\0')
		opts.pidfile = cfg.stream_pidfile;
	signal(SIGPIPE, SIG_IGN);
	{
		/* Every listener is a descriptor: take all the hard limit allows. */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	daemon_on_signal(SIGTERM, stream_on_term);
	daemon_on_signal(SIGINT, stream_on_term);
	db_global_init();
	srv.cfg = &cfg;
	if ((srv.db = db_new(&cfg)) == NULL)
		fatalx("msg=\"out of memory\"");
	if (db_connect(srv.db) == -1)
		log_warnx("msg=\"database not reachable yet\" errno=%u", db_last_errno(srv.db));
	if ((srv.listen_fd = fcgi_listen(cfg.stream_listen, 4096)) == -1)
		fatalx("msg=\"cannot open listening socket\" listen=%s", cfg.stream_listen);
	flags = fcntl(srv.listen_fd, F_GETFL, 0);
	(void)fcntl(srv.listen_fd, F_SETFL, flags | O_NONBLOCK);
	srv.bell_fd = doorbell_bind(cfg.doorbell_stream);
	if (cfg.stream_io_uring && (srv.ring = sendring_open(STREAM_RING_ENTRIES)) == NULL)
		log_warn("msg=\"io_uring unavailable, sending with send()\"");
	daemon_pidfile_write(opts.pidfile);
	log_info("msg=started listen=%s max_connections=%lld sends=%s", cfg.stream_listen,
	    cfg.stream_max_connections, srv.ring != NULL ? "io_uring" : "send");

	(void)server_run(&srv, &stream_stop);

	close(srv.listen_fd);
	if (cfg.stream_listen[0] == '/')
		(void)unlink(cfg.stream_listen);
	if (srv.bell_fd >= 0) {
		close(srv.bell_fd);
		(void)unlink(cfg.doorbell_stream);
	}
	log_info("msg=stopped polls=%llu queries=%llu delivered=%llu", srv.polls, srv.queries,
	    srv.delivered);
	sendring_close(srv.ring);
	db_free(srv.db);
	daemon_pidfile_remove(opts.pidfile);
	return 0;
}
