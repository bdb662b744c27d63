/*
 * An API child. SIGTERM is blocked while a request is being served and
 * unblocked only around accept(), so a drain never cuts a request in half:
 * the signal is delivered either before accept() (we exit) or inside it
 * (accept fails with EINTR thanks to FCGI_FAIL_ACCEPT_ON_INTR, we exit).
 * With api.threads > 1 the child serves on that many request threads
 * instead (reqthreads.c), with the same drain.
 */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "../core/authcache.h"
#include "../core/config.h"
#include "../core/daemon.h"
#include "../core/db.h"
#include "../core/fcgi_io.h"
#include "../core/log.h"
#include "api.h"
#include "reqthreads.h"

static volatile sig_atomic_t worker_got_term;

static void
worker_on_term(int sig)
{
	(void)sig;
	worker_got_term = 1;
}

static void
worker_serve(FCGX_Request *fr, struct db *db, const struct config *cfg)
{
	struct http_request req;

	switch (fcgi_request_init(&req, fr)) {
	case FCGI_READ_OK: api_dispatch(&req, db, cfg); break;
	case FCGI_READ_TOO_LARGE:
		http_send_error(&req, 413, ERR_PAYLOAD_TOO_LARGE, NULL,
		    "request body exceeds %d bytes", HTTP_BODY_MAX);
		break;
	case FCGI_READ_ERROR:
		http_send_error(
		    &req, 400, ERR_INVALID_INPUT, NULL, "the request body could not be read");
		break;
	}
	fcgi_request_release(&req);
}

void
worker_main(int listen_fd, const struct config *cfg)
{
	FCGX_Request fr;
	sigset_t term, none;
	struct db *db;

	/* Die with the master, whatever killed it. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(0);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	daemon_on_signal(SIGTERM, worker_on_term);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigemptyset(&none);
	sigprocmask(SIG_BLOCK, &term, NULL);

	/* Without the shared counter an API revocation could not reach the other workers. */
	authcache_configure(authcache_is_shared() ? cfg->api_key_cache_ms : 0);
	/* Unknown keys stay unknown (revocation only adds some): no shared counter needed. */
	authcache_configure_unknown(cfg->api_unknown_key_cache_ms);
	authcache_configure_addr_limit(cfg->api_unknown_keys_per_address);
	if ((db = db_new(cfg)) == NULL)
		fatalx("msg=\"out of memory\"");
	if (db_connect(db) == -1)
		log_warnx("msg=\"database not reachable yet\" errno=%u", db_last_errno(db));
	if (FCGX_Init() != 0)
		fatalx("msg=\"FCGX_Init failed\"");
	if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		fatalx("msg=\"FCGX_InitRequest failed\"");

	/* Returns after SIGTERM; if its threads could not start, the loop below serves. */
	if (cfg->api_threads > 1)
		(void)reqthreads_run(
		    listen_fd, (size_t)cfg->api_threads, db, cfg, worker_serve, &worker_got_term);
	while (!worker_got_term) {
		int rc;

		sigprocmask(SIG_UNBLOCK, &term, NULL);
		if (worker_got_term)
			break;
		rc = FCGX_Accept_r(&fr);
		sigprocmask(SIG_BLOCK, &term, NULL);
		if (rc < 0) {
			if (worker_got_term)
				break;
			if (rc != -EINTR && errno != EINTR)
				log_warnx("msg=\"accept failed\" rc=%d", rc);
			continue;
		}
		worker_serve(&fr, db, cfg);
		FCGX_Finish_r(&fr);
	}
	FCGX_Free(&fr, 1);
	db_free(db);
	/* exit(), not _exit(): sanitizer builds check this child for leaks here. */
	exit(0);
}
