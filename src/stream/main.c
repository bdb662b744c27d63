/*
 * agentrun-stream: the FastCGI worker for requests that stay open (SSE,
 * sync execution). This first cut serves one request at a time and answers
 * every route with the contract's 404 JSON: the event loop, SSE and execute
 * come with issue 5. It already owns its socket, its database connection,
 * its doorbell and a clean SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "../core/config.h"
#include "../core/daemon.h"
#include "../core/db.h"
#include "../core/doorbell.h"
#include "../core/fcgi_io.h"
#include "../core/log.h"

static volatile sig_atomic_t stream_got_term;

static void
stream_on_term(int sig)
{
	(void)sig;
	stream_got_term = 1;
}

static void
stream_serve(FCGX_Request *fr)
{
	struct http_request req;

	if (fcgi_request_init(&req, fr) == FCGI_READ_OK)
		http_send_error(&req, 404, ERR_NOT_FOUND, NULL, "no streaming route here yet");
	else
		http_send_error(&req, 400, ERR_INVALID_INPUT, NULL, "bad request");
	fcgi_request_release(&req);
}

int
main(int argc, char **argv)
{
	struct daemon_opts opts;
	static struct config cfg;
	FCGX_Request fr;
	struct db *db;
	int listen_fd, bell;

	daemon_start("agentrun-stream", argc, argv, &opts, &cfg, NULL);
	if (opts.pidfile == NULL && cfg.stream_pidfile[0] != '\0')
		opts.pidfile = cfg.stream_pidfile;
	signal(SIGPIPE, SIG_IGN);
	daemon_on_signal(SIGTERM, stream_on_term);
	daemon_on_signal(SIGINT, stream_on_term);
	db_global_init();
	if ((db = db_new(&cfg)) == NULL)
		fatalx("msg=\"out of memory\"");
	if (db_connect(db) == -1)
		log_warnx("msg=\"database not reachable yet\" errno=%u", db_last_errno(db));
	if ((listen_fd = fcgi_listen(cfg.stream_listen, 1024)) == -1)
		fatalx("msg=\"cannot open listening socket\" listen=%s", cfg.stream_listen);
	bell = doorbell_bind(cfg.doorbell_stream);
	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		fatalx("msg=\"FastCGI init failed\"");
	daemon_pidfile_write(opts.pidfile);
	log_info("msg=started listen=%s", cfg.stream_listen);

	while (!stream_got_term) {
		if (FCGX_Accept_r(&fr) < 0)
			continue;
		stream_serve(&fr);
		FCGX_Finish_r(&fr);
	}
	FCGX_Free(&fr, 1);
	close(listen_fd);
	if (cfg.stream_listen[0] == '/')
		(void)unlink(cfg.stream_listen);
	if (bell >= 0) {
		close(bell);
		(void)unlink(cfg.doorbell_stream);
	}
	db_free(db);
	daemon_pidfile_remove(opts.pidfile);
	log_info("msg=stopped");
	return 0;
}
