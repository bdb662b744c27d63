/*
 * agentrun-api: a pre-forking FastCGI master.
 *
 * The master opens the listening socket once and forks N children that all
 * accept on it. Because the socket stays open in the master for its whole
 * life, connections queue in its backlog while children come and go, which
 * is what makes the two graceful operations lossless:
 *
 *  - SIGHUP (reload): re-read the config, fork a new generation of children,
 *    then SIGTERM the old generation. An old child finishes the request it
 *    holds and exits; new connections are taken by the new generation.
 *  - SIGTERM (drain): SIGTERM every child, wait for them (re-sending the
 *    signal each second, to wake a child that entered accept() just after
 *    the first one), SIGKILL what is left after a deadline, exit 0.
 *
 * A child that dies unexpectedly is replaced at once (throttled if children
 * keep dying). Children are reaped with waitpid(WNOHANG) from the loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/authcache.h"
#include "../core/config.h"
#include "../core/daemon.h"
#include "../core/db.h"
#include "../core/fcgi_io.h"
#include "../core/log.h"
#include "worker.h"

#define MASTER_MAX_CHILDREN 1024
#define MASTER_DRAIN_SECONDS 30

struct child {
	pid_t pid;
	unsigned generation;
};

static volatile sig_atomic_t master_got_term;
static volatile sig_atomic_t master_got_hup;
static volatile sig_atomic_t master_got_chld;

static struct child children[MASTER_MAX_CHILDREN];
static size_t nchildren;
static unsigned generation;

static void
master_on_term(int sig)
{
	(void)sig;
	master_got_term = 1;
}

static void
master_on_hup(int sig)
{
	(void)sig;
	master_got_hup = 1;
}

static void
master_on_chld(int sig)
{
	(void)sig;
	master_got_chld = 1;
}

static int
master_worker_count(const struct config *cfg)
{
	long n;

	if (cfg->api_workers > 0)
		return (int)cfg->api_workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)(2 * n) : 2;
}

static void
master_spawn(int listen_fd, const struct config *cfg)
{
	pid_t pid;

	if (nchildren >= MASTER_MAX_CHILDREN) {
		log_warnx("msg=\"too many children\" max=%d", MASTER_MAX_CHILDREN);
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("msg=fork");
		return;
	}
	if (pid == 0)
		worker_main(listen_fd, cfg); /* does not return */
	children[nchildren++] = (struct child){ pid, generation };
	log_debug("msg=\"child started\" child=%ld generation=%u", (long)pid, generation);
}

static size_t
master_count_generation(unsigned gen)
{
	size_t n = 0;

	for (size_t i = 0; i < nchildren; i++)
		n += children[i].generation == gen;
	return n;
}

static void
master_signal_all(int sig, int only_old)
{
	for (size_t i = 0; i < nchildren; i++)
		if (!only_old || children[i].generation != generation)
			kill(children[i].pid, sig);
}

/* Reaps every exited child; returns how many of the current generation died. */
static int
master_reap(void)
{
	int died = 0, status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < nchildren; i++) {
			if (children[i].pid != pid)
				continue;
			if (children[i].generation == generation && !master_got_term) {
				died++;
				if (WIFSIGNALED(status))
					log_warnx("msg=\"child died\" child=%ld signal=%d",
					    (long)pid, WTERMSIG(status));
				else
					log_warnx("msg=\"child exited\" child=%ld status=%d",
					    (long)pid, WEXITSTATUS(status));
			}
			children[i] = children[--nchildren];
			break;
		}
	}
	return died;
}

static void
master_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	/* Interrupted by any signal, which is what we want. */
	(void)nanosleep(&ts, NULL);
}

static void
master_drain(void)
{
	time_t deadline = time(NULL) + MASTER_DRAIN_SECONDS;

	log_info("msg=\"draining\" children=%zu", nchildren);
	while (nchildren > 0 && time(NULL) < deadline) {
		master_signal_all(SIGTERM, 0);
		master_sleep_ms(200);
		(void)master_reap();
	}
	if (nchildren > 0) {
		log_warnx("msg=\"drain deadline passed, killing\" children=%zu", nchildren);
		master_signal_all(SIGKILL, 0);
		while (nchildren > 0 && waitpid(-1, NULL, 0) > 0)
			(void)master_reap();
	}
}

int
main(int argc, char **argv)
{
	struct daemon_opts opts;
	static struct config cfg;
	int listen_fd, want;
	time_t last_spawn_burst = 0;
	int burst = 0;

	daemon_start("agentrun-api", argc, argv, &opts, &cfg, NULL);
	if (opts.pidfile == NULL && cfg.api_pidfile[0] != '\0')
		opts.pidfile = cfg.api_pidfile;
	signal(SIGPIPE, SIG_IGN);
	db_global_init();
	if ((listen_fd = fcgi_listen(cfg.api_listen, (int)cfg.api_backlog)) == -1)
		fatalx("msg=\"cannot open listening socket\" listen=%s", cfg.api_listen);
	if (authcache_shared_init() == -1)
		log_warn("msg=\"no shared memory: the API key cache is off\"");
	daemon_pidfile_write(opts.pidfile);
	daemon_on_signal(SIGTERM, master_on_term);
	daemon_on_signal(SIGINT, master_on_term);
	daemon_on_signal(SIGHUP, master_on_hup);
	daemon_on_signal(SIGCHLD, master_on_chld);

	want = master_worker_count(&cfg);
	log_info("msg=started listen=%s workers=%d", cfg.api_listen, want);
	for (int i = 0; i < want; i++)
		master_spawn(listen_fd, &cfg);

	while (!master_got_term) {
		int died;

		master_sleep_ms(1000);
		master_got_chld = 0;
		died = master_reap();
		if (master_got_term)
			break;
		if (master_got_hup) {
			static struct config next;
			char err[512];

			master_got_hup = 0;
			if (config_load(&next, opts.config_path, err, sizeof(err)) == -1) {
				log_warnx(
				    "msg=\"reload refused: bad configuration\" detail=\"%s\"", err);
			} else {
				if (strcmp(next.api_listen, cfg.api_listen) != 0)
					log_warnx("msg=\"api.listen changes need a restart\"");
				memcpy(next.api_listen, cfg.api_listen, sizeof(next.api_listen));
				cfg = next;
				generation++;
				want = master_worker_count(&cfg);
				log_info(
				    "msg=reloading generation=%u workers=%d", generation, want);
				for (int i = 0; i < want; i++)
					master_spawn(listen_fd, &cfg);
				master_signal_all(SIGTERM, 1);
			}
			continue;
		}
		if (died > 0) {
			/* A child that dies at once, again and again, must not fork-bomb. */
			if (time(NULL) - last_spawn_burst < 1 && ++burst > want)
				master_sleep_ms(1000);
			else if (time(NULL) - last_spawn_burst >= 1) {
				burst = 0;
				last_spawn_burst = time(NULL);
			}
		}
		/* Old generations re-signalled so none sleeps in accept() forever. */
		if (master_count_generation(generation) < nchildren)
			master_signal_all(SIGTERM, 1);
		while (master_count_generation(generation) < (size_t)want && !master_got_term)
			master_spawn(listen_fd, &cfg);
	}
	master_drain();
	close(listen_fd);
	if (cfg.api_listen[0] == '/')
		(void)unlink(cfg.api_listen);
	daemon_pidfile_remove(opts.pidfile);
	log_info("msg=stopped");
	return 0;
}
