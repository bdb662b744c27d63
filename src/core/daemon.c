#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static void
daemon_usage(const char *procname)
{
	fprintf(stderr, "usage: %s [-d] [-c config] [-p pidfile]\n", procname);
	exit(2);
}

void
daemon_start(const char *procname, int argc, char **argv, struct daemon_opts *opts,
    struct config *cfg, const char *cfg_pidfile)
{
	enum log_level lvl = LOG_LEVEL_INFO;
	char err[512];
	int ch;

	memset(opts, 0, sizeof(*opts));
	opts->config_path = config_default_path();
	while ((ch = getopt(argc, argv, "c:dp:")) != -1) {
		switch (ch) {
		case 'c': opts->config_path = optarg; break;
		case 'd': opts->debug = 1; break;
		case 'p': opts->pidfile = optarg; break;
		default: daemon_usage(procname);
		}
	}
	if (optind != argc)
		daemon_usage(procname);
	log_init(procname, LOG_LEVEL_INFO);
	if (config_load(cfg, opts->config_path, err, sizeof(err)) == -1)
		fatalx("msg=\"bad configuration\" detail=\"%s\"", err);
	(void)log_level_parse(cfg->log_level, &lvl);
	log_set_level(opts->debug ? LOG_LEVEL_DEBUG : lvl);
	if (opts->pidfile == NULL && cfg_pidfile != NULL && cfg_pidfile[0] != '\0')
		opts->pidfile = cfg_pidfile;
}

void
daemon_pidfile_write(const char *path)
{
	FILE *f;

	if (path == NULL || path[0] == '\0')
		return;
	if ((f = fopen(path, "w")) == NULL)
		fatal("msg=\"cannot write pid file\" path=%s", path);
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0)
		fatal("msg=\"cannot write pid file\" path=%s", path);
}

void
daemon_pidfile_remove(const char *path)
{
	if (path != NULL && path[0] != '\0' && unlink(path) == -1 && errno != ENOENT)
		log_warn("msg=\"cannot remove pid file\" path=%s", path);
}

void
daemon_on_signal(int sig, void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	if (sigaction(sig, &sa, NULL) == -1)
		fatal("msg=sigaction sig=%d", sig);
}
