/* What the three daemons share at start-up: flags, config, pid file, signals. */
#ifndef AGENTRUN_DAEMON_H
#define AGENTRUN_DAEMON_H

#include <signal.h>

#include "config.h"

struct daemon_opts {
	const char *config_path;
	const char *pidfile; /* NULL: the config's */
	int debug;
};

/*
 * Parses -c FILE, -p PIDFILE, -d; loads the config and starts logging as
 * procname. Exits with a message on a usage or config error.
 */
void daemon_start(const char *procname, int argc, char **argv, struct daemon_opts *opts,
    struct config *cfg, const char *cfg_pidfile);

/* Writes our pid to path (no-op for NULL or ""); fatal when it cannot. */
void daemon_pidfile_write(const char *path);
void daemon_pidfile_remove(const char *path);

/* Installs handler for sig without SA_RESTART, so blocking calls return EINTR. */
void daemon_on_signal(int sig, void (*handler)(int));

#endif
