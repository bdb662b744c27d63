/*
 * The executor's event loop (Redis ae-style): one thread, libcurl's multi
 * interface for every HTTP transfer, one-shot timers in a binary heap, and
 * the doorbell socket as an extra descriptor. Nothing here sleeps while it
 * owns other work: loop_run_once() waits in curl_multi_poll() only until the
 * next timer is due.
 */
#ifndef AGENTRUN_EXECUTOR_LOOP_H
#define AGENTRUN_EXECUTOR_LOOP_H

#include <curl/curl.h>
#include <stdint.h>

struct loop;
struct loop_timer;

typedef void (*loop_timer_fn)(void *arg);
/* A finished transfer: rc is curl's result, status the HTTP status (0 when none). */
typedef void (*loop_xfer_fn)(void *arg, CURLcode rc, long status);

/* Monotonic milliseconds. */
uint64_t loop_now_ms(void);

/* bell_fd: the doorbell (-1 for none). Returns NULL on failure. */
struct loop *loop_new(int bell_fd);
void loop_free(struct loop *l);

/* A one-shot timer; the returned handle is valid until it fires or is cancelled. */
struct loop_timer *loop_timer_add(struct loop *l, uint64_t delay_ms, loop_timer_fn fn, void *arg);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Starts easy on the multi handle; done fires once when it ends. The loop does not own easy. */
int loop_xfer_add(struct loop *l, CURL *easy, loop_xfer_fn done, void *arg);
/* Aborts a transfer without calling its done callback. */
void loop_xfer_remove(struct loop *l, CURL *easy);
int loop_xfer_count(const struct loop *l);

/*
 * Waits at most max_wait_ms (less when a timer is due), then runs finished
 * transfers and due timers. Returns 1 when the doorbell rang, else 0.
 */
int loop_run_once(struct loop *l, int max_wait_ms);

/* Ends a wait in loop_run_once() early. The one call safe from another thread. */
void loop_wakeup(struct loop *l);

#endif
