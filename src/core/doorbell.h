/*
 * Doorbells: MariaDB has no LISTEN/NOTIFY, so writers send a one-byte
 * datagram to a unix socket after a commit. Receivers also poll on a
 * timer, so a lost doorbell costs latency, never correctness.
 */
#ifndef AGENTRUN_DOORBELL_H
#define AGENTRUN_DOORBELL_H

/* Binds a non-blocking datagram socket at path (stale file removed). Returns fd or -1. */
int doorbell_bind(const char *path);

/* Drains every pending ring; returns how many there were. */
int doorbell_drain(int fd);

/* Rings the doorbell at path; best effort, never blocks. */
void doorbell_ring(const char *path);

#endif
