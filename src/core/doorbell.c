#include "doorbell.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static int
doorbell_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -1;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

int
doorbell_bind(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (doorbell_addr(path, &sun) == -1) {
		log_warnx("msg=\"doorbell path too long\" path=%s", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("msg=\"cannot bind doorbell\" path=%s", path);
		close(fd);
		return -1;
	}
	return fd;
}

int
doorbell_drain(int fd)
{
	char buf[64];
	int n = 0;

	while (recv(fd, buf, sizeof(buf), 0) >= 0)
		n++;
	return n;
}

void
doorbell_ring(const char *path)
{
	struct sockaddr_un sun;
	static int shared = -1; /* one socket per process, for every thread */
	int fd;

	if (path == NULL || path[0] == '\0' || doorbell_addr(path, &sun) == -1)
		return;
	if ((fd = __atomic_load_n(&shared, __ATOMIC_ACQUIRE)) == -1) {
		int expected = -1;

		if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
			return;
		/* Two threads ringing first: one socket stays, the other is closed. */
		if (!__atomic_compare_exchange_n(
			&shared, &expected, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			close(fd);
			fd = expected;
		}
	}
	/* A full queue or an absent receiver is fine: receivers also poll. */
	(void)sendto(fd, "!", 1, MSG_DONTWAIT, (struct sockaddr *)&sun, sizeof(sun));
}
