/*
 * io_uring through its three system calls (no liburing: the project's
 * libraries are fixed, and a send-only ring needs little of it).
 *
 * Life of a flush: the queued SQEs are published by advancing the SQ tail,
 * io_uring_enter() submits them and waits until each has completed (a
 * MSG_DONTWAIT send on a socket completes inside the call: it never waits
 * for room), the CQEs are matched to their sends by index, and the results
 * are reported in queue order.
 */
#include "sendring.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/io_uring.h>) && defined(__NR_io_uring_setup)
#include <linux/io_uring.h>
#define SENDRING_HAVE_URING 1
#endif
#endif

/* One queued send, and its result once the kernel has answered. */
struct sendring_item {
	int fd;
	const void *p;
	size_t n;
	void *tag;
	ssize_t res;
	int done;
};

#ifdef SENDRING_HAVE_URING

struct sendring {
	int fd;
	unsigned entries;
	/* the submission queue ring */
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	struct io_uring_sqe *sqes;
	/* the completion queue ring */
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	void *ring_map;
	size_t ring_len;
	size_t sqes_len;
	struct sendring_item *items;
	size_t nqueued;
};

static int
sendring_enter(int fd, unsigned submit, unsigned wait)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, wait, IORING_ENTER_GETEVENTS, NULL, 0);
}

struct sendring *
sendring_open(unsigned entries)
{
	struct io_uring_params p;
	struct sendring *r;
	unsigned char *ring;
	size_t sq_len, cq_len;
	int saved;

	if (entries == 0 || (entries & (entries - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->fd = -1;
	r->ring_map = MAP_FAILED;
	r->sqes = MAP_FAILED;
	memset(&p, 0, sizeof(p));
	/* One thread submits and reaps: let the kernel skip the cross-thread work. */
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	r->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
	if (r->fd == -1 && errno == EINVAL) {
		memset(&p, 0, sizeof(p)); /* a kernel before 6.0 */
		r->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
	}
	if (r->fd == -1)
		goto fail;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_NODROP)) {
		errno = ENOSYS; /* before 5.5: not worth a second code path */
		goto fail;
	}
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	r->ring_len = sq_len > cq_len ? sq_len : cq_len;
	r->ring_map = mmap(NULL, r->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
	    r->fd, IORING_OFF_SQ_RING);
	if (r->ring_map == MAP_FAILED)
		goto fail;
	r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
	    IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		goto fail;
	ring = r->ring_map;
	r->sq_head = (unsigned *)(void *)(ring + p.sq_off.head);
	r->sq_tail = (unsigned *)(void *)(ring + p.sq_off.tail);
	r->sq_mask = (unsigned *)(void *)(ring + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(void *)(ring + p.sq_off.array);
	r->cq_head = (unsigned *)(void *)(ring + p.cq_off.head);
	r->cq_tail = (unsigned *)(void *)(ring + p.cq_off.tail);
	r->cq_mask = (unsigned *)(void *)(ring + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(void *)(ring + p.cq_off.cqes);
	r->entries = p.sq_entries < entries ? p.sq_entries : entries;
	if ((r->items = calloc(r->entries, sizeof(*r->items))) == NULL)
		goto fail;
	return r;
fail:
	saved = errno;
	sendring_close(r);
	errno = saved;
	return NULL;
}

void
sendring_close(struct sendring *r)
{
	if (r == NULL)
		return;
	if (r->sqes != MAP_FAILED)
		munmap(r->sqes, r->sqes_len);
	if (r->ring_map != MAP_FAILED)
		munmap(r->ring_map, r->ring_len);
	if (r->fd != -1)
		close(r->fd);
	free(r->items);
	free(r);
}

int
sendring_add(struct sendring *r, int fd, const void *p, size_t n, void *tag)
{
	struct sendring_item *it;
	struct io_uring_sqe *sqe;
	unsigned tail, idx;

	if (r->nqueued == r->entries)
		return -1;
	it = &r->items[r->nqueued];
	it->fd = fd;
	it->p = p;
	it->n = n;
	it->tag = tag;
	it->res = 0;
	it->done = 0;
	/* Flushes leave the ring empty, so the tail runs ahead of the head by nqueued. */
	tail = *r->sq_tail;
	idx = tail & *r->sq_mask;
	sqe = &r->sqes[idx];
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_SEND;
	sqe->fd = fd;
	sqe->addr = (unsigned long long)(uintptr_t)p;
	sqe->len = (unsigned)n;
	/* MSG_DONTWAIT: a full socket answers -EAGAIN at once instead of parking the send. */
	sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
	sqe->user_data = r->nqueued;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	r->nqueued++;
	return 0;
}

/* Takes every completion the kernel has posted; returns how many. */
static size_t
sendring_reap(struct sendring *r)
{
	unsigned head = *r->cq_head, tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
	size_t got = 0;

	for (; head != tail; head++, got++) {
		const struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];

		if (cqe->user_data < r->nqueued) {
			r->items[cqe->user_data].res = cqe->res;
			r->items[cqe->user_data].done = 1;
		}
	}
	__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
	return got;
}

void
sendring_flush(struct sendring *r, sendring_done_fn done, void *ctx)
{
	size_t completed = 0, submitted = 0, n = r->nqueued;

	/* Submit all (and wait for all, which sends on sockets do inside the call). */
	for (int tries = 0; submitted < n && tries < 16; tries++) {
		int rc =
		    sendring_enter(r->fd, (unsigned)(n - submitted), (unsigned)(n - completed));

		if (rc > 0)
			submitted += (size_t)rc;
		completed += sendring_reap(r);
		if (rc == -1 && errno != EINTR && errno != EAGAIN && errno != EBUSY)
			break;
	}
	if (submitted < n) {
		/* Not taken by the kernel: withdraw them; send() makes them below. */
		__atomic_store_n(
		    r->sq_tail, *r->sq_tail - (unsigned)(n - submitted), __ATOMIC_RELEASE);
	}
	while (completed < submitted) {
		int rc = sendring_enter(r->fd, 0, (unsigned)(submitted - completed));

		completed += sendring_reap(r);
		if (rc == -1 && errno != EINTR)
			break;
	}
	for (size_t i = 0; i < n; i++) {
		struct sendring_item *it = &r->items[i];
		ssize_t w;

		if (it->done)
			continue;
		if (i < submitted) {
			/* In the kernel's hands, result unknown: the stream may be torn. */
			it->res = -EIO;
			continue;
		}
		while ((w = send(it->fd, it->p, it->n, MSG_NOSIGNAL | MSG_DONTWAIT)) == -1 &&
		    errno == EINTR)
			;
		it->res = w == -1 ? -errno : w;
	}
	/* done must not queue: the items it is handed are the ring's own slots. */
	r->nqueued = 0;
	for (size_t i = 0; i < n; i++)
		done(ctx, r->items[i].tag, r->items[i].p, r->items[i].n, r->items[i].res);
}

#else /* no io_uring at build time */

struct sendring {
	int unused;
};

struct sendring *
sendring_open(unsigned entries)
{
	(void)entries;
	errno = ENOSYS;
	return NULL;
}

void
sendring_close(struct sendring *r)
{
	(void)r;
}

int
sendring_add(struct sendring *r, int fd, const void *p, size_t n, void *tag)
{
	(void)r, (void)fd, (void)p, (void)n, (void)tag;
	return -1;
}

void
sendring_flush(struct sendring *r, sendring_done_fn done, void *ctx)
{
	(void)r, (void)done, (void)ctx;
}

#endif

int
sendring_full(const struct sendring *r)
{
#ifdef SENDRING_HAVE_URING
	return r->nqueued == r->entries;
#else
	(void)r;
	return 1;
#endif
}

size_t
sendring_queued(const struct sendring *r)
{
#ifdef SENDRING_HAVE_URING
	return r->nqueued;
#else
	(void)r;
	return 0;
#endif
}
