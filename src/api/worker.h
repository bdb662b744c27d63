/* One pre-forked API child: accepts FastCGI requests until told to stop. */
#ifndef AGENTRUN_API_WORKER_H
#define AGENTRUN_API_WORKER_H

struct config;

/* Runs in the child after fork(); opens its own database connection. Never returns. */
void worker_main(int listen_fd, const struct config *cfg) __attribute__((noreturn));

#endif
