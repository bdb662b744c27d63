#include <stddef.h>

#include "ids.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

/* Per thread: ids stay ordered within each thread (the executor writes on two). */
static _Thread_local uint64_t ids_last_ms;
static _Thread_local uint16_t ids_last_seq;

void
id_from_parts(char out[ID_BUFSZ], uint64_t unix_ms, uint16_t rand_a, const unsigned char rand_b[8])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t o = 0;

	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(unix_ms >> (8 * (5 - i)));
	b[6] = (unsigned char)(0x70 | ((rand_a >> 8) & 0x0f));
	b[7] = (unsigned char)(rand_a & 0xff);
	memcpy(b + 8, rand_b, 8);
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0xf];
	}
	out[o] = '\0';
}

void
id_new(char out[ID_BUFSZ])
{
	struct timespec ts;
	unsigned char rb[8];
	uint64_t ms;
	uint16_t seq;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	/*
	 * rand_a carries the sub-millisecond clock in 1/4096 ms steps (RFC 9562
	 * method 3), so ids made one after the other by different processes
	 * (API workers) still sort in the order they were made.
	 */
	seq = (uint16_t)(((uint64_t)(ts.tv_nsec % 1000000) * 4096u) / 1000000u);
	if (ms < ids_last_ms || (ms == ids_last_ms && seq <= ids_last_seq)) {
		/* Same tick (or a clock step back): count up from the last id. */
		ms = ids_last_ms;
		if (ids_last_seq >= 0x0fff) {
			ms++;
			seq = 0;
		} else
			seq = (uint16_t)(ids_last_seq + 1);
	}
	ids_last_ms = ms;
	ids_last_seq = seq;
	randombytes_buf(rb, sizeof(rb));
	id_from_parts(out, ms, seq, rb);
}

int
id_valid(const char *s)
{
	if (s == NULL || strlen(s) != ID_LEN)
		return 0;
	for (int i = 0; i < ID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return 1;
}

void
id_random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];

	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	randombytes_buf(b, nbytes);
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 0xf];
	}
	out[2 * nbytes] = '\0';
}
