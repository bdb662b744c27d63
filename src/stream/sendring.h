/*
 * Sends to many sockets in one system call (io_uring).
 *
 * The fan-out hands the same few hundred bytes to thousands of listeners per
 * event. One send() each costs ~3.0 µs of CPU on the 2-core VM we measure
 * on, about half of it entering and leaving the kernel; queued here and
 * submitted 1,024 at a time, ~1.6 µs (tests/bench, docs/performance.md).
 *
 * Each queued send behaves as a non-blocking send(): it takes all, part or
 * none (-EAGAIN) of its bytes, in queue order. Only one send per socket may
 * be queued at a time (a second could pass a first that found the socket
 * full). The bytes are borrowed until sendring_flush() returns.
 *
 * Where the kernel refuses io_uring (too old, disabled by sysctl, or a
 * seccomp filter), sendring_open() returns NULL and the caller uses send().
 */
#ifndef AGENTRUN_STREAM_SENDRING_H
#define AGENTRUN_STREAM_SENDRING_H

#include <stddef.h>
#include <sys/types.h>

struct sendring;

/* Reports one send: res = the bytes it took, or -errno. */
typedef void (*sendring_done_fn)(void *ctx, void *tag, const void *p, size_t n, ssize_t res);

/* A ring for up to entries queued sends (a power of two), or NULL (errno set). */
struct sendring *sendring_open(unsigned entries);
void sendring_close(struct sendring *r);

/* 1 when no more sends can be queued before a flush. */
int sendring_full(const struct sendring *r);

/* Sends queued and not yet flushed. */
size_t sendring_queued(const struct sendring *r);

/*
 * Queues a send of n bytes at p (borrowed until the flush) to fd; tag comes
 * back to done. 0, or -1 when the ring is full (nothing queued).
 */
int sendring_add(struct sendring *r, int fd, const void *p, size_t n, void *tag);

/*
 * Submits every queued send, waits for all of them, and reports each to done
 * in queue order. done may queue nothing on r. Sends the kernel would not take
 * through the ring go out through send() instead, so every one is reported.
 */
void sendring_flush(struct sendring *r, sendring_done_fn done, void *ctx);

#endif
