#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/doorbell.h"
#include "../core/log.h"

struct loop_timer {
	uint64_t due;
	uint64_t seq; /* ties broken by insertion order */
	loop_timer_fn fn;
	void *arg;
	int cancelled;
};

struct loop_xfer {
	loop_xfer_fn done;
	void *arg;
};

struct loop {
	CURLM *multi;
	int bell_fd;
	struct loop_timer **heap;
	size_t nheap, capheap;
	uint64_t seq;
	int nxfers;
};

uint64_t
loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct loop *
loop_new(int bell_fd)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	if ((l->multi = curl_multi_init()) == NULL) {
		free(l);
		return NULL;
	}
	l->bell_fd = bell_fd;
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nheap; i++)
		free(l->heap[i]);
	free(l->heap);
	curl_multi_cleanup(l->multi);
	free(l);
}

static int
loop_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
loop_heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		struct loop_timer *t;

		if (!loop_before(l->heap[i], l->heap[parent]))
			break;
		t = l->heap[i];
		l->heap[i] = l->heap[parent];
		l->heap[parent] = t;
		i = parent;
	}
}

static void
loop_heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t left = 2 * i + 1, right = left + 1, best = i;
		struct loop_timer *t;

		if (left < l->nheap && loop_before(l->heap[left], l->heap[best]))
			best = left;
		if (right < l->nheap && loop_before(l->heap[right], l->heap[best]))
			best = right;
		if (best == i)
			return;
		t = l->heap[i];
		l->heap[i] = l->heap[best];
		l->heap[best] = t;
		i = best;
	}
}

struct loop_timer *
loop_timer_add(struct loop *l, uint64_t delay_ms, loop_timer_fn fn, void *arg)
{
	struct loop_timer *t;

	if (l->nheap == l->capheap) {
		size_t cap = l->capheap ? l->capheap * 2 : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(struct loop_timer *));

		if (h == NULL)
			return NULL;
		l->heap = h;
		l->capheap = cap;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->due = loop_now_ms() + delay_ms;
	t->seq = l->seq++;
	t->fn = fn;
	t->arg = arg;
	l->heap[l->nheap++] = t;
	loop_heap_up(l, l->nheap - 1);
	return t;
}

void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	(void)l;
	/* Lazy deletion: the heap drops it when it reaches the top. */
	if (t != NULL)
		t->cancelled = 1;
}

int
loop_xfer_add(struct loop *l, CURL *easy, loop_xfer_fn done, void *arg)
{
	struct loop_xfer *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return -1;
	x->done = done;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(l->multi, easy) != CURLM_OK) {
		free(x);
		return -1;
	}
	l->nxfers++;
	return 0;
}

void
loop_xfer_remove(struct loop *l, CURL *easy)
{
	struct loop_xfer *x = NULL;

	if (easy == NULL)
		return;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	if (curl_multi_remove_handle(l->multi, easy) == CURLM_OK && x != NULL) {
		l->nxfers--;
		free(x);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	}
}

int
loop_xfer_count(const struct loop *l)
{
	return l->nxfers;
}

static void
loop_finish_transfers(struct loop *l)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(l->multi, &left)) != NULL) {
		struct loop_xfer *x = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(l->multi, easy);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		l->nxfers--;
		if (x != NULL) {
			loop_xfer_fn done = x->done;
			void *arg = x->arg;

			free(x);
			done(arg, rc, status);
		}
	}
}

static void
loop_run_timers(struct loop *l)
{
	uint64_t now = loop_now_ms();

	while (l->nheap > 0 && (l->heap[0]->cancelled || l->heap[0]->due <= now)) {
		struct loop_timer *t = l->heap[0];

		l->heap[0] = l->heap[--l->nheap];
		if (l->nheap > 0)
			loop_heap_down(l, 0);
		if (!t->cancelled)
			t->fn(t->arg);
		free(t);
	}
}

int
loop_run_once(struct loop *l, int max_wait_ms)
{
	struct curl_waitfd extra = { l->bell_fd, CURL_WAIT_POLLIN, 0 };
	int wait = max_wait_ms, running, rang = 0, nfds = 0;

	/* Skip cancelled timers at the top so they do not shorten the wait. */
	while (l->nheap > 0 && l->heap[0]->cancelled) {
		struct loop_timer *t = l->heap[0];

		l->heap[0] = l->heap[--l->nheap];
		if (l->nheap > 0)
			loop_heap_down(l, 0);
		free(t);
	}
	if (l->nheap > 0) {
		uint64_t now = loop_now_ms(), due = l->heap[0]->due;
		int until = due <= now ? 0 : (int)(due - now);

		if (until < wait)
			wait = until;
	}
	if (curl_multi_poll(l->multi, l->bell_fd >= 0 ? &extra : NULL, l->bell_fd >= 0 ? 1 : 0,
		wait, &nfds) != CURLM_OK)
		log_warnx("msg=\"curl_multi_poll failed\"");
	if (l->bell_fd >= 0 && (extra.revents & CURL_WAIT_POLLIN))
		rang = doorbell_drain(l->bell_fd) > 0;
	curl_multi_perform(l->multi, &running);
	loop_finish_transfers(l);
	loop_run_timers(l);
	return rang;
}

void
loop_wakeup(struct loop *l)
{
	/* curl_multi_wakeup() is documented as callable from any thread. */
	(void)curl_multi_wakeup(l->multi);
}
