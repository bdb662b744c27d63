/*
 * agentrun-executor: claims and advances runs in one event loop.
 *
 * This first cut owns the loop skeleton only: it connects to MariaDB, binds
 * its doorbell, wakes on a ring or every executor.poll_ms, and stops
 * cleanly on SIGTERM. Claiming and the agent loop come with issue 4.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/daemon.h"
#include "../core/db.h"
#include "../core/doorbell.h"
#include "../core/log.h"

static volatile sig_atomic_t executor_got_term;

static void
executor_on_term(int sig)
{
	(void)sig;
	executor_got_term = 1;
}

int
main(int argc, char **argv)
{
	struct daemon_opts opts;
	static struct config cfg;
	struct db *db;
	int bell;

	daemon_start("agentrun-executor", argc, argv, &opts, &cfg, NULL);
	if (opts.pidfile == NULL && cfg.executor_pidfile[0] != '\0')
		opts.pidfile = cfg.executor_pidfile;
	signal(SIGPIPE, SIG_IGN);
	daemon_on_signal(SIGTERM, executor_on_term);
	daemon_on_signal(SIGINT, executor_on_term);
	db_global_init();
	if ((db = db_new(&cfg)) == NULL)
		fatalx("msg=\"out of memory\"");
	if (db_connect(db) == -1)
		log_warnx("msg=\"database not reachable yet\" errno=%u", db_last_errno(db));
	bell = doorbell_bind(cfg.doorbell_executor);
	daemon_pidfile_write(opts.pidfile);
	log_info(
	    "msg=started capacity=%lld doorbell=%s", cfg.executor_capacity, cfg.doorbell_executor);

	while (!executor_got_term) {
		struct pollfd pfd = { bell, POLLIN, 0 };
		int n = poll(&pfd, bell >= 0 ? 1 : 0, (int)cfg.executor_poll_ms);

		if (n == -1 && errno != EINTR)
			log_warn("msg=poll");
		if (n > 0 && (pfd.revents & POLLIN))
			(void)doorbell_drain(bell);
		/* Housekeeping tick: keep the connection alive and noticed. */
		if (db_connect(db) == -1)
			log_debug("msg=\"database unreachable\" errno=%u", db_last_errno(db));
	}
	if (bell >= 0) {
		close(bell);
		(void)unlink(cfg.doorbell_executor);
	}
	db_free(db);
	daemon_pidfile_remove(opts.pidfile);
	log_info("msg=stopped");
	return 0;
}
