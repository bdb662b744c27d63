/*
 * The request threads of one API child.
 *
 * Why threads in a pre-forked child: so that a new-session create can wait
 * for its commit without holding the child, and the child's batching thread
 * (createnew.c) can commit the creates of all its threads together. Not for
 * running handlers in parallel: they run one at a time (rt_serial), so the
 * handlers, their caches and the child's connection stay single-threaded.
 *
 * The accept gate: at most one thread of the child sits in accept(), and
 * only while no request of the child is running or waiting to run its
 * handler (rt_active == 0; a create waiting for its commit does not count).
 * So a child busy with a slow request leaves new connections to the other
 * children, as a single-threaded child did, while a child whose requests
 * are all waiting for a commit takes the next one at once.
 *
 * Signals: SIGTERM reaches only the main thread, which waits for it in
 * sigsuspend(); the request threads let SIGUSR2 in around accept() only, and
 * the main thread sends it until each has finished its request and left.
 */
#include "reqthreads.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "../core/log.h"
#include "createnew.h"

#define RT_WAKE_NS 20000000L /* between SIGUSR2s to threads still in accept() */

struct rt_thread {
	pthread_t thread;
	atomic_int gone;
};

static struct {
	int listen_fd;
	struct db *db;
	const struct config *cfg;
	reqthreads_serve_fn serve;
} rt;

static pthread_mutex_t rt_serial = PTHREAD_MUTEX_INITIALIZER; /* held while a handler runs */
static pthread_mutex_t rt_gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rt_gate_cv = PTHREAD_COND_INITIALIZER;
static int rt_listening; /* a thread is in accept() (under rt_gate_mu) */
static int rt_active; /* requests running or waiting to run a handler (under rt_gate_mu) */
static atomic_int rt_stopping;

/*
 * The gate's bookkeeping wakes as few threads as it can: a request that
 * ends does not signal (its own thread comes back to the gate at once and
 * takes the listener's place if it is free), a request that starts waiting
 * for a commit wakes one waiter to listen in its stead, and only stopping
 * wakes them all. A thread per request handed over would cost a context
 * switch or two per request, which single reads pay for and never use.
 */

/* createnew_submit(): the handler waits for its commit; another request may be accepted. */
static void
rt_handler_pause(void)
{
	pthread_mutex_unlock(&rt_serial);
	pthread_mutex_lock(&rt_gate_mu);
	rt_active--;
	if (rt_active == 0 && !rt_listening)
		pthread_cond_signal(&rt_gate_cv);
	pthread_mutex_unlock(&rt_gate_mu);
}

static void
rt_handler_resume(void)
{
	pthread_mutex_lock(&rt_gate_mu);
	rt_active++;
	pthread_mutex_unlock(&rt_gate_mu);
	pthread_mutex_lock(&rt_serial);
}

/* A request is answered; its thread goes back to the gate (no one to wake). */
static void
rt_request_done(void)
{
	pthread_mutex_lock(&rt_gate_mu);
	rt_active--;
	pthread_mutex_unlock(&rt_gate_mu);
}

/* Waits for the gate to open and takes the listener's place; 0, or -1 when stopping. */
static int
rt_gate_enter(void)
{
	int rc = 0;

	pthread_mutex_lock(&rt_gate_mu);
	while (!atomic_load(&rt_stopping) && (rt_listening || rt_active > 0))
		pthread_cond_wait(&rt_gate_cv, &rt_gate_mu);
	if (atomic_load(&rt_stopping))
		rc = -1;
	else
		rt_listening = 1;
	pthread_mutex_unlock(&rt_gate_mu);
	return rc;
}

/* Leaves accept(): a request now runs (the gate stays shut), or the place is free again. */
static void
rt_gate_leave(int accepted)
{
	pthread_mutex_lock(&rt_gate_mu);
	rt_listening = 0;
	if (accepted)
		rt_active++;
	else if (rt_active == 0)
		pthread_cond_signal(&rt_gate_cv);
	pthread_mutex_unlock(&rt_gate_mu);
}

/* SIGUSR2 only interrupts accept() (no SA_RESTART). */
static void
rt_on_wake(int sig)
{
	(void)sig;
}

static void *
rt_main(void *arg)
{
	struct rt_thread *self = arg;
	FCGX_Request fr;
	sigset_t wake;

	sigemptyset(&wake);
	sigaddset(&wake, SIGUSR2);
	if (FCGX_InitRequest(&fr, rt.listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_warnx("msg=\"FCGX_InitRequest failed\"");
		atomic_store(&self->gone, 1);
		return NULL;
	}
	while (rt_gate_enter() == 0) {
		int rc;

		pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
		rc = atomic_load(&rt_stopping) ? -EINTR : FCGX_Accept_r(&fr);
		pthread_sigmask(SIG_BLOCK, &wake, NULL);
		rt_gate_leave(rc >= 0);
		if (rc < 0) {
			if (rc != -EINTR && errno != EINTR && !atomic_load(&rt_stopping))
				log_warnx("msg=\"accept failed\" rc=%d", rc);
			continue;
		}
		pthread_mutex_lock(&rt_serial);
		rt.serve(&fr, rt.db, rt.cfg);
		pthread_mutex_unlock(&rt_serial);
		rt_request_done();
		FCGX_Finish_r(&fr);
	}
	FCGX_Free(&fr, 1);
	atomic_store(&self->gone, 1);
	return NULL;
}

/* Wakes the threads (gate waiters and the one in accept()) until each has left; joins them. */
static void
rt_stop(struct rt_thread *th, size_t n)
{
	const struct timespec pause = { 0, RT_WAKE_NS };

	pthread_mutex_lock(&rt_gate_mu);
	atomic_store(&rt_stopping, 1);
	pthread_cond_broadcast(&rt_gate_cv);
	pthread_mutex_unlock(&rt_gate_mu);
	for (;;) {
		size_t left = 0;

		for (size_t i = 0; i < n; i++)
			if (!atomic_load(&th[i].gone)) {
				pthread_kill(th[i].thread, SIGUSR2);
				left++;
			}
		if (left == 0)
			break;
		nanosleep(&pause, NULL);
	}
	for (size_t i = 0; i < n; i++)
		pthread_join(th[i].thread, NULL);
}

int
reqthreads_run(int listen_fd, size_t n, struct db *db, const struct config *cfg,
    reqthreads_serve_fn serve, volatile sig_atomic_t *got_term)
{
	struct rt_thread *th;
	struct sigaction sa;
	sigset_t blocked, wait_mask;
	size_t started = 0;

	/* libsodium (ids, back-off jitter) must be initialised before threads share it. */
	if (sodium_init() < 0 || (th = calloc(n, sizeof(*th))) == NULL)
		return -1;
	rt.listen_fd = listen_fd;
	rt.db = db;
	rt.cfg = cfg;
	rt.serve = serve;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = rt_on_wake;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	/* The threads inherit SIGTERM and SIGUSR2 blocked. */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	if (createnew_batcher_start(cfg, rt_handler_pause, rt_handler_resume) == -1) {
		log_warnx("msg=\"create batching not started: serving one request at a time\"");
		free(th);
		return -1;
	}
	for (; started < n; started++)
		if (pthread_create(&th[started].thread, NULL, rt_main, &th[started]) != 0) {
			log_warnx("msg=\"request thread not started\" started=%zu", started);
			break;
		}
	if (started == 0) {
		createnew_batcher_stop();
		free(th);
		return -1;
	}
	pthread_sigmask(SIG_SETMASK, NULL, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	while (!*got_term)
		sigsuspend(&wait_mask);
	rt_stop(th, started);
	createnew_batcher_stop();
	free(th);
	return 0;
}
