/*
 * sendring (the stream worker's batched sends) against real unix socket
 * pairs: every send is reported once, in queue order, with what a
 * non-blocking send() would have answered.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream/sendring.h"

#define MAX_REPORTS 64

struct reports {
	int n;
	void *tag[MAX_REPORTS];
	size_t len[MAX_REPORTS];
	ssize_t res[MAX_REPORTS];
};

static void
record(void *ctx, void *tag, const void *p, size_t n, ssize_t res)
{
	struct reports *r = ctx;

	(void)p;
	assert_true(r->n < MAX_REPORTS);
	r->tag[r->n] = tag;
	r->len[r->n] = n;
	r->res[r->n] = res;
	r->n++;
}

/* A ring, or the test is skipped where the kernel refuses io_uring (send() is used there). */
static struct sendring *
ring_or_skip(unsigned entries)
{
	struct sendring *r = sendring_open(entries);

	if (r == NULL) {
		fprintf(stderr, "# io_uring unavailable here (%s): skipped\n", strerror(errno));
		skip();
	}
	return r;
}

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static void
test_open_wants_a_power_of_two(void **state)
{
	(void)state;
	errno = 0;
	assert_null(sendring_open(3));
	assert_int_equal(errno, EINVAL);
	assert_null(sendring_open(0));
}

static void
test_sends_arrive_whole_and_are_reported_in_order(void **state)
{
	struct sendring *r = ring_or_skip(8);
	struct reports rep = { 0 };
	int a[2], b[2];
	char got[64];

	(void)state;
	pair(a);
	pair(b);
	assert_int_equal(sendring_add(r, a[0], "hello ", 6, &a[0]), 0);
	assert_int_equal(sendring_add(r, b[0], "other", 5, &b[0]), 0);
	assert_int_equal((int)sendring_queued(r), 2);
	sendring_flush(r, record, &rep);
	assert_int_equal((int)sendring_queued(r), 0);
	assert_int_equal(rep.n, 2);
	assert_ptr_equal(rep.tag[0], &a[0]);
	assert_int_equal((int)rep.res[0], 6);
	assert_ptr_equal(rep.tag[1], &b[0]);
	assert_int_equal((int)rep.res[1], 5);
	/* The ring is reusable after a flush: a second send follows the first. */
	assert_int_equal(sendring_add(r, a[0], "world", 5, &a[0]), 0);
	sendring_flush(r, record, &rep);
	assert_int_equal(rep.n, 3);
	assert_int_equal((int)rep.res[2], 5);
	assert_int_equal((int)recv(a[1], got, sizeof(got), 0), 11);
	assert_memory_equal(got, "hello world", 11);
	assert_int_equal((int)recv(b[1], got, sizeof(got), 0), 5);
	assert_memory_equal(got, "other", 5);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	sendring_close(r);
}

static void
test_a_full_socket_takes_part_or_nothing_without_waiting(void **state)
{
	struct sendring *r = ring_or_skip(4);
	struct reports rep = { 0 };
	static char big[1 << 20];
	int sv[2], size = 4096;
	ssize_t total = 0, w;

	(void)state;
	pair(sv);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
	/* Fill it: the reader never reads. */
	while ((w = send(sv[0], big, 1024, MSG_DONTWAIT)) > 0)
		total += w;
	assert_true(total > 0);
	assert_int_equal(sendring_add(r, sv[0], big, sizeof(big), sv), 0);
	sendring_flush(r, record, &rep); /* returns: a MSG_DONTWAIT send never parks */
	assert_int_equal(rep.n, 1);
	assert_true(
	    rep.res[0] == -EAGAIN || (rep.res[0] >= 0 && rep.res[0] < (ssize_t)sizeof(big)));
	close(sv[0]), close(sv[1]);
	sendring_close(r);
}

static void
test_errors_come_back_as_negative_errno(void **state)
{
	struct sendring *r = ring_or_skip(4);
	struct reports rep = { 0 };
	int sv[2], spare[2];

	(void)state;
	pair(sv);
	pair(spare);
	close(sv[1]); /* the reader went away: EPIPE, and no SIGPIPE kills the test */
	assert_int_equal(sendring_add(r, sv[0], "x", 1, NULL), 0);
	assert_int_equal(sendring_add(r, spare[0], "y", 1, NULL), 0);
	sendring_flush(r, record, &rep);
	assert_int_equal(rep.n, 2);
	assert_int_equal((int)rep.res[0], -EPIPE);
	assert_int_equal((int)rep.res[1], 1); /* one failure does not stop the batch */
	close(sv[0]), close(spare[0]), close(spare[1]);
	sendring_close(r);
}

static void
test_a_full_ring_refuses_more_until_flushed(void **state)
{
	struct sendring *r = ring_or_skip(4);
	struct reports rep = { 0 };
	int sv[4][2];
	char got[8];

	(void)state;
	for (int i = 0; i < 4; i++) {
		pair(sv[i]);
		assert_int_equal(sendring_full(r), 0);
		assert_int_equal(sendring_add(r, sv[i][0], "abcd", (size_t)i + 1, sv[i]), 0);
	}
	assert_int_equal(sendring_full(r), 1);
	assert_int_equal(sendring_add(r, sv[0][0], "z", 1, NULL), -1);
	assert_int_equal((int)sendring_queued(r), 4);
	sendring_flush(r, record, &rep);
	assert_int_equal(rep.n, 4);
	for (int i = 0; i < 4; i++) {
		assert_ptr_equal(rep.tag[i], sv[i]);
		assert_int_equal((int)rep.res[i], i + 1);
		assert_int_equal((int)recv(sv[i][1], got, sizeof(got), 0), i + 1);
		close(sv[i][0]), close(sv[i][1]);
	}
	assert_int_equal(sendring_full(r), 0);
	sendring_close(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_wants_a_power_of_two),
		cmocka_unit_test(test_sends_arrive_whole_and_are_reported_in_order),
		cmocka_unit_test(test_a_full_socket_takes_part_or_nothing_without_waiting),
		cmocka_unit_test(test_errors_come_back_as_negative_errno),
		cmocka_unit_test(test_a_full_ring_refuses_more_until_flushed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
