/* UUIDv7 identifiers (RFC 9562): 48-bit Unix milliseconds, then randomness. */
#ifndef AGENTRUN_IDS_H
#define AGENTRUN_IDS_H

#include <stddef.h>
#include <stdint.h>

#define ID_LEN 36
#define ID_BUFSZ 37

/*
 * Writes a new lowercase UUIDv7 into out (ID_BUFSZ bytes). Ids made by one
 * process are strictly increasing: rand_a holds the sub-millisecond clock and
 * counts up within one tick; on overflow the timestamp borrows from the next ms.
 */
void id_new(char out[ID_BUFSZ]);

/* The same, from a given clock (ms since the epoch), rand_a and 8 random bytes; for tests. */
void id_from_parts(
    char out[ID_BUFSZ], uint64_t unix_ms, uint16_t rand_a, const unsigned char rand_b[8]);

/* 1 when s is a canonical lowercase UUID (any version), else 0. */
int id_valid(const char *s);

/* Lowercase hex of n random bytes into out (2n+1 bytes): trace and span ids. */
void id_random_hex(char *out, size_t nbytes);

#endif
