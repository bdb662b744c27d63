/* The executor process: its loop, connection, held runs and housekeeping clocks. */
#ifndef AGENTRUN_EXECUTOR_H
#define AGENTRUN_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>

#include "../core/config.h"
#include "../core/ids.h"
#include "../core/secretbox.h"

struct config;
struct db;
struct loop;
struct purge;
struct writer;
struct xop;
struct xrun;

/* The most commit lanes (executor.writers): one thread and connection each. */
#define WRITER_LANES_MAX CONFIG_EXECUTOR_WRITERS_MAX

struct executor_lease {
	char id[ID_BUFSZ];
	char token[ID_BUFSZ];
};

struct executor {
	const struct config *cfg;
	struct db *db; /* the loop thread's connection (claims, leases) */
	struct writer *writers[WRITER_LANES_MAX]; /* commit lanes (writer.c) */
	int nwriters;
	struct purge *purge; /* housekeeping thread (purge.c) */
	struct loop *loop;
	char owner[128]; /* host:pid:random, written into runs.owner */
	struct xrun *runs;
	int nruns;
	uint64_t last_claim_ms, last_heartbeat_ms, last_cancel_ms, last_flush_ms;
	int want_claim; /* claim at the next turn (doorbell, or the last claim took runs) */
	int want_cancels; /* look for cancel requests at the next turn (doorbell) */
	/*
	 * Runs given up because their commits failed (a database outage), whose
	 * leases this executor still holds: released as soon as the database
	 * answers again (claim_release_abandoned), not when the lease expires.
	 */
	struct executor_lease *abandoned;
	size_t nabandoned, abandoned_cap;
	uint64_t last_release_ms;
	unsigned char master_key[SECRETBOX_KEY_LEN];
	int have_master_key;
	/* counters for the log */
	unsigned long long claimed, finished, flushes;
};

/* claim.c */
/*
 * Runs taken per claim: a claim is a few set-based statements whatever its
 * size, so large batches let thousands of runs start within seconds.
 */
#define CLAIM_BATCH_MAX 512
/* Claims up to the free capacity and starts each claimed run. Returns how many. */
int claim_runs(struct executor *ex);
/* Renews every lease this executor holds: one statement. */
void claim_heartbeat(struct executor *ex);
/* Marks held runs whose cancel was requested. */
void claim_check_cancels(struct executor *ex);
/* Gives every held run back (shutdown): another executor resumes it at once. */
void claim_release_all(struct executor *ex);
/* Remembers the lease of a run given up (it is dropped next) to release it. */
void claim_abandon(struct executor *ex, const struct xrun *r);
/*
 * Releases the leases of abandoned runs (claimable at once, here or by
 * another executor) while the database answers; the rest is tried again
 * at the next call.
 */
void claim_release_abandoned(struct executor *ex);

/* writer.c: commits the held runs' queued ops, batched, on writer threads. */
int writer_start(struct executor *ex); /* 0 / -1 */
/* The writer lane of a session's runs. */
int writer_lane_of(const struct executor *ex, const char *session_id);
/* Hands each idle lane every op queued for it (the others' wait). 0. */
int writer_flush(struct executor *ex);
/* Applies finished commits' outcomes to their runs (loop thread). */
void writer_reap(struct executor *ex);
/* 1 when a step waits for a commit that an idle lane could start now. */
int writer_ready(const struct executor *ex);
/* Commits what is out and what is queued, then ends the threads. */
void writer_stop(struct executor *ex);

/* purge.c: expired idempotency keys deleted in small batches, on a thread of its own. */
int purge_start(struct executor *ex); /* 0 / -1 */
void purge_stop(struct executor *ex);

/* advance.c */
void advance(struct xrun *r); /* start the run's next step */
void advance_committed(struct xrun *r); /* its queued step outcome is durable */
void advance_abort(struct xrun *r); /* stop transfers and timers (fenced, shutdown) */
void advance_arm_deadline(struct xrun *r); /* limits.timeout_s also ends a step in flight */
/* A cancel request seen: a run waiting out a retry back-off ends at once. */
void advance_cancel(struct xrun *r);
void advance_flush_deltas(struct xrun *r); /* queue coalesced message/thinking deltas */
/*
 * writer.c: the run's ops could not be committed even alone (a data error,
 * WRITER_MAX_DATA_ERRORS times in a row). Drops them (lost, stolen) and the
 * ops queued since, stops the run's step and ends the run failed with
 * INTERNAL_ERROR in a commit of its own; the run's totals go back to what
 * was committed. A run that cannot commit even that is dropped (its lease
 * expires; executor.max_takeovers ends it). errnum is the database's error.
 */
void advance_uncommittable(struct xrun *r, struct xop *lost, unsigned int errnum);

/* Adds a claimed run to the executor's list. */
void executor_hold(struct executor *ex, struct xrun *r);
/* Removes r from the executor and frees it; its room is claimed again. */
void executor_drop(struct executor *ex, struct xrun *r);

#endif
