/*
 * An API child serving on several request threads (api.threads > 1): one
 * thread per request held, handlers run one at a time (see reqthreads.c).
 */
#ifndef AGENTRUN_API_REQTHREADS_H
#define AGENTRUN_API_REQTHREADS_H

#include <signal.h>
#include <stddef.h>

#include <fcgiapp.h>

struct config;
struct db;

typedef void (*reqthreads_serve_fn)(FCGX_Request *fr, struct db *db, const struct config *cfg);

/*
 * Serves requests from listen_fd on n threads, each handler through serve()
 * with db (handlers never overlap), until *got_term is set by the SIGTERM
 * handler; then lets every thread finish its request and returns. Called
 * with SIGTERM blocked. -1 when the threads could not be started (nothing
 * was served: serve on the calling thread instead).
 */
int reqthreads_run(int listen_fd, size_t n, struct db *db, const struct config *cfg,
    reqthreads_serve_fn serve, volatile sig_atomic_t *got_term);

#endif
